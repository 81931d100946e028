/* application.c — SpnApplication: options, app actions, accelerators, and the two headless modes
 * that drive a real window through its actions: the screenshot and the frame-time benchmark. */
#include "application.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "figure_view.h"
#include "inspector.h"
#include "setup_dialog.h"
#include "spanscope-resources.h"
#include "window.h"

#define HEADLESS_TIMEOUT_S 900
#define SETTLE_FRAMES 2    /* frames painted after the last snapshot before the screenshot */

typedef struct Bench Bench;  /* the frame benchmark's measurements */

struct _SpnApplication {
  AdwApplication parent;
  char *corpus, *preset;
  gboolean autosave;
  /* headless modes */
  char *screenshot;
  gint64 train_steps;
  char *text;
  int width, height;
  int bench_frames;
  SpnWindow *headless;
  gboolean capturing, resized, started;
  int settle;
  Bench *bench;
  guint timeout;
  int exit_status;
};

G_DEFINE_FINAL_TYPE(SpnApplication, spn_application, ADW_TYPE_APPLICATION)

enum { PROP_0, PROP_CORPUS, PROP_PRESET, PROP_AUTOSAVE, N_PROPS };
static GParamSpec *props[N_PROPS];

/* ---- rendering the window ---- */

gboolean
spn_application_save_window_png(GtkWidget *window, const char *path, GError **error)
{
  int w = gtk_widget_get_width(window), h = gtk_widget_get_height(window);
  GskRenderer *renderer = gtk_native_get_renderer(GTK_NATIVE(window));
  if (w <= 0 || h <= 0 || renderer == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                "the window is not on screen yet, there is nothing to render");
    return FALSE;
  }
  GdkPaintable *paintable = gtk_widget_paintable_new(window);
  GtkSnapshot *snapshot = gtk_snapshot_new();
  gdk_paintable_snapshot(paintable, snapshot, w, h);
  g_object_unref(paintable);
  GskRenderNode *node = gtk_snapshot_free_to_node(snapshot);
  if (node == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "the window drew nothing");
    return FALSE;
  }
  GdkTexture *texture = gsk_renderer_render_texture(renderer, node, &GRAPHENE_RECT_INIT(0, 0, w, h));
  gsk_render_node_unref(node);
  gboolean ok = gdk_texture_save_to_png(texture, path);
  g_object_unref(texture);
  if (!ok)
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                "cannot write %s: check that its folder exists and is writable", path);
  return ok;
}

/* ---- headless: common ---- */

static void
finish(SpnApplication *self, int status)
{
  self->exit_status = status;
  g_clear_handle_id(&self->timeout, g_source_remove);
  if (self->headless)
    gtk_window_destroy(GTK_WINDOW(self->headless));
  self->headless = NULL;
  g_application_quit(G_APPLICATION(self));
}

static void
fail(SpnApplication *self, const char *message)
{
  g_printerr("spanscope: %s\n", message);
  finish(self, 1);
}

static void
on_headless_error(SpnWindow *win, const char *message, SpnApplication *self)
{
  (void)win;
  fail(self, message);
}

static gboolean
on_headless_timeout(gpointer data)
{
  SpnApplication *self = data;
  self->timeout = 0;
  g_autofree char *m = g_strdup_printf("gave up after %d s: training or reading the text did not "
                                       "finish; try fewer --train-steps", HEADLESS_TIMEOUT_S);
  fail(self, m);
  return G_SOURCE_REMOVE;
}

typedef struct {
  gboolean ready, training, probe;
  gint64 step;
} Status;

static Status
window_status(SpnWindow *win)
{
  Status s = {0};
  g_autoptr(GVariant) v = g_action_group_get_action_state(G_ACTION_GROUP(win), "status");
  if (v) {
    GVariantDict d;
    g_variant_dict_init(&d, v);
    g_variant_dict_lookup(&d, "ready", "b", &s.ready);
    g_variant_dict_lookup(&d, "training", "b", &s.training);
    g_variant_dict_lookup(&d, "probe", "b", &s.probe);
    g_variant_dict_lookup(&d, "step", "x", &s.step);
    g_variant_dict_clear(&d);
  }
  return s;
}

/* ---- headless: screenshot ---- */

/* The window's default size counts the invisible resize borders of client-side decorations;
 * the picture is of the window itself. Grows the default size once by the difference, so the
 * picture has the size that was asked for. */
static gboolean
fit_requested_size(SpnApplication *self, GtkWidget *window)
{
  int dw = self->width - gtk_widget_get_width(window);
  int dh = self->height - gtk_widget_get_height(window);
  if (self->width <= 0 || self->resized || (dw == 0 && dh == 0))
    return FALSE;
  self->resized = TRUE;
  self->settle = SETTLE_FRAMES;
  int w, h;
  gtk_window_get_default_size(GTK_WINDOW(window), &w, &h);
  gtk_window_set_default_size(GTK_WINDOW(window), w + dw, h + dh);
  return TRUE;
}

/* The figures are drawn in render threads and the inspector takes up readings at its own pace:
 * TRUE once every view shows an image of what it holds, at its size, and the inspector's tint
 * the newest reading. */
static gboolean
views_current(GtkWidget *w)
{
  if (SPN_IS_FIGURE_VIEW(w) && !spn_figure_view_is_current(SPN_FIGURE_VIEW(w)))
    return FALSE;
  if (SPN_IS_INSPECTOR(w) && !spn_inspector_is_current(SPN_INSPECTOR(w)))
    return FALSE;
  for (GtkWidget *c = gtk_widget_get_first_child(w); c; c = gtk_widget_get_next_sibling(c))
    if (!views_current(c))
      return FALSE;
  return TRUE;
}

/* Runs after the frame clock painted the window: its render nodes are fresh then, while
 * before the paint any redraw queued in the frame would have dropped them. */
static void
capture_after_paint(GdkFrameClock *clock, gpointer data)
{
  SpnApplication *self = data;
  GtkWidget *window = GTK_WIDGET(self->headless);
  if (window == NULL)
    return;
  if (--self->settle > 0 || fit_requested_size(self, window)) {
    gtk_widget_queue_draw(window);
    return;
  }
  if (!views_current(window)) {
    gtk_widget_queue_draw(window);  /* look again at the next frame */
    return;
  }
  g_signal_handlers_disconnect_by_func(clock, capture_after_paint, self);
  g_autoptr(GError) error = NULL;
  if (!spn_application_save_window_png(window, self->screenshot, &error)) {
    fail(self, error->message);
    return;
  }
  g_print("spanscope: wrote %s (%d×%d)\n", self->screenshot, gtk_widget_get_width(window),
          gtk_widget_get_height(window));
  finish(self, 0);
}

/* Runs once nothing else is pending in the main loop (it has the lowest priority): work the
 * views spread over idle time, such as the inspector's tinting, is done by then. */
static gboolean
start_capture(gpointer data)
{
  SpnApplication *self = data;
  if (self->headless == NULL)
    return G_SOURCE_REMOVE;
  GtkWidget *window = GTK_WIDGET(self->headless);
  GdkFrameClock *clock = gtk_widget_get_frame_clock(window);
  if (clock == NULL) {
    fail(self, "the window is not on screen: is there a display (DISPLAY or WAYLAND_DISPLAY)?");
    return G_SOURCE_REMOVE;
  }
  self->settle = SETTLE_FRAMES;
  g_signal_connect(clock, "after-paint", G_CALLBACK(capture_after_paint), self);
  /* the views redraw on their own only when something changes: make sure frames come */
  gtk_widget_queue_draw(window);
  return G_SOURCE_REMOVE;
}

/* Trained far enough and the text read: let the views draw it, then take the picture. */
static void
on_screenshot_status(GActionGroup *group, const char *name, GVariant *value, gpointer data)
{
  SpnApplication *self = data;
  (void)name, (void)value;
  Status s = window_status(SPN_WINDOW(group));
  if (self->capturing || !s.ready || s.training || s.step < self->train_steps || !s.probe)
    return;
  self->capturing = TRUE;
  g_idle_add_full(G_PRIORITY_LOW, start_capture, self, NULL);
}

static void
start_screenshot(SpnApplication *self, SpnWindow *win)
{
  g_signal_connect(win, "action-state-changed::status", G_CALLBACK(on_screenshot_status), self);
  if (self->train_steps > 0)
    g_action_group_activate_action(G_ACTION_GROUP(win), "train-until",
                                   g_variant_new_int64(self->train_steps));
}

/* ---- headless: frame-cost benchmark ----
 *
 * Trains the model and measures, while training and while its snapshots (about 5 a second) reach
 * every view and the inspector, what the window costs the main thread:
 *  - frame: for each frame that painted, the wall time from the frame clock's "before-paint" to
 *    its "after-paint": tick callbacks, layout, every widget's snapshot() and the GSK render of
 *    the window. Not the interval between frames: at 60 Hz that is 16.67 ms however cheap the
 *    frame. frame_cpu is the main thread's CPU time over the same span; the wall time also
 *    counts waiting for a core on a shared machine and, with the GL renderer, for the GL driver
 *    (without a GPU, as under Xvfb, Mesa's llvmpipe threads rasterize every frame).
 *  - dispatch: each hand-off of a snapshot to the views and the inspector, outside any frame (the
 *    window's "snapshot-dispatched").
 *  - loop: every main-loop iteration's time away from polling: frames, hand-offs, idle work (the
 *    inspector's retints, finished figure renders) and anything else the main thread ran. Its
 *    maximum is the longest the window could not have answered input.
 * Nothing forces redraws: frames come when something changed, as in use. It stops after N
 * painted frames. */

/* The poll function cannot carry data: the one benchmark of the process, while it runs. */
static SpnApplication *bench_app;
static GPollFunc bench_next_poll;

struct Bench {
  GArray *frame_ms, *frame_cpu_ms, *dispatch_ms, *loop_ms;
  gint64 frame_start, frame_cpu_start, poll_end;
  gboolean painted, measuring;
};

static int
compare_double(gconstpointer a, gconstpointer b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* p95, median, max and count of one series, as "name_p95_ms X" lines. */
static void
report_series(const char *name, GArray *ms)
{
  if (ms->len == 0) {
    g_print("%s_count 0\n", name);
    return;
  }
  g_array_sort(ms, compare_double);
  guint i = (guint)MAX(0.0, ceil(0.95 * ms->len) - 1);
  g_print("%s_p95_ms %.2f\n", name, g_array_index(ms, double, i));
  g_print("%s_median_ms %.2f\n", name, g_array_index(ms, double, ms->len / 2));
  g_print("%s_max_ms %.2f\n", name, g_array_index(ms, double, ms->len - 1));
  g_print("%s_count %u\n", name, ms->len);
}

static void
report_bench(Bench *b)
{
  report_series("frame", b->frame_ms);
  report_series("frame_cpu", b->frame_cpu_ms);
  report_series("dispatch", b->dispatch_ms);
  guint over = 0;
  for (guint i = 0; i < b->loop_ms->len; i++)
    over += g_array_index(b->loop_ms, double, i) > 16.0;
  g_array_sort(b->loop_ms, compare_double);
  g_print("loop_max_ms %.2f\n",
          b->loop_ms->len ? g_array_index(b->loop_ms, double, b->loop_ms->len - 1) : 0.0);
  g_print("loop_over_16ms %u\n", over);
  fflush(stdout);
}

static void
record(GArray *a, double ms)
{
  g_array_append_val(a, ms);
}

/* Around the real poll: the time since the last poll returned is one iteration's work. */
static gint
bench_poll(GPollFD *fds, guint nfds, gint timeout)
{
  Bench *b = bench_app ? bench_app->bench : NULL;
  gint64 now = g_get_monotonic_time();
  if (b && b->measuring && b->poll_end > 0)
    record(b->loop_ms, (now - b->poll_end) / 1000.0);
  gint n = bench_next_poll(fds, nfds, timeout);
  if (b)
    b->poll_end = g_get_monotonic_time();
  return n;
}

/* CPU time of the calling thread: on a machine shared with the training threads (and whatever
 * else runs), the wall time of a frame also counts the time the main thread waited for a core
 * or for the GL driver's threads. */
static gint64
thread_cpu_us(void)
{
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (gint64)t.tv_sec * G_USEC_PER_SEC + t.tv_nsec / 1000;
}

static void
on_before_paint(GdkFrameClock *clock, SpnApplication *self)
{
  (void)clock;
  self->bench->frame_start = g_get_monotonic_time();
  self->bench->frame_cpu_start = thread_cpu_us();
  self->bench->painted = FALSE;
}

static void
on_paint(GdkFrameClock *clock, SpnApplication *self)
{
  (void)clock;
  self->bench->painted = TRUE;
}

static void
on_after_paint(GdkFrameClock *clock, SpnApplication *self)
{
  Bench *b = self->bench;
  if (!b->measuring || !b->painted || b->frame_start == 0)
    return;
  record(b->frame_ms, (g_get_monotonic_time() - b->frame_start) / 1000.0);
  record(b->frame_cpu_ms, (thread_cpu_us() - b->frame_cpu_start) / 1000.0);
  if ((int)b->frame_ms->len < self->bench_frames)
    return;
  g_signal_handlers_disconnect_by_data(clock, self);
  report_bench(b);
  finish(self, 0);
}

static void
on_dispatched(SpnWindow *win, double ms, SpnApplication *self)
{
  (void)win;
  if (self->bench->measuring)
    record(self->bench->dispatch_ms, ms);
}

/* Starts training once the model is ready, and measures once it trains. */
static void
on_bench_status(GActionGroup *group, const char *name, GVariant *value, SpnApplication *self)
{
  (void)name, (void)value;
  Status s = window_status(SPN_WINDOW(group));
  if (!self->started && s.ready) {
    self->started = TRUE;
    g_action_group_change_action_state(group, "train", g_variant_new_boolean(TRUE));
  }
  self->bench->measuring = s.training && s.step > 0;
}

/* The frame clock exists once the window is realized. */
static void
on_bench_realize(GtkWidget *window, SpnApplication *self)
{
  GdkFrameClock *clock = gtk_widget_get_frame_clock(window);
  g_signal_connect(clock, "before-paint", G_CALLBACK(on_before_paint), self);
  g_signal_connect(clock, "paint", G_CALLBACK(on_paint), self);
  g_signal_connect(clock, "after-paint", G_CALLBACK(on_after_paint), self);
}

static void
start_bench(SpnApplication *self, SpnWindow *win)
{
  self->bench = g_new0(Bench, 1);
  self->bench->frame_ms = g_array_new(FALSE, FALSE, sizeof(double));
  self->bench->frame_cpu_ms = g_array_new(FALSE, FALSE, sizeof(double));
  self->bench->dispatch_ms = g_array_new(FALSE, FALSE, sizeof(double));
  self->bench->loop_ms = g_array_new(FALSE, FALSE, sizeof(double));
  bench_app = self;
  bench_next_poll = g_main_context_get_poll_func(NULL);
  g_main_context_set_poll_func(NULL, bench_poll);
  g_signal_connect(win, "realize", G_CALLBACK(on_bench_realize), self);
  g_signal_connect(win, "snapshot-dispatched", G_CALLBACK(on_dispatched), self);
  g_signal_connect(win, "action-state-changed::status", G_CALLBACK(on_bench_status), self);
}

static void
free_bench(Bench *b)
{
  g_array_unref(b->frame_ms);
  g_array_unref(b->frame_cpu_ms);
  g_array_unref(b->dispatch_ms);
  g_array_unref(b->loop_ms);
  g_free(b);
}

/* ---- windows ---- */

static SpnWindow *
create_window(SpnApplication *self, const char *checkpoint)
{
  SpnWindowStart start = {
    .corpus = self->corpus,
    .preset = self->preset,
    .checkpoint = checkpoint,
    .text = self->text,
    .autosave = self->autosave,
  };
  SpnWindow *win = spn_window_new(GTK_APPLICATION(self), &start);
  if (self->width > 0 && self->height > 0)
    gtk_window_set_default_size(GTK_WINDOW(win), self->width, self->height);
  if (self->screenshot || self->bench_frames > 0) {
    self->headless = win;
    g_signal_connect(win, "worker-error", G_CALLBACK(on_headless_error), self);
    self->timeout = g_timeout_add_seconds(HEADLESS_TIMEOUT_S, on_headless_timeout, self);
    if (self->screenshot)
      start_screenshot(self, win);
    else
      start_bench(self, win);
  }
  return win;
}

static void
spn_application_activate(GApplication *app)
{
  GtkWindow *existing = gtk_application_get_active_window(GTK_APPLICATION(app));
  if (existing) {
    gtk_window_present(existing);
    return;
  }
  gtk_window_present(GTK_WINDOW(create_window(SPN_APPLICATION(app), NULL)));
}

/* `spanscope run.safetensors`: the checkpoint instead of a new model. */
static void
spn_application_open(GApplication *app, GFile **files, int n, const char *hint)
{
  (void)hint;
  g_autofree char *path = n > 0 ? g_file_get_path(files[0]) : NULL;
  GtkWindow *existing = gtk_application_get_active_window(GTK_APPLICATION(app));
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
  adw_about_window_set_version(ADW_ABOUT_WINDOW(about), "0.1.0");
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

static void
spn_application_startup(GApplication *app)
{
  G_APPLICATION_CLASS(spn_application_parent_class)->startup(app);
  g_action_map_add_action_entries(G_ACTION_MAP(app), app_actions, G_N_ELEMENTS(app_actions), app);
  set_accels(GTK_APPLICATION(app));
  gtk_window_set_default_icon_name(SPN_APPLICATION_ID);
}

/* ---- command line ---- */

static const GOptionEntry options[] = {
  {"corpus", 0, 0, G_OPTION_ARG_FILENAME, NULL,
   "First model's corpus: bundled (default; demo with --preset demo), demo, a text file or a "
   "train/valid/test folder",
   "CORPUS"},
  {"preset", 0, 0, G_OPTION_ARG_STRING, NULL,
   "First model's settings: desktop (default), small, allattn or demo", "PRESET"},
  {"no-autosave", 0, 0, G_OPTION_ARG_NONE, NULL,
   "Neither offer nor write the autosaved session", NULL},
  {"screenshot", 0, 0, G_OPTION_ARG_FILENAME, NULL,
   "Train, render the whole window into FILE.png and exit", "FILE.png"},
  {"train-steps", 0, 0, G_OPTION_ARG_INT64, NULL,
   "With --screenshot: optimizer steps before the picture (default 0)", "N"},
  {"text", 0, 0, G_OPTION_ARG_STRING, NULL, "Text the inspector starts with", "TEXT"},
  {"size", 0, 0, G_OPTION_ARG_STRING, NULL, "Window size, e.g. 1366x768", "WxH"},
  {"bench-frames", 0, 0, G_OPTION_ARG_INT, NULL,
   "Train while measuring what N painted frames cost the main thread, print frame_p95_ms "
   "(and snapshot hand-off, main-loop figures) and exit",
   "N"},
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

static int
check_options(SpnApplication *self, const char *size)
{
  SpnPreset preset;
  if (size && !parse_size(size, &self->width, &self->height)) {
    g_printerr("spanscope: --size \"%s\": expected WIDTHxHEIGHT in pixels, e.g. 1366x768\n",
               size);
    return 1;
  }
  if (self->preset && !spn_preset_from_name(self->preset, &preset)) {
    g_printerr("spanscope: --preset \"%s\": expected desktop, small, allattn or demo\n",
               self->preset);
    return 1;
  }
  if (self->train_steps < 0 || self->bench_frames < 0) {
    g_printerr("spanscope: --train-steps and --bench-frames count from 0\n");
    return 1;
  }
  return -1;
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

static int
spn_application_handle_local_options(GApplication *app, GVariantDict *d)
{
  SpnApplication *self = SPN_APPLICATION(app);
  g_autofree char *size = NULL;
  take_string(d, "corpus", "^ay", &self->corpus);
  take_string(d, "preset", "s", &self->preset);
  take_string(d, "screenshot", "^ay", &self->screenshot);
  take_string(d, "text", "s", &self->text);
  take_string(d, "size", "s", &size);
  g_variant_dict_lookup(d, "train-steps", "x", &self->train_steps);
  g_variant_dict_lookup(d, "bench-frames", "i", &self->bench_frames);
  if (g_variant_dict_contains(d, "no-autosave"))
    self->autosave = FALSE;
  if (self->screenshot || self->bench_frames > 0) {
    /* a measurement must not depend on, or disturb, a session the user has open */
    self->autosave = FALSE;
    g_application_set_flags(app, g_application_get_flags(app) | G_APPLICATION_NON_UNIQUE);
  }
  return check_options(self, size);
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
  g_clear_handle_id(&self->timeout, g_source_remove);
  g_free(self->corpus);
  g_free(self->preset);
  g_free(self->screenshot);
  g_free(self->text);
  if (self->bench) {
    g_main_context_set_poll_func(NULL, bench_next_poll);
    bench_app = NULL;
    g_clear_pointer(&self->bench, free_bench);
  }
  G_OBJECT_CLASS(spn_application_parent_class)->finalize(object);
}

static void
spn_application_init(SpnApplication *self)
{
  self->autosave = TRUE;
  g_application_add_main_option_entries(G_APPLICATION(self), options);
  g_application_set_option_context_parameter_string(G_APPLICATION(self),
                                                    "[CHECKPOINT.safetensors]");
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
  app_class->activate = spn_application_activate;
  app_class->open = spn_application_open;
  app_class->handle_local_options = spn_application_handle_local_options;
  props[PROP_CORPUS] = g_param_spec_string("corpus", NULL, NULL, "bundled",
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
                      G_APPLICATION_HANDLES_OPEN, NULL);
}

int
spn_application_get_exit_status(SpnApplication *app)
{
  return app->exit_status;
}
