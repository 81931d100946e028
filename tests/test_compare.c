/* Runs side by side (ui/compare.h), checked by their pixels: each run's bars in its own colour
 * and as tall as its spans, the curves of a run with lower bpc below the other's, the x axes in
 * steps and in characters seen (a run reading twice the characters per step reaches twice as
 * far), the table's rows; the exported files of every format; and the numbers of a run
 * (engine/summary.h) from a history made by hand. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "compare.h"
#include "cost.h"
#include "fixtures.h"
#include "plot.h"
#include "summary.h"

#define W 900
#define H 500

static cairo_surface_t *
draw(SpnCompareKind kind, const SpnCompareRun *runs, int n, const SpnFigureOptions *o)
{
  cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
  cairo_t *cr = cairo_create(img);
  spn_compare_draw(kind, cr, W, H, runs, n, o);
  g_assert_cmpint(cairo_status(cr), ==, CAIRO_STATUS_SUCCESS);
  cairo_destroy(cr);
  cairo_surface_flush(img);
  return img;
}

static void
pixel(cairo_surface_t *img, int x, int y, int rgb[3])
{
  const guint32 *row = (const guint32 *)(cairo_image_surface_get_data(img) +
                                         (gsize)y * cairo_image_surface_get_stride(img));
  rgb[0] = (row[x] >> 16) & 255;
  rgb[1] = (row[x] >> 8) & 255;
  rgb[2] = row[x] & 255;
}

static gboolean
near(const int a[3], const int b[3], int tol)
{
  return abs(a[0] - b[0]) <= tol && abs(a[1] - b[1]) <= tol && abs(a[2] - b[2]) <= tol;
}

/* run i's colour as the figures draw it, 8-bit */
static void
run_rgb(int i, int rgb[3])
{
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  SpnPlot p;
  spn_plot_init(&p, NULL, &o);
  double c[3];
  spn_plot_series_rgb(&p, i, c);
  spn_plot_clear(&p);
  for (int k = 0; k < 3; k++)
    rgb[k] = (int)lround(c[k] * 255);
}

/* The box of the pixels of exactly that colour (±tol) in [x0, x1) × [y0, y1); count 0 if none. */
typedef struct {
  int count, left, right, top, bottom;
} Box;

static Box
find(cairo_surface_t *img, const int rgb[3], int tol, int x0, int x1, int y0, int y1)
{
  Box b = {0, W, -1, H, -1};
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++) {
      int c[3];
      pixel(img, x, y, c);
      if (!near(c, rgb, tol))
        continue;
      b.count++;
      b.left = MIN(b.left, x);
      b.right = MAX(b.right, x);
      b.top = MIN(b.top, y);
      b.bottom = MAX(b.bottom, y);
    }
  return b;
}

static SpnSnapshot *
run_snapshot(int span, float each, int batch, double bpc, int steps)
{
  float spans[4] = {each, each, each, each};
  SpnSnapshot *s = spn_test_snapshot_new(2, 2, span, 32, spans);
  s->cfg.batch_sz = batch;
  s->cfg.block_sz = 64;
  s->cfg.vocab_size = 100;
  for (int i = 1; i <= steps; i++) {
    spn_history_append(s->history, i, bpc, 1000, spans);
    if (i % 10 == 0)
      spn_history_add_valid(s->history, i, bpc + 0.1);
  }
  s->step = steps;
  return s;
}

/* Two runs of the same S: bars of 256 and of 512 of S = 1024, each in its colour, left to right,
 * the second twice as tall (same baseline, linear axis). */
static void
test_spans(void)
{
  SpnSnapshot *a = run_snapshot(1024, 256, 8, 2.0, 20), *b = run_snapshot(1024, 512, 8, 2.0, 20);
  SpnCompareRun runs[] = {{a, "short"}, {b, "long"}};
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  cairo_surface_t *img = draw(SPN_COMPARE_SPANS, runs, 2, &o);
  int ca[3], cb[3];
  run_rgb(0, ca);
  run_rgb(1, cb);
  /* below the legend (whose marks are lines in the same colours): the chart's lower part */
  Box ba = find(img, ca, 2, 0, W, H / 4, H), bb = find(img, cb, 2, 0, W, H / 4, H);
  g_assert_cmpint(ba.count, >, 100);
  g_assert_cmpint(bb.count, >, 100);
  g_assert_cmpint(ba.right, <, bb.left);
  g_assert_cmpint(abs(ba.bottom - bb.bottom), <=, 1);
  double ha = ba.bottom - ba.top + 1, hb = bb.bottom - bb.top + 1;
  g_assert_cmpfloat(fabs(hb / ha - 2.0), <, 0.05);
  cairo_surface_destroy(img);
  spn_snapshot_unref(a);
  spn_snapshot_unref(b);
}

/* The curves of runs a and b (colours 0 and 1) in each of the three panels (step, characters,
 * FLOPs): where each line ends, as a share of the later one's length from the panel's left-most
 * line start; a's box in the steps panel in la, b's in lb. */
static void
curve_ends(const SpnSnapshot *a, const SpnSnapshot *b, double ratio[3], Box *la, Box *lb)
{
  SpnCompareRun runs[] = {{a, "a"}, {b, "b"}};
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  cairo_surface_t *img = draw(SPN_COMPARE_CURVES, runs, 2, &o);
  int ca[3], cb[3];
  run_rgb(0, ca);
  run_rgb(1, cb);
  int third = W / 3;
  for (int panel = 0; panel < 3; panel++) {
    Box ra = find(img, ca, 2, panel * third, (panel + 1) * third, H / 5, H);
    Box rb = find(img, cb, 2, panel * third, (panel + 1) * third, H / 5, H);
    g_assert_cmpint(ra.count, >, 50);
    g_assert_cmpint(rb.count, >, 50);
    double start = MIN(ra.left, rb.left);
    ratio[panel] = (ra.right - start) / (double)(rb.right - start);
    if (panel == 0)
      *la = ra, *lb = rb;
  }
  cairo_surface_destroy(img);
}

/* Run a at 2 bpc, run b at 3 bpc, the same steps but b reads twice the characters a step: in the
 * left panel (steps) both lines end at the same x, a's below b's; in the middle panel
 * (characters) a's line ends half way along b's, and in the right one (FLOPs, all of them in
 * proportion to the characters at equal spans) too. */
static void
test_curves(void)
{
  SpnSnapshot *a = run_snapshot(1024, 100, 8, 2.0, 200), *b = run_snapshot(1024, 100, 16, 3.0, 200);
  double ratio[3];
  Box la, lb;
  curve_ends(a, b, ratio, &la, &lb);
  g_assert_cmpint(la.top, >, lb.bottom);              /* lower bpc is lower on the page */
  g_assert_cmpint(abs(la.right - lb.right), <=, 3);   /* same last step */
  g_assert_cmpfloat(fabs(ratio[1] - 0.5), <, 0.03);
  g_assert_cmpfloat(fabs(ratio[2] - 0.5), <, 0.03);
  spn_snapshot_unref(a);
  spn_snapshot_unref(b);
}

/* Same batch and steps, one run with every head at 100 of S = 1024, the other at 1000: in the
 * steps and characters panels their lines end together, in the FLOPs panel the short spans' ends
 * where its cumulative FLOPs put it against the long spans' (below 1: shorter spans cost less). */
static void
test_curves_flops(void)
{
  SpnSnapshot *a = run_snapshot(1024, 100, 8, 2.0, 200), *b = run_snapshot(1024, 1000, 8, 3.0, 200);
  double ratio[3];
  Box la, lb;
  curve_ends(a, b, ratio, &la, &lb);
  g_assert_cmpfloat(fabs(ratio[0] - 1), <, 0.01);
  g_assert_cmpfloat(fabs(ratio[1] - 1), <, 0.01);
  double want = spn_run_train_flops(&a->cfg, a->history, NULL) /
                spn_run_train_flops(&b->cfg, b->history, NULL);
  g_assert_cmpfloat(want, <, 0.9);
  g_assert_cmpfloat(fabs(ratio[2] - want), <, 0.03);
  spn_snapshot_unref(a);
  spn_snapshot_unref(b);
}

/* Training FLOPs over a history: each step at its row's spans, the steps missing between rows
 * at the later row's, a row whose span is unknown at the last known spans, the steps before the
 * first row at a new model's. */
static void
test_train_flops(void)
{
  float z1[4] = {10, 10, 10, 10}, z2[4] = {100, 200, 300, 400}, bad[4] = {100, NAN, 3, 4};
  SpnSnapshot *s = spn_test_snapshot_new(2, 2, 512, 32, z1);
  s->cfg.vocab_size = 50;
  s->cfg.batch_sz = 4;
  s->cfg.block_sz = 32;
  spn_history_append(s->history, 2, 3.0, 100, z1);   /* steps 1, 2 */
  spn_history_append(s->history, 3, 3.0, 100, z2);   /* step 3 */
  spn_history_append(s->history, 6, 3.0, 100, bad);  /* steps 4..6 at z2 */
  spn_history_append(s->history, 7, 3.0, 100, z1);   /* step 7 */
  float f1[4], f2[4];
  for (int i = 0; i < 4; i++) {
    f1[i] = z1[i] / 512;
    f2[i] = z2[i] / 512;
  }
  double c1 = spn_cost_step_flops(&s->cfg, f1), c2 = spn_cost_step_flops(&s->cfg, f2);
  g_assert_cmpfloat(c1, <, c2);
  double per_row[4];
  double total = spn_run_train_flops(&s->cfg, s->history, per_row);
  double want[4] = {2 * c1, 2 * c1 + c2, 2 * c1 + 4 * c2, 3 * c1 + 4 * c2};
  for (int i = 0; i < 4; i++)
    g_assert_cmpfloat(fabs(per_row[i] / want[i] - 1), <, 1e-12);
  g_assert_cmpfloat(total, ==, per_row[3]);
  /* the summary: a character's FLOPs at the current spans, and with every head at S */
  SpnRunSummary m;
  s->step = 7;
  spn_run_summary(s, &m);
  g_assert_cmpfloat(fabs(m.flops_per_char / (c1 / (4.0 * 32)) - 1), <, 1e-12);
  float ones[4] = {1, 1, 1, 1};
  g_assert_cmpfloat(fabs(m.flops_per_char_full / (spn_cost_step_flops(&s->cfg, ones) / 128) - 1),
                    <, 1e-12);
  g_assert_cmpfloat(m.train_flops, ==, total);
  /* spans from a file may be anything: beyond S they cost S, unknown ones cost nothing known */
  float huge[4] = {1e30f, 1e30f, 1e30f, 1e30f};
  memcpy(s->spans, huge, sizeof huge);
  spn_run_summary(s, &m);
  g_assert_cmpfloat(m.flops_per_char, ==, m.flops_per_char_full);
  s->spans[2] = NAN;
  spn_run_summary(s, &m);
  g_assert_true(isnan(m.flops_per_char));
  spn_snapshot_unref(s);
}

/* A row per run, each with its colour's swatch, one under the other. */
static void
test_table(void)
{
  SpnSnapshot *a = run_snapshot(1024, 100, 8, 2.0, 50), *b = run_snapshot(2048, 100, 8, 3.0, 50);
  SpnSnapshot *c = run_snapshot(1024, 10, 8, 2.5, 50);
  SpnCompareRun runs[] = {{a, "a"}, {b, "b"}, {c, "c"}};
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  cairo_surface_t *img = draw(SPN_COMPARE_TABLE, runs, 3, &o);
  int prev_bottom = -1;
  for (int i = 0; i < 3; i++) {
    int rgb[3];
    run_rgb(i, rgb);
    Box s = find(img, rgb, 2, 0, W, 0, H);
    g_assert_cmpint(s.count, >, 20);
    g_assert_cmpint(s.top, >, prev_bottom);
    prev_bottom = s.bottom;
  }
  cairo_surface_destroy(img);
  for (SpnSnapshot **s = (SpnSnapshot *[]){a, b, c, NULL}; *s; s++)
    spn_snapshot_unref(*s);
}

/* Nothing to compare: a sentence, no crash, and no hover text. */
static void
test_empty(void)
{
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  for (int k = 0; k < SPN_COMPARE_COUNT; k++) {
    cairo_surface_t *img = draw((SpnCompareKind)k, NULL, 0, &o);
    cairo_surface_destroy(img);
    g_assert_null(spn_compare_describe((SpnCompareKind)k, W, H, NULL, 0, &o, W / 2, H / 2));
  }
  SpnCompareKind kind;
  g_assert_true(spn_compare_from_name("table", &kind));
  g_assert_cmpint(kind, ==, SPN_COMPARE_TABLE);
  g_assert_false(spn_compare_from_name("attention", &kind));
}

/* Hovering a bar names the run, layer and head. */
static void
test_describe(void)
{
  SpnSnapshot *a = run_snapshot(1024, 256, 8, 2.0, 20), *b = run_snapshot(1024, 512, 8, 2.0, 20);
  SpnCompareRun runs[] = {{a, "short"}, {b, "long"}};
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  cairo_surface_t *img = draw(SPN_COMPARE_SPANS, runs, 2, &o);
  int cb[3];
  run_rgb(1, cb);
  Box bb = find(img, cb, 2, 0, W, H / 4, H);
  g_autofree char *t = spn_compare_describe(SPN_COMPARE_SPANS, W, H, runs, 2, &o, bb.left + 2,
                                            bb.bottom - 2);
  g_assert_nonnull(t);
  g_assert_nonnull(strstr(t, "long"));
  g_assert_nonnull(strstr(t, "layer 0 head 0"));
  g_assert_nonnull(strstr(t, "512"));
  cairo_surface_destroy(img);
  spn_snapshot_unref(a);
  spn_snapshot_unref(b);
}

/* PNG (of the size asked for), SVG and PDF files; a bad extension is refused. */
static void
test_export(void)
{
  SpnSnapshot *a = run_snapshot(1024, 256, 8, 2.0, 30), *b = run_snapshot(1024, 512, 8, 2.5, 30);
  SpnCompareRun runs[] = {{a, "adaptive run"}, {b, "fixed run"}};
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  g_autofree char *dir = g_dir_make_tmp("spn-compare-XXXXXX", NULL);
  SpnCompareKind kinds[] = {SPN_COMPARE_CURVES, SPN_COMPARE_SPANS, SPN_COMPARE_TABLE};
  const char *names[] = {"c.png", "c.svg", "c.pdf"};
  for (int i = 0; i < 3; i++) {
    g_autofree char *path = g_build_filename(dir, names[i], NULL);
    GError *error = NULL;
    g_assert_true(spn_compare_export(path, kinds, 3, 1200, 800, 1.0, runs, 2, &o, &error));
    g_assert_no_error(error);
    g_autofree char *data = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    g_assert_cmpuint(len, >, 1000);
    if (i == 0) {
      cairo_surface_t *img = cairo_image_surface_create_from_png(path);
      g_assert_cmpint(cairo_image_surface_get_width(img), ==, 1200);
      g_assert_cmpint(cairo_image_surface_get_height(img), ==, 800);
      cairo_surface_destroy(img);
    }
    g_assert_true(i != 1 || g_strstr_len(data, 400, "<svg") != NULL);
    g_assert_true(i != 2 || g_str_has_prefix(data, "%PDF-"));
  }
  g_autofree char *bad = g_build_filename(dir, "c.gif", NULL);
  GError *error = NULL;
  g_assert_false(spn_compare_export(bad, kinds, 1, 100, 100, 1.0, runs, 2, &o, &error));
  g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
  g_error_free(error);
  spn_test_remove_dir(dir);
  spn_snapshot_unref(a);
  spn_snapshot_unref(b);
}

/* The numbers of a run: characters = step × B × M; the last and the lowest validation that
 * count (a superseded measurement does not); the mean of the last 100 train rows; parameters as
 * laid out; spans from the snapshot. */
static void
test_summary(void)
{
  float spans[4] = {10, 20, 30, 40};
  SpnSnapshot *s = spn_test_snapshot_new(2, 2, 512, 32, spans);
  s->cfg.vocab_size = 50;
  s->cfg.batch_sz = 4;
  s->cfg.block_sz = 32;
  for (int i = 1; i <= 300; i++)
    spn_history_append(s->history, i, i <= 200 ? 5.0 : 3.0, 100, spans);
  spn_history_add_valid(s->history, 100, 2.5);
  spn_history_add_valid(s->history, 200, 1.5);
  spn_history_add_valid(s->history, 200, 2.2);   /* supersedes the 1.5 */
  spn_history_add_valid(s->history, 300, 2.4);
  s->step = 300;
  SpnRunSummary m;
  spn_run_summary(s, &m);
  g_assert_cmpint(m.step, ==, 300);
  g_assert_cmpfloat(m.chars, ==, 300.0 * 4 * 32);
  g_assert_cmpfloat(fabs(m.final_valid - 2.4), <, 1e-6);
  g_assert_cmpint(m.final_valid_step, ==, 300);
  g_assert_cmpfloat(fabs(m.best_valid - 2.2), <, 1e-6);
  g_assert_cmpint(m.best_valid_step, ==, 200);
  g_assert_cmpfloat(fabs(m.final_train - 3.0), <, 1e-6);
  g_assert_cmpfloat(m.span_mean, ==, 25.0);
  g_assert_cmpfloat(m.span_max, ==, 40.0);
  /* d 128, 2 heads of 64, F 512, V 50, S 512: embeddings 50·128 + output 50·128 + 50, the
   * position table 64·512, per layer 4·128² + 2 spans + two layer norms 4·128 + FF 2·512·128 +
   * 512 + 128 */
  gsize layer = 4 * 128 * 128 + 2 + 4 * 128 + 2 * 512 * 128 + 512 + 128;
  g_assert_cmpuint(m.params, ==, 50 * 128 + 50 * 128 + 50 + 64 * 512 + 2 * layer);
  spn_snapshot_unref(s);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/compare/spans", test_spans);
  g_test_add_func("/compare/curves", test_curves);
  g_test_add_func("/compare/curves-flops", test_curves_flops);
  g_test_add_func("/compare/train-flops", test_train_flops);
  g_test_add_func("/compare/table", test_table);
  g_test_add_func("/compare/empty", test_empty);
  g_test_add_func("/compare/describe", test_describe);
  g_test_add_func("/compare/export", test_export);
  g_test_add_func("/compare/summary", test_summary);
  return g_test_run();
}
