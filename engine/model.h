/* model.h — the Transformer's parameters (SpnModel): configuration, parameter and gradient
 * arenas, span statistics. Running the model over text is runner.h's job.
 */
#pragma once
#include <glib.h>

#include "config.h"
#include "params.h"

G_BEGIN_DECLS

typedef struct {
  SpnConfig cfg;
  SpnLayout *layout;
  float *params, *grads;
  SpnWeights w, g;
} SpnModel;

/* cfg must be valid (spn_config_validate). Weights drawn from cfg->seed. */
SpnModel *spn_model_new(const SpnConfig *cfg);
void spn_model_free(SpnModel *m);
void spn_model_zero_grad(SpnModel *m);
/* λ·S·mean_h(z) summed over layers (0 without adaptive span). */
double spn_model_span_loss(const SpnModel *m);
/* Adds the span loss gradient to the z gradients. */
void spn_model_span_loss_backward(SpnModel *m);
/* Current span of (layer, head) in characters, z·S. */
float spn_model_span(const SpnModel *m, int layer, int head);
/* Every head's span, layer-major: nlayers × nheads values. */
void spn_model_spans(const SpnModel *m, float *spans);
/* The reference's trim of a layer (docs/MODEL.md): how many of the oldest of its S distances
 * no head of the layer needs, in steps of 64; 0 without adaptive span. z: the layer's spans. */
int spn_layer_trim(const SpnConfig *c, const float *z);
int spn_model_trim(const SpnModel *m, int layer);
/* The reference's per-layer cache length: min(S, S − trim + 64) with the adaptive cache, else S. */
int spn_model_cache_size(const SpnModel *m, int layer);
/* The same for a layer whose heads have fractions z (nheads values; unused without adaptive
 * span). */
int spn_layer_cache_rows(const SpnConfig *c, const float *z);

G_END_DECLS
