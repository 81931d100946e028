/* history.h — the metrics of a training run: one row per optimizer step (the step's train bpc,
 * throughput and every head's span) and, as a series of its own, the validation measurements.
 * What the training curves and the span history draw, what checkpoints carry and what the CSV
 * export writes.
 *
 * A history only grows, and it is reference counted (g_atomic_rc_box). Its rows live in chunks
 * of doubling size that never move once allocated and are never written again once filled, so
 * spn_history_snapshot() can hand out the rows so far in constant time, whatever the length:
 * the snapshot shares the chunks of the history it was taken from, while that one goes on
 * appending. A validation measurement is a row of its own series, never an edit of a published
 * row; so are the span statistics the reference's main.py logged (an imported run's history has
 * them where it has no per-head spans). The history that appends (the trainer's) belongs to one
 * thread; its snapshots may go to any thread. */
#pragma once
#include <glib.h>

#include "cost.h"

G_BEGIN_DECLS

typedef struct _SpnHistoryStore SpnHistoryStore;

typedef struct {
  int nlayers, nheads; /* spans per row: nlayers × nheads */
  gboolean persistent; /* rows carry each head's share of attention on persistent memory */
  int n;               /* rows */
  int n_valid;         /* validation measurements */
  int n_logged;        /* span statistics logged by the reference's main.py */
  /*< private >*/
  SpnHistoryStore *store; /* the chunks, shared with snapshots */
  gboolean frozen;        /* a snapshot: appending is refused */
} SpnHistory;

/* An empty history that appends. nlayers ≥ 1, nheads ≥ 1 (a model's). */
SpnHistory *spn_history_new(int nlayers, int nheads);
/* The same for a model with persistent memory when `persistent` (spn_history_new: without). */
SpnHistory *spn_history_new_full(int nlayers, int nheads, gboolean persistent);
SpnHistory *spn_history_ref(SpnHistory *h);
void spn_history_unref(SpnHistory *h);
/* The rows and measurements of h so far, immutable, sharing h's chunks (constant time; a
 * snapshot of a snapshot is the same object). Taken on the thread that appends to h. */
SpnHistory *spn_history_snapshot(const SpnHistory *h);

/* One step. Any value may be NaN (unknown) or infinite. */
typedef struct {
  gint64 step;
  double train_bpc, tokens_per_s;
  const float *spans;         /* nlayers × nheads, z·S after the step */
  /* what the step cost (engine/cost.h), with the spans it started with */
  double flops_per_char, attn_flops_per_char, cache_bytes;
  const float *pers_share;    /* nlayers × nheads: each head's mean attention on its persistent
                                 vectors in the step; NULL: unknown (kept by persistent
                                 histories only) */
} SpnHistoryRow;
void spn_history_append_row(SpnHistory *h, const SpnHistoryRow *row);
/* A row whose cost and persistent shares are unknown (NaN). */
void spn_history_append(SpnHistory *h, gint64 step, double train_bpc, double tokens_per_s,
                        const float *spans);
/* A validation bpc measured after `step` (not before the last measurement's step). Another
 * measurement at the same step supersedes it: figures and the CSV show the last one. */
void spn_history_add_valid(SpnHistory *h, gint64 step, double bpc);

/* The mean and longest span main.py's logger recorded after `step` (not before the last one's
 * step): per layer ceil(z·S) of the heads' mean (or largest) z plus the ramp R, at most S; the
 * mean of the layers' values and the largest. Kept as logged, to be shown and handed back. */
void spn_history_add_logged_spans(SpnHistory *h, gint64 step, double span_avg, double span_max);

/* Row i (0 ≤ i < n). */
gint64 spn_history_step(const SpnHistory *h, int i);
float spn_history_train_bpc(const SpnHistory *h, int i);
float spn_history_tokens_per_s(const SpnHistory *h, int i);
const float *spn_history_row_spans(const SpnHistory *h, int i); /* nlayers × nheads */
float spn_history_flops_per_char(const SpnHistory *h, int i);
float spn_history_attn_flops_per_char(const SpnHistory *h, int i);
float spn_history_cache_bytes(const SpnHistory *h, int i);
/* nlayers × nheads, NULL when the history is not persistent */
const float *spn_history_row_pers_share(const SpnHistory *h, int i);

/* Validation measurement i (0 ≤ i < n_valid), in the order they were taken. */
gint64 spn_history_valid_step(const SpnHistory *h, int i);
float spn_history_valid_bpc(const SpnHistory *h, int i);
/* Whether measurement i is the last one at its step (the one that counts). */
gboolean spn_history_valid_current(const SpnHistory *h, int i);
/* The measurement that counts at `step`, -1 when none. */
int spn_history_valid_at(const SpnHistory *h, gint64 step);
/* The latest measurement that counts and is not NaN, -1 when none. */
int spn_history_latest_valid(const SpnHistory *h);

/* Logged span statistics i (0 ≤ i < n_logged). */
gint64 spn_history_logged_step(const SpnHistory *h, int i);
float spn_history_logged_span_avg(const SpnHistory *h, int i);
float spn_history_logged_span_max(const SpnHistory *h, int i);
/* The last logged statistics at `step`, -1 when none. */
int spn_history_logged_at(const SpnHistory *h, gint64 step);

/* The mean and longest span shown for the row at `step` whose spans are `spans` (nlayers ×
 * nheads): what main.py logged at that step when the history holds it (its own definition,
 * above), else spn_span_stats of the spans. TRUE when they are main.py's. The one rule behind
 * the curves and the CSV. */
gboolean spn_history_span_stats_at(const SpnHistory *h, gint64 step, const float *spans,
                                   double *mean, double *max);

/* The rows in consecutive pieces, for going over all of them without a lookup per row: chunk
 * j holds rows first … first + n − 1 in arrays of n values (spans: n × nlayers × nheads). */
typedef struct {
  int first, n;
  const gint64 *step;
  const float *train_bpc, *tokens_per_s, *spans;
  const float *flops_per_char, *attn_flops_per_char, *cache_bytes;
  const float *pers_share; /* n × nlayers × nheads, NULL when the history is not persistent */
} SpnHistoryChunk;
typedef struct {
  int first, n;
  const gint64 *step;
  const float *bpc;
} SpnHistoryValidChunk;
/* Fills c with chunk j (from 0) of the rows / of the measurements; FALSE past the last. */
gboolean spn_history_chunk(const SpnHistory *h, int j, SpnHistoryChunk *c);
gboolean spn_history_valid_chunk(const SpnHistory *h, int j, SpnHistoryValidChunk *c);

/* The columns as stored, each the raw bytes of its chunks: what a checkpoint writes. */
typedef enum {
  SPN_HISTORY_STEP,                /* gint64 per row */
  SPN_HISTORY_TRAIN_BPC,           /* float per row */
  SPN_HISTORY_TOKENS_PER_S,        /* float per row */
  SPN_HISTORY_SPANS,               /* nlayers × nheads floats per row */
  SPN_HISTORY_FLOPS_PER_CHAR,      /* float per row */
  SPN_HISTORY_ATTN_FLOPS_PER_CHAR, /* float per row */
  SPN_HISTORY_CACHE_BYTES,         /* float per row */
  SPN_HISTORY_PERS_SHARE,          /* nlayers × nheads floats per row; none when not persistent */
  SPN_HISTORY_VALID_STEP,          /* gint64 per measurement */
  SPN_HISTORY_VALID_BPC,           /* float per measurement */
  SPN_HISTORY_LOGGED_STEP,         /* gint64 per logged statistics */
  SPN_HISTORY_LOGGED_SPAN_AVG,     /* float per logged statistics */
  SPN_HISTORY_LOGGED_SPAN_MAX,     /* float per logged statistics */
  SPN_HISTORY_N_COLUMNS
} SpnHistoryColumn;
/* Column col of chunk j: *data and *n_bytes; FALSE past the last chunk and for a column the
 * history does not keep. */
gboolean spn_history_column(const SpnHistory *h, SpnHistoryColumn col, int j, const void **data,
                            gsize *n_bytes);
/* The number of values (rows, measurements or logged statistics) column col holds. */
int spn_history_column_length(const SpnHistory *h, SpnHistoryColumn col);
/* A history of n rows, m measurements and k logged statistics from whole columns (copied), as
 * a checkpoint holds them: data[col] for every column (spans and shares n × nlayers × nheads;
 * NULL where its length is 0). A NULL row column but the step is unknown (NaN), as in files
 * written before it existed; shares are kept only when `persistent`. Checked with
 * spn_history_check(); NULL with error if not. */
SpnHistory *spn_history_new_from_columns(int nlayers, int nheads, gboolean persistent, int n,
                                         int m, int k,
                                         const void *const data[SPN_HISTORY_N_COLUMNS],
                                         GError **error);

/* What the history of a followed run (engine/follow.h) becomes when a newer version of it
 * arrives: h's rows, measurements and logged statistics up to step `base` (the step of the
 * version h was last taken from), then newer's after it, so each version extends what was
 * shown. h itself, appended to, when it holds nothing after base (nothing was trained here since)
 * and is not a snapshot; else a new history with h's entries up to base copied — published
 * rows are never edited. newer itself when it is of another shape (heads or persistent memory)
 * or ends before base (the run went back). A new reference. */
SpnHistory *spn_history_continued(SpnHistory *h, gint64 base, SpnHistory *newer);

/* Mean and longest of n spans (a row of the history, a snapshot's, the model's), over the finite
 * ones; both NaN when none is. The one definition behind every "span avg / max" shown. */
void spn_span_stats(const float *spans, int n, double *mean, double *max);

/* Whether steps never decrease, rows, measurements and logged statistics each; the error says
 * where. What a history read from a file must satisfy (the figures look steps up by bisection). */
gboolean spn_history_check(const SpnHistory *h, GError **error);
/* The history of checkpoints written before it was stored as tensors: a JSON object
 * {"nlayers","nheads","step":[],"train_bpc":[],"val_bpc":[null|x],"tokens_per_s":[],
 * "spans":[...]} of a model of nlayers × nheads, whose infinite values that writer spelled
 * `inf.0` and `-inf.0`. Errors say which member is missing, of the wrong length or shape. */
SpnHistory *spn_history_from_legacy_json(const char *json, int nlayers, int nheads, GError **error);
/* step,train_bpc,val_bpc,tokens_per_s,span_avg,span_max,flops_per_char,attn_flops_per_char,
 * cache_bytes[,flops_per_char_full_span,cache_bytes_full_span],span_l0h0,…[,pers_share_l0h0,…]
 * (span_avg and span_max as spn_history_span_stats_at) written to a temporary file and renamed.
 * full (may be NULL): the cost with every head at S (engine/cost.h): its flops_per_char and
 * cache_bytes, written in every row. */
gboolean spn_history_write_csv(const SpnHistory *h, const SpnCost *full, const char *path,
                               GError **error);

#define SPN_HISTORY_ERROR (spn_history_error_quark())
GQuark spn_history_error_quark(void);
typedef enum {
  SPN_HISTORY_ERROR_FORMAT, /* not a metrics history of this model */
  SPN_HISTORY_ERROR_IO,     /* the CSV could not be written */
} SpnHistoryError;

G_DEFINE_AUTOPTR_CLEANUP_FUNC(SpnHistory, spn_history_unref)

G_END_DECLS
