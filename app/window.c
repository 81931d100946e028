/* window.c — SpnWindow: five figure panels and the text inspector around one engine worker.
 *
 * The main thread never waits on the engine: commands go to the worker and return at once, and
 * the worker hands back immutable snapshots which the window passes to every view. Closing
 * does not wait either (session.c). This file holds the object and what it shows: the view
 * state (layer, head, query, probe text), the title and the status line. */
#include <math.h>

#include "cost.h"
#include "demo.h"
#include "inspector.h"
#include "panel.h"
#include "setup_dialog.h"
#include "viewstate.h"
#include "window-private.h"

G_DEFINE_FINAL_TYPE(SpnWindow, spn_window, ADW_TYPE_APPLICATION_WINDOW)

enum { SIGNAL_WORKER_ERROR, SIGNAL_SNAPSHOT_DISPATCHED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void publish_status(SpnWindow *win);

gboolean
spn_window_is_following(SpnWindow *win)
{
  return win->follower != NULL;
}

SpnFigureView *
spn_window_view(SpnWindow *win, SpnFigureKind kind)
{
  return spn_panel_get_view(SPN_PANEL(win->panels[kind]));
}

GSimpleAction *
spn_window_action(SpnWindow *win, const char *name)
{
  return G_SIMPLE_ACTION(g_action_map_lookup_action(G_ACTION_MAP(win), name));
}

/* ---- toasts ---- */

static void
toast(SpnWindow *win, const char *text, gboolean error)
{
  if (win->quiet && !error)
    return;
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

void
spn_window_toast(SpnWindow *win, const char *text)
{
  toast(win, text, FALSE);
}

void
spn_window_report_error(SpnWindow *win, const char *text)
{
  toast(win, text, TRUE);
  g_signal_emit(win, signals[SIGNAL_WORKER_ERROR], 0, text);
}

/* ---- probe text ---- */

/* The passage the inspector starts with on a run: of its corpus's validation split (the chosen
 * ones of spn_corpus_default_passage for the bundled and the demonstration corpus), NULL until
 * the run's first snapshot. */
static const char *
default_text(const char *corpus, const SpnSnapshot *s)
{
  if (g_strcmp0(corpus, SPN_BUNDLED_SOURCE) == 0 || g_strcmp0(corpus, SPN_DEMO_SOURCE) == 0)
    return spn_corpus_default_passage(corpus);
  return s && g_strcmp0(s->corpus, corpus) == 0 ? s->passage : NULL;
}

void
spn_window_set_probe_text(SpnWindow *win, const char *text)
{
  g_autofree char *current = spn_inspector_get_text(SPN_INSPECTOR(win->inspector));
  if (g_strcmp0(current, text) != 0)
    spn_inspector_set_text(SPN_INSPECTOR(win->inspector), text);
}

static void
on_text_changed(SpnInspector *inspector, const char *text, SpnWindow *win)
{
  (void)inspector;
  if (win->text_corpus && g_strcmp0(text, default_text(win->text_corpus, win->snapshot)) != 0)
    win->text_default = FALSE;   /* the user's own text stays whatever the run */
  g_free(win->text);
  win->text = g_strdup(text);
  spn_worker_set_text(win->worker, text);
  publish_status(win);   /* the reading shown is now of another text */
}

/* A run on another corpus brings its own passage, unless the user has written their own text. */
static void
follow_corpus_text(SpnWindow *win)
{
  const char *corpus = win->snapshot ? win->snapshot->corpus : win->corpus;
  const char *passage = default_text(corpus, win->snapshot);
  if (!win->text_default || passage == NULL || g_strcmp0(win->text_corpus, corpus) == 0)
    return;
  g_free(win->text_corpus);
  win->text_corpus = g_strdup(corpus);
  spn_window_set_probe_text(win, passage);
}

/* "Reset text": the run's passage again. */
static void
on_reset_text(SpnInspector *inspector, SpnWindow *win)
{
  (void)inspector;
  win->text_default = TRUE;
  g_clear_pointer(&win->text_corpus, g_free);
  follow_corpus_text(win);
}

/* ---- options shared by every view ---- */

static void
push_options(SpnWindow *win)
{
  for (int k = 0; k < SPN_FIGURE_COUNT; k++) {
    SpnFigureView *v = spn_window_view(win, k);
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

/* Whoever selects it (a click in the text or a heatmap, the query action), the action's state
 * says which. */
static void
set_query(SpnWindow *win, int query)
{
  if (query == win->query)
    return;
  win->query = query;
  push_options(win);
  spn_inspector_select_query(SPN_INSPECTOR(win->inspector), query);
  g_simple_action_set_state(spn_window_action(win, "query"), g_variant_new_int32(query));
}

static gboolean probe_is_current(SpnWindow *win);

gboolean
spn_window_select_query(SpnWindow *win, int query)
{
  if (query < -1 || (query >= 0 && (!probe_is_current(win) || query >= win->snapshot->probe->n)))
    return FALSE;
  set_query(win, query);
  return TRUE;
}

void
spn_window_forget_query(SpnWindow *win)
{
  set_query(win, -1);
}

/* The heatmap's "All heads" toggle and the header's head selector are one state: the window's
 * head, which the toggle changes like the selector does. */
static void
on_attention_options(SpnFigureView *view, SpnWindow *win)
{
  int head = spn_figure_view_get_options(view)->head;
  if (head != win->head)
    g_action_group_change_action_state(G_ACTION_GROUP(win), "head", g_variant_new_int32(head));
}

static void
on_query_selected(GObject *source, int query, SpnWindow *win)
{
  (void)source;
  set_query(win, query);
}

/* the head overview's click: that head in every view */
static void
on_overview_head(GObject *source, int layer, int head, SpnWindow *win)
{
  (void)source;
  g_action_group_change_action_state(G_ACTION_GROUP(win), "layer", g_variant_new_int32(layer));
  g_action_group_change_action_state(G_ACTION_GROUP(win), "head", g_variant_new_int32(head));
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

gboolean
spn_window_select_layer(SpnWindow *win, int layer)
{
  if (layer < 0 || (win->nlayers > 0 && layer >= win->nlayers))
    return FALSE;
  win->layer = layer;
  sync_selectors(win);
  push_options(win);
  return TRUE;
}

gboolean
spn_window_select_head(SpnWindow *win, int head)
{
  if (head < -1 || (win->nheads > 0 && head >= win->nheads))
    return FALSE;
  win->head = head;
  sync_selectors(win);
  push_options(win);
  return TRUE;
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

/* "step 1,200 · 5.3k tokens/s · train 2.31 bpc · valid 2.40 · span avg 12 / max 44 of 1024" */
static char *
status_line(SpnWindow *win)
{
  const SpnSnapshot *s = win->snapshot;
  if (!win->ready || s == NULL) {
    g_autofree char *following = spn_window_follow_status(win);
    return following ? g_steal_pointer(&following) : g_strdup("creating the model…");
  }
  GString *line = g_string_new(NULL);
  g_string_append_printf(line, "step %'" G_GINT64_FORMAT, win->step);
  if (win->training && win->tokens_per_s > 0) {
    g_autofree char *rate = format_rate(win->tokens_per_s);
    g_string_append_printf(line, " · %s tokens/s", rate);
  }
  const SpnHistory *h = s->history;
  if (h->n > 0)
    g_string_append_printf(line, " · train %.3f bpc", spn_history_train_bpc(h, h->n - 1));
  /* validation runs every few hundred steps: say when, or it reads as today's overfitting */
  int v = spn_history_latest_valid(h);
  if (v >= 0 && spn_history_valid_step(h, v) == win->step)
    g_string_append_printf(line, " · valid %.3f", spn_history_valid_bpc(h, v));
  else if (v >= 0)
    g_string_append_printf(line, " · valid %.3f at step %'" G_GINT64_FORMAT,
                           spn_history_valid_bpc(h, v), spn_history_valid_step(h, v));
  /* slow models (the reference's, 20-45 s a step on a laptop) say how long a step takes and
   * how long the current one has been running */
  double step_s = win->tokens_per_s > 0
                      ? (double)s->cfg.batch_sz * s->cfg.block_sz / win->tokens_per_s : 0;
  if (win->training && step_s >= 1.0)
    g_string_append_printf(line, " · %.0f s/step", step_s);
  gint64 running = (g_get_monotonic_time() - win->step_seen_at) / G_USEC_PER_SEC;
  if (win->stepping || (win->training && running >= 2))
    g_string_append_printf(line, " · step %'" G_GINT64_FORMAT " under way", win->step + 1);
  if ((win->training || win->stepping) && running >= 2)
    g_string_append_printf(line, " for %" G_GINT64_FORMAT " s", running);
  double avg, max;
  spn_span_stats(s->spans, s->cfg.nlayers * s->cfg.nheads, &avg, &max);
  g_string_append_printf(line, " · span avg %.0f / max %.0f of %d", avg, max, s->cfg.attn_span);
  g_autofree char *following = spn_window_follow_status(win);
  if (following)
    g_string_append_printf(line, " · %s", following);
  return g_string_free(line, FALSE);
}

/* How the title names a corpus: "bundled", "demo" or a path. */
static char *
corpus_title(const char *corpus)
{
  if (corpus == NULL)
    return g_strdup("…");
  if (g_strcmp0(corpus, SPN_BUNDLED_SOURCE) == 0)
    return g_strdup("the King James Bible");
  const SpnDemoCorpus *generated = spn_demo_corpus(corpus);
  if (generated)
    return g_strdup(generated->title);
  return g_path_get_basename(corpus);
}

/* The user's file, or "New run on <corpus>"; the status line below it. */
void
spn_window_update_title(SpnWindow *win)
{
  const char *corpus = win->snapshot ? win->snapshot->corpus : win->corpus;
  g_autofree char *about = corpus_title(corpus);
  const char *file = win->user_file ? win->user_file : win->shown_file;
  g_autofree char *title = file ? g_path_get_basename(file)
                                : g_strdup_printf("New run on %s", about);
  g_autofree char *line = status_line(win);
  g_autofree char *window_title = g_strdup_printf("%s — spanscope", title);
  /* a label given new text asks the whole window for a new layout: only when it changed */
  if (g_strcmp0(gtk_label_get_text(win->title_label), title) != 0)
    gtk_label_set_text(win->title_label, title);
  gtk_inscription_set_text(win->status_line, line);
  if (g_strcmp0(gtk_window_get_title(GTK_WINDOW(win)), window_title) != 0)
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
  g_variant_dict_insert(&d, "tokens", "i", probe_is_current(win) ? win->snapshot->probe->n : 0);
  g_variant_dict_insert(&d, "nlayers", "i", win->nlayers);
  g_variant_dict_insert(&d, "nheads", "i", win->nheads);
  g_variant_dict_insert(&d, "checkpoint", "s", win->user_file ? win->user_file : "");
  g_simple_action_set_state(spn_window_action(win, "status"), g_variant_dict_end(&d));
}

static gboolean
step_clock_tick(gpointer data)
{
  spn_window_update_title(data);
  return G_SOURCE_CONTINUE;
}

/* While a step is under way the status line says so and counts its seconds, once a second: no
 * animation, which would redraw the window every frame (the whole window, with a software GL
 * renderer) and starve the main loop of its idle work. */
static void
show_busy(SpnWindow *win)
{
  gboolean busy = win->training || win->stepping;
  if (busy && win->step_clock == 0)
    win->step_clock = g_timeout_add_seconds(1, step_clock_tick, win);
  else if (!busy)
    g_clear_handle_id(&win->step_clock, g_source_remove);
}

void
spn_window_show_stepping(SpnWindow *win)
{
  win->stepping = TRUE;
  win->step_seen_at = g_get_monotonic_time();
  show_busy(win);
  spn_window_update_title(win);
}

void
spn_window_show_training(SpnWindow *win, gboolean training)
{
  if (training && !win->training)
    win->step_seen_at = g_get_monotonic_time();
  win->training = training;
  show_busy(win);
  g_simple_action_set_state(spn_window_action(win, "train"), g_variant_new_boolean(training));
  /* with every snapshot: the button changes (and asks for a layout) only when training does */
  const char *label = training ? "_Pause" : "_Train";
  if (g_strcmp0(adw_button_content_get_label(win->train_content), label) != 0) {
    adw_button_content_set_icon_name(win->train_content, training
                                                             ? "media-playback-pause-symbolic"
                                                             : "media-playback-start-symbolic");
    adw_button_content_set_label(win->train_content, label);
  }
  g_simple_action_set_enabled(spn_window_action(win, "step"), win->ready && !training);
}

/* ---- worker callbacks ---- */

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
  } else if (!spn_session_is_autosave(win, checkpoint)) {
    g_free(win->user_file);
    win->user_file = g_strdup(checkpoint);
    spn_recent_add(checkpoint);
  }
}

static void
apply_status(SpnWindow *win, const SpnWorkerStatus *status)
{
  win->ready = status->ready;
  if (status->step != win->step) {
    win->step_seen_at = g_get_monotonic_time();
    win->stepping = FALSE;
  }
  win->step = status->step;
  win->tokens_per_s = status->tokens_per_s;
  g_simple_action_set_enabled(spn_window_action(win, "train"), status->ready);
  gtk_widget_set_sensitive(GTK_WIDGET(win->layer_drop), status->ready);
  gtk_widget_set_sensitive(GTK_WIDGET(win->head_drop), status->ready);
  spn_window_show_training(win, status->training);
  follow_checkpoint(win, status->checkpoint);
}

#define RATE_KEEP_US (30 * G_USEC_PER_SEC)

/* The work of a step of the running model with its spans now (cost.h), over its step time. */
static double
live_rate(SpnWindow *win)
{
  const SpnSnapshot *s = win->snapshot;
  if (s == NULL || !win->training || win->tokens_per_s <= 0)
    return 0;
  int n = s->cfg.nlayers * s->cfg.nheads;
  g_autofree float *z = g_new(float, MAX(n, 1));
  for (int i = 0; i < n; i++)
    z[i] = s->spans[i] / s->cfg.attn_span;
  return spn_cost_step_work(&s->cfg, z) * win->tokens_per_s /
         ((double)s->cfg.batch_sz * s->cfg.block_sz);
}

double
spn_window_training_rate(SpnWindow *win)
{
  double now = live_rate(win);
  return now > 0 ? now : spn_view_state_get_double("machine", "train-work-per-s", 0, 1e6, 1e15);
}

/* The machine's rate, for New model dialogs of later runs too: every half minute of training. */
static void
keep_rate(SpnWindow *win)
{
  double rate = live_rate(win);
  gint64 now = g_get_monotonic_time();
  if (rate <= 0 || !win->remember_view || now - win->rate_kept_at < RATE_KEEP_US)
    return;
  win->rate_kept_at = now;
  spn_view_state_set_double("machine", "train-work-per-s", rate);
}

static void
on_snapshot(SpnSnapshot *snapshot, const SpnWorkerStatus *status, gpointer data)
{
  SpnWindow *win = data;
  gint64 start = g_get_monotonic_time();
  g_clear_pointer(&win->snapshot, spn_snapshot_unref);
  win->snapshot = spn_snapshot_ref(snapshot);
  apply_status(win, status);
  keep_rate(win);
  follow_shape(win, snapshot->cfg.nlayers, snapshot->cfg.nheads);
  follow_corpus_text(win);
  for (int k = 0; k < SPN_FIGURE_COUNT; k++)
    spn_figure_view_set_snapshot(spn_window_view(win, k), snapshot);
  spn_inspector_set_snapshot(SPN_INSPECTOR(win->inspector), snapshot);
  /* while training, the step clock refreshes the status line once a second: a new line with
   * every snapshot (five a second) would lay the window out again each time */
  if (!win->training || win->step_clock == 0)
    spn_window_update_title(win);
  publish_status(win);
  g_signal_emit(win, signals[SIGNAL_SNAPSHOT_DISPATCHED], 0,
                (g_get_monotonic_time() - start) / 1000.0);
}

/* Files the user opens or saves are announced, failures reported; the session takes what
 * concerns the autosave. */
static void
on_message(const SpnWorkerMessage *m, gpointer data)
{
  SpnWindow *win = data;
  if (spn_session_take_message(win, m))
    return;   /* the window may be gone */
  if (m->kind == SPN_WORKER_SAVED || m->kind == SPN_WORKER_OPENED)
    win->saved_step = m->step;   /* the user's file holds the run up to here */
  if (m->task == SPN_WORKER_TASK_NEW_MODEL &&
      (spn_window_model_created(win, m->error) || m->kind == SPN_WORKER_CREATED))
    return;   /* the New model dialog shows it, or the new model does */
  if (m->kind == SPN_WORKER_FAILED && m->task == SPN_WORKER_TASK_TRAIN) {
    win->stepping = FALSE;   /* the step will not come */
    show_busy(win);
  }
  if (m->kind == SPN_WORKER_FAILED)
    spn_window_report_error(win, m->text);
  else if (m->task != SPN_WORKER_TASK_FOLLOW)   /* a followed version: the status line says it */
    toast(win, m->text, FALSE);
}

static gboolean
on_close_request(GtkWindow *window)
{
  if (spn_session_close_request(SPN_WINDOW(window)))
    return TRUE;
  GtkWindowClass *parent = GTK_WINDOW_CLASS(spn_window_parent_class);
  return parent->close_request ? parent->close_request(window) : FALSE;
}

/* ---- Space ---- */

/* Space toggles training wherever the focus is (a drop-down or a button would otherwise take
 * it), except where Space types or picks: a text field (the inspector), an open menu or list.
 * Ctrl+Space toggles from anywhere. Both run in the capture phase, before the focused widget. */
static gboolean
space_types(SpnWindow *win)
{
  GtkWidget *focus = gtk_root_get_focus(GTK_ROOT(win));
  return focus && (GTK_IS_EDITABLE(focus) || GTK_IS_TEXT_VIEW(focus) ||
                   gtk_widget_get_ancestor(focus, GTK_TYPE_POPOVER) != NULL);
}

static gboolean
on_space(GtkWidget *widget, GVariant *args, gpointer data)
{
  (void)args, (void)data;
  SpnWindow *win = SPN_WINDOW(widget);
  if (space_types(win))
    return FALSE;
  return gtk_widget_activate_action(widget, "win.train", NULL);
}

static void
add_space_shortcuts(SpnWindow *win)
{
  GtkEventController *c = gtk_shortcut_controller_new();
  gtk_event_controller_set_propagation_phase(c, GTK_PHASE_CAPTURE);
  gtk_shortcut_controller_add_shortcut(
      GTK_SHORTCUT_CONTROLLER(c),
      gtk_shortcut_new(gtk_keyval_trigger_new(GDK_KEY_space, 0),
                       gtk_callback_action_new(on_space, NULL, NULL)));
  gtk_shortcut_controller_add_shortcut(
      GTK_SHORTCUT_CONTROLLER(c),
      gtk_shortcut_new(gtk_keyval_trigger_new(GDK_KEY_space, GDK_CONTROL_MASK),
                       gtk_named_action_new("win.train")));
  gtk_widget_add_controller(GTK_WIDGET(win), c);
}

/* ---- object ---- */

static void
spn_window_init(SpnWindow *win)
{
  win->query = -1;
  win->head = -1;
  gtk_widget_init_template(GTK_WIDGET(win));
  spn_window_add_actions(win);
  add_space_shortcuts(win);
  adw_toast_overlay_set_child(win->toasts, spn_window_build_layout(win));
  g_signal_connect(win->inspector, "text-changed", G_CALLBACK(on_text_changed), win);
  g_signal_connect(win->inspector, "query-selected", G_CALLBACK(on_query_selected), win);
  g_signal_connect(win->inspector, "reset-requested", G_CALLBACK(on_reset_text), win);
  g_signal_connect(spn_window_view(win, SPN_FIGURE_HEADS), "head-selected",
                   G_CALLBACK(on_overview_head), win);
  g_signal_connect(spn_window_view(win, SPN_FIGURE_ATTENTION), "query-selected",
                   G_CALLBACK(on_query_selected), win);
  g_signal_connect(spn_window_view(win, SPN_FIGURE_DISTANCE), "query-selected",
                   G_CALLBACK(on_query_selected), win);
  g_signal_connect(spn_window_view(win, SPN_FIGURE_ATTENTION), "options-changed",
                   G_CALLBACK(on_attention_options), win);
  /* until the model's shape is known: what the selectors will show, not "(None)" */
  fill_selector(win->layer_drop, 1, NULL, "Layer %d");
  fill_selector(win->head_drop, 0, "All heads", NULL);
  gtk_widget_set_sensitive(GTK_WIDGET(win->layer_drop), FALSE);
  gtk_widget_set_sensitive(GTK_WIDGET(win->head_drop), FALSE);
    spn_recent_follow(win->recent_menu);
  win->worker = spn_worker_new(NULL, on_snapshot, on_message, win);
  spn_window_show_training(win, FALSE);
}

static void
spn_window_dispose(GObject *object)
{
  SpnWindow *win = SPN_WINDOW(object);
  spn_session_stop(win);
  g_clear_handle_id(&win->step_clock, g_source_remove);
  if (win->replacing)
    g_object_remove_weak_pointer(G_OBJECT(win->replacing), (gpointer *)&win->replacing);
  if (win->creating)
    g_object_remove_weak_pointer(G_OBJECT(win->creating), (gpointer *)&win->creating);
  win->replacing = win->creating = NULL;
  g_clear_pointer(&win->follower, spn_follower_free);
  g_clear_handle_id(&win->follow_tick, g_source_remove);
  g_clear_pointer(&win->worker, spn_worker_free);
  g_clear_pointer(&win->snapshot, spn_snapshot_unref);
  gtk_widget_dispose_template(GTK_WIDGET(win), SPN_TYPE_WINDOW);
  G_OBJECT_CLASS(spn_window_parent_class)->dispose(object);
}

static void
spn_window_finalize(GObject *object)
{
  SpnWindow *win = SPN_WINDOW(object);
  g_free(win->corpus);
  g_free(win->preset);
  g_free(win->checkpoint_arg);
  g_free(win->follow_arg);
  g_free(win->autosave_path);
  g_free(win->close_error);
  g_free(win->seen_checkpoint);
  g_free(win->user_file);
  g_free(win->text);
  g_free(win->text_corpus);
  g_free(win->follow_path);
  g_free(win->shown_file);
  g_free(win->follow_failure);
  g_free(win->ref_data);
  g_free(win->ref_flags);
  G_OBJECT_CLASS(spn_window_parent_class)->finalize(object);
}

static void
spn_window_class_init(SpnWindowClass *klass)
{
  G_OBJECT_CLASS(klass)->dispose = spn_window_dispose;
  G_OBJECT_CLASS(klass)->finalize = spn_window_finalize;
  GTK_WINDOW_CLASS(klass)->close_request = on_close_request;
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  gtk_widget_class_set_template_from_resource(widget_class,
                                              "/org/spanscope/Spanscope/ui/window.ui");
  gtk_widget_class_bind_template_child(widget_class, SpnWindow, toasts);
  gtk_widget_class_bind_template_child(widget_class, SpnWindow, title_label);
  gtk_widget_class_bind_template_child(widget_class, SpnWindow, status_line);
  gtk_widget_class_bind_template_child(widget_class, SpnWindow, train_content);
  gtk_widget_class_bind_template_child(widget_class, SpnWindow, layer_drop);
  gtk_widget_class_bind_template_child(widget_class, SpnWindow, head_drop);
  gtk_widget_class_bind_template_child(widget_class, SpnWindow, recent_menu);
  gtk_widget_class_bind_template_callback(widget_class, on_layer_selected);
  gtk_widget_class_bind_template_callback(widget_class, on_head_selected);
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
  win->corpus = g_strdup(corpus ? corpus : SPN_BUNDLED_SOURCE);
  win->checkpoint_arg = g_strdup(start->checkpoint);
  win->follow_arg = g_strdup(start->follow);
  win->ref_flags = g_strdup(start->reference_flags);
  win->corpus_given = start->corpus != NULL;
  win->autosave = start->autosave;
  win->quiet = start->quiet;
  if (start->remember_view)
    spn_window_remember_view(win);
  win->text_default = start->text == NULL;
  if (start->text)
    spn_window_set_probe_text(win, start->text);
  else if (!win->checkpoint_arg)
    follow_corpus_text(win);   /* the bundled and demo passages are known before the model */
  spn_session_start(win);
  return win;
}
