/* summary.c — one run in numbers (summary.h). */
#include "summary.h"

#include <math.h>

#include "params.h"

#define FINAL_TRAIN_ROWS 100

static void
summarise_valid(const SpnHistory *h, SpnRunSummary *out)
{
  out->final_valid = out->best_valid = NAN;
  out->final_valid_step = out->best_valid_step = -1;
  int last = spn_history_latest_valid(h);
  if (last >= 0) {
    out->final_valid = spn_history_valid_bpc(h, last);
    out->final_valid_step = spn_history_valid_step(h, last);
  }
  for (int i = 0; i < h->n_valid; i++) {
    double v = spn_history_valid_bpc(h, i);
    if (spn_history_valid_current(h, i) && isfinite(v) && !(v >= out->best_valid)) {
      out->best_valid = v;
      out->best_valid_step = spn_history_valid_step(h, i);
    }
  }
}

/* The mean of the last rows: one block's bpc is noisy, a hundred steps' mean is not. */
static double
final_train(const SpnHistory *h)
{
  double sum = 0;
  int count = 0;
  for (int i = MAX(h->n - FINAL_TRAIN_ROWS, 0); i < h->n; i++) {
    double v = spn_history_train_bpc(h, i);
    if (isfinite(v)) {
      sum += v;
      count++;
    }
  }
  return count ? sum / count : NAN;
}

void
spn_run_summary(const SpnSnapshot *s, SpnRunSummary *out)
{
  const SpnConfig *c = &s->cfg;
  out->step = s->step;
  out->chars = (double)s->step * spn_chars_per_step(c);
  summarise_valid(s->history, out);
  out->final_train = final_train(s->history);
  /* the tensors' sizes: the arena's total also counts the padding that aligns them */
  SpnLayout *layout = spn_layout_new(c);
  out->params = 0;
  for (int i = 0; i < layout->n_tensors; i++)
    out->params += layout->tensors[i].numel;
  spn_layout_free(layout);
  spn_span_stats(s->spans, c->nlayers * c->nheads, &out->span_mean, &out->span_max);
}
