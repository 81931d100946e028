/* session.c — the window's run across starts: the first model (or the offer to resume the
 * autosave), the autosave every few minutes, and the save at close.
 *
 * Closing autosaves first and keeps the window until the worker reports the file written (the
 * window then goes) or failed (it stays, says so, and a second close quits without the save).
 * Nothing waits: the main loop runs on meanwhile. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "safetensors.h"
#include "window-private.h"

#define AUTOSAVE_SECONDS (5 * 60)

char *
spn_window_autosave_path(void)
{
  return g_build_filename(g_get_user_state_dir(), "spanscope", "autosave.safetensors", NULL);
}

gboolean
spn_session_is_autosave(SpnWindow *win, const char *path)
{
  return path && g_strcmp0(path, win->autosave_path) == 0;
}

/* Beside the autosave: the user's file of the run it holds, so a resumed run saves there again. */
static char *
autosave_note_path(SpnWindow *win)
{
  return g_strconcat(win->autosave_path, ".file", NULL);
}

static void
write_autosave(SpnWindow *win)
{
  g_autofree char *dir = g_path_get_dirname(win->autosave_path);
  g_autofree char *note = autosave_note_path(win);
  g_mkdir_with_parents(dir, 0700);
  spn_worker_save(win->worker, win->autosave_path);
  if (win->user_file)
    g_file_set_contents(note, win->user_file, -1, NULL);
  else
    g_unlink(note);
}

/* The user's file of the autosaved run, if it names one that still exists. */
static char *
autosaved_user_file(SpnWindow *win)
{
  g_autofree char *note = autosave_note_path(win);
  char *file = NULL;
  if (g_file_get_contents(note, &file, NULL, NULL) && g_file_test(file, G_FILE_TEST_IS_REGULAR))
    return file;
  g_free(file);
  return NULL;
}

/* "step 1,234 of a 4-layer, 4-head model on kjv, saved Sunday 14:05", from the checkpoint's
 * metadata and the file's time; NULL if the file cannot be read. */
static char *
describe_autosave(const char *path)
{
  SpnSafetensors *st = spn_safetensors_read(path, NULL);
  if (st == NULL)
    return NULL;
  g_autofree char *config = g_strdup(spn_safetensors_metadata(st, "config"));
  g_autofree char *step = g_strdup(spn_safetensors_metadata(st, "step"));
  g_autofree char *trainer = g_strdup(spn_safetensors_metadata(st, "trainer"));
  spn_safetensors_free(st);
  SpnConfig cfg;
  spn_config_init_desktop(&cfg);
  if (config == NULL || !spn_config_from_json(&cfg, config, NULL))
    return NULL;
  g_autoptr(JsonParser) p = json_parser_new();
  const char *corpus = NULL;
  if (trainer && json_parser_load_from_data(p, trainer, -1, NULL) &&
      JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
    corpus = json_object_get_string_member_with_default(
        json_node_get_object(json_parser_get_root(p)), "corpus", NULL);
  g_autofree char *where = corpus == NULL ? g_strdup("")
                           : g_strcmp0(corpus, "bundled") == 0
                               ? g_strdup(" on the King James Bible")
                               : g_strdup_printf(" on %s", corpus);
  g_autoptr(GFile) file = g_file_new_for_path(path);
  g_autoptr(GFileInfo) info =
      g_file_query_info(file, G_FILE_ATTRIBUTE_TIME_MODIFIED, G_FILE_QUERY_INFO_NONE, NULL, NULL);
  g_autoptr(GDateTime) when = info ? g_file_info_get_modification_date_time(info) : NULL;
  g_autoptr(GDateTime) local = when ? g_date_time_to_local(when) : NULL;
  g_autofree char *at = local ? g_date_time_format(local, ", saved %A %d %B at %H:%M") : NULL;
  gint64 steps = step ? g_ascii_strtoll(step, NULL, 10) : 0;
  return g_strdup_printf("step %'" G_GINT64_FORMAT " of a %d-layer, %d-head model (width %d, "
                         "S = %d)%s%s",
                         steps, cfg.nlayers, cfg.nheads, cfg.hid_sz, cfg.attn_span, where,
                         at ? at : "");
}

static gboolean
autosave_tick(gpointer data)
{
  SpnWindow *win = data;
  if (win->ready)
    write_autosave(win);
  return G_SOURCE_CONTINUE;
}

/* ---- start ---- */

static void
on_resume_response(AdwMessageDialog *dialog, const char *response, SpnWindow *win)
{
  (void)dialog;
  if (g_strcmp0(response, "resume") == 0) {
    spn_window_open(win, win->autosave_path);
    g_free(win->user_file);
    win->user_file = autosaved_user_file(win);   /* Save writes where the run was saved */
  } else
    spn_window_new_model(win, win->preset, win->corpus);
}

static void
offer_autosave(SpnWindow *win)
{
  g_autofree char *run = describe_autosave(win->autosave_path);
  g_autofree char *file = autosaved_user_file(win);
  g_autofree char *name = file ? g_path_get_basename(file) : NULL;
  g_autofree char *saved_as = name ? g_strdup_printf(" (last saved by you as %s)", name)
                                   : g_strdup("");
  g_autofree char *body = g_strdup_printf(
      "spanscope saved the model, its optimizer and its history when it last closed: %s%s. "
      "Resume training it, or start a fresh %s model (the autosave is replaced at the next "
      "save).",
      run ? run : "the file cannot be read", saved_as, win->preset);
  GtkWidget *d = adw_message_dialog_new(GTK_WINDOW(win), "Resume the autosaved session?", body);
  adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(d), "fresh", "Start _Fresh", "resume",
                                   "_Resume", NULL);
  adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(d), "resume",
                                             ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response(ADW_MESSAGE_DIALOG(d), "resume");
  adw_message_dialog_set_close_response(ADW_MESSAGE_DIALOG(d), "fresh");
  g_signal_connect_object(d, "response", G_CALLBACK(on_resume_response), win, 0);
  gtk_window_present(GTK_WINDOW(d));
}

void
spn_session_start(SpnWindow *win)
{
  win->autosave_path = spn_window_autosave_path();
  if (win->autosave)
    win->autosave_source = g_timeout_add_seconds(AUTOSAVE_SECONDS, autosave_tick, win);
  if (win->follow_arg || (win->checkpoint_arg && spn_ref_is_torch_file(win->checkpoint_arg))) {
    /* a reference .pt names its data folder with --corpus or in its flags (--data) */
    const char *path = win->follow_arg ? win->follow_arg : win->checkpoint_arg;
    const char *data = win->corpus_given ? win->corpus : NULL;
    spn_window_start_run(win, path, win->follow_arg != NULL, data, win->ref_flags);
  } else if (win->checkpoint_arg)
    spn_window_open(win, win->checkpoint_arg);
  else if (win->autosave && g_file_test(win->autosave_path, G_FILE_TEST_IS_REGULAR))
    offer_autosave(win);
  else
    spn_window_new_model(win, win->preset, win->corpus);
}

void
spn_session_stop(SpnWindow *win)
{
  g_clear_handle_id(&win->autosave_source, g_source_remove);
}

/* ---- close ---- */

/* The closing autosave failed: the window stays, saying so; closing now would lose the
 * session without a word. */
static void
close_failed(SpnWindow *win, const char *error)
{
  win->closing = FALSE;
  g_free(win->close_error);
  win->close_error = g_strdup(error);
  g_autofree char *text = g_strdup_printf("%s. Save the run elsewhere (Ctrl+Shift+S), or close "
                                          "again to quit without it.", error);
  spn_window_report_error(win, text);
}

gboolean
spn_session_take_message(SpnWindow *win, const SpnWorkerMessage *m)
{
  if (m->kind == SPN_WORKER_SAVED)
    g_clear_pointer(&win->close_error, g_free); /* saved after all: closing autosaves again */
  if (!spn_session_is_autosave(win, m->path))
    return FALSE;
  if (m->kind == SPN_WORKER_FAILED && m->task == SPN_WORKER_TASK_SAVE && win->closing) {
    close_failed(win, m->text);
    return TRUE;
  }
  if (m->kind == SPN_WORKER_SAVED && win->closing) {
    gtk_window_destroy(GTK_WINDOW(win));
    return TRUE;
  }
  /* the autosave comes and goes silently; its failures are reported like any other */
  return m->kind != SPN_WORKER_FAILED;
}

gboolean
spn_session_close_request(SpnWindow *win)
{
  if (win->closing)
    return TRUE;
  if (!win->autosave || !win->ready || win->close_error)
    return FALSE;
  spn_worker_pause(win->worker);
  win->closing = TRUE;
  write_autosave(win);
  return TRUE;
}
