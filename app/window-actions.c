/* window-actions.c — the "win" actions (window.h lists them): training, models and files,
 * export, what the views show. Menus, shortcuts, the headless modes and the tests all go
 * through them. */
#include "compare_window.h"
#include "demo.h"
#include "export_dialog.h"
#include "inspector.h"
#include "panel.h"
#include "setup_dialog.h"
#include "window-private.h"

/* ---- models and files ---- */

void
spn_window_new_model(SpnWindow *win, const char *preset_name, const char *corpus)
{
  SpnPreset preset = SPN_PRESET_DESKTOP;
  spn_preset_from_name(preset_name, &preset);
  SpnConfig cfg;
  spn_preset_init(preset, &cfg);
  SpnCorpusOptions opts = {0};
  g_clear_pointer(&win->user_file, g_free);
  win->saved_step = 0;
  spn_window_forget_query(win);
  spn_window_unfollow(win);
  spn_worker_new_model(win->worker, &cfg, corpus ? corpus : SPN_BUNDLED_SOURCE, &opts);
}

void
spn_window_open(SpnWindow *win, const char *path)
{
  spn_window_forget_query(win);
  spn_window_unfollow(win);
  spn_worker_open(win->worker, path, NULL);
}

static void
save_checkpoint(SpnWindow *win, const char *path)
{
  g_free(win->user_file);
  win->user_file = g_strdup(path);
  spn_worker_save(win->worker, path);
  spn_recent_add(path);
  spn_window_update_title(win);
}

static GtkFileFilter *
checkpoint_filter(gboolean reference)
{
  GtkFileFilter *f = gtk_file_filter_new();
  gtk_file_filter_set_name(f, reference ? "Checkpoints (*.safetensors, the reference's *.pt)"
                                        : "spanscope checkpoints (*.safetensors)");
  gtk_file_filter_add_pattern(f, "*.safetensors");
  if (reference)
    gtk_file_filter_add_pattern(f, "*.pt");
  return f;
}

static char *
chosen_path(GtkNativeDialog *native, int response)
{
  if (response != GTK_RESPONSE_ACCEPT)
    return NULL;
  g_autoptr(GFile) file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(native));
  return file ? g_file_get_path(file) : NULL;
}

/* What a file chooser does with the path chosen. */
typedef void (*UsePath)(SpnWindow *win, const char *path);

typedef struct {
  SpnWindow *win;   /* a reference while the chooser is open */
  UsePath use;
} Chooser;

static void
on_chosen(GtkNativeDialog *native, int response, gpointer data)
{
  Chooser *c = data;
  g_autofree char *path = chosen_path(native, response);
  g_object_unref(native);
  if (path)
    c->use(c->win, path);
  g_object_unref(c->win);
  g_free(c);
}

/* A file chooser modal over the window, offering only checkpoints if asked, with a file name
 * to save under (NULL to open); `use` gets the path if the user accepts. */
static void
choose_file(SpnWindow *win, const char *title, const char *accept, gboolean checkpoints,
            const char *save_name, UsePath use)
{
  GtkFileChooserAction mode = save_name ? GTK_FILE_CHOOSER_ACTION_SAVE
                                        : GTK_FILE_CHOOSER_ACTION_OPEN;
  GtkFileChooserNative *native =
      gtk_file_chooser_native_new(title, GTK_WINDOW(win), mode, accept, "_Cancel");
  GtkFileChooser *chooser = GTK_FILE_CHOOSER(native);
  gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(native), TRUE);
  if (checkpoints) {
    /* what can be opened includes the reference's .pt; what is saved is always ours */
    g_autoptr(GtkFileFilter) filter = checkpoint_filter(save_name == NULL);
    gtk_file_chooser_add_filter(chooser, filter);
  }
  if (save_name)
    gtk_file_chooser_set_current_name(chooser, save_name);
  Chooser *c = g_new(Chooser, 1);
  *c = (Chooser){g_object_ref(win), use};
  g_signal_connect(native, "response", G_CALLBACK(on_chosen), c);
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(native));
}

static void
save_with_extension(SpnWindow *win, const char *path)
{
  g_autofree char *full = g_str_has_suffix(path, ".safetensors")
                              ? g_strdup(path)
                              : g_strconcat(path, ".safetensors", NULL);
  save_checkpoint(win, full);
}

static void
export_csv(SpnWindow *win, const char *path)
{
  spn_worker_export_csv(win->worker, path);
}

/* ---- export ---- */

static const SpnFigureOptions *
options_of(SpnWindow *win, SpnFigureKind kind)
{
  return spn_figure_view_get_options(spn_window_view(win, kind));
}

/* Each figure as its panel shows it (its axes, colour map, zoom, smoothing), on the window's
 * layer, head and query, in the light palette that suits paper and slides. */
static void
export_options(SpnWindow *win, const SpnFigureKind *kinds, int n, SpnFigureOptions *o)
{
  for (int i = 0; i < n; i++) {
    o[i] = *options_of(win, kinds[i]);
    o[i].layer = win->layer;
    o[i].query = win->query;
    o[i].dark = FALSE;
  }
}

static gboolean
export_figure(SpnWindow *win, const char *path, const SpnFigureKind *kinds, int n, double width,
              double height, double scale)
{
  g_autoptr(GError) error = NULL;
  if (win->snapshot == NULL) {
    spn_window_report_error(win, "Nothing to export yet: wait until the model has been created");
    return FALSE;
  }
  SpnFigureOptions o[SPN_FIGURE_COUNT];
  export_options(win, kinds, n, o);
  if (!spn_figure_export(path, kinds, n, width, height, scale, win->snapshot, o, &error)) {
    g_autofree char *text = g_strdup_printf("Cannot export the figure: %s", error->message);
    spn_window_report_error(win, text);
    return FALSE;
  }
  g_autofree char *text = g_strdup_printf("Figure written to %s", path);
  spn_window_toast(win, text);
  return TRUE;
}

static void
on_export_dialog_export(SpnExportDialog *d, const char *path, SpnWindow *win)
{
  SpnFigureKind kinds[SPN_FIGURE_COUNT];
  int n = spn_export_dialog_get_kinds(d, kinds);
  double w, h, scale;
  spn_export_dialog_get_size(d, &w, &h, &scale);
  if (n > 0)
    export_figure(win, path, kinds, n, w, h, scale);
}

/* The maximized panel, else the panel holding the keyboard focus, else none (all are offered). */
static void
export_selection(SpnWindow *win, gboolean selected[SPN_FIGURE_COUNT])
{
  for (int k = 0; k < SPN_FIGURE_COUNT; k++)
    selected[k] = FALSE;
  if (win->maximized >= 0) {
    selected[win->maximized] = TRUE;
    return;
  }
  GtkWidget *focus = gtk_root_get_focus(GTK_ROOT(win));
  GtkWidget *panel = focus ? gtk_widget_get_ancestor(focus, SPN_TYPE_PANEL) : NULL;
  for (int k = 0; k < SPN_FIGURE_COUNT; k++)
    selected[k] = panel == win->panels[k];
}

void
spn_window_show_export_dialog(SpnWindow *win, const gboolean selected[SPN_FIGURE_COUNT])
{
  SpnExportDialog *d = spn_export_dialog_new(GTK_WINDOW(win), selected);
  g_signal_connect_object(d, "export", G_CALLBACK(on_export_dialog_export), win, 0);
  gtk_window_present(GTK_WINDOW(d));
}

/* ---- actions ---- */

static void
on_train_change(GSimpleAction *a, GVariant *value, gpointer data)
{
  SpnWindow *win = data;
  (void)a;
  if (g_variant_get_boolean(value))
    spn_worker_train(win->worker);
  else
    spn_worker_pause(win->worker);
  /* shown at once; the worker's next status confirms it */
  spn_window_show_training(win, g_variant_get_boolean(value));
}

static void
on_step(GSimpleAction *a, GVariant *p, gpointer data)
{
  (void)a, (void)p;
  spn_worker_step(((SpnWindow *)data)->worker);
  spn_window_show_stepping(data);
}

static void
on_train_until(GSimpleAction *a, GVariant *p, gpointer data)
{
  SpnWindow *win = data;
  (void)a;
  spn_worker_train_until(win->worker, g_variant_get_int64(p));
}

gboolean
spn_window_has_unsaved_steps(SpnWindow *win)
{
  return win->ready && win->step > win->saved_step;
}

static void
set_weak(SpnSetupDialog **slot, SpnSetupDialog *d)
{
  if (*slot)
    g_object_remove_weak_pointer(G_OBJECT(*slot), (gpointer *)slot);
  *slot = d;
  if (d)
    g_object_add_weak_pointer(G_OBJECT(d), (gpointer *)slot);
}

/* The model of the New model dialog replaces the run once the engine has made it (the worker
 * saves first whatever save was queued before). The dialog stays, waiting, until the worker
 * says the model is there (it closes) or why it is not (it shows why, fields kept). */
static void
create_from_dialog(SpnWindow *win, SpnSetupDialog *d)
{
  SpnConfig cfg;
  SpnCorpusOptions opts;
  if (!spn_setup_dialog_get_config(d, &cfg, NULL))
    return;
  spn_setup_dialog_get_corpus_options(d, &opts);
  set_weak(&win->creating, d);
  spn_setup_dialog_set_busy(d, TRUE);
  spn_worker_new_model(win->worker, &cfg, spn_setup_dialog_get_corpus(d), &opts);
}

static gboolean
close_later(gpointer window)
{
  gtk_window_close(window);
  return G_SOURCE_REMOVE;
}

gboolean
spn_window_model_created(SpnWindow *win, const GError *error)
{
  SpnSetupDialog *d = win->creating;
  if (error == NULL) {
    g_clear_pointer(&win->user_file, g_free);
    win->saved_step = 0;
    spn_window_forget_query(win);
    spn_window_unfollow(win);
  }
  if (d == NULL)
    return FALSE;
  set_weak(&win->creating, NULL);
  if (error) {
    spn_setup_dialog_show_error(d, error);
    gtk_window_present(GTK_WINDOW(d));
    return TRUE;
  }
  /* after the question asked over it has gone */
  g_idle_add_full(G_PRIORITY_DEFAULT, close_later, g_object_ref(d), g_object_unref);
  return TRUE;
}

static void
save_then_create(SpnWindow *win, const char *path)
{
  save_with_extension(win, path);
  if (win->replacing)
    create_from_dialog(win, win->replacing);
}

static void
on_replace_response(AdwMessageDialog *ask, const char *response, SpnWindow *win)
{
  (void)ask;
  if (win->replacing == NULL || g_strcmp0(response, "cancel") == 0)
    return;
  if (g_strcmp0(response, "discard") == 0)
    create_from_dialog(win, win->replacing);
  else if (win->user_file)
    save_then_create(win, win->user_file);
  else
    choose_file(win, "Save the Current Run", "_Save", TRUE, "spanscope-run.safetensors",
                save_then_create);   /* cancelled: the New model dialog stays open */
}

/* A run with unsaved steps is not replaced without asking: Save, Discard or Cancel (which
 * keeps the New model dialog open). Until the user has chosen, the old run (and its autosave)
 * stays as it is. */
static void
on_setup_create(SpnSetupDialog *d, SpnWindow *win)
{
  if (!spn_window_has_unsaved_steps(win)) {
    create_from_dialog(win, d);
    return;
  }
  set_weak(&win->replacing, d);
  g_autofree char *where = win->user_file ? g_path_get_basename(win->user_file) : NULL;
  g_autofree char *body = g_strdup_printf(
      "The current run has %'" G_GINT64_FORMAT " steps that are not saved%s%s. The new model "
      "replaces it, and the autosave with it.",
      win->step - win->saved_step, where ? " in " : " in any file", where ? where : "");
  GtkWidget *ask = adw_message_dialog_new(GTK_WINDOW(d), "Save the current run first?", body);
  AdwMessageDialog *m = ADW_MESSAGE_DIALOG(ask);
  adw_message_dialog_add_responses(m, "cancel", "_Cancel", "discard", "_Discard", "save",
                                   win->user_file ? "_Save" : "_Save…", NULL);
  adw_message_dialog_set_response_appearance(m, "discard", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_response_appearance(m, "save", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response(m, "save");
  adw_message_dialog_set_close_response(m, "cancel");
  g_signal_connect_object(ask, "response", G_CALLBACK(on_replace_response), win, 0);
  gtk_window_present(GTK_WINDOW(ask));
}

static SpnSetupDialog *
show_setup_dialog(SpnWindow *win)
{
  SpnSetupDialog *d = spn_setup_dialog_new(GTK_WINDOW(win));
  if (win->snapshot && win->snapshot->corpus)
    spn_setup_dialog_set_corpus(d, win->snapshot->corpus, FALSE);
  spn_setup_dialog_set_machine(d, spn_window_training_rate(win),
                               win->snapshot ? win->snapshot->corpus : NULL,
                               win->snapshot ? win->snapshot->cfg.vocab_size : 0);
  g_signal_connect_object(d, "create", G_CALLBACK(on_setup_create), win, 0);
  gtk_window_present(GTK_WINDOW(d));
  return d;
}

static void
on_new_model(GSimpleAction *a, GVariant *p, gpointer data)
{
  (void)a, (void)p;
  show_setup_dialog(data);
}

char *
spn_window_offer_new_model(SpnWindow *win, const char *preset_name, const char *corpus)
{
  SpnSetupDialog *d = show_setup_dialog(win);
  SpnPreset preset = SPN_PRESET_DESKTOP;
  if (preset_name && spn_preset_from_name(preset_name, &preset))
    spn_setup_dialog_set_preset(d, preset);   /* with the corpus it is made for, if any */
  if (corpus)
    spn_setup_dialog_set_corpus(d, corpus, FALSE);
  const char *chosen = spn_setup_dialog_get_corpus(d);
  const SpnDemoCorpus *generated = spn_demo_corpus(chosen);
  return g_strdup_printf("the %s preset on %s", spn_preset_title(preset),
                         g_strcmp0(chosen, SPN_BUNDLED_SOURCE) == 0 ? "the King James Bible"
                         : generated                               ? generated->title
                                                                   : chosen);
}

static void
on_open(GSimpleAction *a, GVariant *p, gpointer data)
{
  (void)a, (void)p;
  choose_file(data, "Open Checkpoint", "_Open", TRUE, NULL, spn_window_open_any);
}

static void
on_open_file(GSimpleAction *a, GVariant *p, gpointer data)
{
  (void)a;
  spn_window_open_any(data, g_variant_get_string(p, NULL));
}

static void
on_follow(GSimpleAction *a, GVariant *p, gpointer data)
{
  (void)a, (void)p;
  choose_file(data, "Follow a Checkpoint Another Run Rewrites", "_Follow", TRUE, NULL,
              spn_window_follow_any);
}

static void
on_follow_file(GSimpleAction *a, GVariant *p, gpointer data)
{
  (void)a;
  spn_window_follow_any(data, g_variant_get_string(p, NULL));
}

static void
on_unfollow(GSimpleAction *a, GVariant *p, gpointer data)
{
  (void)a, (void)p;
  spn_window_unfollow(data);
}

static void
on_save_as(GSimpleAction *a, GVariant *p, gpointer data)
{
  SpnWindow *win = data;
  (void)a, (void)p;
  g_autofree char *name = win->user_file ? g_path_get_basename(win->user_file)
                                         : g_strdup_printf("spanscope-step%" G_GINT64_FORMAT
                                                           ".safetensors", win->step);
  choose_file(win, "Save Checkpoint", "_Save", TRUE, name, save_with_extension);
}

static void
on_save(GSimpleAction *a, GVariant *p, gpointer data)
{
  SpnWindow *win = data;
  if (win->user_file)
    save_checkpoint(win, win->user_file);
  else
    on_save_as(a, p, data);
}

static void
on_save_to(GSimpleAction *a, GVariant *p, gpointer data)
{
  (void)a;
  save_checkpoint(data, g_variant_get_string(p, NULL));
}

static void
on_export(GSimpleAction *a, GVariant *p, gpointer data)
{
  SpnWindow *win = data;
  (void)a, (void)p;
  gboolean selected[SPN_FIGURE_COUNT];
  export_selection(win, selected);
  spn_window_show_export_dialog(win, selected);
}

static void
on_export_to(GSimpleAction *a, GVariant *p, gpointer data)
{
  SpnWindow *win = data;
  (void)a;
  const char *path;
  g_autoptr(GVariantIter) names = NULL;
  double w, h, scale;
  g_variant_get(p, "(&sasddd)", &path, &names, &w, &h, &scale);
  SpnFigureKind kinds[SPN_FIGURE_COUNT];
  int n = 0;
  const char *name;
  while (n < SPN_FIGURE_COUNT && g_variant_iter_next(names, "&s", &name))
    if (!spn_figure_from_name(name, &kinds[n++])) {
      g_autofree char *text = g_strdup_printf("Cannot export: no figure is called “%s”", name);
      spn_window_report_error(win, text);
      return;
    }
  if (n > 0)
    export_figure(win, path, kinds, n, w, h, scale);
}

static void
on_export_csv(GSimpleAction *a, GVariant *p, gpointer data)
{
  (void)a, (void)p;
  choose_file(data, "Export Metrics", "_Export", FALSE, "spanscope-metrics.csv", export_csv);
}

static void
on_export_csv_to(GSimpleAction *a, GVariant *p, gpointer data)
{
  (void)a;
  export_csv(data, g_variant_get_string(p, NULL));
}

/* The comparison window with this run added as it is now (a snapshot: training goes on here). */
static void
on_compare(GSimpleAction *a, GVariant *p, gpointer data)
{
  (void)a, (void)p;
  SpnWindow *win = data;
  SpnCompareWindow *cmp =
      spn_compare_window_get(gtk_window_get_application(GTK_WINDOW(win)));
  if (win->snapshot) {
    g_autofree char *base =
        win->user_file ? g_path_get_basename(win->user_file) : g_strdup("this run");
    g_autofree char *label = g_strdup_printf("%s (step %" G_GINT64_FORMAT ")", base,
                                             win->snapshot->step);
    spn_compare_window_add_snapshot(cmp, win->snapshot, label);
  }
  gtk_window_present(GTK_WINDOW(cmp));
}

static void
on_probe_text(GSimpleAction *a, GVariant *p, gpointer data)
{
  (void)a;
  spn_window_set_probe_text(data, g_variant_get_string(p, NULL));
}

static void
on_maximize(GSimpleAction *a, GVariant *p, gpointer data)
{
  SpnWindow *win = data;
  (void)a;
  SpnFigureKind kind;
  const char *name = g_variant_get_string(p, NULL);
  spn_window_set_maximized(win, spn_figure_from_name(name, &kind) ? (int)kind : -1);
}

static void
on_restore(GSimpleAction *a, GVariant *p, gpointer data)
{
  (void)a, (void)p;
  spn_window_set_maximized(data, -1);
}

static void
on_layer_change(GSimpleAction *a, GVariant *value, gpointer data)
{
  if (spn_window_select_layer(data, g_variant_get_int32(value)))
    g_simple_action_set_state(a, value);
}

static void
on_head_change(GSimpleAction *a, GVariant *value, gpointer data)
{
  if (spn_window_select_head(data, g_variant_get_int32(value)))
    g_simple_action_set_state(a, value);
}

static void
on_query_change(GSimpleAction *a, GVariant *value, gpointer data)
{
  (void)a;
  spn_window_select_query(data, g_variant_get_int32(value));   /* which sets the state */
}

/* The tabs holding the figure turn to it; an unknown name is reported like any refusal. */
static void
on_show(GSimpleAction *a, GVariant *p, gpointer data)
{
  SpnWindow *win = data;
  (void)a;
  SpnFigureKind kind;
  const char *name = g_variant_get_string(p, NULL);
  if (spn_figure_from_name(name, &kind)) {
    spn_window_show_figure(win, kind);
    return;
  }
  g_autofree char *text = g_strdup_printf("Cannot show it: no figure is called “%s”", name);
  spn_window_report_error(win, text);
}

static const GActionEntry win_actions[] = {
  {"train", NULL, NULL, "false", on_train_change, {0}},
  {"step", on_step, NULL, NULL, NULL, {0}},
  {"train-until", on_train_until, "x", NULL, NULL, {0}},
  {"new-model", on_new_model, NULL, NULL, NULL, {0}},
  {"open", on_open, NULL, NULL, NULL, {0}},
  {"open-file", on_open_file, "s", NULL, NULL, {0}},
  {"follow", on_follow, NULL, NULL, NULL, {0}},
  {"follow-file", on_follow_file, "s", NULL, NULL, {0}},
  {"unfollow", on_unfollow, NULL, NULL, NULL, {0}},
  {"save", on_save, NULL, NULL, NULL, {0}},
  {"save-as", on_save_as, NULL, NULL, NULL, {0}},
  {"save-to", on_save_to, "s", NULL, NULL, {0}},
  {"export", on_export, NULL, NULL, NULL, {0}},
  {"export-to", on_export_to, "(sasddd)", NULL, NULL, {0}},
  {"export-csv", on_export_csv, NULL, NULL, NULL, {0}},
  {"export-csv-to", on_export_csv_to, "s", NULL, NULL, {0}},
  {"compare", on_compare, NULL, NULL, NULL, {0}},
  {"layer", NULL, "i", "0", on_layer_change, {0}},
  {"head", NULL, "i", "-1", on_head_change, {0}},
  {"query", NULL, "i", "-1", on_query_change, {0}},
  {"probe-text", on_probe_text, "s", NULL, NULL, {0}},
  {"show", on_show, "s", NULL, NULL, {0}},
  {"maximize", on_maximize, "s", NULL, NULL, {0}},
  {"restore", on_restore, NULL, NULL, NULL, {0}},
  {"status", NULL, NULL, "@a{sv} {}", NULL, {0}},
};

void
spn_window_add_actions(SpnWindow *win)
{
  g_action_map_add_action_entries(G_ACTION_MAP(win), win_actions, G_N_ELEMENTS(win_actions), win);
  g_simple_action_set_enabled(spn_window_action(win, "status"), FALSE);
  g_simple_action_set_enabled(spn_window_action(win, "train"), FALSE);
}
