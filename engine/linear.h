/* linear.h — y = x·Wᵀ + b, PyTorch's layout (W is out×in). */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

/* x: n×in, w: out×in, b: out or NULL, y: n×out (overwritten). */
void spn_linear_forward(float *y, const float *x, const float *w, const float *b, int n, int in,
                        int out);
/* dy: n×out. dx: n×in, overwritten unless accumulate (NULL: not wanted; must not overlap dy
 * or x); dw: out×in and db: out are accumulated. */
void spn_linear_backward(float *dx, gboolean accumulate, float *dw, float *db, const float *dy,
                         const float *x, const float *w, int n, int in, int out);
/* sum (m) += the column sums of x (n×m), each column summed in row order. Called by every
 * thread of a parallel region: each sums its own columns, without waiting for the others. */
void spn_column_sums_team(float *sum, const float *x, int n, int m);

G_END_DECLS
