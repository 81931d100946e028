/* layernorm.h — LayerNorm over the last dimension with gain and bias, eps 1e-5. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

#define SPN_LN_EPS 1e-5f

/* x, y: n×d; g, b: d. Saves mean and 1/std (n each) for the backward pass. y may alias x. */
void spn_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *g,
                           const float *b, int n, int d);
/* x is the forward input. dx (n×d) is overwritten (may alias dy); dg, db accumulated. */
void spn_layernorm_backward(float *dx, float *dg, float *db, const float *dy, const float *x,
                            const float *mean, const float *rstd, const float *g, int n, int d);

G_END_DECLS
