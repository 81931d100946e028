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
  if (db != NULL) {
#pragma omp parallel for schedule(static)
    for (int j = 0; j < out; j++) {
      float s = 0.0f;
      for (int i = 0; i < n; i++)
        s += dy[(gsize)i * out + j];
      db[j] += s;
    }
  }
}
