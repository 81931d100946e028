/* test_app.c — the desktop application driven through its actions, as menus and shortcuts
 * drive it: train, pause, step, type text, pick layer and head, export every format (through
 * the export dialog too), save and reopen a checkpoint, autosave on quit; and the --screenshot
 * mode of the real program. The window opens a tiny model (a checkpoint written here, on a
 * small corpus), so training steps take milliseconds. Runs under xvfb-run (with the cairo
 * renderer); without a display every test is skipped. */
#include <X11/extensions/XTest.h>
#include <gdk/x11/gdkx.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <gtk/gtk.h>
#include <string.h>
#include <sys/stat.h>
#undef Status   /* Xlib's; the test's Status is the window's */

#include "application.h"
#include "checkpoint.h"
#include "fixtures.h"
#include "compare_window.h"
#include "cost.h"
#include "export_dialog.h"
#include "figure_view.h"
#include "headless.h"
#include "inspector.h"
#include "panel.h"
#include "refrun.h"
#include "setup_dialog.h"
#include "trainer.h"
#include "viewstate.h"
#include "window.h"

#define MODEL_TIMEOUT_S 300.0   /* loading the corpus and building the model, on a busy machine */
#define STEP_TIMEOUT_S 120.0

static SpnApplication *app;
static GtkWidget *win;
static char *tmpdir;
static char *tiny_checkpoint;   /* the model the window opens */
static gint64 autosaved_step = -1;
static char *start_passage;     /* the inspector's first text */

static void tiny_config(SpnConfig *c);
static SpnPanel *panel_of(GtkWidget *window, SpnFigureKind kind);
static const SpnFigureOptions *options_in(GtkWidget *window, SpnFigureKind kind);

/* ---- helpers ---- */

typedef gboolean (*Condition)(gpointer data);

/* Runs the main loop until cond holds or the time is up. */
static gboolean
wait_until(Condition cond, gpointer data, double seconds)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)(seconds * G_USEC_PER_SEC);
  while (!cond(data)) {
    if (g_get_monotonic_time() > deadline)
      return FALSE;
    if (!g_main_context_iteration(NULL, FALSE))
      g_usleep(5000);
  }
  return TRUE;
}

static gboolean
never(gpointer data)
{
  (void)data;
  return FALSE;
}

static void
spin_main_loop(double seconds)
{
  wait_until(never, NULL, seconds);
}

typedef struct {
  gboolean ready, training, probe;
  gint64 step;
  int nlayers, nheads;
  char *checkpoint;
} Status;

static Status
status(void)
{
  Status s = {0};
  g_autoptr(GVariant) v = g_action_group_get_action_state(G_ACTION_GROUP(win), "status");
  GVariantDict d;
  g_variant_dict_init(&d, v);
  g_variant_dict_lookup(&d, "ready", "b", &s.ready);
  g_variant_dict_lookup(&d, "training", "b", &s.training);
  g_variant_dict_lookup(&d, "probe", "b", &s.probe);
  g_variant_dict_lookup(&d, "step", "x", &s.step);
  g_variant_dict_lookup(&d, "nlayers", "i", &s.nlayers);
  g_variant_dict_lookup(&d, "nheads", "i", &s.nheads);
  g_variant_dict_lookup(&d, "checkpoint", "s", &s.checkpoint);
  g_variant_dict_clear(&d);
  return s;
}

static void
status_clear(Status *s)
{
  g_free(s->checkpoint);
}

static gboolean
is_ready(gpointer data)
{
  (void)data;
  Status s = status();
  status_clear(&s);
  return s.ready && s.nlayers > 0;
}

/* idle at exactly *data steps */
static gboolean
idle_at_step(gpointer data)
{
  Status s = status();
  status_clear(&s);
  return !s.training && s.step == *(gint64 *)data;
}

static gboolean
training_past(gpointer data)
{
  Status s = status();
  status_clear(&s);
  return s.training && s.step >= *(gint64 *)data;
}

static gboolean
is_idle(gpointer data)
{
  (void)data;
  Status s = status();
  status_clear(&s);
  return !s.training;
}

static gboolean
probe_current(gpointer data)
{
  (void)data;
  Status s = status();
  status_clear(&s);
  return s.probe;
}

static gboolean
file_exists(gpointer path)
{
  return g_file_test(path, G_FILE_TEST_IS_REGULAR);
}

static void
activate(const char *name, GVariant *parameter)
{
  g_action_group_activate_action(G_ACTION_GROUP(win), name, parameter);
}

static gint64
current_step(void)
{
  Status s = status();
  status_clear(&s);
  return s.step;
}

/* Depth-first search for widgets of a type. */
static void
collect(GtkWidget *w, GType type, GPtrArray *out)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE(w, type))
    g_ptr_array_add(out, w);
  for (GtkWidget *c = gtk_widget_get_first_child(w); c; c = gtk_widget_get_next_sibling(c))
    collect(c, type, out);
}

static GtkWidget *
find_one(GtkWidget *root, GType type)
{
  g_autoptr(GPtrArray) found = g_ptr_array_new();
  collect(root, type, found);
  g_assert_cmpuint(found->len, >=, 1);
  return found->pdata[0];
}

static char *
tmp_path(const char *name)
{
  return g_build_filename(tmpdir, name, NULL);
}

static gboolean
need_window(void)
{
  if (win == NULL) {
    g_test_skip("no display: the window could not be created");
    return FALSE;
  }
  return TRUE;
}

/* The first toplevel window of a type (a dialog the window opened), NULL if none. */
static gpointer
find_toplevel(GType type)
{
  GListModel *toplevels = gtk_window_get_toplevels();   /* not ours */
  for (guint i = 0; i < g_list_model_get_n_items(toplevels); i++) {
    g_autoptr(GObject) w = g_list_model_get_item(toplevels, i);
    if (G_TYPE_CHECK_INSTANCE_TYPE(w, type))
      return w;
  }
  return NULL;
}

/* ---- keys, as the X server delivers them ---- */

/* Presses and releases keysym (with Control held if asked) on the window that has the X input
 * focus, through XTest: GTK dispatches it as any key, to whatever widget has the focus. */
static void
press_key(GtkWidget *window, KeySym keysym, gboolean control)
{
  Display *dpy = gdk_x11_display_get_xdisplay(gtk_widget_get_display(window));
  Window xid = gdk_x11_surface_get_xid(gtk_native_get_surface(GTK_NATIVE(window)));
  XSetInputFocus(dpy, xid, RevertToParent, CurrentTime);
  KeyCode ctrl = XKeysymToKeycode(dpy, XK_Control_L), code = XKeysymToKeycode(dpy, keysym);
  if (control)
    XTestFakeKeyEvent(dpy, ctrl, True, CurrentTime);
  XTestFakeKeyEvent(dpy, code, True, CurrentTime);
  XTestFakeKeyEvent(dpy, code, False, CurrentTime);
  if (control)
    XTestFakeKeyEvent(dpy, ctrl, False, CurrentTime);
  XSync(dpy, False);
  spin_main_loop(0.3);
}

/* Moves the pointer to (x, y) of widget w and clicks the primary button there. */
static void
click_at(GtkWidget *w, double x, double y)
{
  Display *dpy = gdk_x11_display_get_xdisplay(gtk_widget_get_display(win));
  Window xid = gdk_x11_surface_get_xid(gtk_native_get_surface(GTK_NATIVE(win)));
  double wx, wy, sx, sy;
  g_assert_true(gtk_widget_translate_coordinates(w, win, x, y, &wx, &wy));
  gtk_native_get_surface_transform(GTK_NATIVE(win), &sx, &sy);
  int rx, ry;
  Window child;
  XTranslateCoordinates(dpy, xid, DefaultRootWindow(dpy), (int)(wx + sx), (int)(wy + sy), &rx,
                        &ry, &child);
  XTestFakeMotionEvent(dpy, -1, rx, ry, CurrentTime);
  XTestFakeButtonEvent(dpy, 1, True, CurrentTime);
  XTestFakeButtonEvent(dpy, 1, False, CurrentTime);
  XSync(dpy, False);
  spin_main_loop(0.6);   /* past the double-click time (400 ms): the next click is one of its own */
}

static gboolean
is_x11(void)
{
  if (win && GDK_IS_X11_DISPLAY(gtk_widget_get_display(win)))
    return TRUE;
  g_test_skip("keys are typed through XTest: needs an X display");
  return FALSE;
}

/* ---- file checks ---- */

static guint32
be32(const guint8 *p)
{
  return (guint32)p[0] << 24 | (guint32)p[1] << 16 | (guint32)p[2] << 8 | p[3];
}

/* A PNG of exactly width × height pixels. */
static void
assert_png(const char *path, guint32 width, guint32 height)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(path, &data, &len, NULL));
  g_assert_cmpuint(len, >, 33);
  g_assert_cmpmem(data, 8, "\x89PNG\r\n\x1a\n", 8);
  g_assert_cmpmem(data + 12, 4, "IHDR", 4);
  g_assert_cmpuint(be32((const guint8 *)data + 16), ==, width);
  g_assert_cmpuint(be32((const guint8 *)data + 20), ==, height);
}

static void
count_paths(GMarkupParseContext *ctx, const char *element, const char **names,
            const char **values, gpointer data, GError **error)
{
  (void)ctx, (void)names, (void)values, (void)error;
  if (strcmp(element, "path") == 0)
    (*(int *)data)++;
}

/* Well-formed XML with an <svg> root and vector paths. */
static void
assert_svg(const char *path)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(path, &data, &len, NULL));
  g_assert_nonnull(strstr(data, "<svg"));
  int paths = 0;
  GMarkupParser parser = {.start_element = count_paths};
  GMarkupParseContext *ctx = g_markup_parse_context_new(&parser, 0, &paths, NULL);
  g_autoptr(GError) error = NULL;
  gboolean ok = g_markup_parse_context_parse(ctx, data, len, &error) &&
                g_markup_parse_context_end_parse(ctx, &error);
  g_markup_parse_context_free(ctx);
  g_assert_no_error(error);
  g_assert_true(ok);
  g_assert_cmpint(paths, >, 10);
}

static void
assert_pdf(const char *path)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(path, &data, &len, NULL));
  g_assert_cmpuint(len, >, 1000);
  g_assert_cmpmem(data, 5, "%PDF-", 5);
}

/* ---- tests ---- */

static void
test_start(void)
{
  if (!need_window())
    return;
  /* while the model loads the selectors show what they will hold, never "(None)" */
  g_autoptr(GPtrArray) drops = g_ptr_array_new();
  collect(find_one(win, ADW_TYPE_HEADER_BAR), GTK_TYPE_DROP_DOWN, drops);
  for (guint i = 0; i < drops->len; i++)
    g_assert_cmpuint(g_list_model_get_n_items(gtk_drop_down_get_model(drops->pdata[i])), >=, 1);
  g_assert_true(wait_until(is_ready, NULL, MODEL_TIMEOUT_S));
  Status s = status();
  g_assert_cmpint(s.nlayers, >=, 1);
  g_assert_cmpint(s.nheads, >=, 1);
  g_assert_false(s.training);
  status_clear(&s);
  /* five panels and the inspector are on screen at once, the other figures in tabs beside
   * them */
  g_autoptr(GPtrArray) panels = g_ptr_array_new();
  collect(win, SPN_TYPE_PANEL, panels);
  g_assert_cmpuint(panels->len, ==, SPN_FIGURE_COUNT);
  int mapped = 0;
  for (guint i = 0; i < panels->len; i++) {
    gboolean on_screen = gtk_widget_get_mapped(panels->pdata[i]);
    mapped += on_screen;
    g_assert_true(on_screen ||
                  gtk_widget_get_ancestor(panels->pdata[i], GTK_TYPE_NOTEBOOK) != NULL);
  }
  g_assert_cmpint(mapped, ==, 5);
  g_assert_true(gtk_widget_get_mapped(find_one(win, SPN_TYPE_INSPECTOR)));
  /* the inspector shows a passage of the run's own validation split (90-95 % of the corpus) */
  g_assert_true(wait_until(probe_current, NULL, STEP_TIMEOUT_S));
  g_autofree char *corpus_path = tmp_path("corpus.txt"), *corpus = NULL;
  gsize len;
  g_assert_true(g_file_get_contents(corpus_path, &corpus, &len, NULL));
  start_passage = spn_inspector_get_text(SPN_INSPECTOR(find_one(win, SPN_TYPE_INSPECTOR)));
  g_assert_cmpuint(strlen(start_passage), >, 100);
  g_autofree char *valid = g_strndup(corpus + len * 89 / 100, len * 7 / 100);
  g_assert_nonnull(strstr(valid, start_passage));
    /* the icon comes with the program, installed or not */
  GtkIconTheme *theme = gtk_icon_theme_get_for_display(gtk_widget_get_display(win));
  g_assert_true(gtk_icon_theme_has_icon(theme, SPN_APPLICATION_ID));
}

static void
test_step(void)
{
  if (!need_window())
    return;
  gint64 target = current_step() + 2;
  activate("step", NULL);
  /* the status line says a step is under way until it comes */
  GtkInscription *title = GTK_INSCRIPTION(find_one(find_one(win, ADW_TYPE_HEADER_BAR),
                                                    GTK_TYPE_INSCRIPTION));
  g_autofree char *busy = g_strdup_printf("step %" G_GINT64_FORMAT " under way", target - 1);
  g_assert_nonnull(strstr(gtk_inscription_get_text(title), busy));
  activate("step", NULL);
  g_assert_true(wait_until(idle_at_step, &target, STEP_TIMEOUT_S));
  g_assert_null(strstr(gtk_inscription_get_text(title), "under way"));
  /* the header's validation is the one of step 1, and says so next to today's train bpc */
  const char *line = gtk_inscription_get_text(title);
  g_assert_nonnull(strstr(line, "train "));
  g_assert_nonnull(strstr(line, "valid 3.500 at step 1"));
}

static void
test_train_pause(void)
{
  if (!need_window())
    return;
  gint64 past = current_step() + 2;
  g_action_group_change_action_state(G_ACTION_GROUP(win), "train", g_variant_new_boolean(TRUE));
  g_assert_true(wait_until(training_past, &past, STEP_TIMEOUT_S));
  /* the toggle action (Space, the header button) pauses */
  activate("train", NULL);
  g_assert_true(wait_until(is_idle, NULL, STEP_TIMEOUT_S));
  spin_main_loop(0.5);
  gint64 paused_at = current_step();
  spin_main_loop(1.5);
  g_assert_cmpint(current_step(), ==, paused_at);
}

static GtkWidget *
button_labelled(GtkWidget *root, const char *label)
{
  g_autoptr(GPtrArray) buttons = g_ptr_array_new();
  collect(root, GTK_TYPE_BUTTON, buttons);
  for (guint i = 0; i < buttons->len; i++)
    if (g_strcmp0(gtk_button_get_label(buttons->pdata[i]), label) == 0)
      return buttons->pdata[i];
  return NULL;
}

static gboolean
training_is(gpointer want)
{
  Status s = status();
  status_clear(&s);
  return s.ready && s.training == GPOINTER_TO_INT(want);
}

static GtkWidget *
inspector_text_view(void)
{
  return find_one(find_one(win, SPN_TYPE_INSPECTOR), GTK_TYPE_TEXT_VIEW);
}

static char *
inspector_text(void)
{
  return spn_inspector_get_text(SPN_INSPECTOR(find_one(win, SPN_TYPE_INSPECTOR)));
}

static gboolean
any_visible(GtkWidget *root, GType type)
{
  g_autoptr(GPtrArray) found = g_ptr_array_new();
  collect(root, type, found);
  for (guint i = 0; i < found->len; i++)
    if (gtk_widget_get_visible(found->pdata[i]))
      return TRUE;
  return FALSE;
}

/* Space trains and pauses whatever has the focus (the header's layer drop-down, which a fresh
 * window focuses first, or the window after a dialog closed), except in the inspector's text,
 * where it types a space and Ctrl+Space trains. Real key presses, through GTK's dispatch. */
static void
test_space_keys(void)
{
  if (!need_window() || !is_x11())
    return;
  g_assert_true(wait_until(is_idle, NULL, STEP_TIMEOUT_S));
  GtkWidget *layer_drop = find_one(find_one(win, ADW_TYPE_HEADER_BAR), GTK_TYPE_DROP_DOWN);
  gtk_widget_grab_focus(layer_drop);
  press_key(win, XK_space, FALSE);
  g_assert_true(wait_until(training_is, GINT_TO_POINTER(TRUE), STEP_TIMEOUT_S));
  g_assert_false(any_visible(layer_drop, GTK_TYPE_POPOVER));   /* its list stayed closed */
  press_key(win, XK_space, FALSE);
  g_assert_true(wait_until(training_is, GINT_TO_POINTER(FALSE), STEP_TIMEOUT_S));

  /* a dialog opened by its shortcut and closed again: Space still trains */
  press_key(win, XK_e, TRUE);
  GtkWindow *dialog = find_toplevel(SPN_TYPE_EXPORT_DIALOG);
  g_assert_nonnull(dialog);
  gtk_window_destroy(dialog);
  spin_main_loop(0.2);
  press_key(win, XK_space, FALSE);
  g_assert_true(wait_until(training_is, GINT_TO_POINTER(TRUE), STEP_TIMEOUT_S));
  press_key(win, XK_space, FALSE);
  g_assert_true(wait_until(training_is, GINT_TO_POINTER(FALSE), STEP_TIMEOUT_S));

  /* in the text Space types; Ctrl+Space trains */
  GtkWidget *view = inspector_text_view();
  GtkTextBuffer *buffer = gtk_text_view_get_buffer(GTK_TEXT_VIEW(view));
  GtkTextIter end;
  gtk_text_buffer_get_end_iter(buffer, &end);
  gtk_text_buffer_place_cursor(buffer, &end);
  gtk_widget_grab_focus(view);
  g_autofree char *before = inspector_text();
  press_key(win, XK_space, FALSE);
  g_autofree char *after = inspector_text();
  g_autofree char *typed = g_strconcat(before, " ", NULL);
  g_assert_cmpstr(after, ==, typed);
  g_assert_true(training_is(GINT_TO_POINTER(FALSE)));
  press_key(win, XK_space, TRUE);
  g_assert_true(wait_until(training_is, GINT_TO_POINTER(TRUE), STEP_TIMEOUT_S));
  press_key(win, XK_space, TRUE);
  g_assert_true(wait_until(training_is, GINT_TO_POINTER(FALSE), STEP_TIMEOUT_S));

  /* Ctrl+Tab types a tab; Tab leaves the text (no keyboard trap) */
  press_key(win, XK_Tab, TRUE);
  g_autofree char *tabbed = inspector_text();
  g_assert_true(g_str_has_suffix(tabbed, " \t"));
  g_assert_true(gtk_widget_has_focus(view));
  press_key(win, XK_Tab, FALSE);
  g_assert_false(gtk_widget_has_focus(view));
  g_autofree char *left = inspector_text();
  g_assert_cmpstr(left, ==, tabbed);
  activate("probe-text", g_variant_new_string(before));
}

static const char *
cost_row_text(SpnSetupDialog *d)
{
  g_autoptr(GPtrArray) rows = g_ptr_array_new();
  collect(GTK_WIDGET(d), ADW_TYPE_ACTION_ROW, rows);
  for (guint i = 0; i < rows->len; i++)
    if (g_strcmp0(adw_preferences_row_get_title(rows->pdata[i]), "Size and speed") == 0)
      return adw_action_row_get_subtitle(rows->pdata[i]);
  return NULL;
}

/* After the window has trained, the New model dialog (Ctrl+N) gives the settings' parameters and
 * seconds per step from the rate this machine trained at; a model twice as deep has more of
 * both. */
static void
test_new_model_estimate(void)
{
  if (!need_window() || !is_x11())
    return;
  gint64 past = current_step() + 3;
  g_action_group_change_action_state(G_ACTION_GROUP(win), "train", g_variant_new_boolean(TRUE));
  g_assert_true(wait_until(training_past, &past, STEP_TIMEOUT_S));
  spin_main_loop(1.0);   /* a tokens/s measured */
  press_key(win, XK_n, TRUE);
  SpnSetupDialog *d = find_toplevel(SPN_TYPE_SETUP_DIALOG);
  g_assert_nonnull(d);
  activate("train", NULL);
  SpnConfig c;
  tiny_config(&c);
  spn_setup_dialog_set_config(d, &c);
  g_autofree char *corpus = tmp_path("corpus.txt");
  spn_setup_dialog_set_corpus(d, corpus, FALSE);
  gint64 params;
  double seconds;
  spn_setup_dialog_get_cost(d, &params, &seconds);
  c.vocab_size = spn_figure_view_get_snapshot(spn_panel_get_view(
                     panel_of(win, SPN_FIGURE_SPANS)))->cfg.vocab_size;
  g_assert_cmpint(params, ==, spn_cost_parameters(&c));
  g_assert_cmpfloat(seconds, >, 0);
  g_assert_cmpfloat(seconds, <, 60);
  const char *text = cost_row_text(d);
  g_assert_nonnull(strstr(text, " parameters · ≈ "));
  g_assert_nonnull(strstr(text, " per step"));
  c.nlayers *= 2;
  spn_setup_dialog_set_config(d, &c);
  gint64 params2;
  double seconds2;
  spn_setup_dialog_get_cost(d, &params2, &seconds2);
  g_assert_cmpint(params2, >, params);
  g_assert_cmpfloat(seconds2, >, seconds * 1.5);
  gtk_window_destroy(GTK_WINDOW(d));
  g_assert_true(wait_until(is_idle, NULL, STEP_TIMEOUT_S));
}

static gboolean
probe_has_text(gpointer text)
{
  GtkWidget *inspector = find_one(win, SPN_TYPE_INSPECTOR);
  g_autofree char *now = spn_inspector_get_text(SPN_INSPECTOR(inspector));
  return probe_current(NULL) && g_strcmp0(now, text) == 0;
}

static void
test_type_text(void)
{
  if (!need_window())
    return;
  const char *first = "In the beginning God created the heaven and the earth.";
  activate("probe-text", g_variant_new_string(first));
  g_assert_true(wait_until(probe_has_text, (gpointer)first, STEP_TIMEOUT_S));
  /* typing: insert at the end of the inspector's text view */
  GtkWidget *inspector = find_one(win, SPN_TYPE_INSPECTOR);
  GtkTextBuffer *buffer = gtk_text_view_get_buffer(GTK_TEXT_VIEW(find_one(inspector, GTK_TYPE_TEXT_VIEW)));
  GtkTextIter end;
  gtk_text_buffer_get_end_iter(buffer, &end);
  gtk_text_buffer_insert(buffer, &end, " And the earth was without form", -1);
  g_autofree char *typed = g_strconcat(first, " And the earth was without form", NULL);
  g_assert_true(wait_until(probe_has_text, typed, STEP_TIMEOUT_S));
  /* the heatmap and the masks draw the reading of that text */
  g_autoptr(GPtrArray) views = g_ptr_array_new();
  collect(win, SPN_TYPE_FIGURE_VIEW, views);
  for (guint i = 0; i < views->len; i++) {
    SpnSnapshot *shown = spn_figure_view_get_snapshot(views->pdata[i]);
    g_assert_nonnull(shown);
    g_assert_cmpstr(shown->text, ==, typed);
    g_assert_nonnull(shown->probe);
  }
}

static void
assert_views(int layer, int head)
{
  g_autoptr(GPtrArray) views = g_ptr_array_new();
  collect(win, SPN_TYPE_FIGURE_VIEW, views);
  g_assert_cmpuint(views->len, ==, SPN_FIGURE_COUNT);
  for (guint i = 0; i < views->len; i++) {
    const SpnFigureOptions *o = spn_figure_view_get_options(views->pdata[i]);
    g_assert_cmpint(o->layer, ==, layer);
    g_assert_cmpint(o->head, ==, head);
  }
}

static void
test_select_layer_head(void)
{
  if (!need_window())
    return;
  Status s = status();
  status_clear(&s);
  int layer = s.nlayers - 1, head = s.nheads - 1;
  g_action_group_change_action_state(G_ACTION_GROUP(win), "layer", g_variant_new_int32(layer));
  g_action_group_change_action_state(G_ACTION_GROUP(win), "head", g_variant_new_int32(head));
  assert_views(layer, head);
  /* out of range is refused */
  g_action_group_change_action_state(G_ACTION_GROUP(win), "layer",
                                     g_variant_new_int32(s.nlayers));
  assert_views(layer, head);
  g_action_group_change_action_state(G_ACTION_GROUP(win), "head", g_variant_new_int32(-1));
  assert_views(layer, -1);
  g_action_group_change_action_state(G_ACTION_GROUP(win), "layer", g_variant_new_int32(0));
  g_action_group_change_action_state(G_ACTION_GROUP(win), "head", g_variant_new_int32(0));
  assert_views(0, 0);

  /* the heatmap's "All heads" toggle and the header's head selector are one state */
  if (!is_x11())
    return;
  GtkWidget *attention = NULL;
  g_autoptr(GPtrArray) panels = g_ptr_array_new();
  collect(win, SPN_TYPE_PANEL, panels);
  for (guint i = 0; i < panels->len; i++)
    if (spn_figure_view_get_kind(spn_panel_get_view(panels->pdata[i])) == SPN_FIGURE_ATTENTION)
      attention = panels->pdata[i];
  GtkWidget *all = button_labelled(attention, "All heads");
  g_autoptr(GPtrArray) drops = g_ptr_array_new();
  collect(find_one(win, ADW_TYPE_HEADER_BAR), GTK_TYPE_DROP_DOWN, drops);
  GtkDropDown *head_drop = drops->pdata[1];
  click_at(all, gtk_widget_get_width(all) / 2.0, gtk_widget_get_height(all) / 2.0);
  assert_views(0, -1);
  g_assert_cmpuint(gtk_drop_down_get_selected(head_drop), ==, 0);   /* "All heads" */
  gtk_drop_down_set_selected(head_drop, 2);   /* head 1 */
  assert_views(0, 1);
  g_assert_false(gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(all)));
}

static void
export_to(const char *path, const char *const *names, double w, double h, double scale)
{
  activate("export-to", g_variant_new("(s^asddd)", path, names, w, h, scale));
}

static void
test_export(void)
{
  if (!need_window())
    return;
  const char *one[] = {"attention", NULL};
  const char *several[] = {"spans", "history", "masks", "attention", "curves", NULL};
  g_autofree char *png = tmp_path("attention.png");
  g_autofree char *png2 = tmp_path("all.png");
  g_autofree char *svg = tmp_path("attention.svg");
  g_autofree char *svg2 = tmp_path("all.svg");
  g_autofree char *pdf = tmp_path("all.pdf");
  export_to(png, one, 400, 300, 2.0);
  assert_png(png, 800, 600);
  export_to(png2, several, 900, 600, 1.0);
  assert_png(png2, 900, 600);
  export_to(svg, one, 500, 400, 1.0);
  assert_svg(svg);
  export_to(svg2, several, 900, 600, 1.0);
  assert_svg(svg2);
  export_to(pdf, several, 900, 600, 1.0);
  assert_pdf(pdf);
}


/* The export dialog opened by the window: the maximized panel ticked, the figures, size and
 * format read back as the user sets them, and the file the window then draws. */
static void
test_export_dialog(void)
{
  if (!need_window())
    return;
  SpnExportFormat f;
  g_assert_true(spn_export_format_from_path("a/b.PNG", &f) && f == SPN_EXPORT_PNG);
  g_assert_true(spn_export_format_from_path("b.svg", &f) && f == SPN_EXPORT_SVG);
  g_assert_true(spn_export_format_from_path("b.pdf", &f) && f == SPN_EXPORT_PDF);
  g_assert_false(spn_export_format_from_path("b", &f));
  g_assert_false(spn_export_format_from_path("a.svg/b", &f));

  activate("maximize", g_variant_new_string("attention"));
  activate("export", NULL);
  SpnExportDialog *d = find_toplevel(SPN_TYPE_EXPORT_DIALOG);
  g_assert_nonnull(d);
  SpnFigureKind kinds[SPN_FIGURE_COUNT];
  g_assert_cmpint(spn_export_dialog_get_kinds(d, kinds), ==, 1);
  g_assert_cmpint(kinds[0], ==, SPN_FIGURE_ATTENTION);
  double w, h, scale;
  spn_export_dialog_get_size(d, &w, &h, &scale);   /* one figure: a panel's proportions */
  g_assert_cmpfloat(w, ==, 900);
  g_assert_cmpfloat(h, ==, 560);
  g_assert_cmpfloat(scale, ==, 2);

  /* the checks in display order; none ticked, nothing to export */
  g_autoptr(GPtrArray) checks = g_ptr_array_new();
  collect(GTK_WIDGET(d), GTK_TYPE_CHECK_BUTTON, checks);
  g_assert_cmpuint(checks->len, ==, SPN_FIGURE_COUNT);
  gtk_check_button_set_active(checks->pdata[SPN_FIGURE_SPANS], TRUE);
  g_assert_cmpint(spn_export_dialog_get_kinds(d, kinds), ==, 2);
  g_assert_cmpint(kinds[0], ==, SPN_FIGURE_SPANS);
  g_assert_cmpint(kinds[1], ==, SPN_FIGURE_ATTENTION);
  GtkWidget *export = button_labelled(GTK_WIDGET(d), "_Export…");
  g_assert_nonnull(export);
  for (guint i = 0; i < checks->len; i++)
    gtk_check_button_set_active(checks->pdata[i], FALSE);
  g_assert_cmpint(spn_export_dialog_get_kinds(d, kinds), ==, 0);
  g_assert_false(gtk_widget_get_sensitive(export));
  gtk_check_button_set_active(checks->pdata[SPN_FIGURE_CURVES], TRUE);
  g_assert_true(gtk_widget_get_sensitive(export));

  /* width, height and PNG scale; the scale only for PNG */
  g_autoptr(GPtrArray) spins = g_ptr_array_new();
  collect(GTK_WIDGET(d), GTK_TYPE_SPIN_BUTTON, spins);
  g_assert_cmpuint(spins->len, ==, 3);
  gtk_spin_button_set_value(spins->pdata[0], 300);
  gtk_spin_button_set_value(spins->pdata[1], 200);
  gtk_spin_button_set_value(spins->pdata[2], 1.5);
  spn_export_dialog_get_size(d, &w, &h, &scale);
  g_assert_cmpfloat(w, ==, 300);
  g_assert_cmpfloat(h, ==, 200);
  g_assert_cmpfloat(scale, ==, 1.5);
  /* a size no PNG can have is refused in the dialog, with the reason */
  gtk_spin_button_set_value(spins->pdata[0], 10000);
  gtk_spin_button_set_value(spins->pdata[2], 8);
  g_assert_false(gtk_widget_get_sensitive(export));
  gtk_spin_button_set_value(spins->pdata[0], 300);
  gtk_spin_button_set_value(spins->pdata[2], 1.5);
  g_assert_true(gtk_widget_get_sensitive(export));
  AdwComboRow *format = ADW_COMBO_ROW(find_one(GTK_WIDGET(d), ADW_TYPE_COMBO_ROW));
  GtkWidget *scale_row = gtk_widget_get_ancestor(spins->pdata[2], ADW_TYPE_ACTION_ROW);
  adw_combo_row_set_selected(format, SPN_EXPORT_SVG);
  g_assert_false(gtk_widget_get_visible(scale_row));
  adw_combo_row_set_selected(format, SPN_EXPORT_PNG);
  g_assert_true(gtk_widget_get_visible(scale_row));

  /* the user chose a file: the window draws the ticked figure at that size */
  g_autofree char *png = tmp_path("from-dialog.png");
  g_signal_emit_by_name(d, "export", png);
  assert_png(png, 450, 300);
  gtk_window_destroy(GTK_WINDOW(d));
  activate("restore", NULL);
}

static void
test_export_csv(void)
{
  if (!need_window())
    return;
  g_autofree char *csv = tmp_path("metrics.csv");
  activate("export-csv-to", g_variant_new_string(csv));
  g_assert_true(wait_until(file_exists, csv, STEP_TIMEOUT_S));
  g_autofree char *data = NULL;
  g_assert_true(g_file_get_contents(csv, &data, NULL, NULL));
  g_assert_true(g_str_has_prefix(data, "step,train_bpc"));
  g_auto(GStrv) lines = g_strsplit(data, "\n", -1);
  /* a header and one row per step so far */
  g_assert_cmpint(g_strv_length(lines), >=, (guint)current_step() + 1);
}

typedef struct {
  const char *path;
  gint64 step;
} Opened;

static gboolean
reopened(gpointer data)
{
  Opened *o = data;
  Status s = status();
  gboolean ok = s.ready && !s.training && s.step == o->step &&
                g_strcmp0(s.checkpoint, o->path) == 0;
  status_clear(&s);
  return ok;
}

static void
test_save_reopen(void)
{
  if (!need_window())
    return;
  g_autofree char *path = tmp_path("run.safetensors");
  gint64 saved = current_step();
  activate("save-to", g_variant_new_string(path));
  g_assert_true(wait_until(file_exists, path, STEP_TIMEOUT_S));
  gint64 next = saved + 1;
  activate("step", NULL);
  g_assert_true(wait_until(idle_at_step, &next, STEP_TIMEOUT_S));
  activate("open-file", g_variant_new_string(path));
  Opened o = {path, saved};
  g_assert_true(wait_until(reopened, &o, MODEL_TIMEOUT_S));
  /* a reopened run trains on */
  activate("step", NULL);
  g_assert_true(wait_until(idle_at_step, &next, STEP_TIMEOUT_S));
}

static gboolean
compare_settled(gpointer data)
{
  return spn_compare_window_get_pending(data) == 0;
}

/* Compare Runs… adds the run on screen as it is now, named by its file and step; Add run opens
 * a checkpoint (named by its file), a missing one is reported and adds nothing; the export
 * writes the three figures. */
static void
test_compare_runs(void)
{
  if (!need_window())
    return;
  g_autofree char *saved = tmp_path("run.safetensors");   /* test_save_reopen's */
  g_assert_true(g_file_test(saved, G_FILE_TEST_IS_REGULAR));
  gint64 step = current_step();
  activate("compare", NULL);
  SpnCompareWindow *cmp = find_toplevel(SPN_TYPE_COMPARE_WINDOW);
  g_assert_nonnull(cmp);
  g_assert_cmpint(spn_compare_window_get_n_runs(cmp), ==, 1);
  g_autofree char *step_text = g_strdup_printf("(step %" G_GINT64_FORMAT ")", step);
  g_assert_nonnull(strstr(spn_compare_window_get_label(cmp, 0), step_text));
  spn_compare_window_add_file(cmp, saved);
  g_assert_true(wait_until(compare_settled, cmp, MODEL_TIMEOUT_S));
  g_assert_cmpint(spn_compare_window_get_n_runs(cmp), ==, 2);
  g_assert_cmpstr(spn_compare_window_get_label(cmp, 1), ==, "run.safetensors");
  g_autofree char *missing = tmp_path("missing.safetensors");
  spn_compare_window_add_file(cmp, missing);
  g_assert_true(wait_until(compare_settled, cmp, MODEL_TIMEOUT_S));
  g_assert_cmpint(spn_compare_window_get_n_runs(cmp), ==, 2);
  spn_compare_window_set_label(cmp, 1, "saved");
  g_assert_cmpstr(spn_compare_window_get_label(cmp, 1), ==, "saved");
  g_autofree char *png = tmp_path("compare.png");
  GError *error = NULL;
  g_assert_true(spn_compare_window_export(cmp, png, 800, 500, &error));
  g_assert_no_error(error);
  cairo_surface_t *img = cairo_image_surface_create_from_png(png);
  g_assert_cmpint(cairo_image_surface_get_width(img), ==, 800);
  cairo_surface_destroy(img);
  spn_compare_window_remove(cmp, 0);
  g_assert_cmpint(spn_compare_window_get_n_runs(cmp), ==, 1);
  gtk_window_destroy(GTK_WINDOW(cmp));
  spin_main_loop(0.2);
}

/* Ctrl+N, the New model dialog, Create: a run with unsaved steps is not replaced without
 * asking. Cancel keeps the run and the dialog, Save writes the run to the user's file before
 * the new model comes, Discard replaces it. */
static SpnSetupDialog *
new_model_dialog(void)
{
  press_key(win, XK_n, TRUE);
  SpnSetupDialog *d = find_toplevel(SPN_TYPE_SETUP_DIALOG);
  g_assert_nonnull(d);
  SpnConfig c;
  tiny_config(&c);
  spn_setup_dialog_set_config(d, &c);
  g_autofree char *corpus = tmp_path("corpus.txt");
  spn_setup_dialog_set_corpus(d, corpus, FALSE);
  return d;
}

static AdwMessageDialog *
press_create(SpnSetupDialog *d)
{
  GtkWidget *create = button_labelled(GTK_WIDGET(d), "C_reate");
  g_assert_nonnull(create);
  g_assert_cmpstr(spn_setup_dialog_get_problem(d), ==, NULL);
  gtk_widget_activate(create);   /* a button shows its press for 250 ms, then is clicked */
  spin_main_loop(0.6);
  return find_toplevel(ADW_TYPE_MESSAGE_DIALOG);
}

static void
step_once(void)
{
  gint64 next = current_step() + 1;
  activate("step", NULL);
  g_assert_true(wait_until(idle_at_step, &next, STEP_TIMEOUT_S));
}

static gboolean
new_run(gpointer data)
{
  (void)data;
  Status s = status();
  gboolean ok = s.ready && s.step == 0 && g_strcmp0(s.checkpoint, "") == 0;
  status_clear(&s);
  return ok;
}

static void
test_new_model_asks(void)
{
  if (!need_window() || !is_x11())
    return;
  g_autofree char *mine = tmp_path("mine.safetensors");
  activate("save-to", g_variant_new_string(mine));
  g_assert_true(wait_until(file_exists, mine, STEP_TIMEOUT_S));
  step_once();
  gint64 trained = current_step();

  SpnSetupDialog *d = new_model_dialog();
  AdwMessageDialog *ask = press_create(d);
  g_assert_nonnull(ask);
  adw_message_dialog_response(ask, "cancel");
  spin_main_loop(0.5);
  g_assert_cmpint(current_step(), ==, trained);
  g_assert_true(find_toplevel(SPN_TYPE_SETUP_DIALOG) == d);   /* still open, fields kept */

  ask = press_create(d);
  g_assert_nonnull(ask);
  adw_message_dialog_response(ask, "save");
  g_assert_true(wait_until(new_run, NULL, MODEL_TIMEOUT_S));
  g_assert_null(find_toplevel(SPN_TYPE_SETUP_DIALOG));
  /* the file holds the run as it was when the user chose */
  activate("open-file", g_variant_new_string(mine));
  Opened o = {mine, trained};
  g_assert_true(wait_until(reopened, &o, MODEL_TIMEOUT_S));

  step_once();
  d = new_model_dialog();
  ask = press_create(d);
  g_assert_nonnull(ask);
  adw_message_dialog_response(ask, "discard");
  g_assert_true(wait_until(new_run, NULL, MODEL_TIMEOUT_S));

  /* nothing trained since: no question */
  d = new_model_dialog();
  g_assert_null(press_create(d));
  g_assert_true(wait_until(new_run, NULL, MODEL_TIMEOUT_S));
  g_assert_null(find_toplevel(SPN_TYPE_SETUP_DIALOG));
}

static gboolean
dialog_shows_corpus_error(gpointer d)
{
  return spn_setup_dialog_get_corpus_error(d) != NULL;
}

/* A corpus the engine refuses (smaller than a block) keeps the New model dialog open with every
 * field as the user left it and the reason on the corpus row; the run stays. Another corpus then
 * makes the model and closes the dialog. */
static void
test_new_model_corpus_error(void)
{
  if (!need_window() || !is_x11())
    return;
  g_autofree char *small = tmp_path("small.txt");
  g_assert_true(g_file_set_contents(small, "too short for one block of 32", -1, NULL));
  g_autofree char *before = status().checkpoint;
  gint64 step = current_step();
  SpnSetupDialog *d = new_model_dialog();
  SpnConfig c;
  g_assert_true(spn_setup_dialog_get_config(d, &c, NULL));
  c.nlayers = 3;
  spn_setup_dialog_set_config(d, &c);
  spn_setup_dialog_set_corpus(d, small, FALSE);
  g_assert_null(press_create(d));
  g_assert_true(wait_until(dialog_shows_corpus_error, d, MODEL_TIMEOUT_S));
  g_assert_true(find_toplevel(SPN_TYPE_SETUP_DIALOG) == d);
  g_assert_nonnull(strstr(spn_setup_dialog_get_corpus_error(d), "small.txt"));
  AdwComboRow *corpus_row = NULL;
  g_autoptr(GPtrArray) combos = g_ptr_array_new();
  collect(GTK_WIDGET(d), ADW_TYPE_COMBO_ROW, combos);
  for (guint i = 0; i < combos->len; i++)
    if (g_strcmp0(adw_preferences_row_get_title(combos->pdata[i]), "Text") == 0)
      corpus_row = combos->pdata[i];
  g_assert_nonnull(corpus_row);
  g_assert_cmpstr(adw_action_row_get_subtitle(ADW_ACTION_ROW(corpus_row)), ==,
                  spn_setup_dialog_get_corpus_error(d));
  SpnConfig kept;
  g_assert_true(spn_setup_dialog_get_config(d, &kept, NULL));
  g_assert_cmpint(kept.nlayers, ==, 3);
  g_assert_cmpint(kept.hid_sz, ==, c.hid_sz);
  g_assert_cmpstr(spn_setup_dialog_get_corpus(d), ==, small);
  Status s = status();
  g_assert_cmpint(s.step, ==, step);   /* the run is as it was */
  g_assert_cmpstr(s.checkpoint, ==, before);
  status_clear(&s);
  /* another corpus: the error goes with the old one, and the model comes */
  g_autofree char *corpus = tmp_path("corpus.txt");
  spn_setup_dialog_set_corpus(d, corpus, FALSE);
  g_assert_null(spn_setup_dialog_get_corpus_error(d));
  g_assert_null(press_create(d));
  g_assert_true(wait_until(new_run, NULL, MODEL_TIMEOUT_S));
  spin_main_loop(0.3);
  g_assert_null(find_toplevel(SPN_TYPE_SETUP_DIALOG));
  s = status();
  g_assert_cmpint(s.nlayers, ==, 3);
  status_clear(&s);
}

static int
window_query(void)
{
  g_autoptr(GPtrArray) views = g_ptr_array_new();
  collect(win, SPN_TYPE_FIGURE_VIEW, views);
  return spn_figure_view_get_options(views->pdata[0])->query;
}

/* Clicks on the inspector's character at offset c. */
static void
click_char(int c)
{
  GtkTextView *view = GTK_TEXT_VIEW(inspector_text_view());
  GtkTextIter at;
  GdkRectangle r;
  int x, y;
  gtk_text_buffer_get_iter_at_offset(gtk_text_view_get_buffer(view), &at, c);
  gtk_text_view_get_iter_location(view, &at, &r);
  gtk_text_view_buffer_to_window_coords(view, GTK_TEXT_WINDOW_WIDGET, r.x + r.width / 2,
                                        r.y + r.height / 2, &x, &y);
  click_at(GTK_WIDGET(view), x, y);
}

/* The clicked query never outlives its text or its model: typing, a new text and another model
 * clear it; the click that brings the focus into the text only places the cursor. */
static void
test_inspector_query(void)
{
  if (!need_window() || !is_x11())
    return;
  const char *text = "And God said, Let there be light: and there was light.";
  activate("probe-text", g_variant_new_string(text));
  g_assert_true(wait_until(probe_has_text, (gpointer)text, STEP_TIMEOUT_S));
  gtk_widget_grab_focus(find_one(find_one(win, ADW_TYPE_HEADER_BAR), GTK_TYPE_DROP_DOWN));
  press_key(win, XK_Shift_L, FALSE);   /* the X focus on the window */
  click_char(4);
  g_assert_true(gtk_widget_has_focus(inspector_text_view()));
  g_assert_cmpint(window_query(), ==, -1);   /* the cursor is placed, the tint stays */
  click_char(4);
  g_assert_cmpint(window_query(), ==, 4);
  press_key(win, XK_Escape, FALSE);
  g_assert_cmpint(window_query(), ==, -1);
  click_char(4);
  g_assert_cmpint(window_query(), ==, 4);
  press_key(win, XK_x, FALSE);   /* typing moves the characters: the query goes */
  g_assert_cmpint(window_query(), ==, -1);
  click_char(6);
  g_assert_cmpint(window_query(), ==, 6);
  activate("probe-text", g_variant_new_string(text));
  g_assert_cmpint(window_query(), ==, -1);
  g_assert_true(wait_until(probe_has_text, (gpointer)text, STEP_TIMEOUT_S));
  click_char(6);
  g_assert_cmpint(window_query(), ==, 6);
  activate("open-file", g_variant_new_string(tiny_checkpoint));   /* another model */
  g_assert_cmpint(window_query(), ==, -1);
  Opened o = {tiny_checkpoint, 1};
  g_assert_true(wait_until(reopened, &o, MODEL_TIMEOUT_S));
  /* the user's text stays with the other model; "Reset text" brings the run's passage back */
  g_autofree char *kept = inspector_text();
  g_assert_cmpstr(kept, !=, start_passage);
  GtkWidget *reset = button_labelled(find_one(win, SPN_TYPE_INSPECTOR), "Reset text");
  g_assert_nonnull(reset);
  click_at(reset, gtk_widget_get_width(reset) / 2.0, gtk_widget_get_height(reset) / 2.0);
  g_autofree char *back = inspector_text();
  g_assert_cmpstr(back, ==, start_passage);
}

typedef struct {
  gint64 step;
  const char *subtitle;   /* a part of the status line */
} Followed;

static gboolean
followed(gpointer data)
{
  Followed *f = data;
  Status s = status();
  status_clear(&s);
  const char *line = gtk_inscription_get_text(
      GTK_INSCRIPTION(find_one(find_one(win, ADW_TYPE_HEADER_BAR), GTK_TYPE_INSCRIPTION)));
  return s.ready && s.step == f->step && line && strstr(line, f->subtitle) != NULL;
}

/* Copies src over dst in place (not by rename), in two pieces with the main loop running
 * between them when slow: what a writer that is not atomic does. */
static void
rewrite(const char *src, const char *dst, gboolean slow)
{
  g_autofree char *data = NULL;
  gsize len;
  g_assert_true(g_file_get_contents(src, &data, &len, NULL));
  FILE *f = fopen(dst, "wb");
  g_assert_nonnull(f);
  g_assert_cmpuint(fwrite(data, 1, len / 2, f), ==, len / 2);
  fflush(f);
  if (slow)
    spin_main_loop(1.5);
  g_assert_cmpuint(fwrite(data + len / 2, 1, len - len / 2, f), ==, len - len / 2);
  fclose(f);
}

/* Follow: the window shows each complete version of a file rewritten in place (one written
 * slowly), says so in its status line, and stops following when a model is opened. */
static void
test_follow(void)
{
  if (!need_window())
    return;
  g_autofree char *v1 = tmp_path("v1.safetensors"), *v2 = tmp_path("v2.safetensors");
  g_autofree char *target = tmp_path("followed.safetensors");
  gint64 first = current_step(), second = first + 1;
  activate("save-to", g_variant_new_string(v1));
  g_assert_true(wait_until(file_exists, v1, STEP_TIMEOUT_S));
  activate("step", NULL);
  g_assert_true(wait_until(idle_at_step, &second, STEP_TIMEOUT_S));
  activate("save-to", g_variant_new_string(v2));
  g_assert_true(wait_until(file_exists, v2, STEP_TIMEOUT_S));
  spin_main_loop(0.5);   /* the save has been reported */
  rewrite(v1, target, FALSE);
  activate("follow-file", g_variant_new_string(target));
  Followed f = {first, "following followed.safetensors · updated just now"};
  g_assert_true(wait_until(followed, &f, MODEL_TIMEOUT_S));
  g_assert_true(spn_window_is_following(SPN_WINDOW(win)));
  rewrite(v2, target, TRUE);
  f.step = second;
  g_assert_true(wait_until(followed, &f, MODEL_TIMEOUT_S));
  /* the history shown continues version by version: each step once, as the file has it */
  g_autoptr(GError) error = NULL;
  SpnCheckpoint *ck = spn_checkpoint_load(v2, &error);
  g_assert_no_error(error);
  g_autoptr(GPtrArray) views = g_ptr_array_new();
  collect(win, SPN_TYPE_FIGURE_VIEW, views);
  for (guint i = 0; i < views->len; i++) {
    const SpnHistory *h = spn_figure_view_get_snapshot(views->pdata[i])->history;
    g_assert_cmpint(h->n, ==, ck->history->n);
    g_assert_cmpint(spn_history_step(h, h->n - 1), ==, second);
    g_assert_cmpint(spn_history_step(h, h->n - 2), ==, first);
  }
  spn_checkpoint_free(ck);
  activate("unfollow", NULL);
  g_assert_false(spn_window_is_following(SPN_WINDOW(win)));
}

static void
set_true(gboolean *flag)
{
  *flag = TRUE;
}

static gboolean
is_true(gpointer flag)
{
  return *(gboolean *)flag;
}

static gboolean
has_size(gpointer widget)
{
  return gtk_widget_get_mapped(widget) && gtk_widget_get_width(widget) > 100;
}

/* The head overview: a click on a cell selects that layer and head in every view. */
static void
test_head_overview(void)
{
  if (!need_window() || !is_x11())
    return;
  activate("maximize", g_variant_new_string("heads"));
  SpnFigureView *view = NULL;
  g_autoptr(GPtrArray) views = g_ptr_array_new();
  collect(win, SPN_TYPE_FIGURE_VIEW, views);
  for (guint i = 0; i < views->len; i++)
    if (spn_figure_view_get_kind(views->pdata[i]) == SPN_FIGURE_HEADS)
      view = views->pdata[i];
  g_assert_true(wait_until(has_size, view, 5));
  /* the view draws in the background: the click must meet the figure drawn at this size */
  gboolean drawn = FALSE;
  gulong id = g_signal_connect_swapped(view, "rendered", G_CALLBACK(set_true), &drawn);
  spn_figure_view_set_options(view, spn_figure_view_get_options(view));
  g_assert_true(wait_until(is_true, &drawn, 10));
  g_signal_handler_disconnect(view, id);
  Status s = status();
  int layer = s.nlayers - 1, head = s.nheads - 1;
  status_clear(&s);
  double w = gtk_widget_get_width(GTK_WIDGET(view)), h = gtk_widget_get_height(GTK_WIDGET(view));
  SpnSnapshot *shown = spn_figure_view_get_snapshot(view);
  const SpnFigureOptions *o = spn_figure_view_get_options(view);
  /* the middle of the last layer's last head's cell, found as the figure lays it out */
  double x0 = 0, y0 = 0;
  int n = 0;
  for (double y = 0; y < h; y += 2)
    for (double x = 0; x < w; x += 2) {
      int l, hd;
      if (spn_figure_heads_cell(w, h, shown, o, x, y, &l, &hd) && l == layer && hd == head)
        x0 += x, y0 += y, n++;
    }
  g_assert_cmpint(n, >, 0);
  click_at(GTK_WIDGET(view), x0 / n, y0 / n);
  assert_views(layer, head);
  activate("maximize", g_variant_new_string(""));
  g_action_group_change_action_state(G_ACTION_GROUP(win), "layer", g_variant_new_int32(0));
  g_action_group_change_action_state(G_ACTION_GROUP(win), "head", g_variant_new_int32(0));
  assert_views(0, 0);
}

static void
test_maximize(void)
{
  if (!need_window())
    return;
  g_autoptr(GPtrArray) panels = g_ptr_array_new();
  collect(win, SPN_TYPE_PANEL, panels);
  activate("maximize", g_variant_new_string("curves"));
  for (guint i = 0; i < panels->len; i++) {
    SpnPanel *p = panels->pdata[i];
    gboolean curves = spn_figure_view_get_kind(spn_panel_get_view(p)) == SPN_FIGURE_CURVES;
    g_assert_cmpint(gtk_widget_is_visible(GTK_WIDGET(p)), ==, curves);
    g_assert_cmpint(spn_panel_get_maximized(p), ==, curves);
  }
  g_assert_false(gtk_widget_is_visible(find_one(win, SPN_TYPE_INSPECTOR)));
  activate("maximize", g_variant_new_string(""));
  for (guint i = 0; i < panels->len; i++)
    g_assert_true(gtk_widget_is_visible(panels->pdata[i]));
  g_assert_true(gtk_widget_is_visible(find_one(win, SPN_TYPE_INSPECTOR)));
}

static int
action_int(const char *name)
{
  g_autoptr(GVariant) v = g_action_group_get_action_state(G_ACTION_GROUP(win), name);
  return g_variant_get_int32(v);
}

static gboolean
shows(gpointer widget)
{
  return gtk_widget_get_mapped(widget);
}

/* What a --screenshot is told to show (--show, --maximize, --layer, --head, --query) reaches
 * the window through its actions: the tabs turn, the panel fills the window, every view draws
 * that layer, head and query, the inspector selects that character; a value the model or the
 * text does not have is refused with the option's name and what it has, the window unchanged. */
static void
test_view_options(void)
{
  if (!need_window())
    return;
  const char *text = "And God said, Let there be light: and there was light.";
  activate("probe-text", g_variant_new_string(text));
  g_assert_true(wait_until(probe_has_text, (gpointer)text, STEP_TIMEOUT_S));
  Status s = status();
  status_clear(&s);
  GtkWidget *distance = GTK_WIDGET(panel_of(win, SPN_FIGURE_DISTANCE));
  GtkWidget *attention = GTK_WIDGET(panel_of(win, SPN_FIGURE_ATTENTION));
  GtkWidget *persistent = GTK_WIDGET(panel_of(win, SPN_FIGURE_PERSISTENT));
  GtkWidget *masks = GTK_WIDGET(panel_of(win, SPN_FIGURE_MASKS));
  activate("show", g_variant_new_string("attention"));
  activate("show", g_variant_new_string("masks"));
  g_assert_true(wait_until(shows, attention, 5) && wait_until(shows, masks, 5));
  g_assert_false(shows(distance) || shows(persistent));

  char *names[] = {"distance", "persistent", NULL};
  SpnHeadlessView v;
  spn_headless_view_init(&v);
  v.show = names;
  v.layer = s.nlayers - 1, v.head = 0, v.query = 12;
  g_autoptr(GError) error = NULL;
  g_assert_true(spn_headless_show_view(SPN_WINDOW(win), &v, &error));
  g_assert_no_error(error);
  g_assert_true(wait_until(shows, distance, 5) && wait_until(shows, persistent, 5));
  g_assert_false(shows(attention) || shows(masks));
  assert_views(s.nlayers - 1, 0);
  g_assert_cmpint(options_in(win, SPN_FIGURE_DISTANCE)->query, ==, 12);
  g_assert_cmpint(options_in(win, SPN_FIGURE_HEADS)->query, ==, 12);
  g_assert_cmpint(action_int("query"), ==, 12);
  /* the inspector's status line speaks of the selected character, ',' after "And God said" */
  GtkWidget *line = find_one(find_one(win, SPN_TYPE_INSPECTOR), GTK_TYPE_INSCRIPTION);
  g_autofree char *want = g_strdup_printf("query ',' #12, layer %d head 0", s.nlayers - 1);
  g_assert_nonnull(strstr(gtk_inscription_get_text(GTK_INSCRIPTION(line)), want));

  /* all heads of the layer, the head overview alone */
  SpnHeadlessView all;
  spn_headless_view_init(&all);
  all.head = -1;
  all.maximize = "heads";
  g_assert_true(spn_headless_show_view(SPN_WINDOW(win), &all, &error));
  assert_views(s.nlayers - 1, -1);
  GtkWidget *heads = GTK_WIDGET(panel_of(win, SPN_FIGURE_HEADS));
  g_assert_true(wait_until(shows, heads, 5) && spn_panel_get_maximized(SPN_PANEL(heads)));
  g_assert_false(shows(distance) || shows(persistent));
  g_assert_false(gtk_widget_is_visible(find_one(win, SPN_TYPE_INSPECTOR)));

  /* refused: what the model or the text does not have, each naming its option */
  const struct {
    int layer, head, query;
    const char *message;
  } bad[] = {
    {s.nlayers, SPN_HEADLESS_UNSET, SPN_HEADLESS_UNSET, "--layer 2: the model has layers 0 to 1"},
    {SPN_HEADLESS_UNSET, s.nheads, SPN_HEADLESS_UNSET, "--head 2: the model has heads 0 to 1"},
    {SPN_HEADLESS_UNSET, SPN_HEADLESS_UNSET, (int)strlen(text),
     "--query 54: the inspector's text has characters 0 to 53"},
    {-1, SPN_HEADLESS_UNSET, SPN_HEADLESS_UNSET, "--layer -1: layers count from 0"},
    {SPN_HEADLESS_UNSET, -2, SPN_HEADLESS_UNSET, "--head -2: expected a head from 0, or -1"},
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    SpnHeadlessView b;
    spn_headless_view_init(&b);
    b.layer = bad[i].layer, b.head = bad[i].head, b.query = bad[i].query;
    g_clear_error(&error);
    g_assert_false(spn_headless_show_view(SPN_WINDOW(win), &b, &error));
    g_assert_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
    if (!g_str_has_prefix(error->message, bad[i].message))
      g_error("got \"%s\", expected \"%s…\"", error->message, bad[i].message);
    assert_views(s.nlayers - 1, -1);
    g_assert_cmpint(action_int("query"), ==, 12);
  }
  char *unknown[] = {"distance", "by-distance", NULL};
  SpnHeadlessView b;
  spn_headless_view_init(&b);
  b.show = unknown;
  g_clear_error(&error);
  g_assert_false(spn_headless_view_check(&b, &error));
  g_assert_nonnull(strstr(error->message, "--show \"by-distance\""));
  g_assert_nonnull(strstr(error->message, "attention, curves, distance, heads"));

  /* back as the other tests expect it */
  activate("maximize", g_variant_new_string(""));
  activate("show", g_variant_new_string("attention"));
  activate("show", g_variant_new_string("masks"));
  g_action_group_change_action_state(G_ACTION_GROUP(win), "layer", g_variant_new_int32(0));
  g_action_group_change_action_state(G_ACTION_GROUP(win), "head", g_variant_new_int32(0));
  g_action_group_change_action_state(G_ACTION_GROUP(win), "query", g_variant_new_int32(-1));
  g_assert_true(wait_until(shows, attention, 5) && wait_until(shows, masks, 5));
  g_assert_cmpint(window_query(), ==, -1);
}

static void
test_setup_dialog(void)
{
  if (!need_window())
    return;
  SpnSetupDialog *d = spn_setup_dialog_new(GTK_WINDOW(win));
  g_assert_null(spn_setup_dialog_get_problem(d));
  SpnConfig cfg;
  g_assert_true(spn_setup_dialog_get_config(d, &cfg, NULL));
  SpnConfig desktop;
  spn_config_init_desktop(&desktop);
  g_assert_cmpint(cfg.nlayers, ==, desktop.nlayers);
  g_assert_cmpint(cfg.hid_sz, ==, desktop.hid_sz);
  g_assert_cmpstr(spn_setup_dialog_get_corpus(d), ==, "bundled");

  cfg.hid_sz = 130;   /* not divisible by 4 heads */
  spn_setup_dialog_set_config(d, &cfg);
  g_assert_nonnull(spn_setup_dialog_get_problem(d));
  g_assert_nonnull(strstr(spn_setup_dialog_get_problem(d), "divisible"));
  cfg.hid_sz = desktop.hid_sz;
  cfg.dropout = 1.5;
  spn_setup_dialog_set_config(d, &cfg);
  g_assert_nonnull(strstr(spn_setup_dialog_get_problem(d), "dropout"));
  cfg.dropout = 0.1;
  spn_setup_dialog_set_config(d, &cfg);
  g_assert_null(spn_setup_dialog_get_problem(d));
  /* the choice rows (optimizer, attention window, validation) hold what they are given */
  cfg.optim = SPN_OPTIM_ADAM, cfg.attn_window = SPN_ATTN_WINDOW_HEAD;
  cfg.eval_mode = SPN_EVAL_REFERENCE;
  spn_setup_dialog_set_config(d, &cfg);
  SpnConfig back;
  g_assert_true(spn_setup_dialog_get_config(d, &back, NULL));
  g_assert_cmpint(back.optim, ==, SPN_OPTIM_ADAM);
  g_assert_cmpint(back.attn_window, ==, SPN_ATTN_WINDOW_HEAD);
  g_assert_cmpint(back.eval_mode, ==, SPN_EVAL_REFERENCE);
  spn_setup_dialog_set_corpus(d, "demo", FALSE);
  g_assert_cmpstr(spn_setup_dialog_get_corpus(d), ==, "demo");
  gtk_window_destroy(GTK_WINDOW(d));
}

static void
test_presets(void)
{
  for (int p = 0; p < SPN_PRESET_COUNT; p++) {
    SpnPreset back;
    g_assert_true(spn_preset_from_name(spn_preset_name(p), &back));
    g_assert_cmpint(back, ==, p);
    SpnConfig cfg;
    spn_preset_init(p, &cfg);
    cfg.vocab_size = 256;
    g_autoptr(GError) error = NULL;
    g_assert_true(spn_config_validate(&cfg, &error));
  }
  SpnConfig cfg;
  spn_preset_init(SPN_PRESET_ALL_ATTENTION, &cfg);
  g_assert_cmpint(cfg.pers_mem_size, >, 0);
  /* "Reference small" is the reference's experiments/enwik8_small.sh */
  spn_preset_init(SPN_PRESET_REFERENCE_SMALL, &cfg);
  g_assert_cmpint(cfg.nlayers, ==, 8);
  g_assert_cmpint(cfg.hid_sz, ==, 256);
  g_assert_cmpint(cfg.inner_hid_sz, ==, 1024);
  g_assert_cmpint(cfg.nheads, ==, 4);
  g_assert_cmpint(cfg.attn_span, ==, 1024);
  g_assert_cmpint(cfg.block_sz, ==, 256);
  g_assert_cmpint(cfg.batch_sz, ==, 64);
  g_assert_cmpfloat(cfg.lr, ==, 0.07);
  g_assert_cmpfloat(cfg.dropout, ==, 0.0);
  g_assert_cmpint(cfg.optim, ==, SPN_OPTIM_ADAGRAD);
  g_assert_cmpint(cfg.lr_warmup, ==, 8000);
  g_assert_cmpfloat(cfg.grad_clip, ==, 0.03);
  g_assert_true(cfg.adapt_span && cfg.adapt_span_cache);
  g_assert_cmpfloat(cfg.adapt_span_loss, ==, 2e-6);
}

static gboolean
window_gone(gpointer data)
{
  (void)data;
  return gtk_application_get_windows(GTK_APPLICATION(app)) == NULL;
}

static void
count_error(GtkWidget *w, const char *text, gpointer data)
{
  (void)w, (void)text;
  (*(int *)data)++;
}

static gboolean
positive(gpointer data)
{
  return *(int *)data > 0;
}

/* Following a FIFO or a folder is refused with an error at once: nothing waits for a writer,
 * not the window's thread nor the follower's. */
static void
test_follow_odd_paths(void)
{
  if (!need_window())
    return;
  g_autofree char *fifo = tmp_path("fifo.safetensors"), *folder = tmp_path("folder");
  g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
  g_assert_cmpint(g_mkdir(folder, 0700), ==, 0);
  const char *paths[] = {fifo, folder};
  for (guint i = 0; i < G_N_ELEMENTS(paths); i++) {
    int errors = 0;
    gulong id = g_signal_connect(win, "worker-error", G_CALLBACK(count_error), &errors);
    activate("follow-file", g_variant_new_string(paths[i]));
    g_assert_cmpint(errors, ==, 1);
    g_assert_false(spn_window_is_following(SPN_WINDOW(win)));
    g_signal_handler_disconnect(win, id);
  }
  g_assert_false(spn_ref_is_torch_file(fifo));
}

/* Quitting writes the session to the autosave and waits for it; when that fails the window
 * stays open and says so, until the run is saved elsewhere. */
static void
test_autosave_on_quit(void)
{
  if (!need_window())
    return;
  g_autofree char *autosave = g_build_filename(tmpdir, "state", "spanscope",
                                               "autosave.safetensors", NULL);
  /* on a machine busy enough that the tests before took over 5 minutes, the periodic autosave
   * has written it: a file, gone before the quit */
  g_assert_false(g_file_test(autosave, G_FILE_TEST_IS_DIR));
  g_remove(autosave);
  /* a directory where the file should go: renaming over it fails, even for root */
  g_assert_cmpint(g_mkdir_with_parents(autosave, 0700), ==, 0);
  int errors = 0;
  gulong id = g_signal_connect(win, "worker-error", G_CALLBACK(count_error), &errors);
  g_action_group_activate_action(G_ACTION_GROUP(app), "quit", NULL);
  g_assert_true(wait_until(positive, &errors, STEP_TIMEOUT_S));
  g_assert_false(window_gone(NULL));
  g_signal_handler_disconnect(win, id);
  g_assert_cmpint(g_rmdir(autosave), ==, 0);
  g_autofree char *elsewhere = tmp_path("elsewhere.safetensors");
  activate("save-to", g_variant_new_string(elsewhere));
  g_assert_true(wait_until(file_exists, elsewhere, STEP_TIMEOUT_S));
  wait_until(window_gone, NULL, 0.5); /* lets the "saved" message arrive */
  autosaved_step = current_step();
  g_action_group_activate_action(G_ACTION_GROUP(app), "quit", NULL);
  g_assert_true(wait_until(window_gone, NULL, STEP_TIMEOUT_S));
  win = NULL;
  g_assert_true(g_file_test(autosave, G_FILE_TEST_IS_REGULAR));
}

static gboolean
resumed(gpointer data)
{
  Status s = status();
  gboolean ok = s.ready && s.step == autosaved_step && g_strcmp0(s.checkpoint, data) == 0;
  status_clear(&s);
  return ok;
}

/* The next start offers the autosaved session back, saying which run it is; resuming it
 * continues at its step, and Save writes the user's file of that run, not the autosave. */
static void
test_resume_autosave(void)
{
  if (autosaved_step < 0) {
    g_test_skip("no autosave was written");
    return;
  }
  g_application_activate(G_APPLICATION(app));
  GList *windows = gtk_application_get_windows(GTK_APPLICATION(app));
  g_assert_nonnull(windows);
  win = windows->data;
  AdwMessageDialog *offer = find_toplevel(ADW_TYPE_MESSAGE_DIALOG);
  g_assert_nonnull(offer);
  /* the offer says which run: its step, its shape, the file the user last saved it as */
  g_autofree char *step = g_strdup_printf("step %" G_GINT64_FORMAT " of a 2-layer, 2-head model",
                                          autosaved_step);
  const char *body = adw_message_dialog_get_body(offer);
  g_assert_nonnull(strstr(body, step));
  g_assert_nonnull(strstr(body, "elsewhere.safetensors"));
  adw_message_dialog_response(offer, "resume");
  /* resumed, the run saves where the user saved it last, never into the autosave */
  g_autofree char *elsewhere = tmp_path("elsewhere.safetensors");
  g_assert_true(wait_until(resumed, elsewhere, MODEL_TIMEOUT_S));
  g_action_group_activate_action(G_ACTION_GROUP(app), "quit", NULL);
  g_assert_true(wait_until(window_gone, NULL, STEP_TIMEOUT_S));
  win = NULL;
}

/* SIGTERM and SIGHUP quit as Ctrl+Q does: the window autosaves its run before it goes. */
static void
test_quit_signals(void)
{
  if (win == NULL && !gtk_init_check()) {
    g_test_skip("no display");
    return;
  }
  g_autofree char *autosave = g_build_filename(tmpdir, "state", "spanscope",
                                               "autosave.safetensors", NULL);
  const int signals[] = {SIGTERM, SIGHUP};
  for (guint i = 0; i < G_N_ELEMENTS(signals); i++) {
    g_autoptr(GFile) model = g_file_new_for_path(tiny_checkpoint);
    g_application_open(G_APPLICATION(app), &model, 1, "");
    win = gtk_application_get_windows(GTK_APPLICATION(app))->data;
    g_assert_true(wait_until(is_ready, NULL, MODEL_TIMEOUT_S));
    activate("step", NULL);
    gint64 one = 2; /* the tiny checkpoint is at step 1 */
    g_assert_true(wait_until(idle_at_step, &one, STEP_TIMEOUT_S));
    g_remove(autosave);
    g_assert_cmpint(raise(signals[i]), ==, 0);
    g_assert_true(wait_until(window_gone, NULL, STEP_TIMEOUT_S));
    win = NULL;
    g_autoptr(GError) error = NULL;
    SpnCheckpoint *ck = spn_checkpoint_load(autosave, &error);
    g_assert_no_error(error);
    g_assert_cmpint(ck->optim->step, ==, 2);
    spn_checkpoint_free(ck);
  }
}

/* ---- the program ---- */

/* Runs `spanscope --screenshot png` on the tiny model with the renderer named and the view
 * options given (NULL-terminated, may be NULL); its exit status, its standard error in *err. */
static gboolean
run_screenshot(const char *bin, const char *png, const char *renderer, const char *steps,
               const char *const *view, char **err)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  const char *fixed[] = {bin, "--screenshot", png, "--train-steps", steps, "--size", "900x640",
                         "--text", "And God said, Let there be light: and there was light."};
  for (guint i = 0; i < G_N_ELEMENTS(fixed); i++)
    g_ptr_array_add(argv, (gpointer)fixed[i]);
  for (int i = 0; view && view[i]; i++)
    g_ptr_array_add(argv, (gpointer)view[i]);
  g_ptr_array_add(argv, tiny_checkpoint);
  g_ptr_array_add(argv, NULL);
  g_auto(GStrv) env = g_environ_setenv(g_get_environ(), "GSK_RENDERER", renderer, TRUE);
  int wait_status = 0;
  g_autofree char *out = NULL;
  g_autoptr(GError) error = NULL;
  g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, env, G_SPAWN_DEFAULT, NULL, NULL, &out,
                             err, &wait_status, &error));
  g_assert_no_error(error);
  return g_spawn_check_wait_status(wait_status, NULL);
}

static void
screenshot(const char *bin, const char *png, const char *renderer, const char *steps,
           const char *const *view)
{
  g_autofree char *err = NULL;
  gboolean ok = run_screenshot(bin, png, renderer, steps, view, &err);
  if (!ok)
    g_printerr("%s", err);
  g_assert_true(ok);
  assert_png(png, 900, 640);
}

static void
test_screenshot(void)
{
  const char *bin = g_getenv("SPANSCOPE_BIN");
  if (bin == NULL || g_getenv("DISPLAY") == NULL) {
    g_test_skip("needs SPANSCOPE_BIN and a display");
    return;
  }
  g_autofree char *png = tmp_path("window.png"), *gl = tmp_path("window-gl.png");
  screenshot(bin, png, "cairo", "2", NULL);
  screenshot(bin, gl, "gl", "0", NULL);
  /* a chosen view; what the model does not have fails it, naming the option, and writes nothing */
  const char *view[] = {"--show", "distance", "--show", "persistent", "--layer", "1", "--head",
                        "-1", "--query", "12", NULL};
  g_autofree char *chosen = tmp_path("chosen.png"), *refused = tmp_path("refused.png");
  screenshot(bin, chosen, "cairo", "0", view);
  const char *too_deep[] = {"--maximize", "heads", "--layer", "9", NULL};
  g_autofree char *err = NULL;
  g_assert_false(run_screenshot(bin, refused, "cairo", "0", too_deep, &err));
  g_assert_nonnull(strstr(err, "--layer 9: the model has layers 0 to 1"));
  g_assert_false(g_file_test(refused, G_FILE_TEST_EXISTS));
}

static gboolean
inspector_current(gpointer data)
{
  (void)data;
  return probe_current(NULL) &&
         spn_inspector_is_current(SPN_INSPECTOR(find_one(win, SPN_TYPE_INSPECTOR)));
}

/* Ink in the picture: its green is below the orange tint's and the page's. */
static gboolean
inked(cairo_surface_t *picture, int x, int y)
{
  const guint8 *data = cairo_image_surface_get_data(picture);
  guint32 p = *(const guint32 *)(data + (gsize)y * cairo_image_surface_get_stride(picture) + 4 * x);
  return ((p >> 8) & 0xff) < 140;
}

/* Separate runs of inked columns within rows [y0, y1) and columns [x0, x1). */
static int
column_runs(cairo_surface_t *picture, int x0, int x1, int y0, int y1)
{
  int runs = 0;
  gboolean before = FALSE;
  for (int x = x0; x < x1; x++) {
    gboolean ink = FALSE;
    for (int y = y0; y < y1 && !ink; y++)
      ink = inked(picture, x, y);
    runs += ink && !before;
    before = ink;
  }
  return runs;
}

/* On the text view's first line of "i"s: the dots above (the first run of inked rows) and the
 * stems below (the second run), counted as separate runs of inked columns. */
static void
count_dots_and_stems(cairo_surface_t *picture, GtkWidget *view, int *dots, int *stems)
{
  graphene_rect_t r;
  g_assert_true(gtk_widget_compute_bounds(view, win, &r));
  int x0 = (int)r.origin.x, x1 = (int)(r.origin.x + r.size.width), top = (int)r.origin.y;
  int edges[4], n = 0;
  gboolean before = FALSE;
  for (int y = top; y < top + 24 && n < 4; y++) {
    gboolean ink = column_runs(picture, x0, x1, y, y + 1) > 0;
    if (ink != before)
      edges[n++] = y;
    before = ink;
  }
  g_assert_cmpint(n, ==, 4);   /* two runs of rows: dots, then stems */
  *dots = column_runs(picture, x0, x1, edges[0], edges[1]);
  *stems = column_runs(picture, x0, x1, edges[2], edges[3]);
}

static SpnPanel *
panel_of(GtkWidget *window, SpnFigureKind kind)
{
  g_autoptr(GPtrArray) panels = g_ptr_array_new();
  collect(window, SPN_TYPE_PANEL, panels);
  for (guint i = 0; i < panels->len; i++)
    if (spn_figure_view_get_kind(spn_panel_get_view(panels->pdata[i])) == kind)
      return panels->pdata[i];
  return NULL;
}

static const SpnFigureOptions *
options_in(GtkWidget *window, SpnFigureKind kind)
{
  return spn_figure_view_get_options(spn_panel_get_view(panel_of(window, kind)));
}

static gboolean
drawn(gpointer w)
{
  return gtk_widget_get_height(w) > 0;
}

/* The view as the user left it comes back in the next window (and the next run, through
 * $XDG_STATE_HOME/spanscope/view.ini): the curves' log axis clicked, the heatmap's colour map
 * and the smoothing chosen in their controls, the split between the rows dragged; and the
 * export's format and size. */
static void
test_view_remembered(void)
{
  if (!need_window() || !is_x11())
    return;
  GtkWidget *curves = GTK_WIDGET(panel_of(win, SPN_FIGURE_CURVES));
  GtkWidget *log = button_labelled(curves, "log");
  click_at(log, gtk_widget_get_width(log) / 2.0, gtk_widget_get_height(log) / 2.0);
  g_assert_true(options_in(win, SPN_FIGURE_CURVES)->log_axis);
  GtkWidget *colormap = find_one(GTK_WIDGET(panel_of(win, SPN_FIGURE_ATTENTION)),
                                 GTK_TYPE_DROP_DOWN);
  gtk_drop_down_set_selected(GTK_DROP_DOWN(colormap), 1);   /* Cividis */
  gtk_range_set_value(GTK_RANGE(find_one(curves, GTK_TYPE_SCALE)), 0.5);
  GtkPaned *rows = GTK_PANED(gtk_widget_get_ancestor(curves, GTK_TYPE_PANED));
  while (gtk_widget_get_ancestor(gtk_widget_get_parent(GTK_WIDGET(rows)), GTK_TYPE_PANED))
    rows = GTK_PANED(gtk_widget_get_ancestor(gtk_widget_get_parent(GTK_WIDGET(rows)),
                                             GTK_TYPE_PANED));
  gtk_paned_set_position(rows, gtk_widget_get_height(GTK_WIDGET(rows)) * 30 / 100);
  spin_main_loop(0.2);
  spn_view_state_flush();
  g_autofree char *saved = NULL, *path = spn_view_state_path();
  g_assert_true(g_file_get_contents(path, &saved, NULL, NULL));
  g_assert_nonnull(strstr(saved, "cividis"));

  SpnWindowStart start = {.checkpoint = tiny_checkpoint, .remember_view = TRUE};
  GtkWidget *next = GTK_WIDGET(spn_window_new(GTK_APPLICATION(app), &start));
  gtk_window_present(GTK_WINDOW(next));
  g_assert_true(options_in(next, SPN_FIGURE_CURVES)->log_axis);
  g_assert_cmpint(options_in(next, SPN_FIGURE_ATTENTION)->colormap, ==, SPN_COLORMAP_CIVIDIS);
  g_assert_cmpfloat(options_in(next, SPN_FIGURE_CURVES)->smoothing, ==, 0.5);
  g_assert_false(options_in(next, SPN_FIGURE_SPANS)->log_axis);   /* not clicked: as it was */
  GtkWidget *next_log = button_labelled(GTK_WIDGET(panel_of(next, SPN_FIGURE_CURVES)), "log");
  g_assert_true(gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(next_log)));
  GtkPaned *next_rows = GTK_PANED(find_one(next, GTK_TYPE_PANED));
  g_assert_true(wait_until(drawn, next_rows, STEP_TIMEOUT_S));
  spin_main_loop(0.3);
  int h = gtk_widget_get_height(GTK_WIDGET(next_rows));
  g_assert_cmpint(ABS(gtk_paned_get_position(next_rows) - h * 30 / 100), <=, h / 50 + 1);
  gtk_window_destroy(GTK_WINDOW(next));

  /* the export dialog starts with the last export's format and size */
  activate("export", NULL);
  SpnExportDialog *d = find_toplevel(SPN_TYPE_EXPORT_DIALOG);
  adw_combo_row_set_selected(ADW_COMBO_ROW(find_one(GTK_WIDGET(d), ADW_TYPE_COMBO_ROW)),
                             SPN_EXPORT_SVG);
  g_autoptr(GPtrArray) spins = g_ptr_array_new();
  collect(GTK_WIDGET(d), GTK_TYPE_SPIN_BUTTON, spins);
  gtk_spin_button_set_value(spins->pdata[0], 777);
  g_autofree char *svg = tmp_path("remembered.svg");
  g_signal_emit_by_name(d, "export", svg);
  gtk_window_destroy(GTK_WINDOW(d));
  activate("export", NULL);
  d = find_toplevel(SPN_TYPE_EXPORT_DIALOG);
  g_assert_cmpuint(adw_combo_row_get_selected(ADW_COMBO_ROW(find_one(GTK_WIDGET(d),
                                                                     ADW_TYPE_COMBO_ROW))),
                   ==, SPN_EXPORT_SVG);
  double w, hh, scale;
  spn_export_dialog_get_size(d, &w, &hh, &scale);
  g_assert_cmpfloat(w, ==, 777);
  gtk_window_destroy(GTK_WINDOW(d));

  /* back as the other tests expect it */
  click_at(log, gtk_widget_get_width(log) / 2.0, gtk_widget_get_height(log) / 2.0);
  gtk_drop_down_set_selected(GTK_DROP_DOWN(colormap), 0);
}

/* The screenshot shows the text as the window does: every tinted "i" keeps its dot (drawn
 * again from the window's render nodes on Xvfb they lost it, and "f" its top). */
static void
test_screenshot_text(void)
{
  if (!need_window() || !is_x11())
    return;
  const char *is = "ii ii iii ii iiii ii iii";
  activate("probe-text", g_variant_new_string(is));
  g_assert_true(wait_until(inspector_current, NULL, STEP_TIMEOUT_S));
  gtk_widget_queue_draw(win);
  spin_main_loop(0.5);
  g_autofree char *png = tmp_path("inspector.png");
  g_autoptr(GError) error = NULL;
  g_assert_true(spn_window_save_png(win, png, &error));
  g_assert_no_error(error);
  cairo_surface_t *picture = cairo_image_surface_create_from_png(png);
  g_assert_cmpint(cairo_surface_status(picture), ==, CAIRO_STATUS_SUCCESS);
  int dots, stems;
  count_dots_and_stems(picture, inspector_text_view(), &dots, &stems);
  g_assert_cmpint(stems, ==, 18);
  g_assert_cmpint(dots, ==, stems);
  cairo_surface_destroy(picture);
}

static void
test_bad_option(void)
{
  const char *bin = g_getenv("SPANSCOPE_BIN");
  if (bin == NULL) {
    g_test_skip("needs SPANSCOPE_BIN");
    return;
  }
  /* each refused in the process it was typed in, before any window: the option named, and
   * what it takes */
  const struct {
    const char *argv[6];
    const char *said[2];
  } bad[] = {
    {{"--screenshot", "x.png", "--size", "large"}, {"--size", "WIDTHxHEIGHT"}},
    {{"--screenshot", "x.png", "--show", "by-distance"},
     {"--show \"by-distance\"", "attention, curves, distance, heads, summary, persistent"}},
    {{"--screenshot", "x.png", "--maximize", "all"}, {"--maximize \"all\"", "spans, history"}},
    {{"--screenshot", "x.png", "--head", "-3"}, {"--head -3", "-1 for all heads"}},
    {{"--screenshot", "x.png", "--query", "-2"}, {"--query -2", "-1 for none"}},
    {{"--layer", "1"}, {"--layer", "give --screenshot FILE.png"}},
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    const char *argv[8] = {bin};
    for (int k = 0; k < 6 && bad[i].argv[k]; k++)
      argv[k + 1] = bad[i].argv[k];
    int wait_status = 0;
    g_autofree char *err = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                               NULL, &err, &wait_status, NULL));
    g_assert_false(g_spawn_check_wait_status(wait_status, NULL));
    for (int k = 0; k < 2; k++)
      if (strstr(err, bad[i].said[k]) == NULL)
        g_error("%s %s: \"%s\" does not say \"%s\"", argv[1], argv[2], err, bad[i].said[k]);
  }
}

/* ---- setup ---- */

static void
tiny_config(SpnConfig *c)
{
  spn_config_init_desktop(c);
  c->nlayers = 2, c->hid_sz = 16, c->nheads = 2, c->inner_hid_sz = 32, c->attn_span = 64;
  c->adapt_span_ramp = 8, c->block_sz = 32, c->batch_sz = 4, c->lr_warmup = 5, c->threads = 1;
}

/* A model of two small layers on a 20 kB corpus of a few words, written as a checkpoint. */
static char *
write_tiny_checkpoint(void)
{
  static const char *words[] = {"the ", "spans ", "grow ", "and ", "shrink, ", "heads ",
                                "look ", "back ", "far ", "near. ", "\n"};
  GString *text = g_string_new(NULL);
  for (guint i = 0; text->len < 20000; i = (i * 7 + 3) % 97)
    g_string_append(text, words[i % G_N_ELEMENTS(words)]);
  g_autofree char *corpus_path = tmp_path("corpus.txt");
  g_assert_true(g_file_set_contents(corpus_path, text->str, (gssize)text->len, NULL));
  g_string_free(text, TRUE);
  SpnConfig c;
  tiny_config(&c);
  g_autoptr(GError) error = NULL;
  SpnCorpusOptions opts = {0};
  SpnCorpus *corpus = spn_corpus_load(corpus_path, &opts, &error);
  g_assert_no_error(error);
  SpnTrainer *t = spn_trainer_new(&c, corpus, &error);
  g_assert_no_error(error);
  /* one step with a validation of it, as training every few hundred steps records */
  SpnStepResult r;
  g_assert_true(spn_trainer_step(t, &r, NULL));
  spn_trainer_record_validation(t, 3.5);
  char *path = tmp_path("tiny.safetensors");
  g_assert_true(spn_trainer_save(t, path, &error));
  g_assert_no_error(error);
  spn_trainer_free(t);
  return path;
}

static void
start_application(void)
{
  tiny_checkpoint = write_tiny_checkpoint();
  if (!gtk_init_check())
    return;
  app = spn_application_new();
  g_application_set_flags(G_APPLICATION(app),
                          g_application_get_flags(G_APPLICATION(app)) | G_APPLICATION_NON_UNIQUE);
  g_autoptr(GError) error = NULL;
  g_assert_true(g_application_register(G_APPLICATION(app), NULL, &error));
  g_assert_no_error(error);
  g_autoptr(GFile) model = g_file_new_for_path(tiny_checkpoint);
  g_application_open(G_APPLICATION(app), &model, 1, "");
  GList *windows = gtk_application_get_windows(GTK_APPLICATION(app));
  win = windows ? windows->data : NULL;
}

static void
remove_tree(const char *path)
{
  if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
    GDir *dir = g_dir_open(path, 0, NULL);
    const char *name;
    while (dir && (name = g_dir_read_name(dir))) {
      g_autofree char *child = g_build_filename(path, name, NULL);
      remove_tree(child);
    }
    if (dir)
      g_dir_close(dir);
  }
  g_remove(path);
}

int
main(int argc, char **argv)
{
  tmpdir = spn_test_isolate_environment("spanscope-test-app-XXXXXX");
  g_set_application_name("spanscope");
  g_test_init(&argc, &argv, NULL);
  start_application();
  g_test_add_func("/app/presets", test_presets);
  g_test_add_func("/app/start", test_start);
  g_test_add_func("/app/step", test_step);
  g_test_add_func("/app/train-pause", test_train_pause);
  g_test_add_func("/app/space-keys", test_space_keys);
  g_test_add_func("/app/new-model-estimate", test_new_model_estimate);
  g_test_add_func("/app/type-text", test_type_text);
  g_test_add_func("/app/select-layer-head", test_select_layer_head);
  g_test_add_func("/app/maximize", test_maximize);
  g_test_add_func("/app/head-overview", test_head_overview);
  g_test_add_func("/app/view-options", test_view_options);
  g_test_add_func("/app/export", test_export);
  g_test_add_func("/app/export-dialog", test_export_dialog);
  g_test_add_func("/app/export-csv", test_export_csv);
  g_test_add_func("/app/save-reopen", test_save_reopen);
  g_test_add_func("/app/compare-runs", test_compare_runs);
  g_test_add_func("/app/new-model-asks", test_new_model_asks);
  g_test_add_func("/app/new-model-corpus-error", test_new_model_corpus_error);
  g_test_add_func("/app/inspector-query", test_inspector_query);
  g_test_add_func("/app/follow", test_follow);
  g_test_add_func("/app/follow-odd-paths", test_follow_odd_paths);
  g_test_add_func("/app/setup-dialog", test_setup_dialog);
  g_test_add_func("/app/view-remembered", test_view_remembered);
  g_test_add_func("/app/screenshot-text", test_screenshot_text);
  g_test_add_func("/app/autosave-on-quit", test_autosave_on_quit);
  g_test_add_func("/app/resume-autosave", test_resume_autosave);
  g_test_add_func("/app/quit-signals", test_quit_signals);
  g_test_add_func("/app/screenshot", test_screenshot);
  g_test_add_func("/app/bad-option", test_bad_option);
  int result = g_test_run();
  g_clear_object(&app);
  remove_tree(tmpdir);
  g_free(tmpdir);
  g_free(tiny_checkpoint);
  g_free(start_passage);
  return result;
}
