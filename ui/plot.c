/* plot.c — palettes, text, axes and chart frames shared by the figures. */
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const SpnPalette light_palette = {
  .bg = {1.0, 1.0, 1.0},
  .fg = {0.12, 0.12, 0.13},
  .muted = {0.36, 0.36, 0.38},
  .grid = {0.90, 0.90, 0.91},
  .frame = {0.55, 0.55, 0.57},
  .nodata = {0.95, 0.95, 0.95},
};

static const SpnPalette dark_palette = {
  .bg = {0.12, 0.12, 0.13},
  .fg = {0.91, 0.91, 0.92},
  .muted = {0.67, 0.67, 0.69},
  .grid = {0.22, 0.22, 0.23},
  .frame = {0.48, 0.48, 0.50},
  .nodata = {0.17, 0.17, 0.18},
};

/* Tableau 10: distinguishable, colour-blind aware, readable on white and on near-black */
static const double series_colors[10][3] = {
  {0x4e / 255.0, 0x79 / 255.0, 0xa7 / 255.0}, {0xf2 / 255.0, 0x8e / 255.0, 0x2b / 255.0},
  {0xe1 / 255.0, 0x57 / 255.0, 0x59 / 255.0}, {0x76 / 255.0, 0xb7 / 255.0, 0xb2 / 255.0},
  {0x59 / 255.0, 0xa1 / 255.0, 0x4f / 255.0}, {0xed / 255.0, 0xc9 / 255.0, 0x48 / 255.0},
  {0xb0 / 255.0, 0x7a / 255.0, 0xa1 / 255.0}, {0xff / 255.0, 0x9d / 255.0, 0xa7 / 255.0},
  {0x9c / 255.0, 0x75 / 255.0, 0x5f / 255.0}, {0xba / 255.0, 0xb0 / 255.0, 0xac / 255.0},
};

static const double text_scale[3] = {1.0, 0.86, 1.12};

void
spn_plot_init(SpnPlot *p, cairo_t *cr, const SpnFigureOptions *o)
{
  memset(p, 0, sizeof *p);
  p->cr = cr;
  p->pal = o->dark ? &dark_palette : &light_palette;
  p->fs = o->font_size > 1.0 ? o->font_size : 11.0;
  p->pango = pango_font_map_create_context(pango_cairo_font_map_get_default());
  /* unhinted metrics: the same text has the same size on every surface and at every scale */
  cairo_font_options_t *fo = cairo_font_options_create();
  cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
  cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
  pango_cairo_context_set_font_options(p->pango, fo);
  cairo_font_options_destroy(fo);
  for (int i = 0; i < 3; i++) {
    p->font[i] = pango_font_description_from_string("Sans");
    pango_font_description_set_absolute_size(p->font[i], p->fs * text_scale[i] * PANGO_SCALE);
  }
  pango_font_description_set_weight(p->font[SPN_TEXT_TITLE], PANGO_WEIGHT_BOLD);
}

void
spn_plot_clear(SpnPlot *p)
{
  for (int i = 0; i < 3; i++)
    g_clear_pointer(&p->font[i], pango_font_description_free);
  g_clear_object(&p->pango);
}

static PangoLayout *
make_layout(SpnPlot *p, SpnTextStyle style, const char *text, PangoRectangle *logical)
{
  PangoLayout *layout = pango_layout_new(p->pango);
  pango_layout_set_font_description(layout, p->font[style]);
  pango_layout_set_text(layout, text, -1);
  pango_layout_get_extents(layout, NULL, logical);
  return layout;
}

void
spn_plot_text_size(SpnPlot *p, SpnTextStyle style, const char *text, double *w, double *h)
{
  PangoRectangle r;
  g_object_unref(make_layout(p, style, text, &r));
  if (w)
    *w = r.width / (double)PANGO_SCALE;
  if (h)
    *h = r.height / (double)PANGO_SCALE;
}

void
spn_plot_set_rgb(SpnPlot *p, const double rgb[3], double alpha)
{
  if (p->cr)
    cairo_set_source_rgba(p->cr, rgb[0], rgb[1], rgb[2], alpha);
}

void
spn_plot_text(SpnPlot *p, SpnTextStyle style, const char *text, double x, double y, double ax,
              double ay, const double rgb[3])
{
  if (p->cr == NULL)
    return;
  PangoRectangle r;
  PangoLayout *layout = make_layout(p, style, text, &r);
  double w = r.width / (double)PANGO_SCALE, h = r.height / (double)PANGO_SCALE;
  spn_plot_set_rgb(p, rgb, 1.0);
  cairo_move_to(p->cr, x - ax * w - r.x / (double)PANGO_SCALE,
                y - ay * h - r.y / (double)PANGO_SCALE);
  pango_cairo_show_layout(p->cr, layout);
  g_object_unref(layout);
}

void
spn_plot_text_within(SpnPlot *p, SpnTextStyle style, const char *text, double x, double y,
                     double width, const double rgb[3])
{
  if (p->cr == NULL)
    return;
  PangoRectangle r;
  PangoLayout *layout = make_layout(p, style, text, &r);
  pango_layout_set_width(layout, (int)(MAX(width, 0.0) * PANGO_SCALE));
  pango_layout_set_ellipsize(layout, PANGO_ELLIPSIZE_END);
  spn_plot_set_rgb(p, rgb, 1.0);
  cairo_move_to(p->cr, x, y - r.y / (double)PANGO_SCALE);
  pango_cairo_show_layout(p->cr, layout);
  g_object_unref(layout);
}

void
spn_plot_text_vertical(SpnPlot *p, SpnTextStyle style, const char *text, double x, double y,
                       double ax, double ay, const double rgb[3])
{
  if (p->cr == NULL)
    return;
  PangoRectangle r;
  PangoLayout *layout = make_layout(p, style, text, &r);
  double w = r.width / (double)PANGO_SCALE, h = r.height / (double)PANGO_SCALE;
  cairo_save(p->cr);
  /* the turned box is h wide and w tall; the text starts at its bottom left */
  cairo_translate(p->cr, x - ax * h, y - ay * w + w);
  cairo_rotate(p->cr, -G_PI / 2);
  spn_plot_set_rgb(p, rgb, 1.0);
  cairo_move_to(p->cr, -r.x / (double)PANGO_SCALE, -r.y / (double)PANGO_SCALE);
  pango_cairo_show_layout(p->cr, layout);
  cairo_restore(p->cr);
  g_object_unref(layout);
}

void
spn_plot_fill_background(SpnPlot *p, double width, double height)
{
  if (p->cr == NULL)
    return;
  spn_plot_set_rgb(p, p->pal->bg, 1.0);
  cairo_rectangle(p->cr, 0, 0, width, height);
  cairo_fill(p->cr);
}

/* The title as it fits in width: whole " · " parts dropped from the end (an ellipsis says so),
 * never a number cut in two. The first part, the figure's name, always stays. */
static char *
fit_title(SpnPlot *p, const char *title, double width)
{
  static const char sep[] = " \u00b7 ";
  double w;
  spn_plot_text_size(p, SPN_TEXT_TITLE, title, &w, NULL);
  if (w <= width)
    return g_strdup(title);
  g_auto(GStrv) parts = g_strsplit(title, sep, -1);
  for (int keep = (int)g_strv_length(parts) - 1; keep >= 1; keep--) {
    char *cut = parts[keep];
    parts[keep] = NULL;
    g_autofree char *head = g_strjoinv(sep, parts);
    parts[keep] = cut;
    char *shorter = g_strconcat(head, sep, "\u2026", NULL);
    spn_plot_text_size(p, SPN_TEXT_TITLE, shorter, &w, NULL);
    if (w <= width || keep == 1)
      return shorter;
    g_free(shorter);
  }
  return g_strdup(title);
}

SpnRect
spn_plot_title(SpnPlot *p, SpnRect r, const char *title)
{
  double h;
  spn_plot_text_size(p, SPN_TEXT_TITLE, title, NULL, &h);
  double pad = 0.5 * p->fs;
  g_autofree char *shown = fit_title(p, title, r.w - 2 * pad);
  spn_plot_text(p, SPN_TEXT_TITLE, shown, r.x + pad, r.y + pad, 0.0, 0.0, p->pal->fg);
  SpnRect rest = {r.x, r.y + pad + h, r.w, MAX(0.0, r.h - pad - h)};
  return rest;
}

SpnRect
spn_plot_note(SpnPlot *p, SpnRect r, const char *note)
{
  double pad = 0.5 * p->fs;
  PangoLayout *layout = pango_layout_new(p->pango);
  pango_layout_set_font_description(layout, p->font[SPN_TEXT_SMALL]);
  pango_layout_set_width(layout, (int)(MAX(r.w - 2 * pad, p->fs * 6) * PANGO_SCALE));
  pango_layout_set_wrap(layout, PANGO_WRAP_WORD);
  pango_layout_set_text(layout, note, -1);
  PangoRectangle lr;
  pango_layout_get_extents(layout, NULL, &lr);
  if (p->cr) {
    spn_plot_set_rgb(p, p->pal->muted, 1.0);
    cairo_move_to(p->cr, r.x + pad, r.y + 0.15 * p->fs);
    pango_cairo_show_layout(p->cr, layout);
  }
  g_object_unref(layout);
  double used = lr.height / (double)PANGO_SCALE + 0.3 * p->fs;
  SpnRect rest = {r.x, r.y + used, r.w, MAX(0.0, r.h - used)};
  return rest;
}

void
spn_plot_message(SpnPlot *p, SpnRect r, const char *message)
{
  if (p->cr == NULL)
    return;
  PangoLayout *layout = pango_layout_new(p->pango);
  pango_layout_set_font_description(layout, p->font[SPN_TEXT_NORMAL]);
  pango_layout_set_width(layout, (int)(MAX(r.w * 0.8, p->fs * 6) * PANGO_SCALE));
  pango_layout_set_wrap(layout, PANGO_WRAP_WORD);
  pango_layout_set_alignment(layout, PANGO_ALIGN_CENTER);
  pango_layout_set_text(layout, message, -1);
  PangoRectangle lr;
  pango_layout_get_extents(layout, NULL, &lr);
  double lw = pango_layout_get_width(layout) / (double)PANGO_SCALE;
  spn_plot_set_rgb(p, p->pal->muted, 1.0);
  cairo_move_to(p->cr, r.x + (r.w - lw) / 2, r.y + (r.h - lr.height / (double)PANGO_SCALE) / 2);
  pango_cairo_show_layout(p->cr, layout);
  g_object_unref(layout);
}

void
spn_plot_series_rgb(SpnPlot *p, int i, double rgb[3])
{
  const double *c = series_colors[((i % 10) + 10) % 10];
  /* past ten series the cycle repeats darker, then lighter, so neighbours still differ */
  double shade = (i / 10) % 2 == 1 ? 0.72 : 1.0;
  gboolean dark = p->pal == &dark_palette;
  for (int k = 0; k < 3; k++) {
    double v = c[k] * shade;
    rgb[k] = dark ? v + (1.0 - v) * 0.12 : v;
  }
}

/* ---- legends ---- */

static void
legend_mark(SpnPlot *p, const SpnLegendItem *it, double x, double y, double w, double h)
{
  cairo_t *cr = p->cr;
  double cy = y + h / 2;
  spn_plot_set_rgb(p, it->rgb, it->alpha > 0 ? it->alpha : 1.0);
  switch (it->mark) {
  case SPN_LEGEND_BOX:
    cairo_rectangle(cr, x, cy - h * 0.3, w, h * 0.6);
    cairo_fill(cr);
    break;
  case SPN_LEGEND_DOT:
    cairo_arc(cr, x + w / 2, cy, h * 0.22, 0, 2 * G_PI);
    cairo_fill(cr);
    break;
  case SPN_LEGEND_DASH:
  case SPN_LEGEND_LINE: {
    double dash[] = {p->fs * 0.35, p->fs * 0.25};
    cairo_set_line_width(cr, 2.0);
    cairo_set_dash(cr, dash, it->mark == SPN_LEGEND_DASH ? 2 : 0, 0);
    cairo_move_to(cr, x, cy);
    cairo_line_to(cr, x + w, cy);
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
    break;
  }
  }
}

SpnRect
spn_plot_legend(SpnPlot *p, SpnRect r, const SpnLegendItem *items, int n)
{
  double pad = 0.5 * p->fs, mark_w = 1.5 * p->fs, gap = 0.35 * p->fs, spacing = 1.0 * p->fs;
  double h;
  spn_plot_text_size(p, SPN_TEXT_SMALL, "Ag", NULL, &h);
  double x = r.x + pad, y = r.y + 0.2 * p->fs;
  double right = r.x + r.w - pad;
  for (int i = 0; i < n; i++) {
    double tw;
    spn_plot_text_size(p, SPN_TEXT_SMALL, items[i].label, &tw, NULL);
    double iw = mark_w + gap + tw;
    if (x > r.x + pad && x + iw > right) {
      x = r.x + pad;
      y += h * 1.15;
    }
    if (p->cr) {
      legend_mark(p, &items[i], x, y, mark_w, h);
      spn_plot_text(p, SPN_TEXT_SMALL, items[i].label, x + mark_w + gap, y, 0.0, 0.0, p->pal->fg);
    }
    x += iw + spacing;
  }
  double used = n > 0 ? y + h + 0.2 * p->fs - r.y : 0.0;
  SpnRect rest = {r.x, r.y + used, r.w, MAX(0.0, r.h - used)};
  return rest;
}

/* ---- axes ---- */

static double
axis_t(const SpnAxis *a, double v)
{
  if (a->log)
    return (log10(MAX(v, 1e-300)) - log10(a->v0)) / (log10(a->v1) - log10(a->v0));
  return (v - a->v0) / (a->v1 - a->v0);
}

double
spn_axis_px(const SpnAxis *a, double v)
{
  return a->p0 + axis_t(a, v) * (a->p1 - a->p0);
}

double
spn_axis_value(const SpnAxis *a, double px)
{
  double t = (px - a->p0) / (a->p1 - a->p0);
  if (a->log)
    return pow(10.0, log10(a->v0) + t * (log10(a->v1) - log10(a->v0)));
  return a->v0 + t * (a->v1 - a->v0);
}

static int
linear_ticks(double v0, double v1, int max_ticks, double *ticks)
{
  static const double mantissa[] = {1, 2, 5};
  double range = v1 - v0;
  if (!(range > 0) || max_ticks < 1)
    return 0;
  double base = pow(10.0, floor(log10(range / max_ticks)));
  for (int e = 0; e < 40; e++) {
    double step = mantissa[e % 3] * base * pow(10.0, e / 3);
    double first = ceil(v0 / step - 1e-9) * step;
    int n = 0;
    for (double v = first; v <= v1 + step * 1e-9 && n < SPN_AXIS_MAX_TICKS; v += step)
      ticks[n++] = fabs(v) < step * 1e-9 ? 0.0 : v;
    if (n <= max_ticks)
      return n;
  }
  return 0;
}

static int
log_ticks(double v0, double v1, int max_ticks, double *ticks)
{
  int d0 = (int)ceil(log10(v0) - 1e-9), d1 = (int)floor(log10(v1) + 1e-9);
  int decades = d1 - d0 + 1;
  if (decades < 2 || max_ticks < 2) {
    /* within about a decade: 1-2-5 steps read better than a single power of ten */
    int n = 0;
    for (int d = d0 - 1; d <= d1 && n < SPN_AXIS_MAX_TICKS; d++)
      for (int k = 0; k < 3 && n < SPN_AXIS_MAX_TICKS; k++) {
        double v = (k == 0 ? 1 : k == 1 ? 2 : 5) * pow(10.0, d);
        if (v >= v0 * (1 - 1e-9) && v <= v1 * (1 + 1e-9))
          ticks[n++] = v;
      }
    if (n >= 2 && n <= max_ticks)
      return n;
    return linear_ticks(v0, v1, max_ticks, ticks);
  }
  int stride = (decades + max_ticks - 1) / max_ticks;
  int n = 0;
  for (int d = d0; d <= d1 && n < SPN_AXIS_MAX_TICKS; d += stride)
    ticks[n++] = pow(10.0, d);
  return n;
}

int
spn_axis_ticks(const SpnAxis *a, int max_ticks, double ticks[SPN_AXIS_MAX_TICKS])
{
  max_ticks = CLAMP(max_ticks, 1, SPN_AXIS_MAX_TICKS);
  if (a->log)
    return log_ticks(a->v0, a->v1, max_ticks, ticks);
  return linear_ticks(MIN(a->v0, a->v1), MAX(a->v0, a->v1), max_ticks, ticks);
}

void
spn_axis_format(const SpnAxis *a, const double *ticks, int n, double v, char buf[32])
{
  if (a->log) {
    double d = log10(fabs(v));
    if (v != 0 && (d < -3.5 || d >= 6))
      snprintf(buf, 32, "1e%d", (int)lround(d));
    else if (fabs(v) >= 1e4)
      snprintf(buf, 32, "%gk", v / 1000);
    else
      snprintf(buf, 32, "%g", v);
    return;
  }
  double step = n > 1 ? fabs(ticks[1] - ticks[0]) : fabs(v) > 0 ? fabs(v) : 1.0;
  double maxabs = 0;
  for (int i = 0; i < n; i++)
    maxabs = MAX(maxabs, fabs(ticks[i]));
  /* SI prefixes from 10⁴ up: training FLOPs reach 10¹⁵ and more */
  static const struct {
    double from, div;
    const char *suffix;
  } prefixes[] = {{1e15, 1e15, "P"}, {1e12, 1e12, "T"}, {1e9, 1e9, "G"}, {1e6, 1e6, "M"},
                  {1e4, 1e3, "k"}};
  const char *suffix = "";
  double div = 1;
  for (guint i = 0; i < G_N_ELEMENTS(prefixes); i++)
    if (maxabs >= prefixes[i].from) {
      suffix = prefixes[i].suffix;
      div = prefixes[i].div;
      break;
    }
  int decimals = (int)MAX(0.0, -floor(log10(step / div) + 1e-9));
  if (v == 0 && div > 1) {   /* "0", not "0k" */
    snprintf(buf, 32, "0");
    return;
  }
  snprintf(buf, 32, "%.*f%s", MIN(decimals, 8), v / div, suffix);
}

/* ---- charts ---- */

static double
widest_label(SpnPlot *p, const SpnAxis *a, const double *t, int n)
{
  double w = 0;
  for (int i = 0; i < n; i++) {
    char buf[32];
    double tw;
    spn_axis_format(a, t, n, t[i], buf);
    spn_plot_text_size(p, SPN_TEXT_SMALL, buf, &tw, NULL);
    w = MAX(w, tw);
  }
  return w;
}

/* as many ticks as fit along a vertical axis with a line of room between labels */
static int
fit_vertical(SpnPlot *p, const SpnAxis *a, double *t)
{
  double h;
  spn_plot_text_size(p, SPN_TEXT_SMALL, "0", NULL, &h);
  int max = CLAMP((int)(fabs(a->p0 - a->p1) / (h * 2.0)) + 1, 2, 9);
  for (; max >= 2; max--) {
    int n = spn_axis_ticks(a, max, t);
    gboolean ok = TRUE;
    for (int i = 1; i < n && ok; i++)
      ok = fabs(spn_axis_px(a, t[i]) - spn_axis_px(a, t[i - 1])) >= h * 1.25;
    if (ok)
      return n;
  }
  return spn_axis_ticks(a, 1, t);
}

static int
fit_horizontal(SpnPlot *p, const SpnAxis *a, double *t)
{
  int max = CLAMP((int)(fabs(a->p1 - a->p0) / (p->fs * 3.0)) + 1, 2, 12);
  for (; max >= 2; max--) {
    int n = spn_axis_ticks(a, max, t);
    gboolean ok = TRUE;
    double prev_right = -G_MAXDOUBLE;
    for (int i = 0; i < n && ok; i++) {
      char buf[32];
      double w;
      spn_axis_format(a, t, n, t[i], buf);
      spn_plot_text_size(p, SPN_TEXT_SMALL, buf, &w, NULL);
      double cx = spn_axis_px(a, t[i]);
      ok = cx - w / 2 >= prev_right + p->fs * 0.9;
      prev_right = cx + w / 2;
    }
    if (ok)
      return n;
  }
  return spn_axis_ticks(a, 1, t);
}

static int
keep_integers(gboolean integer_only, double *t, int n)
{
  if (!integer_only)
    return n;
  int m = 0;
  for (int i = 0; i < n; i++)
    if (fabs(t[i] - round(t[i])) < 1e-6)
      t[m++] = round(t[i]);
  return m;
}

void
spn_chart_layout(SpnPlot *p, SpnRect outer, const SpnChartSpec *spec, SpnChart *c)
{
  memset(c, 0, sizeof *c);
  c->spec = *spec;
  c->outer = outer;
  double pad = 0.5 * p->fs, tick = 0.35 * p->fs, hs, hn;
  spn_plot_text_size(p, SPN_TEXT_SMALL, "0", NULL, &hs);
  spn_plot_text_size(p, SPN_TEXT_NORMAL, "Ag", NULL, &hn);
  double top = pad + hs / 2;
  double bottom = pad + spec->bottom_extra;
  if (!spec->no_xticks)
    bottom += tick + (spec->no_xlabels ? 0 : hs + 0.15 * p->fs);
  if (spec->xlabel && !spec->no_xlabels)
    bottom += hn + 0.1 * p->fs;
  c->area.y = outer.y + top;
  c->area.h = MAX(1.0, outer.h - top - bottom);
  c->y = (SpnAxis){spec->y0, spec->y1, spec->ylog, c->area.y + c->area.h, c->area.y};
  c->ny = keep_integers(spec->integer_ticks, c->yt, fit_vertical(p, &c->y, c->yt));
  double left = pad + tick + spec->left_extra;
  if (!spec->no_ylabels) {
    left += 0.25 * p->fs + widest_label(p, &c->y, c->yt, c->ny);
    if (spec->ylabel)
      left += hn + 0.3 * p->fs;
  }
  double right = pad;
  if (spec->has_y2) {
    c->y2 = (SpnAxis){spec->y20, spec->y21, spec->y2log, c->y.p0, c->y.p1};
    c->ny2 = fit_vertical(p, &c->y2, c->y2t);
    right += tick + 0.25 * p->fs + widest_label(p, &c->y2, c->y2t, c->ny2);
    if (spec->y2label)
      right += hn + 0.3 * p->fs;
  } else if (!spec->no_xticks && !spec->no_xlabels) {
    /* the last x label is centred on its tick and may stick out past the area */
    SpnAxis probe_axis = {spec->x0, spec->x1, spec->xlog, 0, outer.w};
    double t[SPN_AXIS_MAX_TICKS];
    int n = spn_axis_ticks(&probe_axis, 6, t);
    char buf[32];
    double w = 0;
    spn_axis_format(&probe_axis, t, n, spec->x1, buf);
    spn_plot_text_size(p, SPN_TEXT_SMALL, buf, &w, NULL);
    right = MAX(right, w / 2 + 0.2 * p->fs);
  }
  c->area.x = outer.x + left;
  c->area.w = MAX(1.0, outer.w - left - right);
  c->x = (SpnAxis){spec->x0, spec->x1, spec->xlog, c->area.x, c->area.x + c->area.w};
  if (!spec->no_xticks)
    c->nx = keep_integers(spec->integer_ticks || spec->integer_x, c->xt,
                          fit_horizontal(p, &c->x, c->xt));
}

void
spn_chart_align_x(SpnPlot *p, SpnChart *const *charts, int n)
{
  double left = -G_MAXDOUBLE, right = G_MAXDOUBLE;
  for (int i = 0; i < n; i++) {
    left = MAX(left, charts[i]->area.x);
    right = MIN(right, charts[i]->area.x + charts[i]->area.w);
  }
  for (int i = 0; i < n; i++) {
    SpnChart *c = charts[i];
    c->area.x = left;
    c->area.w = MAX(1.0, right - left);
    c->x.p0 = c->area.x;
    c->x.p1 = c->area.x + c->area.w;
    if (!c->spec.no_xticks)
      c->nx = keep_integers(c->spec.integer_ticks || c->spec.integer_x, c->xt,
                            fit_horizontal(p, &c->x, c->xt));
  }
}

static double
crisp(double v)
{
  return floor(v) + 0.5;
}

void
spn_chart_draw_grid(SpnPlot *p, const SpnChart *c)
{
  cairo_t *cr = p->cr;
  if (cr == NULL)
    return;
  cairo_save(cr);
  spn_plot_set_rgb(p, p->pal->grid, 1.0);
  cairo_set_line_width(cr, 1.0);
  for (int i = 0; i < c->ny; i++) {
    double y = crisp(spn_axis_px(&c->y, c->yt[i]));
    cairo_move_to(cr, c->area.x, y);
    cairo_line_to(cr, c->area.x + c->area.w, y);
  }
  for (int i = 0; i < c->nx; i++) {
    double x = crisp(spn_axis_px(&c->x, c->xt[i]));
    cairo_move_to(cr, x, c->area.y);
    cairo_line_to(cr, x, c->area.y + c->area.h);
  }
  cairo_stroke(cr);
  cairo_restore(cr);
}

static void
draw_y_ticks(SpnPlot *p, const SpnChart *c, const SpnAxis *a, const double *t, int n, double x,
             int side)
{
  cairo_t *cr = p->cr;
  double tick = 0.35 * p->fs;
  for (int i = 0; i < n; i++) {
    double y = spn_axis_px(a, t[i]);
    cairo_move_to(cr, x, crisp(y));
    cairo_line_to(cr, x + side * tick, crisp(y));
  }
  spn_plot_set_rgb(p, p->pal->frame, 1.0);
  cairo_stroke(cr);
  if (side < 0 && c->spec.no_ylabels)
    return;
  double extra = side < 0 ? c->spec.left_extra : 0.0;
  double widest = widest_label(p, a, t, n);
  for (int i = 0; i < n; i++) {
    char buf[32];
    spn_axis_format(a, t, n, t[i], buf);
    double y = spn_axis_px(a, t[i]);
    spn_plot_text(p, SPN_TEXT_SMALL, buf, x + side * (tick + extra + 0.25 * p->fs), y,
                  side < 0 ? 1.0 : 0.0, 0.5, p->pal->muted);
  }
  const char *label = side < 0 ? c->spec.ylabel : c->spec.y2label;
  if (label) {
    double lx = x + side * (tick + extra + 0.25 * p->fs + widest + 0.3 * p->fs);
    spn_plot_text_vertical(p, SPN_TEXT_NORMAL, label, lx, c->area.y + c->area.h / 2,
                           side < 0 ? 1.0 : 0.0, 0.5, p->pal->fg);
  }
}

void
spn_chart_draw_axes(SpnPlot *p, const SpnChart *c)
{
  cairo_t *cr = p->cr;
  if (cr == NULL)
    return;
  cairo_save(cr);
  cairo_set_line_width(cr, 1.0);
  spn_plot_set_rgb(p, p->pal->frame, 1.0);
  double x0 = crisp(c->area.x), y1 = crisp(c->area.y + c->area.h);
  cairo_rectangle(cr, x0, crisp(c->area.y), crisp(c->area.x + c->area.w) - x0,
                  y1 - crisp(c->area.y));
  cairo_stroke(cr);
  draw_y_ticks(p, c, &c->y, c->yt, c->ny, c->area.x, -1);
  if (c->spec.has_y2)
    draw_y_ticks(p, c, &c->y2, c->y2t, c->ny2, c->area.x + c->area.w, +1);
  double tick = 0.35 * p->fs, hs;
  spn_plot_text_size(p, SPN_TEXT_SMALL, "0", NULL, &hs);
  spn_plot_set_rgb(p, p->pal->frame, 1.0);
  for (int i = 0; i < c->nx; i++) {
    double x = crisp(spn_axis_px(&c->x, c->xt[i]));
    cairo_move_to(cr, x, y1);
    cairo_line_to(cr, x, y1 + tick);
  }
  cairo_stroke(cr);
  if (!c->spec.no_xlabels) {
    for (int i = 0; i < c->nx; i++) {
      char buf[32];
      spn_axis_format(&c->x, c->xt, c->nx, c->xt[i], buf);
      spn_plot_text(p, SPN_TEXT_SMALL, buf, spn_axis_px(&c->x, c->xt[i]),
                    y1 + c->spec.bottom_extra + tick + 0.1 * p->fs, 0.5, 0.0, p->pal->muted);
    }
    if (c->spec.xlabel) {
      double ly = y1 + c->spec.bottom_extra + (c->spec.no_xticks ? 0.2 * p->fs
                                                                  : tick + hs + 0.25 * p->fs);
      spn_plot_text(p, SPN_TEXT_NORMAL, c->spec.xlabel, c->area.x + c->area.w / 2, ly, 0.5, 0.0,
                    p->pal->fg);
    }
  }
  cairo_restore(cr);
}

void
spn_chart_clip(SpnPlot *p, const SpnChart *c)
{
  if (p->cr == NULL)
    return;
  cairo_save(p->cr);
  cairo_rectangle(p->cr, c->area.x, c->area.y, c->area.w, c->area.h);
  cairo_clip(p->cr);
}

/* ---- numbers ---- */

void
spn_range_finite(const float *v, gsize n, gsize stride, double *lo, double *hi)
{
  *lo = NAN;
  *hi = NAN;
  for (gsize i = 0; i < n; i++) {
    double x = v[i * stride];
    if (!isfinite(x))
      continue;
    if (isnan(*lo) || x < *lo)
      *lo = x;
    if (isnan(*hi) || x > *hi)
      *hi = x;
  }
}

void
spn_range_pad(double *lo, double *hi, gboolean log, gboolean from_zero)
{
  if (!isfinite(*lo) || !isfinite(*hi)) {
    *lo = log ? 1.0 : 0.0;
    *hi = log ? 10.0 : 1.0;
    return;
  }
  if (log) {
    *lo = MAX(*lo, *hi * 1e-6);
    if (!(*hi > 0)) {
      *lo = 1.0;
      *hi = 10.0;
      return;
    }
    if (!(*lo > 0))
      *lo = *hi / 10.0;
    double l0 = log10(*lo), l1 = log10(*hi);
    double m = MAX((l1 - l0) * 0.05, 0.05);
    *lo = pow(10.0, l0 - m);
    *hi = pow(10.0, l1 + m);
    return;
  }
  if (from_zero)
    *lo = MIN(*lo, 0.0);
  double span = *hi - *lo;
  if (!(span > 0))
    span = MAX(fabs(*hi), 1.0);
  if (!from_zero || *lo < 0)
    *lo -= span * 0.05;
  *hi += span * 0.05;
}
