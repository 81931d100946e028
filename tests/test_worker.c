/* The worker behind the window: commands run in order in the training thread, snapshots and
 * messages arrive in the caller's main context, the reading follows the text, history and
 * checkpoints round-trip. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "fixtures.h"
#include "history.h"
#include "rng.h"
#include "worker.h"

static char *tmpdir;

typedef struct {
  GMainContext *ctx;
  SpnWorker *w;
  SpnSnapshot *last;
  SpnWorkerStatus status;
  int snapshots;
  GPtrArray *errors, *infos;   /* the messages' texts */
  GPtrArray *messages;         /* every message, with its path and error (text NULL) */
  gboolean free_on_message;    /* the message callback frees the worker */
  gboolean text_given;         /* a text was set: a snapshot without its probe must say why */
  int silent_without_probe;    /* snapshots with no probe and no reading under way */
} Fixture;

static void
kept_message_free(gpointer data)
{
  SpnWorkerMessage *m = data;
  g_free((char *)m->path);
  g_clear_error((GError **)&m->error);
  g_free(m);
}

static void
on_snapshot(SpnSnapshot *s, const SpnWorkerStatus *st, gpointer data)
{
  Fixture *f = data;
  spn_snapshot_unref(f->last);
  f->last = spn_snapshot_ref(s);
  f->silent_without_probe += f->text_given && s->probe == NULL && !s->reading;
  g_free(f->status.checkpoint);
  f->status = *st;
  f->status.checkpoint = g_strdup(st->checkpoint);
  f->snapshots++;
}

static void
on_message(const SpnWorkerMessage *m, gpointer data)
{
  Fixture *f = data;
  g_assert_true((m->kind == SPN_WORKER_FAILED) == (m->error != NULL));
  g_ptr_array_add(m->kind == SPN_WORKER_FAILED ? f->errors : f->infos, g_strdup(m->text));
  g_ptr_array_add(f->messages, g_memdup2(m, sizeof *m));
  SpnWorkerMessage *kept = f->messages->pdata[f->messages->len - 1];
  kept->path = g_strdup(m->path);
  kept->error = m->error ? g_error_copy(m->error) : NULL;
  kept->text = NULL;
  if (f->free_on_message)
    g_clear_pointer(&f->w, spn_worker_free);
}

/* waits for the worker, then lets every queued dispatch run */
static void
settle(Fixture *f)
{
  g_assert_true(spn_worker_sync(f->w, 60000));
  while (g_main_context_iteration(f->ctx, FALSE))
    ;
}

static char *
write_corpus(void)
{
  GString *s = g_string_new(NULL);
  const char *words[] = {"the ", "spans ", "grow ", "and ", "shrink ", "heads ", "look ",
                         "back, ", "far ", "near. ", "\n"};
  SpnRng rng;
  spn_rng_seed(&rng, 5);
  while (s->len < 20000)
    g_string_append(s, words[spn_rng_below(&rng, G_N_ELEMENTS(words))]);
  char *path = g_build_filename(tmpdir, "corpus.txt", NULL);
  g_assert_true(g_file_set_contents(path, s->str, (gssize)s->len, NULL));
  g_string_free(s, TRUE);
  return path;
}


static void
fixture_up(Fixture *f, gconstpointer data)
{
  (void)data;
  f->ctx = g_main_context_new();
  f->errors = g_ptr_array_new_with_free_func(g_free);
  f->infos = g_ptr_array_new_with_free_func(g_free);
  f->messages = g_ptr_array_new_with_free_func(kept_message_free);
  f->w = spn_worker_new(f->ctx, on_snapshot, on_message, f);
}

static void
fixture_down(Fixture *f, gconstpointer data)
{
  (void)data;
  spn_worker_free(f->w);
  while (g_main_context_iteration(f->ctx, FALSE))
    ;
  spn_snapshot_unref(f->last);
  g_free(f->status.checkpoint);
  g_ptr_array_unref(f->errors);
  g_ptr_array_unref(f->infos);
  g_ptr_array_unref(f->messages);
  g_main_context_unref(f->ctx);
}

static void
new_model(Fixture *f)
{
  SpnConfig c;
  spn_test_tiny_config(&c);
  g_autofree char *corpus = write_corpus();
  spn_worker_new_model(f->w, &c, corpus, NULL);
  settle(f);
  g_assert_cmpuint(f->errors->len, ==, 0);
  g_assert_true(f->status.ready);
}

static void
test_steps_and_history(Fixture *f, gconstpointer data)
{
  (void)data;
  new_model(f);
  g_assert_cmpint(f->last->step, ==, 0);
  spn_worker_step(f->w);
  spn_worker_step(f->w);
  settle(f);
  g_assert_cmpint(f->last->step, ==, 2);
  g_assert_false(f->status.training);
  const SpnHistory *h = f->last->history;
  g_assert_cmpint(h->n, ==, 2);
  g_assert_cmpint(spn_history_step(h, 1), ==, 2);
  g_assert_true(isfinite(spn_history_train_bpc(h, 1)));
  /* the snapshot's spans are the history's last row */
  g_assert_cmpmem(f->last->spans, sizeof(float) * 4, spn_history_row_spans(h, 1),
                  sizeof(float) * 4);
  /* a later snapshot shares the rows of this one: the same memory, not a copy */
  g_autoptr(SpnSnapshot) first = spn_snapshot_ref(f->last);
  spn_worker_train_until(f->w, 12);
  /* train_until idles by itself once there: wait for it through snapshots */
  gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
  while ((f->last->step < 12 || f->status.training) && g_get_monotonic_time() < deadline)
    g_main_context_iteration(f->ctx, TRUE);
  settle(f);
  g_assert_cmpint(f->last->step, ==, 12);
  g_assert_false(f->status.training);
  h = f->last->history;
  g_assert_cmpint(h->n, ==, 12);
  g_assert_true(spn_history_row_spans(h, 1) == spn_history_row_spans(first->history, 1));
  /* and the earlier one still shows what it showed */
  g_assert_cmpint(first->history->n, ==, 2);
  g_assert_cmpint(spn_history_step(first->history, 1), ==, 2);
  spn_worker_evaluate(f->w, 300);
  settle(f);
  /* the measurement is a series of its own, at the latest step; no row was edited */
  h = f->last->history;
  g_assert_cmpint(h->n_valid, ==, 1);
  g_assert_cmpint(spn_history_valid_step(h, 0), ==, 12);
  g_assert_true(isfinite(spn_history_valid_bpc(h, 0)));
  g_assert_cmpint(spn_history_valid_at(h, 11), ==, -1);
}

static void
test_train_pause(Fixture *f, gconstpointer data)
{
  (void)data;
  new_model(f);
  spn_worker_set_publish_interval(f->w, 20);
  spn_worker_train(f->w);
  gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
  int before = f->snapshots;
  /* several snapshots arrive while it trains, without asking */
  while (f->snapshots < before + 3 && g_get_monotonic_time() < deadline)
    g_main_context_iteration(f->ctx, TRUE);
  g_assert_cmpint(f->snapshots, >=, before + 3);
  g_assert_true(f->status.training);
  spn_worker_pause(f->w);
  settle(f);
  g_assert_false(f->status.training);
  gint64 paused_at = f->last->step;
  g_assert_cmpint(paused_at, >, 0);
  g_usleep(100000);
  settle(f);
  g_assert_cmpint(f->last->step, ==, paused_at);
}

static void
test_reading_follows_text(Fixture *f, gconstpointer data)
{
  (void)data;
  new_model(f);
  spn_worker_set_text(f->w, "the spans grow");
  settle(f);
  g_assert_nonnull(f->last->probe);
  g_assert_cmpstr(f->last->text, ==, "the spans grow");
  g_assert_cmpint(f->last->probe->n, ==, 14);
  spn_worker_set_text(f->w, "the spans grow and");
  settle(f);
  g_assert_cmpint(f->last->probe->n, ==, 18);
  /* a step changes the weights: the reading is redone and still matches the text */
  float before = f->last->probe->surprisal[5];
  spn_worker_step(f->w);
  settle(f);
  g_assert_cmpstr(f->last->text, ==, "the spans grow and");
  g_assert_cmpint(f->last->step, ==, 1);
  g_assert_cmpfloat(f->last->probe->surprisal[5], !=, before);
}

/* While the text is being read the snapshots say so (the heatmap shows "Reading the text…"),
 * from the first one of a new model until the reading comes. */
static void
test_reading_announced(Fixture *f, gconstpointer data)
{
  (void)data;
  GString *text = g_string_new(NULL);
  while (text->len < 6000)
    g_string_append(text, "the spans grow and shrink, heads look back far and near. ");
  f->text_given = TRUE;
  spn_worker_set_text(f->w, text->str);
  new_model(f);
  settle(f);
  g_assert_nonnull(f->last->probe);
  g_assert_false(f->last->reading);
  spn_worker_step(f->w);   /* new weights: the last reading stays shown meanwhile */
  settle(f);
  g_assert_nonnull(f->last->probe);
  g_assert_cmpint(f->silent_without_probe, ==, 0);
  g_string_free(text, TRUE);
}

static void
test_save_open_csv(Fixture *f, gconstpointer data)
{
  (void)data;
  new_model(f);
  for (int i = 0; i < 3; i++)
    spn_worker_step(f->w);
  g_autofree char *ckpt = g_build_filename(tmpdir, "run.safetensors", NULL);
  spn_worker_save(f->w, ckpt);
  settle(f);
  g_assert_cmpuint(f->errors->len, ==, 0);
  g_assert_cmpstr(f->status.checkpoint, ==, ckpt);
  spn_worker_step(f->w);
  settle(f);
  g_assert_cmpint(f->last->step, ==, 4);
  /* reopening goes back to step 3 with its history and the corpus it names */
  spn_worker_open(f->w, ckpt, NULL);
  settle(f);
  g_assert_cmpuint(f->errors->len, ==, 0);
  g_assert_cmpint(f->last->step, ==, 3);
  g_assert_cmpint(f->last->history->n, ==, 3);
  g_autofree char *csv = g_build_filename(tmpdir, "metrics.csv", NULL);
  spn_worker_export_csv(f->w, csv);
  settle(f);
  g_autofree char *contents = NULL;
  g_assert_true(g_file_get_contents(csv, &contents, NULL, NULL));
  g_auto(GStrv) lines = g_strsplit(contents, "\n", -1);
  g_assert_true(g_str_has_prefix(lines[0], "step,train_bpc,val_bpc,tokens_per_s,span_avg"));
  g_assert_true(g_str_has_prefix(lines[3], "3,"));
  g_assert_cmpstr(lines[4], ==, "");
}

static void
test_errors_reach_the_window(Fixture *f, gconstpointer data)
{
  (void)data;
  spn_worker_step(f->w);
  settle(f);
  g_assert_cmpuint(f->errors->len, ==, 1);
  g_assert_nonnull(strstr(f->errors->pdata[0], "no model"));
  g_autofree char *missing = g_build_filename(tmpdir, "missing.safetensors", NULL);
  spn_worker_open(f->w, missing, NULL);
  settle(f);
  g_assert_cmpuint(f->errors->len, ==, 2);
  g_assert_nonnull(strstr(f->errors->pdata[1], "missing.safetensors"));
  SpnConfig c;
  spn_test_tiny_config(&c);
  c.nheads = 3; /* 16 is not divisible by 3 */
  spn_worker_new_model(f->w, &c, "bundled", NULL);
  settle(f);
  g_assert_cmpuint(f->errors->len, ==, 3);
  g_assert_false(f->status.ready);
}

static const SpnWorkerMessage *
message(Fixture *f, guint i)
{
  g_assert_cmpuint(i, <, f->messages->len);
  return f->messages->pdata[i];
}

/* Each message says what happened to which file, and a failure carries its cause's domain and
 * code: the window needs no text to tell a save from an autosave or a refusal from a crash. */
static void
test_typed_messages(Fixture *f, gconstpointer data)
{
  (void)data;
  spn_worker_save(f->w, "early.safetensors");
  settle(f);
  const SpnWorkerMessage *m = message(f, 0);
  g_assert_cmpint(m->kind, ==, SPN_WORKER_FAILED);
  g_assert_cmpint(m->task, ==, SPN_WORKER_TASK_SAVE);
  g_assert_cmpstr(m->path, ==, "early.safetensors");
  g_assert_error(m->error, SPN_WORKER_ERROR, SPN_WORKER_ERROR_NO_MODEL);
  g_ptr_array_set_size(f->errors, 0);
  new_model(f);
  spn_worker_step(f->w);
  g_autofree char *ckpt = g_build_filename(tmpdir, "typed.safetensors", NULL);
  spn_worker_save(f->w, ckpt);
  /* a folder where the file should go: renaming over it fails */
  g_autofree char *folder = g_build_filename(tmpdir, "typed-folder.safetensors", NULL);
  g_assert_cmpint(g_mkdir(folder, 0700), ==, 0);
  spn_worker_save(f->w, folder);
  spn_worker_open(f->w, ckpt, NULL);
  g_autofree char *csv = g_build_filename(tmpdir, "typed.csv", NULL);
  spn_worker_export_csv(f->w, csv);
  settle(f);
  g_assert_cmpint(g_rmdir(folder), ==, 0);
  g_assert_cmpuint(f->messages->len, ==, 6);
  m = message(f, 1);   /* the new model is there */
  g_assert_cmpint(m->kind, ==, SPN_WORKER_CREATED);
  g_assert_cmpint(m->task, ==, SPN_WORKER_TASK_NEW_MODEL);
  g_assert_null(m->error);
  m = message(f, 2);
  g_assert_cmpint(m->kind, ==, SPN_WORKER_SAVED);
  g_assert_cmpstr(m->path, ==, ckpt);
  g_assert_cmpint(m->step, ==, 1);
  m = message(f, 3);
  g_assert_cmpint(m->kind, ==, SPN_WORKER_FAILED);
  g_assert_cmpint(m->task, ==, SPN_WORKER_TASK_SAVE);
  g_assert_cmpstr(m->path, ==, folder);
  g_assert_nonnull(m->error);
  g_assert_cmpint(m->error->domain, !=, SPN_WORKER_ERROR);
  m = message(f, 4);
  g_assert_cmpint(m->kind, ==, SPN_WORKER_OPENED);
  g_assert_cmpstr(m->path, ==, ckpt);
  g_assert_cmpint(m->step, ==, 1);
  m = message(f, 5);
  g_assert_cmpint(m->kind, ==, SPN_WORKER_METRICS_WRITTEN);
  g_assert_cmpstr(m->path, ==, csv);
}

/* Freeing the worker drops what it had queued for the context, so a callback never runs for a
 * window that is gone; freeing it from its own callback is safe and stops the rest. */
static void
test_free_drops_pending(Fixture *f, gconstpointer data)
{
  (void)data;
  new_model(f);
  int snapshots = f->snapshots;
  guint messages = f->messages->len;
  spn_worker_step(f->w);
  spn_worker_export_csv(f->w, "/nonexistent-folder/metrics.csv");
  g_assert_true(spn_worker_sync(f->w, 60000));
  g_clear_pointer(&f->w, spn_worker_free);
  while (g_main_context_iteration(f->ctx, FALSE))
    ;
  g_assert_cmpint(f->snapshots, ==, snapshots);
  g_assert_cmpuint(f->messages->len, ==, messages);

  f->w = spn_worker_new(f->ctx, on_snapshot, on_message, f);
  spn_worker_step(f->w);   /* refused: no model */
  spn_worker_step(f->w);
  g_assert_true(spn_worker_sync(f->w, 60000));
  f->free_on_message = TRUE;
  while (g_main_context_iteration(f->ctx, FALSE))
    ;
  g_assert_null(f->w);
  g_assert_cmpuint(f->messages->len, ==, messages + 1);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp("spanscope-worker-XXXXXX", NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_up, fn, fixture_down)
  ADD("/worker/steps-and-history", test_steps_and_history);
  ADD("/worker/train-pause", test_train_pause);
  ADD("/worker/reading-follows-text", test_reading_follows_text);
  ADD("/worker/reading-announced", test_reading_announced);
  ADD("/worker/save-open-csv", test_save_open_csv);
  ADD("/worker/errors", test_errors_reach_the_window);
  ADD("/worker/typed-messages", test_typed_messages);
  ADD("/worker/free-drops-pending", test_free_drops_pending);
  int rc = g_test_run();
  spn_test_remove_dir(tmpdir);
  return rc;
}
