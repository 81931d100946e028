/* checkpoint.h — a model, its vocabulary and (optionally) its training state in one
 * safetensors file.
 *
 * Tensors: the parameters under the reference's state-dict names (docs/MODEL.md), so PyTorch users
 * can load them; with training state also `optimizer.<moment>.<name>`, `trainer.cache.<l>`
 * (B×S×d, the layer inputs carried to the next block) and the metrics history: `history.step`
 * (I64, n), `history.train_bpc`, `history.tokens_per_s` (F32, n), `history.spans` (F32,
 * n×nlayers×nheads), `history.valid.step` (I64, m), `history.valid.bpc` (F32, m) and the span
 * statistics the reference's main.py logged, of an imported run: `history.logged.step` (I64, k),
 * `history.logged.span_avg`, `history.logged.span_max` (F32, k; files written before them have
 * none, and k = 0).
 * __metadata__: "format" ("spanscope-checkpoint"), "version", "config", "vocab", "step",
 * "optimizer" and "trainer" (JSON strings). Checkpoints written before the history became
 * tensors carry it as JSON in the metadata key "history"; they are still read.
 */
#pragma once
#include <glib.h>

#include "corpus.h"
#include "history.h"
#include "model.h"
#include "optim.h"
#include "snapshot.h"

G_BEGIN_DECLS

#define SPN_CHECKPOINT_VERSION 1

typedef struct {
  SpnModel *model;
  SpnVocab *vocab;
  SpnOptim *optim;        /* NULL: model only */
  char *trainer_json;     /* trainer state, NULL when absent */
  SpnHistory *history;    /* metrics history (a reference), NULL when absent or unreadable */
  GError *history_error;  /* loading: why the history present in the file was not read */
  int n_caches;           /* caches[l] is cache_batch×S×d */
  float **caches;
  int cache_batch;
} SpnCheckpoint;

/* Borrowed pointers only: saving neither takes nor frees anything. Written by
 * spn_st_writer_write, so a failed save leaves the file that was there. */
gboolean spn_checkpoint_save(const SpnCheckpoint *ck, const char *path, GError **error);
/* Everything in the returned struct is owned by it. Errors name the file and what is wrong:
 * not a spanscope checkpoint, an unknown version, a tensor of the wrong shape, truncation, a
 * configuration larger than the file's tensors, weights that are not finite. Every metadata value
 * is parsed with bounded size and nesting (jsonread.h). Temporary files left by an interrupted
 * save of path are removed first (savefile.h). A history that cannot be read does not fail the
 * load: history_error says why (resuming needs it, drawing a figure of the model does not). */
SpnCheckpoint *spn_checkpoint_load(const char *path, GError **error);
/* The same over a file's bytes in memory; `name` stands for the path in messages. */
SpnCheckpoint *spn_checkpoint_load_bytes(GBytes *bytes, const char *name, GError **error);
void spn_checkpoint_free(SpnCheckpoint *ck);
/* The corpus the checkpoint was trained on, as its trainer state names it (a path,
 * SPN_BUNDLED_SOURCE or "demo"); NULL when it does not say. */
char *spn_checkpoint_corpus(const SpnCheckpoint *ck);

/* A snapshot of the checkpoint for the figures (no probe): its configuration, spans, step and
 * history, which it takes from ck (an empty one when ck has none); `corpus` names it in titles. */
SpnSnapshot *spn_checkpoint_snapshot(SpnCheckpoint *ck, const char *corpus);

#define SPN_CHECKPOINT_ERROR (spn_checkpoint_error_quark())
GQuark spn_checkpoint_error_quark(void);
typedef enum {
  SPN_CHECKPOINT_ERROR_FORMAT,    /* a safetensors file, but not a spanscope checkpoint */
  SPN_CHECKPOINT_ERROR_VERSION,   /* a checkpoint version this build does not read */
  SPN_CHECKPOINT_ERROR_MISMATCH,  /* its parts contradict each other (config, vocab, optimizer) */
  SPN_CHECKPOINT_ERROR_VALUE,     /* a value no training could produce: non-finite weights, a span
                                     fraction outside [0, 1], a negative step */
} SpnCheckpointError;

G_END_DECLS
