#include "history.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "jsonread.h"
#include "savefile.h"

/* clang-format off */
G_DEFINE_QUARK(spn-history-error-quark, spn_history_error)
/* clang-format on */

/* ---- chunks ---- */

/* Chunk j holds rows BASE_ROWS·(2^j − 1) … BASE_ROWS·(2^(j+1) − 1) − 1: doubling chunks keep
 * the number of chunks logarithmic (a snapshot needs no list of them) and the waste below half,
 * and a chunk never moves, so rows handed out stay where they are while the writer appends. */
#define BASE_ROWS 64
#define MAX_CHUNKS 32 /* BASE_ROWS·(2^26 − 1) rows already exceed G_MAXINT */
#define MAX_COLUMNS 8

/* Columns of fixed width, stored column by column inside each chunk. */
typedef struct {
  int n_cols;
  gsize width[MAX_COLUMNS]; /* bytes per row */
  guint8 *chunk[MAX_CHUNKS];
} Table;

/* The tables: rows: step (gint64), then floats: train_bpc, tokens_per_s, spans (nlayers ×
 * nheads), flops_per_char, attn_flops_per_char, cache_bytes, pers_share (nlayers × nheads, width
 * 0 when not persistent); valid: step (gint64), bpc (float); logged: step (gint64), span_avg, span_max (float). Every
 * table's first column is its step. */
enum { T_ROWS, T_VALID, T_LOGGED, N_TABLES };

/* Shared by a history and its snapshots; freed with the last of them. */
struct _SpnHistoryStore {
  Table t[N_TABLES];
};

enum { COL_STEP, COL_TRAIN, COL_TPS, COL_SPANS, COL_FLOPS, COL_ATTN, COL_CACHE, COL_PERS };
enum { VCOL_STEP, VCOL_BPC };
enum { LCOL_STEP, LCOL_AVG, LCOL_MAX };

/* Where each SpnHistoryColumn is: its table and its column there. */
static const struct {
  int table, col;
} columns[SPN_HISTORY_N_COLUMNS] = {
    [SPN_HISTORY_STEP] = {T_ROWS, COL_STEP},
    [SPN_HISTORY_TRAIN_BPC] = {T_ROWS, COL_TRAIN},
    [SPN_HISTORY_TOKENS_PER_S] = {T_ROWS, COL_TPS},
    [SPN_HISTORY_SPANS] = {T_ROWS, COL_SPANS},
    [SPN_HISTORY_FLOPS_PER_CHAR] = {T_ROWS, COL_FLOPS},
    [SPN_HISTORY_ATTN_FLOPS_PER_CHAR] = {T_ROWS, COL_ATTN},
    [SPN_HISTORY_CACHE_BYTES] = {T_ROWS, COL_CACHE},
    [SPN_HISTORY_PERS_SHARE] = {T_ROWS, COL_PERS},
    [SPN_HISTORY_VALID_STEP] = {T_VALID, VCOL_STEP},
    [SPN_HISTORY_VALID_BPC] = {T_VALID, VCOL_BPC},
    [SPN_HISTORY_LOGGED_STEP] = {T_LOGGED, LCOL_STEP},
    [SPN_HISTORY_LOGGED_SPAN_AVG] = {T_LOGGED, LCOL_AVG},
    [SPN_HISTORY_LOGGED_SPAN_MAX] = {T_LOGGED, LCOL_MAX},
};

/* The number of entries of table k. */
static int *
count_of(SpnHistory *h, int k)
{
  return k == T_ROWS ? &h->n : k == T_VALID ? &h->n_valid : &h->n_logged;
}

static int
length_of(const SpnHistory *h, int k)
{
  return *count_of((SpnHistory *)h, k);
}

static int
chunk_first(int j)
{
  return BASE_ROWS * ((1 << j) - 1);
}

static gsize
chunk_cap(int j)
{
  return (gsize)BASE_ROWS << j;
}

/* The chunk of row i and the row's place in it. */
static int
chunk_of(int i, int *offset)
{
  int j = (int)g_bit_storage((guint)i / BASE_ROWS + 1) - 1;
  *offset = i - chunk_first(j);
  return j;
}

static guint8 *
column(const Table *t, int j, int col)
{
  /* callers pass a chunk of chunk_range or chunk_of; said here, GCC's -Warray-bounds under the
   * sanitizers no longer guesses j up to 63 */
  g_assert(j >= 0 && j < MAX_CHUNKS);
  gsize at = 0;
  for (int c = 0; c < col; c++)
    at += t->width[c];
  return t->chunk[j] + at * chunk_cap(j);
}

/* Where row i of column col goes, its chunk allocated if need be (the writer's thread only). */
static guint8 *
cell_for_write(Table *t, int i, int col)
{
  int k, j = chunk_of(i, &k);
  if (t->chunk[j] == NULL) {
    gsize row = 0;
    for (int c = 0; c < t->n_cols; c++)
      row += t->width[c];
    t->chunk[j] = g_malloc(row * chunk_cap(j));
  }
  return column(t, j, col) + t->width[col] * (gsize)k;
}

static const guint8 *
cell(const Table *t, int i, int col)
{
  int k, j = chunk_of(i, &k);
  return column(t, j, col) + t->width[col] * (gsize)k;
}

/* Chunk j of the first n rows: its first row and length, FALSE past the last. */
static gboolean
chunk_range(int n, int j, int *first, int *len)
{
  if (j < 0 || j >= MAX_CHUNKS || chunk_first(j) >= n)
    return FALSE;
  *first = chunk_first(j);
  *len = (int)MIN((gsize)(n - *first), chunk_cap(j));
  return TRUE;
}

static void
store_clear(gpointer data)
{
  SpnHistoryStore *s = data;
  for (int k = 0; k < N_TABLES; k++)
    for (int j = 0; j < MAX_CHUNKS; j++)
      g_free(s->t[k].chunk[j]);
}

static gint64
step_at(const SpnHistory *h, int k, int i)
{
  return *(const gint64 *)cell(&h->store->t[k], i, 0);
}

/* Appends entry i of table k of src to dst, without the order check (callers keep order). */
static void
copy_entry(SpnHistory *dst, int k, const SpnHistory *src, int i)
{
  Table *to = &dst->store->t[k];
  const Table *from = &src->store->t[k];
  int *n = count_of(dst, k);
  for (int c = 0; c < to->n_cols; c++)
    memcpy(cell_for_write(to, *n, c), cell(from, i, c), to->width[c]);
  (*n)++;
}

/* ---- the history ---- */

SpnHistory *
spn_history_new(int nlayers, int nheads)
{
  return spn_history_new_full(nlayers, nheads, FALSE);
}

SpnHistory *
spn_history_new_full(int nlayers, int nheads, gboolean persistent)
{
  g_return_val_if_fail(nlayers > 0 && nheads > 0, NULL);
  SpnHistory *h = g_atomic_rc_box_new0(SpnHistory);
  h->nlayers = nlayers;
  h->nheads = nheads;
  h->persistent = persistent;
  h->store = g_atomic_rc_box_new0(SpnHistoryStore);
  Table *rows = &h->store->t[T_ROWS], *valid = &h->store->t[T_VALID];
  Table *logged = &h->store->t[T_LOGGED];
  gsize heads = sizeof(float) * (gsize)nlayers * nheads;
  rows->n_cols = 8;
  rows->width[COL_STEP] = sizeof(gint64);
  rows->width[COL_TRAIN] = rows->width[COL_TPS] = sizeof(float);
  rows->width[COL_SPANS] = heads;
  rows->width[COL_FLOPS] = rows->width[COL_ATTN] = rows->width[COL_CACHE] = sizeof(float);
  rows->width[COL_PERS] = persistent ? heads : 0;
  valid->n_cols = 2;
  valid->width[VCOL_STEP] = sizeof(gint64);
  valid->width[VCOL_BPC] = sizeof(float);
  logged->n_cols = 3;
  logged->width[LCOL_STEP] = sizeof(gint64);
  logged->width[LCOL_AVG] = logged->width[LCOL_MAX] = sizeof(float);
  return h;
}

SpnHistory *
spn_history_ref(SpnHistory *h)
{
  return g_atomic_rc_box_acquire(h);
}

static void
history_clear(gpointer data)
{
  SpnHistory *h = data;
  g_atomic_rc_box_release_full(h->store, store_clear);
}

void
spn_history_unref(SpnHistory *h)
{
  if (h != NULL)
    g_atomic_rc_box_release_full(h, history_clear);
}

SpnHistory *
spn_history_snapshot(const SpnHistory *h)
{
  if (h->frozen)
    return spn_history_ref((SpnHistory *)h);
  SpnHistory *s = (g_atomic_rc_box_dup)(sizeof *h, h); /* the function: h is const */
  s->store = g_atomic_rc_box_acquire(h->store);
  s->frozen = TRUE;
  return s;
}

void
spn_history_append_row(SpnHistory *h, const SpnHistoryRow *row)
{
  g_return_if_fail(!h->frozen && h->n < G_MAXINT);
  Table *t = &h->store->t[T_ROWS];
  int i = h->n;
  *(gint64 *)cell_for_write(t, i, COL_STEP) = row->step;
  *(float *)cell_for_write(t, i, COL_TRAIN) = (float)row->train_bpc;
  *(float *)cell_for_write(t, i, COL_TPS) = (float)row->tokens_per_s;
  memcpy(cell_for_write(t, i, COL_SPANS), row->spans, t->width[COL_SPANS]);
  *(float *)cell_for_write(t, i, COL_FLOPS) = (float)row->flops_per_char;
  *(float *)cell_for_write(t, i, COL_ATTN) = (float)row->attn_flops_per_char;
  *(float *)cell_for_write(t, i, COL_CACHE) = (float)row->cache_bytes;
  if (h->persistent) {
    float *share = (float *)cell_for_write(t, i, COL_PERS);
    for (int k = 0; k < h->nlayers * h->nheads; k++)
      share[k] = row->pers_share != NULL ? row->pers_share[k] : NAN;
  }
  h->n++;
}

void
spn_history_append(SpnHistory *h, gint64 step, double train_bpc, double tokens_per_s,
                   const float *spans)
{
  SpnHistoryRow row = {.step = step, .train_bpc = train_bpc, .tokens_per_s = tokens_per_s,
                       .spans = spans, .flops_per_char = NAN, .attn_flops_per_char = NAN,
                       .cache_bytes = NAN};
  spn_history_append_row(h, &row);
}

/* A measurement without the order check, for histories read from files (checked whole). */
static void
push_valid(SpnHistory *h, gint64 step, double bpc)
{
  Table *t = &h->store->t[T_VALID];
  *(gint64 *)cell_for_write(t, h->n_valid, VCOL_STEP) = step;
  *(float *)cell_for_write(t, h->n_valid, VCOL_BPC) = (float)bpc;
  h->n_valid++;
}

static void
push_logged(SpnHistory *h, gint64 step, double avg, double max)
{
  Table *t = &h->store->t[T_LOGGED];
  *(gint64 *)cell_for_write(t, h->n_logged, LCOL_STEP) = step;
  *(float *)cell_for_write(t, h->n_logged, LCOL_AVG) = (float)avg;
  *(float *)cell_for_write(t, h->n_logged, LCOL_MAX) = (float)max;
  h->n_logged++;
}

void
spn_history_add_valid(SpnHistory *h, gint64 step, double bpc)
{
  g_return_if_fail(!h->frozen && h->n_valid < G_MAXINT);
  g_return_if_fail(h->n_valid == 0 || step >= spn_history_valid_step(h, h->n_valid - 1));
  push_valid(h, step, bpc);
}

void
spn_history_add_logged_spans(SpnHistory *h, gint64 step, double span_avg, double span_max)
{
  g_return_if_fail(!h->frozen && h->n_logged < G_MAXINT);
  g_return_if_fail(h->n_logged == 0 || step >= spn_history_logged_step(h, h->n_logged - 1));
  push_logged(h, step, span_avg, span_max);
}

gint64
spn_history_step(const SpnHistory *h, int i)
{
  return step_at(h, T_ROWS, i);
}

float
spn_history_train_bpc(const SpnHistory *h, int i)
{
  return *(const float *)cell(&h->store->t[T_ROWS], i, COL_TRAIN);
}

float
spn_history_tokens_per_s(const SpnHistory *h, int i)
{
  return *(const float *)cell(&h->store->t[T_ROWS], i, COL_TPS);
}

const float *
spn_history_row_spans(const SpnHistory *h, int i)
{
  return (const float *)cell(&h->store->t[T_ROWS], i, COL_SPANS);
}

float
spn_history_flops_per_char(const SpnHistory *h, int i)
{
  return *(const float *)cell(&h->store->t[T_ROWS], i, COL_FLOPS);
}

float
spn_history_attn_flops_per_char(const SpnHistory *h, int i)
{
  return *(const float *)cell(&h->store->t[T_ROWS], i, COL_ATTN);
}

float
spn_history_cache_bytes(const SpnHistory *h, int i)
{
  return *(const float *)cell(&h->store->t[T_ROWS], i, COL_CACHE);
}

const float *
spn_history_row_pers_share(const SpnHistory *h, int i)
{
  return h->persistent ? (const float *)cell(&h->store->t[T_ROWS], i, COL_PERS) : NULL;
}

gint64
spn_history_valid_step(const SpnHistory *h, int i)
{
  return step_at(h, T_VALID, i);
}

float
spn_history_valid_bpc(const SpnHistory *h, int i)
{
  return *(const float *)cell(&h->store->t[T_VALID], i, VCOL_BPC);
}

gint64
spn_history_logged_step(const SpnHistory *h, int i)
{
  return step_at(h, T_LOGGED, i);
}

float
spn_history_logged_span_avg(const SpnHistory *h, int i)
{
  return *(const float *)cell(&h->store->t[T_LOGGED], i, LCOL_AVG);
}

float
spn_history_logged_span_max(const SpnHistory *h, int i)
{
  return *(const float *)cell(&h->store->t[T_LOGGED], i, LCOL_MAX);
}

/* The last entry of table k at or before step, -1 when none (the steps never decrease). */
static int
last_at_or_before(const SpnHistory *h, int k, gint64 step)
{
  int lo = 0, hi = length_of(h, k);
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    if (step_at(h, k, mid) <= step)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo - 1;
}

/* The last entry of table k exactly at step, -1 when none. */
static int
last_at(const SpnHistory *h, int k, gint64 step)
{
  int i = last_at_or_before(h, k, step);
  return i >= 0 && step_at(h, k, i) == step ? i : -1;
}

gboolean
spn_history_valid_current(const SpnHistory *h, int i)
{
  return i == h->n_valid - 1 || spn_history_valid_step(h, i + 1) != spn_history_valid_step(h, i);
}

int
spn_history_valid_at(const SpnHistory *h, gint64 step)
{
  return last_at(h, T_VALID, step);
}

int
spn_history_logged_at(const SpnHistory *h, gint64 step)
{
  return h->n_logged ? last_at(h, T_LOGGED, step) : -1;
}

gboolean
spn_history_span_stats_at(const SpnHistory *h, gint64 step, const float *spans, double *mean,
                          double *max)
{
  int g = spn_history_logged_at(h, step);
  if (g < 0) {
    spn_span_stats(spans, h->nlayers * h->nheads, mean, max);
    return FALSE;
  }
  *mean = spn_history_logged_span_avg(h, g);
  *max = spn_history_logged_span_max(h, g);
  return TRUE;
}

int
spn_history_latest_valid(const SpnHistory *h)
{
  for (int i = h->n_valid - 1; i >= 0; i--)
    if (spn_history_valid_current(h, i) && !isnan(spn_history_valid_bpc(h, i)))
      return i;
  return -1;
}

gboolean
spn_history_chunk(const SpnHistory *h, int j, SpnHistoryChunk *c)
{
  if (!chunk_range(h->n, j, &c->first, &c->n))
    return FALSE;
  const Table *t = &h->store->t[T_ROWS];
  c->step = (const gint64 *)column(t, j, COL_STEP);
  c->train_bpc = (const float *)column(t, j, COL_TRAIN);
  c->tokens_per_s = (const float *)column(t, j, COL_TPS);
  c->spans = (const float *)column(t, j, COL_SPANS);
  c->flops_per_char = (const float *)column(t, j, COL_FLOPS);
  c->attn_flops_per_char = (const float *)column(t, j, COL_ATTN);
  c->cache_bytes = (const float *)column(t, j, COL_CACHE);
  c->pers_share = h->persistent ? (const float *)column(t, j, COL_PERS) : NULL;
  return TRUE;
}

gboolean
spn_history_valid_chunk(const SpnHistory *h, int j, SpnHistoryValidChunk *c)
{
  if (!chunk_range(h->n_valid, j, &c->first, &c->n))
    return FALSE;
  const Table *t = &h->store->t[T_VALID];
  c->step = (const gint64 *)column(t, j, VCOL_STEP);
  c->bpc = (const float *)column(t, j, VCOL_BPC);
  return TRUE;
}

int
spn_history_column_length(const SpnHistory *h, SpnHistoryColumn col)
{
  return length_of(h, columns[col].table);
}

gboolean
spn_history_column(const SpnHistory *h, SpnHistoryColumn col, int j, const void **data,
                   gsize *n_bytes)
{
  if (col < 0 || col >= SPN_HISTORY_N_COLUMNS)
    return FALSE;
  const Table *t = &h->store->t[columns[col].table];
  int c = columns[col].col, first, len;
  if (t->width[c] == 0 || !chunk_range(spn_history_column_length(h, col), j, &first, &len))
    return FALSE;
  *data = column(t, j, c);
  *n_bytes = t->width[c] * (gsize)len;
  return TRUE;
}

/* Value i of a float column, NaN when the column is unknown. */
static double
column_value(const void *const *data, SpnHistoryColumn col, int i)
{
  return data[col] != NULL ? ((const float *)data[col])[i] : NAN;
}

SpnHistory *
spn_history_new_from_columns(int nlayers, int nheads, gboolean persistent, int n, int m, int k,
                             const void *const data[SPN_HISTORY_N_COLUMNS], GError **error)
{
  SpnHistory *h = spn_history_new_full(nlayers, nheads, persistent);
  gsize per_row = (gsize)nlayers * nheads;
  g_autofree float *nan_row = g_new(float, per_row);
  for (gsize s = 0; s < per_row; s++)
    nan_row[s] = NAN;
  const float *spans = data[SPN_HISTORY_SPANS], *share = data[SPN_HISTORY_PERS_SHARE];
  const gint64 *step = data[SPN_HISTORY_STEP], *valid_step = data[SPN_HISTORY_VALID_STEP];
  const gint64 *logged_step = data[SPN_HISTORY_LOGGED_STEP];
  for (int i = 0; i < n; i++) {
    SpnHistoryRow row = {
      .step = step[i],
      .train_bpc = column_value(data, SPN_HISTORY_TRAIN_BPC, i),
      .tokens_per_s = column_value(data, SPN_HISTORY_TOKENS_PER_S, i),
      .spans = spans != NULL ? spans + per_row * i : nan_row,
      .flops_per_char = column_value(data, SPN_HISTORY_FLOPS_PER_CHAR, i),
      .attn_flops_per_char = column_value(data, SPN_HISTORY_ATTN_FLOPS_PER_CHAR, i),
      .cache_bytes = column_value(data, SPN_HISTORY_CACHE_BYTES, i),
      .pers_share = share != NULL ? share + per_row * i : NULL,
    };
    spn_history_append_row(h, &row);
  }
  for (int i = 0; i < m; i++)
    push_valid(h, valid_step[i], column_value(data, SPN_HISTORY_VALID_BPC, i));
  for (int i = 0; i < k; i++)
    push_logged(h, logged_step[i], column_value(data, SPN_HISTORY_LOGGED_SPAN_AVG, i),
                column_value(data, SPN_HISTORY_LOGGED_SPAN_MAX, i));
  if (!spn_history_check(h, error)) {
    spn_history_unref(h);
    return NULL;
  }
  return h;
}

/* The entries of every table of src with a step in (after, upto], appended to dst in order. */
static void
copy_entries(SpnHistory *dst, const SpnHistory *src, gint64 after, gint64 upto)
{
  for (int k = 0; k < N_TABLES; k++)
    for (int i = last_at_or_before(src, k, after) + 1;
         i < length_of(src, k) && step_at(src, k, i) <= upto; i++)
      copy_entry(dst, k, src, i);
}

/* Whether h holds anything after step. */
static gboolean
holds_after(const SpnHistory *h, gint64 step)
{
  for (int k = 0; k < N_TABLES; k++) {
    int n = length_of(h, k);
    if (n > 0 && step_at(h, k, n - 1) > step)
      return TRUE;
  }
  return FALSE;
}

SpnHistory *
spn_history_continued(SpnHistory *h, gint64 base, SpnHistory *newer)
{
  if (newer->nlayers != h->nlayers || newer->nheads != h->nheads ||
      newer->persistent != h->persistent || newer->n == 0 ||
      spn_history_step(newer, newer->n - 1) < base)
    return spn_history_ref(newer);
  SpnHistory *out;
  if (!h->frozen && !holds_after(h, base))
    out = spn_history_ref(h);
  else {
    out = spn_history_new_full(h->nlayers, h->nheads, h->persistent);
    copy_entries(out, h, G_MININT64, base);
  }
  copy_entries(out, newer, base, G_MAXINT64);
  return out;
}

void
spn_span_stats(const float *spans, int n, double *mean, double *max)
{
  double sum = 0.0, mx = NAN;
  int count = 0;
  for (int k = 0; spans != NULL && k < n; k++) {
    if (!isfinite(spans[k]))
      continue;
    sum += spans[k];
    mx = count ? MAX(mx, spans[k]) : spans[k];
    count++;
  }
  *mean = count ? sum / count : NAN;
  *max = mx;
}

/* ---- checks and the legacy JSON ---- */

static gboolean
check_order(int n, gint64 (*step)(const SpnHistory *, int), const SpnHistory *h, const char *what,
            GError **error)
{
  for (int i = 1; i < n; i++)
    if (step(h, i) < step(h, i - 1)) {
      g_set_error(error, SPN_HISTORY_ERROR, SPN_HISTORY_ERROR_FORMAT,
                  "metrics history: %s %d is at step %" G_GINT64_FORMAT ", before the step of "
                  "the one before it (%" G_GINT64_FORMAT ")",
                  what, i, step(h, i), step(h, i - 1));
      return FALSE;
    }
  return TRUE;
}

gboolean
spn_history_check(const SpnHistory *h, GError **error)
{
  return check_order(h->n, spn_history_step, h, "row", error) &&
         check_order(h->n_valid, spn_history_valid_step, h, "validation measurement", error) &&
         check_order(h->n_logged, spn_history_logged_step, h, "logged span statistics", error);
}

/* What is wrong with a legacy history, said as "metrics history: …" (format, then arguments). */
#define LEGACY_ERROR(error, ...)                                                                   \
  g_set_error(error, SPN_HISTORY_ERROR, SPN_HISTORY_ERROR_FORMAT, "metrics history: " __VA_ARGS__)

/* That writer spelled ±Inf `inf.0` and `-inf.0` (json-glib's output for them), which no JSON
 * parser reads; quoted, they parse, and number_at() reads them back. */
static char *
quote_infinities(const char *json)
{
  GString *s = g_string_sized_new(strlen(json) + 16);
  gboolean in_string = FALSE;
  for (const char *p = json; *p; p++) {
    if (in_string) {
      if (*p == '\\' && p[1] != '\0')
        g_string_append_c(s, *p++);
      else if (*p == '"')
        in_string = FALSE;
    } else if (*p == '"') {
      in_string = TRUE;
    } else if (g_str_has_prefix(p, "-inf.0") || g_str_has_prefix(p, "inf.0")) {
      gboolean neg = *p == '-';
      g_string_append(s, neg ? "\"-inf\"" : "\"inf\"");
      p += neg ? 5 : 4;
      continue;
    }
    g_string_append_c(s, *p);
  }
  return g_string_free(s, FALSE);
}

static double
number_at(JsonArray *a, guint i)
{
  JsonNode *n = json_array_get_element(a, i);
  if (!JSON_NODE_HOLDS_VALUE(n))
    return NAN;
  GType type = json_node_get_value_type(n);
  if (type == G_TYPE_STRING) {
    const char *s = json_node_get_string(n);
    return g_strcmp0(s, "inf") == 0 ? INFINITY : g_strcmp0(s, "-inf") == 0 ? -INFINITY : NAN;
  }
  return type == G_TYPE_BOOLEAN ? NAN : json_node_get_double(n);
}

static JsonArray *
legacy_column(JsonObject *o, const char *name, guint64 expected, GError **error)
{
  JsonNode *n = json_object_get_member(o, name);
  if (n == NULL || !JSON_NODE_HOLDS_ARRAY(n)) {
    LEGACY_ERROR(error, "member \"%s\" is missing or not an array", name);
    return NULL;
  }
  JsonArray *a = json_node_get_array(n);
  if (expected != G_MAXUINT64 && json_array_get_length(a) != expected) {
    LEGACY_ERROR(error, "\"%s\" has %u values, expected %" G_GUINT64_FORMAT, name,
                 json_array_get_length(a), expected);
    return NULL;
  }
  return a;
}

static gboolean
legacy_steps(JsonArray *a, GError **error)
{
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonNode *n = json_array_get_element(a, i);
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64) {
      LEGACY_ERROR(error, "\"step\" %u is not an integer", i);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
legacy_rows(SpnHistory *h, JsonObject *o, GError **error)
{
  JsonArray *step = legacy_column(o, "step", G_MAXUINT64, error);
  if (step == NULL || !legacy_steps(step, error))
    return FALSE;
  guint n = json_array_get_length(step), per_row = (guint)(h->nlayers * h->nheads);
  JsonArray *train = legacy_column(o, "train_bpc", n, error);
  JsonArray *val = train ? legacy_column(o, "val_bpc", n, error) : NULL;
  JsonArray *tps = val ? legacy_column(o, "tokens_per_s", n, error) : NULL;
  /* 64 bits: n × layers × heads can pass 2^32 (64 layers × 256 heads × 300k rows), and the
   * spans column must really hold that many values before they are read */
  JsonArray *spans = tps ? legacy_column(o, "spans", (guint64)n * per_row, error) : NULL;
  if (spans == NULL)
    return FALSE;
  g_autofree float *row = g_new(float, per_row);
  for (guint i = 0; i < n; i++) {
    for (guint k = 0; k < per_row; k++)
      row[k] = (float)number_at(spans, i * per_row + k);
    gint64 s = json_array_get_int_element(step, i);
    spn_history_append(h, s, number_at(train, i), number_at(tps, i), row);
    /* that format had one validation slot per row, null when nothing was measured */
    if (!JSON_NODE_HOLDS_NULL(json_array_get_element(val, i)))
      push_valid(h, s, number_at(val, i));
  }
  return TRUE;
}

SpnHistory *
spn_history_from_legacy_json(const char *json, int nlayers, int nheads, GError **error)
{
  g_autofree char *quoted = quote_infinities(json);
  g_autoptr(JsonParser) p =
      spn_json_read(quoted, strlen(quoted), G_MAXSIZE, SPN_JSON_MAX_DEPTH, TRUE, "the text",
                    SPN_HISTORY_ERROR, SPN_HISTORY_ERROR_FORMAT, error);
  if (p == NULL) {
    g_prefix_error(error, "metrics history: ");
    return NULL;
  }
  JsonObject *o = spn_json_root_object(p);
  gint64 nl = 0, nh = 0;
  /* read only as integers: json-glib's typed getters complain (CRITICAL) of any other node */
  if (!spn_json_get_int(json_object_get_member(o, "nlayers"), &nl) ||
      !spn_json_get_int(json_object_get_member(o, "nheads"), &nh)) {
    LEGACY_ERROR(error, "\"nlayers\" and \"nheads\" must be integers");
    return NULL;
  }
  if (nl != nlayers || nh != nheads) {
    LEGACY_ERROR(error,
                 "it is of %" G_GINT64_FORMAT " layers × %" G_GINT64_FORMAT " heads, the "
                 "model has %d × %d",
                 nl, nh, nlayers, nheads);
    return NULL;
  }
  SpnHistory *h = spn_history_new(nlayers, nheads);
  if (!legacy_rows(h, o, error) || !spn_history_check(h, error)) {
    spn_history_unref(h);
    return NULL;
  }
  return h;
}

/* ---- CSV ---- */

static void
csv_number(GString *s, float v)
{
  g_string_append_c(s, ',');
  if (!isnan(v)) {
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    g_string_append(s, g_ascii_formatd(buf, sizeof buf, "%.6g", v));
  }
}

static void
csv_heads(GString *s, const SpnHistory *h, const char *name)
{
  for (int l = 0; l < h->nlayers; l++)
    for (int k = 0; k < h->nheads; k++)
      g_string_append_printf(s, ",%s_l%dh%d", name, l, k);
}

static void
csv_values(GString *s, const float *v, int n)
{
  for (int k = 0; k < n; k++)
    csv_number(s, v[k]);
}

gboolean
spn_history_write_csv(const SpnHistory *h, const SpnCost *full, const char *path, GError **error)
{
  int per_row = h->nlayers * h->nheads;
  GString *s = g_string_new("step,train_bpc,val_bpc,tokens_per_s,span_avg,span_max,"
                            "flops_per_char,attn_flops_per_char,cache_bytes");
  if (full != NULL)
    g_string_append(s, ",flops_per_char_full_span,cache_bytes_full_span");
  csv_heads(s, h, "span");
  if (h->persistent)
    csv_heads(s, h, "pers_share");
  g_string_append_c(s, '\n');
  SpnHistoryChunk c;
  for (int j = 0; spn_history_chunk(h, j, &c); j++)
    for (int i = 0; i < c.n; i++) {
      const float *spans = c.spans + (gsize)i * per_row;
      double avg, mx;
      spn_history_span_stats_at(h, c.step[i], spans, &avg, &mx);
      int v = spn_history_valid_at(h, c.step[i]);
      g_string_append_printf(s, "%" G_GINT64_FORMAT, c.step[i]);
      csv_number(s, c.train_bpc[i]);
      csv_number(s, v >= 0 ? spn_history_valid_bpc(h, v) : NAN);
      csv_number(s, c.tokens_per_s[i]);
      csv_number(s, (float)avg);
      csv_number(s, (float)mx);
      csv_number(s, c.flops_per_char[i]);
      csv_number(s, c.attn_flops_per_char[i]);
      csv_number(s, c.cache_bytes[i]);
      if (full != NULL) {
        csv_number(s, (float)full->flops);
        csv_number(s, (float)full->cache_bytes);
      }
      csv_values(s, spans, per_row);
      if (c.pers_share != NULL)
        csv_values(s, c.pers_share + (gsize)i * per_row, per_row);
      g_string_append_c(s, '\n');
    }
  g_autoptr(GError) local = NULL;
  gboolean ok = spn_save_bytes(path, s->str, s->len, &local);
  if (!ok)
    g_set_error(error, SPN_HISTORY_ERROR, SPN_HISTORY_ERROR_IO, "cannot write the metrics CSV: %s",
                local->message);
  g_string_free(s, TRUE);
  return ok;
}
