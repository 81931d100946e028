/* figure_view.c — SpnFigureView: draws one figure of the snapshot it holds and, for the
 * attention heatmap, turns scrolls, drags and clicks into a visible token range and a query.
 *
 * The figure is drawn off the main thread: a few render threads shared by all views draw it into
 * an image at the widget's size, and the view shows the newest image it has. At most one render
 * per view is in flight; changes meanwhile wait for it, and then the newest state is drawn, so a
 * view never falls behind by more than one image however fast snapshots or scrolls come. Hover
 * and clicks describe the image shown, not the one being drawn.
 *
 * The figure owns its layout; the view never copies its margins. Where the view needs pixel
 * geometry (zoom about the pointer, drag distances) it asks the figure for the tile of cells
 * under the pointer (spn_figure_attention_tile). */
#include "figure_view.h"

#include <math.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#define SPN_ZOOM_STEP 1.25   /* one wheel notch or one key press */
#define SPN_PAN_STEP 0.1     /* one wheel notch or arrow key: a tenth of the visible range */
#define SPN_MIN_EXTENT 8.0   /* zooming stops at this many tokens per axis */

/* The visible part of the heatmap in token positions: rows [q0, q1) × columns [k0, k1). */
typedef struct {
  double q0, q1, k0, k1;
} SpnRange;

/* What an image is drawn from: the snapshot (a reference), the options (with the theme's
 * darkness) and the size in user units and device pixels per unit. */
typedef struct {
  SpnSnapshot *snapshot;
  SpnFigureOptions options;
  int width, height, scale;
} SpnFrame;

struct _SpnFigureView {
  GtkWidget parent_instance;
  SpnFigureKind kind;
  SpnSnapshot *snapshot;
  SpnFigureOptions options;
  SpnFrame shown;               /* what `image` shows; snapshot NULL until the first image */
  cairo_surface_t *image;
  SpnFrame requested;           /* what the last render was asked to draw */
  gboolean rendering;           /* a render is in flight: the next waits for it */
  gboolean disposed;            /* a render finishing now has nobody to show it to */
  double pointer_x, pointer_y;  /* last pointer position, for zooming about it */
  gboolean pointer_inside;
  SpnRange drag_start;          /* the view when the drag began */
  double drag_kpp, drag_qpp;    /* tokens per pixel along x and y when the drag began */
  gboolean dragged;             /* moved past the drag threshold: the release is no click */
  int query_before_click;       /* the query before the last single click (a double-click
                                   resets the view, and gives back the query the click took) */
};

enum { SIGNAL_QUERY_SELECTED, SIGNAL_HEAD_SELECTED, SIGNAL_OPTIONS_CHANGED, SIGNAL_RENDERED,
       N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_TYPE(SpnFigureView, spn_figure_view, GTK_TYPE_WIDGET)

/* ---- view range ---- */

static int
token_count(SpnFigureView *self)
{
  return self->snapshot && self->snapshot->probe ? self->snapshot->probe->n : 0;
}

static SpnRange
visible_range(SpnFigureView *self)
{
  const SpnFigureOptions *o = &self->options;
  int n = token_count(self);
  if (o->q1 <= o->q0)
    return (SpnRange){0, n, 0, n};
  return (SpnRange){o->q0, o->q1, o->k0, o->k1};
}

/* Keeps [*a0, *a1) inside [0, n) and at least SPN_MIN_EXTENT long; a range that had to grow
 * grows about its centre so zooming in never jumps. */
static void
clamp_axis(double *a0, double *a1, int n)
{
  double min_extent = MIN(SPN_MIN_EXTENT, (double)n);
  double extent = *a1 - *a0;
  if (extent < min_extent) {
    double centre = (*a0 + *a1) / 2;
    extent = min_extent;
    *a0 = centre - extent / 2;
  }
  extent = MIN(extent, (double)n);
  *a0 = CLAMP(*a0, 0.0, n - extent);
  *a1 = *a0 + extent;
}

static void
options_changed(SpnFigureView *self)
{
  gtk_widget_queue_draw(GTK_WIDGET(self));
  g_signal_emit(self, signals[SIGNAL_OPTIONS_CHANGED], 0);
}

/* Sets the visible range, clamped to the text; the whole text is stored as "all" so that a
 * growing text stays fully visible until the user zooms. */
static void
set_range(SpnFigureView *self, SpnRange r)
{
  int n = token_count(self);
  SpnFigureOptions *o = &self->options;
  if (n <= 0)
    return;
  clamp_axis(&r.q0, &r.q1, n);
  clamp_axis(&r.k0, &r.k1, n);
  if (r.q1 - r.q0 >= n && r.k1 - r.k0 >= n)
    r = (SpnRange){0, 0, 0, 0};
  if (r.q0 == o->q0 && r.q1 == o->q1 && r.k0 == o->k0 && r.k1 == o->k1)
    return;
  o->q0 = r.q0;
  o->q1 = r.q1;
  o->k0 = r.k0;
  o->k1 = r.k1;
  options_changed(self);
}

static void
reset_range(SpnFigureView *self)
{
  set_range(self, (SpnRange){0, token_count(self), 0, token_count(self)});
}

static void
zoom_about(SpnFigureView *self, double factor, double q, double k)
{
  SpnRange r = visible_range(self);
  r.q0 = q - (q - r.q0) * factor;
  r.q1 = q + (r.q1 - q) * factor;
  r.k0 = k - (k - r.k0) * factor;
  r.k1 = k + (r.k1 - k) * factor;
  set_range(self, r);
}

static void
pan_by(SpnFigureView *self, double dq, double dk)
{
  SpnRange r = visible_range(self);
  set_range(self, (SpnRange){r.q0 + dq, r.q1 + dq, r.k0 + dk, r.k1 + dk});
}

/* ---- geometry, asked of the figure ---- */

/* The frame the user sees: the image's, or before the first image the one it will show
 * (borrowed). Points in widget coordinates map into it as the image is stretched over the
 * widget. */
static void
seen_frame(SpnFigureView *self, SpnFrame *f, double *x, double *y)
{
  GtkWidget *w = GTK_WIDGET(self);
  int width = gtk_widget_get_width(w), height = gtk_widget_get_height(w);
  if (self->shown.snapshot && width > 0 && height > 0) {
    *f = self->shown;
    *x *= (double)f->width / width;
    *y *= (double)f->height / height;
    return;
  }
  *f = (SpnFrame){self->snapshot, self->options, width, height, 1};
}

static gboolean
cell_at(SpnFigureView *self, double x, double y, int *q, int *k)
{
  SpnFrame f;
  seen_frame(self, &f, &x, &y);
  if (f.snapshot && self->kind == SPN_FIGURE_DISTANCE) {
    int head, delta;
    if (!spn_figure_distance_cell(f.width, f.height, f.snapshot, &f.options, x, y, &head, q,
                                  &delta))
      return FALSE;
    *k = *q - delta;
    return TRUE;
  }
  if (!f.snapshot || self->kind != SPN_FIGURE_ATTENTION)
    return FALSE;
  return spn_figure_attention_cell(f.width, f.height, f.snapshot, &f.options, x, y, q, k);
}

/* The tile of cells under (x, y) in widget coordinates, its pixel edges mapped back from the
 * image to the widget. */
static gboolean
tile_at(SpnFigureView *self, double x, double y, SpnAttentionTile *t)
{
  SpnFrame f;
  double fx = x, fy = y;
  seen_frame(self, &f, &fx, &fy);
  if (!f.snapshot || self->kind != SPN_FIGURE_ATTENTION ||
      !spn_figure_attention_tile(f.width, f.height, f.snapshot, &f.options, fx, fy, t))
    return FALSE;
  GtkWidget *w = GTK_WIDGET(self);
  double sx = (double)gtk_widget_get_width(w) / MAX(f.width, 1);
  double sy = (double)gtk_widget_get_height(w) / MAX(f.height, 1);
  t->x0 *= sx, t->x1 *= sx, t->y0 *= sy, t->y1 *= sy;
  return t->x1 - t->x0 >= 1 && t->y1 - t->y0 >= 1;
}

/* The fractional token position under (x, y) of tile t. */
static void
tile_position(const SpnAttentionTile *t, double x, double y, double *q, double *k)
{
  *k = t->k0 + (x - t->x0) / (t->x1 - t->x0) * (t->k1 - t->k0);
  *q = t->q0 + (y - t->y0) / (t->y1 - t->y0) * (t->q1 - t->q0);
}

/* Tokens per pixel along x and y; without a tile under the point, the widget's size stands in
 * for the tile's. */
static void
tokens_per_pixel(SpnFigureView *self, double x, double y, double *kpp, double *qpp)
{
  GtkWidget *w = GTK_WIDGET(self);
  SpnRange r = visible_range(self);
  SpnAttentionTile t;
  if (tile_at(self, x, y, &t)) {
    *kpp = (t.k1 - t.k0) / (t.x1 - t.x0);
    *qpp = (t.q1 - t.q0) / (t.y1 - t.y0);
  } else {
    *kpp = (r.k1 - r.k0) / MAX(1, gtk_widget_get_width(w));
    *qpp = (r.q1 - r.q0) / MAX(1, gtk_widget_get_height(w));
  }
}

/* Zooms about the token under the pointer, or about the centre of the view when the pointer is
 * not over the cells (keyboard, axis labels). */
static void
zoom_at_pointer(SpnFigureView *self, double factor, gboolean use_pointer)
{
  SpnRange r = visible_range(self);
  double q = (r.q0 + r.q1) / 2, k = (r.k0 + r.k1) / 2;
  SpnAttentionTile t;
  if (use_pointer && self->pointer_inside &&
      tile_at(self, self->pointer_x, self->pointer_y, &t))
    tile_position(&t, self->pointer_x, self->pointer_y, &q, &k);
  zoom_about(self, factor, q, k);
}

/* ---- input ---- */

static void
on_motion(GtkEventControllerMotion *c, double x, double y, SpnFigureView *self)
{
  (void)c;
  self->pointer_x = x;
  self->pointer_y = y;
  self->pointer_inside = TRUE;
}

static void
on_leave(GtkEventControllerMotion *c, SpnFigureView *self)
{
  (void)c;
  self->pointer_inside = FALSE;
}

static gboolean
on_scroll(GtkEventControllerScroll *c, double dx, double dy, SpnFigureView *self)
{
  GdkModifierType mods = gtk_event_controller_get_current_event_state(GTK_EVENT_CONTROLLER(c));
  gboolean wheel = gtk_event_controller_scroll_get_unit(c) == GDK_SCROLL_UNIT_WHEEL;
  SpnRange before = visible_range(self);
  if (token_count(self) <= 0)
    return FALSE;
  if (mods & GDK_CONTROL_MASK) {
    zoom_at_pointer(self, wheel ? pow(SPN_ZOOM_STEP, dy) : exp(dy * 0.01), TRUE);
    return TRUE;
  }
  if ((mods & GDK_SHIFT_MASK) && dx == 0) {  /* Shift+wheel: sideways, as in other views */
    dx = dy;
    dy = 0;
  }
  if (wheel) {
    pan_by(self, dy * SPN_PAN_STEP * (before.q1 - before.q0),
           dx * SPN_PAN_STEP * (before.k1 - before.k0));
  } else {
    double kpp, qpp;
    tokens_per_pixel(self, self->pointer_x, self->pointer_y, &kpp, &qpp);
    pan_by(self, dy * qpp, dx * kpp);
  }
  /* Nothing moved (whole text visible): let an enclosing scrolled window have the scroll. */
  SpnRange after = visible_range(self);
  return after.q0 != before.q0 || after.k0 != before.k0;
}

static void
on_drag_begin(GtkGestureDrag *g, double x, double y, SpnFigureView *self)
{
  (void)g;
  self->dragged = FALSE;
  self->drag_start = visible_range(self);
  tokens_per_pixel(self, x, y, &self->drag_kpp, &self->drag_qpp);
}

static void
on_drag_update(GtkGestureDrag *g, double ox, double oy, SpnFigureView *self)
{
  SpnRange r = self->drag_start;
  if (!self->dragged) {
    if (!gtk_drag_check_threshold(GTK_WIDGET(self), 0, 0, (int)ox, (int)oy))
      return;
    self->dragged = TRUE;
    gtk_gesture_set_state(GTK_GESTURE(g), GTK_EVENT_SEQUENCE_CLAIMED);
    gtk_widget_set_cursor_from_name(GTK_WIDGET(self), "grabbing");
  }
  double dk = -ox * self->drag_kpp, dq = -oy * self->drag_qpp;
  set_range(self, (SpnRange){r.q0 + dq, r.q1 + dq, r.k0 + dk, r.k1 + dk});
}

static void
on_drag_end(GtkGestureDrag *g, double ox, double oy, SpnFigureView *self)
{
  (void)g, (void)ox, (void)oy;
  if (self->dragged)
    gtk_widget_set_cursor_from_name(GTK_WIDGET(self), "crosshair");
}

static void
on_click_pressed(GtkGestureClick *g, int n_press, double x, double y, SpnFigureView *self)
{
  (void)g, (void)x, (void)y;
  if (n_press == 2) {
    reset_range(self);
    if (self->options.query != self->query_before_click) {
      self->options.query = self->query_before_click;
      options_changed(self);
      g_signal_emit(self, signals[SIGNAL_QUERY_SELECTED], 0, self->query_before_click);
    }
  }
  gtk_widget_grab_focus(GTK_WIDGET(self));
}

/* The head overview: a click on a cell selects that layer and head. */
static gboolean
select_head_at(SpnFigureView *self, double x, double y)
{
  SpnFrame f;
  seen_frame(self, &f, &x, &y);
  int l, h;
  if (!f.snapshot || self->kind != SPN_FIGURE_HEADS ||
      !spn_figure_heads_cell(f.width, f.height, f.snapshot, &f.options, x, y, &l, &h))
    return FALSE;
  g_signal_emit(self, signals[SIGNAL_HEAD_SELECTED], 0, l, h);
  return TRUE;
}

static void
on_click_released(GtkGestureClick *g, int n_press, double x, double y, SpnFigureView *self)
{
  (void)g;
  int q, k;
  if (n_press == 1 && !self->dragged && select_head_at(self, x, y))
    return;
  if (n_press != 1 || self->dragged || !cell_at(self, x, y, &q, &k))
    return;
  self->query_before_click = self->options.query;
  self->options.query = q;
  options_changed(self);
  g_signal_emit(self, signals[SIGNAL_QUERY_SELECTED], 0, q);
}

static gboolean
on_key_pressed(GtkEventControllerKey *c, guint keyval, guint keycode, GdkModifierType state,
               SpnFigureView *self)
{
  (void)c, (void)keycode, (void)state;
  SpnRange r = visible_range(self);
  double dq = SPN_PAN_STEP * (r.q1 - r.q0), dk = SPN_PAN_STEP * (r.k1 - r.k0);
  switch (keyval) {
  case GDK_KEY_Left: pan_by(self, 0, -dk); return TRUE;
  case GDK_KEY_Right: pan_by(self, 0, dk); return TRUE;
  case GDK_KEY_Up: pan_by(self, -dq, 0); return TRUE;
  case GDK_KEY_Down: pan_by(self, dq, 0); return TRUE;
  case GDK_KEY_plus: case GDK_KEY_equal: case GDK_KEY_KP_Add:
    zoom_at_pointer(self, 1 / SPN_ZOOM_STEP, FALSE);
    return TRUE;
  case GDK_KEY_minus: case GDK_KEY_KP_Subtract:
    zoom_at_pointer(self, SPN_ZOOM_STEP, FALSE);
    return TRUE;
  case GDK_KEY_0: case GDK_KEY_KP_0: case GDK_KEY_Home:
    reset_range(self);
    return TRUE;
  default:
    return FALSE;
  }
}

/* Only the heatmap is interactive; other figures let scrolls and clicks pass to their parent. */
/* A click selects: a query in the heatmaps, a head in the head overview. */
static void
add_click_controller(SpnFigureView *self)
{
  GtkGesture *click = gtk_gesture_click_new();
  gtk_gesture_single_set_button(GTK_GESTURE_SINGLE(click), GDK_BUTTON_PRIMARY);
  g_signal_connect(click, "pressed", G_CALLBACK(on_click_pressed), self);
  g_signal_connect(click, "released", G_CALLBACK(on_click_released), self);
  gtk_widget_add_controller(GTK_WIDGET(self), GTK_EVENT_CONTROLLER(click));
}

static void
add_heatmap_controllers(SpnFigureView *self)
{
  GtkWidget *w = GTK_WIDGET(self);
  GtkEventController *motion = gtk_event_controller_motion_new();
  g_signal_connect(motion, "motion", G_CALLBACK(on_motion), self);
  g_signal_connect(motion, "leave", G_CALLBACK(on_leave), self);
  gtk_widget_add_controller(w, motion);

  GtkEventController *scroll =
      gtk_event_controller_scroll_new(GTK_EVENT_CONTROLLER_SCROLL_BOTH_AXES);
  g_signal_connect(scroll, "scroll", G_CALLBACK(on_scroll), self);
  gtk_widget_add_controller(w, scroll);

  GtkGesture *drag = gtk_gesture_drag_new();
  gtk_gesture_single_set_button(GTK_GESTURE_SINGLE(drag), GDK_BUTTON_PRIMARY);
  g_signal_connect(drag, "drag-begin", G_CALLBACK(on_drag_begin), self);
  g_signal_connect(drag, "drag-update", G_CALLBACK(on_drag_update), self);
  g_signal_connect(drag, "drag-end", G_CALLBACK(on_drag_end), self);
  gtk_widget_add_controller(w, GTK_EVENT_CONTROLLER(drag));

  add_click_controller(self);

  GtkEventController *keys = gtk_event_controller_key_new();
  g_signal_connect(keys, "key-pressed", G_CALLBACK(on_key_pressed), self);
  gtk_widget_add_controller(w, keys);

  gtk_widget_set_focusable(w, TRUE);
  gtk_widget_set_cursor_from_name(w, "crosshair");
  gtk_accessible_update_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                 "Scroll or drag to pan, Control and scroll or plus and minus "
                                 "to zoom, double-click or Home to show everything, click a "
                                 "row to select its query",
                                 -1);
}

/* ---- rendering, off the main thread ---- */

/* Enough to keep a heatmap that is being zoomed from waiting behind a round of snapshot renders,
 * few enough to leave the cores to training. */
#define SPN_RENDER_THREADS 2
/* Render threads yield to the main thread, which must win every contest for a core: at nice 6 the
 * main thread gets four fifths of a core they share (at nice 2 it got three fifths, and a
 * frame waited behind a round of figure renders); the engine's threads run lower still
 * (engine/worker.c). */
#define SPN_RENDER_NICE 6

typedef struct {
  SpnFigureView *view;  /* a reference, given back on the main thread */
  SpnFigureKind kind;
  SpnFrame frame;       /* its own snapshot reference: snapshots are immutable */
  cairo_surface_t *surface;
} SpnRender;

static void
frame_clear(SpnFrame *f)
{
  g_clear_pointer(&f->snapshot, spn_snapshot_unref);
}

static void
frame_set(SpnFrame *dst, const SpnFrame *src)
{
  if (src->snapshot)
    spn_snapshot_ref(src->snapshot);
  frame_clear(dst);
  *dst = *src;
}

/* Field by field: the options have padding, whose bytes copies need not keep. An option added
 * to SpnFigureOptions must be added here, or changing it alone would not redraw. */
static gboolean
options_equal(const SpnFigureOptions *a, const SpnFigureOptions *b)
{
  return a->dark == b->dark && a->font_size == b->font_size && a->log_axis == b->log_axis &&
         a->layer == b->layer && a->head == b->head && a->colormap == b->colormap &&
         a->log_color == b->log_color && a->q0 == b->q0 && a->q1 == b->q1 && a->k0 == b->k0 &&
         a->k1 == b->k1 && a->query == b->query && a->smoothing == b->smoothing;
}

static gboolean
frame_equal(const SpnFrame *a, const SpnFrame *b)
{
  return a->snapshot == b->snapshot && a->width == b->width && a->height == b->height &&
         a->scale == b->scale && options_equal(&a->options, &b->options);
}

static void
render_free(SpnRender *r)
{
  frame_clear(&r->frame);
  g_clear_pointer(&r->surface, cairo_surface_destroy);
  g_object_unref(r->view);
  g_free(r);
}

/* Main thread: shows the image and, if the view changed meanwhile, lets the next snapshot()
 * start the render of its newest state. */
static gboolean
on_render_done(gpointer data)
{
  SpnRender *r = data;
  SpnFigureView *self = r->view;
  self->rendering = FALSE;
  if (self->disposed) {
    render_free(r);
    return G_SOURCE_REMOVE;
  }
  gtk_widget_queue_draw(GTK_WIDGET(self));
  /* a failed surface (a size past cairo's limits) leaves the last image up */
  if (cairo_surface_status(r->surface) == CAIRO_STATUS_SUCCESS) {
    g_clear_pointer(&self->image, cairo_surface_destroy);
    self->image = g_steal_pointer(&r->surface);
    frame_set(&self->shown, &r->frame);
    g_signal_emit(self, signals[SIGNAL_RENDERED], 0);
  }
  render_free(r);
  return G_SOURCE_REMOVE;
}

/* Nice values are per thread on Linux; the pool's threads start at the main thread's. */
static void
lower_render_priority(void)
{
#ifdef __linux__
  static _Thread_local gboolean lowered;
  if (!lowered)
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), SPN_RENDER_NICE);
  lowered = TRUE;
#endif
}

/* A render thread. Pango is used from several threads only through pangocairo's default font
 * map, which has been per thread since Pango 1.32.6: each thread lays out text with its own font
 * map and context, and nothing of Pango is shared with the main thread. Cairo image surfaces
 * need no more than being used by one thread at a time. */
static void
render_in_thread(gpointer data, gpointer pool_data)
{
  (void)pool_data;
  SpnRender *r = data;
  const SpnFrame *f = &r->frame;
  lower_render_priority();
  /* opaque: every figure fills its background, and an opaque image is painted as a copy */
  r->surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, f->width * f->scale,
                                          f->height * f->scale);
  cairo_surface_set_device_scale(r->surface, f->scale, f->scale);
  cairo_t *cr = cairo_create(r->surface);
  spn_figure_draw(r->kind, cr, f->width, f->height, f->snapshot, &f->options);
  cairo_destroy(cr);
  cairo_surface_flush(r->surface);
  g_idle_add_full(G_PRIORITY_DEFAULT, on_render_done, r, NULL);
}

/* Long-lived threads, started once for the process: each keeps its font map warm between
 * renders (a new thread would load its fonts again). */
static GThreadPool *
render_pool(void)
{
  static GThreadPool *pool;
  if (g_once_init_enter(&pool)) {
    GError *error = NULL;
    GThreadPool *p = g_thread_pool_new(render_in_thread, NULL,
                                       MIN(SPN_RENDER_THREADS, (int)g_get_num_processors()),
                                       TRUE, &error);
    if (p == NULL)  /* as g_thread_new does when the system has no thread left to give */
      g_error("cannot start the figure render threads: %s", error->message);
    g_once_init_leave(&pool, p);
  }
  return pool;
}

static void
start_render(SpnFigureView *self, const SpnFrame *frame)
{
  SpnRender *r = g_new0(SpnRender, 1);
  r->view = g_object_ref(self);
  r->kind = self->kind;
  frame_set(&r->frame, frame);
  frame_set(&self->requested, frame);
  self->rendering = TRUE;
  g_thread_pool_push(render_pool(), r, NULL);
}

/* ---- drawing ---- */

/* The theme is dark when its text is light: this follows libadwaita's style manager, the
 * GTK theme setting and high contrast alike. */
static gboolean
is_dark(GtkWidget *w)
{
  GdkRGBA fg;
  gtk_style_context_get_color(gtk_widget_get_style_context(w), &fg);
  return 0.2126 * fg.red + 0.7152 * fg.green + 0.0722 * fg.blue > 0.5;
}

/* What the widget should show now. Borrows the snapshot. */
static SpnFrame
current_frame(SpnFigureView *self)
{
  GtkWidget *w = GTK_WIDGET(self);
  SpnFrame f = {self->snapshot, self->options, gtk_widget_get_width(w), gtk_widget_get_height(w),
                gtk_widget_get_scale_factor(w)};
  f.options.dark = is_dark(w);
  return f;
}

/* Asks for an image of the current state unless one is shown or on its way; while a render is
 * in flight the request waits for it (on_render_done redraws, which comes back here). */
static void
request_image(SpnFigureView *self, const SpnFrame *f)
{
  if (self->rendering || frame_equal(f, &self->requested) ||
      (self->image && frame_equal(f, &self->shown)))
    return;
  start_render(self, f);
}

/* The image as a cairo node that paints it, not as a texture: GTK 4.8's cairo renderer
 * converts a texture's pixels through floats on every frame it draws it (several ms for the five
 * figures), where painting a surface is a plain blit; the GL renderer uploads either once. The
 * recording keeps a copy-on-write reference to the image, which is never written again. */
static void
append_image(SpnFigureView *self, GtkSnapshot *snapshot, int width, int height)
{
  cairo_t *cr = gtk_snapshot_append_cairo(snapshot, &GRAPHENE_RECT_INIT(0, 0, width, height));
  cairo_scale(cr, (double)width / self->shown.width, (double)height / self->shown.height);
  cairo_set_source_surface(cr, self->image, 0, 0);
  cairo_paint(cr);
  cairo_destroy(cr);
}

/* Only a drawn widget renders: a panel hidden behind a maximized one costs nothing. The image
 * shown is the newest there is, stretched over the widget while one of a new size is drawn. */
static void
spn_figure_view_snapshot(GtkWidget *w, GtkSnapshot *snapshot)
{
  SpnFigureView *self = SPN_FIGURE_VIEW(w);
  SpnFrame f = current_frame(self);
  if (f.width <= 0 || f.height <= 0 || !f.snapshot)
    return;
  request_image(self, &f);
  if (self->image)
    append_image(self, snapshot, f.width, f.height);
}

static void
spn_figure_view_css_changed(GtkWidget *w, GtkCssStyleChange *change)
{
  GTK_WIDGET_CLASS(spn_figure_view_parent_class)->css_changed(w, change);
  gtk_widget_queue_draw(w);  /* the palette follows the theme's colours */
}

static gboolean
spn_figure_view_query_tooltip(GtkWidget *w, int x, int y, gboolean keyboard, GtkTooltip *tip)
{
  SpnFigureView *self = SPN_FIGURE_VIEW(w);
  double fx = x, fy = y;
  SpnFrame f;
  seen_frame(self, &f, &fx, &fy);
  if (keyboard || !f.snapshot)
    return FALSE;
  char *text = spn_figure_describe(self->kind, f.width, f.height, f.snapshot, &f.options, fx, fy);
  if (!text)
    return FALSE;
  gtk_tooltip_set_text(tip, text);
  g_free(text);
  return TRUE;
}

static void
spn_figure_view_measure(GtkWidget *w, GtkOrientation orientation, int for_size, int *minimum,
                        int *natural, int *minimum_baseline, int *natural_baseline)
{
  (void)w, (void)for_size;
  gboolean horizontal = orientation == GTK_ORIENTATION_HORIZONTAL;
  *minimum = horizontal ? 160 : 100;
  *natural = horizontal ? 420 : 260;
  *minimum_baseline = *natural_baseline = -1;
}

/* ---- object ---- */

static void
spn_figure_view_dispose(GObject *object)
{
  SpnFigureView *self = SPN_FIGURE_VIEW(object);
  self->disposed = TRUE;
  g_clear_pointer(&self->snapshot, spn_snapshot_unref);
  frame_clear(&self->shown);
  frame_clear(&self->requested);
  g_clear_pointer(&self->image, cairo_surface_destroy);
  G_OBJECT_CLASS(spn_figure_view_parent_class)->dispose(object);
}

static void
spn_figure_view_class_init(SpnFigureViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  object_class->dispose = spn_figure_view_dispose;
  widget_class->snapshot = spn_figure_view_snapshot;
  widget_class->css_changed = spn_figure_view_css_changed;
  widget_class->query_tooltip = spn_figure_view_query_tooltip;
  widget_class->measure = spn_figure_view_measure;
  gtk_widget_class_set_css_name(widget_class, "spnfigureview");
  gtk_widget_class_set_accessible_role(widget_class, GTK_ACCESSIBLE_ROLE_IMG);

  signals[SIGNAL_QUERY_SELECTED] =
      g_signal_new("query-selected", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                   NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT);
  /* the head overview's cell clicked: layer, head */
  signals[SIGNAL_HEAD_SELECTED] =
      g_signal_new("head-selected", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                   NULL, G_TYPE_NONE, 2, G_TYPE_INT, G_TYPE_INT);
  signals[SIGNAL_OPTIONS_CHANGED] =
      g_signal_new("options-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                   NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_RENDERED] = g_signal_new("rendered", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
spn_figure_view_init(SpnFigureView *self)
{
  spn_figure_options_init(&self->options);
  self->query_before_click = -1;
  gtk_widget_set_has_tooltip(GTK_WIDGET(self), TRUE);
  gtk_widget_set_hexpand(GTK_WIDGET(self), TRUE);
  gtk_widget_set_vexpand(GTK_WIDGET(self), TRUE);
}

GtkWidget *
spn_figure_view_new(SpnFigureKind kind)
{
  g_return_val_if_fail(kind >= 0 && kind < SPN_FIGURE_COUNT, NULL);
  SpnFigureView *self = g_object_new(SPN_TYPE_FIGURE_VIEW, NULL);
  self->kind = kind;
  gtk_accessible_update_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                 spn_figure_title(kind), -1);
  /* the distance heatmap zooms and pans its queries (δ stays whole) like the heatmap */
  if (kind == SPN_FIGURE_ATTENTION || kind == SPN_FIGURE_DISTANCE)
    add_heatmap_controllers(self);
  else if (kind == SPN_FIGURE_HEADS)
    add_click_controller(self);
  return GTK_WIDGET(self);
}

SpnFigureKind
spn_figure_view_get_kind(SpnFigureView *v)
{
  g_return_val_if_fail(SPN_IS_FIGURE_VIEW(v), SPN_FIGURE_SPANS);
  return v->kind;
}

void
spn_figure_view_set_snapshot(SpnFigureView *v, SpnSnapshot *s)
{
  g_return_if_fail(SPN_IS_FIGURE_VIEW(v));
  if (s)
    spn_snapshot_ref(s);
  g_clear_pointer(&v->snapshot, spn_snapshot_unref);
  v->snapshot = s;
  /* A shorter text may leave a zoomed view past its end. */
  if (v->options.q1 > v->options.q0)
    set_range(v, visible_range(v));
  gtk_widget_queue_draw(GTK_WIDGET(v));
}

SpnSnapshot *
spn_figure_view_get_snapshot(SpnFigureView *v)
{
  g_return_val_if_fail(SPN_IS_FIGURE_VIEW(v), NULL);
  return v->snapshot;
}

void
spn_figure_view_set_options(SpnFigureView *v, const SpnFigureOptions *o)
{
  g_return_if_fail(SPN_IS_FIGURE_VIEW(v));
  g_return_if_fail(o != NULL);
  v->options = *o;
  options_changed(v);
}

const SpnFigureOptions *
spn_figure_view_get_options(SpnFigureView *v)
{
  g_return_val_if_fail(SPN_IS_FIGURE_VIEW(v), NULL);
  return &v->options;
}

gboolean
spn_figure_view_is_current(SpnFigureView *v)
{
  g_return_val_if_fail(SPN_IS_FIGURE_VIEW(v), FALSE);
  SpnFrame f = current_frame(v);
  if (!gtk_widget_is_drawable(GTK_WIDGET(v)) || f.width <= 0 || f.height <= 0 || !f.snapshot)
    return TRUE;
  return v->image && frame_equal(&f, &v->shown);
}
