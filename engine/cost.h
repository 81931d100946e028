/* cost.h — what a model costs: its parameters, the FLOPs of one training step and the memory of
 * its layer caches, from its configuration and spans, with the windows the engine computes
 * (spn_attention_window, spn_layer_trim). The one account of the model's cost: the New model
 * dialog's estimate of seconds per step (the FLOPs over the rate this machine reached training a
 * model; bench/step_estimate says how close), the cost the history records every step, the
 * window's figures, the CLI and bench/mfu all take it from here.
 *
 * FLOPs count the multiply-adds of the matrix products of one training step, two per
 * multiply-add, forward and backward (a product of m×k by k×n counts 2mkn forward and twice that
 * backward, for the input and weight gradients); softmax, mask, layer norms, the embedding and
 * the optimizer are not counted. With the head width D = d / H, B streams of M positions
 * (n = B·M characters a step) and, per head, the distances it scores s and weighs w (its own
 * window; in reference mode it scores its layer's trimmed window, attention.h):
 *   dense      the projections (queries, output, the block's keys and values), feed-forward and
 *              output layer, and the keys and values of the s and w cached rows each head
 *              reads again every block (forward and weight gradients);
 *   attention  scores and position terms over s, weighted values over w, persistent memory:
 *              spn_attention_head_flops, what the engine's tiles hold — not the work of the
 *              tiles themselves (over tn queries × tn + w − 1 keys, about twice the band for
 *              windows shorter than the block), which the as-run count adds: tests/test_cost.c
 *              counts every product of a training step and finds exactly that.
 * The caches hold layer inputs: B streams × C_ℓ rows × d float32 per layer, C_ℓ the rows the
 * adaptive cache keeps (spn_layer_cache_rows; the engine's arrays are allocated for S rows, C_ℓ
 * is what a cache that shrinks, as the reference's does, holds). */
#pragma once
#include <glib.h>

#include "config.h"
#include "model.h"

G_BEGIN_DECLS

/* Every parameter of the model of cfg (cfg->vocab_size set). */
gint64 spn_cost_parameters(const SpnConfig *cfg);

/* FLOPs of one training step whose heads have spans z (nlayers × nheads fractions of S; NULL:
 * every head at cfg->adapt_span_init, as a new model starts), in the two parts above. */
typedef struct {
  double dense, attention;
} SpnStepCost;
SpnStepCost spn_cost_step(const SpnConfig *cfg, const float *z);
double spn_cost_step_flops(const SpnConfig *cfg, const float *z);   /* dense + attention */

/* The engine's attention costs more time per FLOP than its matrix products (many small
 * products per head, softmax, masks): a step takes time in proportion to
 * dense + SPN_COST_ATTENTION_WEIGHT × attention, the weight fitted by bench/step_estimate
 * (desktop against the span demo, whose heads start at 0.75·S). */
#define SPN_COST_ATTENTION_WEIGHT 2.0
/* That weighted work of one step, in FLOPs of matrix product. */
double spn_cost_step_work(const SpnConfig *cfg, const float *z);

/* What the spans cost, per character of a training step. */
typedef struct {
  double flops;        /* the whole model: dense + attention, over B·M */
  double attn_flops;   /* the attention part */
  double flops_as_run; /* flops with the content products as the engine runs them (tiles) */
  double cache_bytes;  /* the layer caches of the B training streams */
} SpnCost;

/* With spans z (nlayers × nheads fractions of S, not NULL); head_flops (nlayers × nheads, may be
 * NULL) receives each head's attention FLOPs per character. */
SpnCost spn_cost(const SpnConfig *cfg, const float *z, double *head_flops);
/* The same model with every head at S: the baseline the fractions are taken against. */
SpnCost spn_cost_full_span(const SpnConfig *cfg, double *head_flops);
/* With the spans model m has now. */
SpnCost spn_cost_of_model(const SpnModel *m, double *head_flops);
/* From spans in characters (z·S, as snapshots and histories hold them) through z = span / S, as
 * the window does (equal to the engine's windows but where z·S lies within float rounding of
 * a whole number); a NaN span counts as S, the others are clamped to [0, S]. */
SpnCost spn_cost_of_spans(const SpnConfig *cfg, const float *spans, double *head_flops);

/* The span table: one row per head — layer,head,span,window,attn_flops_per_char,
 * attn_flops_per_char_full_span — for spans z·S (as spn_cost_of_spans), written to a temporary
 * file and renamed over path. */
gboolean spn_span_table_write_csv(const SpnConfig *cfg, const float *spans, const char *path,
                                  GError **error);

G_END_DECLS
