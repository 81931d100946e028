/* lines.c — long line series: column-wise rasterisation on pixel targets, paths on vector ones
 * (see lines.h for why). */
#include "lines.h"

#include <math.h>

#include "figure-private.h"

/* a raster larger than this (device pixels) falls back to paths */
#define MAX_RASTER_PIXELS (16 * 1024 * 1024)

struct _SpnLines {
  SpnPlot *p;
  SpnRect area;
  gboolean raster;
  double sx, sy, tx, ty;   /* user space → raster pixels: x·sx + tx */
  double dsx, dsy;         /* the target surface's own device scale */
  int x0, y0, w, h;        /* the raster in device pixels of the CTM space times device scale */
  guint32 *px;             /* premultiplied ARGB, w×h */
};

static gboolean
vector_target(cairo_t *cr)
{
  switch (cairo_surface_get_type(cairo_get_target(cr))) {
  case CAIRO_SURFACE_TYPE_PDF:
  case CAIRO_SURFACE_TYPE_PS:
  case CAIRO_SURFACE_TYPE_SVG:
  case CAIRO_SURFACE_TYPE_SCRIPT:
    return TRUE;
  default:
    return FALSE;
  }
}

SpnLines *
spn_lines_begin(SpnPlot *p, const SpnRect *area)
{
  SpnLines *l = g_new0(SpnLines, 1);
  l->p = p;
  l->area = *area;
  cairo_t *cr = p->cr;
  if (cr == NULL || vector_target(cr))
    return l;
  cairo_matrix_t m;
  cairo_get_matrix(cr, &m);
  cairo_surface_get_device_scale(cairo_get_target(cr), &l->dsx, &l->dsy);
  if (m.xy != 0 || m.yx != 0 || m.xx <= 0 || m.yy <= 0 || l->dsx <= 0 || l->dsy <= 0)
    return l;
  double x0 = (area->x * m.xx + m.x0) * l->dsx, x1 = ((area->x + area->w) * m.xx + m.x0) * l->dsx;
  double y0 = (area->y * m.yy + m.y0) * l->dsy, y1 = ((area->y + area->h) * m.yy + m.y0) * l->dsy;
  l->x0 = (int)floor(x0);
  l->y0 = (int)floor(y0);
  l->w = MAX(1, (int)ceil(x1) - l->x0);
  l->h = MAX(1, (int)ceil(y1) - l->y0);
  if ((gint64)l->w * l->h > MAX_RASTER_PIXELS)
    return l;
  l->sx = m.xx * l->dsx;
  l->sy = m.yy * l->dsy;
  l->tx = m.x0 * l->dsx - l->x0;
  l->ty = m.y0 * l->dsy - l->y0;
  l->px = g_new0(guint32, (gsize)l->w * l->h);
  l->raster = TRUE;
  return l;
}

/* ---- raster ---- */

typedef struct {
  SpnLines *l;
  guint32 rgb[3];    /* 0..255 */
  double alpha, half_width, fill_alpha, base;
  int col;          /* column being gathered, G_MININT when none */
  double lo, hi;    /* the line's vertical range in it */
} Pen;

/* x / 255 for x ≤ 255·255, exact after rounding */
static inline guint32
div255(guint32 x)
{
  return (x + 128 + ((x + 128) >> 8)) >> 8;
}

/* source-over of an opaque colour (0..255 channels) at coverage a (0..255), premultiplied */
static inline guint32
blend(guint32 d, const guint32 c[3], guint32 a)
{
  guint32 keep = 255 - a;
  guint32 oa = a + div255((d >> 24) * keep);
  guint32 r = div255(c[0] * a + ((d >> 16) & 255) * keep);
  guint32 g = div255(c[1] * a + ((d >> 8) & 255) * keep);
  guint32 b = div255(c[2] * a + (d & 255) * keep);
  return (oa << 24) | (r << 16) | (g << 8) | b;
}

/* column c from y0 to y1 (raster pixels), the end pixels by the fraction they cover */
static void
span(SpnLines *l, int c, double y0, double y1, const guint32 rgb[3], double alpha)
{
  int r0 = MAX(0, (int)floor(y0)), r1 = MIN(l->h, (int)ceil(y1));
  guint32 full = (guint32)(alpha * 255 + 0.5);
  guint32 *px = l->px + c;
  for (int r = r0; r < r1; r++) {
    double cover = MIN(y1, r + 1.0) - MAX(y0, (double)r);
    guint32 a = cover >= 1.0 ? full : (guint32)(alpha * MAX(cover, 0.0) * 255 + 0.5);
    if (a > 0)
      px[(gsize)r * l->w] = blend(px[(gsize)r * l->w], rgb, a);
  }
}

static void
pen_flush(Pen *pen)
{
  SpnLines *l = pen->l;
  int c = pen->col;
  pen->col = G_MININT;
  if (c < 0 || c >= l->w)
    return;
  if (pen->fill_alpha > 0) {
    double mid = (pen->lo + pen->hi) / 2;
    span(l, c, MIN(mid, pen->base), MAX(mid, pen->base), pen->rgb, pen->fill_alpha);
  }
  span(l, c, pen->lo - pen->half_width, pen->hi + pen->half_width, pen->rgb, pen->alpha);
}

static void
pen_cover(Pen *pen, int c, double ya, double yb)
{
  if (c != pen->col) {
    if (pen->col != G_MININT)
      pen_flush(pen);
    pen->col = c;
    pen->lo = MIN(ya, yb);
    pen->hi = MAX(ya, yb);
    return;
  }
  pen->lo = MIN(pen->lo, MIN(ya, yb));
  pen->hi = MAX(pen->hi, MAX(ya, yb));
}

/* the columns the segment crosses, each with the part of the segment inside it */
static void
pen_segment(Pen *pen, double xa, double ya, double xb, double yb)
{
  if (xb < xa) {
    double t = xa;
    xa = xb;
    xb = t;
    t = ya;
    ya = yb;
    yb = t;
  }
  int ca = (int)floor(xa), cb = (int)floor(xb);
  int first = MAX(ca, -1), last = MIN(cb, pen->l->w);
  double slope = xb > xa ? (yb - ya) / (xb - xa) : 0.0;
  for (int c = first; c <= last; c++) {
    double xl = MAX(xa, (double)c), xr = MIN(xb, c + 1.0);
    pen_cover(pen, c, ya + (xl - xa) * slope, xb > xa ? ya + (xr - xa) * slope : yb);
  }
}

/* ---- one series, added in pieces ---- */

/* The vector path: one point per pixel column, the mean of the values falling in it (a stroke
 * over thousands of points that double back costs cairo far more than the eye can see). */
typedef struct {
  double col, xsum, ysum;
  int count;
  gboolean pen_down;
} Poly;

struct _SpnLinesSeries {
  SpnLines *l;
  const SpnAxis *x, *y;
  double rgb[3], alpha, width, fill_alpha, baseline;
  double floor_value;      /* values below it are drawn at it (log axes) */
  gboolean started;        /* a point came (vector targets: the clip and path are set up) */
  /* raster */
  Pen pen;
  double limit;
  gboolean have;           /* the previous point, when it was finite */
  double px, py;
  /* vector */
  Poly poly;
  double first, last;      /* x of the first and last finite point, for the fill */
};

SpnLinesSeries *
spn_lines_series_begin(SpnLines *l, const SpnAxis *x, const SpnAxis *y, const double rgb[3],
                       double alpha, double width, double fill_alpha, double baseline)
{
  SpnLinesSeries *s = g_new0(SpnLinesSeries, 1);
  s->l = l;
  s->x = x;
  s->y = y;
  for (int k = 0; k < 3; k++)
    s->rgb[k] = rgb[k];
  s->alpha = alpha;
  s->width = width;
  s->fill_alpha = fill_alpha;
  s->baseline = baseline;
  s->floor_value = y->log ? MIN(y->v0, y->v1) * 1e-3 : -G_MAXDOUBLE;
  s->poly.col = NAN;
  s->first = s->last = NAN;
  if (l->raster) {
    s->pen = (Pen){
      .l = l,
      .rgb = {(guint32)lround(rgb[0] * 255), (guint32)lround(rgb[1] * 255),
              (guint32)lround(rgb[2] * 255)},
      .alpha = alpha,
      .half_width = width * l->sy / 2,
      .fill_alpha = fill_alpha,
      .base = spn_axis_px(y, baseline) * l->sy + l->ty,
      .col = G_MININT,
    };
    /* far outside the raster the exact position stops mattering; clamping keeps ints sane */
    s->limit = 4.0 * (l->w + l->h) + 1000;
  }
  return s;
}

static void
raster_points(SpnLinesSeries *s, const gint64 *step, const float *v, gsize n, gsize stride)
{
  SpnLines *l = s->l;
  for (gsize i = 0; i < n; i++) {
    double val = v[i * stride];
    if (!isfinite(val)) {
      s->have = FALSE;
      continue;
    }
    double X = CLAMP(spn_axis_px(s->x, (double)step[i]) * l->sx + l->tx, -s->limit, s->limit);
    double Y = CLAMP(spn_axis_px(s->y, MAX(val, s->floor_value)) * l->sy + l->ty, -s->limit,
                     s->limit);
    if (s->have)
      pen_segment(&s->pen, s->px, s->py, X, Y);
    else
      pen_cover(&s->pen, (int)floor(X), Y, Y);
    s->have = TRUE;
    s->px = X;
    s->py = Y;
  }
}

/* One point of the vector path at px; a non-finite val breaks the line (and ends the last
 * column). */
static void
poly_point(SpnLinesSeries *s, double px, double val)
{
  Poly *q = &s->poly;
  gboolean same_column = isfinite(val) && q->count > 0 && floor(px) == q->col;
  if (!same_column && q->count > 0) {
    (q->pen_down ? cairo_line_to : cairo_move_to)(s->l->p->cr, q->xsum / q->count,
                                                   q->ysum / q->count);
    q->pen_down = TRUE;
    q->count = 0;
  }
  if (!isfinite(val)) {
    q->pen_down = FALSE;
    return;
  }
  if (q->count == 0) {
    q->col = floor(px);
    q->xsum = q->ysum = 0;
  }
  q->xsum += px;
  q->ysum += spn_axis_px(s->y, MAX(val, s->floor_value));
  q->count++;
}

static void
path_points(SpnLinesSeries *s, const gint64 *step, const float *v, gsize n, gsize stride)
{
  cairo_t *cr = s->l->p->cr;
  if (!s->started) {
    cairo_save(cr);
    cairo_rectangle(cr, s->l->area.x, s->l->area.y, s->l->area.w, s->l->area.h);
    cairo_clip(cr);
    cairo_new_path(cr);
  }
  for (gsize i = 0; i < n; i++) {
    double val = v[i * stride], px = spn_axis_px(s->x, (double)step[i]);
    poly_point(s, px, val);
    if (isfinite(val)) {
      if (isnan(s->first))
        s->first = px;
      s->last = px;
    }
  }
}

void
spn_lines_series_add(SpnLinesSeries *s, const gint64 *step, const float *v, gsize n,
                     gsize stride)
{
  if (s->l->p->cr == NULL || n == 0)
    return;
  if (s->l->raster)
    raster_points(s, step, v, n, stride);
  else
    path_points(s, step, v, n, stride);
  s->started = TRUE;
}

static void
path_end(SpnLinesSeries *s)
{
  cairo_t *cr = s->l->p->cr;
  poly_point(s, NAN, NAN);
  if (s->fill_alpha > 0) {
    cairo_path_t *line = cairo_copy_path(cr);
    double base = spn_axis_px(s->y, s->baseline);
    if (isfinite(s->first)) {
      cairo_line_to(cr, s->last, base);
      cairo_line_to(cr, s->first, base);
      cairo_close_path(cr);
      spn_plot_set_rgb(s->l->p, s->rgb, s->fill_alpha);
      cairo_fill(cr);
    }
    cairo_new_path(cr);
    cairo_append_path(cr, line);
    cairo_path_destroy(line);
  }
  cairo_set_line_width(cr, s->width);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  spn_plot_set_rgb(s->l->p, s->rgb, s->alpha);
  cairo_stroke(cr);
  cairo_restore(cr);
}

void
spn_lines_series_end(SpnLinesSeries *s)
{
  if (s->started && s->l->raster) {
    if (s->pen.col != G_MININT)
      pen_flush(&s->pen);
  } else if (s->started)
    path_end(s);
  g_free(s);
}

void
spn_lines_add(SpnLines *l, const SpnAxis *x, const SpnAxis *y, const gint64 *step,
              const float *v, gsize n, gsize stride, const double rgb[3], double alpha,
              double width, double fill_alpha, double baseline)
{
  SpnLinesSeries *s = spn_lines_series_begin(l, x, y, rgb, alpha, width, fill_alpha, baseline);
  spn_lines_series_add(s, step, v, n, stride);
  spn_lines_series_end(s);
}

void
spn_lines_end(SpnLines *l)
{
  if (l->raster) {
    cairo_t *cr = l->p->cr;
    cairo_surface_t *img = cairo_image_surface_create_for_data(
      (unsigned char *)l->px, CAIRO_FORMAT_ARGB32, l->w, l->h, l->w * 4);
    cairo_save(cr);
    cairo_identity_matrix(cr);
    cairo_scale(cr, 1.0 / l->dsx, 1.0 / l->dsy);
    cairo_set_source_surface(cr, img, l->x0, l->y0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_paint(cr);
    cairo_restore(cr);
    cairo_surface_finish(img);
    cairo_surface_destroy(img);
  }
  g_free(l->px);
  g_free(l);
}
