/* bench_common.h — small helpers shared by the benchmark programs. */
#pragma once
#include <glib.h>
#include <stdlib.h>
#include <time.h>

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

/* Seconds on the monotonic clock, to the nanosecond (some figures are microseconds). */
static inline double
bench_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

