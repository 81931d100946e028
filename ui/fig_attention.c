/* fig_attention.c — where each query of the probe text looked: a heatmap of query position
 * (rows, downwards) × key position (columns), one head or a grid of all heads of a layer, with
 * the mass on the persistent vectors as an extra column when the model has them.
 *
 * Speed: the visible cells are reduced to at most one value per device pixel (the largest weight
 * of the cells falling on it, so a sharp peak never disappears when zoomed out), coloured through
 * a lookup table and painted as one image with the nearest filter. Only the keys a query can see
 * are read, so the cost follows the cells on screen, not the text length squared. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "colormap.h"
#include "figure-private.h"
#include "heatmap.h"

#define MAX_PANELS 64

typedef struct {
  SpnChart chart;    /* x: key position, y: query position (growing downwards) */
  int head;
  SpnRect title;     /* "head h" above the panel in a grid, w = 0 otherwise */
  SpnRect pers;      /* persistent-memory column, w = 0 without persistent memory */
  SpnRect pers_label; /* its name, written up its right side */
  gboolean key_chars, query_chars;   /* characters label the columns / rows */
} Panel;

typedef struct {
  int n;                   /* tokens of the probe */
  double q0, q1, k0, k1;   /* visible range in cell units */
  int qa, qb, ka, kb;      /* cells touched by the visible range */
  int npanels;
  Panel panel[MAX_PANELS];
  SpnRect bar;             /* colour bar */
} AttnLayout;

/* ---- geometry ---- */

static gboolean
probe_ok(const SpnSnapshot *s, const SpnFigureOptions *o)
{
  const SpnProbe *pr = s->probe;
  return pr && pr->n > 0 && o->layer >= 0 && o->layer < pr->nlayers && o->head < pr->nheads &&
         o->head >= -1;
}

static void
visible_range(const SpnSnapshot *s, const SpnFigureOptions *o, AttnLayout *L)
{
  int n = s->probe->n;
  L->n = n;
  /* a range that is not finite shows everything */
  gboolean zoom = isfinite(o->q0) && isfinite(o->q1) && isfinite(o->k0) && isfinite(o->k1);
  if (zoom && o->q1 > o->q0) {
    L->q0 = CLAMP(o->q0, 0, n);
    L->q1 = CLAMP(o->q1, 0, n);
  } else {
    L->q0 = 0;
    L->q1 = n;
  }
  if (zoom && o->q1 > o->q0 && o->k1 > o->k0) {
    L->k0 = CLAMP(o->k0, 0, n);
    L->k1 = CLAMP(o->k1, 0, n);
  } else {
    L->k0 = 0;
    L->k1 = n;
  }
  if (L->q1 - L->q0 < 1) {
    L->q0 = MAX(0, MIN(L->q0, n - 1));
    L->q1 = L->q0 + 1;
  }
  if (L->k1 - L->k0 < 1) {
    L->k0 = MAX(0, MIN(L->k0, n - 1));
    L->k1 = L->k0 + 1;
  }
  L->qa = (int)floor(L->q0);
  L->qb = MIN(n, (int)ceil(L->q1));
  L->ka = (int)floor(L->k0);
  L->kb = MIN(n, (int)ceil(L->k1));
}

static SpnRect
attention_header(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  g_autofree char *which =
    o->head >= 0 ? g_strdup_printf("layer %d head %d", o->layer, o->head)
                 : g_strdup_printf("layer %d, all heads", o->layer);
  g_autofree char *base = g_strdup_printf("%s \u00b7 %s%s", spn_figure_title(SPN_FIGURE_ATTENTION),
                                          which, o->log_color ? " \u00b7 log colour" : "");
  g_autofree char *title = spn_fig_title_with_step(base, s);
  return spn_plot_title(p, r, title);
}

static double
char_width(SpnPlot *p)
{
  double w;
  spn_plot_text_size(p, SPN_TEXT_SMALL, "W", &w, NULL);
  return w;
}

static void
panel_layout(SpnPlot *p, SpnRect r, const SpnSnapshot *s, AttnLayout *L, Panel *P, gboolean left,
             gboolean bottom)
{
  double hs;
  spn_plot_text_size(p, SPN_TEXT_SMALL, "0", NULL, &hs);
  gboolean pers = s->cfg.pers_mem_size > 0 && s->probe->heads[0].persistent != NULL;
  /* the column, then its name up its side: it reads as part of the panel, not as a legend */
  double pw = pers ? 1.4 * p->fs : 0.0, gap = pers ? 0.3 * p->fs : 0.0;
  double lw = pers ? hs + 0.2 * p->fs : 0.0;
  SpnRect outer = {r.x, r.y, r.w - pw - gap - lw, r.h};
  SpnChartSpec spec = {
    .xlabel = bottom ? "key position" : NULL,
    .ylabel = left ? "query position" : NULL,
    .x0 = L->k0 - 0.5, .x1 = L->k1 - 0.5,
    /* queries grow downwards: the bottom of the axis is the last row */
    .y0 = L->q1 - 0.5, .y1 = L->q0 - 0.5,
    .no_xlabels = !bottom,
    .no_ylabels = !left,
    .integer_ticks = TRUE,
  };
  spn_chart_layout(p, outer, &spec, &P->chart);
  /* characters under the columns and beside the rows once the cells are wide enough */
  double cw = char_width(p);
  P->key_chars = bottom && P->chart.area.w / (L->k1 - L->k0) >= cw * 1.3;
  P->query_chars = left && P->chart.area.h / (L->q1 - L->q0) >= hs * 1.05;
  if (P->key_chars)
    spec.bottom_extra = hs * 1.1;
  if (P->query_chars)
    spec.left_extra = cw * 1.6;
  if (P->key_chars || P->query_chars)
    spn_chart_layout(p, outer, &spec, &P->chart);
  P->pers = P->pers_label = (SpnRect){0, 0, 0, 0};
  if (pers) {
    P->pers = (SpnRect){r.x + r.w - pw - lw, P->chart.area.y, pw, P->chart.area.h};
    P->pers_label = (SpnRect){r.x + r.w - lw, P->chart.area.y, lw, P->chart.area.h};
  }
}

static void
attention_layout(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o,
                 AttnLayout *L)
{
  memset(L, 0, sizeof *L);
  visible_range(s, o, L);
  double pad = 0.5 * p->fs, hn, tw;
  spn_plot_text_size(p, SPN_TEXT_NORMAL, "Ag", NULL, &hn);
  spn_plot_text_size(p, SPN_TEXT_SMALL, "0.0005", &tw, NULL);
  double bar_w = 0.9 * p->fs;
  double right = bar_w + 0.35 * p->fs + 0.25 * p->fs + tw + 0.3 * p->fs + hn + pad;
  /* with persistent memory the last panel's column keeps a wide gap from the colour bar */
  gboolean pers = s->cfg.pers_mem_size > 0 && s->probe->heads[0].persistent != NULL;
  double before_bar = p->fs * (pers ? 1.8 : 0.6);
  SpnRect rest = {r.x, r.y, MAX(1.0, r.w - right - before_bar), r.h};
  int K = o->head >= 0 ? 1 : MIN(s->probe->nheads, MAX_PANELS);
  /* the grid whose panels are closest to square */
  int cols = 1;
  double best = -1;
  for (int c = 1; c <= K; c++) {
    int rows = (K + c - 1) / c;
    double score = MIN(rest.w / c, rest.h / rows);
    if (score > best) {
      best = score;
      cols = c;
    }
  }
  int rows = (K + cols - 1) / cols;
  double title_h = 0;
  if (K > 1)
    spn_plot_text_size(p, SPN_TEXT_SMALL, "head 0", NULL, &title_h);
  L->npanels = K;
  for (int i = 0; i < K; i++) {
    Panel *P = &L->panel[i];
    P->head = o->head >= 0 ? o->head : i;
    int row = i / cols, col = i % cols;
    SpnRect cell = {rest.x + col * rest.w / cols, rest.y + row * rest.h / rows, rest.w / cols,
                    rest.h / rows};
    SpnRect body = cell;
    P->title = (SpnRect){0, 0, 0, 0};
    if (K > 1) {
      P->title = (SpnRect){cell.x, cell.y, cell.w, title_h + 0.2 * p->fs};
      body.y += P->title.h;
      body.h = MAX(1.0, body.h - P->title.h);
    }
    gboolean bottom = row == rows - 1 || i + cols >= K;
    panel_layout(p, body, s, L, P, col == 0, bottom);
  }
  const SpnRect *first = &L->panel[0].chart.area, *last = &L->panel[K - 1].chart.area;
  double top = first->y, bottom = last->y + last->h;
  L->bar = (SpnRect){r.x + r.w - right + pad * 0.5, top, bar_w, MAX(1.0, bottom - top)};
}

/* pixel edges of cell ranges */
static double
key_edge(const Panel *P, double k)
{
  return spn_axis_px(&P->chart.x, k - 0.5);
}

static double
query_edge(const Panel *P, double q)
{
  return spn_axis_px(&P->chart.y, q - 0.5);
}

/* ---- cells ---- */

static gboolean
panel_hit(const AttnLayout *L, double x, double y, int *panel, int *query, int *key)
{
  for (int i = 0; i < L->npanels; i++) {
    const Panel *P = &L->panel[i];
    gboolean in_area = spn_rect_contains(&P->chart.area, x, y);
    gboolean in_pers = P->pers.w > 0 && spn_rect_contains(&P->pers, x, y);
    if (!in_area && !in_pers)
      continue;
    int q = (int)floor(spn_axis_value(&P->chart.y, y) + 0.5);
    int k = in_area ? (int)floor(spn_axis_value(&P->chart.x, x) + 0.5) : -1;
    if (q < L->qa || q >= L->qb || (in_area && (k < L->ka || k >= L->kb)))
      return FALSE;
    *panel = i;
    *query = q;
    *key = k;
    return TRUE;
  }
  return FALSE;
}

/* weight of query q on key k (k < q): 0 beyond the head's window, where the mask is 0 */
static double
cell_weight(const SpnProbeHead *ph, int q, int k)
{
  int delta = q - k;
  if (delta > ph->window)
    return 0.0;
  return ph->weights[(gsize)q * ph->window + delta - 1];
}

/* ---- drawing ---- */

typedef struct {
  int w, h;              /* image size in pixels */
  float *v;              /* w×h: max weight per pixel, −1 where no cell can exist */
  float *pers;           /* h: max persistent mass per row */
} Reduced;

static void
reduce_head(const AttnLayout *L, const SpnProbeHead *ph, Reduced *R)
{
  int nk = L->kb - L->ka, nq = L->qb - L->qa;
  for (gsize i = 0; i < (gsize)R->w * R->h; i++)
    R->v[i] = -1.0f;
  for (int i = 0; i < R->h; i++)
    R->pers[i] = -1.0f;
  g_autofree int *col = g_new(int, nk + 1);
  for (int k = 0; k <= nk; k++)
    col[k] = (int)((gint64)k * R->w / nk);
  for (int q = L->qa; q < L->qb; q++) {
    float *row = R->v + (gsize)((gint64)(q - L->qa) * R->h / nq) * R->w;
    /* weights that are not finite are no data: they take no part in a pixel's maximum */
    float mass = ph->persistent ? ph->persistent[q] : 0.0f;
    float *pers = &R->pers[(gint64)(q - L->qa) * R->h / nq];
    if (isfinite(mass) && mass > *pers)
      *pers = mass;
    int kend = MIN(L->kb, q);
    if (kend <= L->ka)
      continue;
    /* keys beyond the window get weight 0 from the mask: one run of zero cells */
    int first_seen = MAX(L->ka, q - ph->window);
    int zero_end = MIN(first_seen, kend);
    for (int c = col[0]; zero_end > L->ka && c <= col[zero_end - 1 - L->ka]; c++)
      row[c] = MAX(row[c], 0.0f);
    const float *w = ph->weights + (gsize)q * ph->window;
    for (int k = first_seen; k < kend; k++) {
      float v = w[q - k - 1];
      int c = col[k - L->ka];
      if (isfinite(v) && v > row[c])
        row[c] = v;
    }
  }
}

typedef struct {
  double vmax, vmin;
  gboolean log;
  guint32 lut[SPN_COLORMAP_LUT_SIZE];
  guint32 nodata;
} ColorScale;

/* A weight's colour; below 0 (no cell) and anything not finite is "no data": t indexes the table
 * only once it is known to lie in [0, 1]. */
static guint32
scale_pixel(const ColorScale *cs, float v)
{
  if (!(v >= 0) || !isfinite(v))
    return cs->nodata;
  double t;
  if (cs->log)
    t = v <= cs->vmin ? 0.0 : (log10(v) - log10(cs->vmin)) / (log10(cs->vmax) - log10(cs->vmin));
  else
    t = v / cs->vmax;
  if (!(t >= 0.0))
    return cs->nodata;
  t = MIN(t, 1.0);
  return cs->lut[(int)(t * (SPN_COLORMAP_LUT_SIZE - 1) + 0.5)];
}

static guint32
rgb_pixel(const double rgb[3])
{
  return 0xff000000u | ((guint32)lround(rgb[0] * 255) << 16) |
         ((guint32)lround(rgb[1] * 255) << 8) | (guint32)lround(rgb[2] * 255);
}

/* w×h values as an image, each value repeated as a rep×rep block: vector files get cells several
 * pixels wide, so viewers that smooth images (SVG has no "nearest" hint from cairo) keep them
 * sharp */
static cairo_surface_t *
colour_image(const ColorScale *cs, const float *v, int w, int h, int rep)
{
  cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w * rep, h * rep);
  unsigned char *data = cairo_image_surface_get_data(img);
  int stride = cairo_image_surface_get_stride(img);
  cairo_surface_flush(img);
  for (int y = 0; y < h * rep; y++) {
    guint32 *px = (guint32 *)(data + (gsize)y * stride);
    const float *src = v + (gsize)(y / rep) * w;
    if (rep == 1)
      for (int x = 0; x < w; x++)
        px[x] = scale_pixel(cs, src[x]);
    else
      for (int x = 0; x < w * rep; x++)
        px[x] = scale_pixel(cs, src[x / rep]);
  }
  cairo_surface_mark_dirty(img);
  return img;
}

/* the repeat factor for vector targets: about 3 image pixels per point, at most 8 per cell */
static int
vector_repeat(cairo_t *cr, const Reduced *R, double width_pt, double height_pt)
{
  cairo_surface_type_t t = cairo_surface_get_type(cairo_get_target(cr));
  if (t != CAIRO_SURFACE_TYPE_SVG && t != CAIRO_SURFACE_TYPE_PDF && t != CAIRO_SURFACE_TYPE_PS)
    return 1;
  double f = MIN(3.0 * width_pt / R->w, 3.0 * height_pt / R->h);
  return CLAMP((int)f, 1, 8);
}

static void
paint_image(cairo_t *cr, cairo_surface_t *img, const SpnRect *clip, double x0, double y0,
            double x1, double y1)
{
  cairo_save(cr);
  cairo_rectangle(cr, clip->x, clip->y, clip->w, clip->h);
  cairo_clip(cr);
  cairo_translate(cr, x0, y0);
  cairo_scale(cr, (x1 - x0) / cairo_image_surface_get_width(img),
              (y1 - y0) / cairo_image_surface_get_height(img));
  cairo_set_source_surface(cr, img, 0, 0);
  cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
  cairo_paint(cr);
  cairo_restore(cr);
}

static void
draw_chars(SpnPlot *p, const AttnLayout *L, const Panel *P, const SpnSnapshot *s)
{
  const SpnRect *a = &P->chart.area;
  if (P->key_chars)
    for (int k = L->ka; k < L->kb; k++) {
      double cx = (key_edge(P, k) + key_edge(P, k + 1)) / 2;
      if (cx < a->x || cx > a->x + a->w)
        continue;
      g_autofree char *t = spn_fig_token_label(s, k);
      spn_plot_text(p, SPN_TEXT_SMALL, t, cx, a->y + a->h + 0.1 * p->fs, 0.5, 0.0, p->pal->fg);
    }
  if (P->query_chars)
    for (int q = L->qa; q < L->qb; q++) {
      double cy = (query_edge(P, q) + query_edge(P, q + 1)) / 2;
      if (cy < a->y || cy > a->y + a->h)
        continue;
      g_autofree char *t = spn_fig_token_label(s, q);
      spn_plot_text(p, SPN_TEXT_SMALL, t, a->x - 0.35 * p->fs - 0.2 * p->fs, cy, 1.0, 0.5,
                    p->pal->fg);
    }
}

static void
draw_query_outline(SpnPlot *p, const AttnLayout *L, const Panel *P, int q)
{
  if (q < L->qa || q >= L->qb)
    return;
  cairo_t *cr = p->cr;
  double y0 = query_edge(P, q), y1 = query_edge(P, q + 1);
  const SpnRect *a = &P->chart.area;
  double x1 = P->pers.w > 0 ? P->pers.x + P->pers.w : a->x + a->w;
  double accent[3];
  spn_plot_series_rgb(p, 2, accent);
  cairo_save(cr);
  cairo_rectangle(cr, a->x - 0.4 * p->fs, a->y, x1 - a->x + 0.8 * p->fs, a->h);
  cairo_clip(cr);
  cairo_set_line_width(cr, 1.5);
  spn_plot_set_rgb(p, accent, 1.0);
  cairo_rectangle(cr, a->x - 0.75, y0 - 0.75, x1 - a->x + 1.5, MAX(y1 - y0, 0.5) + 1.5);
  cairo_stroke(cr);
  cairo_restore(cr);
}

static void
draw_panel_frame(SpnPlot *p, const Panel *P)
{
  spn_chart_draw_axes(p, &P->chart);
  if (P->title.w > 0) {
    char t[32];
    snprintf(t, sizeof t, "head %d", P->head);
    spn_plot_text(p, SPN_TEXT_SMALL, t, P->chart.area.x + P->chart.area.w / 2, P->title.y + 0.1 * p->fs,
                  0.5, 0.0, p->pal->fg);
  }
  if (P->pers.w > 0) {
    cairo_set_line_width(p->cr, 1.0);
    spn_plot_set_rgb(p, p->pal->frame, 1.0);
    cairo_rectangle(p->cr, floor(P->pers.x) + 0.5, floor(P->pers.y) + 0.5, floor(P->pers.w),
                    floor(P->pers.h));
    cairo_stroke(p->cr);
    if (!P->chart.spec.no_xlabels)
      spn_plot_text(p, SPN_TEXT_SMALL, "P", P->pers.x + P->pers.w / 2,
                    P->pers.y + P->pers.h + 0.35 * p->fs, 0.5, 0.0, p->pal->muted);
    const char *names[] = {"persistent memory", "persistent", "P"};
    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
      double w;
      spn_plot_text_size(p, SPN_TEXT_SMALL, names[i], &w, NULL);
      if (w <= P->pers_label.h || i + 1 == G_N_ELEMENTS(names)) {
        spn_plot_text_vertical(p, SPN_TEXT_SMALL, names[i], P->pers_label.x + 0.1 * p->fs,
                               P->pers_label.y + P->pers_label.h / 2, 0.0, 0.5, p->pal->muted);
        break;
      }
    }
  }
}

void
spn_fig_attention_draw(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  r = attention_header(p, r, s, o);
  if (s->probe == NULL || s->probe->n == 0) {
    spn_plot_message(p, r, s->reading ? "Reading the text\u2026"
                                      : "No probe text: give the model a text to read and its "
                                        "attention appears here.");
    return;
  }
  if (!probe_ok(s, o)) {
    g_autofree char *msg = g_strdup_printf(
      "No such head: layer %d head %d; the model has layers 0 to %d and heads 0 to %d.", o->layer,
      o->head, s->probe->nlayers - 1, s->probe->nheads - 1);
    spn_plot_message(p, r, msg);
    return;
  }
  AttnLayout L;
  attention_layout(p, r, s, o, &L);
  cairo_t *cr = p->cr;
  double sc = spn_heat_device_scale(cr);
  Reduced red[MAX_PANELS];
  ColorScale cs = {.vmax = 0, .log = o->log_color};
  for (int i = 0; i < L.npanels; i++) {
    const Panel *P = &L.panel[i];
    double pw = (key_edge(P, L.kb) - key_edge(P, L.ka)) * sc;
    double ph = (query_edge(P, L.qb) - query_edge(P, L.qa)) * sc;
    Reduced *R = &red[i];
    R->w = CLAMP((int)ceil(pw), 1, L.kb - L.ka);
    R->h = CLAMP((int)ceil(ph), 1, L.qb - L.qa);
    R->v = g_new(float, (gsize)R->w * R->h);
    R->pers = g_new(float, R->h);
    reduce_head(&L, spn_fig_probe_head(s, o->layer, P->head), R);
    for (gsize j = 0; j < (gsize)R->w * R->h; j++)
      cs.vmax = MAX(cs.vmax, R->v[j]);
    if (P->pers.w > 0)
      for (int j = 0; j < R->h; j++)
        cs.vmax = MAX(cs.vmax, R->pers[j]);
  }
  if (!(cs.vmax > 0))
    cs.vmax = 1.0;
  cs.vmin = cs.vmax * 1e-3;
  spn_colormap_lut(o->colormap, cs.lut);
  cs.nodata = rgb_pixel(p->pal->nodata);
  for (int i = 0; i < L.npanels; i++) {
    const Panel *P = &L.panel[i];
    int rep = vector_repeat(cr, &red[i], P->chart.area.w, P->chart.area.h);
    cairo_surface_t *img = colour_image(&cs, red[i].v, red[i].w, red[i].h, rep);
    paint_image(cr, img, &P->chart.area, key_edge(P, L.ka), query_edge(P, L.qa),
                key_edge(P, L.kb), query_edge(P, L.qb));
    cairo_surface_destroy(img);
    if (P->pers.w > 0) {
      img = colour_image(&cs, red[i].pers, 1, red[i].h, rep);
      SpnRect clip = {P->pers.x, P->chart.area.y, P->pers.w, P->chart.area.h};
      paint_image(cr, img, &clip, P->pers.x, query_edge(P, L.qa), P->pers.x + P->pers.w,
                  query_edge(P, L.qb));
      cairo_surface_destroy(img);
    }
    g_free(red[i].v);
    g_free(red[i].pers);
    draw_panel_frame(p, P);
    draw_chars(p, &L, P, s);
    draw_query_outline(p, &L, P, o->query);
  }
  SpnHeatScale bar = spn_heat_scale(cs.vmax, cs.log, o->colormap);
  spn_heat_colorbar(p, &L.bar, &bar, "weight");
}

/* The layout at r, FALSE when there is nothing to lay out (no probe, no such head). */
static gboolean
layout_for_lookup(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o,
                  AttnLayout *L)
{
  r = attention_header(p, r, s, o);
  if (!probe_ok(s, o))
    return FALSE;
  attention_layout(p, r, s, o, L);
  return TRUE;
}

gboolean
spn_fig_attention_cell(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o,
                       double x, double y, int *query, int *key, int *head)
{
  AttnLayout L;
  int panel;
  if (!layout_for_lookup(p, r, s, o, &L) || !panel_hit(&L, x, y, &panel, query, key))
    return FALSE;
  *head = L.panel[panel].head;
  return TRUE;
}

gboolean
spn_fig_attention_tile(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o,
                       double x, double y, SpnAttentionTile *tile)
{
  AttnLayout L;
  if (!layout_for_lookup(p, r, s, o, &L))
    return FALSE;
  for (int i = 0; i < L.npanels; i++) {
    const SpnRect *a = &L.panel[i].chart.area;
    if (!spn_rect_contains(a, x, y))
      continue;
    /* the chart's axes run from k0 − ½ to k1 − ½ (cell k is centred on k): its edges are the
     * cell edges at k0 and k1 */
    *tile = (SpnAttentionTile){a->x, a->x + a->w, a->y, a->y + a->h,
                               L.k0, L.k1, L.q0, L.q1, L.panel[i].head};
    return TRUE;
  }
  return FALSE;
}

char *
spn_fig_attention_describe(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o,
                           double x, double y)
{
  int q, k, h;
  if (!spn_fig_attention_cell(p, r, s, o, x, y, &q, &k, &h))
    return NULL;
  const SpnProbeHead *ph = spn_fig_probe_head(s, o->layer, h);
  g_autofree char *prefix = o->head < 0 ? g_strdup_printf("head %d \u00b7 ", h) : g_strdup("");
  g_autofree char *qc = spn_fig_token_label(s, q);
  if (k < 0) {
    g_autofree char *w = spn_fig_format_value("%.3g", ph->persistent ? ph->persistent[q] : 0.0);
    return g_strdup_printf("%squery '%s' #%d \u2192 persistent memory, weight %s", prefix, qc, q, w);
  }
  g_autofree char *kc = spn_fig_token_label(s, k);
  if (k >= q)
    return g_strdup_printf("%squery '%s' #%d, key '%s' #%d: not before the query, never attended",
                           prefix, qc, q, kc, k);
  const char *beyond = q - k > ph->window ? " (beyond the span)" : "";
  g_autofree char *w = spn_fig_format_value("%.3g", cell_weight(ph, q, k));
  return g_strdup_printf("%squery '%s' #%d \u2192 key '%s' #%d, distance %d, weight %s%s", prefix,
                         qc, q, kc, k, q - k, w, beyond);
}
