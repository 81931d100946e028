/* long_history — a long run's metrics history: what publishing a snapshot, saving, opening and
 * drawing cost after 1k, 10k, 100k and 1M steps.
 *
 * A desktop model (4 layers × 4 heads) with its training state, whose history is replaced by a
 * synthetic one of N steps (tests/fixtures.h, spn_test_fill_history: a validation every 100
 * steps). For each N:
 *  - publish: what the worker does every 200 ms while training — the trainer's snapshot
 *    (spn_trainer_snapshot, which shares the history) combined with the latest reading
 *    (spn_snapshot_with_probe_of), the previous one released; median of 200. Baseline in the
 *    same run: a copy of every row of the history, what each publish cost before the history was
 *    shared (median of 20, or 5 from 1M rows);
 *  - save (spn_trainer_save) and open (spn_trainer_load), wall time of one, and the file size;
 *  - draw: the training curves and the span history at 1920×1080, CPU time of the drawing thread,
 *    median of 3.
 * Then, at 100k steps, the history as checkpoints stored it before it was tensors: building its
 * JSON with json-glib as that writer did, and reading it back (spn_history_from_legacy_json,
 * the reader of such files); at 1M steps that JSON would pass the 100 MB header every reader
 * refuses (the writer now refuses such a header, tests/test_history.c).
 *
 * The machine is often shared: times vary with the neighbours; ratios within one run hold
 * better. Prints `key value` lines, or one JSON object with --json. --max-rows N stops at N
 * (the sizes are 1000, 10000, 100000, 1000000). */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"
#include "checkpoint.h"
#include "figures.h"
#include "fixtures.h"
#include "trainer.h"

#define PUBLISHES 200

static double
cpu_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
fail(const char *what, GError *error)
{
  g_printerr("long_history: %s: %s\n", what, error ? error->message : "failed");
  exit(1);
}

/* A fresh desktop trainer's checkpoint (model, optimizer, caches, empty history). */
static void
write_base(const char *path)
{
  GString *text = g_string_new(NULL);
  while (text->len < 200000)
    g_string_append(text, "And God said, Let there be light: and there was light. And God saw the "
                          "light, that it was good: and God divided the light from the darkness. ");
  SpnCorpusOptions opts = {0};
  GError *error = NULL;
  g_autofree char *dir = g_path_get_dirname(path);
  g_autofree char *corpus_path = g_build_filename(dir, "corpus.txt", NULL);
  if (!g_file_set_contents(corpus_path, text->str, (gssize)text->len, &error))
    fail("corpus", error);
  g_string_free(text, TRUE);
  SpnCorpus *corpus = spn_corpus_load(corpus_path, &opts, &error);
  if (corpus == NULL)
    fail("corpus", error);
  SpnConfig c;
  spn_config_init_desktop(&c);
  c.threads = 1;
  SpnTrainer *t = spn_trainer_new(&c, corpus, &error);
  if (t == NULL || !spn_trainer_save(t, path, &error))
    fail("base checkpoint", error);
  spn_trainer_free(t);
}

/* base with a synthetic history of n steps, written as path. */
static void
write_with_history(const char *base, const char *path, int n)
{
  GError *error = NULL;
  SpnCheckpoint *ck = spn_checkpoint_load(base, &error);
  if (ck == NULL)
    fail("base checkpoint", error);
  SpnHistory *h = spn_history_new(ck->model->cfg.nlayers, ck->model->cfg.nheads);
  float final_spans[16];
  for (int k = 0; k < 16; k++)
    final_spans[k] = 4.0f * powf(1000.0f / 4.0f, k / 15.0f);
  spn_test_fill_history(h, n, final_spans);
  spn_history_unref(ck->history);
  ck->history = h;
  if (!spn_checkpoint_save(ck, path, &error))
    fail("checkpoint with history", error);
  spn_checkpoint_free(ck);
}

/* What every publish did before the history was shared: a copy of every row into arrays of
 * their exact size, freed with the snapshot. */
static double
copy_rows_ms(const SpnHistory *h)
{
  double start = bench_now();
  for (int col = SPN_HISTORY_STEP; col <= SPN_HISTORY_VALID_BPC; col++) {
    gsize total = 0, bytes;
    const void *data;
    for (int j = 0; spn_history_column(h, col, j, &data, &bytes); j++)
      total += bytes;
    guint8 *copy = g_malloc(MAX(total, 1)), *at = copy;
    for (int j = 0; spn_history_column(h, col, j, &data, &bytes); j++, at += bytes)
      memcpy(at, data, bytes);
    g_free(copy);
  }
  return (bench_now() - start) * 1e3;
}

typedef struct {
  int rows;
  double publish_ms, copy_ms, save_s, open_s, file_mb, curves_ms, history_ms;
} Result;

static void
measure_publish(SpnTrainer *t, Result *r)
{
  const float spans[16] = {0};
  SpnProbe *probe = spn_test_probe_new("a reading of a short text", 4, 4, spans, 8);
  SpnSnapshot *state = spn_trainer_snapshot(t);
  SpnSnapshot *reading = spn_snapshot_with_probe(state, "a reading of a short text", probe);
  SpnSnapshot *pending = NULL;
  double ms[PUBLISHES];
  for (int k = 0; k < PUBLISHES; k++) {
    double start = bench_now();
    SpnSnapshot *s = spn_trainer_snapshot(t);
    spn_snapshot_unref(state);
    state = s;
    spn_snapshot_unref(pending);
    pending = spn_snapshot_with_probe_of(state, reading);
    ms[k] = (bench_now() - start) * 1e3;
  }
  r->publish_ms = bench_median(ms, PUBLISHES);
  int copies = r->rows >= 1000000 ? 5 : 20;
  for (int k = 0; k < copies; k++)
    ms[k] = copy_rows_ms(state->history);
  r->copy_ms = bench_median(ms, copies);
  spn_snapshot_unref(pending);
  spn_snapshot_unref(reading);
  spn_snapshot_unref(state);
}

static double
draw_ms(SpnFigureKind kind, const SpnSnapshot *s)
{
  cairo_surface_t *target = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1920, 1080);
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  double ms[3];
  for (int k = 0; k < 3; k++) {
    double start = cpu_ms();
    cairo_t *cr = cairo_create(target);
    spn_figure_draw(kind, cr, 1920, 1080, s, &o);
    cairo_destroy(cr);
    cairo_surface_flush(target);
    ms[k] = cpu_ms() - start;
  }
  cairo_surface_destroy(target);
  return bench_median(ms, 3);
}

static void
measure(const char *dir, const char *base, Result *r)
{
  GError *error = NULL;
  g_autofree char *made = g_build_filename(dir, "made.safetensors", NULL);
  g_autofree char *saved = g_build_filename(dir, "saved.safetensors", NULL);
  write_with_history(base, made, r->rows);
  SpnTrainer *t = spn_trainer_load(made, NULL, &error);
  if (t == NULL)
    fail("open", error);
  double start = bench_now();
  if (!spn_trainer_save(t, saved, &error))
    fail("save", error);
  r->save_s = bench_now() - start;
  spn_trainer_free(t);
  start = bench_now();
  t = spn_trainer_load(saved, NULL, &error);
  if (t == NULL)
    fail("open", error);
  r->open_s = bench_now() - start;
  GStatBuf st;
  r->file_mb = g_stat(saved, &st) == 0 ? st.st_size / 1e6 : NAN;
  if (spn_trainer_history(t)->n != r->rows)
    fail("open: the history lost rows", NULL);
  measure_publish(t, r);
  SpnSnapshot *s = spn_trainer_snapshot(t);
  r->curves_ms = draw_ms(SPN_FIGURE_CURVES, s);
  r->history_ms = draw_ms(SPN_FIGURE_HISTORY, s);
  spn_snapshot_unref(s);
  spn_trainer_free(t);
  g_unlink(made);
  g_unlink(saved);
}

/* The JSON checkpoints held before the history was tensors, built as that writer built it. */
static char *
legacy_json(const SpnHistory *h)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "nlayers");
  json_builder_add_int_value(b, h->nlayers);
  json_builder_set_member_name(b, "nheads");
  json_builder_add_int_value(b, h->nheads);
  const char *names[] = {"step", "train_bpc", "val_bpc", "tokens_per_s", "spans"};
  for (int c = 0; c < 5; c++) {
    json_builder_set_member_name(b, names[c]);
    json_builder_begin_array(b);
    for (int i = 0; i < h->n; i++) {
      int v = c == 2 ? spn_history_valid_at(h, spn_history_step(h, i)) : -1;
      if (c == 0)
        json_builder_add_int_value(b, spn_history_step(h, i));
      else if (c == 1)
        json_builder_add_double_value(b, spn_history_train_bpc(h, i));
      else if (c == 2 && v < 0)
        json_builder_add_null_value(b);
      else if (c == 2)
        json_builder_add_double_value(b, spn_history_valid_bpc(h, v));
      else if (c == 3)
        json_builder_add_double_value(b, spn_history_tokens_per_s(h, i));
      else
        for (int k = 0; k < h->nlayers * h->nheads; k++)
          json_builder_add_double_value(b, spn_history_row_spans(h, i)[k]);
    }
    json_builder_end_array(b);
  }
  json_builder_end_object(b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  return json_to_string(root, FALSE);
}

int
main(int argc, char **argv)
{
  gboolean json = FALSE;
  int max_rows = 1000000;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0)
      json = TRUE;
    else if (strcmp(argv[i], "--max-rows") == 0 && i + 1 < argc)
      max_rows = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: long_history [--json] [--max-rows N]\n");
      return 2;
    }
  }
  g_autofree char *dir = g_dir_make_tmp("spanscope-long-history-XXXXXX", NULL);
  g_autofree char *base = g_build_filename(dir, "base.safetensors", NULL);
  write_base(base);
  const int sizes[] = {1000, 10000, 100000, 1000000};
  const char *names[] = {"1k", "10k", "100k", "1m"};
  GString *out = g_string_new(NULL);
  for (guint i = 0; i < G_N_ELEMENTS(sizes) && sizes[i] <= max_rows; i++) {
    Result r = {.rows = sizes[i]};
    measure(dir, base, &r);
    const char *n = names[i];
    gsize before = out->len;
    g_string_append_printf(out,
                           "publish_ms_%s %.5f\npublish_copy_ms_%s %.3f\nsave_s_%s %.3f\n"
                           "open_s_%s %.3f\nfile_mb_%s %.1f\ndraw_curves_ms_%s %.1f\n"
                           "draw_history_ms_%s %.1f\n",
                           n, r.publish_ms, n, r.copy_ms, n, r.save_s, n, r.open_s, n, r.file_mb, n,
                           r.curves_ms, n, r.history_ms);
    if (!json) {
      printf("%s", out->str + before);
      fflush(stdout);
    }
  }
  gsize legacy_at = out->len;
  if (max_rows >= 100000) {
    g_autoptr(SpnHistory) h = spn_history_new(4, 4);
    float final_spans[16];
    for (int k = 0; k < 16; k++)
      final_spans[k] = 4.0f * powf(1000.0f / 4.0f, k / 15.0f);
    spn_test_fill_history(h, 100000, final_spans);
    double start = bench_now();
    g_autofree char *text = legacy_json(h);
    double build_s = bench_now() - start;
    GError *error = NULL;
    start = bench_now();
    SpnHistory *back = spn_history_from_legacy_json(text, 4, 4, &error);
    double parse_s = bench_now() - start;
    if (back == NULL || back->n != h->n)
      fail("legacy JSON", error);
    spn_history_unref(back);
    g_string_append_printf(out,
                           "legacy_json_mb_100k %.1f\nlegacy_json_build_s_100k %.3f\n"
                           "legacy_json_read_s_100k %.3f\n",
                           strlen(text) / 1e6, build_s, parse_s);
  }
  if (json) {
    g_auto(GStrv) lines = g_strsplit(out->str, "\n", -1);
    printf("{");
    for (int i = 0; lines[i] && *lines[i]; i++) {
      g_auto(GStrv) kv = g_strsplit(lines[i], " ", 2);
      printf("%s\"%s\": %s", i ? ", " : "", kv[0], kv[1]);
    }
    printf("}\n");
  } else {
    printf("%s", out->str + legacy_at);
  }
  g_string_free(out, TRUE);
  spn_test_remove_dir(dir);
  return 0;
}
