/* history.h — the metrics of a training run, one row per optimizer step: what the training
 * curves and the span history draw, what checkpoints carry and what the CSV export writes. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  int nlayers, nheads;   /* spans per row: nlayers × nheads */
  int n, cap;            /* rows used, rows allocated */
  gint64 *step;          /* optimizer step (1-based) */
  float *train_bpc;      /* NLL of that step's block, bits per token */
  float *val_bpc;        /* validation bpc measured after that step, NaN when not measured */
  float *tokens_per_s;   /* training throughput around that step, NaN when unknown */
  float *spans;          /* n × nlayers × nheads, z·S in characters after the step */
} SpnHistory;

SpnHistory *spn_history_new(int nlayers, int nheads);
void spn_history_free(SpnHistory *h);
SpnHistory *spn_history_copy(const SpnHistory *h);
/* spans: nlayers × nheads values. val_bpc / tokens_per_s may be NaN. */
void spn_history_append(SpnHistory *h, gint64 step, double train_bpc, double val_bpc,
                        double tokens_per_s, const float *spans);
/* Sets the validation bpc of the last row (no-op when empty). */
void spn_history_set_val(SpnHistory *h, double val_bpc);
/* The spans of row i: nlayers × nheads values. */
const float *spn_history_row_spans(const SpnHistory *h, int i);

/* Mean and longest of n spans (a row of the history, a snapshot's, the model's), over the finite
 * ones; both NaN when none is. The one definition behind every "span avg / max" shown. */
void spn_span_stats(const float *spans, int n, double *mean, double *max);

/* JSON object {"nlayers","nheads","step":[],"train_bpc":[],"val_bpc":[null|x],
 * "tokens_per_s":[], "spans":[[...L·K...],...]}, for checkpoint metadata. */
char *spn_history_to_json(const SpnHistory *h);
/* Errors say which member is missing or of the wrong length. */
SpnHistory *spn_history_from_json(const char *json, GError **error);
/* step,train_bpc,val_bpc,tokens_per_s,span_avg,span_max,span_l0h0,... written to a temporary
 * file and renamed. */
gboolean spn_history_write_csv(const SpnHistory *h, const char *path, GError **error);

#define SPN_HISTORY_ERROR (spn_history_error_quark())
GQuark spn_history_error_quark(void);
typedef enum {
  SPN_HISTORY_ERROR_FORMAT,   /* the JSON is not a metrics history */
  SPN_HISTORY_ERROR_IO,       /* the CSV could not be written */
} SpnHistoryError;

G_END_DECLS
