#include "linear.h"

#include <omp.h>

#include "parallel.h"

/* Adds b to the rows (or columns) of y (n×out) in slice sl. */
static void
add_bias(float *y, const float *b, int n, int out, SpnSlice sl)
{
  int r0 = sl.rows ? sl.lo : 0, r1 = sl.rows ? sl.hi : n;
  int c0 = sl.rows ? 0 : sl.lo, c1 = sl.rows ? out : sl.hi;
  for (int i = r0; i < r1; i++)
    for (int j = c0; j < c1; j++)
      y[(gsize)i * out + j] += b[j];
}

void
spn_linear_forward(float *y, const float *x, const float *w, const float *b, int n, int in,
                   int out)
{
  /* one region: every thread adds the bias to the part of the product it computed, while
   * that part is still in its cache */
#pragma omp parallel
  {
    SpnSlice sl = spn_gemm_team(FALSE, TRUE, n, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
    if (b != NULL)
      add_bias(y, b, n, out, sl);
  }
}

void
spn_column_sums_team(float *sum, const float *x, int n, int m)
{
  /* read row by row: contiguous loads that vectorise, while every column is still summed from
   * row 0 to row n − 1, whatever the number of threads */
  enum { BAND = 64 };
  int bands = (m + BAND - 1) / BAND;
#pragma omp for schedule(static) nowait
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

void
spn_linear_backward(float *dx, gboolean accumulate, float *dw, float *db, const float *dy,
                    const float *x, const float *w, int n, int in, int out)
{
  /* the three gradients are independent: one region, one barrier */
#pragma omp parallel
  {
    if (dx != NULL)
      spn_gemm_team(FALSE, FALSE, n, in, out, 1.0f, dy, out, w, in, accumulate ? 1.0f : 0.0f,
                    dx, in);
    spn_gemm_team(TRUE, FALSE, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw, in);
    if (db != NULL)
      spn_column_sums_team(db, dy, n, out);
  }
}
