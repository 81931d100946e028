/* attn_window — what the reference's attention window costs against each head's own.
 *
 * The desktop model (S = 1024, 4 layers × 4 heads), spans set rather than learned (set again
 * before each step), in two cases: (mixed) every layer's heads span 10, 40, 120 and 350
 * characters, as learned spans spread, so the reference's layer window (384 distances) is far
 * wider than three of its heads' windows (43 to 153); (short) every head spans 40, window 73
 * against the layer's 128. In head mode every head scores and weighs its own window; in
 * reference mode every head scores its layer's window (the softmax normaliser needs it) and
 * still weighs only its own. Training steps and evaluation blocks (forward only, an
 * evaluation runner) of the two modes run in turn, so a busy machine slows them alike; prints
 * the median times and the ratios reference / head:
 *   ref_vs_head_train_mixed, ref_vs_head_train_short, ref_vs_head_eval_mixed,
 *   ref_vs_head_eval_short. */
#include <stdio.h>
#include <string.h>

#include "bench_common.h"
#include "parallel.h"
#include "trainer.h"

enum { CASE_MIXED, CASE_SHORT, N_CASES };
static const char *const case_names[N_CASES] = {"mixed", "short"};

static void
set_spans(SpnModel *m, int which)
{
  static const float mixed[4] = {10.0f, 40.0f, 120.0f, 350.0f};
  const SpnConfig *c = &m->cfg;
  for (int l = 0; l < c->nlayers; l++)
    for (int h = 0; h < c->nheads; h++)
      m->w.layers[l].z[h] = (which == CASE_MIXED ? mixed[h % 4] : 40.0f) / c->attn_span;
}

/* one evaluation block of B streams through runner r; seconds */
static double
eval_block(SpnRunner *r, const SpnCorpus *corpus, int B, int M, int k)
{
  gint32 *x = g_new(gint32, (gsize)B * M), *y = g_new(gint32, (gsize)B * M);
  const SpnToken *tokens = corpus->tokens[SPN_SPLIT_VALID];
  gsize L = corpus->n_tokens[SPN_SPLIT_VALID] / B, pos = (gsize)k * M % (L - M - 1);
  for (int b = 0; b < B; b++)
    for (int i = 0; i < M; i++) {
      x[b * M + i] = tokens[b * L + pos + i];
      y[b * M + i] = tokens[b * L + pos + i + 1];
    }
  double t0 = bench_now();
  spn_runner_forward(r, x, y, M, FALSE, NULL);
  double s = bench_now() - t0;
  g_free(x);
  g_free(y);
  return s;
}

int
main(int argc, char **argv)
{
  int steps = 5, warmup = 1, threads = 2;
  gboolean json = FALSE;
  GOptionEntry e[] = {
    {"steps", 0, 0, G_OPTION_ARG_INT, &steps, "Timed steps (and blocks) per case (default 5)", "N"},
    {"warmup-steps", 0, 0, G_OPTION_ARG_INT, &warmup, "Untimed steps first (default 1)", "N"},
    {"threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads (default 2)", "N"},
    {"json", 0, 0, G_OPTION_ARG_NONE, &json, "One JSON object", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("- cost of the reference's window");
  g_option_context_add_main_entries(ctx, e, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error) || steps < 1 || warmup < 0) {
    fprintf(stderr, "attn_window: %s\n", error ? error->message : "--steps must be >= 1");
    return 2;
  }
  spn_threads_init(threads);
  /* t[case][mode]: mode 0 head, 1 reference */
  SpnTrainer *t[N_CASES][2];
  SpnRunner *eval[N_CASES][2];
  for (int k = 0; k < N_CASES; k++)
    for (int mode = 0; mode < 2; mode++) {
      SpnConfig cfg;
      spn_config_init_desktop(&cfg);
      cfg.attn_window = mode ? SPN_ATTN_WINDOW_REFERENCE : SPN_ATTN_WINDOW_HEAD;
      SpnCorpusOptions opts = {0};
      SpnCorpus *corpus = spn_corpus_load(SPN_BUNDLED_SOURCE, &opts, &error);
      if (corpus == NULL || (t[k][mode] = spn_trainer_new(&cfg, corpus, &error)) == NULL) {
        fprintf(stderr, "attn_window: %s\n", error->message);
        return 1;
      }
      SpnModel *m = spn_trainer_model(t[k][mode]);
      set_spans(m, k);
      eval[k][mode] = spn_runner_new_eval(m, cfg.batch_sz, cfg.block_sz, NULL);
    }
  double train_ms[N_CASES][2][steps], eval_ms[N_CASES][2][steps];
  for (int s = 0; s < warmup + steps; s++)
    for (int k = 0; k < N_CASES; k++)
      for (int mode = 0; mode < 2; mode++) {
        SpnTrainer *tr = t[k][mode];
        SpnModel *m = spn_trainer_model(tr);
        SpnStepResult r;
        set_spans(m, k);
        g_assert_true(spn_trainer_step(tr, &r, NULL));
        set_spans(m, k);
        double ev = eval_block(eval[k][mode], spn_trainer_corpus(tr), m->cfg.batch_sz,
                               m->cfg.block_sz, s);
        if (s >= warmup) {
          train_ms[k][mode][s - warmup] = r.seconds * 1e3;
          eval_ms[k][mode][s - warmup] = ev * 1e3;
        }
      }
  GString *out = g_string_new("{");
  for (int k = 0; k < N_CASES; k++) {
    double tm[2], em[2];
    for (int mode = 0; mode < 2; mode++) {
      tm[mode] = bench_median(train_ms[k][mode], steps);
      em[mode] = bench_median(eval_ms[k][mode], steps);
      spn_runner_free(eval[k][mode]);
      spn_trainer_free(t[k][mode]);
    }
    const char *n = case_names[k];
    if (!json)
      printf("%s spans: training step %.1f ms head, %.1f ms reference (x%.3f); evaluation "
             "block %.1f ms head, %.1f ms reference (x%.3f)\n",
             n, tm[0], tm[1], tm[1] / tm[0], em[0], em[1], em[1] / em[0]);
    g_string_append_printf(out,
                           "%s\"step_ms_head_%s\": %.2f, \"step_ms_reference_%s\": %.2f, "
                           "\"ref_vs_head_train_%s\": %.4f, \"eval_ms_head_%s\": %.2f, "
                           "\"eval_ms_reference_%s\": %.2f, \"ref_vs_head_eval_%s\": %.4f",
                           k ? ", " : "", n, tm[0], n, tm[1], n, tm[1] / tm[0], n, em[0], n,
                           em[1], n, em[1] / em[0]);
  }
  g_string_append(out, "}");
  if (json)
    printf("%s\n", out->str);
  g_string_free(out, TRUE);
  return 0;
}
