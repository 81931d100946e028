#include "heatmap.h"

#include <math.h>

#include "colormap.h"

SpnHeatScale
spn_heat_scale(double vmax, gboolean log, SpnColormap map)
{
  return (SpnHeatScale){.vmax = isfinite(vmax) && vmax > 0 ? vmax : 1.0, .log = log, .map = map};
}

double
spn_heat_t(const SpnHeatScale *sc, double v)
{
  double t;
  if (sc->log) {
    double vmin = sc->vmax * 1e-3;
    t = v <= vmin ? 0.0 : (log10(v) - log10(vmin)) / 3.0;
  } else
    t = v / sc->vmax;
  return CLAMP(t, 0.0, 1.0);
}

static guint32
pixel_of(const SpnHeatScale *sc, const guint32 *lut, guint32 nodata, float v)
{
  if (!(v >= 0.0f) || !isfinite(v))
    return nodata;
  return lut[(int)(spn_heat_t(sc, v) * (SPN_COLORMAP_LUT_SIZE - 1) + 0.5)];
}

double
spn_heat_device_scale(cairo_t *cr)
{
  double dx = 1, dy = 0;
  cairo_user_to_device_distance(cr, &dx, &dy);
  double sc = hypot(dx, dy);
  if (cairo_surface_get_type(cairo_get_target(cr)) != CAIRO_SURFACE_TYPE_IMAGE)
    sc *= 3.0;
  return MAX(sc, 0.1);
}

/* the largest value (no data only when every value is) of the cells [c0, c1) × [r0, r1) */
static float
pooled(const float *v, int w, int r0, int r1, int c0, int c1)
{
  float best = NAN;
  for (int r = r0; r < r1; r++)
    for (int c = c0; c < c1; c++) {
      float x = v[(gsize)r * w + c];
      if (x >= 0.0f && isfinite(x) && !(best >= x))
        best = x;
    }
  return best;
}

void
spn_heat_paint(SpnPlot *p, const SpnRect *area, const float *v, int w, int h,
               const SpnHeatScale *sc)
{
  if (p->cr == NULL || w <= 0 || h <= 0 || area->w <= 0 || area->h <= 0)
    return;
  double ds = spn_heat_device_scale(p->cr);
  int iw = MIN(w, MAX(1, (int)ceil(area->w * ds))), ih = MIN(h, MAX(1, (int)ceil(area->h * ds)));
  /* vector output: each cell several image pixels wide, so viewers that smooth images keep
   * the cells sharp */
  int rep = 1;
  if (cairo_surface_get_type(cairo_get_target(p->cr)) != CAIRO_SURFACE_TYPE_IMAGE)
    rep = CLAMP((int)MIN(3.0 * area->w / iw, 3.0 * area->h / ih), 1, 8);
  guint32 lut[SPN_COLORMAP_LUT_SIZE];
  spn_colormap_lut(sc->map, lut);
  const double *nd = p->pal->nodata;
  guint32 nodata = 0xff000000u | ((guint32)lround(nd[0] * 255) << 16) |
                   ((guint32)lround(nd[1] * 255) << 8) | (guint32)lround(nd[2] * 255);
  cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, iw * rep, ih * rep);
  unsigned char *data = cairo_image_surface_get_data(img);
  int stride = cairo_image_surface_get_stride(img);
  cairo_surface_flush(img);
  for (int y = 0; y < ih; y++) {
    int r0 = (int)((gint64)y * h / ih), r1 = MAX(r0 + 1, (int)((gint64)(y + 1) * h / ih));
    for (int x = 0; x < iw; x++) {
      int c0 = (int)((gint64)x * w / iw), c1 = MAX(c0 + 1, (int)((gint64)(x + 1) * w / iw));
      guint32 px = pixel_of(sc, lut, nodata, pooled(v, w, r0, r1, c0, c1));
      for (int ry = 0; ry < rep; ry++) {
        guint32 *row = (guint32 *)(data + (gsize)(y * rep + ry) * stride);
        for (int rx = 0; rx < rep; rx++)
          row[x * rep + rx] = px;
      }
    }
  }
  cairo_surface_mark_dirty(img);
  cairo_t *cr = p->cr;
  cairo_save(cr);
  cairo_rectangle(cr, area->x, area->y, area->w, area->h);
  cairo_clip(cr);
  cairo_translate(cr, area->x, area->y);
  cairo_scale(cr, area->w / (iw * rep), area->h / (ih * rep));
  cairo_set_source_surface(cr, img, 0, 0);
  cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
  cairo_paint(cr);
  cairo_restore(cr);
  cairo_surface_destroy(img);
}

double
spn_heat_colorbar_margin(SpnPlot *p)
{
  double tw, hn;
  spn_plot_text_size(p, SPN_TEXT_SMALL, "0.0005", &tw, NULL);
  spn_plot_text_size(p, SPN_TEXT_NORMAL, "0", NULL, &hn);
  return 0.35 * p->fs + 0.25 * p->fs + tw + 0.3 * p->fs + hn;
}

void
spn_heat_colorbar(SpnPlot *p, const SpnRect *b, const SpnHeatScale *sc, const char *label)
{
  cairo_t *cr = p->cr;
  if (cr == NULL)
    return;
  cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 256);
  unsigned char *data = cairo_image_surface_get_data(img);
  int stride = cairo_image_surface_get_stride(img);
  cairo_surface_flush(img);
  for (int i = 0; i < 256; i++) {
    double rgb[3];
    spn_colormap_rgb(sc->map, 1.0 - i / 255.0, rgb);
    *(guint32 *)(data + (gsize)i * stride) = 0xff000000u | ((guint32)lround(rgb[0] * 255) << 16) |
                                              ((guint32)lround(rgb[1] * 255) << 8) |
                                              (guint32)lround(rgb[2] * 255);
  }
  cairo_surface_mark_dirty(img);
  cairo_save(cr);
  cairo_translate(cr, b->x, b->y);
  cairo_scale(cr, b->w, b->h / 256.0);
  cairo_set_source_surface(cr, img, 0, 0);
  cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_BILINEAR);
  cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD);
  cairo_rectangle(cr, 0, 0, 1, 256);
  cairo_fill(cr);
  cairo_restore(cr);
  cairo_surface_destroy(img);
  SpnAxis axis = {sc->log ? sc->vmax * 1e-3 : 0.0, sc->vmax, sc->log, b->y + b->h, b->y};
  double hs, t[SPN_AXIS_MAX_TICKS];
  spn_plot_text_size(p, SPN_TEXT_SMALL, "0", NULL, &hs);
  int n = spn_axis_ticks(&axis, CLAMP((int)(b->h / (hs * 2.2)), 2, 8), t);
  double tick = 0.35 * p->fs, x = b->x + b->w;
  cairo_set_line_width(cr, 1.0);
  spn_plot_set_rgb(p, p->pal->frame, 1.0);
  cairo_rectangle(cr, b->x, b->y, b->w, b->h);
  for (int i = 0; i < n; i++) {
    cairo_move_to(cr, x, floor(spn_axis_px(&axis, t[i])) + 0.5);
    cairo_line_to(cr, x + tick, floor(spn_axis_px(&axis, t[i])) + 0.5);
  }
  cairo_stroke(cr);
  double widest = 0;
  for (int i = 0; i < n; i++) {
    char buf[32];
    double w;
    spn_axis_format(&axis, t, n, t[i], buf);
    spn_plot_text_size(p, SPN_TEXT_SMALL, buf, &w, NULL);
    widest = MAX(widest, w);
    spn_plot_text(p, SPN_TEXT_SMALL, buf, x + tick + 0.25 * p->fs, spn_axis_px(&axis, t[i]), 0.0,
                  0.5, p->pal->muted);
  }
  spn_plot_text_vertical(p, SPN_TEXT_NORMAL, label, x + tick + 0.55 * p->fs + widest,
                         b->y + b->h / 2, 0.0, 0.5, p->pal->fg);
}
