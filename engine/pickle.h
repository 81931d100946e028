/* pickle.h — a restricted unpickler and a small pickler for PyTorch checkpoints.
 *
 * The unpickler is a stack machine over the pickle opcodes of protocols 0-5 that builds only
 * SpnPtObj values: None, bool, int (64-bit), float, str, bytes, list, tuple, dict,
 * collections.OrderedDict, tensors (torch._utils._rebuild_tensor_v2, _rebuild_tensor,
 * _rebuild_parameter) and storages (persistent ids ('storage', torch.FloatStorage, key, location,
 * numel[, view]) and the UntypedStorage form). Any other global is refused when the GLOBAL opcode
 * names it (SPN_PT_ERROR_FORBIDDEN, "forbidden global 'os.system'"), before anything could use
 * it; opcodes that create arbitrary objects (INST, OBJ, NEWOBJ, EXT*, sets, out-of-band buffers)
 * are refused too. Nothing from the file is ever executed. Every length is checked against the
 * bytes left before it sizes an allocation; errors say at which byte.
 *
 * The pickler writes protocol 2 the way torch.save does, so torch.load (also with
 * weights_only=True) reads the result.
 */
#pragma once
#include "ptobj.h"

G_BEGIN_DECLS

/* What a storage persistent id says. view_* are set for a legacy storage view (a slice of the
 * storage root_key: view_offset and view_numel in elements). */
typedef struct {
  const char *key;
  const char *location;
  SpnPtDtype dtype;
  guint64 numel;
  gboolean is_view;
  const char *view_key;
  guint64 view_offset, view_numel;
} SpnPickleStorageRef;

/* Returns the storage object for a persistent id (the same object for the same key), or NULL
 * with an error. */
typedef SpnPtObj *(*SpnPickleStorageFunc)(SpnPtTree *tree, const SpnPickleStorageRef *ref,
                                          gpointer user_data, GError **error);

/* Reads one pickle from data (up to and including its STOP opcode; *consumed = its length) and
 * returns the object it builds, or NULL with an error ("byte 122: forbidden global
 * 'posix.system'"). storage_func may be NULL: persistent ids are then refused. The objects are
 * made in tree. Cycles are not checked here (spn_pt_tree_check). */
SpnPtObj *spn_unpickle(SpnPtTree *tree, const guint8 *data, gsize len, gsize *consumed,
                       SpnPickleStorageFunc storage_func, gpointer user_data, GError **error);

/* Pickles root (protocol 2). Every storage that root reaches, directly or through a tensor, is
 * written as the persistent id ('storage', torch.<Type>Storage, "<i>", location, numel) (with a
 * sixth item None, the view, when legacy) and appended to storages (key "<i>" is its index
 * there). Fails for bytes values, cycles or nesting deeper than SPN_PT_MAX_DEPTH. */
GBytes *spn_pickle(SpnPtTree *tree, SpnPtObj *root, gboolean legacy, GPtrArray *storages,
                   GError **error);

G_END_DECLS
