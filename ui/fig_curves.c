/* fig_curves.c — the training run at a glance, four panels over one step axis: bits per
 * character (each step's block, raw and smoothed, and validation), throughput, the mean and
 * longest span (of an imported reference run, as its logger recorded them where it did), and
 * what the spans cost (each step's FLOPs per character and cache memory as percentages of the
 * same model with every head at S, engine/cost.h; no line where a step's cost is unknown, as in
 * an imported run). The title gives the cost of the spans now. */
#include <math.h>
#include <stdio.h>

#include "cost.h"
#include "figure-private.h"

enum { PANEL_BPC, PANEL_SPEED, PANEL_SPAN, PANEL_COST, N_PANELS };

typedef struct {
  SpnChart chart[N_PANELS];
} CurvesLayout;

typedef struct {
  float *smooth, *span_mean, *span_max;
  float *flops_pct, *cache_pct; /* of the full-span model's */
} Derived;

/* series colours (spn_plot_series_rgb indices) */
enum { C_TRAIN = 0, C_VALID = 1, C_SPAN_MAX = 2, C_FLOPS = 3, C_SPEED = 4, C_CACHE = 5,
       C_SPAN_MEAN = 6 };

static gboolean
has_history(const SpnSnapshot *s)
{
  return s->history && s->history->n > 0;
}

static void
derive(const SpnSnapshot *s, double smoothing, Derived *d)
{
  const SpnHistory *h = s->history;
  SpnCost full = spn_cost_full_span(&s->cfg, NULL);
  d->smooth = g_new(float, h->n);
  d->span_mean = g_new(float, h->n);
  d->span_max = g_new(float, h->n);
  d->flops_pct = g_new(float, h->n);
  d->cache_pct = g_new(float, h->n);
  double a = CLAMP(smoothing, 0.0, 0.999), ema = NAN;
  int per_row = h->nlayers * h->nheads;
  SpnHistoryChunk c;
  for (int j = 0; spn_history_chunk(h, j, &c); j++)
    for (int k = 0; k < c.n; k++) {
      int i = c.first + k;
      double x = c.train_bpc[k];
      if (isfinite(x))
        ema = isfinite(ema) ? a * ema + (1 - a) * x : x;
      d->smooth[i] = (float)ema;
      double mean, mx;
      spn_history_span_stats_at(h, c.step[k], c.spans + (gsize)k * per_row, &mean, &mx);
      d->span_mean[i] = (float)mean;
      d->span_max[i] = (float)mx;
      /* NaN (a history from before the cost was kept) stays NaN: no line there */
      d->flops_pct[i] = (float)(100.0 * c.flops_per_char[k] / full.flops);
      d->cache_pct[i] = (float)(100.0 * c.cache_bytes[k] / full.cache_bytes);
    }
}

static void
derived_clear(Derived *d)
{
  g_free(d->smooth);
  g_free(d->span_mean);
  g_free(d->span_max);
  g_free(d->flops_pct);
  g_free(d->cache_pct);
}

/* "FLOPs/char 8.8M (48% of full span) · cache 1.2 MB (40%)" for the spans now */
static char *
cost_text(const SpnSnapshot *s)
{
  SpnCost now = spn_cost_of_spans(&s->cfg, s->spans, NULL);
  SpnCost full = spn_cost_full_span(&s->cfg, NULL);
  g_autofree char *bytes = g_format_size((guint64)now.cache_bytes);
  return g_strdup_printf("FLOPs/char %.3g M (%.0f%% of full span) \u00b7 cache %s (%.0f%%)",
                         now.flops / 1e6, 100.0 * now.flops / full.flops, bytes,
                         100.0 * now.cache_bytes / full.cache_bytes);
}

static SpnRect
curves_header(SpnPlot *p, SpnRect r, const SpnSnapshot *s)
{
  g_autofree char *base = spn_fig_title_with_step(spn_figure_title(SPN_FIGURE_CURVES), s);
  g_autofree char *title = g_strdup_printf("%s \u00b7 %d streams", base, s->cfg.batch_sz);
  r = spn_plot_title(p, r, title);
  g_autofree char *cost = cost_text(s);
  r = spn_plot_note(p, r, cost);
  if (!has_history(s))
    return r;
  /* which procedure produced the validation points (config.h, SpnEvalMode) */
  const char *valid = s->cfg.eval_mode == SPN_EVAL_REFERENCE ? "valid (rolling, as the reference)"
                                                             : "valid (start of the split)";
  SpnLegendItem items[] = {
    {"train (each step)", {0}, SPN_LEGEND_LINE, 0.3},
    {"train (smoothed)", {0}, SPN_LEGEND_LINE, 1.0},
    {valid, {0}, SPN_LEGEND_DOT, 1.0},
    {"tokens/s", {0}, SPN_LEGEND_LINE, 1.0},
    {"span mean", {0}, SPN_LEGEND_LINE, 1.0},
    {"span max", {0}, SPN_LEGEND_LINE, 1.0},
    {"FLOPs", {0}, SPN_LEGEND_LINE, 1.0},
    {"cache", {0}, SPN_LEGEND_LINE, 1.0},
  };
  static const int colors[] = {C_TRAIN,     C_TRAIN,    C_VALID, C_SPEED,
                               C_SPAN_MEAN, C_SPAN_MAX, C_FLOPS, C_CACHE};
  for (guint i = 0; i < G_N_ELEMENTS(items); i++)
    spn_plot_series_rgb(p, colors[i], items[i].rgb);
  r = spn_plot_legend(p, r, items, G_N_ELEMENTS(items));
  if (s->history->n_logged == 0)
    return r;
  /* the logger's statistics are not ours: each layer's span rounded up, plus the ramp */
  g_autofree char *note = g_strdup_printf(
      "span mean and max to step %" G_GINT64_FORMAT ": main.py's log (per layer "
      "\u2308z\u00b7S\u2309 + R, at most S)",
      spn_history_logged_step(s->history, s->history->n_logged - 1));
  return spn_plot_note(p, r, note);
}

/* The range of two series (each its smallest and largest finite value, NaN when none), padded. */
static void
value_range(double l0, double h0, double l1, double h1, gboolean log, gboolean from_zero,
            double *lo, double *hi)
{
  *lo = isfinite(l1) && !(l0 <= l1) ? l1 : l0;
  *hi = isfinite(h1) && !(h0 >= h1) ? h1 : h0;
  if (log && isfinite(*lo) && *lo <= 0)
    *lo = NAN;
  spn_range_pad(lo, hi, log, from_zero);
}

static void
curves_layout(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o,
              const Derived *d, CurvesLayout *L)
{
  const SpnHistory *h = s->history;
  double x0 = (double)spn_history_step(h, 0), x1 = (double)spn_history_step(h, h->n - 1);
  if (x1 <= x0) {
    x0 -= 1;
    x1 += 1;
  }
  static const double share[N_PANELS] = {0.43, 0.17, 0.2, 0.2};
  static const char *const ylabel[N_PANELS] = {"bpc", "tokens/s", "span", "cost %"};
  double y = r.y;
  for (int i = 0; i < N_PANELS; i++) {
    SpnChartSpec spec = {
      .xlabel = "step",
      .integer_x = TRUE,
      .ylabel = ylabel[i],
      .x0 = x0, .x1 = x1,
      .no_xlabels = i != N_PANELS - 1,
    };
    double l0, h0, l1 = NAN, h1 = NAN;
    if (i == PANEL_BPC) {
      spec.ylog = o->log_axis;
      spn_fig_history_range(h, SPN_HISTORY_TRAIN_BPC, &l0, &h0);
      spn_fig_history_range(h, SPN_HISTORY_VALID_BPC, &l1, &h1);
      value_range(l0, h0, l1, h1, o->log_axis, FALSE, &spec.y0, &spec.y1);
    } else if (i == PANEL_SPEED) {
      spn_fig_history_range(h, SPN_HISTORY_TOKENS_PER_S, &l0, &h0);
      value_range(l0, h0, l1, h1, FALSE, TRUE, &spec.y0, &spec.y1);
    } else if (i == PANEL_SPAN) {
      spn_range_finite(d->span_max, (gsize)h->n, 1, &l0, &h0);
      spn_range_finite(d->span_mean, (gsize)h->n, 1, &l1, &h1);
      value_range(l0, h0, l1, h1, FALSE, TRUE, &spec.y0, &spec.y1);
    } else {
      /* 0 … 100 %, or more when something (NaN-free) exceeds it */
      spn_range_finite(d->flops_pct, (gsize)h->n, 1, &l0, &h0);
      spn_range_finite(d->cache_pct, (gsize)h->n, 1, &l1, &h1);
      spec.y0 = 0.0;
      spec.y1 = MAX(100.0, MAX(isfinite(h0) ? h0 : 0.0, isfinite(h1) ? h1 : 0.0));
    }
    double ph = r.h * share[i];
    SpnRect outer = {r.x, y, r.w, ph};
    spn_chart_layout(p, outer, &spec, &L->chart[i]);
    y += ph;
  }
  SpnChart *charts[N_PANELS] = {&L->chart[0], &L->chart[1], &L->chart[2], &L->chart[3]};
  spn_chart_align_x(p, charts, N_PANELS);
}

/* A column of h, or derived[i] for row i when derived is given. */
static void
add_series(SpnPlot *p, SpnLines *lines, const SpnChart *c, const SpnHistory *h,
           SpnHistoryColumn col, const float *derived, int color, double alpha, double width)
{
  double rgb[3];
  spn_plot_series_rgb(p, color, rgb);
  spn_fig_history_line(lines, &c->x, &c->y, h, col, 0, derived, rgb, alpha, width);
}

/* Whether any step's cost is known (an imported reference run's are not). */
static gboolean
known_cost(const Derived *d, int n)
{
  double l0, h0, l1, h1;
  spn_range_finite(d->flops_pct, (gsize)n, 1, &l0, &h0);
  spn_range_finite(d->cache_pct, (gsize)n, 1, &l1, &h1);
  return isfinite(l0) || isfinite(l1);
}

/* A measurement is drawn when it counts (the last at its step) and is finite. */
static gboolean
shown_valid(const SpnHistory *h, int i)
{
  return spn_history_valid_current(h, i) && isfinite(spn_history_valid_bpc(h, i));
}

static void
draw_valid(SpnPlot *p, const SpnChart *c, const SpnHistory *h)
{
  cairo_t *cr = p->cr;
  double rgb[3];
  spn_plot_series_rgb(p, C_VALID, rgb);
  spn_plot_set_rgb(p, rgb, 1.0);
  gboolean pen = FALSE;
  int count = 0;
  for (int i = 0; i < h->n_valid; i++)
    if (shown_valid(h, i)) {
      double x = spn_axis_px(&c->x, spn_history_valid_step(h, i));
      double y = spn_axis_px(&c->y, spn_history_valid_bpc(h, i));
      pen ? cairo_line_to(cr, x, y) : cairo_move_to(cr, x, y);
      pen = TRUE;
      count++;
    }
  cairo_set_line_width(cr, 1.5);
  cairo_stroke(cr);
  /* dots only while they stay apart */
  if (count == 0 || c->area.w / count < 4.0)
    return;
  for (int i = 0; i < h->n_valid; i++)
    if (shown_valid(h, i)) {
      cairo_new_sub_path(cr);
      cairo_arc(cr, spn_axis_px(&c->x, spn_history_valid_step(h, i)),
                spn_axis_px(&c->y, spn_history_valid_bpc(h, i)), 0.28 * p->fs, 0, 2 * G_PI);
    }
  cairo_fill(cr);
}

void
spn_fig_curves_draw(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  r = curves_header(p, r, s);
  if (!has_history(s)) {
    spn_plot_message(p, r, "No training history yet: bits per character, throughput and spans "
                           "appear here as the model trains.");
    return;
  }
  const SpnHistory *h = s->history;
  Derived d;
  derive(s, o->smoothing, &d);
  CurvesLayout L;
  curves_layout(p, r, s, o, &d, &L);
  cairo_set_line_join(p->cr, CAIRO_LINE_JOIN_ROUND);
  for (int i = 0; i < N_PANELS; i++) {
    const SpnChart *c = &L.chart[i];
    spn_chart_draw_grid(p, c);
    spn_chart_clip(p, c);
    SpnLines *lines = spn_lines_begin(p, &c->area);
    if (i == PANEL_BPC) {
      /* the raw values faint: their spread is the noise of single blocks */
      add_series(p, lines, c, h, SPN_HISTORY_TRAIN_BPC, NULL, C_TRAIN, 0.3, 1.0);
      if (o->smoothing > 0)
        add_series(p, lines, c, h, SPN_HISTORY_TRAIN_BPC, d.smooth, C_TRAIN, 1.0, 2.0);
    } else if (i == PANEL_SPEED) {
      add_series(p, lines, c, h, SPN_HISTORY_TOKENS_PER_S, NULL, C_SPEED, 1.0, 1.5);
    } else if (i == PANEL_SPAN) {
      add_series(p, lines, c, h, SPN_HISTORY_SPANS, d.span_max, C_SPAN_MAX, 1.0, 1.5);
      add_series(p, lines, c, h, SPN_HISTORY_SPANS, d.span_mean, C_SPAN_MEAN, 1.0, 2.0);
    } else {
      add_series(p, lines, c, h, SPN_HISTORY_FLOPS_PER_CHAR, d.flops_pct, C_FLOPS, 1.0, 2.0);
      add_series(p, lines, c, h, SPN_HISTORY_CACHE_BYTES, d.cache_pct, C_CACHE, 1.0, 1.5);
    }
    spn_lines_end(lines);
    if (i == PANEL_COST && !known_cost(&d, h->n))
      spn_plot_message(p, c->area, "Cost: no data (not recorded for these steps)");
    if (i == PANEL_BPC)
      draw_valid(p, c, h);
    cairo_restore(p->cr);
    spn_chart_draw_axes(p, c);
  }
  derived_clear(&d);
}

char *
spn_fig_curves_describe(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o,
                        double x, double y)
{
  r = curves_header(p, r, s);
  if (!has_history(s))
    return NULL;
  const SpnHistory *h = s->history;
  Derived d;
  derive(s, o->smoothing, &d);
  CurvesLayout L;
  curves_layout(p, r, s, o, &d, &L);
  char *text = NULL;
  for (int c = 0; c < N_PANELS && text == NULL; c++) {
    if (!spn_rect_contains(&L.chart[c].area, x, y))
      continue;
    int i = spn_fig_history_nearest(h, spn_axis_value(&L.chart[c].x, x));
    gint64 step = spn_history_step(h, i);
    int v = spn_history_valid_at(h, step);
    float tps = spn_history_tokens_per_s(h, i);
    GString *t = g_string_new(NULL);
    g_string_append_printf(t, "step %" G_GINT64_FORMAT " \u00b7 train %.3f bpc", step,
                           spn_history_train_bpc(h, i));
    if (o->smoothing > 0)
      g_string_append_printf(t, " (smoothed %.3f)", d.smooth[i]);
    if (v >= 0 && isfinite(spn_history_valid_bpc(h, v)))
      g_string_append_printf(t, " \u00b7 valid %.3f", spn_history_valid_bpc(h, v));
    if (isfinite(tps))
      g_string_append_printf(t, " \u00b7 %.0f tokens/s", tps);
    if (isfinite(d.span_mean[i]))
      g_string_append_printf(t, " \u00b7 span mean %.1f, max %.1f%s", d.span_mean[i],
                             d.span_max[i],
                             spn_history_logged_at(h, step) >= 0 ? " (main.py's log)" : "");
    float flops = spn_history_flops_per_char(h, i);
    if (isfinite(flops))
      g_string_append_printf(t, " \u00b7 %.3g M FLOPs/char (%.0f%% of full span), cache %.0f%%",
                             flops / 1e6, d.flops_pct[i], d.cache_pct[i]);
    else   /* an imported reference run's steps, or a file from before the cost was kept */
      g_string_append(t, " \u00b7 cost no data (not recorded for this step)");
    text = g_string_free(t, FALSE);
  }
  derived_clear(&d);
  return text;
}
