/* The figures of the paper's claims (issue 12), drawn from hand-made snapshots into image
 * surfaces and checked by their pixels and hover texts: attention by distance (cells in the
 * colour map's colour for their weight, "no data" before the text and for non-finite weights,
 * the mask edge where the soft mask starts to fall), the head overview (cells map to their
 * layer and head, a head's weights drawn in its cell only), the span summary (bars as tall as
 * their spans, values, layer means, the histogram's counts, unknown spans as no data), the
 * persistent-memory view (shares, slot usage colours, the training curve) and the cost panel of
 * the training curves; each of them exports to PNG, SVG and PDF. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "cost.h"
#include "figure-private.h"
#include "fixtures.h"
#include "pixels.h"

/* ---- helpers ---- */

static void
accent_rgb(int rgb[3])
{
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  SpnPlot p;
  spn_plot_init(&p, NULL, &o);
  double c[3];
  spn_plot_series_rgb(&p, 2, c);
  spn_plot_clear(&p);
  for (int i = 0; i < 3; i++)
    rgb[i] = (int)lround(c[i] * 255);
}

static void
head_rgb(int layer, int head, int nheads, int rgb[3])
{
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  SpnPlot p;
  spn_plot_init(&p, NULL, &o);
  double c[3];
  spn_fig_head_rgb(&p, layer, head, nheads, c);
  spn_plot_clear(&p);
  for (int i = 0; i < 3; i++)
    rgb[i] = (int)lround(c[i] * 255);
}

/* spn_figure_describe through one measuring plot (a plot per call would dominate the scans) */
static char *
describe_with(SpnPlot *p, SpnFigureKind kind, const SpnSnapshot *s, const SpnFigureOptions *o,
              double x, double y)
{
  SpnRect r = {0, 0, W, H};
  switch (kind) {
  case SPN_FIGURE_DISTANCE:
    return spn_fig_distance_describe(p, r, s, o, x, y);
  case SPN_FIGURE_HEADS:
    return spn_fig_heads_describe(p, r, s, o, x, y);
  case SPN_FIGURE_SUMMARY:
    return spn_fig_summary_describe(p, r, s, o, x, y);
  case SPN_FIGURE_PERSISTENT:
    return spn_fig_persistent_describe(p, r, s, o, x, y);
  case SPN_FIGURE_CURVES:
    return spn_fig_curves_describe(p, r, s, o, x, y);
  default:
    g_assert_not_reached();
  }
}

/* the first hover text under the pixels of the image that contains all of `parts` */
static char *
find_describe(SpnFigureKind kind, const SpnSnapshot *s, const SpnFigureOptions *o,
              const char *const *parts)
{
  SpnPlot p;
  spn_plot_init(&p, NULL, o);
  char *found = NULL;
  for (int y = 0; y < H && !found; y += 4)
    for (int x = 0; x < W && !found; x += 4) {
      char *d = describe_with(&p, kind, s, o, x + 0.5, y + 0.5);
      gboolean all = d != NULL;
      for (int i = 0; all && parts[i]; i++)
        all = strstr(d, parts[i]) != NULL;
      if (all)
        found = d;
      else
        g_free(d);
    }
  spn_plot_clear(&p);
  return found;
}

static void
expect_describe(SpnFigureKind kind, const SpnSnapshot *s, const SpnFigureOptions *o,
                const char *const *parts)
{
  g_autofree char *d = find_describe(kind, s, o, parts);
  if (d == NULL)
    g_error("no hover text of %s says \"%s\"…", spn_figure_name(kind), parts[0]);
}

/* ---- attention by distance ---- */

static SpnSnapshot *
distance_snapshot(void)
{
  const float spans[] = {3.0f, 6.0f};
  SpnSnapshot *s = spn_test_snapshot_new(1, 2, 16, 2, spans);
  s->probe = spn_test_probe_new("ab cd\nefgh", 1, 2, s->spans, 9);
  s->text = g_strdup("ab cd\nefgh");
  return s;
}

static void
set_distance_weight(SpnSnapshot *s, int head, int query, int delta, float w)
{
  SpnProbeHead *ph = &s->probe->heads[head];
  ph->weights[(gsize)query * ph->window + delta - 1] = w;
}

typedef struct {
  SpnPlot p;
  const SpnSnapshot *s;
  const SpnFigureOptions *o;
  int head, query, delta;
} CellProbe;

static gboolean
in_cell(CellProbe *c, int x, int y)
{
  SpnRect r = {0, 0, W, H};
  int h, q, d;
  return x >= 0 && y >= 0 && x < W && y < H &&
         spn_fig_distance_cell(&c->p, r, c->s, c->o, x + 0.5, y + 0.5, &h, &q, &d) &&
         h == c->head && q == c->query && d == c->delta;
}

/* centre pixel of the cell (head, query, δ): a coarse search, then its edges pixel by pixel */
static gboolean
distance_cell_centre(const SpnSnapshot *s, const SpnFigureOptions *o, int head, int query,
                     int delta, int *cx, int *cy)
{
  CellProbe c = {.s = s, .o = o, .head = head, .query = query, .delta = delta};
  spn_plot_init(&c.p, NULL, o);
  gboolean found = FALSE;
  int x = 0, y = 0;
  /* cells are tens of pixels wide and tall here: a step of 5 cannot miss one */
  for (y = 0; y < H && !found; y += 5)
    for (x = 0; x < W && !found; x += 5)
      found = in_cell(&c, x, y);
  if (found) {
    x -= 5, y -= 5;
    int x0 = x, x1 = x, y0 = y, y1 = y;
    while (in_cell(&c, x0 - 1, y))
      x0--;
    while (in_cell(&c, x1 + 1, y))
      x1++;
    *cx = (x0 + x1) / 2;
    while (in_cell(&c, *cx, y0 - 1))
      y0--;
    while (in_cell(&c, *cx, y1 + 1))
      y1++;
    *cy = (y0 + y1) / 2;
  }
  spn_plot_clear(&c.p);
  return found;
}

static void
expect_cell_describe(const SpnSnapshot *s, const SpnFigureOptions *o, int head, int q, int d,
                     const char *want)
{
  int cx, cy;
  g_assert_true(distance_cell_centre(s, o, head, q, d, &cx, &cy));
  g_autofree char *got = spn_figure_describe(SPN_FIGURE_DISTANCE, W, H, s, o, cx + 0.5, cy + 0.5);
  g_assert_cmpstr(got, ==, want);
}

static void
check_distance_colour(cairo_surface_t *img, const SpnSnapshot *s, const SpnFigureOptions *o,
                      int head, int q, int d, double t)
{
  int cx, cy, got[3], want[3];
  g_assert_true(distance_cell_centre(s, o, head, q, d, &cx, &cy));
  pixel(img, cx, cy, got);
  if (t < 0) {
    /* no data: no colour of the map */
    for (int i = 0; i <= 20; i++) {
      map_rgb(o->colormap, i / 20.0, want);
      g_assert_cmpint(distance(got, want), >, 12);
    }
    return;
  }
  map_rgb(o->colormap, t, want);
  if (distance(got, want) > 2)
    g_error("distance cell (head %d, query %d, δ %d) is %d,%d,%d, expected %d,%d,%d (t %.3f)",
            head, q, d, got[0], got[1], got[2], want[0], want[1], want[2], t);
}

static void
test_distance_cells(void)
{
  g_autoptr(SpnSnapshot) s = distance_snapshot();
  set_distance_weight(s, 0, 5, 3, 0.6f); /* the newline looks 3 back: the top of the scale */
  set_distance_weight(s, 0, 7, 2, 0.3f);
  set_distance_weight(s, 1, 8, 6, 0.45f);
  set_distance_weight(s, 0, 9, 1, NAN);  /* a weight that is not a number: no data */
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  o.head = 0;
  o.log_color = FALSE;
  cairo_surface_t *img = draw(SPN_FIGURE_DISTANCE, s, &o);
  check_distance_colour(img, s, &o, 0, 5, 3, 1.0);
  check_distance_colour(img, s, &o, 0, 7, 2, 0.5);
  check_distance_colour(img, s, &o, 0, 5, 1, 0.0);  /* inside the text, weight 0 */
  check_distance_colour(img, s, &o, 0, 2, 4, -1.0); /* before the text: no key there */
  check_distance_colour(img, s, &o, 0, 9, 1, -1.0); /* NaN */
  /* a copying head is a vertical line: the same δ in every row is one column of cells */
  int x3a, y3a, x3b, y3b;
  g_assert_true(distance_cell_centre(s, &o, 0, 5, 3, &x3a, &y3a));
  g_assert_true(distance_cell_centre(s, &o, 0, 9, 3, &x3b, &y3b));
  g_assert_cmpint(abs(x3a - x3b), <=, 1);
  g_assert_cmpint(y3b, >, y3a);
  /* what a click there selects (the window's view): that query, at that distance */
  int ch, cq, cd;
  g_assert_true(spn_figure_distance_cell(W, H, s, &o, x3a, y3a, &ch, &cq, &cd));
  g_assert_cmpint(ch, ==, 0);
  g_assert_cmpint(cq, ==, 5);
  g_assert_cmpint(cd, ==, 3);
  g_assert_false(spn_figure_distance_cell(W, H, s, &o, 1, 1, &ch, &cq, &cd));
  /* the mask starts to fall at δ = z·S + 1 = 4, between the cells of δ 3 and 5: the accent
   * line crosses the rows there */
  int x4, y4, x5, y5, accent[3], got[3];
  g_assert_true(distance_cell_centre(s, &o, 0, 8, 4, &x4, &y4));
  g_assert_true(distance_cell_centre(s, &o, 0, 8, 5, &x5, &y5));
  accent_rgb(accent);
  gboolean line = FALSE;
  for (int x = x4 - 2; x <= x4 + 2; x++) {
    pixel(img, x, y4, got);
    line = line || distance(got, accent) <= 40;
  }
  g_assert_true(line);
  pixel(img, (x4 + x5) / 2 + 1, y4, got); /* not all over */
  cairo_surface_destroy(img);

  /* hover: the key's character and the weight; NaN says no data */
  expect_cell_describe(s, &o, 0, 5, 3, "head 0 \u00b7 query '\u23ce' #5 \u2192 '\u2423' #2 "
                                       "\u00b7 distance 3 \u00b7 weight 0.6");
  expect_cell_describe(s, &o, 0, 9, 1, "head 0 \u00b7 query 'h' #9 \u2192 'g' #8 \u00b7 "
                                       "distance 1 \u00b7 weight no data");
  expect_cell_describe(s, &o, 0, 2, 4, "head 0 \u00b7 query '\u2423' #2 \u00b7 distance 4: "
                                       "before the text");

  /* every head of the layer side by side, one scale for all */
  o.head = -1;
  img = draw(SPN_FIGURE_DISTANCE, s, &o);
  check_distance_colour(img, s, &o, 1, 8, 6, 0.45 / 0.6);
  check_distance_colour(img, s, &o, 0, 5, 3, 1.0);
  cairo_surface_destroy(img);
}

/* ---- every head at once ---- */

static void
test_heads_grid(void)
{
  const float spans[] = {3.0f, 6.0f, 2.0f, 5.0f};
  g_autoptr(SpnSnapshot) s = spn_test_snapshot_new(2, 2, 16, 2, spans);
  s->probe = spn_test_probe_new("abcdefghij", 2, 2, s->spans, 9);
  s->text = g_strdup("abcdefghij");
  /* from the last character, layer 1 head 0 looks 2 back */
  set_distance_weight(s, 2, 9, 2, 0.8f);
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  o.layer = 1;
  o.head = 0;
  /* every cell is found where its row and column say, and only there */
  int lo_x[2][2], lo_y[2][2], hi_x[2][2], hi_y[2][2], hits[2][2] = {{0}};
  SpnPlot p;
  spn_plot_init(&p, NULL, &o);
  for (int y = 0; y < H; y += 4)
    for (int x = 0; x < W; x += 4) {
      int l, h;
      if (!spn_fig_heads_cell(&p, (SpnRect){0, 0, W, H}, s, &o, x, y, &l, &h))
        continue;
      g_assert_true(l >= 0 && l < 2 && h >= 0 && h < 2);
      if (hits[l][h]++ == 0)
        lo_x[l][h] = x, lo_y[l][h] = y;
      hi_x[l][h] = MAX(x, hits[l][h] == 1 ? x : hi_x[l][h]);
      hi_y[l][h] = y;
    }
  spn_plot_clear(&p);
  /* the public entry point agrees */
  int pl, ph;
  g_assert_true(spn_figure_heads_cell(W, H, s, &o, lo_x[1][0], lo_y[1][0], &pl, &ph));
  g_assert_true(pl == 1 && ph == 0);
  for (int l = 0; l < 2; l++)
    for (int h = 0; h < 2; h++)
      g_assert_cmpint(hits[l][h], >, 50);
  g_assert_cmpint(lo_y[1][0], >, lo_y[0][0]);
  g_assert_cmpint(lo_x[0][1], >, lo_x[0][0]);
  /* the head's colour appears in its cell and not in the others */
  cairo_surface_t *img = draw(SPN_FIGURE_HEADS, s, &o);
  for (int l = 0; l < 2; l++)
    for (int h = 0; h < 2; h++) {
      int want[3], count = 0;
      head_rgb(l, h, 2, want);
      /* inside the cell's box (the cells are rectangles side by side) */
      for (int y = lo_y[l][h]; y <= hi_y[l][h]; y++)
        for (int x = lo_x[l][h]; x <= hi_x[l][h]; x++) {
          int got[3];
          pixel(img, x, y, got);
          count += distance(got, want) <= 2;
        }
      if (l == 1 && h == 0)
        g_assert_cmpint(count, >, 20);
      else
        g_assert_cmpint(count, ==, 0);
    }
  cairo_surface_destroy(img);
  expect_describe(SPN_FIGURE_HEADS, s, &o,
                  (const char *[]){"layer 1 head 0", "'h' at distance 2 (0.800)", NULL});
  /* a NaN weight is skipped, not drawn or named */
  set_distance_weight(s, 2, 9, 2, NAN);
  cairo_surface_destroy(draw(SPN_FIGURE_HEADS, s, &o));
  g_autofree char *d =
      find_describe(SPN_FIGURE_HEADS, s, &o, (const char *[]){"layer 1 head 0", NULL});
  g_assert_nonnull(d);
  g_assert_null(strstr(d, "nan"));
}

/* ---- span summary ---- */

/* top and bottom rows of the run of colour rgb in column x */
static gboolean
column_run(cairo_surface_t *img, int x, const int rgb[3], int *top, int *bottom)
{
  *top = H, *bottom = -1;
  for (int y = 0; y < H; y++) {
    int c[3];
    pixel(img, x, y, c);
    if (distance(c, rgb) <= 2) {
      *top = MIN(*top, y);
      *bottom = MAX(*bottom, y);
    }
  }
  return *bottom >= 0;
}

static void
test_summary(void)
{
  const float spans[] = {40.0f, 160.0f, NAN, 10.0f};
  g_autoptr(SpnSnapshot) s = spn_test_snapshot_new(2, 2, 256, 8, spans);
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  o.layer = -1; /* every bar at full strength */
  cairo_surface_t *img = draw(SPN_FIGURE_SUMMARY, s, &o);
  /* the bars of layer 0: heights in the ratio of their spans */
  int c0[3], c1[3], t0 = 0, b0 = 0, t1 = 0, b1 = 0;
  head_rgb(0, 0, 2, c0);
  head_rgb(0, 1, 2, c1);
  gboolean f0 = FALSE, f1 = FALSE;
  for (int x = 0; x < W && !(f0 && f1); x++) {
    int t, b;
    if (!f0 && column_run(img, x, c0, &t, &b) && b - t > 5)
      f0 = TRUE, t0 = t, b0 = b;
    else if (!f1 && column_run(img, x, c1, &t, &b) && b - t > 5)
      f1 = TRUE, t1 = t, b1 = b;
  }
  g_assert_true(f0 && f1);
  double ratio = (double)(b1 - t1 + 1) / (b0 - t0 + 1);
  g_assert_cmpfloat(fabs(ratio - 4.0), <, 0.15);
  cairo_surface_destroy(img);
  expect_describe(SPN_FIGURE_SUMMARY, s, &o,
                  (const char *[]){"layer 0 head 1", "span 160.0", "M FLOPs/char", NULL});
  expect_describe(SPN_FIGURE_SUMMARY, s, &o,
                  (const char *[]){"layer 1 head 0", "span no data", NULL});
  /* the histogram: 3 known spans in 10 bins of 25.6 characters */
  expect_describe(SPN_FIGURE_SUMMARY, s, &o,
                  (const char *[]){"1 heads with spans in [154, 179)", NULL});
  expect_describe(SPN_FIGURE_SUMMARY, s, &o, (const char *[]){"1 heads with spans in [26, 51)", NULL});
  /* the attention FLOPs shown for a head are the engine's */
  double head[4];
  spn_cost_of_spans(&s->cfg, s->spans, head);
  char want[64];
  g_snprintf(want, sizeof want, "attention %.3g M FLOPs/char", head[1] / 1e6);
  expect_describe(SPN_FIGURE_SUMMARY, s, &o, (const char *[]){"layer 0 head 1", want, NULL});
}

/* ---- persistent memory ---- */

static SpnSnapshot *
persistent_snapshot(void)
{
  const float spans[] = {3.0f, 6.0f};
  SpnConfig cfg;
  spn_config_init_desktop(&cfg);
  cfg.nlayers = 1, cfg.nheads = 2, cfg.attn_span = 16, cfg.adapt_span_ramp = 2;
  cfg.pers_mem_size = 3, cfg.inner_hid_sz = 0;
  SpnSnapshot *s = spn_snapshot_new(&cfg);
  memcpy(s->spans, spans, sizeof spans);
  s->probe = spn_test_probe_new("abcdefgh", 1, 2, s->spans, 9);
  s->text = g_strdup("abcdefgh");
  const float slots[2][3] = {{0.1f, 0.2f, 0.0f}, {0.0f, 0.0f, 0.5f}};
  for (int h = 0; h < 2; h++) {
    SpnProbeHead *ph = &s->probe->heads[h];
    ph->n_slots = 3;
    ph->slots = g_new0(float, 8 * 3);
    for (int q = 0; q < 8; q++) {
      memcpy(ph->slots + q * 3, slots[h], sizeof slots[h]);
      ph->persistent[q] = slots[h][0] + slots[h][1] + slots[h][2];
    }
  }
  for (int i = 1; i <= 50; i++) {
    float share[2] = {0.3f, i == 30 ? NAN : 0.5f};
    SpnHistoryRow row = {.step = i, .train_bpc = 3.0, .tokens_per_s = 100, .spans = spans,
                         .flops_per_char = NAN, .attn_flops_per_char = NAN, .cache_bytes = NAN,
                         .pers_share = share};
    spn_history_append_row(s->history, &row);
  }
  s->step = 50;
  return s;
}

static void
test_persistent(void)
{
  g_autoptr(SpnSnapshot) s = persistent_snapshot();
  g_assert_true(s->history->persistent);
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  o.head = 1;
  expect_describe(SPN_FIGURE_PERSISTENT, s, &o,
                  (const char *[]){"layer 0 head 0", "persistent memory 0.300", NULL});
  expect_describe(SPN_FIGURE_PERSISTENT, s, &o,
                  (const char *[]){"head 1", "slot 2", "mean weight 0.5000", NULL});
  expect_describe(SPN_FIGURE_PERSISTENT, s, &o,
                  (const char *[]){"step 30", "head 0 0.300", "head 1 no data", NULL});
  /* slot usage colours: the largest mean at the top of a linear scale */
  cairo_surface_t *img = draw(SPN_FIGURE_PERSISTENT, s, &o);
  gboolean top = FALSE, mid = FALSE;
  int t1[3], t04[3];
  map_rgb(o.colormap, 1.0, t1);
  map_rgb(o.colormap, 0.2 / 0.5, t04);
  SpnPlot p;
  spn_plot_init(&p, NULL, &o);
  for (int y = H / 2; y < H; y += 3)
    for (int x = W / 2; x < W; x += 3) {
      g_autofree char *d = describe_with(&p, SPN_FIGURE_PERSISTENT, s, &o, x, y);
      if (d == NULL || strstr(d, "mean weight") == NULL)
        continue;
      int got[3];
      pixel(img, x, y, got);
      if (strstr(d, "head 1 \u00b7 slot 2"))
        top = top || distance(got, t1) <= 2;
      if (strstr(d, "head 0 \u00b7 slot 1"))
        mid = mid || distance(got, t04) <= 2;
    }
  spn_plot_clear(&p);
  g_assert_true(top && mid);
  cairo_surface_destroy(img);
  /* slot weights that are not numbers: skipped in the mean (one query), no data when every
   * query's is */
  s->probe->heads[0].slots[3 * 4 + 1] = NAN;
  expect_describe(SPN_FIGURE_PERSISTENT, s, &o,
                  (const char *[]){"head 0", "slot 1", "mean weight 0.2000", NULL});
  for (int q = 0; q < 8; q++)
    s->probe->heads[0].slots[3 * q + 0] = NAN;
  expect_describe(SPN_FIGURE_PERSISTENT, s, &o,
                  (const char *[]){"head 0", "slot 0", "mean weight no data", NULL});
  cairo_surface_destroy(draw(SPN_FIGURE_PERSISTENT, s, &o));
  /* a model without persistent memory says so */
  const float spans[] = {3.0f};
  g_autoptr(SpnSnapshot) plain = spn_test_snapshot_new(1, 1, 16, 2, spans);
  cairo_surface_destroy(draw(SPN_FIGURE_PERSISTENT, plain, &o));
  g_assert_null(spn_figure_describe(SPN_FIGURE_PERSISTENT, W, H, plain, &o, W / 2, H / 2));
}

/* ---- the cost panel of the training curves ---- */

static void
test_curves_cost(void)
{
  const float spans[] = {10.0f, 200.0f};
  g_autoptr(SpnSnapshot) s = spn_test_snapshot_new(1, 2, 256, 8, spans);
  SpnCost full = spn_cost_full_span(&s->cfg, NULL);
  for (int i = 1; i <= 100; i++) {
    /* the cost of the first half is unknown, as in a file from before it was kept */
    SpnHistoryRow row = {.step = i, .train_bpc = 3.0, .tokens_per_s = 100, .spans = spans,
                         .flops_per_char = i <= 50 ? NAN : full.flops / 4,
                         .attn_flops_per_char = NAN,
                         .cache_bytes = i <= 50 ? NAN : full.cache_bytes / 2};
    spn_history_append_row(s->history, &row);
  }
  s->step = 100;
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  expect_describe(SPN_FIGURE_CURVES, s, &o,
                  (const char *[]){"step 80", "FLOPs/char (25% of full span), cache 50%", NULL});
  g_autofree char *early =
      find_describe(SPN_FIGURE_CURVES, s, &o, (const char *[]){"step 20 ", NULL});
  g_assert_nonnull(early);
  g_assert_null(strstr(early, "FLOPs"));
  g_assert_nonnull(strstr(early, "cost no data"));
  /* the line of the FLOPs is drawn in the second half only */
  cairo_surface_t *img = draw(SPN_FIGURE_CURVES, s, &o);
  SpnPlot p;
  spn_plot_init(&p, NULL, &o);
  double c[3];
  spn_plot_series_rgb(&p, 3, c);
  spn_plot_clear(&p);
  int flops[3] = {(int)lround(c[0] * 255), (int)lround(c[1] * 255), (int)lround(c[2] * 255)};
  int left = 0, right = 0;
  for (int y = H / 2; y < H; y++)
    for (int x = 0; x < W; x++) {
      int got[3];
      pixel(img, x, y, got);
      if (distance(got, flops) <= 8)
        x < W / 2 - 20 ? left++ : right++;
    }
  g_assert_cmpint(left, ==, 0);
  g_assert_cmpint(right, >, 20);
  cairo_surface_destroy(img);
}

/* Pixels of the muted colour (notes, messages, tick labels) in the middle third of the lower half. */
static int
muted_pixels(const SpnSnapshot *s, const SpnFigureOptions *o)
{
  cairo_surface_t *img = draw(SPN_FIGURE_CURVES, s, o);
  SpnPlot p;
  spn_plot_init(&p, NULL, o);
  int muted[3] = {(int)lround(p.pal->muted[0] * 255), (int)lround(p.pal->muted[1] * 255),
                  (int)lround(p.pal->muted[2] * 255)};
  spn_plot_clear(&p);
  int count = 0;
  for (int y = H / 2; y < H; y++)
    for (int x = W / 3; x < 2 * W / 3; x++) {
      int got[3];
      pixel(img, x, y, got);
      count += distance(got, muted) <= 8;
    }
  cairo_surface_destroy(img);
  return count;
}

static gboolean
hovers(SpnPlot *p, const SpnSnapshot *s, const SpnFigureOptions *o, double x, double y)
{
  g_autofree char *d = describe_with(p, SPN_FIGURE_CURVES, s, o, x, y);
  return d != NULL;
}

/* No step's cost known (an imported reference run's history): the cost panel says "no data",
 * and so does the hover over it; the same history with its cost known draws no such message
 * there and its hover gives the cost. */
static void
test_curves_cost_unknown(void)
{
  const float spans[] = {10.0f, 200.0f};
  g_autoptr(SpnSnapshot) unknown = spn_test_snapshot_new(1, 2, 256, 8, spans);
  g_autoptr(SpnSnapshot) known = spn_test_snapshot_new(1, 2, 256, 8, spans);
  SpnCost full = spn_cost_full_span(&known->cfg, NULL);
  for (int i = 1; i <= 100; i++) {
    SpnHistoryRow row = {.step = i, .train_bpc = 3.0, .tokens_per_s = 100, .spans = spans,
                         .flops_per_char = NAN, .attn_flops_per_char = NAN, .cache_bytes = NAN};
    spn_history_append_row(unknown->history, &row);
    row.flops_per_char = full.flops / 4;
    row.cache_bytes = full.cache_bytes / 2;
    spn_history_append_row(known->history, &row);
  }
  unknown->step = known->step = 100;
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  int with_message = muted_pixels(unknown, &o), without = muted_pixels(known, &o);
  g_assert_cmpint(with_message, >, without + 50);
  /* the hover over the lowest chart, the cost's, across its width */
  SpnPlot p;
  spn_plot_init(&p, NULL, &o);
  double y = H - 0.5;
  while (y > 0 && !hovers(&p, unknown, &o, W / 2 + 0.5, y))
    y -= 1;
  y -= 2;   /* inside the chart, not on its edge */
  int hovered = 0;
  for (int x = 0; x < W; x += 8) {
    g_autofree char *u = describe_with(&p, SPN_FIGURE_CURVES, unknown, &o, x + 0.5, y);
    g_autofree char *k = describe_with(&p, SPN_FIGURE_CURVES, known, &o, x + 0.5, y);
    if (u == NULL)
      continue;
    hovered++;
    g_assert_nonnull(strstr(u, "cost no data"));
    g_assert_null(strstr(u, "nan"));
    g_assert_nonnull(k);
    g_assert_nonnull(strstr(k, "FLOPs/char (25% of full span), cache 50%"));
    g_assert_null(strstr(k, "no data"));
  }
  spn_plot_clear(&p);
  g_assert_cmpint(hovered, >, 10);
}

/* ---- export ---- */

static void
test_export(void)
{
  g_autoptr(SpnSnapshot) s = persistent_snapshot();
  set_distance_weight(s, 0, 5, 3, 0.6f);
  SpnFigureKind kinds[] = {SPN_FIGURE_DISTANCE, SPN_FIGURE_HEADS, SPN_FIGURE_SUMMARY,
                           SPN_FIGURE_PERSISTENT};
  SpnFigureOptions o[4];
  for (int i = 0; i < 4; i++)
    spn_figure_options_init(&o[i]);
  g_autofree char *dir = g_dir_make_tmp("spanscope-paper-XXXXXX", NULL);
  const char *names[] = {"f.png", "f.svg", "f.pdf"};
  for (guint k = 0; k < G_N_ELEMENTS(kinds); k++)
    for (guint f = 0; f < G_N_ELEMENTS(names); f++) {
      g_autofree char *path = g_build_filename(dir, names[f], NULL);
      g_autoptr(GError) error = NULL;
      g_assert_true(spn_figure_export(path, &kinds[k], 1, 500, 300, 1.0, s, &o[k], &error));
      g_assert_no_error(error);
      g_autofree char *data = NULL;
      gsize len = 0;
      g_assert_true(g_file_get_contents(path, &data, &len, NULL));
      g_assert_cmpuint(len, >, 1000);
      if (f == 2)
        g_assert_true(g_str_has_prefix(data, "%PDF-"));
      g_unlink(path);
    }
  g_rmdir(dir);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/paper-figures/distance-cells", test_distance_cells);
  g_test_add_func("/paper-figures/heads-grid", test_heads_grid);
  g_test_add_func("/paper-figures/summary", test_summary);
  g_test_add_func("/paper-figures/persistent", test_persistent);
  g_test_add_func("/paper-figures/curves-cost", test_curves_cost);
  g_test_add_func("/paper-figures/curves-cost-unknown", test_curves_cost_unknown);
  g_test_add_func("/paper-figures/export", test_export);
  return g_test_run();
}
