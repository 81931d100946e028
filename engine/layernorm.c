#include "layernorm.h"

#include <math.h>
#include <string.h>

#include "parallel.h"

/* One row: x (+= res when given), then its normalisation into y. */
static inline void
layernorm_row(float *yi, float *mean, float *rstd, float *xi, const float *res, const float *g,
              const float *b, int d)
{
  if (res != NULL)
    for (int j = 0; j < d; j++)
      xi[j] += res[j];
  float m = 0.0f, v = 0.0f;
  for (int j = 0; j < d; j++)
    m += xi[j];
  m /= d;
  for (int j = 0; j < d; j++)
    v += (xi[j] - m) * (xi[j] - m);
  v /= d;
  float r = 1.0f / sqrtf(v + SPN_LN_EPS);
  *mean = m;
  *rstd = r;
  for (int j = 0; j < d; j++)
    yi[j] = (xi[j] - m) * r * g[j] + b[j];
}

void
spn_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *g,
                      const float *b, int n, int d)
{
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; i++)
    layernorm_row(y + (gsize)i * d, &mean[i], &rstd[i], (float *)x + (gsize)i * d, NULL, g, b, d);
}

void
spn_residual_layernorm_forward(float *y, float *mean, float *rstd, float *x, const float *res,
                               const float *g, const float *b, int n, int d)
{
  /* the residual sum in the same pass as the normalisation: one walk over the rows */
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; i++)
    layernorm_row(y + (gsize)i * d, &mean[i], &rstd[i], x + (gsize)i * d, res + (gsize)i * d, g,
                  b, d);
}

void
spn_layernorm_params_team(float *dg, float *db, const float *dy, const float *x,
                          const float *mean, const float *rstd, int n, int d)
{
  /* dg and db sum over rows: a band of columns per task, read row by row (contiguous loads),
   * each column summed in row order whatever the number of threads */
  enum { BAND = 64 };
  int bands = (d + BAND - 1) / BAND;
#pragma omp for schedule(static) nowait
  for (int k = 0; k < bands; k++) {
    int lo = k * BAND, w = MIN(BAND, d - lo);
    float sg[BAND] = {0}, sb[BAND] = {0};
    for (int i = 0; i < n; i++) {
      const float *xi = x + (gsize)i * d + lo, *dyi = dy + (gsize)i * d + lo;
      float m = mean[i], r = rstd[i];
      for (int j = 0; j < w; j++) {
        float xh = (xi[j] - m) * r;
        sg[j] += dyi[j] * xh;
        sb[j] += dyi[j];
      }
    }
    for (int j = 0; j < w; j++) {
      dg[lo + j] += sg[j];
      db[lo + j] += sb[j];
    }
  }
}

void
spn_layernorm_backward_dx(float *dx, const float *dy, const float *x, const float *mean,
                          const float *rstd, const float *g, int n, int d)
{
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; i++) {
    const float *xi = x + (gsize)i * d, *dyi = dy + (gsize)i * d;
    float *dxi = dx + (gsize)i * d;
    float m = mean[i], r = rstd[i];
    float s1 = 0.0f, s2 = 0.0f; /* mean of dxhat and of dxhat·xhat */
    for (int j = 0; j < d; j++) {
      float dxh = dyi[j] * g[j];
      s1 += dxh;
      s2 += dxh * (xi[j] - m) * r;
    }
    s1 /= d;
    s2 /= d;
    for (int j = 0; j < d; j++) {
      float xh = (xi[j] - m) * r;
      dxi[j] = (dyi[j] * g[j] - s1 - xh * s2) * r;
    }
  }
}

void
spn_layernorm_backward(float *dx, float *dg, float *db, const float *dy, const float *x,
                       const float *mean, const float *rstd, const float *g, int n, int d)
{
  /* the parameters first: dx may overwrite dy */
#pragma omp parallel
  spn_layernorm_params_team(dg, db, dy, x, mean, rstd, n, d);
  spn_layernorm_backward_dx(dx, dy, x, mean, rstd, g, n, d);
}
