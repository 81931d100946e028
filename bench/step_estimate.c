/* step_estimate — how close the New model dialog's seconds-per-step estimate comes.
 *
 * The dialog divides a model's work per step (engine/cost.c: matrix-product FLOPs plus attention
 * FLOPs weighted by SPN_COST_ATTENTION_WEIGHT) by the rate this machine reached training the
 * model the window runs. Here the desktop model plays that part: its rate predicts the step
 * time of every preset, each measured in the same run. Prints the attention weight that makes
 * desktop and the span demo agree (fitted_attention_weight, what SPN_COST_ATTENTION_WEIGHT was
 * set from), then per preset <preset>_predicted_s, <preset>_measured_s, <preset>_ratio
 * (predicted / measured). On a shared machine the ratios are what to read, not the seconds. */
#include <stdio.h>
#include <string.h>

#include "bench_common.h"
#include "cost.h"
#include "parallel.h"
#include "trainer.h"

/* Median seconds of `steps` steps of preset p after `warmup` untimed ones; its FLOPs and work
 * per step (at the spans it had when timed). */
static double
time_preset(SpnPreset p, int threads, int warmup, int steps, SpnStepCost *cost, double *work)
{
  SpnConfig cfg;
  spn_preset_init(p, &cfg);
  cfg.threads = threads;
  SpnCorpusOptions opts = {0};
  g_autoptr(GError) error = NULL;
  const char *source = spn_preset_corpus(p) ? spn_preset_corpus(p) : SPN_BUNDLED_SOURCE;
  SpnCorpus *corpus = spn_corpus_load(source, &opts, &error);
  SpnTrainer *t = corpus ? spn_trainer_new(&cfg, corpus, &error) : NULL;
  if (t == NULL) {
    fprintf(stderr, "step_estimate: %s\n", error->message);
    exit(1);
  }
  double *s = g_new(double, steps);
  for (int i = 0; i < warmup + steps; i++) {
    SpnStepResult r;
    if (!spn_trainer_step(t, &r, &error)) {
      fprintf(stderr, "step_estimate: %s\n", error->message);
      exit(1);
    }
    if (i >= warmup)
      s[i - warmup] = r.seconds;
  }
  const SpnModel *m = spn_trainer_model(t);
  float *z = g_new(float, (gsize)m->cfg.nlayers * m->cfg.nheads);
  for (int l = 0; l < m->cfg.nlayers; l++)
    for (int h = 0; h < m->cfg.nheads; h++)
      z[l * m->cfg.nheads + h] = m->cfg.adapt_span ? m->w.layers[l].z[h] : 1.0f;
  *cost = spn_cost_step(&m->cfg, z);
  *work = spn_cost_step_work(&m->cfg, z);
  g_free(z);
  double median = bench_median(s, steps);
  g_free(s);
  spn_trainer_free(t);
  return median;
}

typedef struct {
  SpnStepCost cost;
  double work, seconds;
} Timed;

int
main(int argc, char **argv)
{
  int threads = 2, steps = 3, rounds = 3;
  gboolean skip_small = FALSE;
  GOptionEntry e[] = {
    {"threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads (default 2)", "N"},
    {"steps", 0, 0, G_OPTION_ARG_INT, &steps, "Timed steps per preset (default 3; 1 for small)",
     "N"},
    {"rounds", 0, 0, G_OPTION_ARG_INT, &rounds,
     "Rounds over the presets; each keeps its fastest (default 3)", "N"},
    {"skip-small", 0, 0, G_OPTION_ARG_NONE, &skip_small,
     "Leave out the reference's small model (tens of seconds a step)", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("- the New model dialog's s/step estimate");
  g_option_context_add_main_entries(ctx, e, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error) || steps < 1 || rounds < 1) {
    fprintf(stderr, "step_estimate: %s\n", error ? error->message : "--steps must be >= 1");
    return 2;
  }
  spn_threads_init(threads);
  /* presets interleaved, each keeping its fastest round: on a shared machine the least
   * disturbed measurement is the closest to what the model costs */
  Timed t[SPN_PRESET_COUNT] = {{{0, 0}, 0, 0}};
  for (int r = 0; r < rounds; r++)
    for (int p = 0; p < SPN_PRESET_COUNT; p++) {
      gboolean slow = p == SPN_PRESET_REFERENCE_SMALL;
      if (slow && (skip_small || r > 0))
        continue;
      Timed now;
      now.seconds = time_preset(p, threads, slow ? 0 : 2, slow ? 1 : steps, &now.cost, &now.work);
      if (t[p].seconds == 0 || now.seconds < t[p].seconds)
        t[p] = now;
    }
  /* the attention weight that makes desktop and the span demo agree */
  const Timed *a = &t[SPN_PRESET_DESKTOP], *b = &t[SPN_PRESET_SPAN_DEMO];
  double fit = (b->seconds * a->cost.dense - a->seconds * b->cost.dense) /
               (a->seconds * b->cost.attention - b->seconds * a->cost.attention);
  printf("fitted_attention_weight %.2f\nused_attention_weight %.2f\n", fit,
         SPN_COST_ATTENTION_WEIGHT);
  /* the dialog's estimate: the rate of the running (here: desktop) model, the weight above */
  double rate = a->work / a->seconds;
  printf("calibration_gflops %.2f\n", rate / 1e9);
  for (int p = 0; p < SPN_PRESET_COUNT; p++) {
    if (t[p].seconds == 0)
      continue;
    const char *name = spn_preset_name(p);
    double predicted = t[p].work / rate;
    printf("%s_predicted_s %.3f\n%s_measured_s %.3f\n%s_ratio %.2f\n", name, predicted, name,
           t[p].seconds, name, predicted / t[p].seconds);
  }
  return 0;
}
