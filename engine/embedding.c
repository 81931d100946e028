#include "embedding.h"

#include <string.h>

void
spn_embedding_forward(float *h, const float *table, const gint32 *ids, int n, int d)
{
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; i++)
    memcpy(h + (gsize)i * d, table + (gsize)ids[i] * d, sizeof(float) * d);
}

void
spn_embedding_backward(float *dtable, const float *dh, const gint32 *ids, int n, int d)
{
  /* sequential: rows of repeated tokens would collide across threads; this is cheap */
  for (int i = 0; i < n; i++) {
    float *row = dtable + (gsize)ids[i] * d;
    const float *g = dh + (gsize)i * d;
    for (int j = 0; j < d; j++)
      row[j] += g[j];
  }
}
