#include "linear.h"

#include "parallel.h"

void
spn_linear_forward(float *y, const float *x, const float *w, const float *b, int n, int in,
                   int out)
{
  if (b != NULL) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++)
      for (int j = 0; j < out; j++)
        y[(gsize)i * out + j] = b[j];
  }
  spn_gemm(FALSE, TRUE, n, out, in, 1.0f, x, in, w, in, b != NULL ? 1.0f : 0.0f, y, out);
}

void
spn_linear_backward(float *dx, gboolean accumulate, float *dw, float *db, const float *dy,
                    const float *x, const float *w, int n, int in, int out)
{
  if (dx != NULL)
    spn_gemm(FALSE, FALSE, n, in, out, 1.0f, dy, out, w, in, accumulate ? 1.0f : 0.0f, dx, in);
  spn_gemm(TRUE, FALSE, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw, in);
  if (db != NULL)
    spn_column_sums(db, dy, n, out);
}

void
spn_column_sums(float *sum, const float *x, int n, int m)
{
  /* a band of columns per task, read row by row: contiguous loads that vectorise, while every
   * column is still summed from row 0 to row n − 1, whatever the number of threads */
  enum { BAND = 64 };
  int bands = (m + BAND - 1) / BAND;
#pragma omp parallel for schedule(static)
  for (int k = 0; k < bands; k++) {
    int lo = k * BAND, w = MIN(BAND, m - lo);
    float s[BAND] = {0};
    for (int i = 0; i < n; i++) {
      const float *row = x + (gsize)i * m + lo;
      for (int j = 0; j < w; j++)
        s[j] += row[j];
    }
    for (int j = 0; j < w; j++)
      sum[lo + j] += s[j];
  }
}
