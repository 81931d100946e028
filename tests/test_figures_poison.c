/* test_figures_poison.c — every figure over data that is not finite (NaN, ±Inf) or absurd (±1e30,
 * negative spans and weights): drawn as "no data", never used as an index or cast to an integer
 * (the sanitizer job runs this under UBSan, which reports such a cast), every option and hover
 * position tried. A heatmap cell of a NaN weight has the palette's no-data colour. */
#include <math.h>
#include <string.h>

#include "figures.h"
#include "fixtures.h"

#define W 640
#define H 400

static const float poisons[] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, -5.0f, 0.0f};

static const char text[] = "Though I speak with the tongues of men and of angels.";

/* A snapshot of 2 layers × 2 heads whose every number is `bad` somewhere and plausible
 * elsewhere: spans, a history of 40 rows, the probe's weights, masses and surprisal. */
static SpnSnapshot *
poisoned_snapshot(float bad, int variant)
{
  float spans[4] = {bad, 12.0f, 300.0f, bad};
  SpnSnapshot *s = spn_test_snapshot_new(2, 2, 1024, 32, spans);
  s->cfg.pers_mem_size = variant % 2 ? 4 : 0;
  for (int i = 0; i < 40; i++) {
    float row[4] = {i % 3 ? 10.0f * i : bad, bad, 5.0f, i == 39 ? bad : 1.0f};
    gint64 step = variant == 2 && i == 20 ? G_MININT64 : i + 1;
    spn_history_append(s->history, step, i % 5 ? 3.0 - i * 0.01 : bad, i % 2 ? bad : 1000.0,
                       row);
    if (i % 7 == 0)
      spn_history_add_valid(s->history, step, bad);
  }
  int window = 24;
  SpnProbe *p = spn_test_probe_new(text, 2, 2, spans, window);
  int n = p->n;
  for (int i = 0; i < n; i++)
    p->surprisal[i] = i % 4 ? 2.0f : bad;
  for (int k = 0; k < 4; k++) {
    SpnProbeHead *h = &p->heads[k];
    for (int i = 0; i < n; i++) {
      for (int d = 0; d < window; d++)
        h->weights[(gsize)i * window + d] = (i + d + k) % 5 ? 0.03f : bad;
      h->before_start[i] = i % 3 ? 0.1f : bad;
      h->persistent[i] = i % 2 ? bad : 0.2f;
    }
  }
  s->text = g_strdup(text);
  s->probe = p;
  return s;
}

static void
draw_all(const SpnSnapshot *s, const SpnFigureOptions *o)
{
  cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
  cairo_t *cr = cairo_create(img);
  for (int k = 0; k < SPN_FIGURE_COUNT; k++) {
    spn_figure_draw(k, cr, W, H, s, o);
    g_assert_cmpint(cairo_status(cr), ==, CAIRO_STATUS_SUCCESS);
    /* hover over a grid of points that falls on bars, curves, cells and labels */
    for (double x = 3; x < W; x += 131)
      for (double y = 5; y < H; y += 97) {
        g_free(spn_figure_describe(k, W, H, s, o, x, y));
        int q, key;
        spn_figure_attention_cell(W, H, s, o, x, y, &q, &key);
        SpnAttentionTile tile;
        spn_figure_attention_tile(W, H, s, o, x, y, &tile);
      }
  }
  cairo_destroy(cr);
  cairo_surface_destroy(img);
}

static void
test_every_figure(void)
{
  for (gsize b = 0; b < G_N_ELEMENTS(poisons); b++) {
    for (int variant = 0; variant < 3; variant++) {
      g_autoptr(SpnSnapshot) s = poisoned_snapshot(poisons[b], variant);
      SpnFigureOptions o;
      spn_figure_options_init(&o);
      /* every option over the first variant, the defaults over the others */
      for (int pass = 0; pass < (variant == 0 ? 4 : 1); pass++) {
        o.log_axis = pass & 1;
        o.log_color = pass & 1;
        o.dark = pass & 2;
        o.head = pass < 2 ? -1 : 1;
        o.layer = pass % 2;
        o.query = pass == 3 ? 7 : -1;
        o.smoothing = pass == 2 ? 0.9 : 0.0;
        draw_all(s, &o);
      }
      /* a zoomed attention view whose window itself is absurd */
      o.q0 = poisons[b], o.q1 = 20, o.k0 = -3, o.k1 = poisons[b];
      if (variant == 0)
        draw_all(s, &o);
    }
  }
}

/* A NaN or infinite weight is a cell of the no-data colour, not a colour of the map. */
static void
test_nan_cell_colour(void)
{
  for (gsize b = 0; b < 3; b++) {
    g_autoptr(SpnSnapshot) s = poisoned_snapshot(0.03f, 0);
    SpnProbeHead *h = &s->probe->heads[0];
    int n = s->probe->n, window = h->window;
    for (int i = 0; i < n; i++)
      for (int d = 0; d < window; d++)
        h->weights[(gsize)i * window + d] = poisons[b];
    SpnFigureOptions o;
    spn_figure_options_init(&o);
    o.layer = 0, o.head = 0;
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(img);
    spn_figure_draw(SPN_FIGURE_ATTENTION, cr, W, H, s, &o);
    cairo_surface_flush(img);
    /* the cell of query n-1 at distance 1 (key n-2), placed through the tile's geometry */
    SpnAttentionTile tile;
    g_assert_true(spn_figure_attention_tile(W, H, s, &o, W / 2.0, H / 2.0, &tile));
    double x = tile.x0 + (n - 2 + 0.5 - tile.k0) / (tile.k1 - tile.k0) * (tile.x1 - tile.x0);
    double y = tile.y0 + (n - 1 + 0.5 - tile.q0) / (tile.q1 - tile.q0) * (tile.y1 - tile.y0);
    int q, k;
    g_assert_true(spn_figure_attention_cell(W, H, s, &o, x, y, &q, &k));
    g_assert_cmpint(q, ==, n - 1);
    g_assert_cmpint(k, ==, n - 2);
    const guint8 *data = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    guint32 px = *(const guint32 *)(data + (gsize)y * stride + 4 * (gsize)x) & 0xffffff;
    /* the light palette's no-data grey (plot.c: 0.95, 0.95, 0.95) */
    g_assert_cmphex(px, ==, 0xf2f2f2);
    cairo_destroy(cr);
    cairo_surface_destroy(img);
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/figures-poison/every-figure", test_every_figure);
  g_test_add_func("/figures-poison/nan-cell-colour", test_nan_cell_colour);
  return g_test_run();
}
