/* safetensors_reader.c — reading a safetensors file (safetensors.h): the whole file into
 * memory, every header field checked before it sizes or indexes anything, the checksum verified. */
#include "safetensors-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "jsonread.h"
#include "readfile.h"

/* A valid header nests 3 levels (root, tensor entry, shape array). */
#define MAX_JSON_DEPTH SPN_JSON_MAX_DEPTH

/* Zero-element tensors get this instead of a pointer into (or past) the file buffer, so their
 * data pointer is non-NULL and aligned like every other. */
static const gint64 empty_data = 0;

struct _SpnSafetensors {
  char *path;
  char *display;    /* UTF-8 rendering of path for messages */
  GBytes *bytes;            /* the whole file */
  const guint8 *contents;   /* its data; malloc alignment suits every dtype */
  gsize size;
  gsize data_len;   /* bytes after the header */
  GPtrArray *tensors;   /* SpnStTensor *, ordered by data offset */
  GHashTable *by_name;  /* name -> SpnStTensor * (borrowed from tensors) */
  GHashTable *metadata; /* key -> value */
  GPtrArray *copies;    /* aligned copies of tensors whose file position was misaligned */
};

typedef struct {
  const guint8 *header;
  gsize header_len;
  const guint8 *data;
  gsize data_len;
} SpnStLayout;

static void
tensor_free(gpointer p)
{
  SpnStTensor *t = p;
  g_free((char *)t->name);
  g_free(t);
}

/* Reads the file ourselves rather than mapping it: a mapping turns a concurrent truncation into
 * SIGBUS, and our own read gives errno-based messages in the "PATH: ..." form. */
static gboolean
load_contents(SpnSafetensors *st, GError **error)
{
  struct stat sb;
  int fd = spn_open_regular(st->path, &sb);
  if (fd < 0) {
    int err = errno;
    if (err != 0)
      spn_st_fail(error, SPN_ST_ERROR_IO, st->display, "cannot open: %s", g_strerror(err));
    else
      spn_st_fail(error, SPN_ST_ERROR_IO, st->display,
                  "is %s, not a regular file; a checkpoint is a file on disk",
                  spn_file_kind(sb.st_mode));
    return FALSE;
  }
  gsize cap = (gsize)sb.st_size;
  guint8 *buf = NULL;
  if ((off_t)cap != sb.st_size || (buf = g_try_malloc(MAX(cap, 1))) == NULL) {
    spn_st_fail(error, SPN_ST_ERROR_IO, st->display,
                "file is %" G_GINT64_FORMAT " bytes, too large to load into memory",
                (gint64)sb.st_size);
    close(fd);
    return FALSE;
  }
  gsize got = 0;
  gboolean ok = spn_read_all(fd, buf, cap, &got);
  int err = errno;
  close(fd);
  st->bytes = g_bytes_new_take(buf, got);
  st->contents = g_bytes_get_data(st->bytes, &st->size);
  if (!ok)
    spn_st_fail(error, SPN_ST_ERROR_IO, st->display, "cannot read: %s", g_strerror(err));
  return ok;
}

static gboolean
split_file(const SpnSafetensors *st, SpnStLayout *lay, GError **error)
{
  if (st->size < 8) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                "file is %" G_GSIZE_FORMAT " bytes, too short for a safetensors header "
                "(at least 8 bytes)",
                st->size);
    return FALSE;
  }
  guint64 n;
  memcpy(&n, st->contents, sizeof n);
  n = GUINT64_FROM_LE(n);
  /* Checked before the file size so that 8 + n cannot overflow below. */
  if (n > SPN_ST_MAX_HEADER) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                "header length %" G_GUINT64_FORMAT " is absurd (at most %" G_GUINT64_FORMAT
                " bytes); this is not a safetensors file",
                n, SPN_ST_MAX_HEADER);
    return FALSE;
  }
  if (n > st->size - 8) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                "header length %" G_GUINT64_FORMAT " exceeds the file size (%" G_GSIZE_FORMAT
                " bytes); the file is truncated",
                n, st->size);
    return FALSE;
  }
  lay->header = st->contents + 8;
  lay->header_len = (gsize)n;
  lay->data = lay->header + lay->header_len;
  lay->data_len = st->size - 8 - lay->header_len;
  return TRUE;
}

/* Returns the parser (owning the tree) with its root verified to be an object. */
static JsonParser *
parse_header(const SpnSafetensors *st, const SpnStLayout *lay, GError **error)
{
  JsonParser *parser =
      spn_json_read((const char *)lay->header, lay->header_len, SPN_ST_MAX_HEADER, MAX_JSON_DEPTH, TRUE,
                    "header", SPN_ST_ERROR, SPN_ST_ERROR_FORMAT, error);
  if (parser == NULL)
    g_prefix_error(error, "%s: ", st->display);
  return parser;
}

static gboolean
node_is_string(JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING;
}

/* json-glib saturates integers too large for int64 to -1, so the sign check also rejects them. */
static gboolean
node_get_count(JsonNode *node, gint64 *out)
{
  if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64)
    return FALSE;
  *out = json_node_get_int(node);
  return *out >= 0;
}

static gboolean
parse_metadata(SpnSafetensors *st, JsonNode *node, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT(node)) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                "\"" SPN_ST_METADATA_KEY "\" is not a JSON object");
    return FALSE;
  }
  JsonObject *obj = json_node_get_object(node);
  JsonObjectIter iter;
  const char *key;
  JsonNode *value;
  json_object_iter_init_ordered(&iter, obj);
  while (json_object_iter_next_ordered(&iter, &key, &value)) {
    if (!node_is_string(value)) {
      spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display, "metadata value of '%s' is not a string",
                  key);
      return FALSE;
    }
    g_hash_table_replace(st->metadata, g_strdup(key), g_strdup(json_node_get_string(value)));
  }
  return TRUE;
}

static gboolean
parse_dtype(const SpnSafetensors *st, const char *name, JsonObject *entry, SpnStTensor *t,
            GError **error)
{
  JsonNode *node = json_object_get_member(entry, "dtype");
  if (node == NULL || !node_is_string(node)) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                node ? "tensor '%s' dtype is not a string" : "tensor '%s' has no dtype", name);
    return FALSE;
  }
  const char *dtype = json_node_get_string(node);
  if (!spn_st_dtype_from_name(dtype, &t->dtype)) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                "unsupported dtype '%s' of tensor '%s' (expected F32, I32 or I64)", dtype, name);
    return FALSE;
  }
  return TRUE;
}

static gboolean
parse_shape(const SpnSafetensors *st, const char *name, JsonObject *entry, SpnStTensor *t,
            GError **error)
{
  JsonNode *node = json_object_get_member(entry, "shape");
  if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node)) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                node ? "tensor '%s' shape is not an array" : "tensor '%s' has no shape", name);
    return FALSE;
  }
  JsonArray *arr = json_node_get_array(node);
  guint ndim = json_array_get_length(arr);
  if (ndim > SPN_ST_MAX_DIMS) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                "tensor '%s' has %u dimensions (at most %d supported)", name, ndim,
                SPN_ST_MAX_DIMS);
    return FALSE;
  }
  t->ndim = (int)ndim;
  t->n_elements = 1;
  for (guint i = 0; i < ndim; i++) {
    if (!node_get_count(json_array_get_element(arr, i), &t->shape[i])) {
      spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                  "tensor '%s' shape element %u is not a non-negative integer", name, i);
      return FALSE;
    }
  }
  for (guint i = 0; i < ndim; i++) {
    if ((guint64)t->shape[i] > G_MAXSIZE ||
        !g_size_checked_mul(&t->n_elements, t->n_elements, (gsize)t->shape[i])) {
      g_autofree char *shape = spn_st_format_shape(t->ndim, t->shape);
      spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                  "tensor '%s' shape %s has too many elements", name, shape);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
parse_offsets(const SpnSafetensors *st, const char *name, JsonObject *entry, gint64 offsets[2],
              GError **error)
{
  JsonNode *node = json_object_get_member(entry, "data_offsets");
  JsonArray *arr = node && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
  if (arr == NULL || json_array_get_length(arr) != 2 ||
      !node_get_count(json_array_get_element(arr, 0), &offsets[0]) ||
      !node_get_count(json_array_get_element(arr, 1), &offsets[1])) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                node ? "tensor '%s' data_offsets is not an array of two non-negative integers"
                     : "tensor '%s' has no data_offsets",
                name);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_extent(const SpnSafetensors *st, const char *name, const SpnStLayout *lay,
             const SpnStTensor *t, const gint64 off[2], GError **error)
{
  if (off[0] > off[1]) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                "tensor '%s' data offsets [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                "] are reversed",
                name, off[0], off[1]);
    return FALSE;
  }
  if ((guint64)off[1] > lay->data_len) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                "tensor '%s' data offsets [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                "] exceed the data section (%" G_GSIZE_FORMAT " bytes)",
                name, off[0], off[1], lay->data_len);
    return FALSE;
  }
  gsize n_bytes;
  gsize span = (gsize)(off[1] - off[0]);
  gboolean fits = g_size_checked_mul(&n_bytes, t->n_elements, spn_st_dtype_size(t->dtype));
  if (fits && n_bytes == span)
    return TRUE;
  g_autofree char *shape = spn_st_format_shape(t->ndim, t->shape);
  if (!fits)
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                "tensor '%s' shape %s has too many elements", name, shape);
  else
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                "tensor '%s' shape %s needs %" G_GSIZE_FORMAT
                " bytes but its offsets span %" G_GSIZE_FORMAT,
                name, shape, n_bytes, span);
  return FALSE;
}

/* Points t->data at the tensor's bytes, copying them when the file position is not aligned for
 * the dtype (files from other writers need not align tensors). */
static void
attach_data(SpnSafetensors *st, SpnStTensor *t, const guint8 *bytes)
{
  gsize elem = spn_st_dtype_size(t->dtype);
  gsize n_bytes = t->n_elements * elem;
  if (n_bytes == 0) {
    t->data = &empty_data;
  } else if ((uintptr_t)bytes % elem == 0) {
    t->data = bytes;
  } else {
    void *copy = g_malloc(n_bytes);
    memcpy(copy, bytes, n_bytes);
    g_ptr_array_add(st->copies, copy);
    t->data = copy;
  }
}

static SpnStTensor *
parse_tensor(SpnSafetensors *st, const char *name, JsonNode *node, const SpnStLayout *lay,
             gint64 *begin, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT(node)) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display, "tensor '%s' entry is not a JSON object",
                name);
    return NULL;
  }
  JsonObject *entry = json_node_get_object(node);
  SpnStTensor t = {0};
  gint64 off[2];
  if (!parse_dtype(st, name, entry, &t, error) || !parse_shape(st, name, entry, &t, error) ||
      !parse_offsets(st, name, entry, off, error) || !check_extent(st, name, lay, &t, off, error))
    return NULL;
  attach_data(st, &t, lay->data + off[0]);
  t.name = g_strdup(name);
  *begin = off[0];
  SpnStTensor *owned = g_new(SpnStTensor, 1);
  *owned = t;
  return owned;
}

typedef struct {
  SpnStTensor *tensor;
  gint64 begin;
  guint header_index;
} SpnStOrder;

static gint
order_cmp(gconstpointer a, gconstpointer b)
{
  const SpnStOrder *x = a, *y = b;
  if (x->begin != y->begin)
    return x->begin < y->begin ? -1 : 1;
  return x->header_index < y->header_index ? -1 : x->header_index > y->header_index;
}

static gboolean
parse_entries(SpnSafetensors *st, JsonObject *root, const SpnStLayout *lay, GError **error)
{
  g_autoptr(GArray) order = g_array_new(FALSE, FALSE, sizeof(SpnStOrder));
  JsonObjectIter iter;
  const char *name;
  JsonNode *node;
  gboolean ok = TRUE;
  json_object_iter_init_ordered(&iter, root);
  while (ok && json_object_iter_next_ordered(&iter, &name, &node)) {
    if (strcmp(name, SPN_ST_METADATA_KEY) == 0) {
      ok = parse_metadata(st, node, error);
      continue;
    }
    SpnStOrder o = {.header_index = order->len};
    o.tensor = parse_tensor(st, name, node, lay, &o.begin, error);
    ok = o.tensor != NULL;
    if (ok)
      g_array_append_val(order, o);
  }
  /* Data-offset order is the physical layout: insertion order for files we wrote. */
  g_array_sort(order, order_cmp);
  for (guint i = 0; i < order->len; i++) {
    SpnStTensor *t = g_array_index(order, SpnStOrder, i).tensor;
    g_ptr_array_add(st->tensors, t);
    g_hash_table_replace(st->by_name, (gpointer)t->name, t);
  }
  return ok;
}

static gboolean
verify_checksum(const SpnSafetensors *st, const SpnStLayout *lay, GError **error)
{
  const char *expected = g_hash_table_lookup(st->metadata, SPN_ST_CHECKSUM_KEY);
  if (expected == NULL)
    return TRUE; /* written by another tool: nothing to verify against */
  g_autoptr(GChecksum) cs = g_checksum_new(G_CHECKSUM_SHA256);
  spn_st_checksum_feed(cs, lay->data, lay->data_len);
  const char *found = g_checksum_get_string(cs);
  if (g_ascii_strcasecmp(expected, found) == 0)
    return TRUE;
  spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
              "checksum mismatch: the file is corrupt (expected sha256 %s, found %s)", expected,
              found);
  return FALSE;
}

static SpnSafetensors *
safetensors_new(const char *path)
{
  SpnSafetensors *st = g_new0(SpnSafetensors, 1);
  st->path = g_strdup(path);
  st->display = g_filename_display_name(path);
  st->tensors = g_ptr_array_new_with_free_func(tensor_free);
  st->by_name = g_hash_table_new(g_str_hash, g_str_equal);
  st->metadata = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  st->copies = g_ptr_array_new_with_free_func(g_free);
  return st;
}

/* Everything after the file's bytes are in st->contents. */
static SpnSafetensors *
parse(SpnSafetensors *st, GError **error)
{
  SpnStLayout lay;
  g_autoptr(JsonParser) parser = NULL;
  gboolean ok =
      split_file(st, &lay, error) && (parser = parse_header(st, &lay, error)) != NULL &&
      parse_entries(st, json_node_get_object(json_parser_get_root(parser)), &lay, error) &&
      verify_checksum(st, &lay, error);
  if (ok)
    st->data_len = lay.data_len;
  if (!ok) {
    spn_safetensors_free(st);
    return NULL;
  }
  return st;
}

SpnSafetensors *
spn_safetensors_read(const char *path, GError **error)
{
  g_return_val_if_fail(path != NULL, NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);
  SpnSafetensors *st = safetensors_new(path);
  if (!load_contents(st, error)) {
    spn_safetensors_free(st);
    return NULL;
  }
  return parse(st, error);
}

SpnSafetensors *
spn_safetensors_read_bytes(GBytes *bytes, const char *name, GError **error)
{
  g_return_val_if_fail(bytes != NULL && name != NULL, NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);
  SpnSafetensors *st = safetensors_new(name);
  st->bytes = g_bytes_ref(bytes);
  st->contents = g_bytes_get_data(st->bytes, &st->size);
  return parse(st, error);
}

void
spn_safetensors_free(SpnSafetensors *st)
{
  if (st == NULL)
    return;
  g_hash_table_destroy(st->by_name);
  g_ptr_array_free(st->tensors, TRUE);
  g_hash_table_destroy(st->metadata);
  g_ptr_array_free(st->copies, TRUE);
  if (st->bytes != NULL)
    g_bytes_unref(st->bytes);
  g_free(st->display);
  g_free(st->path);
  g_free(st);
}

const char *
spn_safetensors_path(const SpnSafetensors *st)
{
  g_return_val_if_fail(st != NULL, NULL);
  return st->path;
}

gsize
spn_safetensors_data_size(const SpnSafetensors *st)
{
  g_return_val_if_fail(st != NULL, 0);
  return st->data_len;
}

guint
spn_safetensors_n_tensors(const SpnSafetensors *st)
{
  g_return_val_if_fail(st != NULL, 0);
  return st->tensors->len;
}

const SpnStTensor *
spn_safetensors_nth(const SpnSafetensors *st, guint i)
{
  g_return_val_if_fail(st != NULL, NULL);
  g_return_val_if_fail(i < st->tensors->len, NULL);
  return g_ptr_array_index(st->tensors, i);
}

const SpnStTensor *
spn_safetensors_get(const SpnSafetensors *st, const char *name)
{
  g_return_val_if_fail(st != NULL, NULL);
  g_return_val_if_fail(name != NULL, NULL);
  return g_hash_table_lookup(st->by_name, name);
}

const char *
spn_safetensors_metadata(const SpnSafetensors *st, const char *key)
{
  g_return_val_if_fail(st != NULL, NULL);
  g_return_val_if_fail(key != NULL, NULL);
  return g_hash_table_lookup(st->metadata, key);
}

static gboolean
shape_equal(const SpnStTensor *t, int ndim, const gint64 *shape)
{
  if (t->ndim != ndim)
    return FALSE;
  for (int i = 0; i < ndim; i++)
    if (t->shape[i] != shape[i])
      return FALSE;
  return TRUE;
}

const void *
spn_safetensors_expect(const SpnSafetensors *st, const char *name, SpnDtype dtype, int ndim,
                       const gint64 *shape, GError **error)
{
  g_return_val_if_fail(st != NULL, NULL);
  g_return_val_if_fail(name != NULL, NULL);
  g_return_val_if_fail(spn_st_dtype_valid(dtype), NULL);
  g_return_val_if_fail(ndim >= 0 && ndim <= SPN_ST_MAX_DIMS, NULL);
  g_return_val_if_fail(ndim == 0 || shape != NULL, NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);

  const SpnStTensor *t = spn_safetensors_get(st, name);
  if (t == NULL) {
    spn_st_fail(error, SPN_ST_ERROR_MISMATCH, st->display, "tensor '%s' is missing", name);
    return NULL;
  }
  if (t->dtype != dtype) {
    spn_st_fail(error, SPN_ST_ERROR_MISMATCH, st->display, "tensor '%s' has dtype %s, expected %s",
                name, spn_st_dtype_name(t->dtype), spn_st_dtype_name(dtype));
    return NULL;
  }
  if (!shape_equal(t, ndim, shape)) {
    g_autofree char *found = spn_st_format_shape(t->ndim, t->shape);
    g_autofree char *wanted = spn_st_format_shape(ndim, shape);
    spn_st_fail(error, SPN_ST_ERROR_MISMATCH, st->display, "tensor '%s' has shape %s, expected %s",
                name, found, wanted);
    return NULL;
  }
  return t->data;
}
