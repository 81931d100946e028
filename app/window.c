/* window.c — SpnWindow: header bar, the panel layout, the worker hand-off and the actions.
 *
 * The main thread never waits on the engine: commands go to the worker and return at once, and
 * the worker hands back immutable snapshots which the window passes to every view. Closing
 * does not wait either: the window goes once the worker reports the autosave written. */
#include "window.h"

#include <math.h>
#include <string.h>

#include "accessible.h"
#include "demo.h"
#include "export_dialog.h"
#include "figure_view.h"
#include "figures.h"
#include "inspector.h"
#include "panel.h"
#include "setup_dialog.h"
#include "worker.h"

#define AUTOSAVE_SECONDS (5 * 60)
#define RECENT_MAX 8

/* The probe text of the bundled corpus: 1 Corinthians 13:1-8 as the corpus has it. It lies at
 * 93 % of the text, inside the validation split (90-95 %), so the model has never trained on it. */
static const char kjv_passage[] =
    "1 Corinthians 13\n"
    "\n"
    "  1 Though I speak with the tongues of men and of angels, and have not charity,\n"
    "I am become as sounding brass, or a tinkling cymbal.\n"
    "  2 And though I have the gift of prophecy, and understand all mysteries, and\n"
    "all knowledge; and though I have all faith, so that I could remove mountains,\n"
    "and have not charity, I am nothing.\n"
    "  3 And though I bestow all my goods to feed the poor, and though I give my\n"
    "body to be burned, and have not charity, it profiteth me nothing.\n"
    "  4 Charity suffereth long, and is kind; charity envieth not; charity vaunteth\n"
    "not itself, is not puffed up,\n"
    "  5 Doth not behave itself unseemly, seeketh not her own, is not easily\n"
    "provoked, thinketh no evil;\n"
    "  6 Rejoiceth not in iniquity, but rejoiceth in the truth;\n"
    "  7 Beareth all things, believeth all things, hopeth all things, endureth all\n"
    "things.\n"
    "  8 Charity never faileth: but whether there be prophecies, they shall fail;\n"
    "whether there be tongues, they shall cease; whether there be knowledge, it\n"
    "shall vanish away.\n";

struct _SpnWindow {
  AdwApplicationWindow parent;
  SpnWorker *worker;
  char *corpus, *preset, *checkpoint_arg;   /* how the first model is made */
  gboolean autosave;
  char *autosave_path;
  guint autosave_source;
  gboolean closing;        /* the closing autosave is under way: the window goes once it is saved */
  char *close_error;       /* why it failed: a second close then quits without it */

  GtkWidget *panels[SPN_FIGURE_COUNT];
  GtkWidget *inspector;
  GtkWidget *layout;
  AdwToastOverlay *toasts;
  AdwWindowTitle *title;
  AdwButtonContent *train_content;
  GtkDropDown *layer_drop, *head_drop;
  GMenu *recent_menu;
  gboolean updating_selectors;   /* the window, not the user, is changing a drop-down */

  SpnSnapshot *snapshot;
  gboolean ready, training;
  gint64 step;
  double tokens_per_s;
  char *seen_checkpoint;   /* the worker's last reported checkpoint */
  char *user_file;         /* where Save writes: the file last opened or saved by the user */
  char *text;              /* the inspector's text, as last sent to the worker */
  char *text_corpus;       /* the corpus whose default passage the inspector shows; NULL once
                              the user has typed */
  int nlayers, nheads, layer, head, query;
  int maximized;           /* SpnFigureKind shown alone, -1 for the full layout */
};

G_DEFINE_FINAL_TYPE(SpnWindow, spn_window, ADW_TYPE_APPLICATION_WINDOW)

enum { SIGNAL_WORKER_ERROR, SIGNAL_SNAPSHOT_DISPATCHED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void set_query(SpnWindow *win, int query);
static void close_failed(SpnWindow *win, const char *error);
static void publish_status(SpnWindow *win);

static SpnFigureView *
view_of(SpnWindow *win, SpnFigureKind kind)
{
  return spn_panel_get_view(SPN_PANEL(win->panels[kind]));
}

static GSimpleAction *
action(SpnWindow *win, const char *name)
{
  return G_SIMPLE_ACTION(g_action_map_lookup_action(G_ACTION_MAP(win), name));
}

char *
spn_window_autosave_path(void)
{
  return g_build_filename(g_get_user_state_dir(), "spanscope", "autosave.safetensors", NULL);
}

/* ---- toasts ---- */

static void
toast(SpnWindow *win, const char *text, gboolean error)
{
  AdwToast *t = adw_toast_new(text);
  /* messages say what to do: show all of it, wrapped, rather than an ellipsis */
  GtkWidget *label = gtk_label_new(text);
  gtk_label_set_wrap(GTK_LABEL(label), TRUE);
  gtk_label_set_wrap_mode(GTK_LABEL(label), PANGO_WRAP_WORD_CHAR);
  /* the overlay gives a toast its minimum width: ask for a line of up to 70 characters */
  gtk_label_set_width_chars(GTK_LABEL(label), (int)MIN(g_utf8_strlen(text, -1), 70));
  gtk_label_set_max_width_chars(GTK_LABEL(label), 100);
  gtk_label_set_xalign(GTK_LABEL(label), 0.0);
  adw_toast_set_custom_title(t, label);
  /* errors stay long enough to read what to do */
  adw_toast_set_timeout(t, error ? 12 : 4);
  adw_toast_set_priority(t, error ? ADW_TOAST_PRIORITY_HIGH : ADW_TOAST_PRIORITY_NORMAL);
  adw_toast_overlay_add_toast(win->toasts, t);
}

static void
report_error(SpnWindow *win, const char *text)
{
  toast(win, text, TRUE);
  g_signal_emit(win, signals[SIGNAL_WORKER_ERROR], 0, text);
}

/* ---- probe text ---- */

#define PASSAGE_CHARS 800

/* A passage of the demonstration corpus's validation split (90-95 %) that starts with a
 * sentence whose planted copy follows SPN_DEMO_DISTANCE characters later, so the heatmap and
 * the inspector show a head reaching back for it. Generated once: the same constants give the
 * corpus the engine trains on. */
static const char *
demo_passage(void)
{
  static char *passage;
  if (passage)
    return passage;
  GArray *copies = NULL;
  g_autofree char *text = spn_demo_text(SPN_DEMO_SEED, SPN_DEMO_CHARS, SPN_DEMO_DISTANCE, &copies);
  gsize from = SPN_DEMO_CHARS / 100 * 91 + SPN_DEMO_DISTANCE;
  gsize start = from - SPN_DEMO_DISTANCE;
  for (guint i = 0; i < copies->len; i++) {
    const SpnDemoCopy *c = &g_array_index(copies, SpnDemoCopy, i);
    if (c->start >= from) {
      start = c->start - SPN_DEMO_DISTANCE;
      break;
    }
  }
  g_array_unref(copies);
  gsize end = MIN(start + PASSAGE_CHARS, (gsize)SPN_DEMO_CHARS);
  while (end > start + PASSAGE_CHARS / 2 && text[end - 1] != ' ')   /* end after a word */
    end--;
  passage = g_strndup(text + start, end - start);
  return passage;
}

static const char *
default_text(const char *corpus)
{
  return g_strcmp0(corpus, SPN_DEMO_SOURCE) == 0 ? demo_passage() : kjv_passage;
}

static void
set_probe_text(SpnWindow *win, const char *text)
{
  g_autofree char *current = spn_inspector_get_text(SPN_INSPECTOR(win->inspector));
  if (g_strcmp0(current, text) != 0)
    spn_inspector_set_text(SPN_INSPECTOR(win->inspector), text);
}

static void
on_text_changed(SpnInspector *inspector, const char *text, SpnWindow *win)
{
  (void)inspector;
  if (win->text_corpus && g_strcmp0(text, default_text(win->text_corpus)) != 0)
    g_clear_pointer(&win->text_corpus, g_free);
  g_free(win->text);
  win->text = g_strdup(text);
  spn_worker_set_text(win->worker, text);
  publish_status(win);   /* the reading shown is now of another text */
}

/* A new corpus brings its own passage, unless the user has written their own text. */
static void
follow_corpus_text(SpnWindow *win, const char *corpus)
{
  if (win->text_corpus == NULL || corpus == NULL || g_strcmp0(win->text_corpus, corpus) == 0)
    return;
  g_free(win->text_corpus);
  win->text_corpus = g_strdup(corpus);
  set_probe_text(win, default_text(corpus));
}

/* ---- options shared by every view ---- */

static void
push_options(SpnWindow *win)
{
  for (int k = 0; k < SPN_FIGURE_COUNT; k++) {
    SpnFigureView *v = view_of(win, k);
    SpnFigureOptions o = *spn_figure_view_get_options(v);
    if (o.layer == win->layer && o.head == win->head && o.query == win->query)
      continue;
    o.layer = win->layer;
    o.head = win->head;
    o.query = win->query;
    spn_figure_view_set_options(v, &o);
  }
  /* the inspector shows one head: with "all heads" it follows the first */
  spn_inspector_set_head(SPN_INSPECTOR(win->inspector), win->layer, MAX(win->head, 0));
}

static void
set_query(SpnWindow *win, int query)
{
  if (query == win->query)
    return;
  win->query = query;
  push_options(win);
  spn_inspector_select_query(SPN_INSPECTOR(win->inspector), query);
}

static void
on_query_selected(GObject *source, int query, SpnWindow *win)
{
  (void)source;
  set_query(win, query);
}

/* ---- layer and head selectors ---- */

static void
fill_selector(GtkDropDown *drop, int count, const char *all, const char *fmt)
{
  g_autoptr(GtkStringList) names = gtk_string_list_new(NULL);
  if (all)
    gtk_string_list_append(names, all);
  for (int i = 0; i < count; i++) {
    g_autofree char *name = g_strdup_printf(fmt, i);
    gtk_string_list_append(names, name);
  }
  gtk_drop_down_set_model(drop, G_LIST_MODEL(names));
}

static void
sync_selectors(SpnWindow *win)
{
  win->updating_selectors = TRUE;
  gtk_drop_down_set_selected(win->layer_drop, win->layer);
  gtk_drop_down_set_selected(win->head_drop, win->head + 1);
  win->updating_selectors = FALSE;
}

/* A model of another shape: new lists, selections kept where they still exist. */
static void
follow_shape(SpnWindow *win, int nlayers, int nheads)
{
  if (nlayers == win->nlayers && nheads == win->nheads)
    return;
  win->nlayers = nlayers;
  win->nheads = nheads;
  win->updating_selectors = TRUE;
  fill_selector(win->layer_drop, nlayers, NULL, "Layer %d");
  fill_selector(win->head_drop, nheads, "All heads", "Head %d");
  win->updating_selectors = FALSE;
  g_action_group_change_action_state(G_ACTION_GROUP(win), "layer",
                                     g_variant_new_int32(MIN(win->layer, nlayers - 1)));
  g_action_group_change_action_state(G_ACTION_GROUP(win), "head",
                                     g_variant_new_int32(MIN(win->head, nheads - 1)));
  sync_selectors(win);
}

static void
on_layer_selected(GtkDropDown *drop, GParamSpec *pspec, SpnWindow *win)
{
  (void)pspec;
  guint i = gtk_drop_down_get_selected(drop);
  if (!win->updating_selectors && i != GTK_INVALID_LIST_POSITION)
    g_action_group_change_action_state(G_ACTION_GROUP(win), "layer", g_variant_new_int32(i));
}

static void
on_head_selected(GtkDropDown *drop, GParamSpec *pspec, SpnWindow *win)
{
  (void)pspec;
  guint i = gtk_drop_down_get_selected(drop);
  if (!win->updating_selectors && i != GTK_INVALID_LIST_POSITION)
    g_action_group_change_action_state(G_ACTION_GROUP(win), "head",
                                       g_variant_new_int32((int)i - 1));
}

static void
on_layer_change(GSimpleAction *a, GVariant *value, gpointer data)
{
  SpnWindow *win = data;
  int layer = g_variant_get_int32(value);
  if (layer < 0 || (win->nlayers > 0 && layer >= win->nlayers))
    return;
  g_simple_action_set_state(a, value);
  win->layer = layer;
  sync_selectors(win);
  push_options(win);
}

static void
on_head_change(GSimpleAction *a, GVariant *value, gpointer data)
{
  SpnWindow *win = data;
  int head = g_variant_get_int32(value);
  if (head < -1 || (win->nheads > 0 && head >= win->nheads))
    return;
  g_simple_action_set_state(a, value);
  win->head = head;
  sync_selectors(win);
  push_options(win);
}

/* ---- status ---- */

static char *
format_rate(double v)
{
  if (v >= 1e6)
    return g_strdup_printf("%.2fM", v / 1e6);
  if (v >= 1e3)
    return g_strdup_printf("%.1fk", v / 1e3);
  return g_strdup_printf("%.0f", v);
}

static double
last_valid_bpc(const SpnHistory *h)
{
  for (int i = h->n - 1; i >= 0; i--)
    if (!isnan(h->val_bpc[i]))
      return h->val_bpc[i];
  return NAN;
}

static void
span_stats(const SpnSnapshot *s, double *avg, double *max)
{
  int n = s->cfg.nlayers * s->cfg.nheads;
  double sum = 0.0;
  *max = 0.0;
  for (int i = 0; i < n; i++) {
    sum += s->spans[i];
    *max = MAX(*max, s->spans[i]);
  }
  *avg = n > 0 ? sum / n : 0.0;
}

/* "step 1,200 · 5.3k tokens/s · train 2.31 bpc · valid 2.40 · span avg 12 / max 44 of 1024" */
static char *
status_line(SpnWindow *win)
{
  const SpnSnapshot *s = win->snapshot;
  if (!win->ready || s == NULL)
    return g_strdup("creating the model…");
  GString *line = g_string_new(NULL);
  g_string_append_printf(line, "step %'" G_GINT64_FORMAT, win->step);
  if (win->training && win->tokens_per_s > 0) {
    g_autofree char *rate = format_rate(win->tokens_per_s);
    g_string_append_printf(line, " · %s tokens/s", rate);
  }
  const SpnHistory *h = s->history;
  if (h->n > 0)
    g_string_append_printf(line, " · train %.3f bpc", h->train_bpc[h->n - 1]);
  double val = h->n > 0 ? last_valid_bpc(h) : NAN;
  if (!isnan(val))
    g_string_append_printf(line, " · valid %.3f", val);
  double avg, max;
  span_stats(s, &avg, &max);
  g_string_append_printf(line, " · span avg %.0f / max %.0f of %d", avg, max, s->cfg.attn_span);
  return g_string_free(line, FALSE);
}

/* How the title names a corpus: "bundled", "demo" or a path. */
static char *
corpus_title(const char *corpus)
{
  if (corpus == NULL)
    return g_strdup("…");
  if (g_strcmp0(corpus, "bundled") == 0)
    return g_strdup("the King James Bible");
  if (g_strcmp0(corpus, SPN_DEMO_SOURCE) == 0)
    return g_strdup("the demonstration corpus");
  return g_path_get_basename(corpus);
}

/* The user's file, or "New run on <corpus>"; the status line below it. */
static void
update_title(SpnWindow *win)
{
  const char *corpus = win->snapshot ? win->snapshot->corpus : win->corpus;
  g_autofree char *about = corpus_title(corpus);
  g_autofree char *title = win->user_file ? g_path_get_basename(win->user_file)
                                          : g_strdup_printf("New run on %s", about);
  g_autofree char *line = status_line(win);
  adw_window_title_set_title(win->title, title);
  adw_window_title_set_subtitle(win->title, line);
  g_autofree char *window_title = g_strdup_printf("%s — spanscope", title);
  gtk_window_set_title(GTK_WINDOW(win), window_title);
}

static gboolean
probe_is_current(SpnWindow *win)
{
  const SpnSnapshot *s = win->snapshot;
  return s && s->probe && win->text && g_strcmp0(s->text, win->text) == 0;
}

static void
publish_status(SpnWindow *win)
{
  GVariantDict d;
  g_variant_dict_init(&d, NULL);
  g_variant_dict_insert(&d, "ready", "b", win->ready);
  g_variant_dict_insert(&d, "training", "b", win->training);
  g_variant_dict_insert(&d, "step", "x", win->step);
  g_variant_dict_insert(&d, "tokens_per_s", "d", win->tokens_per_s);
  g_variant_dict_insert(&d, "probe", "b", probe_is_current(win));
  g_variant_dict_insert(&d, "nlayers", "i", win->nlayers);
  g_variant_dict_insert(&d, "nheads", "i", win->nheads);
  g_variant_dict_insert(&d, "checkpoint", "s", win->user_file ? win->user_file : "");
  g_simple_action_set_state(action(win, "status"), g_variant_dict_end(&d));
}

static void
show_training(SpnWindow *win, gboolean training)
{
  win->training = training;
  g_simple_action_set_state(action(win, "train"), g_variant_new_boolean(training));
  adw_button_content_set_icon_name(win->train_content, training ? "media-playback-pause-symbolic"
                                                                 : "media-playback-start-symbolic");
  adw_button_content_set_label(win->train_content, training ? "_Pause" : "_Train");
  g_simple_action_set_enabled(action(win, "step"), win->ready && !training);
}

/* ---- recent checkpoints ---- */

static void
add_recent(const char *path)
{
  g_autofree char *uri = g_filename_to_uri(path, NULL, NULL);
  if (uri == NULL)
    return;
  GtkRecentData data = {
    .display_name = NULL,
    .description = "spanscope checkpoint",
    .mime_type = "application/octet-stream",
    .app_name = (char *)g_get_application_name(),
    .app_exec = "spanscope %f",
  };
  gtk_recent_manager_add_full(gtk_recent_manager_get_default(), uri, &data);
}

static int
by_modified_desc(gconstpointer a, gconstpointer b)
{
  GDateTime *ta = gtk_recent_info_get_modified(*(GtkRecentInfo **)a);
  GDateTime *tb = gtk_recent_info_get_modified(*(GtkRecentInfo **)b);
  return g_date_time_compare(tb, ta);
}

/* Checkpoints only, newest first, and only those still on disk. */
static void
rebuild_recent_menu(SpnWindow *win)
{
  GList *items = gtk_recent_manager_get_items(gtk_recent_manager_get_default());
  g_autoptr(GPtrArray) found = g_ptr_array_new();
  for (GList *l = items; l; l = l->next) {
    GtkRecentInfo *info = l->data;
    const char *uri = gtk_recent_info_get_uri(info);
    if (g_str_has_suffix(uri, ".safetensors") && gtk_recent_info_is_local(info) &&
        gtk_recent_info_exists(info))
      g_ptr_array_add(found, info);
  }
  g_ptr_array_sort(found, by_modified_desc);
  g_menu_remove_all(win->recent_menu);
  for (guint i = 0; i < found->len && i < RECENT_MAX; i++) {
    g_autofree char *path = g_filename_from_uri(gtk_recent_info_get_uri(found->pdata[i]), NULL, NULL);
    g_autofree char *label = g_path_get_basename(path);
    g_autoptr(GMenuItem) item = g_menu_item_new(label, NULL);
    g_menu_item_set_action_and_target_value(item, "win.open-file", g_variant_new_string(path));
    g_menu_append_item(win->recent_menu, item);
  }
  if (found->len == 0)
    g_menu_append(win->recent_menu, "No recent checkpoints", "win.no-recent");
  g_list_free_full(items, (GDestroyNotify)gtk_recent_info_unref);
}

/* ---- worker callbacks ---- */

static gboolean
is_autosave(SpnWindow *win, const char *path)
{
  return path && g_strcmp0(path, win->autosave_path) == 0;
}

/* The worker says which checkpoint it last opened or saved: the user's files become the one
 * Save writes and enter the recent list; the autosave never does. */
static void
follow_checkpoint(SpnWindow *win, const char *checkpoint)
{
  if (g_strcmp0(checkpoint, win->seen_checkpoint) == 0)
    return;
  g_free(win->seen_checkpoint);
  win->seen_checkpoint = g_strdup(checkpoint);
  if (checkpoint == NULL) {
    g_clear_pointer(&win->user_file, g_free);
  } else if (!is_autosave(win, checkpoint)) {
    g_free(win->user_file);
    win->user_file = g_strdup(checkpoint);
    add_recent(checkpoint);
  }
}

static void
apply_status(SpnWindow *win, const SpnWorkerStatus *status)
{
  win->ready = status->ready;
  win->step = status->step;
  win->tokens_per_s = status->tokens_per_s;
  g_simple_action_set_enabled(action(win, "train"), status->ready);
  show_training(win, status->training);
  follow_checkpoint(win, status->checkpoint);
}

static void
on_snapshot(SpnSnapshot *snapshot, const SpnWorkerStatus *status, gpointer data)
{
  SpnWindow *win = data;
  gint64 start = g_get_monotonic_time();
  g_clear_pointer(&win->snapshot, spn_snapshot_unref);
  win->snapshot = spn_snapshot_ref(snapshot);
  apply_status(win, status);
  follow_shape(win, snapshot->cfg.nlayers, snapshot->cfg.nheads);
  follow_corpus_text(win, snapshot->corpus);
  for (int k = 0; k < SPN_FIGURE_COUNT; k++)
    spn_figure_view_set_snapshot(view_of(win, k), snapshot);
  spn_inspector_set_snapshot(SPN_INSPECTOR(win->inspector), snapshot);
  update_title(win);
  publish_status(win);
  g_signal_emit(win, signals[SIGNAL_SNAPSHOT_DISPATCHED], 0,
                (g_get_monotonic_time() - start) / 1000.0);
}

/* Files the user opens or saves are announced; the autosave comes and goes silently, and the
 * one written at close lets the window go. */
static void
on_message(const SpnWorkerMessage *m, gpointer data)
{
  SpnWindow *win = data;
  gboolean autosave = is_autosave(win, m->path);
  if (m->kind == SPN_WORKER_SAVED)
    g_clear_pointer(&win->close_error, g_free); /* saved after all: closing autosaves again */
  if (m->kind == SPN_WORKER_FAILED && m->task == SPN_WORKER_TASK_SAVE && autosave && win->closing)
    close_failed(win, m->text);
  else if (m->kind == SPN_WORKER_FAILED)
    report_error(win, m->text);
  else if (m->kind == SPN_WORKER_SAVED && autosave && win->closing)
    gtk_window_destroy(GTK_WINDOW(win));
  else if (!autosave)
    toast(win, m->text, FALSE);
}

/* ---- models and files ---- */

static void
new_model_from(SpnWindow *win, const char *preset_name, const char *corpus)
{
  SpnPreset preset = SPN_PRESET_DESKTOP;
  spn_preset_from_name(preset_name, &preset);
  SpnConfig cfg;
  spn_preset_init(preset, &cfg);
  SpnCorpusOptions opts = {0};
  g_clear_pointer(&win->user_file, g_free);
  spn_worker_new_model(win->worker, &cfg, corpus ? corpus : "bundled", &opts);
}

static void
open_checkpoint(SpnWindow *win, const char *path)
{
  spn_worker_open(win->worker, path, NULL);
}

static void
save_checkpoint(SpnWindow *win, const char *path)
{
  g_free(win->user_file);
  win->user_file = g_strdup(path);
  spn_worker_save(win->worker, path);
  add_recent(path);
  update_title(win);
}

static GtkFileFilter *
checkpoint_filter(void)
{
  GtkFileFilter *f = gtk_file_filter_new();
  gtk_file_filter_set_name(f, "spanscope checkpoints (*.safetensors)");
  gtk_file_filter_add_pattern(f, "*.safetensors");
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

static void
on_open_chosen(GtkNativeDialog *native, int response, gpointer data)
{
  SpnWindow *win = data;
  g_autofree char *path = chosen_path(native, response);
  g_object_unref(native);
  if (path)
    open_checkpoint(win, path);
  g_object_unref(win);
}

static void
on_save_chosen(GtkNativeDialog *native, int response, gpointer data)
{
  SpnWindow *win = data;
  g_autofree char *path = chosen_path(native, response);
  g_object_unref(native);
  if (path) {
    g_autofree char *full = g_str_has_suffix(path, ".safetensors")
                                ? g_strdup(path)
                                : g_strconcat(path, ".safetensors", NULL);
    save_checkpoint(win, full);
  }
  g_object_unref(win);
}

static void
on_csv_chosen(GtkNativeDialog *native, int response, gpointer data)
{
  SpnWindow *win = data;
  g_autofree char *path = chosen_path(native, response);
  g_object_unref(native);
  if (path)
    spn_worker_export_csv(win->worker, path);
  g_object_unref(win);
}

static GtkFileChooserNative *
file_chooser(SpnWindow *win, const char *title, GtkFileChooserAction mode, const char *accept,
             GCallback on_response)
{
  GtkFileChooserNative *native =
      gtk_file_chooser_native_new(title, GTK_WINDOW(win), mode, accept, "_Cancel");
  gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(native), TRUE);
  g_signal_connect(native, "response", on_response, g_object_ref(win));
  return native;
}

/* ---- export ---- */

/* One set of options for a figure of several panels: each panel's own display choices (log
 * axis of the first, colour map and zoom of the heatmap, smoothing of the curves) on the
 * window's layer, head and query, in the light palette that suits paper and slides. */
static void
export_options(SpnWindow *win, const SpnFigureKind *kinds, SpnFigureOptions *o)
{
  *o = *spn_figure_view_get_options(view_of(win, kinds[0]));
  const SpnFigureOptions *att = spn_figure_view_get_options(view_of(win, SPN_FIGURE_ATTENTION));
  const SpnFigureOptions *cur = spn_figure_view_get_options(view_of(win, SPN_FIGURE_CURVES));
  o->colormap = att->colormap;
  o->log_color = att->log_color;
  o->q0 = att->q0, o->q1 = att->q1, o->k0 = att->k0, o->k1 = att->k1;
  o->smoothing = cur->smoothing;
  o->layer = win->layer;
  o->head = win->head;
  o->query = win->query;
  o->dark = FALSE;
}

static gboolean
export_figure(SpnWindow *win, const char *path, const SpnFigureKind *kinds, int n, double width,
              double height, double scale)
{
  g_autoptr(GError) error = NULL;
  if (win->snapshot == NULL) {
    report_error(win, "Nothing to export yet: wait until the model has been created");
    return FALSE;
  }
  SpnFigureOptions o;
  export_options(win, kinds, &o);
  if (!spn_figure_export(path, kinds, n, width, height, scale, win->snapshot, &o, &error)) {
    g_autofree char *text = g_strdup_printf("Cannot export the figure: %s", error->message);
    report_error(win, text);
    return FALSE;
  }
  g_autofree char *text = g_strdup_printf("Figure written to %s", path);
  toast(win, text, FALSE);
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

static void
show_export_dialog(SpnWindow *win, const gboolean selected[SPN_FIGURE_COUNT])
{
  SpnExportDialog *d = spn_export_dialog_new(GTK_WINDOW(win), selected);
  g_signal_connect_object(d, "export", G_CALLBACK(on_export_dialog_export), win, 0);
  gtk_window_present(GTK_WINDOW(d));
}

/* ---- layout: maximizing one panel ---- */

/* Shows `only` (or everything when NULL) and hides every paned left without a visible child,
 * so the visible panel gets the whole space. */
static gboolean
show_only(GtkWidget *node, GtkWidget *only)
{
  gboolean visible;
  if (GTK_IS_PANED(node)) {
    gboolean a = show_only(gtk_paned_get_start_child(GTK_PANED(node)), only);
    gboolean b = show_only(gtk_paned_get_end_child(GTK_PANED(node)), only);
    visible = a || b;
  } else
    visible = only == NULL || node == only;
  gtk_widget_set_visible(node, visible);
  return visible;
}

static void
set_maximized(SpnWindow *win, int kind)
{
  win->maximized = kind;
  for (int k = 0; k < SPN_FIGURE_COUNT; k++)
    spn_panel_set_maximized(SPN_PANEL(win->panels[k]), k == kind);
  show_only(win->layout, kind >= 0 ? win->panels[kind] : NULL);
}

static void
on_panel_maximize_toggled(SpnPanel *panel, SpnWindow *win)
{
  SpnFigureKind kind = spn_figure_view_get_kind(spn_panel_get_view(panel));
  set_maximized(win, spn_panel_get_maximized(panel) ? (int)kind : -1);
}

static void
on_panel_export_requested(SpnPanel *panel, SpnWindow *win)
{
  gboolean selected[SPN_FIGURE_COUNT] = {FALSE};
  selected[spn_figure_view_get_kind(spn_panel_get_view(panel))] = TRUE;
  show_export_dialog(win, selected);
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
  show_training(win, g_variant_get_boolean(value));
}

static void
on_step(GSimpleAction *a, GVariant *p, gpointer data)
{
  (void)a, (void)p;
  spn_worker_step(((SpnWindow *)data)->worker);
}

static void
on_train_until(GSimpleAction *a, GVariant *p, gpointer data)
{
  SpnWindow *win = data;
  (void)a;
  spn_worker_train_until(win->worker, g_variant_get_int64(p));
}

static void
on_setup_create(SpnSetupDialog *d, SpnWindow *win)
{
  SpnConfig cfg;
  SpnCorpusOptions opts;
  if (!spn_setup_dialog_get_config(d, &cfg, NULL))
    return;
  spn_setup_dialog_get_corpus_options(d, &opts);
  g_clear_pointer(&win->user_file, g_free);
  spn_worker_new_model(win->worker, &cfg, spn_setup_dialog_get_corpus(d), &opts);
  gtk_window_close(GTK_WINDOW(d));
}

static void
on_new_model(GSimpleAction *a, GVariant *p, gpointer data)
{
  SpnWindow *win = data;
  (void)a, (void)p;
  SpnSetupDialog *d = spn_setup_dialog_new(GTK_WINDOW(win));
  if (win->snapshot && win->snapshot->corpus)
    spn_setup_dialog_set_corpus(d, win->snapshot->corpus, FALSE);
  g_signal_connect_object(d, "create", G_CALLBACK(on_setup_create), win, 0);
  gtk_window_present(GTK_WINDOW(d));
}

static void
on_open(GSimpleAction *a, GVariant *p, gpointer data)
{
  SpnWindow *win = data;
  (void)a, (void)p;
  GtkFileChooserNative *native = file_chooser(win, "Open Checkpoint", GTK_FILE_CHOOSER_ACTION_OPEN,
                                              "_Open", G_CALLBACK(on_open_chosen));
  g_autoptr(GtkFileFilter) filter = checkpoint_filter();
  gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(native), filter);
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(native));
}

static void
on_open_file(GSimpleAction *a, GVariant *p, gpointer data)
{
  (void)a;
  open_checkpoint(data, g_variant_get_string(p, NULL));
}

static void
on_save_as(GSimpleAction *a, GVariant *p, gpointer data)
{
  SpnWindow *win = data;
  (void)a, (void)p;
  GtkFileChooserNative *native = file_chooser(win, "Save Checkpoint", GTK_FILE_CHOOSER_ACTION_SAVE,
                                              "_Save", G_CALLBACK(on_save_chosen));
  g_autoptr(GtkFileFilter) filter = checkpoint_filter();
  gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(native), filter);
  g_autofree char *name = win->user_file ? g_path_get_basename(win->user_file)
                                         : g_strdup_printf("spanscope-step%" G_GINT64_FORMAT
                                                           ".safetensors", win->step);
  gtk_file_chooser_set_current_name(GTK_FILE_CHOOSER(native), name);
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(native));
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
  show_export_dialog(win, selected);
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
      report_error(win, text);
      return;
    }
  if (n > 0)
    export_figure(win, path, kinds, n, w, h, scale);
}

static void
on_export_csv(GSimpleAction *a, GVariant *p, gpointer data)
{
  SpnWindow *win = data;
  (void)a, (void)p;
  GtkFileChooserNative *native = file_chooser(win, "Export Metrics", GTK_FILE_CHOOSER_ACTION_SAVE,
                                              "_Export", G_CALLBACK(on_csv_chosen));
  gtk_file_chooser_set_current_name(GTK_FILE_CHOOSER(native), "spanscope-metrics.csv");
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(native));
}

static void
on_export_csv_to(GSimpleAction *a, GVariant *p, gpointer data)
{
  (void)a;
  spn_worker_export_csv(((SpnWindow *)data)->worker, g_variant_get_string(p, NULL));
}

static void
on_probe_text(GSimpleAction *a, GVariant *p, gpointer data)
{
  (void)a;
  set_probe_text(data, g_variant_get_string(p, NULL));
}

static void
on_maximize(GSimpleAction *a, GVariant *p, gpointer data)
{
  SpnWindow *win = data;
  (void)a;
  SpnFigureKind kind;
  const char *name = g_variant_get_string(p, NULL);
  set_maximized(win, spn_figure_from_name(name, &kind) ? (int)kind : -1);
}

static void
on_restore(GSimpleAction *a, GVariant *p, gpointer data)
{
  (void)a, (void)p;
  set_maximized(data, -1);
}

static const GActionEntry win_actions[] = {
  {"train", NULL, NULL, "false", on_train_change, {0}},
  {"step", on_step, NULL, NULL, NULL, {0}},
  {"train-until", on_train_until, "x", NULL, NULL, {0}},
  {"new-model", on_new_model, NULL, NULL, NULL, {0}},
  {"open", on_open, NULL, NULL, NULL, {0}},
  {"open-file", on_open_file, "s", NULL, NULL, {0}},
  {"save", on_save, NULL, NULL, NULL, {0}},
  {"save-as", on_save_as, NULL, NULL, NULL, {0}},
  {"save-to", on_save_to, "s", NULL, NULL, {0}},
  {"export", on_export, NULL, NULL, NULL, {0}},
  {"export-to", on_export_to, "(sasddd)", NULL, NULL, {0}},
  {"export-csv", on_export_csv, NULL, NULL, NULL, {0}},
  {"export-csv-to", on_export_csv_to, "s", NULL, NULL, {0}},
  {"layer", NULL, "i", "0", on_layer_change, {0}},
  {"head", NULL, "i", "-1", on_head_change, {0}},
  {"probe-text", on_probe_text, "s", NULL, NULL, {0}},
  {"maximize", on_maximize, "s", NULL, NULL, {0}},
  {"restore", on_restore, NULL, NULL, NULL, {0}},
  {"status", NULL, NULL, "@a{sv} {}", NULL, {0}},
};

/* ---- header bar ---- */

static GMenuModel *
primary_menu(SpnWindow *win)
{
  GMenu *menu = g_menu_new();
  g_autoptr(GMenu) model = g_menu_new();
  g_menu_append(model, "_New Model…", "win.new-model");
  g_menu_append(model, "_Open…", "win.open");
  win->recent_menu = g_menu_new();
  g_menu_append_submenu(model, "Open _Recent", G_MENU_MODEL(win->recent_menu));
  g_menu_append(model, "_Save", "win.save");
  g_menu_append(model, "Save _As…", "win.save-as");
  g_menu_append_section(menu, NULL, G_MENU_MODEL(model));
  g_autoptr(GMenu) exports = g_menu_new();
  g_menu_append(exports, "_Export Figure…", "win.export");
  g_menu_append(exports, "Export _Metrics CSV…", "win.export-csv");
  g_menu_append_section(menu, NULL, G_MENU_MODEL(exports));
  g_autoptr(GMenu) app = g_menu_new();
  g_menu_append(app, "_Keyboard Shortcuts", "win.show-help-overlay");
  g_menu_append(app, "_About spanscope", "app.about");
  g_menu_append(app, "_Quit", "app.quit");
  g_menu_append_section(menu, NULL, G_MENU_MODEL(app));
  return G_MENU_MODEL(menu);
}

static GtkWidget *
labelled_button(const char *icon, const char *label, const char *action_name,
                const char *tooltip, const char *accessible, gboolean toggle,
                AdwButtonContent **content)
{
  GtkWidget *button = toggle ? gtk_toggle_button_new() : gtk_button_new();
  GtkWidget *c = adw_button_content_new();
  adw_button_content_set_icon_name(ADW_BUTTON_CONTENT(c), icon);
  adw_button_content_set_label(ADW_BUTTON_CONTENT(c), label);
  adw_button_content_set_use_underline(ADW_BUTTON_CONTENT(c), TRUE);
  gtk_button_set_child(GTK_BUTTON(button), c);
  gtk_actionable_set_action_name(GTK_ACTIONABLE(button), action_name);
  gtk_widget_set_tooltip_text(button, tooltip);
  spn_set_accessible_label(button, accessible);
  if (content)
    *content = ADW_BUTTON_CONTENT(c);
  return button;
}

static GtkDropDown *
selector(const char *tooltip, const char *accessible, GCallback on_selected, SpnWindow *win)
{
  GtkDropDown *drop = GTK_DROP_DOWN(gtk_drop_down_new(NULL, NULL));
  gtk_widget_set_tooltip_text(GTK_WIDGET(drop), tooltip);
  spn_set_accessible_label(GTK_WIDGET(drop), accessible);
  g_signal_connect(drop, "notify::selected", on_selected, win);
  return drop;
}

static GtkWidget *
make_header(SpnWindow *win)
{
  GtkWidget *header = adw_header_bar_new();
  GtkWidget *train = labelled_button("media-playback-start-symbolic", "_Train", "win.train",
                                     "Train continuously, or pause (Space)", "Train or pause",
                                     TRUE, &win->train_content);
  gtk_widget_add_css_class(train, "suggested-action");
  adw_header_bar_pack_start(ADW_HEADER_BAR(header), train);
  adw_header_bar_pack_start(ADW_HEADER_BAR(header),
                            labelled_button("media-skip-forward-symbolic", "_Step", "win.step",
                                            "One optimizer step (Ctrl+.)", "One training step",
                                            FALSE, NULL));

  win->title = ADW_WINDOW_TITLE(adw_window_title_new("spanscope", "creating the model…"));
  adw_header_bar_set_title_widget(ADW_HEADER_BAR(header), GTK_WIDGET(win->title));

  GtkWidget *menu = gtk_menu_button_new();
  gtk_menu_button_set_icon_name(GTK_MENU_BUTTON(menu), "open-menu-symbolic");
  gtk_menu_button_set_primary(GTK_MENU_BUTTON(menu), TRUE);
  g_autoptr(GMenuModel) model = primary_menu(win);
  gtk_menu_button_set_menu_model(GTK_MENU_BUTTON(menu), model);
  gtk_widget_set_tooltip_text(menu, "Main menu: models, files, export (F10)");
  spn_set_accessible_label(menu, "Main menu");
  adw_header_bar_pack_end(ADW_HEADER_BAR(header), menu);

  win->head_drop = selector("Attention head shown by the heatmap, the soft-mask curves and the "
                            "inspector; “All heads” draws a grid of the layer's heads",
                            "Head", G_CALLBACK(on_head_selected), win);
  win->layer_drop = selector("Layer shown by the heatmap, the soft-mask curves and the inspector",
                             "Layer", G_CALLBACK(on_layer_selected), win);
  adw_header_bar_pack_end(ADW_HEADER_BAR(header), GTK_WIDGET(win->head_drop));
  adw_header_bar_pack_end(ADW_HEADER_BAR(header), GTK_WIDGET(win->layer_drop));
  return header;
}

/* ---- layout ---- */

#define SPLIT_KEY "spn-split-percent"

/* percent: the share of the start child when the window first shows; afterwards GtkPaned keeps
 * the proportion as the window is resized, and the user's drags. */
static GtkWidget *
paned(GtkOrientation orientation, int percent, GtkWidget *start, GtkWidget *end)
{
  GtkWidget *p = gtk_paned_new(orientation);
  g_object_set_data(G_OBJECT(p), SPLIT_KEY, GINT_TO_POINTER(percent));
  gtk_paned_set_start_child(GTK_PANED(p), start);
  gtk_paned_set_end_child(GTK_PANED(p), end);
  gtk_paned_set_shrink_start_child(GTK_PANED(p), FALSE);
  gtk_paned_set_shrink_end_child(GTK_PANED(p), FALSE);
  gtk_paned_set_wide_handle(GTK_PANED(p), TRUE);
  return p;
}

static GtkWidget *
make_panel(SpnWindow *win, SpnFigureKind kind)
{
  GtkWidget *panel = spn_panel_new(kind);
  g_signal_connect(panel, "maximize-toggled", G_CALLBACK(on_panel_maximize_toggled), win);
  g_signal_connect(panel, "export-requested", G_CALLBACK(on_panel_export_requested), win);
  win->panels[kind] = panel;
  return panel;
}

/* Sets the first positions top-down from the layout's size: without them GtkPaned splits by the
 * children's natural sizes, which the figures do not have. */
static void
apply_split(GtkWidget *node, int width, int height)
{
  if (!GTK_IS_PANED(node))
    return;
  gboolean across = gtk_orientable_get_orientation(GTK_ORIENTABLE(node)) ==
                    GTK_ORIENTATION_HORIZONTAL;
  int size = across ? width : height;
  int pos = size * GPOINTER_TO_INT(g_object_get_data(G_OBJECT(node), SPLIT_KEY)) / 100;
  gtk_paned_set_position(GTK_PANED(node), pos);
  apply_split(gtk_paned_get_start_child(GTK_PANED(node)), across ? pos : width,
              across ? height : pos);
  apply_split(gtk_paned_get_end_child(GTK_PANED(node)), across ? width - pos : width,
              across ? height : height - pos);
}

static gboolean
initial_split(GtkWidget *layout, GdkFrameClock *clock, gpointer data)
{
  (void)clock, (void)data;
  int w = gtk_widget_get_width(layout), h = gtk_widget_get_height(layout);
  if (w <= 0 || h <= 0)
    return G_SOURCE_CONTINUE;
  apply_split(layout, w, h);
  return G_SOURCE_REMOVE;
}

/* Spans, their history and the training curves above; the heatmap, the masks and the text
 * below: everything at once on a 1366×768 screen, the heatmap and the text side by side. */
static GtkWidget *
make_layout(SpnWindow *win)
{
  GtkWidget *top = paned(GTK_ORIENTATION_HORIZONTAL, 33, make_panel(win, SPN_FIGURE_SPANS),
                         paned(GTK_ORIENTATION_HORIZONTAL, 50, make_panel(win, SPN_FIGURE_HISTORY),
                               make_panel(win, SPN_FIGURE_CURVES)));
  win->inspector = spn_inspector_new();
  g_signal_connect(win->inspector, "text-changed", G_CALLBACK(on_text_changed), win);
  g_signal_connect(win->inspector, "query-selected", G_CALLBACK(on_query_selected), win);
  GtkWidget *bottom = paned(GTK_ORIENTATION_HORIZONTAL, 42, make_panel(win, SPN_FIGURE_ATTENTION),
                            paned(GTK_ORIENTATION_HORIZONTAL, 42, make_panel(win, SPN_FIGURE_MASKS),
                                  win->inspector));
  g_signal_connect(view_of(win, SPN_FIGURE_ATTENTION), "query-selected",
                   G_CALLBACK(on_query_selected), win);
  win->layout = paned(GTK_ORIENTATION_VERTICAL, 48, top, bottom);
  gtk_widget_add_tick_callback(win->layout, initial_split, NULL, NULL);
  return win->layout;
}

/* ---- shortcuts ---- */

/* Space toggles training from anywhere but a text field: handled after the focused widget had
 * its chance (bubble phase), so typing a space in the inspector stays typing. */
static void
add_window_shortcuts(SpnWindow *win)
{
  GtkEventController *c = gtk_shortcut_controller_new();
  gtk_event_controller_set_propagation_phase(c, GTK_PHASE_BUBBLE);
  GtkShortcutController *sc = GTK_SHORTCUT_CONTROLLER(c);
  gtk_shortcut_controller_add_shortcut(
      sc, gtk_shortcut_new(gtk_keyval_trigger_new(GDK_KEY_space, 0),
                           gtk_named_action_new("win.train")));
  gtk_shortcut_controller_add_shortcut(
      sc, gtk_shortcut_new(gtk_keyval_trigger_new(GDK_KEY_Escape, 0),
                           gtk_named_action_new("win.restore")));
  gtk_widget_add_controller(GTK_WIDGET(win), c);
}

/* ---- start ---- */

static void
on_resume_response(AdwMessageDialog *dialog, const char *response, SpnWindow *win)
{
  (void)dialog;
  if (g_strcmp0(response, "resume") == 0)
    open_checkpoint(win, win->autosave_path);
  else
    new_model_from(win, win->preset, win->corpus);
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

static void
start_first_model(SpnWindow *win)
{
  if (win->checkpoint_arg)
    open_checkpoint(win, win->checkpoint_arg);
  else if (win->autosave && g_file_test(win->autosave_path, G_FILE_TEST_IS_REGULAR))
    offer_autosave(win);
  else
    new_model_from(win, win->preset, win->corpus);
}

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
  report_error(win, text);
}

/* Closing saves the session first (when autosaving): the window stays until the worker reports
 * the file written (then it goes) or failed (then it stays and says so). The main thread never
 * waits for it. */
static gboolean
on_close_request(GtkWindow *window)
{
  SpnWindow *win = SPN_WINDOW(window);
  if (win->closing)
    return TRUE;
  if (win->autosave && win->ready && win->close_error == NULL) {
    spn_worker_pause(win->worker);
    win->closing = TRUE;
    write_autosave(win);
    return TRUE;
  }
  GtkWindowClass *parent = GTK_WINDOW_CLASS(spn_window_parent_class);
  return parent->close_request ? parent->close_request(window) : FALSE;
}

/* ---- object ---- */

static void
spn_window_init(SpnWindow *win)
{
  win->maximized = -1;
  win->query = -1;
  win->head = -1;
  win->autosave_path = spn_window_autosave_path();
  g_action_map_add_action_entries(G_ACTION_MAP(win), win_actions, G_N_ELEMENTS(win_actions), win);
  g_simple_action_set_enabled(action(win, "status"), FALSE);
  gtk_window_set_default_size(GTK_WINDOW(win), 1366, 768);
  gtk_window_set_icon_name(GTK_WINDOW(win), "org.spanscope.Spanscope");

  GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
  gtk_box_append(GTK_BOX(box), make_header(win));
  win->toasts = ADW_TOAST_OVERLAY(adw_toast_overlay_new());
  GtkWidget *layout = make_layout(win);
  gtk_widget_set_vexpand(layout, TRUE);
  adw_toast_overlay_set_child(win->toasts, layout);
  gtk_box_append(GTK_BOX(box), GTK_WIDGET(win->toasts));
  adw_application_window_set_content(ADW_APPLICATION_WINDOW(win), box);
  add_window_shortcuts(win);
  rebuild_recent_menu(win);
  g_signal_connect_object(gtk_recent_manager_get_default(), "changed",
                          G_CALLBACK(rebuild_recent_menu), win, G_CONNECT_SWAPPED);

  win->worker = spn_worker_new(NULL, on_snapshot, on_message, win);
  g_simple_action_set_enabled(action(win, "train"), FALSE);
  show_training(win, FALSE);
}

static void
spn_window_dispose(GObject *object)
{
  SpnWindow *win = SPN_WINDOW(object);
  g_clear_handle_id(&win->autosave_source, g_source_remove);
  g_clear_pointer(&win->worker, spn_worker_free);
  g_clear_pointer(&win->snapshot, spn_snapshot_unref);
  G_OBJECT_CLASS(spn_window_parent_class)->dispose(object);
}

static void
spn_window_finalize(GObject *object)
{
  SpnWindow *win = SPN_WINDOW(object);
  g_free(win->corpus);
  g_free(win->preset);
  g_free(win->checkpoint_arg);
  g_free(win->autosave_path);
  g_free(win->close_error);
  g_free(win->seen_checkpoint);
  g_free(win->user_file);
  g_free(win->text);
  g_free(win->text_corpus);
  g_clear_object(&win->recent_menu);
  G_OBJECT_CLASS(spn_window_parent_class)->finalize(object);
}

static void
spn_window_class_init(SpnWindowClass *klass)
{
  G_OBJECT_CLASS(klass)->dispose = spn_window_dispose;
  G_OBJECT_CLASS(klass)->finalize = spn_window_finalize;
  GTK_WINDOW_CLASS(klass)->close_request = on_close_request;
  signals[SIGNAL_WORKER_ERROR] =
      g_signal_new("worker-error", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                   NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  /* "snapshot-dispatched" (gdouble ms): a worker snapshot was handed to every view and the
   * inspector, which took the main thread this long; the frame benchmark reports it. */
  signals[SIGNAL_SNAPSHOT_DISPATCHED] =
      g_signal_new("snapshot-dispatched", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                   NULL, NULL, G_TYPE_NONE, 1, G_TYPE_DOUBLE);
}

SpnWindow *
spn_window_new(GtkApplication *app, const SpnWindowStart *start)
{
  SpnWindow *win = g_object_new(SPN_TYPE_WINDOW, "application", app, NULL);
  win->preset = g_strdup(start->preset ? start->preset : "desktop");
  /* a preset made for one corpus (the span demo) brings it along unless another is named */
  SpnPreset preset = SPN_PRESET_DESKTOP;
  spn_preset_from_name(win->preset, &preset);
  const char *corpus = start->corpus ? start->corpus : spn_preset_corpus(preset);
  win->corpus = g_strdup(corpus ? corpus : "bundled");
  win->checkpoint_arg = g_strdup(start->checkpoint);
  win->autosave = start->autosave;
  if (start->text == NULL)
    win->text_corpus = g_strdup(win->corpus);
  set_probe_text(win, start->text ? start->text : default_text(win->corpus));
  if (win->autosave)
    win->autosave_source = g_timeout_add_seconds(AUTOSAVE_SECONDS, autosave_tick, win);
  start_first_model(win);
  return win;
}
