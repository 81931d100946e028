/* cost.c — parameters and FLOPs of a model from its configuration (cost.h). */
#include "cost.h"

#include "attention.h"
#include "model.h"
#include "params.h"

gint64
spn_cost_parameters(const SpnConfig *cfg)
{
  SpnLayout *layout = spn_layout_new(cfg);
  gint64 n = (gint64)layout->total;
  spn_layout_free(layout);
  return n;
}

SpnStepCost
spn_cost_step(const SpnConfig *c, const float *z)
{
  double n = (double)c->batch_sz * c->block_sz, d = c->hid_sz, F = c->inner_hid_sz;
  double D = spn_config_head_dim(c), N = c->pers_mem_size, B = c->batch_sz, M = c->block_sz;
  SpnStepCost cost = {3 * 2 * n * d * c->vocab_size, 0};
  float *zl = g_new(float, MAX(c->nheads, 1));
  for (int l = 0; l < c->nlayers; l++) {
    for (int h = 0; h < c->nheads; h++)
      zl[h] = !c->adapt_span ? 1.0f : z ? z[l * c->nheads + h] : (float)c->adapt_span_init;
    double lin = 2 * n * d * d + (N == 0 ? 2 * n * d * F : 0); /* queries, output; FF */
    cost.dense += 3 * 2 * lin;
    cost.dense += 2 * n * 2 * d * d; /* gradient of the block's inputs through keys and values */
    /* reference mode: every head scores the layer's trimmed window (attention.h) */
    int norm = c->attn_window == SPN_ATTN_WINDOW_REFERENCE && c->adapt_span
                   ? c->attn_span - spn_layer_trim(c, zl)
                   : 0;
    for (int h = 0; h < c->nheads; h++) {
      double w = spn_attention_window(zl[h], c->attn_span, c->adapt_span_ramp, c->adapt_span);
      w = norm > 0 ? MIN(w, norm) : w;
      double s = norm > 0 ? norm : w;
      cost.dense += 2 * 2 * B * (s + M) * d * D;   /* keys of the rows scored, and dW */
      cost.dense += 2 * 2 * B * (w + M) * d * D;   /* values of the rows weighed, and dW */
      cost.attention += 3 * 2 * 2 * n * s * D;     /* scores and position terms */
      cost.attention += 3 * 2 * n * w * D;         /* weighted values */
      cost.attention += 3 * 2 * 2 * n * N * D;     /* persistent keys and values */
    }
  }
  g_free(zl);
  return cost;
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
