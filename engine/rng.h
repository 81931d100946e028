/* rng.h — the seeded random numbers behind initialisation, stream restarts, dropout and
 * sampling. Our own generator (xoshiro256**) so a seed gives the same run on every machine. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  guint64 s[4];
} SpnRng;

void spn_rng_seed(SpnRng *rng, guint64 seed);
guint64 spn_rng_next(SpnRng *rng);
/* Uniform in [0, 1). */
double spn_rng_uniform(SpnRng *rng);
/* Uniform integer in [0, n). */
guint64 spn_rng_below(SpnRng *rng, guint64 n);
/* Standard normal (Box–Muller). */
double spn_rng_normal(SpnRng *rng);

/* Stateless hash of (seed, a, b, c) to [0, 1): dropout masks are recomputed in the backward
 * pass from their coordinates instead of being stored, whatever thread computes them. */
double spn_hash_uniform(guint64 seed, guint64 a, guint64 b, guint64 c);

G_END_DECLS
