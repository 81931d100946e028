/* summary.h — one run in numbers, from its snapshot: what the comparison of runs tabulates
 * (the figure, `spanscope-cli export` with several checkpoints, experiments/paper_claims.py). */
#pragma once
#include <glib.h>

#include "snapshot.h"

G_BEGIN_DECLS

typedef struct {
  gint64 step;              /* the run's step */
  double chars;             /* characters trained on: step × B × M */
  double final_valid;       /* the latest validation bpc that counts, NaN when none */
  gint64 final_valid_step;
  double best_valid;        /* the lowest, NaN when none */
  gint64 best_valid_step;
  double final_train;       /* mean train bpc of the last min(n, 100) rows, NaN when none */
  gsize params;             /* parameters of the model */
  double span_mean, span_max;   /* of the current spans (S everywhere without adaptive span) */
} SpnRunSummary;

void spn_run_summary(const SpnSnapshot *s, SpnRunSummary *out);

/* Characters one training step reads: B streams × M. */
static inline double
spn_chars_per_step(const SpnConfig *c)
{
  return (double)c->batch_sz * c->block_sz;
}

G_END_DECLS
