#include "optim.h"

#include <math.h>

SpnOptim *
spn_optim_new(const SpnModel *m)
{
  SpnOptim *o = g_new0(SpnOptim, 1);
  o->kind = m->cfg.optim;
  o->lr = m->cfg.lr;
  o->grad_clip = m->cfg.grad_clip;
  o->warmup = m->cfg.lr_warmup;
  o->size = m->layout->total;
  o->m1 = g_new0(float, o->size);
  if (o->kind == SPN_OPTIM_ADAM)
    o->m2 = g_new0(float, o->size);
  return o;
}

void
spn_optim_free(SpnOptim *o)
{
  if (o == NULL)
    return;
  g_free(o->m1);
  g_free(o->m2);
  g_free(o);
}

double
spn_optim_lr(const SpnOptim *o, gint64 k)
{
  if (o->warmup <= 0)
    return o->lr;
  return o->lr * MIN(1.0, (double)k / o->warmup);
}

static double
clipped_lr(const SpnOptim *o, double lr, const float *g, gsize n)
{
  if (o->grad_clip <= 0)
    return lr;
  double sq = 0.0;
  for (gsize i = 0; i < n; i++)
    sq += (double)g[i] * g[i];
  double norm = sqrt(sq);
  return norm > o->grad_clip ? lr * o->grad_clip / (norm + 1e-10) : lr;
}

/* An update computes every new value before storing it, so that check mode (apply FALSE) runs
 * the very same arithmetic and stores nothing; it returns FALSE at the first value that would not
 * be finite. */
static gboolean
adagrad_tensor(float *p, const float *g, float *acc, gsize n, float lr, gboolean apply)
{
  for (gsize i = 0; i < n; i++) {
    float a = acc[i] + g[i] * g[i];
    float q = p[i] - lr * (g[i] / (sqrtf(a) + 1e-10f));
    if (!apply && !(isfinite(a) && isfinite(q)))
      return FALSE;
    if (apply)
      acc[i] = a, p[i] = q;
  }
  return TRUE;
}

static gboolean
adam_tensor(float *p, const float *g, float *m1, float *m2, gsize n, float lr, gint64 k,
            gboolean apply)
{
  const float b1 = 0.9f, b2 = 0.999f;
  float c1 = 1.0f - powf(b1, (float)k), c2 = 1.0f - powf(b2, (float)k);
  for (gsize i = 0; i < n; i++) {
    float u = b1 * m1[i] + (1.0f - b1) * g[i];
    float v = b2 * m2[i] + (1.0f - b2) * g[i] * g[i];
    float q = p[i] - lr * (u / c1) / (sqrtf(v / c2) + 1e-8f);
    if (!apply && !(isfinite(u) && isfinite(v) && isfinite(q)))
      return FALSE;
    if (apply)
      m1[i] = u, m2[i] = v, p[i] = q;
  }
  return TRUE;
}

/* Update k of tensor t (or its check). */
static gboolean
tensor_update(SpnOptim *o, SpnModel *m, int t, gint64 k, gboolean apply)
{
  const SpnTensorSpec *s = &m->layout->tensors[t];
  float *p = m->params + s->offset;
  const float *g = m->grads + s->offset;
  float lr = (float)clipped_lr(o, spn_optim_lr(o, k), g, s->numel);
  if (o->kind == SPN_OPTIM_ADAM)
    return adam_tensor(p, g, o->m1 + s->offset, o->m2 + s->offset, s->numel, lr, k, apply);
  return adagrad_tensor(p, g, o->m1 + s->offset, s->numel, lr, apply);
}

int
spn_optim_check(SpnOptim *o, SpnModel *m)
{
  int n = m->layout->n_tensors, bad = n;
#pragma omp parallel for schedule(dynamic, 1) reduction(min : bad)
  for (int t = 0; t < n; t++)
    if (!tensor_update(o, m, t, o->step + 1, FALSE))
      bad = MIN(bad, t);
  return bad < n ? bad : -1;
}

void
spn_optim_step(SpnOptim *o, SpnModel *m)
{
  o->step++;
#pragma omp parallel for schedule(dynamic, 1)
  for (int t = 0; t < m->layout->n_tensors; t++)
    tensor_update(o, m, t, o->step, TRUE);
  if (m->cfg.adapt_span)
    for (int l = 0; l < m->cfg.nlayers; l++)
      for (int h = 0; h < m->cfg.nheads; h++)
        m->w.layers[l].z[h] = CLAMP(m->w.layers[l].z[h], 0.0f, 1.0f);
}
