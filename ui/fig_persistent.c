/* fig_persistent.c — persistent memory opened up (all-attention models, P > 0). The blog reads
 * the persistent vectors as the feed-forward layer's keys and values; this shows how much each
 * head uses them and which ones:
 *   top left   each head's share of attention on its persistent vectors (the rest went to the
 *              context), averaged over the inspector's text;
 *   top right  the same share over training, each step's mean over its block (the history's
 *              pers_share), for the heads of the selected layer;
 *   bottom     for the selected character and head, the persistent vectors it used most (top
 *              k with their weights), and every slot's mean weight over the text for each head
 *              of the layer (a histogram of slot usage per head, as a heatmap row). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "figure-private.h"
#include "heatmap.h"

#define TOP_K 8

typedef struct {
  SpnRect share, train, top, usage;
  SpnChart share_c, train_c, top_c, usage_c;
  SpnRect usage_bar;
  gboolean probe, history;
  int head, query;
} PersLayout;

static gboolean
has_probe(const SpnSnapshot *s, const SpnFigureOptions *o)
{
  const SpnProbe *pr = s->probe;
  return pr && pr->n > 0 && o->layer >= 0 && o->layer < pr->nlayers && pr->heads[0].slots != NULL;
}

/* A history with at least one known share: an imported reference run's rows have none. */
static gboolean
has_history(const SpnSnapshot *s)
{
  const SpnHistory *h = s->history;
  if (h == NULL || h->n == 0 || !h->persistent)
    return FALSE;
  gsize per_row = (gsize)h->nlayers * h->nheads;
  SpnHistoryChunk c;
  for (int j = 0; spn_history_chunk(h, j, &c); j++)
    for (gsize k = 0; k < per_row * (gsize)c.n; k++)
      if (isfinite(c.pers_share[k]))
        return TRUE;
  return FALSE;
}

static SpnRect
pers_header(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  g_autofree char *base = g_strdup_printf("%s \u00b7 layer %d \u00b7 P = %d per head",
                                          spn_figure_title(SPN_FIGURE_PERSISTENT), o->layer,
                                          s->cfg.pers_mem_size);
  g_autofree char *title = spn_fig_title_with_step(base, s);
  return spn_plot_title(p, r, title);
}

/* mean over the text of each head's persistent mass (layer l) */
static double
text_share(const SpnSnapshot *s, int l, int h)
{
  const SpnProbeHead *ph = spn_fig_probe_head(s, l, h);
  double sum = 0.0;
  int n = 0;
  for (int q = 0; q < s->probe->n; q++)
    if (isfinite(ph->persistent[q]))
      sum += ph->persistent[q], n++;
  return n ? sum / n : NAN;
}

static void
pers_layout(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o, PersLayout *L)
{
  L->probe = has_probe(s, o);
  L->history = has_history(s);
  L->head = MAX(o->head, 0);
  L->query = L->probe ? (o->query >= 0 && o->query < s->probe->n ? o->query : s->probe->n - 1)
                      : -1;
  double gap = p->fs, hs;
  spn_plot_text_size(p, SPN_TEXT_SMALL, "0", NULL, &hs);
  double w2 = (r.w - gap) / 2, h2 = (r.h - gap) / 2, t = hs * 1.4;
  L->share = (SpnRect){r.x, r.y, w2, h2};
  L->train = (SpnRect){r.x + w2 + gap, r.y, w2, h2};
  L->top = (SpnRect){r.x, r.y + h2 + gap, w2, h2};
  L->usage = (SpnRect){r.x + w2 + gap, r.y + h2 + gap, w2, h2};
  int K = s->cfg.nheads, L_ = s->cfg.nlayers, P = s->cfg.pers_mem_size;
  SpnChartSpec share = {.xlabel = "layer (bars: heads)", .ylabel = "share on persistent",
                        .x0 = 0, .x1 = L_, .y0 = 0, .y1 = 1.05, .no_xticks = TRUE,
                        .bottom_extra = hs * 1.2};
  spn_chart_layout(p, (SpnRect){L->share.x, L->share.y + t, L->share.w, L->share.h - t}, &share,
                   &L->share_c);
  double x0 = 0, x1 = 1;
  if (L->history) {
    x0 = (double)spn_history_step(s->history, 0);
    x1 = (double)spn_history_step(s->history, s->history->n - 1);
    if (x1 <= x0)
      x0 -= 1, x1 += 1;
  }
  SpnChartSpec train = {.xlabel = "step", .ylabel = "share", .x0 = x0, .x1 = x1, .y0 = 0,
                        .y1 = 1.05, .integer_x = TRUE};
  spn_chart_layout(p, (SpnRect){L->train.x, L->train.y + t, L->train.w, L->train.h - t}, &train,
                   &L->train_c);
  /* the weights of the character's top slots set the scale */
  double wmax = 0.0;
  if (L->probe) {
    const SpnProbeHead *ph = spn_fig_probe_head(s, o->layer, L->head);
    for (int j = 0; j < ph->n_slots; j++) {
      float v = ph->slots[(gsize)L->query * ph->n_slots + j];
      if (isfinite(v))
        wmax = MAX(wmax, v);
    }
  }
  SpnChartSpec top = {.xlabel = "weight", .x0 = 0, .x1 = wmax > 0 ? MIN(1.0, wmax * 1.25) : 1.0,
                      .y0 = TOP_K - 0.5, .y1 = -0.5, .no_ylabels = TRUE,
                      .left_extra = p->fs * 3.5};
  spn_chart_layout(p, (SpnRect){L->top.x, L->top.y + t, L->top.w, L->top.h - t}, &top,
                   &L->top_c);
  SpnChartSpec usage = {.xlabel = "persistent slot", .ylabel = "head", .x0 = -0.5,
                        .x1 = P - 0.5, .y0 = K - 0.5, .y1 = -0.5, .integer_ticks = TRUE,
                        .integer_x = TRUE};
  double bar = 0.9 * p->fs + spn_heat_colorbar_margin(p) + 0.5 * p->fs;
  spn_chart_layout(p, (SpnRect){L->usage.x, L->usage.y + t, L->usage.w - bar, L->usage.h - t},
                   &usage, &L->usage_c);
  const SpnRect *a = &L->usage_c.area;
  L->usage_bar = (SpnRect){a->x + a->w + 0.5 * p->fs, a->y, 0.9 * p->fs, a->h};
}

static void
panel_title(SpnPlot *p, const SpnRect *r, const char *text)
{
  /* within its part of the figure: in a narrow panel the titles side by side would overlap */
  spn_plot_text_within(p, SPN_TEXT_SMALL, text, r->x, r->y, r->w, p->pal->fg);
}

static void
draw_share(SpnPlot *p, const PersLayout *L, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  panel_title(p, &L->share, "Share of attention on persistent memory, over the text");
  const SpnChart *c = &L->share_c;
  spn_chart_draw_grid(p, c);
  if (!L->probe) {
    spn_plot_message(p, c->area, "No text read yet");
    spn_chart_draw_axes(p, c);
    return;
  }
  int K = s->cfg.nheads;
  double gw = c->area.w / s->cfg.nlayers, bw = gw * 0.8 / K, base = c->area.y + c->area.h;
  for (int l = 0; l < s->cfg.nlayers; l++) {
    for (int h = 0; h < K; h++) {
      double v = text_share(s, l, h), rgb[3], x = c->area.x + l * gw + gw * 0.1 + h * bw;
      if (!isfinite(v))
        continue;
      spn_fig_head_rgb(p, l, h, K, rgb);
      /* the context's part faint above the persistent part */
      spn_plot_set_rgb(p, rgb, 0.18);
      cairo_rectangle(p->cr, x, spn_axis_px(&c->y, 1.0), bw * 0.86, spn_axis_px(&c->y, v) -
                                                                        spn_axis_px(&c->y, 1.0));
      cairo_fill(p->cr);
      spn_plot_set_rgb(p, rgb, spn_fig_selected(o, l, h) ? 1.0 : 0.6);
      double y = spn_axis_px(&c->y, v);
      cairo_rectangle(p->cr, x, y, bw * 0.86, base - y);
      cairo_fill(p->cr);
    }
    char t[16];
    snprintf(t, sizeof t, "%d", l);
    spn_plot_text(p, SPN_TEXT_SMALL, t, c->area.x + (l + 0.5) * gw, base + 0.2 * p->fs, 0.5, 0.0,
                  p->pal->fg);
  }
  spn_chart_draw_axes(p, c);
}

static void
draw_training(SpnPlot *p, const PersLayout *L, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  g_autofree char *t = g_strdup_printf("Over training (each step's mean), layer %d", o->layer);
  panel_title(p, &L->train, t);
  const SpnChart *c = &L->train_c;
  spn_chart_draw_grid(p, c);
  if (!L->history) {
    spn_plot_message(p, c->area, "No training history with persistent shares");
    spn_chart_draw_axes(p, c);
    return;
  }
  const SpnHistory *h = s->history;
  int K = s->cfg.nheads;
  spn_chart_clip(p, c);
  for (int k = 0; k < K; k++) {
    double rgb[3];
    spn_fig_head_rgb(p, o->layer, k, K, rgb);
    spn_plot_set_rgb(p, rgb, spn_fig_selected(o, o->layer, k) ? 1.0 : 0.6);
    cairo_set_line_width(p->cr, 1.5);
    gboolean pen = FALSE;
    /* at most about one point per pixel column */
    int stride = MAX(1, (int)(h->n / MAX(1.0, c->area.w)));
    for (int i = 0; i < h->n; i += stride) {
      float v = spn_history_row_pers_share(h, i)[o->layer * K + k];
      if (!isfinite(v)) {
        pen = FALSE;
        continue;
      }
      double x = spn_axis_px(&c->x, (double)spn_history_step(h, i)), y = spn_axis_px(&c->y, v);
      pen ? cairo_line_to(p->cr, x, y) : cairo_move_to(p->cr, x, y);
      pen = TRUE;
    }
    cairo_stroke(p->cr);
  }
  cairo_restore(p->cr);
  spn_chart_draw_axes(p, c);
}

/* the k slots of the largest weight for the selected query, largest first */
static int
top_slots(const SpnProbeHead *ph, int q, int *slot, float *w)
{
  int n = 0;
  for (int j = 0; j < ph->n_slots; j++) {
    float v = ph->slots[(gsize)q * ph->n_slots + j];
    if (!isfinite(v))
      continue;
    int at = n < TOP_K ? n++ : TOP_K;
    while (at > 0 && w[at - 1] < v) {
      if (at < TOP_K)
        slot[at] = slot[at - 1], w[at] = w[at - 1];
      at--;
    }
    if (at < TOP_K)
      slot[at] = j, w[at] = v;
  }
  return n;
}

static void
draw_top(SpnPlot *p, const PersLayout *L, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  const SpnChart *c = &L->top_c;
  if (!L->probe) {
    panel_title(p, &L->top, "Persistent vectors used by a character");
    spn_plot_message(p, c->area, "No text read yet");
    return;
  }
  g_autofree char *qc = spn_fig_token_label(s, L->query);
  const SpnProbeHead *ph = spn_fig_probe_head(s, o->layer, L->head);
  g_autofree char *t =
      g_strdup_printf("Slots used by '%s' #%d, head %d (persistent %.3g of its attention)", qc,
                      L->query, L->head, ph->persistent[L->query]);
  panel_title(p, &L->top, t);
  spn_chart_draw_grid(p, c);
  int slot[TOP_K];
  float w[TOP_K];
  int n = top_slots(ph, L->query, slot, w);
  double rgb[3], bh = c->area.h / TOP_K;
  spn_fig_head_rgb(p, o->layer, L->head, s->cfg.nheads, rgb);
  for (int i = 0; i < n; i++) {
    double y = spn_axis_px(&c->y, i) - bh * 0.4, x1 = spn_axis_px(&c->x, MIN(w[i], c->x.v1));
    spn_plot_set_rgb(p, rgb, 1.0);
    cairo_rectangle(p->cr, c->area.x, y, x1 - c->area.x, bh * 0.8);
    cairo_fill(p->cr);
    char label[32];
    snprintf(label, sizeof label, "slot %d", slot[i]);
    spn_plot_text(p, SPN_TEXT_SMALL, label, c->area.x - 0.3 * p->fs, y + bh * 0.4, 1.0, 0.5,
                  p->pal->fg);
    snprintf(label, sizeof label, "%.3g", w[i]);
    spn_plot_text(p, SPN_TEXT_SMALL, label, x1 + 0.2 * p->fs, y + bh * 0.4, 0.0, 0.5,
                  p->pal->muted);
  }
  spn_chart_draw_axes(p, c);
}

/* heads × slots: each slot's mean weight over the text */
static float *
slot_usage(const SpnSnapshot *s, int layer)
{
  int K = s->cfg.nheads, P = s->cfg.pers_mem_size, n = s->probe->n;
  float *v = g_new0(float, (gsize)K * P);
  for (int h = 0; h < K; h++) {
    const SpnProbeHead *ph = spn_fig_probe_head(s, layer, h);
    for (int j = 0; j < P && j < ph->n_slots; j++) {
      double sum = 0.0;
      int count = 0;
      for (int q = 0; q < n; q++) {
        float x = ph->slots[(gsize)q * ph->n_slots + j];
        if (isfinite(x))
          sum += x, count++;
      }
      v[(gsize)h * P + j] = count ? (float)(sum / count) : NAN;
    }
  }
  return v;
}

static void
draw_usage(SpnPlot *p, const PersLayout *L, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  panel_title(p, &L->usage, "Slot usage per head: mean weight over the text");
  const SpnChart *c = &L->usage_c;
  if (!L->probe) {
    spn_plot_message(p, c->area, "No text read yet");
    return;
  }
  g_autofree float *v = slot_usage(s, o->layer);
  int K = s->cfg.nheads, P = s->cfg.pers_mem_size;
  double vmax = 0.0;
  for (int k = 0; k < K * P; k++)
    if (isfinite(v[k]))
      vmax = MAX(vmax, v[k]);
  SpnHeatScale sc = spn_heat_scale(vmax, FALSE, o->colormap);
  spn_heat_paint(p, &c->area, v, P, K, &sc);
  spn_chart_draw_axes(p, c);
  spn_heat_colorbar(p, &L->usage_bar, &sc, "mean weight");
}

void
spn_fig_persistent_draw(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  r = pers_header(p, r, s, o);
  if (s->cfg.pers_mem_size <= 0) {
    spn_plot_message(p, r, "This model has no persistent memory: all-attention models (a "
                           "persistent memory size above 0) replace the feed-forward sublayer "
                           "by learned vectors every head attends to.");
    return;
  }
  PersLayout L;
  pers_layout(p, r, s, o, &L);
  draw_share(p, &L, s, o);
  draw_training(p, &L, s, o);
  draw_top(p, &L, s, o);
  draw_usage(p, &L, s, o);
}

char *
spn_fig_persistent_describe(SpnPlot *p, SpnRect r, const SpnSnapshot *s,
                            const SpnFigureOptions *o, double x, double y)
{
  r = pers_header(p, r, s, o);
  if (s->cfg.pers_mem_size <= 0)
    return NULL;
  PersLayout L;
  pers_layout(p, r, s, o, &L);
  int K = s->cfg.nheads;
  if (L.probe && spn_rect_contains(&L.share_c.area, x, y)) {
    double gw = L.share_c.area.w / s->cfg.nlayers;
    int l = CLAMP((int)((x - L.share_c.area.x) / gw), 0, s->cfg.nlayers - 1);
    int h = CLAMP((int)((x - L.share_c.area.x - l * gw - gw * 0.1) / (gw * 0.8 / K)), 0, K - 1);
    g_autofree char *v = spn_fig_format_value("%.3f", text_share(s, l, h));
    return g_strdup_printf("layer %d head %d \u00b7 share on persistent memory %s over the text", l,
                           h, v);
  }
  if (L.probe && spn_rect_contains(&L.usage_c.area, x, y)) {
    int j = (int)floor(spn_axis_value(&L.usage_c.x, x) + 0.5);
    int h = (int)floor(spn_axis_value(&L.usage_c.y, y) + 0.5);
    if (j < 0 || j >= s->cfg.pers_mem_size || h < 0 || h >= K)
      return NULL;
    g_autofree float *v = slot_usage(s, o->layer);
    g_autofree char *t = spn_fig_format_value("%.4f", v[(gsize)h * s->cfg.pers_mem_size + j]);
    return g_strdup_printf("layer %d head %d \u00b7 slot %d \u00b7 mean weight %s", o->layer, h,
                           j, t);
  }
  if (L.history && spn_rect_contains(&L.train_c.area, x, y)) {
    int i = spn_fig_history_nearest(s->history, spn_axis_value(&L.train_c.x, x));
    const float *share = spn_history_row_pers_share(s->history, i) + o->layer * K;
    GString *t = g_string_new(NULL);
    g_string_append_printf(t, "step %" G_GINT64_FORMAT, spn_history_step(s->history, i));
    for (int h = 0; h < K; h++) {
      g_autofree char *v = spn_fig_format_value("%.3f", share[h]);
      g_string_append_printf(t, " \u00b7 head %d %s", h, v);
    }
    return g_string_free(t, FALSE);
  }
  return NULL;
}
