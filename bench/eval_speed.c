/* eval_speed — how fast `eval` reads: the desktop model, its heads' spans set apart as after
 * training (each layer's longest head differs, so layers keep caches of different sizes),
 * evaluates the first --tokens predictions of the bundled corpus's validation split, --repeats
 * times. Prints one JSON line:
 *   {"eval_chars_per_s": predictions / median wall time, "eval_ms_median", "eval_cpu_ms_median"
 *    (CPU time of the process, all threads), "bpc", "threads"} */
#include <stdio.h>
#include <time.h>

#include "bench_common.h"
#include "parallel.h"
#include "trainer.h"

static double
cpu_seconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Spans in characters, per head, cycling over the layers: short heads beside long ones, as a
 * trained desktop model has them (README: a few heads of 100–250 characters, most below 30). */
static void
set_spans(SpnModel *m)
{
  const float spans[] = {3, 28, 0, 14, 0, 0, 1, 0, 0, 230, 226, 0, 14, 0, 0, 145};
  const SpnConfig *c = &m->cfg;
  for (int l = 0; l < c->nlayers; l++)
    for (int h = 0; h < c->nheads; h++)
      m->w.layers[l].z[h] = spans[(l * c->nheads + h) % G_N_ELEMENTS(spans)] / c->attn_span;
}

int
main(int argc, char **argv)
{
  int tokens = 65536, repeats = 5, threads = 2;
  GOptionEntry e[] = {
    {"tokens", 0, 0, G_OPTION_ARG_INT, &tokens, "Predictions per evaluation (default 65536)", "N"},
    {"repeats", 0, 0, G_OPTION_ARG_INT, &repeats, "Evaluations timed (default 5)", "N"},
    {"threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads (default 2)", "N"},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("- time evaluation");
  g_option_context_add_main_entries(ctx, e, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error) || repeats < 1 || tokens < 1) {
    fprintf(stderr, "eval_speed: %s\n",
            error ? error->message : "--repeats and --tokens must be >= 1");
    return 2;
  }
  spn_threads_init(threads);
  SpnCorpusOptions opts = {0};
  SpnCorpus *corpus = spn_corpus_load("bundled", &opts, &error);
  if (corpus == NULL) {
    fprintf(stderr, "eval_speed: %s\n", error->message);
    return 1;
  }
  SpnConfig cfg;
  spn_config_init_desktop(&cfg);
  cfg.vocab_size = corpus->vocab->size;
  SpnModel *m = spn_model_new(&cfg);
  set_spans(m);
  double *ms = g_new(double, repeats), *cpu_ms = g_new(double, repeats), bpc = 0;
  gsize scored = 0;
  for (int k = 0; k < repeats; k++) {
    double t0 = bench_now(), c0 = cpu_seconds();
    if (!spn_evaluate(m, corpus, SPN_SPLIT_VALID, cfg.batch_sz, (gsize)tokens, FALSE, &bpc,
                      &scored, &error)) {
      fprintf(stderr, "eval_speed: %s\n", error->message);
      return 1;
    }
    ms[k] = (bench_now() - t0) * 1e3;
    cpu_ms[k] = (cpu_seconds() - c0) * 1e3;
  }
  double median = bench_median(ms, repeats);
  printf("{\"eval_chars_per_s\": %.1f, \"eval_ms_median\": %.2f, \"eval_cpu_ms_median\": %.2f, "
         "\"bpc\": %.6f, \"threads\": %d}\n",
         scored / (median / 1e3), median, bench_median(cpu_ms, repeats), bpc, threads);
  g_free(ms);
  g_free(cpu_ms);
  spn_model_free(m);
  spn_corpus_free(corpus);
  return 0;
}
