#include "attention.h"

#include <math.h>
#include <string.h>

#include "activation.h"
#include "parallel.h"

int
spn_attention_window(float z, int S, int R, gboolean adapt)
{
  if (!adapt)
    return S;
  /* clamped before the cast: a span that is not finite (a diverged or corrupt model) or huge
   * must not reach (int), whose result would be undefined; NaN gives the smallest window */
  float w = ceilf(z * (float)S) + (float)(R + 1);
  if (!(w >= 1.0f))
    return 1;
  return w >= (float)S ? S : (int)w;
}

int
spn_attention_score_window(const SpnAttnShape *sh, int h)
{
  return sh->norm_window > 0 ? sh->norm_window : sh->window[h];
}

float
spn_span_mask(float z, int S, int R, int delta, gboolean *passes_grad)
{
  /* same operations and order as the reference: (template + z·S) / R + 1, template = 1 − δ */
  float x = ((float)(1 - delta) + z * (float)S) / (float)R + 1.0f;
  if (passes_grad)
    *passes_grad = x >= 0.0f && x <= 1.0f; /* torch.clamp passes gradient at the bounds */
  return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x);
}

/* Offsets of one head's state: softmax band a (M×s, s its score window), persistent a (M×N),
 * normalisers (M). */
static gsize
head_state_size(const SpnAttnShape *sh, int h)
{
  return (gsize)sh->M * (spn_attention_score_window(sh, h) + sh->N + 1);
}

static gsize
stream_state_size(const SpnAttnShape *sh)
{
  gsize s = 0;
  for (int h = 0; h < sh->K; h++)
    s += head_state_size(sh, h);
  return s;
}

static gsize
head_state_offset(const SpnAttnShape *sh, int b, int h)
{
  gsize off = (gsize)b * stream_state_size(sh);
  for (int k = 0; k < h; k++)
    off += head_state_size(sh, k);
  return off;
}

/* Queries per tile of the banded products: a tile of T queries reads T + w − 1 keys, so tiles
 * about as tall as the window keep the wasted half of the dense product small. */
static int
tile_rows_of(int M, int w)
{
  return MIN(M, MAX(32, w));
}

static int
tile_rows(const SpnAttnShape *sh, int w)
{
  return tile_rows_of(sh->M, w);
}

/* the content products of M queries over x distances: the band, or the dense tiles holding it */
static double
content_cells(int M, int x, gboolean as_run)
{
  if (!as_run)
    return (double)M * x;
  double cells = 0.0;
  for (int i0 = 0, T = tile_rows_of(M, x); i0 < M; i0 += T) {
    int tn = MIN(T, M - i0);
    cells += (double)tn * (tn + x - 1);
  }
  return cells;
}

double
spn_attention_head_flops(int M, int D, int N, int s, int w, gboolean as_run)
{
  /* over the s distances scored: content scores forward, the queries' and keys' gradients
   * backward, and the position terms with their two gradients; over the w distances weighed:
   * values forward, the weights' and values' gradients backward; persistent memory: scores and
   * values forward, four gradients backward */
  double scored = 3.0 * content_cells(M, s, as_run) + 3.0 * M * s;
  double weighed = 3.0 * content_cells(M, w, as_run);
  return 2.0 * D * (scored + weighed + 6.0 * M * N);
}

/* One thread's work arrays, sized for the layer's longest score window. */
typedef struct {
  float *dense;       /* T×(T + wmax): one tile of a banded product */
  float *band, *pers; /* M×wmax, M×N: final weights (forward) or their gradients (backward) */
  float *mask;        /* wmax: the head's soft mask by score band column */
  guint8 *pass;       /* wmax: where the mask passes the gradient of z */
  float *own;         /* M×(wmax+N+1): the head's state when the caller keeps none, or NULL */
  float *mem;
} Scratch;

static void
scratch_init(Scratch *sc, const SpnAttnShape *sh, gboolean own_state)
{
  int T = tile_rows(sh, sh->wmax), M = sh->M, w = sh->wmax, N = sh->N;
  gsize dense = (gsize)T * (T + w), band = (gsize)M * w, pers = (gsize)M * N;
  gsize own = own_state ? (gsize)M * (w + N + 1) : 0;
  sc->mem = g_new(float, dense + band + pers + w + own + w / sizeof(float) + 1);
  sc->dense = sc->mem;
  sc->band = sc->dense + dense;
  sc->pers = sc->band + band;
  sc->mask = sc->pers + pers;
  sc->own = own_state ? sc->mask + w : NULL;
  sc->pass = (guint8 *)(sc->mask + w + own);
}

/* A head's windows: it scores distances 1..s (band columns 0..s−1, column c = distance s − c)
 * and only distances 1..w ≤ s can carry weight, the last w columns (from column s − w). */
typedef struct {
  int b, h, w, s;
  const float *qh, *kh, *vh; /* ld d, 2d, 2d */
  const float *pe;           /* D×s slice of key_pe, ld S */
  const float *pk, *pv;      /* D×N, N×D of this head */
  float *a, *ap, *zn;        /* state: softmax band M×s, persistent M×N, normalisers M */
  const float *mask;         /* s: the soft mask at band column c (zero before column s − w) */
  const guint8 *pass;        /* s, or NULL when not needed */
} Head;

/* The soft mask of head h over s band columns, and where it passes the gradient of z (pass may
 * be NULL): computed once per head instead of once per score. */
static void
head_mask(const SpnAttnShape *sh, int h, int s, float *mask, guint8 *pass)
{
  float z = sh->adapt ? sh->z[h] : 0.0f;
  for (int c = 0; c < s; c++) {
    gboolean p = TRUE;
    mask[c] = sh->adapt ? spn_span_mask(z, sh->S, sh->R, s - c, &p) : 1.0f;
    if (pass != NULL)
      pass[c] = (guint8)p;
  }
}

/* own: the head's state when the caller keeps none (NULL otherwise) */
static Head
head_at(const SpnAttnShape *sh, const float *q, const float *kv, const float *state, int b, int h,
        float *own)
{
  int nk = sh->nk;
  Head hd = {.b = b, .h = h, .w = sh->window[h], .s = spn_attention_score_window(sh, h)};
  if (q != NULL)
    hd.qh = q + (gsize)b * sh->M * sh->d + h * sh->D;
  if (kv != NULL) {
    hd.kh = kv + (gsize)b * nk * 2 * sh->d + h * sh->D;
    hd.vh = hd.kh + sh->d;
  }
  hd.pe = sh->key_pe + (sh->S - hd.s);
  hd.pk = sh->pk ? sh->pk + (gsize)h * sh->D * sh->N : NULL;
  hd.pv = sh->pv ? sh->pv + (gsize)h * sh->N * sh->D : NULL;
  hd.a = own != NULL ? own : (float *)state + head_state_offset(sh, b, h);
  hd.ap = hd.a + (gsize)sh->M * hd.s;
  hd.zn = hd.ap + (gsize)sh->M * sh->N;
  return hd;
}

/* first pack row read by the tile starting at query i0 over a window of `width` distances */
static int
tile_key_row(const SpnAttnShape *sh, int width, int i0)
{
  return sh->wmax - width + i0;
}

static float
drop_scale(const SpnAttnShape *sh, const Head *hd, int i, int col)
{
  return spn_dropout_scale(sh->dropout, sh->dropout_seed, (guint64)hd->b * sh->K + hd->h,
                           (guint64)i, (guint64)col);
}

/* scores over the score window: band = q·pe (position) + q·k (content, through dense tiles);
 * ap = q·pk·√D */
static void
head_scores(const SpnAttnShape *sh, const Head *hd, float *dense)
{
  int M = sh->M, D = sh->D, d = sh->d, w = hd->s, T = tile_rows(sh, w);
  spn_gemm1(FALSE, FALSE, M, w, D, 1.0f, hd->qh, d, hd->pe, sh->S, 0.0f, hd->a, w);
  for (int i0 = 0; i0 < M; i0 += T) {
    int tn = MIN(T, M - i0), ncol = tn + w - 1;
    const float *k0 = hd->kh + (gsize)tile_key_row(sh, w, i0) * 2 * d;
    spn_gemm1(FALSE, TRUE, tn, ncol, D, 1.0f, hd->qh + (gsize)i0 * d, d, k0, 2 * d, 0.0f, dense, ncol);
    for (int t = 0; t < tn; t++) {
      float *row = hd->a + (gsize)(i0 + t) * w;
      const float *src = dense + (gsize)t * ncol + t;
      for (int c = 0; c < w; c++)
        row[c] += src[c];
    }
  }
  if (sh->N > 0)
    spn_gemm1(FALSE, FALSE, M, sh->N, D, sqrtf((float)D), hd->qh, d, hd->pk, sh->N, 0.0f, hd->ap,
              sh->N);
}

/* softmax over [band; persistent] of every query, in place, then the mask's normaliser */
static void
head_softmax(const SpnAttnShape *sh, const Head *hd)
{
  int w = hd->s, N = sh->N;
  float sd = sqrtf((float)sh->D);
  for (int i = 0; i < sh->M; i++) {
    float *a = hd->a + (gsize)i * w, *ap = hd->ap + (gsize)i * N;
    float mx = -INFINITY;
    for (int c = 0; c < w; c++)
      mx = MAX(mx, a[c] / sd);
    for (int n = 0; n < N; n++)
      mx = MAX(mx, ap[n] / sd);
    float sum = 0.0f;
    for (int c = 0; c < w; c++)
      sum += (a[c] = expf(a[c] / sd - mx));
    for (int n = 0; n < N; n++)
      sum += (ap[n] = expf(ap[n] / sd - mx));
    for (int c = 0; c < w; c++)
      a[c] /= sum;
    for (int n = 0; n < N; n++)
      ap[n] /= sum;
    if (!sh->adapt) {
      hd->zn[i] = 1.0f;
      continue;
    }
    float masked = 0.0f, pers = 0.0f;
    for (int c = w - hd->w; c < w; c++) /* the mask is zero before */
      masked += a[c] * hd->mask[c];
    for (int n = 0; n < N; n++)
      pers += ap[n];
    /* the reference's renormalisation, context-only or joint with the persistent vectors: the
     * epsilon is added to softmax outputs, so it weighs as much as 1e-8 of the normaliser */
    hd->zn[i] = masked + pers + SPN_ATTN_EPS;
  }
}

/* weights of query row i into bc (w: the head's window, column c = distance w − c) and bp
 * (N), undropped. bc may be the mask's own array: column c is written after it was read. */
static void
head_final_row(const SpnAttnShape *sh, const Head *hd, int i, float *bc, float *bp)
{
  int w = hd->w, off = hd->s - hd->w;
  const float *a = hd->a + (gsize)i * hd->s + off, *ap = hd->ap + (gsize)i * sh->N;
  const float *mask = hd->mask + off;
  if (!sh->adapt) {
    memcpy(bc, a, sizeof(float) * w);
    if (bp)
      memcpy(bp, ap, sizeof(float) * sh->N);
    return;
  }
  float zn = hd->zn[i];
  for (int c = 0; c < w; c++)
    bc[c] = a[c] * mask[c] / zn;
  if (bp)
    for (int n = 0; n < sh->N; n++)
      bp[n] = ap[n] / zn;
}

/* the final weights as a band (M×w) and persistent block (M×N), dropout applied */
static void
head_final(const SpnAttnShape *sh, const Head *hd, float *band, float *pers)
{
  int w = hd->w;
  for (int i = 0; i < sh->M; i++) {
    float *bc = band + (gsize)i * w, *bp = pers + (gsize)i * sh->N;
    head_final_row(sh, hd, i, bc, bp);
    if (sh->dropout > 0.0f) {
      for (int c = 0; c < w; c++)
        bc[c] *= drop_scale(sh, hd, i, w - c);
      for (int n = 0; n < sh->N; n++)
        bp[n] *= drop_scale(sh, hd, i, sh->S + 1 + n);
    }
  }
}

/* Scatters rows i0..i0+tn of a band into a dense tile (tn × (tn + w − 1)). */
static void
band_to_dense(const float *band, int w, int i0, int tn, float *dense)
{
  int ncol = tn + w - 1;
  memset(dense, 0, sizeof(float) * tn * ncol);
  for (int t = 0; t < tn; t++)
    memcpy(dense + (gsize)t * ncol + t, band + (gsize)(i0 + t) * w, sizeof(float) * w);
}

static void
head_forward(const SpnAttnShape *sh, const Head *hd, float *out, const Scratch *sc)
{
  int M = sh->M, D = sh->D, d = sh->d, w = hd->w, N = sh->N, T = tile_rows(sh, w);
  float *dense = sc->dense, *band = sc->band, *pers = sc->pers;
  head_scores(sh, hd, dense);
  head_softmax(sh, hd);
  head_final(sh, hd, band, pers);
  float *oh = out + (gsize)hd->b * M * d + hd->h * D;
  for (int i0 = 0; i0 < M; i0 += T) {
    int tn = MIN(T, M - i0), ncol = tn + w - 1;
    band_to_dense(band, w, i0, tn, dense);
    const float *v0 = hd->vh + (gsize)tile_key_row(sh, w, i0) * 2 * d;
    spn_gemm1(FALSE, FALSE, tn, D, ncol, 1.0f, dense, ncol, v0, 2 * d, 0.0f, oh + (gsize)i0 * d, d);
  }
  if (N > 0)
    spn_gemm1(FALSE, FALSE, M, D, N, sqrtf((float)N), pers, N, hd->pv, D, 1.0f, oh, d);
}

/* The gradient slot of one (stream, head): its share of the gradients of the shared
 * parameters, summed over all pairs in a fixed order by spn_attention_reduce_team so the result
 * does not depend on which thread finished first. */
typedef struct {
  float *pe;     /* D×s */
  float *pk, *pv;/* D×N, N×D */
  float z;
} Slot;

static gsize
slot_floats(const SpnAttnShape *sh, int h)
{
  return (gsize)sh->D * spn_attention_score_window(sh, h) + 2 * (gsize)sh->D * sh->N;
}

gsize
spn_attention_slots_size(const SpnAttnShape *sh)
{
  gsize per_stream = 0;
  for (int h = 0; h < sh->K; h++)
    per_stream += slot_floats(sh, h);
  return per_stream * sh->B;
}

static Slot
slot_at(const SpnAttnShape *sh, const SpnAttnSlots *slots, int b, int h)
{
  gsize off = spn_attention_slots_size(sh) / sh->B * b;
  for (int k = 0; k < h; k++)
    off += slot_floats(sh, k);
  Slot sl = {.pe = slots->mem + off};
  sl.pk = sl.pe + (gsize)sh->D * spn_attention_score_window(sh, h);
  sl.pv = sl.pk + (gsize)sh->D * sh->N;
  return sl;
}


/* g (band, M×s) and gp (M×N): gradient w.r.t. the undropped final weights, zero where the
 * weights are (the score window beyond the head's window) */
static void
head_grad_weights(const SpnAttnShape *sh, const Head *hd, const float *doh, float *g, float *gp,
                  float *dense)
{
  int M = sh->M, D = sh->D, d = sh->d, w = hd->w, s = hd->s, N = sh->N, T = tile_rows(sh, w);
  for (int i0 = 0; i0 < M; i0 += T) {
    int tn = MIN(T, M - i0), ncol = tn + w - 1;
    const float *v0 = hd->vh + (gsize)tile_key_row(sh, w, i0) * 2 * d;
    spn_gemm1(FALSE, TRUE, tn, ncol, D, 1.0f, doh + (gsize)i0 * d, d, v0, 2 * d, 0.0f, dense, ncol);
    for (int t = 0; t < tn; t++) {
      float *row = g + (gsize)(i0 + t) * s;
      memset(row, 0, sizeof(float) * (s - w));
      memcpy(row + (s - w), dense + (gsize)t * ncol + t, sizeof(float) * w);
    }
  }
  if (N > 0)
    spn_gemm1(FALSE, TRUE, M, N, D, sqrtf((float)N), doh, d, hd->pv, D, 0.0f, gp, N);
  if (sh->dropout > 0.0f)
    for (int i = 0; i < M; i++) {
      for (int c = 0; c < w; c++)
        g[(gsize)i * s + (s - w) + c] *= drop_scale(sh, hd, i, w - c);
      for (int n = 0; n < N; n++)
        gp[(gsize)i * N + n] *= drop_scale(sh, hd, i, sh->S + 1 + n);
    }
}

/* Through the renormalisation and the mask into gradients of the softmax output, then through
 * the softmax into gradients of the raw scores; g/gp (over the score window) are replaced by
 * the score gradients. */
static void
head_grad_scores(const SpnAttnShape *sh, const Head *hd, float *g, float *gp, Slot *slot)
{
  int w = hd->s, N = sh->N;
  float sd = sqrtf((float)sh->D);
  float dmdz = (float)sh->S / (float)sh->R;
  for (int i = 0; i < sh->M; i++) {
    const float *a = hd->a + (gsize)i * w, *ap = hd->ap + (gsize)i * N;
    float *gi = g + (gsize)i * w, *gpi = gp + (gsize)i * N;
    float dot = 0.0f;
    if (sh->adapt) {
      float zn = hd->zn[i], gbar = 0.0f;
      for (int c = 0; c < w; c++)
        gbar += gi[c] * a[c] * hd->mask[c];
      for (int n = 0; n < N; n++)
        gbar += gpi[n] * ap[n];
      gbar /= zn;
      for (int c = 0; c < w; c++) {
        float m = hd->mask[c];
        float du = (gi[c] - gbar) / zn;
        if (hd->pass[c])
          slot->z += a[c] * du * dmdz;
        gi[c] = m * du;
      }
      for (int n = 0; n < N; n++)
        gpi[n] = (gpi[n] - gbar) / zn;
      /* Σ a·g over the softmax, exactly: the renormalisation leaves only its epsilon's share.
       * Summed term by term it would be round-off of terms 10⁷ times larger, and it is all the
       * gradient that scores outside every span receive. */
      dot = SPN_ATTN_EPS * gbar / zn;
    } else {
      for (int c = 0; c < w; c++)
        dot += a[c] * gi[c];
      for (int n = 0; n < N; n++)
        dot += ap[n] * gpi[n];
    }
    for (int c = 0; c < w; c++)
      gi[c] = a[c] * (gi[c] - dot) / sd;
    for (int n = 0; n < N; n++)
      gpi[n] = ap[n] * (gpi[n] - dot) / sd;
  }
}

static void
head_backward(const SpnAttnShape *sh, const Head *hd, const float *dout, float *dq, float *dkv,
              Slot *slot, const Scratch *sc)
{
  int M = sh->M, D = sh->D, d = sh->d, w = hd->w, s = hd->s, N = sh->N;
  float *dense = sc->dense, *g = sc->band, *gp = sc->pers;
  const float *doh = dout + (gsize)hd->b * M * d + hd->h * D;
  float *dqh = dq + (gsize)hd->b * M * d + hd->h * D;
  float *dkh = dkv + (gsize)hd->b * sh->nk * 2 * d + hd->h * D, *dvh = dkh + d;
  for (int row = sh->wmax - s; row < sh->wmax + M; row++)
    memset(dkh + (gsize)row * 2 * d, 0, sizeof(float) * D);
  for (int row = sh->wmax - w; row < sh->wmax + M; row++)
    memset(dvh + (gsize)row * 2 * d, 0, sizeof(float) * D);

  /* values and persistent values: they saw the final (dropped-out) weights */
  float *band = g, *pers = gp;
  head_final(sh, hd, band, pers);
  int T = tile_rows(sh, w);
  for (int i0 = 0; i0 < M; i0 += T) {
    int tn = MIN(T, M - i0), ncol = tn + w - 1;
    band_to_dense(band, w, i0, tn, dense);
    float *dv0 = dvh + (gsize)tile_key_row(sh, w, i0) * 2 * d;
    spn_gemm1(TRUE, FALSE, ncol, D, tn, 1.0f, dense, ncol, doh + (gsize)i0 * d, d, 1.0f, dv0, 2 * d);
  }
  if (N > 0)
    spn_gemm1(TRUE, FALSE, N, D, M, sqrtf((float)N), pers, N, doh, d, 0.0f, slot->pv, D);

  head_grad_weights(sh, hd, doh, g, gp, dense);
  head_grad_scores(sh, hd, g, gp, slot);

  /* position table and queries through it, over the score window */
  spn_gemm1(TRUE, FALSE, D, s, M, 1.0f, hd->qh, d, g, s, 0.0f, slot->pe, s);
  spn_gemm1(FALSE, TRUE, M, D, s, 1.0f, g, s, hd->pe, sh->S, 0.0f, dqh, d);
  /* keys and queries through the content scores */
  T = tile_rows(sh, s);
  for (int i0 = 0; i0 < M; i0 += T) {
    int tn = MIN(T, M - i0), ncol = tn + s - 1;
    band_to_dense(g, s, i0, tn, dense);
    gsize row = (gsize)tile_key_row(sh, s, i0) * 2 * d;
    spn_gemm1(FALSE, FALSE, tn, D, ncol, 1.0f, dense, ncol, hd->kh + row, 2 * d, 1.0f,
              dqh + (gsize)i0 * d, d);
    spn_gemm1(TRUE, FALSE, ncol, D, tn, 1.0f, dense, ncol, hd->qh + (gsize)i0 * d, d, 1.0f,
              dkh + row, 2 * d);
  }
  if (N > 0) {
    float sd = sqrtf((float)D);
    spn_gemm1(FALSE, TRUE, M, D, N, sd, gp, N, hd->pk, N, 1.0f, dqh, d);
    spn_gemm1(TRUE, FALSE, D, N, M, sd, hd->qh, d, gp, N, 0.0f, slot->pk, N);
  }
}

typedef struct {
  const float *q, *kv, *state;
  float *out;                 /* forward: the heads' outputs */
  const float *dout;          /* backward: their gradients ... */
  float *dq, *dkv;
  SpnAttnSlots *slots;
} HeadTask;

/* Every (stream, head) pair of streams b0..b1−1 once, spread over the threads of a new region
 * (or run in turn when the caller is a thread of a region already), each thread with its own
 * scratch (and its own state when the caller keeps none). */
static void
for_each_head(const SpnAttnShape *sh, const HeadTask *task, gboolean backward, int b0, int b1)
{
  int t0 = b0 * sh->K, t1 = b1 * sh->K;
#pragma omp parallel
  {
    Scratch sc;
    scratch_init(&sc, sh, task->state == NULL);
#pragma omp for schedule(dynamic, 1)
    for (int t = t0; t < t1; t++) {
      Head hd = head_at(sh, task->q, task->kv, task->state, t / sh->K, t % sh->K, sc.own);
      head_mask(sh, hd.h, hd.s, sc.mask, backward ? sc.pass : NULL);
      hd.mask = sc.mask;
      hd.pass = sc.pass;
      if (backward) {
        Slot slot = slot_at(sh, task->slots, hd.b, hd.h);
        head_backward(sh, &hd, task->dout, task->dq, task->dkv, &slot, &sc);
        task->slots->z[t] = slot.z;
      } else {
        head_forward(sh, &hd, task->out, &sc);
      }
    }
    g_free(sc.mem);
  }
}

void
spn_attention_forward_streams(const SpnAttnShape *sh, int b0, int b1, const float *q,
                              const float *kv, float *state, float *out)
{
  g_return_if_fail(sh->nk >= sh->wmax + sh->M);
  HeadTask task = {.q = q, .kv = kv, .state = state, .out = out};
  for_each_head(sh, &task, FALSE, b0, b1);
}

void
spn_attention_forward(const SpnAttnShape *sh, const float *q, const float *kv, float *state,
                      float *out)
{
  spn_attention_forward_streams(sh, 0, sh->B, q, kv, state, out);
}

void
spn_attention_backward_streams(const SpnAttnShape *sh, int b0, int b1, const float *q,
                               const float *kv, const float *state, const float *dout, float *dq,
                               float *dkv, SpnAttnSlots *slots)
{
  g_return_if_fail(sh->nk >= sh->wmax + sh->M);
  HeadTask task = {.q = q, .kv = kv, .state = state, .dout = dout, .dq = dq, .dkv = dkv,
                   .slots = slots};
  for_each_head(sh, &task, TRUE, b0, b1);
}

void
spn_attention_reduce_team(const SpnAttnShape *sh, const SpnAttnSlots *slots, float *dkey_pe,
                          float *dz, float *dpk, float *dpv)
{
  int D = sh->D, N = sh->N, S = sh->S;
  /* each output element sums its slots in (stream, head) order, whatever thread owns it */
#pragma omp for schedule(static) nowait
  for (int j = 0; j < D; j++)
    for (int t = 0; t < sh->B * sh->K; t++) {
      int h = t % sh->K, w = spn_attention_score_window(sh, h);
      const float *pe = slot_at(sh, slots, t / sh->K, h).pe + (gsize)j * w;
      float *dst = dkey_pe + (gsize)j * S + (S - w);
      for (int c = 0; c < w; c++)
        dst[c] += pe[c];
    }
  if (dz != NULL) {
#pragma omp single nowait
    for (int t = 0; t < sh->B * sh->K; t++)
      dz[t % sh->K] += slots->z[t];
  }
  if (dpk == NULL)
    return;
#pragma omp for schedule(static) nowait
  for (int h = 0; h < sh->K; h++)
    for (int b = 0; b < sh->B; b++) {
      Slot sl = slot_at(sh, slots, b, h);
      for (gsize k = 0; k < (gsize)D * N; k++) {
        dpk[(gsize)h * D * N + k] += sl.pk[k];
        dpv[(gsize)h * D * N + k] += sl.pv[k];
      }
    }
}

void
spn_attention_backward(const SpnAttnShape *sh, const float *q, const float *kv,
                       const float *state, const float *dout, float *dq, float *dkv,
                       float *dkey_pe, float *dz, float *dpk, float *dpv)
{
  if (!sh->sparse_dkv)
    memset(dkv, 0, sizeof(float) * sh->B * sh->nk * 2 * sh->d);
  SpnAttnSlots slots = {.mem = g_new(float, spn_attention_slots_size(sh) + 1),
                        .z = g_new(float, sh->B * sh->K)};
  spn_attention_backward_streams(sh, 0, sh->B, q, kv, state, dout, dq, dkv, &slots);
#pragma omp parallel
  spn_attention_reduce_team(sh, &slots, dkey_pe, dz, dpk, dpv);
  g_free(slots.mem);
  g_free(slots.z);
}

void
spn_attention_weights(const SpnAttnShape *sh, const float *state, int b, int h, int i,
                      float *ctx, float *pers)
{
  Head hd = head_at(sh, NULL, NULL, state, b, h, NULL);
  /* the band holds distance w − c at column c: computed into ctx, then put nearest first */
  head_mask(sh, h, hd.s, ctx, NULL);
  hd.mask = ctx;
  head_final_row(sh, &hd, i, ctx, pers);
  for (int lo = 0, hi = hd.w - 1; lo < hi; lo++, hi--) {
    float t = ctx[lo];
    ctx[lo] = ctx[hi];
    ctx[hi] = t;
  }
  memset(ctx + hd.w, 0, sizeof(float) * (sh->S - hd.w));
}

void
spn_attention_persistent_share(const SpnAttnShape *sh, const float *state, double *share)
{
  for (int h = 0; h < sh->K; h++) {
    double sum = 0.0;
    for (int b = 0; b < sh->B; b++) {
      Head hd = head_at(sh, NULL, NULL, state, b, h, NULL);
      for (int i = 0; i < sh->M; i++) {
        /* the final weights' persistent part, b̃(n) = b(n) / zn (head_final_row) */
        double zn = sh->adapt ? hd.zn[i] : 1.0, mass = 0.0;
        for (int n = 0; n < sh->N; n++)
          mass += hd.ap[(gsize)i * sh->N + n];
        sum += mass / zn;
      }
    }
    share[h] = sh->N > 0 && sh->B * sh->M > 0 ? sum / ((double)sh->B * sh->M) : 0.0;
  }
}
