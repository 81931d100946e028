/* fig_masks.c — the soft mask m(δ) of every head of one layer over the distance δ, and on the
 * same distance axis the attention each head really paid per distance when reading the probe
 * text (mean over queries), so the learned span can be compared with where the head looks.
 *
 * m(δ) = clamp((R + z·S − (δ − 1)) / R, 0, 1) (docs/MODEL.md): 1 up to δ = z·S + 1, 0 from
 * δ = z·S + R + 1 on. */
#include <math.h>
#include <stdio.h>

#include "figure-private.h"
#include "lines.h"

typedef struct {
  SpnChart chart;
  int layer, nheads;
  double xmax;
  int measured_len;   /* distances with a measured mean, 0 without a probe */
  double measured_max;
} MasksLayout;

static double
mask_at(const SpnSnapshot *s, double span, double delta)
{
  if (!s->cfg.adapt_span)
    return 1.0;
  double R = s->cfg.adapt_span_ramp;
  if (R <= 0)
    return delta - 1 <= span ? 1.0 : 0.0;
  return CLAMP((R + span - (delta - 1)) / R, 0.0, 1.0);
}

/* mean over the probe's queries of the weight each gave to distance δ = 1..len */
static float *
measured_mean(const SpnProbeHead *ph, int n, int len)
{
  float *mean = g_new0(float, MAX(len, 1));
  len = MIN(len, ph->window);
  for (int i = 0; i < n; i++) {
    const float *w = ph->weights + (gsize)i * ph->window;
    for (int d = 0; d < len; d++)
      mean[d] += w[d];
  }
  for (int d = 0; d < len; d++)
    mean[d] /= n;
  return mean;
}

static gboolean
valid_layer(const SpnSnapshot *s, const SpnFigureOptions *o)
{
  return s->spans && o->layer >= 0 && o->layer < s->cfg.nlayers && s->cfg.nheads > 0;
}

static SpnRect
masks_header(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  g_autofree char *base = g_strdup_printf("%s \u00b7 layer %d", spn_figure_title(SPN_FIGURE_MASKS),
                                          o->layer);
  g_autofree char *title = spn_fig_title_with_step(base, s);
  r = spn_plot_title(p, r, title);
  if (!valid_layer(s, o))
    return r;
  int K = MIN(s->cfg.nheads, 62);
  SpnLegendItem items[64];
  char labels[64][48];
  for (int h = 0; h < K; h++) {
    snprintf(labels[h], sizeof labels[h], "head %d (span %.0f)", h, spn_fig_span(s, o->layer, h));
    items[h] = (SpnLegendItem){.label = labels[h], .mark = SPN_LEGEND_LINE};
    spn_plot_series_rgb(p, h, items[h].rgb);
    items[h].alpha = o->head >= 0 && o->head != h ? 0.45 : 1.0;
  }
  int n = K;
  if (s->probe) {
    items[n] = (SpnLegendItem){.label = "measured mean weight (filled, right axis)",
                               .mark = SPN_LEGEND_BOX, .alpha = 0.5};
    for (int c = 0; c < 3; c++)
      items[n].rgb[c] = p->pal->muted[c];
    n++;
  }
  r = spn_plot_legend(p, r, items, n);
  if (s->probe == NULL)
    r = spn_plot_note(p, r, s->reading ? "Reading the text\u2026"
                                       : "No probe text: the attention measured per distance "
                                         "appears once the model has read a text.");
  return r;
}

static void
masks_layout(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o,
             MasksLayout *L, float ***measured)
{
  const SpnConfig *c = &s->cfg;
  L->layer = o->layer;
  L->nheads = c->nheads;
  double S = MAX(c->attn_span, 1), R = c->adapt_span ? c->adapt_span_ramp : 0;
  double reach = 0;
  for (int h = 0; h < c->nheads; h++)
    reach = MAX(reach, c->adapt_span ? spn_fig_span(s, o->layer, h) + R + 1 : S);
  L->xmax = MIN(S, MAX(reach + MAX(R, 0.12 * reach), 4.0));
  L->measured_len = 0;
  L->measured_max = 0;
  if (measured)
    *measured = NULL;
  if (s->probe && s->probe->n > 0) {
    L->measured_len = (int)ceil(L->xmax);
    float **m = g_new0(float *, c->nheads);
    for (int h = 0; h < c->nheads; h++) {
      const SpnProbeHead *ph = spn_fig_probe_head(s, o->layer, h);
      if (ph == NULL)
        continue;
      m[h] = measured_mean(ph, s->probe->n, L->measured_len);
      for (int d = 0; d < MIN(L->measured_len, ph->window); d++)
        L->measured_max = MAX(L->measured_max, m[h][d]);
    }
    if (measured)
      *measured = m;
    else {
      for (int h = 0; h < c->nheads; h++)
        g_free(m[h]);
      g_free(m);
    }
  }
  double mm = L->measured_max > 0 ? L->measured_max : 1.0;
  SpnChartSpec spec = {
    .xlabel = spn_fig_distance_label(s),
    .ylabel = "mask m(\u03b4)",
    .x0 = o->log_axis ? 1.0 : 0.0, .x1 = L->xmax,
    .xlog = o->log_axis,
    .y0 = -0.04, .y1 = 1.08,
    .has_y2 = L->measured_len > 0,
    .y2label = "mean weight",
    .y20 = -0.04 * mm, .y21 = 1.08 * mm,
  };
  if (o->log_axis && L->xmax <= 1.0)
    spec.x1 = 10.0;
  spn_chart_layout(p, r, &spec, &L->chart);
}

static void
free_measured(float **m, int nheads)
{
  if (m == NULL)
    return;
  for (int h = 0; h < nheads; h++)
    g_free(m[h]);
  g_free(m);
}

static void
draw_measured(SpnPlot *p, const MasksLayout *L, const SpnSnapshot *s, const SpnFigureOptions *o,
              float **measured)
{
  g_autofree gint64 *delta = g_new(gint64, L->measured_len);
  for (int d = 0; d < L->measured_len; d++)
    delta[d] = d + 1;
  SpnLines *lines = spn_lines_begin(p, &L->chart.area);
  for (int h = 0; h < L->nheads; h++) {
    const SpnProbeHead *ph = spn_fig_probe_head(s, o->layer, h);
    if (measured[h] == NULL || ph == NULL)
      continue;
    double rgb[3];
    spn_plot_series_rgb(p, h, rgb);
    double alpha = o->head >= 0 && o->head != h ? 0.35 : 1.0;
    spn_lines_add(lines, &L->chart.x, &L->chart.y2, delta, measured[h],
                  (gsize)MIN(L->measured_len, ph->window), 1, rgb, alpha, 1.0, 0.14 * alpha, 0.0);
  }
  spn_lines_end(lines);
}

static void
draw_masks(SpnPlot *p, const MasksLayout *L, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  cairo_t *cr = p->cr;
  double R = s->cfg.adapt_span ? s->cfg.adapt_span_ramp : 0;
  double x0 = L->chart.x.v0, x1 = L->chart.x.v1;
  for (int h = 0; h < L->nheads; h++) {
    double span = s->cfg.adapt_span ? spn_fig_span(s, o->layer, h) : x1;
    double knee = span + 1, foot = span + R + 1;
    cairo_move_to(cr, spn_axis_px(&L->chart.x, x0), spn_axis_px(&L->chart.y, mask_at(s, span, x0)));
    if (knee > x0 && knee < x1)
      cairo_line_to(cr, spn_axis_px(&L->chart.x, knee), spn_axis_px(&L->chart.y, 1.0));
    if (foot > x0 && foot < x1)
      cairo_line_to(cr, spn_axis_px(&L->chart.x, foot), spn_axis_px(&L->chart.y, 0.0));
    cairo_line_to(cr, spn_axis_px(&L->chart.x, x1), spn_axis_px(&L->chart.y, mask_at(s, span, x1)));
    double rgb[3];
    spn_plot_series_rgb(p, h, rgb);
    gboolean emphasised = o->head == h;
    cairo_set_line_width(cr, emphasised ? 3.0 : 2.0);
    spn_plot_set_rgb(p, rgb, o->head >= 0 && !emphasised ? 0.45 : 1.0);
    cairo_stroke(cr);
  }
}

void
spn_fig_masks_draw(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  r = masks_header(p, r, s, o);
  if (!valid_layer(s, o)) {
    g_autofree char *msg = g_strdup_printf("Layer %d does not exist: the model has layers 0 to %d.",
                                           o->layer, s->cfg.nlayers - 1);
    spn_plot_message(p, r, s->spans ? msg : "No model yet: the masks appear once a model exists.");
    return;
  }
  MasksLayout L;
  float **measured = NULL;
  masks_layout(p, r, s, o, &L, &measured);
  spn_chart_draw_grid(p, &L.chart);
  spn_chart_clip(p, &L.chart);
  cairo_set_line_join(p->cr, CAIRO_LINE_JOIN_ROUND);
  if (measured)
    draw_measured(p, &L, s, o, measured);
  draw_masks(p, &L, s, o);
  cairo_restore(p->cr);
  spn_chart_draw_axes(p, &L.chart);
  free_measured(measured, L.nheads);
}

char *
spn_fig_masks_describe(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o,
                       double x, double y)
{
  r = masks_header(p, r, s, o);
  if (!valid_layer(s, o))
    return NULL;
  MasksLayout L;
  float **measured = NULL;
  masks_layout(p, r, s, o, &L, &measured);
  char *text = NULL;
  if (spn_rect_contains(&L.chart.area, x, y)) {
    int delta = MAX(1, (int)lround(spn_axis_value(&L.chart.x, x)));
    int best = 0;
    double best_d = G_MAXDOUBLE;
    for (int h = 0; h < L.nheads; h++) {
      double span = s->cfg.adapt_span ? spn_fig_span(s, o->layer, h) : s->cfg.attn_span;
      double d = fabs(spn_axis_px(&L.chart.y, mask_at(s, span, delta)) - y);
      if (measured && measured[h] && delta <= L.measured_len)
        d = MIN(d, fabs(spn_axis_px(&L.chart.y2, measured[h][delta - 1]) - y));
      if (d < best_d) {
        best_d = d;
        best = h;
      }
    }
    double span = s->cfg.adapt_span ? spn_fig_span(s, o->layer, best) : s->cfg.attn_span;
    g_autofree char *mean = NULL;
    if (measured && measured[best] && delta <= L.measured_len)
      mean = g_strdup_printf(", mean weight %.3g", measured[best][delta - 1]);
    text = g_strdup_printf("distance %d \u00b7 head %d (span %.1f): m = %.3f%s", delta, best, span,
                           mask_at(s, span, delta), mean ? mean : "");
  }
  free_measured(measured, L.nheads);
  return text;
}
