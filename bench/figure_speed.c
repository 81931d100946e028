/* figure_speed — how long each figure takes to draw at 1920×1080 into an image surface, from a
 * synthetic snapshot sized like a wide model after a long run: 4 layers × 4 heads, S = 8192, a
 * probe of 512 queries whose layer 0 heads keep all 8192 distances (the attention heatmap and
 * the masks read those), and 5000 history rows.
 *
 * Prints the median of 30 draws per figure in ms and `figure_ms_max <value>`; with --json one
 * object {"figure_ms": {...}, "figure_ms_max": x}. Times are CPU time of the drawing thread
 * (figures draw on one thread): on a shared machine wall time mostly measures the neighbours;
 * --wall reports wall-clock time instead, --only NAME times one figure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"
#include "figures.h"
#include "fixtures.h"
#include "snapshot.h"

#define LAYERS 4
#define HEADS 4
#define SPAN 8192
#define QUERIES 512
#define ROWS 5000
#define RUNS 30

static const char passage[] =
  "And God said, Let there be light: and there was light. And God saw the light, that it was "
  "good: and God divided the light from the darkness.\n";

/* query i spreads its weight over distances 1..window, decaying with the head's own length */
static void
fill_head(SpnProbeHead *ph, int n, int window, double tau, int pers, GRand *rng)
{
  ph->window = window;
  ph->weights = g_new(float, (gsize)n * window);
  ph->before_start = g_new0(float, n);
  ph->persistent = g_new0(float, n);
  for (int i = 0; i < n; i++) {
    float *w = ph->weights + (gsize)i * window;
    double sum = 0;
    for (int d = 0; d < window; d++) {
      w[d] = (float)(exp(-d / tau) * (0.5 + g_rand_double(rng)));
      sum += w[d];
    }
    double p = pers ? 0.2 * g_rand_double(rng) : 0.0;
    for (int d = 0; d < window; d++) {
      w[d] = (float)(w[d] / sum * (1 - p));
      if (d + 1 > i)
        ph->before_start[i] += w[d];
    }
    ph->persistent[i] = (float)p;
  }
}

static SpnProbe *
make_probe(const SpnConfig *cfg, const float *spans, char **text)
{
  GRand *rng = g_rand_new_with_seed(7);
  SpnProbe *p = spn_probe_new();
  p->n = QUERIES;
  p->nlayers = LAYERS;
  p->nheads = HEADS;
  p->tokens = g_new0(gint32, QUERIES);
  p->offsets = g_new(gsize, QUERIES);
  p->surprisal = g_new(float, QUERIES);
  p->spans = g_memdup2(spans, sizeof(float) * LAYERS * HEADS);
  p->heads = g_new0(SpnProbeHead, LAYERS * HEADS);
  GString *t = g_string_new(NULL);
  for (int i = 0; i < QUERIES; i++) {
    p->offsets[i] = t->len;
    g_string_append_c(t, passage[i % (sizeof passage - 1)]);
    p->surprisal[i] = i ? (float)(4 * g_rand_double(rng)) : NAN;
  }
  for (int l = 0; l < LAYERS; l++)
    for (int h = 0; h < HEADS; h++) {
      float z = spans[l * HEADS + h];
      int window = l == 0 ? SPAN : MIN(SPAN, (int)ceil(z) + cfg->adapt_span_ramp + 1);
      fill_head(&p->heads[l * HEADS + h], QUERIES, window, 3.0 + z / 4, cfg->pers_mem_size, rng);
    }
  *text = g_string_free(t, FALSE);
  g_rand_free(rng);
  return p;
}

static SpnSnapshot *
make_snapshot(void)
{
  SpnConfig cfg;
  spn_config_init_desktop(&cfg);
  cfg.nlayers = LAYERS;
  cfg.nheads = HEADS;
  cfg.attn_span = SPAN;
  cfg.pers_mem_size = 16;
  SpnSnapshot *s = spn_snapshot_new(&cfg);
  /* spans from a few characters to nearly S, as the paper's heads spread out */
  for (int k = 0; k < LAYERS * HEADS; k++)
    s->spans[k] = (float)(4.0 * pow(SPAN / 4.0 * 0.98, k / (double)(LAYERS * HEADS - 1)));
  s->step = ROWS;
  s->corpus = g_strdup("synthetic");
  spn_test_fill_history(s->history, ROWS, s->spans);
  s->probe = make_probe(&cfg, s->spans, &s->text);
  return s;
}

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double
now_ms(gboolean wall)
{
  struct timespec ts;
  clock_gettime(wall ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double
median_ms(cairo_surface_t *target, SpnFigureKind kind, const SpnSnapshot *s,
          const SpnFigureOptions *o, gboolean wall)
{
  double t[RUNS];
  for (int r = 0; r < RUNS; r++) {
    double start = now_ms(wall);
    cairo_t *cr = cairo_create(target);
    spn_figure_draw(kind, cr, 1920, 1080, s, o);
    cairo_destroy(cr);
    cairo_surface_flush(target);
    t[r] = now_ms(wall) - start;
  }
  qsort(t, RUNS, sizeof t[0], cmp_double);
  return t[RUNS / 2];
}

int
main(int argc, char **argv)
{
  gboolean json = FALSE, wall = FALSE;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0)
      json = TRUE;
    else if (strcmp(argv[i], "--wall") == 0)
      wall = TRUE;
    else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
      only = argv[++i];
    else {
      fprintf(stderr, "usage: figure_speed [--json] [--wall] [--only FIGURE]\n");
      return 2;
    }
  }
  g_autoptr(SpnSnapshot) s = make_snapshot();
  cairo_surface_t *target = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1920, 1080);
  struct {
    const char *name;
    SpnFigureKind kind;
    int head;
    gboolean log_color;
  } cases[] = {
    {"spans", SPN_FIGURE_SPANS, -1, FALSE},
    {"history", SPN_FIGURE_HISTORY, -1, FALSE},
    {"masks", SPN_FIGURE_MASKS, -1, FALSE},
    {"attention", SPN_FIGURE_ATTENTION, 0, FALSE},
    {"attention_log", SPN_FIGURE_ATTENTION, 0, TRUE},
    {"attention_grid", SPN_FIGURE_ATTENTION, -1, FALSE},
    {"curves", SPN_FIGURE_CURVES, -1, FALSE},
  };
  double ms[G_N_ELEMENTS(cases)], worst = 0;
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    ms[i] = NAN;
    if (only && strcmp(only, cases[i].name) != 0)
      continue;
    SpnFigureOptions o;
    spn_figure_options_init(&o);
    o.head = cases[i].head;
    o.log_color = cases[i].log_color;
    o.query = 300;
    ms[i] = median_ms(target, cases[i].kind, s, &o, wall);
    worst = MAX(worst, ms[i]);
    if (!json)
      printf("%-15s %7.2f ms\n", cases[i].name, ms[i]);
  }
  if (json) {
    printf("{\"figure_ms\": {");
    gboolean first = TRUE;
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
      if (!isnan(ms[i])) {
        printf("%s\"%s\": %.3f", first ? "" : ", ", cases[i].name, ms[i]);
        first = FALSE;
      }
    printf("}, \"figure_ms_max\": %.3f}\n", worst);
  } else {
    printf("figure_ms_max %.3f\n", worst);
  }
  cairo_surface_destroy(target);
  return 0;
}
