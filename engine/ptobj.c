/* ptobj.c — the object tree of a PyTorch checkpoint (see ptobj.h). */
#include "ptobj-private.h"

#include <math.h>
#include <string.h>

#if G_BYTE_ORDER != G_LITTLE_ENDIAN
#error "ptobj.c reads storages in place and assumes a little-endian host"
#endif

G_DEFINE_QUARK(spn-pt-error-quark, spn_pt_error)

/* Keys nested deeper than this (tuples of tuples ...) are refused as unhashable, which bounds
 * the recursion of hashing and comparing keys. */
#define SPN_PT_MAX_KEY_DEPTH 32

struct _SpnPtTree {
  GPtrArray *objects; /* every object made in this tree, freed with it */
  SpnPtObj *root;
};

typedef struct {
  SpnPtObj *storage;
  guint64 offset, numel;
  int ndim;
  gint64 shape[SPN_PT_MAX_DIMS], stride[SPN_PT_MAX_DIMS];
  gboolean requires_grad, is_parameter;
} Tensor;

typedef struct {
  SpnPtDtype dtype;
  guint64 numel;
  GBytes *bytes; /* NULL while pending */
  char *key, *location;
} Storage;

struct _SpnPtObj {
  SpnPtKind kind;
  guint8 mark;     /* graph check: 0 unvisited, 1 on the current path, 2 done */
  gboolean hashed; /* hash is known: a key used again is not hashed again */
  guint hash;
  SpnPtTree *tree;
  union {
    gboolean b;
    gint64 i;
    double f;
    struct {
      char *data; /* NUL-terminated */
      gsize len;
    } str;
    GPtrArray *seq;
    struct {
      GPtrArray *keys, *values;
      GHashTable *index; /* key object -> position + 1 */
      gboolean ordered;
      SpnPtObj *attrs;
    } dict;
    Tensor tensor;
    struct {
      int tag;
      SpnPtDtype dtype;
      char *name;
    } global;
    Storage storage;
  } u;
};

static const struct {
  const char *name;
  gsize size;
} dtype_info[SPN_PT_N_DTYPES] = {
  [SPN_PT_F32] = {"float32", 4},  [SPN_PT_F64] = {"float64", 8},   [SPN_PT_F16] = {"float16", 2},
  [SPN_PT_BF16] = {"bfloat16", 2}, [SPN_PT_I64] = {"int64", 8},    [SPN_PT_I32] = {"int32", 4},
  [SPN_PT_I16] = {"int16", 2},    [SPN_PT_I8] = {"int8", 1},       [SPN_PT_U8] = {"uint8", 1},
  [SPN_PT_BOOLEAN] = {"bool", 1}, [SPN_PT_C64] = {"complex64", 8}, [SPN_PT_C128] = {"complex128", 16},
};

gsize
spn_pt_dtype_size(SpnPtDtype dtype)
{
  g_return_val_if_fail(dtype < SPN_PT_N_DTYPES, 0);
  return dtype_info[dtype].size;
}

const char *
spn_pt_dtype_name(SpnPtDtype dtype)
{
  g_return_val_if_fail(dtype < SPN_PT_N_DTYPES, "?");
  return dtype_info[dtype].name;
}

const char *
spn_pt_kind_name(SpnPtKind kind)
{
  static const char *const names[] = {"None", "bool", "int",   "float",  "str",    "bytes",
                                      "list", "tuple", "dict", "tensor", "storage"};
  return kind < G_N_ELEMENTS(names) ? names[kind] : kind == SPN_PT_GLOBAL ? "global" : "?";
}

/* ---- tree ---------------------------------------------------------------------------------- */

static void
obj_free(gpointer data)
{
  SpnPtObj *obj = data;
  switch (obj->kind) {
  case SPN_PT_STR:
  case SPN_PT_BYTES:
    g_free(obj->u.str.data);
    break;
  case SPN_PT_LIST:
  case SPN_PT_TUPLE:
    g_ptr_array_unref(obj->u.seq);
    break;
  case SPN_PT_DICT:
    g_hash_table_unref(obj->u.dict.index);
    g_ptr_array_unref(obj->u.dict.keys);
    g_ptr_array_unref(obj->u.dict.values);
    break;
  case SPN_PT_STORAGE:
    if (obj->u.storage.bytes != NULL)
      g_bytes_unref(obj->u.storage.bytes);
    g_free(obj->u.storage.key);
    g_free(obj->u.storage.location);
    break;
  default:
    if (obj->kind == SPN_PT_GLOBAL)
      g_free(obj->u.global.name);
    break;
  }
  g_free(obj);
}

SpnPtTree *
spn_pt_tree_new(void)
{
  SpnPtTree *tree = g_new0(SpnPtTree, 1);
  tree->objects = g_ptr_array_new_with_free_func(obj_free);
  return tree;
}

void
spn_pt_tree_free(SpnPtTree *tree)
{
  if (tree == NULL)
    return;
  g_ptr_array_unref(tree->objects);
  g_free(tree);
}

SpnPtObj *
spn_pt_tree_root(const SpnPtTree *tree)
{
  g_return_val_if_fail(tree != NULL, NULL);
  return tree->root;
}

void
spn_pt_tree_set_root(SpnPtTree *tree, SpnPtObj *root)
{
  g_return_if_fail(tree != NULL);
  g_return_if_fail(root == NULL || root->tree == tree);
  tree->root = root;
}

static SpnPtObj *
obj_new(SpnPtTree *tree, SpnPtKind kind)
{
  SpnPtObj *obj = g_new0(SpnPtObj, 1);
  obj->kind = kind;
  obj->tree = tree;
  g_ptr_array_add(tree->objects, obj);
  return obj;
}

/* ---- keys: Python's hash and == for the hashable kinds -------------------------------------- */

/* An int, bool or integral float in int64 range, as Python compares them. */
static gboolean
as_exact_int(const SpnPtObj *o, gint64 *out)
{
  if (o->kind == SPN_PT_INT || o->kind == SPN_PT_BOOL) {
    *out = o->kind == SPN_PT_INT ? o->u.i : (gint64) (o->u.b != 0);
    return TRUE;
  }
  if (o->kind == SPN_PT_FLOAT && isfinite(o->u.f) && o->u.f == floor(o->u.f) &&
      o->u.f >= -9223372036854775808.0 && o->u.f < 9223372036854775808.0) {
    *out = (gint64) o->u.f;
    return TRUE;
  }
  return FALSE;
}

static gboolean
is_number(const SpnPtObj *o)
{
  return o->kind == SPN_PT_INT || o->kind == SPN_PT_BOOL || o->kind == SPN_PT_FLOAT;
}

static gboolean
hashable_at(const SpnPtObj *key, int depth)
{
  if (depth > SPN_PT_MAX_KEY_DEPTH)
    return FALSE;
  switch ((int) key->kind) {
  case SPN_PT_LIST:
  case SPN_PT_DICT:
  case SPN_PT_STORAGE:
  case SPN_PT_GLOBAL:
    return FALSE;
  case SPN_PT_TUPLE:
    for (guint i = 0; i < key->u.seq->len; i++)
      if (!hashable_at(g_ptr_array_index(key->u.seq, i), depth + 1))
        return FALSE;
    return TRUE;
  default:
    return TRUE;
  }
}

gboolean
spn_pt_is_hashable(const SpnPtObj *key)
{
  return key != NULL && hashable_at(key, 0);
}

static guint
hash_bytes(const char *p, gsize len, guint seed)
{
  guint h = 2166136261u ^ seed; /* FNV-1a */
  for (gsize i = 0; i < len; i++)
    h = (h ^ (guint8) p[i]) * 16777619u;
  return h;
}

static guint key_hash(gconstpointer data);

static guint
key_hash_uncached(const SpnPtObj *o)
{
  gint64 i;
  if (as_exact_int(o, &i))
    return g_int64_hash(&i);
  switch (o->kind) {
  case SPN_PT_FLOAT:
    return g_double_hash(&o->u.f);
  case SPN_PT_STR:
    return hash_bytes(o->u.str.data, o->u.str.len, 1);
  case SPN_PT_BYTES:
    return hash_bytes(o->u.str.data, o->u.str.len, 2);
  case SPN_PT_TUPLE: {
    guint h = 3;
    for (guint k = 0; k < o->u.seq->len; k++)
      h = h * 31u + key_hash(g_ptr_array_index(o->u.seq, k));
    return h;
  }
  case SPN_PT_NONE:
    return 4;
  default: /* tensors hash by identity, as in Python */
    return g_direct_hash(o);
  }
}

/* Keys are immutable once in a dict, so their hash is computed once (a long tuple used as a key
 * again and again through the memo costs its length only once). */
static guint
key_hash(gconstpointer data)
{
  SpnPtObj *o = (SpnPtObj *) data;
  if (!o->hashed) {
    o->hash = key_hash_uncached(o);
    o->hashed = TRUE;
  }
  return o->hash;
}

static gboolean
key_equal(gconstpointer pa, gconstpointer pb)
{
  const SpnPtObj *a = pa, *b = pb;
  if (a == b)
    return TRUE;
  if (is_number(a) && is_number(b)) {
    if (a->kind == SPN_PT_FLOAT && b->kind == SPN_PT_FLOAT)
      return a->u.f == b->u.f;
    gint64 x = 0, y = 0;
    gboolean ea = as_exact_int(a, &x), eb = as_exact_int(b, &y);
    return ea && eb && x == y;
  }
  if (a->kind != b->kind)
    return FALSE;
  switch (a->kind) {
  case SPN_PT_NONE:
    return TRUE;
  case SPN_PT_STR:
  case SPN_PT_BYTES:
    return a->u.str.len == b->u.str.len && memcmp(a->u.str.data, b->u.str.data, a->u.str.len) == 0;
  case SPN_PT_TUPLE:
    if (a->u.seq->len != b->u.seq->len)
      return FALSE;
    for (guint k = 0; k < a->u.seq->len; k++)
      if (!key_equal(g_ptr_array_index(a->u.seq, k), g_ptr_array_index(b->u.seq, k)))
        return FALSE;
    return TRUE;
  default:
    return FALSE;
  }
}

/* ---- reading values ------------------------------------------------------------------------ */

SpnPtKind
spn_pt_kind(const SpnPtObj *obj)
{
  g_return_val_if_fail(obj != NULL, SPN_PT_NONE);
  return obj->kind;
}

gboolean
spn_pt_get_bool(const SpnPtObj *obj, gboolean *out)
{
  if (obj == NULL || obj->kind != SPN_PT_BOOL)
    return FALSE;
  *out = obj->u.b;
  return TRUE;
}

gboolean
spn_pt_get_int(const SpnPtObj *obj, gint64 *out)
{
  if (obj == NULL || (obj->kind != SPN_PT_INT && obj->kind != SPN_PT_BOOL))
    return FALSE;
  return as_exact_int(obj, out);
}

gboolean
spn_pt_get_number(const SpnPtObj *obj, double *out)
{
  if (obj == NULL || !is_number(obj))
    return FALSE;
  *out = obj->kind == SPN_PT_FLOAT ? obj->u.f
         : obj->kind == SPN_PT_INT ? (double) obj->u.i
                                   : (double) (obj->u.b != 0);
  return TRUE;
}

const char *
spn_pt_get_str(const SpnPtObj *obj, gsize *len)
{
  if (obj == NULL || (obj->kind != SPN_PT_STR && obj->kind != SPN_PT_BYTES))
    return NULL;
  if (len != NULL)
    *len = obj->u.str.len;
  return obj->u.str.data;
}

guint
spn_pt_len(const SpnPtObj *obj)
{
  if (obj == NULL)
    return 0;
  if (obj->kind == SPN_PT_LIST || obj->kind == SPN_PT_TUPLE)
    return obj->u.seq->len;
  if (obj->kind == SPN_PT_DICT)
    return obj->u.dict.keys->len;
  return 0;
}

SpnPtObj *
spn_pt_item(const SpnPtObj *obj, guint i)
{
  if (obj == NULL || (obj->kind != SPN_PT_LIST && obj->kind != SPN_PT_TUPLE) || i >= obj->u.seq->len)
    return NULL;
  return g_ptr_array_index(obj->u.seq, i);
}

SpnPtObj *
spn_pt_dict_key(const SpnPtObj *dict, guint i)
{
  if (dict == NULL || dict->kind != SPN_PT_DICT || i >= dict->u.dict.keys->len)
    return NULL;
  return g_ptr_array_index(dict->u.dict.keys, i);
}

SpnPtObj *
spn_pt_dict_value(const SpnPtObj *dict, guint i)
{
  if (dict == NULL || dict->kind != SPN_PT_DICT || i >= dict->u.dict.values->len)
    return NULL;
  return g_ptr_array_index(dict->u.dict.values, i);
}

gboolean
spn_pt_dict_is_ordered(const SpnPtObj *dict)
{
  return dict != NULL && dict->kind == SPN_PT_DICT && dict->u.dict.ordered;
}

SpnPtObj *
spn_pt_dict_attrs(const SpnPtObj *dict)
{
  return dict != NULL && dict->kind == SPN_PT_DICT ? dict->u.dict.attrs : NULL;
}

static SpnPtObj *
dict_find(const SpnPtObj *dict, const SpnPtObj *probe)
{
  if (dict == NULL || dict->kind != SPN_PT_DICT)
    return NULL;
  guint pos = GPOINTER_TO_UINT(g_hash_table_lookup(dict->u.dict.index, probe));
  return pos == 0 ? NULL : g_ptr_array_index(dict->u.dict.values, pos - 1);
}

SpnPtObj *
spn_pt_dict_get(const SpnPtObj *dict, const char *key)
{
  g_return_val_if_fail(key != NULL, NULL);
  SpnPtObj probe = {.kind = SPN_PT_STR};
  probe.u.str.data = (char *) key;
  probe.u.str.len = strlen(key);
  return dict_find(dict, &probe);
}

SpnPtObj *
spn_pt_dict_get_int(const SpnPtObj *dict, gint64 key)
{
  SpnPtObj probe = {.kind = SPN_PT_INT};
  probe.u.i = key;
  return dict_find(dict, &probe);
}

/* One path component: a str key first, then a decimal integer key or index. */
static SpnPtObj *
lookup_component(SpnPtObj *obj, const char *comp, GString *where, GError **error)
{
  gint64 index = 0;
  gboolean numeric = g_ascii_string_to_signed(comp, 10, G_MININT64, G_MAXINT64, &index, NULL);
  SpnPtObj *next = NULL;
  if (obj->kind == SPN_PT_DICT) {
    next = spn_pt_dict_get(obj, comp);
    if (next == NULL && numeric)
      next = spn_pt_dict_get_int(obj, index);
    if (next == NULL)
      g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_MISMATCH, "no key '%s' in the dict at '%s'",
                  comp, where->str);
  } else if (obj->kind == SPN_PT_LIST || obj->kind == SPN_PT_TUPLE) {
    if (numeric && index >= 0 && (guint64) index < obj->u.seq->len)
      next = g_ptr_array_index(obj->u.seq, index);
    else
      g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_MISMATCH,
                  "no item '%s' in the %s of %u items at '%s'", comp, spn_pt_kind_name(obj->kind),
                  obj->u.seq->len, where->str);
  } else {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_MISMATCH,
                "cannot look up '%s' in '%s', which is a %s", comp, where->str,
                spn_pt_kind_name(obj->kind));
  }
  return next;
}

SpnPtObj *
spn_pt_lookup(SpnPtObj *obj, const char *path, GError **error)
{
  g_return_val_if_fail(obj != NULL && path != NULL, NULL);
  if (*path == '\0')
    return obj;
  char **parts = g_strsplit(path, "/", -1);
  GString *where = g_string_new(NULL);
  for (char **p = parts; obj != NULL && *p != NULL; p++) {
    obj = lookup_component(obj, *p, where, error);
    g_string_append_printf(where, "%s%s", where->len > 0 ? "/" : "", *p);
  }
  g_string_free(where, TRUE);
  g_strfreev(parts);
  return obj;
}

SpnPtObj *
spn_pt_expect(SpnPtObj *obj, const char *path, SpnPtKind kind, GError **error)
{
  SpnPtObj *found = spn_pt_lookup(obj, path, error);
  if (found == NULL)
    return NULL;
  if (found->kind != kind) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_MISMATCH, "'%s' is a %s, expected a %s", path,
                spn_pt_kind_name(found->kind), spn_pt_kind_name(kind));
    return NULL;
  }
  return found;
}

/* ---- tensors and storages ------------------------------------------------------------------ */

/* Misuse (not a tensor / storage) is a programming error: warn and read an empty one. */
static const Tensor *
TENSOR(const SpnPtObj *o)
{
  static const Tensor empty = {0};
  g_return_val_if_fail(o != NULL && o->kind == SPN_PT_TENSOR, &empty);
  return &o->u.tensor;
}

static const Storage *
STORAGE(const SpnPtObj *o)
{
  static const Storage empty = {0};
  g_return_val_if_fail(o != NULL && o->kind == SPN_PT_STORAGE, &empty);
  return &o->u.storage;
}

SpnPtDtype
spn_pt_tensor_dtype(const SpnPtObj *tensor)
{
  return STORAGE(TENSOR(tensor)->storage)->dtype;
}

int
spn_pt_tensor_ndim(const SpnPtObj *tensor)
{
  return TENSOR(tensor)->ndim;
}

const gint64 *
spn_pt_tensor_shape(const SpnPtObj *tensor)
{
  return TENSOR(tensor)->shape;
}

const gint64 *
spn_pt_tensor_stride(const SpnPtObj *tensor)
{
  return TENSOR(tensor)->stride;
}

gint64
spn_pt_tensor_offset(const SpnPtObj *tensor)
{
  return (gint64) TENSOR(tensor)->offset;
}

guint64
spn_pt_tensor_numel(const SpnPtObj *tensor)
{
  return TENSOR(tensor)->numel;
}

gboolean
spn_pt_tensor_requires_grad(const SpnPtObj *tensor)
{
  return TENSOR(tensor)->requires_grad;
}

gboolean
spn_pt_tensor_is_parameter(const SpnPtObj *tensor)
{
  return TENSOR(tensor)->is_parameter;
}

void
spn_pt_tensor_set_parameter(SpnPtObj *tensor, gboolean is_parameter, gboolean requires_grad)
{
  g_return_if_fail(tensor != NULL && tensor->kind == SPN_PT_TENSOR);
  tensor->u.tensor.is_parameter = is_parameter;
  tensor->u.tensor.requires_grad = requires_grad;
}

SpnPtObj *
spn_pt_tensor_storage(const SpnPtObj *tensor)
{
  return TENSOR(tensor)->storage;
}

gboolean
spn_pt_tensor_is_contiguous(const SpnPtObj *tensor)
{
  const Tensor *t = TENSOR(tensor);
  gint64 expected = 1;
  for (int d = t->ndim - 1; d >= 0; d--) {
    if (t->shape[d] != 1 && t->stride[d] != expected)
      return FALSE;
    expected *= t->shape[d];
  }
  return TRUE;
}

SpnPtDtype
spn_pt_storage_dtype(const SpnPtObj *storage)
{
  return STORAGE(storage)->dtype;
}

guint64
spn_pt_storage_numel(const SpnPtObj *storage)
{
  return STORAGE(storage)->numel;
}

const guint8 *
spn_pt_storage_data(const SpnPtObj *storage)
{
  GBytes *bytes = STORAGE(storage)->bytes;
  return bytes != NULL ? g_bytes_get_data(bytes, NULL) : NULL;
}

guint8 *
spn_pt_storage_data_mut(SpnPtObj *storage)
{
  return (guint8 *) spn_pt_storage_data(storage);
}

const char *
spn_pt_storage_location(const SpnPtObj *storage)
{
  return STORAGE(storage)->location;
}

const char *
spn_pt_storage_key(const SpnPtObj *storage)
{
  return STORAGE(storage)->key;
}

gboolean
spn_pt_storage_has_data(const SpnPtObj *storage)
{
  return STORAGE(storage)->bytes != NULL;
}

void
spn_pt_storage_attach(SpnPtObj *storage, GBytes *bytes)
{
  g_return_if_fail(storage != NULL && storage->kind == SPN_PT_STORAGE);
  g_return_if_fail(g_bytes_get_size(bytes) ==
                   storage->u.storage.numel * spn_pt_dtype_size(storage->u.storage.dtype));
  if (storage->u.storage.bytes != NULL)
    g_bytes_unref(storage->u.storage.bytes);
  storage->u.storage.bytes = g_bytes_ref(bytes);
}

/* Largest element count of a storage or tensor: keeps numel × 16 bytes and every index sum
 * inside gint64. */
#define SPN_PT_MAX_NUMEL (G_GUINT64_CONSTANT(1) << 58)

SpnPtObj *
spn_pt_new_storage_pending(SpnPtTree *tree, SpnPtDtype dtype, guint64 numel, const char *key,
                           const char *location)
{
  g_return_val_if_fail(tree != NULL && dtype < SPN_PT_N_DTYPES, NULL);
  g_return_val_if_fail(numel <= SPN_PT_MAX_NUMEL, NULL);
  SpnPtObj *obj = obj_new(tree, SPN_PT_STORAGE);
  obj->u.storage.dtype = dtype;
  obj->u.storage.numel = numel;
  obj->u.storage.key = g_strdup(key);
  obj->u.storage.location = g_strdup(location != NULL ? location : "cpu");
  return obj;
}

SpnPtObj *
spn_pt_new_storage(SpnPtTree *tree, SpnPtDtype dtype, guint64 numel)
{
  SpnPtObj *obj = spn_pt_new_storage_pending(tree, dtype, numel, NULL, "cpu");
  g_return_val_if_fail(obj != NULL, NULL);
  gsize n = numel * spn_pt_dtype_size(dtype);
  obj->u.storage.bytes = g_bytes_new_take(g_malloc0(n), n);
  return obj;
}

SpnPtObj *
spn_pt_new_tensor_view(SpnPtTree *tree, SpnPtObj *storage, guint64 offset, int ndim,
                       const gint64 *shape, const gint64 *stride, GError **error)
{
  g_return_val_if_fail(tree != NULL && storage != NULL && storage->tree == tree, NULL);
  g_return_val_if_fail(storage->kind == SPN_PT_STORAGE, NULL);
  g_return_val_if_fail(ndim == 0 || shape != NULL, NULL);
  if (ndim < 0 || ndim > SPN_PT_MAX_DIMS) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_UNSUPPORTED,
                "tensor has %d dimensions (at most %d are supported)", ndim, SPN_PT_MAX_DIMS);
    return NULL;
  }
  gint64 st[SPN_PT_MAX_DIMS];
  guint64 numel = 1, last = 0; /* last: largest element index relative to the offset */
  gboolean overflow = FALSE;
  for (int d = ndim - 1; d >= 0; d--) {
    st[d] = stride != NULL ? stride[d] : (gint64) MIN(numel, SPN_PT_MAX_NUMEL);
    if (shape[d] < 0 || st[d] < 0) {
      g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT,
                  "tensor has a negative size or stride (%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                  ") in dimension %d",
                  shape[d], st[d], d);
      return NULL;
    }
    guint64 span;
    overflow |= __builtin_mul_overflow(numel, (guint64) shape[d], &numel);
    overflow |= numel > SPN_PT_MAX_NUMEL;
    if (shape[d] > 0) {
      overflow |= __builtin_mul_overflow((guint64) (shape[d] - 1), (guint64) st[d], &span);
      overflow |= !overflow && __builtin_add_overflow(last, span, &last);
    }
  }
  /* A tensor with no elements reads nothing; torch still requires its offset to be in range. */
  guint64 sn = storage->u.storage.numel;
  if (overflow) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT, "tensor sizes or strides are absurdly large");
    return NULL;
  }
  /* Zero strides repeat elements; a reader sizes its buffer by numel, so the repetition is
   * bounded too. */
  if (numel > sn && numel > SPN_PT_MAX_REPEATED) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT,
                "tensor of %" G_GUINT64_FORMAT " elements repeats the %" G_GUINT64_FORMAT
                " elements of its storage (at most %d elements may come from zero strides)",
                numel, sn, SPN_PT_MAX_REPEATED);
    return NULL;
  }
  if (numel == 0 ? offset > sn : (offset >= sn || last >= sn - offset)) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT,
                "tensor of %" G_GUINT64_FORMAT " elements at offset %" G_GUINT64_FORMAT
                " reaches element %" G_GUINT64_FORMAT " of a storage of %" G_GUINT64_FORMAT,
                numel, offset, numel == 0 ? offset : offset + last, sn);
    return NULL;
  }
  SpnPtObj *obj = obj_new(tree, SPN_PT_TENSOR);
  obj->u.tensor.storage = storage;
  obj->u.tensor.offset = offset;
  obj->u.tensor.numel = numel;
  obj->u.tensor.ndim = ndim;
  for (int d = 0; d < ndim; d++) {
    obj->u.tensor.shape[d] = shape[d];
    obj->u.tensor.stride[d] = st[d];
  }
  return obj;
}

SpnPtObj *
spn_pt_new_tensor(SpnPtTree *tree, SpnPtDtype dtype, int ndim, const gint64 *shape,
                  const void *data)
{
  g_return_val_if_fail(ndim >= 0 && ndim <= SPN_PT_MAX_DIMS, NULL);
  guint64 numel = 1;
  for (int d = 0; d < ndim; d++) {
    g_return_val_if_fail(shape[d] >= 0, NULL);
    g_return_val_if_fail(!__builtin_mul_overflow(numel, (guint64) shape[d], &numel), NULL);
  }
  g_return_val_if_fail(numel <= SPN_PT_MAX_NUMEL, NULL);
  g_return_val_if_fail(numel == 0 || data != NULL, NULL);
  SpnPtObj *storage = spn_pt_new_storage(tree, dtype, numel);
  if (numel > 0)
    memcpy(spn_pt_storage_data_mut(storage), data, numel * spn_pt_dtype_size(dtype));
  return spn_pt_new_tensor_view(tree, storage, 0, ndim, shape, NULL, NULL);
}

static float
half_to_float(guint16 h)
{
  guint32 sign = (guint32) (h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  guint32 bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else { /* subnormal: exactly man × 2^-24 */
    float f = (float) man * 0x1p-24f;
    return sign ? -f : f;
  }
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

typedef enum { TO_F32, TO_F64, TO_I64 } Target;

/* Converts one element; FALSE if this source type cannot become the target. Integer to float
 * goes straight to the target width, as torch does (no double rounding through float64). */
static gboolean
convert_one(const guint8 *p, SpnPtDtype dtype, Target target, void *out)
{
  union {
    float f32;
    double f64;
    guint16 u16;
    gint64 i64;
    gint32 i32;
    gint16 i16;
    gint8 i8;
    guint8 u8;
  } v;
  memcpy(&v, p, spn_pt_dtype_size(dtype));
  double d = 0;
  gint64 i = 0;
  gboolean is_int = TRUE;
  switch (dtype) {
  case SPN_PT_F32:
    if (target == TO_F32) {
      *(float *) out = v.f32;
      return TRUE;
    }
    d = v.f32, is_int = FALSE;
    break;
  case SPN_PT_F64:
    d = v.f64, is_int = FALSE;
    break;
  case SPN_PT_F16:
    d = half_to_float(v.u16), is_int = FALSE;
    break;
  case SPN_PT_BF16: {
    guint32 bits = (guint32) v.u16 << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    d = f, is_int = FALSE;
    break;
  }
  case SPN_PT_I64:
    i = v.i64;
    break;
  case SPN_PT_I32:
    i = v.i32;
    break;
  case SPN_PT_I16:
    i = v.i16;
    break;
  case SPN_PT_I8:
    i = v.i8;
    break;
  case SPN_PT_U8:
    i = v.u8;
    break;
  case SPN_PT_BOOLEAN:
    i = v.u8 != 0;
    break;
  default:
    return FALSE;
  }
  switch (target) {
  case TO_F32:
    *(float *) out = is_int ? (float) i : (float) d;
    return TRUE;
  case TO_F64:
    *(double *) out = is_int ? (double) i : d;
    return TRUE;
  case TO_I64:
    *(gint64 *) out = i;
    return is_int;
  }
  return FALSE;
}

static gboolean
tensor_convert(const SpnPtObj *tensor, void *out, gsize n, Target target, GError **error)
{
  static const char *const names[] = {"float32", "float64", "int64"};
  static const gsize sizes[] = {4, 8, 8};
  g_return_val_if_fail(tensor != NULL && tensor->kind == SPN_PT_TENSOR, FALSE);
  const Tensor *t = &tensor->u.tensor;
  const SpnPtObj *storage = t->storage;
  SpnPtDtype dtype = storage->u.storage.dtype;
  if (n != t->numel) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_MISMATCH,
                "tensor has %" G_GUINT64_FORMAT " elements, expected %" G_GSIZE_FORMAT, t->numel, n);
    return FALSE;
  }
  guint8 probe[16] = {0}, scratch[8];
  if (!convert_one(probe, dtype, target, scratch)) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_MISMATCH, "a %s tensor cannot be read as %s",
                spn_pt_dtype_name(dtype), names[target]);
    return FALSE;
  }
  if (n == 0)
    return TRUE;
  const guint8 *data = spn_pt_storage_data(storage);
  g_return_val_if_fail(data != NULL, FALSE);
  gsize esize = spn_pt_dtype_size(dtype);
  guint8 *dst = out;
  if ((Target) target == TO_F32 && dtype == SPN_PT_F32 && spn_pt_tensor_is_contiguous(tensor)) {
    memcpy(out, data + t->offset * esize, n * esize);
    return TRUE;
  }
  /* Row-major walk of the index with a running element position. */
  gint64 idx[SPN_PT_MAX_DIMS] = {0};
  guint64 pos = t->offset;
  for (gsize k = 0; k < n; k++) {
    convert_one(data + pos * esize, dtype, target, dst + k * sizes[target]);
    for (int d = t->ndim - 1; d >= 0; d--) {
      if (++idx[d] < t->shape[d]) {
        pos += (guint64) t->stride[d];
        break;
      }
      pos -= (guint64) (t->shape[d] - 1) * (guint64) t->stride[d];
      idx[d] = 0;
    }
  }
  return TRUE;
}

gboolean
spn_pt_tensor_to_f32(const SpnPtObj *tensor, float *out, gsize n, GError **error)
{
  return tensor_convert(tensor, out, n, TO_F32, error);
}

gboolean
spn_pt_tensor_to_f64(const SpnPtObj *tensor, double *out, gsize n, GError **error)
{
  return tensor_convert(tensor, out, n, TO_F64, error);
}

gboolean
spn_pt_tensor_to_i64(const SpnPtObj *tensor, gint64 *out, gsize n, GError **error)
{
  return tensor_convert(tensor, out, n, TO_I64, error);
}

static char *
format_shape(int ndim, const gint64 *shape)
{
  GString *s = g_string_new("[");
  for (int d = 0; d < ndim; d++)
    g_string_append_printf(s, "%s%" G_GINT64_FORMAT, d > 0 ? ", " : "", shape[d]);
  g_string_append_c(s, ']');
  return g_string_free(s, FALSE);
}

SpnPtObj *
spn_pt_expect_tensor(SpnPtObj *obj, const char *path, int ndim, const gint64 *shape,
                     GError **error)
{
  SpnPtObj *t = spn_pt_expect(obj, path, SPN_PT_TENSOR, error);
  if (t == NULL || ndim < 0)
    return t;
  gboolean same = t->u.tensor.ndim == ndim;
  for (int d = 0; same && d < ndim; d++)
    same = t->u.tensor.shape[d] == shape[d];
  if (!same) {
    char *found = format_shape(t->u.tensor.ndim, t->u.tensor.shape);
    char *expected = format_shape(ndim, shape);
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_MISMATCH, "'%s' has shape %s, expected %s", path,
                found, expected);
    g_free(found);
    g_free(expected);
    return NULL;
  }
  return t;
}

/* ---- building ------------------------------------------------------------------------------ */

SpnPtObj *
spn_pt_new_none(SpnPtTree *tree)
{
  return obj_new(tree, SPN_PT_NONE);
}

SpnPtObj *
spn_pt_new_bool(SpnPtTree *tree, gboolean value)
{
  SpnPtObj *obj = obj_new(tree, SPN_PT_BOOL);
  obj->u.b = value != 0;
  return obj;
}

SpnPtObj *
spn_pt_new_int(SpnPtTree *tree, gint64 value)
{
  SpnPtObj *obj = obj_new(tree, SPN_PT_INT);
  obj->u.i = value;
  return obj;
}

SpnPtObj *
spn_pt_new_float(SpnPtTree *tree, double value)
{
  SpnPtObj *obj = obj_new(tree, SPN_PT_FLOAT);
  obj->u.f = value;
  return obj;
}

static SpnPtObj *
new_text(SpnPtTree *tree, SpnPtKind kind, const char *data, gsize len)
{
  SpnPtObj *obj = obj_new(tree, kind);
  obj->u.str.data = g_malloc(len + 1);
  if (len > 0)
    memcpy(obj->u.str.data, data, len);
  obj->u.str.data[len] = '\0';
  obj->u.str.len = len;
  return obj;
}

gboolean
spn_pt_utf8_valid(const char *text, gsize len)
{
  while (len > 0) {
    const char *nul = memchr(text, '\0', len);
    gsize run = nul != NULL ? (gsize) (nul - text) : len;
    if (!g_utf8_validate_len(text, run, NULL))
      return FALSE;
    run += nul != NULL;
    text += run;
    len -= run;
  }
  return TRUE;
}

SpnPtObj *
spn_pt_new_str(SpnPtTree *tree, const char *str, gssize len)
{
  gsize n = len < 0 ? strlen(str) : (gsize) len;
  g_return_val_if_fail(spn_pt_utf8_valid(str, n), NULL);
  return new_text(tree, SPN_PT_STR, str, n);
}

SpnPtObj *
spn_pt_new_bytes(SpnPtTree *tree, const void *data, gsize len)
{
  return new_text(tree, SPN_PT_BYTES, data, len);
}

SpnPtObj *
spn_pt_new_list(SpnPtTree *tree)
{
  SpnPtObj *obj = obj_new(tree, SPN_PT_LIST);
  obj->u.seq = g_ptr_array_new();
  return obj;
}

SpnPtObj *
spn_pt_new_tuple(SpnPtTree *tree)
{
  SpnPtObj *obj = obj_new(tree, SPN_PT_TUPLE);
  obj->u.seq = g_ptr_array_new();
  return obj;
}

SpnPtObj *
spn_pt_new_dict(SpnPtTree *tree, gboolean ordered)
{
  SpnPtObj *obj = obj_new(tree, SPN_PT_DICT);
  obj->u.dict.keys = g_ptr_array_new();
  obj->u.dict.values = g_ptr_array_new();
  obj->u.dict.index = g_hash_table_new(key_hash, key_equal);
  obj->u.dict.ordered = ordered;
  return obj;
}

void
spn_pt_append(SpnPtObj *seq, SpnPtObj *item)
{
  g_return_if_fail(seq != NULL && (seq->kind == SPN_PT_LIST || seq->kind == SPN_PT_TUPLE));
  g_return_if_fail(item != NULL && item->tree == seq->tree);
  g_ptr_array_add(seq->u.seq, item);
}

gboolean
spn_pt_dict_set(SpnPtObj *dict, SpnPtObj *key, SpnPtObj *value, GError **error)
{
  g_return_val_if_fail(dict != NULL && dict->kind == SPN_PT_DICT, FALSE);
  g_return_val_if_fail(key != NULL && key->tree == dict->tree, FALSE);
  g_return_val_if_fail(value != NULL && value->tree == dict->tree, FALSE);
  if (!spn_pt_is_hashable(key)) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT, "a %s cannot be a dict key%s",
                spn_pt_kind_name(key->kind),
                key->kind == SPN_PT_TUPLE ? " (it holds an unhashable value or is nested too deeply)"
                                          : "");
    return FALSE;
  }
  guint pos = GPOINTER_TO_UINT(g_hash_table_lookup(dict->u.dict.index, key));
  if (pos != 0) { /* Python keeps the first key object and its place */
    g_ptr_array_index(dict->u.dict.values, pos - 1) = value;
    return TRUE;
  }
  g_ptr_array_add(dict->u.dict.keys, key);
  g_ptr_array_add(dict->u.dict.values, value);
  g_hash_table_insert(dict->u.dict.index, key, GUINT_TO_POINTER(dict->u.dict.keys->len));
  return TRUE;
}

void
spn_pt_dict_set_str(SpnPtObj *dict, const char *key, SpnPtObj *value)
{
  g_return_if_fail(dict != NULL && dict->kind == SPN_PT_DICT);
  spn_pt_dict_set(dict, spn_pt_new_str(dict->tree, key, -1), value, NULL);
}

void
spn_pt_dict_set_int(SpnPtObj *dict, gint64 key, SpnPtObj *value)
{
  g_return_if_fail(dict != NULL && dict->kind == SPN_PT_DICT);
  spn_pt_dict_set(dict, spn_pt_new_int(dict->tree, key), value, NULL);
}

void
spn_pt_dict_set_attrs(SpnPtObj *dict, SpnPtObj *attrs)
{
  g_return_if_fail(dict != NULL && dict->kind == SPN_PT_DICT && dict->u.dict.ordered);
  g_return_if_fail(attrs == NULL || (attrs->kind == SPN_PT_DICT && attrs->tree == dict->tree));
  dict->u.dict.attrs = attrs;
}

SpnPtObj *
spn_pt_new_global(SpnPtTree *tree, int tag, SpnPtDtype dtype, const char *name)
{
  SpnPtObj *obj = obj_new(tree, SPN_PT_GLOBAL);
  obj->u.global.tag = tag;
  obj->u.global.dtype = dtype;
  obj->u.global.name = g_strdup(name);
  return obj;
}

int
spn_pt_global_tag(const SpnPtObj *global, SpnPtDtype *dtype)
{
  if (global == NULL || global->kind != SPN_PT_GLOBAL)
    return 0;
  if (dtype != NULL)
    *dtype = global->u.global.dtype;
  return global->u.global.tag;
}

const char *
spn_pt_global_name(const SpnPtObj *global)
{
  return global != NULL && global->kind == SPN_PT_GLOBAL ? global->u.global.name : NULL;
}

/* ---- graph check --------------------------------------------------------------------------- */

/* Child k < n_children(obj) of obj in the walk: list items, dict keys then values then
 * attributes (NULL when there are none), a tensor's storage. */
static SpnPtObj *
child(const SpnPtObj *obj, guint k)
{
  switch (obj->kind) {
  case SPN_PT_LIST:
  case SPN_PT_TUPLE:
    return k < obj->u.seq->len ? g_ptr_array_index(obj->u.seq, k) : NULL;
  case SPN_PT_DICT: {
    guint n = obj->u.dict.keys->len;
    if (k < n)
      return g_ptr_array_index(obj->u.dict.keys, k);
    if (k < 2 * n)
      return g_ptr_array_index(obj->u.dict.values, k - n);
    return k == 2 * n ? obj->u.dict.attrs : NULL;
  }
  case SPN_PT_TENSOR:
    return k == 0 ? obj->u.tensor.storage : NULL;
  default:
    return NULL;
  }
}

static guint
n_children(const SpnPtObj *obj)
{
  switch (obj->kind) {
  case SPN_PT_LIST:
  case SPN_PT_TUPLE:
    return obj->u.seq->len;
  case SPN_PT_DICT:
    return 2 * obj->u.dict.keys->len + 1;
  case SPN_PT_TENSOR:
    return 1;
  default:
    return 0;
  }
}

static gboolean
check_leaf(const SpnPtObj *obj, GError **error)
{
  if (obj->kind == SPN_PT_GLOBAL) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORBIDDEN,
                "the pickle stores the global '%s' as a value", obj->u.global.name);
    return FALSE;
  }
  if (obj->kind == SPN_PT_STORAGE && obj->u.storage.bytes == NULL) {
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT, "storage '%s' has no data in the file",
                obj->u.storage.key != NULL ? obj->u.storage.key : "?");
    return FALSE;
  }
  return TRUE;
}

gboolean
spn_pt_tree_check(SpnPtTree *tree, SpnPtObj *root, GError **error)
{
  g_return_val_if_fail(tree != NULL && root != NULL && root->tree == tree, FALSE);
  for (guint i = 0; i < tree->objects->len; i++)
    ((SpnPtObj *) g_ptr_array_index(tree->objects, i))->mark = 0;
  typedef struct {
    SpnPtObj *obj;
    guint next;
  } Frame;
  GArray *stack = g_array_new(FALSE, FALSE, sizeof(Frame));
  gboolean ok = check_leaf(root, error);
  root->mark = 1;
  g_array_append_val(stack, ((Frame){root, 0}));
  while (ok && stack->len > 0) {
    Frame *top = &g_array_index(stack, Frame, stack->len - 1);
    if (top->next >= n_children(top->obj)) {
      top->obj->mark = 2;
      g_array_set_size(stack, stack->len - 1);
      continue;
    }
    SpnPtObj *c = child(top->obj, top->next++);
    if (c == NULL || c->mark == 2)
      continue;
    if (c->mark == 1) {
      g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT,
                  "the pickle builds a %s that contains itself", spn_pt_kind_name(c->kind));
      ok = FALSE;
    } else if (stack->len >= SPN_PT_MAX_DEPTH) {
      g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_UNSUPPORTED,
                  "objects are nested more than %d levels deep", SPN_PT_MAX_DEPTH);
      ok = FALSE;
    } else {
      ok = check_leaf(c, error);
      c->mark = 1;
      g_array_append_val(stack, ((Frame){c, 0}));
    }
  }
  g_array_unref(stack);
  return ok;
}
