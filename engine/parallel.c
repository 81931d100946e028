#include "parallel.h"

#include <cblas.h>
#include <omp.h>
#include <stdatomic.h>

static int n_threads = 1;
static atomic_bool counting;
static _Atomic long long counted;

void
spn_gemm_count(gboolean on)
{
  atomic_store(&counted, 0);
  atomic_store(&counting, on);
}

gint64
spn_gemm_counted(void)
{
  return (gint64)atomic_load(&counted);
}

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
  if (G_UNLIKELY(atomic_load_explicit(&counting, memory_order_relaxed)))
    atomic_fetch_add(&counted, 2LL * m * n * k);
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* How many threads share a product: none of the overhead for small ones. */
static int
gemm_parts(int m, int n, int k, int threads)
{
  if (threads <= 1 || (gint64)m * n * (k > 0 ? k : 1) < 32768)
    return 1;
  return MIN(threads, MAX(m, n));
}

SpnSlice
spn_gemm_part(int part, int parts, gboolean trans_a, gboolean trans_b, int m, int n, int k,
              float alpha, const float *a, int lda, const float *b, int ldb, float beta, float *c,
              int ldc)
{
  gboolean split_rows = m >= n;
  int total = split_rows ? m : n;
  /* multiples of 16 keep the OpenBLAS kernels on full panels */
  int chunk = ((total + parts - 1) / parts + 15) / 16 * 16;
  SpnSlice sl = {.rows = split_rows, .lo = MIN(total, part * chunk)};
  sl.hi = MIN(total, sl.lo + chunk);
  if (sl.lo >= sl.hi)
    return sl;
  if (split_rows) {
    const float *ap = trans_a ? a + sl.lo : a + (gsize)sl.lo * lda;
    spn_gemm1(trans_a, trans_b, sl.hi - sl.lo, n, k, alpha, ap, lda, b, ldb, beta,
              c + (gsize)sl.lo * ldc, ldc);
  } else {
    const float *bp = trans_b ? b + (gsize)sl.lo * ldb : b + sl.lo;
    spn_gemm1(trans_a, trans_b, m, sl.hi - sl.lo, k, alpha, a, lda, bp, ldb, beta, c + sl.lo, ldc);
  }
  return sl;
}

SpnSlice
spn_gemm_team(gboolean trans_a, gboolean trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
  int parts = gemm_parts(m, n, k, omp_get_num_threads()), part = omp_get_thread_num();
  if (part >= parts)
    return (SpnSlice){.rows = TRUE, .lo = 0, .hi = 0};
  return spn_gemm_part(part, parts, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c,
                       ldc);
}

void
spn_gemm(gboolean trans_a, gboolean trans_b, int m, int n, int k, float alpha, const float *a,
         int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
  /* inside a region the calling thread does it all: the region's threads are busy already */
  int parts = omp_in_parallel() ? 1 : gemm_parts(m, n, k, n_threads);
  if (parts <= 1) {
    spn_gemm1(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
#pragma omp parallel for num_threads(parts) schedule(static, 1)
  for (int p = 0; p < parts; p++)
    spn_gemm_part(p, parts, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
