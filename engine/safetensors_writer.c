/* safetensors_writer.c — writing a safetensors file (safetensors.h): tensors are borrowed until
 * the write, the header is built with json-glib, and the file goes through spn_save_file: a
 * finished, synced temporary file renamed over the target. */
#include "safetensors-private.h"

#include <stdarg.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "savefile.h"

typedef struct {
  char *name;
  SpnDtype dtype;
  int ndim;
  gint64 shape[SPN_ST_MAX_DIMS];
  GArray *pieces;   /* SpnStPiece */
  gsize n_bytes;
} SpnStEntry;

struct _SpnStWriter {
  GPtrArray *entries;   /* SpnStEntry *, in insertion order */
  GHashTable *names;    /* set of entry names */
  GPtrArray *meta_keys; /* metadata keys in insertion order (owned by metadata) */
  GHashTable *metadata; /* key -> value */
  /* The first invalid add; add() has no error argument, so write() reports it instead of
   * producing a file that readers would reject. */
  GError *pending;
};

static void
entry_free(gpointer p)
{
  SpnStEntry *e = p;
  g_free(e->name);
  g_array_unref(e->pieces);
  g_free(e);
}

SpnStWriter *
spn_st_writer_new(void)
{
  SpnStWriter *w = g_new0(SpnStWriter, 1);
  w->entries = g_ptr_array_new_with_free_func(entry_free);
  w->names = g_hash_table_new(g_str_hash, g_str_equal);
  w->meta_keys = g_ptr_array_new();
  w->metadata = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  return w;
}

void
spn_st_writer_free(SpnStWriter *w)
{
  if (w == NULL)
    return;
  g_hash_table_destroy(w->names);
  g_ptr_array_free(w->entries, TRUE);
  g_ptr_array_free(w->meta_keys, TRUE);
  g_hash_table_destroy(w->metadata);
  g_clear_error(&w->pending);
  g_free(w);
}

static void writer_reject(SpnStWriter *w, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void
writer_reject(SpnStWriter *w, const char *fmt, ...)
{
  if (w->pending != NULL)
    return;
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  w->pending = g_error_new_literal(SPN_ST_ERROR, SPN_ST_ERROR_FORMAT, msg);
}

/* Validates an add() and computes the tensor's size; the reason is in w->pending on FALSE. */
static gboolean
writer_check(SpnStWriter *w, const char *name, SpnDtype dtype, int ndim, const gint64 *shape,
             gsize *n_bytes)
{
  if (!g_utf8_validate(name, -1, NULL)) {
    writer_reject(w, "a tensor name is not valid UTF-8");
    return FALSE;
  }
  if (strcmp(name, SPN_ST_METADATA_KEY) == 0 || g_hash_table_contains(w->names, name)) {
    writer_reject(w, "tensor '%s' %s", name,
                  g_hash_table_contains(w->names, name) ? "was added twice"
                                                        : "has a reserved name");
    return FALSE;
  }
  if (!spn_st_dtype_valid(dtype) || ndim < 0 || ndim > SPN_ST_MAX_DIMS ||
      (ndim > 0 && shape == NULL)) {
    writer_reject(w, "tensor '%s' has an invalid dtype (%d) or dimension count (%d)", name,
                  (int)dtype, ndim);
    return FALSE;
  }
  gsize n = spn_st_dtype_size(dtype);
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0 || (guint64)shape[i] > G_MAXSIZE ||
        !g_size_checked_mul(&n, n, (gsize)shape[i]) || n > (gsize)G_MAXINT64) {
      g_autofree char *s = spn_st_format_shape(ndim, shape);
      writer_reject(w, "tensor '%s' has an invalid shape %s", name, s);
      return FALSE;
    }
  }
  *n_bytes = n;
  return TRUE;
}

/* Checks that the pieces hold exactly the tensor's n bytes. */
static gboolean
pieces_check(SpnStWriter *w, const char *name, gsize n, const SpnStPiece *pieces,
             guint n_pieces)
{
  gsize sum = 0;
  for (guint i = 0; i < n_pieces; i++) {
    if (pieces[i].n_bytes > 0 && pieces[i].data == NULL) {
      writer_reject(w, "tensor '%s' has no data", name);
      return FALSE;
    }
    if (!g_size_checked_add(&sum, sum, pieces[i].n_bytes))
      sum = G_MAXSIZE;
  }
  if (sum != n) {
    writer_reject(w, "tensor '%s' has %" G_GSIZE_FORMAT " bytes of data for its %" G_GSIZE_FORMAT,
                  name, sum, n);
    return FALSE;
  }
  return TRUE;
}

static void
add_entry(SpnStWriter *w, const char *name, SpnDtype dtype, int ndim, const gint64 *shape,
          const SpnStPiece *pieces, guint n_pieces, gsize n_bytes)
{
  SpnStEntry *e = g_new0(SpnStEntry, 1);
  e->name = g_strdup(name);
  e->dtype = dtype;
  e->ndim = ndim;
  if (ndim > 0)
    memcpy(e->shape, shape, (gsize)ndim * sizeof *shape);
  e->pieces = g_array_sized_new(FALSE, FALSE, sizeof(SpnStPiece), n_pieces);
  g_array_append_vals(e->pieces, pieces, n_pieces);
  e->n_bytes = n_bytes;
  g_ptr_array_add(w->entries, e);
  g_hash_table_add(w->names, e->name);
}

void
spn_st_writer_add(SpnStWriter *w, const char *name, SpnDtype dtype, int ndim, const gint64 *shape,
                  const void *data)
{
  g_return_if_fail(w != NULL);
  g_return_if_fail(name != NULL);

  gsize n;
  if (!writer_check(w, name, dtype, ndim, shape, &n))
    return;
  SpnStPiece piece = {data, n};
  if (pieces_check(w, name, n, &piece, 1))
    add_entry(w, name, dtype, ndim, shape, &piece, 1, n);
}

void
spn_st_writer_add_pieces(SpnStWriter *w, const char *name, SpnDtype dtype, int ndim,
                         const gint64 *shape, const SpnStPiece *pieces, guint n_pieces)
{
  g_return_if_fail(w != NULL);
  g_return_if_fail(name != NULL);
  g_return_if_fail(pieces != NULL || n_pieces == 0);

  gsize n;
  if (writer_check(w, name, dtype, ndim, shape, &n) && pieces_check(w, name, n, pieces, n_pieces))
    add_entry(w, name, dtype, ndim, shape, pieces, n_pieces, n);
}

void
spn_st_writer_set_metadata(SpnStWriter *w, const char *key, const char *value)
{
  g_return_if_fail(w != NULL);
  g_return_if_fail(key != NULL && value != NULL);

  if (!g_utf8_validate(key, -1, NULL) || !g_utf8_validate(value, -1, NULL)) {
    writer_reject(w, "metadata key or value is not valid UTF-8");
    return;
  }
  /* A repeated key keeps its original position; insert() (unlike replace()) keeps the stored
   * key, which meta_keys points to. */
  char *owned_key = g_strdup(key);
  if (!g_hash_table_contains(w->metadata, key))
    g_ptr_array_add(w->meta_keys, owned_key);
  g_hash_table_insert(w->metadata, owned_key, g_strdup(value));
}

/* Offsets are written as JSON integers, so the whole data section must fit in an int64. */
static gboolean
writer_check_total(SpnStWriter *w)
{
  gsize sum = 0;
  for (guint i = 0; i < w->entries->len; i++) {
    const SpnStEntry *e = g_ptr_array_index(w->entries, i);
    if (!g_size_checked_add(&sum, sum, e->n_bytes) || sum > (gsize)G_MAXINT64) {
      writer_reject(w, "the tensors' total size overflows");
      return FALSE;
    }
  }
  return TRUE;
}

static char *
writer_checksum(const SpnStWriter *w)
{
  g_autoptr(GChecksum) cs = g_checksum_new(G_CHECKSUM_SHA256);
  for (guint i = 0; i < w->entries->len; i++) {
    const SpnStEntry *e = g_ptr_array_index(w->entries, i);
    for (guint k = 0; k < e->pieces->len; k++) {
      const SpnStPiece *p = &g_array_index(e->pieces, SpnStPiece, k);
      spn_st_checksum_feed(cs, p->data, p->n_bytes);
    }
  }
  return g_strdup(g_checksum_get_string(cs));
}

static void
build_metadata(const SpnStWriter *w, JsonBuilder *b, const char *checksum)
{
  json_builder_set_member_name(b, SPN_ST_METADATA_KEY);
  json_builder_begin_object(b);
  for (guint i = 0; i < w->meta_keys->len; i++) {
    const char *key = g_ptr_array_index(w->meta_keys, i);
    if (strcmp(key, SPN_ST_CHECKSUM_KEY) == 0)
      continue; /* always describes the data actually written */
    json_builder_set_member_name(b, key);
    json_builder_add_string_value(b, g_hash_table_lookup(w->metadata, key));
  }
  json_builder_set_member_name(b, SPN_ST_CHECKSUM_KEY);
  json_builder_add_string_value(b, checksum);
  json_builder_end_object(b);
}

static void
build_entry(JsonBuilder *b, const SpnStEntry *e, gsize begin)
{
  json_builder_set_member_name(b, e->name);
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "dtype");
  json_builder_add_string_value(b, spn_st_dtype_name(e->dtype));
  json_builder_set_member_name(b, "shape");
  json_builder_begin_array(b);
  for (int d = 0; d < e->ndim; d++)
    json_builder_add_int_value(b, e->shape[d]);
  json_builder_end_array(b);
  json_builder_set_member_name(b, "data_offsets");
  json_builder_begin_array(b);
  json_builder_add_int_value(b, (gint64)begin);
  json_builder_add_int_value(b, (gint64)(begin + e->n_bytes));
  json_builder_end_array(b);
  json_builder_end_object(b);
}

/* The metadata key with the longest value, for the message about a header too large. */
static const char *
largest_metadata(const SpnStWriter *w, gsize *len)
{
  const char *key = "";
  *len = 0;
  for (guint i = 0; i < w->meta_keys->len; i++) {
    const char *k = g_ptr_array_index(w->meta_keys, i);
    gsize n = strlen(g_hash_table_lookup(w->metadata, k));
    if (n > *len) {
      *len = n;
      key = k;
    }
  }
  return key;
}

/* The 8-byte length, the compact JSON header (the form the reference implementation writes) and
 * the space padding that puts the data section at a multiple of 8 bytes; NULL (the reason in
 * message) when the header is larger than readers accept. */
static GBytes *
build_prefix(const SpnStWriter *w, const char *checksum, char **message)
{
  g_autoptr(JsonBuilder) b = json_builder_new_immutable();
  json_builder_begin_object(b);
  build_metadata(w, b, checksum);
  gsize offset = 0;
  for (guint i = 0; i < w->entries->len; i++) {
    const SpnStEntry *e = g_ptr_array_index(w->entries, i);
    build_entry(b, e, offset);
    offset += e->n_bytes;
  }
  json_builder_end_object(b);

  g_autoptr(JsonNode) root = json_builder_get_root(b);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_root(gen, root);
  gsize json_len;
  g_autofree char *json = json_generator_to_data(gen, &json_len);
  gsize padded = json_len + (8 - json_len % 8) % 8;
  if (padded > SPN_ST_MAX_HEADER) {
    gsize largest;
    const char *key = largest_metadata(w, &largest);
    *message = g_strdup_printf("the header would be %" G_GSIZE_FORMAT " bytes, more than the %"
                               G_GUINT64_FORMAT " that safetensors readers accept (the largest "
                               "metadata value, \"%s\", is %" G_GSIZE_FORMAT " bytes)",
                               padded, SPN_ST_MAX_HEADER, key, largest);
    return NULL;
  }
  guint64 len_le = GUINT64_TO_LE((guint64)padded);

  GByteArray *prefix = g_byte_array_sized_new((guint)(8 + padded));
  g_byte_array_append(prefix, (const guint8 *)&len_le, 8);
  g_byte_array_append(prefix, (const guint8 *)json, (guint)json_len);
  for (gsize i = json_len; i < padded; i++)
    g_byte_array_append(prefix, (const guint8 *)" ", 1);
  return g_byte_array_free_to_bytes(prefix);
}

typedef struct {
  const SpnStWriter *w;
  GBytes *prefix;
} Contents;

/* The prefix, then every tensor's bytes, in the order of the header's offsets. */
static gboolean
write_contents(int fd, gpointer user_data, GError **error)
{
  const Contents *c = user_data;
  gsize len;
  const void *data = g_bytes_get_data(c->prefix, &len);
  if (!spn_save_write(fd, data, len, error))
    return FALSE;
  for (guint i = 0; i < c->w->entries->len; i++) {
    const SpnStEntry *e = g_ptr_array_index(c->w->entries, i);
    for (guint k = 0; k < e->pieces->len; k++) {
      const SpnStPiece *p = &g_array_index(e->pieces, SpnStPiece, k);
      if (!spn_save_write(fd, p->data, p->n_bytes, error))
        return FALSE;
    }
  }
  return TRUE;
}

gboolean
spn_st_writer_write(SpnStWriter *w, const char *path, GError **error)
{
  g_return_val_if_fail(w != NULL, FALSE);
  g_return_val_if_fail(path != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

  g_autofree char *display = g_filename_display_name(path);
  if (w->pending != NULL || !writer_check_total(w)) {
    spn_st_fail(error, w->pending->code, display, "%s", w->pending->message);
    return FALSE;
  }
  g_autofree char *checksum = writer_checksum(w);
  g_autofree char *too_large = NULL;
  g_autoptr(GBytes) prefix = build_prefix(w, checksum, &too_large);
  if (prefix == NULL) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, display, "%s", too_large);
    return FALSE;
  }
  g_autoptr(GError) io_error = NULL;
  Contents contents = {w, prefix};
  if (!spn_save_file(path, write_contents, &contents, &io_error)) {
    spn_st_fail(error, SPN_ST_ERROR_IO, display, "%s (nothing was replaced)", io_error->message);
    return FALSE;
  }
  return TRUE;
}
