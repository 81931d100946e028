/* application.c — SpnApplication: options, app actions, accelerators; the headless modes
 * (screenshot, frame benchmark) are in headless.c. */
#include "application.h"

#include <glib-unix.h>
#include <signal.h>
#include <string.h>

#include "compare_window.h"
#include "demo.h"
#include "headless.h"
#include "setup_dialog.h"
#include "spanscope-resources.h"
#include "viewstate.h"
#include "window.h"

struct _SpnApplication {
  AdwApplication parent;
  char *corpus, *preset, *follow, *reference_flags;
  gboolean autosave;
  char *text;
  int width, height;
  /* headless modes */
  char *screenshot;
  gint64 train_steps;
  int bench_frames;
  gboolean compare;   /* the screenshot is of the comparison window */
  SpnHeadlessView view;   /* what the screenshot of the main window shows */
  SpnHeadless *headless;
  guint quit_signals[2];   /* SIGTERM, SIGHUP */
};

G_DEFINE_FINAL_TYPE(SpnApplication, spn_application, ADW_TYPE_APPLICATION)

enum { PROP_0, PROP_CORPUS, PROP_PRESET, PROP_AUTOSAVE, N_PROPS };
static GParamSpec *props[N_PROPS];

/* ---- windows ---- */

static SpnWindow *
create_window(SpnApplication *self, const char *checkpoint)
{
  SpnWindowStart start = {
    .corpus = self->corpus,
    .preset = self->preset,
    .checkpoint = checkpoint,
    .follow = self->follow,
    .reference_flags = self->reference_flags,
    .text = self->text,
    .autosave = self->autosave,
    /* a measurement shows the defaults, whatever the user chose to see */
    .remember_view = self->screenshot == NULL && self->bench_frames == 0,
    /* the picture is of the view, not of "Opened …" fading out over it */
    .quiet = self->screenshot != NULL,
  };
  SpnWindow *win = spn_window_new(GTK_APPLICATION(self), &start);
  if (self->width > 0 && self->height > 0)
    gtk_window_set_default_size(GTK_WINDOW(win), self->width, self->height);
  if ((self->screenshot || self->bench_frames > 0) && self->headless == NULL) {
    SpnHeadlessOptions o = {self->screenshot, self->train_steps, self->width, self->height,
                            self->bench_frames, self->compare, &self->view};
    self->headless = spn_headless_start(G_APPLICATION(self), win, &o);
  }
  return win;
}

/* The most recently focused training window: the comparison window is also the application's
 * and may be the active one, but runs, files and options go to a training window. */
static GtkWindow *
main_window(GtkApplication *app)
{
  for (GList *l = gtk_application_get_windows(app); l; l = l->next)
    if (SPN_IS_WINDOW(l->data))
      return l->data;
  return NULL;
}

static void
spn_application_activate(GApplication *app)
{
  GtkWindow *existing = main_window(GTK_APPLICATION(app));
  if (existing) {
    gtk_window_present(existing);
    return;
  }
  gtk_window_present(GTK_WINDOW(create_window(SPN_APPLICATION(app), NULL)));
}

/* `spanscope --compare A --compare B`: the runs in the application's comparison window, each
 * path taken in the folder the command was typed in. */
static void
compare_files(GtkApplication *app, GApplicationCommandLine *cmdline, char **paths)
{
  SpnCompareWindow *cmp = spn_compare_window_get(app);
  for (int i = 0; paths[i]; i++) {
    g_autoptr(GFile) file = g_application_command_line_create_file_for_arg(cmdline, paths[i]);
    g_autofree char *path = g_file_get_path(file);
    if (path)
      spn_compare_window_add_file(cmp, path);
  }
  gtk_window_present(GTK_WINDOW(cmp));
}

/* `spanscope run.safetensors` from a file manager (D-Bus Open): the checkpoint instead of a new
 * model, or in the open window. */
static void
spn_application_open(GApplication *app, GFile **files, int n, const char *hint)
{
  (void)hint;
  g_autofree char *path = n > 0 ? g_file_get_path(files[0]) : NULL;
  GtkWindow *existing = main_window(GTK_APPLICATION(app));
  if (existing && path) {
    g_action_group_activate_action(G_ACTION_GROUP(existing), "open-file",
                                   g_variant_new_string(path));
    gtk_window_present(existing);
    return;
  }
  gtk_window_present(GTK_WINDOW(create_window(SPN_APPLICATION(app), path)));
}

/* ---- app actions ---- */

/* Closing each window autosaves it; the application ends with the last window. */
static void
on_quit(GSimpleAction *a, GVariant *p, gpointer data)
{
  (void)a, (void)p;
  GList *windows = g_list_copy(gtk_application_get_windows(GTK_APPLICATION(data)));
  for (GList *l = windows; l; l = l->next)
    gtk_window_close(l->data);
  g_list_free(windows);
}

static void
on_about(GSimpleAction *a, GVariant *p, gpointer data)
{
  (void)a, (void)p;
  GtkWidget *about = adw_about_window_new();
  adw_about_window_set_application_name(ADW_ABOUT_WINDOW(about), "spanscope");
  adw_about_window_set_application_icon(ADW_ABOUT_WINDOW(about), SPN_APPLICATION_ID);
  adw_about_window_set_version(ADW_ABOUT_WINDOW(about), SPN_VERSION);
  adw_about_window_set_developer_name(ADW_ABOUT_WINDOW(about), "The spanscope authors");
  adw_about_window_set_license_type(ADW_ABOUT_WINDOW(about), GTK_LICENSE_MIT_X11);
  adw_about_window_set_comments(
      ADW_ABOUT_WINDOW(about),
      "Train a character Transformer and watch how far back each attention head learns to "
      "look: adaptive attention span (Sukhbaatar et al., 2019) and all-attention layers with "
      "persistent memory.");
  gtk_window_set_transient_for(GTK_WINDOW(about),
                               gtk_application_get_active_window(GTK_APPLICATION(data)));
  gtk_window_present(GTK_WINDOW(about));
}

static const GActionEntry app_actions[] = {
  {"quit", on_quit, NULL, NULL, NULL, {0}},
  {"about", on_about, NULL, NULL, NULL, {0}},
};

static void
set_accels(GtkApplication *app)
{
  static const struct {
    const char *action;
    const char *accels[3];
  } accels[] = {
    {"win.new-model", {"<Primary>n", NULL}},
    {"win.open", {"<Primary>o", NULL}},
    {"win.follow", {"<Primary><Shift>o", NULL}},
    {"win.save", {"<Primary>s", NULL}},
    {"win.save-as", {"<Primary><Shift>s", NULL}},
    {"win.export", {"<Primary>e", NULL}},
    {"win.step", {"<Primary>period", NULL}},
    {"win.show-help-overlay", {"F1", "<Primary>question", NULL}},
    {"app.quit", {"<Primary>q", NULL}},
  };
  for (guint i = 0; i < G_N_ELEMENTS(accels); i++)
    gtk_application_set_accels_for_action(app, accels[i].action, accels[i].accels);
}

/* SIGTERM (a session ending, `kill`) and SIGHUP (the terminal closing) quit as Ctrl+Q does:
 * every window autosaves before it goes, and one whose autosave fails stays and says so. GLib's
 * unix signal sources call this from the main loop, where the window may be touched. */
static gboolean
on_quit_signal(gpointer data)
{
  g_action_group_activate_action(G_ACTION_GROUP(data), "quit", NULL);
  return G_SOURCE_CONTINUE;
}

static void
spn_application_startup(GApplication *app)
{
  SpnApplication *self = SPN_APPLICATION(app);
  G_APPLICATION_CLASS(spn_application_parent_class)->startup(app);
  g_action_map_add_action_entries(G_ACTION_MAP(app), app_actions, G_N_ELEMENTS(app_actions), app);
  set_accels(GTK_APPLICATION(app));
  gtk_window_set_default_icon_name(SPN_APPLICATION_ID);
  self->quit_signals[0] = g_unix_signal_add(SIGTERM, on_quit_signal, app);
  self->quit_signals[1] = g_unix_signal_add(SIGHUP, on_quit_signal, app);
}

static void
spn_application_shutdown(GApplication *app)
{
  SpnApplication *self = SPN_APPLICATION(app);
  for (guint i = 0; i < G_N_ELEMENTS(self->quit_signals); i++)
    g_clear_handle_id(&self->quit_signals[i], g_source_remove);
  spn_view_state_flush();
  G_APPLICATION_CLASS(spn_application_parent_class)->shutdown(app);
}

/* ---- command line ---- */

static const GOptionEntry options[] = {
  {"corpus", 0, 0, G_OPTION_ARG_FILENAME, NULL,
   "First model's corpus: bundled (default; the preset's for demo and long), demo, longdemo, a "
   "text file or a train/valid/test folder",
   "CORPUS"},
  {"preset", 0, 0, G_OPTION_ARG_STRING, NULL,
   "First model's settings: desktop (default), small, allattn, demo or long", "PRESET"},
  {"follow", 0, 0, G_OPTION_ARG_FILENAME, NULL,
   "Follow a checkpoint that a run elsewhere keeps rewriting (spanscope's, or a .pt of the "
   "reference's main.py, whose data folder is --corpus)", "PATH"},
  {"reference-flags", 0, 0, G_OPTION_ARG_STRING, NULL,
   "main.py's flags of the reference run opened or followed, e.g. \"--adapt-span "
   "--adapt-span-ramp 32\"", "FLAGS"},
  {"no-autosave", 0, 0, G_OPTION_ARG_NONE, NULL,
   "Neither offer nor write the autosaved session", NULL},
  {"screenshot", 0, 0, G_OPTION_ARG_FILENAME, NULL,
   "Train, render the whole window into FILE.png and exit", "FILE.png"},
  {"train-steps", 0, 0, G_OPTION_ARG_INT64, NULL,
   "With --screenshot: optimizer steps before the picture (default 0)", "N"},
  {"show", 0, 0, G_OPTION_ARG_STRING_ARRAY, NULL,
   "With --screenshot: turn the tabs that hold FIGURE to it: the heatmap's attention (by "
   "position), distance (by distance back) or heads (every head at once), spans or summary, "
   "masks or persistent; several times for several", "FIGURE"},
  {"maximize", 0, 0, G_OPTION_ARG_STRING, NULL,
   "With --screenshot: show FIGURE alone, filling the window (spans, history, masks, attention, "
   "curves, distance, heads, summary, persistent)", "FIGURE"},
  {"layer", 0, 0, G_OPTION_ARG_INT, NULL, "With --screenshot: the layer shown (from 0)", "L"},
  {"head", 0, 0, G_OPTION_ARG_INT, NULL,
   "With --screenshot: the head shown (from 0; -1: all heads of the layer)", "H"},
  {"query", 0, 0, G_OPTION_ARG_INT, NULL,
   "With --screenshot: the character of the inspector's text selected (from 0; -1: none), "
   "whose attention the text, the heatmaps and the head overview show", "I"},
  {"text", 0, 0, G_OPTION_ARG_STRING, NULL, "Text the inspector starts with", "TEXT"},
  {"size", 0, 0, G_OPTION_ARG_STRING, NULL, "Window size, e.g. 1366x768", "WxH"},
  {"compare", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, NULL,
   "Add the checkpoint to the comparison window (several times for several runs); with a "
   "window already open, to that one", "CHECKPOINT"},
  {"bench-frames", 0, 0, G_OPTION_ARG_INT, NULL,
   "Train while measuring what N painted frames cost the main thread, print frame_p95_ms "
   "(and snapshot hand-off, main-loop figures) and exit",
   "N"},
  {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, NULL, NULL, NULL},
  {NULL, 0, 0, 0, NULL, NULL, NULL},
};

static gboolean
parse_size(const char *text, int *w, int *h)
{
  char *x = text ? strchr(text, 'x') : NULL;
  gint64 a, b;
  if (x == NULL)
    return FALSE;
  g_autofree char *first = g_strndup(text, x - text);
  return g_ascii_string_to_signed(first, 10, 200, 16384, &a, NULL) &&
         g_ascii_string_to_signed(x + 1, 10, 200, 16384, &b, NULL) && (*w = a, *h = b, TRUE);
}

static void
take_string(GVariantDict *d, const char *key, const char *type, char **out)
{
  char *v = NULL;
  if (g_variant_dict_lookup(d, key, type, &v)) {
    g_free(*out);
    *out = v;
  }
}

/* --show, --maximize, --layer, --head and --query of one command line. */
static void
read_view(GVariantDict *d, SpnHeadlessView *v)
{
  spn_headless_view_clear(v);
  g_variant_dict_lookup(d, "show", "^as", &v->show);
  g_variant_dict_lookup(d, "maximize", "s", &v->maximize);
  g_variant_dict_lookup(d, "layer", "i", &v->layer);
  g_variant_dict_lookup(d, "head", "i", &v->head);
  g_variant_dict_lookup(d, "query", "i", &v->query);
}

/* The view options belong to a screenshot of the main window, and their values are checked as
 * far as they can be without a model; FALSE after saying why. */
static gboolean
check_view(GVariantDict *d, gboolean screenshot)
{
  SpnHeadlessView v;
  spn_headless_view_init(&v);
  read_view(d, &v);
  g_autoptr(GError) error = NULL;
  gboolean ok = spn_headless_view_check(&v, &error);
  if (!ok)
    g_printerr("spanscope: %s\n", error->message);
  else if (spn_headless_view_chosen(&v) && (!screenshot || g_variant_dict_contains(d, "compare"))) {
    g_printerr("spanscope: --show, --maximize, --layer, --head and --query choose what a "
               "--screenshot of the main window shows: give --screenshot FILE.png, without "
               "--compare\n");
    ok = FALSE;
  }
  spn_headless_view_clear(&v);
  return ok;
}

/* In the process the command was typed in: refuses bad options there, with the reason on its
 * terminal; the headless modes run in that process, apart from any window the user has open.
 * Everything else goes to the primary instance's command_line. */
static int
spn_application_handle_local_options(GApplication *app, GVariantDict *d)
{
  g_autofree char *size = NULL, *preset = NULL, *screenshot = NULL;
  int width = 0, height = 0, bench_frames = 0;
  gint64 train_steps = 0;
  take_string(d, "size", "s", &size);
  take_string(d, "preset", "s", &preset);
  take_string(d, "screenshot", "^ay", &screenshot);
  g_variant_dict_lookup(d, "train-steps", "x", &train_steps);
  g_variant_dict_lookup(d, "bench-frames", "i", &bench_frames);
  SpnPreset p;
  if (size && !parse_size(size, &width, &height)) {
    g_printerr("spanscope: --size \"%s\": expected WIDTHxHEIGHT in pixels, e.g. 1366x768\n",
               size);
    return 1;
  }
  if (preset && !spn_preset_from_name(preset, &p)) {
    g_autofree char *names = spn_preset_names();
    g_printerr("spanscope: --preset \"%s\": expected %s\n", preset, names);
    return 1;
  }
  if (train_steps < 0 || bench_frames < 0) {
    g_printerr("spanscope: --train-steps and --bench-frames count from 0\n");
    return 1;
  }
  if (!check_view(d, screenshot != NULL))
    return 1;
  if (screenshot || bench_frames > 0)   /* a measurement must not depend on a session */
    g_application_set_flags(app, g_application_get_flags(app) | G_APPLICATION_NON_UNIQUE);
  return -1;
}

/* The options of one command line (in the primary instance, whichever process it came from). */
static void
read_options(SpnApplication *self, GVariantDict *d, char **checkpoint)
{
  g_autofree char *size = NULL;
  g_auto(GStrv) files = NULL;
  take_string(d, "corpus", "^ay", &self->corpus);
  take_string(d, "preset", "s", &self->preset);
  take_string(d, "follow", "^ay", &self->follow);
  take_string(d, "reference-flags", "s", &self->reference_flags);
  take_string(d, "screenshot", "^ay", &self->screenshot);
  take_string(d, "text", "s", &self->text);
  take_string(d, "size", "s", &size);
  g_variant_dict_lookup(d, "train-steps", "x", &self->train_steps);
  g_variant_dict_lookup(d, "bench-frames", "i", &self->bench_frames);
  read_view(d, &self->view);
  if (g_variant_dict_contains(d, "no-autosave") || self->screenshot || self->bench_frames > 0)
    self->autosave = FALSE;
  if (size)
    parse_size(size, &self->width, &self->height);
  g_variant_dict_lookup(d, G_OPTION_REMAINING, "^aay", &files);
  *checkpoint = files && files[0] ? g_strdup(files[0]) : NULL;
}

/* A second `spanscope` while a window is open: its options go to that window. A model asked
 * for (--preset, --corpus) comes through the New model dialog, filled with them, so the run on
 * screen is replaced only by the user's Create (which asks first when it has unsaved steps); a
 * checkpoint opens and a --follow path is followed (a reference .pt with the --corpus and
 * --reference-flags typed, else the window asks for them), a text goes to the inspector. The
 * typing terminal is told what happened. */
static void
forward_options(GtkWindow *existing, GApplicationCommandLine *cmdline, GVariantDict *d,
                const char *checkpoint, gboolean compare)
{
  g_autofree char *preset = NULL, *corpus = NULL, *text = NULL, *follow = NULL, *flags = NULL;
  take_string(d, "preset", "s", &preset);
  take_string(d, "corpus", "^ay", &corpus);
  take_string(d, "text", "s", &text);
  take_string(d, "follow", "^ay", &follow);
  take_string(d, "reference-flags", "s", &flags);
  if (corpus && g_strcmp0(corpus, SPN_BUNDLED_SOURCE) != 0 && spn_demo_corpus(corpus) == NULL) {
    /* a path typed in the other process's folder */
    g_autoptr(GFile) file = g_application_command_line_create_file_for_arg(cmdline, corpus);
    g_free(corpus);
    corpus = g_file_get_path(file);
  }
  gtk_window_present(existing);
  const char *run = follow ? follow : checkpoint;
  if (run) {
    g_autoptr(GFile) file = g_application_command_line_create_file_for_arg(cmdline, run);
    g_autofree char *path = g_file_get_path(file);
    /* a reference run's data folder and flags typed here are used; else the window asks */
    if (corpus || flags)
      spn_window_start_run(SPN_WINDOW(existing), path, follow != NULL, corpus, flags);
    else
      g_action_group_activate_action(G_ACTION_GROUP(existing), follow ? "follow-file" : "open-file",
                                     g_variant_new_string(path));
    g_application_command_line_print(cmdline, "spanscope: the open window %s %s\n",
                                     follow ? "follows" : "opens", path);
  } else if (preset || corpus) {
    g_autofree char *about = spn_window_offer_new_model(SPN_WINDOW(existing), preset, corpus);
    g_application_command_line_print(cmdline,
                                     "spanscope: the open window's New model dialog holds %s: "
                                     "press Create there\n", about);
  }
  if (text) {
    g_action_group_activate_action(G_ACTION_GROUP(existing), "probe-text",
                                   g_variant_new_string(text));
    g_application_command_line_print(cmdline, "spanscope: the open window reads your text\n");
  }
  if (compare)
    g_application_command_line_print(cmdline,
                                     "spanscope: the open window's comparison adds the runs\n");
  else if (!run && !preset && !corpus && !text)
    g_application_command_line_print(cmdline, "spanscope: a window is already open\n");
}

static int
spn_application_command_line(GApplication *app, GApplicationCommandLine *cmdline)
{
  SpnApplication *self = SPN_APPLICATION(app);
  GVariantDict *d = g_application_command_line_get_options_dict(cmdline);
  GtkWindow *existing = main_window(GTK_APPLICATION(app));
  g_autofree char *checkpoint = NULL;
  g_auto(GStrv) compare = NULL;
  if (!g_variant_dict_lookup(d, "compare", "^aay", &compare) || compare[0] == NULL)
    g_clear_pointer(&compare, g_strfreev);
  if (existing) {
    g_auto(GStrv) files = NULL;
    g_variant_dict_lookup(d, G_OPTION_REMAINING, "^aay", &files);
    forward_options(existing, cmdline, d, files ? files[0] : NULL, compare != NULL);
    if (compare)
      compare_files(GTK_APPLICATION(app), cmdline, compare);
    return 0;
  }
  read_options(self, d, &checkpoint);
  self->compare = compare != NULL;
  if (checkpoint) {
    g_autoptr(GFile) file = g_application_command_line_create_file_for_arg(cmdline, checkpoint);
    g_free(checkpoint);
    checkpoint = g_file_get_path(file);
  }
  gtk_window_present(GTK_WINDOW(create_window(self, checkpoint)));
  if (compare)
    compare_files(GTK_APPLICATION(app), cmdline, compare);
  return 0;
}

/* ---- object ---- */

static void
spn_application_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
  SpnApplication *self = SPN_APPLICATION(object);
  switch (id) {
  case PROP_CORPUS: g_value_set_string(value, self->corpus); break;
  case PROP_PRESET: g_value_set_string(value, self->preset); break;
  case PROP_AUTOSAVE: g_value_set_boolean(value, self->autosave); break;
  default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void
spn_application_set_property(GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
  SpnApplication *self = SPN_APPLICATION(object);
  switch (id) {
  case PROP_CORPUS: g_free(self->corpus); self->corpus = g_value_dup_string(value); break;
  case PROP_PRESET: g_free(self->preset); self->preset = g_value_dup_string(value); break;
  case PROP_AUTOSAVE: self->autosave = g_value_get_boolean(value); break;
  default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void
spn_application_finalize(GObject *object)
{
  SpnApplication *self = SPN_APPLICATION(object);
  g_clear_pointer(&self->headless, spn_headless_free);
  spn_headless_view_clear(&self->view);
  g_free(self->corpus);
  g_free(self->preset);
  g_free(self->follow);
  g_free(self->reference_flags);
  g_free(self->screenshot);
  g_free(self->text);
  G_OBJECT_CLASS(spn_application_parent_class)->finalize(object);
}

static void
spn_application_init(SpnApplication *self)
{
  self->autosave = TRUE;
  spn_headless_view_init(&self->view);
  g_application_add_main_option_entries(G_APPLICATION(self), options);
  g_application_set_option_context_parameter_string(G_APPLICATION(self),
                                                    "[CHECKPOINT.safetensors | RUN.pt]");
  g_application_set_option_context_summary(
      G_APPLICATION(self), "Train a character Transformer and watch its attention spans.");
}

static void
spn_application_class_init(SpnApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS(klass);
  /* the help overlay, the style sheet and the icon (so it shows without being installed) */
  spn_register_resource();
  object_class->get_property = spn_application_get_property;
  object_class->set_property = spn_application_set_property;
  object_class->finalize = spn_application_finalize;
  app_class->startup = spn_application_startup;
  app_class->shutdown = spn_application_shutdown;
  app_class->activate = spn_application_activate;
  app_class->command_line = spn_application_command_line;
  app_class->open = spn_application_open;
  app_class->handle_local_options = spn_application_handle_local_options;
  props[PROP_CORPUS] = g_param_spec_string("corpus", NULL, NULL, SPN_BUNDLED_SOURCE,
                                           G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  props[PROP_PRESET] = g_param_spec_string("preset", NULL, NULL, "desktop",
                                           G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  props[PROP_AUTOSAVE] = g_param_spec_boolean("autosave", NULL, NULL, TRUE,
                                              G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties(object_class, N_PROPS, props);
}

SpnApplication *
spn_application_new(void)
{
  return g_object_new(SPN_TYPE_APPLICATION, "application-id", SPN_APPLICATION_ID, "flags",
                      G_APPLICATION_HANDLES_COMMAND_LINE | G_APPLICATION_HANDLES_OPEN, NULL);
}

int
spn_application_get_exit_status(SpnApplication *app)
{
  return app->headless ? spn_headless_get_exit_status(app->headless) : 0;
}
