/* torchfile.c — the zip and legacy containers of PyTorch checkpoints (torchfile.h). */
#include "torchfile.h"
#include "readfile.h"
#include <sys/stat.h>
#include "pickle.h"
#include "ptobj-private.h"
#include "savefile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <zip.h>

/* A storage key only names a zip entry or a legacy record; real keys are short numbers. */
#define MAX_KEY_LEN 256
/* Data of zip entries starts at a multiple of this, as torch aligns it. */
#define ZIP_ALIGN 64
#define LEGACY_PROTOCOL 1001

static const guint8 legacy_magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

/* ================================================================================================
 * Storages by key, shared by both readers
 * ============================================================================================== */

typedef struct {
  GHashTable *storages; /* key -> SpnPtObj storage */
  /* zip: */
  zip_t *za;
  gsize archive_len;
  const char *prefix;
  gboolean big_endian;
  /* legacy: views to resolve once the data is read */
  GPtrArray *views;     /* ViewRef */
} Storages;

typedef struct {
  SpnPtObj *view, *root;
  guint64 offset;
} ViewRef;

static gboolean
storage_numel_ok(const SpnPickleStorageRef *ref, GError **error)
{
  guint64 bytes;
  if (strlen(ref->key) > MAX_KEY_LEN) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT, "storage key of %zu bytes is too long",
                strlen(ref->key));
    return FALSE;
  }
  if (ref->numel > (G_GUINT64_CONSTANT(1) << 58) ||
      __builtin_mul_overflow(ref->numel, spn_pt_dtype_size(ref->dtype), &bytes)) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT,
                "storage '%s' claims an absurd size of %" G_GUINT64_FORMAT " elements", ref->key,
                ref->numel);
    return FALSE;
  }
  return TRUE;
}

/* The storage already made for this key, checked against what this reference says. */
static gboolean
storage_known(Storages *s, const char *key, SpnPtDtype dtype, guint64 numel, SpnPtObj **out,
              GError **error)
{
  *out = g_hash_table_lookup(s->storages, key);
  if (*out == NULL)
    return TRUE;
  if (spn_pt_storage_dtype(*out) != dtype || spn_pt_storage_numel(*out) != numel) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT,
                "storage '%s' is referenced as %" G_GUINT64_FORMAT " %s and as %" G_GUINT64_FORMAT
                " %s",
                key, spn_pt_storage_numel(*out), spn_pt_dtype_name(spn_pt_storage_dtype(*out)),
                numel, spn_pt_dtype_name(dtype));
    *out = NULL;
    return FALSE;
  }
  return TRUE;
}

/* Byte-swaps each element of a big-endian storage in place (each half of a complex number). */
static void
swap_elements(guint8 *data, gsize n_bytes, SpnPtDtype dtype)
{
  gsize unit = spn_pt_dtype_size(dtype) / (dtype == SPN_PT_C64 || dtype == SPN_PT_C128 ? 2 : 1);
  for (gsize i = 0; unit > 1 && i + unit <= n_bytes; i += unit)
    for (gsize a = 0, b = unit - 1; a < b; a++, b--) {
      guint8 t = data[i + a];
      data[i + a] = data[i + b];
      data[i + b] = t;
    }
}

/* ================================================================================================
 * Zip reader
 * ============================================================================================== */

static void
set_zip_error(GError **error, const char *what, zip_error_t *zerr)
{
  g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT, "%s: %s", what, zip_error_strerror(zerr));
}

/* Reads a whole entry (expected >= 0: it must hold exactly that many bytes). The sizes in a zip
 * header are the file's word, so before they size a buffer they must fit the archive: a stored
 * entry is no larger than the archive, a deflated one no larger than deflate's best ratio
 * (1032:1) allows. Reading past the end makes libzip check the CRC. */
static GBytes *
zip_read_entry(zip_t *za, gsize archive_len, const char *name, gint64 expected, GError **error)
{
  zip_stat_t st;
  zip_int64_t index = zip_name_locate(za, name, 0);
  if (index < 0 || zip_stat_index(za, (zip_uint64_t) index, 0, &st) != 0) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT, "the archive has no entry '%s'", name);
    return NULL;
  }
  const zip_uint64_t need = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
  gboolean stored = st.comp_method == ZIP_CM_STORE, deflated = st.comp_method == ZIP_CM_DEFLATE;
  if ((st.valid & need) != need || (!stored && !deflated)) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_UNSUPPORTED,
                "entry '%s' is compressed with method %d (only stored and deflated entries are read)",
                name, (int) st.comp_method);
    return NULL;
  }
  if (st.comp_size > archive_len || (stored && st.size != st.comp_size) ||
      (deflated && st.size / 1032 > st.comp_size)) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT,
                "entry '%s' claims %" G_GUINT64_FORMAT " bytes (%" G_GUINT64_FORMAT
                " compressed) in an archive of %" G_GSIZE_FORMAT,
                name, (guint64) st.size, (guint64) st.comp_size, archive_len);
    return NULL;
  }
  if (expected >= 0 && st.size != (zip_uint64_t) expected) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT,
                "entry '%s' holds %" G_GUINT64_FORMAT " bytes, expected %" G_GINT64_FORMAT, name,
                (guint64) st.size, expected);
    return NULL;
  }
  zip_file_t *zf = zip_fopen_index(za, (zip_uint64_t) index, 0);
  if (zf == NULL) {
    set_zip_error(error, name, zip_get_error(za));
    return NULL;
  }
  gsize size = st.size, got = 0;
  guint8 *buf = g_malloc(MAX(size, 1)), extra;
  zip_int64_t n = 1;
  while (got < size && n > 0) {
    n = zip_fread(zf, buf + got, MIN(size - got, (gsize) 1 << 30));
    got += n > 0 ? (gsize) n : 0;
  }
  if (n >= 0 && got == size)
    n = zip_fread(zf, &extra, 1); /* the end: 0 bytes, and the CRC is checked */
  if (n < 0)
    set_zip_error(error, name, zip_file_get_error(zf));
  else if (got != size || n != 0)
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT,
                "entry '%s' does not hold the %" G_GSIZE_FORMAT " bytes its header says", name, size);
  zip_fclose(zf);
  if (n != 0 || got != size) {
    g_free(buf);
    return NULL;
  }
  return g_bytes_new_take(buf, size);
}

static SpnPtObj *
zip_storage(SpnPtTree *tree, const SpnPickleStorageRef *ref, gpointer user_data, GError **error)
{
  Storages *s = user_data;
  SpnPtObj *storage;
  if (ref->is_view) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT,
                "storage '%s' is a view, which only legacy files have", ref->key);
    return NULL;
  }
  if (!storage_numel_ok(ref, error) || !storage_known(s, ref->key, ref->dtype, ref->numel, &storage, error))
    return NULL;
  if (storage != NULL)
    return storage;
  gsize esize = spn_pt_dtype_size(ref->dtype);
  char *name = g_strdup_printf("%s/data/%s", s->prefix, ref->key);
  GBytes *bytes = zip_read_entry(s->za, s->archive_len, name, (gint64) (ref->numel * esize), error);
  g_free(name);
  if (bytes == NULL) {
    g_prefix_error(error, "storage '%s': ", ref->key);
    return NULL;
  }
  if (s->big_endian) {
    gsize n;
    guint8 *data = g_bytes_unref_to_data(bytes, &n);
    swap_elements(data, n, ref->dtype);
    bytes = g_bytes_new_take(data, n);
  }
  storage = spn_pt_new_storage_pending(tree, ref->dtype, ref->numel, ref->key, ref->location);
  spn_pt_storage_attach(storage, bytes);
  g_bytes_unref(bytes);
  g_hash_table_insert(s->storages, g_strdup(ref->key), storage);
  return storage;
}

/* A small text record (version, byteorder); NULL if absent. */
static char *
zip_read_text(zip_t *za, gsize archive_len, const char *name)
{
  zip_stat_t st;
  if (zip_stat(za, name, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) || st.size > 64)
    return NULL;
  GBytes *b = zip_read_entry(za, archive_len, name, -1, NULL);
  if (b == NULL)
    return NULL;
  char *text = g_strstrip(g_strndup(g_bytes_get_data(b, NULL), g_bytes_get_size(b)));
  g_bytes_unref(b);
  return text;
}

/* The folder all records share, from the first entry (as torch's reader does). */
static char *
zip_prefix(zip_t *za, GError **error)
{
  const char *first = zip_get_num_entries(za, 0) > 0 ? zip_get_name(za, 0, 0) : NULL;
  const char *slash = first != NULL ? strchr(first, '/') : NULL;
  if (slash == NULL || slash == first) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT,
                "zip archive is not a PyTorch checkpoint (its first entry is not in a folder)");
    return NULL;
  }
  return g_strndup(first, (gsize) (slash - first));
}

static gboolean
zip_check_records(zip_t *za, const char *prefix, Storages *s, GError **error)
{
  char *name = g_strdup_printf("%s/version", prefix);
  char *version = zip_read_text(za, s->archive_len, name);
  g_free(name);
  if (version == NULL) {
    name = g_strdup_printf("%s/.data/version", prefix);
    version = zip_read_text(za, s->archive_len, name);
    g_free(name);
  }
  guint64 v = 0;
  gboolean ok = version != NULL && g_ascii_string_to_unsigned(version, 10, 1, 64, &v, NULL);
  if (!ok)
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT,
                "the archive has no valid '%s/version' record (found %s)", prefix,
                version != NULL ? version : "none");
  g_free(version);
  name = g_strdup_printf("%s/byteorder", prefix);
  char *order = ok ? zip_read_text(za, s->archive_len, name) : NULL;
  g_free(name);
  if (order != NULL && strcmp(order, "big") == 0)
    s->big_endian = TRUE;
  else if (order != NULL && strcmp(order, "little") != 0) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT, "unknown byte order '%.20s'", order);
    ok = FALSE;
  }
  g_free(order);
  return ok;
}

static SpnPtObj *
zip_load(SpnPtTree *tree, GBytes *bytes, GError **error)
{
  zip_error_t zerr;
  zip_error_init(&zerr);
  gsize len;
  const void *data = g_bytes_get_data(bytes, &len);
  zip_source_t *src = zip_source_buffer_create(data, len, 0, &zerr);
  zip_t *za = src != NULL ? zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &zerr) : NULL;
  if (za == NULL) {
    set_zip_error(error, "not a readable zip archive", &zerr);
    if (src != NULL)
      zip_source_free(src);
    zip_error_fini(&zerr);
    return NULL;
  }
  zip_error_fini(&zerr);
  Storages s = {.storages = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
                .za = za, .archive_len = len};
  SpnPtObj *root = NULL;
  char *prefix = zip_prefix(za, error);
  if (prefix != NULL && zip_check_records(za, prefix, &s, error)) {
    s.prefix = prefix;
    char *pkl_name = g_strdup_printf("%s/data.pkl", prefix);
    GBytes *pkl = zip_read_entry(za, len, pkl_name, -1, error);
    gsize consumed = 0, pkl_len = pkl != NULL ? g_bytes_get_size(pkl) : 0;
    if (pkl != NULL)
      root = spn_unpickle(tree, g_bytes_get_data(pkl, NULL), pkl_len, &consumed, zip_storage, &s, error);
    if (root != NULL && consumed != pkl_len) {
      g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT, "%" G_GSIZE_FORMAT " bytes after the pickle's STOP",
                  pkl_len - consumed);
      root = NULL;
    }
    if (pkl != NULL && root == NULL)
      g_prefix_error(error, "%s: ", pkl_name);
    if (pkl != NULL)
      g_bytes_unref(pkl);
    g_free(pkl_name);
  }
  g_free(prefix);
  g_hash_table_unref(s.storages);
  zip_discard(za);
  return root;
}

/* ================================================================================================
 * Legacy reader
 * ============================================================================================== */

/* The first pickle holds the 10-byte magic number, beyond our 64-bit ints: compare its bytes.
 * Accepts protocol 2+ (PROTO, optional FRAME, LONG1) and protocol 0/1 (text LONG). */
static gboolean
legacy_magic_ok(const guint8 *p, gsize len, gsize *consumed)
{
  gsize i = 0;
  if (len >= 2 && p[0] == 0x80)
    i = 2;
  if (i + 9 <= len && p[i] == 0x95)
    i += 9;
  static const char text[] = "L119547037146038801333356L\n";
  if (i + 12 <= len && p[i] == 0x8a && p[i + 1] == 10 && memcmp(p + i + 2, legacy_magic, 10) == 0)
    i += 12;
  else if (i + strlen(text) <= len && memcmp(p + i, text, strlen(text)) == 0)
    i += strlen(text);
  else
    return FALSE;
  if (i >= len || p[i] != '.')
    return FALSE;
  *consumed = i + 1;
  return TRUE;
}

static SpnPtObj *
legacy_storage(SpnPtTree *tree, const SpnPickleStorageRef *ref, gpointer user_data, GError **error)
{
  Storages *s = user_data;
  SpnPtObj *root;
  if (!storage_numel_ok(ref, error) || !storage_known(s, ref->key, ref->dtype, ref->numel, &root, error))
    return NULL;
  if (root == NULL) {
    root = spn_pt_new_storage_pending(tree, ref->dtype, ref->numel, ref->key, ref->location);
    g_hash_table_insert(s->storages, g_strdup(ref->key), root);
  }
  if (!ref->is_view)
    return root;
  if (ref->view_offset > ref->numel || ref->view_numel > ref->numel - ref->view_offset) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT,
                "storage view '%s' [%" G_GUINT64_FORMAT ", +%" G_GUINT64_FORMAT
                ") lies outside its storage of %" G_GUINT64_FORMAT " elements",
                ref->view_key, ref->view_offset, ref->view_numel, ref->numel);
    return NULL;
  }
  for (guint i = 0; i < s->views->len; i++) {
    ViewRef *v = g_ptr_array_index(s->views, i);
    if (strcmp(spn_pt_storage_key(v->view), ref->view_key) == 0) {
      if (v->root != root || v->offset != ref->view_offset || spn_pt_storage_numel(v->view) != ref->view_numel) {
        g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT, "storage view '%s' is defined twice differently",
                    ref->view_key);
        return NULL;
      }
      return v->view;
    }
  }
  ViewRef *v = g_new(ViewRef, 1);
  v->view = spn_pt_new_storage_pending(tree, ref->dtype, ref->view_numel, ref->view_key, ref->location);
  v->root = root;
  v->offset = ref->view_offset;
  g_ptr_array_add(s->views, v);
  return v->view;
}

typedef struct {
  GBytes *bytes;
  const guint8 *data;
  gsize len, pos;
} Cursor;

/* One of the legacy file's pickles; "what" names it in errors. */
static SpnPtObj *
legacy_pickle(SpnPtTree *tree, Cursor *c, const char *what, Storages *s, GError **error)
{
  gsize consumed = 0;
  SpnPtObj *obj = spn_unpickle(tree, c->data + c->pos, c->len - c->pos, &consumed,
                               s != NULL ? legacy_storage : NULL, s, error);
  if (obj == NULL)
    g_prefix_error(error, "%s (starting at byte %" G_GSIZE_FORMAT "): ", what, c->pos);
  c->pos += consumed;
  return obj;
}

static gboolean
legacy_header(SpnPtTree *tree, Cursor *c, GError **error)
{
  gint64 protocol;
  SpnPtObj *obj = legacy_pickle(tree, c, "protocol version", NULL, error);
  if (obj == NULL)
    return FALSE;
  if (!spn_pt_get_int(obj, &protocol) || protocol != LEGACY_PROTOCOL) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_UNSUPPORTED,
                "legacy protocol version is not %d", LEGACY_PROTOCOL);
    return FALSE;
  }
  SpnPtObj *info = legacy_pickle(tree, c, "system information", NULL, error);
  if (info == NULL)
    return FALSE;
  gboolean little = FALSE;
  if (!spn_pt_get_bool(spn_pt_dict_get(info, "little_endian"), &little) || !little) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_UNSUPPORTED,
                "the file was written on a big-endian machine (legacy format), which is not supported");
    return FALSE;
  }
  return TRUE;
}

/* After the key list: for each key, int64 element count then the elements. */
static gboolean
legacy_data(Cursor *c, SpnPtObj *keys, Storages *s, GError **error)
{
  if (spn_pt_kind(keys) != SPN_PT_LIST) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT, "the storage key list is a %s",
                spn_pt_kind_name(spn_pt_kind(keys)));
    return FALSE;
  }
  for (guint i = 0; i < spn_pt_len(keys); i++) {
    const char *key = spn_pt_get_str(spn_pt_item(keys, i), NULL);
    SpnPtObj *storage = key != NULL ? g_hash_table_lookup(s->storages, key) : NULL;
    if (storage == NULL || spn_pt_storage_has_data(storage)) {
      g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT,
                  "storage key %u of the list is unknown or repeated", i);
      return FALSE;
    }
    guint64 numel = 0, n_bytes = spn_pt_storage_numel(storage) * spn_pt_dtype_size(spn_pt_storage_dtype(storage));
    if (c->len - c->pos >= 8)
      memcpy(&numel, c->data + c->pos, 8);
    if (c->len - c->pos < 8 || numel != spn_pt_storage_numel(storage) || n_bytes > c->len - c->pos - 8) {
      g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT,
                  "storage '%s' at byte %" G_GSIZE_FORMAT ": expected %" G_GUINT64_FORMAT
                  " elements (%" G_GUINT64_FORMAT " bytes) but the file %s",
                  key, c->pos, spn_pt_storage_numel(storage), n_bytes,
                  c->len - c->pos < 8 ? "ends" : numel != spn_pt_storage_numel(storage) ? "says otherwise" : "ends too soon");
      return FALSE;
    }
    GBytes *slice = g_bytes_new_from_bytes(c->bytes, c->pos + 8, n_bytes);
    spn_pt_storage_attach(storage, slice);
    g_bytes_unref(slice);
    c->pos += 8 + n_bytes;
  }
  if (c->pos != c->len) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT, "%" G_GSIZE_FORMAT " bytes after the last storage",
                c->len - c->pos);
    return FALSE;
  }
  /* Views are slices of their root's bytes, which are slices of the file. */
  for (guint i = 0; i < s->views->len; i++) {
    ViewRef *v = g_ptr_array_index(s->views, i);
    if (!spn_pt_storage_has_data(v->root)) {
      g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT, "storage '%s' has no data",
                  spn_pt_storage_key(v->root));
      return FALSE;
    }
    gsize esize = spn_pt_dtype_size(spn_pt_storage_dtype(v->root));
    gsize root_at = (gsize) (spn_pt_storage_data(v->root) - c->data);
    GBytes *slice = g_bytes_new_from_bytes(c->bytes, root_at + v->offset * esize,
                                           spn_pt_storage_numel(v->view) * esize);
    spn_pt_storage_attach(v->view, slice);
    g_bytes_unref(slice);
  }
  return TRUE;
}

static SpnPtObj *
legacy_load(SpnPtTree *tree, GBytes *bytes, GError **error)
{
  Cursor c = {.bytes = bytes};
  c.data = g_bytes_get_data(bytes, &c.len);
  gsize consumed;
  if (!legacy_magic_ok(c.data, c.len, &consumed)) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT,
                "not a PyTorch checkpoint (neither a zip archive nor the legacy magic number)");
    return NULL;
  }
  c.pos = consumed;
  Storages s = {.storages = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
                .views = g_ptr_array_new_with_free_func(g_free)};
  SpnPtObj *root = NULL, *keys = NULL;
  if (legacy_header(tree, &c, error) && (root = legacy_pickle(tree, &c, "object", &s, error)) != NULL &&
      (keys = legacy_pickle(tree, &c, "storage key list", NULL, error)) != NULL &&
      !legacy_data(&c, keys, &s, error))
    root = NULL;
  if (keys == NULL)
    root = NULL;
  g_hash_table_unref(s.storages);
  g_ptr_array_unref(s.views);
  return root;
}

/* ================================================================================================
 * Loading
 * ============================================================================================== */

static gboolean
is_zip(const guint8 *p, gsize len)
{
  return len >= 4 && memcmp(p, "PK\x03\x04", 4) == 0;
}

static gboolean
is_tar(const guint8 *p, gsize len)
{
  return len >= 262 && memcmp(p + 257, "ustar", 5) == 0;
}

SpnPtTree *
spn_torch_load_bytes(GBytes *bytes, const char *name, SpnTorchFormat *format, GError **error)
{
  g_return_val_if_fail(bytes != NULL && name != NULL, NULL);
  gsize len;
  const guint8 *data = g_bytes_get_data(bytes, &len);
  SpnPtTree *tree = spn_pt_tree_new();
  SpnPtObj *root = NULL;
  GError *err = NULL;
  if (is_zip(data, len)) {
    root = zip_load(tree, bytes, &err);
  } else if (is_tar(data, len)) {
    g_set_error(&err, SPN_PT_ERROR, SPN_PT_ERROR_UNSUPPORTED,
                "the tar checkpoint format of PyTorch < 0.4 is not supported");
  } else {
    root = legacy_load(tree, bytes, &err);
  }
  if (root != NULL && !spn_pt_tree_check(tree, root, &err))
    root = NULL;
  if (root == NULL) {
    g_set_error(error, SPN_PT_ERROR, err->code, "%s: %s", name, err->message);
    g_error_free(err);
    spn_pt_tree_free(tree);
    return NULL;
  }
  spn_pt_tree_set_root(tree, root);
  if (format != NULL)
    *format = is_zip(data, len) ? SPN_TORCH_ZIP : SPN_TORCH_LEGACY;
  return tree;
}

SpnPtTree *
spn_torch_load(const char *path, SpnTorchFormat *format, GError **error)
{
  g_return_val_if_fail(path != NULL, NULL);
  g_autofree char *display = g_filename_display_name(path);
  struct stat sb;
  int fd = spn_open_regular(path, &sb);
  if (fd < 0) {
    int err = errno;
    if (err != 0)
      g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_IO, "%s: %s", display, g_strerror(err));
    else
      g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_IO,
                  "%s: is %s, not a regular file; a checkpoint is a file on disk", display,
                  spn_file_kind(sb.st_mode));
    return NULL;
  }
  gsize len = (gsize)sb.st_size, got = 0;
  guint8 *contents = (off_t)len == sb.st_size ? g_try_malloc(MAX(len, 1)) : NULL;
  int err = contents == NULL ? ENOMEM : spn_read_all(fd, contents, len, &got) ? 0 : errno;
  close(fd);
  if (err != 0) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_IO, "%s: cannot read %" G_GSIZE_FORMAT
                " bytes: %s", display, len, g_strerror(err));
    g_free(contents);
    return NULL;
  }
  GBytes *bytes = g_bytes_new_take(contents, got);
  SpnPtTree *tree = spn_torch_load_bytes(bytes, display, format, error);
  g_bytes_unref(bytes);
  return tree;
}

/* ================================================================================================
 * Writing
 * ============================================================================================== */

typedef struct {
  GBytes *pickle;
  GPtrArray *storages;
} Payload;

static gsize
storage_bytes(SpnPtObj *storage)
{
  return spn_pt_storage_numel(storage) * spn_pt_dtype_size(spn_pt_storage_dtype(storage));
}

/* Adds a stored entry whose data starts at a multiple of ZIP_ALIGN: the local header is 30 bytes
 * + name + extra field, and libzip writes entries back to back from offset 0, so the padding of
 * the "FB" extra field (as torch writes it) follows from the running offset. */
static gboolean
archive_add(zip_t *za, const char *name, const void *data, gsize len, guint64 *offset, GError **error)
{
  static const guint8 pad[ZIP_ALIGN] = {[0 ... ZIP_ALIGN - 1] = 'Z'};
  zip_source_t *src = zip_source_buffer(za, data, len, 0);
  zip_int64_t index = src != NULL ? zip_file_add(za, name, src, ZIP_FL_ENC_UTF_8) : -1;
  if (index < 0) {
    if (src != NULL)
      zip_source_free(src);
    set_zip_error(error, name, zip_get_error(za));
    return FALSE;
  }
  guint64 header = 30 + strlen(name) + 4;
  guint16 n_pad = (guint16) ((ZIP_ALIGN - (*offset + header) % ZIP_ALIGN) % ZIP_ALIGN);
  if (zip_set_file_compression(za, (zip_uint64_t) index, ZIP_CM_STORE, 0) != 0 ||
      zip_file_extra_field_set(za, (zip_uint64_t) index, 0x4246, ZIP_EXTRA_FIELD_NEW, pad, n_pad,
                               ZIP_FL_LOCAL) != 0 ||
      zip_file_set_mtime(za, (zip_uint64_t) index, 315964800, 0) != 0) {
    set_zip_error(error, name, zip_get_error(za));
    return FALSE;
  }
  *offset += header + n_pad + len;
  return TRUE;
}

/* Writes the whole of an in-memory zip source to fd. */
static gboolean
copy_source(zip_source_t *src, int fd, GError **error)
{
  if (zip_source_open(src) != 0) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_IO, "cannot read the archive back: %s",
                zip_error_strerror(zip_source_error(src)));
    return FALSE;
  }
  gboolean ok = TRUE;
  guint8 chunk[1 << 16];
  zip_int64_t n = 0;
  while (ok && (n = zip_source_read(src, chunk, sizeof chunk)) > 0)
    ok = spn_save_write(fd, chunk, (gsize) n, error);
  if (ok && n < 0) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_IO, "cannot read the archive back: %s",
                zip_error_strerror(zip_source_error(src)));
    ok = FALSE;
  }
  zip_source_close(src);
  return ok;
}

/* The archive is built in memory (libzip writes files through temporary files of its own, which
 * would escape spn_save_file's clean-up), then written to fd. */
static gboolean
write_zip(int fd, gpointer user_data, GError **error)
{
  Payload *p = user_data;
  zip_error_t zerr;
  zip_error_init(&zerr);
  zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &zerr);
  zip_t *za = src != NULL ? zip_open_from_source(src, ZIP_TRUNCATE, &zerr) : NULL;
  if (za == NULL) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_IO, "cannot create the archive: %s",
                zip_error_strerror(&zerr));
    zip_error_fini(&zerr);
    if (src != NULL)
      zip_source_free(src);
    return FALSE;
  }
  zip_error_fini(&zerr);
  zip_source_keep(src); /* the archive's bytes outlive zip_close */
  guint64 offset = 0;
  gboolean ok = archive_add(za, "archive/data.pkl", g_bytes_get_data(p->pickle, NULL),
                        g_bytes_get_size(p->pickle), &offset, error) &&
                archive_add(za, "archive/byteorder", "little", 6, &offset, error);
  for (guint i = 0; ok && i < p->storages->len; i++) {
    SpnPtObj *storage = g_ptr_array_index(p->storages, i);
    char *name = g_strdup_printf("archive/data/%u", i);
    ok = archive_add(za, name, spn_pt_storage_data(storage), storage_bytes(storage), &offset, error);
    g_free(name);
  }
  ok = ok && archive_add(za, "archive/version", "3\n", 2, &offset, error);
  if (ok && zip_close(za) != 0) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_IO, "cannot write the archive: %s", zip_strerror(za));
    ok = FALSE;
  }
  if (!ok)
    zip_discard(za);
  ok = ok && copy_source(src, fd, error);
  zip_source_free(src);
  return ok;
}

static gboolean
write_legacy(int fd, gpointer user_data, GError **error)
{
  Payload *p = user_data;
  guint8 magic[16] = {0x80, 0x02, 0x8a, 0x0a};
  memcpy(magic + 4, legacy_magic, 10);
  magic[14] = '.';
  static const guint8 protocol[] = {0x80, 0x02, 'M', LEGACY_PROTOCOL & 0xff, LEGACY_PROTOCOL >> 8, '.'};
  SpnPtTree *t = spn_pt_tree_new();
  SpnPtObj *info = spn_pt_new_dict(t, FALSE), *sizes = spn_pt_new_dict(t, FALSE);
  spn_pt_dict_set_str(info, "protocol_version", spn_pt_new_int(t, LEGACY_PROTOCOL));
  spn_pt_dict_set_str(info, "little_endian", spn_pt_new_bool(t, TRUE));
  spn_pt_dict_set_str(sizes, "short", spn_pt_new_int(t, 2));
  spn_pt_dict_set_str(sizes, "int", spn_pt_new_int(t, 4));
  spn_pt_dict_set_str(sizes, "long", spn_pt_new_int(t, 4)); /* what torch writes */
  spn_pt_dict_set_str(info, "type_sizes", sizes);
  SpnPtObj *keys = spn_pt_new_list(t);
  for (guint i = 0; i < p->storages->len; i++) {
    char *key = g_strdup_printf("%u", i);
    spn_pt_append(keys, spn_pt_new_str(t, key, -1));
    g_free(key);
  }
  GPtrArray *none = g_ptr_array_new();
  GBytes *info_pkl = spn_pickle(t, info, FALSE, none, error);
  GBytes *keys_pkl = info_pkl != NULL ? spn_pickle(t, keys, FALSE, none, error) : NULL;
  gboolean ok = keys_pkl != NULL && spn_save_write(fd, magic, 15, error) &&
                spn_save_write(fd, protocol, sizeof protocol, error) &&
                spn_save_write(fd, g_bytes_get_data(info_pkl, NULL), g_bytes_get_size(info_pkl), error) &&
                spn_save_write(fd, g_bytes_get_data(p->pickle, NULL), g_bytes_get_size(p->pickle), error) &&
                spn_save_write(fd, g_bytes_get_data(keys_pkl, NULL), g_bytes_get_size(keys_pkl), error);
  for (guint i = 0; ok && i < p->storages->len; i++) {
    SpnPtObj *storage = g_ptr_array_index(p->storages, i);
    guint64 numel = spn_pt_storage_numel(storage);
    ok = spn_save_write(fd, &numel, 8, error) &&
         spn_save_write(fd, spn_pt_storage_data(storage), storage_bytes(storage), error);
  }
  if (info_pkl != NULL)
    g_bytes_unref(info_pkl);
  if (keys_pkl != NULL)
    g_bytes_unref(keys_pkl);
  g_ptr_array_unref(none);
  spn_pt_tree_free(t);
  return ok;
}

gboolean
spn_torch_save(SpnPtTree *tree, SpnPtObj *root, const char *path, SpnTorchFormat format,
               GError **error)
{
  g_return_val_if_fail(tree != NULL && root != NULL && path != NULL, FALSE);
  Payload p = {.storages = g_ptr_array_new()};
  GError *err = NULL;
  p.pickle = spn_pickle(tree, root, format == SPN_TORCH_LEGACY, p.storages, &err);
  gboolean ok = p.pickle != NULL &&
                spn_save_file(path, format == SPN_TORCH_ZIP ? write_zip : write_legacy, &p, &err);
  if (!ok) {
    char *display = g_filename_display_name(path);
    int code = err->domain == SPN_PT_ERROR ? err->code : SPN_PT_ERROR_IO;
    g_set_error(error, SPN_PT_ERROR, code, "%s: %s", display, err->message);
    g_free(display);
    g_error_free(err);
  }
  if (p.pickle != NULL)
    g_bytes_unref(p.pickle);
  g_ptr_array_unref(p.storages);
  return ok;
}
