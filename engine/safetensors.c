/* safetensors.c — what reading and writing the format share (safetensors-private.h); the
 * reader is safetensors_reader.c, the writer safetensors_writer.c. */
#include "safetensors-private.h"

#include <stdarg.h>
#include <string.h>

/* clang-format off */
G_DEFINE_QUARK(spn-st-error-quark, spn_st_error)
/* clang-format on */

static const struct {
  const char *name;
  gsize size;
} dtypes[] = {
    [SPN_DTYPE_F32] = {"F32", 4},
    [SPN_DTYPE_I32] = {"I32", 4},
    [SPN_DTYPE_I64] = {"I64", 8},
};

gboolean
spn_st_dtype_valid(SpnDtype dtype)
{
  return (guint)dtype < G_N_ELEMENTS(dtypes);
}

const char *
spn_st_dtype_name(SpnDtype dtype)
{
  return spn_st_dtype_valid(dtype) ? dtypes[dtype].name : "?";
}

gsize
spn_st_dtype_size(SpnDtype dtype)
{
  return spn_st_dtype_valid(dtype) ? dtypes[dtype].size : 0;
}

gboolean
spn_st_dtype_from_name(const char *name, SpnDtype *out)
{
  for (guint i = 0; i < G_N_ELEMENTS(dtypes); i++) {
    if (strcmp(name, dtypes[i].name) == 0) {
      *out = (SpnDtype)i;
      return TRUE;
    }
  }
  return FALSE;
}

char *
spn_st_format_shape(int ndim, const gint64 *shape)
{
  GString *s = g_string_new("[");
  for (int i = 0; i < ndim; i++)
    g_string_append_printf(s, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape[i]);
  g_string_append_c(s, ']');
  return g_string_free(s, FALSE);
}

void
spn_st_fail(GError **error, SpnStError code, const char *display, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error(error, SPN_ST_ERROR, code, "%s: %s", display, msg);
}

void
spn_st_checksum_feed(GChecksum *cs, const guint8 *data, gsize len)
{
  while (len > 0) {
    gsize n = MIN(len, SPN_ST_IO_CHUNK);
    g_checksum_update(cs, data, (gssize)n);
    data += n;
    len -= n;
  }
}
