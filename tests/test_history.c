/* test_history.c — the metrics history (chunks, snapshots that share them, the validation
 * series, the reference's logged span statistics, a followed run's history continued by each
 * version), snapshots and readings shared by reference, the history in checkpoints (tensors,
 * the JSON of older files, non-finite values, bad files) and the writer's pieces and header
 * limit. Built with LeakSanitizer where the compiler has it: a reference never released (or a
 * structure freed with data still shared) is a leak reported at exit, which fails the test. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "checkpoint.h"
#include "fixtures.h"
#include "history.h"
#include "safetensors.h"
#include "snapshot.h"
#include "trainer.h"

static char *tmpdir;

static char *
tmp_path(const char *name)
{
  return g_build_filename(tmpdir, name, NULL);
}

/* Row i of the synthetic histories: every value a function of i, some of them not finite. */
static gint64
row_step(int i)
{
  return 3 * (gint64)i + 1;
}

static float
row_value(int i, int k)
{
  if (i % 97 == 13)
    return k % 3 == 0 ? INFINITY : k % 3 == 1 ? -INFINITY : NAN;
  return (float)(i * 0.5 + k * 0.125);
}

/* Row i's values: value k of the spans is row_value(i, k + 3), of the persistent shares
 * row_value(i, k + 40); the cost's row_value(i, 30…32). */
static void
fill_rows(SpnHistory *h, int from, int to)
{
  int per_row = h->nlayers * h->nheads;
  g_autofree float *spans = g_new(float, per_row), *share = g_new(float, per_row);
  for (int i = from; i < to; i++) {
    for (int k = 0; k < per_row; k++) {
      spans[k] = row_value(i, k + 3);
      share[k] = row_value(i, k + 40);
    }
    SpnHistoryRow row = {.step = row_step(i), .train_bpc = row_value(i, 0),
                         .tokens_per_s = row_value(i, 1), .spans = spans,
                         .flops_per_char = row_value(i, 30),
                         .attn_flops_per_char = row_value(i, 31),
                         .cache_bytes = row_value(i, 32), .pers_share = share};
    spn_history_append_row(h, &row);
  }
}

/* Compares float bits, so that NaN equals NaN. */
static gboolean
same_float(float a, float b)
{
  return memcmp(&a, &b, sizeof a) == 0;
}

static void
check_rows(const SpnHistory *h, int n)
{
  g_assert_cmpint(h->n, ==, n);
  int per_row = h->nlayers * h->nheads;
  for (int i = 0; i < n; i++) {
    g_assert_cmpint(spn_history_step(h, i), ==, row_step(i));
    g_assert_true(same_float(spn_history_train_bpc(h, i), row_value(i, 0)));
    g_assert_true(same_float(spn_history_tokens_per_s(h, i), row_value(i, 1)));
    const float *spans = spn_history_row_spans(h, i);
    for (int k = 0; k < per_row; k++)
      g_assert_true(same_float(spans[k], row_value(i, k + 3)));
    g_assert_true(same_float(spn_history_flops_per_char(h, i), row_value(i, 30)));
    g_assert_true(same_float(spn_history_attn_flops_per_char(h, i), row_value(i, 31)));
    g_assert_true(same_float(spn_history_cache_bytes(h, i), row_value(i, 32)));
    const float *share = spn_history_row_pers_share(h, i);
    g_assert_true((share != NULL) == h->persistent);
    for (int k = 0; share != NULL && k < per_row; k++)
      g_assert_true(same_float(share[k], row_value(i, k + 40)));
  }
}

/* ---- the history ---- */

static void
test_append_and_chunks(void)
{
  g_autoptr(SpnHistory) h = spn_history_new(2, 3);
  fill_rows(h, 0, 5000);
  check_rows(h, 5000);
  /* the chunks cover the rows once, in order, each at least as long as the one before */
  SpnHistoryChunk c;
  int next = 0, last_len = 0, chunks = 0;
  for (int j = 0; spn_history_chunk(h, j, &c); j++, chunks++) {
    g_assert_cmpint(c.first, ==, next);
    g_assert_cmpint(c.n, >, 0);
    g_assert_true(c.n >= last_len || c.first + c.n == h->n);
    for (int k = 0; k < c.n; k++) {
      g_assert_cmpint(c.step[k], ==, row_step(c.first + k));
      g_assert_true(same_float(c.train_bpc[k], row_value(c.first + k, 0)));
      g_assert_true(c.spans + (gsize)k * 6 == spn_history_row_spans(h, c.first + k));
    }
    const void *data;
    gsize bytes;
    g_assert_true(spn_history_column(h, SPN_HISTORY_SPANS, j, &data, &bytes));
    g_assert_true(data == (const void *)c.spans);
    g_assert_cmpuint(bytes, ==, sizeof(float) * 6 * c.n);
    g_assert_true(spn_history_column(h, SPN_HISTORY_STEP, j, &data, &bytes));
    g_assert_cmpuint(bytes, ==, sizeof(gint64) * c.n);
    next += c.n;
    last_len = c.n;
  }
  g_assert_cmpint(next, ==, 5000);
  /* doubling chunks: a handful for thousands of rows */
  g_assert_cmpint(chunks, <=, 8);
  g_assert_false(spn_history_chunk(h, chunks, &c));
  const void *data;
  gsize bytes;
  g_assert_false(spn_history_column(h, SPN_HISTORY_VALID_STEP, 0, &data, &bytes));
}

static void
test_snapshot_shares(void)
{
  SpnHistory *w = spn_history_new(1, 2);
  fill_rows(w, 0, 100);
  SpnHistory *s1 = spn_history_snapshot(w);
  g_assert_true(s1 != w);
  g_assert_cmpint(s1->n, ==, 100);
  /* the same rows, not a copy */
  for (int i = 0; i < 100; i++)
    g_assert_true(spn_history_row_spans(s1, i) == spn_history_row_spans(w, i));
  /* the writer goes on; the snapshot keeps what it had */
  fill_rows(w, 100, 3000);
  spn_history_add_valid(w, row_step(2999), 1.5);
  g_assert_cmpint(s1->n, ==, 100);
  g_assert_cmpint(s1->n_valid, ==, 0);
  SpnHistory *s2 = spn_history_snapshot(w);
  g_assert_cmpint(s2->n, ==, 3000);
  g_assert_cmpint(s2->n_valid, ==, 1);
  /* a snapshot of a snapshot is the same object */
  SpnHistory *s3 = spn_history_snapshot(s1);
  g_assert_true(s3 == s1);
  spn_history_unref(s3);
  /* a snapshot cannot grow */
  g_test_expect_message("spanscope", G_LOG_LEVEL_CRITICAL, "*frozen*");
  spn_history_append(s1, 1000000, 1, 1, (float[]){1, 2});
  g_test_assert_expected_messages();
  g_assert_cmpint(s1->n, ==, 100);
  /* the writer gone, the snapshots still hold the rows */
  spn_history_unref(w);
  check_rows(s1, 100);
  check_rows(s2, 3000);
  spn_history_unref(s1);
  check_rows(s2, 3000);
  spn_history_unref(s2);
}

/* Snapshots handed to other threads while the writer appends (and allocates new chunks): each
 * reader sees exactly the rows of its snapshot. Run under ThreadSanitizer by tools/tsan/run.sh. */
static gpointer
read_snapshots(gpointer data)
{
  GAsyncQueue *q = data;
  int seen = 0;
  for (SpnHistory *s; (s = g_async_queue_pop(q)) != (gpointer)q;) {
    check_rows(s, s->n);
    g_assert_cmpint(s->n_valid, ==, s->n / 100);
    seen++;
    spn_history_unref(s);
  }
  return GINT_TO_POINTER(seen);
}

static void
test_snapshots_across_threads(void)
{
  enum { READERS = 3, ROWS = 20000 };
  GAsyncQueue *q[READERS];
  GThread *t[READERS];
  for (int r = 0; r < READERS; r++) {
    q[r] = g_async_queue_new();
    t[r] = g_thread_new("reader", read_snapshots, q[r]);
  }
  SpnHistory *w = spn_history_new(2, 2);
  for (int i = 0; i < ROWS; i += 50) {
    fill_rows(w, i, i + 50);
    if ((i + 50) % 100 == 0)
      spn_history_add_valid(w, row_step(i + 49), 1.0);
    for (int r = 0; r < READERS; r++)
      g_async_queue_push(q[r], spn_history_snapshot(w));
  }
  spn_history_unref(w);
  for (int r = 0; r < READERS; r++) {
    g_async_queue_push(q[r], q[r]);
    g_assert_cmpint(GPOINTER_TO_INT(g_thread_join(t[r])), ==, ROWS / 50);
    g_async_queue_unref(q[r]);
  }
}

static void
test_validation_series(void)
{
  g_autoptr(SpnHistory) h = spn_history_new(1, 1);
  g_assert_cmpint(spn_history_latest_valid(h), ==, -1);
  g_assert_cmpint(spn_history_valid_at(h, 5), ==, -1);
  spn_history_add_valid(h, 5, 2.0);
  spn_history_add_valid(h, 10, 3.0);
  spn_history_add_valid(h, 10, 3.5); /* measured again at the same step: supersedes */
  spn_history_add_valid(h, 20, 4.0);
  g_assert_cmpint(h->n_valid, ==, 4);
  g_assert_true(spn_history_valid_current(h, 0));
  g_assert_false(spn_history_valid_current(h, 1));
  g_assert_true(spn_history_valid_current(h, 2));
  g_assert_cmpint(spn_history_valid_at(h, 10), ==, 2);
  g_assert_cmpint(spn_history_valid_at(h, 5), ==, 0);
  g_assert_cmpint(spn_history_valid_at(h, 7), ==, -1);
  g_assert_cmpint(spn_history_valid_at(h, 25), ==, -1);
  g_assert_cmpint(spn_history_latest_valid(h), ==, 3);
  /* a NaN measurement counts at its step but is no value to show */
  spn_history_add_valid(h, 20, NAN);
  g_assert_cmpint(spn_history_latest_valid(h), ==, 2);
  g_assert_cmpfloat(spn_history_valid_bpc(h, 2), ==, 3.5);
  g_test_expect_message("spanscope", G_LOG_LEVEL_CRITICAL, "*step >=*");
  spn_history_add_valid(h, 19, 1.0);
  g_test_assert_expected_messages();
  g_assert_cmpint(h->n_valid, ==, 5);
}

static void
test_order_checked(void)
{
  const gint64 steps[3] = {1, 5, 4}, ok_steps[3] = {1, 2, 3};
  const float v[3] = {1, 2, 3}, spans[3] = {1, 2, 3};
  g_autoptr(GError) error = NULL;
  const void *cols[SPN_HISTORY_N_COLUMNS] = {
    [SPN_HISTORY_STEP] = steps, [SPN_HISTORY_TRAIN_BPC] = v, [SPN_HISTORY_TOKENS_PER_S] = v,
    [SPN_HISTORY_SPANS] = spans, [SPN_HISTORY_VALID_STEP] = steps, [SPN_HISTORY_VALID_BPC] = v,
    [SPN_HISTORY_LOGGED_STEP] = steps, [SPN_HISTORY_LOGGED_SPAN_AVG] = v,
    [SPN_HISTORY_LOGGED_SPAN_MAX] = v};
  SpnHistory *h = spn_history_new_from_columns(1, 1, FALSE, 3, 0, 0, cols, &error);
  g_assert_null(h);
  g_assert_error(error, SPN_HISTORY_ERROR, SPN_HISTORY_ERROR_FORMAT);
  g_assert_nonnull(strstr(error->message, "row 2 is at step 4"));
  g_clear_error(&error);
  cols[SPN_HISTORY_STEP] = ok_steps;
  h = spn_history_new_from_columns(1, 1, FALSE, 3, 3, 0, cols, &error);
  g_assert_null(h);
  g_assert_nonnull(strstr(error->message, "validation measurement 2"));
  g_clear_error(&error);
  cols[SPN_HISTORY_VALID_STEP] = ok_steps;
  h = spn_history_new_from_columns(1, 1, FALSE, 3, 3, 3, cols, &error);
  g_assert_null(h);
  g_assert_nonnull(strstr(error->message, "logged span statistics 2"));
  g_clear_error(&error);
  cols[SPN_HISTORY_LOGGED_STEP] = ok_steps;
  h = spn_history_new_from_columns(1, 1, FALSE, 3, 3, 3, cols, &error);
  g_assert_no_error(error);
  g_assert_cmpint(h->n, ==, 3);
  g_assert_cmpint(h->n_valid, ==, 3);
  g_assert_cmpint(h->n_logged, ==, 3);
  spn_history_unref(h);
}

/* main.py's logged span statistics: a series of their own, shown instead of the statistics of
 * the row's spans where they exist, in the figures and the CSV alike. */
static void
test_logged_spans(void)
{
  g_autoptr(SpnHistory) h = spn_history_new(1, 2);
  const float unknown[2] = {NAN, NAN}, known[2] = {10, 30};
  spn_history_append(h, 1000, 3.0, NAN, unknown);
  spn_history_append(h, 2000, 2.5, NAN, known);
  spn_history_append(h, 2001, 2.4, 100, known); /* trained here after the import */
  spn_history_add_logged_spans(h, 1000, 36, 64);
  spn_history_add_logged_spans(h, 2000, 52, 64);
  g_assert_cmpint(h->n_logged, ==, 2);
  g_assert_cmpint(spn_history_logged_at(h, 2000), ==, 1);
  g_assert_cmpint(spn_history_logged_at(h, 1500), ==, -1);
  double mean, max;
  g_assert_true(spn_history_span_stats_at(h, 1000, unknown, &mean, &max));
  g_assert_cmpfloat(mean, ==, 36);
  g_assert_cmpfloat(max, ==, 64);
  g_assert_true(spn_history_span_stats_at(h, 2000, known, &mean, &max)); /* main.py's, as logged */
  g_assert_cmpfloat(mean, ==, 52);
  g_assert_false(spn_history_span_stats_at(h, 2001, known, &mean, &max)); /* ours */
  g_assert_cmpfloat(mean, ==, 20);
  g_assert_cmpfloat(max, ==, 30);
  g_autoptr(SpnHistory) snap = spn_history_snapshot(h);
  g_assert_cmpint(snap->n_logged, ==, 2);
  g_test_expect_message("spanscope", G_LOG_LEVEL_CRITICAL, "*step >=*");
  spn_history_add_logged_spans(h, 999, 1, 1);
  g_test_assert_expected_messages();
  g_assert_cmpint(h->n_logged, ==, 2);

  g_autofree char *path = tmp_path("logged.csv");
  g_autoptr(GError) error = NULL;
  g_assert_true(spn_history_write_csv(h, NULL, path, &error));
  g_autofree char *csv = NULL;
  g_assert_true(g_file_get_contents(path, &csv, NULL, NULL));
  g_auto(GStrv) lines = g_strsplit(csv, "\n", -1);
  /* the cost columns (flops_per_char, attn_flops_per_char, cache_bytes) unknown: empty */
  g_assert_cmpstr(lines[1], ==, "1000,3,,,36,64,,,,,");
  g_assert_cmpstr(lines[2], ==, "2000,2.5,,,52,64,,,,10,30");
  g_assert_cmpstr(lines[3], ==, "2001,2.4,,100,20,30,,,,10,30");
}

static void
add_rows(SpnHistory *h, gint64 from, gint64 to, float span)
{
  float spans[2] = {span, span};
  for (gint64 s = from; s <= to; s++)
    spn_history_append(h, s, (double)s, NAN, spans);
}

/* A row of a persistent 1 × 2 history with its cost and shares known (from `step`). */
static void
add_costed_row(SpnHistory *h, gint64 step)
{
  const float spans[2] = {1, 2}, share[2] = {0.25f * (float)step, 0.5f};
  SpnHistoryRow row = {.step = step, .train_bpc = 2.0, .tokens_per_s = 10.0, .spans = spans,
                       .flops_per_char = 1000.0 * (double)step, .attn_flops_per_char = 100.0,
                       .cache_bytes = 64.0, .pers_share = share};
  spn_history_append_row(h, &row);
}

/* A followed run's history continued: the cost and persistent shares of the rows kept are
 * kept, whether in place or copied; the version's rows (an imported run's: cost and shares
 * unknown) stay unknown; a version with or without persistent memory unlike what is shown
 * replaces it. */
static void
test_continued_cost(void)
{
  SpnHistory *shown = spn_history_new_full(1, 2, TRUE);
  for (gint64 s = 1; s <= 3; s++)
    add_costed_row(shown, s);
  SpnHistory *v2 = spn_history_new_full(1, 2, TRUE);
  add_rows(v2, 1, 5, NAN);
  SpnHistory *next = spn_history_continued(shown, 3, v2); /* in place */
  g_assert_true(next == shown);
  g_assert_cmpint(next->n, ==, 5);
  g_assert_cmpfloat(spn_history_flops_per_char(next, 2), ==, 3000);
  g_assert_cmpfloat(spn_history_row_pers_share(next, 2)[0], ==, 0.75f);
  g_assert_true(isnan(spn_history_flops_per_char(next, 3)));
  g_assert_true(isnan(spn_history_cache_bytes(next, 4)));
  g_assert_true(isnan(spn_history_row_pers_share(next, 4)[1]));
  spn_history_unref(next);

  add_costed_row(shown, 6); /* trained here since: copied into a new history */
  SpnHistory *v3 = spn_history_new_full(1, 2, TRUE);
  add_rows(v3, 1, 7, NAN);
  next = spn_history_continued(shown, 2, v3);
  g_assert_true(next != shown);
  g_assert_true(next->persistent);
  g_assert_cmpint(next->n, ==, 7);
  g_assert_cmpfloat(spn_history_flops_per_char(next, 1), ==, 2000);
  g_assert_cmpfloat(spn_history_attn_flops_per_char(next, 1), ==, 100);
  g_assert_cmpfloat(spn_history_cache_bytes(next, 1), ==, 64);
  g_assert_cmpfloat(spn_history_row_pers_share(next, 1)[0], ==, 0.5f);
  g_assert_true(isnan(spn_history_flops_per_char(next, 2)));
  g_assert_true(isnan(spn_history_row_pers_share(next, 2)[0]));
  spn_history_unref(next);

  SpnHistory *plain = spn_history_new(1, 2);
  add_rows(plain, 1, 9, 3);
  next = spn_history_continued(shown, 3, plain);
  g_assert_true(next == plain);
  spn_history_unref(next);
  spn_history_unref(plain);
  spn_history_unref(v3);
  spn_history_unref(v2);
  spn_history_unref(shown);
}

/* The history of a run followed version by version: each extends what was shown. */
static void
test_continued(void)
{
  /* version 1 (steps 1-3), shown; version 2 (steps 1-6, spans known at its own step only) */
  SpnHistory *shown = spn_history_new(1, 2);
  add_rows(shown, 1, 3, 5);
  spn_history_add_valid(shown, 3, 2.0);
  spn_history_add_logged_spans(shown, 3, 40, 50);
  SpnHistory *v2 = spn_history_new(1, 2);
  add_rows(v2, 1, 5, NAN);
  add_rows(v2, 6, 6, 7);
  spn_history_add_valid(v2, 3, 2.0);
  spn_history_add_valid(v2, 6, 1.5);
  spn_history_add_logged_spans(v2, 3, 40, 50);
  spn_history_add_logged_spans(v2, 6, 41, 52);
  SpnHistory *snap = spn_history_snapshot(shown);
  /* nothing after step 3 in what is shown: appended to in place */
  SpnHistory *next = spn_history_continued(shown, 3, v2);
  g_assert_true(next == shown);
  g_assert_cmpint(next->n, ==, 6);
  g_assert_cmpfloat(spn_history_row_spans(next, 2)[0], ==, 5); /* version 1's spans stay */
  g_assert_true(isnan(spn_history_row_spans(next, 3)[0]));
  g_assert_cmpfloat(spn_history_row_spans(next, 5)[0], ==, 7);
  g_assert_cmpint(next->n_valid, ==, 2);
  g_assert_cmpint(next->n_logged, ==, 2);
  g_assert_cmpint(spn_history_logged_step(next, 1), ==, 6);
  g_assert_true(spn_history_row_spans(next, 0) == spn_history_row_spans(snap, 0));
  g_assert_cmpint(snap->n, ==, 3); /* the snapshot keeps what it had */
  spn_history_unref(next);

  /* steps trained here since (7, 8): a new history, the published one untouched */
  add_rows(shown, 7, 8, 9);
  spn_history_unref(snap);
  snap = spn_history_snapshot(shown);
  SpnHistory *v3 = spn_history_new(1, 2);
  add_rows(v3, 1, 9, 11);
  next = spn_history_continued(shown, 6, v3);
  g_assert_true(next != shown);
  g_assert_cmpint(next->n, ==, 9);
  for (int i = 0; i < 9; i++)
    g_assert_cmpint(spn_history_step(next, i), ==, i + 1);
  g_assert_cmpfloat(spn_history_row_spans(next, 2)[0], ==, 5);  /* up to step 6: what was shown */
  g_assert_cmpfloat(spn_history_row_spans(next, 6)[0], ==, 11); /* after it: version 3's */
  g_assert_cmpint(next->n_valid, ==, 2);
  g_assert_cmpint(next->n_logged, ==, 2);
  g_assert_cmpint(snap->n, ==, 8);
  g_assert_cmpfloat(spn_history_row_spans(snap, 6)[0], ==, 9);
  spn_history_unref(next);
  /* a snapshot is never appended to */
  next = spn_history_continued(snap, 8, v3);
  g_assert_true(next != snap);
  g_assert_cmpint(next->n, ==, 9);
  g_assert_cmpint(snap->n, ==, 8);
  spn_history_unref(next);

  /* the run went back (a version before the one shown) or is of another shape: the version */
  SpnHistory *older = spn_history_new(1, 2);
  add_rows(older, 1, 2, 1);
  next = spn_history_continued(shown, 6, older);
  g_assert_true(next == older);
  spn_history_unref(next);
  SpnHistory *other = spn_history_new(2, 2);
  next = spn_history_continued(shown, 0, other);
  g_assert_true(next == other);
  spn_history_unref(next);
  spn_history_unref(other);
  spn_history_unref(older);
  spn_history_unref(snap);
  spn_history_unref(v3);
  spn_history_unref(v2);
  spn_history_unref(shown);
}

/* The JSON of the writer before tensors, as it wrote a run with an infinite value. */
static const char legacy_json[] =
    "{\"nlayers\":1,\"nheads\":2,\"step\":[1,2,3],\"train_bpc\":[4.5,inf.0,3.5],"
    "\"val_bpc\":[null,-inf.0,2.25],\"tokens_per_s\":[-inf.0,null,100],"
    "\"spans\":[1,2,3,inf.0,5,6]}";

static void
test_legacy_json(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SpnHistory) h = spn_history_from_legacy_json(legacy_json, 1, 2, &error);
  g_assert_no_error(error);
  g_assert_cmpint(h->n, ==, 3);
  g_assert_cmpint(spn_history_step(h, 2), ==, 3);
  g_assert_cmpfloat(spn_history_train_bpc(h, 0), ==, 4.5f);
  g_assert_true(isinf(spn_history_train_bpc(h, 1)) && spn_history_train_bpc(h, 1) > 0);
  g_assert_true(isinf(spn_history_tokens_per_s(h, 0)) && spn_history_tokens_per_s(h, 0) < 0);
  g_assert_true(isnan(spn_history_tokens_per_s(h, 1)));
  g_assert_true(isinf(spn_history_row_spans(h, 1)[1]));
  /* one validation slot per row there: the non-null ones are the measurements */
  g_assert_cmpint(h->n_valid, ==, 2);
  g_assert_cmpint(spn_history_valid_step(h, 0), ==, 2);
  g_assert_true(isinf(spn_history_valid_bpc(h, 0)) && spn_history_valid_bpc(h, 0) < 0);
  g_assert_cmpfloat(spn_history_valid_bpc(h, 1), ==, 2.25f);

  /* a string that happens to contain the spelling is left alone */
  const char in_string[] = "{\"nlayers\":1,\"nheads\":1,\"note\":\"inf.0 \\\" inf.0\",\"step\":[],"
                           "\"train_bpc\":[],\"val_bpc\":[],\"tokens_per_s\":[],\"spans\":[]}";
  SpnHistory *e = spn_history_from_legacy_json(in_string, 1, 1, &error);
  g_assert_no_error(error);
  g_assert_cmpint(e->n, ==, 0);
  spn_history_unref(e);

  struct {
    const char *json;
    int nlayers, nheads;
    const char *fragment;
  } bad[] = {
      {"{\"nlayers\":1,", 1, 2, "metrics history: the text is not valid JSON"},
      {"[1,2]", 1, 2, "the text is not a JSON object"},
      {legacy_json, 2, 2, "1 layers \u00d7 2 heads, the model has 2 \u00d7 2"},
      /* found by fuzz_json: json-glib's typed getters complained (CRITICAL) of other nodes */
      {"{\"nlayers\":[1],\"nheads\":2}", 1, 2, "\"nlayers\" and \"nheads\" must be integers"},
      {"{\"nlayers\":1,\"nheads\":{}}", 1, 2, "\"nlayers\" and \"nheads\" must be integers"},
      {"{\"nlayers\":1,\"nheads\":2.0}", 1, 2, "\"nlayers\" and \"nheads\" must be integers"},
      {"{\"step\":[]}", 1, 2, "\"nlayers\" and \"nheads\" must be integers"},
      {"{\"nlayers\":1,\"nheads\":2,\"step\":[1],\"train_bpc\":[1],\"val_bpc\":[1],"
       "\"tokens_per_s\":[1],\"spans\":[1]}",
       1, 2, "\"spans\" has 1 values, expected 2"},
      {"{\"nlayers\":1,\"nheads\":1,\"step\":[1.5],\"train_bpc\":[1],\"val_bpc\":[1],"
       "\"tokens_per_s\":[1],\"spans\":[1]}",
       1, 1, "\"step\" 0 is not an integer"},
      {"{\"nlayers\":1,\"nheads\":1,\"step\":[[1]],\"train_bpc\":[1],\"val_bpc\":[1],"
       "\"tokens_per_s\":[1],\"spans\":[1]}",
       1, 1, "\"step\" 0 is not an integer"},
      {"{\"nlayers\":1,\"nheads\":1,\"step\":[1],\"val_bpc\":[1],\"tokens_per_s\":[1],"
       "\"spans\":[1]}",
       1, 1, "member \"train_bpc\" is missing"},
      {"{\"nlayers\":1,\"nheads\":1,\"step\":[2,1],\"train_bpc\":[1,1],\"val_bpc\":[1,1],"
       "\"tokens_per_s\":[1,1],\"spans\":[1,1]}",
       1, 1, "row 1 is at step 1"},
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    SpnHistory *b =
        spn_history_from_legacy_json(bad[i].json, bad[i].nlayers, bad[i].nheads, &error);
    g_assert_null(b);
    g_assert_error(error, SPN_HISTORY_ERROR, SPN_HISTORY_ERROR_FORMAT);
    if (strstr(error->message, bad[i].fragment) == NULL)
      g_error("case %u: \"%s\" does not say \"%s\"", i, error->message, bad[i].fragment);
    g_clear_error(&error);
  }
}

/* ---- snapshots share their history and their reading ---- */

static SpnSnapshot *
state_with_rows(int rows)
{
  const float spans[4] = {1, 2, 3, 4};
  SpnSnapshot *s = spn_test_snapshot_new(2, 2, 64, 8, spans);
  fill_rows(s->history, 0, rows);
  return s;
}

static void
test_snapshot_sharing(void)
{
  SpnSnapshot *state = state_with_rows(700);
  SpnProbe *probe = spn_test_probe_new("shared text", 2, 2, state->spans, 4);
  probe->surprisal[3] = 2.5f;
  /* the reading taken over by one snapshot, shared by the next: never copied */
  SpnSnapshot *reading = spn_snapshot_with_probe(state, "shared text", probe);
  SpnSnapshot *combined = spn_snapshot_with_probe_of(state, reading);
  g_assert_true(reading->probe == probe && combined->probe == probe);
  g_assert_cmpstr(combined->text, ==, "shared text");
  g_assert_true(spn_history_row_spans(combined->history, 699) ==
                spn_history_row_spans(state->history, 699));
  g_assert_true(spn_history_row_spans(reading->history, 0) ==
                spn_history_row_spans(state->history, 0));
  /* a combination of a combination shares the same objects */
  SpnSnapshot *again = spn_snapshot_with_probe_of(combined, combined);
  g_assert_true(again->probe == probe && again->history == combined->history);
  /* the state can go on (a test's, unpublished) while the others show what they had */
  fill_rows(state->history, 700, 900);
  g_assert_cmpint(combined->history->n, ==, 700);
  /* released in any order, each keeps what it shares alive; LeakSanitizer checks that the
   * last release frees everything */
  spn_snapshot_unref(state);
  spn_snapshot_unref(reading);
  check_rows(combined->history, 700);
  g_assert_cmpfloat(combined->probe->surprisal[3], ==, 2.5f);
  spn_snapshot_unref(combined);
  check_rows(again->history, 700);
  g_assert_cmpfloat(again->probe->surprisal[3], ==, 2.5f);
  g_autoptr(SpnSnapshot) kept = spn_snapshot_ref(again);
  spn_snapshot_unref(again);
  g_assert_cmpint(kept->probe->n, ==, 11);
}

static void
test_probe_snapshot_frozen(void)
{
  const float spans[1] = {5};
  SpnProbe *live = spn_test_probe_new("abc", 1, 1, spans, 2);
  SpnProbe *frozen = spn_probe_snapshot(live);
  g_assert_true(frozen != live && frozen->tokens != live->tokens);
  /* the reader writes on: the snapshot does not change */
  live->surprisal[1] = 9.0f;
  g_assert_cmpfloat(frozen->surprisal[1], ==, 0.0f);
  SpnProbe *same = spn_probe_snapshot(frozen);
  g_assert_true(same == frozen);
  spn_probe_unref(live);
  spn_probe_unref(frozen);
  g_assert_cmpint(same->n, ==, 3);
  spn_probe_unref(same);
}

static void
test_param_blob(void)
{
  SpnConfig c;
  spn_test_tiny_config(&c);
  c.vocab_size = 10;
  SpnModel *m = spn_model_new(&c);
  SpnParamBlob *b = spn_param_blob_new(&m->cfg, m->layout, m->params);
  g_assert_cmpuint(b->total, ==, m->layout->total);
  g_assert_cmpmem(b->params, sizeof(float) * b->total, m->params, sizeof(float) * b->total);
  /* a copy: the trainer goes on changing its own */
  m->params[0] += 1.0f;
  g_assert_cmpfloat(b->params[0], !=, m->params[0]);
  SpnParamBlob *held = spn_param_blob_ref(b);
  spn_param_blob_unref(b);
  g_assert_cmpint(held->cfg.nlayers, ==, 2);
  spn_param_blob_unref(held);
  spn_model_free(m);
}

/* ---- the history in checkpoints ---- */

static char *
corpus_text(void)
{
  GString *text = g_string_new(NULL);
  while (text->len < 4000)
    g_string_append(text, "In the beginning was the word, and the word was with the reader. ");
  return g_string_free(text, FALSE);
}

/* The corpus tests/fixtures/legacy_history.safetensors was trained on. */
static SpnCorpus *
legacy_corpus(void)
{
  g_autofree char *text = corpus_text();
  SpnCorpusOptions opts = {0};
  g_autoptr(GError) error = NULL;
  SpnCorpus *corpus = spn_corpus_from_text("legacy", text, strlen(text), &opts, &error);
  g_assert_no_error(error);
  return corpus;
}

/* A model-only checkpoint of the tiny configuration (with persistent memory when h is
 * persistent) with history h. */
static void
save_with_history(const char *path, SpnHistory *h)
{
  SpnCorpus *corpus = legacy_corpus();
  SpnConfig c;
  spn_test_tiny_config(&c);
  if (h->persistent)
    c.pers_mem_size = 4, c.inner_hid_sz = 0;
  c.vocab_size = corpus->vocab->size;
  SpnModel *m = spn_model_new(&c);
  SpnCheckpoint ck = {.model = m, .vocab = corpus->vocab, .history = h};
  g_autoptr(GError) error = NULL;
  g_assert_true(spn_checkpoint_save(&ck, path, &error));
  g_assert_no_error(error);
  spn_model_free(m);
  spn_corpus_free(corpus);
}

/* Every column of a and b holds the same bytes. */
static void
assert_same_history(const SpnHistory *a, const SpnHistory *b)
{
  g_assert_cmpint(a->n, ==, b->n);
  g_assert_cmpint(a->n_valid, ==, b->n_valid);
  g_assert_cmpint(a->n_logged, ==, b->n_logged);
  for (int col = SPN_HISTORY_STEP; col < SPN_HISTORY_N_COLUMNS; col++) {
    GByteArray *bytes[2] = {g_byte_array_new(), g_byte_array_new()};
    const SpnHistory *hs[2] = {a, b};
    for (int k = 0; k < 2; k++) {
      const void *data;
      gsize n;
      for (int j = 0; spn_history_column(hs[k], col, j, &data, &n); j++)
        g_byte_array_append(bytes[k], data, (guint)n);
    }
    g_assert_cmpmem(bytes[0]->data, bytes[0]->len, bytes[1]->data, bytes[1]->len);
    g_byte_array_unref(bytes[0]);
    g_byte_array_unref(bytes[1]);
  }
}

static void
test_tensors_round_trip(void)
{
  SpnHistory *h = spn_history_new(2, 2);
  fill_rows(h, 0, 3000);
  for (int i = 0; i < 60; i++)
    spn_history_add_valid(h, row_step(i * 50), i % 7 == 3 ? NAN : i % 7 == 4 ? INFINITY : 2.0 + i);
  spn_history_add_valid(h, row_step(2950), -INFINITY); /* supersedes the one at that step */
  for (int i = 0; i < 150; i++)
    spn_history_add_logged_spans(h, row_step(i * 20), i % 11 == 5 ? NAN : 32.0 + i, 64.0 + i);
  g_autofree char *path = tmp_path("tensors.safetensors");
  save_with_history(path, h);

  /* tensors with the reference's dtypes, no JSON history */
  g_autoptr(GError) error = NULL;
  SpnSafetensors *st = spn_safetensors_read(path, &error);
  g_assert_no_error(error);
  g_assert_null(spn_safetensors_metadata(st, "history"));
  const SpnStTensor *t = spn_safetensors_get(st, "history.spans");
  g_assert_true(t && t->dtype == SPN_DTYPE_F32 && t->ndim == 3 && t->shape[0] == 3000 &&
                t->shape[1] == 2 && t->shape[2] == 2);
  t = spn_safetensors_get(st, "history.step");
  g_assert_true(t && t->dtype == SPN_DTYPE_I64 && t->shape[0] == 3000);
  t = spn_safetensors_get(st, "history.valid.bpc");
  g_assert_true(t && t->dtype == SPN_DTYPE_F32 && t->shape[0] == 61);
  t = spn_safetensors_get(st, "history.logged.step");
  g_assert_true(t && t->dtype == SPN_DTYPE_I64 && t->shape[0] == 150);
  t = spn_safetensors_get(st, "history.logged.span_max");
  g_assert_true(t && t->dtype == SPN_DTYPE_F32 && t->ndim == 1 && t->shape[0] == 150);
  spn_safetensors_free(st);

  SpnCheckpoint *ck = spn_checkpoint_load(path, &error);
  g_assert_no_error(error);
  g_assert_null(ck->history_error);
  assert_same_history(ck->history, h);
  check_rows(ck->history, 3000);
  g_assert_true(isinf(spn_history_valid_bpc(ck->history, 60)));
  g_assert_false(spn_history_valid_current(ck->history, 59));
  g_assert_true(isnan(spn_history_logged_span_avg(ck->history, 5)));
  g_assert_cmpfloat(spn_history_logged_span_max(ck->history, 149), ==, 64.0f + 149);
  spn_checkpoint_free(ck);
  spn_history_unref(h);

  /* a file written before the logged statistics (none of their tensors) opens without them */
  g_autofree char *before = tmp_path("before-logged.safetensors");
  const char *logged[] = {"history.logged.step", "history.logged.span_avg",
                          "history.logged.span_max"};
  spn_test_rewrite_checkpoint(path, before, logged[0], 0, 0, NULL, NULL, NULL, NULL);
  for (guint i = 1; i < G_N_ELEMENTS(logged); i++)
    spn_test_rewrite_checkpoint(before, before, logged[i], 0, 0, NULL, NULL, NULL, NULL);
  ck = spn_checkpoint_load(before, &error);
  g_assert_no_error(error);
  g_assert_null(ck->history_error);
  g_assert_cmpint(ck->history->n, ==, 3000);
  g_assert_cmpint(ck->history->n_valid, ==, 61);
  g_assert_cmpint(ck->history->n_logged, ==, 0);
  spn_checkpoint_free(ck);

  /* an empty history is a history too */
  h = spn_history_new(2, 2);
  save_with_history(path, h);
  ck = spn_checkpoint_load(path, &error);
  g_assert_no_error(error);
  g_assert_nonnull(ck->history);
  g_assert_cmpint(ck->history->n, ==, 0);
  spn_checkpoint_free(ck);
  spn_history_unref(h);
}

static void
test_legacy_checkpoint(void)
{
  /* written by spanscope 8ad414b: 4 steps of the tiny model, the history as JSON with inf.0 */
  g_autofree char *fixture =
      g_build_filename(g_getenv("SPANSCOPE_FIXTURES"), "legacy_history.safetensors", NULL);
  g_autoptr(GError) error = NULL;
  SpnCheckpoint *ck = spn_checkpoint_load(fixture, &error);
  g_assert_no_error(error);
  g_assert_null(ck->history_error);
  const SpnHistory *h = ck->history;
  g_assert_cmpint(h->n, ==, 4);
  for (int i = 0; i < 4; i++)
    g_assert_cmpint(spn_history_step(h, i), ==, i + 1);
  g_assert_true(isinf(spn_history_train_bpc(h, 2)) && spn_history_train_bpc(h, 2) > 0);
  g_assert_true(isinf(spn_history_tokens_per_s(h, 0)) && spn_history_tokens_per_s(h, 0) < 0);
  g_assert_true(isinf(spn_history_row_spans(h, 1)[1]));
  g_assert_true(isfinite(spn_history_row_spans(h, 1)[0]));
  g_assert_cmpint(h->n_valid, ==, 2);
  g_assert_cmpint(spn_history_valid_step(h, 0), ==, 2);
  g_assert_cmpfloat(spn_history_valid_bpc(h, 0), ==, 4.25f);
  g_assert_cmpint(spn_history_valid_step(h, 1), ==, 4);
  g_assert_true(isinf(spn_history_valid_bpc(h, 1)));
  g_autoptr(SpnHistory) before = spn_history_snapshot(h);
  spn_checkpoint_free(ck);

  /* it resumes (that build could not: "unexpected identifier `inf'") and saves as tensors */
  SpnTrainer *t = spn_trainer_load(fixture, legacy_corpus(), &error);
  g_assert_no_error(error);
  SpnStepResult r;
  g_assert_true(spn_trainer_step(t, &r, NULL));
  g_assert_cmpint(spn_trainer_history(t)->n, ==, 5);
  g_autofree char *path = tmp_path("resumed.safetensors");
  g_assert_true(spn_trainer_save(t, path, &error));
  spn_trainer_free(t);
  ck = spn_checkpoint_load(path, &error);
  g_assert_no_error(error);
  g_assert_cmpint(ck->history->n, ==, 5);
  g_assert_cmpint(spn_history_step(ck->history, 4), ==, 5);
  for (int i = 0; i < 4; i++) {
    g_assert_true(
        same_float(spn_history_train_bpc(ck->history, i), spn_history_train_bpc(before, i)));
    g_assert_cmpmem(spn_history_row_spans(ck->history, i), 4 * sizeof(float),
                    spn_history_row_spans(before, i), 4 * sizeof(float));
  }
  g_assert_cmpint(ck->history->n_valid, ==, 2);
  spn_checkpoint_free(ck);
}

/* The cost and the persistent shares go through a checkpoint; a file written before they were
 * kept opens with them unknown, and a share tensor of the wrong shape is an error. */
static void
test_cost_and_share_tensors(void)
{
  SpnHistory *h = spn_history_new_full(2, 2, TRUE);
  fill_rows(h, 0, 300);
  g_autofree char *path = tmp_path("persistent.safetensors");
  save_with_history(path, h);
  g_autoptr(GError) error = NULL;
  SpnSafetensors *st = spn_safetensors_read(path, &error);
  g_assert_no_error(error);
  const SpnStTensor *t = spn_safetensors_get(st, "history.pers_share");
  g_assert_true(t && t->dtype == SPN_DTYPE_F32 && t->ndim == 3 && t->shape[0] == 300);
  t = spn_safetensors_get(st, "history.flops_per_char");
  g_assert_true(t && t->dtype == SPN_DTYPE_F32 && t->ndim == 1 && t->shape[0] == 300);
  spn_safetensors_free(st);
  SpnCheckpoint *ck = spn_checkpoint_load(path, &error);
  g_assert_no_error(error);
  g_assert_true(ck->history->persistent);
  assert_same_history(ck->history, h);
  check_rows(ck->history, 300);
  spn_checkpoint_free(ck);

  /* before the cost was kept: no cost or share tensors; everything else as it was */
  g_autofree char *old = tmp_path("before-cost.safetensors");
  g_autofree char *older = tmp_path("before-cost2.safetensors");
  const char *names[] = {"history.flops_per_char", "history.attn_flops_per_char",
                         "history.cache_bytes", "history.pers_share"};
  const char *from = path;
  for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
    const char *to = i % 2 == 0 ? old : older;
    spn_test_rewrite_checkpoint(from, to, names[i], 0, 0, NULL, NULL, NULL, NULL);
    from = to;
  }
  ck = spn_checkpoint_load(from, &error);
  g_assert_no_error(error);
  g_assert_null(ck->history_error);
  g_assert_cmpint(ck->history->n, ==, 300);
  for (int i = 0; i < 300; i++) {
    g_assert_true(isnan(spn_history_flops_per_char(ck->history, i)));
    g_assert_true(isnan(spn_history_cache_bytes(ck->history, i)));
    g_assert_true(isnan(spn_history_row_pers_share(ck->history, i)[3]));
    g_assert_true(same_float(spn_history_train_bpc(ck->history, i), row_value(i, 0)));
  }
  spn_checkpoint_free(ck);

  float zeros[300 * 2 * 3] = {0};
  gint64 shape[3] = {300, 2, 3};
  spn_test_rewrite_checkpoint(path, old, "history.pers_share", SPN_DTYPE_F32, 3, shape, zeros,
                              NULL, NULL);
  ck = spn_checkpoint_load(old, &error);
  g_assert_no_error(error);
  g_assert_null(ck->history);
  g_assert_nonnull(strstr(ck->history_error->message, "'history.pers_share' has shape"));
  spn_checkpoint_free(ck);
  spn_history_unref(h);
}

/* The CSV has the cost, the full-span cost and each head's persistent share. */
static void
test_csv_columns(void)
{
  SpnHistory *h = spn_history_new_full(1, 2, TRUE);
  fill_rows(h, 0, 3);
  g_autofree char *path = tmp_path("metrics.csv");
  SpnCost full = {.flops = 1000.0, .attn_flops = 600.0, .cache_bytes = 4096.0};
  g_autoptr(GError) error = NULL;
  g_assert_true(spn_history_write_csv(h, &full, path, &error));
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(path, &text, NULL, &error));
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  g_assert_cmpstr(lines[0], ==,
                  "step,train_bpc,val_bpc,tokens_per_s,span_avg,span_max,flops_per_char,"
                  "attn_flops_per_char,cache_bytes,flops_per_char_full_span,"
                  "cache_bytes_full_span,span_l0h0,span_l0h1,pers_share_l0h0,pers_share_l0h1");
  g_auto(GStrv) cells = g_strsplit(lines[2], ",", -1);
  g_assert_cmpuint(g_strv_length(cells), ==, 15);
  g_assert_cmpfloat(g_ascii_strtod(cells[6], NULL), ==, row_value(1, 30));
  g_assert_cmpfloat(g_ascii_strtod(cells[8], NULL), ==, row_value(1, 32));
  g_assert_cmpfloat(g_ascii_strtod(cells[9], NULL), ==, 1000.0);
  g_assert_cmpfloat(g_ascii_strtod(cells[10], NULL), ==, 4096.0);
  g_assert_cmpfloat(g_ascii_strtod(cells[14], NULL), ==, row_value(1, 41));
  spn_history_unref(h);
}

static void
expect_history_error(const char *path, const char *fragment)
{
  g_autoptr(GError) error = NULL;
  SpnCheckpoint *ck = spn_checkpoint_load(path, &error);
  /* the model itself still opens (export draws it) */
  g_assert_no_error(error);
  g_assert_null(ck->history);
  g_assert_nonnull(ck->history_error);
  if (strstr(ck->history_error->message, fragment) == NULL)
    g_error("\"%s\" does not say \"%s\"", ck->history_error->message, fragment);
  spn_checkpoint_free(ck);
}

static void
test_bad_history_tensors(void)
{
  SpnHistory *h = spn_history_new(2, 2);
  fill_rows(h, 0, 10);
  spn_history_add_valid(h, row_step(4), 2.0);
  spn_history_add_logged_spans(h, row_step(4), 30, 40);
  g_autofree char *good = tmp_path("good.safetensors");
  g_autofree char *bad = tmp_path("bad.safetensors");
  save_with_history(good, h);
  spn_history_unref(h);

  float spans[10 * 3 * 2] = {0};
  gint64 shape3[3] = {10, 3, 2};
  spn_test_rewrite_checkpoint(good, bad, "history.spans", SPN_DTYPE_F32, 3, shape3, spans, NULL,
                              NULL);
  expect_history_error(bad, "'history.spans' has shape [10, 3, 2], expected [10, 2, 2]");
  gint64 shape1[1] = {9};
  spn_test_rewrite_checkpoint(good, bad, "history.train_bpc", SPN_DTYPE_F32, 1, shape1, spans, NULL,
                              NULL);
  expect_history_error(bad, "'history.train_bpc' has shape [9], expected [10]");
  spn_test_rewrite_checkpoint(good, bad, "history.valid.step", SPN_DTYPE_I64, 0, NULL, NULL, NULL,
                              NULL);
  expect_history_error(bad, "tensor 'history.valid.step' is missing");
  gint64 shape2[2] = {5, 2};
  gint64 steps[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  spn_test_rewrite_checkpoint(good, bad, "history.step", SPN_DTYPE_I64, 2, shape2, steps, NULL,
                              NULL);
  expect_history_error(bad, "'history.step' is of another shape");
  steps[7] = 2;
  gint64 shape10[1] = {10};
  spn_test_rewrite_checkpoint(good, bad, "history.step", SPN_DTYPE_I64, 1, shape10, steps, NULL,
                              NULL);
  expect_history_error(bad, "row 7 is at step 2");
  float f[10] = {0};
  spn_test_rewrite_checkpoint(good, bad, "history.step", SPN_DTYPE_F32, 1, shape10, f, NULL, NULL);
  expect_history_error(bad, "history.step");
  /* the logged statistics: all three tensors or none, of one length */
  spn_test_rewrite_checkpoint(good, bad, "history.logged.span_avg", 0, 0, NULL, NULL, NULL, NULL);
  expect_history_error(bad, "tensor 'history.logged.span_avg' is missing");
  gint64 shape0[1] = {0};
  spn_test_rewrite_checkpoint(good, bad, "history.logged.step", SPN_DTYPE_I64, 1, shape0, steps,
                              NULL, NULL);
  expect_history_error(bad, "'history.logged.span_avg' has shape [1], expected [0]");

  /* resuming needs the history: the error names the file and says it is the history */
  g_autoptr(GError) error = NULL;
  g_autofree char *legacy = tmp_path("legacy-bad.safetensors");
  g_autofree char *fixture =
      g_build_filename(g_getenv("SPANSCOPE_FIXTURES"), "legacy_history.safetensors", NULL);
  spn_test_rewrite_checkpoint(fixture, legacy, "", 0, 0, NULL, NULL, "history",
                              "{\"nlayers\":2,\"nheads\":2,\"step\":[1,nan.0]}");
  SpnTrainer *t = spn_trainer_load(legacy, legacy_corpus(), &error);
  g_assert_null(t);
  g_assert_error(error, SPN_HISTORY_ERROR, SPN_HISTORY_ERROR_FORMAT);
  g_assert_true(g_str_has_prefix(error->message, legacy));
  g_assert_nonnull(strstr(error->message, "metrics history: the text is not valid JSON"));
}

/* ---- the writer: pieces and the header limit ---- */

static void
test_writer_pieces(void)
{
  const float a[3] = {1, 2, 3}, b[2] = {4, 5}, whole[5] = {1, 2, 3, 4, 5};
  SpnStPiece pieces[3] = {{a, sizeof a}, {NULL, 0}, {b, sizeof b}};
  gint64 shape[1] = {5};
  g_autofree char *joined = tmp_path("pieces.safetensors");
  g_autofree char *single = tmp_path("single.safetensors");
  g_autoptr(GError) error = NULL;
  SpnStWriter *w = spn_st_writer_new();
  spn_st_writer_add_pieces(w, "x", SPN_DTYPE_F32, 1, shape, pieces, 3);
  g_assert_true(spn_st_writer_write(w, joined, &error));
  spn_st_writer_free(w);
  w = spn_st_writer_new();
  spn_st_writer_add(w, "x", SPN_DTYPE_F32, 1, shape, whole);
  g_assert_true(spn_st_writer_write(w, single, &error));
  spn_st_writer_free(w);
  /* the same file, byte for byte (checksum included) */
  g_autofree char *c1 = NULL, *c2 = NULL;
  gsize n1, n2;
  g_assert_true(g_file_get_contents(joined, &c1, &n1, NULL));
  g_assert_true(g_file_get_contents(single, &c2, &n2, NULL));
  g_assert_cmpmem(c1, n1, c2, n2);
  /* pieces that do not add up to the tensor */
  w = spn_st_writer_new();
  spn_st_writer_add_pieces(w, "x", SPN_DTYPE_F32, 1, shape, pieces, 1);
  g_autofree char *short_path = tmp_path("short.safetensors");
  g_assert_false(spn_st_writer_write(w, short_path, &error));
  g_assert_error(error, SPN_ST_ERROR, SPN_ST_ERROR_FORMAT);
  g_assert_nonnull(strstr(error->message, "tensor 'x' has 12 bytes of data for its 20"));
  g_assert_false(g_file_test(short_path, G_FILE_TEST_EXISTS));
  spn_st_writer_free(w);
}

static void
test_writer_header_limit(void)
{
  /* what the history as JSON did to long runs: a header no reader accepts */
  g_autofree char *big = g_strnfill(100000001, 'x');
  g_autofree char *path = tmp_path("huge-header.safetensors");
  g_autoptr(GError) error = NULL;
  SpnStWriter *w = spn_st_writer_new();
  spn_st_writer_set_metadata(w, "history", big);
  spn_st_writer_set_metadata(w, "format", "x");
  g_assert_false(spn_st_writer_write(w, path, &error));
  spn_st_writer_free(w);
  g_assert_error(error, SPN_ST_ERROR, SPN_ST_ERROR_FORMAT);
  g_assert_nonnull(strstr(error->message, "huge-header.safetensors"));
  g_assert_nonnull(strstr(error->message, "more than the 100000000"));
  g_assert_nonnull(strstr(error->message, "\"history\", is 100000001 bytes"));
  g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp("spanscope-history-XXXXXX", NULL);
  g_test_add_func("/history/append-and-chunks", test_append_and_chunks);
  g_test_add_func("/history/snapshot-shares", test_snapshot_shares);
  g_test_add_func("/history/snapshots-across-threads", test_snapshots_across_threads);
  g_test_add_func("/history/validation-series", test_validation_series);
  g_test_add_func("/history/order-checked", test_order_checked);
  g_test_add_func("/history/logged-spans", test_logged_spans);
  g_test_add_func("/history/continued", test_continued);
  g_test_add_func("/history/continued-cost", test_continued_cost);
  g_test_add_func("/history/legacy-json", test_legacy_json);
  g_test_add_func("/snapshot/sharing-and-refcounts", test_snapshot_sharing);
  g_test_add_func("/snapshot/probe-snapshot", test_probe_snapshot_frozen);
  g_test_add_func("/snapshot/param-blob", test_param_blob);
  g_test_add_func("/checkpoint/history-tensors", test_tensors_round_trip);
  g_test_add_func("/checkpoint/legacy-history", test_legacy_checkpoint);
  g_test_add_func("/checkpoint/bad-history", test_bad_history_tensors);
  g_test_add_func("/checkpoint/cost-and-share", test_cost_and_share_tensors);
  g_test_add_func("/history/csv-columns", test_csv_columns);
  g_test_add_func("/safetensors/writer-pieces", test_writer_pieces);
  g_test_add_func("/safetensors/writer-header-limit", test_writer_header_limit);
  int rc = g_test_run();
  spn_test_remove_dir(tmpdir);
  return rc;
}
