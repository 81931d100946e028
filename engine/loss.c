#include "loss.h"

#include <math.h>

double
spn_nll_mean(const float *nll, int n)
{
  /* a fixed order: the loss must not depend on thread timing */
  double total = 0.0;
  for (int i = 0; i < n; i++)
    total += nll[i];
  return total / n;
}

double
spn_nll_forward(float *logits, const gint32 *targets, int n, int v, float *per_token)
{
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
  double mean = spn_nll_mean(nlls, n);
  if (nlls != per_token)
    g_free(nlls);
  return mean;
}

void
spn_nll_backward_rows(float *logp, const gint32 *targets, int rows, int v, int n)
{
  float inv = 1.0f / n;
#pragma omp parallel for schedule(static)
  for (int i = 0; i < rows; i++) {
    float *row = logp + (gsize)i * v;
    for (int j = 0; j < v; j++)
      row[j] = expf(row[j]) * inv;
    row[targets[i]] -= inv;
  }
}

void
spn_nll_backward(float *logp, const gint32 *targets, int n, int v)
{
  spn_nll_backward_rows(logp, targets, n, v, n);
}
