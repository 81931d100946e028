/* fig_distance.c — attention by distance: query position (rows, downwards) × distance back
 * δ = 1 … window (columns), one head or every head of the layer side by side. A head that copies
 * from a fixed distance is one vertical line at that distance; the head's mask edges, where the
 * soft mask starts to fall (z·S + 1) and where it reaches 0 (z·S + R + 1), are drawn as in the
 * soft-mask figure, so the two line up. Cells before the start of the text are "no data" (their
 * mass went to the zero cache); query characters label the rows when they fit. */
#include <math.h>
#include <stdio.h>

#include "figure-private.h"
#include "heatmap.h"

#define MAX_PANELS 16

typedef struct {
  int n_panels, head[MAX_PANELS];
  SpnChart chart[MAX_PANELS]; /* x: δ (cell δ spans δ ± 0.5), y: query (growing downwards) */
  int qa, qb;                 /* visible queries [qa, qb) */
  int wmax;                   /* distances shown: 1 … wmax */
  gboolean query_chars;
  SpnRect bar;
} DistLayout;

static gboolean
probe_ok(const SpnSnapshot *s, const SpnFigureOptions *o)
{
  const SpnProbe *pr = s->probe;
  return pr && pr->n > 0 && o->layer >= 0 && o->layer < pr->nlayers && o->head >= -1 &&
         o->head < pr->nheads;
}

static SpnRect
distance_header(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  g_autofree char *which = o->head >= 0 ? g_strdup_printf("layer %d head %d", o->layer, o->head)
                                        : g_strdup_printf("layer %d, all heads", o->layer);
  g_autofree char *base =
      g_strdup_printf("%s \u00b7 %s%s", spn_figure_title(SPN_FIGURE_DISTANCE), which,
                      o->log_color ? " \u00b7 log colour" : "");
  g_autofree char *title = spn_fig_title_with_step(base, s);
  return spn_plot_title(p, r, title);
}

static void
distance_layout(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o,
                DistLayout *L)
{
  const SpnProbe *pr = s->probe;
  int n = pr->n;
  L->n_panels = o->head >= 0 ? 1 : MIN(pr->nheads, MAX_PANELS);
  L->wmax = 1;
  for (int i = 0; i < L->n_panels; i++) {
    L->head[i] = o->head >= 0 ? o->head : i;
    L->wmax = MAX(L->wmax, spn_fig_probe_head(s, o->layer, L->head[i])->window);
  }
  /* the window's query zoom, if any */
  double q0 = 0, q1 = n;
  if (o->q1 > o->q0) {
    q0 = CLAMP(o->q0, 0, n - 1);
    q1 = CLAMP(o->q1, q0 + 1, n);
  }
  L->qa = (int)floor(q0);
  L->qb = MIN(n, (int)ceil(q1));
  double hs, cw;
  spn_plot_text_size(p, SPN_TEXT_SMALL, "0", NULL, &hs);
  spn_plot_text_size(p, SPN_TEXT_SMALL, "W", &cw, NULL);
  double bar_w = 0.9 * p->fs, right = bar_w + spn_heat_colorbar_margin(p) + p->fs;
  double gap = 0.8 * p->fs, pw = (r.w - right - gap * (L->n_panels - 1)) / L->n_panels;
  /* characters fit when each row is at least a line tall */
  L->query_chars = (L->qb - L->qa) * hs * 1.05 <= r.h * 0.8;
  for (int i = 0; i < L->n_panels; i++) {
    SpnChartSpec spec = {
      .xlabel = spn_fig_distance_label(s),
      .ylabel = i == 0 ? "query position" : NULL,
      .x0 = 0.5, .x1 = L->wmax + 0.5,
      /* whole rows: queries grow downwards, row q centred on q */
      .y0 = L->qb - 0.5, .y1 = L->qa - 0.5,
      .integer_x = TRUE, .integer_ticks = TRUE,
      .no_ylabels = i > 0 || L->query_chars,
      .left_extra = i == 0 && L->query_chars ? cw * 1.6 : 0.0,
      .bottom_extra = L->n_panels > 1 ? hs * 1.2 : 0.0,
    };
    SpnRect outer = {r.x + i * (pw + gap), r.y, MAX(1.0, pw), r.h};
    spn_chart_layout(p, outer, &spec, &L->chart[i]);
  }
  const SpnRect *a = &L->chart[0].area;
  L->bar = (SpnRect){r.x + r.w - right + 0.5 * p->fs, a->y, bar_w, MAX(1.0, a->h)};
}

/* weight of query q at distance δ; −1 where no key exists (before the text) */
static float
weight_at(const SpnProbeHead *ph, int q, int delta)
{
  if (delta > q)
    return -1.0f;
  return delta <= ph->window ? ph->weights[(gsize)q * ph->window + delta - 1] : 0.0f;
}

/* the largest weight in view */
static double
visible_max(const SpnSnapshot *s, const SpnFigureOptions *o, const DistLayout *L)
{
  double vmax = 0.0;
  for (int i = 0; i < L->n_panels; i++) {
    const SpnProbeHead *ph = spn_fig_probe_head(s, o->layer, L->head[i]);
    for (int q = L->qa; q < L->qb; q++)
      for (int d = 1; d <= MIN(q, ph->window); d++) {
        float w = ph->weights[(gsize)q * ph->window + d - 1];
        if (isfinite(w))
          vmax = MAX(vmax, w);
      }
  }
  return vmax;
}

static void
draw_mask_edges(SpnPlot *p, const SpnChart *c, const SpnSnapshot *s, int layer, int head)
{
  if (!s->cfg.adapt_span)
    return;
  double span = spn_fig_span(s, layer, head), R = s->cfg.adapt_span_ramp;
  const double edges[2] = {span + 1, span + R + 1};
  const char *labels[2] = {"z\u00b7S", "+R"};
  double accent[3];
  spn_plot_series_rgb(p, 2, accent);
  cairo_t *cr = p->cr;
  for (int e = 0; e < 2; e++) {
    /* the edges are distances: δ sits at the middle of its cell */
    double x = spn_axis_px(&c->x, edges[e]);
    if (x < c->area.x || x > c->area.x + c->area.w)
      continue;
    cairo_save(cr);
    spn_plot_set_rgb(p, accent, 0.95);
    cairo_set_line_width(cr, 1.5);
    double dash[] = {4.0, 3.0};
    cairo_set_dash(cr, dash, e == 0 ? 0 : 2, 0);
    cairo_move_to(cr, x, c->area.y);
    cairo_line_to(cr, x, c->area.y + c->area.h);
    cairo_stroke(cr);
    cairo_restore(cr);
    /* the label beside the line, on the side with room */
    gboolean left = x > c->area.x + c->area.w - 2.5 * p->fs;
    spn_plot_text(p, SPN_TEXT_SMALL, labels[e], x + (left ? -0.2 : 0.2) * p->fs,
                  c->area.y + 0.15 * p->fs, left ? 1.0 : 0.0, 0.0, accent);
  }
}

static void
draw_rows(SpnPlot *p, const DistLayout *L, const SpnChart *c, const SpnSnapshot *s, int query)
{
  const SpnRect *a = &c->area;
  if (L->query_chars)
    for (int q = L->qa; q < L->qb; q++) {
      g_autofree char *t = spn_fig_token_label(s, q);
      spn_plot_text(p, SPN_TEXT_SMALL, t, a->x - 0.4 * p->fs, spn_axis_px(&c->y, q), 1.0, 0.5,
                    p->pal->fg);
    }
  if (query < L->qa || query >= L->qb)
    return;
  double y0 = spn_axis_px(&c->y, query - 0.5), y1 = spn_axis_px(&c->y, query + 0.5);
  double accent[3];
  spn_plot_series_rgb(p, 2, accent);
  cairo_set_line_width(p->cr, 1.5);
  spn_plot_set_rgb(p, accent, 1.0);
  cairo_rectangle(p->cr, a->x - 0.75, y0 - 0.75, a->w + 1.5, MAX(y1 - y0, 0.5) + 1.5);
  cairo_stroke(p->cr);
}

void
spn_fig_distance_draw(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  r = distance_header(p, r, s, o);
  if (!probe_ok(s, o)) {
    spn_plot_message(p, r, "No text read yet: type or paste text in the inspector to see, for "
                           "each character, how far back each head looked.");
    return;
  }
  DistLayout L;
  distance_layout(p, r, s, o, &L);
  SpnHeatScale sc = spn_heat_scale(visible_max(s, o, &L), o->log_color, o->colormap);
  int rows = L.qb - L.qa;
  g_autofree float *v = g_new(float, (gsize)rows * L.wmax);
  for (int i = 0; i < L.n_panels; i++) {
    const SpnChart *c = &L.chart[i];
    const SpnProbeHead *ph = spn_fig_probe_head(s, o->layer, L.head[i]);
    for (int q = L.qa; q < L.qb; q++)
      for (int d = 1; d <= L.wmax; d++)
        v[(gsize)(q - L.qa) * L.wmax + d - 1] = weight_at(ph, q, d);
    spn_heat_paint(p, &c->area, v, L.wmax, rows, &sc);
    spn_chart_clip(p, c);
    draw_mask_edges(p, c, s, o->layer, L.head[i]);
    cairo_restore(p->cr);
    spn_chart_draw_axes(p, c);
    draw_rows(p, &L, c, s, o->query);
    if (L.n_panels > 1) {
      char t[32];
      snprintf(t, sizeof t, "head %d", L.head[i]);
      spn_plot_text(p, SPN_TEXT_SMALL, t, c->area.x + c->area.w / 2, c->area.y - 0.1 * p->fs, 0.5,
                    1.0, p->pal->fg);
    }
  }
  spn_heat_colorbar(p, &L.bar, &sc, "weight");
}

gboolean
spn_fig_distance_cell(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o,
                      double x, double y, int *head, int *query, int *delta)
{
  r = distance_header(p, r, s, o);
  if (!probe_ok(s, o))
    return FALSE;
  DistLayout L;
  distance_layout(p, r, s, o, &L);
  for (int i = 0; i < L.n_panels; i++) {
    const SpnChart *c = &L.chart[i];
    if (!spn_rect_contains(&c->area, x, y))
      continue;
    int q = (int)floor(spn_axis_value(&c->y, y) + 0.5);
    int d = (int)floor(spn_axis_value(&c->x, x) + 0.5);
    if (q < L.qa || q >= L.qb || d < 1 || d > L.wmax)
      return FALSE;
    *head = L.head[i];
    *query = q;
    *delta = d;
    return TRUE;
  }
  return FALSE;
}

char *
spn_fig_distance_describe(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o,
                          double x, double y)
{
  int h, q, d;
  if (!spn_fig_distance_cell(p, r, s, o, x, y, &h, &q, &d))
    return NULL;
  g_autofree char *qc = spn_fig_token_label(s, q);
  const SpnProbeHead *ph = spn_fig_probe_head(s, o->layer, h);
  if (d > q)
    return g_strdup_printf("head %d \u00b7 query '%s' #%d \u00b7 distance %d: before the text", h,
                           qc, q, d);
  g_autofree char *kc = spn_fig_token_label(s, q - d);
  float w = weight_at(ph, q, d);
  g_autofree char *wt = isfinite(w) ? g_strdup_printf("%.4g", w) : g_strdup("no data");
  return g_strdup_printf("head %d \u00b7 query '%s' #%d \u2192 '%s' #%d \u00b7 distance %d \u00b7 "
                         "weight %s",
                         h, qc, q, kc, q - d, d, wt);
}
