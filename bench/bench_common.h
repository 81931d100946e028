/* bench_common.h — small helpers shared by the benchmark programs. */
#pragma once
#include <glib.h>
#include <math.h>
#include <stdlib.h>

#include "history.h"

static inline int
bench_compare_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of n values (sorts them in place). */
static inline double
bench_median(double *v, int n)
{
  qsort(v, n, sizeof(double), bench_compare_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static inline double
bench_now(void)
{
  return g_get_monotonic_time() / 1e6;
}

/* A training run's history of `rows` steps, as a long run looks: bpc falling with noise,
 * validation every 100 steps, throughput around 19k tokens/s, every head's span growing like
 * the square root of time towards final_spans (nlayers × nheads of h). Always the same. */
static inline void
bench_fill_history(SpnHistory *h, int rows, const float *final_spans)
{
  GRand *rng = g_rand_new_with_seed(3);
  int per_row = h->nlayers * h->nheads;
  float *spans = g_new(float, per_row);
  for (int i = 0; i < rows; i++) {
    double t = (i + 1) / (double)rows;
    for (int k = 0; k < per_row; k++)
      spans[k] = (float)(final_spans[k] * sqrt(t) * (0.95 + 0.1 * g_rand_double(rng)));
    double bpc = 1.3 + 3.2 * exp(-6 * t) + 0.15 * g_rand_double(rng);
    spn_history_append(h, i + 1, bpc, 18000 + 2000 * g_rand_double(rng), spans);
    if ((i + 1) % 100 == 0)
      spn_history_add_valid(h, i + 1, 1.35 + 3.1 * exp(-6 * t));
  }
  g_free(spans);
  g_rand_free(rng);
}
