/* headless.c — the two modes that drive a real window through its actions, as a user would,
 * and exit: the screenshot (--screenshot) and the frame-cost benchmark (--bench-frames). */
#include "headless.h"

#include "compare_window.h"

#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <time.h>
#ifdef GDK_WINDOWING_X11
#include <gdk/x11/gdkx.h>
#undef Status   /* Xlib's; Status below is the window's */
#endif

#include "figure_view.h"
#include "inspector.h"

#define HEADLESS_TIMEOUT_S 900
#define SETTLE_FRAMES 2    /* frames painted after the last snapshot before the screenshot */

typedef struct Bench Bench;  /* the frame benchmark's measurements */

struct _SpnHeadless {
  GApplication *app;
  SpnWindow *win;          /* NULL once finished */
  GtkWidget *target;       /* the window the screenshot is of: win, or the comparison window */
  char *screenshot;
  gint64 train_steps;
  int width, height;
  int bench_frames;
  gboolean capturing, resized, started;
  int settle;
  Bench *bench;
  guint timeout;
  int exit_status;
  const SpnHeadlessView *view;   /* borrowed; NULL: the window as it starts */
};

/* ---- rendering the window ---- */

/* Drawing the window's render nodes again (GtkWidgetPaintable, then GSK's cairo drawing into
 * an image surface or an X pixmap) is not what the window shows: on Xvfb, where GTK falls back
 * to the "medium" hint style, the inspector's tinted characters (one text node each, in a
 * rounded clip) came out with the hinted tops of their glyphs cut, a dotless "ı" and "of" as
 * "ot", while the window itself showed them whole; the same nodes serialized and drawn in a
 * fresh process are whole too. Whether the tint had reached the text before the capture made
 * it come and go (issue 9). So on X11 the picture is the window's own pixels, read back from
 * the X server once the frame is painted; only where that cannot be (another display server,
 * a window reaching past the screen, fewer than 24 bits of colour) are the nodes drawn again. */
#ifdef GDK_WINDOWING_X11
static gboolean
x_visual_is_rgb(const XWindowAttributes *a)
{
  return a->depth >= 24 && a->visual->class == TrueColor && a->visual->red_mask == 0xff0000 &&
         a->visual->green_mask == 0xff00 && a->visual->blue_mask == 0xff;
}

/* The w × h pixels of the window's content as the X server holds them, NULL when it does not
 * hold them all. A 32-bit visual's pixels are premultiplied ARGB, as cairo's. */
static cairo_surface_t *
read_back_x(GtkWidget *window, int w, int h)
{
  GdkDisplay *display = gtk_widget_get_display(window);
  if (!GDK_IS_X11_DISPLAY(display))
    return NULL;
  Display *dpy = gdk_x11_display_get_xdisplay(display);
  Window xid = gdk_x11_surface_get_xid(gtk_native_get_surface(GTK_NATIVE(window)));
  XWindowAttributes a;
  double sx, sy;
  int rx, ry;
  Window child;
  gtk_native_get_surface_transform(GTK_NATIVE(window), &sx, &sy);
  int x0 = (int)sx, y0 = (int)sy;
  if (!XGetWindowAttributes(dpy, xid, &a) || a.map_state != IsViewable || !x_visual_is_rgb(&a) ||
      !XTranslateCoordinates(dpy, xid, a.root, x0, y0, &rx, &ry, &child) || rx < 0 || ry < 0 ||
      rx + w > WidthOfScreen(a.screen) || ry + h > HeightOfScreen(a.screen))
    return NULL;
  gdk_x11_display_error_trap_push(display);
  XImage *im = XGetImage(dpy, xid, x0, y0, w, h, AllPlanes, ZPixmap);
  if (gdk_x11_display_error_trap_pop(display) != 0 || im == NULL)
    return NULL;
  cairo_surface_t *image = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
  guint8 *data = cairo_image_surface_get_data(image);
  int stride = cairo_image_surface_get_stride(image);
  for (int y = 0; y < h; y++) {
    guint32 *row = (guint32 *)(data + (gsize)y * stride);
    for (int x = 0; x < w; x++) {
      unsigned long p = XGetPixel(im, x, y);
      row[x] = a.depth == 32 ? (guint32)p : 0xff000000u | (guint32)(p & 0xffffff);
    }
  }
  cairo_surface_mark_dirty(image);
  XDestroyImage(im);
  return image;
}
#endif

/* The window's render nodes drawn again, as GTK's cairo renderer would. */
static cairo_surface_t *
draw_again(GtkWidget *window, int w, int h)
{
  GdkPaintable *paintable = gtk_widget_paintable_new(window);
  GtkSnapshot *snapshot = gtk_snapshot_new();
  gdk_paintable_snapshot(paintable, snapshot, w, h);
  g_object_unref(paintable);
  GskRenderNode *node = gtk_snapshot_free_to_node(snapshot);
  if (node == NULL)
    return NULL;
  cairo_surface_t *image = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
  cairo_t *cr = cairo_create(image);
  gsk_render_node_draw(node, cr);
  cairo_destroy(cr);
  gsk_render_node_unref(node);
  return image;
}

gboolean
spn_window_save_png(GtkWidget *window, const char *path, GError **error)
{
  int w = gtk_widget_get_width(window), h = gtk_widget_get_height(window);
  if (w <= 0 || h <= 0 || gtk_native_get_renderer(GTK_NATIVE(window)) == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                "the window is not on screen yet, there is nothing to render");
    return FALSE;
  }
  cairo_surface_t *image = NULL;
#ifdef GDK_WINDOWING_X11
  image = read_back_x(window, w, h);
#endif
  if (image == NULL) {
    g_printerr("spanscope: the display does not show the whole window: its widgets are drawn "
               "again for the picture, where text may differ from the window (on X11, make the "
               "screen larger than the window, e.g. xvfb-run -s \"-screen 0 1920x1080x24\")\n");
    image = draw_again(window, w, h);
  }
  if (image == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "the window drew nothing");
    return FALSE;
  }
  /* written beside the file and renamed over it: a failed write leaves the old picture */
  g_autofree char *partial = g_strconcat(path, ".partial", NULL);
  gboolean ok = cairo_surface_write_to_png(image, partial) == CAIRO_STATUS_SUCCESS &&
                g_rename(partial, path) == 0;
  cairo_surface_destroy(image);
  if (!ok) {
    g_unlink(partial);
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                "cannot write %s: check that its folder exists and is writable", path);
  }
  return ok;
}

/* ---- headless: common ---- */

static void
finish(SpnHeadless *self, int status)
{
  self->exit_status = status;
  g_clear_handle_id(&self->timeout, g_source_remove);
  if (self->target && self->target != GTK_WIDGET(self->win))
    gtk_window_destroy(GTK_WINDOW(self->target));
  if (self->win)
    gtk_window_destroy(GTK_WINDOW(self->win));
  self->win = NULL;
  self->target = NULL;
  g_application_quit(self->app);
}

static void
fail(SpnHeadless *self, const char *message)
{
  g_printerr("spanscope: %s\n", message);
  finish(self, 1);
}

static void
on_headless_error(SpnWindow *win, const char *message, SpnHeadless *self)
{
  (void)win;
  fail(self, message);
}

static gboolean
on_headless_timeout(gpointer data)
{
  SpnHeadless *self = data;
  self->timeout = 0;
  g_autofree char *m = g_strdup_printf("gave up after %d s: training or reading the text did not "
                                       "finish; try fewer --train-steps", HEADLESS_TIMEOUT_S);
  fail(self, m);
  return G_SOURCE_REMOVE;
}

typedef struct {
  gboolean ready, training, probe;
  gint64 step;
  double tokens_per_s;
  int nlayers, nheads, tokens;
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
    g_variant_dict_lookup(&d, "tokens_per_s", "d", &s.tokens_per_s);
    g_variant_dict_lookup(&d, "nlayers", "i", &s.nlayers);
    g_variant_dict_lookup(&d, "nheads", "i", &s.nheads);
    g_variant_dict_lookup(&d, "tokens", "i", &s.tokens);
    g_variant_dict_clear(&d);
  }
  return s;
}

/* ---- the view a screenshot shows ---- */

void
spn_headless_view_init(SpnHeadlessView *v)
{
  *v = (SpnHeadlessView){.layer = SPN_HEADLESS_UNSET, .head = SPN_HEADLESS_UNSET,
                         .query = SPN_HEADLESS_UNSET};
}

void
spn_headless_view_clear(SpnHeadlessView *v)
{
  g_strfreev(v->show);
  g_free(v->maximize);
  spn_headless_view_init(v);
}

gboolean
spn_headless_view_chosen(const SpnHeadlessView *v)
{
  return (v->show && v->show[0]) || v->maximize || v->layer != SPN_HEADLESS_UNSET ||
         v->head != SPN_HEADLESS_UNSET || v->query != SPN_HEADLESS_UNSET;
}

static gboolean
check_figure(const char *option, const char *name, GError **error)
{
  SpnFigureKind kind;
  if (spn_figure_from_name(name, &kind))
    return TRUE;
  g_autofree char *names = spn_figure_names();
  g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
              "%s \"%s\": no figure is called that; expected one of %s", option, name, names);
  return FALSE;
}

/* value, when chosen, is at least min; else an error naming the option. */
static gboolean
at_least(const char *option, int value, int min, const char *expected, GError **error)
{
  if (value == SPN_HEADLESS_UNSET || value >= min)
    return TRUE;
  g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s %d: %s", option, value,
              expected);
  return FALSE;
}

gboolean
spn_headless_view_check(const SpnHeadlessView *v, GError **error)
{
  for (int i = 0; v->show && v->show[i]; i++)
    if (!check_figure("--show", v->show[i], error))
      return FALSE;
  return (v->maximize == NULL || check_figure("--maximize", v->maximize, error)) &&
         at_least("--layer", v->layer, 0, "layers count from 0", error) &&
         at_least("--head", v->head, -1, "expected a head from 0, or -1 for all heads of the layer",
                  error) &&
         at_least("--query", v->query, -1,
                  "expected a character of the text from 0, or -1 for none", error);
}

/* Asks the window for `value` through the stateful action `name`; TRUE when its state is that
 * value afterwards (the window refuses what the model or the text does not have). */
static gboolean
change_state(SpnWindow *win, const char *name, int value)
{
  if (value == SPN_HEADLESS_UNSET)
    return TRUE;
  g_action_group_change_action_state(G_ACTION_GROUP(win), name, g_variant_new_int32(value));
  g_autoptr(GVariant) state = g_action_group_get_action_state(G_ACTION_GROUP(win), name);
  return g_variant_get_int32(state) == value;
}

gboolean
spn_headless_show_view(SpnWindow *win, const SpnHeadlessView *v, GError **error)
{
  if (!spn_headless_view_check(v, error))
    return FALSE;
  GActionGroup *group = G_ACTION_GROUP(win);
  for (int i = 0; v->show && v->show[i]; i++)
    g_action_group_activate_action(group, "show", g_variant_new_string(v->show[i]));
  if (v->maximize)
    g_action_group_activate_action(group, "maximize", g_variant_new_string(v->maximize));
  Status s = window_status(win);
  if (!change_state(win, "layer", v->layer)) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "--layer %d: the model has layers 0 to %d", v->layer, s.nlayers - 1);
    return FALSE;
  }
  if (!change_state(win, "head", v->head)) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "--head %d: the model has heads 0 to %d (or -1: all heads of the layer)", v->head,
                s.nheads - 1);
    return FALSE;
  }
  if (!change_state(win, "query", v->query)) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "--query %d: the inspector's text has characters 0 to %d (or -1: none)",
                v->query, s.tokens - 1);
    return FALSE;
  }
  return TRUE;
}

/* ---- headless: screenshot ---- */

/* The window's default size counts the invisible resize borders of client-side decorations;
 * the picture is of the window itself. Grows the default size once by the difference, so the
 * picture has the size that was asked for. */
static gboolean
fit_requested_size(SpnHeadless *self, GtkWidget *window)
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

static gboolean start_capture(gpointer data);

/* Runs after the frame clock painted the window: its render nodes are fresh then, while
 * before the paint any redraw queued in the frame would have dropped them. */
static void
capture_after_paint(GdkFrameClock *clock, gpointer data)
{
  SpnHeadless *self = data;
  GtkWidget *window = self->target;
  if (window == NULL)
    return;
  if (--self->settle > 0 || fit_requested_size(self, window)) {
    gtk_widget_queue_draw(window);
    return;
  }
  g_signal_handlers_disconnect_by_func(clock, capture_after_paint, self);
  if (!views_current(window)) {
    /* look again once idle work (the inspector's tint, finished renders) has had its turn: a
     * redraw queued from here would come before it, and with a slow renderer (GL on Mesa's
     * software rasteriser) frame after frame would keep it from ever running */
    g_idle_add_full(G_PRIORITY_LOW, start_capture, self, NULL);
    return;
  }
  g_autoptr(GError) error = NULL;
  if (!spn_window_save_png(window, self->screenshot, &error)) {
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
  SpnHeadless *self = data;
  if (self->target == NULL)
    return G_SOURCE_REMOVE;
  GtkWidget *window = self->target;
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
  SpnHeadless *self = data;
  (void)name, (void)value;
  Status s = window_status(SPN_WINDOW(group));
  if (self->capturing || !s.ready || s.training || s.step < self->train_steps || !s.probe)
    return;
  self->capturing = TRUE;
  g_autoptr(GError) error = NULL;
  if (self->view && !spn_headless_show_view(SPN_WINDOW(group), self->view, &error)) {
    fail(self, error->message);
    return;
  }
  g_idle_add_full(G_PRIORITY_LOW, start_capture, self, NULL);
}

static void
start_screenshot(SpnHeadless *self, SpnWindow *win)
{
  g_signal_connect(win, "action-state-changed::status", G_CALLBACK(on_screenshot_status), self);
  /* following a run elsewhere, --train-steps is the step to wait for, not to train to */
  if (self->train_steps > 0 && !spn_window_is_following(win))
    g_action_group_activate_action(G_ACTION_GROUP(win), "train-until",
                                   g_variant_new_int64(self->train_steps));
}

/* The comparison window: once every run asked for is open, take its picture. */
static void
on_compare_runs_changed(SpnCompareWindow *cmp, SpnHeadless *self)
{
  if (self->capturing || spn_compare_window_get_pending(cmp) > 0 ||
      spn_compare_window_get_n_runs(cmp) == 0)
    return;
  self->capturing = TRUE;
  g_idle_add_full(G_PRIORITY_LOW, start_capture, self, NULL);
}

static void
on_compare_failed(SpnCompareWindow *cmp, const char *message, SpnHeadless *self)
{
  (void)cmp;
  fail(self, message);
}

static void
start_compare_screenshot(SpnHeadless *self)
{
  SpnCompareWindow *cmp = spn_compare_window_get(GTK_APPLICATION(self->app));
  self->target = GTK_WIDGET(cmp);
  if (self->width > 0 && self->height > 0)
    gtk_window_set_default_size(GTK_WINDOW(cmp), self->width, self->height);
  g_signal_connect(cmp, "runs-changed", G_CALLBACK(on_compare_runs_changed), self);
  g_signal_connect(cmp, "run-failed", G_CALLBACK(on_compare_failed), self);
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
static SpnHeadless *bench_owner;
static GPollFunc bench_next_poll;

struct Bench {
  GArray *frame_ms, *frame_cpu_ms, *dispatch_ms, *loop_ms;
  GArray *relayout_cpu_ms;   /* frame_cpu of the frames that laid the window out again */
  gint64 frame_start, frame_cpu_start, poll_end;
  gboolean painted, measuring;
  int relayouts;   /* the window laid out again while measuring (GdkSurface::layout) */
  gboolean relaid; /* in the frame under way */
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
  report_series("frame_cpu_relayout", b->relayout_cpu_ms);
  report_series("dispatch", b->dispatch_ms);
  guint over = 0;
  for (guint i = 0; i < b->loop_ms->len; i++)
    over += g_array_index(b->loop_ms, double, i) > 16.0;
  g_array_sort(b->loop_ms, compare_double);
  g_print("loop_max_ms %.2f\n",
          b->loop_ms->len ? g_array_index(b->loop_ms, double, b->loop_ms->len - 1) : 0.0);
  g_print("loop_over_16ms %u\n", over);
  g_print("window_relayouts_per_frame %.2f\n",
          b->frame_ms->len ? (double)b->relayouts / b->frame_ms->len : 0.0);
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
  Bench *b = bench_owner ? bench_owner->bench : NULL;
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
on_before_paint(GdkFrameClock *clock, SpnHeadless *self)
{
  (void)clock;
  self->bench->frame_start = g_get_monotonic_time();
  self->bench->frame_cpu_start = thread_cpu_us();
  self->bench->painted = FALSE;
  self->bench->relaid = FALSE;
}

static void
on_paint(GdkFrameClock *clock, SpnHeadless *self)
{
  (void)clock;
  self->bench->painted = TRUE;
}

static void
on_after_paint(GdkFrameClock *clock, SpnHeadless *self)
{
  Bench *b = self->bench;
  if (!b->measuring || !b->painted || b->frame_start == 0)
    return;
  record(b->frame_ms, (g_get_monotonic_time() - b->frame_start) / 1000.0);
  record(b->frame_cpu_ms, (thread_cpu_us() - b->frame_cpu_start) / 1000.0);
  if (b->relaid)
    record(b->relayout_cpu_ms, (thread_cpu_us() - b->frame_cpu_start) / 1000.0);
  if ((int)b->frame_ms->len < self->bench_frames)
    return;
  g_signal_handlers_disconnect_by_data(clock, self);
  report_bench(b);
  /* what the window left to training meanwhile */
  g_print("train_tokens_per_s %.0f\n", window_status(self->win).tokens_per_s);
  finish(self, 0);
}

static void
on_dispatched(SpnWindow *win, double ms, SpnHeadless *self)
{
  (void)win;
  if (self->bench->measuring)
    record(self->bench->dispatch_ms, ms);
}

/* Starts training once the model is ready, and measures once it trains. */
static void
on_bench_status(GActionGroup *group, const char *name, GVariant *value, SpnHeadless *self)
{
  (void)name, (void)value;
  Status s = window_status(SPN_WINDOW(group));
  if (!self->started && s.ready) {
    self->started = TRUE;
    g_action_group_change_action_state(group, "train", g_variant_new_boolean(TRUE));
  }
  self->bench->measuring = s.training && s.step > 0;
}

/* A relayout of the whole window: something in it asked for a new size (a label's text, ...). */
static void
on_surface_layout(GdkSurface *surface, int width, int height, SpnHeadless *self)
{
  (void)surface, (void)width, (void)height;
  self->bench->relayouts += self->bench->measuring;
  self->bench->relaid = TRUE;
}

/* The frame clock exists once the window is realized. */
static void
on_bench_realize(GtkWidget *window, SpnHeadless *self)
{
  g_signal_connect(gtk_native_get_surface(GTK_NATIVE(window)), "layout",
                   G_CALLBACK(on_surface_layout), self);
  GdkFrameClock *clock = gtk_widget_get_frame_clock(window);
  g_signal_connect(clock, "before-paint", G_CALLBACK(on_before_paint), self);
  g_signal_connect(clock, "paint", G_CALLBACK(on_paint), self);
  g_signal_connect(clock, "after-paint", G_CALLBACK(on_after_paint), self);
}

static void
start_bench(SpnHeadless *self, SpnWindow *win)
{
  self->bench = g_new0(Bench, 1);
  self->bench->frame_ms = g_array_new(FALSE, FALSE, sizeof(double));
  self->bench->frame_cpu_ms = g_array_new(FALSE, FALSE, sizeof(double));
  self->bench->dispatch_ms = g_array_new(FALSE, FALSE, sizeof(double));
  self->bench->loop_ms = g_array_new(FALSE, FALSE, sizeof(double));
  self->bench->relayout_cpu_ms = g_array_new(FALSE, FALSE, sizeof(double));
  bench_owner = self;
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
  g_array_unref(b->relayout_cpu_ms);
  g_free(b);
}

/* ---- public ---- */

SpnHeadless *
spn_headless_start(GApplication *app, SpnWindow *win, const SpnHeadlessOptions *o)
{
  SpnHeadless *self = g_new0(SpnHeadless, 1);
  self->app = app;
  self->win = win;
  self->target = GTK_WIDGET(win);
  self->screenshot = g_strdup(o->screenshot);
  self->train_steps = o->train_steps;
  self->width = o->width;
  self->height = o->height;
  self->bench_frames = o->bench_frames;
  self->view = o->view;
  g_signal_connect(win, "worker-error", G_CALLBACK(on_headless_error), self);
  self->timeout = g_timeout_add_seconds(HEADLESS_TIMEOUT_S, on_headless_timeout, self);
  if (self->screenshot && o->compare)
    start_compare_screenshot(self);
  else if (self->screenshot)
    start_screenshot(self, win);
  else
    start_bench(self, win);
  return self;
}

int
spn_headless_get_exit_status(SpnHeadless *h)
{
  return h->exit_status;
}

void
spn_headless_free(SpnHeadless *h)
{
  if (h == NULL)
    return;
  g_clear_handle_id(&h->timeout, g_source_remove);
  if (h->win)
    g_signal_handlers_disconnect_by_data(h->win, h);
  if (h->target && h->target != GTK_WIDGET(h->win))
    g_signal_handlers_disconnect_by_data(h->target, h);
  if (h->bench) {
    g_main_context_set_poll_func(NULL, bench_next_poll);
    bench_owner = NULL;
    g_clear_pointer(&h->bench, free_bench);
  }
  g_free(h->screenshot);
  g_free(h);
}
