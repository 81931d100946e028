/* runner.h — SpnRunner: the machinery that runs a model over blocks of B streams with
 * per-layer caches.
 *
 * A model owns the parameter and gradient arenas. A runner owns everything sized by B and the
 * block length: the caches of layer inputs carried from block to block, the activations kept
 * for the backward pass and the work arrays — allocated once. Training, evaluation and the
 * probe each use their own runner over the same model.
 *
 * A forward pass is one parallel region in which every thread runs its own share of the
 * streams through all layers; the backward pass waits for all threads only where parameter
 * gradients sum over every row (twice per layer). Few waits keep the threads busy on a
 * machine shared with other programs, where each wait can cost a time slice. Results do not
 * depend on the number of threads beyond float rounding (a thread's share of rows goes through
 * BLAS as one product, and OpenBLAS may round a row differently in a product of another height)
 * and are identical from run to run on the same number (tests/test_threads.c).
 */
#pragma once
#include <glib.h>

#include "attention.h"
#include "model.h"

G_BEGIN_DECLS

typedef struct _SpnRunner SpnRunner;

/* block: the largest number of positions one call processes. keep_grad_state: keep what
 * spn_runner_backward needs; without it the runner keeps the attention weights of every layer
 * (spn_runner_attention) and no other activation. */
SpnRunner *spn_runner_new(SpnModel *m, int batch, int block, gboolean keep_grad_state);
/* A runner for scoring only (evaluation): it keeps the caches and nothing else between calls,
 * its layers share their work arrays; spn_runner_backward and spn_runner_attention do not
 * apply. With a training runner `donor` (same configuration, at least `batch` streams and
 * `block` positions; otherwise ignored) the work arrays are the donor's, so evaluating between
 * two training steps costs little more memory than the evaluation's caches. The donor must
 * outlive the runner, and its activations are overwritten: it needs a new forward before its
 * next backward. */
SpnRunner *spn_runner_new_eval(SpnModel *m, int batch, int block, SpnRunner *donor);
void spn_runner_free(SpnRunner *r);
/* Zeroes every cache, as at the start of the streams. */
void spn_runner_reset_cache(SpnRunner *r);
/* Every head weighs all the distances its softmax covers (the mask still applies): all S in
 * head mode, the untrimmed computation; its layer's trimmed window in reference mode, the
 * reference's own computation. For checking that per-head windows change nothing. */
void spn_runner_set_full_windows(SpnRunner *r, gboolean full);

/* Runs the B×len tokens x (row b = stream b) through the model, len ≤ block, and advances the
 * caches. With targets y (B×len) returns the mean NLL in nats and, if per_token is given, each
 * position's NLL (B×len); without targets returns 0. training enables dropout. */
double spn_runner_forward(SpnRunner *r, const gint32 *x, const gint32 *y, int len,
                          gboolean training, float *per_token);
/* Seed of the dropout masks of the next forward (training only). */
void spn_runner_set_dropout_seed(SpnRunner *r, guint64 seed);
/* Back-propagates the NLL of the last forward into the model's gradients (accumulated). */
void spn_runner_backward(SpnRunner *r);

/* After a forward: log-probabilities (B·len×V, row b·len + i). */
const float *spn_runner_logprobs(const SpnRunner *r);
/* Every head's mean share of attention on its persistent vectors in the last forward pass
 * (spn_attention_persistent_share), nlayers × nheads; not for a scoring runner. */
void spn_runner_persistent_share(const SpnRunner *r, float *share);
/* After a forward: the weights that layer l, head h, stream b, query i gave to distances
 * 1..S (ctx, S values) and to the persistent vectors (pers, N values, may be NULL). */
void spn_runner_attention(const SpnRunner *r, int layer, int b, int h, int i, float *ctx,
                          float *pers);

/* Caches as a B×S×d array per layer, for checkpoints. */
float *spn_runner_cache(SpnRunner *r, int layer);
int spn_runner_cache_valid(const SpnRunner *r, int layer);
void spn_runner_set_cache_valid(SpnRunner *r, int layer, int valid);

G_END_DECLS
