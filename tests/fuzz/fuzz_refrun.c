/* fuzz_refrun.c — libFuzzer target for reading main.py checkpoints (engine/refrun.c) on top of
 * the container and the unpickler: any bytes must import or fail with an error that names the
 * file; an imported run is written back in main.py's layout and must import again, to the same
 * parameters. Build: see tests/fuzz/README.md. */
#include "refrun.h"
#include "torchfile.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"

/* A vocabulary of main.py's kind with n tokens, for writing back. */
static SpnVocab *
ref_vocab(int n)
{
  char **tokens = g_new0(char *, n + 1);
  for (int i = 0; i < n; i++)
    tokens[i] = g_strdup_printf("%d", i);
  SpnVocab *v = spn_vocab_new(SPN_VOCAB_REF, n, (const char *const *)tokens);
  g_strfreev(tokens);
  return v;
}

static void
round_trip(const SpnCheckpoint *ck, const SpnRefFlags *flags)
{
  SpnVocab *vocab = ref_vocab(ck->model->cfg.vocab_size);
  g_assert(ck->history != NULL);
  GError *error = NULL;
  SpnPtTree *tree = spn_ref_export(ck->model, ck->optim, ck->history, vocab, flags->nbatches, NULL,
                                   &error);
  g_assert_no_error(error);
  SpnRefFlags again = *flags;
  again.cfg.lr = again.cfg.grad_clip = NAN;   /* the written param group holds them */
  SpnCheckpoint *back = spn_ref_import(spn_pt_tree_root(tree), "again.pt", &again, vocab, NULL,
                                       NULL, &error);
  g_assert_no_error(error);
  g_assert(memcmp(back->model->params, ck->model->params,
                  sizeof(float) * ck->model->layout->total) == 0);
  spn_checkpoint_free(back);
  spn_pt_tree_free(tree);
  spn_vocab_free(vocab);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  GBytes *bytes = g_bytes_new_static(data, size);
  GError *error = NULL;
  SpnPtTree *tree = spn_torch_load_bytes(bytes, "fuzz.pt", NULL, &error);
  if (tree != NULL) {
    SpnRefFlags flags;
    spn_ref_flags_init(&flags);
    SpnCheckpoint *ck = spn_ref_import(spn_pt_tree_root(tree), "fuzz.pt", &flags, NULL, NULL,
                                       NULL, &error);
    if (ck != NULL)
      round_trip(ck, &flags);
    spn_checkpoint_free(ck);
    spn_pt_tree_free(tree);
  }
  if (error != NULL) {
    g_assert(g_str_has_prefix(error->message, "fuzz.pt: "));
    g_error_free(error);
  }
  g_bytes_unref(bytes);
  return 0;
}
