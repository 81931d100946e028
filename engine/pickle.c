/* pickle.c — restricted unpickler and protocol-2 pickler for PyTorch checkpoints (pickle.h). */
#include "pickle.h"
#include "ptobj-private.h"

#include <math.h>
#include <string.h>

/* ================================================================================================
 * Unpickler
 * ============================================================================================== */

/* The globals a checkpoint may name. Each becomes an SPN_PT_GLOBAL object holding only this tag:
 * REDUCE dispatches on it to our own constructors; nothing is looked up or called by name. */
typedef enum {
  G_NONE,           /* an ordinary value */
  G_ORDERED_DICT,   /* collections.OrderedDict */
  G_REBUILD_V2,     /* torch._utils._rebuild_tensor_v2 */
  G_REBUILD_V1,     /* torch._utils._rebuild_tensor */
  G_REBUILD_PARAM,  /* torch._utils._rebuild_parameter */
  G_STORAGE_TYPE,   /* torch.FloatStorage & co: only meaningful inside a persistent id */
} GlobalTag;

typedef struct {
  SpnPtTree *tree;
  const guint8 *data;
  gsize len, pos, op_pos; /* op_pos: where the current opcode starts, for messages */
  GPtrArray *stack;       /* SpnPtObj */
  GArray *marks;          /* guint: stack length at each MARK */
  GHashTable *memo;       /* guint64 index -> SpnPtObj */
  SpnPickleStorageFunc storage_func;
  gpointer user_data;
  GError *error;
} Unpickler;

static gboolean fail(Unpickler *u, SpnPtError code, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static gboolean
fail(Unpickler *u, SpnPtError code, const char *fmt, ...)
{
  if (u->error != NULL)
    return FALSE;
  va_list ap;
  va_start(ap, fmt);
  char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error(&u->error, SPN_PT_ERROR, code, "pickle byte %" G_GSIZE_FORMAT ": %s", u->op_pos, msg);
  g_free(msg);
  return FALSE;
}

static const char *
opcode_name(guint8 op)
{
  static const struct {
    guint8 op;
    const char *name;
  } names[] = {
    {'I', "INT"}, {'J', "BININT"}, {'K', "BININT1"}, {'M', "BININT2"}, {'L', "LONG"},
    {0x8a, "LONG1"}, {0x8b, "LONG4"}, {'S', "STRING"}, {'T', "BINSTRING"},
    {'U', "SHORT_BINSTRING"}, {'B', "BINBYTES"}, {'C', "SHORT_BINBYTES"}, {0x8e, "BINBYTES8"},
    {0x96, "BYTEARRAY8"}, {0x97, "NEXT_BUFFER"}, {0x98, "READONLY_BUFFER"}, {'N', "NONE"},
    {0x88, "NEWTRUE"}, {0x89, "NEWFALSE"}, {'V', "UNICODE"}, {0x8c, "SHORT_BINUNICODE"},
    {'X', "BINUNICODE"}, {0x8d, "BINUNICODE8"}, {'F', "FLOAT"}, {'G', "BINFLOAT"},
    {']', "EMPTY_LIST"}, {'a', "APPEND"}, {'e', "APPENDS"}, {'l', "LIST"}, {')', "EMPTY_TUPLE"},
    {'t', "TUPLE"}, {0x85, "TUPLE1"}, {0x86, "TUPLE2"}, {0x87, "TUPLE3"}, {'}', "EMPTY_DICT"},
    {'d', "DICT"}, {'s', "SETITEM"}, {'u', "SETITEMS"}, {0x8f, "EMPTY_SET"}, {0x90, "ADDITEMS"},
    {0x91, "FROZENSET"}, {'0', "POP"}, {'2', "DUP"}, {'(', "MARK"}, {'1', "POP_MARK"},
    {'g', "GET"}, {'h', "BINGET"}, {'j', "LONG_BINGET"}, {'p', "PUT"}, {'q', "BINPUT"},
    {'r', "LONG_BINPUT"}, {0x94, "MEMOIZE"}, {0x82, "EXT1"}, {0x83, "EXT2"}, {0x84, "EXT4"},
    {'c', "GLOBAL"}, {0x93, "STACK_GLOBAL"}, {'R', "REDUCE"}, {'b', "BUILD"}, {'i', "INST"},
    {'o', "OBJ"}, {0x81, "NEWOBJ"}, {0x92, "NEWOBJ_EX"}, {0x80, "PROTO"}, {'.', "STOP"},
    {0x95, "FRAME"}, {'P', "PERSID"}, {'Q', "BINPERSID"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(names); i++)
    if (names[i].op == op)
      return names[i].name;
  return NULL;
}

/* The kind of an object that may be missing (an argument past the end of a tuple). */
#define MISSING ((SpnPtKind) 99)

static SpnPtKind
kind(const SpnPtObj *obj)
{
  return obj != NULL ? spn_pt_kind(obj) : MISSING;
}

/* ---- reading the byte stream ---------------------------------------------------------------- */

static gboolean
need(Unpickler *u, guint64 n, const char *what)
{
  if (n > u->len - u->pos)
    return fail(u, SPN_PT_ERROR_FORMAT,
                "%s needs %" G_GUINT64_FORMAT " bytes but only %" G_GSIZE_FORMAT " are left", what,
                n, u->len - u->pos);
  return TRUE;
}

static gboolean
read_uint(Unpickler *u, int n, guint64 *out, const char *what)
{
  if (!need(u, (guint64) n, what))
    return FALSE;
  guint64 v = 0;
  for (int i = n - 1; i >= 0; i--)
    v = (v << 8) | u->data[u->pos + i];
  u->pos += n;
  *out = v;
  return TRUE;
}

/* A text argument up to '\n' (protocol 0 opcodes), NUL-terminated copy. */
static char *
read_line(Unpickler *u, const char *what)
{
  const guint8 *start = u->data + u->pos;
  const guint8 *nl = memchr(start, '\n', u->len - u->pos);
  if (nl == NULL) {
    fail(u, SPN_PT_ERROR_FORMAT, "%s has no end of line before the end of the data", what);
    return NULL;
  }
  gsize n = (gsize) (nl - start);
  u->pos += n + 1;
  if (memchr(start, '\0', n) != NULL) {
    fail(u, SPN_PT_ERROR_FORMAT, "%s contains a NUL byte", what);
    return NULL;
  }
  return g_strndup((const char *) start, n);
}

/* ---- the stack -------------------------------------------------------------------------------- */

static guint
top_mark(const Unpickler *u)
{
  return u->marks->len > 0 ? g_array_index(u->marks, guint, u->marks->len - 1) : 0;
}

/* Objects above the topmost mark: the only ones an opcode may pop (as in Python, where MARK
 * starts a new stack). */
static gboolean
have(Unpickler *u, guint n, const char *op)
{
  if (u->stack->len - top_mark(u) < n)
    return fail(u, SPN_PT_ERROR_FORMAT, "%s needs %u objects on the stack, there %s %u", op, n,
                u->stack->len - top_mark(u) == 1 ? "is" : "are", u->stack->len - top_mark(u));
  return TRUE;
}

static void
push(Unpickler *u, SpnPtObj *obj)
{
  g_ptr_array_add(u->stack, obj);
}

static SpnPtObj *
pop(Unpickler *u)
{
  return g_ptr_array_steal_index(u->stack, u->stack->len - 1);
}

static SpnPtObj *
top(Unpickler *u)
{
  return g_ptr_array_index(u->stack, u->stack->len - 1);
}

static SpnPtObj *
stack_at(Unpickler *u, guint i)
{
  return g_ptr_array_index(u->stack, i);
}

/* Pops the topmost mark; returns the stack index where its objects start. */
static gboolean
pop_mark(Unpickler *u, guint *start, const char *op)
{
  if (u->marks->len == 0)
    return fail(u, SPN_PT_ERROR_FORMAT, "%s without a MARK before it", op);
  *start = top_mark(u);
  g_array_set_size(u->marks, u->marks->len - 1);
  return TRUE;
}

static const char *
kind_of(const SpnPtObj *obj)
{
  return spn_pt_kind_name(kind(obj));
}

/* ---- memo --------------------------------------------------------------------------------- */

static gboolean
memo_put(Unpickler *u, guint64 index)
{
  if (!have(u, 1, "PUT"))
    return FALSE;
  guint64 *key = g_new(guint64, 1);
  *key = index;
  g_hash_table_replace(u->memo, key, top(u));
  return TRUE;
}

static gboolean
memo_get(Unpickler *u, guint64 index)
{
  SpnPtObj *obj = g_hash_table_lookup(u->memo, &index);
  if (obj == NULL)
    return fail(u, SPN_PT_ERROR_FORMAT, "memo entry %" G_GUINT64_FORMAT " was never stored", index);
  push(u, obj);
  return TRUE;
}

/* ---- globals ------------------------------------------------------------------------------- */

static const struct {
  const char *name;
  SpnPtDtype dtype;
} storage_types[] = {
  {"FloatStorage", SPN_PT_F32},   {"DoubleStorage", SPN_PT_F64}, {"HalfStorage", SPN_PT_F16},
  {"BFloat16Storage", SPN_PT_BF16}, {"LongStorage", SPN_PT_I64}, {"IntStorage", SPN_PT_I32},
  {"ShortStorage", SPN_PT_I16},   {"CharStorage", SPN_PT_I8},    {"ByteStorage", SPN_PT_U8},
  {"BoolStorage", SPN_PT_BOOLEAN}, {"ComplexFloatStorage", SPN_PT_C64},
  {"ComplexDoubleStorage", SPN_PT_C128}, {"UntypedStorage", SPN_PT_U8},
};

static const char *
storage_type_name(SpnPtDtype dtype)
{
  for (gsize i = 0; i < G_N_ELEMENTS(storage_types); i++)
    if (storage_types[i].dtype == dtype)
      return storage_types[i].name;
  return NULL;
}

static gboolean
push_global(Unpickler *u, const char *module, const char *name)
{
  GlobalTag tag = G_NONE;
  SpnPtDtype dtype = SPN_PT_U8;
  if (strcmp(module, "collections") == 0 && strcmp(name, "OrderedDict") == 0)
    tag = G_ORDERED_DICT;
  else if (strcmp(module, "torch._utils") == 0 && strcmp(name, "_rebuild_tensor_v2") == 0)
    tag = G_REBUILD_V2;
  else if (strcmp(module, "torch._utils") == 0 && strcmp(name, "_rebuild_tensor") == 0)
    tag = G_REBUILD_V1;
  else if (strcmp(module, "torch._utils") == 0 && strcmp(name, "_rebuild_parameter") == 0)
    tag = G_REBUILD_PARAM;
  else if (strcmp(module, "torch") == 0 || strcmp(module, "torch.cuda") == 0 ||
           (strcmp(module, "torch.storage") == 0 && strcmp(name, "UntypedStorage") == 0)) {
    for (gsize i = 0; i < G_N_ELEMENTS(storage_types); i++)
      if (strcmp(name, storage_types[i].name) == 0) {
        tag = G_STORAGE_TYPE;
        dtype = storage_types[i].dtype;
      }
  }
  if (tag != G_NONE) {
    char *qualname = g_strconcat(module, ".", name, NULL);
    push(u, spn_pt_new_global(u->tree, tag, dtype, qualname));
    g_free(qualname);
    return TRUE;
  }
  if (g_str_has_prefix(module, "torch") && g_str_has_suffix(name, "Storage"))
    return fail(u, SPN_PT_ERROR_UNSUPPORTED, "storage type '%s.%s' is not supported", module, name);
  if (strcmp(module, "torch._utils") == 0 && g_str_has_prefix(name, "_rebuild_"))
    return fail(u, SPN_PT_ERROR_UNSUPPORTED,
                "'%s.%s' (a kind of tensor other than a dense CPU/GPU tensor) is not supported",
                module, name);
  return fail(u, SPN_PT_ERROR_FORBIDDEN,
              "forbidden global '%s.%s': a checkpoint may only hold tensors, storages, dicts, lists, "
              "tuples, strings, numbers, booleans and None (this file may try to run code)",
              module, name);
}

static gboolean
op_global(Unpickler *u)
{
  char *module = read_line(u, "GLOBAL module");
  char *name = module != NULL ? read_line(u, "GLOBAL name") : NULL;
  gboolean ok = name != NULL && push_global(u, module, name);
  g_free(module);
  g_free(name);
  return ok;
}

static gboolean
op_stack_global(Unpickler *u)
{
  if (!have(u, 2, "STACK_GLOBAL"))
    return FALSE;
  SpnPtObj *name = pop(u), *module = pop(u);
  if (kind(module) != SPN_PT_STR || kind(name) != SPN_PT_STR)
    return fail(u, SPN_PT_ERROR_FORMAT, "STACK_GLOBAL needs two strings");
  return push_global(u, spn_pt_get_str(module, NULL), spn_pt_get_str(name, NULL));
}

/* ---- values -------------------------------------------------------------------------------- */

/* Two's complement little-endian integer of n bytes (LONG1/LONG4). */
static gboolean
push_long(Unpickler *u, guint64 n)
{
  if (!need(u, n, "LONG"))
    return FALSE;
  const guint8 *p = u->data + u->pos;
  u->pos += n;
  if (n > 8)
    return fail(u, SPN_PT_ERROR_UNSUPPORTED, "integer of %" G_GUINT64_FORMAT " bytes does not fit in 64 bits", n);
  guint64 v = 0;
  for (guint64 i = 0; i < n; i++)
    v |= (guint64) p[i] << (8 * i);
  if (n > 0 && n < 8 && (p[n - 1] & 0x80))
    v |= ~G_GUINT64_CONSTANT(0) << (8 * n);
  push(u, spn_pt_new_int(u->tree, (gint64) v));
  return TRUE;
}

static gboolean
push_text(Unpickler *u, SpnPtKind as, guint64 n, const char *what)
{
  if (!need(u, n, what))
    return FALSE;
  const char *p = (const char *) u->data + u->pos;
  u->pos += n;
  if (as == SPN_PT_STR && !spn_pt_utf8_valid(p, n))
    return fail(u, SPN_PT_ERROR_FORMAT, "%s is not valid UTF-8", what);
  push(u, as == SPN_PT_STR ? spn_pt_new_str(u->tree, p, (gssize) n) : spn_pt_new_bytes(u->tree, p, n));
  return TRUE;
}

static gboolean
push_sized_text(Unpickler *u, SpnPtKind as, int len_bytes, const char *what)
{
  guint64 n;
  return read_uint(u, len_bytes, &n, what) && push_text(u, as, n, what);
}

/* INT and LONG in text form ("I42\n", "I01\n" is True, "L42L\n"). */
static gboolean
op_text_int(Unpickler *u, gboolean is_long)
{
  char *line = read_line(u, is_long ? "LONG" : "INT");
  if (line == NULL)
    return FALSE;
  gboolean ok = TRUE;
  if (!is_long && (strcmp(line, "01") == 0 || strcmp(line, "00") == 0)) {
    push(u, spn_pt_new_bool(u->tree, line[1] == '1'));
  } else {
    gsize n = strlen(line);
    if (is_long && n > 0 && line[n - 1] == 'L')
      line[n - 1] = '\0';
    gint64 v;
    if (g_ascii_string_to_signed(line, 10, G_MININT64, G_MAXINT64, &v, NULL))
      push(u, spn_pt_new_int(u->tree, v));
    else
      ok = fail(u, SPN_PT_ERROR_FORMAT, "'%.40s' is not a 64-bit integer", line);
  }
  g_free(line);
  return ok;
}

static gboolean
op_text_float(Unpickler *u)
{
  char *line = read_line(u, "FLOAT");
  if (line == NULL)
    return FALSE;
  char *end = NULL;
  double v = g_ascii_strtod(line, &end);
  gboolean ok = end != line && *end == '\0';
  if (ok)
    push(u, spn_pt_new_float(u->tree, v));
  else
    fail(u, SPN_PT_ERROR_FORMAT, "'%.40s' is not a number", line);
  g_free(line);
  return ok;
}

static gboolean
op_binfloat(Unpickler *u)
{
  if (!need(u, 8, "BINFLOAT"))
    return FALSE;
  guint64 bits = 0;
  for (int i = 0; i < 8; i++)
    bits = (bits << 8) | u->data[u->pos + i];
  u->pos += 8;
  double v;
  memcpy(&v, &bits, sizeof v);
  push(u, spn_pt_new_float(u->tree, v));
  return TRUE;
}

/* UNICODE: raw-unicode-escape text, where bytes are Latin-1 code points and \uXXXX, \UXXXXXXXX
 * are escapes. */
static gboolean
op_unicode(Unpickler *u)
{
  char *line = read_line(u, "UNICODE");
  if (line == NULL)
    return FALSE;
  GString *out = g_string_new(NULL);
  gboolean ok = TRUE;
  for (const char *p = line; ok && *p != '\0';) {
    int digits = p[0] == '\\' && p[1] == 'u' ? 4 : p[0] == '\\' && p[1] == 'U' ? 8 : 0;
    if (digits == 0) {
      g_string_append_unichar(out, (guint8) *p++);
      continue;
    }
    gunichar c = 0;
    for (int i = 0; ok && i < digits; i++) {
      int d = g_ascii_xdigit_value(p[2 + i]);
      ok = d >= 0;
      c = c * 16 + (gunichar) d;
    }
    ok = ok && g_unichar_validate(c);
    if (ok)
      g_string_append_unichar(out, c);
    p += 2 + digits;
  }
  if (ok)
    push(u, spn_pt_new_str(u->tree, out->str, (gssize) out->len));
  else
    fail(u, SPN_PT_ERROR_FORMAT, "UNICODE has an invalid escape");
  g_string_free(out, TRUE);
  g_free(line);
  return ok;
}

/* ---- containers ---------------------------------------------------------------------------- */

static gboolean
set_item(Unpickler *u, SpnPtObj *dict, SpnPtObj *key, SpnPtObj *value)
{
  GError *err = NULL;
  if (!spn_pt_dict_set(dict, key, value, &err)) {
    fail(u, SPN_PT_ERROR_FORMAT, "%s", err->message);
    g_error_free(err);
    return FALSE;
  }
  return TRUE;
}

/* SETITEM/SETITEMS/DICT: the stack from start holds key, value pairs. */
static gboolean
set_items(Unpickler *u, SpnPtObj *dict, guint start, const char *op)
{
  if ((u->stack->len - start) % 2 != 0)
    return fail(u, SPN_PT_ERROR_FORMAT, "%s has an odd number of objects (keys and values)", op);
  for (guint i = start; i < u->stack->len; i += 2)
    if (!set_item(u, dict, stack_at(u, i), stack_at(u, i + 1)))
      return FALSE;
  g_ptr_array_set_size(u->stack, start);
  return TRUE;
}

/* The container at stack index i that SETITEM(S)/APPEND(S) add to; it must be above the
 * topmost mark. */
static SpnPtObj *
target(Unpickler *u, guint i, SpnPtKind want, const char *op)
{
  if (i < top_mark(u) || i >= u->stack->len) {
    fail(u, SPN_PT_ERROR_FORMAT, "%s has no %s to add to", op, spn_pt_kind_name(want));
    return NULL;
  }
  SpnPtObj *obj = stack_at(u, i);
  if (kind(obj) != want) {
    fail(u, SPN_PT_ERROR_FORMAT, "%s on a %s (only a %s is allowed)", op, kind_of(obj),
         spn_pt_kind_name(want));
    return NULL;
  }
  return obj;
}

static gboolean
op_setitems(Unpickler *u)
{
  guint start = 0;
  if (!pop_mark(u, &start, "SETITEMS"))
    return FALSE;
  SpnPtObj *dict = target(u, start - 1, SPN_PT_DICT, "SETITEMS"); /* start 0: wraps, refused */
  return dict != NULL && set_items(u, dict, start, "SETITEMS");
}

static gboolean
op_setitem(Unpickler *u)
{
  if (!have(u, 3, "SETITEM"))
    return FALSE;
  SpnPtObj *dict = target(u, u->stack->len - 3, SPN_PT_DICT, "SETITEM");
  return dict != NULL && set_items(u, dict, u->stack->len - 2, "SETITEM");
}

/* Moves the stack from start into seq. */
static gboolean
move_items(Unpickler *u, SpnPtObj *seq, guint start)
{
  for (guint i = start; i < u->stack->len; i++)
    spn_pt_append(seq, stack_at(u, i));
  g_ptr_array_set_size(u->stack, start);
  return TRUE;
}

static gboolean
op_appends(Unpickler *u)
{
  guint start = 0;
  if (!pop_mark(u, &start, "APPENDS"))
    return FALSE;
  SpnPtObj *list = target(u, start - 1, SPN_PT_LIST, "APPENDS"); /* start 0: wraps, refused */
  return list != NULL && move_items(u, list, start);
}

static gboolean
op_append(Unpickler *u)
{
  if (!have(u, 2, "APPEND"))
    return FALSE;
  SpnPtObj *list = target(u, u->stack->len - 2, SPN_PT_LIST, "APPEND");
  return list != NULL && move_items(u, list, u->stack->len - 1);
}

/* TUPLE, TUPLE1-3, LIST, DICT: a new container from the stack from start. */
static gboolean
build_from(Unpickler *u, SpnPtKind as, guint start, const char *op)
{
  SpnPtObj *obj = as == SPN_PT_DICT   ? spn_pt_new_dict(u->tree, FALSE)
                  : as == SPN_PT_LIST ? spn_pt_new_list(u->tree)
                                        : spn_pt_new_tuple(u->tree);
  gboolean ok = as == SPN_PT_DICT ? set_items(u, obj, start, op) : move_items(u, obj, start);
  if (ok)
    push(u, obj);
  return ok;
}

static gboolean
op_marked(Unpickler *u, SpnPtKind as, const char *op)
{
  guint start = 0;
  return pop_mark(u, &start, op) && build_from(u, as, start, op);
}

static gboolean
op_tuple_n(Unpickler *u, guint n, const char *op)
{
  return have(u, n, op) && build_from(u, SPN_PT_TUPLE, u->stack->len - n, op);
}

/* ---- tensors, storages --------------------------------------------------------------------- */

static gboolean
arg_uint(Unpickler *u, SpnPtObj *obj, guint64 *out, const char *what)
{
  gint64 v;
  if (obj == NULL || kind(obj) != SPN_PT_INT || !spn_pt_get_int(obj, &v) || v < 0)
    return fail(u, SPN_PT_ERROR_FORMAT, "%s must be an integer >= 0", what);
  *out = (guint64) v;
  return TRUE;
}

static gboolean
arg_int_tuple(Unpickler *u, SpnPtObj *obj, gint64 *out, int *n, const char *what)
{
  if (obj == NULL || (kind(obj) != SPN_PT_TUPLE && kind(obj) != SPN_PT_LIST))
    return fail(u, SPN_PT_ERROR_FORMAT, "tensor %s must be a tuple of integers", what);
  if (spn_pt_len(obj) > SPN_PT_MAX_DIMS)
    return fail(u, SPN_PT_ERROR_UNSUPPORTED, "tensor has %u dimensions (at most %d are supported)",
                spn_pt_len(obj), SPN_PT_MAX_DIMS);
  *n = (int) spn_pt_len(obj);
  for (int i = 0; i < *n; i++)
    if (kind(spn_pt_item(obj, i)) != SPN_PT_INT || !spn_pt_get_int(spn_pt_item(obj, i), &out[i]))
      return fail(u, SPN_PT_ERROR_FORMAT, "tensor %s must be a tuple of integers", what);
  return TRUE;
}

static SpnPtObj *
rebuild_tensor(Unpickler *u, SpnPtObj *args, gboolean v2)
{
  guint n = spn_pt_len(args);
  if (v2 ? (n != 6 && n != 7) : n != 4) {
    fail(u, SPN_PT_ERROR_FORMAT, "%s takes %s arguments, got %u",
         v2 ? "_rebuild_tensor_v2" : "_rebuild_tensor", v2 ? "6 or 7" : "4", n);
    return NULL;
  }
  SpnPtObj *storage = spn_pt_item(args, 0);
  guint64 offset = 0;
  gint64 shape[SPN_PT_MAX_DIMS], stride[SPN_PT_MAX_DIMS];
  int nd_shape, nd_stride;
  gboolean requires_grad = FALSE;
  if (kind(storage) != SPN_PT_STORAGE) {
    fail(u, SPN_PT_ERROR_FORMAT, "a tensor's first argument must be a storage, not a %s",
         spn_pt_kind_name(kind(storage)));
    return NULL;
  }
  if (!arg_uint(u, spn_pt_item(args, 1), &offset, "storage offset") ||
      !arg_int_tuple(u, spn_pt_item(args, 2), shape, &nd_shape, "size") ||
      !arg_int_tuple(u, spn_pt_item(args, 3), stride, &nd_stride, "stride"))
    return NULL;
  if (nd_shape != nd_stride) {
    fail(u, SPN_PT_ERROR_FORMAT, "tensor has %d sizes but %d strides", nd_shape, nd_stride);
    return NULL;
  }
  if (v2 && (!spn_pt_get_bool(spn_pt_item(args, 4), &requires_grad) ||
             kind(spn_pt_item(args, 5)) != SPN_PT_DICT)) {
    fail(u, SPN_PT_ERROR_FORMAT, "_rebuild_tensor_v2 needs a bool requires_grad and a hooks dict");
    return NULL;
  }
  GError *err = NULL;
  SpnPtObj *t = spn_pt_new_tensor_view(u->tree, storage, offset, nd_shape, shape, stride, &err);
  if (t == NULL) {
    fail(u, err->code, "%s", err->message);
    g_error_free(err);
    return NULL;
  }
  spn_pt_tensor_set_parameter(t, FALSE, requires_grad);
  return t;
}

static SpnPtObj *
rebuild_parameter(Unpickler *u, SpnPtObj *args)
{
  SpnPtObj *data = spn_pt_item(args, 0);
  gboolean requires_grad;
  if (spn_pt_len(args) != 3 || kind(data) != SPN_PT_TENSOR ||
      !spn_pt_get_bool(spn_pt_item(args, 1), &requires_grad) ||
      kind(spn_pt_item(args, 2)) != SPN_PT_DICT) {
    fail(u, SPN_PT_ERROR_FORMAT, "_rebuild_parameter takes (tensor, bool, dict)");
    return NULL;
  }
  SpnPtObj *t = spn_pt_new_tensor_view(u->tree, spn_pt_tensor_storage(data),
                                       (guint64) spn_pt_tensor_offset(data), spn_pt_tensor_ndim(data),
                                       spn_pt_tensor_shape(data), spn_pt_tensor_stride(data), NULL);
  spn_pt_tensor_set_parameter(t, TRUE, requires_grad);
  return t;
}

/* OrderedDict() or OrderedDict([(key, value), ...]). */
static SpnPtObj *
make_ordered_dict(Unpickler *u, SpnPtObj *args)
{
  SpnPtObj *dict = spn_pt_new_dict(u->tree, TRUE);
  if (spn_pt_len(args) == 0)
    return dict;
  SpnPtObj *pairs = spn_pt_item(args, 0);
  if (spn_pt_len(args) != 1 || (kind(pairs) != SPN_PT_LIST && kind(pairs) != SPN_PT_TUPLE)) {
    fail(u, SPN_PT_ERROR_FORMAT, "OrderedDict takes no argument or a list of pairs");
    return NULL;
  }
  for (guint i = 0; i < spn_pt_len(pairs); i++) {
    SpnPtObj *pair = spn_pt_item(pairs, i);
    GError *err = NULL;
    if (spn_pt_len(pair) != 2 || kind(pair) == SPN_PT_DICT) {
      fail(u, SPN_PT_ERROR_FORMAT, "OrderedDict item %u is not a (key, value) pair", i);
      return NULL;
    }
    if (!spn_pt_dict_set(dict, spn_pt_item(pair, 0), spn_pt_item(pair, 1), &err)) {
      fail(u, SPN_PT_ERROR_FORMAT, "%s", err->message);
      g_error_free(err);
      return NULL;
    }
  }
  return dict;
}

static gboolean
op_reduce(Unpickler *u)
{
  if (!have(u, 2, "REDUCE"))
    return FALSE;
  SpnPtObj *args = pop(u), *callable = pop(u);
  if (kind(args) != SPN_PT_TUPLE)
    return fail(u, SPN_PT_ERROR_FORMAT, "REDUCE arguments must be a tuple, not a %s", kind_of(args));
  SpnPtObj *result = NULL;
  GlobalTag tag = spn_pt_global_tag(callable, NULL);
  switch (tag) {
  case G_ORDERED_DICT:
    result = make_ordered_dict(u, args);
    break;
  case G_REBUILD_V2:
  case G_REBUILD_V1:
    result = rebuild_tensor(u, args, tag == G_REBUILD_V2);
    break;
  case G_REBUILD_PARAM:
    result = rebuild_parameter(u, args);
    break;
  case G_STORAGE_TYPE:
    return fail(u, SPN_PT_ERROR_FORBIDDEN, "'%s' cannot be called", spn_pt_global_name(callable));
  case G_NONE:
    return fail(u, SPN_PT_ERROR_FORBIDDEN, "REDUCE on a %s: only allowed globals can be called",
                kind_of(callable));
  }
  if (result != NULL)
    push(u, result);
  return result != NULL;
}

/* BUILD sets instance attributes; the only instances here that have any are OrderedDicts
 * (state_dict()'s _metadata). */
static gboolean
op_build(Unpickler *u)
{
  if (!have(u, 2, "BUILD"))
    return FALSE;
  SpnPtObj *state = pop(u), *inst = top(u);
  if (!spn_pt_dict_is_ordered(inst) || kind(state) != SPN_PT_DICT)
    return fail(u, SPN_PT_ERROR_FORBIDDEN,
                "BUILD with a %s on a %s: only an OrderedDict's attributes (a dict) may be set",
                kind_of(state), kind_of(inst));
  SpnPtObj *attrs = spn_pt_dict_attrs(inst);
  if (attrs == NULL) {
    spn_pt_dict_set_attrs(inst, state);
    return TRUE;
  }
  for (guint i = 0; i < spn_pt_len(state); i++)
    spn_pt_dict_set(attrs, spn_pt_dict_key(state, i), spn_pt_dict_value(state, i), NULL);
  return TRUE;
}

static const char *
pid_str(SpnPtObj *obj)
{
  return kind(obj) == SPN_PT_STR ? spn_pt_get_str(obj, NULL) : NULL;
}

/* ('storage', storage_type, key, location, numel[, view_metadata]); view_metadata is None or
 * (view_key, offset, numel) in files of torch < 1.6. Keys may be ints in very old files. */
static gboolean
op_binpersid(Unpickler *u)
{
  if (!have(u, 1, "BINPERSID"))
    return FALSE;
  SpnPtObj *pid = pop(u);
  if (u->storage_func == NULL)
    return fail(u, SPN_PT_ERROR_FORMAT, "unexpected persistent id in this pickle");
  guint n = spn_pt_len(pid);
  SpnPickleStorageRef ref = {0};
  SpnPtObj *key = spn_pt_item(pid, 2);
  char *key_text = NULL;
  gint64 int_key;
  if (kind(key) == SPN_PT_INT && spn_pt_get_int(key, &int_key))
    key_text = g_strdup_printf("%" G_GINT64_FORMAT, int_key);
  ref.key = key_text != NULL ? key_text : pid_str(key);
  ref.location = pid_str(spn_pt_item(pid, 3));
  gboolean ok = kind(pid) == SPN_PT_TUPLE && (n == 5 || n == 6) &&
                g_strcmp0(pid_str(spn_pt_item(pid, 0)), "storage") == 0 &&
                spn_pt_global_tag(spn_pt_item(pid, 1), &ref.dtype) == G_STORAGE_TYPE &&
                ref.key != NULL && ref.location != NULL;
  if (!ok) {
    g_free(key_text);
    return fail(u, SPN_PT_ERROR_FORMAT,
                "persistent id is not ('storage', torch storage type, key, location, size)");
  }
  ok = arg_uint(u, spn_pt_item(pid, 4), &ref.numel, "storage size");
  SpnPtObj *view = spn_pt_item(pid, 5);
  if (ok && view != NULL && kind(view) != SPN_PT_NONE) {
    ref.is_view = TRUE;
    ref.view_key = pid_str(spn_pt_item(view, 0));
    ok = kind(view) == SPN_PT_TUPLE && spn_pt_len(view) == 3 && ref.view_key != NULL &&
         arg_uint(u, spn_pt_item(view, 1), &ref.view_offset, "storage view offset") &&
         arg_uint(u, spn_pt_item(view, 2), &ref.view_numel, "storage view size");
    if (!ok)
      fail(u, SPN_PT_ERROR_FORMAT, "storage view is not (key, offset, size)");
  }
  GError *err = NULL;
  SpnPtObj *storage = ok ? u->storage_func(u->tree, &ref, u->user_data, &err) : NULL;
  g_free(key_text);
  if (err != NULL) {
    fail(u, err->code, "%s", err->message);
    g_error_free(err);
  }
  if (storage != NULL)
    push(u, storage);
  return storage != NULL;
}

/* Opcodes that build arbitrary objects or need machinery we do not have. */
static gboolean
refuse(Unpickler *u, guint8 op)
{
  const char *name = opcode_name(op);
  if (name == NULL)
    return fail(u, SPN_PT_ERROR_FORMAT, "unknown opcode 0x%02x", op);
  return fail(u, op == 'i' || op == 'o' || op == 0x81 || op == 0x92 || (op >= 0x82 && op <= 0x84)
                     ? SPN_PT_ERROR_FORBIDDEN
                     : SPN_PT_ERROR_UNSUPPORTED,
              "opcode %s is not allowed in a checkpoint", name);
}

static gboolean
op_pop(Unpickler *u)
{
  if (u->stack->len > top_mark(u)) {
    pop(u);
    return TRUE;
  }
  guint start = 0;
  return pop_mark(u, &start, "POP"); /* Python pops the mark when its frame is empty */
}

static gboolean
op_dup(Unpickler *u)
{
  if (!have(u, 1, "DUP"))
    return FALSE;
  push(u, top(u));
  return TRUE;
}

static gboolean
op_mark(Unpickler *u)
{
  guint len = u->stack->len;
  g_array_append_val(u->marks, len);
  return TRUE;
}

static gboolean
op_pop_mark(Unpickler *u)
{
  guint start = 0;
  if (!pop_mark(u, &start, "POP_MARK"))
    return FALSE;
  g_ptr_array_set_size(u->stack, start);
  return TRUE;
}

static gboolean
op_text_memo(Unpickler *u, gboolean put)
{
  char *line = read_line(u, put ? "PUT" : "GET");
  guint64 index;
  gboolean ok = line != NULL;
  if (ok && !g_ascii_string_to_unsigned(line, 10, 0, G_MAXUINT64, &index, NULL))
    ok = fail(u, SPN_PT_ERROR_FORMAT, "'%.40s' is not a memo index", line);
  g_free(line);
  return ok && (put ? memo_put(u, index) : memo_get(u, index));
}

static gboolean
op_bin_memo(Unpickler *u, int len_bytes, gboolean put)
{
  guint64 index;
  return read_uint(u, len_bytes, &index, put ? "BINPUT" : "BINGET") &&
         (put ? memo_put(u, index) : memo_get(u, index));
}

static gboolean
op_proto(Unpickler *u)
{
  guint64 v;
  if (!read_uint(u, 1, &v, "PROTO"))
    return FALSE;
  if (v > 5)
    return fail(u, SPN_PT_ERROR_UNSUPPORTED, "pickle protocol %" G_GUINT64_FORMAT " (at most 5)", v);
  return TRUE;
}

/* FRAME only announces how many bytes follow; the opcodes are read the same way. */
static gboolean
op_frame(Unpickler *u)
{
  guint64 n;
  return read_uint(u, 8, &n, "FRAME") && need(u, n, "FRAME");
}

static gboolean
push_const(Unpickler *u, SpnPtObj *obj)
{
  push(u, obj);
  return TRUE;
}

static gboolean
push_uint(Unpickler *u, int len_bytes, const char *what)
{
  guint64 v;
  if (!read_uint(u, len_bytes, &v, what))
    return FALSE;
  gint64 value = len_bytes == 4 ? (gint64) (gint32) (guint32) v : (gint64) v;
  push(u, spn_pt_new_int(u->tree, value));
  return TRUE;
}

static gboolean
push_long_sized(Unpickler *u, int len_bytes)
{
  guint64 n;
  if (!read_uint(u, len_bytes, &n, "LONG4"))
    return FALSE;
  if (len_bytes == 4 && (n & 0x80000000u))
    return fail(u, SPN_PT_ERROR_FORMAT, "LONG4 has a negative length");
  return push_long(u, n);
}

static gboolean
push_binstring(Unpickler *u)
{
  guint64 n;
  if (!read_uint(u, 4, &n, "BINSTRING"))
    return FALSE;
  if (n & 0x80000000u)
    return fail(u, SPN_PT_ERROR_FORMAT, "BINSTRING has a negative length");
  return push_text(u, SPN_PT_STR, n, "BINSTRING");
}

static gboolean
step(Unpickler *u, guint8 op)
{
  SpnPtTree *t = u->tree;
  switch (op) {
  case 0x80: return op_proto(u);
  case 0x95: return op_frame(u);
  case '(': return op_mark(u);
  case '1': return op_pop_mark(u);
  case '0': return op_pop(u);
  case '2': return op_dup(u);
  case 'N': return push_const(u, spn_pt_new_none(t));
  case 0x88: return push_const(u, spn_pt_new_bool(t, TRUE));
  case 0x89: return push_const(u, spn_pt_new_bool(t, FALSE));
  case 'I': return op_text_int(u, FALSE);
  case 'L': return op_text_int(u, TRUE);
  case 'J': return push_uint(u, 4, "BININT");
  case 'K': return push_uint(u, 1, "BININT1");
  case 'M': return push_uint(u, 2, "BININT2");
  case 0x8a: return push_long_sized(u, 1);
  case 0x8b: return push_long_sized(u, 4);
  case 'F': return op_text_float(u);
  case 'G': return op_binfloat(u);
  case 'V': return op_unicode(u);
  case 'X': return push_sized_text(u, SPN_PT_STR, 4, "BINUNICODE");
  case 0x8c: return push_sized_text(u, SPN_PT_STR, 1, "SHORT_BINUNICODE");
  case 0x8d: return push_sized_text(u, SPN_PT_STR, 8, "BINUNICODE8");
  case 'T': return push_binstring(u);
  case 'U': return push_sized_text(u, SPN_PT_STR, 1, "SHORT_BINSTRING");
  case 'B': return push_sized_text(u, SPN_PT_BYTES, 4, "BINBYTES");
  case 'C': return push_sized_text(u, SPN_PT_BYTES, 1, "SHORT_BINBYTES");
  case 0x8e: return push_sized_text(u, SPN_PT_BYTES, 8, "BINBYTES8");
  case 0x96: return push_sized_text(u, SPN_PT_BYTES, 8, "BYTEARRAY8");
  case ']': return push_const(u, spn_pt_new_list(t));
  case ')': return push_const(u, spn_pt_new_tuple(t));
  case '}': return push_const(u, spn_pt_new_dict(t, FALSE));
  case 'l': return op_marked(u, SPN_PT_LIST, "LIST");
  case 't': return op_marked(u, SPN_PT_TUPLE, "TUPLE");
  case 'd': return op_marked(u, SPN_PT_DICT, "DICT");
  case 0x85: return op_tuple_n(u, 1, "TUPLE1");
  case 0x86: return op_tuple_n(u, 2, "TUPLE2");
  case 0x87: return op_tuple_n(u, 3, "TUPLE3");
  case 'a': return op_append(u);
  case 'e': return op_appends(u);
  case 's': return op_setitem(u);
  case 'u': return op_setitems(u);
  case 'p': return op_text_memo(u, TRUE);
  case 'g': return op_text_memo(u, FALSE);
  case 'q': return op_bin_memo(u, 1, TRUE);
  case 'r': return op_bin_memo(u, 4, TRUE);
  case 'h': return op_bin_memo(u, 1, FALSE);
  case 'j': return op_bin_memo(u, 4, FALSE);
  case 0x94: return memo_put(u, g_hash_table_size(u->memo));
  case 'c': return op_global(u);
  case 0x93: return op_stack_global(u);
  case 'R': return op_reduce(u);
  case 'b': return op_build(u);
  case 'Q': return op_binpersid(u);
  default: return refuse(u, op);
  }
}

SpnPtObj *
spn_unpickle(SpnPtTree *tree, const guint8 *data, gsize len, gsize *consumed,
             SpnPickleStorageFunc storage_func, gpointer user_data, GError **error)
{
  g_return_val_if_fail(tree != NULL && (data != NULL || len == 0), NULL);
  Unpickler u = {
    .tree = tree,
    .data = data,
    .len = len,
    .stack = g_ptr_array_new(),
    .marks = g_array_new(FALSE, FALSE, sizeof(guint)),
    .memo = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL),
    .storage_func = storage_func,
    .user_data = user_data,
  };
  SpnPtObj *result = NULL;
  gboolean stopped = FALSE;
  while (!stopped && u.error == NULL) {
    u.op_pos = u.pos;
    if (u.pos >= u.len) {
      fail(&u, SPN_PT_ERROR_FORMAT, "the pickle ends without a STOP opcode");
      break;
    }
    guint8 op = u.data[u.pos++];
    if (op != '.') {
      step(&u, op);
    } else if (u.stack->len != 1 || u.marks->len != 0) {
      fail(&u, SPN_PT_ERROR_FORMAT, "STOP with %u objects and %u marks on the stack (expected 1, 0)",
           u.stack->len, u.marks->len);
    } else {
      result = top(&u);
      stopped = TRUE;
    }
  }
  if (consumed != NULL)
    *consumed = u.pos;
  g_ptr_array_unref(u.stack);
  g_array_unref(u.marks);
  g_hash_table_unref(u.memo);
  if (u.error != NULL) {
    g_propagate_error(error, u.error);
    return NULL;
  }
  return result;
}

/* ================================================================================================
 * Pickler (protocol 2, as torch.save writes it)
 * ============================================================================================== */

typedef struct {
  GByteArray *out;
  GHashTable *memo;     /* SpnPtObj* -> memo index + 1 */
  GHashTable *globals;  /* "module\nname" -> memo index + 1 */
  GHashTable *storage_keys; /* storage -> key index + 1 */
  GPtrArray *storages;
  gboolean legacy; /* persistent ids with a sixth item, view_metadata = None */
  guint next_memo;
  GError *error;
} Pickler;

static void
emit(Pickler *p, const void *bytes, gsize n)
{
  g_byte_array_append(p->out, bytes, (guint) n);
}

static void
emit_op(Pickler *p, guint8 op)
{
  emit(p, &op, 1);
}

static void
emit_le(Pickler *p, guint64 v, int n)
{
  guint8 b[8];
  for (int i = 0; i < n; i++)
    b[i] = (guint8) (v >> (8 * i));
  emit(p, b, n);
}

static void
emit_put(Pickler *p, gconstpointer key, GHashTable *table)
{
  guint index = p->next_memo++;
  g_hash_table_insert(table, (gpointer) key, GUINT_TO_POINTER(index + 1));
  if (index < 256) {
    emit_op(p, 'q');
    emit_le(p, index, 1);
  } else {
    emit_op(p, 'r');
    emit_le(p, index, 4);
  }
}

/* BINGET if the object was already written; TRUE then. */
static gboolean
emit_get(Pickler *p, gconstpointer key, GHashTable *table)
{
  guint stored = GPOINTER_TO_UINT(g_hash_table_lookup(table, key));
  if (stored == 0)
    return FALSE;
  if (stored - 1 < 256) {
    emit_op(p, 'h');
    emit_le(p, stored - 1, 1);
  } else {
    emit_op(p, 'j');
    emit_le(p, stored - 1, 4);
  }
  return TRUE;
}

static void
emit_global(Pickler *p, const char *module, const char *name)
{
  char *key = g_strconcat(module, "\n", name, "\n", NULL);
  if (emit_get(p, key, p->globals)) {
    g_free(key);
    return;
  }
  emit_op(p, 'c');
  emit(p, key, strlen(key));
  emit_put(p, key, p->globals); /* the table owns key */
}

static void
emit_int(Pickler *p, gint64 v)
{
  if (v >= 0 && v < 256) {
    emit_op(p, 'K');
    emit_le(p, (guint64) v, 1);
  } else if (v >= 0 && v < 65536) {
    emit_op(p, 'M');
    emit_le(p, (guint64) v, 2);
  } else if (v >= G_MININT32 && v <= G_MAXINT32) {
    emit_op(p, 'J');
    emit_le(p, (guint64) v, 4);
  } else { /* LONG1: shortest two's complement */
    int n = 8;
    while (n > 1 && ((v >> (8 * (n - 1) - 1)) == 0 || (v >> (8 * (n - 1) - 1)) == -1))
      n--;
    emit_op(p, 0x8a);
    emit_le(p, (guint64) n, 1);
    emit_le(p, (guint64) v, n);
  }
}

static void
emit_float(Pickler *p, double v)
{
  guint64 bits;
  memcpy(&bits, &v, sizeof bits);
  guint8 b[8];
  for (int i = 0; i < 8; i++)
    b[i] = (guint8) (bits >> (56 - 8 * i));
  emit_op(p, 'G');
  emit(p, b, 8);
}

static void
emit_str(Pickler *p, const char *s, gsize len)
{
  emit_op(p, 'X');
  emit_le(p, len, 4);
  emit(p, s, len);
}

static gboolean save(Pickler *p, SpnPtObj *obj);

static gboolean
save_items(Pickler *p, SpnPtObj *seq)
{
  for (guint i = 0; i < spn_pt_len(seq); i++)
    if (!save(p, spn_pt_item(seq, i)))
      return FALSE;
  return TRUE;
}

/* Python batches APPENDS and SETITEMS by 1000 items. */
#define BATCH 1000

static gboolean
save_list(Pickler *p, SpnPtObj *list)
{
  emit_op(p, ']');
  emit_put(p, list, p->memo);
  guint n = spn_pt_len(list);
  for (guint start = 0; start < n; start += BATCH) {
    guint end = MIN(n, start + BATCH);
    if (end - start > 1)
      emit_op(p, '(');
    for (guint i = start; i < end; i++)
      if (!save(p, spn_pt_item(list, i)))
        return FALSE;
    emit_op(p, end - start > 1 ? 'e' : 'a');
  }
  return TRUE;
}

static gboolean
save_dict_items(Pickler *p, SpnPtObj *dict)
{
  guint n = spn_pt_len(dict);
  for (guint start = 0; start < n; start += BATCH) {
    guint end = MIN(n, start + BATCH);
    if (end - start > 1)
      emit_op(p, '(');
    for (guint i = start; i < end; i++)
      if (!save(p, spn_pt_dict_key(dict, i)) || !save(p, spn_pt_dict_value(dict, i)))
        return FALSE;
    emit_op(p, end - start > 1 ? 'u' : 's');
  }
  return TRUE;
}

static void
emit_ordered_dict_new(Pickler *p)
{
  emit_global(p, "collections", "OrderedDict");
  emit_op(p, ')');
  emit_op(p, 'R');
}

static gboolean
save_dict(Pickler *p, SpnPtObj *dict)
{
  if (spn_pt_dict_is_ordered(dict))
    emit_ordered_dict_new(p);
  else
    emit_op(p, '}');
  emit_put(p, dict, p->memo);
  if (!save_dict_items(p, dict))
    return FALSE;
  SpnPtObj *attrs = spn_pt_dict_attrs(dict);
  if (attrs != NULL) {
    if (!save(p, attrs))
      return FALSE;
    emit_op(p, 'b');
  }
  return TRUE;
}

static gboolean
save_tuple(Pickler *p, SpnPtObj *tuple)
{
  guint n = spn_pt_len(tuple);
  if (n == 0) {
    emit_op(p, ')');
    return TRUE;
  }
  if (n > 3)
    emit_op(p, '(');
  if (!save_items(p, tuple))
    return FALSE;
  emit_op(p, n == 1 ? 0x85 : n == 2 ? 0x86 : n == 3 ? 0x87 : 't');
  emit_put(p, tuple, p->memo);
  return TRUE;
}

/* ('storage', torch.<Type>Storage, key, location, numel) BINPERSID */
static void
save_storage(Pickler *p, SpnPtObj *storage)
{
  guint key = GPOINTER_TO_UINT(g_hash_table_lookup(p->storage_keys, storage));
  if (key == 0) {
    g_ptr_array_add(p->storages, storage);
    key = p->storages->len;
    g_hash_table_insert(p->storage_keys, storage, GUINT_TO_POINTER(key));
  }
  char *key_text = g_strdup_printf("%u", key - 1);
  const char *location = spn_pt_storage_location(storage);
  emit_op(p, '(');
  emit_str(p, "storage", 7);
  emit_global(p, "torch", storage_type_name(spn_pt_storage_dtype(storage)));
  emit_str(p, key_text, strlen(key_text));
  emit_str(p, location, strlen(location));
  emit_int(p, (gint64) spn_pt_storage_numel(storage));
  if (p->legacy)
    emit_op(p, 'N');
  emit_op(p, 't');
  emit_op(p, 'Q');
  g_free(key_text);
}

static void
emit_int_tuple(Pickler *p, const gint64 *v, int n)
{
  if (n == 0) {
    emit_op(p, ')');
    return;
  }
  if (n > 3)
    emit_op(p, '(');
  for (int i = 0; i < n; i++)
    emit_int(p, v[i]);
  emit_op(p, n == 1 ? 0x85 : n == 2 ? 0x86 : n == 3 ? 0x87 : 't');
}

/* torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, OrderedDict()),
 * inside _rebuild_parameter(tensor, requires_grad, OrderedDict()) for a Parameter (whose data
 * tensor does not require grad, as torch writes it). */
static void
save_tensor(Pickler *p, SpnPtObj *tensor)
{
  gboolean param = spn_pt_tensor_is_parameter(tensor);
  if (param) {
    emit_global(p, "torch._utils", "_rebuild_parameter");
    emit_op(p, '(');
  }
  emit_global(p, "torch._utils", "_rebuild_tensor_v2");
  emit_op(p, '(');
  save_storage(p, spn_pt_tensor_storage(tensor));
  emit_int(p, spn_pt_tensor_offset(tensor));
  emit_int_tuple(p, spn_pt_tensor_shape(tensor), spn_pt_tensor_ndim(tensor));
  emit_int_tuple(p, spn_pt_tensor_stride(tensor), spn_pt_tensor_ndim(tensor));
  emit_op(p, spn_pt_tensor_requires_grad(tensor) && !param ? 0x88 : 0x89);
  emit_ordered_dict_new(p);
  emit_op(p, 't');
  emit_op(p, 'R');
  if (param) {
    emit_op(p, spn_pt_tensor_requires_grad(tensor) ? 0x88 : 0x89);
    emit_ordered_dict_new(p);
    emit_op(p, 't');
    emit_op(p, 'R');
  }
  emit_put(p, tensor, p->memo);
}

static gboolean
save(Pickler *p, SpnPtObj *obj)
{
  if (emit_get(p, obj, p->memo))
    return TRUE;
  gint64 i;
  double f;
  gsize len;
  const char *s;
  switch (kind(obj)) {
  case SPN_PT_NONE:
    emit_op(p, 'N');
    return TRUE;
  case SPN_PT_BOOL:
    emit_op(p, spn_pt_get_int(obj, &i) && i ? 0x88 : 0x89);
    return TRUE;
  case SPN_PT_INT:
    spn_pt_get_int(obj, &i);
    emit_int(p, i);
    return TRUE;
  case SPN_PT_FLOAT:
    spn_pt_get_number(obj, &f);
    emit_float(p, f);
    return TRUE;
  case SPN_PT_STR:
    s = spn_pt_get_str(obj, &len);
    if (len > G_MAXUINT32) {
      g_set_error(&p->error, SPN_PT_ERROR, SPN_PT_ERROR_UNSUPPORTED, "a string of %" G_GSIZE_FORMAT " bytes is too long for protocol 2", len);
      return FALSE;
    }
    emit_str(p, s, len);
    emit_put(p, obj, p->memo);
    return TRUE;
  case SPN_PT_LIST:
    return save_list(p, obj);
  case SPN_PT_TUPLE:
    return save_tuple(p, obj);
  case SPN_PT_DICT:
    return save_dict(p, obj);
  case SPN_PT_TENSOR:
    save_tensor(p, obj);
    return TRUE;
  case SPN_PT_STORAGE:
    save_storage(p, obj);
    return TRUE;
  default:
    g_set_error(&p->error, SPN_PT_ERROR, SPN_PT_ERROR_UNSUPPORTED, "a %s cannot be written to a checkpoint",
                spn_pt_kind_name(kind(obj)));
    return FALSE;
  }
}

GBytes *
spn_pickle(SpnPtTree *tree, SpnPtObj *root, gboolean legacy, GPtrArray *storages, GError **error)
{
  g_return_val_if_fail(tree != NULL && root != NULL && storages != NULL, NULL);
  if (!spn_pt_tree_check(tree, root, error))
    return NULL;
  Pickler p = {
    .out = g_byte_array_new(),
    .memo = g_hash_table_new(g_direct_hash, g_direct_equal),
    .globals = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
    .storage_keys = g_hash_table_new(g_direct_hash, g_direct_equal),
    .storages = storages,
    .legacy = legacy,
  };
  emit_op(&p, 0x80);
  emit_le(&p, 2, 1);
  gboolean ok = save(&p, root);
  emit_op(&p, '.');
  g_hash_table_unref(p.memo);
  g_hash_table_unref(p.globals);
  g_hash_table_unref(p.storage_keys);
  if (!ok) {
    g_propagate_error(error, p.error);
    g_byte_array_unref(p.out);
    return NULL;
  }
  return g_byte_array_free_to_bytes(p.out);
}
