#include "parallel.h"

#include <cblas.h>
#include <omp.h>

static int n_threads = 1;

int
spn_threads_init(int n)
{
  if (n <= 0)
    n = (int)g_get_num_processors();
  n_threads = n;
  omp_set_num_threads(n);
  openblas_set_num_threads(1);
  return n;
}

int
spn_threads_count(void)
{
  return n_threads;
}

void
spn_gemm1(gboolean trans_a, gboolean trans_b, int m, int n, int k, float alpha, const float *a,
          int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
  if (m <= 0 || n <= 0)
    return;
  if (k <= 0) {
    /* BLAS leaves C alone when k = 0 only if beta = 1; make the other cases explicit */
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++)
        c[(gsize)i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[(gsize)i * ldc + j];
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void
spn_gemm(gboolean trans_a, gboolean trans_b, int m, int n, int k, float alpha, const float *a,
         int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
  int parts = n_threads;
  if (parts <= 1 || (gint64)m * n * (k > 0 ? k : 1) < 32768) {
    spn_gemm1(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  gboolean split_rows = m >= n;
  int total = split_rows ? m : n;
  if (parts > total)
    parts = total;
#pragma omp parallel for num_threads(parts) schedule(static, 1)
  for (int p = 0; p < parts; p++) {
    /* multiples of 16 keep the OpenBLAS kernels on full panels */
    int chunk = ((total + parts - 1) / parts + 15) / 16 * 16;
    int lo = p * chunk, hi = MIN(total, lo + chunk);
    if (lo >= hi)
      continue;
    if (split_rows) {
      const float *ap = trans_a ? a + lo : a + (gsize)lo * lda;
      spn_gemm1(trans_a, trans_b, hi - lo, n, k, alpha, ap, lda, b, ldb, beta,
                c + (gsize)lo * ldc, ldc);
    } else {
      const float *bp = trans_b ? b + (gsize)lo * ldb : b + lo;
      spn_gemm1(trans_a, trans_b, m, hi - lo, k, alpha, a, lda, bp, ldb, beta, c + lo, ldc);
    }
  }
}
