#include "activation.h"

#include "rng.h"

float
spn_dropout_scale(float p, guint64 seed, guint64 a, guint64 b, guint64 c)
{
  if (p <= 0.0f)
    return 1.0f;
  return spn_hash_uniform(seed, a, b, c) < p ? 0.0f : 1.0f / (1.0f - p);
}

void
spn_relu_dropout_forward_at(float *y, const float *x, gsize n, gsize first, float p,
                            guint64 seed)
{
  if (p <= 0.0f) {
    /* without dropout the loop vectorises: no per-element call */
#pragma omp parallel for schedule(static)
    for (gsize i = 0; i < n; i++)
      y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    return;
  }
#pragma omp parallel for schedule(static)
  for (gsize i = 0; i < n; i++) {
    float v = x[i] > 0.0f ? x[i] : 0.0f;
    y[i] = v * spn_dropout_scale(p, seed, first + i, 0, 0);
  }
}

void
spn_relu_dropout_forward(float *y, const float *x, gsize n, float p, guint64 seed)
{
  spn_relu_dropout_forward_at(y, x, n, 0, p, seed);
}

void
spn_relu_dropout_backward_at(float *dx, const float *dy, const float *y, gsize n, gsize first,
                             float p, guint64 seed)
{
  /* y > 0 exactly where relu passed and dropout kept the unit */
  if (p <= 0.0f) {
#pragma omp parallel for schedule(static)
    for (gsize i = 0; i < n; i++) {
      float g = dy[i]; /* loaded unconditionally, so the select vectorises */
      dx[i] = y[i] > 0.0f ? g : 0.0f;
    }
    return;
  }
#pragma omp parallel for schedule(static)
  for (gsize i = 0; i < n; i++)
    dx[i] = y[i] > 0.0f ? dy[i] * spn_dropout_scale(p, seed, first + i, 0, 0) : 0.0f;
}

void
spn_relu_dropout_backward(float *dx, const float *dy, const float *y, gsize n, float p,
                          guint64 seed)
{
  spn_relu_dropout_backward_at(dx, dy, y, n, 0, p, seed);
}
