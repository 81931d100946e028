/* fuzz_torchfile.c — libFuzzer target for the checkpoint containers (engine/torchfile.c): zip
 * (through libzip) and legacy files. Any bytes must load or fail with an error that names the
 * file; every tensor of a loaded tree is read as float32 (strided gathers over the storage).
 * Build: see tests/fuzz/README.md. */
#include "torchfile.h"

#include <stdint.h>

#include "fuzz.h"
#include <string.h>

/* Reads every tensor reachable from obj (each object once: trees may share). */
static void
touch(SpnPtObj *obj, GHashTable *seen)
{
  if (!g_hash_table_add(seen, obj))
    return;
  if (spn_pt_kind(obj) == SPN_PT_TENSOR) {
    guint64 n = spn_pt_tensor_numel(obj);
    float *out = g_new(float, n + 1);
    GError *error = NULL;
    if (!spn_pt_tensor_to_f32(obj, out, n, &error))
      g_error_free(error); /* complex: refused */
    g_free(out);
  }
  for (guint i = 0; i < spn_pt_len(obj); i++) {
    if (spn_pt_kind(obj) == SPN_PT_DICT) {
      touch(spn_pt_dict_key(obj, i), seen);
      touch(spn_pt_dict_value(obj, i), seen);
    } else {
      touch(spn_pt_item(obj, i), seen);
    }
  }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  GBytes *bytes = g_bytes_new_static(data, size);
  GError *error = NULL;
  SpnPtTree *tree = spn_torch_load_bytes(bytes, "fuzz.pt", NULL, &error);
  if (tree == NULL) {
    g_assert(error != NULL && g_str_has_prefix(error->message, "fuzz.pt: "));
    g_error_free(error);
  } else {
    GHashTable *seen = g_hash_table_new(NULL, NULL);
    touch(spn_pt_tree_root(tree), seen);
    g_hash_table_unref(seen);
    spn_pt_tree_free(tree);
  }
  g_bytes_unref(bytes);
  return 0;
}
