/* lines.h — line series of thousands of points drawn within a frame's budget.
 *
 * cairo strokes a long, jagged polyline slowly (milliseconds per series of a few thousand
 * points), and training curves are long and jagged. On pixel targets the series of one chart are
 * therefore rasterised here, one device pixel column at a time — per column the vertical range
 * the line passes through, widened by the line width, with fractional coverage at both ends —
 * into one image painted in a single operation. A dense line is exactly such a run of vertical
 * spans, so it looks the same as a stroke while costing one pass over the points. On vector
 * targets (SVG, PDF, PS) the series are paths, one point per pixel column. */
#pragma once
#include "plot.h"

G_BEGIN_DECLS

typedef struct _SpnLines SpnLines;

/* Starts the series of a chart whose plotting area is `area` (drawing is clipped to it). */
SpnLines *spn_lines_begin(SpnPlot *p, const SpnRect *area);
/* One series through (step[i], v[i·stride]), i < n; NaN breaks the line. `fill_alpha` > 0 also
 * fills the area between the line and y = baseline (axis value) at that opacity. */
void spn_lines_add(SpnLines *l, const SpnAxis *x, const SpnAxis *y, const gint64 *step,
                   const float *v, gsize n, gsize stride, const double rgb[3], double alpha,
                   double width, double fill_alpha, double baseline);
/* The same for a series in pieces (a history's chunks): begin, add the pieces in order, end.
 * Draws exactly what one spn_lines_add over the pieces joined would. */
typedef struct _SpnLinesSeries SpnLinesSeries;
SpnLinesSeries *spn_lines_series_begin(SpnLines *l, const SpnAxis *x, const SpnAxis *y,
                                       const double rgb[3], double alpha, double width,
                                       double fill_alpha, double baseline);
void spn_lines_series_add(SpnLinesSeries *s, const gint64 *step, const float *v, gsize n,
                          gsize stride);
void spn_lines_series_end(SpnLinesSeries *s);
/* Paints what was added and frees l. */
void spn_lines_end(SpnLines *l);

G_END_DECLS
