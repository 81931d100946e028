#include "loss.h"

#include <math.h>

double
spn_nll_forward(float *logits, const gint32 *targets, int n, int v, float *per_token)
{
  /* summed afterwards in a fixed order: the loss must not depend on thread timing */
  float *nlls = per_token != NULL ? per_token : g_new(float, n);
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; i++) {
    float *row = logits + (gsize)i * v;
    float mx = row[0];
    for (int j = 1; j < v; j++)
      mx = MAX(mx, row[j]);
    float s = 0.0f;
    for (int j = 0; j < v; j++)
      s += expf(row[j] - mx);
    float lse = mx + logf(s);
    for (int j = 0; j < v; j++)
      row[j] -= lse;
    nlls[i] = -row[targets[i]];
  }
  double total = 0.0;
  for (int i = 0; i < n; i++)
    total += nlls[i];
  if (nlls != per_token)
    g_free(nlls);
  return total / n;
}

void
spn_nll_backward(float *logp, const gint32 *targets, int n, int v)
{
  float inv = 1.0f / n;
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; i++) {
    float *row = logp + (gsize)i * v;
    for (int j = 0; j < v; j++)
      row[j] = expf(row[j]) * inv;
    row[targets[i]] -= inv;
  }
}
