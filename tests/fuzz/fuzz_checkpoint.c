/* fuzz_checkpoint.c — libFuzzer target for the checkpoint loader with every metadata key
 * (engine/checkpoint.c, then engine/trainer.c's resume: config, vocab, optimizer, step, trainer
 * state, history, caches). Any bytes must load into a model whose weights are finite and whose
 * spans lie in [0, 1], or fail with a message naming the file. A checkpoint that loads is resumed
 * on a corpus of its own vocabulary when its model is small, and trained one step.
 * Build: see tests/fuzz/README.md. */
#include "checkpoint.h"
#include "parallel.h"
#include "trainer.h"

#include <math.h>
#include <string.h>

#include "fuzz.h"

#define NAME "fuzz.safetensors"
/* Resume only models whose activations are small: larger ones are bounded by the configuration's
 * own memory check (16 GB), not by the file, and would only measure the machine. */
#define MAX_RESUME_TOKENS 4096

/* A text whose CHARS vocabulary is the checkpoint's, when it can be (sorted single characters),
 * else NULL. */
static char *
text_of_vocab(const SpnVocab *v, gsize needed)
{
  if (v->kind == SPN_VOCAB_BYTES)
    return g_strnfill(needed, 'a');
  if (v->kind != SPN_VOCAB_CHARS || v->size < 2)
    return NULL;
  GString *s = g_string_new(NULL);
  /* every character in the training 90 %: repeat them all */
  while (s->len < needed || g_utf8_strlen(s->str, -1) < (glong)needed)
    for (int i = 1; i < v->size; i++)
      g_string_append(s, v->tokens[i]);
  return g_string_free(s, FALSE);
}

static void
resume(SpnCheckpoint *ck)
{
  const SpnConfig *c = &ck->model->cfg;
  gsize tokens = (gsize)c->batch_sz * (c->block_sz + 1);
  if (ck->trainer_json == NULL || tokens > MAX_RESUME_TOKENS) {
    spn_checkpoint_free(ck);
    return;
  }
  g_autofree char *text = text_of_vocab(ck->vocab, tokens * 2);
  SpnCorpusOptions opts = {.byte_mode = ck->vocab->kind == SPN_VOCAB_BYTES};
  SpnCorpus *corpus = text ? spn_corpus_from_text("fuzz-corpus", text, strlen(text), &opts, NULL)
                           : NULL;
  if (corpus == NULL || !spn_vocab_equal(corpus->vocab, ck->vocab)) {
    spn_corpus_free(corpus);
    spn_checkpoint_free(ck);
    return;
  }
  GError *error = NULL;
  SpnTrainer *t = spn_trainer_from_checkpoint(ck, NAME, corpus, &error);
  if (t == NULL) {
    g_assert(error != NULL && strstr(error->message, NAME) != NULL);
    g_error_free(error);
    return;
  }
  if (!spn_trainer_step(t, NULL, &error))
    g_error_free(error); /* a diverging step is refused, not applied */
  spn_trainer_free(t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static gboolean once;
  if (!once) {
    spn_threads_init(1);
    once = TRUE;
  }
  GBytes *bytes = g_bytes_new_static(data, size);
  GError *error = NULL;
  SpnCheckpoint *ck = spn_checkpoint_load_bytes(bytes, NAME, &error);
  g_bytes_unref(bytes);
  if (ck == NULL) {
    g_assert(error != NULL && strstr(error->message, NAME) != NULL);
    g_error_free(error);
    return 0;
  }
  const SpnModel *m = ck->model;
  for (gsize i = 0; i < m->layout->total; i++)
    g_assert(isfinite(m->params[i]));
  if (m->cfg.adapt_span)
    for (int l = 0; l < m->cfg.nlayers; l++)
      for (int h = 0; h < m->cfg.nheads; h++)
        g_assert(m->w.layers[l].z[h] >= 0.0f && m->w.layers[l].z[h] <= 1.0f);
  g_assert(ck->optim == NULL || ck->optim->step >= 0);
  g_free(spn_checkpoint_corpus(ck));
  resume(ck);
  return 0;
}
