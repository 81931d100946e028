#include "model.h"

#include <math.h>
#include <string.h>

#include "rng.h"

SpnModel *
spn_model_new(const SpnConfig *cfg)
{
  SpnModel *m = g_new0(SpnModel, 1);
  m->cfg = *cfg;
  m->layout = spn_layout_new(cfg);
  m->params = g_new0(float, m->layout->total);
  m->grads = g_new0(float, m->layout->total);
  spn_weights_bind(&m->w, cfg, m->layout, m->params);
  spn_weights_bind(&m->g, cfg, m->layout, m->grads);
  SpnRng rng;
  spn_rng_seed(&rng, cfg->seed);
  spn_weights_init(&m->w, cfg, m->layout, &rng);
  return m;
}

void
spn_model_free(SpnModel *m)
{
  if (m == NULL)
    return;
  spn_weights_unbind(&m->w);
  spn_weights_unbind(&m->g);
  spn_layout_free(m->layout);
  g_free(m->params);
  g_free(m->grads);
  g_free(m);
}

void
spn_model_zero_grad(SpnModel *m)
{
  memset(m->grads, 0, sizeof(float) * m->layout->total);
}

double
spn_model_span_loss(const SpnModel *m)
{
  const SpnConfig *c = &m->cfg;
  if (!c->adapt_span)
    return 0.0;
  double total = 0.0;
  for (int l = 0; l < c->nlayers; l++) {
    double mean = 0.0;
    for (int h = 0; h < c->nheads; h++)
      mean += m->w.layers[l].z[h];
    total += c->adapt_span_loss * c->attn_span * (mean / c->nheads);
  }
  return total;
}

void
spn_model_span_loss_backward(SpnModel *m)
{
  const SpnConfig *c = &m->cfg;
  if (!c->adapt_span)
    return;
  float g = (float)(c->adapt_span_loss * c->attn_span / c->nheads);
  for (int l = 0; l < c->nlayers; l++)
    for (int h = 0; h < c->nheads; h++)
      m->g.layers[l].z[h] += g;
}

float
spn_model_span(const SpnModel *m, int layer, int head)
{
  const SpnConfig *c = &m->cfg;
  return c->adapt_span ? m->w.layers[layer].z[head] * c->attn_span : (float)c->attn_span;
}

void
spn_model_spans(const SpnModel *m, float *spans)
{
  const SpnConfig *c = &m->cfg;
  for (int l = 0; l < c->nlayers; l++)
    for (int h = 0; h < c->nheads; h++)
      spans[l * c->nheads + h] = spn_model_span(m, l, h);
}

int
spn_layer_trim(const SpnConfig *c, const float *z)
{
  int S = c->attn_span;
  if (!c->adapt_span)
    return 0;
  float zmax = 0.0f;
  for (int h = 0; h < c->nheads; h++)
    if (z[h] > zmax) /* a NaN span is passed over */
      zmax = z[h];
  /* z·S in double, as the reference multiplies the float32 z read as a Python float: the
   * product is exact, so its ceiling never rounds the wrong way; clamped before the cast */
  double r = ceil((double)zmax * S) + c->adapt_span_ramp;
  int reach = r >= S ? S : r <= 0 ? 0 : (int)r;
  return MIN(S - 1, S - reach) / 64 * 64;
}

int
spn_model_trim(const SpnModel *m, int layer)
{
  return spn_layer_trim(&m->cfg, m->w.layers[layer].z);
}

int
spn_layer_cache_rows(const SpnConfig *c, const float *z)
{
  int S = c->attn_span;
  if (!c->adapt_span || !c->adapt_span_cache)
    return S;
  return MIN(S, S - spn_layer_trim(c, z) + 64);
}

int
spn_model_cache_size(const SpnModel *m, int layer)
{
  return spn_layer_cache_rows(&m->cfg, m->cfg.adapt_span ? m->w.layers[layer].z : NULL);
}
