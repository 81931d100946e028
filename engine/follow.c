/* follow.c — see follow.h. */
#include "follow.h"

#include <errno.h>
#include <gio/gio.h>

#include "safetensors.h"

/* quiet after a change before the file is read: a writer's next piece usually comes sooner */
#define SETTLE_MS 250
/* reading again a file found incomplete: from RETRY_MS, doubling up to RETRY_MAX_MS */
#define RETRY_MS 250
#define RETRY_MAX_MS 4000
/* the poll that stands in for file-system events that never come (network file systems) */
#define POLL_MS 2000

/* What identifies one state of the file: a rewrite changes at least one of them. */
typedef struct {
  gboolean exists, regular, readable;
  guint64 size, inode;
  guint64 mtime_us;
} Stamp;

struct _SpnFollower {
  gatomicrefcount ref;   /* the owner's, and one per read under way */
  gboolean stopped;
  char *path;
  GFile *file;
  GFileMonitor *monitor;
  GMainContext *context;
  SpnFollowFunc callback;
  gpointer user_data;
  SpnRefFlags flags;
  SpnVocab *vocab;
  char *corpus;

  GSource *check_source, *poll_source;
  gboolean reading, dirty;
  int retry_ms;
  Stamp seen;            /* the file as last read completely, good or not */
  gboolean have_version;
  gint64 last_step, last_version_time;
};

static SpnFollower *
follower_ref(SpnFollower *f)
{
  g_atomic_ref_count_inc(&f->ref);
  return f;
}

static void
follower_unref(SpnFollower *f)
{
  if (!g_atomic_ref_count_dec(&f->ref))
    return;
  g_free(f->path);
  g_object_unref(f->file);
  g_main_context_unref(f->context);
  spn_vocab_free(f->vocab);
  g_free(f->corpus);
  g_free(f);
}

static Stamp
stamp_of(GFile *file)
{
  Stamp s = {0};
  g_autoptr(GFileInfo) info = g_file_query_info(
      file,
      G_FILE_ATTRIBUTE_STANDARD_TYPE "," G_FILE_ATTRIBUTE_STANDARD_SIZE
      "," G_FILE_ATTRIBUTE_ACCESS_CAN_READ
      "," G_FILE_ATTRIBUTE_TIME_MODIFIED
      "," G_FILE_ATTRIBUTE_TIME_MODIFIED_USEC "," G_FILE_ATTRIBUTE_UNIX_INODE,
      G_FILE_QUERY_INFO_NONE, NULL, NULL);
  if (info == NULL)
    return s;
  s.exists = TRUE;
  s.regular = g_file_info_get_file_type(info) == G_FILE_TYPE_REGULAR;
  s.readable = !g_file_info_has_attribute(info, G_FILE_ATTRIBUTE_ACCESS_CAN_READ) ||
               g_file_info_get_attribute_boolean(info, G_FILE_ATTRIBUTE_ACCESS_CAN_READ);
  s.size = (guint64)g_file_info_get_size(info);
  s.inode = g_file_info_get_attribute_uint64(info, G_FILE_ATTRIBUTE_UNIX_INODE);
  s.mtime_us = g_file_info_get_attribute_uint64(info, G_FILE_ATTRIBUTE_TIME_MODIFIED) * 1000000 +
               g_file_info_get_attribute_uint32(info, G_FILE_ATTRIBUTE_TIME_MODIFIED_USEC);
  return s;
}

static gboolean
stamp_equal(const Stamp *a, const Stamp *b)
{
  return a->exists == b->exists && a->readable == b->readable && a->size == b->size &&
         a->inode == b->inode && a->mtime_us == b->mtime_us;
}

/* ---- loading (any thread) ---- */

SpnCheckpoint *
spn_checkpoint_load_any(const char *path, const SpnFollowSource *source, GPtrArray *notes,
                        GError **error)
{
  if (!spn_ref_is_torch_file(path))
    return spn_checkpoint_load(path, error);
  SpnRefFlags defaults;
  spn_ref_flags_init(&defaults);
  return spn_ref_load(path, source && source->flags ? source->flags : &defaults,
                      source ? source->vocab : NULL, source ? source->corpus : NULL, notes,
                      error);
}

/* Errors of a file that is still being written (or was cut short): read it again later. A file
 * we may not read is an error to report (until its permissions change). */
static gboolean
incomplete(const GError *e)
{
  return (e->domain == G_FILE_ERROR && e->code != G_FILE_ERROR_ACCES) ||
         e->domain == G_IO_ERROR || (e->domain == SPN_ST_ERROR && e->code != SPN_ST_ERROR_MISMATCH) ||
         (e->domain == SPN_PT_ERROR && (e->code == SPN_PT_ERROR_FORMAT ||
                                        e->code == SPN_PT_ERROR_IO));
}

typedef struct {
  SpnFollower *f;
  Stamp before, after;
  SpnCheckpoint *ck;
  GError *error;
} Read;

static void
read_free(gpointer p)
{
  Read *r = p;
  spn_checkpoint_free(r->ck);
  g_clear_error(&r->error);
  follower_unref(r->f);
  g_free(r);
}

static void
read_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
  (void)source, (void)cancel;
  Read *r = data;
  SpnFollower *f = r->f;
  if (f->vocab == NULL && f->corpus != NULL) {   /* only one read runs at a time */
    SpnCorpusOptions opts = {.ref_format = TRUE};
    SpnCorpus *corpus = spn_corpus_load(f->corpus, &opts, &r->error);
    if (corpus == NULL) {   /* a failure of its own, reported once per version of the file */
      r->before = r->after = stamp_of(f->file);
      g_task_return_boolean(task, TRUE);
      return;
    }
    f->vocab = spn_vocab_copy(corpus->vocab);
    spn_corpus_free(corpus);
  }
  SpnFollowSource src = {&f->flags, f->vocab, f->corpus};
  r->before = stamp_of(r->f->file);
  /* never opened unless a regular file: the open of a FIFO would wait for a writer forever */
  if (r->before.exists && !r->before.regular)
    g_set_error(&r->error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: not a regular file", f->path);
  else if (r->before.exists && !r->before.readable)
    g_set_error(&r->error, G_FILE_ERROR, G_FILE_ERROR_ACCES, "%s: %s", f->path,
                g_strerror(EACCES));
  else
    r->ck = spn_checkpoint_load_any(r->f->path, &src, NULL, &r->error);
  r->after = stamp_of(r->f->file);
  g_task_return_boolean(task, TRUE);
}

/* ---- checking (the follower's context) ---- */

static void schedule_check(SpnFollower *f, int ms);

static void
emit(SpnFollower *f, SpnFollowEventKind kind, SpnCheckpoint **ck, gint64 step, const GError *e)
{
  SpnFollowEvent ev = {kind, ck ? *ck : NULL, step, e};
  f->callback(&ev, f->user_data);
  if (ck)
    *ck = ev.checkpoint;
}

static void
on_read(GObject *source, GAsyncResult *result, gpointer data)
{
  (void)source, (void)data;
  Read *r = g_task_get_task_data(G_TASK(result));
  SpnFollower *f = r->f;
  if (f->stopped)
    return;
  f->reading = FALSE;
  gboolean changed = !stamp_equal(&r->before, &r->after) || !r->after.exists;
  if (r->ck == NULL && incomplete(r->error)) {
    emit(f, SPN_FOLLOW_WAITING, NULL, 0, r->error);
    schedule_check(f, f->retry_ms);
    f->retry_ms = MIN(f->retry_ms * 2, RETRY_MAX_MS);
  } else if (changed) {
    /* it changed while being read: whatever was read may mix two versions */
    schedule_check(f, SETTLE_MS);
  } else {
    f->seen = r->after;
    f->retry_ms = RETRY_MS;
    if (r->ck == NULL)
      emit(f, SPN_FOLLOW_FAILED, NULL, 0, r->error);
    else {
      gint64 step = r->ck->optim ? r->ck->optim->step : 0;
      if (!f->have_version || step != f->last_step) {
        f->have_version = TRUE;
        f->last_step = step;
        f->last_version_time = g_get_monotonic_time();
        emit(f, SPN_FOLLOW_VERSION, &r->ck, step, NULL);
      }
    }
  }
  if (f->dirty && !f->stopped) {
    f->dirty = FALSE;
    schedule_check(f, SETTLE_MS);
  }
}

static void
start_read(SpnFollower *f)
{
  Read *r = g_new0(Read, 1);
  r->f = follower_ref(f);
  GTask *task = g_task_new(NULL, NULL, on_read, NULL);
  g_task_set_task_data(task, r, read_free);
  f->reading = TRUE;
  g_task_run_in_thread(task, read_thread);
  g_object_unref(task);
}

static void
check(SpnFollower *f)
{
  if (f->reading) {
    f->dirty = TRUE;
    return;
  }
  Stamp now = stamp_of(f->file);
  if (!now.exists) {
    g_autoptr(GError) e = g_error_new(G_FILE_ERROR, G_FILE_ERROR_NOENT,
                                      "%s does not exist (yet)", f->path);
    if (f->seen.exists || !f->have_version)
      emit(f, SPN_FOLLOW_WAITING, NULL, 0, e);
    f->seen = now;
    return;
  }
  if (!stamp_equal(&now, &f->seen))
    start_read(f);
}

static gboolean
on_check_timeout(gpointer data)
{
  SpnFollower *f = data;
  g_clear_pointer(&f->check_source, g_source_unref);
  check(f);
  return G_SOURCE_REMOVE;
}

/* (Re)starts the one pending check, ms from now. */
static void
schedule_check(SpnFollower *f, int ms)
{
  if (f->check_source) {
    g_source_destroy(f->check_source);
    g_source_unref(f->check_source);
  }
  f->check_source = g_timeout_source_new(ms);
  g_source_set_callback(f->check_source, on_check_timeout, f, NULL);
  g_source_attach(f->check_source, f->context);
}

static gboolean
on_poll(gpointer data)
{
  SpnFollower *f = data;
  if (f->check_source == NULL)
    check(f);
  return G_SOURCE_CONTINUE;
}

static void
on_changed(GFileMonitor *m, GFile *file, GFile *other, GFileMonitorEvent event, gpointer data)
{
  (void)m, (void)other, (void)file;
  SpnFollower *f = data;
  if (event != G_FILE_MONITOR_EVENT_ATTRIBUTE_CHANGED && event != G_FILE_MONITOR_EVENT_UNMOUNTED)
    schedule_check(f, SETTLE_MS);
}

SpnFollower *
spn_follower_new(const char *path, const SpnFollowSource *source, SpnFollowFunc callback,
                 gpointer user_data, GError **error)
{
  GFile *file = g_file_new_for_path(path);
  /* a file that does not exist yet is waited for; anything else must be a regular file */
  g_autoptr(GError) type_error = NULL;
  g_autoptr(GFileInfo) info = g_file_query_info(file, G_FILE_ATTRIBUTE_STANDARD_TYPE,
                                                G_FILE_QUERY_INFO_NONE, NULL, &type_error);
  if ((info && g_file_info_get_file_type(info) != G_FILE_TYPE_REGULAR) ||
      (info == NULL && !g_error_matches(type_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))) {
    if (info)
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                  "cannot follow %s: it is not a regular file; give a checkpoint file", path);
    else
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "cannot follow %s: %s", path,
                  type_error->message);
    g_object_unref(file);
    return NULL;
  }
  GFileMonitor *monitor = g_file_monitor_file(file, G_FILE_MONITOR_WATCH_HARD_LINKS, NULL, error);
  if (monitor == NULL) {
    g_prefix_error(error, "cannot follow %s: ", path);
    g_object_unref(file);
    return NULL;
  }
  SpnFollower *f = g_new0(SpnFollower, 1);
  g_atomic_ref_count_init(&f->ref);
  f->path = g_file_get_path(file);
  f->file = file;
  f->monitor = monitor;
  f->context = g_main_context_ref_thread_default();
  f->callback = callback;
  f->user_data = user_data;
  spn_ref_flags_init(&f->flags);
  if (source && source->flags)
    f->flags = *source->flags;
  f->vocab = source && source->vocab ? spn_vocab_copy(source->vocab) : NULL;
  f->corpus = g_strdup(source ? source->corpus : NULL);
  f->retry_ms = RETRY_MS;
  g_file_monitor_set_rate_limit(monitor, 100);
  g_signal_connect(monitor, "changed", G_CALLBACK(on_changed), f);
  f->poll_source = g_timeout_source_new(POLL_MS);
  g_source_set_callback(f->poll_source, on_poll, f, NULL);
  g_source_attach(f->poll_source, f->context);
  schedule_check(f, 0);
  return f;
}

void
spn_follower_free(SpnFollower *f)
{
  if (f == NULL)
    return;
  f->stopped = TRUE;
  g_signal_handlers_disconnect_by_data(f->monitor, f);
  g_file_monitor_cancel(f->monitor);
  g_object_unref(f->monitor);
  GSource *sources[] = {f->check_source, f->poll_source};
  for (guint i = 0; i < G_N_ELEMENTS(sources); i++)
    if (sources[i]) {
      g_source_destroy(sources[i]);
      g_source_unref(sources[i]);
    }
  f->check_source = f->poll_source = NULL;
  follower_unref(f);   /* a read under way keeps it until it returns */
}

const char *
spn_follower_path(const SpnFollower *f)
{
  return f->path;
}

gint64
spn_follower_last_version_time(const SpnFollower *f)
{
  return f->last_version_time;
}
