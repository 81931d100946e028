/* layernorm.h — LayerNorm over the last dimension with gain and bias, eps 1e-5. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

#define SPN_LN_EPS 1e-5f

/* x, y: n×d; g, b: d. Saves mean and 1/std (n each) for the backward pass. y may alias x. */
void spn_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *g,
                           const float *b, int n, int d);
/* x += res (both n×d; the sum stays in x, the input of the backward pass), then as
 * spn_layernorm_forward of x. */
void spn_residual_layernorm_forward(float *y, float *mean, float *rstd, float *x, const float *res,
                                    const float *g, const float *b, int n, int d);
/* x is the forward input. dx (n×d) is overwritten (may alias dy); dg, db accumulated. */
void spn_layernorm_backward(float *dx, float *dg, float *db, const float *dy, const float *x,
                            const float *mean, const float *rstd, const float *g, int n, int d);

/* The two halves of spn_layernorm_backward, for callers that share rows among their threads:
 * dx of n rows (inside a parallel region it runs on the calling thread), and dg, db summed
 * over all n rows in row order, called by every thread of a region (each sums its own
 * columns, without waiting) or from outside one. */
void spn_layernorm_backward_dx(float *dx, const float *dy, const float *x, const float *mean,
                               const float *rstd, const float *g, int n, int d);
void spn_layernorm_params_team(float *dg, float *db, const float *dy, const float *x,
                               const float *mean, const float *rstd, int n, int d);

G_END_DECLS
