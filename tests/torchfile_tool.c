/* torchfile_tool.c — the C side of the torch round trip (tests/torchfile_torch.py):
 *   torchfile-tool copy IN OUT zip|legacy   read IN with spn_torch_load, write it to OUT
 *   torchfile-tool sample OUT zip|legacy    write the export-style sample checkpoint
 */
#include "torchfile.h"
#include "torchfile_sample.h"

#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
  if (argc < 4 || (strcmp(argv[1], "copy") != 0 && strcmp(argv[1], "sample") != 0)) {
    fprintf(stderr, "usage: %s copy IN OUT zip|legacy | sample OUT zip|legacy\n", argv[0]);
    return 2;
  }
  gboolean copy = strcmp(argv[1], "copy") == 0;
  if (copy && argc < 5) {
    fprintf(stderr, "usage: %s copy IN OUT zip|legacy\n", argv[0]);
    return 2;
  }
  const char *out = argv[copy ? 3 : 2];
  SpnTorchFormat format = strcmp(argv[copy ? 4 : 3], "legacy") == 0 ? SPN_TORCH_LEGACY : SPN_TORCH_ZIP;
  GError *error = NULL;
  SpnPtTree *tree = copy ? spn_torch_load(argv[2], NULL, &error) : spn_test_sample_checkpoint();
  if (tree == NULL || !spn_torch_save(tree, spn_pt_tree_root(tree), out, format, &error)) {
    fprintf(stderr, "%s\n", error->message);
    g_error_free(error);
    spn_pt_tree_free(tree);
    return 1;
  }
  spn_pt_tree_free(tree);
  return 0;
}
