/* safetensors-private.h — what the reader and the writer of safetensors.h share: the dtype
 * table, the format's reserved keys, the checksum and the error style. */
#pragma once
#include <glib.h>

#include "safetensors.h"

G_BEGIN_DECLS

/* Tensor data is handed out in place, and the format is little-endian on disk. */
G_STATIC_ASSERT(G_BYTE_ORDER == G_LITTLE_ENDIAN);

#define SPN_ST_METADATA_KEY "__metadata__"
#define SPN_ST_CHECKSUM_KEY "spanscope.sha256"
/* The reference implementation refuses headers above 100 MB; a larger value means the file is
 * not a safetensors file at all (e.g. a text file whose first 8 bytes read as a huge number).
 * The writer refuses to write a header that readers would refuse. */
#define SPN_ST_MAX_HEADER ((guint64)100000000)
/* g_checksum_update() and a single read(2) take at most ~2 GiB; 1 GiB pieces stay clear. */
#define SPN_ST_IO_CHUNK ((gsize)1 << 30)

gboolean spn_st_dtype_valid(SpnDtype dtype);
const char *spn_st_dtype_name(SpnDtype dtype); /* "F32", ...; "?" for an invalid dtype */
gsize spn_st_dtype_size(SpnDtype dtype);
gboolean spn_st_dtype_from_name(const char *name, SpnDtype *out);

/* "[3, 4]" */
char *spn_st_format_shape(int ndim, const gint64 *shape);

/* Every error starts with the file's name, so that a message from deep inside a training run
 * still says which file is at fault. */
void spn_st_fail(GError **error, SpnStError code, const char *display, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

/* SHA-256 of data in pieces any length can go through. */
void spn_st_checksum_feed(GChecksum *cs, const guint8 *data, gsize len);

G_END_DECLS
