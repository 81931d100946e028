/* trainer.h — the training loop of the reference: B contiguous streams of the training split
 * read block by block, caches carried across blocks and zeroed when the streams restart at a
 * random offset; evaluation over a whole split; checkpoints that resume exactly. */
#pragma once
#include <gio/gio.h>

#include "checkpoint.h"
#include "corpus.h"
#include "cost.h"
#include "history.h"
#include "runner.h"
#include "optim.h"
#include "snapshot.h"

G_BEGIN_DECLS

typedef struct {
  gint64 step;
  double train_bpc;      /* NLL of this step's block, bits per token */
  double objective;      /* NLL + span loss, nats */
  double lr;             /* learning rate of this step before clipping */
  double seconds;        /* wall time of the step */
  SpnCost cost;          /* what the step cost (cost.h), from the spans it started with */
} SpnStepResult;

typedef struct _SpnTrainer SpnTrainer;

/* Fresh model on corpus (taken over). cfg->vocab_size is set from the corpus. */
SpnTrainer *spn_trainer_new(const SpnConfig *cfg, SpnCorpus *corpus, GError **error);
/* Resumes from a checkpoint; corpus (taken over) must have the checkpoint's vocabulary. NULL:
 * reload the corpus the checkpoint was trained on (its recorded source). */
SpnTrainer *spn_trainer_load(const char *path, SpnCorpus *corpus, GError **error);
/* The same from a checkpoint in memory (taken over); path names it in messages. */
SpnTrainer *spn_trainer_from_checkpoint(SpnCheckpoint *ck, const char *path, SpnCorpus *corpus,
                                        GError **error);
void spn_trainer_free(SpnTrainer *t);
/* A newer version of the same run (a followed checkpoint): weights, optimizer and reading
 * state from ck (its optimizer taken over), keeping the corpus; the history continues with
 * ck's rows after the version last read (spn_history_continued: steps trained here since are
 * dropped, rows already published are never edited). Fails, changing nothing, when ck is of
 * another configuration or vocabulary, holds no optimizer or an unreadable history. */
gboolean spn_trainer_replace(SpnTrainer *t, SpnCheckpoint *ck, const char *path, GError **error);

/* One optimizer step on the next block. When the loss or a gradient is not finite the update is
 * not applied: the weights and the optimizer stay those of the last good step, the step count does
 * not move (the block is consumed), and FALSE is returned with SPN_TRAINER_ERROR_DIVERGED naming
 * the step, the loss or the first tensor whose gradient went bad, and what to try. */
gboolean spn_trainer_step(SpnTrainer *t, SpnStepResult *out, GError **error);
/* bpc over the split (all of it when max_tokens is 0), streamed in `batch` streams from their
 * start with fresh caches, no gradient. */
gboolean spn_trainer_evaluate(SpnTrainer *t, SpnSplit split, int batch, gsize max_tokens,
                              double *bpc, GError **error);

/* The reference validates every 1000 steps (its --nbatches), reading a tenth as many blocks. */
#define SPN_REFERENCE_EVAL_EVERY 1000

/* Validation bpc during training by the configured procedure (cfg.eval_mode, docs/MODEL.md
 * "Evaluation"), for a validation every `every` steps. Prefix: the first max_tokens tokens of
 * the validation split (all when 0) in the training's B streams from empty caches. Reference:
 * max(1, every / 10) blocks (at most the blocks in a stream), continuing where the last
 * validation stopped with the validation's own caches; at the end of the streams they restart
 * at a random offset in [0, M) with empty caches; the mean of the blocks' mean losses. Its
 * position and caches are not saved: a resumed run starts them afresh, as the reference does. */
gboolean spn_trainer_validate(SpnTrainer *t, int every, gsize max_tokens, double *bpc,
                              GError **error);
/* Once `cancellable` (may be NULL) is cancelled, an evaluation or a validation (either procedure)
 * under way stops at its next block and returns FALSE with G_IO_ERROR_CANCELLED ("the evaluation
 * stopped after N of its M positions"), having changed nothing of the run (the reference's rolling
 * validation reads on from where it stopped); training steps are never cut short. It may be
 * cancelled from any thread. */
void spn_trainer_set_cancellable(SpnTrainer *t, GCancellable *cancellable);
/* Takes cfg's settings that a run may change when it resumes (SPN_FIELD_RESUMABLE: learning
 * rate, warm-up, clipping, dropout, span loss, threads) for the next steps. */
void spn_trainer_adjust(SpnTrainer *t, const SpnConfig *cfg);
/* Model, optimizer, caches, read position and random state: enough to continue bit for bit. */
gboolean spn_trainer_save(SpnTrainer *t, const char *path, GError **error);

SpnModel *spn_trainer_model(SpnTrainer *t);
SpnCorpus *spn_trainer_corpus(SpnTrainer *t);
gint64 spn_trainer_step_count(const SpnTrainer *t);
/* Metrics of every step so far (train bpc, throughput, spans), saved with checkpoints. */
const SpnHistory *spn_trainer_history(const SpnTrainer *t);
/* The training state now for the figures: configuration, step, spans, corpus name, vocabulary
 * kind and the history so far, shared with the trainer's (constant time however long the
 * run). */
SpnSnapshot *spn_trainer_snapshot(SpnTrainer *t);
/* Records a validation bpc measured now, at the latest step of the history (none before the
 * first step). */
void spn_trainer_record_validation(SpnTrainer *t, double bpc);

/* bpc of the whole split of `corpus` for an arbitrary model (the `eval` command). whole_blocks:
 * only the blocks of M positions whose every target exists, as the reference's full evaluation,
 * which leaves out each stream's last partial block (the split needs B·(M + 1) tokens).
 * scored (may be NULL): the number of predictions averaged. */
gboolean spn_evaluate(SpnModel *m, const SpnCorpus *corpus, SpnSplit split, int batch,
                      gsize max_tokens, gboolean whole_blocks, double *bpc, gsize *scored,
                      GError **error);

#define SPN_TRAINER_ERROR (spn_trainer_error_quark())
GQuark spn_trainer_error_quark(void);
typedef enum {
  SPN_TRAINER_ERROR_STATE,    /* a checkpoint without (complete) training state to resume */
  SPN_TRAINER_ERROR_CORPUS,   /* the corpus to resume on is unknown or has another vocabulary */
  SPN_TRAINER_ERROR_DIVERGED, /* a step's loss or gradient is not finite; nothing was applied */
} SpnTrainerError;

G_END_DECLS
