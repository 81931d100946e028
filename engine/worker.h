/* worker.h — the engine behind the window: a training thread and a reading thread, driven by
 * commands that never block the caller, reporting through immutable snapshots.
 *
 * The training thread owns the trainer (model, optimizer, corpus). While training it steps
 * continuously and publishes a snapshot at most every `publish_interval` (default 200 ms) and
 * after every command that changes the state. The reading thread owns a SpnReader over a copy
 * of the latest weights and reads the probe text whenever the text or the weights change,
 * coalescing requests so it always works on the newest. Callbacks run in the GMainContext given
 * at creation (the window's), one pending dispatch at a time: a slow main loop receives the
 * newest snapshot, never a backlog. */
#pragma once
#include <glib.h>

#include "config.h"
#include "corpus.h"
#include "refrun.h"
#include "snapshot.h"

G_BEGIN_DECLS

typedef struct _SpnWorker SpnWorker;

/* What a message reports. The window acts on the kind, the path and the error's domain and
 * code, and shows the text; it never reads the text for meaning. */
typedef enum {
  SPN_WORKER_OPENED,           /* path: the checkpoint opened, at step */
  SPN_WORKER_SAVED,            /* path: the checkpoint written, at step */
  SPN_WORKER_METRICS_WRITTEN,  /* path: the metrics CSV written */
  SPN_WORKER_CREATED,          /* a new model is ready (its first snapshot comes after) */
  SPN_WORKER_FAILED,           /* task failed; error says why, path names its file if any */
} SpnWorkerMessageKind;

/* The command a message is about. */
typedef enum {
  SPN_WORKER_TASK_NEW_MODEL,
  SPN_WORKER_TASK_OPEN,
  SPN_WORKER_TASK_SAVE,
  SPN_WORKER_TASK_TRAIN,        /* train, step, train-until */
  SPN_WORKER_TASK_EVALUATE,
  SPN_WORKER_TASK_EXPORT_CSV,
  SPN_WORKER_TASK_READ,         /* the reading thread's reading of the text */
  SPN_WORKER_TASK_IMPORT,       /* a checkpoint of the reference's main.py */
  SPN_WORKER_TASK_FOLLOW,       /* a new version of a followed checkpoint */
} SpnWorkerTask;

typedef struct {
  SpnWorkerMessageKind kind;
  SpnWorkerTask task;
  const char *path;      /* the checkpoint or CSV concerned, NULL if none */
  gint64 step;           /* OPENED, SAVED: the run's step */
  const GError *error;   /* FAILED: the cause (its domain and code), NULL otherwise */
  const char *text;      /* one sentence for the user: what happened and, on failure, what to do */
} SpnWorkerMessage;

/* Errors of the worker itself (the others keep the domain of the part that failed). */
#define SPN_WORKER_ERROR (spn_worker_error_quark())
GQuark spn_worker_error_quark(void);
typedef enum {
  SPN_WORKER_ERROR_NO_MODEL,   /* the command needs a model and there is none yet */
} SpnWorkerError;

typedef struct {
  gboolean ready;      /* a model exists */
  gboolean training;   /* stepping continuously */
  gint64 step;
  double tokens_per_s; /* recent training throughput, 0 when idle */
  char *checkpoint;    /* the file last opened or saved, NULL if none */
} SpnWorkerStatus;

/* Both callbacks run in the main context; their arguments are borrowed (ref the snapshot to
 * keep it). Nothing is dispatched once spn_worker_free has been called, so the callbacks'
 * user_data need not outlive the worker. */
typedef void (*SpnWorkerSnapshotFunc)(SpnSnapshot *snapshot, const SpnWorkerStatus *status,
                                      gpointer user_data);
typedef void (*SpnWorkerMessageFunc)(const SpnWorkerMessage *message, gpointer user_data);

SpnWorker *spn_worker_new(GMainContext *context, SpnWorkerSnapshotFunc on_snapshot,
                          SpnWorkerMessageFunc on_message, gpointer user_data);
/* Stops both threads (finishing the step in progress and any command queued before), drops
 * the snapshots and messages not yet dispatched, and frees everything. May be called from one
 * of the worker's own callbacks. */
void spn_worker_free(SpnWorker *w);

/* Commands: queued, executed in order by the training thread; they return at once. Errors come
 * back as SPN_WORKER_FAILED messages. */
/* corpus: "bundled", "demo", a UTF-8 file or a train/valid/test folder. */
void spn_worker_new_model(SpnWorker *w, const SpnConfig *cfg, const char *corpus,
                          const SpnCorpusOptions *opts);
/* Loads a checkpoint with training state; its corpus is reloaded from where it was trained
 * (corpus NULL) or from `corpus`. */
void spn_worker_open(SpnWorker *w, const char *checkpoint, const char *corpus);
/* Opens a checkpoint of the reference's main.py (.pt): the vocabulary from its --data folder
 * `data`, the settings the tensors do not hold from flags (copied). The run has no file of
 * ours yet: Save asks for one. */
void spn_worker_import(SpnWorker *w, const char *checkpoint, const char *data,
                       const SpnRefFlags *flags);
/* A version of a followed checkpoint, already read (taken over; engine/follow.h): it replaces
 * the run's weights, optimizer and history in place when it is the same model on the same
 * corpus, else it becomes the run (its corpus read from where its trainer state says). */
void spn_worker_adopt(SpnWorker *w, SpnCheckpoint *ck, const char *path);
void spn_worker_save(SpnWorker *w, const char *checkpoint);
void spn_worker_train(SpnWorker *w);           /* step until paused */
void spn_worker_pause(SpnWorker *w);
void spn_worker_step(SpnWorker *w);            /* one optimizer step, then idle */
/* Steps until the run reaches `steps` optimizer steps, then idles (the screenshot mode). */
void spn_worker_train_until(SpnWorker *w, gint64 steps);
/* Validation bpc by the model's procedure (spn_trainer_validate: up to max_tokens tokens, 0:
 * all, or the reference's rolling blocks) is recorded in the history. Also run automatically
 * every 200 steps while training (every 1000 with the reference's procedure). */
void spn_worker_evaluate(SpnWorker *w, gsize max_tokens);
void spn_worker_set_publish_interval(SpnWorker *w, int milliseconds);
/* The text the reading thread reads (copied); incremental when only its end changed. */
void spn_worker_set_text(SpnWorker *w, const char *text);
/* Metrics history as CSV (written by the training thread, temporary file + rename). */
void spn_worker_export_csv(SpnWorker *w, const char *path);

/* Blocks until every command queued so far has been executed and its snapshot dispatched
 * to the context has been built (for tests; never from a callback). Returns FALSE on timeout. */
gboolean spn_worker_sync(SpnWorker *w, int timeout_ms);

G_END_DECLS
