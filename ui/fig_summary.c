/* fig_summary.c — the spans as the paper summarises them: every head's span per layer with its
 * value on the bar and the layer's mean as a line across its group (left), a histogram of the
 * spans of all heads (right), and what they cost (engine/cost.h) against every head at S. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cost.h"
#include "figure-private.h"

#define N_BINS 10

typedef struct {
  SpnChart bars, hist;
  int nl, nh;
  double group_w, bar_w;
  double edges[N_BINS + 1]; /* histogram bin edges (characters) */
  int count[N_BINS];
  int no_data;              /* heads whose span is unknown */
} SummaryLayout;

static SpnRect
summary_header(SpnPlot *p, SpnRect r, const SpnSnapshot *s)
{
  const SpnConfig *c = &s->cfg;
  int n = c->nlayers * c->nheads, above = 0;
  double mean, mx;
  spn_span_stats(s->spans, n, &mean, &mx);
  /* the paper counts the heads above 1,000 of S = 8192: an eighth of S */
  for (int k = 0; k < n; k++)
    above += isfinite(s->spans[k]) && s->spans[k] > c->attn_span / 8.0;
  g_autofree char *base = spn_fig_title_with_step(spn_figure_title(SPN_FIGURE_SUMMARY), s);
  g_autofree char *title = g_strdup_printf("%s \u00b7 mean %.0f, max %.0f of S = %d \u00b7 %d of %d "
                                           "heads above S/8",
                                           base, mean, mx, c->attn_span, above, n);
  r = spn_plot_title(p, r, title);
  SpnCost now = spn_cost_of_spans(c, s->spans, NULL), full = spn_cost_full_span(c, NULL);
  g_autofree char *bytes = g_format_size((guint64)now.cache_bytes);
  g_autofree char *note = g_strdup_printf(
      "Training cost of these spans: %.3g M FLOPs per character, %.0f%% of the same model with "
      "every head at S (attention %.0f%% of it); caches %s, %.0f%% of full span.",
      now.flops / 1e6, 100.0 * now.flops / full.flops, 100.0 * now.attn_flops / now.flops, bytes,
      100.0 * now.cache_bytes / full.cache_bytes);
  return spn_plot_note(p, r, note);
}

static void
histogram(const SpnSnapshot *s, gboolean log, SummaryLayout *L)
{
  double S = MAX(s->cfg.attn_span, 1);
  for (int b = 0; b <= N_BINS; b++)
    L->edges[b] = log ? pow(S, (double)b / N_BINS) : S * b / N_BINS;
  if (log)
    L->edges[0] = 0.0; /* spans under one character fall in the first bin */
  memset(L->count, 0, sizeof L->count);
  L->no_data = 0;
  for (int k = 0; k < s->cfg.nlayers * s->cfg.nheads; k++) {
    double v = s->spans[k];
    if (!isfinite(v)) {
      L->no_data++;
      continue;
    }
    int b = 0;
    while (b < N_BINS - 1 && v >= L->edges[b + 1])
      b++;
    L->count[b]++;
  }
}

static void
summary_layout(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o,
               SummaryLayout *L)
{
  const SpnConfig *c = &s->cfg;
  L->nl = MAX(c->nlayers, 1);
  L->nh = MAX(c->nheads, 1);
  histogram(s, o->log_axis, L);
  double hs;
  spn_plot_text_size(p, SPN_TEXT_SMALL, "0", NULL, &hs);
  double S = MAX(c->attn_span, 1);
  SpnChartSpec bars = {
    .xlabel = "layer (bars: heads; line: the layer's mean)",
    .ylabel = spn_fig_span_label(s),
    .x0 = 0, .x1 = L->nl,
    .y0 = o->log_axis ? 1.0 : 0.0, .y1 = o->log_axis ? S * 1.6 : S * 1.08,
    .ylog = o->log_axis,
    .no_xticks = TRUE,
    .bottom_extra = hs * 1.2,
  };
  SpnRect left = {r.x, r.y, r.w * 0.64, r.h}, right = {r.x + r.w * 0.66, r.y, r.w * 0.34, r.h};
  spn_chart_layout(p, left, &bars, &L->bars);
  int top = 1;
  for (int b = 0; b < N_BINS; b++)
    top = MAX(top, L->count[b]);
  SpnChartSpec hist = {
    .xlabel = o->log_axis ? "span (log bins)" : spn_fig_span_label(s),
    .ylabel = "heads",
    .x0 = 0, .x1 = N_BINS,
    .y0 = 0, .y1 = top * 1.15,
    .integer_ticks = TRUE,
    .no_xticks = TRUE,
    .bottom_extra = hs * 1.2,
  };
  spn_chart_layout(p, right, &hist, &L->hist);
  L->group_w = L->bars.area.w / L->nl;
  L->bar_w = L->group_w * 0.8 / L->nh;
}

static double
bar_left(const SummaryLayout *L, int l, int h)
{
  return L->bars.area.x + l * L->group_w + L->group_w * 0.1 + h * L->bar_w;
}

/* the y pixel of a span, at the bottom of the axis for spans below it (log axis) */
static double
span_px(const SpnChart *c, double v)
{
  return spn_axis_px(&c->y, MAX(v, c->y.v0));
}

/* A bar's value turned along it: above the bar, or inside its top in the background's colour
 * when the bar reaches the top of the chart; nothing when the bar is too short for it. */
static void
draw_turned_value(SpnPlot *p, const SpnChart *c, const char *t, double x, double top,
                  double base)
{
  double tw;
  spn_plot_text_size(p, SPN_TEXT_SMALL, t, &tw, NULL);
  double gap = 0.15 * p->fs;
  if (top - gap - tw >= c->area.y)
    spn_plot_text_vertical(p, SPN_TEXT_SMALL, t, x, top - gap, 0.5, 1.0, p->pal->fg);
  else if (base - top >= tw + 2 * gap)
    spn_plot_text_vertical(p, SPN_TEXT_SMALL, t, x, top + gap, 0.5, 0.0, p->pal->bg);
}

static void
draw_bars(SpnPlot *p, const SummaryLayout *L, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  const SpnChart *c = &L->bars;
  cairo_t *cr = p->cr;
  double base = c->area.y + c->area.h, vw;
  double vh;
  spn_plot_text_size(p, SPN_TEXT_SMALL, "8888", &vw, &vh);
  /* the value across the bar where it fits, else turned along it */
  gboolean values = vw <= L->bar_w * 1.05, turned = !values && vh <= L->bar_w;
  for (int l = 0; l < s->cfg.nlayers; l++) {
    double sum = 0.0;
    int n = 0;
    for (int h = 0; h < s->cfg.nheads; h++) {
      double v = s->spans[l * s->cfg.nheads + h], rgb[3];
      double x = bar_left(L, l, h), w = L->bar_w * 0.86;
      if (!isfinite(v)) {
        spn_plot_text(p, SPN_TEXT_SMALL, "?", x + w / 2, base - 0.2 * p->fs, 0.5, 1.0,
                      p->pal->muted);
        continue;
      }
      sum += v, n++;
      spn_fig_head_rgb(p, l, h, s->cfg.nheads, rgb);
      gboolean sel = spn_fig_selected(o, l, h);
      spn_plot_set_rgb(p, rgb, sel ? 1.0 : 0.45);
      double y = span_px(c, v);
      cairo_rectangle(cr, x, y, w, base - y);
      cairo_fill(cr);
      char t[32];
      snprintf(t, sizeof t, "%.0f", v);
      if (values)
        spn_plot_text(p, SPN_TEXT_SMALL, t, x + w / 2, y - 0.1 * p->fs, 0.5, 1.0, p->pal->fg);
      else if (turned)
        draw_turned_value(p, c, t, x + w / 2, y, base);
    }
    char t[32];
    snprintf(t, sizeof t, "%d", l);
    spn_plot_text(p, SPN_TEXT_SMALL, t, c->area.x + (l + 0.5) * L->group_w, base + 0.2 * p->fs,
                  0.5, 0.0, p->pal->fg);
    if (n == 0)
      continue;
    /* the layer's mean: a line across its group, its value at the right end */
    double mean = sum / n, y = span_px(c, mean);
    double x0 = bar_left(L, l, 0), x1 = bar_left(L, l, s->cfg.nheads - 1) + L->bar_w * 0.86;
    spn_plot_set_rgb(p, p->pal->fg, 1.0);
    cairo_set_line_width(cr, 2.0);
    double dash[] = {5.0, 3.0};
    cairo_set_dash(cr, dash, 2, 0);
    cairo_move_to(cr, x0, y);
    cairo_line_to(cr, x1, y);
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
    snprintf(t, sizeof t, "mean %.0f", mean);
    spn_plot_text(p, SPN_TEXT_SMALL, t, x1, y + 0.15 * p->fs, 1.0, 0.0, p->pal->fg);
  }
}

static void
draw_histogram(SpnPlot *p, const SummaryLayout *L)
{
  const SpnChart *c = &L->hist;
  cairo_t *cr = p->cr;
  double bw = c->area.w / N_BINS, base = c->area.y + c->area.h, rgb[3];
  spn_plot_series_rgb(p, 0, rgb);
  for (int b = 0; b < N_BINS; b++) {
    double x = c->area.x + b * bw, y = spn_axis_px(&c->y, L->count[b]);
    spn_plot_set_rgb(p, rgb, 0.85);
    cairo_rectangle(cr, x + 1, y, bw - 2, base - y);
    cairo_fill(cr);
    if (L->count[b] > 0) {
      char t[16];
      snprintf(t, sizeof t, "%d", L->count[b]);
      spn_plot_text(p, SPN_TEXT_SMALL, t, x + bw / 2, y - 0.1 * p->fs, 0.5, 1.0, p->pal->fg);
    }
  }
  /* edge labels where they fit: every other edge */
  double ew;
  spn_plot_text_size(p, SPN_TEXT_SMALL, "8888", &ew, NULL);
  int every = ew * 1.2 < bw ? 1 : ew * 1.2 < 2 * bw ? 2 : 5;
  for (int b = 0; b <= N_BINS; b += every) {
    char t[32];
    snprintf(t, sizeof t, "%.0f", L->edges[b]);
    /* the last edge ends at the frame: its label ends there too */
    spn_plot_text(p, SPN_TEXT_SMALL, t, c->area.x + b * bw, base + 0.2 * p->fs,
                  b == N_BINS ? 1.0 : 0.5, 0.0, p->pal->muted);
  }
  if (L->no_data > 0) {
    char t[48];
    snprintf(t, sizeof t, "%d heads: no data", L->no_data);
    spn_plot_text(p, SPN_TEXT_SMALL, t, c->area.x + c->area.w, c->area.y + 0.2 * p->fs, 1.0, 0.0,
                  p->pal->muted);
  }
}

void
spn_fig_summary_draw(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  r = summary_header(p, r, s);
  SummaryLayout L;
  summary_layout(p, r, s, o, &L);
  spn_chart_draw_grid(p, &L.bars);
  spn_chart_draw_grid(p, &L.hist);
  draw_bars(p, &L, s, o);
  draw_histogram(p, &L);
  spn_chart_draw_axes(p, &L.bars);
  spn_chart_draw_axes(p, &L.hist);
}

char *
spn_fig_summary_describe(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o,
                         double x, double y)
{
  r = summary_header(p, r, s);
  SummaryLayout L;
  summary_layout(p, r, s, o, &L);
  if (spn_rect_contains(&L.bars.area, x, y)) {
    for (int l = 0; l < s->cfg.nlayers; l++)
      for (int h = 0; h < s->cfg.nheads; h++) {
        double bx = bar_left(&L, l, h);
        if (x < bx || x >= bx + L.bar_w)
          continue;
        int k = l * s->cfg.nheads + h;
        g_autofree double *heads = g_new(double, s->cfg.nlayers * s->cfg.nheads);
        spn_cost_of_spans(&s->cfg, s->spans, heads);
        g_autofree char *v = isfinite(s->spans[k]) ? g_strdup_printf("%.1f", s->spans[k])
                                                   : g_strdup("no data");
        return g_strdup_printf("layer %d head %d \u00b7 span %s \u00b7 attention %.3g M "
                               "FLOPs/char",
                               l, h, v, heads[k] / 1e6);
      }
    return NULL;
  }
  if (spn_rect_contains(&L.hist.area, x, y)) {
    int b = CLAMP((int)((x - L.hist.area.x) / (L.hist.area.w / N_BINS)), 0, N_BINS - 1);
    return g_strdup_printf("%d heads with spans in [%.0f, %.0f)", L.count[b], L.edges[b],
                           L.edges[b + 1]);
  }
  return NULL;
}
