/* generate.h — the model continuing a text by sampling (the reference has no sampling). */
#pragma once
#include <glib.h>

#include "model.h"
#include "vocab.h"

G_BEGIN_DECLS

/* Continues prompt by `length` tokens sampled at `temperature` (0: always the most likely
 * token), from the generator seeded with `seed`. An empty prompt is SPN_PROBE_ERROR_EMPTY, a
 * prediction that is not finite SPN_PROBE_ERROR_NOT_FINITE. */
char *spn_generate(SpnModel *m, const SpnVocab *vocab, const char *prompt, int length,
                   double temperature, guint64 seed, GError **error);

G_END_DECLS
