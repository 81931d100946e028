/* fuzz_pickle.c — libFuzzer target for the restricted unpickler (engine/pickle.c): any bytes
 * must either build a checked object tree or fail with an error; a tree that loads is pickled
 * again and must load again (the pickler on arbitrary trees). Build: see tests/fuzz/README.md. */
#include "pickle.h"
#include "ptobj-private.h"

#include <stdint.h>

#include "fuzz.h"

static SpnPtObj *
storage(SpnPtTree *tree, const SpnPickleStorageRef *ref, gpointer user_data, GError **error)
{
  GHashTable *known = user_data;
  SpnPtObj *s = g_hash_table_lookup(known, ref->key);
  if (s != NULL)
    return s;
  if (ref->numel > 4096) { /* a real reader checks the size against the file's data */
    g_set_error(error, SPN_PT_ERROR, SPN_PT_ERROR_FORMAT, "storage too large for the fuzzer");
    return NULL;
  }
  s = spn_pt_new_storage(tree, ref->dtype, ref->numel);
  g_hash_table_insert(known, g_strdup(ref->key), s);
  return s;
}

static SpnPtObj *
load(SpnPtTree *tree, const guint8 *data, gsize size, GError **error)
{
  GHashTable *known = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  gsize consumed;
  SpnPtObj *root = spn_unpickle(tree, data, size, &consumed, storage, known, error);
  if (root != NULL && !spn_pt_tree_check(tree, root, error))
    root = NULL;
  g_hash_table_unref(known);
  return root;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  SpnPtTree *tree = spn_pt_tree_new();
  GError *error = NULL;
  SpnPtObj *root = load(tree, data, size, &error);
  if (root == NULL) {
    g_assert(error != NULL && error->message[0] != '\0');
    g_error_free(error);
  } else {
    GPtrArray *storages = g_ptr_array_new();
    GBytes *again = spn_pickle(tree, root, FALSE, storages, &error);
    if (again != NULL) {
      SpnPtTree *tree2 = spn_pt_tree_new();
      gsize n;
      const guint8 *p = g_bytes_get_data(again, &n);
      SpnPtObj *root2 = load(tree2, p, n, &error);
      if (root2 == NULL)
        g_error("a pickle written by spn_pickle does not load: %s", error->message);
      spn_pt_tree_free(tree2);
      g_bytes_unref(again);
    } else {
      g_clear_error(&error); /* bytes values cannot be written */
    }
    g_ptr_array_unref(storages);
  }
  spn_pt_tree_free(tree);
  return 0;
}
