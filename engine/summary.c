/* summary.c — one run in numbers (summary.h). */
#include "summary.h"

#include <math.h>

#include "cost.h"

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

/* Spans in characters as the fractions z of S the cost takes, within [0, 1] as the engine keeps
 * them (a span read from a file may be anything); FALSE, z unfinished, when one is not finite:
 * such a number must not reach the cost's integer windows. */
static gboolean
span_fractions(const SpnConfig *c, const float *spans, float *z)
{
  for (int e = 0; e < c->nlayers * c->nheads; e++) {
    if (!isfinite(spans[e]))
      return FALSE;
    z[e] = CLAMP(spans[e] / c->attn_span, 0.0f, 1.0f);
  }
  return TRUE;
}

void
spn_run_summary(const SpnSnapshot *s, SpnRunSummary *out)
{
  const SpnConfig *c = &s->cfg;
  out->step = s->step;
  out->chars = (double)s->step * spn_chars_per_step(c);
  summarise_valid(s->history, out);
  out->final_train = final_train(s->history);
  out->params = spn_cost_parameters(c);
  int heads = c->nlayers * c->nheads;
  spn_span_stats(s->spans, heads, &out->span_mean, &out->span_max);
  float *z = g_new(float, MAX(heads, 1));
  out->flops_per_char =
      span_fractions(c, s->spans, z) ? spn_cost_step_flops(c, z) / spn_chars_per_step(c) : NAN;
  for (int i = 0; i < heads; i++)
    z[i] = 1.0f;
  out->flops_per_char_full = spn_cost_step_flops(c, z) / spn_chars_per_step(c);
  g_free(z);
  out->train_flops = s->history->n > 0 ? spn_run_train_flops(c, s->history, NULL) : NAN;
}

double
spn_run_train_flops(const SpnConfig *c, const SpnHistory *h, double *per_row)
{
  int heads = c->nlayers * c->nheads;
  float *z = g_new(float, MAX(heads, 1));
  double flops = 0, step_flops = spn_cost_step_flops(c, NULL);
  gint64 prev = 0;
  SpnHistoryChunk chunk;
  for (int j = 0; spn_history_chunk(h, j, &chunk); j++)
    for (int k = 0; k < chunk.n; k++) {
      if (span_fractions(c, chunk.spans + (gsize)k * heads, z))
        step_flops = spn_cost_step_flops(c, z);
      flops += step_flops * (double)MAX(chunk.step[k] - prev, 0);
      prev = MAX(prev, chunk.step[k]);
      if (per_row)
        per_row[chunk.first + k] = flops;
    }
  g_free(z);
  return flops;
}
