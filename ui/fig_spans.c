/* fig_spans.c — the learned spans as bars: per layer a group of per-head bars of z·S
 * characters, the ramp R beyond it lighter, the maximum span S marked (after Fig. "learned
 * spans" of the adaptive-span paper). */
#include <math.h>
#include <stdio.h>

#include "figure-private.h"

typedef struct {
  SpnChart chart;
  gboolean zoomed;   /* linear axis up to the longest reach, S above it */
  int nlayers, nheads;
  double group_w, bar_w, bar_gap, group_pad;
  gboolean long_layer_labels, head_labels;
  double row_h;
} SpansLayout;

static SpnRect
spans_header(SpnPlot *p, SpnRect r, const SpnSnapshot *s)
{
  const SpnConfig *c = &s->cfg;
  double mean, mx;
  spn_span_stats(s->spans, c->nlayers * c->nheads, &mean, &mx);
  g_autofree char *base = spn_fig_title_with_step(spn_figure_title(SPN_FIGURE_SPANS), s);
  g_autofree char *title =
    c->adapt_span ? g_strdup_printf("%s \u00b7 mean %.0f, max %.0f of S = %d", base, mean, mx,
                                    c->attn_span)
                  : g_strdup_printf("%s \u00b7 adaptive span off: every head sees S = %d", base,
                                    c->attn_span);
  return spn_plot_title(p, r, title);
}

static void
spans_layout(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o,
             SpansLayout *L)
{
  const SpnConfig *c = &s->cfg;
  L->nlayers = MAX(c->nlayers, 1);
  L->nheads = MAX(c->nheads, 1);
  double S = MAX(c->attn_span, 1), R = c->adapt_span ? c->adapt_span_ramp : 0, reach = 0;
  for (int l = 0; l < c->nlayers; l++)
    for (int h = 0; h < c->nheads; h++)
      reach = MAX(reach, MIN(spn_fig_span(s, l, h) + R, S));
  /* spans of a few characters under S = 1024 would be slivers: the linear axis stops a little
   * above the longest reach, and S is noted above it */
  L->zoomed = !o->log_axis && reach < 0.3 * S;
  double top = o->log_axis ? S * 1.6 : L->zoomed ? MAX(reach * 1.15, 8.0) : S * 1.06;
  double hs;
  spn_plot_text_size(p, SPN_TEXT_SMALL, "0", NULL, &hs);
  L->row_h = hs * 1.15;
  /* a first pass at the width tells which labels fit under the groups */
  SpnChartSpec spec = {
    .ylabel = spn_fig_span_label(s),
    .x0 = 0, .x1 = L->nlayers,
    .y0 = o->log_axis ? 1.0 : 0.0, .y1 = top,
    .ylog = o->log_axis,
    .no_xticks = TRUE,
    .bottom_extra = 2 * L->row_h,
  };
  spn_chart_layout(p, r, &spec, &L->chart);
  L->group_w = L->chart.area.w / L->nlayers;
  L->group_pad = L->group_w * (L->nheads > 1 ? 0.14 : 0.3);
  double inner = L->group_w - 2 * L->group_pad;
  L->bar_w = inner / L->nheads;
  L->bar_gap = L->nheads > 1 ? MIN(L->bar_w * 0.18, 3.0) : 0.0;
  char widest[32];
  snprintf(widest, sizeof widest, "layer %d", L->nlayers - 1);
  double lw, hw;
  spn_plot_text_size(p, SPN_TEXT_SMALL, widest, &lw, NULL);
  snprintf(widest, sizeof widest, "%d", L->nheads - 1);
  spn_plot_text_size(p, SPN_TEXT_SMALL, widest, &hw, NULL);
  L->long_layer_labels = lw < L->group_w * 0.92;
  L->head_labels = hw < L->bar_w * 0.85;
  spec.xlabel = L->long_layer_labels ? NULL : "layer";
  spec.bottom_extra = (L->head_labels ? 2 : 1) * L->row_h;
  spn_chart_layout(p, r, &spec, &L->chart);
}

static double
bar_x(const SpansLayout *L, int l, int h)
{
  return L->chart.area.x + l * L->group_w + L->group_pad + h * L->bar_w + L->bar_gap / 2;
}

/* the bar from the axis floor up to value v */
static void
bar_path(cairo_t *cr, const SpansLayout *L, int l, int h, double v0, double v1)
{
  const SpnAxis *y = &L->chart.y;
  double lo = MAX(v0, y->v0), hi = MIN(v1, y->v1);
  if (hi <= lo)
    return;
  double top = spn_axis_px(y, hi), bottom = spn_axis_px(y, lo);
  cairo_rectangle(cr, bar_x(L, l, h), top, L->bar_w - L->bar_gap, bottom - top);
}

static void
draw_bars(SpnPlot *p, const SpansLayout *L, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  cairo_t *cr = p->cr;
  double S = s->cfg.attn_span, R = s->cfg.adapt_span ? s->cfg.adapt_span_ramp : 0;
  for (int l = 0; l < L->nlayers; l++)
    for (int h = 0; h < L->nheads; h++) {
      double rgb[3], v = spn_fig_span(s, l, h);
      double floor_v = o->log_axis ? L->chart.y.v0 : 0.0;
      double a = spn_fig_selected(o, l, h) ? 1.0 : 0.45;   /* the window's selection stands out */
      spn_fig_head_rgb(p, l, h, L->nheads, rgb);
      bar_path(cr, L, l, h, MAX(v, floor_v), MIN(v + R, S));
      spn_plot_set_rgb(p, rgb, 0.32 * a);
      cairo_fill(cr);
      bar_path(cr, L, l, h, floor_v, v);
      spn_plot_set_rgb(p, rgb, a);
      cairo_fill(cr);
    }
}

static void
draw_max_line(SpnPlot *p, const SpansLayout *L, const SpnSnapshot *s)
{
  cairo_t *cr = p->cr;
  const SpnRect *a = &L->chart.area;
  if (s->cfg.attn_span > L->chart.y.v1) {   /* zoomed: S is far above, say so at the top */
    char above[48];
    snprintf(above, sizeof above, "\u2191 S = %d", s->cfg.attn_span);
    spn_plot_text(p, SPN_TEXT_SMALL, above, a->x + a->w - 0.3 * p->fs, a->y + 0.2 * p->fs, 1.0,
                  0.0, p->pal->fg);
    return;
  }
  double y = floor(spn_axis_px(&L->chart.y, s->cfg.attn_span)) + 0.5;
  double dash[] = {p->fs * 0.5, p->fs * 0.3};
  cairo_save(cr);
  cairo_set_dash(cr, dash, 2, 0);
  cairo_set_line_width(cr, 1.0);
  spn_plot_set_rgb(p, p->pal->fg, 0.8);
  cairo_move_to(cr, a->x, y);
  cairo_line_to(cr, a->x + a->w, y);
  cairo_stroke(cr);
  cairo_restore(cr);
  char label[48];
  snprintf(label, sizeof label, "S = %d", s->cfg.attn_span);
  /* on a backing of its own: the longest bars reach up to the label */
  double tw, th, right = a->x + a->w - 0.3 * p->fs, bottom = y - 0.15 * p->fs;
  spn_plot_text_size(p, SPN_TEXT_SMALL, label, &tw, &th);
  spn_plot_set_rgb(p, p->pal->bg, 0.85);
  cairo_rectangle(cr, right - tw - 0.2 * p->fs, bottom - th, tw + 0.4 * p->fs, th);
  cairo_fill(cr);
  spn_plot_text(p, SPN_TEXT_SMALL, label, right, bottom, 1.0, 1.0, p->pal->fg);
}

static void
draw_labels(SpnPlot *p, const SpansLayout *L)
{
  double y = L->chart.area.y + L->chart.area.h + 0.15 * p->fs;
  if (L->head_labels) {
    for (int l = 0; l < L->nlayers; l++)
      for (int h = 0; h < L->nheads; h++) {
        char t[16];
        snprintf(t, sizeof t, "%d", h);
        spn_plot_text(p, SPN_TEXT_SMALL, t, bar_x(L, l, h) + (L->bar_w - L->bar_gap) / 2, y,
                      0.5, 0.0, p->pal->muted);
      }
    y += L->row_h;
  }
  for (int l = 0; l < L->nlayers; l++) {
    char t[32];
    snprintf(t, sizeof t, L->long_layer_labels ? "layer %d" : "%d", l);
    spn_plot_text(p, SPN_TEXT_SMALL, t, L->chart.area.x + (l + 0.5) * L->group_w, y, 0.5, 0.0,
                  p->pal->fg);
  }
}

void
spn_fig_spans_draw(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  r = spans_header(p, r, s);
  if (s->spans == NULL || s->cfg.nlayers < 1 || s->cfg.nheads < 1) {
    spn_plot_message(p, r, "No model yet: the spans appear once a model exists.");
    return;
  }
  SpansLayout L;
  spans_layout(p, r, s, o, &L);
  spn_chart_draw_grid(p, &L.chart);
  spn_chart_clip(p, &L.chart);
  draw_bars(p, &L, s, o);
  draw_max_line(p, &L, s);
  cairo_restore(p->cr);
  spn_chart_draw_axes(p, &L.chart);
  draw_labels(p, &L);
}

char *
spn_fig_spans_describe(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o,
                       double x, double y)
{
  r = spans_header(p, r, s);
  if (s->spans == NULL || s->cfg.nlayers < 1 || s->cfg.nheads < 1)
    return NULL;
  SpansLayout L;
  spans_layout(p, r, s, o, &L);
  const SpnRect *a = &L.chart.area;
  if (!spn_rect_contains(a, x, y))
    return NULL;
  int l = (int)((x - a->x) / L.group_w);
  double in_group = x - a->x - l * L.group_w - L.group_pad;
  int h = (int)floor(in_group / L.bar_w);
  if (l < 0 || l >= L.nlayers || h < 0 || h >= L.nheads)
    return NULL;
  double v = spn_fig_span(s, l, h), S = s->cfg.attn_span;
  if (!s->cfg.adapt_span)
    return g_strdup_printf("layer %d head %d: span %.0f (adaptive span off)", l, h, v);
  return g_strdup_printf("layer %d head %d: span %.1f %s (z = %.4f); its mask falls to 0 "
                         "at distance %.1f",
                         l, h, v, spn_fig_unit(s), v / S, v + s->cfg.adapt_span_ramp + 1);
}
