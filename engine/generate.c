/* generate.c — sampling a continuation of a prompt (generate.h). */
#include "generate.h"

#include <math.h>

#include "probe.h"
#include "runner.h"
#include "rng.h"

/* how many prompt tokens one forward call reads */
#define READ_CHUNK 256

static gint32
sample_token(const float *logp, int v, double temperature, SpnRng *rng)
{
  int best = 0;
  for (int j = 1; j < v; j++)
    if (logp[j] > logp[best])
      best = j;
  if (temperature <= 0.0)
    return best;
  double total = 0.0;
  for (int j = 0; j < v; j++)
    total += exp((logp[j] - logp[best]) / temperature);
  double u = spn_rng_uniform(rng) * total;
  for (int j = 0; j < v; j++) {
    u -= exp((logp[j] - logp[best]) / temperature);
    if (u <= 0.0)
      return j;
  }
  return best;
}

char *
spn_generate(SpnModel *m, const SpnVocab *vocab, const char *prompt, int length,
             double temperature, guint64 seed, GError **error)
{
  const SpnConfig *c = &m->cfg;
  gsize n = 0;
  gint32 *tokens = spn_vocab_encode(vocab, prompt, -1, &n, NULL, error);
  if (tokens == NULL)
    return NULL;
  if (n == 0) {
    g_set_error(error, SPN_PROBE_ERROR, SPN_PROBE_ERROR_EMPTY,
                "the prompt is empty: give at least one character");
    g_free(tokens);
    return NULL;
  }
  SpnRng rng;
  spn_rng_seed(&rng, seed);
  SpnRunner *r = spn_runner_new(m, 1, READ_CHUNK, FALSE);
  int last_len = 0;
  for (gsize start = 0; start < n; start += READ_CHUNK) {
    last_len = (int)MIN((gsize)READ_CHUNK, n - start);
    spn_runner_forward(r, tokens + start, NULL, last_len, FALSE, NULL);
  }
  gint32 *out = g_new(gint32, MAX(length, 1));
  const float *logp = spn_runner_logprobs(r) + (gsize)(last_len - 1) * c->vocab_size;
  for (int k = 0; k < length; k++) {
    /* a prediction that is not finite samples nothing: saying so beats printing noise */
    for (int j = 0; j < c->vocab_size; j++)
      if (!isfinite(logp[j]) && !(isinf(logp[j]) && logp[j] < 0)) {
        g_set_error(error, SPN_PROBE_ERROR, SPN_PROBE_ERROR_NOT_FINITE,
                    "the model's prediction of token %d is not finite (its weights or their "
                    "sums are not): nothing can be sampled", k + 1);
        g_free(out);
        g_free(tokens);
        spn_runner_free(r);
        return NULL;
      }
    out[k] = sample_token(logp, c->vocab_size, temperature, &rng);
    spn_runner_forward(r, &out[k], NULL, 1, FALSE, NULL);
    logp = spn_runner_logprobs(r);
  }
  char *text = spn_vocab_decode(vocab, out, length);
  g_free(out);
  g_free(tokens);
  spn_runner_free(r);
  return text;
}

