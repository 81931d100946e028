/* reader_speed — how fast the text inspector follows typing.
 *
 * The desktop model (random weights) reads a text of the bundled corpus (--chars, default
 * 2,000 characters). Two settings of the spans: realistic (8 heads span 40, 7 span 300, one
 * 1024, as a trained model's spread) and every head at the full S. For each it prints the
 * median time of a keystroke (reading text[0..n+1] after text[0..n], --keys times from n =
 * --chars), of re-reading the whole text after new weights (--rereads times), and of
 * spn_probe_run on the same text for comparison, plus the largest difference between the
 * reader's and the probe's results. The reader is single-threaded; the probe uses the pool of
 * --threads. The re-read is also reported in the reader thread's CPU time, which waiting on a
 * shared machine does not inflate. Targets: keystroke ≤ 2 ms, re-read ≤ 100 ms. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "parallel.h"
#include "probe.h"
#include "reader.h"

typedef struct {
  double keystroke_ms, reread_ms, reread_cpu_ms, probe_run_ms, max_abs_diff;
} Result;

static double
clock_ms(clockid_t clock)
{
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double
now_ms(void)
{
  return clock_ms(CLOCK_MONOTONIC);
}

static int
compare_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double
median(double *v, int n)
{
  qsort(v, n, sizeof(double), compare_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double
max_diff(double acc, const float *a, const float *b, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (!isnan(a[i]) || !isnan(b[i]))
      acc = MAX(acc, fabs((double)a[i] - b[i]));
  return acc;
}

static double
probe_diff(const SpnProbe *a, const SpnProbe *b)
{
  if (a->n != b->n)
    return INFINITY;
  double d = max_diff(0.0, a->surprisal, b->surprisal, a->n);
  for (int k = 0; k < a->nlayers * a->nheads; k++) {
    const SpnProbeHead *x = &a->heads[k], *y = &b->heads[k];
    if (x->window != y->window)
      return INFINITY;
    d = max_diff(d, x->weights, y->weights, (gsize)a->n * x->window);
    d = max_diff(d, x->before_start, y->before_start, a->n);
    d = max_diff(d, x->persistent, y->persistent, a->n);
  }
  return d;
}

static void
set_spans(SpnModel *m, gboolean full)
{
  const SpnConfig *c = &m->cfg;
  for (int l = 0; l < c->nlayers; l++)
    for (int h = 0; h < c->nheads; h++) {
      float span = h < c->nheads / 2 ? 40.0f : 300.0f;
      if (l == c->nlayers - 1 && h == c->nheads - 1)
        span = (float)c->attn_span;
      m->w.layers[l].z[h] = full ? 1.0f : span / c->attn_span;
    }
}

/* texts[k]: the first chars + k tokens, decoded */
static Result
run(SpnModel *m, const SpnVocab *vocab, char **texts, int keys, int rereads)
{
  Result res = {0};
  g_autoptr(GError) error = NULL;
  g_autoptr(SpnParamBlob) weights = spn_param_blob_new(&m->cfg, m->layout, m->params);
  SpnReader *r = spn_reader_new(weights, vocab);
  double *ms = g_new(double, MAX(keys, rereads)), *cpu = g_new(double, rereads);
  for (int k = 0; k < rereads; k++) {
    spn_reader_set_weights(r, weights);
    double t0 = now_ms(), c0 = clock_ms(CLOCK_THREAD_CPUTIME_ID);
    if (!spn_reader_read(r, texts[0], &error))
      g_error("reader: %s", error->message);
    ms[k] = now_ms() - t0;
    cpu[k] = clock_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
  }
  res.reread_ms = median(ms, rereads);
  /* the reader's own CPU time: on a shared machine the wall time also counts waiting */
  res.reread_cpu_ms = median(cpu, rereads);
  g_free(cpu);
  for (int k = 1; k <= keys; k++) {
    double t0 = now_ms();
    spn_reader_read(r, texts[k], NULL);
    ms[k - 1] = now_ms() - t0;
    if (spn_reader_last_computed(r) != 1)
      g_error("a keystroke recomputed %d positions", spn_reader_last_computed(r));
  }
  res.keystroke_ms = median(ms, keys);
  for (int k = 0; k < 3; k++) {
    double t0 = now_ms();
    SpnProbe *p = spn_probe_run(m, vocab, texts[0], &error);
    ms[k] = now_ms() - t0;
    if (p == NULL)
      g_error("probe: %s", error->message);
    if (k == 0) {
      spn_reader_read(r, texts[0], NULL);
      res.max_abs_diff = probe_diff(spn_reader_probe(r), p);
    }
    spn_probe_unref(p);
  }
  res.probe_run_ms = median(ms, 3);
  g_free(ms);
  spn_reader_free(r);
  return res;
}

int
main(int argc, char **argv)
{
  gboolean json = FALSE;
  int chars = 2000, keys = 50, rereads = 7, threads = 2;
  GOptionEntry e[] = {
    {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print one JSON object", NULL},
    {"chars", 0, 0, G_OPTION_ARG_INT, &chars, "Characters of the text (default 2000)", "N"},
    {"keys", 0, 0, G_OPTION_ARG_INT, &keys, "Timed keystrokes (default 50)", "N"},
    {"rereads", 0, 0, G_OPTION_ARG_INT, &rereads, "Timed re-reads (default 7)", "N"},
    {"threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads of the probe's pool (default 2)", "N"},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("- time the incremental reader");
  g_option_context_add_main_entries(ctx, e, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error) || chars < 1 || keys < 1 ||
      rereads < 1) {
    fprintf(stderr, "reader_speed: %s\n",
            error ? error->message : "--chars, --keys and --rereads must be >= 1");
    return 2;
  }
  spn_threads_init(threads);
  SpnCorpusOptions opts = {0};
  SpnCorpus *corpus = spn_corpus_load(SPN_BUNDLED_SOURCE, &opts, &error);
  if (corpus == NULL) {
    fprintf(stderr, "reader_speed: %s\n", error->message);
    return 1;
  }
  if (corpus->n_tokens[SPN_SPLIT_VALID] < (gsize)(chars + keys)) {
    fprintf(stderr, "reader_speed: the validation split has fewer than %d characters\n",
            chars + keys);
    return 1;
  }
  char **texts = g_new0(char *, keys + 2);
  for (int k = 0; k <= keys; k++)
    texts[k] = spn_corpus_decode(corpus, SPN_SPLIT_VALID, 0, chars + k);
  SpnConfig cfg;
  spn_config_init_desktop(&cfg);
  cfg.vocab_size = corpus->vocab->size;
  SpnModel *m = spn_model_new(&cfg);
  set_spans(m, FALSE);
  Result real = run(m, corpus->vocab, texts, keys, rereads);
  set_spans(m, TRUE);
  Result full = run(m, corpus->vocab, texts, keys, rereads);
  if (json) {
    printf("{\"keystroke_ms\": %.4f, \"reread_ms\": %.3f, \"reread_cpu_ms\": %.3f, "
           "\"probe_run_ms\": %.3f, \"keystroke_full_s_ms\": %.4f, \"reread_full_s_ms\": %.3f, "
           "\"reread_full_s_cpu_ms\": %.3f, \"probe_run_full_s_ms\": %.3f, "
           "\"max_abs_diff\": %.3g, \"chars\": %d, \"keys\": %d, \"rereads\": %d, "
           "\"probe_threads\": %d}\n",
           real.keystroke_ms, real.reread_ms, real.reread_cpu_ms, real.probe_run_ms,
           full.keystroke_ms, full.reread_ms, full.reread_cpu_ms, full.probe_run_ms,
           MAX(real.max_abs_diff, full.max_abs_diff), chars, keys, rereads, threads);
  } else {
    printf("desktop model, %d-character text, reader single-threaded, probe %d threads\n", chars,
           threads);
    printf("spans 8×40, 7×300, 1×1024:\n");
    printf("keystroke_ms %.4f\nreread_ms %.3f\nreread_cpu_ms %.3f\nprobe_run_ms %.3f\n"
           "max_abs_diff %.3g\n",
           real.keystroke_ms, real.reread_ms, real.reread_cpu_ms, real.probe_run_ms,
           real.max_abs_diff);
    printf("every head at the full span S = %d:\n", cfg.attn_span);
    printf("keystroke_full_s_ms %.4f\nreread_full_s_ms %.3f\nreread_full_s_cpu_ms %.3f\n"
           "probe_run_full_s_ms %.3f\nmax_abs_diff %.3g\n",
           full.keystroke_ms, full.reread_ms, full.reread_cpu_ms, full.probe_run_ms,
           full.max_abs_diff);
  }
  g_strfreev(texts);
  spn_model_free(m);
  spn_corpus_free(corpus);
  return 0;
}
