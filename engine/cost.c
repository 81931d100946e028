/* cost.c — parameters, FLOPs and cache memory of a model from its configuration and spans
 * (cost.h). */
#include "cost.h"

#include <math.h>

#include "attention.h"
#include "model.h"
#include "params.h"
#include "savefile.h"

/* The tensors' sizes: the arena's total also counts the padding that aligns them. */
gint64
spn_cost_parameters(const SpnConfig *cfg)
{
  SpnLayout *layout = spn_layout_new(cfg);
  gint64 n = 0;
  for (int i = 0; i < layout->n_tensors; i++)
    n += layout->tensors[i].numel;
  spn_layout_free(layout);
  return n;
}

/* One step in full: per head, the dense part it adds and its attention (plain and as run). */
typedef struct {
  SpnStepCost step;
  double attention_as_run, cache_rows;
} Tally;

static Tally
tally(const SpnConfig *c, const float *z, double *head)
{
  double n = (double)c->batch_sz * c->block_sz, d = c->hid_sz, F = c->inner_hid_sz;
  int D = spn_config_head_dim(c), N = c->pers_mem_size, B = c->batch_sz, M = c->block_sz;
  Tally t = {.step = {3 * 2 * n * d * c->vocab_size, 0}};
  float *zl = g_newa(float, MAX(c->nheads, 1));
  for (int l = 0; l < c->nlayers; l++) {
    for (int h = 0; h < c->nheads; h++)
      zl[h] = !c->adapt_span ? 1.0f : z ? z[l * c->nheads + h] : (float)c->adapt_span_init;
    /* queries, output, the block's keys and values (forward, input and weight gradients); FF */
    double lin = 4 * n * d * d + (N == 0 ? 2 * n * d * F : 0);
    t.step.dense += 3 * 2 * lin;
    /* reference mode: every head scores the layer's trimmed window (attention.h) */
    int norm = c->attn_window == SPN_ATTN_WINDOW_REFERENCE && c->adapt_span
                   ? c->attn_span - spn_layer_trim(c, zl)
                   : 0;
    for (int h = 0; h < c->nheads; h++) {
      int w = spn_attention_window(zl[h], c->attn_span, c->adapt_span_ramp, c->adapt_span);
      w = norm > 0 ? MIN(w, norm) : w;
      int s = norm > 0 ? norm : w;
      /* keys of the cached rows scored, values of those weighed: forward and dW */
      t.step.dense += 2 * 2 * (double)B * (s + w) * d * D;
      double a = B * spn_attention_head_flops(M, D, N, s, w, FALSE);
      t.step.attention += a;
      t.attention_as_run += B * spn_attention_head_flops(M, D, N, s, w, TRUE);
      if (head != NULL)
        head[l * c->nheads + h] = a / n;
    }
    t.cache_rows += spn_layer_cache_rows(c, zl);
  }
  return t;
}

SpnStepCost
spn_cost_step(const SpnConfig *c, const float *z)
{
  return tally(c, z, NULL).step;
}

double
spn_cost_step_flops(const SpnConfig *c, const float *z)
{
  SpnStepCost cost = spn_cost_step(c, z);
  return cost.dense + cost.attention;
}

double
spn_cost_step_work(const SpnConfig *c, const float *z)
{
  SpnStepCost cost = spn_cost_step(c, z);
  return cost.dense + SPN_COST_ATTENTION_WEIGHT * cost.attention;
}

SpnCost
spn_cost(const SpnConfig *c, const float *z, double *head)
{
  g_return_val_if_fail(z != NULL, (SpnCost){0});
  Tally t = tally(c, z, head);
  double n = (double)c->batch_sz * c->block_sz;
  return (SpnCost){
    .flops = (t.step.dense + t.step.attention) / n,
    .attn_flops = t.step.attention / n,
    .flops_as_run = (t.step.dense + t.attention_as_run) / n,
    .cache_bytes = (double)c->batch_sz * t.cache_rows * c->hid_sz * sizeof(float),
  };
}

SpnCost
spn_cost_full_span(const SpnConfig *c, double *head)
{
  int n = c->nlayers * c->nheads;
  g_autofree float *z = g_new(float, MAX(n, 1));
  for (int k = 0; k < n; k++)
    z[k] = 1.0f;
  return spn_cost(c, z, head);
}

SpnCost
spn_cost_of_model(const SpnModel *m, double *head)
{
  const SpnConfig *c = &m->cfg;
  g_autofree float *z = g_new(float, MAX(c->nlayers * c->nheads, 1));
  for (int l = 0; l < c->nlayers; l++)
    for (int h = 0; h < c->nheads; h++)
      z[l * c->nheads + h] = c->adapt_span ? m->w.layers[l].z[h] : 1.0f;
  return spn_cost(c, z, head);
}

/* A span in characters as a fraction of S; NaN (unknown) counts as S, the rest is clamped, so
 * nothing that is not finite reaches a cast. */
static float
z_of_span(const SpnConfig *c, float span)
{
  return isnan(span) ? 1.0f : CLAMP(span / c->attn_span, 0.0f, 1.0f);
}

SpnCost
spn_cost_of_spans(const SpnConfig *c, const float *spans, double *head)
{
  int n = c->nlayers * c->nheads;
  g_autofree float *z = g_new(float, MAX(n, 1));
  for (int k = 0; k < n; k++)
    z[k] = z_of_span(c, spans[k]);
  return spn_cost(c, z, head);
}

gboolean
spn_span_table_write_csv(const SpnConfig *c, const float *spans, const char *path, GError **error)
{
  int n = c->nlayers * c->nheads;
  g_autofree double *head = g_new(double, n), *full = g_new(double, n);
  spn_cost_of_spans(c, spans, head);
  spn_cost_full_span(c, full);
  GString *s = g_string_new("layer,head,span,window,attn_flops_per_char,"
                            "attn_flops_per_char_full_span\n");
  for (int k = 0; k < n; k++) {
    char span[G_ASCII_DTOSTR_BUF_SIZE] = "";
    if (isfinite(spans[k]))
      g_ascii_formatd(span, sizeof span, "%.6g", spans[k]);
    float z = z_of_span(c, spans[k]);
    int w = spn_attention_window(z, c->attn_span, c->adapt_span_ramp, c->adapt_span);
    g_string_append_printf(s, "%d,%d,%s,%d,%.0f,%.0f\n", k / c->nheads, k % c->nheads, span, w,
                           head[k], full[k]);
  }
  gboolean ok = spn_save_bytes(path, s->str, s->len, error);
  if (!ok)
    g_prefix_error(error, "cannot write the span table %s: ", path);
  g_string_free(s, TRUE);
  return ok;
}
