/* Finite-difference checks of every backward function and of the whole model.
 *
 * Each check compares the analytic gradient of a scalar L = Σ r ⊙ output (r random) with the
 * central difference (L(θ+ε) − L(θ−ε)) / 2ε, ε = 1e-2, at sampled coordinates. The forward passes are
 * float32, so the difference itself carries ~1e-4 relative noise: the tolerance is
 * |analytic − numeric| ≤ 2e-2 · max(|numeric|, scale) + 4e-7·|L|/ε, where scale is 1e-2 of
 * the largest gradient of the tensor and the last term is the float32 rounding of L itself;
 * this still catches a wrong sign, factor or missing term. */
#include <math.h>
#include <string.h>

#include "activation.h"
#include "attention.h"
#include "embedding.h"
#include "layernorm.h"
#include "linear.h"
#include "loss.h"
#include "runner.h"
#include "parallel.h"
#include "rng.h"
#include "fixtures.h"

#define EPS 1e-2f
#define RTOL 2e-2

static SpnRng rng;

static float *
randn(gsize n, float scale)
{
  float *p = g_new(float, n);
  for (gsize i = 0; i < n; i++)
    p[i] = (float)spn_rng_normal(&rng) * scale;
  return p;
}

static double
dot(const float *a, const float *b, gsize n)
{
  double s = 0.0;
  for (gsize i = 0; i < n; i++)
    s += (double)a[i] * b[i];
  return s;
}

static float
max_abs(const float *g, gsize n)
{
  float m = 0.0f;
  for (gsize i = 0; i < n; i++)
    m = MAX(m, fabsf(g[i]));
  return m;
}

typedef double (*LossFn)(gpointer data);

static double
central_difference(float *x, gsize i, float eps, LossFn loss, gpointer data, double *tol_noise)
{
  float saved = x[i];
  x[i] = saved + eps;
  double lp = loss(data);
  x[i] = saved - eps;
  double lm = loss(data);
  x[i] = saved;
  *tol_noise = 4e-7 * fabs(lp) / eps + 1e-7;
  return (lp - lm) / (2.0 * eps);
}

/* Checks `samples` coordinates of x (n values) against grad. A coordinate that misses is
 * measured again with ε/10: a ReLU or mask kink within ε of the point spoils one difference but
 * rarely both. Returns the number checked. */
static int
check_tensor(const char *what, float *x, const float *grad, gsize n, int samples, LossFn loss,
             gpointer data)
{
  float scale = 1e-2f * max_abs(grad, n);
  int checked = 0;
  for (int s = 0; s < samples && n > 0; s++) {
    gsize i = (gsize)spn_rng_below(&rng, n);
    double noise, num = central_difference(x, i, EPS, loss, data, &noise);
    double tol = RTOL * MAX(fabs(num), scale) + noise;
    if (fabs(grad[i] - num) > tol) {
      num = central_difference(x, i, EPS / 10, loss, data, &noise);
      tol = RTOL * MAX(fabs(num), scale) + noise;
    }
    if (fabs(grad[i] - num) > tol)
      g_error("%s[%zu]: analytic %.6g, numeric %.6g (tolerance %.3g)", what, (size_t)i,
              grad[i], num, tol);
    checked++;
  }
  return checked;
}

/* ---- linear ---- */
typedef struct { int n, in, out; float *x, *w, *b, *y, *r; } LinearCase;

static double
linear_loss(gpointer p)
{
  LinearCase *c = p;
  spn_linear_forward(c->y, c->x, c->w, c->b, c->n, c->in, c->out);
  return dot(c->y, c->r, (gsize)c->n * c->out);
}

static void
test_linear(void)
{
  LinearCase c = {.n = 7, .in = 5, .out = 6};
  c.x = randn(c.n * c.in, 1), c.w = randn(c.out * c.in, 1), c.b = randn(c.out, 1);
  c.y = g_new(float, c.n * c.out), c.r = randn(c.n * c.out, 1);
  float *dx = g_new0(float, c.n * c.in), *dw = g_new0(float, c.out * c.in), *db = g_new0(float, c.out);
  spn_linear_backward(dx, FALSE, dw, db, c.r, c.x, c.w, c.n, c.in, c.out);
  g_assert_cmpint(check_tensor("x", c.x, dx, c.n * c.in, 20, linear_loss, &c), ==, 20);
  check_tensor("w", c.w, dw, c.out * c.in, 20, linear_loss, &c);
  check_tensor("b", c.b, db, c.out, 6, linear_loss, &c);
  g_free(c.x), g_free(c.w), g_free(c.b), g_free(c.y), g_free(c.r), g_free(dx), g_free(dw), g_free(db);
}

/* ---- layernorm ---- */
typedef struct { int n, d; float *x, *g, *b, *y, *r, *mean, *rstd; } LnCase;

static double
ln_loss(gpointer p)
{
  LnCase *c = p;
  spn_layernorm_forward(c->y, c->mean, c->rstd, c->x, c->g, c->b, c->n, c->d);
  return dot(c->y, c->r, (gsize)c->n * c->d);
}

static void
test_layernorm(void)
{
  LnCase c = {.n = 5, .d = 12};
  c.x = randn(c.n * c.d, 2), c.g = randn(c.d, 1), c.b = randn(c.d, 1), c.r = randn(c.n * c.d, 1);
  c.y = g_new(float, c.n * c.d), c.mean = g_new(float, c.n), c.rstd = g_new(float, c.n);
  ln_loss(&c);
  float *dx = g_new0(float, c.n * c.d), *dg = g_new0(float, c.d), *db = g_new0(float, c.d);
  spn_layernorm_backward(dx, dg, db, c.r, c.x, c.mean, c.rstd, c.g, c.n, c.d);
  check_tensor("x", c.x, dx, c.n * c.d, 30, ln_loss, &c);
  check_tensor("g", c.g, dg, c.d, 12, ln_loss, &c);
  check_tensor("b", c.b, db, c.d, 12, ln_loss, &c);
  g_free(c.x), g_free(c.g), g_free(c.b), g_free(c.y), g_free(c.r), g_free(c.mean), g_free(c.rstd);
  g_free(dx), g_free(dg), g_free(db);
}

/* ---- relu + dropout ---- */
typedef struct { gsize n; float p; float *x, *y, *r; } ReluCase;

static double
relu_loss(gpointer p)
{
  ReluCase *c = p;
  spn_relu_dropout_forward(c->y, c->x, c->n, c->p, 42);
  return dot(c->y, c->r, c->n);
}

static void
test_relu_dropout(void)
{
  for (int k = 0; k < 2; k++) {
    ReluCase c = {.n = 64, .p = k == 0 ? 0.0f : 0.3f};
    c.x = randn(c.n, 1), c.y = g_new(float, c.n), c.r = randn(c.n, 1);
    for (gsize i = 0; i < c.n; i++) /* keep away from the kink at 0 */
      if (fabsf(c.x[i]) < 0.05f)
        c.x[i] = 0.5f;
    relu_loss(&c);
    float *dx = g_new(float, c.n);
    spn_relu_dropout_backward(dx, c.r, c.y, c.n, c.p, 42);
    check_tensor("x", c.x, dx, c.n, 40, relu_loss, &c);
    if (c.p > 0) { /* about p of the positive units are dropped */
      int dropped = 0, positive = 0;
      for (gsize i = 0; i < c.n; i++)
        if (c.x[i] > 0)
          positive++, dropped += c.y[i] == 0.0f;
      g_assert_cmpint(dropped, >, 0);
      g_assert_cmpint(dropped, <, positive);
    }
    g_free(c.x), g_free(c.y), g_free(c.r), g_free(dx);
  }
}

/* ---- embedding and NLL ---- */
typedef struct { int n, v, d; float *table, *h, *w, *logits; gint32 *ids, *targets; } EmbCase;

static double
emb_nll_loss(gpointer p)
{
  EmbCase *c = p;
  spn_embedding_forward(c->h, c->table, c->ids, c->n, c->d);
  spn_linear_forward(c->logits, c->h, c->w, NULL, c->n, c->d, c->v);
  return spn_nll_forward(c->logits, c->targets, c->n, c->v, NULL);
}

static void
test_embedding_nll(void)
{
  EmbCase c = {.n = 9, .v = 7, .d = 4};
  c.table = randn(c.v * c.d, 1), c.w = randn(c.v * c.d, 1);
  c.h = g_new(float, c.n * c.d), c.logits = g_new(float, c.n * c.v);
  c.ids = g_new(gint32, c.n), c.targets = g_new(gint32, c.n);
  for (int i = 0; i < c.n; i++)
    c.ids[i] = (gint32)spn_rng_below(&rng, c.v), c.targets[i] = (gint32)spn_rng_below(&rng, c.v);
  c.ids[1] = c.ids[4]; /* a repeated token accumulates */
  double loss = emb_nll_loss(&c);
  g_assert_cmpfloat(loss, >, 0.0);
  spn_nll_backward(c.logits, c.targets, c.n, c.v);
  float *dh = g_new0(float, c.n * c.d), *dw = g_new0(float, c.v * c.d), *dt = g_new0(float, c.v * c.d);
  spn_linear_backward(dh, FALSE, dw, NULL, c.logits, c.h, c.w, c.n, c.d, c.v);
  spn_embedding_backward(dt, dh, c.ids, c.n, c.d);
  check_tensor("table", c.table, dt, c.v * c.d, 28, emb_nll_loss, &c);
  check_tensor("w", c.w, dw, c.v * c.d, 28, emb_nll_loss, &c);
  g_free(c.table), g_free(c.w), g_free(c.h), g_free(c.logits), g_free(c.ids), g_free(c.targets);
  g_free(dh), g_free(dw), g_free(dt);
}

/* ---- attention ---- */
typedef struct {
  SpnAttnShape sh;
  int windows[4];
  float *q, *kv, *key_pe, *z, *pk, *pv, *state, *out, *r;
} AttnCase;

static double
attn_loss(gpointer p)
{
  AttnCase *c = p;
  int norm = c->sh.norm_window;
  for (int h = 0; h < c->sh.K; h++) {
    c->windows[h] = spn_attention_window(c->z ? c->z[h] : 0, c->sh.S, c->sh.R, c->sh.adapt);
    if (norm > 0)
      c->windows[h] = MIN(c->windows[h], norm);
    c->sh.wmax = MAX(h == 0 ? 1 : c->sh.wmax, MAX(c->windows[h], norm));
  }
  spn_attention_forward(&c->sh, c->q, c->kv, c->state, c->out);
  return dot(c->out, c->r, (gsize)c->sh.B * c->sh.M * c->sh.d);
}

/* norm: the reference mode's layer window (0: head mode). starve: a factor on the position
 * table's columns beyond head 0's window, so that many of its queries give their span almost
 * no mass and the renormalisation's epsilon, which carries the softmax normaliser over the
 * layer's window into the weights, changes them visibly (in a plain case its share is 1e-8). */
static void
attention_case(gboolean adapt, int N, float dropout, int norm, float starve)
{
  AttnCase c = {0};
  int B = 2, M = 5, S = 9, K = 2, D = 3, d = K * D, R = 3;
  c.sh = (SpnAttnShape){.B = B, .M = M, .S = S, .d = d, .K = K, .D = D, .N = N, .R = R,
                        .adapt = adapt, .dropout = dropout, .dropout_seed = 7,
                        .window = c.windows, .norm_window = norm};
  c.z = g_new(float, K);
  c.z[0] = 0.13f; /* zS = 1.17: mask ramps inside the window */
  c.z[1] = 0.52f; /* zS = 4.68 + R + 1 > S: window is all of S */
  c.sh.z = adapt ? c.z : NULL;
  gsize nk = (gsize)S + M;
  c.q = randn((gsize)B * M * d, 1), c.kv = randn(B * nk * 2 * d, 1), c.key_pe = randn((gsize)D * S, 1);
  c.pk = N ? randn((gsize)K * D * N, 0.6f) : NULL, c.pv = N ? randn((gsize)K * N * D, 0.5f) : NULL;
  c.sh.key_pe = c.key_pe, c.sh.pk = c.pk, c.sh.pv = c.pv;
  for (int j = 0; starve > 0 && j < D; j++)
    for (int col = 0; col < S - (2 + R + 1); col++) /* distances beyond head 0's window */
      c.key_pe[j * S + col] *= starve;
  c.r = randn((gsize)B * M * d, 1);
  c.out = g_new(float, (gsize)B * M * d);
  /* the pack has room for S rows before the block, the most any window needs: sizes stay put
   * across evaluations */
  c.sh.nk = (int)nk;
  c.state = g_new(float, (gsize)B * K * M * (S + N + 1));
  attn_loss(&c);
  g_assert_cmpint(c.sh.wmax, ==, norm > 0 ? norm : S);
  if (adapt)
    g_assert_cmpint(c.windows[0], ==, 2 + R + 1);
  float *dq = g_new(float, (gsize)B * M * d), *dkv = g_new(float, B * nk * 2 * d);
  float *dpe = g_new0(float, (gsize)D * S), *dz = g_new0(float, K);
  float *dpk = N ? g_new0(float, (gsize)K * D * N) : NULL, *dpv = N ? g_new0(float, (gsize)K * N * D) : NULL;
  spn_attention_backward(&c.sh, c.q, c.kv, c.state, c.r, dq, dkv, dpe, adapt ? dz : NULL, dpk, dpv);
  check_tensor("q", c.q, dq, (gsize)B * M * d, 40, attn_loss, &c);
  check_tensor("kv", c.kv, dkv, B * nk * 2 * d, 80, attn_loss, &c);
  check_tensor("key_pe", c.key_pe, dpe, (gsize)D * S, 27, attn_loss, &c);
  if (adapt) {
    check_tensor("z", c.z, dz, K, 4, attn_loss, &c);
    g_assert_cmpfloat(fabsf(dz[0]), >, 0.0f);
  }
  if (N) {
    check_tensor("pk", c.pk, dpk, (gsize)K * D * N, 20, attn_loss, &c);
    check_tensor("pv", c.pv, dpv, (gsize)K * N * D, 20, attn_loss, &c);
  }
  /* queries never see themselves or the future: the newest key row has no gradient */
  for (int b = 0; b < B; b++)
    for (int j = 0; j < 2 * d; j++)
      g_assert_cmpfloat(dkv[(b * nk + c.sh.wmax + M - 1) * 2 * d + j], ==, 0.0f);
  g_free(c.z), g_free(c.q), g_free(c.kv), g_free(c.key_pe), g_free(c.pk), g_free(c.pv);
  g_free(c.r), g_free(c.out), g_free(c.state), g_free(dq), g_free(dkv), g_free(dpe), g_free(dz);
  g_free(dpk), g_free(dpv);
}

static void test_attention_plain(void) { attention_case(FALSE, 0, 0.0f, 0, 0.0f); }
static void test_attention_span(void) { attention_case(TRUE, 0, 0.0f, 0, 0.0f); }
static void test_attention_pers(void) { attention_case(TRUE, 4, 0.0f, 0, 0.0f); }
static void test_attention_pers_nospan(void) { attention_case(FALSE, 4, 0.0f, 0, 0.0f); }
static void test_attention_dropout(void) { attention_case(TRUE, 3, 0.25f, 0, 0.0f); }
/* reference mode: the layer's window (8 of S = 9 distances) for both heads' normalisers */
static void test_attention_ref(void) { attention_case(TRUE, 0, 0.0f, 8, 0.0f); }
static void test_attention_ref_starved(void) { attention_case(TRUE, 0, 0.0f, 8, 12.0f); }
static void test_attention_ref_pers_starved(void) { attention_case(TRUE, 2, 0.0f, 8, 12.0f); }
static void test_attention_ref_dropout(void) { attention_case(TRUE, 3, 0.25f, 8, 12.0f); }
/* head mode starved: the epsilon over the head's own window */
static void test_attention_head_starved(void) { attention_case(TRUE, 2, 0.0f, 0, 12.0f); }

static void
test_mask_values(void)
{
  /* m = 1 up to distance zS+1, then falls linearly to 0 over R more positions */
  int S = 100, R = 10;
  float z = 0.25f; /* zS = 25 exactly in float */
  gboolean pass;
  g_assert_cmpfloat(spn_span_mask(z, S, R, 1, &pass), ==, 1.0f);
  g_assert_cmpfloat(spn_span_mask(z, S, R, 26, &pass), ==, 1.0f);
  g_assert_true(pass);
  g_assert_cmpfloat(spn_span_mask(z, S, R, 27, &pass), ==, 0.9f);
  g_assert_cmpfloat_with_epsilon(spn_span_mask(z, S, R, 31, &pass), 0.5f, 1e-6);
  g_assert_cmpfloat(spn_span_mask(z, S, R, 36, &pass), ==, 0.0f);
  g_assert_true(pass); /* exactly at the lower bound: the clamp still passes the gradient */
  g_assert_cmpfloat(spn_span_mask(z, S, R, 37, &pass), ==, 0.0f);
  g_assert_false(pass);
  g_assert_cmpint(spn_attention_window(z, S, R, TRUE), ==, 36);
  g_assert_cmpint(spn_attention_window(1.0f, S, R, TRUE), ==, S);
  g_assert_cmpint(spn_attention_window(0.3f, S, R, FALSE), ==, S);
}

/* ---- whole model, two blocks so the cache takes part ---- */
typedef struct {
  SpnModel *m;
  SpnRunner *r;
  gint32 *x, *y;
  float **cache0;
  int *valid0;
  int M;
} ModelCase;

static void
restore_caches(ModelCase *c)
{
  const SpnConfig *cfg = &c->m->cfg;
  for (int l = 0; l < cfg->nlayers; l++) {
    memcpy(spn_runner_cache(c->r, l), c->cache0[l],
           sizeof(float) * cfg->batch_sz * cfg->attn_span * cfg->hid_sz);
    spn_runner_set_cache_valid(c->r, l, c->valid0[l]);
  }
}

static double
model_loss(gpointer p)
{
  ModelCase *c = p;
  restore_caches(c);
  int n = c->m->cfg.batch_sz * c->M;
  return spn_runner_forward(c->r, c->x + n, c->y + n, c->M, FALSE, NULL) + spn_model_span_loss(c->m);
}

/* starve: a factor on the position table's columns of distances 10..12, beyond the window of
 * three of the four heads (see attention_case) */
static void
model_case(int N, gboolean adapt, SpnAttnWindow window, float starve)
{
  SpnConfig cfg;
  spn_config_init_desktop(&cfg);
  cfg.nlayers = 2, cfg.hid_sz = 8, cfg.nheads = 2, cfg.inner_hid_sz = 12, cfg.attn_span = 12;
  cfg.adapt_span_ramp = 3, cfg.block_sz = 5, cfg.batch_sz = 2, cfg.vocab_size = 7;
  cfg.pers_mem_size = N, cfg.adapt_span = adapt, cfg.adapt_span_loss = 0.05, cfg.seed = 5;
  cfg.attn_window = window;
  g_assert_true(spn_config_validate(&cfg, NULL));
  ModelCase c = {.M = cfg.block_sz};
  c.m = spn_model_new(&cfg);
  if (adapt) {
    float zs[4] = {0.11f, 0.37f, 0.64f, 0.2f}; /* zS away from integers: no kink within ε */
    for (int l = 0; l < 2; l++)
      for (int h = 0; h < 2; h++)
        c.m->w.layers[l].z[h] = zs[l * 2 + h];
  }
  /* windows 6, 9 | 12, 7 (the reference's layer window is all 12: S < 64 leaves no trim) */
  for (int j = 0; starve > 0 && j < 4; j++)
    for (int col = 0; col < 3; col++)
      c.m->w.key_pe[j * 12 + col] *= starve;
  c.r = spn_runner_new(c.m, cfg.batch_sz, cfg.block_sz, TRUE);
  int n = cfg.batch_sz * cfg.block_sz;
  c.x = g_new(gint32, 2 * n), c.y = g_new(gint32, 2 * n);
  for (int i = 0; i < 2 * n; i++)
    c.x[i] = (gint32)spn_rng_below(&rng, 7), c.y[i] = (gint32)spn_rng_below(&rng, 7);
  spn_runner_forward(c.r, c.x, c.y, c.M, FALSE, NULL);
  c.cache0 = g_new(float *, 2), c.valid0 = g_new(int, 2);
  for (int l = 0; l < 2; l++) {
    c.cache0[l] = g_memdup2(spn_runner_cache(c.r, l), sizeof(float) * 2 * 12 * 8);
    c.valid0[l] = spn_runner_cache_valid(c.r, l);
    g_assert_cmpint(c.valid0[l], ==, 5);
  }
  spn_model_zero_grad(c.m);
  model_loss(&c);
  spn_runner_backward(c.r);
  spn_model_span_loss_backward(c.m);
  int total = 0;
  for (int t = 0; t < c.m->layout->n_tensors; t++) {
    const SpnTensorSpec *s = &c.m->layout->tensors[t];
    total += check_tensor(s->name, c.m->params + s->offset, c.m->grads + s->offset, s->numel,
                          MIN(12, (int)s->numel), model_loss, &c);
  }
  g_assert_cmpint(total, >, 100);
  for (int l = 0; l < 2; l++)
    g_free(c.cache0[l]);
  g_free(c.cache0), g_free(c.valid0), g_free(c.x), g_free(c.y);
  spn_runner_free(c.r);
  spn_model_free(c.m);
}

static void test_model_ff(void) { model_case(0, TRUE, SPN_ATTN_WINDOW_HEAD, 0.0f); }
static void test_model_pers(void) { model_case(3, TRUE, SPN_ATTN_WINDOW_HEAD, 0.0f); }
static void test_model_nospan(void) { model_case(0, FALSE, SPN_ATTN_WINDOW_HEAD, 0.0f); }
static void test_model_ref_ff(void) { model_case(0, TRUE, SPN_ATTN_WINDOW_REFERENCE, 0.0f); }
static void test_model_ref_starved(void) { model_case(0, TRUE, SPN_ATTN_WINDOW_REFERENCE, 6.0f); }
static void test_model_ref_pers_starved(void) { model_case(3, TRUE, SPN_ATTN_WINDOW_REFERENCE, 6.0f); }

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  spn_threads_init(spn_test_threads(2));
  spn_rng_seed(&rng, 2024);
  g_test_add_func("/fd/linear", test_linear);
  g_test_add_func("/fd/layernorm", test_layernorm);
  g_test_add_func("/fd/relu-dropout", test_relu_dropout);
  g_test_add_func("/fd/embedding-nll", test_embedding_nll);
  g_test_add_func("/fd/mask-values", test_mask_values);
  g_test_add_func("/fd/attention-plain", test_attention_plain);
  g_test_add_func("/fd/attention-span", test_attention_span);
  g_test_add_func("/fd/attention-persistent", test_attention_pers);
  g_test_add_func("/fd/attention-persistent-nospan", test_attention_pers_nospan);
  g_test_add_func("/fd/attention-dropout", test_attention_dropout);
  g_test_add_func("/fd/attention-reference", test_attention_ref);
  g_test_add_func("/fd/attention-reference-starved", test_attention_ref_starved);
  g_test_add_func("/fd/attention-reference-persistent-starved", test_attention_ref_pers_starved);
  g_test_add_func("/fd/attention-reference-dropout", test_attention_ref_dropout);
  g_test_add_func("/fd/attention-head-starved", test_attention_head_starved);
  g_test_add_func("/fd/model-ff", test_model_ff);
  g_test_add_func("/fd/model-persistent", test_model_pers);
  g_test_add_func("/fd/model-nospan", test_model_nospan);
  g_test_add_func("/fd/model-reference-ff", test_model_ref_ff);
  g_test_add_func("/fd/model-reference-starved", test_model_ref_starved);
  g_test_add_func("/fd/model-reference-persistent-starved", test_model_ref_pers_starved);
  return g_test_run();
}
