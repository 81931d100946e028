/* activation.h — ReLU and dropout of the FF hidden layer. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

/* y = dropout(relu(x)) over n values; y may alias x. The dropout mask is a hash of
 * (seed, index), recomputed by the backward pass; p = 0 means no dropout. */
void spn_relu_dropout_forward(float *y, const float *x, gsize n, float p, guint64 seed);
/* y is the forward output; dx may alias dy. */
void spn_relu_dropout_backward(float *dx, const float *dy, const float *y, gsize n, float p,
                               guint64 seed);
/* The same over elements first..first+n−1 of a larger array (y, x, dx, dy, point at element
 * first): the dropout mask does not depend on how the array is cut. */
void spn_relu_dropout_forward_at(float *y, const float *x, gsize n, gsize first, float p,
                                 guint64 seed);
void spn_relu_dropout_backward_at(float *dx, const float *dy, const float *y, gsize n,
                                  gsize first, float p, guint64 seed);
/* Keep-scale of dropout at (seed, a, b, c): 0 (dropped) or 1/(1-p). */
float spn_dropout_scale(float p, guint64 seed, guint64 a, guint64 b, guint64 c);

G_END_DECLS
