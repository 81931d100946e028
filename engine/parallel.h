/* parallel.h — one pool of threads (OpenMP) for everything; OpenBLAS runs single-threaded
 * inside it so the two never compete for the cores. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

/* n <= 0: one thread per core. Returns the number of threads in use. */
int spn_threads_init(int n);

/* Row-major C = alpha·op(A)·op(B) + beta·C, with op(X) = X or Xᵀ; C is m×n, the inner size k.
 * Splits the larger side of C over the threads (each part is a single-threaded sgemm), so the
 * result does not depend on the scheduling. Inside a parallel region the calling thread
 * computes all of it. */
void spn_gemm(gboolean trans_a, gboolean trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* A part of C: rows lo..hi−1 (rows) or columns lo..hi−1 (!rows); empty when lo == hi. */
typedef struct {
  gboolean rows;
  int lo, hi;
} SpnSlice;

/* Part `part` of `parts` of the spn_gemm product; returns the part of C it wrote. */
SpnSlice spn_gemm_part(int part, int parts, gboolean trans_a, gboolean trans_b, int m, int n,
                       int k, float alpha, const float *a, int lda, const float *b, int ldb,
                       float beta, float *c, int ldc);
/* Called by every thread of a parallel region: each computes its own part of the spn_gemm
 * product, without waiting for the others (so several products, or a product and an
 * epilogue on the part returned, share one region and one barrier). */
SpnSlice spn_gemm_team(gboolean trans_a, gboolean trans_b, int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb, float beta, float *c,
                       int ldc);
/* The same, single-threaded, for use inside a parallel region. */
void spn_gemm1(gboolean trans_a, gboolean trans_b, int m, int n, int k, float alpha,
               const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* Counting the FLOPs (2·m·n·k) of every product from now on (on) or no longer, from zero: how
 * tests check the cost model (cost.h) against what the engine computes. */
void spn_gemm_count(gboolean on);
gint64 spn_gemm_counted(void);

G_END_DECLS
