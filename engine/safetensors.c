/* safetensors.c — reading and writing the safetensors format (see safetensors.h). */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

/* Tensor data is handed out in place, and the format is little-endian on disk. */
G_STATIC_ASSERT(G_BYTE_ORDER == G_LITTLE_ENDIAN);

/* The reference implementation refuses headers above 100 MB; a larger value means the file is
 * not a safetensors file at all (e.g. a text file whose first 8 bytes read as a huge number). */
#define SPN_ST_MAX_HEADER ((guint64) 100000000)
/* json-glib parses recursively and overflows the stack on deeply nested input; a valid header
 * nests 3 levels (root, tensor entry, shape array). */
#define SPN_ST_MAX_JSON_DEPTH 16
/* Linux transfers at most ~2 GiB per read(2)/write(2) and g_checksum_update() takes a gssize;
 * 1 GiB pieces stay clear of both limits. */
#define SPN_ST_IO_CHUNK ((gsize) 1 << 30)

#define SPN_ST_METADATA_KEY "__metadata__"
#define SPN_ST_CHECKSUM_KEY "spanscope.sha256"

G_DEFINE_QUARK(spn-st-error-quark, spn_st_error)

static const struct {
  const char *name;
  gsize size;
} spn_st_dtypes[] = {
  [SPN_DTYPE_F32] = {"F32", 4},
  [SPN_DTYPE_I32] = {"I32", 4},
  [SPN_DTYPE_I64] = {"I64", 8},
};

/* Zero-element tensors get this instead of a pointer into (or past) the file buffer, so their
 * data pointer is non-NULL and aligned like every other. */
static const gint64 spn_st_empty_data = 0;

static gboolean
spn_st_dtype_valid(SpnDtype dtype)
{
  return (guint) dtype < G_N_ELEMENTS(spn_st_dtypes);
}

static const char *
spn_st_dtype_name(SpnDtype dtype)
{
  return spn_st_dtype_valid(dtype) ? spn_st_dtypes[dtype].name : "?";
}

static gboolean
spn_st_dtype_from_name(const char *name, SpnDtype *out)
{
  for (guint i = 0; i < G_N_ELEMENTS(spn_st_dtypes); i++) {
    if (strcmp(name, spn_st_dtypes[i].name) == 0) {
      *out = (SpnDtype) i;
      return TRUE;
    }
  }
  return FALSE;
}

static char *
spn_st_format_shape(int ndim, const gint64 *shape)
{
  GString *s = g_string_new("[");
  for (int i = 0; i < ndim; i++)
    g_string_append_printf(s, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape[i]);
  g_string_append_c(s, ']');
  return g_string_free(s, FALSE);
}

/* Every error starts with the path so that a message from deep inside a training run still says
 * which file is at fault. */
static void spn_st_fail(GError **error, SpnStError code, const char *display, const char *fmt, ...)
  G_GNUC_PRINTF(4, 5);

static void
spn_st_fail(GError **error, SpnStError code, const char *display, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error(error, SPN_ST_ERROR, code, "%s: %s", display, msg);
  g_free(msg);
}

/* ------------------------------------------------------------------------------------------ */
/* Reader                                                                                      */
/* ------------------------------------------------------------------------------------------ */

struct _SpnSafetensors {
  char *path;
  char *display;         /* UTF-8 rendering of path for messages */
  guint8 *contents;      /* the whole file; malloc alignment suits every dtype */
  gsize size;
  GPtrArray *tensors;    /* SpnStTensor *, ordered by data offset */
  GHashTable *by_name;   /* name -> SpnStTensor * (borrowed from tensors) */
  GHashTable *metadata;  /* key -> value */
  GPtrArray *copies;     /* aligned copies of tensors whose file position was misaligned */
};

typedef struct {
  const guint8 *header;
  gsize header_len;
  const guint8 *data;
  gsize data_len;
} SpnStLayout;

static void
spn_st_tensor_free(gpointer p)
{
  SpnStTensor *t = p;
  g_free((char *) t->name);
  g_free(t);
}

static gboolean
spn_st_read_all(int fd, guint8 *buf, gsize cap, gsize *got, int *err)
{
  gsize n = 0;
  while (n < cap) {
    ssize_t r = read(fd, buf + n, MIN(cap - n, SPN_ST_IO_CHUNK));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      *err = errno;
      return FALSE;
    }
    if (r == 0)
      break;  /* the file shrank since fstat; the format checks catch what is missing */
    n += (gsize) r;
  }
  *got = n;
  return TRUE;
}

/* Reads the file ourselves rather than mapping it: a mapping turns a concurrent truncation into
 * SIGBUS, and our own read gives errno-based messages in the "PATH: ..." form. */
static gboolean
spn_st_load_contents(SpnSafetensors *st, GError **error)
{
  int fd = open(st->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    spn_st_fail(error, SPN_ST_ERROR_IO, st->display, "cannot open: %s", g_strerror(err));
    return FALSE;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    int err = errno;
    spn_st_fail(error, SPN_ST_ERROR_IO, st->display, "cannot stat: %s", g_strerror(err));
    close(fd);
    return FALSE;
  }
  if (!S_ISREG(sb.st_mode)) {
    spn_st_fail(error, SPN_ST_ERROR_IO, st->display, "not a regular file");
    close(fd);
    return FALSE;
  }
  gsize cap = (gsize) sb.st_size;
  if ((off_t) cap != sb.st_size || (st->contents = g_try_malloc(MAX(cap, 1))) == NULL) {
    spn_st_fail(error, SPN_ST_ERROR_IO, st->display,
                "file is %" G_GINT64_FORMAT " bytes, too large to load into memory",
                (gint64) sb.st_size);
    close(fd);
    return FALSE;
  }
  int err = 0;
  gboolean ok = spn_st_read_all(fd, st->contents, cap, &st->size, &err);
  close(fd);
  if (!ok)
    spn_st_fail(error, SPN_ST_ERROR_IO, st->display, "cannot read: %s", g_strerror(err));
  return ok;
}

static gboolean
spn_st_split(const SpnSafetensors *st, SpnStLayout *lay, GError **error)
{
  if (st->size < 8) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                "file is %" G_GSIZE_FORMAT " bytes, too short for a safetensors header "
                "(at least 8 bytes)", st->size);
    return FALSE;
  }
  guint64 n;
  memcpy(&n, st->contents, sizeof n);
  n = GUINT64_FROM_LE(n);
  /* Checked before the file size so that 8 + n cannot overflow below. */
  if (n > SPN_ST_MAX_HEADER) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                "header length %" G_GUINT64_FORMAT " is absurd (at most %" G_GUINT64_FORMAT
                " bytes); this is not a safetensors file", n, SPN_ST_MAX_HEADER);
    return FALSE;
  }
  if (n > st->size - 8) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                "header length %" G_GUINT64_FORMAT " exceeds the file size (%" G_GSIZE_FORMAT
                " bytes); the file is truncated", n, st->size);
    return FALSE;
  }
  lay->header = st->contents + 8;
  lay->header_len = (gsize) n;
  lay->data = lay->header + lay->header_len;
  lay->data_len = st->size - 8 - lay->header_len;
  return TRUE;
}

/* Nesting depth of [ and { outside of strings; stops counting once past the limit. */
static guint
spn_st_json_depth(const char *text, gsize len)
{
  guint depth = 0, max_depth = 0;
  gboolean in_string = FALSE;
  for (gsize i = 0; i < len && max_depth <= SPN_ST_MAX_JSON_DEPTH; i++) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_string = FALSE;
    } else if (c == '"') {
      in_string = TRUE;
    } else if (c == '[' || c == '{') {
      depth++;
      max_depth = MAX(max_depth, depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      depth--;
    }
  }
  return max_depth;
}

static void
spn_st_fail_json(GError **error, const char *display, const GError *json_error)
{
  unsigned line = 0, column = 0;
  int consumed = -1;
  sscanf(json_error->message, "<data>:%u:%u: Parse error: %n", &line, &column, &consumed);
  if (consumed > 0)
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, display,
                "header is not valid JSON at line %u column %u: %s", line, column,
                json_error->message + consumed);
  else
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, display, "header is not valid JSON: %s",
                json_error->message);
}

/* Returns the parser (owning the tree) with its root verified to be an object. */
static JsonParser *
spn_st_parse_header(const SpnSafetensors *st, const SpnStLayout *lay, GError **error)
{
  const char *text = (const char *) lay->header;
  const char *bad = NULL;
  if (!g_utf8_validate(text, (gssize) lay->header_len, &bad)) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                "header is not valid UTF-8 (bad byte at header offset %" G_GSIZE_FORMAT ")",
                (gsize) (bad - text));
    return NULL;
  }
  if (spn_st_json_depth(text, lay->header_len) > SPN_ST_MAX_JSON_DEPTH) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                "header nests JSON more than %d levels deep; this is not a safetensors header",
                SPN_ST_MAX_JSON_DEPTH);
    return NULL;
  }
  JsonParser *parser = json_parser_new_immutable();
  GError *json_error = NULL;
  if (!json_parser_load_from_data(parser, text, (gssize) lay->header_len, &json_error)) {
    spn_st_fail_json(error, st->display, json_error);
    g_error_free(json_error);
    g_object_unref(parser);
    return NULL;
  }
  JsonNode *root = json_parser_get_root(parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                root == NULL ? "header is empty" : "header is not a JSON object");
    g_object_unref(parser);
    return NULL;
  }
  return parser;
}

static gboolean
spn_st_node_is_string(JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING;
}

/* json-glib saturates integers too large for int64 to -1, so the sign check also rejects them. */
static gboolean
spn_st_node_get_count(JsonNode *node, gint64 *out)
{
  if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64)
    return FALSE;
  *out = json_node_get_int(node);
  return *out >= 0;
}

static gboolean
spn_st_parse_metadata(SpnSafetensors *st, JsonNode *node, GError **error)
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
    if (!spn_st_node_is_string(value)) {
      spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                  "metadata value of '%s' is not a string", key);
      return FALSE;
    }
    g_hash_table_replace(st->metadata, g_strdup(key), g_strdup(json_node_get_string(value)));
  }
  return TRUE;
}

static gboolean
spn_st_parse_dtype(const SpnSafetensors *st, const char *name, JsonObject *entry,
                   SpnStTensor *t, GError **error)
{
  JsonNode *node = json_object_get_member(entry, "dtype");
  if (node == NULL || !spn_st_node_is_string(node)) {
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
spn_st_parse_shape(const SpnSafetensors *st, const char *name, JsonObject *entry,
                   SpnStTensor *t, GError **error)
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
  t->ndim = (int) ndim;
  t->n_elements = 1;
  for (guint i = 0; i < ndim; i++) {
    if (!spn_st_node_get_count(json_array_get_element(arr, i), &t->shape[i])) {
      spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                  "tensor '%s' shape element %u is not a non-negative integer", name, i);
      return FALSE;
    }
  }
  for (guint i = 0; i < ndim; i++) {
    if ((guint64) t->shape[i] > G_MAXSIZE ||
        !g_size_checked_mul(&t->n_elements, t->n_elements, (gsize) t->shape[i])) {
      char *shape = spn_st_format_shape(t->ndim, t->shape);
      spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                  "tensor '%s' shape %s has too many elements", name, shape);
      g_free(shape);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
spn_st_parse_offsets(const SpnSafetensors *st, const char *name, JsonObject *entry,
                     gint64 offsets[2], GError **error)
{
  JsonNode *node = json_object_get_member(entry, "data_offsets");
  JsonArray *arr = node && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
  if (arr == NULL || json_array_get_length(arr) != 2 ||
      !spn_st_node_get_count(json_array_get_element(arr, 0), &offsets[0]) ||
      !spn_st_node_get_count(json_array_get_element(arr, 1), &offsets[1])) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                node ? "tensor '%s' data_offsets is not an array of two non-negative integers"
                     : "tensor '%s' has no data_offsets",
                name);
    return FALSE;
  }
  return TRUE;
}

static gboolean
spn_st_check_extent(const SpnSafetensors *st, const char *name, const SpnStLayout *lay,
                    const SpnStTensor *t, const gint64 off[2], GError **error)
{
  if (off[0] > off[1]) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                "tensor '%s' data offsets [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                "] are reversed", name, off[0], off[1]);
    return FALSE;
  }
  if ((guint64) off[1] > lay->data_len) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                "tensor '%s' data offsets [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                "] exceed the data section (%" G_GSIZE_FORMAT " bytes)",
                name, off[0], off[1], lay->data_len);
    return FALSE;
  }
  gsize n_bytes;
  gsize span = (gsize) (off[1] - off[0]);
  gboolean fits = g_size_checked_mul(&n_bytes, t->n_elements, spn_st_dtypes[t->dtype].size);
  if (fits && n_bytes == span)
    return TRUE;
  char *shape = spn_st_format_shape(t->ndim, t->shape);
  if (!fits)
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                "tensor '%s' shape %s has too many elements", name, shape);
  else
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                "tensor '%s' shape %s needs %" G_GSIZE_FORMAT " bytes but its offsets span %"
                G_GSIZE_FORMAT, name, shape, n_bytes, span);
  g_free(shape);
  return FALSE;
}

/* Points t->data at the tensor's bytes, copying them when the file position is not aligned for
 * the dtype (files from other writers need not align tensors). */
static void
spn_st_attach_data(SpnSafetensors *st, SpnStTensor *t, const guint8 *bytes)
{
  gsize elem = spn_st_dtypes[t->dtype].size;
  gsize n_bytes = t->n_elements * elem;
  if (n_bytes == 0) {
    t->data = &spn_st_empty_data;
  } else if ((uintptr_t) bytes % elem == 0) {
    t->data = bytes;
  } else {
    void *copy = g_malloc(n_bytes);
    memcpy(copy, bytes, n_bytes);
    g_ptr_array_add(st->copies, copy);
    t->data = copy;
  }
}

static SpnStTensor *
spn_st_parse_tensor(SpnSafetensors *st, const char *name, JsonNode *node,
                    const SpnStLayout *lay, gint64 *begin, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT(node)) {
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                "tensor '%s' entry is not a JSON object", name);
    return NULL;
  }
  JsonObject *entry = json_node_get_object(node);
  SpnStTensor t = {0};
  gint64 off[2];
  if (!spn_st_parse_dtype(st, name, entry, &t, error) ||
      !spn_st_parse_shape(st, name, entry, &t, error) ||
      !spn_st_parse_offsets(st, name, entry, off, error) ||
      !spn_st_check_extent(st, name, lay, &t, off, error))
    return NULL;
  spn_st_attach_data(st, &t, lay->data + off[0]);
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
spn_st_order_cmp(gconstpointer a, gconstpointer b)
{
  const SpnStOrder *x = a, *y = b;
  if (x->begin != y->begin)
    return x->begin < y->begin ? -1 : 1;
  return x->header_index < y->header_index ? -1 : x->header_index > y->header_index;
}

static gboolean
spn_st_parse_entries(SpnSafetensors *st, JsonObject *root, const SpnStLayout *lay,
                     GError **error)
{
  GArray *order = g_array_new(FALSE, FALSE, sizeof(SpnStOrder));
  JsonObjectIter iter;
  const char *name;
  JsonNode *node;
  gboolean ok = TRUE;
  json_object_iter_init_ordered(&iter, root);
  while (ok && json_object_iter_next_ordered(&iter, &name, &node)) {
    if (strcmp(name, SPN_ST_METADATA_KEY) == 0) {
      ok = spn_st_parse_metadata(st, node, error);
      continue;
    }
    SpnStOrder o = {.header_index = order->len};
    o.tensor = spn_st_parse_tensor(st, name, node, lay, &o.begin, error);
    ok = o.tensor != NULL;
    if (ok)
      g_array_append_val(order, o);
  }
  /* Data-offset order is the physical layout: insertion order for files we wrote. */
  g_array_sort(order, spn_st_order_cmp);
  for (guint i = 0; i < order->len; i++) {
    SpnStTensor *t = g_array_index(order, SpnStOrder, i).tensor;
    g_ptr_array_add(st->tensors, t);
    g_hash_table_replace(st->by_name, (gpointer) t->name, t);
  }
  g_array_free(order, TRUE);
  return ok;
}

static void
spn_st_checksum_feed(GChecksum *cs, const guint8 *data, gsize len)
{
  while (len > 0) {
    gsize n = MIN(len, SPN_ST_IO_CHUNK);
    g_checksum_update(cs, data, (gssize) n);
    data += n;
    len -= n;
  }
}

static char *
spn_st_checksum_finish(GChecksum *cs)
{
  char *hex = g_strdup(g_checksum_get_string(cs));
  g_checksum_free(cs);
  return hex;
}

static gboolean
spn_st_verify_checksum(const SpnSafetensors *st, const SpnStLayout *lay, GError **error)
{
  const char *expected = g_hash_table_lookup(st->metadata, SPN_ST_CHECKSUM_KEY);
  if (expected == NULL)
    return TRUE;  /* written by another tool: nothing to verify against */
  GChecksum *cs = g_checksum_new(G_CHECKSUM_SHA256);
  spn_st_checksum_feed(cs, lay->data, lay->data_len);
  char *found = spn_st_checksum_finish(cs);
  gboolean ok = g_ascii_strcasecmp(expected, found) == 0;
  if (!ok)
    spn_st_fail(error, SPN_ST_ERROR_FORMAT, st->display,
                "checksum mismatch: the file is corrupt (expected sha256 %s, found %s)",
                expected, found);
  g_free(found);
  return ok;
}

static SpnSafetensors *
spn_st_new(const char *path)
{
  SpnSafetensors *st = g_new0(SpnSafetensors, 1);
  st->path = g_strdup(path);
  st->display = g_filename_display_name(path);
  st->tensors = g_ptr_array_new_with_free_func(spn_st_tensor_free);
  st->by_name = g_hash_table_new(g_str_hash, g_str_equal);
  st->metadata = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  st->copies = g_ptr_array_new_with_free_func(g_free);
  return st;
}

SpnSafetensors *
spn_safetensors_read(const char *path, GError **error)
{
  g_return_val_if_fail(path != NULL, NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);

  SpnSafetensors *st = spn_st_new(path);
  SpnStLayout lay;
  JsonParser *parser = NULL;
  gboolean ok = spn_st_load_contents(st, error) && spn_st_split(st, &lay, error) &&
                (parser = spn_st_parse_header(st, &lay, error)) != NULL &&
                spn_st_parse_entries(st, json_node_get_object(json_parser_get_root(parser)),
                                     &lay, error) &&
                spn_st_verify_checksum(st, &lay, error);
  g_clear_object(&parser);
  if (!ok) {
    spn_safetensors_free(st);
    return NULL;
  }
  return st;
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
  g_free(st->contents);
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
spn_st_shape_equal(const SpnStTensor *t, int ndim, const gint64 *shape)
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
  if (!spn_st_shape_equal(t, ndim, shape)) {
    char *found = spn_st_format_shape(t->ndim, t->shape);
    char *wanted = spn_st_format_shape(ndim, shape);
    spn_st_fail(error, SPN_ST_ERROR_MISMATCH, st->display, "tensor '%s' has shape %s, expected %s",
                name, found, wanted);
    g_free(found);
    g_free(wanted);
    return NULL;
  }
  return t->data;
}

/* ------------------------------------------------------------------------------------------ */
/* Writer                                                                                      */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
  char *name;
  SpnDtype dtype;
  int ndim;
  gint64 shape[SPN_ST_MAX_DIMS];
  const void *data;
  gsize n_bytes;
} SpnStEntry;

struct _SpnStWriter {
  GPtrArray *entries;    /* SpnStEntry *, in insertion order */
  GHashTable *names;     /* set of entry names */
  GPtrArray *meta_keys;  /* metadata keys in insertion order (owned by metadata) */
  GHashTable *metadata;  /* key -> value */
  /* The first invalid add; add() has no error argument, so write() reports it instead of
   * producing a file that readers would reject. */
  GError *pending;
};

static void
spn_st_entry_free(gpointer p)
{
  SpnStEntry *e = p;
  g_free(e->name);
  g_free(e);
}

SpnStWriter *
spn_st_writer_new(void)
{
  SpnStWriter *w = g_new0(SpnStWriter, 1);
  w->entries = g_ptr_array_new_with_free_func(spn_st_entry_free);
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

static void spn_st_writer_reject(SpnStWriter *w, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void
spn_st_writer_reject(SpnStWriter *w, const char *fmt, ...)
{
  if (w->pending != NULL)
    return;
  va_list ap;
  va_start(ap, fmt);
  char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  w->pending = g_error_new_literal(SPN_ST_ERROR, SPN_ST_ERROR_FORMAT, msg);
  g_free(msg);
}

/* Validates an add() and computes the tensor's size; the reason is in w->pending on FALSE. */
static gboolean
spn_st_writer_check(SpnStWriter *w, const char *name, SpnDtype dtype, int ndim,
                    const gint64 *shape, const void *data, gsize *n_bytes)
{
  if (!g_utf8_validate(name, -1, NULL)) {
    spn_st_writer_reject(w, "a tensor name is not valid UTF-8");
    return FALSE;
  }
  if (strcmp(name, SPN_ST_METADATA_KEY) == 0 || g_hash_table_contains(w->names, name)) {
    spn_st_writer_reject(w, "tensor '%s' %s", name,
                         g_hash_table_contains(w->names, name) ? "was added twice"
                                                              : "has a reserved name");
    return FALSE;
  }
  if (!spn_st_dtype_valid(dtype) || ndim < 0 || ndim > SPN_ST_MAX_DIMS ||
      (ndim > 0 && shape == NULL)) {
    spn_st_writer_reject(w, "tensor '%s' has an invalid dtype (%d) or dimension count (%d)",
                         name, (int) dtype, ndim);
    return FALSE;
  }
  gsize n = spn_st_dtypes[dtype].size;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0 || (guint64) shape[i] > G_MAXSIZE ||
        !g_size_checked_mul(&n, n, (gsize) shape[i]) || n > (gsize) G_MAXINT64) {
      char *s = spn_st_format_shape(ndim, shape);
      spn_st_writer_reject(w, "tensor '%s' has an invalid shape %s", name, s);
      g_free(s);
      return FALSE;
    }
  }
  if (n > 0 && data == NULL) {
    spn_st_writer_reject(w, "tensor '%s' has no data", name);
    return FALSE;
  }
  *n_bytes = n;
  return TRUE;
}

void
spn_st_writer_add(SpnStWriter *w, const char *name, SpnDtype dtype, int ndim,
                  const gint64 *shape, const void *data)
{
  g_return_if_fail(w != NULL);
  g_return_if_fail(name != NULL);

  gsize n_bytes;
  if (!spn_st_writer_check(w, name, dtype, ndim, shape, data, &n_bytes))
    return;
  SpnStEntry *e = g_new0(SpnStEntry, 1);
  e->name = g_strdup(name);
  e->dtype = dtype;
  e->ndim = ndim;
  if (ndim > 0)
    memcpy(e->shape, shape, (gsize) ndim * sizeof *shape);
  e->data = data;
  e->n_bytes = n_bytes;
  g_ptr_array_add(w->entries, e);
  g_hash_table_add(w->names, e->name);
}

void
spn_st_writer_set_metadata(SpnStWriter *w, const char *key, const char *value)
{
  g_return_if_fail(w != NULL);
  g_return_if_fail(key != NULL && value != NULL);

  if (!g_utf8_validate(key, -1, NULL) || !g_utf8_validate(value, -1, NULL)) {
    spn_st_writer_reject(w, "metadata key or value is not valid UTF-8");
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
spn_st_writer_check_total(SpnStWriter *w)
{
  gsize sum = 0;
  for (guint i = 0; i < w->entries->len; i++) {
    const SpnStEntry *e = g_ptr_array_index(w->entries, i);
    if (!g_size_checked_add(&sum, sum, e->n_bytes) || sum > (gsize) G_MAXINT64) {
      spn_st_writer_reject(w, "the tensors' total size overflows");
      return FALSE;
    }
  }
  return TRUE;
}

static char *
spn_st_writer_checksum(const SpnStWriter *w)
{
  GChecksum *cs = g_checksum_new(G_CHECKSUM_SHA256);
  for (guint i = 0; i < w->entries->len; i++) {
    const SpnStEntry *e = g_ptr_array_index(w->entries, i);
    spn_st_checksum_feed(cs, e->data, e->n_bytes);
  }
  return spn_st_checksum_finish(cs);
}

static void
spn_st_build_metadata(const SpnStWriter *w, JsonBuilder *b, const char *checksum)
{
  json_builder_set_member_name(b, SPN_ST_METADATA_KEY);
  json_builder_begin_object(b);
  for (guint i = 0; i < w->meta_keys->len; i++) {
    const char *key = g_ptr_array_index(w->meta_keys, i);
    if (strcmp(key, SPN_ST_CHECKSUM_KEY) == 0)
      continue;  /* always describes the data actually written */
    json_builder_set_member_name(b, key);
    json_builder_add_string_value(b, g_hash_table_lookup(w->metadata, key));
  }
  json_builder_set_member_name(b, SPN_ST_CHECKSUM_KEY);
  json_builder_add_string_value(b, checksum);
  json_builder_end_object(b);
}

static void
spn_st_build_entry(JsonBuilder *b, const SpnStEntry *e, gsize begin)
{
  json_builder_set_member_name(b, e->name);
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "dtype");
  json_builder_add_string_value(b, spn_st_dtypes[e->dtype].name);
  json_builder_set_member_name(b, "shape");
  json_builder_begin_array(b);
  for (int d = 0; d < e->ndim; d++)
    json_builder_add_int_value(b, e->shape[d]);
  json_builder_end_array(b);
  json_builder_set_member_name(b, "data_offsets");
  json_builder_begin_array(b);
  json_builder_add_int_value(b, (gint64) begin);
  json_builder_add_int_value(b, (gint64) (begin + e->n_bytes));
  json_builder_end_array(b);
  json_builder_end_object(b);
}

/* The 8-byte length, the compact JSON header (the form the reference implementation writes) and
 * the space padding that puts the data section at a multiple of 8 bytes. */
static GByteArray *
spn_st_build_prefix(const SpnStWriter *w, const char *checksum)
{
  JsonBuilder *b = json_builder_new_immutable();
  json_builder_begin_object(b);
  spn_st_build_metadata(w, b, checksum);
  gsize offset = 0;
  for (guint i = 0; i < w->entries->len; i++) {
    const SpnStEntry *e = g_ptr_array_index(w->entries, i);
    spn_st_build_entry(b, e, offset);
    offset += e->n_bytes;
  }
  json_builder_end_object(b);

  JsonNode *root = json_builder_get_root(b);
  JsonGenerator *gen = json_generator_new();
  json_generator_set_root(gen, root);
  gsize json_len;
  char *json = json_generator_to_data(gen, &json_len);
  gsize padded = json_len + (8 - json_len % 8) % 8;
  guint64 len_le = GUINT64_TO_LE((guint64) padded);

  GByteArray *prefix = g_byte_array_sized_new((guint) (8 + padded));
  g_byte_array_append(prefix, (const guint8 *) &len_le, 8);
  g_byte_array_append(prefix, (const guint8 *) json, (guint) json_len);
  for (gsize i = json_len; i < padded; i++)
    g_byte_array_append(prefix, (const guint8 *) " ", 1);

  g_free(json);
  g_object_unref(gen);
  json_node_unref(root);
  g_object_unref(b);
  return prefix;
}

static gboolean
spn_st_write_all(int fd, const void *buf, gsize len, int *err)
{
  const guint8 *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, MIN(len, SPN_ST_IO_CHUNK));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      *err = n < 0 ? errno : EIO;
      return FALSE;
    }
    p += n;
    len -= (gsize) n;
  }
  return TRUE;
}

static gboolean
spn_st_write_contents(const SpnStWriter *w, int fd, const GByteArray *prefix, int *err)
{
  if (!spn_st_write_all(fd, prefix->data, prefix->len, err))
    return FALSE;
  for (guint i = 0; i < w->entries->len; i++) {
    const SpnStEntry *e = g_ptr_array_index(w->entries, i);
    if (!spn_st_write_all(fd, e->data, e->n_bytes, err))
      return FALSE;
  }
  return TRUE;
}

/* Makes the rename itself durable. The target has already been replaced when this runs, so a
 * failure here is not worth reporting as a failed write. */
static void
spn_st_sync_parent_dir(const char *path)
{
  char *dir = g_path_get_dirname(path);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void) fsync(fd);
    close(fd);
  }
  g_free(dir);
}

static int
spn_st_fsync(int fd)
{
  int rc;
  do
    rc = fsync(fd);
  while (rc != 0 && errno == EINTR);
  return rc;
}

/* Writes the file to tmp_path (already open as fd, which this closes) and renames it over path.
 * On failure the caller removes tmp_path. */
static gboolean
spn_st_commit(const SpnStWriter *w, const GByteArray *prefix, int fd, const char *tmp_path,
              const char *path, const char *display, GError **error)
{
  int err = 0;
  if (!spn_st_write_contents(w, fd, prefix, &err)) {
    spn_st_fail(error, SPN_ST_ERROR_IO, display, "cannot write: %s", g_strerror(err));
    close(fd);
    return FALSE;
  }
  if (spn_st_fsync(fd) != 0) {
    err = errno;
    spn_st_fail(error, SPN_ST_ERROR_IO, display, "cannot sync to disk: %s", g_strerror(err));
    close(fd);
    return FALSE;
  }
  /* On NFS and some other file systems close() is where a deferred write error surfaces. */
  if (close(fd) != 0) {
    err = errno;
    spn_st_fail(error, SPN_ST_ERROR_IO, display, "cannot close: %s", g_strerror(err));
    return FALSE;
  }
  if (rename(tmp_path, path) != 0) {
    err = errno;
    spn_st_fail(error, SPN_ST_ERROR_IO, display, "cannot rename the temporary file over it: %s",
                g_strerror(err));
    return FALSE;
  }
  spn_st_sync_parent_dir(path);
  return TRUE;
}

gboolean
spn_st_writer_write(SpnStWriter *w, const char *path, GError **error)
{
  g_return_val_if_fail(w != NULL, FALSE);
  g_return_val_if_fail(path != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

  char *display = g_filename_display_name(path);
  if (w->pending != NULL || !spn_st_writer_check_total(w)) {
    spn_st_fail(error, w->pending->code, display, "%s", w->pending->message);
    g_free(display);
    return FALSE;
  }
  char *checksum = spn_st_writer_checksum(w);
  GByteArray *prefix = spn_st_build_prefix(w, checksum);
  g_free(checksum);

  /* Same directory as the target, so that rename(2) is atomic; mode 0666 lets the umask
   * decide, as for any ordinary file (g_mkstemp alone would force 0600). */
  char *tmp_path = g_strdup_printf("%s.tmp-XXXXXX", path);
  gboolean ok = FALSE;
  int fd = g_mkstemp_full(tmp_path, O_WRONLY | O_CLOEXEC, 0666);
  if (fd < 0) {
    int err = errno;
    spn_st_fail(error, SPN_ST_ERROR_IO, display, "cannot create a temporary file next to it: %s",
                g_strerror(err));
  } else {
    ok = spn_st_commit(w, prefix, fd, tmp_path, path, display, error);
    if (!ok)
      g_unlink(tmp_path);
  }
  g_free(tmp_path);
  g_byte_array_unref(prefix);
  g_free(display);
  return ok;
}
