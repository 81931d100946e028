/* window-follow.c — runs that live elsewhere: opening a checkpoint of the reference's main.py
 * (.pt) and following a checkpoint another run keeps rewriting (File → Follow…, --follow).
 *
 * A `.pt` needs what its tensors do not hold: the run's --data folder (its vocabulary) and its
 * main.py flags; a small dialog asks for both, once per window (the answers are kept for the
 * next file). Following hands every complete new version to the worker, which replaces the
 * run's weights, optimizer and history in place; the status line says "following run.pt ·
 * updated 2 min ago". A version being written is waited for, never shown as an error. */
#include "window-private.h"

#include "follow.h"
#include "refrun.h"

#define TICK_SECONDS 15   /* how often "updated N min ago" is brought up to date */

/* ---- following ---- */

void
spn_window_unfollow(SpnWindow *win)
{
  g_clear_pointer(&win->follower, spn_follower_free);
  g_clear_handle_id(&win->follow_tick, g_source_remove);
  g_clear_pointer(&win->follow_path, g_free);
  g_clear_pointer(&win->follow_failure, g_free);
  win->follow_updated = 0;
  g_clear_pointer(&win->shown_file, g_free);
  spn_window_update_title(win);
}

static void
on_follow_event(SpnFollowEvent *e, gpointer data)
{
  SpnWindow *win = data;
  if (e->kind == SPN_FOLLOW_VERSION) {
    spn_worker_adopt(win->worker, g_steal_pointer(&e->checkpoint), win->follow_path);
    win->follow_updated = g_get_real_time();
    g_clear_pointer(&win->follow_failure, g_free);
  } else if (e->kind == SPN_FOLLOW_FAILED && g_strcmp0(win->follow_failure, e->error->message)) {
    /* complete but unusable: said once, the last good version stays */
    g_free(win->follow_failure);
    win->follow_failure = g_strdup(e->error->message);
    g_autofree char *text = g_strdup_printf("Cannot show the new version: %s",
                                            e->error->message);
    spn_window_report_error(win, text);
  }
  spn_window_update_title(win);
}

static gboolean
follow_tick(gpointer data)
{
  spn_window_update_title(data);
  return G_SOURCE_CONTINUE;
}

void
spn_window_follow(SpnWindow *win, const char *path, const char *data, const SpnRefFlags *flags)
{
  spn_window_unfollow(win);
  SpnRefFlags defaults;
  spn_ref_flags_init(&defaults);
  SpnFollowSource source = {flags ? flags : &defaults, NULL, data};
  g_autoptr(GError) error = NULL;
  win->follow_path = g_strdup(path);
  win->follower = spn_follower_new(path, &source, on_follow_event, win, &error);
  if (win->follower == NULL) {
    g_clear_pointer(&win->follow_path, g_free);
    spn_window_report_error(win, error->message);
    return;
  }
  g_clear_pointer(&win->user_file, g_free);
  win->shown_file = g_strdup(path);
  win->follow_tick = g_timeout_add_seconds(TICK_SECONDS, follow_tick, win);
  spn_window_update_title(win);
}

/* "following run.pt · updated 2 min ago", NULL when not following. */
char *
spn_window_follow_status(SpnWindow *win)
{
  if (win->follow_path == NULL)
    return NULL;
  g_autofree char *name = g_path_get_basename(win->follow_path);
  if (win->follow_updated == 0)
    return g_strdup_printf("following %s · waiting for a complete version", name);
  gint64 minutes = (g_get_real_time() - win->follow_updated) / G_USEC_PER_SEC / 60;
  if (minutes < 1)
    return g_strdup_printf("following %s · updated just now", name);
  if (minutes < 120)
    return g_strdup_printf("following %s · updated %" G_GINT64_FORMAT " min ago", name, minutes);
  return g_strdup_printf("following %s · updated %" G_GINT64_FORMAT " h ago", name, minutes / 60);
}

/* ---- the reference's flags and data folder ---- */

typedef enum { REF_OPEN, REF_FOLLOW } RefUse;

typedef struct {
  SpnWindow *win;
  char *path;
  RefUse use;
  GtkWidget *folder_button, *entry;
  char *folder;
} RefDialog;

static void
ref_dialog_free(gpointer p)
{
  RefDialog *d = p;
  g_object_unref(d->win);
  g_free(d->path);
  g_free(d->folder);
  g_free(d);
}

/* Opens or follows path with the reference's flags and data folder. */
void
spn_window_use_reference(SpnWindow *win, const char *path, gboolean follow, const char *data,
                         const char *command_line)
{
  SpnRefFlags flags;
  spn_ref_flags_init(&flags);
  g_autofree char *from_flags = NULL;
  g_autoptr(GError) error = NULL;
  if (!spn_ref_flags_parse(&flags, command_line, &from_flags, &error)) {
    g_autofree char *text = g_strdup_printf("The main.py flags are not valid: %s",
                                            error->message);
    spn_window_report_error(win, text);
    return;
  }
  const char *folder = data ? data : from_flags;
  if (folder == NULL) {
    spn_window_report_error(win, "Choose the run's data folder (main.py's --data): its "
                                 "vocabulary is not in the checkpoint");
    return;
  }
  g_free(win->ref_data);
  win->ref_data = g_strdup(folder);
  g_free(win->ref_flags);
  win->ref_flags = g_strdup(command_line);
  if (follow)
    spn_window_follow(win, path, folder, &flags);
  else {
    spn_window_unfollow(win);
    g_clear_pointer(&win->user_file, g_free);
    win->shown_file = g_strdup(path);
    spn_worker_import(win->worker, path, folder, &flags);
  }
}

static void
on_ref_response(AdwMessageDialog *dialog, const char *response, RefDialog *d)
{
  (void)dialog;
  if (g_strcmp0(response, "go") == 0)
    spn_window_use_reference(d->win, d->path, d->use == REF_FOLLOW, d->folder,
                             gtk_editable_get_text(GTK_EDITABLE(d->entry)));
}

static void
on_folder_chosen(GtkNativeDialog *native, int response, gpointer data)
{
  RefDialog *d = data;
  if (response == GTK_RESPONSE_ACCEPT) {
    g_autoptr(GFile) file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(native));
    g_free(d->folder);
    d->folder = file ? g_file_get_path(file) : NULL;
    g_autofree char *name = d->folder ? g_path_get_basename(d->folder) : g_strdup("Choose…");
    gtk_button_set_label(GTK_BUTTON(d->folder_button), name);
  }
  g_object_unref(native);
}

static void
on_choose_folder(GtkButton *button, RefDialog *d)
{
  GtkRoot *root = gtk_widget_get_root(GTK_WIDGET(button));
  GtkFileChooserNative *native = gtk_file_chooser_native_new(
      "The Run's Data Folder", GTK_WINDOW(root), GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
      "_Choose", "_Cancel");
  gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(native), TRUE);
  g_signal_connect(native, "response", G_CALLBACK(on_folder_chosen), d);
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(native));
}

static GtkWidget *
labelled(const char *text, GtkWidget *child)
{
  GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 4);
  GtkWidget *label = gtk_label_new_with_mnemonic(text);
  gtk_label_set_xalign(GTK_LABEL(label), 0);
  gtk_label_set_mnemonic_widget(GTK_LABEL(label), child);
  gtk_box_append(GTK_BOX(box), label);
  gtk_box_append(GTK_BOX(box), child);
  return box;
}

/* Asks for the data folder and flags of the main.py run that wrote path. */
static void
ask_reference(SpnWindow *win, const char *path, RefUse use)
{
  g_autofree char *name = g_path_get_basename(path);
  g_autofree char *body = g_strdup_printf(
      "%s was written by the reference's main.py. Its tensors give the model's shape; its "
      "vocabulary comes from the run's data folder, and the settings they do not hold (ramp, "
      "span loss, block, batch, warm-up, …) from main.py's flags.", name);
  GtkWidget *dialog = adw_message_dialog_new(
      GTK_WINDOW(win), use == REF_FOLLOW ? "Follow a Reference Run" : "Open a Reference Run",
      body);
  RefDialog *d = g_new0(RefDialog, 1);
  *d = (RefDialog){g_object_ref(win), g_strdup(path), use, NULL, NULL, g_strdup(win->ref_data)};
  g_autofree char *folder_name = d->folder ? g_path_get_basename(d->folder) : g_strdup("Choose…");
  d->folder_button = gtk_button_new_with_label(folder_name);
  g_signal_connect(d->folder_button, "clicked", G_CALLBACK(on_choose_folder), d);
  d->entry = gtk_entry_new();
  gtk_entry_set_placeholder_text(GTK_ENTRY(d->entry),
                                 "--adapt-span --adapt-span-ramp 32 --block-sz 512 …");
  if (win->ref_flags)
    gtk_editable_set_text(GTK_EDITABLE(d->entry), win->ref_flags);
  gtk_entry_set_activates_default(GTK_ENTRY(d->entry), TRUE);
  GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 12);
  gtk_box_append(GTK_BOX(box), labelled("_Data folder (main.py's --data)", d->folder_button));
  gtk_box_append(GTK_BOX(box),
                 labelled("main.py's _flags (or its whole command line)", d->entry));
  adw_message_dialog_set_extra_child(ADW_MESSAGE_DIALOG(dialog), box);
  adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(dialog), "cancel", "_Cancel", "go",
                                   use == REF_FOLLOW ? "_Follow" : "_Open", NULL);
  adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(dialog), "go",
                                             ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response(ADW_MESSAGE_DIALOG(dialog), "go");
  adw_message_dialog_set_close_response(ADW_MESSAGE_DIALOG(dialog), "cancel");
  g_signal_connect_data(dialog, "response", G_CALLBACK(on_ref_response), d,
                        (GClosureNotify)(void (*)(void))ref_dialog_free, 0);
  gtk_window_present(GTK_WINDOW(dialog));
}

void
spn_window_start_run(SpnWindow *win, const char *path, gboolean follow, const char *data,
                     const char *ref_flags)
{
  if (spn_ref_is_torch_file(path) || g_str_has_suffix(path, ".pt"))
    spn_window_use_reference(win, path, follow, data, ref_flags);
  else if (follow)
    spn_window_follow(win, path, NULL, NULL);
  else {
    spn_window_unfollow(win);
    spn_window_open(win, path);
  }
}

/* Open: a `.pt` asks for its data folder and flags first. */
void
spn_window_open_any(SpnWindow *win, const char *path)
{
  if (spn_ref_is_torch_file(path))
    ask_reference(win, path, REF_OPEN);
  else {
    spn_window_unfollow(win);
    spn_window_open(win, path);
  }
}

/* Follow: the same, then every new version. */
void
spn_window_follow_any(SpnWindow *win, const char *path)
{
  if (g_file_test(path, G_FILE_TEST_EXISTS) && spn_ref_is_torch_file(path))
    ask_reference(win, path, REF_FOLLOW);
  else if (g_str_has_suffix(path, ".pt"))
    ask_reference(win, path, REF_FOLLOW);
  else
    spn_window_follow(win, path, NULL, NULL);
}
