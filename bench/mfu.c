/* mfu — model FLOP utilisation of desktop training.
 *
 * Measures the sgemm peak of this machine with the same threads (large square products, both
 * through spanscope's pool of single-threaded sgemms and through OpenBLAS's own threads; the
 * better counts), then times desktop training steps and counts the FLOPs the model needs per
 * step (engine/cost.h, the `flops` of the step as the trainer reports it): every matrix product
 * (forward, input and weight gradients), the keys over the rows each head scores and the values
 * over those it weighs, and the attention each head computes (scores and position terms over
 * the distances it scores: its layer's trimmed window in reference mode, its own window in head
 * mode; weighted values over its own window; persistent memory) — not the work the engine wastes
 * in its dense tiles. Prints
 *   sgemm_peak_gflops, model_gflop_per_step, step_ms_median, model_gflops, mfu_desktop (%). */
#include <cblas.h>
#include <stdio.h>
#include <string.h>

#include "bench_common.h"
#include "cost.h"
#include "parallel.h"
#include "trainer.h"

/* the best of a few 2048³ products, in GFLOP/s */
static double
sgemm_peak(int threads)
{
  const int n = 2048;
  float *a = g_new(float, (gsize)n * n), *b = g_new(float, (gsize)n * n), *c = g_new(float, (gsize)n * n);
  for (gsize i = 0; i < (gsize)n * n; i++) {
    a[i] = (float)(i % 7) * 0.1f;
    b[i] = (float)(i % 5) * 0.1f;
  }
  double best = 0.0;
  for (int pool = 0; pool < 2; pool++)
    for (int rep = 0; rep < 4; rep++) {
      double t0 = bench_now();
      if (pool == 0) {
        spn_gemm(FALSE, FALSE, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
      } else {
        openblas_set_num_threads(threads);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        openblas_set_num_threads(1);
      }
      best = MAX(best, 2.0 * n * n * n / (bench_now() - t0) / 1e9);
    }
  g_free(a);
  g_free(b);
  g_free(c);
  return best;
}

int
main(int argc, char **argv)
{
  int steps = 10, warmup = 2, threads = 2;
  gboolean json = FALSE;
  GOptionEntry e[] = {
    {"steps", 0, 0, G_OPTION_ARG_INT, &steps, "Timed steps (default 10)", "N"},
    {"warmup-steps", 0, 0, G_OPTION_ARG_INT, &warmup, "Untimed steps first (default 2)", "N"},
    {"threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads (default 2)", "N"},
    {"json", 0, 0, G_OPTION_ARG_NONE, &json, "One JSON object", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("- model FLOP utilisation of training");
  g_option_context_add_main_entries(ctx, e, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error) || steps < 1 || warmup < 0) {
    fprintf(stderr, "mfu: %s\n", error ? error->message : "--steps must be >= 1");
    return 2;
  }
  spn_threads_init(threads);
  SpnConfig cfg;
  spn_config_init_desktop(&cfg);
  cfg.threads = threads;
  SpnCorpusOptions opts = {0};
  SpnCorpus *corpus = spn_corpus_load(SPN_BUNDLED_SOURCE, &opts, &error);
  SpnTrainer *t = corpus ? spn_trainer_new(&cfg, corpus, &error) : NULL;
  if (t == NULL) {
    fprintf(stderr, "mfu: %s\n", error->message);
    return 1;
  }
  /* the peak before and after the steps: on a shared machine the better one is the peak */
  double peak = sgemm_peak(threads);
  double *rate = g_new(double, steps), *ms = g_new(double, steps), *flop = g_new(double, steps);
  for (int s = 0; s < warmup + steps; s++) {
    SpnStepResult r;
    g_assert_true(spn_trainer_step(t, &r, NULL));
    double f = r.cost.flops * cfg.batch_sz * cfg.block_sz;
    if (s >= warmup) {
      rate[s - warmup] = f / r.seconds / 1e9;
      ms[s - warmup] = r.seconds * 1e3;
      flop[s - warmup] = f / 1e9;
    }
  }
  peak = MAX(peak, sgemm_peak(threads));
  double gflops = bench_median(rate, steps), step_ms = bench_median(ms, steps);
  double gflop = bench_median(flop, steps), mfu = 100.0 * gflops / peak;
  if (json)
    printf("{\"sgemm_peak_gflops\": %.1f, \"model_gflop_per_step\": %.3f, \"step_ms_median\": %.2f, "
           "\"model_gflops\": %.1f, \"mfu_desktop\": %.1f, \"threads\": %d}\n",
           peak, gflop, step_ms, gflops, mfu, threads);
  else
    printf("sgemm_peak_gflops %.1f\nmodel_gflop_per_step %.3f\nstep_ms_median %.2f\n"
           "model_gflops %.1f\nmfu_desktop %.1f\n", peak, gflop, step_ms, gflops, mfu);
  g_free(rate);
  g_free(ms);
  g_free(flop);
  spn_trainer_free(t);
  return 0;
}
