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
  double flops_per_char;        /* training FLOPs of a character at the current spans (cost.h) */
  double flops_per_char_full;   /* the same with every head at S */
  double train_flops;           /* training FLOPs over the history's steps, NaN without one */
} SpnRunSummary;

void spn_run_summary(const SpnSnapshot *s, SpnRunSummary *out);

/* The training FLOPs spent by each row of h (per_row, h->n values; may be NULL): every step
 * costs what spn_cost_step_flops() says of the spans its row records (a row with an unknown span
 * keeps the last known ones; steps before the first row cost a new model's), steps missing
 * between rows at the later row's. Returns the total to the last row (0 for none). */
double spn_run_train_flops(const SpnConfig *c, const SpnHistory *h, double *per_row);

/* Characters one training step reads: B streams × M. */
static inline double
spn_chars_per_step(const SpnConfig *c)
{
  return (double)c->batch_sz * c->block_sz;
}

G_END_DECLS
