/* ptobj-private.h — what the unpickler and the container readers need beyond the public tree
 * API: storages whose bytes arrive later, their persistent keys, and the final graph check. */
#pragma once
#include "ptobj.h"

G_BEGIN_DECLS

/* A storage of numel elements whose bytes are attached later (spn_pt_storage_attach). */
SpnPtObj *spn_pt_new_storage_pending(SpnPtTree *tree, SpnPtDtype dtype, guint64 numel,
                                     const char *key, const char *location);
/* The bytes must hold exactly numel × dtype size bytes (checked by the caller); the storage keeps
 * a reference. */
void spn_pt_storage_attach(SpnPtObj *storage, GBytes *bytes);
gboolean spn_pt_storage_has_data(const SpnPtObj *storage);
const char *spn_pt_storage_key(const SpnPtObj *storage);

/* A global the unpickler allowed (collections.OrderedDict, torch.FloatStorage, ...): only ever on
 * the unpickler's stack or inside a persistent id; spn_pt_tree_check refuses it anywhere else
 * reachable from the root. tag and dtype are the unpickler's. */
#define SPN_PT_GLOBAL ((SpnPtKind) (SPN_PT_STORAGE + 1))
SpnPtObj *spn_pt_new_global(SpnPtTree *tree, int tag, SpnPtDtype dtype, const char *name);
int spn_pt_global_tag(const SpnPtObj *global, SpnPtDtype *dtype);
const char *spn_pt_global_name(const SpnPtObj *global);

/* Checks the graph reachable from root: no cycles (a list that contains itself), at most
 * SPN_PT_MAX_DEPTH levels of nesting, every storage that a tensor uses has its bytes, no
 * globals. */
#define SPN_PT_MAX_DEPTH 512
gboolean spn_pt_tree_check(SpnPtTree *tree, SpnPtObj *root, GError **error);

/* UTF-8 validity as Python sees it: NUL characters are allowed (g_utf8_validate refuses them). */
gboolean spn_pt_utf8_valid(const char *text, gsize len);

/* TRUE if a dict could accept key. */
gboolean spn_pt_is_hashable(const SpnPtObj *key);

G_END_DECLS
