/* per_head_spans — does the training cost follow the sum of the heads' spans?
 *
 * The desktop model with S = 8192 (4 layers × 4 heads), spans set rather than learned (every
 * head's z is set again before each step), in three cases: (a) every head 64, (b) one head 4096
 * and the others 64, (c) every head 4096. Trimming per layer, as the reference does, would make
 * all four heads of the long head's layer pay in (b); trimming per head makes (b) cost about
 * 1/16 of the extra of (c). The three cases step in turn, so a busy machine slows them alike;
 * prints the median step time of each and
 *   per_head_extra_ratio = (b − a) / (c − a)    (the goal: at most 1/8). */
#include <stdio.h>
#include <string.h>

#include "bench_common.h"
#include "parallel.h"
#include "trainer.h"

#define N_CASES 3

static void
set_spans(SpnModel *m, int which)
{
  const SpnConfig *c = &m->cfg;
  float short_z = 64.0f / c->attn_span, long_z = 4096.0f / c->attn_span;
  for (int l = 0; l < c->nlayers; l++)
    for (int h = 0; h < c->nheads; h++) {
      gboolean first = l == 0 && h == 0;
      gboolean is_long = which == 2 || (which == 1 && first);
      m->w.layers[l].z[h] = is_long ? long_z : short_z;
    }
}

int
main(int argc, char **argv)
{
  int steps = 5, warmup = 1, threads = 2, batch = 16;
  gboolean json = FALSE;
  GOptionEntry e[] = {
    {"steps", 0, 0, G_OPTION_ARG_INT, &steps, "Timed steps per case (default 5)", "N"},
    {"warmup-steps", 0, 0, G_OPTION_ARG_INT, &warmup, "Untimed steps first (default 1)", "N"},
    {"threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads (default 2)", "N"},
    {"batch-sz", 0, 0, G_OPTION_ARG_INT, &batch, "Streams (default 16, the desktop's)", "B"},
    {"json", 0, 0, G_OPTION_ARG_NONE, &json, "One JSON object", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("- step time against per-head spans");
  g_option_context_add_main_entries(ctx, e, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error) || steps < 1 || warmup < 0) {
    fprintf(stderr, "per_head_spans: %s\n", error ? error->message : "--steps must be >= 1");
    return 2;
  }
  spn_threads_init(threads);
  SpnConfig cfg;
  spn_config_init_desktop(&cfg);
  cfg.attn_span = 8192;
  cfg.batch_sz = batch;
  /* per-head trimming throughout: reference mode scores the long head's whole layer window in
   * every head of that layer (bench/attn_window measures what that costs) */
  cfg.attn_window = SPN_ATTN_WINDOW_HEAD;
  SpnTrainer *t[N_CASES];
  for (int k = 0; k < N_CASES; k++) {
    SpnCorpusOptions opts = {0};
    SpnCorpus *corpus = spn_corpus_load(SPN_BUNDLED_SOURCE, &opts, &error);
    if (corpus == NULL || (t[k] = spn_trainer_new(&cfg, corpus, &error)) == NULL) {
      fprintf(stderr, "per_head_spans: %s\n", error->message);
      return 1;
    }
  }
  double ms[N_CASES][steps];
  for (int s = 0; s < warmup + steps; s++)
    for (int k = 0; k < N_CASES; k++) {
      SpnStepResult r;
      set_spans(spn_trainer_model(t[k]), k);
      g_assert_true(spn_trainer_step(t[k], &r, NULL));
      if (s >= warmup)
        ms[k][s - warmup] = r.seconds * 1e3;
    }
  double med[N_CASES];
  for (int k = 0; k < N_CASES; k++) {
    med[k] = bench_median(ms[k], steps);
    spn_trainer_free(t[k]);
  }
  double ratio = (med[1] - med[0]) / (med[2] - med[0]);
  if (json)
    printf("{\"step_ms_all_64\": %.2f, \"step_ms_one_4096\": %.2f, \"step_ms_all_4096\": %.2f, "
           "\"per_head_extra_ratio\": %.4f, \"batch_sz\": %d, \"threads\": %d, \"steps\": %d}\n",
           med[0], med[1], med[2], ratio, batch, threads, steps);
  else
    printf("step_ms_all_64 %.2f\nstep_ms_one_4096 %.2f\nstep_ms_all_4096 %.2f\n"
           "per_head_extra_ratio %.4f\n", med[0], med[1], med[2], ratio);
  return 0;
}
