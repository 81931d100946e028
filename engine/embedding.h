/* embedding.h — token embedding lookup (table V×d). */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

/* h: n×d rows of table for ids. */
void spn_embedding_forward(float *h, const float *table, const gint32 *ids, int n, int d);
/* dtable (V×d) accumulated with dh (n×d). */
void spn_embedding_backward(float *dtable, const float *dh, const gint32 *ids, int n, int d);

G_END_DECLS
