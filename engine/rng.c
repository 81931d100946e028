#include "rng.h"

#include <math.h>

static guint64
splitmix64(guint64 *x)
{
  guint64 z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void
spn_rng_seed(SpnRng *rng, guint64 seed)
{
  guint64 x = seed;
  for (int i = 0; i < 4; i++)
    rng->s[i] = splitmix64(&x);
}

static inline guint64
rotl(guint64 x, int k)
{
  return (x << k) | (x >> (64 - k));
}

guint64
spn_rng_next(SpnRng *rng)
{
  guint64 *s = rng->s;
  guint64 result = rotl(s[1] * 5, 7) * 9;
  guint64 t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double
spn_rng_uniform(SpnRng *rng)
{
  return (spn_rng_next(rng) >> 11) * 0x1.0p-53;
}

guint64
spn_rng_below(SpnRng *rng, guint64 n)
{
  /* rejection keeps the draw unbiased for any n */
  guint64 limit = G_MAXUINT64 - G_MAXUINT64 % n;
  guint64 r;
  do
    r = spn_rng_next(rng);
  while (r >= limit);
  return r % n;
}

double
spn_rng_normal(SpnRng *rng)
{
  double u1 = 1.0 - spn_rng_uniform(rng); /* (0, 1]: log stays finite */
  double u2 = spn_rng_uniform(rng);
  return sqrt(-2.0 * log(u1)) * cos(2.0 * G_PI * u2);
}

double
spn_hash_uniform(guint64 seed, guint64 a, guint64 b, guint64 c)
{
  guint64 x = seed ^ (a * 0xd1b54a32d192ed03ull) ^ (b * 0xabc98388fb8fac03ull) ^
              (c * 0x8cb92ba72f3d8dd7ull);
  return (splitmix64(&x) >> 11) * 0x1.0p-53;
}
