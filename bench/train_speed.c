/* train_speed — spanscope's side of the training benchmark.
 *
 * Builds the configuration given as JSON on the bundled corpus (or --corpus), writes the initial
 * weights (--init-out) and the training split as raw int32 tokens (--tokens-out) so the PyTorch
 * oracle can train the very same model on the very same data, then times `steps` optimizer steps
 * after `warmup` untimed ones and prints one JSON line:
 *   {"chars_per_s": B·M / median step, "step_ms_median", "cpu_ms_median" (CPU time of the
 *    process per step, all threads: steadier than wall time on a busy machine), "first_loss",
 *    "losses", "threads"} */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"
#include "checkpoint.h"
#include "parallel.h"
#include "trainer.h"

static double
cpu_seconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
  char *config = NULL, *corpus_path = NULL, *init_out = NULL, *tokens_out = NULL;
  int steps = 8, warmup = 2, threads = 2;
  GOptionEntry e[] = {
    {"config", 0, 0, G_OPTION_ARG_STRING, &config, "Configuration (JSON, config keys)", "JSON"},
    {"corpus", 0, 0, G_OPTION_ARG_FILENAME, &corpus_path, "Corpus (default: bundled)", "PATH"},
    {"steps", 0, 0, G_OPTION_ARG_INT, &steps, "Timed steps (default 8)", "N"},
    {"warmup-steps", 0, 0, G_OPTION_ARG_INT, &warmup, "Untimed steps first (default 2)", "N"},
    {"threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads (default 2)", "N"},
    {"init-out", 0, 0, G_OPTION_ARG_FILENAME, &init_out, "Write the initial weights here", "PATH"},
    {"tokens-out", 0, 0, G_OPTION_ARG_FILENAME, &tokens_out, "Write the training tokens here", "PATH"},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("- time training steps");
  g_option_context_add_main_entries(ctx, e, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error) || steps < 1) {
    fprintf(stderr, "train_speed: %s\n", error ? error->message : "--steps must be >= 1");
    return 2;
  }
  SpnConfig cfg;
  spn_config_init_desktop(&cfg);
  if (config && !spn_config_from_json(&cfg, config, &error)) {
    fprintf(stderr, "train_speed: --config: %s\n", error->message);
    return 2;
  }
  cfg.threads = threads;
  spn_threads_init(threads);
  SpnCorpusOptions opts = {0};
  SpnCorpus *corpus =
      spn_corpus_load(corpus_path ? corpus_path : SPN_BUNDLED_SOURCE, &opts, &error);
  if (corpus == NULL) {
    fprintf(stderr, "train_speed: %s\n", error->message);
    return 1;
  }
  if (tokens_out) {
    gsize n = corpus->n_tokens[SPN_SPLIT_TRAIN];
    g_autofree gint32 *ids = g_new(gint32, MAX(n, 1));
    spn_corpus_copy_ids(corpus, SPN_SPLIT_TRAIN, 0, n, ids); /* int32, as train_vs_torch reads */
    if (!g_file_set_contents(tokens_out, (const char *)ids, (gssize)(n * sizeof(gint32)), &error)) {
      fprintf(stderr, "train_speed: %s\n", error->message);
      return 1;
    }
  }
  SpnTrainer *t = spn_trainer_new(&cfg, corpus, &error);
  if (t == NULL) {
    fprintf(stderr, "train_speed: %s\n", error->message);
    return 1;
  }
  if (init_out) {
    SpnCheckpoint ck = {.model = spn_trainer_model(t), .vocab = spn_trainer_corpus(t)->vocab};
    if (!spn_checkpoint_save(&ck, init_out, &error)) {
      fprintf(stderr, "train_speed: %s\n", error->message);
      return 1;
    }
  }
  const SpnConfig *c = &spn_trainer_model(t)->cfg;
  double *ms = g_new(double, steps), *cpu_ms = g_new(double, steps);
  GString *losses = g_string_new("[");
  for (int s = 0; s < warmup + steps; s++) {
    SpnStepResult r;
    double cpu0 = cpu_seconds();
    g_assert_true(spn_trainer_step(t, &r, NULL));
    double cpu = cpu_seconds() - cpu0;
    g_string_append_printf(losses, "%s%.7f", s ? ", " : "", r.train_bpc * G_LN2);
    if (s >= warmup) {
      ms[s - warmup] = r.seconds * 1e3;
      cpu_ms[s - warmup] = cpu * 1e3;
    }
  }
  g_string_append_c(losses, ']');
  double median = bench_median(ms, steps), cpu_median = bench_median(cpu_ms, steps);
  const char *first = losses->str + 1;
  printf("{\"chars_per_s\": %.1f, \"step_ms_median\": %.2f, \"cpu_ms_median\": %.2f, "
         "\"first_loss\": %.*s, \"losses\": %s, \"threads\": %d}\n",
         c->batch_sz * c->block_sz / (median / 1e3), median, cpu_median,
         (int)strcspn(first, ",]"), first, losses->str, threads);
  g_string_free(losses, TRUE);
  g_free(ms);
  g_free(cpu_ms);
  spn_trainer_free(t);
  return 0;
}
