#include "worker.h"

#include <math.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "parallel.h"
#include "reader.h"
#include "trainer.h"

/* validation while training reads this many tokens, so a check costs about a second */
#define AUTO_EVAL_TOKENS 16384

typedef enum {
  CMD_NEW_MODEL,
  CMD_OPEN,
  CMD_IMPORT,
  CMD_ADOPT,
  CMD_SAVE,
  CMD_TRAIN,
  CMD_PAUSE,
  CMD_STEP,
  CMD_TRAIN_UNTIL,
  CMD_EVALUATE,
  CMD_PUBLISH_INTERVAL,
  CMD_EXPORT_CSV,
  CMD_SYNC,
  CMD_QUIT,
} CommandKind;

typedef struct {
  CommandKind kind;
  SpnConfig cfg;
  SpnCorpusOptions opts;
  char *path;      /* checkpoint, CSV */
  char *corpus;
  gint64 number;   /* steps, tokens, milliseconds */
  SpnRefFlags ref; /* IMPORT */
  SpnCheckpoint *ck; /* ADOPT */
} Command;

/* What the reading thread is asked to do; guarded by read_lock. */
typedef struct {
  char *text;          /* newest text requested */
  gboolean text_dirty;
  SpnParamBlob *weights; /* newest weights, handed over by the training thread */
  SpnVocab *vocab;     /* set with a new model */
  gboolean weights_dirty, model_new;
  guint64 generation;  /* of the model of weights, counted by new models */
  gboolean busy, quit;
} ReadRequest;

struct _SpnWorker {
  gatomicrefcount ref;   /* the owner's, and one per source attached to the context */
  GMainContext *context;
  SpnWorkerSnapshotFunc on_snapshot;
  SpnWorkerMessageFunc on_message;
  gpointer user_data;

  GThread *train_thread, *read_thread;
  GAsyncQueue *commands;

  /* training thread only */
  SpnTrainer *trainer;
  char *passage;         /* of the trainer's validation split, for the snapshots */
  gboolean training;
  gint64 until;          /* stop training at this step, 0: never */
  int eval_every;
  int publish_ms;
  gint64 last_publish;
  double window_tokens, window_seconds, tokens_per_s;

  /* the snapshot hand-off; guarded by lock */
  GMutex lock;
  GCond cond;
  SpnSnapshot *state;    /* latest training state (no probe) */
  SpnSnapshot *reading;  /* latest reading (probe and text), NULL before the first */
  SpnSnapshot *pending;  /* combined, waiting for the main context */
  SpnWorkerStatus status;
  GSource *snapshot_source; /* the dispatch queued in the context, NULL if none */
  GQueue messages;          /* SpnWorkerMessage, oldest first, waiting for message_source */
  GSource *message_source;
  gboolean stopped;         /* spn_worker_free was called: dispatch nothing more */
  guint64 generation;    /* of the model in `state`: a reading of another is dropped */
  guint64 sync_pushed, sync_done; /* SYNC commands queued, executed */

  GMutex read_lock;
  GCond read_cond;
  ReadRequest req;
  gint reading_text;     /* a text or a model was given and its reading is not published yet */
};

/* ---- hand-off to the main context ---- */

/* clang-format off */
G_DEFINE_QUARK(spn-worker-error-quark, spn_worker_error)
/* clang-format on */

static SpnWorker *
worker_ref(SpnWorker *w)
{
  g_atomic_ref_count_inc(&w->ref);
  return w;
}

static void
worker_unref(gpointer data)
{
  SpnWorker *w = data;
  if (!g_atomic_ref_count_dec(&w->ref))
    return;
  g_mutex_clear(&w->lock);
  g_cond_clear(&w->cond);
  g_mutex_clear(&w->read_lock);
  g_cond_clear(&w->read_cond);
  g_main_context_unref(w->context);
  g_free(w);
}

/* Attaches an idle source running func on w in the worker's context; the source holds a
 * reference, so a callback that frees the worker does not free it under the dispatch. */
static GSource *
attach(SpnWorker *w, GSourceFunc func, int priority)
{
  GSource *src = g_idle_source_new();
  g_source_set_priority(src, priority);
  g_source_set_callback(src, func, worker_ref(w), worker_unref);
  g_source_attach(src, w->context);
  return src;
}

/* A queued message owns its path, error and text. */
static void
message_free(SpnWorkerMessage *m)
{
  g_free((char *)m->path);
  g_clear_error((GError **)&m->error);
  g_free((char *)m->text);
  g_free(m);
}

/* Delivers the queued messages one at a time, oldest first, until none is left or the worker
 * is freed (possibly by a callback). */
static gboolean
dispatch_messages(gpointer data)
{
  SpnWorker *w = data;
  for (;;) {
    g_mutex_lock(&w->lock);
    SpnWorkerMessage *m = w->stopped ? NULL : g_queue_pop_head(&w->messages);
    if (m == NULL)
      g_clear_pointer(&w->message_source, g_source_unref);
    g_mutex_unlock(&w->lock);
    if (m == NULL)
      return G_SOURCE_REMOVE;
    if (w->on_message)
      w->on_message(m, w->user_data);
    message_free(m);
  }
}

/* Queues a message (taking error) for the context, in order with the others. */
static void
post(SpnWorker *w, SpnWorkerMessageKind kind, SpnWorkerTask task, const char *path, gint64 step,
     GError *error, const char *text)
{
  SpnWorkerMessage *m = g_new(SpnWorkerMessage, 1);
  *m = (SpnWorkerMessage){kind, task, g_strdup(path), step, error, g_strdup(text)};
  g_mutex_lock(&w->lock);
  g_queue_push_tail(&w->messages, m);
  if (w->message_source == NULL)
    w->message_source = attach(w, dispatch_messages, G_PRIORITY_DEFAULT);
  g_mutex_unlock(&w->lock);
}

/* "what: why" as a FAILED message of task about path. */
static void
post_error(SpnWorker *w, SpnWorkerTask task, const char *path, const char *what,
           const GError *error)
{
  g_autofree char *text = g_strdup_printf("%s: %s", what, error->message);
  post(w, SPN_WORKER_FAILED, task, path, 0, g_error_copy(error), text);
}

static void
status_copy(SpnWorkerStatus *dst, const SpnWorkerStatus *src)
{
  *dst = *src;
  dst->checkpoint = g_strdup(src->checkpoint);
}

static gboolean
dispatch_snapshot(gpointer data)
{
  SpnWorker *w = data;
  g_mutex_lock(&w->lock);
  SpnSnapshot *s = w->stopped ? NULL : w->pending;
  if (s)
    w->pending = NULL;
  g_clear_pointer(&w->snapshot_source, g_source_unref);
  SpnWorkerStatus status;
  status_copy(&status, &w->status);
  g_mutex_unlock(&w->lock);
  if (s && w->on_snapshot)
    w->on_snapshot(s, &status, w->user_data);
  spn_snapshot_unref(s);
  g_free(status.checkpoint);
  return G_SOURCE_REMOVE;
}

/* Combines the latest state and reading and queues one dispatch; called with lock held. A
 * dispatch already queued will carry the newer snapshot. */
static void
combine_locked(SpnWorker *w)
{
  if (w->state == NULL)
    return;
  spn_snapshot_unref(w->pending);
  w->pending = w->reading ? spn_snapshot_with_probe_of(w->state, w->reading)
                          : spn_snapshot_with_probe(w->state, NULL, NULL);
  w->pending->reading = g_atomic_int_get(&w->reading_text);
  if (w->snapshot_source == NULL)
    w->snapshot_source = attach(w, dispatch_snapshot, G_PRIORITY_DEFAULT_IDLE);
}

/* The window's thread must win every contest for a core, and the reading of the user's text
 * should beat training: the engine's threads (and the OpenMP threads they start, which inherit
 * it) run at lower priorities. On Linux nice values are per thread. */
static void
lower_thread_priority(int nice)
{
#ifdef __linux__
  setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice);
#else
  (void)nice;
#endif
}

/* ---- training thread ---- */

/* The trainer's state (sharing its history: constant time however long the run) and the
 * passage of its corpus. */
static SpnSnapshot *
state_snapshot(SpnWorker *w)
{
  SpnSnapshot *s = spn_trainer_snapshot(w->trainer);
  s->passage = g_strdup(w->passage);
  return s;
}

/* Hands a copy of the current weights to the reading thread, which reads them in place. */
static void
offer_weights(SpnWorker *w, gboolean new_model)
{
  SpnModel *m = spn_trainer_model(w->trainer);
  SpnParamBlob *weights = spn_param_blob_new(&m->cfg, m->layout, m->params);
  g_mutex_lock(&w->read_lock);
  if (new_model || w->req.weights == NULL) {
    spn_vocab_free(w->req.vocab);
    w->req.vocab = spn_vocab_copy(spn_trainer_corpus(w->trainer)->vocab);
    w->req.model_new = TRUE;
    w->req.generation++;
    g_atomic_int_set(&w->reading_text, w->req.text && *w->req.text);
  }
  spn_param_blob_unref(w->req.weights);
  w->req.weights = weights;
  w->req.weights_dirty = TRUE;
  g_cond_broadcast(&w->read_cond);
  g_mutex_unlock(&w->read_lock);
}

static void
publish(SpnWorker *w, gboolean weights_changed)
{
  SpnSnapshot *s = w->trainer ? state_snapshot(w) : NULL;
  if (w->trainer && weights_changed)
    offer_weights(w, FALSE);
  g_mutex_lock(&w->lock);
  if (s) {
    spn_snapshot_unref(w->state);
    w->state = s;
  }
  w->status.ready = w->trainer != NULL;
  w->status.training = w->training;
  w->status.step = w->trainer ? spn_trainer_step_count(w->trainer) : 0;
  w->status.tokens_per_s = w->training ? w->tokens_per_s : 0.0;
  combine_locked(w);
  g_mutex_unlock(&w->lock);
  w->last_publish = g_get_monotonic_time();
}

static void
set_checkpoint(SpnWorker *w, const char *path)
{
  g_mutex_lock(&w->lock);
  g_free(w->status.checkpoint);
  w->status.checkpoint = g_strdup(path);
  g_mutex_unlock(&w->lock);
}

static void
adopt_trainer(SpnWorker *w, SpnTrainer *t, const char *checkpoint)
{
  spn_trainer_free(w->trainer);
  w->trainer = t;
  g_free(w->passage);
  w->passage = spn_corpus_passage(spn_trainer_corpus(t));
  w->training = FALSE;
  w->until = 0;
  w->tokens_per_s = w->window_tokens = w->window_seconds = 0.0;
  set_checkpoint(w, checkpoint);
  offer_weights(w, TRUE);
  g_mutex_lock(&w->read_lock);
  guint64 generation = w->req.generation;
  g_mutex_unlock(&w->read_lock);
  g_mutex_lock(&w->lock);
  /* the old reading belongs to another model, and so would any reading still in progress */
  spn_snapshot_unref(w->reading);
  w->reading = NULL;
  w->generation = generation;
  g_mutex_unlock(&w->lock);
}

static void
do_new_model(SpnWorker *w, Command *c)
{
  g_autoptr(GError) error = NULL;
  SpnCorpus *corpus = spn_corpus_load(c->corpus, &c->opts, &error);
  spn_threads_init(c->cfg.threads);
  SpnTrainer *t = corpus ? spn_trainer_new(&c->cfg, corpus, &error) : NULL;
  if (t == NULL) {
    post_error(w, SPN_WORKER_TASK_NEW_MODEL, NULL, "Cannot create the model", error);
    return;
  }
  adopt_trainer(w, t, NULL);
  post(w, SPN_WORKER_CREATED, SPN_WORKER_TASK_NEW_MODEL, NULL, 0, NULL, "New model created");
}

static void
do_open(SpnWorker *w, Command *c)
{
  g_autoptr(GError) error = NULL;
  SpnCorpus *corpus = NULL;
  if (c->corpus) {
    SpnCorpusOptions opts = {0};
    corpus = spn_corpus_load(c->corpus, &opts, &error);
    if (corpus == NULL) {
      post_error(w, SPN_WORKER_TASK_OPEN, c->path, "Cannot read the corpus", error);
      return;
    }
  }
  SpnTrainer *t = spn_trainer_load(c->path, corpus, &error);
  if (t == NULL) {
    post_error(w, SPN_WORKER_TASK_OPEN, c->path, "Cannot open the checkpoint", error);
    return;
  }
  spn_threads_init(spn_trainer_model(t)->cfg.threads);
  adopt_trainer(w, t, c->path);
  gint64 step = spn_trainer_step_count(t);
  g_autofree char *info = g_strdup_printf("Opened %s at step %" G_GINT64_FORMAT, c->path, step);
  post(w, SPN_WORKER_OPENED, SPN_WORKER_TASK_OPEN, c->path, step, NULL, info);
}

static void
do_import(SpnWorker *w, Command *c)
{
  g_autoptr(GError) error = NULL;
  SpnCorpusOptions opts = {.ref_format = TRUE};
  SpnCorpus *corpus = spn_corpus_load(c->corpus, &opts, &error);
  if (corpus == NULL) {
    post_error(w, SPN_WORKER_TASK_IMPORT, c->path, "Cannot read the run's data folder", error);
    return;
  }
  g_autoptr(GPtrArray) notes = g_ptr_array_new_with_free_func(g_free);
  SpnCheckpoint *ck = spn_ref_load(c->path, &c->ref, corpus->vocab, corpus->source, notes,
                                   &error);
  SpnTrainer *t = ck ? spn_trainer_from_checkpoint(ck, c->path, corpus, &error) : NULL;
  if (ck == NULL)
    spn_corpus_free(corpus);
  if (t == NULL) {
    post_error(w, SPN_WORKER_TASK_IMPORT, c->path, "Cannot open the reference run", error);
    return;
  }
  spn_threads_init(spn_trainer_model(t)->cfg.threads);
  adopt_trainer(w, t, NULL);
  gint64 step = spn_trainer_step_count(t);
  GString *info = g_string_new(NULL);
  g_string_printf(info, "Opened the reference run %s at step %" G_GINT64_FORMAT, c->path, step);
  for (guint i = 0; i < notes->len; i++)
    g_string_append_printf(info, "; %s", (const char *)g_ptr_array_index(notes, i));
  post(w, SPN_WORKER_OPENED, SPN_WORKER_TASK_IMPORT, c->path, step, NULL, info->str);
  g_string_free(info, TRUE);
}

static void
do_adopt(SpnWorker *w, Command *c)
{
  g_autoptr(GError) error = NULL;
  if (w->trainer && spn_trainer_replace(w->trainer, c->ck, c->path, NULL)) {
    w->training = FALSE;
    w->until = 0;
  } else {
    SpnTrainer *t = spn_trainer_from_checkpoint(g_steal_pointer(&c->ck), c->path, NULL, &error);
    if (t == NULL) {
      post_error(w, SPN_WORKER_TASK_FOLLOW, c->path, "Cannot show the new version", error);
      return;
    }
    spn_threads_init(spn_trainer_model(t)->cfg.threads);
    adopt_trainer(w, t, NULL);
  }
  gint64 step = spn_trainer_step_count(w->trainer);
  g_autofree char *info = g_strdup_printf("%s: step %" G_GINT64_FORMAT, c->path, step);
  post(w, SPN_WORKER_OPENED, SPN_WORKER_TASK_FOLLOW, c->path, step, NULL, info);
}

static void
do_save(SpnWorker *w, Command *c)
{
  g_autoptr(GError) error = NULL;
  if (!spn_trainer_save(w->trainer, c->path, &error)) {
    post_error(w, SPN_WORKER_TASK_SAVE, c->path,
               "Cannot save the checkpoint (the previous file is unchanged)", error);
    return;
  }
  set_checkpoint(w, c->path);
  gint64 step = spn_trainer_step_count(w->trainer);
  g_autofree char *info = g_strdup_printf("Saved %s at step %" G_GINT64_FORMAT, c->path, step);
  post(w, SPN_WORKER_SAVED, SPN_WORKER_TASK_SAVE, c->path, step, NULL, info);
}

/* Steps between two automatic validations: the reference's interval with its procedure. */
static int
eval_interval(SpnWorker *w)
{
  const SpnConfig *c = &spn_trainer_model(w->trainer)->cfg;
  return c->eval_mode == SPN_EVAL_REFERENCE ? SPN_REFERENCE_EVAL_EVERY : w->eval_every;
}

static void
evaluate(SpnWorker *w, gsize max_tokens)
{
  g_autoptr(GError) error = NULL;
  double bpc;
  if (spn_trainer_validate(w->trainer, eval_interval(w), max_tokens, &bpc, &error))
    spn_trainer_record_validation(w->trainer, bpc);
  else
    post_error(w, SPN_WORKER_TASK_EVALUATE, NULL, "Validation skipped", error);
}

static void
do_export_csv(SpnWorker *w, Command *c)
{
  g_autoptr(GError) error = NULL;
  SpnCost full = spn_cost_full_span(&spn_trainer_model(w->trainer)->cfg, NULL);
  if (!spn_history_write_csv(spn_trainer_history(w->trainer), &full, c->path, &error))
    post_error(w, SPN_WORKER_TASK_EXPORT_CSV, c->path, "Cannot export the metrics", error);
  else {
    g_autofree char *info = g_strdup_printf("Metrics written to %s", c->path);
    post(w, SPN_WORKER_METRICS_WRITTEN, SPN_WORKER_TASK_EXPORT_CSV, c->path, 0, NULL, info);
  }
}

/* The task a command that needs a model belongs to; FALSE for the others. */
static gboolean
model_task(CommandKind kind, SpnWorkerTask *task)
{
  switch (kind) {
  case CMD_SAVE: *task = SPN_WORKER_TASK_SAVE; return TRUE;
  case CMD_TRAIN:
  case CMD_STEP:
  case CMD_TRAIN_UNTIL: *task = SPN_WORKER_TASK_TRAIN; return TRUE;
  case CMD_EVALUATE: *task = SPN_WORKER_TASK_EVALUATE; return TRUE;
  case CMD_EXPORT_CSV: *task = SPN_WORKER_TASK_EXPORT_CSV; return TRUE;
  default: return FALSE;
  }
}

/* Refuses, with a message, a command that needs a model when there is none. */
static gboolean
needs_model(SpnWorker *w, const Command *c)
{
  SpnWorkerTask task;
  if (w->trainer || !model_task(c->kind, &task))
    return FALSE;
  GError *error = g_error_new_literal(SPN_WORKER_ERROR, SPN_WORKER_ERROR_NO_MODEL,
                                      "There is no model yet: create one (New model…) or open a "
                                      "checkpoint first");
  post(w, SPN_WORKER_FAILED, task, c->path, 0, error, error->message);
  return TRUE;
}

static void
train_one(SpnWorker *w)
{
  SpnStepResult r;
  g_autoptr(GError) error = NULL;
  if (!spn_trainer_step(w->trainer, &r, &error)) {
    /* diverged: the last good weights stay, and the window says why */
    w->training = FALSE;
    w->until = 0;
    post_error(w, SPN_WORKER_TASK_TRAIN, NULL, "Training stopped", error);
    publish(w, FALSE);
    return;
  }
  const SpnConfig *c = &spn_trainer_model(w->trainer)->cfg;
  /* throughput over the last second or so of steps, so the display does not flicker */
  w->window_tokens += (double)c->batch_sz * c->block_sz;
  w->window_seconds += r.seconds;
  if (w->window_seconds >= 1.0) {
    w->tokens_per_s = w->window_tokens / w->window_seconds;
    w->window_tokens = w->window_seconds = 0.0;
  } else if (w->tokens_per_s == 0.0 && w->window_seconds > 0)
    w->tokens_per_s = w->window_tokens / w->window_seconds;
  if (w->eval_every > 0 && r.step % eval_interval(w) == 0)
    evaluate(w, AUTO_EVAL_TOKENS);
}

/* Executes one command; returns FALSE on quit. */
static gboolean
execute(SpnWorker *w, Command *c)
{
  if (needs_model(w, c))
    return TRUE;
  switch (c->kind) {
  case CMD_NEW_MODEL: do_new_model(w, c); break;
  case CMD_OPEN: do_open(w, c); break;
  case CMD_IMPORT: do_import(w, c); break;
  case CMD_ADOPT: do_adopt(w, c); break;
  case CMD_SAVE: do_save(w, c); return TRUE;
  case CMD_TRAIN: w->training = TRUE; w->until = 0; break;
  case CMD_PAUSE: w->training = FALSE; break;
  case CMD_STEP:
    w->training = FALSE;
    train_one(w);
    break;
  case CMD_TRAIN_UNTIL:
    w->until = c->number;
    w->training = spn_trainer_step_count(w->trainer) < c->number;
    break;
  case CMD_EVALUATE: evaluate(w, (gsize)c->number); break;
  case CMD_PUBLISH_INTERVAL: w->publish_ms = (int)c->number; return TRUE;
  case CMD_EXPORT_CSV: do_export_csv(w, c); return TRUE;
  case CMD_SYNC:
    g_mutex_lock(&w->lock);
    w->sync_done++;
    g_cond_broadcast(&w->cond);
    g_mutex_unlock(&w->lock);
    return TRUE;
  case CMD_QUIT: return FALSE;
  }
  publish(w, TRUE);
  return TRUE;
}

static void
command_free(Command *c)
{
  g_free(c->path);
  g_free(c->corpus);
  spn_checkpoint_free(c->ck);
  g_free(c);
}

static gpointer
train_thread(gpointer data)
{
  SpnWorker *w = data;
  lower_thread_priority(10);
  for (;;) {
    Command *c = w->training ? g_async_queue_try_pop(w->commands) : g_async_queue_pop(w->commands);
    if (c) {
      gboolean go_on = execute(w, c);
      command_free(c);
      if (!go_on)
        break;
      continue;
    }
    train_one(w);
    if (w->until > 0 && spn_trainer_step_count(w->trainer) >= w->until) {
      w->training = FALSE;
      w->until = 0;
      publish(w, TRUE);
    } else if (g_get_monotonic_time() - w->last_publish >= w->publish_ms * 1000)
      publish(w, TRUE);
  }
  return NULL;
}

/* ---- reading thread ---- */

/* Publishes a reading if it is of the model in the state; FALSE when it was dropped. */
static gboolean
publish_reading(SpnWorker *w, guint64 generation, const char *text, SpnProbe *probe)
{
  gboolean taken;
  g_mutex_lock(&w->lock);
  /* the state must be of the model that was read (a new model may have come meanwhile, or
   * its first state may not be published yet) */
  taken = w->state && generation == w->generation && w->state->cfg.nlayers == probe->nlayers &&
          w->state->cfg.nheads == probe->nheads;
  if (taken) {
    SpnSnapshot *r = spn_snapshot_with_probe(w->state, text, probe);
    spn_snapshot_unref(w->reading);
    w->reading = r;
    g_atomic_int_set(&w->reading_text, 0);
    combine_locked(w);
  } else
    spn_probe_unref(probe);
  g_mutex_unlock(&w->lock);
  return taken;
}

/* A reading that came before its model's first state is read again at once. */
static void
read_again(SpnWorker *w)
{
  g_mutex_lock(&w->read_lock);
  w->req.text_dirty = TRUE;
  g_cond_broadcast(&w->read_cond);
  g_mutex_unlock(&w->read_lock);
}

/* A re-read for new weights rests this many times its own duration before the next one: while
 * training, reading a long text takes at most a fifth of a core and training keeps the rest. An
 * edit of the text is read at once (incrementally, with the weights read last). */
#define READ_REST 4

/* Whether the reading thread has something to do now; *until: when weights waiting out their
 * rest become due (0: nothing waits). Called with read_lock held. */
static gboolean
read_due(const ReadRequest *q, gint64 rest_until, gint64 *until)
{
  *until = 0;
  if (!q->text || !q->weights)
    return FALSE;
  if (q->text_dirty || q->model_new)
    return TRUE;
  if (!q->weights_dirty)
    return FALSE;
  if (g_get_monotonic_time() >= rest_until)
    return TRUE;
  *until = rest_until;
  return FALSE;
}

/* A much shorter text than the last: the memory of the long one goes back to the system
 * (glibc keeps freed blocks of a thread's arena otherwise). */
static void
give_back_memory(gsize before, gsize now)
{
#ifdef __GLIBC__
  if (before > 16384 && now < before / 4)
    malloc_trim(0);
#else
  (void)before, (void)now;
#endif
}

static gpointer
read_thread(gpointer data)
{
  SpnWorker *w = data;
  SpnReader *reader = NULL;
  gint64 rest_until = 0;
  gsize last_len = 0;
  lower_thread_priority(8);
  for (;;) {
    g_mutex_lock(&w->read_lock);
    ReadRequest *q = &w->req;
    q->busy = FALSE;
    g_cond_broadcast(&w->read_cond);
    gint64 until;
    while (!q->quit && !read_due(q, rest_until, &until)) {
      if (until > 0)
        g_cond_wait_until(&w->read_cond, &w->read_lock, until);
      else
        g_cond_wait(&w->read_cond, &w->read_lock);
    }
    if (q->quit) {
      g_mutex_unlock(&w->read_lock);
      break;
    }
    q->busy = TRUE;
    if (q->model_new || reader == NULL) {
      spn_reader_free(reader);
      reader = spn_reader_new(q->weights, q->vocab);
      q->weights_dirty = FALSE;
    } else if (q->weights_dirty && g_get_monotonic_time() >= rest_until) {
      spn_reader_set_weights(reader, q->weights);
      q->weights_dirty = FALSE;
    }
    q->model_new = q->text_dirty = FALSE;
    guint64 generation = q->generation;
    g_autofree char *text = g_strdup(q->text);
    g_mutex_unlock(&w->read_lock);

    gint64 start = g_get_monotonic_time();
    g_autoptr(GError) error = NULL;
    if (spn_reader_read(reader, text, &error)) {
      if (!publish_reading(w, generation, text, spn_probe_snapshot(spn_reader_probe(reader))))
        read_again(w);
    } else {
      g_atomic_int_set(&w->reading_text, 0);
      post_error(w, SPN_WORKER_TASK_READ, NULL, "Cannot read the text", error);
    }
    gint64 end = g_get_monotonic_time();
    rest_until = end + READ_REST * (end - start);
    give_back_memory(last_len, strlen(text));
    last_len = strlen(text);
  }
  spn_reader_free(reader);
  return NULL;
}

/* ---- public ---- */

SpnWorker *
spn_worker_new(GMainContext *context, SpnWorkerSnapshotFunc on_snapshot,
               SpnWorkerMessageFunc on_message, gpointer user_data)
{
  SpnWorker *w = g_new0(SpnWorker, 1);
  g_atomic_ref_count_init(&w->ref);
  w->context = g_main_context_ref(context ? context : g_main_context_default());
  w->on_snapshot = on_snapshot;
  w->on_message = on_message;
  w->user_data = user_data;
  w->eval_every = 200;
  w->publish_ms = 200;
  w->commands = g_async_queue_new();
  g_mutex_init(&w->lock);
  g_cond_init(&w->cond);
  g_mutex_init(&w->read_lock);
  g_cond_init(&w->read_cond);
  w->train_thread = g_thread_new("spanscope-train", train_thread, w);
  w->read_thread = g_thread_new("spanscope-read", read_thread, w);
  return w;
}

static void
push(SpnWorker *w, CommandKind kind, const char *path, gint64 number)
{
  Command *c = g_new0(Command, 1);
  c->kind = kind;
  c->path = g_strdup(path);
  c->number = number;
  g_async_queue_push(w->commands, c);
}

void
spn_worker_free(SpnWorker *w)
{
  if (w == NULL)
    return;
  push(w, CMD_QUIT, NULL, 0);
  g_thread_join(w->train_thread);
  g_mutex_lock(&w->read_lock);
  w->req.quit = TRUE;
  g_cond_broadcast(&w->read_cond);
  g_mutex_unlock(&w->read_lock);
  g_thread_join(w->read_thread);
  /* what is still queued for the context is dropped: the callbacks' data may go with us */
  g_mutex_lock(&w->lock);
  w->stopped = TRUE;
  if (w->snapshot_source)
    g_source_destroy(w->snapshot_source);
  if (w->message_source)
    g_source_destroy(w->message_source);
  g_clear_pointer(&w->snapshot_source, g_source_unref);
  g_clear_pointer(&w->message_source, g_source_unref);
  g_queue_clear_full(&w->messages, (GDestroyNotify)message_free);
  g_mutex_unlock(&w->lock);
  Command *c;
  while ((c = g_async_queue_try_pop(w->commands)))
    command_free(c);
  g_async_queue_unref(w->commands);
  spn_trainer_free(w->trainer);
  g_free(w->passage);
  spn_snapshot_unref(w->state);
  spn_snapshot_unref(w->reading);
  spn_snapshot_unref(w->pending);
  g_free(w->status.checkpoint);
  g_free(w->req.text);
  spn_param_blob_unref(w->req.weights);
  spn_vocab_free(w->req.vocab);
  worker_unref(w);   /* freed now, or when a dispatch under way returns */
}

void
spn_worker_new_model(SpnWorker *w, const SpnConfig *cfg, const char *corpus,
                     const SpnCorpusOptions *opts)
{
  Command *c = g_new0(Command, 1);
  c->kind = CMD_NEW_MODEL;
  c->cfg = *cfg;
  c->corpus = g_strdup(corpus ? corpus : SPN_BUNDLED_SOURCE);
  if (opts)
    c->opts = *opts;
  g_async_queue_push(w->commands, c);
}

void
spn_worker_open(SpnWorker *w, const char *checkpoint, const char *corpus)
{
  Command *c = g_new0(Command, 1);
  c->kind = CMD_OPEN;
  c->path = g_strdup(checkpoint);
  c->corpus = g_strdup(corpus);
  g_async_queue_push(w->commands, c);
}

void
spn_worker_import(SpnWorker *w, const char *checkpoint, const char *data,
                  const SpnRefFlags *flags)
{
  Command *c = g_new0(Command, 1);
  c->kind = CMD_IMPORT;
  c->path = g_strdup(checkpoint);
  c->corpus = g_strdup(data);
  c->ref = *flags;
  g_async_queue_push(w->commands, c);
}

void
spn_worker_adopt(SpnWorker *w, SpnCheckpoint *ck, const char *path)
{
  Command *c = g_new0(Command, 1);
  c->kind = CMD_ADOPT;
  c->path = g_strdup(path);
  c->ck = ck;
  g_async_queue_push(w->commands, c);
}

void spn_worker_save(SpnWorker *w, const char *checkpoint) { push(w, CMD_SAVE, checkpoint, 0); }
void spn_worker_train(SpnWorker *w) { push(w, CMD_TRAIN, NULL, 0); }
void spn_worker_pause(SpnWorker *w) { push(w, CMD_PAUSE, NULL, 0); }
void spn_worker_step(SpnWorker *w) { push(w, CMD_STEP, NULL, 0); }
void spn_worker_train_until(SpnWorker *w, gint64 steps) { push(w, CMD_TRAIN_UNTIL, NULL, steps); }

void
spn_worker_evaluate(SpnWorker *w, gsize max_tokens)
{
  push(w, CMD_EVALUATE, NULL, (gint64)max_tokens);
}


void
spn_worker_set_publish_interval(SpnWorker *w, int milliseconds)
{
  push(w, CMD_PUBLISH_INTERVAL, NULL, MAX(10, milliseconds));
}

void spn_worker_export_csv(SpnWorker *w, const char *path) { push(w, CMD_EXPORT_CSV, path, 0); }

void
spn_worker_set_text(SpnWorker *w, const char *text)
{
  g_mutex_lock(&w->read_lock);
  if (g_strcmp0(w->req.text, text) != 0) {
    g_free(w->req.text);
    w->req.text = g_strdup(text);
    w->req.text_dirty = TRUE;
    g_atomic_int_set(&w->reading_text, text && *text);
    g_cond_broadcast(&w->read_cond);
  }
  g_mutex_unlock(&w->read_lock);
}

static gboolean
reader_idle(SpnWorker *w, gint64 deadline)
{
  g_mutex_lock(&w->read_lock);
  ReadRequest *q = &w->req;
  gboolean ok = TRUE;
  while (ok && (q->busy || (q->text && q->weights && (q->text_dirty || q->weights_dirty))))
    ok = g_cond_wait_until(&w->read_cond, &w->read_lock, deadline);
  g_mutex_unlock(&w->read_lock);
  return ok;
}

gboolean
spn_worker_sync(SpnWorker *w, int timeout_ms)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
  /* counted at the push, so a SYNC left queued by an earlier timeout cannot satisfy this one */
  g_mutex_lock(&w->lock);
  guint64 target = ++w->sync_pushed;
  push(w, CMD_SYNC, NULL, 0);
  g_mutex_unlock(&w->lock);
  gboolean ok = TRUE;
  g_mutex_lock(&w->lock);
  while (ok && w->sync_done < target)
    ok = g_cond_wait_until(&w->cond, &w->lock, deadline);
  g_mutex_unlock(&w->lock);
  return ok && reader_idle(w, deadline);
}
