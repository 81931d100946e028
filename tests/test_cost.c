/* The cost model (engine/cost.c) against what the engine does: the FLOPs of every matrix product
 * of a training step, counted as the engine runs them (spn_gemm_count), equal the predicted
 * FLOPs per character as run times B·M exactly, for spans short, long, mixed, at S, without adaptive
 * span, with persistent memory and with a feed-forward sublayer, on 1-4 threads; the cache rows
 * it counts are the rows the runner keeps after a few blocks; the persistent-memory share the
 * history records is the mean of the weights the model used. */
#include <math.h>

#include "cost.h"
#include "fixtures.h"
#include "model.h"
#include "parallel.h"
#include "runner.h"

/* S 96, ramp 8, block 24, 2 streams, 3 layers of 2 heads (head width 8): windows from 9 to S,
 * tiles shorter than the block, as long as the block and cut by its end. */
static void
config_for(SpnConfig *c, int pers)
{
  spn_test_tiny_config(c);
  c->nlayers = 3, c->attn_span = 96, c->block_sz = 24, c->batch_sz = 2, c->vocab_size = 11;
  if (pers > 0)
    c->pers_mem_size = pers, c->inner_hid_sz = 0;
}

static const float ZS[][6] = {
  {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f},
  {0.05f, 0.5f, 1.0f, 0.31f, 0.0f, 0.77f},
  {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f},
};

/* One training step's counted FLOPs per character. */
static double
counted_flops_per_char(SpnModel *m)
{
  const SpnConfig *c = &m->cfg;
  int n = c->batch_sz * c->block_sz;
  g_autofree gint32 *x = g_new(gint32, n), *y = g_new(gint32, n);
  for (int i = 0; i < n; i++)
    x[i] = i % c->vocab_size, y[i] = (i * 7 + 3) % c->vocab_size;
  SpnRunner *r = spn_runner_new(m, c->batch_sz, c->block_sz, TRUE);
  spn_gemm_count(TRUE);
  spn_runner_forward(r, x, y, c->block_sz, TRUE, NULL);
  spn_runner_backward(r);
  gint64 flops = spn_gemm_counted();
  spn_gemm_count(FALSE);
  spn_runner_free(r);
  return (double)flops / n;
}

static void
check_counted(SpnConfig *c, const float *zs)
{
  SpnModel *m = spn_model_new(c);
  int nh = 6; /* config_for's 3 layers × 2 heads */
  g_assert_cmpint(c->nlayers * c->nheads, ==, nh);
  for (int k = 0; k < nh && c->adapt_span; k++)
    m->w.layers[k / c->nheads].z[k % c->nheads] = zs[k];
  float z[6];
  for (int k = 0; k < nh; k++)
    z[k] = c->adapt_span ? m->w.layers[k / c->nheads].z[k % c->nheads] : 1.0f;
  double head[6];
  SpnCost cost = spn_cost(c, z, head);
  /* the step's dense and attention parts, as the New model dialog counts them */
  SpnStepCost step = spn_cost_step(c, z);
  double n = (double)c->batch_sz * c->block_sz;
  g_assert_cmpfloat(fabs((step.dense + step.attention) / n - cost.flops), <=, 1e-12 * cost.flops);
  double sum = 0.0;
  for (int k = 0; k < nh; k++)
    sum += head[k];
  g_assert_cmpfloat(sum, ==, cost.attn_flops);
  for (int t = 1; t <= 4; t++) {
    spn_threads_init(t);
    double counted = counted_flops_per_char(m);
    g_test_message("threads %d: counted %.1f, predicted %.1f FLOPs/char as run (%.1f in the "
                   "band)", t, counted, cost.flops_as_run, cost.flops);
    /* the same integers, divided by B·M in another order: equal to double rounding */
    g_assert_cmpfloat(fabs(counted - cost.flops_as_run), <=, 1e-12 * cost.flops_as_run);
    g_assert_cmpfloat(cost.flops, <=, cost.flops_as_run);
  }
  spn_model_free(m);
}

static void
test_counted(gconstpointer data)
{
  int pers = GPOINTER_TO_INT(data);
  for (int mode = 0; mode < 2; mode++) {
    SpnConfig c;
    config_for(&c, pers);
    c.attn_window = mode == 0 ? SPN_ATTN_WINDOW_HEAD : SPN_ATTN_WINDOW_REFERENCE;
    for (guint i = 0; i < G_N_ELEMENTS(ZS); i++)
      check_counted(&c, ZS[i]);
    c.adapt_span = FALSE;
    check_counted(&c, ZS[0]);
  }
}

/* Every head at S is the baseline, and costs more than any shorter span; without adaptive span
 * the spans do not matter. */
static void
test_full_span(void)
{
  SpnConfig c;
  config_for(&c, 0);
  float at_s[6], mixed[6];
  for (int k = 0; k < 6; k++)
    at_s[k] = 1.0f, mixed[k] = ZS[1][k];
  SpnCost full = spn_cost_full_span(&c, NULL), s = spn_cost(&c, at_s, NULL);
  SpnCost part = spn_cost(&c, mixed, NULL);
  g_assert_cmpfloat(full.flops, ==, s.flops);
  g_assert_cmpfloat(full.cache_bytes, ==, s.cache_bytes);
  g_assert_cmpfloat(full.cache_bytes, ==, 3.0 * c.batch_sz * c.attn_span * c.hid_sz * 4);
  g_assert_cmpfloat(part.attn_flops, <, full.attn_flops);
  g_assert_cmpfloat(part.flops, <, full.flops);
  c.adapt_span = FALSE;
  g_assert_cmpfloat(spn_cost(&c, mixed, NULL).flops, ==, spn_cost_full_span(&c, NULL).flops);
}

/* Spans in characters (the snapshot's) give the cost of z = span / S; unknown and absurd spans
 * (NaN, ±∞, negative, past S) count as the nearest the engine could have, never reaching a
 * cast: NaN and +∞ as S. */
static void
test_spans(void)
{
  SpnConfig c;
  config_for(&c, 0);
  float spans[6] = {NAN, INFINITY, -INFINITY, -5.0f, 1e30f, 48.0f};
  float z[6] = {1.0f, 1.0f, 0.0f, 0.0f, 1.0f, 0.5f};
  double a[6], b[6];
  SpnCost x = spn_cost_of_spans(&c, spans, a), y = spn_cost(&c, z, b);
  g_assert_cmpfloat(x.flops, ==, y.flops);
  g_assert_cmpfloat(x.cache_bytes, ==, y.cache_bytes);
  for (int k = 0; k < 6; k++)
    g_assert_cmpfloat(a[k], ==, b[k]);
}

/* The cache rows counted are those the runner keeps once the text has filled the cache. */
static void
test_cache_rows(void)
{
  SpnConfig c;
  spn_test_tiny_config(&c);
  c.nlayers = 3, c.attn_span = 256, c.block_sz = 64, c.batch_sz = 2, c.vocab_size = 11;
  c.adapt_span_ramp = 16;
  SpnModel *m = spn_model_new(&c);
  const float z[3][2] = {{0.02f, 0.1f}, {0.9f, 0.0f}, {0.3f, 0.5f}};
  for (int l = 0; l < 3; l++)
    for (int h = 0; h < 2; h++)
      m->w.layers[l].z[h] = z[l][h];
  SpnRunner *r = spn_runner_new(m, c.batch_sz, c.block_sz, FALSE);
  int n = c.batch_sz * c.block_sz;
  g_autofree gint32 *x = g_new0(gint32, n);
  for (int k = 0; k < 6; k++)
    spn_runner_forward(r, x, NULL, c.block_sz, FALSE, NULL);
  double bytes = 0.0;
  for (int l = 0; l < 3; l++) {
    g_assert_cmpint(spn_runner_cache_valid(r, l), ==, spn_layer_cache_rows(&c, z[l]));
    bytes += (double)c.batch_sz * spn_runner_cache_valid(r, l) * c.hid_sz * sizeof(float);
  }
  g_assert_cmpint(spn_runner_cache_valid(r, 0), <, c.attn_span);
  g_assert_cmpfloat(spn_cost(&c, &z[0][0], NULL).cache_bytes, ==, bytes);
  spn_runner_free(r);
  spn_model_free(m);
}

/* The share of attention on persistent memory the history records per step is the mean, over
 * streams and queries, of the persistent weights the model used (spn_runner_attention). */
static void
test_persistent_share(void)
{
  SpnConfig c;
  config_for(&c, 5);
  SpnModel *m = spn_model_new(&c);
  for (int k = 0; k < 6; k++)
    m->w.layers[k / 2].z[k % 2] = ZS[1][k];
  SpnRunner *r = spn_runner_new(m, c.batch_sz, c.block_sz, FALSE);
  int n = c.batch_sz * c.block_sz;
  g_autofree gint32 *x = g_new(gint32, n);
  for (int i = 0; i < n; i++)
    x[i] = (i * 5) % c.vocab_size;
  for (int k = 0; k < 3; k++) /* the caches filled: the context has mass too */
    spn_runner_forward(r, x, NULL, c.block_sz, FALSE, NULL);
  float share[6];
  spn_runner_persistent_share(r, share);
  g_autofree float *ctx = g_new(float, c.attn_span);
  float pers[5];
  for (int l = 0; l < 3; l++)
    for (int h = 0; h < 2; h++) {
      double sum = 0.0;
      for (int b = 0; b < c.batch_sz; b++)
        for (int i = 0; i < c.block_sz; i++) {
          spn_runner_attention(r, l, b, h, i, ctx, pers);
          for (int j = 0; j < 5; j++)
            sum += pers[j];
        }
      double expected = sum / n;
      g_test_message("layer %d head %d: persistent share %.4f", l, h, expected);
      g_assert_cmpfloat(expected, >, 0.0);
      g_assert_cmpfloat(expected, <, 1.0);
      g_assert_cmpfloat(fabs(share[l * 2 + h] - expected), <, 1e-6);
    }
  spn_runner_free(r);
  spn_model_free(m);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_data_func("/cost/counted/feed-forward", GINT_TO_POINTER(0), test_counted);
  g_test_add_data_func("/cost/counted/persistent", GINT_TO_POINTER(5), test_counted);
  g_test_add_func("/cost/full-span", test_full_span);
  g_test_add_func("/cost/spans", test_spans);
  g_test_add_func("/cost/cache-rows", test_cache_rows);
  g_test_add_func("/cost/persistent-share", test_persistent_share);
  return g_test_run();
}
