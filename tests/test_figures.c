/* Figures drawn from hand-made snapshots into image surfaces, checked by their pixels: bars as
 * tall as their spans, heatmap cells in the colour map's colour for their weight, mask curves
 * flat at 1 up to z·S + 1 and at 0 from z·S + R + 1 on, colour maps equal to the published
 * tables, and the exported files of every format. */
#include <cairo-svg.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "checkpoint.h"
#include "figure-private.h"
#include "fixtures.h"
#include "lines.h"
#include "pixels.h"
#include "snapshot.h"


/* ---- snapshots ---- */

/* a probe of the ASCII text with every weight 0 */
static void
attach_probe(SpnSnapshot *s, const char *text, int window, int pers)
{
  s->probe = spn_test_probe_new(text, s->cfg.nlayers, s->cfg.nheads, s->spans, window);
  s->cfg.pers_mem_size = pers;
  s->text = g_strdup(text);
}

static void
set_weight(SpnSnapshot *s, int head, int query, int key, float w)
{
  SpnProbeHead *ph = &s->probe->heads[head];
  ph->weights[(gsize)query * ph->window + (query - key) - 1] = w;
}

/* ---- colour maps ---- */

/* matplotlib's viridis and cividis (matplotlib 3.6, cm.<name>(t) as 8-bit hex): the ends and
 * three points between; between table entries spn_colormap_rgb interpolates, so allow 2 levels */
static void
test_colormap_published(void)
{
  static const struct {
    SpnColormap map;
    double t;
    const char *hex;
  } ref[] = {
    {SPN_COLORMAP_VIRIDIS, 0.0, "#440154"},  {SPN_COLORMAP_VIRIDIS, 0.25, "#3b528b"},
    {SPN_COLORMAP_VIRIDIS, 0.5, "#21918c"},  {SPN_COLORMAP_VIRIDIS, 0.75, "#5ec962"},
    {SPN_COLORMAP_VIRIDIS, 1.0, "#fde725"},  {SPN_COLORMAP_CIVIDIS, 0.0, "#00224e"},
    {SPN_COLORMAP_CIVIDIS, 0.25, "#434e6c"}, {SPN_COLORMAP_CIVIDIS, 0.5, "#7d7c78"},
    {SPN_COLORMAP_CIVIDIS, 0.75, "#bcae6c"}, {SPN_COLORMAP_CIVIDIS, 1.0, "#fee838"},
  };
  for (guint i = 0; i < G_N_ELEMENTS(ref); i++) {
    int want[3], got[3];
    hex_rgb(ref[i].hex, want);
    map_rgb(ref[i].map, ref[i].t, got);
    int tol = ref[i].t == 0.0 || ref[i].t == 1.0 ? 0 : 2;
    if (distance(want, got) > tol)
      g_error("colour map %d at %.2f is #%02x%02x%02x, published %s", ref[i].map, ref[i].t, got[0],
              got[1], got[2], ref[i].hex);
  }
  /* out of range and NaN clamp to the ends */
  int a[3], b[3];
  map_rgb(SPN_COLORMAP_VIRIDIS, -3, a);
  map_rgb(SPN_COLORMAP_VIRIDIS, NAN, b);
  g_assert_cmpint(distance(a, b), ==, 0);
  map_rgb(SPN_COLORMAP_VIRIDIS, 7, a);
  hex_rgb("#fde725", b);
  g_assert_cmpint(distance(a, b), ==, 0);
}

/* ---- spans ---- */

typedef struct {
  int x0, x1;   /* columns */
} Run;

/* vertical extent of the pixels within tol of rgb in column x */
static int
column_count(cairo_surface_t *img, int x, const int rgb[3], int tol, int *top, int *bottom)
{
  int count = 0;
  *top = H;
  *bottom = -1;
  for (int y = 0; y < H; y++) {
    int c[3];
    pixel(img, x, y, c);
    if (distance(c, rgb) <= tol) {
      count++;
      *top = MIN(*top, y);
      *bottom = MAX(*bottom, y);
    }
  }
  return count;
}

/* the column ranges holding a vertical run of at least 3 pixels of colour rgb */
static int
find_runs(cairo_surface_t *img, const int rgb[3], Run *runs, int max)
{
  int n = 0, top, bottom;
  gboolean in = FALSE;
  for (int x = 0; x < W; x++) {
    gboolean hit = column_count(img, x, rgb, 2, &top, &bottom) >= 3;
    if (hit && !in) {
      if (n == max)
        return n + 1;
      runs[n++] = (Run){x, W};
    } else if (!hit && in) {
      runs[n - 1].x1 = x;
    }
    in = hit;
  }
  return n;
}

/* layer 0 is Tableau blue #4e79a7, its first head darker (×0.55), its last lighter (halfway to
 * white); the ramp is the head's colour at 32 % over white */
static void
head_colour(int head, int rgb[3])
{
  const int blue[3] = {0x4e, 0x79, 0xa7};
  for (int c = 0; c < 3; c++)
    rgb[c] = (int)lround(head == 0 ? blue[c] * 0.55 : blue[c] + (255 - blue[c]) * 0.5);
}

static void
test_spans_bar_heights(void)
{
  const float spans[] = {500.0f, 1000.0f};
  g_autoptr(SpnSnapshot) s = spn_test_snapshot_new(1, 2, 1000, 32, spans);
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  cairo_surface_t *img = draw(SPN_FIGURE_SPANS, s, &o);
  int colour[2][3], ramp[3];
  head_colour(0, colour[0]);
  head_colour(1, colour[1]);
  for (int c = 0; c < 3; c++)
    ramp[c] = (int)lround(colour[0][c] * 0.32 + 255 * 0.68);
  Run runs[2], run;
  int top[2], bottom[2];
  for (int b = 0; b < 2; b++) {
    g_assert_cmpint(find_runs(img, colour[b], &run, 1), ==, 1);
    runs[b] = run;
    int mid = (runs[b].x0 + runs[b].x1) / 2;
    column_count(img, mid, colour[b], 2, &top[b], &bottom[b]);
  }
  /* both bars stand on the same axis; head 0 (z = 0.5) is half as tall as head 1 (z = 1) */
  g_assert_cmpint(abs(bottom[0] - bottom[1]), <=, 1);
  double h0 = bottom[0] - top[0] + 1, h1 = bottom[1] - top[1] + 1;
  g_assert_cmpfloat(h1, >, 150);
  g_assert_cmpfloat(fabs(h0 / h1 - 0.5), <, 1.5 / h1);
  /* above head 0 the ramp: R = 32 characters, lighter, right on top of the bar */
  int mid = (runs[0].x0 + runs[0].x1) / 2, rtop, rbottom;
  int rn = column_count(img, mid, ramp, 3, &rtop, &rbottom);
  g_assert_cmpfloat(fabs(rn - h1 * 32 / 1000), <=, 1.5);
  g_assert_cmpint(abs(rbottom + 1 - top[0]), <=, 1);
  /* head 1 reaches S: no ramp above it */
  int mid1 = (runs[1].x0 + runs[1].x1) / 2;
  g_assert_cmpint(column_count(img, mid1, ramp, 3, &rtop, &rbottom), ==, 0);
  /* hover names the head under the pointer and its span */
  g_autofree char *d = spn_figure_describe(SPN_FIGURE_SPANS, W, H, s, &o, mid, bottom[0] - 5);
  g_assert_nonnull(d);
  g_assert_true(strstr(d, "layer 0 head 0") && strstr(d, "span 500.0") && strstr(d, "z = 0.5"));
  cairo_surface_destroy(img);
}

/* Spans of 5 and 70 characters under S = 1024: the linear axis stops above the longest, so both
 * bars are visible, S is noted above; the window's layer stands out, the other is dimmed. */
static void
test_spans_small_and_selected(void)
{
  const float spans[] = {70.0f, 5.0f, 40.0f, 40.0f};
  g_autoptr(SpnSnapshot) s = spn_test_snapshot_new(2, 2, 1024, 8, spans);
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  cairo_surface_t *img = draw(SPN_FIGURE_SPANS, s, &o);
  int colour[2][3], top, bottom;
  head_colour(0, colour[0]);
  head_colour(1, colour[1]);
  Run r0, r1;
  g_assert_cmpint(find_runs(img, colour[0], &r0, 1), ==, 1);
  g_assert_cmpint(find_runs(img, colour[1], &r1, 1), ==, 1);
  int h70 = column_count(img, (r0.x0 + r0.x1) / 2, colour[0], 2, &top, &bottom);
  int h5 = column_count(img, (r1.x0 + r1.x1) / 2, colour[1], 2, &top, &bottom);
  g_assert_cmpint(h70, >, 150);
  g_assert_cmpfloat(fabs((double)h5 / h70 - 5.0 / 70), <, 0.03);
  /* layer 1 (orange, its heads shaded) is dimmed: its full colour is nowhere */
  int orange[3] = {0xf2, 0x8e, 0x2b}, dark_orange[3];
  for (int c = 0; c < 3; c++)
    dark_orange[c] = (int)lround(orange[c] * 0.55);
  Run none;
  g_assert_cmpint(find_runs(img, dark_orange, &none, 1), ==, 0);
  /* with layer 1 selected it is the other way round */
  o.layer = 1;
  cairo_surface_t *other = draw(SPN_FIGURE_SPANS, s, &o);
  g_assert_cmpint(find_runs(other, dark_orange, &none, 1), ==, 1);
  g_assert_cmpint(find_runs(other, colour[0], &none, 1), ==, 0);
  cairo_surface_destroy(img);
  cairo_surface_destroy(other);
}

/* At a narrow size the titles lose whole parts, with an ellipsis, and no ink reaches the right
 * edge, where a clipped number would be cut in two. */
static void
test_titles_fit(void)
{
  const float spans[] = {70.0f, 5.0f, 40.0f, 40.0f};
  g_autoptr(SpnSnapshot) s = spn_test_snapshot_new(2, 2, 1024, 8, spans);
  s->step = 123456;
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  const int w = 260, h = 180;
  for (int kind = 0; kind < SPN_FIGURE_COUNT; kind++) {
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    cairo_t *cr = cairo_create(img);
    spn_figure_draw(kind, cr, w, h, s, &o);
    cairo_destroy(cr);
    cairo_surface_flush(img);
    int white[3] = {255, 255, 255};
    for (int y = 2; y < 20; y++)
      for (int x = w - 5; x < w; x++) {
        int c[3];
        pixel(img, x, y, c);
        if (distance(c, white) > 0)
          g_error("%s: the title reaches the edge at (%d, %d)", spn_figure_name(kind), x, y);
      }
    cairo_surface_destroy(img);
  }
}

/* Axis labels: zero is "0" (not "0k"), step axes tick whole steps only, and a run in byte mode
 * counts bytes. */
static void
test_axis_labels(void)
{
  SpnAxis a = {0, 25000, FALSE, 0, 300};
  double t[] = {0, 10000, 20000};
  char buf[32];
  spn_axis_format(&a, t, 3, 0, buf);
  g_assert_cmpstr(buf, ==, "0");
  spn_axis_format(&a, t, 3, 20000, buf);
  g_assert_cmpstr(buf, ==, "20k");
  /* training FLOPs: SI prefixes past mega */
  double big[] = {0, 2e10, 4e10}, huge[] = {0, 5e14, 1e15};
  spn_axis_format(&a, big, 3, 4e10, buf);
  g_assert_cmpstr(buf, ==, "40G");
  spn_axis_format(&a, huge, 3, 5e14, buf);
  g_assert_cmpstr(buf, ==, "0.5P");
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  SpnPlot p;
  spn_plot_init(&p, NULL, &o);
  SpnChartSpec spec = {.xlabel = "step", .x0 = 1, .x1 = 5, .y0 = 0, .y1 = 1, .integer_x = TRUE};
  SpnChart c;
  spn_chart_layout(&p, (SpnRect){0, 0, 600, 300}, &spec, &c);
  g_assert_cmpint(c.nx, >=, 2);
  for (int i = 0; i < c.nx; i++)
    g_assert_cmpfloat(c.xt[i], ==, round(c.xt[i]));
  spn_plot_clear(&p);
  const float spans[] = {3.0f};
  g_autoptr(SpnSnapshot) s = spn_test_snapshot_new(1, 1, 16, 2, spans);
  g_assert_cmpstr(spn_fig_span_label(s), ==, "span (characters)");
  s->vocab = SPN_VOCAB_BYTES;
  g_assert_cmpstr(spn_fig_span_label(s), ==, "span (bytes)");
  g_assert_cmpstr(spn_fig_distance_label(s), ==, "distance \u03b4 (bytes back)");
}

/* ---- attention ---- */

/* the centre of the first cell (query, key) found, from line scans (each probe of the geometry
 * lays the figure out again, so a scan of every pixel would take minutes) */
static gboolean
cell_centre(const SpnSnapshot *s, const SpnFigureOptions *o, int query, int key, int *cx, int *cy)
{
  for (int xi = 1; xi < 8; xi++) {
    int x = W * xi / 8, y0 = -1, y1 = -1;
    for (int y = 0; y < H; y++) {
      int q, k;
      gboolean in = spn_figure_attention_cell(W, H, s, o, x + 0.5, y + 0.5, &q, &k) && q == query;
      if (in && y0 < 0)
        y0 = y;
      if (in)
        y1 = y;
      if (!in && y0 >= 0)
        break;
    }
    if (y0 < 0)
      continue;
    *cy = (y0 + y1) / 2;
    int x0 = -1, x1 = -1;
    for (int xx = 0; xx < W; xx++) {
      int q, k;
      gboolean in = spn_figure_attention_cell(W, H, s, o, xx + 0.5, *cy + 0.5, &q, &k) &&
                    q == query && k == key;
      if (in && x0 < 0)
        x0 = xx;
      if (in)
        x1 = xx;
      if (!in && x0 >= 0)
        break;
    }
    if (x0 >= 0) {
      *cx = (x0 + x1) / 2;
      return TRUE;
    }
  }
  return FALSE;
}

static SpnSnapshot *
attention_snapshot(void)
{
  const float spans[] = {3.0f};
  SpnSnapshot *s = spn_test_snapshot_new(1, 1, 16, 2, spans);
  attach_probe(s, "ab cd\nef", 6, 0);
  set_weight(s, 0, 4, 1, 0.3f);   /* 'd' looks 3 back at 'b' */
  set_weight(s, 0, 4, 3, 0.1f);
  set_weight(s, 0, 7, 6, 0.6f);   /* the largest weight: the top of the scale */
  set_weight(s, 0, 7, 5, 0.0003f);
  return s;
}

static void
check_cell_colour(cairo_surface_t *img, const SpnSnapshot *s, const SpnFigureOptions *o, int q,
                  int k, double t)
{
  int cx, cy, got[3], want[3];
  g_assert_true(cell_centre(s, o, q, k, &cx, &cy));
  pixel(img, cx, cy, got);
  map_rgb(o->colormap, t, want);
  if (distance(got, want) > 2)
    g_error("cell (%d, %d) at (%d, %d) is %d,%d,%d, expected %d,%d,%d (t = %.3f)", q, k, cx, cy,
            got[0], got[1], got[2], want[0], want[1], want[2], t);
}

static void
test_attention_cell_colours(void)
{
  g_autoptr(SpnSnapshot) s = attention_snapshot();
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  o.head = 0;
  o.log_color = FALSE;  /* the default is logarithmic */
  for (int map = 0; map < 2; map++) {
    o.colormap = map;
    cairo_surface_t *img = draw(SPN_FIGURE_ATTENTION, s, &o);
    /* linear scale from 0 to the largest visible weight */
    check_cell_colour(img, s, &o, 4, 1, 0.3 / 0.6);
    check_cell_colour(img, s, &o, 4, 3, 0.1 / 0.6);
    check_cell_colour(img, s, &o, 7, 6, 1.0);
    check_cell_colour(img, s, &o, 4, 0, 0.0);   /* inside the window, weight 0 */
    check_cell_colour(img, s, &o, 7, 0, 0.0);   /* beyond the window: masked, weight 0 */
    /* a key after its query cannot be attended: not a colour of the map */
    int cx, cy, got[3], zero[3];
    g_assert_true(cell_centre(s, &o, 2, 5, &cx, &cy));
    pixel(img, cx, cy, got);
    map_rgb(o.colormap, 0.0, zero);
    g_assert_cmpint(distance(got, zero), >, 30);
    cairo_surface_destroy(img);
  }
  /* logarithmic: three decades below the largest weight */
  o.colormap = SPN_COLORMAP_VIRIDIS;
  o.log_color = TRUE;
  cairo_surface_t *img = draw(SPN_FIGURE_ATTENTION, s, &o);
  check_cell_colour(img, s, &o, 4, 1, log10(0.3 / 0.6e-3) / 3);
  check_cell_colour(img, s, &o, 7, 5, 0.0);   /* 3e-4 is below 6e-4 */
  cairo_surface_destroy(img);
}

static void
test_attention_describe(void)
{
  g_autoptr(SpnSnapshot) s = attention_snapshot();
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  o.head = 0;
  int cx, cy;
  g_assert_true(cell_centre(s, &o, 4, 1, &cx, &cy));
  g_autofree char *d = spn_figure_describe(SPN_FIGURE_ATTENTION, W, H, s, &o, cx, cy);
  g_assert_cmpstr(d, ==, "query 'd' #4 \u2192 key 'b' #1, distance 3, weight 0.3");
  /* a space and a newline are shown as visible signs */
  g_assert_true(cell_centre(s, &o, 6, 2, &cx, &cy));
  g_autofree char *d2 = spn_figure_describe(SPN_FIGURE_ATTENTION, W, H, s, &o, cx, cy);
  g_assert_cmpstr(d2, ==, "query 'e' #6 \u2192 key '\u2423' #2, distance 4, weight 0");
  g_assert_true(cell_centre(s, &o, 7, 5, &cx, &cy));
  g_autofree char *d3 = spn_figure_describe(SPN_FIGURE_ATTENTION, W, H, s, &o, cx, cy);
  /* small weights keep their significant digits */
  g_assert_cmpstr(d3, ==, "query 'f' #7 \u2192 key '\u23ce' #5, distance 2, weight 0.0003");
  /* outside the cells: nothing */
  g_assert_null(spn_figure_describe(SPN_FIGURE_ATTENTION, W, H, s, &o, 2, 2));
  int q, k;
  g_assert_false(spn_figure_attention_cell(W, H, s, &o, 2, 2, &q, &k));
}

/* zoomed in, the cells grow and keep their mapping; the grid of all heads maps every panel */
static void
test_attention_zoom_and_grid(void)
{
  g_autoptr(SpnSnapshot) s = attention_snapshot();
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  o.head = 0;
  int cx_all, cy_all, cx, cy;
  g_assert_true(cell_centre(s, &o, 4, 1, &cx_all, &cy_all));
  o.q0 = 3;
  o.q1 = 6;
  o.k0 = 0;
  o.k1 = 3;
  g_assert_true(cell_centre(s, &o, 4, 1, &cx, &cy));
  g_assert_false(cell_centre(s, &o, 7, 6, &cx_all, &cy_all));   /* scrolled out of view */
  cairo_surface_t *img = draw(SPN_FIGURE_ATTENTION, s, &o);
  check_cell_colour(img, s, &o, 4, 1, 1.0);   /* now the largest visible weight */
  cairo_surface_destroy(img);

  const float spans[] = {3.0f, 3.0f, 3.0f};
  g_autoptr(SpnSnapshot) g = spn_test_snapshot_new(1, 3, 16, 2, spans);
  attach_probe(g, "abcdefgh", 6, 4);
  set_weight(g, 2, 5, 2, 0.25f);
  g->probe->heads[1].persistent[6] = 0.5f;
  spn_figure_options_init(&o);
  g_assert_true(cell_centre(g, &o, 5, 2, &cx, &cy));
  /* three panels, each naming its head; the hover of row 6 crosses them all and, right of
   * each, the persistent column */
  int found = 0, pers_x0 = -1, pers_x1 = -1;
  g_assert_true(cell_centre(g, &o, 6, 0, &cx, &cy));
  for (int x = 0; x < W; x++) {
    g_autofree char *d = spn_figure_describe(SPN_FIGURE_ATTENTION, W, H, g, &o, x + 0.5, cy + 0.5);
    for (int h = 0; h < 3 && d; h++) {
      g_autofree char *prefix = g_strdup_printf("head %d \u00b7 query 'g' #6 \u2192 ", h);
      if (g_str_has_prefix(d, prefix))
        found |= 1 << h;
    }
    if (d && g_str_has_prefix(d, "head 1 \u00b7 query 'g' #6 \u2192 persistent memory, weight "
                                 "0.5")) {
      pers_x0 = pers_x0 < 0 ? x : pers_x0;
      pers_x1 = x;
    }
  }
  g_assert_cmpint(found, ==, 7);
  g_assert_true(cell_centre(g, &o, 5, 2, &cx, &cy));
  g_autofree char *d2 = spn_figure_describe(SPN_FIGURE_ATTENTION, W, H, g, &o, cx, cy);
  g_assert_true(g_str_has_prefix(d2, "head 0 \u00b7 query 'f' #5 \u2192 key 'c' #2, distance 3"));
  /* the persistent mass 0.5 is the largest value shown: the top of the scale */
  g_assert_cmpint(pers_x0, >=, 0);
  img = draw(SPN_FIGURE_ATTENTION, g, &o);
  int got[3], want[3];
  g_assert_true(cell_centre(g, &o, 6, 0, &cx, &cy));
  pixel(img, (pers_x0 + pers_x1) / 2, cy, got);
  map_rgb(SPN_COLORMAP_VIRIDIS, 1.0, want);
  g_assert_cmpint(distance(got, want), <=, 2);
  cairo_surface_destroy(img);
}

/* The persistent-memory column stands apart from the colour bar: after the last panel's column
 * (found by its hover), its name up its side, then at least 1.5 font sizes of background
 * before the bar's first coloured pixel. */
static void
test_attention_persistent_apart(void)
{
  const float spans[] = {3.0f, 3.0f};
  g_autoptr(SpnSnapshot) g = spn_test_snapshot_new(1, 2, 16, 2, spans);
  attach_probe(g, "abcdefgh", 6, 4);
  g->probe->heads[1].persistent[6] = 0.5f;
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  o.head = 1;
  int cx, cy, pers_x1 = -1;
  g_assert_true(cell_centre(g, &o, 6, 0, &cx, &cy));
  for (int x = 0; x < W; x++) {
    g_autofree char *d = spn_figure_describe(SPN_FIGURE_ATTENTION, W, H, g, &o, x + 0.5, cy + 0.5);
    if (d && strstr(d, "persistent memory"))
      pers_x1 = x;
  }
  g_assert_cmpint(pers_x1, >, 0);
  cairo_surface_t *img = draw(SPN_FIGURE_ATTENTION, g, &o);
  int bar_x = -1, label = 0;
  for (int x = pers_x1 + 2; x < W && bar_x < 0; x++) {
    for (int y = 0; y < H; y++) {   /* the label: ink beside the column */
      int c[3];
      pixel(img, x, y, c);
      label += x < pers_x1 + 14 && c[0] < 200 && MAX(c[0], c[2]) - MIN(c[0], c[2]) < 30;
    }
    int c[3];
    pixel(img, x, cy, c);
    if (MAX(MAX(c[0], c[1]), c[2]) - MIN(MIN(c[0], c[1]), c[2]) > 60)
      bar_x = x;
  }
  g_assert_cmpint(label, >, 20);
  g_assert_cmpint(bar_x, >, 0);
  g_assert_cmpint(bar_x - pers_x1, >=, (int)(1.5 * 11 + 14));
  if (g_getenv("SPANSCOPE_FIGURE_PNG"))
    cairo_surface_write_to_png(img, g_getenv("SPANSCOPE_FIGURE_PNG"));
  cairo_surface_destroy(img);
}

/* Every pixel of a tile maps to the cell the figure finds there, through the tile's edges and
 * token range alone; just outside a tile's edges lies no cell of it. */
static void
check_tiles(const SpnSnapshot *s, const SpnFigureOptions *o, int nheads)
{
  int heads = 0, checked = 0;
  for (int y = 0; y < H; y += 17)
    for (int x = 0; x < W; x += 19) {
      SpnAttentionTile t;
      int q, k;
      double px = x + 0.5, py = y + 0.5;
      gboolean in_tile = spn_figure_attention_tile(W, H, s, o, px, py, &t);
      gboolean on_cell = spn_figure_attention_cell(W, H, s, o, px, py, &q, &k);
      g_assert_cmpint(in_tile, ==, on_cell);
      if (!in_tile)
        continue;
      heads |= 1 << t.head;
      g_assert_true(px >= t.x0 && px < t.x1 && py >= t.y0 && py < t.y1);
      double kk = t.k0 + (px - t.x0) / (t.x1 - t.x0) * (t.k1 - t.k0);
      double qq = t.q0 + (py - t.y0) / (t.y1 - t.y0) * (t.q1 - t.q0);
      if (fabs(kk - round(kk)) < 1e-6 || fabs(qq - round(qq)) < 1e-6)
        continue;   /* on a cell edge: either side is right */
      g_assert_cmpint(k, ==, (int)floor(kk));
      g_assert_cmpint(q, ==, (int)floor(qq));
      checked++;
      /* half a pixel outside the tile: no cell of the same head */
      SpnAttentionTile u;
      if (spn_figure_attention_tile(W, H, s, o, t.x0 - 0.5, py, &u))
        g_assert_cmpint(u.head, !=, t.head);
      if (spn_figure_attention_tile(W, H, s, o, px, t.y1 + 0.5, &u))
        g_assert_cmpint(u.head, !=, t.head);
    }
  g_assert_cmpint(checked, >, 100);
  g_assert_cmpint(heads, ==, (1 << nheads) - 1);
}

static void
test_attention_tiles(void)
{
  g_autoptr(SpnSnapshot) s = attention_snapshot();
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  o.head = 0;
  check_tiles(s, &o, 1);
  o.q0 = 2.3, o.q1 = 6.8, o.k0 = 0.6, o.k1 = 4.1;   /* zoomed in, edges mid-cell */
  check_tiles(s, &o, 1);
  SpnAttentionTile t;
  int cx, cy;
  g_assert_true(cell_centre(s, &o, 4, 1, &cx, &cy));
  g_assert_true(spn_figure_attention_tile(W, H, s, &o, cx, cy, &t));
  g_assert_cmpfloat(t.k0, ==, 0.6);
  g_assert_cmpfloat(t.q1, ==, 6.8);
  g_assert_cmpint(t.head, ==, 0);

  const float spans[] = {3.0f, 3.0f, 3.0f};
  g_autoptr(SpnSnapshot) g = spn_test_snapshot_new(1, 3, 16, 2, spans);
  attach_probe(g, "abcdefgh", 6, 4);
  spn_figure_options_init(&o);
  check_tiles(g, &o, 3);
}

static void
test_attention_without_probe(void)
{
  const float spans[] = {3.0f};
  g_autoptr(SpnSnapshot) s = spn_test_snapshot_new(1, 1, 16, 2, spans);
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  cairo_surface_t *img = draw(SPN_FIGURE_ATTENTION, s, &o);
  /* an explanation in muted ink, and no colour-map pixels anywhere */
  int dark = 0, viridis = 0, zero[3];
  map_rgb(SPN_COLORMAP_VIRIDIS, 0.0, zero);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      int c[3];
      pixel(img, x, y, c);
      dark += c[0] < 128;
      viridis += distance(c, zero) <= 2;
    }
  g_assert_cmpint(dark, >, 100);
  g_assert_cmpint(viridis, ==, 0);
  g_assert_null(spn_figure_describe(SPN_FIGURE_ATTENTION, W, H, s, &o, W / 2.0, H / 2.0));
  cairo_surface_destroy(img);
}

/* ---- masks ---- */

/* like column_count, between rows y0 and y1, for a line's anti-aliased pixels too */
static int
area_column(cairo_surface_t *img, int x, int y0, int y1, const int rgb[3], int *top, int *bottom)
{
  int count = 0;
  *top = H;
  *bottom = -1;
  for (int y = y0; y <= y1; y++) {
    int c[3];
    pixel(img, x, y, c);
    if (distance(c, rgb) <= 40) {
      count++;
      *top = MIN(*top, y);
      *bottom = MAX(*bottom, y);
    }
  }
  return count;
}

/* z·S = 50, R = 20: m(δ) = 1 for δ ≤ 51, falls linearly, 0 from δ = 71 on (docs/MODEL.md) */
static double
mask_formula(double delta)
{
  return CLAMP((20 + 50 - (delta - 1)) / 20, 0.0, 1.0);
}

static void
test_masks_curve(void)
{
  const float spans[] = {50.0f};
  g_autoptr(SpnSnapshot) s = spn_test_snapshot_new(1, 1, 400, 20, spans);
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  cairo_surface_t *img = draw(SPN_FIGURE_MASKS, s, &o);
  int blue[3] = {0x4e, 0x79, 0xa7};
  /* rows of the plotting area (the legend above it has a blue swatch too) */
  int area_top = -1, area_bottom = -1;
  for (int y = 0; y < H; y++) {
    g_autofree char *d = spn_figure_describe(SPN_FIGURE_MASKS, W, H, s, &o, W / 2.0, y + 0.5);
    if (d && area_top < 0)
      area_top = y;
    if (d)
      area_bottom = y;
  }
  g_assert_cmpint(area_top, >, 0);
  int top = -1, bottom = -1, flat_hi = 0, flat_lo = 0, ramp = 0;
  double last_ramp_y = -1;
  for (int x = 0; x < W; x++) {
    g_autofree char *d = spn_figure_describe(SPN_FIGURE_MASKS, W, H, s, &o, x + 0.5, H / 2.0);
    int delta;
    if (d == NULL || sscanf(d, "distance %d", &delta) != 1)
      continue;
    int t, b;
    if (area_column(img, x, area_top, area_bottom, blue, &t, &b) == 0)
      continue;
    double y = (t + b) / 2.0;
    if (delta <= 50) {
      if (top < 0)
        top = (int)lround(y);
      g_assert_cmpfloat(fabs(y - top), <=, 1.0);
      flat_hi++;
    } else if (delta >= 73) {
      if (bottom < 0)
        bottom = (int)lround(y);
      g_assert_cmpfloat(fabs(y - bottom), <=, 1.0);
      flat_lo++;
    } else if (delta >= 53 && delta <= 69) {
      /* falling, strictly between the two levels */
      g_assert_cmpfloat(y, >, top + 2);
      g_assert_cmpfloat(y, >=, last_ramp_y - 0.5);
      last_ramp_y = y;
      ramp++;
    }
  }
  g_assert_cmpint(flat_hi, >, 20);
  g_assert_cmpint(flat_lo, >, 20);
  g_assert_cmpint(ramp, >, 10);
  g_assert_cmpint(bottom - top, >, 150);
  g_assert_cmpfloat(last_ramp_y, <, bottom - 2);
  /* hover reads m(δ) off the formula */
  for (int x = 0; x < W; x++) {
    g_autofree char *d = spn_figure_describe(SPN_FIGURE_MASKS, W, H, s, &o, x + 0.5, H / 2.0);
    int delta;
    double m;
    if (d == NULL || sscanf(d, "distance %d \u00b7 head 0 (span 50.0): m = %lf", &delta, &m) != 2)
      continue;
    g_assert_cmpfloat(fabs(m - mask_formula(delta)), <, 6e-4);
  }
  cairo_surface_destroy(img);
}

/* with a probe, the mean weight per distance is reported next to the mask */
static void
test_masks_measured(void)
{
  const float spans[] = {2.0f};
  g_autoptr(SpnSnapshot) s = spn_test_snapshot_new(1, 1, 64, 4, spans);
  attach_probe(s, "abcd", 7, 0);
  /* distance 1: queries 1, 2, 3 give 0.5, 0.7, 0.9; query 0 looks before the text (0.2) */
  set_weight(s, 0, 1, 0, 0.5f);
  set_weight(s, 0, 2, 1, 0.7f);
  set_weight(s, 0, 3, 2, 0.9f);
  s->probe->heads[0].weights[0] = 0.2f;
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  gboolean seen = FALSE;
  for (int x = 0; x < W && !seen; x++) {
    g_autofree char *d = spn_figure_describe(SPN_FIGURE_MASKS, W, H, s, &o, x + 0.5, H / 2.0);
    if (d && g_str_has_prefix(d, "distance 1 ")) {
      g_assert_nonnull(strstr(d, "mean weight 0.575"));
      seen = TRUE;
    }
  }
  g_assert_true(seen);
}

/* ---- history and curves ---- */

static SpnSnapshot *
history_snapshot(void)
{
  const float spans[] = {10.0f, 200.0f};
  SpnSnapshot *s = spn_test_snapshot_new(1, 2, 256, 8, spans);
  for (int i = 1; i <= 300; i++) {
    float row[2] = {10.0f, (float)(i * 200.0 / 300)};
    spn_history_append(s->history, i, 4.0 - i / 100.0, 1000.0 + i, row);
    if (i % 50 == 0)
      spn_history_add_valid(s->history, i, 3.9 - i / 100.0);
  }
  s->step = 300;
  return s;
}

static void
test_history_and_curves(void)
{
  g_autoptr(SpnSnapshot) s = history_snapshot();
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  o.smoothing = 0;
  /* head 1 grows linearly: at the plot's right edge it is near 200, head 0 stays at 10 */
  gboolean head1 = FALSE, head0 = FALSE;
  for (int y = 0; y < H; y += 2) {
    g_autofree char *d = spn_figure_describe(SPN_FIGURE_HISTORY, W, H, s, &o, W - 40, y);
    if (d == NULL)
      continue;
    gint64 step;
    double span;
    int head;
    g_assert_cmpint(sscanf(d, "step %" G_GINT64_FORMAT " \u00b7 layer 0 head %d: span %lf", &step,
                           &head, &span), ==, 3);
    g_assert_cmpint(step, >, 250);
    if (head == 1) {
      g_assert_cmpfloat(fabs(span - step * 200.0 / 300), <=, 0.05 + 1e-9);  /* printed to 0.1 */
      head1 = TRUE;
    } else {
      g_assert_cmpfloat(span, ==, 10.0);
      head0 = TRUE;
    }
  }
  g_assert_true(head0 && head1);
  /* curves: one line per step under the pointer, with the validation where measured */
  gboolean valid = FALSE;
  for (int x = 0; x < W; x++) {
    g_autofree char *d = spn_figure_describe(SPN_FIGURE_CURVES, W, H, s, &o, x, H * 0.3);
    if (d == NULL)
      continue;
    gint64 step;
    double bpc;
    g_assert_cmpint(sscanf(d, "step %" G_GINT64_FORMAT " \u00b7 train %lf bpc", &step, &bpc), ==,
                    2);
    g_assert_cmpfloat(fabs(bpc - (4.0 - step / 100.0)), <, 1e-3);
    g_assert_nonnull(strstr(d, "tokens/s"));
    if (step == 150) {
      g_assert_nonnull(strstr(d, "valid 2.400"));
      valid = TRUE;
    }
  }
  g_assert_true(valid);
  for (int k = 0; k < SPN_FIGURE_COUNT; k++)
    for (int dark = 0; dark < 2; dark++) {
      o.dark = dark;
      o.log_axis = dark;
      cairo_surface_t *img = draw(k, s, &o);
      int c[3];
      pixel(img, 1, 1, c);
      g_assert_true(dark ? c[0] < 128 : c[0] > 128);
      cairo_surface_destroy(img);
    }
}

/* An imported reference run: no head's span in its rows but main.py's logged statistics, which
 * the span panel shows (and says so); a row trained here after them shows its own. */
static void
test_curves_logged_spans(void)
{
  const float spans[] = {10.0f, 30.0f}, unknown[] = {NAN, NAN};
  g_autoptr(SpnSnapshot) s = spn_test_snapshot_new(1, 2, 256, 8, spans);
  for (int i = 1; i <= 20; i++) {
    spn_history_append(s->history, i * 100, 3.0 - i * 0.05, NAN, unknown);
    spn_history_add_logged_spans(s->history, i * 100, 20 + i, 40 + i);
  }
  spn_history_append(s->history, 2100, 2.0, 500, spans);
  s->step = 2100;
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  int logged = 0, ours = 0;
  for (int x = 0; x < W; x++) {
    g_autofree char *d = spn_figure_describe(SPN_FIGURE_CURVES, W, H, s, &o, x, H * 0.5);
    if (d == NULL)
      continue;
    gint64 step;
    g_assert_cmpint(sscanf(d, "step %" G_GINT64_FORMAT, &step), ==, 1);
    g_autofree char *want =
        step == 2100 ? g_strdup(" \u00b7 span mean 20.0, max 30.0")
                     : g_strdup_printf(" \u00b7 span mean %.1f, max %.1f (main.py's log)",
                                       20.0 + step / 100, 40.0 + step / 100);
    /* these rows have no cost either (appended without it), which the hover says last */
    const char *no_cost = " \u00b7 cost no data (not recorded for this step)";
    g_assert_true(g_str_has_suffix(d, no_cost));
    d[strlen(d) - strlen(no_cost)] = '\0';
    if (!g_str_has_suffix(d, want))
      g_error("\"%s\" does not end in \"%s\"", d, want);
    step == 2100 ? ours++ : logged++;
  }
  g_assert_cmpint(logged, >, 10);
  g_assert_cmpint(ours, >, 0);
  cairo_surface_destroy(draw(SPN_FIGURE_CURVES, s, &o));
}

/* The span history of a run whose heads' spans are known at lone steps (an imported reference
 * run's versions): a dot where no line passes. */
static void
test_history_lone_spans(void)
{
  const float spans[] = {10.0f, 30.0f}, unknown[] = {NAN, NAN};
  const gint64 steps[] = {100, 150, 200, 250, 300, 350, 400};
  cairo_surface_t *img[2];
  for (int lone = 0; lone < 2; lone++) {
    g_autoptr(SpnSnapshot) s = spn_test_snapshot_new(1, 2, 256, 8, spans);
    for (int i = 0; i < 7; i++) {
      gboolean known = i < 2 || i > 4 || (lone && i == 3);
      spn_history_append(s->history, steps[i], 3.0, NAN, known ? spans : unknown);
    }
    spn_history_add_logged_spans(s->history, 100, 12, 34);
    SpnFigureOptions o;
    spn_figure_options_init(&o);
    img[lone] = draw(SPN_FIGURE_HISTORY, s, &o);
  }
  /* the two pictures differ by two dots (not a pixel column each) */
  int differ = 0;
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      int a[3], b[3];
      pixel(img[0], x, y, a);
      pixel(img[1], x, y, b);
      differ += a[0] != b[0] || a[1] != b[1] || a[2] != b[2];
    }
  g_assert_cmpint(differ, >=, 40);
  g_assert_cmpint(differ, <=, 400);
  cairo_surface_destroy(img[0]);
  cairo_surface_destroy(img[1]);
}

static void
test_empty_history(void)
{
  const float spans[] = {10.0f};
  g_autoptr(SpnSnapshot) s = spn_test_snapshot_new(1, 1, 64, 8, spans);
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  cairo_surface_destroy(draw(SPN_FIGURE_HISTORY, s, &o));
  cairo_surface_destroy(draw(SPN_FIGURE_CURVES, s, &o));
  g_assert_null(spn_figure_describe(SPN_FIGURE_CURVES, W, H, s, &o, W / 2.0, H / 2.0));
  g_assert_null(spn_figure_describe(SPN_FIGURE_HISTORY, W, H, s, &o, W / 2.0, H / 2.0));
}

/* ---- long series: chunk by chunk, the same drawing ---- */

/* The series through (step[i], v[2i]) into cr, whole or cut before each of cuts (ascending,
 * repeats give empty pieces) and added piece by piece, as the figures add a history's chunks. */
static void
lines_draw(cairo_t *cr, const SpnAxis *x, const SpnAxis *y, const gint64 *step, const float *v,
           gsize n, const gsize *cuts, int ncuts, double fill)
{
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  SpnPlot p;
  spn_plot_init(&p, cr, &o);
  SpnRect area = {20, 10, W - 40, H - 30};
  const double rgb[3] = {0.2, 0.4, 0.8};
  SpnLines *l = spn_lines_begin(&p, &area);
  if (cuts == NULL) {
    spn_lines_add(l, x, y, step, v, n, 2, rgb, 0.9, 1.5, fill, 1.0);
  } else {
    SpnLinesSeries *s = spn_lines_series_begin(l, x, y, rgb, 0.9, 1.5, fill, 1.0);
    gsize at = 0;
    for (int k = 0; k <= ncuts; k++) {
      gsize end = k < ncuts ? cuts[k] : n;
      spn_lines_series_add(s, step + at, v + 2 * at, end - at, 2);
      at = end;
    }
    spn_lines_series_end(s);
  }
  spn_lines_end(l);
  spn_plot_clear(&p);
}

static cairo_status_t
svg_append(void *closure, const unsigned char *data, unsigned int length)
{
  g_string_append_len(closure, (const char *)data, length);
  return CAIRO_STATUS_SUCCESS;
}

/* The drawing as bytes: the pixels of an image surface, or the SVG text (paths, one point per
 * column). */
static GString *
lines_render(gboolean vector, const SpnAxis *x, const SpnAxis *y, const gint64 *step,
             const float *v, gsize n, const gsize *cuts, int ncuts, double fill)
{
  GString *out = g_string_new(NULL);
  cairo_surface_t *surf = vector ? cairo_svg_surface_create_for_stream(svg_append, out, W, H)
                                 : cairo_image_surface_create(CAIRO_FORMAT_ARGB32, W, H);
  cairo_t *cr = cairo_create(surf);
  lines_draw(cr, x, y, step, v, n, cuts, ncuts, fill);
  g_assert_cmpint(cairo_status(cr), ==, CAIRO_STATUS_SUCCESS);
  cairo_destroy(cr);
  cairo_surface_flush(surf);
  if (!vector)
    g_string_append_len(out, (const char *)cairo_image_surface_get_data(surf),
                        (gssize)cairo_image_surface_get_stride(surf) * H);
  cairo_surface_finish(surf);   /* the SVG is complete only now */
  cairo_surface_destroy(surf);
  if (vector) {
    /* cairo numbers its surfaces process-wide: the only difference between two equal drawings */
    g_autoptr(GRegex) id = g_regex_new("surface[0-9]+", 0, 0, NULL);
    g_autofree char *same = g_regex_replace_literal(id, out->str, -1, 0, "surface", 0, NULL);
    g_string_assign(out, same);
  }
  return out;
}

static void
test_lines_in_pieces(void)
{
  /* dense (many points per pixel column) and sparse (segments across columns); NaN gaps; cuts
   * inside and at the edges of the gaps, an empty piece, the last point alone */
  const struct {
    int n, period, gap;
    gsize cuts[9];
  } cases[] = {
    {5000, 401, 3, {1, 400, 401, 402, 403, 2500, 2500, 2501, 4999}},
    {150, 50, 1, {1, 49, 50, 51, 52, 75, 75, 76, 149}},
  };
  for (guint c = 0; c < G_N_ELEMENTS(cases); c++) {
    int n = cases[c].n;
    gint64 *step = g_new(gint64, n);
    float *v = g_new(float, 2 * n);
    for (int i = 0; i < n; i++) {
      step[i] = i;
      v[2 * i] = i % cases[c].period < cases[c].gap
                     ? NAN
                     : (float)(2.0 + sin(i / (n / 100.0)) + 0.3 * sin(i * 7.3));
      v[2 * i + 1] = -1.0f;   /* the stride skips it */
    }
    for (int log = 0; log < 2; log++)
      for (int vector = 0; vector < 2; vector++)
        for (int fill = 0; fill < 2; fill++) {
          SpnAxis x = {0, n - 1, FALSE, 20, W - 20};
          SpnAxis y = {log ? 0.5 : 0.0, 4.0, log, H - 20, 10};
          GString *whole = lines_render(vector, &x, &y, step, v, n, NULL, 0, 0.3 * fill);
          GString *pieces = lines_render(vector, &x, &y, step, v, n, cases[c].cuts,
                                         G_N_ELEMENTS(cases[c].cuts), 0.3 * fill);
          g_assert_cmpuint(whole->len, >, 0);
          g_assert_cmpmem(whole->str, whole->len, pieces->str, pieces->len);
          g_string_free(whole, TRUE);
          g_string_free(pieces, TRUE);
        }
    g_free(step);
    g_free(v);
  }
}

/* The 1M-step case of bench/long_history, smaller: a long history saved in a checkpoint, opened
 * and drawn, the same pixels as before saving. */
static void
test_long_history_round_trip(void)
{
  const float spans[16] = {4, 9, 30, 60, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 2000,
                           4000};
  g_autoptr(SpnSnapshot) s = spn_test_snapshot_new(4, 4, 8192, 32, spans);
  spn_test_fill_history(s->history, 50000, spans);
  s->step = 50000;
  const char text[] = "the history of a long run, saved and opened again";
  g_autoptr(GError) error = NULL;
  SpnCorpusOptions opts = {0};
  SpnCorpus *corpus = spn_corpus_from_text("test", text, strlen(text), &opts, &error);
  g_assert_no_error(error);
  SpnConfig c = s->cfg;
  c.vocab_size = corpus->vocab->size;
  c.attn_span = 64;  /* a small model: the history is what is tested */
  c.hid_sz = 16;
  SpnModel *m = spn_model_new(&c);
  g_autofree char *dir = g_dir_make_tmp("spanscope-figures-XXXXXX", NULL);
  g_autofree char *path = g_build_filename(dir, "long.safetensors", NULL);
  SpnCheckpoint out = {.model = m, .vocab = corpus->vocab, .history = s->history};
  g_assert_true(spn_checkpoint_save(&out, path, &error));
  g_assert_no_error(error);
  SpnCheckpoint *in = spn_checkpoint_load(path, &error);
  g_assert_no_error(error);
  g_assert_cmpint(in->history->n, ==, 50000);
  g_assert_cmpint(in->history->n_valid, ==, 500);
  g_autoptr(SpnSnapshot) t = spn_test_snapshot_new(4, 4, 8192, 32, spans);
  spn_history_unref(t->history);
  t->history = g_steal_pointer(&in->history);
  t->step = 50000;
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  SpnFigureKind kinds[] = {SPN_FIGURE_CURVES, SPN_FIGURE_HISTORY};
  for (guint k = 0; k < G_N_ELEMENTS(kinds); k++)
    for (int log = 0; log < 2; log++) {
      o.log_axis = log;
      cairo_surface_t *a = draw(kinds[k], s, &o), *b = draw(kinds[k], t, &o);
      gsize bytes = (gsize)cairo_image_surface_get_stride(a) * H;
      g_assert_cmpmem(cairo_image_surface_get_data(a), bytes, cairo_image_surface_get_data(b),
                      bytes);
      cairo_surface_destroy(a);
      cairo_surface_destroy(b);
    }
  spn_checkpoint_free(in);
  spn_model_free(m);
  spn_corpus_free(corpus);
  g_unlink(path);
  g_rmdir(dir);
}

/* ---- export ---- */

typedef struct {
  int paths, glyph_symbols, uses;
} SvgCount;

static void
svg_start(GMarkupParseContext *ctx, const char *name, const char **attr_names,
          const char **attr_values, gpointer data, GError **error)
{
  (void)ctx;
  (void)error;
  SvgCount *c = data;
  c->paths += g_str_equal(name, "path");
  c->uses += g_str_equal(name, "use");
  for (int i = 0; attr_names[i]; i++)
    if (g_str_equal(name, "symbol") && g_str_equal(attr_names[i], "id") &&
        g_str_has_prefix(attr_values[i], "glyph"))
      c->glyph_symbols++;
}

static char *
tmp_path(const char *dir, const char *name)
{
  return g_build_filename(dir, name, NULL);
}

static void
test_export_formats(void)
{
  g_autoptr(SpnSnapshot) s = attention_snapshot();
  spn_history_append(s->history, 1, 4.0, 100, s->spans);
  spn_history_add_valid(s->history, 1, 4.1);
  spn_history_append(s->history, 2, 3.5, 100, s->spans);
  SpnFigureOptions o[5];
  for (int i = 0; i < 5; i++)
    spn_figure_options_init(&o[i]);
  g_autofree char *dir = g_dir_make_tmp("spanscope-figures-XXXXXX", NULL);
  g_assert_nonnull(dir);
  SpnFigureKind all[] = {SPN_FIGURE_SPANS, SPN_FIGURE_HISTORY, SPN_FIGURE_MASKS,
                         SPN_FIGURE_ATTENTION, SPN_FIGURE_CURVES};
  g_autoptr(GError) error = NULL;

  g_autofree char *png = tmp_path(dir, "fig.png");
  g_assert_true(spn_figure_export(png, all, 5, 300, 200, 2.0, s, o, &error));
  g_assert_no_error(error);
  cairo_surface_t *img = cairo_image_surface_create_from_png(png);
  g_assert_cmpint(cairo_surface_status(img), ==, CAIRO_STATUS_SUCCESS);
  g_assert_cmpint(cairo_image_surface_get_width(img), ==, 600);
  g_assert_cmpint(cairo_image_surface_get_height(img), ==, 400);
  cairo_surface_destroy(img);

  g_autofree char *svg = tmp_path(dir, "fig.SVG");
  g_assert_true(spn_figure_export(svg, all, 5, 900, 600, 1.0, s, o, &error));
  g_autofree char *text = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(svg, &text, &len, NULL));
  SvgCount count = {0};
  GMarkupParser parser = {.start_element = svg_start};
  GMarkupParseContext *ctx = g_markup_parse_context_new(&parser, 0, &count, NULL);
  g_assert_true(g_markup_parse_context_parse(ctx, text, (gssize)len, &error));
  g_assert_true(g_markup_parse_context_end_parse(ctx, &error));
  g_assert_no_error(error);
  g_markup_parse_context_free(ctx);
  g_assert_cmpint(count.paths, >, 20);
  /* cairo writes text as glyph outlines (<symbol id="glyph…">) placed with <use> */
  g_assert_cmpint(count.glyph_symbols, >, 10);
  g_assert_cmpint(count.uses, >, 50);

  g_autofree char *pdf = tmp_path(dir, "fig.pdf");
  g_assert_true(spn_figure_export(pdf, all + 3, 1, 500, 300, 1.0, s, o, &error));
  g_autofree char *pdf_text = NULL;
  g_assert_true(g_file_get_contents(pdf, &pdf_text, &len, NULL));
  g_assert_true(len > 1000 && g_str_has_prefix(pdf_text, "%PDF-"));
  g_assert_nonnull(memmem(pdf_text, len, "/Font", 5));   /* the text stays text */

  /* nothing but the three files: no temporary left behind */
  GDir *d = g_dir_open(dir, 0, NULL);
  int files = 0;
  for (const char *name; (name = g_dir_read_name(d));)
    files++;
  g_dir_close(d);
  g_assert_cmpint(files, ==, 3);
  g_unlink(png);
  g_unlink(svg);
  g_unlink(pdf);
  g_rmdir(dir);
}

/* Pixels of img at (x0 + x, y) that differ from ref at (x, y), over ref's size. */
static int
differing_pixels(cairo_surface_t *img, int x0, cairo_surface_t *ref)
{
  int diff = 0;
  for (int y = 0; y < cairo_image_surface_get_height(ref); y++)
    for (int x = 0; x < cairo_image_surface_get_width(ref); x++) {
      int a[3], b[3];
      pixel(img, x0 + x, y, a);
      pixel(ref, x, y, b);
      diff += distance(a, b) > 0;
    }
  return diff;
}

/* Several figures in one file: each drawn with its own options, exactly as alone. */
static void
test_export_own_options(void)
{
  g_autoptr(SpnSnapshot) s = attention_snapshot();
  spn_history_append(s->history, 1, 4.0, 100, s->spans);
  spn_history_add_valid(s->history, 1, 4.1);
  SpnFigureKind kinds[] = {SPN_FIGURE_SPANS, SPN_FIGURE_MASKS};
  SpnFigureOptions o[2];
  spn_figure_options_init(&o[0]);
  spn_figure_options_init(&o[1]);
  o[0].log_axis = TRUE;   /* the spans panel on a log axis, the masks on their linear one */
  g_autofree char *dir = g_dir_make_tmp("spanscope-figures-XXXXXX", NULL);
  g_autofree char *png = tmp_path(dir, "two.png");
  g_autoptr(GError) error = NULL;
  g_assert_true(spn_figure_export(png, kinds, 2, 2 * W, H, 1.0, s, o, &error));
  g_assert_no_error(error);
  cairo_surface_t *img = cairo_image_surface_create_from_png(png);
  g_assert_cmpint(cairo_image_surface_get_width(img), ==, 2 * W);
  cairo_surface_t *spans = draw(SPN_FIGURE_SPANS, s, &o[0]);
  cairo_surface_t *masks = draw(SPN_FIGURE_MASKS, s, &o[1]);
  SpnFigureOptions log_masks = o[1];
  log_masks.log_axis = TRUE;
  cairo_surface_t *wrong = draw(SPN_FIGURE_MASKS, s, &log_masks);
  g_assert_cmpint(differing_pixels(img, 0, spans), ==, 0);
  g_assert_cmpint(differing_pixels(img, W, masks), ==, 0);
  g_assert_cmpint(differing_pixels(img, W, wrong), >, 100);
  cairo_surface_destroy(img);
  cairo_surface_destroy(spans);
  cairo_surface_destroy(masks);
  cairo_surface_destroy(wrong);
  g_unlink(png);
  g_rmdir(dir);
}

static void
test_export_errors(void)
{
  g_autoptr(SpnSnapshot) s = attention_snapshot();
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  SpnFigureKind k = SPN_FIGURE_SPANS;
  g_autofree char *dir = g_dir_make_tmp("spanscope-figures-XXXXXX", NULL);
  g_autofree char *bmp = tmp_path(dir, "fig.bmp");
  GError *error = NULL;
  g_assert_false(spn_figure_export(bmp, &k, 1, 300, 200, 1, s, &o, &error));
  g_assert_nonnull(error);
  g_assert_true(strstr(error->message, bmp) && strstr(error->message, ".png") &&
                strstr(error->message, ".svg") && strstr(error->message, ".pdf") &&
                strstr(error->message, ".bmp"));
  g_clear_error(&error);
  g_assert_false(g_file_test(bmp, G_FILE_TEST_EXISTS));
  g_autofree char *missing = g_build_filename(dir, "no-such-dir", "fig.png", NULL);
  g_assert_false(spn_figure_export(missing, &k, 1, 300, 200, 1, s, &o, &error));
  g_assert_nonnull(error);
  g_assert_nonnull(strstr(error->message, missing));
  g_clear_error(&error);
  /* a name taken by a folder: refused, the folder kept, no temporary file left beside it */
  g_autofree char *taken = tmp_path(dir, "taken.png");
  g_assert_cmpint(g_mkdir(taken, 0755), ==, 0);
  g_assert_false(spn_figure_export(taken, &k, 1, 300, 200, 1, s, &o, &error));
  g_assert_nonnull(error);
  g_assert_nonnull(strstr(error->message, taken));
  g_clear_error(&error);
  g_assert_true(g_file_test(taken, G_FILE_TEST_IS_DIR));
  g_autoptr(GDir) listing = g_dir_open(dir, 0, NULL);
  g_assert_cmpstr(g_dir_read_name(listing), ==, "taken.png");
  g_assert_null(g_dir_read_name(listing));
  g_rmdir(taken);
  g_rmdir(dir);
}

/* ---- axes: hand-worked cases of the 1-2-5 tick rule and the pixel mapping ---- */

static void
assert_ticks(SpnAxis a, int max_ticks, const double *expected, int n, const char *const *labels)
{
  double t[SPN_AXIS_MAX_TICKS];
  g_assert_cmpint(spn_axis_ticks(&a, max_ticks, t), ==, n);
  for (int i = 0; i < n; i++) {
    g_assert_cmpfloat_with_epsilon(t[i], expected[i], 1e-9 * MAX(1.0, fabs(expected[i])));
    char buf[32];
    spn_axis_format(&a, t, n, t[i], buf);
    g_assert_cmpstr(buf, ==, labels[i]);
  }
}

static void
test_axis_ticks(void)
{
  /* [0, 1024], at most 6: steps of 100 give 11 ticks, 200 give 6 */
  assert_ticks((SpnAxis){0, 1024, FALSE, 0, 1}, 6, (double[]){0, 200, 400, 600, 800, 1000}, 6,
               (const char *[]){"0", "200", "400", "600", "800", "1000"});
  /* [0, 0.3], at most 4: 0.01, 0.02 and 0.05 give too many, 0.1 gives 4, one decimal */
  assert_ticks((SpnAxis){0, 0.3, FALSE, 0, 1}, 4, (double[]){0, 0.1, 0.2, 0.3}, 4,
               (const char *[]){"0.0", "0.1", "0.2", "0.3"});
  /* [0, 50000], at most 5: steps of 20000, labelled in thousands (zero plainly) */
  assert_ticks((SpnAxis){0, 50000, FALSE, 0, 1}, 5, (double[]){0, 20000, 40000}, 3,
               (const char *[]){"0", "20k", "40k"});
  /* a reversed range gives the same ticks */
  assert_ticks((SpnAxis){1024, 0, FALSE, 0, 1}, 6, (double[]){0, 200, 400, 600, 800, 1000}, 6,
               (const char *[]){"0", "200", "400", "600", "800", "1000"});
  /* log [1, 10000], at most 8: every power of ten */
  assert_ticks((SpnAxis){1, 10000, TRUE, 0, 1}, 8, (double[]){1, 10, 100, 1000, 10000}, 5,
               (const char *[]){"1", "10", "100", "1000", "10k"});
  /* log [1, 1e8], at most 3: every third power */
  assert_ticks((SpnAxis){1, 1e8, TRUE, 0, 1}, 3, (double[]){1, 1e3, 1e6}, 3,
               (const char *[]){"1", "1000", "1e6"});
  /* log within a decade, [2, 9]: 1-2-5 steps */
  assert_ticks((SpnAxis){2, 9, TRUE, 0, 1}, 6, (double[]){2, 5}, 2, (const char *[]){"2", "5"});
}

static void
test_axis_mapping(void)
{
  SpnAxis lin = {0, 100, FALSE, 10, 210};
  g_assert_cmpfloat(spn_axis_px(&lin, 25), ==, 60);
  g_assert_cmpfloat(spn_axis_value(&lin, 60), ==, 25);
  SpnAxis up = {0, 1, FALSE, 200, 0};   /* vertical: values grow upwards */
  g_assert_cmpfloat(spn_axis_px(&up, 0), ==, 200);
  g_assert_cmpfloat(spn_axis_px(&up, 0.75), ==, 50);
  SpnAxis log = {1, 1000, TRUE, 0, 300};
  g_assert_cmpfloat_with_epsilon(spn_axis_px(&log, 10), 100, 1e-9);
  g_assert_cmpfloat_with_epsilon(spn_axis_px(&log, 100), 200, 1e-9);
  g_assert_cmpfloat_with_epsilon(spn_axis_value(&log, 150), sqrt(1000), 1e-9);
  for (double v = 1; v <= 1000; v *= 3.7)
    g_assert_cmpfloat_with_epsilon(spn_axis_value(&log, spn_axis_px(&log, v)), v, 1e-9 * v);
}

static void
test_names(void)
{
  for (int k = 0; k < SPN_FIGURE_COUNT; k++) {
    SpnFigureKind back;
    g_assert_true(spn_figure_from_name(spn_figure_name(k), &back));
    g_assert_cmpint(back, ==, k);
    g_assert_nonnull(spn_figure_title(k));
  }
  SpnFigureKind none;
  g_assert_false(spn_figure_from_name("heat", &none));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/figures/colormap-published", test_colormap_published);
  g_test_add_func("/figures/names", test_names);
  g_test_add_func("/figures/axis-ticks", test_axis_ticks);
  g_test_add_func("/figures/axis-mapping", test_axis_mapping);
  g_test_add_func("/figures/spans-bar-heights", test_spans_bar_heights);
  g_test_add_func("/figures/titles-fit", test_titles_fit);
  g_test_add_func("/figures/axis-labels", test_axis_labels);
  g_test_add_func("/figures/spans-small-and-selected", test_spans_small_and_selected);
  g_test_add_func("/figures/attention-cell-colours", test_attention_cell_colours);
  g_test_add_func("/figures/attention-describe", test_attention_describe);
  g_test_add_func("/figures/attention-zoom-and-grid", test_attention_zoom_and_grid);
  g_test_add_func("/figures/attention-tiles", test_attention_tiles);
  g_test_add_func("/figures/attention-persistent-apart", test_attention_persistent_apart);
  g_test_add_func("/figures/attention-without-probe", test_attention_without_probe);
  g_test_add_func("/figures/masks-curve", test_masks_curve);
  g_test_add_func("/figures/masks-measured", test_masks_measured);
  g_test_add_func("/figures/history-and-curves", test_history_and_curves);
  g_test_add_func("/figures/curves-logged-spans", test_curves_logged_spans);
  g_test_add_func("/figures/history-lone-spans", test_history_lone_spans);
  g_test_add_func("/figures/empty-history", test_empty_history);
  g_test_add_func("/figures/lines-in-pieces", test_lines_in_pieces);
  g_test_add_func("/figures/long-history-round-trip", test_long_history_round_trip);
  g_test_add_func("/figures/export-formats", test_export_formats);
  g_test_add_func("/figures/export-errors", test_export_errors);
  g_test_add_func("/figures/export-own-options", test_export_own_options);
  return g_test_run();
}
