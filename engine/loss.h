/* loss.h — log-softmax and the mean negative log-likelihood. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

/* logits: n×V, turned into log-probabilities in place. Returns the mean NLL of targets (nats);
 * per_token (optional, n) receives each token's NLL. */
double spn_nll_forward(float *logits, const gint32 *targets, int n, int v, float *per_token);
/* From the log-probabilities: dlogits = (softmax − onehot) / n, overwriting logp. */
void spn_nll_backward(float *logp, const gint32 *targets, int n, int v);
/* The same for `rows` of the n tokens (logp and targets point at the first of them). */
void spn_nll_backward_rows(float *logp, const gint32 *targets, int rows, int v, int n);
/* The mean of n per-token NLLs, summed in order. */
double spn_nll_mean(const float *nll, int n);

G_END_DECLS
