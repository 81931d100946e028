/* fig_heads.c — every head at once for one character (BertViz's model view as small multiples):
 * a grid of layers (rows) × heads (columns), each cell the weights the selected query gave to
 * the characters δ = 1 … window back (logarithmic distance axis, one weight scale for the whole
 * grid), its mask edge, and with persistent memory the mass it put there. The selected head is
 * framed; a click on a cell selects that head (spn_figure_heads_cell). */
#include <math.h>
#include <stdio.h>

#include "figure-private.h"

#define MAX_LAYERS 24
#define MAX_HEADS 16

typedef struct {
  int nl, nh;      /* layers and heads drawn */
  int query;
  int wmax;
  double vmax;
  SpnChart chart[MAX_LAYERS][MAX_HEADS];
} HeadsLayout;

static gboolean
probe_ok(const SpnSnapshot *s)
{
  return s->probe && s->probe->n > 0;
}

/* the selected character, or the last one */
static int
query_of(const SpnSnapshot *s, const SpnFigureOptions *o)
{
  return o->query >= 0 && o->query < s->probe->n ? o->query : s->probe->n - 1;
}

static SpnRect
heads_header(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  g_autofree char *base = NULL;
  if (probe_ok(s)) {
    int q = query_of(s, o);
    g_autofree char *c = spn_fig_token_label(s, q);
    base = g_strdup_printf("%s \u00b7 query '%s' #%d%s", spn_figure_title(SPN_FIGURE_HEADS), c, q,
                           o->query < 0 ? " (the last; click a character to choose)" : "");
  } else
    base = g_strdup(spn_figure_title(SPN_FIGURE_HEADS));
  g_autofree char *title = spn_fig_title_with_step(base, s);
  return spn_plot_title(p, r, title);
}

static void
heads_layout(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o,
             HeadsLayout *L)
{
  const SpnProbe *pr = s->probe;
  L->nl = MIN(pr->nlayers, MAX_LAYERS);
  L->nh = MIN(pr->nheads, MAX_HEADS);
  L->query = query_of(s, o);
  L->wmax = 2;
  L->vmax = 0.0;
  for (int l = 0; l < L->nl; l++)
    for (int h = 0; h < L->nh; h++) {
      const SpnProbeHead *ph = spn_fig_probe_head(s, l, h);
      L->wmax = MAX(L->wmax, ph->window);
      for (int d = 1; d <= MIN(ph->window, L->query); d++) {
        float w = ph->weights[(gsize)L->query * ph->window + d - 1];
        if (isfinite(w))
          L->vmax = MAX(L->vmax, w);
      }
    }
  if (!(L->vmax > 0))
    L->vmax = 1.0;
  double hs, lw;
  spn_plot_text_size(p, SPN_TEXT_SMALL, "0", NULL, &hs);
  spn_plot_text_size(p, SPN_TEXT_SMALL, "layer 00", NULL, &lw);
  double left = lw + 0.3 * p->fs, top = hs * 1.3;
  double cw = (r.w - left) / L->nh, ch = (r.h - top) / L->nl;
  for (int l = 0; l < L->nl; l++)
    for (int h = 0; h < L->nh; h++) {
      gboolean bottom = l == L->nl - 1, first = h == 0;
      SpnChartSpec spec = {
        /* one title under the middle column; the other bottom cells keep the same room
         * (an empty title), so the row's charts end on one line */
        .xlabel = !bottom ? NULL : h == L->nh / 2 ? spn_fig_distance_label(s) : "",
        .ylabel = NULL,
        .x0 = 1, .x1 = L->wmax, .xlog = TRUE,
        .y0 = 0, .y1 = L->vmax * 1.05,
        .no_xlabels = !bottom, .no_ylabels = !first,
      };
      SpnRect outer = {r.x + left + h * cw, r.y + top + l * ch, cw, ch};
      spn_chart_layout(p, outer, &spec, &L->chart[l][h]);
    }
}

static void
draw_cell(SpnPlot *p, const HeadsLayout *L, const SpnSnapshot *s, int l, int h, gboolean selected)
{
  const SpnChart *c = &L->chart[l][h];
  const SpnProbeHead *ph = spn_fig_probe_head(s, l, h);
  double rgb[3];
  spn_fig_head_rgb(p, l, h, L->nh, rgb);
  cairo_t *cr = p->cr;
  spn_chart_clip(p, c);
  spn_plot_set_rgb(p, rgb, 1.0);
  /* at least 2 px: on the log axis the far distances are packed tighter than a pixel, and a
   * head copying from there is one hairline at the chart's edge otherwise */
  cairo_set_line_width(cr, MAX(2.0, MIN(3.0, c->area.w / MAX(1, ph->window) * 0.8)));
  double y0 = spn_axis_px(&c->y, 0.0);
  for (int d = 1; d <= MIN(ph->window, L->query); d++) {
    float w = ph->weights[(gsize)L->query * ph->window + d - 1];
    if (!(w > 0) || !isfinite(w))
      continue;
    double x = spn_axis_px(&c->x, d);
    cairo_move_to(cr, x, y0);
    cairo_line_to(cr, x, spn_axis_px(&c->y, w));
  }
  cairo_stroke(cr);
  if (s->cfg.adapt_span) {
    double edge = spn_fig_span(s, l, h) + s->cfg.adapt_span_ramp + 1;
    double x = spn_axis_px(&c->x, MAX(1.0, edge));
    spn_plot_set_rgb(p, p->pal->muted, 0.9);
    cairo_set_line_width(cr, 1.0);
    double dash[] = {3.0, 2.0};
    cairo_set_dash(cr, dash, 2, 0);
    cairo_move_to(cr, x, c->area.y);
    cairo_line_to(cr, x, c->area.y + c->area.h);
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
  }
  cairo_restore(cr);
  spn_chart_draw_axes(p, c);
  if (ph->persistent != NULL && s->cfg.pers_mem_size > 0) {
    char t[32];
    snprintf(t, sizeof t, "pers %.2f", ph->persistent[L->query]);
    spn_plot_text(p, SPN_TEXT_SMALL, t, c->area.x + c->area.w - 0.2 * p->fs,
                  c->area.y + 0.1 * p->fs, 1.0, 0.0, p->pal->muted);
  }
  if (selected) {
    double accent[3];
    spn_plot_series_rgb(p, 2, accent);
    spn_plot_set_rgb(p, accent, 1.0);
    cairo_set_line_width(cr, 2.0);
    cairo_rectangle(cr, c->area.x - 1, c->area.y - 1, c->area.w + 2, c->area.h + 2);
    cairo_stroke(cr);
  }
}

void
spn_fig_heads_draw(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  r = heads_header(p, r, s, o);
  if (!probe_ok(s)) {
    spn_plot_message(p, r, "No text read yet: type or paste text in the inspector to see where "
                           "every head of every layer looked from one character.");
    return;
  }
  HeadsLayout L;
  heads_layout(p, r, s, o, &L);
  for (int l = 0; l < L.nl; l++) {
    const SpnChart *c = &L.chart[l][0];
    char t[32];
    snprintf(t, sizeof t, "layer %d", l);
    spn_plot_text_vertical(p, SPN_TEXT_SMALL, t, r.x, c->area.y + c->area.h / 2, 0.0, 0.5,
                           p->pal->fg);
    for (int h = 0; h < L.nh; h++) {
      gboolean sel = l == o->layer && (o->head < 0 || o->head == h);
      draw_cell(p, &L, s, l, h, sel);
      if (l == 0) {
        snprintf(t, sizeof t, "head %d", h);
        const SpnChart *ch = &L.chart[0][h];
        spn_plot_text(p, SPN_TEXT_SMALL, t, ch->area.x + ch->area.w / 2, ch->area.y - 0.1 * p->fs,
                      0.5, 1.0, p->pal->fg);
      }
    }
  }
}

gboolean
spn_fig_heads_cell(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o,
                   double x, double y, int *layer, int *head)
{
  r = heads_header(p, r, s, o);
  if (!probe_ok(s))
    return FALSE;
  HeadsLayout L;
  heads_layout(p, r, s, o, &L);
  for (int l = 0; l < L.nl; l++)
    for (int h = 0; h < L.nh; h++)
      if (spn_rect_contains(&L.chart[l][h].outer, x, y)) {
        *layer = l;
        *head = h;
        return TRUE;
      }
  return FALSE;
}

char *
spn_fig_heads_describe(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o,
                       double x, double y)
{
  int l, h;
  if (!spn_fig_heads_cell(p, r, s, o, x, y, &l, &h))
    return NULL;
  HeadsLayout L;
  heads_layout(p, heads_header(p, r, s, o), s, o, &L);
  const SpnProbeHead *ph = spn_fig_probe_head(s, l, h);
  int q = L.query, best = 0;
  float bw = -1.0f;
  for (int d = 1; d <= MIN(ph->window, q); d++) {
    float w = ph->weights[(gsize)q * ph->window + d - 1];
    if (isfinite(w) && w > bw)
      bw = w, best = d;
  }
  GString *t = g_string_new(NULL);
  g_string_append_printf(t, "layer %d head %d \u00b7 span %.1f", l, h, spn_fig_span(s, l, h));
  if (best > 0) {
    g_autofree char *kc = spn_fig_token_label(s, q - best);
    g_string_append_printf(t, " \u00b7 strongest: '%s' at distance %d (%.3f)", kc, best, bw);
  }
  if (s->cfg.pers_mem_size > 0 && ph->persistent != NULL)
    g_string_append_printf(t, " \u00b7 persistent %.3f", ph->persistent[q]);
  g_string_append(t, " \u00b7 click to select");
  return g_string_free(t, FALSE);
}
