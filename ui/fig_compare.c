/* fig_compare.c — runs side by side (compare.h): bpc curves overlaid against three measures of
 * progress, span bars grouped by run, and a table. Run i is drawn in series colour i
 * everywhere, and named by its label. */
#include "compare.h"

#include <math.h>
#include <stdio.h>

#include "export.h"
#include "figure-private.h"
#include "summary.h"

static const struct {
  const char *name, *title;
} kinds[SPN_COMPARE_COUNT] = {
  [SPN_COMPARE_CURVES] = {"curves", "Training curves"},
  [SPN_COMPARE_SPANS] = {"spans", "Learned spans"},
  [SPN_COMPARE_TABLE] = {"table", "Runs"},
};

const char *
spn_compare_name(SpnCompareKind kind)
{
  return kind >= 0 && kind < SPN_COMPARE_COUNT ? kinds[kind].name : NULL;
}

const char *
spn_compare_title(SpnCompareKind kind)
{
  return kind >= 0 && kind < SPN_COMPARE_COUNT ? kinds[kind].title : NULL;
}

gboolean
spn_compare_from_name(const char *name, SpnCompareKind *kind)
{
  for (int k = 0; k < SPN_COMPARE_COUNT; k++)
    if (g_strcmp0(name, kinds[k].name) == 0) {
      *kind = (SpnCompareKind)k;
      return TRUE;
    }
  return FALSE;
}

static SpnRect
runs_legend(SpnPlot *p, SpnRect r, const SpnCompareRun *runs, int n, const char *extra)
{
  SpnLegendItem *items = g_new0(SpnLegendItem, n);
  for (int i = 0; i < n; i++) {
    items[i].label = runs[i].label;
    items[i].mark = SPN_LEGEND_LINE;
    items[i].alpha = 1.0;
    spn_plot_series_rgb(p, i, items[i].rgb);
  }
  r = spn_plot_legend(p, r, items, n);
  g_free(items);
  return extra ? spn_plot_note(p, r, extra) : r;
}

/* ---- curves ---- */

/* What progress is measured in along x: steps, characters read, and the training FLOPs spent so
 * far (each step's FLOPs from the spans the run had then, engine/cost.h). */
typedef enum { X_STEP, X_CHARS, X_FLOPS, N_X } XMeasure;

typedef struct {
  int n;          /* rows */
  double *x[N_X]; /* per row, each measure */
  float *bpc;     /* smoothed train bpc */
} RunSeries;

static void
run_series(const SpnSnapshot *s, double smoothing, RunSeries *r)
{
  const SpnHistory *h = s->history;
  r->n = h->n;
  for (int m = 0; m < N_X; m++)
    r->x[m] = g_new(double, MAX(h->n, 1));
  r->bpc = g_new(float, MAX(h->n, 1));
  double a = CLAMP(smoothing, 0.0, 0.999), ema = NAN, per_step = spn_chars_per_step(&s->cfg);
  SpnHistoryChunk c;
  for (int j = 0; spn_history_chunk(h, j, &c); j++)
    for (int k = 0; k < c.n; k++) {
      int i = c.first + k;
      double v = c.train_bpc[k];
      if (isfinite(v))
        ema = isfinite(ema) ? a * ema + (1 - a) * v : v;
      r->bpc[i] = (float)ema;
      r->x[X_STEP][i] = (double)c.step[k];
      r->x[X_CHARS][i] = (double)c.step[k] * per_step;
    }
  spn_run_train_flops(&s->cfg, h, r->x[X_FLOPS]);
}

static void
run_series_clear(RunSeries *r)
{
  for (int m = 0; m < N_X; m++)
    g_free(r->x[m]);
  g_free(r->bpc);
}

/* x of a validation measured after `step`: the measure at the row of that step */
static double
valid_x(const SpnSnapshot *s, const RunSeries *r, XMeasure m, gint64 step)
{
  int i = spn_fig_history_nearest(s->history, (double)step);
  return i < 0 ? NAN : r->x[m][i];
}

typedef struct {
  SpnChart chart[N_X];
  RunSeries *series;
} CompareCurves;

static const char *const x_labels[N_X] = {"step", "characters seen", "training FLOPs"};

static void
curves_layout(SpnPlot *p, SpnRect r, const SpnCompareRun *runs, int n, const SpnFigureOptions *o,
              CompareCurves *L)
{
  double ylo = NAN, yhi = NAN, xhi[N_X] = {0};
  for (int i = 0; i < n; i++) {
    const SpnHistory *h = runs[i].snapshot->history;
    double l, u;
    spn_range_finite(L->series[i].bpc, (gsize)L->series[i].n, 1, &l, &u);
    if (isfinite(l) && !(ylo <= l))
      ylo = l;
    if (isfinite(u) && !(yhi >= u))
      yhi = u;
    spn_fig_history_range(h, SPN_HISTORY_VALID_BPC, &l, &u);
    if (isfinite(l) && !(ylo <= l))
      ylo = l;
    if (isfinite(u) && !(yhi >= u))
      yhi = u;
    for (int m = 0; m < N_X; m++)
      if (L->series[i].n > 0)
        xhi[m] = MAX(xhi[m], L->series[i].x[m][L->series[i].n - 1]);
  }
  if (o->log_axis && isfinite(ylo) && ylo <= 0)
    ylo = NAN;
  spn_range_pad(&ylo, &yhi, o->log_axis, FALSE);
  double w = r.w / N_X;
  for (int m = 0; m < N_X; m++) {
    SpnChartSpec spec = {
      .xlabel = x_labels[m],
      .ylabel = m == 0 ? "bits per character" : NULL,
      .x0 = 0, .x1 = xhi[m] > 0 ? xhi[m] : 1,
      .y0 = ylo, .y1 = yhi,
      .ylog = o->log_axis,
      .integer_x = TRUE,
      .no_ylabels = m > 0,
    };
    spn_chart_layout(p, (SpnRect){r.x + m * w, r.y, w, r.h}, &spec, &L->chart[m]);
  }
}

/* A polyline through the finite points, at most about two per pixel column. */
static void
draw_line(SpnPlot *p, const SpnChart *c, const double *x, const float *y, int n,
          const double rgb[3], double width)
{
  cairo_t *cr = p->cr;
  int stride = MAX(1, n / MAX(1, (int)(2 * c->area.w)));
  gboolean pen = FALSE;
  for (int i = 0; i < n; i += (i + stride < n || i == n - 1) ? stride : n - 1 - i) {
    if (!isfinite(y[i]) || !isfinite(x[i])) {
      pen = FALSE;
      continue;
    }
    double px = spn_axis_px(&c->x, x[i]), py = spn_axis_px(&c->y, y[i]);
    pen ? cairo_line_to(cr, px, py) : cairo_move_to(cr, px, py);
    pen = TRUE;
    if (i == n - 1)
      break;
  }
  spn_plot_set_rgb(p, rgb, 1.0);
  cairo_set_line_width(cr, width);
  cairo_stroke(cr);
}

static void
draw_valid(SpnPlot *p, const SpnChart *c, const SpnSnapshot *s, const RunSeries *r, XMeasure m,
           const double rgb[3])
{
  cairo_t *cr = p->cr;
  const SpnHistory *h = s->history;
  double dash[] = {0.5 * p->fs, 0.3 * p->fs};
  gboolean pen = FALSE;
  for (int i = 0; i < h->n_valid; i++) {
    double v = spn_history_valid_bpc(h, i);
    if (!spn_history_valid_current(h, i) || !isfinite(v))
      continue;
    double px = spn_axis_px(&c->x, valid_x(s, r, m, spn_history_valid_step(h, i)));
    double py = spn_axis_px(&c->y, v);
    pen ? cairo_line_to(cr, px, py) : cairo_move_to(cr, px, py);
    pen = TRUE;
  }
  spn_plot_set_rgb(p, rgb, 1.0);
  cairo_set_dash(cr, dash, 2, 0);
  cairo_set_line_width(cr, 1.2);
  cairo_stroke(cr);
  cairo_set_dash(cr, NULL, 0, 0);
  for (int i = 0; i < h->n_valid; i++) {
    double v = spn_history_valid_bpc(h, i);
    if (!spn_history_valid_current(h, i) || !isfinite(v))
      continue;
    cairo_new_sub_path(cr);
    cairo_arc(cr, spn_axis_px(&c->x, valid_x(s, r, m, spn_history_valid_step(h, i))),
              spn_axis_px(&c->y, v), 0.28 * p->fs, 0, 2 * G_PI);
  }
  cairo_fill(cr);
}

static SpnRect
curves_header(SpnPlot *p, SpnRect r, const SpnCompareRun *runs, int n)
{
  r = spn_plot_title(p, r, kinds[SPN_COMPARE_CURVES].title);
  return runs_legend(p, r, runs, n,
                     "solid: train bpc (smoothed) \u00b7 dashed with dots: validation bpc");
}

static gboolean
any_history(const SpnCompareRun *runs, int n)
{
  for (int i = 0; i < n; i++)
    if (runs[i].snapshot->history->n > 0)
      return TRUE;
  return FALSE;
}

static void
compare_curves_draw(SpnPlot *p, SpnRect r, const SpnCompareRun *runs, int n,
                    const SpnFigureOptions *o)
{
  r = curves_header(p, r, runs, n);
  if (!any_history(runs, n)) {
    spn_plot_message(p, r, "None of these runs has a training history.");
    return;
  }
  CompareCurves L = {.series = g_new0(RunSeries, n)};
  for (int i = 0; i < n; i++)
    run_series(runs[i].snapshot, o->smoothing, &L.series[i]);
  curves_layout(p, r, runs, n, o, &L);
  cairo_set_line_join(p->cr, CAIRO_LINE_JOIN_ROUND);
  for (int m = 0; m < N_X; m++) {
    const SpnChart *c = &L.chart[m];
    spn_chart_draw_grid(p, c);
    spn_chart_clip(p, c);
    for (int i = 0; i < n; i++) {
      double rgb[3];
      spn_plot_series_rgb(p, i, rgb);
      draw_line(p, c, L.series[i].x[m], L.series[i].bpc, L.series[i].n, rgb, 1.8);
      draw_valid(p, c, runs[i].snapshot, &L.series[i], (XMeasure)m, rgb);
    }
    cairo_restore(p->cr);
    spn_chart_draw_axes(p, c);
  }
  for (int i = 0; i < n; i++)
    run_series_clear(&L.series[i]);
  g_free(L.series);
}

static char *
compare_curves_describe(SpnPlot *p, SpnRect r, const SpnCompareRun *runs, int n,
                        const SpnFigureOptions *o, double x, double y)
{
  r = curves_header(p, r, runs, n);
  if (!any_history(runs, n))
    return NULL;
  CompareCurves L = {.series = g_new0(RunSeries, n)};
  for (int i = 0; i < n; i++)
    run_series(runs[i].snapshot, o->smoothing, &L.series[i]);
  curves_layout(p, r, runs, n, o, &L);
  GString *t = NULL;
  for (int m = 0; m < N_X && t == NULL; m++) {
    if (!spn_rect_contains(&L.chart[m].area, x, y))
      continue;
    double at = spn_axis_value(&L.chart[m].x, x);
    t = g_string_new(NULL);
    g_string_append_printf(t, "%s %.4g:", x_labels[m], at);
    for (int i = 0; i < n; i++) {
      const RunSeries *s = &L.series[i];
      int k = 0;
      while (k + 1 < s->n && s->x[m][k + 1] <= at)
        k++;
      if (s->n > 0 && s->x[m][0] <= at && s->x[m][s->n - 1] >= at)
        g_string_append_printf(t, " %s %.3f bpc (step %.0f)%s", runs[i].label, s->bpc[k],
                               s->x[X_STEP][k], i + 1 < n ? ";" : "");
    }
  }
  for (int i = 0; i < n; i++)
    run_series_clear(&L.series[i]);
  g_free(L.series);
  return t ? g_string_free(t, FALSE) : NULL;
}

/* ---- spans ---- */

typedef struct {
  SpnChart chart;
  double group_w, pad;
  double row_h;
} CompareSpans;

static int
heads_of(const SpnCompareRun *run)
{
  return run->snapshot->cfg.nlayers * run->snapshot->cfg.nheads;
}

static void
spans_layout(SpnPlot *p, SpnRect r, const SpnCompareRun *runs, int n, const SpnFigureOptions *o,
             CompareSpans *L)
{
  double top = 1;
  for (int i = 0; i < n; i++)
    top = MAX(top, runs[i].snapshot->cfg.attn_span);
  double hs;
  spn_plot_text_size(p, SPN_TEXT_SMALL, "0", NULL, &hs);
  L->row_h = hs * 1.15;
  SpnChartSpec spec = {
    .ylabel = "span (characters)",
    .x0 = 0, .x1 = MAX(n, 1),
    .y0 = o->log_axis ? 1.0 : 0.0, .y1 = o->log_axis ? top * 1.6 : top * 1.06,
    .ylog = o->log_axis,
    .no_xticks = TRUE,
    .bottom_extra = 2 * L->row_h,
  };
  spn_chart_layout(p, r, &spec, &L->chart);
  L->group_w = L->chart.area.w / MAX(n, 1);
  L->pad = L->group_w * 0.08;
}

static double
head_bar_w(const CompareSpans *L, const SpnCompareRun *run)
{
  return (L->group_w - 2 * L->pad) / MAX(heads_of(run), 1);
}

static void
span_bar(cairo_t *cr, const SpnAxis *y, double x, double w, double v0, double v1)
{
  double lo = MAX(v0, y->v0), hi = MIN(v1, y->v1);
  if (hi > lo)
    cairo_rectangle(cr, x, spn_axis_px(y, hi), w, spn_axis_px(y, lo) - spn_axis_px(y, hi));
}

/* A horizontal mark across run i's group at value v, dashed or solid, with a label above its
 * right end (below it when `below`). */
static void
group_mark(SpnPlot *p, const CompareSpans *L, int i, double v, gboolean dashed, gboolean below,
           const char *label)
{
  const SpnAxis *y = &L->chart.y;
  if (!(v >= y->v0 && v <= y->v1))
    return;
  cairo_t *cr = p->cr;
  double x0 = L->chart.area.x + i * L->group_w + L->pad * 0.5;
  double x1 = x0 + L->group_w - L->pad, py = floor(spn_axis_px(y, v)) + 0.5;
  double dash[] = {p->fs * 0.5, p->fs * 0.3};
  cairo_set_dash(cr, dash, dashed ? 2 : 0, 0);
  cairo_set_line_width(cr, dashed ? 1.0 : 1.6);
  spn_plot_set_rgb(p, p->pal->fg, 0.85);
  cairo_move_to(cr, x0, py);
  cairo_line_to(cr, x1, py);
  cairo_stroke(cr);
  cairo_set_dash(cr, NULL, 0, 0);
  spn_plot_text(p, SPN_TEXT_SMALL, label, x1, below ? py + 0.2 * p->fs : py - 0.1 * p->fs, 1.0,
                below ? 0.0 : 1.0, p->pal->fg);
}

static void
draw_group(SpnPlot *p, const CompareSpans *L, const SpnCompareRun *run, int i,
           const SpnFigureOptions *o)
{
  const SpnSnapshot *s = run->snapshot;
  const SpnConfig *c = &s->cfg;
  double rgb[3], S = c->attn_span, R = c->adapt_span ? c->adapt_span_ramp : 0;
  double floor_v = o->log_axis ? L->chart.y.v0 : 0.0, bw = head_bar_w(L, run);
  double gap = MIN(bw * 0.15, 2.0);
  spn_plot_series_rgb(p, i, rgb);
  for (int l = 0; l < c->nlayers; l++)
    for (int h = 0; h < c->nheads; h++) {
      int k = l * c->nheads + h;
      double x = L->chart.area.x + i * L->group_w + L->pad + k * bw + gap / 2;
      double v = spn_fig_span(s, l, h);
      /* layers alternate in strength so a group reads layer by layer */
      double a = l % 2 == 0 ? 1.0 : 0.7;
      span_bar(p->cr, &L->chart.y, x, bw - gap, MAX(v, floor_v), MIN(v + R, S));
      spn_plot_set_rgb(p, rgb, 0.3 * a);
      cairo_fill(p->cr);
      span_bar(p->cr, &L->chart.y, x, bw - gap, floor_v, v);
      spn_plot_set_rgb(p, rgb, a);
      cairo_fill(p->cr);
    }
  double mean, mx;
  spn_span_stats(s->spans, c->nlayers * c->nheads, &mean, &mx);
  char label[48];
  snprintf(label, sizeof label, "S = %d", c->attn_span);
  group_mark(p, L, i, S, TRUE, FALSE, label);
  if (c->adapt_span && isfinite(mean)) {
    /* a mean near S: its label under its line, clear of S's */
    double v = MAX(mean, floor_v);
    gboolean near_s = fabs(spn_axis_px(&L->chart.y, v) - spn_axis_px(&L->chart.y, S)) < 1.5 * p->fs;
    snprintf(label, sizeof label, "mean %.0f", mean);
    group_mark(p, L, i, v, FALSE, near_s, label);
  }
}

static void
draw_group_labels(SpnPlot *p, const CompareSpans *L, const SpnCompareRun *runs, int n)
{
  double y = L->chart.area.y + L->chart.area.h + 0.15 * p->fs;
  for (int i = 0; i < n; i++) {
    const SpnConfig *c = &runs[i].snapshot->cfg;
    double cx = L->chart.area.x + (i + 0.5) * L->group_w, rgb[3];
    spn_plot_series_rgb(p, i, rgb);
    spn_plot_text(p, SPN_TEXT_SMALL, runs[i].label, cx, y, 0.5, 0.0, rgb);
    char shape[64];
    snprintf(shape, sizeof shape, "%d layers \u00d7 %d heads%s", c->nlayers, c->nheads,
             c->adapt_span ? "" : ", fixed span");
    spn_plot_text(p, SPN_TEXT_SMALL, shape, cx, y + L->row_h, 0.5, 0.0, p->pal->muted);
  }
}

static SpnRect
spans_header(SpnPlot *p, SpnRect r, const SpnCompareRun *runs, int n)
{
  r = spn_plot_title(p, r, kinds[SPN_COMPARE_SPANS].title);
  return runs_legend(p, r, runs, n,
                     "per run every head, layer by layer (layers alternate in strength), the "
                     "ramp R lighter; dashed: S, solid: the mean span");
}

static void
compare_spans_draw(SpnPlot *p, SpnRect r, const SpnCompareRun *runs, int n,
                   const SpnFigureOptions *o)
{
  r = spans_header(p, r, runs, n);
  CompareSpans L;
  spans_layout(p, r, runs, n, o, &L);
  spn_chart_draw_grid(p, &L.chart);
  spn_chart_clip(p, &L.chart);
  for (int i = 0; i < n; i++)
    draw_group(p, &L, &runs[i], i, o);
  cairo_restore(p->cr);
  spn_chart_draw_axes(p, &L.chart);
  draw_group_labels(p, &L, runs, n);
}

static char *
compare_spans_describe(SpnPlot *p, SpnRect r, const SpnCompareRun *runs, int n,
                       const SpnFigureOptions *o, double x, double y)
{
  r = spans_header(p, r, runs, n);
  CompareSpans L;
  spans_layout(p, r, runs, n, o, &L);
  const SpnRect *a = &L.chart.area;
  if (!spn_rect_contains(a, x, y))
    return NULL;
  int i = (int)((x - a->x) / L.group_w);
  if (i < 0 || i >= n)
    return NULL;
  const SpnSnapshot *s = runs[i].snapshot;
  int k = (int)floor((x - a->x - i * L.group_w - L.pad) / head_bar_w(&L, &runs[i]));
  if (k < 0 || k >= heads_of(&runs[i]))
    return NULL;
  int l = k / s->cfg.nheads, h = k % s->cfg.nheads;
  return g_strdup_printf("%s: layer %d head %d, span %.1f of S = %d", runs[i].label, l, h,
                         spn_fig_span(s, l, h), s->cfg.attn_span);
}

/* ---- table ---- */

enum {
  COL_RUN, COL_STEPS, COL_CHARS, COL_FINAL, COL_BEST, COL_PARAMS, COL_FLOPS, COL_MEAN, COL_MAX,
  N_COLS
};

static const char *const col_titles[N_COLS] = {
  "run", "steps", "characters", "valid bpc", "best valid bpc", "parameters",
  "FLOPs/char (of span S)", "mean span", "max span",
};

static char *
cell_text(const SpnCompareRun *run, const SpnRunSummary *m, int col)
{
  switch (col) {
  case COL_RUN: return g_strdup(run->label);
  case COL_STEPS: return g_strdup_printf("%" G_GINT64_FORMAT, m->step);
  case COL_CHARS: return g_strdup_printf("%.3g M", m->chars / 1e6);
  case COL_FINAL:
    return isfinite(m->final_valid) ? g_strdup_printf("%.3f", m->final_valid) : g_strdup("\u2013");
  case COL_BEST:
    return isfinite(m->best_valid)
             ? g_strdup_printf("%.3f (step %" G_GINT64_FORMAT ")", m->best_valid,
                               m->best_valid_step)
             : g_strdup("\u2013");
  case COL_PARAMS: return g_strdup_printf("%.3f M", m->params / 1e6);
  case COL_FLOPS:
    return isfinite(m->flops_per_char)
             ? g_strdup_printf("%.3g M (%.0f %%)", m->flops_per_char / 1e6,
                               100 * m->flops_per_char / m->flops_per_char_full)
             : g_strdup("\u2013");
  case COL_MEAN: return g_strdup_printf("%.1f", m->span_mean);
  case COL_MAX: return g_strdup_printf("%.1f", m->span_max);
  default: return g_strdup("");
  }
}

static void
compare_table_draw(SpnPlot *p, SpnRect r, const SpnCompareRun *runs, int n)
{
  r = spn_plot_title(p, r, kinds[SPN_COMPARE_TABLE].title);
  if (n == 0) {
    spn_plot_message(p, r, "No runs to compare.");
    return;
  }
  double rh;
  spn_plot_text_size(p, SPN_TEXT_NORMAL, "Ag", NULL, &rh);
  rh *= 1.5;
  double col_w[N_COLS], total = 0, swatch = 1.2 * p->fs, pad = 1.0 * p->fs;
  SpnRunSummary *sum = g_new(SpnRunSummary, n);
  for (int i = 0; i < n; i++)
    spn_run_summary(runs[i].snapshot, &sum[i]);
  for (int c = 0; c < N_COLS; c++) {
    spn_plot_text_size(p, SPN_TEXT_SMALL, col_titles[c], &col_w[c], NULL);
    for (int i = 0; i < n; i++) {
      g_autofree char *t = cell_text(&runs[i], &sum[i], c);
      double w;
      spn_plot_text_size(p, SPN_TEXT_NORMAL, t, &w, NULL);
      col_w[c] = MAX(col_w[c], w + (c == COL_RUN ? swatch : 0));
    }
    total += col_w[c] + pad;
  }
  double x0 = r.x + 0.5 * p->fs, y = r.y + 0.5 * p->fs;
  double x = x0;
  for (int c = 0; c < N_COLS; c++) {
    gboolean right = c != COL_RUN;
    spn_plot_text(p, SPN_TEXT_SMALL, col_titles[c], right ? x + col_w[c] : x, y + rh / 2,
                  right ? 1.0 : 0.0, 0.5, p->pal->muted);
    x += col_w[c] + pad;
  }
  y += rh;
  spn_plot_set_rgb(p, p->pal->frame, 1.0);
  cairo_set_line_width(p->cr, 1.0);
  cairo_move_to(p->cr, x0, floor(y) + 0.5);
  cairo_line_to(p->cr, x0 + MIN(total, r.w - p->fs), floor(y) + 0.5);
  cairo_stroke(p->cr);
  for (int i = 0; i < n; i++, y += rh) {
    double rgb[3];
    spn_plot_series_rgb(p, i, rgb);
    spn_plot_set_rgb(p, rgb, 1.0);
    cairo_rectangle(p->cr, x0, y + rh * 0.3, swatch * 0.7, rh * 0.4);
    cairo_fill(p->cr);
    x = x0;
    for (int c = 0; c < N_COLS; c++) {
      g_autofree char *t = cell_text(&runs[i], &sum[i], c);
      gboolean right = c != COL_RUN;
      spn_plot_text(p, SPN_TEXT_NORMAL, t, right ? x + col_w[c] : x + swatch, y + rh / 2,
                    right ? 1.0 : 0.0, 0.5, p->pal->fg);
      x += col_w[c] + pad;
    }
  }
  g_free(sum);
}

/* ---- dispatch ---- */

void
spn_compare_draw(SpnCompareKind kind, cairo_t *cr, double width, double height,
                 const SpnCompareRun *runs, int n, const SpnFigureOptions *o)
{
  SpnPlot p;
  cairo_save(cr);
  spn_plot_init(&p, cr, o);
  cairo_rectangle(cr, 0, 0, width, height);
  cairo_clip(cr);
  spn_plot_fill_background(&p, width, height);
  SpnRect r = {0, 0, width, height};
  if (n <= 0 && kind != SPN_COMPARE_TABLE) {
    r = spn_plot_title(&p, r, kinds[kind].title);
    spn_plot_message(&p, r, "No runs to compare: open checkpoints with Add run.");
  } else if (kind == SPN_COMPARE_CURVES)
    compare_curves_draw(&p, r, runs, n, o);
  else if (kind == SPN_COMPARE_SPANS)
    compare_spans_draw(&p, r, runs, n, o);
  else if (kind == SPN_COMPARE_TABLE)
    compare_table_draw(&p, r, runs, n);
  spn_plot_clear(&p);
  cairo_restore(cr);
}

char *
spn_compare_describe(SpnCompareKind kind, double width, double height, const SpnCompareRun *runs,
                     int n, const SpnFigureOptions *o, double x, double y)
{
  if (n <= 0)
    return NULL;
  SpnPlot p;
  spn_plot_init(&p, NULL, o);
  SpnRect r = {0, 0, width, height};
  char *text = NULL;
  if (kind == SPN_COMPARE_CURVES)
    text = compare_curves_describe(&p, r, runs, n, o, x, y);
  else if (kind == SPN_COMPARE_SPANS)
    text = compare_spans_describe(&p, r, runs, n, o, x, y);
  spn_plot_clear(&p);
  return text;
}

typedef struct {
  const SpnCompareKind *kinds;
  int n_kinds;
  const SpnCompareRun *runs;
  int n;
  const SpnFigureOptions *o;
} CompareExport;

static void
draw_panel(cairo_t *cr, int i, double width, double height, gconstpointer data)
{
  const CompareExport *e = data;
  spn_compare_draw(e->kinds[i], cr, width, height, e->runs, e->n, e->o);
}

static void
draw_page(cairo_t *cr, double width, double height, gconstpointer data)
{
  const CompareExport *e = data;
  spn_export_grid(cr, e->n_kinds, width, height, e->o, draw_panel, e);
}

gboolean
spn_compare_export(const char *path, const SpnCompareKind *kinds_, int n_kinds, double width,
                   double height, double scale, const SpnCompareRun *runs, int n,
                   const SpnFigureOptions *o, GError **error)
{
  for (int i = 0; i < n_kinds; i++)
    if (kinds_[i] < 0 || kinds_[i] >= SPN_COMPARE_COUNT) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: unknown comparison figure %d",
                  path, (int)kinds_[i]);
      return FALSE;
    }
  CompareExport e = {kinds_, n_kinds, runs, n, o};
  return spn_export_file(path, n_kinds, width, height, scale, draw_page, &e, error);
}
