/* cost.h — what a model costs before it exists: its parameters and the FLOPs of one training
 * step. The New model dialog's estimate of seconds per step divides the FLOPs by the rate this
 * machine reached training a model (FLOPs of its steps over their time); bench/step_estimate
 * says how close that comes. */
#pragma once
#include <glib.h>

#include "config.h"

G_BEGIN_DECLS

/* Every parameter of the model of cfg (cfg->vocab_size set). */
gint64 spn_cost_parameters(const SpnConfig *cfg);

/* Model FLOPs of one training step whose heads have spans z (nlayers × nheads fractions of S;
 * NULL: every head at cfg->adapt_span_init, as a new model starts), in two parts: the matrix
 * products of the projections (keys over the rows each head scores, values over those it
 * weighs), feed-forward and output (dense), and what each head computes: scores and position
 * terms over the distances it scores (its layer's trimmed window in reference mode, its own in
 * head mode), weighted values over its own window, its persistent vectors (attention) — not
 * the work of the engine's tiles. A product of m×k by k×n counts 2mkn forward and twice that
 * backward. */
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

G_END_DECLS
