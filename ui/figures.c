/* figures.c — the figure kinds, their options, and the dispatch of drawing and hover to the
 * file of each figure; snapshot helpers the figures share. */
#include "figures.h"

#include <math.h>
#include <string.h>

#include "figure-private.h"

static const struct {
  const char *name, *title;
} kinds[SPN_FIGURE_COUNT] = {
  [SPN_FIGURE_SPANS] = {"spans", "Learned spans"},
  [SPN_FIGURE_HISTORY] = {"history", "Span history"},
  [SPN_FIGURE_MASKS] = {"masks", "Soft masks"},
  [SPN_FIGURE_ATTENTION] = {"attention", "Attention"},
  [SPN_FIGURE_CURVES] = {"curves", "Training curves"},
  [SPN_FIGURE_DISTANCE] = {"distance", "Attention by distance"},
  [SPN_FIGURE_HEADS] = {"heads", "Every head"},
  [SPN_FIGURE_SUMMARY] = {"summary", "Span summary"},
  [SPN_FIGURE_PERSISTENT] = {"persistent", "Persistent memory"},
};

void
spn_figure_options_init(SpnFigureOptions *o)
{
  memset(o, 0, sizeof *o);
  o->font_size = 11.0;
  o->layer = 0;
  o->head = -1;
  o->colormap = SPN_COLORMAP_VIRIDIS;
  /* a trained head's weights span orders of magnitude: on a linear scale all but the strongest
   * cells are dark */
  o->log_color = TRUE;
  o->query = -1;
  o->smoothing = 0.9;
}

const char *
spn_figure_name(SpnFigureKind kind)
{
  return kind >= 0 && kind < SPN_FIGURE_COUNT ? kinds[kind].name : NULL;
}

const char *
spn_figure_title(SpnFigureKind kind)
{
  return kind >= 0 && kind < SPN_FIGURE_COUNT ? kinds[kind].title : NULL;
}

gboolean
spn_figure_from_name(const char *name, SpnFigureKind *kind)
{
  for (int k = 0; k < SPN_FIGURE_COUNT; k++)
    if (g_strcmp0(name, kinds[k].name) == 0) {
      *kind = (SpnFigureKind)k;
      return TRUE;
    }
  return FALSE;
}

char *
spn_figure_names(void)
{
  GString *names = g_string_new(NULL);
  for (int k = 0; k < SPN_FIGURE_COUNT; k++)
    g_string_append_printf(names, "%s%s", k ? ", " : "", kinds[k].name);
  return g_string_free(names, FALSE);
}

void
spn_figure_draw(SpnFigureKind kind, cairo_t *cr, double width, double height,
                const SpnSnapshot *s, const SpnFigureOptions *o)
{
  SpnPlot p;
  cairo_save(cr);
  spn_plot_init(&p, cr, o);
  cairo_rectangle(cr, 0, 0, width, height);
  cairo_clip(cr);
  spn_plot_fill_background(&p, width, height);
  SpnRect r = {0, 0, width, height};
  switch (kind) {
  case SPN_FIGURE_SPANS:
    spn_fig_spans_draw(&p, r, s, o);
    break;
  case SPN_FIGURE_HISTORY:
    spn_fig_history_draw(&p, r, s, o);
    break;
  case SPN_FIGURE_MASKS:
    spn_fig_masks_draw(&p, r, s, o);
    break;
  case SPN_FIGURE_ATTENTION:
    spn_fig_attention_draw(&p, r, s, o);
    break;
  case SPN_FIGURE_CURVES:
    spn_fig_curves_draw(&p, r, s, o);
    break;
  case SPN_FIGURE_DISTANCE:
    spn_fig_distance_draw(&p, r, s, o);
    break;
  case SPN_FIGURE_HEADS:
    spn_fig_heads_draw(&p, r, s, o);
    break;
  case SPN_FIGURE_SUMMARY:
    spn_fig_summary_draw(&p, r, s, o);
    break;
  case SPN_FIGURE_PERSISTENT:
    spn_fig_persistent_draw(&p, r, s, o);
    break;
  case SPN_FIGURE_COUNT:
    break;
  }
  spn_plot_clear(&p);
  cairo_restore(cr);
}

char *
spn_figure_describe(SpnFigureKind kind, double width, double height, const SpnSnapshot *s,
                    const SpnFigureOptions *o, double x, double y)
{
  SpnPlot p;
  spn_plot_init(&p, NULL, o);
  SpnRect r = {0, 0, width, height};
  char *text = NULL;
  switch (kind) {
  case SPN_FIGURE_SPANS:
    text = spn_fig_spans_describe(&p, r, s, o, x, y);
    break;
  case SPN_FIGURE_HISTORY:
    text = spn_fig_history_describe(&p, r, s, o, x, y);
    break;
  case SPN_FIGURE_MASKS:
    text = spn_fig_masks_describe(&p, r, s, o, x, y);
    break;
  case SPN_FIGURE_ATTENTION:
    text = spn_fig_attention_describe(&p, r, s, o, x, y);
    break;
  case SPN_FIGURE_CURVES:
    text = spn_fig_curves_describe(&p, r, s, o, x, y);
    break;
  case SPN_FIGURE_DISTANCE:
    text = spn_fig_distance_describe(&p, r, s, o, x, y);
    break;
  case SPN_FIGURE_HEADS:
    text = spn_fig_heads_describe(&p, r, s, o, x, y);
    break;
  case SPN_FIGURE_SUMMARY:
    text = spn_fig_summary_describe(&p, r, s, o, x, y);
    break;
  case SPN_FIGURE_PERSISTENT:
    text = spn_fig_persistent_describe(&p, r, s, o, x, y);
    break;
  case SPN_FIGURE_COUNT:
    break;
  }
  spn_plot_clear(&p);
  return text;
}

gboolean
spn_figure_heads_cell(double width, double height, const SpnSnapshot *s, const SpnFigureOptions *o,
                      double x, double y, int *layer, int *head)
{
  SpnPlot p;
  spn_plot_init(&p, NULL, o);
  SpnRect r = {0, 0, width, height};
  gboolean inside = spn_fig_heads_cell(&p, r, s, o, x, y, layer, head);
  spn_plot_clear(&p);
  return inside;
}

gboolean
spn_figure_distance_cell(double width, double height, const SpnSnapshot *s,
                         const SpnFigureOptions *o, double x, double y, int *head, int *query,
                         int *delta)
{
  SpnPlot p;
  spn_plot_init(&p, NULL, o);
  SpnRect r = {0, 0, width, height};
  gboolean inside = spn_fig_distance_cell(&p, r, s, o, x, y, head, query, delta);
  spn_plot_clear(&p);
  return inside;
}

gboolean
spn_figure_attention_cell(double width, double height, const SpnSnapshot *s,
                          const SpnFigureOptions *o, double x, double y, int *query, int *key)
{
  SpnPlot p;
  spn_plot_init(&p, NULL, o);
  SpnRect r = {0, 0, width, height};
  int q = -1, k = -1, h = -1;
  gboolean inside = spn_fig_attention_cell(&p, r, s, o, x, y, &q, &k, &h);
  spn_plot_clear(&p);
  if (inside && k < 0)
    inside = FALSE;  /* the persistent column is no key position */
  if (query)
    *query = inside ? q : -1;
  if (key)
    *key = inside ? k : -1;
  return inside;
}

gboolean
spn_figure_attention_tile(double width, double height, const SpnSnapshot *s,
                          const SpnFigureOptions *o, double x, double y, SpnAttentionTile *tile)
{
  SpnPlot p;
  spn_plot_init(&p, NULL, o);
  gboolean inside = spn_fig_attention_tile(&p, (SpnRect){0, 0, width, height}, s, o, x, y, tile);
  spn_plot_clear(&p);
  return inside;
}

/* ---- shared helpers ---- */

char *
spn_fig_token_label(const SpnSnapshot *s, int i)
{
  if (s->probe == NULL || s->text == NULL || i < 0 || i >= s->probe->n)
    return g_strdup("?");
  gsize len = strlen(s->text);
  gsize a = MIN(s->probe->offsets[i], len);
  gsize b = i + 1 < s->probe->n ? MIN(s->probe->offsets[i + 1], len) : len;
  g_autofree char *raw = g_utf8_make_valid(s->text + a, (gssize)(b - a));
  GString *out = g_string_new(NULL);
  for (const char *c = raw; *c; c = g_utf8_next_char(c)) {
    gunichar u = g_utf8_get_char(c);
    if (u == ' ')
      g_string_append(out, "\u2423");
    else if (u == '\n')
      g_string_append(out, "\u23ce");
    else if (u == '\t')
      g_string_append(out, "\u21e5");
    else if (g_unichar_iscntrl(u))
      g_string_append(out, "\u00b7");
    else
      g_string_append_unichar(out, u);
  }
  if (out->len == 0)
    g_string_append(out, "\u00b7");
  return g_string_free(out, FALSE);
}

char *
spn_fig_title_with_step(const char *title, const SpnSnapshot *s)
{
  return g_strdup_printf("%s \u00b7 step %" G_GINT64_FORMAT, title, s->step);
}

double
spn_fig_span(const SpnSnapshot *s, int layer, int head)
{
  double v = s->spans ? s->spans[layer * s->cfg.nheads + head] : NAN;
  return isfinite(v) ? v : 0.0;
}

void
spn_fig_head_rgb(SpnPlot *p, int layer, int head, int nheads, double rgb[3])
{
  spn_plot_series_rgb(p, layer, rgb);
  double t = nheads > 1 ? (double)head / (nheads - 1) * 2.0 - 1.0 : 0.0;   /* −1 … 1 */
  for (int k = 0; k < 3; k++)
    rgb[k] = t < 0 ? rgb[k] * (1.0 + 0.45 * t) : rgb[k] + (1.0 - rgb[k]) * 0.5 * t;
}

const char *
spn_fig_unit(const SpnSnapshot *s)
{
  switch (s->vocab) {
  case SPN_VOCAB_BYTES: return "bytes";
  case SPN_VOCAB_REF: return "tokens";
  case SPN_VOCAB_CHARS: break;
  }
  return "characters";
}

const char *
spn_fig_span_label(const SpnSnapshot *s)
{
  return s->vocab == SPN_VOCAB_BYTES ? "span (bytes)"
         : s->vocab == SPN_VOCAB_REF ? "span (tokens)" : "span (characters)";
}

const char *
spn_fig_distance_label(const SpnSnapshot *s)
{
  return s->vocab == SPN_VOCAB_BYTES ? "distance \u03b4 (bytes back)"
         : s->vocab == SPN_VOCAB_REF ? "distance \u03b4 (tokens back)"
                                     : "distance \u03b4 (characters back)";
}

gboolean
spn_fig_selected(const SpnFigureOptions *o, int layer, int head)
{
  return o->layer < 0 || (layer == o->layer && (o->head < 0 || head == o->head));
}

char *
spn_fig_format_value(const char *format, double v)
{
  if (!isfinite(v))
    return g_strdup("no data");
  return g_strdup_printf(format, v);
}

const SpnProbeHead *
spn_fig_probe_head(const SpnSnapshot *s, int layer, int head)
{
  const SpnProbe *pr = s->probe;
  if (pr == NULL || layer < 0 || layer >= pr->nlayers || head < 0 || head >= pr->nheads)
    return NULL;
  return &pr->heads[layer * pr->nheads + head];
}

int
spn_fig_history_nearest(const SpnHistory *h, double step)
{
  if (h == NULL || h->n == 0)
    return -1;
  int lo = 0, hi = h->n - 1;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (spn_history_step(h, mid) < step)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo > 0 && fabs(spn_history_step(h, lo - 1) - step) <= fabs(spn_history_step(h, lo) - step))
    lo--;
  return lo;
}

/* [lo, hi] widened to take in [l, h] (NaN: nothing yet, nothing to add) */
static void
range_merge(double *lo, double *hi, double l, double h)
{
  if (isfinite(l) && !(*lo <= l))
    *lo = l;
  if (isfinite(h) && !(*hi >= h))
    *hi = h;
}

void
spn_fig_history_range(const SpnHistory *h, SpnHistoryColumn col, double *lo, double *hi)
{
  *lo = *hi = NAN;
  if (col == SPN_HISTORY_VALID_BPC) {
    for (int i = 0; i < h->n_valid; i++) {
      double v = spn_history_valid_bpc(h, i);
      if (spn_history_valid_current(h, i))
        range_merge(lo, hi, v, v);
    }
    return;
  }
  const void *data;
  gsize bytes;
  for (int j = 0; spn_history_column(h, col, j, &data, &bytes); j++) {
    double l, u;
    spn_range_finite(data, bytes / sizeof(float), 1, &l, &u);
    range_merge(lo, hi, l, u);
  }
}

void
spn_fig_history_line(SpnLines *lines, const SpnAxis *x, const SpnAxis *y, const SpnHistory *h,
                     SpnHistoryColumn col, int head, const float *derived, const double rgb[3],
                     double alpha, double width)
{
  SpnLinesSeries *s = spn_lines_series_begin(lines, x, y, rgb, alpha, width, 0, 0);
  gsize per_row = (gsize)h->nlayers * h->nheads;
  SpnHistoryChunk c;
  for (int j = 0; spn_history_chunk(h, j, &c); j++) {
    if (derived != NULL)
      spn_lines_series_add(s, c.step, derived + c.first, (gsize)c.n, 1);
    else if (col == SPN_HISTORY_SPANS)
      spn_lines_series_add(s, c.step, c.spans + head, (gsize)c.n, per_row);
    else
      spn_lines_series_add(s, c.step, col == SPN_HISTORY_TRAIN_BPC ? c.train_bpc : c.tokens_per_s,
                           (gsize)c.n, 1);
  }
  spn_lines_series_end(s);
}
