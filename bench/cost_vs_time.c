/* cost_vs_time — does the cost model (engine/cost.h) predict what the spans save in time?
 *
 * The desktop model (S = 1024 by default) with spans set rather than learned (every head's z is
 * set again before each step) in five cases: every head at 0, 64, 256 and 512 characters, and a
 * mix (one head per layer at S, the others at 32), against every head at S. All cases step in
 * turn, so a busy machine slows them alike. For each case it prints the FLOPs per character
 * (cost.h: the model's arithmetic, and as the engine runs it in tiles) as fractions of the
 * full-span model's, the measured median step time as a fraction of the full-span case's, and
 * the quotient measured / predicted of each (1: the prediction is exact; below 1: the case runs
 * faster than its FLOPs say — the dense projections and feed-forward run at a higher rate than
 * the attention's small products, so a model whose attention shrinks gains more time than
 * FLOPs). cost_prediction_worst_error: the largest |measured / predicted − 1| of the band
 * count. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench_common.h"
#include "cost.h"
#include "parallel.h"
#include "trainer.h"

#define N_CASES 6

static const char *const names[N_CASES] = {"all S", "all 512", "all 256", "all 64", "all 0",
                                           "mixed"};

static float
case_span(int which, int S, int h)
{
  static const float spans[] = {-1, 512, 256, 64, 0};
  if (which == 0)
    return (float)S;
  if (which == N_CASES - 1)
    return h == 0 ? (float)S : 32.0f;
  return spans[which];
}

static void
set_spans(SpnModel *m, int which, float *spans)
{
  const SpnConfig *c = &m->cfg;
  for (int l = 0; l < c->nlayers; l++)
    for (int h = 0; h < c->nheads; h++)
      m->w.layers[l].z[h] = MIN(1.0f, case_span(which, c->attn_span, h) / c->attn_span);
  spn_model_spans(m, spans);
}

int
main(int argc, char **argv)
{
  int steps = 5, warmup = 1, threads = 2, batch = 16, span = 1024;
  gboolean json = FALSE;
  g_autofree char *window = NULL;
  GOptionEntry e[] = {
    {"attn-window", 0, 0, G_OPTION_ARG_STRING, &window,
     "Softmax window: reference (the desktop's: the layer's trimmed window) or head", "MODE"},
    {"steps", 0, 0, G_OPTION_ARG_INT, &steps, "Timed steps per case (default 5)", "N"},
    {"warmup-steps", 0, 0, G_OPTION_ARG_INT, &warmup, "Untimed steps first (default 1)", "N"},
    {"threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads (default 2)", "N"},
    {"batch-sz", 0, 0, G_OPTION_ARG_INT, &batch, "Streams (default 16, the desktop's)", "B"},
    {"attn-span", 0, 0, G_OPTION_ARG_INT, &span, "S (default 1024, the desktop's)", "S"},
    {"json", 0, 0, G_OPTION_ARG_NONE, &json, "One JSON object", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("- predicted cost against step time");
  g_option_context_add_main_entries(ctx, e, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error) || steps < 1 || warmup < 0 ||
      span < 512) {
    fprintf(stderr, "cost_vs_time: %s\n",
            error ? error->message : "--steps must be >= 1, --attn-span >= 512");
    return 2;
  }
  spn_threads_init(threads);
  SpnConfig cfg;
  spn_config_init_desktop(&cfg);
  cfg.attn_span = span;
  cfg.batch_sz = batch;
  if (window != NULL) {
    if (g_strcmp0(window, spn_attn_window_name(SPN_ATTN_WINDOW_HEAD)) == 0)
      cfg.attn_window = SPN_ATTN_WINDOW_HEAD;
    else if (g_strcmp0(window, spn_attn_window_name(SPN_ATTN_WINDOW_REFERENCE)) == 0)
      cfg.attn_window = SPN_ATTN_WINDOW_REFERENCE;
    else {
      fprintf(stderr, "cost_vs_time: --attn-window %s: expected reference or head\n", window);
      return 2;
    }
  }
  SpnTrainer *t[N_CASES];
  for (int k = 0; k < N_CASES; k++) {
    SpnCorpusOptions opts = {0};
    SpnCorpus *corpus = spn_corpus_load(SPN_BUNDLED_SOURCE, &opts, &error);
    if (corpus == NULL || (t[k] = spn_trainer_new(&cfg, corpus, &error)) == NULL) {
      fprintf(stderr, "cost_vs_time: %s\n", error->message);
      return 1;
    }
  }
  int nh = cfg.nlayers * cfg.nheads;
  float *spans = g_newa(float, nh);
  double ms[N_CASES][steps], flops[N_CASES], as_run[N_CASES];
  for (int s = 0; s < warmup + steps; s++)
    for (int k = 0; k < N_CASES; k++) {
      SpnStepResult r;
      set_spans(spn_trainer_model(t[k]), k, spans);
      g_assert_true(spn_trainer_step(t[k], &r, NULL));
      flops[k] = r.cost.flops; /* what the trainer records for the step */
      as_run[k] = r.cost.flops_as_run;
      if (s >= warmup)
        ms[k][s - warmup] = r.seconds * 1e3;
    }
  double med[N_CASES];
  for (int k = 0; k < N_CASES; k++)
    med[k] = bench_median(ms[k], steps);
  double worst = 0.0;
  if (json)
    printf("{\"attn_span\": %d, \"attn_window\": \"%s\", \"batch_sz\": %d, \"threads\": %d, "
           "\"steps\": %d, \"cases\": [",
           span, spn_attn_window_name(cfg.attn_window), batch, threads, steps);
  else
    printf("%-8s %12s %10s %10s %10s %10s %10s %10s\n", "case", "FLOPs/char", "predicted",
           "as run", "step ms", "measured", "meas/pred", "meas/run");
  for (int k = 0; k < N_CASES; k++) {
    double pred = flops[k] / flops[0], run = as_run[k] / as_run[0], meas = med[k] / med[0];
    worst = MAX(worst, fabs(meas / pred - 1.0));
    if (json)
      printf("%s{\"case\": \"%s\", \"flops_per_char\": %.0f, \"predicted\": %.4f, "
             "\"predicted_as_run\": %.4f, \"step_ms\": %.2f, \"measured\": %.4f}",
             k ? ", " : "", names[k], flops[k], pred, run, med[k], meas);
    else
      printf("%-8s %12.0f %10.3f %10.3f %10.2f %10.3f %10.3f %10.3f\n", names[k], flops[k], pred,
             run, med[k], meas, meas / pred, meas / run);
    spn_trainer_free(t[k]);
  }
  if (json)
    printf("], \"cost_prediction_worst_error\": %.4f}\n", worst);
  else
    printf("cost_prediction_worst_error %.4f\n", worst);
  return 0;
}
