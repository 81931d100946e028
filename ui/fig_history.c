/* fig_history.c — every head's span against the training step, one line per head, coloured by
 * layer: how the spans grow or shrink while the model learns. A span known at a lone step (an
 * imported reference run knows the heads' spans only at the versions seen) is a dot. */
#include <math.h>
#include <stdio.h>

#include "figure-private.h"

typedef struct {
  SpnChart chart;
  int nheads_total;
} HistoryLayout;

static gboolean
has_history(const SpnSnapshot *s)
{
  const SpnHistory *h = s->history;
  return h && h->n > 0 && h->nlayers > 0 && h->nheads > 0;
}

/* How the heads of a layer are told apart. */
static SpnRect
h_note(SpnPlot *p, SpnRect r, const SpnSnapshot *s)
{
  if (s->history->nheads < 2)
    return r;
  g_autofree char *note = g_strdup_printf("shades: head 0 dark \u2026 head %d light; the "
                                          "selected layer strongest", s->history->nheads - 1);
  return spn_plot_note(p, r, note);
}

static SpnRect
history_header(SpnPlot *p, SpnRect r, const SpnSnapshot *s)
{
  g_autofree char *title = spn_fig_title_with_step(spn_figure_title(SPN_FIGURE_HISTORY), s);
  r = spn_plot_title(p, r, title);
  if (!has_history(s))
    return r;
  int nl = s->history->nlayers;
  SpnLegendItem items[64];
  char labels[64][24];
  int n = MIN(nl, 64);
  for (int l = 0; l < n; l++) {
    snprintf(labels[l], sizeof labels[l], "layer %d", l);
    items[l] = (SpnLegendItem){.label = labels[l], .mark = SPN_LEGEND_LINE};
    spn_plot_series_rgb(p, l, items[l].rgb);
  }
  r = spn_plot_legend(p, r, items, n);
  r = h_note(p, r, s);
  if (s->history->n_logged == 0)
    return r;
  return spn_plot_note(p, r, "the reference's log keeps no head's span: they are known at the "
                             "versions opened or followed here");
}

static void
history_layout(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o,
               HistoryLayout *L)
{
  const SpnHistory *h = s->history;
  int per_row = h->nlayers * h->nheads;
  double lo, hi;
  spn_fig_history_range(h, SPN_HISTORY_SPANS, &lo, &hi);
  if (o->log_axis) {
    /* spans start at 0; the log axis starts at one character */
    lo = MAX(isfinite(lo) ? lo : 1.0, 1.0);
    hi = MAX(isfinite(hi) ? hi : 10.0, lo * 10.0);
  } else {
    lo = 0.0;
    hi = MAX(isfinite(hi) ? hi : 1.0, 1.0);
  }
  spn_range_pad(&lo, &hi, o->log_axis, TRUE);
  double x0 = (double)spn_history_step(h, 0), x1 = (double)spn_history_step(h, h->n - 1);
  if (x1 <= x0) {
    x0 -= 1;
    x1 += 1;
  }
  SpnChartSpec spec = {
    .xlabel = "step",
    .integer_x = TRUE,
    .ylabel = spn_fig_span_label(s),
    .x0 = x0, .x1 = x1,
    .y0 = lo, .y1 = hi,
    .ylog = o->log_axis,
  };
  spn_chart_layout(p, r, &spec, &L->chart);
  L->nheads_total = per_row;
}

static gboolean
known(const SpnHistory *h, int i, int k)
{
  return i >= 0 && i < h->n && isfinite(spn_history_row_spans(h, i)[k]);
}

/* A dot for each span known at a row whose neighbours do not know it: no line passes there. */
static void
draw_lone_spans(SpnPlot *p, const HistoryLayout *L, const SpnHistory *h,
                const SpnFigureOptions *o)
{
  int per_row = h->nlayers * h->nheads;
  SpnHistoryChunk c;
  for (int j = 0; spn_history_chunk(h, j, &c); j++)
    for (int r = 0; r < c.n; r++) {
      int i = c.first + r;
      for (int k = 0; k < per_row; k++) {
        float v = c.spans[(gsize)r * per_row + k];
        if (!isfinite(v) || known(h, i - 1, k) || known(h, i + 1, k))
          continue;
        double rgb[3];
        spn_fig_head_rgb(p, k / h->nheads, k % h->nheads, h->nheads, rgb);
        spn_plot_set_rgb(p, rgb, spn_fig_selected(o, k / h->nheads, k % h->nheads) ? 0.95 : 0.5);
        double y = o->log_axis ? MAX(v, L->chart.y.v0) : v;
        cairo_new_sub_path(p->cr);
        cairo_arc(p->cr, spn_axis_px(&L->chart.x, (double)c.step[r]), spn_axis_px(&L->chart.y, y),
                  0.3 * p->fs, 0, 2 * G_PI);
        cairo_fill(p->cr);
      }
    }
}

void
spn_fig_history_draw(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  r = history_header(p, r, s);
  if (!has_history(s)) {
    spn_plot_message(p, r, "No training history yet: the spans of every head appear here as the "
                           "model trains.");
    return;
  }
  HistoryLayout L;
  history_layout(p, r, s, o, &L);
  const SpnHistory *h = s->history;
  cairo_t *cr = p->cr;
  spn_chart_draw_grid(p, &L.chart);
  spn_chart_clip(p, &L.chart);
  SpnLines *lines = spn_lines_begin(p, &L.chart.area);
  /* the heads of the window's selection last, on top and stronger; the others faint */
  for (int pass = 0; pass < 2; pass++)
    for (int k = 0; k < L.nheads_total; k++) {
      int l = k / h->nheads, hd = k % h->nheads;
      gboolean selected = spn_fig_selected(o, l, hd);
      if (selected != (pass == 1))
        continue;
      double rgb[3];
      spn_fig_head_rgb(p, l, hd, h->nheads, rgb);
      spn_fig_history_line(lines, &L.chart.x, &L.chart.y, h, SPN_HISTORY_SPANS, k, NULL, rgb,
                           selected ? 0.95 : 0.3, selected && o->head >= 0 ? 2.5 : 1.5);
    }
  spn_lines_end(lines);
  draw_lone_spans(p, &L, h, o);
  cairo_restore(cr);
  spn_chart_draw_axes(p, &L.chart);
}

char *
spn_fig_history_describe(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o,
                         double x, double y)
{
  r = history_header(p, r, s);
  if (!has_history(s))
    return NULL;
  HistoryLayout L;
  history_layout(p, r, s, o, &L);
  if (!spn_rect_contains(&L.chart.area, x, y))
    return NULL;
  const SpnHistory *h = s->history;
  int i = spn_fig_history_nearest(h, spn_axis_value(&L.chart.x, x));
  const float *row = spn_history_row_spans(h, i);
  int best = -1;
  double best_d = G_MAXDOUBLE;
  for (int k = 0; k < L.nheads_total; k++) {
    if (!isfinite(row[k]))
      continue;
    double v = o->log_axis ? MAX(row[k], L.chart.y.v0) : row[k];
    double d = fabs(spn_axis_px(&L.chart.y, v) - y);
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  gint64 step = spn_history_step(h, i);
  if (best < 0)
    return g_strdup_printf("step %" G_GINT64_FORMAT, step);
  return g_strdup_printf("step %" G_GINT64_FORMAT " \u00b7 layer %d head %d: span %.1f", step,
                         best / h->nheads, best % h->nheads, row[best]);
}
