#include "runner.h"

#include <omp.h>
#include <string.h>

#include "activation.h"
#include "embedding.h"
#include "layernorm.h"
#include "linear.h"
#include "loss.h"
#include "parallel.h"

/* What a runner keeps between its calls. Training keeps every layer's activations for the
 * backward pass. Without a backward pass the layers run one after another over one set of work
 * arrays (a layer reads its input for the last time before it writes its output, so the two
 * may be the same array); inspection still keeps every layer's attention weights for
 * spn_runner_attention, scoring keeps nothing but the caches. */
typedef enum { RUN_INSPECT, RUN_TRAIN, RUN_SCORE } RunMode;

typedef struct {
  float *cache; /* B×S×d, rows older than `valid` are zero */
  int valid;
  int valid_next; /* after the block being run */
  int *window;
  SpnAttnShape sh;
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
  float *h0, *logits, *nll;
  Layer *layers;
  /* backward work arrays: dh[2] the gradients of a layer's output and input (in turn);
   * g2, dh1 and g1 those of r2, h1 and r1 */
  float *dh[2], *g2, *dh1, *g1, *dq, *dkv, *dkv_block, *du;
  SpnAttnSlots slots;
  gsize slots_capacity;
  guint64 dropout_seed;
  gboolean training;
  gboolean full_windows;
};

/* Key/value rows per stream, the same in every layer: layers that share one array (without
 * a backward pass) keep stream b at the same place, so a thread still reading its streams in
 * layer l never meets another thread writing its own in layer l + 1. */
static int
kv_rows(const SpnRunner *r)
{
  return r->m->cfg.attn_span + r->M;
}

static float *
runner_alloc(SpnRunner *r, gsize n, gboolean zeroed)
{
  /* untouched pages are never resident, so sizing for the longest span costs no memory until
   * spans grow */
  float *p = zeroed ? g_new0(float, MAX(n, 1)) : g_new(float, MAX(n, 1));
  g_ptr_array_add(r->arrays, p);
  return p;
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
  L->kv = runner_alloc(r, (gsize)r->B * kv_rows(r) * 2 * d, FALSE);
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

/* Layer l ≥ 1 of a runner without backward pass: the work arrays of layer 0, and with
 * inspection attention weights of its own. */
static void
layer_share_work(SpnRunner *r, int l)
{
  const SpnConfig *c = &r->m->cfg;
  Layer *L = &r->layers[l];
  layer_use_work(L, &r->layers[0]);
  gsize rows = (gsize)r->B * r->M;
  if (r->mode == RUN_INSPECT)
    L->state = runner_alloc(r, rows * c->nheads * (c->attn_span + c->pers_mem_size + 1), FALSE);
}

/* A scoring runner working in the arrays of layer 0 of a training runner; the attention keeps
 * no state. */
static void
runner_borrow_work(SpnRunner *r, const SpnRunner *donor)
{
  r->h0 = donor->h0;
  r->logits = donor->logits;
  for (int l = 0; l < r->m->cfg.nlayers; l++) {
    Layer *L = &r->layers[l];
    layer_use_work(L, &donor->layers[0]);
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
  r->nll = runner_alloc(r, rows, FALSE);
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
    for (int k = 0; k < 2; k++)
      r->dh[k] = runner_alloc(r, rows * d, FALSE);
    r->g1 = runner_alloc(r, rows * d, FALSE);
    r->dq = runner_alloc(r, rows * d, FALSE);
    r->dkv = runner_alloc(r, (gsize)batch * kv_rows(r) * 2 * d, FALSE);
    r->dkv_block = runner_alloc(r, rows * 2 * d, FALSE);
    r->slots.z = runner_alloc(r, (gsize)batch * K, FALSE);
    if (c->pers_mem_size == 0) {
      r->g2 = runner_alloc(r, rows * d, FALSE);
      r->dh1 = runner_alloc(r, rows * d, FALSE);
      r->du = runner_alloc(r, rows * F, FALSE);
    }
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
  gboolean fits = donor != NULL && donor->mode == RUN_TRAIN && batch <= donor->B &&
                  block <= donor->M;
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
  g_free(r->slots.mem);
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
spn_runner_set_full_windows(SpnRunner *r, gboolean full)
{
  r->full_windows = full;
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

/* Everything of layer l a forward pass decides before the threads start: windows, shapes,
 * input, and the cache length after this block. */
static void
layer_prepare(SpnRunner *r, int l)
{
  const SpnConfig *c = &r->m->cfg;
  const SpnLayerWeights *lw = &r->m->w.layers[l];
  Layer *L = &r->layers[l];
  int S = c->attn_span, wmax = 1;
  /* reference mode: every head's softmax over the layer's trimmed window, as the reference */
  int norm = c->attn_window == SPN_ATTN_WINDOW_REFERENCE && c->adapt_span
                 ? S - spn_model_trim(r->m, l)
                 : 0;
  for (int h = 0; h < c->nheads; h++) {
    int own = spn_attention_window(c->adapt_span ? lw->z[h] : 0.0f, S, c->adapt_span_ramp,
                                   c->adapt_span);
    if (r->full_windows)
      L->window[h] = norm > 0 ? norm : S;
    else
      L->window[h] = norm > 0 ? MIN(own, norm) : own;
    wmax = MAX(wmax, MAX(L->window[h], norm));
  }
  L->sh = (SpnAttnShape){
    .B = r->B, .M = r->len, .S = c->attn_span, .d = c->hid_sz, .K = c->nheads,
    .D = spn_config_head_dim(c), .N = c->pers_mem_size, .R = c->adapt_span_ramp,
    .adapt = c->adapt_span, .dropout = r->training ? (float)c->dropout : 0.0f,
    .dropout_seed = r->dropout_seed ^ ((guint64)l * 0x9e3779b97f4a7c15ull),
    .window = L->window, .norm_window = norm, .wmax = wmax, .key_pe = r->m->w.key_pe, .z = lw->z, .pk = lw->pk,
    .pv = lw->pv, .sparse_dkv = TRUE, .nk = kv_rows(r),
  };
  L->hin = l == 0 ? r->h0 : layer_output(r, l - 1);
  /* decided by the spans the block starts with */
  int keep = spn_model_cache_size(r->m, l);
  L->valid_next = MIN(MIN(keep, L->valid + r->len), c->attn_span);
}

/* The streams one thread of a pass works on, and their rows. The forward pass and the input
 * gradients are row- or stream-wise, so a thread runs its streams through every layer without
 * waiting for the others; only the parameter gradients, sums over all rows, need them all. */
typedef struct {
  int b0, b1;
  gsize r0;   /* first row, b0·len */
  int rows;   /* (b1 − b0)·len */
} Part;

static Part
thread_part(const SpnRunner *r)
{
  int t = omp_get_thread_num(), T = omp_get_num_threads();
  Part p = {.b0 = r->B * t / T, .b1 = r->B * (t + 1) / T};
  p.r0 = (gsize)p.b0 * r->len;
  p.rows = (p.b1 - p.b0) * r->len;
  return p;
}

/* The cached rows a key/value task reads: task 2h the keys of head h (its score window), task
 * 2h + 1 its values (its window). */
static int
kv_task_rows(const Layer *L, int task)
{
  return task % 2 == 0 ? spn_attention_score_window(&L->sh, task / 2) : L->window[task / 2];
}

/* Keys and values of the rows each head reaches (attention.h): the block's rows for all heads
 * in one product per stream, the cached rows head by head, only as many as the head scores
 * (keys) and weighs (values), so a long head does not make its neighbours pay. Reads the cache
 * before it moves on. */
static void
layer_project_kv(SpnRunner *r, Layer *L, const float *wkv, const Part *p)
{
  const SpnConfig *c = &r->m->cfg;
  int d = c->hid_sz, S = c->attn_span, K = c->nheads, D = d / K, len = r->len, wmax = L->sh.wmax;
  for (int b = p->b0; b < p->b1; b++) {
    float *kv = L->kv + (gsize)b * L->sh.nk * 2 * d;
    spn_gemm1(FALSE, TRUE, len, 2 * d, d, 1.0f, L->hin + (gsize)b * len * d, d, wkv, d, 0.0f,
              kv + (gsize)wmax * 2 * d, 2 * d);
    for (int task = 0; task < 2 * K; task++) {
      int h = task / 2, col = (task % 2) * d + h * D, w = kv_task_rows(L, task);
      spn_gemm1(FALSE, TRUE, w, D, d, 1.0f, L->cache + ((gsize)b * S + S - w) * d, d,
                wkv + (gsize)col * d, d, 0.0f, kv + (gsize)(wmax - w) * 2 * d + col, 2 * d);
    }
  }
}

/* The cache becomes the last S inputs; only the newest valid_next stay, older rows become zero
 * as in the reference's adaptive cache. Training first saves the last wmax cached inputs, which
 * the backward pass needs after the cache moved on. */
static void
layer_update_cache(SpnRunner *r, Layer *L, const Part *p)
{
  int d = r->m->cfg.hid_sz, S = r->m->cfg.attn_span, len = r->len, wmax = L->sh.wmax;
  int valid_new = L->valid_next;
  int from_old = MAX(0, valid_new - len); /* rows kept from the old cache */
  int from_new = valid_new - from_old;    /* rows taken from this block */
  int stale = MIN(L->valid, S) - valid_new; /* previously valid rows that must now be zero */
  for (int b = p->b0; b < p->b1; b++) {
    float *cache = L->cache + (gsize)b * S * d;
    if (L->past != NULL)
      memcpy(L->past + (gsize)b * wmax * d, cache + (gsize)(S - wmax) * d,
             sizeof(float) * wmax * d);
    memmove(cache + (gsize)(S - valid_new) * d, cache + (gsize)(S - from_old) * d,
            sizeof(float) * from_old * d);
    memcpy(cache + (gsize)(S - from_new) * d, L->hin + ((gsize)b * len + len - from_new) * d,
           sizeof(float) * from_new * d);
    if (stale > 0)
      memset(cache + (gsize)(S - valid_new - stale) * d, 0, sizeof(float) * stale * d);
  }
}

/* Layer l over the streams of part p (the ops' own parallel regions run on this thread). */
static void
layer_forward(SpnRunner *r, int l, const Part *p)
{
  const SpnConfig *c = &r->m->cfg;
  const SpnLayerWeights *lw = &r->m->w.layers[l];
  Layer *L = &r->layers[l];
  int d = c->hid_sz, F = c->inner_hid_sz, n = p->rows;
  gsize r0 = p->r0;
  const float *hin = L->hin + r0 * d;
  float *h1 = L->h1 + r0 * d;
  spn_linear_forward(L->q + r0 * d, hin, lw->wq, NULL, n, d, d);
  /* proj_key and proj_val are adjacent in the arena: one 2d×d weight */
  layer_project_kv(r, L, lw->wk, p);
  layer_update_cache(r, L, p);
  spn_attention_forward_streams(&L->sh, p->b0, p->b1, L->q, L->kv, L->state, L->ocat);
  spn_linear_forward(L->r1 + r0 * d, L->ocat + r0 * d, lw->wo, NULL, n, d, d);
  spn_residual_layernorm_forward(h1, L->mean1 + r0, L->rstd1 + r0, L->r1 + r0 * d, hin,
                                 lw->ln1_g, lw->ln1_b, n, d);
  if (c->pers_mem_size == 0) {
    float drop = r->training ? (float)c->dropout : 0.0f;
    float *u = L->u + r0 * F;
    spn_linear_forward(u, h1, lw->fc1_w, lw->fc1_b, n, d, F);
    spn_relu_dropout_forward_at(u, u, (gsize)n * F, r0 * F, drop, L->sh.dropout_seed + 1);
    spn_linear_forward(L->r2 + r0 * d, u, lw->fc2_w, lw->fc2_b, n, F, d);
    spn_residual_layernorm_forward(L->h2 + r0 * d, L->mean2 + r0, L->rstd2 + r0,
                                   L->r2 + r0 * d, h1, lw->ln2_g, lw->ln2_b, n, d);
  }
}

/* The embedding, every layer and the log-probabilities of part p; per-token NLLs into nll. */
static void
forward_part(SpnRunner *r, const Part *p, float *nll)
{
  const SpnConfig *c = &r->m->cfg;
  int d = c->hid_sz, V = c->vocab_size;
  spn_embedding_forward(r->h0 + p->r0 * d, r->m->w.in_emb, r->x + p->r0, p->rows, d);
  for (int l = 0; l < c->nlayers; l++)
    layer_forward(r, l, p);
  float *logits = r->logits + p->r0 * V;
  spn_linear_forward(logits, layer_output(r, c->nlayers - 1) + p->r0 * d, r->m->w.out_w,
                     r->m->w.out_b, p->rows, d, V);
  spn_nll_forward(logits, r->y + p->r0, p->rows, V, nll + p->r0);
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
  /* without targets the log-probabilities are normalised against a dummy target */
  if (y != NULL)
    memcpy(r->y, y, sizeof(gint32) * n);
  else
    memset(r->y, 0, sizeof(gint32) * n);
  for (int l = 0; l < c->nlayers; l++)
    layer_prepare(r, l);
  float *nll = per_token != NULL ? per_token : r->nll;
#pragma omp parallel
  {
    Part p = thread_part(r);
    forward_part(r, &p, nll);
  }
  for (int l = 0; l < c->nlayers; l++)
    r->layers[l].valid = r->layers[l].valid_next;
  return y != NULL ? spn_nll_mean(nll, n) : 0.0;
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
    for (; j > 0 && kv_task_rows(L, order[j - 1]) < kv_task_rows(L, t); j--)
      order[j] = order[j - 1];
    order[j] = t;
  }
}

/* Input gradients of layer l over part p: from dh_in (the gradient of the layer's output) to
 * dh_out (of its input), leaving on the way what the parameter gradients need. */
static void
layer_backward_part(SpnRunner *r, int l, const Part *p)
{
  const SpnConfig *c = &r->m->cfg;
  const SpnLayerWeights *lw = &r->m->w.layers[l];
  Layer *L = &r->layers[l];
  int d = c->hid_sz, F = c->inner_hid_sz, n = p->rows, wmax = L->sh.wmax, len = r->len;
  gsize r0 = p->r0;
  const float *dh_in = r->dh[(l + 1) % 2] + r0 * d;
  float *dh_out = r->dh[l % 2] + r0 * d, *g1 = r->g1 + r0 * d, *dq = r->dq + r0 * d;
  const float *dh1 = dh_in; /* the gradient of h1, the attention sublayer's output */
  if (c->pers_mem_size == 0) {
    float drop = r->training ? (float)c->dropout : 0.0f;
    float *g2 = r->g2 + r0 * d, *du = r->du + r0 * F;
    spn_layernorm_backward_dx(g2, dh_in, L->r2 + r0 * d, L->mean2 + r0, L->rstd2 + r0,
                              lw->ln2_g, n, d);
    spn_gemm1(FALSE, FALSE, n, F, d, 1.0f, g2, d, lw->fc2_w, F, 0.0f, du, F);
    spn_relu_dropout_backward_at(du, du, L->u + r0 * F, (gsize)n * F, r0 * F, drop,
                                 L->sh.dropout_seed + 1);
    /* the residual path, then the FF path onto it */
    memcpy(r->dh1 + r0 * d, g2, sizeof(float) * n * d);
    spn_gemm1(FALSE, FALSE, n, d, F, 1.0f, du, F, lw->fc1_w, d, 1.0f, r->dh1 + r0 * d, d);
    dh1 = r->dh1 + r0 * d;
  }
  spn_layernorm_backward_dx(g1, dh1, L->r1 + r0 * d, L->mean1 + r0, L->rstd1 + r0, lw->ln1_g, n,
                            d);
  /* the gradient of the heads' outputs lives in dh_out until dh_out is written */
  float *docat = r->dh[l % 2];
  spn_gemm1(FALSE, FALSE, n, d, d, 1.0f, g1, d, lw->wo, d, 0.0f, docat + r0 * d, d);
  spn_attention_backward_streams(&L->sh, p->b0, p->b1, L->q, L->kv, L->state, docat, r->dq,
                                 r->dkv, &r->slots);
  memcpy(dh_out, g1, sizeof(float) * n * d);
  spn_gemm1(FALSE, FALSE, n, d, d, 1.0f, dq, d, lw->wq, d, 1.0f, dh_out, d);
  /* through keys and values of the block's rows only: the cached rows are detached */
  for (int b = p->b0; b < p->b1; b++)
    memcpy(r->dkv_block + (gsize)b * len * 2 * d, r->dkv + ((gsize)b * L->sh.nk + wmax) * 2 * d,
           sizeof(float) * len * 2 * d);
  spn_gemm1(FALSE, FALSE, n, d, 2 * d, 1.0f, r->dkv_block + r0 * 2 * d, 2 * d, lw->wk, d, 1.0f,
            dh_out, d);
}

/* The weight gradient of keys and values, D rows per task: over the block's rows of every
 * stream, then over each stream's cached rows of the head, in stream order. */
static void
kv_weight_grad(SpnRunner *r, const Layer *L, int task, float *dwkv)
{
  const SpnConfig *c = &r->m->cfg;
  int d = c->hid_sz, D = spn_config_head_dim(c), wmax = L->sh.wmax, n = r->B * r->len;
  int h = task / 2, col = (task % 2) * d + h * D, w = kv_task_rows(L, task);
  spn_gemm1(TRUE, FALSE, D, d, n, 1.0f, r->dkv_block + col, 2 * d, L->hin, d, 1.0f,
            dwkv + (gsize)col * d, d);
  for (int b = 0; b < r->B; b++)
    spn_gemm1(TRUE, FALSE, D, d, w, 1.0f, r->dkv + ((gsize)b * L->sh.nk + wmax - w) * 2 * d + col,
              2 * d, L->past + ((gsize)b * wmax + wmax - w) * d, d, 1.0f, dwkv + (gsize)col * d,
              d);
}

/* Parameter gradients of layer l, sums over all rows: called by every thread of the region,
 * each computing its own part of every gradient (no two threads write the same element). */
static void
layer_backward_params(SpnRunner *r, int l)
{
  const SpnConfig *c = &r->m->cfg;
  SpnLayerWeights *lg = &r->m->g.layers[l];
  Layer *L = &r->layers[l];
  int d = c->hid_sz, F = c->inner_hid_sz, K = c->nheads, n = r->B * r->len;
  const float *dh_in = r->dh[(l + 1) % 2], *dh1 = dh_in;
  if (c->pers_mem_size == 0) {
    spn_layernorm_params_team(lg->ln2_g, lg->ln2_b, dh_in, L->r2, L->mean2, L->rstd2, n, d);
    spn_gemm_team(TRUE, FALSE, d, F, n, 1.0f, r->g2, d, L->u, F, 1.0f, lg->fc2_w, F);
    spn_column_sums_team(lg->fc2_b, r->g2, n, d);
    spn_gemm_team(TRUE, FALSE, F, d, n, 1.0f, r->du, F, L->h1, d, 1.0f, lg->fc1_w, d);
    spn_column_sums_team(lg->fc1_b, r->du, n, F);
    dh1 = r->dh1;
  }
  spn_layernorm_params_team(lg->ln1_g, lg->ln1_b, dh1, L->r1, L->mean1, L->rstd1, n, d);
  spn_gemm_team(TRUE, FALSE, d, d, n, 1.0f, r->g1, d, L->ocat, d, 1.0f, lg->wo, d);
  spn_attention_reduce_team(&L->sh, &r->slots, r->m->g.key_pe, lg->z, lg->pk, lg->pv);
  spn_gemm_team(TRUE, FALSE, d, d, n, 1.0f, r->dq, d, L->hin, d, 1.0f, lg->wq, d);
  int *order = g_newa(int, 2 * K);
  kv_tasks_by_window(L, K, order);
#pragma omp for schedule(dynamic, 1) nowait
  for (int j = 0; j < 2 * K; j++)
    kv_weight_grad(r, L, order[j], lg->wk);
}

/* The output layer over part p: from the log-probabilities to the gradient of the last
 * layer's output. */
static void
head_backward_part(SpnRunner *r, const Part *p)
{
  const SpnConfig *c = &r->m->cfg;
  int d = c->hid_sz, V = c->vocab_size;
  float *dlogits = r->logits + p->r0 * V;
  spn_nll_backward_rows(dlogits, r->y + p->r0, p->rows, V, r->B * r->len);
  spn_gemm1(FALSE, FALSE, p->rows, d, V, 1.0f, dlogits, V, r->m->w.out_w, d, 0.0f,
            r->dh[c->nlayers % 2] + p->r0 * d, d);
}

/* The slots hold one layer's attention gradients at a time: room for the largest layer. */
static void
reserve_slots(SpnRunner *r)
{
  gsize need = 1;
  for (int l = 0; l < r->m->cfg.nlayers; l++)
    need = MAX(need, spn_attention_slots_size(&r->layers[l].sh));
  if (need > r->slots_capacity) {
    g_free(r->slots.mem);
    r->slots.mem = g_new(float, need);
    r->slots_capacity = need;
  }
}

void
spn_runner_backward(SpnRunner *r)
{
  const SpnConfig *c = &r->m->cfg;
  g_return_if_fail(r->mode == RUN_TRAIN);
  int n = r->B * r->len, d = c->hid_sz, V = c->vocab_size;
  reserve_slots(r);
  /* a barrier where parameter gradients need every thread's rows, and one after them before
   * the arrays they read are overwritten by the next layer */
#pragma omp parallel
  {
    Part p = thread_part(r);
    head_backward_part(r, &p);
#pragma omp barrier
    spn_gemm_team(TRUE, FALSE, V, d, n, 1.0f, r->logits, V, layer_output(r, c->nlayers - 1), d,
                  1.0f, r->m->g.out_w, d);
    spn_column_sums_team(r->m->g.out_b, r->logits, n, V);
    for (int l = c->nlayers - 1; l >= 0; l--) {
      layer_backward_part(r, l, &p);
#pragma omp barrier
      layer_backward_params(r, l);
#pragma omp barrier
    }
  }
  spn_embedding_backward(r->m->g.in_emb, r->dh[0], r->x, n, d);
}

void
spn_runner_persistent_share(const SpnRunner *r, float *share)
{
  g_return_if_fail(r->mode != RUN_SCORE);
  int K = r->m->cfg.nheads;
  double *layer = g_newa(double, K);
  for (int l = 0; l < r->m->cfg.nlayers; l++) {
    spn_attention_persistent_share(&r->layers[l].sh, r->layers[l].state, layer);
    for (int h = 0; h < K; h++)
      share[l * K + h] = (float)layer[h];
  }
}

void
spn_runner_attention(const SpnRunner *r, int layer, int b, int h, int i, float *ctx, float *pers)
{
  g_return_if_fail(r->mode != RUN_SCORE);
  const Layer *L = &r->layers[layer];
  spn_attention_weights(&L->sh, L->state, b, h, i, ctx, pers);
}
