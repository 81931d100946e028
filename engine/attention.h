/* attention.h — relative-position multi-head attention over the previous S positions, with
 * the adaptive-span soft mask and persistent memory, forward and backward.
 *
 * Per head h with span parameter z the soft mask is m(δ) = clamp((R + zS − (δ−1))/R, 0, 1).
 * Every distance beyond window(z) = min(S, ceil(zS) + R + 1) has m = 0 and no gradient, so the
 * head computes scores, softmax and output over its own window only: its cost follows its own
 * span (per-head trimming) and the result equals the untrimmed computation. (The distance
 * ceil(zS)+R+1 is kept: when zS is an integer it sits exactly where the clamp starts, and the
 * clamp passes the gradient of z there.)
 *
 * Two attention windows (docs/MODEL.md, "Attention window"). In head mode (norm_window 0) the
 * softmax of a head runs over its own window. In reference mode (norm_window W, the layer's
 * 64-granular trimmed window of the reference) the softmax's normaliser runs over W for every
 * head of the layer, as the reference computes it: a head then scores W distances (its score
 * window) but its weights are zero beyond its own window, so the values, their gradients and
 * the gradient of the weights still cost only its own window. The two differ only through the
 * renormalisation's 1e-8 epsilon, which is scaled by the normaliser.
 *
 * Keys and values come from a "pack" per stream: the last wmax cached layer inputs followed by
 * the block, wmax = the largest score window of the layer. Query i (0-based in the block) at
 * distance δ reads pack row wmax + i − δ, so head h reads only key rows wmax − s_h … wmax+M−1
 * (s_h its score window) and value rows wmax − w_h … of its own columns: the caller need
 * project only those (per-head projection). Stream b's pack starts at row b·nk, nk ≥ wmax + M
 * chosen by the caller: layers whose windows differ can share one array, each stream at the
 * same place in every layer. The scores of one head are kept as a band M×s whose column c
 * holds distance s − c — the key_pe layout, so the position table is a plain slice.
 */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

/* The renormalisation's epsilon: masked weights / (their sum + persistent weights + 1e-8), as
 * the reference adds it in both its plain and its persistent-memory paths. */
#define SPN_ATTN_EPS 1e-8f

typedef struct {
  int B, M;            /* streams, queries per stream (the block, possibly shorter) */
  int S, d, K, D, N, R;
  gboolean adapt;
  float dropout;       /* on the attention weights, training only */
  guint64 dropout_seed;
  const int *window;   /* K windows (distances 1..window[h] can carry weight) */
  int norm_window;     /* reference mode: W ≥ every window, the distances every head's softmax
                          normaliser runs over; 0: each head's own window (head mode) */
  int wmax;            /* the largest score window */
  int nk;              /* rows per stream in kv and dkv, at least wmax + M */
  /* weights */
  const float *key_pe; /* D×S */
  const float *z;      /* K, or NULL */
  const float *pk, *pv;/* K×D×N, K×N×D, or NULL */
  /* backward writes dkv only where a head reads kv (its columns, its rows); otherwise dkv is
   * overwritten whole, zero where no head reads */
  gboolean sparse_dkv;
} SpnAttnShape;

/* Window of a head: the distances that can carry weight or gradient. */
int spn_attention_window(float z, int S, int R, gboolean adapt);
/* The distances head h scores: norm_window in reference mode, else its window. */
int spn_attention_score_window(const SpnAttnShape *sh, int h);
/* FLOPs (two per multiply-add) of one head's forward and backward over M queries that score
 * s distances and weigh w (cost.h), width D, N persistent vectors: the products over the bands
 * of M × s and M × w weights, or as_run, the products as they run, over dense tiles that hold
 * the bands. */
double spn_attention_head_flops(int M, int D, int N, int s, int w, gboolean as_run);
/* Soft mask value at distance delta, computed as the reference does (in float). */
float spn_span_mask(float z, int S, int R, int delta, gboolean *passes_grad);

/* q: B·M×d; kv: B·nk×2d (keys in columns 0..d−1, values d..2d−1), read only where a head
 * reaches; state: the layer's attention state (softmax weights and normalisers, used by
 * backward and by spn_attention_weights), or NULL when neither follows (each thread then
 * works in a band of its own); out: B·M×d, the concatenated heads. */
void spn_attention_forward(const SpnAttnShape *sh, const float *q, const float *kv, float *state,
                           float *out);

/* dout: B·M×d. dq (B·M×d) and dkv (B·nk×2d, see sparse_dkv) are overwritten. Gradients
 * of key_pe (D×S), z (K), pk, pv are accumulated (NULL when the model has none). */
void spn_attention_backward(const SpnAttnShape *sh, const float *q, const float *kv,
                            const float *state, const float *dout, float *dq, float *dkv,
                            float *dkey_pe, float *dz, float *dpk, float *dpv);

/* Gradient slots of one backward pass: the share of every (stream, head) in the gradients of
 * the parameters all share (key_pe, z, persistent memory), summed in a fixed order. */
typedef struct {
  float *mem; /* spn_attention_slots_size floats */
  float *z;   /* B·K */
} SpnAttnSlots;

gsize spn_attention_slots_size(const SpnAttnShape *sh);

/* For callers that share the streams among their own threads: forward and backward of streams
 * b0..b1−1 only (inside a parallel region they run on the calling thread), the backward
 * filling those streams' slots; then spn_attention_reduce_team, called by every thread of a
 * region (each sums its own part of the outputs, without waiting) or from outside one, adds
 * the slots to dkey_pe, dz, dpk and dpv as spn_attention_backward does. */
void spn_attention_forward_streams(const SpnAttnShape *sh, int b0, int b1, const float *q,
                                   const float *kv, float *state, float *out);
void spn_attention_backward_streams(const SpnAttnShape *sh, int b0, int b1, const float *q,
                                    const float *kv, const float *state, const float *dout,
                                    float *dq, float *dkv, SpnAttnSlots *slots);
void spn_attention_reduce_team(const SpnAttnShape *sh, const SpnAttnSlots *slots,
                               float *dkey_pe, float *dz, float *dpk, float *dpv);

/* The final attention weights of stream b, head h, query i as the model used them (masked and
 * renormalised): ctx[δ−1] for δ = 1..S (zeros beyond the window) and pers[n] (N values, may be
 * NULL). */
void spn_attention_weights(const SpnAttnShape *sh, const float *state, int b, int h, int i,
                           float *ctx, float *pers);

/* Each head's mean share of attention on its persistent vectors over every stream and query of
 * the last forward (the final weights before dropout; 0 without persistent memory): share (K). */
void spn_attention_persistent_share(const SpnAttnShape *sh, const float *state, double *share);

G_END_DECLS
