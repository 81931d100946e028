/* plot.h — what every figure shares: palettes, text through pango, value axes with ticks that
 * never collide, chart frames, legends and the "nothing to show" message.
 *
 * A SpnPlot without a cairo context measures but draws nothing: the hover code runs the same
 * layout as the drawing code and so finds the same rectangles. Text is measured with hinting
 * off at a fixed size in user units, so the geometry is the same on screen, in PNG, SVG and PDF. */
#pragma once
#include <cairo.h>
#include <glib.h>
#include <pango/pangocairo.h>

#include "figures.h"

G_BEGIN_DECLS

typedef struct {
  double x, y, w, h;
} SpnRect;

static inline gboolean
spn_rect_contains(const SpnRect *r, double x, double y)
{
  return x >= r->x && x < r->x + r->w && y >= r->y && y < r->y + r->h;
}

typedef struct {
  double bg[3];      /* figure background */
  double fg[3];      /* titles, labels */
  double muted[3];   /* tick labels, notes */
  double grid[3];    /* grid lines */
  double frame[3];   /* axis lines and ticks */
  double nodata[3];  /* heatmap cells that cannot exist (keys after the query) */
} SpnPalette;

typedef enum { SPN_TEXT_NORMAL, SPN_TEXT_SMALL, SPN_TEXT_TITLE } SpnTextStyle;

typedef struct {
  cairo_t *cr;              /* NULL: measure only */
  PangoContext *pango;
  PangoFontDescription *font[3];
  const SpnPalette *pal;
  double fs;                /* base font size in user units */
} SpnPlot;

void spn_plot_init(SpnPlot *p, cairo_t *cr, const SpnFigureOptions *o);
void spn_plot_clear(SpnPlot *p);

/* Logical extents of a one-line text. */
void spn_plot_text_size(SpnPlot *p, SpnTextStyle style, const char *text, double *w, double *h);
/* Draws text with the point (ax, ay) of its box (0..1 each, 0,0 = top left) at (x, y). */
void spn_plot_text(SpnPlot *p, SpnTextStyle style, const char *text, double x, double y, double ax,
                   double ay, const double rgb[3]);
/* One line with its top left at (x, y), ending in an ellipsis where it would pass width. */
void spn_plot_text_within(SpnPlot *p, SpnTextStyle style, const char *text, double x, double y,
                          double width, const double rgb[3]);
/* The same, turned a quarter to the left (reads bottom to top); anchors refer to the turned box. */
void spn_plot_text_vertical(SpnPlot *p, SpnTextStyle style, const char *text, double x, double y,
                            double ax, double ay, const double rgb[3]);

void spn_plot_set_rgb(SpnPlot *p, const double rgb[3], double alpha);
void spn_plot_fill_background(SpnPlot *p, double width, double height);

/* The title row of a figure; returns the rectangle left below it. */
SpnRect spn_plot_title(SpnPlot *p, SpnRect r, const char *title);
/* A short note in small muted text at the top left of r, wrapped to its width; returns the
 * rectangle left below. */
SpnRect spn_plot_note(SpnPlot *p, SpnRect r, const char *note);
/* A centred explanation when there is nothing to draw. */
void spn_plot_message(SpnPlot *p, SpnRect r, const char *message);

/* Categorical colours for layers and heads, distinct on both palettes. */
void spn_plot_series_rgb(SpnPlot *p, int i, double rgb[3]);

typedef enum { SPN_LEGEND_LINE, SPN_LEGEND_DASH, SPN_LEGEND_BOX, SPN_LEGEND_DOT } SpnLegendMark;

typedef struct {
  const char *label;
  double rgb[3];
  SpnLegendMark mark;
  double alpha;
} SpnLegendItem;

/* Items flowing left to right, wrapping, at the top of r; returns the rectangle left below. */
SpnRect spn_plot_legend(SpnPlot *p, SpnRect r, const SpnLegendItem *items, int n);

/* ---- axes ---- */

#define SPN_AXIS_MAX_TICKS 32

typedef struct {
  double v0, v1;      /* value range (log: both > 0) */
  gboolean log;
  double p0, p1;      /* the pixels v0 and v1 land on (p1 < p0 for a vertical axis) */
} SpnAxis;

double spn_axis_px(const SpnAxis *a, double v);
double spn_axis_value(const SpnAxis *a, double px);
/* Nice tick values inside the range, at most max_ticks of them; returns the count. */
int spn_axis_ticks(const SpnAxis *a, int max_ticks, double ticks[SPN_AXIS_MAX_TICKS]);
/* Short tick label ("0.25", "8192", "12k", "1e-05"), given the tick values around it. */
void spn_axis_format(const SpnAxis *a, const double *ticks, int n, double v, char buf[32]);

/* ---- charts: a plotting area with axes around it ---- */

typedef struct {
  const char *xlabel, *ylabel, *y2label;  /* NULL: none */
  double x0, x1, y0, y1, y20, y21;
  gboolean xlog, ylog, y2log;
  gboolean has_y2;
  gboolean no_xlabels;   /* ticks without labels (the upper panels of a stack) */
  gboolean no_xticks;    /* no x ticks at all (categories drawn by the figure) */
  gboolean no_ylabels;   /* y ticks without labels (the inner panels of a grid) */
  gboolean integer_ticks;  /* only whole-number ticks (token positions) */
  gboolean integer_x;      /* only whole-number x ticks (steps, distances) */
  double bottom_extra;   /* room the figure needs under the area for its own labels */
  double left_extra;     /* room the figure needs left of the area for its own labels */
} SpnChartSpec;

typedef struct {
  SpnChartSpec spec;
  SpnRect outer, area;
  SpnAxis x, y, y2;
  int nx, ny, ny2;
  double xt[SPN_AXIS_MAX_TICKS], yt[SPN_AXIS_MAX_TICKS], y2t[SPN_AXIS_MAX_TICKS];
} SpnChart;

void spn_chart_layout(SpnPlot *p, SpnRect outer, const SpnChartSpec *spec, SpnChart *c);
/* Gives stacked charts one common plotting width (the narrowest) so their x axes line up,
 * and fits their x ticks again. */
void spn_chart_align_x(SpnPlot *p, SpnChart *const *charts, int n);
/* Grid lines behind the data. */
void spn_chart_draw_grid(SpnPlot *p, const SpnChart *c);
/* Frame, ticks, tick labels and axis labels over the data. */
void spn_chart_draw_axes(SpnPlot *p, const SpnChart *c);
/* Clips drawing to the area (cairo_save first; cairo_restore after). */
void spn_chart_clip(SpnPlot *p, const SpnChart *c);

/* ---- numbers ---- */

/* Smallest and largest finite value of v[0], v[stride], ... (n values); NaN, NaN when none. */
void spn_range_finite(const float *v, gsize n, gsize stride, double *lo, double *hi);
/* Expands [lo, hi] to a sensible displayed range (padding, log-safe, never empty). */
void spn_range_pad(double *lo, double *hi, gboolean log, gboolean from_zero);

G_END_DECLS
