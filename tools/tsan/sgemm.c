/* tools/tsan: an instrumented stand-in for OpenBLAS's sgemm. OpenBLAS is not compiled with
 * ThreadSanitizer, so every element its kernels read or write would be invisible to it, and most
 * of the engine's memory traffic goes through sgemm (the race of issue 8 was between two sgemm
 * calls). Defined in the program, this cblas_sgemm takes the place of the library's. */
#include <cblas.h>

void
cblas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta,
            const enum CBLAS_TRANSPOSE tb, const blasint m, const blasint n, const blasint k,
            const float alpha, const float *a, const blasint lda, const float *b,
            const blasint ldb, const float beta, float *c, const blasint ldc)
{
  (void)order; /* spanscope calls it row-major only */
  for (blasint i = 0; i < m; i++)
    for (blasint j = 0; j < n; j++) {
      float s = 0.0f;
      for (blasint p = 0; p < k; p++)
        s += (ta == CblasNoTrans ? a[i * lda + p] : a[p * lda + i]) *
             (tb == CblasNoTrans ? b[p * ldb + j] : b[j * ldb + p]);
      c[i * ldc + j] = beta == 0.0f ? alpha * s : alpha * s + beta * c[i * ldc + j];
    }
}
