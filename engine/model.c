#include "model.h"

#include <math.h>
#include <string.h>

#include "embedding.h"
#include "layernorm.h"
#include "activation.h"
#include "linear.h"
#include "loss.h"
#include "parallel.h"
#include "rng.h"

SpnModel *
spn_model_new(const SpnConfig *cfg)
{
  SpnModel *m = g_new0(SpnModel, 1);
  m->cfg = *cfg;
  m->layout = spn_layout_new(cfg);
  m->params = g_new0(float, m->layout->total);
  m->grads = g_new0(float, m->layout->total);
  spn_weights_bind(&m->w, cfg, m->layout, m->params);
  spn_weights_bind(&m->g, cfg, m->layout, m->grads);
  SpnRng rng;
  spn_rng_seed(&rng, cfg->seed);
  spn_weights_init(&m->w, cfg, m->layout, &rng);
  return m;
}

void
spn_model_free(SpnModel *m)
{
  if (m == NULL)
    return;
  spn_weights_unbind(&m->w);
  spn_weights_unbind(&m->g);
  spn_layout_free(m->layout);
  g_free(m->params);
  g_free(m->grads);
  g_free(m);
}

void
spn_model_zero_grad(SpnModel *m)
{
  memset(m->grads, 0, sizeof(float) * m->layout->total);
}

double
spn_model_span_loss(const SpnModel *m)
{
  const SpnConfig *c = &m->cfg;
  if (!c->adapt_span)
    return 0.0;
  double total = 0.0;
  for (int l = 0; l < c->nlayers; l++) {
    double mean = 0.0;
    for (int h = 0; h < c->nheads; h++)
      mean += m->w.layers[l].z[h];
    total += c->adapt_span_loss * c->attn_span * (mean / c->nheads);
  }
  return total;
}

void
spn_model_span_loss_backward(SpnModel *m)
{
  const SpnConfig *c = &m->cfg;
  if (!c->adapt_span)
    return;
  float g = (float)(c->adapt_span_loss * c->attn_span / c->nheads);
  for (int l = 0; l < c->nlayers; l++)
    for (int h = 0; h < c->nheads; h++)
      m->g.layers[l].z[h] += g;
}

float
spn_model_span(const SpnModel *m, int layer, int head)
{
  const SpnConfig *c = &m->cfg;
  return c->adapt_span ? m->w.layers[layer].z[head] * c->attn_span : (float)c->attn_span;
}

int
spn_model_cache_size(const SpnModel *m, int layer)
{
  const SpnConfig *c = &m->cfg;
  int S = c->attn_span;
  if (!c->adapt_span || !c->adapt_span_cache)
    return S;
  float zmax = 0.0f;
  for (int h = 0; h < c->nheads; h++)
    zmax = MAX(zmax, m->w.layers[layer].z[h]);
  int current = CLAMP((int)ceilf(zmax * (float)S) + c->adapt_span_ramp, 0, S);
  int trim = MIN(S - 1, S - current) / 64 * 64;
  return MIN(S, S - trim + 64);
}

/* ---- runner ---- */

typedef struct {
  float *cache; /* B×S×d, rows older than `valid` are zero */
  int valid;
  int *window;
  SpnAttnShape sh;
  int nk;       /* pack rows per stream: wmax + len */
  const float *hin;
  float *xp, *q, *kv, *state, *ocat, *r1, *h1, *mean1, *rstd1, *u, *r2, *h2, *mean2, *rstd2;
} Layer;

struct _SpnRunner {
  SpnModel *m;
  int B, M, len;
  gboolean grad;
  gint32 *x, *y;
  float *h0, *logits;
  Layer *layers;
  /* backward work arrays */
  float *dh, *docat, *dq, *dkv, *du;
  guint64 dropout_seed;
  gboolean training;
  gboolean full_windows;
};

static float *
alloc_floats(gsize n)
{
  /* untouched pages are never resident, so sizing for the longest span costs no memory until
   * spans grow */
  return g_new(float, MAX(n, 1));
}

SpnRunner *
spn_runner_new(SpnModel *m, int batch, int block, gboolean keep_grad_state)
{
  const SpnConfig *c = &m->cfg;
  int d = c->hid_sz, S = c->attn_span, F = c->inner_hid_sz, K = c->nheads, N = c->pers_mem_size;
  gsize rows = (gsize)batch * block, pack = (gsize)batch * (S + block);
  SpnRunner *r = g_new0(SpnRunner, 1);
  r->m = m;
  r->B = batch;
  r->M = block;
  r->grad = keep_grad_state;
  r->x = g_new(gint32, rows);
  r->y = g_new(gint32, rows);
  r->h0 = alloc_floats(rows * d);
  r->logits = alloc_floats(rows * c->vocab_size);
  r->layers = g_new0(Layer, c->nlayers);
  for (int l = 0; l < c->nlayers; l++) {
    Layer *L = &r->layers[l];
    L->cache = g_new0(float, (gsize)batch * S * d);
    L->window = g_new0(int, K);
    L->xp = alloc_floats(pack * d);
    L->q = alloc_floats(rows * d);
    L->kv = alloc_floats(pack * 2 * d);
    L->state = alloc_floats(rows * K * (S + N + 1));
    L->ocat = alloc_floats(rows * d);
    L->r1 = alloc_floats(rows * d);
    L->h1 = alloc_floats(rows * d);
    L->mean1 = alloc_floats(rows);
    L->rstd1 = alloc_floats(rows);
    if (N == 0) {
      L->u = alloc_floats(rows * F);
      L->r2 = alloc_floats(rows * d);
      L->h2 = alloc_floats(rows * d);
      L->mean2 = alloc_floats(rows);
      L->rstd2 = alloc_floats(rows);
    }
  }
  if (keep_grad_state) {
    r->dh = alloc_floats(rows * d);
    r->docat = alloc_floats(rows * d);
    r->dq = alloc_floats(rows * d);
    r->dkv = alloc_floats(pack * 2 * d);
    r->du = alloc_floats(rows * MAX(F, 1));
  }
  return r;
}

void
spn_runner_free(SpnRunner *r)
{
  if (r == NULL)
    return;
  for (int l = 0; l < r->m->cfg.nlayers; l++) {
    Layer *L = &r->layers[l];
    float **bufs[] = {&L->cache, &L->xp, &L->q, &L->kv, &L->state, &L->ocat, &L->r1, &L->h1,
                      &L->mean1, &L->rstd1, &L->u, &L->r2, &L->h2, &L->mean2, &L->rstd2};
    for (gsize k = 0; k < G_N_ELEMENTS(bufs); k++)
      g_clear_pointer(bufs[k], g_free);
    g_free(L->window);
  }
  g_free(r->layers);
  g_free(r->x);
  g_free(r->y);
  g_free(r->h0);
  g_free(r->logits);
  g_free(r->dh);
  g_free(r->docat);
  g_free(r->dq);
  g_free(r->dkv);
  g_free(r->du);
  g_free(r);
}

void
spn_runner_reset_cache(SpnRunner *r)
{
  const SpnConfig *c = &r->m->cfg;
  int S = c->attn_span, d = c->hid_sz;
  for (int l = 0; l < c->nlayers; l++) {
    Layer *L = &r->layers[l];
    /* rows older than `valid` are zero already; leaving them untouched keeps unused cache
     * pages out of memory */
    for (int b = 0; b < r->B; b++)
      memset(L->cache + ((gsize)b * S + S - L->valid) * d, 0, sizeof(float) * L->valid * d);
    L->valid = 0;
  }
}

void
spn_runner_set_model(SpnRunner *r, SpnModel *m)
{
  r->m = m;
}

void
spn_runner_set_full_windows(SpnRunner *r, gboolean full)
{
  r->full_windows = full;
}

int
spn_runner_batch(const SpnRunner *r)
{
  return r->B;
}

float *
spn_runner_cache(SpnRunner *r, int layer)
{
  return r->layers[layer].cache;
}

int
spn_runner_cache_valid(const SpnRunner *r, int layer)
{
  return r->layers[layer].valid;
}

void
spn_runner_set_cache_valid(SpnRunner *r, int layer, int valid)
{
  r->layers[layer].valid = CLAMP(valid, 0, r->m->cfg.attn_span);
}

const float *
spn_runner_logprobs(const SpnRunner *r)
{
  return r->logits;
}

static const float *
layer_output(const SpnRunner *r, int l)
{
  const Layer *L = &r->layers[l];
  return r->m->cfg.pers_mem_size > 0 ? L->h1 : L->h2;
}

static void
layer_shape(SpnRunner *r, int l)
{
  const SpnConfig *c = &r->m->cfg;
  const SpnLayerWeights *lw = &r->m->w.layers[l];
  Layer *L = &r->layers[l];
  int wmax = 1;
  for (int h = 0; h < c->nheads; h++) {
    L->window[h] = r->full_windows ? c->attn_span
                   : spn_attention_window(c->adapt_span ? lw->z[h] : 0.0f, c->attn_span,
                                          c->adapt_span_ramp, c->adapt_span);
    wmax = MAX(wmax, L->window[h]);
  }
  L->sh = (SpnAttnShape){
    .B = r->B, .M = r->len, .S = c->attn_span, .d = c->hid_sz, .K = c->nheads,
    .D = spn_config_head_dim(c), .N = c->pers_mem_size, .R = c->adapt_span_ramp,
    .adapt = c->adapt_span, .dropout = r->training ? (float)c->dropout : 0.0f,
    .dropout_seed = r->dropout_seed ^ ((guint64)l * 0x9e3779b97f4a7c15ull),
    .window = L->window, .wmax = wmax, .key_pe = r->m->w.key_pe, .z = lw->z, .pk = lw->pk,
    .pv = lw->pv,
  };
  L->nk = wmax + r->len;
}

/* the last wmax cached inputs, then the block, per stream */
static void
layer_pack(SpnRunner *r, Layer *L)
{
  int d = r->m->cfg.hid_sz, S = r->m->cfg.attn_span, wmax = L->sh.wmax, len = r->len;
#pragma omp parallel for schedule(static)
  for (int b = 0; b < r->B; b++) {
    float *dst = L->xp + (gsize)b * L->nk * d;
    memcpy(dst, L->cache + ((gsize)b * S + S - wmax) * d, sizeof(float) * wmax * d);
    memcpy(dst + (gsize)wmax * d, L->hin + (gsize)b * len * d, sizeof(float) * len * d);
  }
}

/* The cache becomes the last S inputs; only the newest `keep` stay, older rows become zero as
 * in the reference's adaptive cache. */
static void
layer_update_cache(SpnRunner *r, Layer *L, int keep)
{
  int d = r->m->cfg.hid_sz, S = r->m->cfg.attn_span, len = r->len;
  int valid_new = MIN(keep, L->valid + len);
  valid_new = MIN(valid_new, S);
  int from_old = MAX(0, valid_new - len); /* rows kept from the old cache */
  int from_new = valid_new - from_old;    /* rows taken from this block */
#pragma omp parallel for schedule(static)
  for (int b = 0; b < r->B; b++) {
    float *cache = L->cache + (gsize)b * S * d;
    memmove(cache + (gsize)(S - valid_new) * d, cache + (gsize)(S - from_old) * d,
            sizeof(float) * from_old * d);
    memcpy(cache + (gsize)(S - from_new) * d, L->hin + ((gsize)b * len + len - from_new) * d,
           sizeof(float) * from_new * d);
    int stale = MIN(L->valid, S) - valid_new; /* previously valid rows that must now be zero */
    if (stale > 0)
      memset(cache + (gsize)(S - valid_new - stale) * d, 0, sizeof(float) * stale * d);
  }
  L->valid = valid_new;
}

static void
layer_forward(SpnRunner *r, int l)
{
  const SpnConfig *c = &r->m->cfg;
  const SpnLayerWeights *lw = &r->m->w.layers[l];
  Layer *L = &r->layers[l];
  int d = c->hid_sz, F = c->inner_hid_sz, n = r->B * r->len;
  L->hin = l == 0 ? r->h0 : layer_output(r, l - 1);
  int keep = spn_model_cache_size(r->m, l); /* decided by the spans the block starts with */
  layer_shape(r, l);
  layer_pack(r, L);
  spn_linear_forward(L->q, L->hin, lw->wq, NULL, n, d, d);
  /* proj_key and proj_val are adjacent in the arena: one 2d×d weight */
  spn_linear_forward(L->kv, L->xp, lw->wk, NULL, r->B * L->nk, d, 2 * d);
  spn_attention_forward(&L->sh, L->q, L->kv, L->state, L->ocat);
  spn_linear_forward(L->r1, L->ocat, lw->wo, NULL, n, d, d);
#pragma omp parallel for schedule(static)
  for (gsize i = 0; i < (gsize)n * d; i++)
    L->r1[i] += L->hin[i];
  spn_layernorm_forward(L->h1, L->mean1, L->rstd1, L->r1, lw->ln1_g, lw->ln1_b, n, d);
  if (c->pers_mem_size == 0) {
    float p = r->training ? (float)c->dropout : 0.0f;
    spn_linear_forward(L->u, L->h1, lw->fc1_w, lw->fc1_b, n, d, F);
    spn_relu_dropout_forward(L->u, L->u, (gsize)n * F, p, L->sh.dropout_seed + 1);
    spn_linear_forward(L->r2, L->u, lw->fc2_w, lw->fc2_b, n, F, d);
#pragma omp parallel for schedule(static)
    for (gsize i = 0; i < (gsize)n * d; i++)
      L->r2[i] += L->h1[i];
    spn_layernorm_forward(L->h2, L->mean2, L->rstd2, L->r2, lw->ln2_g, lw->ln2_b, n, d);
  }
  layer_update_cache(r, L, keep);
}

double
spn_runner_forward(SpnRunner *r, const gint32 *x, const gint32 *y, int len, gboolean training,
                   float *per_token)
{
  const SpnConfig *c = &r->m->cfg;
  g_return_val_if_fail(len >= 1 && len <= r->M, 0.0);
  int n = r->B * len;
  r->len = len;
  r->training = training;
  memcpy(r->x, x, sizeof(gint32) * n);
  spn_embedding_forward(r->h0, r->m->w.in_emb, r->x, n, c->hid_sz);
  for (int l = 0; l < c->nlayers; l++)
    layer_forward(r, l);
  spn_linear_forward(r->logits, layer_output(r, c->nlayers - 1), r->m->w.out_w, r->m->w.out_b, n,
                     c->hid_sz, c->vocab_size);
  if (y == NULL) {
    /* log-probabilities without a loss: normalise against a dummy target */
    memset(r->y, 0, sizeof(gint32) * n);
    spn_nll_forward(r->logits, r->y, n, c->vocab_size, NULL);
    return 0.0;
  }
  memcpy(r->y, y, sizeof(gint32) * n);
  return spn_nll_forward(r->logits, r->y, n, c->vocab_size, per_token);
}

void
spn_runner_set_dropout_seed(SpnRunner *r, guint64 seed)
{
  r->dropout_seed = seed;
}

static void
add_block_rows(SpnRunner *r, Layer *L, const float *wkv)
{
  /* gradient of the layer input through keys and values: only the block's rows, the cached
   * rows are detached */
  int d = r->m->cfg.hid_sz, len = r->len, wmax = L->sh.wmax;
#pragma omp parallel for schedule(static)
  for (int b = 0; b < r->B; b++)
    spn_gemm1(FALSE, FALSE, len, d, 2 * d, 1.0f, r->dkv + ((gsize)b * L->nk + wmax) * 2 * d, 2 * d,
              wkv, d, 1.0f, r->dh + (gsize)b * len * d, d);
}

static void
layer_backward(SpnRunner *r, int l)
{
  const SpnConfig *c = &r->m->cfg;
  const SpnLayerWeights *lw = &r->m->w.layers[l];
  SpnLayerWeights *lg = &r->m->g.layers[l];
  Layer *L = &r->layers[l];
  int d = c->hid_sz, F = c->inner_hid_sz, n = r->B * r->len;
  if (c->pers_mem_size == 0) {
    float p = r->training ? (float)c->dropout : 0.0f;
    spn_layernorm_backward(r->dh, lg->ln2_g, lg->ln2_b, r->dh, L->r2, L->mean2, L->rstd2,
                           lw->ln2_g, n, d);
    spn_linear_backward(r->du, FALSE, lg->fc2_w, lg->fc2_b, r->dh, L->u, lw->fc2_w, n, F, d);
    spn_relu_dropout_backward(r->du, r->du, L->u, (gsize)n * F, p, L->sh.dropout_seed + 1);
    /* the residual gradient is already in dh: accumulate the FF path onto it */
    spn_linear_backward(r->dh, TRUE, lg->fc1_w, lg->fc1_b, r->du, L->h1, lw->fc1_w, n, d, F);
  }
  spn_layernorm_backward(r->dh, lg->ln1_g, lg->ln1_b, r->dh, L->r1, L->mean1, L->rstd1, lw->ln1_g,
                         n, d);
  spn_linear_backward(r->docat, FALSE, lg->wo, NULL, r->dh, L->ocat, lw->wo, n, d, d);
  spn_attention_backward(&L->sh, L->q, L->kv, L->state, r->docat, r->dq, r->dkv, r->m->g.key_pe,
                         lg->z, lg->pk, lg->pv);
  spn_linear_backward(r->dh, TRUE, lg->wq, NULL, r->dq, L->hin, lw->wq, n, d, d);
  spn_linear_backward(NULL, FALSE, lg->wk, NULL, r->dkv, L->xp, lw->wk, r->B * L->nk, d, 2 * d);
  add_block_rows(r, L, lw->wk);
}

void
spn_runner_backward(SpnRunner *r)
{
  const SpnConfig *c = &r->m->cfg;
  g_return_if_fail(r->grad);
  int n = r->B * r->len;
  spn_nll_backward(r->logits, r->y, n, c->vocab_size);
  spn_linear_backward(r->dh, FALSE, r->m->g.out_w, r->m->g.out_b, r->logits,
                      layer_output(r, c->nlayers - 1), r->m->w.out_w, n, c->hid_sz,
                      c->vocab_size);
  for (int l = c->nlayers - 1; l >= 0; l--)
    layer_backward(r, l);
  spn_embedding_backward(r->m->g.in_emb, r->dh, r->x, n, c->hid_sz);
}

void
spn_runner_attention(const SpnRunner *r, int layer, int b, int h, int i, float *ctx, float *pers)
{
  const Layer *L = &r->layers[layer];
  spn_attention_weights(&L->sh, L->state, b, h, i, ctx, pers);
}
