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

/* What a runner keeps between its calls. Training keeps every layer's activations for the
 * backward pass. Without a backward pass the layers run one after another over shared work
 * arrays (only the hand-over between two layers needs two buffers); inspection still keeps
 * every layer's attention weights for spn_runner_attention, scoring keeps nothing but the
 * caches. */
typedef enum { RUN_INSPECT, RUN_TRAIN, RUN_SCORE } RunMode;

typedef struct {
  float *cache; /* B×S×d, rows older than `valid` are zero */
  int valid;
  int *window;
  SpnAttnShape sh;
  int nk;       /* key/value rows per stream: wmax + len */
  const float *hin;
  float *past;  /* training: B×wmax×d, the cached inputs the block read (for the weight
                   gradients of keys and values; the cache itself moves on in the forward) */
  float *q, *kv, *state, *ocat, *r1, *h1, *mean1, *rstd1, *u, *r2, *h2, *mean2, *rstd2;
} Layer;

struct _SpnRunner {
  SpnModel *m;
  int B, M, len;
  RunMode mode;
  GPtrArray *arrays; /* every float array below, each once */
  gint32 *x, *y;
  float *h0, *logits;
  Layer *layers;
  /* backward work arrays */
  float *dh, *docat, *dq, *dkv, *dkv_block, *du;
  guint64 dropout_seed;
  gboolean training;
  gboolean full_windows;
};

static float *
runner_alloc(SpnRunner *r, gsize n, gboolean zeroed)
{
  /* untouched pages are never resident, so sizing for the longest span costs no memory until
   * spans grow */
  float *p = zeroed ? g_new0(float, MAX(n, 1)) : g_new(float, MAX(n, 1));
  g_ptr_array_add(r->arrays, p);
  return p;
}

static float **
layer_output_slot(const SpnRunner *r, Layer *L)
{
  return r->m->cfg.pers_mem_size > 0 ? &L->h1 : &L->h2;
}

static void
layer_alloc_work(SpnRunner *r, Layer *L)
{
  const SpnConfig *c = &r->m->cfg;
  int d = c->hid_sz, S = c->attn_span, F = c->inner_hid_sz, K = c->nheads, N = c->pers_mem_size;
  gsize rows = (gsize)r->B * r->M;
  if (r->mode == RUN_TRAIN)
    L->past = runner_alloc(r, (gsize)r->B * S * d, FALSE);
  L->q = runner_alloc(r, rows * d, FALSE);
  L->kv = runner_alloc(r, (gsize)r->B * (S + r->M) * 2 * d, FALSE);
  if (r->mode != RUN_SCORE)
    L->state = runner_alloc(r, rows * K * (S + N + 1), FALSE);
  L->ocat = runner_alloc(r, rows * d, FALSE);
  L->r1 = runner_alloc(r, rows * d, FALSE);
  L->h1 = runner_alloc(r, rows * d, FALSE);
  L->mean1 = runner_alloc(r, rows, FALSE);
  L->rstd1 = runner_alloc(r, rows, FALSE);
  if (N == 0) {
    L->u = runner_alloc(r, rows * F, FALSE);
    L->r2 = runner_alloc(r, rows * d, FALSE);
    L->h2 = runner_alloc(r, rows * d, FALSE);
    L->mean2 = runner_alloc(r, rows, FALSE);
    L->rstd2 = runner_alloc(r, rows, FALSE);
  }
}

/* Points the work arrays of L at those of `from` (caches, windows and shapes stay L's own). */
static void
layer_use_work(Layer *L, const Layer *from)
{
  float *cache = L->cache;
  int *window = L->window;
  *L = *from;
  L->cache = cache;
  L->window = window;
  L->valid = 0;
}

/* Layer l ≥ 1 of a runner without backward pass: the work arrays of layer l − 2 (layer 0 for
 * l = 1, with an output of its own), so a layer never writes the input it reads. */
static void
layer_share_work(SpnRunner *r, int l)
{
  const SpnConfig *c = &r->m->cfg;
  Layer *L = &r->layers[l];
  layer_use_work(L, &r->layers[l - 1]);
  gsize rows = (gsize)r->B * r->M;
  if (l == 1)
    *layer_output_slot(r, L) = runner_alloc(r, rows * c->hid_sz, FALSE);
  if (r->mode == RUN_INSPECT)
    L->state = runner_alloc(r, rows * c->nheads * (c->attn_span + c->pers_mem_size + 1), FALSE);
}

/* A scoring runner working in the arrays of a training runner (layers 0 and 1 of the donor
 * hold everything two consecutive layers need); the attention keeps no state. */
static void
runner_borrow_work(SpnRunner *r, const SpnRunner *donor)
{
  const SpnConfig *c = &r->m->cfg;
  r->h0 = donor->h0;
  r->logits = donor->logits;
  for (int l = 0; l < c->nlayers; l++) {
    Layer *L = &r->layers[l];
    layer_use_work(L, &donor->layers[0]);
    if (l % 2 == 1)
      *layer_output_slot(r, L) = *layer_output_slot(donor, &donor->layers[1]);
    L->past = NULL;
    L->state = NULL;
  }
}

static SpnRunner *
runner_new(SpnModel *m, int batch, int block, RunMode mode, const SpnRunner *donor)
{
  const SpnConfig *c = &m->cfg;
  int d = c->hid_sz, S = c->attn_span, F = c->inner_hid_sz, K = c->nheads;
  gsize rows = (gsize)batch * block;
  SpnRunner *r = g_new0(SpnRunner, 1);
  r->m = m;
  r->B = batch;
  r->M = block;
  r->mode = mode;
  r->arrays = g_ptr_array_new_with_free_func(g_free);
  r->x = g_new(gint32, rows);
  r->y = g_new(gint32, rows);
  r->layers = g_new0(Layer, c->nlayers);
  for (int l = 0; l < c->nlayers; l++) {
    r->layers[l].cache = runner_alloc(r, (gsize)batch * S * d, TRUE);
    r->layers[l].window = g_new0(int, K);
  }
  if (donor != NULL) {
    runner_borrow_work(r, donor);
    return r;
  }
  r->h0 = runner_alloc(r, rows * d, FALSE);
  r->logits = runner_alloc(r, rows * c->vocab_size, FALSE);
  for (int l = 0; l < c->nlayers; l++) {
    if (mode == RUN_TRAIN || l == 0)
      layer_alloc_work(r, &r->layers[l]);
    else
      layer_share_work(r, l);
  }
  if (mode == RUN_TRAIN) {
    r->dh = runner_alloc(r, rows * d, FALSE);
    r->docat = runner_alloc(r, rows * d, FALSE);
    r->dq = runner_alloc(r, rows * d, FALSE);
    r->dkv = runner_alloc(r, (gsize)batch * (S + block) * 2 * d, FALSE);
    r->dkv_block = runner_alloc(r, rows * 2 * d, FALSE);
    r->du = runner_alloc(r, rows * MAX(F, 1), FALSE);
  }
  return r;
}

SpnRunner *
spn_runner_new(SpnModel *m, int batch, int block, gboolean keep_grad_state)
{
  return runner_new(m, batch, block, keep_grad_state ? RUN_TRAIN : RUN_INSPECT, NULL);
}

SpnRunner *
spn_runner_new_eval(SpnModel *m, int batch, int block, SpnRunner *donor)
{
  /* the donor's arrays are sized by its streams and block: a larger evaluation needs its own */
  gboolean fits = donor != NULL && donor->mode == RUN_TRAIN && donor->m->cfg.nlayers >= 2 &&
                  batch <= donor->B && block <= donor->M;
  return runner_new(m, batch, block, RUN_SCORE, fits ? donor : NULL);
}

void
spn_runner_free(SpnRunner *r)
{
  if (r == NULL)
    return;
  for (int l = 0; l < r->m->cfg.nlayers; l++)
    g_free(r->layers[l].window);
  g_free(r->layers);
  g_ptr_array_unref(r->arrays);
  g_free(r->x);
  g_free(r->y);
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
    .pv = lw->pv, .sparse_dkv = TRUE,
  };
  L->nk = wmax + r->len;
}

/* Keys and values of the rows each head reaches (attention.h): the block's rows for all heads
 * in one product per stream, the cached rows head by head, only as many as the head's window,
 * so a long head does not make its neighbours pay. Reads the cache before it moves on. */
static void
layer_project_kv(SpnRunner *r, Layer *L, const float *wkv)
{
  const SpnConfig *c = &r->m->cfg;
  int d = c->hid_sz, S = c->attn_span, K = c->nheads, D = d / K, len = r->len, wmax = L->sh.wmax;
  int tasks = r->B * (K + 1);
#pragma omp parallel for schedule(dynamic, 1)
  for (int t = 0; t < tasks; t++) {
    int b = t / (K + 1), h = t % (K + 1) - 1;
    float *kv = L->kv + (gsize)b * L->nk * 2 * d;
    if (h < 0) {
      spn_gemm1(FALSE, TRUE, len, 2 * d, d, 1.0f, L->hin + (gsize)b * len * d, d, wkv, d, 0.0f,
                kv + (gsize)wmax * 2 * d, 2 * d);
      continue;
    }
    int w = L->window[h];
    const float *x = L->cache + ((gsize)b * S + S - w) * d;
    float *row = kv + (gsize)(wmax - w) * 2 * d;
    spn_gemm1(FALSE, TRUE, w, D, d, 1.0f, x, d, wkv + (gsize)h * D * d, d, 0.0f, row + h * D,
              2 * d);
    spn_gemm1(FALSE, TRUE, w, D, d, 1.0f, x, d, wkv + (gsize)(d + h * D) * d, d, 0.0f,
              row + d + h * D, 2 * d);
  }
}

/* training: the last wmax cached inputs, which the backward pass needs after the cache moved */
static void
layer_save_past(SpnRunner *r, Layer *L)
{
  int d = r->m->cfg.hid_sz, S = r->m->cfg.attn_span, wmax = L->sh.wmax;
#pragma omp parallel for schedule(static)
  for (int b = 0; b < r->B; b++)
    memcpy(L->past + (gsize)b * wmax * d, L->cache + ((gsize)b * S + S - wmax) * d,
           sizeof(float) * wmax * d);
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
  spn_linear_forward(L->q, L->hin, lw->wq, NULL, n, d, d);
  /* proj_key and proj_val are adjacent in the arena: one 2d×d weight */
  layer_project_kv(r, L, lw->wk);
  if (r->mode == RUN_TRAIN)
    layer_save_past(r, L);
  layer_update_cache(r, L, keep);
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

/* Heads (and keys before values) by decreasing window: with dynamic scheduling the threads
 * finish together even when one head is much longer than the others. */
static void
kv_tasks_by_window(const Layer *L, int K, int *order)
{
  for (int t = 0; t < 2 * K; t++) {
    int j = t;
    for (; j > 0 && L->window[order[j - 1] / 2] < L->window[t / 2]; j--)
      order[j] = order[j - 1];
    order[j] = t;
  }
}

/* Gradients through the keys and values: of the weights over every row a head read, of the
 * layer input over the block's rows only (the cached rows are detached). */
static void
layer_backward_kv(SpnRunner *r, Layer *L, const float *wkv, float *dwkv)
{
  const SpnConfig *c = &r->m->cfg;
  int d = c->hid_sz, K = c->nheads, D = d / K, len = r->len, wmax = L->sh.wmax, n = r->B * len;
  /* the block's rows of every head, gathered beside the layer input: two large products */
#pragma omp parallel for schedule(static)
  for (int b = 0; b < r->B; b++)
    memcpy(r->dkv_block + (gsize)b * len * 2 * d, r->dkv + ((gsize)b * L->nk + wmax) * 2 * d,
           sizeof(float) * len * 2 * d);
  spn_gemm(TRUE, FALSE, 2 * d, d, n, 1.0f, r->dkv_block, 2 * d, L->hin, d, 1.0f, dwkv, d);
  spn_gemm(FALSE, FALSE, n, d, 2 * d, 1.0f, r->dkv_block, 2 * d, wkv, d, 1.0f, r->dh, d);
  /* the cached rows, head by head over its own window; every task owns D rows of the weight
   * gradient and sums the streams in order */
  int *order = g_newa(int, 2 * K);
  kv_tasks_by_window(L, K, order);
#pragma omp parallel for schedule(dynamic, 1)
  for (int j = 0; j < 2 * K; j++) {
    int h = order[j] / 2, col = (order[j] % 2) * d + h * D, w = L->window[h];
    for (int b = 0; b < r->B; b++)
      spn_gemm1(TRUE, FALSE, D, d, w, 1.0f, r->dkv + ((gsize)b * L->nk + wmax - w) * 2 * d + col,
                2 * d, L->past + ((gsize)b * wmax + wmax - w) * d, d, 1.0f, dwkv + (gsize)col * d,
                d);
  }
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
  layer_backward_kv(r, L, lw->wk, lg->wk);
}

void
spn_runner_backward(SpnRunner *r)
{
  const SpnConfig *c = &r->m->cfg;
  g_return_if_fail(r->mode == RUN_TRAIN);
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
  g_return_if_fail(r->mode != RUN_SCORE);
  const Layer *L = &r->layers[layer];
  spn_attention_weights(&L->sh, L->state, b, h, i, ctx, pers);
}
