/* reader.c — the model reading a text incrementally (see reader.h).
 *
 * Per layer the reader keeps the keys and values of every position read so far, behind S zero
 * rows that stand for the zero hidden states before the text: their keys and values are zero
 * while the position term still scores them, exactly as the probe's freshly zeroed cache. New
 * positions go through the layers in chunks, so re-reading a whole text runs on matrix products
 * while a keystroke is a chunk of one. Each head weighs only the distances its soft mask can
 * reach, and scores only those unless the model's softmax runs over the layer's window
 * (reference mode, attention.h). Every product is a single-threaded BLAS call, so a reader can run in its own thread
 * beside the training pool. */
#include "reader.h"

#include <math.h>
#include <string.h>

#include "layernorm.h"
#include "parallel.h"

/* positions that go through the layers together: tall enough for efficient products, small
 * enough to keep the work arrays small */
#define READER_CHUNK 256
/* the most queries of one attention tile; a tile of T queries reads T + w − 1 keys */
#define READER_TILE 128

struct _SpnReader {
  SpnConfig cfg;
  SpnLayout *layout;
  SpnParamBlob *weights;   /* read in place: never written */
  SpnWeights w;
  SpnVocab *vocab;
  float **mask;      /* nlayers×nheads: soft mask over a head's window, column c = distance w − c */
  int *score;        /* nlayers×nheads: the distances a head scores (attention.h), ≥ its window */
  float **kv;        /* per layer (S + cap)×2d: keys (columns 0..d−1) and values; S zero rows
                        first, then position t at row S + t */
  float *hout;       /* cap×d: output of the last layer, which predicts the next token */
  int cap;           /* positions every per-position array holds */
  int valid;         /* positions whose state matches probe->tokens under the current weights */
  int last_computed;
  SpnProbe *probe;   /* its arrays are sized by cap, its n is the text's length */
  /* one chunk */
  float *h, *q, *ocat, *res, *ff, *logits;
  /* one attention tile */
  float *dense, *band, *pers;
};

/* ---- weights and per-head set-up ---- */

static void
reader_heads_setup(SpnReader *r)
{
  const SpnConfig *c = &r->cfg;
  SpnProbe *p = r->probe;
  for (int l = 0; l < c->nlayers; l++)
    for (int h = 0; h < c->nheads; h++) {
      int k = l * c->nheads + h;
      float z = c->adapt_span ? r->w.layers[l].z[h] : 0.0f;
      int w = spn_attention_window(z, c->attn_span, c->adapt_span_ramp, c->adapt_span);
      /* reference mode: the layer's trimmed window (as layer_prepare in runner.c) */
      int norm = c->attn_window == SPN_ATTN_WINDOW_REFERENCE && c->adapt_span
                     ? c->attn_span - spn_layer_trim(c, r->w.layers[l].z)
                     : 0;
      if (norm > 0)
        w = MIN(w, norm);
      r->score[k] = MAX(w, norm);
      /* the same expression as spn_model_span */
      p->spans[k] = c->adapt_span ? z * c->attn_span : (float)c->attn_span;
      SpnProbeHead *ph = &p->heads[k];
      if (ph->n_slots != c->pers_mem_size) {
        ph->n_slots = c->pers_mem_size;
        g_free(ph->slots);
        ph->slots = ph->n_slots > 0 ? g_new(float, (gsize)r->cap * ph->n_slots) : NULL;
      }
      if (ph->window != w) {
        g_free(ph->weights);
        ph->weights = g_new(float, (gsize)r->cap * w);
        ph->window = w;
      }
      r->mask[k] = g_renew(float, r->mask[k], w);
      for (int col = 0; col < w; col++)
        r->mask[k][col] = c->adapt_span ? spn_span_mask(z, c->attn_span, c->adapt_span_ramp,
                                                        w - col, NULL)
                                        : 1.0f;
    }
}

static void
reader_use_weights(SpnReader *r, SpnParamBlob *weights)
{
  spn_param_blob_ref(weights);
  spn_param_blob_unref(r->weights);
  r->weights = weights;
  spn_weights_unbind(&r->w);
  spn_weights_bind(&r->w, &r->cfg, r->layout, weights->params);
  reader_heads_setup(r);
  r->valid = 0;
}

/* Sizes every per-position array for n positions: grows by half again at least, so that typing
 * costs amortised O(1) copies per character, and gives memory back once the text is a quarter
 * of what the arrays hold (a long paste replaced by a short text). */
static void
reader_reserve(SpnReader *r, int n)
{
  int cap;
  if (n > r->cap)
    cap = MAX(n, r->cap + r->cap / 2);
  else if (r->cap > 4 * MAX(n, READER_CHUNK))
    cap = MAX(2 * n, READER_CHUNK);
  else
    return;
  const SpnConfig *c = &r->cfg;
  int d = c->hid_sz, S = c->attn_span;
  for (int l = 0; l < c->nlayers; l++)
    r->kv[l] = g_renew(float, r->kv[l], (gsize)(S + cap) * 2 * d);
  r->hout = g_renew(float, r->hout, (gsize)cap * d);
  SpnProbe *p = r->probe;
  p->tokens = g_renew(gint32, p->tokens, cap);
  p->offsets = g_renew(gsize, p->offsets, cap);
  p->surprisal = g_renew(float, p->surprisal, cap);
  for (int k = 0; k < c->nlayers * c->nheads; k++) {
    SpnProbeHead *ph = &p->heads[k];
    ph->weights = g_renew(float, ph->weights, (gsize)cap * ph->window);
    ph->before_start = g_renew(float, ph->before_start, cap);
    ph->persistent = g_renew(float, ph->persistent, cap);
    if (ph->n_slots > 0)
      ph->slots = g_renew(float, ph->slots, (gsize)cap * ph->n_slots);
  }
  r->cap = cap;
}

SpnReader *
spn_reader_new(SpnParamBlob *weights, const SpnVocab *vocab)
{
  g_return_val_if_fail(weights != NULL && vocab != NULL, NULL);
  g_return_val_if_fail(vocab->size == weights->cfg.vocab_size, NULL);
  const SpnConfig *c = &weights->cfg;
  int d = c->hid_sz, S = c->attn_span, N = c->pers_mem_size, K = c->nheads;
  SpnReader *r = g_new0(SpnReader, 1);
  r->cfg = *c;
  r->layout = spn_layout_new(c);
  r->vocab = spn_vocab_copy(vocab);
  r->mask = g_new0(float *, c->nlayers * K);
  r->score = g_new0(int, c->nlayers * K);
  r->kv = g_new0(float *, c->nlayers);
  for (int l = 0; l < c->nlayers; l++)
    r->kv[l] = g_new0(float, (gsize)S * 2 * d);
  r->probe = spn_probe_new();
  r->probe->nlayers = c->nlayers;
  r->probe->nheads = K;
  r->probe->spans = g_new(float, c->nlayers * K);
  r->probe->heads = g_new0(SpnProbeHead, c->nlayers * K);
  reader_use_weights(r, weights);
  reader_reserve(r, READER_CHUNK);
  r->h = g_new(float, (gsize)READER_CHUNK * d);
  r->q = g_new(float, (gsize)READER_CHUNK * d);
  r->ocat = g_new(float, (gsize)READER_CHUNK * d);
  r->res = g_new(float, (gsize)READER_CHUNK * d);
  r->ff = N == 0 ? g_new(float, (gsize)READER_CHUNK * c->inner_hid_sz) : NULL;
  r->logits = g_new(float, (gsize)READER_CHUNK * c->vocab_size);
  /* sized for the widest window any weights can give */
  r->dense = g_new(float, (gsize)READER_TILE * (READER_TILE + S - 1));
  r->band = g_new(float, (gsize)READER_TILE * S);
  r->pers = g_new(float, (gsize)READER_TILE * MAX(N, 1));
  return r;
}

void
spn_reader_free(SpnReader *r)
{
  if (r == NULL)
    return;
  for (int l = 0; l < r->cfg.nlayers; l++)
    g_free(r->kv[l]);
  for (int k = 0; k < r->cfg.nlayers * r->cfg.nheads; k++)
    g_free(r->mask[k]);
  g_free(r->kv);
  g_free(r->mask);
  g_free(r->score);
  spn_probe_unref(r->probe);
  spn_weights_unbind(&r->w);
  spn_layout_free(r->layout);
  spn_param_blob_unref(r->weights);
  spn_vocab_free(r->vocab);
  float *work[] = {r->hout, r->h, r->q, r->ocat, r->res, r->ff, r->logits, r->dense, r->band,
                   r->pers};
  for (gsize i = 0; i < G_N_ELEMENTS(work); i++)
    g_free(work[i]);
  g_free(r);
}

void
spn_reader_set_weights(SpnReader *r, SpnParamBlob *weights)
{
  g_return_if_fail(weights->total == r->layout->total);
  reader_use_weights(r, weights);
}

const SpnProbe *
spn_reader_probe(const SpnReader *r)
{
  return r->probe;
}

int
spn_reader_capacity(const SpnReader *r)
{
  return r->cap;
}

int
spn_reader_last_computed(const SpnReader *r)
{
  return r->last_computed;
}

/* ---- vector-friendly arithmetic ---- */

/* Reductions over LANES interleaved partial results: no chain of dependent additions, and the
 * compiler turns them into vector operations. They round in another order than a plain loop,
 * far inside the agreement with the probe that the reader promises. */
#define LANES 8

static float
sum_lanes(const float *x, int n)
{
  float acc[LANES] = {0};
  int i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int j = 0; j < LANES; j++)
      acc[j] += x[i + j];
  float s = 0.0f;
  for (; i < n; i++)
    s += x[i];
  for (int j = 0; j < LANES; j++)
    s += acc[j];
  return s;
}

static float
dot_lanes(const float *x, const float *y, int n)
{
  float acc[LANES] = {0};
  int i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int j = 0; j < LANES; j++)
      acc[j] += x[i + j] * y[i + j];
  float s = 0.0f;
  for (; i < n; i++)
    s += x[i] * y[i];
  for (int j = 0; j < LANES; j++)
    s += acc[j];
  return s;
}

static float
max_lanes(const float *x, int n)
{
  float acc[LANES];
  for (int j = 0; j < LANES; j++)
    acc[j] = -INFINITY;
  int i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int j = 0; j < LANES; j++)
      acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
  float m = -INFINITY;
  for (; i < n; i++)
    m = MAX(m, x[i]);
  for (int j = 0; j < LANES; j++)
    m = MAX(m, acc[j]);
  return m;
}

/* e^x for x ≤ 0 (a score minus the row's maximum) within 1 ulp of the exact value (checked
 * against exp over every float in [−87, 0]): Cephes' range reduction and polynomial, free of
 * branches and calls so that the loop over a row becomes vector code; a libm call per weight
 * was a fifth of a whole re-read. */
static inline float
exp_nonpositive(float x)
{
  /* below e^-87 (the smallest normal floats) a weight is nothing next to the row's maximum.
   * The clamp compares bit patterns (for x ≤ 0 they grow with |x|): a float comparison would
   * keep the loop scalar, since it may trap */
  guint32 bits_x;
  memcpy(&bits_x, &x, sizeof bits_x);
  bits_x = MIN(bits_x, 0xc2ae0000u); /* -87.0f */
  memcpy(&x, &bits_x, sizeof x);
  /* nearest integer k of x / ln 2, by the round-to-nearest of an add at 1.5·2^23 */
  float k = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  /* r = x − k·ln 2 in two steps, the first exact */
  float r = x - k * 0.693359375f;
  r = r + k * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * (r * r) + r + 1.0f;
  gint32 bits = ((gint32)k + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

/* ---- attention of one head over a tile of queries ---- */

typedef struct {
  int l, h, k;     /* layer, head, l·K + h */
  int w, s;        /* window, score window (s ≥ w; the band's columns, distance s − c) */
  int t;           /* position of the tile's first query */
  int i0, n;       /* its row in the chunk, its number of queries */
} Tile;

/* band (n×s, column c = distance s − c) = (q·p_δ + q·k_{t−δ}) / √D; pers (n×N) = q·P_k·√D / √D */
static void
tile_scores(SpnReader *r, const Tile *tl)
{
  const SpnConfig *c = &r->cfg;
  int d = c->hid_sz, S = c->attn_span, D = spn_config_head_dim(c), N = c->pers_mem_size;
  int w = tl->s, ncol = tl->n + w - 1;
  const float *qh = r->q + (gsize)tl->i0 * d + tl->h * D;
  const float *k0 = r->kv[tl->l] + (gsize)(S + tl->t - w) * 2 * d + tl->h * D;
  float inv_sd = 1.0f / sqrtf((float)D);
  spn_gemm1(FALSE, FALSE, tl->n, w, D, inv_sd, qh, d, r->w.key_pe + (S - w), S, 0.0f, r->band, w);
  spn_gemm1(FALSE, TRUE, tl->n, ncol, D, inv_sd, qh, d, k0, 2 * d, 0.0f, r->dense, ncol);
  /* query i reads key rows i .. i + w − 1 of the dense tile */
  for (int i = 0; i < tl->n; i++) {
    float *row = r->band + (gsize)i * w;
    const float *src = r->dense + (gsize)i * ncol + i;
    for (int col = 0; col < w; col++)
      row[col] += src[col];
  }
  if (N > 0)
    spn_gemm1(FALSE, FALSE, tl->n, N, D, 1.0f, qh, d,
              r->w.layers[tl->l].pk + (gsize)tl->h * D * N, N, 0.0f, r->pers, N);
}

/* Scores of one query (s of them, already divided by √D) into its final weights: joint softmax
 * over context and persistent vectors, soft mask over the last w, joint renormalisation. The two
 * normalisations are folded into one scale, e·m / (Σ e·m + Σ e_p + 1e-8·Σ e), the epsilon
 * applying to the softmax output. The weights are the last w of a. */
static void
row_weights(const SpnReader *r, const float *mask, int w, int s, float *a, float *ap)
{
  const SpnConfig *c = &r->cfg;
  int N = c->pers_mem_size;
  float mx = MAX(max_lanes(a, s), max_lanes(ap, N));
  for (int col = 0; col < s; col++)
    a[col] = exp_nonpositive(a[col] - mx);
  for (int n = 0; n < N; n++)
    ap[n] = exp_nonpositive(ap[n] - mx);
  float sum = sum_lanes(a, s) + sum_lanes(ap, N), scale;
  a += s - w;
  if (!c->adapt_span) {
    scale = 1.0f / sum;
    for (int col = 0; col < w; col++)
      a[col] *= scale;
  } else {
    float masked = dot_lanes(a, mask, w);
    scale = 1.0f / (masked + sum_lanes(ap, N) + SPN_ATTN_EPS * sum);
    for (int col = 0; col < w; col++)
      a[col] = a[col] * mask[col] * scale;
  }
  for (int n = 0; n < N; n++)
    ap[n] *= scale;
}

/* the probe's view of query q (a: its w weights): nearest distance first, and the masses it
 * sums */
static void
row_record(SpnReader *r, const Tile *tl, int q, const float *a, const float *ap)
{
  SpnProbeHead *ph = &r->probe->heads[tl->k];
  int w = tl->w;
  float *dst = ph->weights + (gsize)q * w;
  for (int delta = 1; delta <= w; delta++)
    dst[delta - 1] = a[w - delta];
  ph->before_start[q] = q < w ? sum_lanes(dst + q, w - q) : 0.0f;
  ph->persistent[q] = sum_lanes(ap, r->cfg.pers_mem_size);
  if (ph->slots != NULL)
    memcpy(ph->slots + (gsize)q * ph->n_slots, ap, sizeof(float) * ph->n_slots);
}

/* the head's output columns of the tile's rows of ocat: final weights times values (the band
 * goes back into a dense tile so one product does it), plus the persistent values */
static void
tile_output(SpnReader *r, const Tile *tl)
{
  const SpnConfig *c = &r->cfg;
  int d = c->hid_sz, S = c->attn_span, D = spn_config_head_dim(c), N = c->pers_mem_size;
  int w = tl->w, ncol = tl->n + w - 1;
  float *oh = r->ocat + (gsize)tl->i0 * d + tl->h * D;
  const float *v0 = r->kv[tl->l] + (gsize)(S + tl->t - w) * 2 * d + d + tl->h * D;
  memset(r->dense, 0, sizeof(float) * tl->n * ncol);
  for (int i = 0; i < tl->n; i++)
    memcpy(r->dense + (gsize)i * ncol + i, r->band + (gsize)i * tl->s + (tl->s - w),
           sizeof(float) * w);
  spn_gemm1(FALSE, FALSE, tl->n, D, ncol, 1.0f, r->dense, ncol, v0, 2 * d, 0.0f, oh, d);
  if (N > 0)
    spn_gemm1(FALSE, FALSE, tl->n, D, N, sqrtf((float)N), r->pers, N,
              r->w.layers[tl->l].pv + (gsize)tl->h * N * D, D, 1.0f, oh, d);
}

/* queries t0 .. t0 + len − 1 of head h in layer l, whose keys and values are all stored */
static void
head_attend(SpnReader *r, int l, int h, int t0, int len)
{
  const SpnConfig *c = &r->cfg;
  int k = l * c->nheads + h, N = c->pers_mem_size;
  int w = r->probe->heads[k].window, s = r->score[k];
  /* a tile computes T + s − 1 scores per query and uses s: tiles of half the window keep that
   * waste moderate and the products tall (measured against 32, 64 and w) */
  int T = MIN(READER_TILE, MAX(32, s / 2));
  for (int i0 = 0; i0 < len; i0 += T) {
    Tile tl = {.l = l, .h = h, .k = k, .w = w, .s = s, .t = t0 + i0, .i0 = i0,
               .n = MIN(T, len - i0)};
    tile_scores(r, &tl);
    for (int i = 0; i < tl.n; i++) {
      float *a = r->band + (gsize)i * s, *ap = r->pers + (gsize)i * N;
      row_weights(r, r->mask[k], w, s, a, ap);
      row_record(r, &tl, tl.t + i, a + (s - w), ap);
    }
    tile_output(r, &tl);
  }
}

/* ---- one chunk through the layers ---- */

/* y = x·Wᵀ + b (W out×in), the bias first as in the training forward */
static void
linear_bias(float *y, const float *x, const float *wt, const float *b, int n, int in, int out)
{
  for (int i = 0; i < n; i++)
    memcpy(y + (gsize)i * out, b, sizeof(float) * out);
  spn_gemm1(FALSE, TRUE, n, out, in, 1.0f, x, in, wt, in, 1.0f, y, out);
}

/* y = LayerNorm(x + y) row by row, eps 1e-5 */
static void
residual_layernorm(float *y, const float *x, const float *g, const float *b, int n, int d)
{
  for (int i = 0; i < n; i++) {
    float *yi = y + (gsize)i * d;
    const float *xi = x + (gsize)i * d;
    for (int j = 0; j < d; j++)
      yi[j] += xi[j];
    float m = sum_lanes(yi, d) / d;
    for (int j = 0; j < d; j++)
      yi[j] -= m;
    float rs = 1.0f / sqrtf(dot_lanes(yi, yi, d) / d + SPN_LN_EPS);
    for (int j = 0; j < d; j++)
      yi[j] = yi[j] * rs * g[j] + b[j];
  }
}

/* r->h (len×d) is the layer's input on entry and its output on return */
static void
layer_forward(SpnReader *r, int l, int t0, int len)
{
  const SpnConfig *c = &r->cfg;
  const SpnLayerWeights *lw = &r->w.layers[l];
  int d = c->hid_sz, F = c->inner_hid_sz, S = c->attn_span;
  spn_gemm1(FALSE, TRUE, len, d, d, 1.0f, r->h, d, lw->wq, d, 0.0f, r->q, d);
  /* proj_key and proj_val are adjacent in the arena: one 2d×d weight */
  spn_gemm1(FALSE, TRUE, len, 2 * d, d, 1.0f, r->h, d, lw->wk, d, 0.0f,
            r->kv[l] + (gsize)(S + t0) * 2 * d, 2 * d);
  for (int h = 0; h < c->nheads; h++)
    head_attend(r, l, h, t0, len);
  spn_gemm1(FALSE, TRUE, len, d, d, 1.0f, r->ocat, d, lw->wo, d, 0.0f, r->res, d);
  residual_layernorm(r->res, r->h, lw->ln1_g, lw->ln1_b, len, d);
  if (c->pers_mem_size > 0) {
    memcpy(r->h, r->res, sizeof(float) * len * d);
    return;
  }
  linear_bias(r->ff, r->res, lw->fc1_w, lw->fc1_b, len, d, F);
  for (gsize i = 0; i < (gsize)len * F; i++)
    r->ff[i] = r->ff[i] > 0.0f ? r->ff[i] : 0.0f;
  linear_bias(r->h, r->ff, lw->fc2_w, lw->fc2_b, len, F, d);
  residual_layernorm(r->h, r->res, lw->ln2_g, lw->ln2_b, len, d);
}

static void
chunk_forward(SpnReader *r, int t0, int len)
{
  const SpnConfig *c = &r->cfg;
  int d = c->hid_sz;
  for (int i = 0; i < len; i++)
    memcpy(r->h + (gsize)i * d, r->w.in_emb + (gsize)r->probe->tokens[t0 + i] * d,
           sizeof(float) * d);
  for (int l = 0; l < c->nlayers; l++)
    layer_forward(r, l, t0, len);
  memcpy(r->hout + (gsize)t0 * d, r->h, sizeof(float) * len * d);
}

/* Surprisal of tokens from .. n − 1: token t is predicted by the output at t − 1. */
static void
reader_surprisal(SpnReader *r, int from, int n)
{
  const SpnConfig *c = &r->cfg;
  int d = c->hid_sz, V = c->vocab_size;
  SpnProbe *p = r->probe;
  if (from == 0 && n > 0)
    p->surprisal[0] = NAN;
  for (int r0 = MAX(from, 1) - 1; r0 < n - 1; r0 += READER_CHUNK) {
    int len = MIN(READER_CHUNK, n - 1 - r0);
    linear_bias(r->logits, r->hout + (gsize)r0 * d, r->w.out_w, r->w.out_b, len, d, V);
    for (int i = 0; i < len; i++) {
      /* the log-sum-exp of spn_nll_forward */
      const float *row = r->logits + (gsize)i * V;
      float mx = row[0];
      for (int j = 1; j < V; j++)
        mx = MAX(mx, row[j]);
      float s = 0.0f;
      for (int j = 0; j < V; j++)
        s += expf(row[j] - mx);
      float logp = row[p->tokens[r0 + i + 1]] - (mx + logf(s));
      p->surprisal[r0 + i + 1] = -logp / G_LN2;
    }
  }
}

gboolean
spn_reader_read(SpnReader *r, const char *text, GError **error)
{
  gsize n_tokens = 0;
  gsize *offsets = NULL;
  gint32 *tokens = spn_vocab_encode(r->vocab, text, -1, &n_tokens, &offsets, error);
  if (tokens == NULL)
    return FALSE;
  SpnProbe *p = r->probe;
  int n = (int)n_tokens;
  int reuse = 0, limit = MIN(r->valid, n);
  while (reuse < limit && p->tokens[reuse] == tokens[reuse])
    reuse++;
  reader_reserve(r, n);
  /* offsets can move even where tokens do not (<unk> stands for characters of any length) */
  memcpy(p->tokens, tokens, sizeof(gint32) * n);
  memcpy(p->offsets, offsets, sizeof(gsize) * n);
  p->n = n;
  g_free(tokens);
  g_free(offsets);
  for (int t0 = reuse; t0 < n; t0 += READER_CHUNK)
    chunk_forward(r, t0, MIN(READER_CHUNK, n - t0));
  reader_surprisal(r, reuse, n);
  r->valid = n;
  r->last_computed = n - reuse;
  return TRUE;
}
