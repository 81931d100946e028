/* session.c — the window's run across starts: the first model (or the offer to resume the
 * autosave), the autosave every few minutes, and the save at close.
 *
 * Closing autosaves first and keeps the window until the worker reports the file written (the
 * window then goes) or failed (it stays, says so, and a second close quits without the save).
 * Nothing waits: the main loop runs on meanwhile. */
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

static void
write_autosave(SpnWindow *win)
{
  g_autofree char *dir = g_path_get_dirname(win->autosave_path);
  g_mkdir_with_parents(dir, 0700);
  spn_worker_save(win->worker, win->autosave_path);
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
  if (g_strcmp0(response, "resume") == 0)
    spn_window_open(win, win->autosave_path);
  else
    spn_window_new_model(win, win->preset, win->corpus);
}

static void
offer_autosave(SpnWindow *win)
{
  g_autofree char *body = g_strdup_printf(
      "spanscope saved the model, its optimizer and its history when it last closed. Resume "
      "training it, or start a fresh %s model (the autosave is replaced at the next save).",
      win->preset);
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
  if (win->checkpoint_arg)
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
