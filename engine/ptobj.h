/* ptobj.h — the object tree of a PyTorch checkpoint: the few Python values a `.pt` file may hold
 * (None, bool, int, float, str, bytes, list, tuple, dict/OrderedDict) plus tensors and their
 * storages, as read by the restricted unpickler (pickle.h) and written by the pickler.
 *
 * Every object belongs to one SpnPtTree, which owns them all and frees them together; an object
 * may appear in several places (a string used as a key twice, two tensors viewing one storage),
 * and the tree of a loaded file is checked to have no cycles. Lookups never fail loudly: they
 * return NULL / FALSE for a missing key or a value of another kind, and the spn_pt_expect_*
 * helpers turn that into an error naming the path ("optimizer/state/3/sum").
 *
 * Tensors keep torch's layout: a storage (flat array of one element type), an element offset,
 * shape and strides in elements. Every tensor of a loaded tree has been checked to lie inside its
 * storage, so the accessors below can gather any view (transposed, sliced, sharing a storage)
 * without further checks.
 */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  SPN_PT_NONE,
  SPN_PT_BOOL,
  SPN_PT_INT,
  SPN_PT_FLOAT,
  SPN_PT_STR,
  SPN_PT_BYTES,
  SPN_PT_LIST,
  SPN_PT_TUPLE,
  SPN_PT_DICT,
  SPN_PT_TENSOR,
  SPN_PT_STORAGE,
} SpnPtKind;

/* Element types of torch storages (torch.FloatStorage is SPN_PT_F32, ...). UntypedStorage is
 * SPN_PT_U8. Complex types can be read and written but not converted to real numbers. */
typedef enum {
  SPN_PT_F32,
  SPN_PT_F64,
  SPN_PT_F16,
  SPN_PT_BF16,
  SPN_PT_I64,
  SPN_PT_I32,
  SPN_PT_I16,
  SPN_PT_I8,
  SPN_PT_U8,
  SPN_PT_BOOLEAN,
  SPN_PT_C64,
  SPN_PT_C128,
  SPN_PT_N_DTYPES
} SpnPtDtype;

#define SPN_PT_MAX_DIMS 32
/* A tensor may have more elements than its storage only through zero strides (expand()); such a
 * tensor is refused beyond this many elements, so numel never exceeds what the file holds by
 * more than this. */
#define SPN_PT_MAX_REPEATED (1 << 24)

typedef struct _SpnPtTree SpnPtTree;
typedef struct _SpnPtObj SpnPtObj;

#define SPN_PT_ERROR (spn_pt_error_quark())
GQuark spn_pt_error_quark(void);
typedef enum {
  SPN_PT_ERROR_IO,        /* cannot open, read or write the file */
  SPN_PT_ERROR_FORMAT,    /* not a valid checkpoint: truncated, malformed, inconsistent */
  SPN_PT_ERROR_FORBIDDEN, /* the pickle names a global that is not allowed (it could run code) */
  SPN_PT_ERROR_UNSUPPORTED, /* valid, but uses something this reader does not handle */
  SPN_PT_ERROR_MISMATCH,  /* a lookup found a missing key, another kind, dtype or shape */
} SpnPtError;

/* Element size in bytes and the name torch gives the type ("float32", "int64", ...). */
gsize spn_pt_dtype_size(SpnPtDtype dtype);
const char *spn_pt_dtype_name(SpnPtDtype dtype);
const char *spn_pt_kind_name(SpnPtKind kind);

SpnPtTree *spn_pt_tree_new(void);
void spn_pt_tree_free(SpnPtTree *tree);
/* The object the file holds (NULL for a new tree until set). */
SpnPtObj *spn_pt_tree_root(const SpnPtTree *tree);
void spn_pt_tree_set_root(SpnPtTree *tree, SpnPtObj *root);

/* ---- reading values ------------------------------------------------------------------------ */

SpnPtKind spn_pt_kind(const SpnPtObj *obj);
/* bool: TRUE only for SPN_PT_BOOL. int: SPN_PT_INT or SPN_PT_BOOL. number: int, bool or float
 * (as double). */
gboolean spn_pt_get_bool(const SpnPtObj *obj, gboolean *out);
gboolean spn_pt_get_int(const SpnPtObj *obj, gint64 *out);
gboolean spn_pt_get_number(const SpnPtObj *obj, double *out);
/* NUL-terminated UTF-8 for SPN_PT_STR (may contain NUL: see len), bytes for SPN_PT_BYTES; NULL
 * for other kinds. */
const char *spn_pt_get_str(const SpnPtObj *obj, gsize *len);

/* Number of items of a list, tuple or dict, 0 for other kinds. */
guint spn_pt_len(const SpnPtObj *obj);
/* Item i of a list or tuple; key/value i of a dict in insertion order. NULL when out of range. */
SpnPtObj *spn_pt_item(const SpnPtObj *obj, guint i);
SpnPtObj *spn_pt_dict_key(const SpnPtObj *dict, guint i);
SpnPtObj *spn_pt_dict_value(const SpnPtObj *dict, guint i);
/* TRUE for a collections.OrderedDict (what state_dict() returns). */
gboolean spn_pt_dict_is_ordered(const SpnPtObj *dict);
/* The instance attributes an OrderedDict was pickled with (state_dict()'s `_metadata`), a dict;
 * NULL when there were none. */
SpnPtObj *spn_pt_dict_attrs(const SpnPtObj *dict);
/* Python lookup semantics: a str key matches only a str; an integer key matches an int, a bool
 * or an integral float of that value (as 1 == True == 1.0 in Python). */
SpnPtObj *spn_pt_dict_get(const SpnPtObj *dict, const char *key);
SpnPtObj *spn_pt_dict_get_int(const SpnPtObj *dict, gint64 key);

/* Follows a path of '/'-separated components from obj: a component selects a dict's str key,
 * or, when there is none, its integer key (decimal), or a list/tuple index. "" is obj itself.
 * Returns NULL with an error naming the path that is missing ("'optimizer/state/7': no key 7 in
 * the dict at 'optimizer/state'"). */
SpnPtObj *spn_pt_lookup(SpnPtObj *obj, const char *path, GError **error);
/* spn_pt_lookup, then the object must be of that kind ("'iter_no' is a str, expected an int"). */
SpnPtObj *spn_pt_expect(SpnPtObj *obj, const char *path, SpnPtKind kind, GError **error);

/* ---- tensors and storages ------------------------------------------------------------------ */

SpnPtDtype spn_pt_tensor_dtype(const SpnPtObj *tensor);
int spn_pt_tensor_ndim(const SpnPtObj *tensor);
const gint64 *spn_pt_tensor_shape(const SpnPtObj *tensor);
const gint64 *spn_pt_tensor_stride(const SpnPtObj *tensor);
gint64 spn_pt_tensor_offset(const SpnPtObj *tensor);
guint64 spn_pt_tensor_numel(const SpnPtObj *tensor);
gboolean spn_pt_tensor_requires_grad(const SpnPtObj *tensor);
/* A torch.nn.Parameter (torch._utils._rebuild_parameter) rather than a plain tensor. */
gboolean spn_pt_tensor_is_parameter(const SpnPtObj *tensor);
void spn_pt_tensor_set_parameter(SpnPtObj *tensor, gboolean is_parameter, gboolean requires_grad);
SpnPtObj *spn_pt_tensor_storage(const SpnPtObj *tensor);
/* Row-major and without gaps (then the data is one block from the offset on). */
gboolean spn_pt_tensor_is_contiguous(const SpnPtObj *tensor);

SpnPtDtype spn_pt_storage_dtype(const SpnPtObj *storage);
guint64 spn_pt_storage_numel(const SpnPtObj *storage);
/* Raw little-endian elements (numel × dtype size bytes), possibly unaligned. */
const guint8 *spn_pt_storage_data(const SpnPtObj *storage);
/* Where torch says the storage lived ("cpu", "cuda:0"); the data is always in memory here. */
const char *spn_pt_storage_location(const SpnPtObj *storage);

/* Copies the tensor's elements in row-major order into out (n = its numel), converting: any real
 * or integer type to float32/float64 (as torch's .float()/.double() would, float64 rounded to
 * nearest), integer and bool types to int64 (floats are refused, as is a complex type to any).
 * Fails (SPN_PT_ERROR_MISMATCH) when n differs from the numel or the types cannot convert. */
gboolean spn_pt_tensor_to_f32(const SpnPtObj *tensor, float *out, gsize n, GError **error);
gboolean spn_pt_tensor_to_f64(const SpnPtObj *tensor, double *out, gsize n, GError **error);
gboolean spn_pt_tensor_to_i64(const SpnPtObj *tensor, gint64 *out, gsize n, GError **error);

/* spn_pt_expect(path, SPN_PT_TENSOR) and a shape check ("'model/module.key_pe' has shape
 * [1, 32, 512], expected [1, 32, 1024]"); ndim < 0 accepts any shape. */
SpnPtObj *spn_pt_expect_tensor(SpnPtObj *obj, const char *path, int ndim, const gint64 *shape,
                               GError **error);

/* ---- building trees (for writing) ---------------------------------------------------------- */
/* Constructors never fail; objects belong to the tree they were made in and may only be put into
 * containers of the same tree. */

SpnPtObj *spn_pt_new_none(SpnPtTree *tree);
SpnPtObj *spn_pt_new_bool(SpnPtTree *tree, gboolean value);
SpnPtObj *spn_pt_new_int(SpnPtTree *tree, gint64 value);
SpnPtObj *spn_pt_new_float(SpnPtTree *tree, double value);
/* str must be valid UTF-8, NUL characters allowed (len -1: NUL-terminated). */
SpnPtObj *spn_pt_new_str(SpnPtTree *tree, const char *str, gssize len);
SpnPtObj *spn_pt_new_bytes(SpnPtTree *tree, const void *data, gsize len);
SpnPtObj *spn_pt_new_list(SpnPtTree *tree);
SpnPtObj *spn_pt_new_tuple(SpnPtTree *tree);
SpnPtObj *spn_pt_new_dict(SpnPtTree *tree, gboolean ordered);

/* Appends to a list or (while building) a tuple. */
void spn_pt_append(SpnPtObj *seq, SpnPtObj *item);
/* Sets dict[key] = value with Python semantics (an equal key keeps its place and gets the new
 * value). FALSE with an error for an unhashable key (list, dict, storage, tuple holding one). */
gboolean spn_pt_dict_set(SpnPtObj *dict, SpnPtObj *key, SpnPtObj *value, GError **error);
/* Convenience for str and int keys (which are always hashable). */
void spn_pt_dict_set_str(SpnPtObj *dict, const char *key, SpnPtObj *value);
void spn_pt_dict_set_int(SpnPtObj *dict, gint64 key, SpnPtObj *value);
/* Attaches instance attributes (a dict) to an OrderedDict, written back as pickle BUILD. */
void spn_pt_dict_set_attrs(SpnPtObj *dict, SpnPtObj *attrs);

/* A storage of numel elements, zero-filled; fill it through spn_pt_storage_data_mut. */
SpnPtObj *spn_pt_new_storage(SpnPtTree *tree, SpnPtDtype dtype, guint64 numel);
guint8 *spn_pt_storage_data_mut(SpnPtObj *storage);
/* A view into storage (strides in elements, NULL stride: row-major). Returns NULL with an error
 * when it does not fit in the storage. */
SpnPtObj *spn_pt_new_tensor_view(SpnPtTree *tree, SpnPtObj *storage, guint64 offset, int ndim,
                                 const gint64 *shape, const gint64 *stride, GError **error);
/* A new contiguous tensor with its own storage holding a copy of data (row-major, numel elements
 * of the dtype's size, little-endian). */
SpnPtObj *spn_pt_new_tensor(SpnPtTree *tree, SpnPtDtype dtype, int ndim, const gint64 *shape,
                            const void *data);

G_END_DECLS
