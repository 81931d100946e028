/* optim.h — the reference's Adagrad (per-tensor gradient clipping through the learning rate,
 * linear warm-up), and Adam as an option. Spans z are clamped to [0, 1] after every update. */
#pragma once
#include <glib.h>

#include "model.h"

G_BEGIN_DECLS

typedef struct {
  SpnOptimKind kind;
  double lr, grad_clip;
  int warmup;
  gint64 step;     /* updates done */
  float *m1, *m2;  /* Adagrad: m1 = sum of squared gradients; Adam: first and second moments */
  gsize size;
} SpnOptim;

SpnOptim *spn_optim_new(const SpnModel *m);
void spn_optim_free(SpnOptim *o);
/* Learning rate of update k (1-based) before clipping. */
double spn_optim_lr(const SpnOptim *o, gint64 k);
/* One update from the model's gradients; then z clamped. */
void spn_optim_step(SpnOptim *o, SpnModel *m);
/* Runs the next update's arithmetic without storing anything: the index of the first tensor
 * (layout order) whose new weights or moments would not be finite (e.g. accumulated squared
 * gradients beyond the float range), or -1 when the update is safe to apply. */
int spn_optim_check(SpnOptim *o, SpnModel *m);

G_END_DECLS
