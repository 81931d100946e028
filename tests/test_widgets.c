/* test_widgets.c — the widgets over a hand-made snapshot, under Xvfb: the heatmap's click,
 * drag and zoom through its own controllers, the panel's controls and actions, the inspector's
 * tint, query highlight and signals, and a rendered window of all three.
 *
 * Input is simulated by emitting the controllers' own signals (no window-system events), so the
 * checks are about what the handlers do with a position, not about the toolkit's dispatch.
 * With SPN_WIDGETS_PNG=path set, the rendered window is also written there to be looked at. */
#include <math.h>
#include <string.h>

#include <gtk/gtk.h>

#include "figure_view.h"
#include "figures.h"
#include "inspector.h"
#include "panel.h"
#include "snapshot.h"

#define TEXT                                                                                     \
  "In the beginning God created the heaven and the earth.\nAnd the earth was without form, and " \
  "void; and darkness was upon the face of the deep. Zebulun shall dwell at the haven of the "  \
  "sea; and he shall be for an haven of ships."
#define WINDOW 48   /* distances stored per query */
#define NLAYERS 2
#define NHEADS 3

/* ---- a hand-made snapshot ---- */

static int
hot_index(const char *text)
{
  return (int)(strchr(text, 'Z') - text);
}

/* Head h of every layer looks mostly at distance 3 + h; the rest is spread thinly. */
static void
fill_head(SpnProbeHead *ph, int n, int h, gboolean persistent)
{
  ph->window = WINDOW;
  ph->weights = g_new0(float, (gsize)n * WINDOW);
  ph->before_start = g_new0(float, n);
  ph->persistent = g_new0(float, n);
  for (int i = 0; i < n; i++) {
    float *row = ph->weights + (gsize)i * WINDOW;
    double sum = 0;
    for (int d = 1; d <= WINDOW; d++)
      sum += row[d - 1] = d == 3 + h ? 20.0f : 1.0f / d;
    double context = persistent ? 0.9 : 1.0;
    for (int d = 1; d <= WINDOW; d++) {
      row[d - 1] *= context / sum;
      if (d > i)
        ph->before_start[i] += row[d - 1];
    }
    ph->persistent[i] = persistent ? 0.1f : 0.0f;
  }
}

static SpnProbe *
make_probe(const char *text, const float *spans)
{
  SpnProbe *p = spn_probe_new();
  int n = (int)strlen(text), hot = strchr(text, 'Z') ? hot_index(text) : -1;
  p->n = n;
  p->nlayers = NLAYERS;
  p->nheads = NHEADS;
  p->tokens = g_new(gint32, n);
  p->offsets = g_new(gsize, n);
  p->surprisal = g_new(float, n);
  for (int i = 0; i < n; i++) {
    p->tokens[i] = (guint8)text[i];
    p->offsets[i] = i;
    p->surprisal[i] = i == 0 ? NAN : i == hot ? 7.8f : 0.4f + (i % 7) * 0.3f;
  }
  p->spans = g_memdup2(spans, sizeof(float) * NLAYERS * NHEADS);
  p->heads = g_new0(SpnProbeHead, NLAYERS * NHEADS);
  for (int k = 0; k < NLAYERS * NHEADS; k++)
    fill_head(&p->heads[k], n, k % NHEADS, TRUE);
  return p;
}

static SpnSnapshot *
make_snapshot(const char *text)
{
  SpnConfig cfg;
  spn_config_init_desktop(&cfg);
  cfg.nlayers = NLAYERS;
  cfg.nheads = NHEADS;
  cfg.hid_sz = 48;
  cfg.attn_span = 64;
  cfg.pers_mem_size = 4;
  cfg.vocab_size = 60;
  static const float spans[NLAYERS * NHEADS] = {4.5f, 20.0f, 41.0f, 2.0f, 12.0f, 64.0f};
  SpnSnapshot *s = spn_snapshot_new(&cfg);
  s->step = 600;
  memcpy(s->spans, spans, sizeof spans);
  s->corpus = g_strdup("test");
  for (int i = 1; i <= 60; i++) {
    float row[NLAYERS * NHEADS];
    for (int k = 0; k < NLAYERS * NHEADS; k++)
      row[k] = spans[k] * i / 60.0f;
    spn_history_append(s->history, i * 10, 1.6 + 3.0 * exp(-i / 12.0) + 0.1 * sin(i),
                       21000 + 300 * (i % 4), row);
    if (i % 10 == 0)
      spn_history_add_valid(s->history, i * 10, 1.9 + 3.0 * exp(-i / 12.0));
  }
  s->text = g_strdup(text);
  s->probe = make_probe(text, spans);
  return s;
}

/* ---- helpers ---- */

static GtkWidget *
show(GtkWidget *child, int width, int height)
{
  GtkWidget *win = gtk_window_new();
  gtk_window_set_default_size(GTK_WINDOW(win), width, height);
  gtk_window_set_child(GTK_WINDOW(win), child);
  gtk_window_present(GTK_WINDOW(win));
  gtk_test_widget_wait_for_draw(win);
  return win;
}

/* Figures are drawn in render threads: runs the main loop until the view shows an image of its
 * current snapshot, options and size. */
static void
wait_rendered(SpnFigureView *v)
{
  gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
  while (!spn_figure_view_is_current(v)) {
    g_assert_cmpint(g_get_monotonic_time(), <, deadline);
    if (!g_main_context_iteration(NULL, FALSE))
      g_usleep(1000);
  }
}

static void
wait_rendered_all(GtkWidget *w)
{
  if (SPN_IS_FIGURE_VIEW(w))
    wait_rendered(SPN_FIGURE_VIEW(w));
  for (GtkWidget *c = gtk_widget_get_first_child(w); c; c = gtk_widget_get_next_sibling(c))
    wait_rendered_all(c);
}

/* Lets idle work finish (the inspector retints in slices of main-loop time). */
static void
settle(void)
{
  for (int i = 0; i < 10000 && g_main_context_iteration(NULL, FALSE); i++)
    ;
}

static GtkEventController *
find_controller(GtkWidget *w, GType type)
{
  GListModel *list = gtk_widget_observe_controllers(w);
  GtkEventController *found = NULL;
  for (guint i = 0; i < g_list_model_get_n_items(list) && !found; i++) {
    GObject *item = g_list_model_get_item(list, i);
    if (G_TYPE_CHECK_INSTANCE_TYPE(item, type))
      found = GTK_EVENT_CONTROLLER(item);
    g_object_unref(item);  /* the widget keeps it */
  }
  g_object_unref(list);
  g_assert_nonnull(found);
  return found;
}

/* A point on a heatmap cell, scanning from the middle of the widget. */
static void
find_cell(SpnFigureView *v, double *x, double *y, int *q, int *k)
{
  GtkWidget *w = GTK_WIDGET(v);
  int width = gtk_widget_get_width(w), height = gtk_widget_get_height(w);
  for (int dy = 0; dy < height / 2; dy += 3)
    for (int dx = 0; dx < width / 2; dx += 3)
      if (spn_figure_attention_cell(width, height, spn_figure_view_get_snapshot(v),
                                    spn_figure_view_get_options(v), width / 2.0 - dx,
                                    height / 2.0 + dy, q, k)) {
        *x = width / 2.0 - dx;
        *y = height / 2.0 + dy;
        return;
      }
  g_assert_not_reached();
}

static void
record_int(GObject *o, int value, int *out)
{
  (void)o;
  *out = value;
}

static void
count(GObject *o, int *counter)
{
  (void)o;
  (*counter)++;
}

static void
record_text(GObject *o, const char *text, char **out)
{
  (void)o;
  g_free(*out);
  *out = g_strdup(text);
}

static GtkWidget *
find_descendant(GtkWidget *w, GType type)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE(w, type))
    return w;
  for (GtkWidget *c = gtk_widget_get_first_child(w); c; c = gtk_widget_get_next_sibling(c)) {
    GtkWidget *found = find_descendant(c, type);
    if (found)
      return found;
  }
  return NULL;
}

static GtkWidget *
find_toggle(GtkWidget *w, const char *label)
{
  if (GTK_IS_TOGGLE_BUTTON(w) && g_strcmp0(gtk_button_get_label(GTK_BUTTON(w)), label) == 0)
    return w;
  for (GtkWidget *c = gtk_widget_get_first_child(w); c; c = gtk_widget_get_next_sibling(c)) {
    GtkWidget *found = find_toggle(c, label);
    if (found)
      return found;
  }
  return NULL;
}

/* Every control the user can operate has a tooltip (its inner parts are the control's). */
static int
check_tooltips(GtkWidget *w)
{
  if (GTK_IS_MENU_BUTTON(w) || GTK_IS_DROP_DOWN(w) || GTK_IS_SCALE(w) || GTK_IS_BUTTON(w)) {
    if (gtk_widget_get_tooltip_text(w) == NULL)
      g_error("a %s without tooltip", G_OBJECT_TYPE_NAME(w));
    return 1;
  }
  int n = 0;
  for (GtkWidget *c = gtk_widget_get_first_child(w); c; c = gtk_widget_get_next_sibling(c))
    n += check_tooltips(c);
  return n;
}

/* The tag that shows on a character: the one of highest priority. */
static GtkTextTag *
top_tag_at(GtkTextBuffer *buffer, int offset)
{
  GtkTextIter it;
  gtk_text_buffer_get_iter_at_offset(buffer, &it, offset);
  GSList *tags = gtk_text_iter_get_tags(&it);  /* ascending priority */
  GSList *last = g_slist_last(tags);
  GtkTextTag *tag = last ? last->data : NULL;
  g_slist_free(tags);
  return tag;
}

static double
tag_alpha(GtkTextTag *tag)
{
  GdkRGBA *c = NULL;
  gboolean set = FALSE;
  g_object_get(tag, "background-rgba", &c, "background-set", &set, NULL);
  double a = set && c ? c->alpha : 0;
  gdk_rgba_free(c);
  return a;
}

static GdkTexture *
render(GtkWidget *widget)
{
  int w = gtk_widget_get_width(widget), h = gtk_widget_get_height(widget);
  GdkPaintable *paintable = gtk_widget_paintable_new(widget);
  GtkSnapshot *snap = gtk_snapshot_new();
  gdk_paintable_snapshot(paintable, snap, w, h);
  GskRenderNode *node = gtk_snapshot_free_to_node(snap);
  g_assert_nonnull(node);
  GskRenderer *renderer = gtk_native_get_renderer(gtk_widget_get_native(widget));
  GdkTexture *texture =
      gsk_renderer_render_texture(renderer, node, &GRAPHENE_RECT_INIT(0, 0, w, h));
  gsk_render_node_unref(node);
  g_object_unref(paintable);
  return texture;
}

/* ---- figure view ---- */

static GtkWidget *
attention_view(SpnSnapshot *s, int head)
{
  GtkWidget *view = spn_figure_view_new(SPN_FIGURE_ATTENTION);
  SpnFigureOptions o = *spn_figure_view_get_options(SPN_FIGURE_VIEW(view));
  o.layer = 0;
  o.head = head;
  spn_figure_view_set_options(SPN_FIGURE_VIEW(view), &o);
  spn_figure_view_set_snapshot(SPN_FIGURE_VIEW(view), s);
  return view;
}

static void
test_view_click(void)
{
  SpnSnapshot *s = make_snapshot(TEXT);
  GtkWidget *view = attention_view(s, 1);
  GtkWidget *win = show(view, 640, 480);
  SpnFigureView *v = SPN_FIGURE_VIEW(view);
  double x, y;
  int q, k, got = -2;
  find_cell(v, &x, &y, &q, &k);
  g_signal_connect(view, "query-selected", G_CALLBACK(record_int), &got);
  g_signal_emit_by_name(find_controller(view, GTK_TYPE_GESTURE_CLICK), "released", 1, x, y);
  g_assert_cmpint(got, ==, q);
  g_assert_cmpint(spn_figure_view_get_options(v)->query, ==, q);

  /* a double-click (press, release, press) resets the view and keeps the query it had */
  GtkEventController *click = find_controller(view, GTK_TYPE_GESTURE_CLICK);
  double x2 = x, y2 = y;
  int q2 = q, k2;
  for (int dy = 1; q2 == q && dy < 100; dy++)   /* a cell of another query */
    if (spn_figure_attention_cell(gtk_widget_get_width(view), gtk_widget_get_height(view), s,
                                  spn_figure_view_get_options(v), x, y + dy, &q2, &k2))
      y2 = y + dy;
  g_assert_cmpint(q2, !=, q);
  g_signal_emit_by_name(click, "pressed", 1, x2, y2);
  g_signal_emit_by_name(click, "released", 1, x2, y2);
  g_assert_cmpint(got, ==, q2);
  g_signal_emit_by_name(click, "pressed", 2, x2, y2);
  g_assert_cmpint(got, ==, q);
  g_assert_cmpint(spn_figure_view_get_options(v)->query, ==, q);

  /* what the tooltip says about that cell: the query's weight on that key */
  char *tip = spn_figure_describe(SPN_FIGURE_ATTENTION, gtk_widget_get_width(view),
                                  gtk_widget_get_height(view), s, spn_figure_view_get_options(v),
                                  x, y);
  g_assert_nonnull(tip);
  char *expect = g_strdup_printf("#%d", q);
  g_assert_nonnull(strstr(tip, expect));
  g_free(expect);
  g_free(tip);
  gtk_window_destroy(GTK_WINDOW(win));
  spn_snapshot_unref(s);
}

static void
key(GtkWidget *view, guint keyval)
{
  gboolean handled = FALSE;
  g_signal_emit_by_name(find_controller(view, GTK_TYPE_EVENT_CONTROLLER_KEY), "key-pressed",
                        keyval, 0u, (GdkModifierType)0, &handled);
  g_assert_true(handled);
}

/* Zoom in, then drag: the cell under the pointer must follow the pointer. */
static void
test_view_zoom_drag(void)
{
  SpnSnapshot *s = make_snapshot(TEXT);
  GtkWidget *view = attention_view(s, 2);
  GtkWidget *win = show(view, 640, 480);
  SpnFigureView *v = SPN_FIGURE_VIEW(view);
  int n = s->probe->n, changed = 0;
  g_signal_connect(view, "options-changed", G_CALLBACK(count), &changed);
  for (int i = 0; i < 4; i++)
    key(view, GDK_KEY_plus);
  const SpnFigureOptions *o = spn_figure_view_get_options(v);
  g_assert_cmpfloat(o->q1, >, o->q0);
  g_assert_cmpfloat_with_epsilon(o->q1 - o->q0, n / pow(1.25, 4), 1e-6);
  g_assert_cmpfloat_with_epsilon((o->q0 + o->q1) / 2, n / 2.0, 1e-6);  /* about the centre */
  g_assert_cmpint(changed, ==, 4);
  wait_rendered(v);  /* the drag measures the cells of the image shown */

  double x, y;
  int q, k, q2, k2;
  find_cell(v, &x, &y, &q, &k);
  GtkEventController *drag = find_controller(view, GTK_TYPE_GESTURE_DRAG);
  g_signal_emit_by_name(drag, "drag-begin", x, y);
  g_signal_emit_by_name(drag, "drag-update", 40.0, 25.0);
  g_signal_emit_by_name(drag, "drag-end", 40.0, 25.0);
  g_assert_true(spn_figure_attention_cell(gtk_widget_get_width(view), gtk_widget_get_height(view),
                                          s, o, x + 40, y + 25, &q2, &k2));
  g_assert_cmpint(ABS(q2 - q), <=, 1);
  g_assert_cmpint(ABS(k2 - k), <=, 1);

  key(view, GDK_KEY_Home);
  g_assert_cmpfloat(o->q1, <=, o->q0);  /* everything visible again, stored as "all" */
  gtk_window_destroy(GTK_WINDOW(win));
  spn_snapshot_unref(s);
}

/* The distance heatmap zooms its queries like the heatmap, and a click on a cell selects that
 * query. */
static void
test_distance_view(void)
{
  SpnSnapshot *s = make_snapshot(TEXT);
  GtkWidget *view = spn_figure_view_new(SPN_FIGURE_DISTANCE);
  SpnFigureView *v = SPN_FIGURE_VIEW(view);
  SpnFigureOptions o = *spn_figure_view_get_options(v);
  o.layer = 0;
  o.head = 1;
  spn_figure_view_set_options(v, &o);
  spn_figure_view_set_snapshot(v, s);
  GtkWidget *win = show(view, 640, 480);
  int n = s->probe->n, got = -2;
  g_signal_connect(view, "query-selected", G_CALLBACK(record_int), &got);
  for (int i = 0; i < 2; i++)
    key(view, GDK_KEY_plus);
  const SpnFigureOptions *z = spn_figure_view_get_options(v);
  g_assert_cmpfloat_with_epsilon(z->q1 - z->q0, n / pow(1.25, 2), 1e-6);
  wait_rendered(v);
  int width = gtk_widget_get_width(view), height = gtk_widget_get_height(view), h, q = -1, d;
  double x = width / 2.0, y = height / 2.0;
  for (; x > 0 && !spn_figure_distance_cell(width, height, s, z, x, y, &h, &q, &d); x -= 3)
    ;
  g_assert_cmpint(q, >=, (int)floor(z->q0));
  g_assert_cmpint(q, <, (int)ceil(z->q1));
  GtkEventController *click = find_controller(view, GTK_TYPE_GESTURE_CLICK);
  g_signal_emit_by_name(click, "released", 1, x, y);
  g_assert_cmpint(got, ==, q);
  g_assert_cmpint(spn_figure_view_get_options(v)->query, ==, q);
  gtk_window_destroy(GTK_WINDOW(win));
  spn_snapshot_unref(s);
}

/* Drawing is asynchronous: the image shown lags the options until its render comes, clicks
 * hit what is shown meanwhile, and changes made while nothing was drawn cost one render. */
static void
test_view_async(void)
{
  SpnSnapshot *s = make_snapshot(TEXT);
  GtkWidget *view = attention_view(s, 1);
  GtkWidget *win = show(view, 640, 480);
  SpnFigureView *v = SPN_FIGURE_VIEW(view);
  int rendered = 0, got = -2;
  g_signal_connect(view, "rendered", G_CALLBACK(count), &rendered);
  g_signal_connect(view, "query-selected", G_CALLBACK(record_int), &got);
  for (int i = 0; i < 3; i++)
    key(view, GDK_KEY_plus);
  wait_rendered(v);
  double x, y;
  int q, k;
  find_cell(v, &x, &y, &q, &k);

  key(view, GDK_KEY_Down);  /* the rows move up by a tenth of the visible range */
  g_assert_false(spn_figure_view_is_current(v));
  GtkEventController *click = find_controller(view, GTK_TYPE_GESTURE_CLICK);
  g_signal_emit_by_name(click, "released", 1, x, y);
  g_assert_cmpint(got, ==, q);  /* the row of the image on screen, not of the panned view */

  rendered = 0;
  wait_rendered(v);
  g_assert_cmpint(rendered, >=, 1);
  g_assert_cmpint(rendered, <=, 2);  /* one render in flight, then the newest state */
  int q2, k2;
  g_assert_true(spn_figure_attention_cell(gtk_widget_get_width(view), gtk_widget_get_height(view),
                                          s, spn_figure_view_get_options(v), x, y, &q2, &k2));
  g_assert_cmpint(q2, >, q);
  g_signal_emit_by_name(click, "released", 1, x, y);
  g_assert_cmpint(got, ==, q2);
  gtk_window_destroy(GTK_WINDOW(win));
  spn_snapshot_unref(s);
}

/* ---- panel ---- */

static void
test_panel(void)
{
  SpnSnapshot *s = make_snapshot(TEXT);
  GtkWidget *panel = spn_panel_new(SPN_FIGURE_ATTENTION);
  SpnFigureView *v = spn_panel_get_view(SPN_PANEL(panel));
  spn_figure_view_set_snapshot(v, s);
  GtkWidget *win = show(panel, 560, 380);
  g_assert_cmpint(check_tooltips(panel), >=, 5);

  int exported = 0, toggled = 0;
  g_signal_connect(panel, "export-requested", G_CALLBACK(count), &exported);
  g_signal_connect(panel, "maximize-toggled", G_CALLBACK(count), &toggled);
  g_assert_true(gtk_widget_activate_action(panel, "panel.export", NULL));
  g_assert_cmpint(exported, ==, 1);
  g_assert_true(gtk_widget_activate_action(panel, "panel.maximize", NULL));
  g_assert_cmpint(toggled, ==, 1);
  g_assert_true(spn_panel_get_maximized(SPN_PANEL(panel)));
  spn_panel_set_maximized(SPN_PANEL(panel), FALSE);
  g_assert_cmpint(toggled, ==, 1);

  /* "All heads" is the options' head −1: one state, whoever sets it */
  GtkWidget *all = find_toggle(panel, "All heads");
  g_assert_nonnull(all);
  g_assert_cmpint(spn_figure_view_get_options(v)->head, ==, -1);
  g_assert_true(gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(all)));
  SpnFigureOptions o = *spn_figure_view_get_options(v);
  o.head = 1;
  spn_figure_view_set_options(v, &o);
  g_assert_false(gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(all)));
  gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(all), TRUE);
  g_assert_cmpint(spn_figure_view_get_options(v)->head, ==, -1);
  o = *spn_figure_view_get_options(v);
  o.head = 2;
  spn_figure_view_set_options(v, &o);
  g_assert_false(gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(all)));
  gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(all), TRUE);
  gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(all), FALSE);   /* back to the head it had */
  g_assert_cmpint(spn_figure_view_get_options(v)->head, ==, 2);

  /* controls write the options, and follow options set from outside */
  GtkWidget *log = find_toggle(panel, "log");
  gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(log), TRUE);
  g_assert_true(spn_figure_view_get_options(v)->log_color);
  o = *spn_figure_view_get_options(v);
  o.log_color = FALSE;
  spn_figure_view_set_options(v, &o);
  g_assert_false(gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(log)));
  gtk_window_destroy(GTK_WINDOW(win));

  GtkWidget *curves = spn_panel_new(SPN_FIGURE_CURVES);
  win = show(curves, 560, 300);
  g_assert_cmpint(check_tooltips(curves), >=, 4);
  GtkWidget *scale = find_descendant(curves, GTK_TYPE_SCALE);
  gtk_range_set_value(GTK_RANGE(scale), 0.5);
  g_assert_cmpfloat(spn_figure_view_get_options(spn_panel_get_view(SPN_PANEL(curves)))->smoothing,
                    ==, 0.5);
  gtk_window_destroy(GTK_WINDOW(win));
  spn_snapshot_unref(s);
}

/* ---- inspector ---- */

static void
test_inspector(void)
{
  GtkWidget *insp = spn_inspector_new();
  GtkWidget *win = show(insp, 500, 400);
  GtkTextView *tv = GTK_TEXT_VIEW(find_descendant(insp, GTK_TYPE_TEXT_VIEW));
  GtkTextBuffer *buffer = gtk_text_view_get_buffer(tv);
  char *changed = NULL;
  int selected = -2, hot = hot_index(TEXT);
  g_signal_connect(insp, "text-changed", G_CALLBACK(record_text), &changed);
  g_signal_connect(insp, "query-selected", G_CALLBACK(record_int), &selected);

  spn_inspector_set_text(SPN_INSPECTOR(insp), TEXT);
  g_assert_cmpstr(changed, ==, TEXT);
  SpnSnapshot *s = make_snapshot(TEXT);
  spn_inspector_set_head(SPN_INSPECTOR(insp), 0, 1);
  spn_inspector_set_snapshot(SPN_INSPECTOR(insp), s);
  settle();
  GtkTextTag *tag = top_tag_at(buffer, hot);
  g_assert_nonnull(tag);
  g_assert_cmpfloat(tag_alpha(tag), >, 0.6);  /* 7.8 bits: nearly the strongest tint */
  g_assert_cmpfloat(tag_alpha(top_tag_at(buffer, 1)), <, 0.2);
  int ntags = gtk_text_tag_table_get_size(gtk_text_buffer_get_tag_table(buffer));
  g_assert_cmpint(ntags, <=, 40);  /* a bounded set, not one per character */

  /* typing ahead of the reading: the tint stays until a reading of the new text comes */
  GtkTextIter end;
  gtk_text_buffer_get_end_iter(buffer, &end);
  gtk_text_buffer_insert(buffer, &end, " Amen", -1);
  char *typed = g_strconcat(TEXT, " Amen", NULL);
  g_assert_cmpstr(changed, ==, typed);
  g_assert_true(top_tag_at(buffer, hot) == tag);
  SpnSnapshot *s2 = make_snapshot(typed);
  spn_inspector_set_snapshot(SPN_INSPECTOR(insp), s2);
  settle();
  g_assert_true(top_tag_at(buffer, hot) == tag);
  g_assert_nonnull(top_tag_at(buffer, (int)strlen(typed) - 1));
  g_assert_cmpint(gtk_text_tag_table_get_size(gtk_text_buffer_get_tag_table(buffer)), ==, ntags);

  /* the query: head 1 looks at distance 4 most, which gets the strongest, opaque highlight */
  spn_inspector_select_query(SPN_INSPECTOR(insp), hot);
  settle();
  GtkTextTag *strongest = top_tag_at(buffer, hot - 4);
  g_assert_nonnull(strongest);
  g_assert_cmpfloat(tag_alpha(strongest), ==, 1.0);
  gboolean ink = FALSE;
  g_object_get(strongest, "foreground-set", &ink, NULL);
  g_assert_true(ink);
  g_assert_cmpfloat(tag_alpha(top_tag_at(buffer, hot + 5)), ==, 0.0);  /* surprisal hidden */
  GtkWidget *status = gtk_widget_get_last_child(gtk_widget_get_first_child(insp));
  const char *line = gtk_inscription_get_text(GTK_INSCRIPTION(status));
  g_assert_nonnull(strstr(line, "query 'Z' #"));
  g_assert_nonnull(strstr(line, "layer 0 head 1"));
  g_assert_nonnull(strstr(line, "10 % on persistent memory"));
  /* head 1's span is 20 and the desktop ramp 32: the weight within 20, then on 21..52 */
  const SpnProbeHead *h1 = &s2->probe->heads[1];
  double in_span = 0, on_ramp = 0;
  for (int d = 1; d <= MIN(MIN(52, hot), h1->window); d++)
    *(d <= 20 ? &in_span : &on_ramp) += h1->weights[(gsize)hot * h1->window + d - 1];
  g_autofree char *want_span =
      g_strdup_printf("%.0f %% of the weight within its span (20 characters)", 100 * in_span);
  g_autofree char *want_ramp = g_strdup_printf(", %.0f %% on its ramp to 52", 100 * on_ramp);
  g_assert_nonnull(strstr(line, want_span));
  g_assert_nonnull(strstr(line, want_ramp));
  g_assert_cmpfloat(on_ramp, >, 0.01); /* the test sees a ramp that holds weight */
  g_assert_cmpint(selected, ==, -2);  /* selecting through the API does not echo */

  /* Escape clears the query and says so */
  gboolean handled = FALSE;
  g_signal_emit_by_name(find_controller(GTK_WIDGET(tv), GTK_TYPE_EVENT_CONTROLLER_KEY),
                        "key-pressed", GDK_KEY_Escape, 0u, (GdkModifierType)0, &handled);
  g_assert_true(handled);
  g_assert_cmpint(selected, ==, -1);
  settle();
  g_assert_true(top_tag_at(buffer, hot - 4) != strongest);  /* the highlight is gone */
  g_assert_cmpfloat(tag_alpha(top_tag_at(buffer, hot)), >, 0.6);  /* surprisal back */

  /* the footer says what Escape does; an edit or a new text forgets the query */
  spn_inspector_select_query(SPN_INSPECTOR(insp), hot);
  g_assert_nonnull(strstr(gtk_inscription_get_text(GTK_INSCRIPTION(status)), "Escape"));
  gtk_text_buffer_get_start_iter(buffer, &end);
  gtk_text_buffer_insert(buffer, &end, "> ", -1);
  g_assert_cmpint(selected, ==, -1);
  g_assert_null(strstr(gtk_inscription_get_text(GTK_INSCRIPTION(status)), "query"));
  spn_inspector_select_query(SPN_INSPECTOR(insp), hot);
  selected = -2;
  spn_inspector_set_text(SPN_INSPECTOR(insp), TEXT);
  g_assert_cmpint(selected, ==, -1);

  g_free(typed);
  g_free(changed);
  gtk_window_destroy(GTK_WINDOW(win));
  spn_snapshot_unref(s2);
  spn_snapshot_unref(s);
}

static gboolean
has_tag_named(GtkTextBuffer *buffer, int offset, const char *name)
{
  GtkTextIter it;
  gtk_text_buffer_get_iter_at_offset(buffer, &it, offset);
  GtkTextTag *tag = gtk_text_tag_table_lookup(gtk_text_buffer_get_tag_table(buffer), name);
  return tag && gtk_text_iter_has_tag(&it, tag);
}

/* A character the vocabulary lacks (token 0, <unk>) is marked, left untinted and out of the
 * average however many bits the model gave <unk> there. */
static void
test_inspector_unknown(void)
{
  GtkWidget *insp = spn_inspector_new();
  GtkWidget *win = show(insp, 500, 400);
  GtkTextBuffer *buffer =
      gtk_text_view_get_buffer(GTK_TEXT_VIEW(find_descendant(insp, GTK_TYPE_TEXT_VIEW)));
  spn_inspector_set_text(SPN_INSPECTOR(insp), TEXT);
  SpnSnapshot *s = make_snapshot(TEXT);
  int k = (int)(strchr(TEXT, ';') - TEXT);
  s->probe->tokens[k] = 0;
  s->probe->surprisal[k] = 11.66f;
  double sum = 0;
  int n = 0;
  for (int i = 1; i < s->probe->n; i++)
    if (i != k)
      sum += s->probe->surprisal[i], n++;
  spn_inspector_set_snapshot(SPN_INSPECTOR(insp), s);
  settle();
  g_assert_true(has_tag_named(buffer, k, "spn-unknown"));
  g_assert_false(has_tag_named(buffer, k + 1, "spn-unknown"));
  g_assert_cmpfloat(tag_alpha(top_tag_at(buffer, k)), ==, 0.0);   /* no surprisal tint */
  GtkWidget *status = gtk_widget_get_last_child(gtk_widget_get_first_child(insp));
  g_autofree char *average = g_strdup_printf("%.2f bits each", sum / n);
  const char *line = gtk_inscription_get_text(GTK_INSCRIPTION(status));
  g_assert_nonnull(strstr(line, average));
  g_assert_nonnull(strstr(line, "1 not in the model's vocabulary"));
  /* in byte mode every byte is a token of its own: nothing is unknown */
  SpnSnapshot *bytes = make_snapshot(TEXT);
  bytes->vocab = SPN_VOCAB_BYTES;
  bytes->probe->tokens[k] = 0;
  spn_inspector_set_snapshot(SPN_INSPECTOR(insp), bytes);
  while (!spn_inspector_is_current(SPN_INSPECTOR(insp)))  /* a newer reading of the same text */
    g_main_context_iteration(NULL, TRUE);
  settle();
  g_assert_false(has_tag_named(buffer, k, "spn-unknown"));
  gtk_window_destroy(GTK_WINDOW(win));
  spn_snapshot_unref(s);
  spn_snapshot_unref(bytes);
}

/* ---- everything together, rendered ---- */

static GtkWidget *
panel_for(SpnFigureKind kind, SpnSnapshot *s)
{
  GtkWidget *panel = spn_panel_new(kind);
  SpnFigureView *v = spn_panel_get_view(SPN_PANEL(panel));
  SpnFigureOptions o = *spn_figure_view_get_options(v);
  o.layer = 0;
  o.head = 1;
  o.query = hot_index(TEXT);
  spn_figure_view_set_options(v, &o);
  spn_figure_view_set_snapshot(v, s);
  return panel;
}

static void
test_render(void)
{
  SpnSnapshot *s = make_snapshot(TEXT);
  GtkWidget *grid = gtk_grid_new();
  gtk_grid_set_row_spacing(GTK_GRID(grid), 6);
  gtk_grid_set_column_spacing(GTK_GRID(grid), 6);
  gtk_grid_set_row_homogeneous(GTK_GRID(grid), TRUE);
  gtk_grid_set_column_homogeneous(GTK_GRID(grid), TRUE);
  gtk_widget_set_margin_start(grid, 6);
  gtk_widget_set_margin_end(grid, 6);
  gtk_widget_set_margin_top(grid, 6);
  gtk_widget_set_margin_bottom(grid, 6);
  GtkWidget *attention = panel_for(SPN_FIGURE_ATTENTION, s);
  gtk_grid_attach(GTK_GRID(grid), panel_for(SPN_FIGURE_SPANS, s), 0, 0, 1, 1);
  gtk_grid_attach(GTK_GRID(grid), panel_for(SPN_FIGURE_MASKS, s), 1, 0, 1, 1);
  gtk_grid_attach(GTK_GRID(grid), attention, 0, 1, 1, 1);
  gtk_grid_attach(GTK_GRID(grid), panel_for(SPN_FIGURE_CURVES, s), 1, 1, 1, 1);
  GtkWidget *insp = spn_inspector_new();
  spn_inspector_set_text(SPN_INSPECTOR(insp), TEXT);
  spn_inspector_set_head(SPN_INSPECTOR(insp), 0, 1);
  spn_inspector_set_snapshot(SPN_INSPECTOR(insp), s);
  spn_inspector_select_query(SPN_INSPECTOR(insp), hot_index(TEXT));
  gtk_grid_attach(GTK_GRID(grid), insp, 2, 0, 1, 2);
  GtkWidget *win = show(grid, 1366, 768);
  wait_rendered_all(grid);
  gtk_test_widget_wait_for_draw(grid);

  GdkTexture *texture = render(grid);
  int w = gdk_texture_get_width(texture), h = gdk_texture_get_height(texture);
  guint32 *px = g_new(guint32, (gsize)w * h);
  gdk_texture_download(texture, (guchar *)px, (gsize)w * 4);
  /* the heatmap shows its strongest cells: bright viridis yellow inside the attention panel */
  graphene_rect_t b;
  g_assert_true(gtk_widget_compute_bounds(attention, grid, &b));
  int yellow = 0;
  for (int y = (int)b.origin.y; y < (int)(b.origin.y + b.size.height); y++)
    for (int x = (int)b.origin.x; x < (int)(b.origin.x + b.size.width); x++) {
      guint32 p = px[(gsize)y * w + x];
      int r = (p >> 16) & 0xff, g = (p >> 8) & 0xff, bl = p & 0xff;
      yellow += r > 200 && g > 200 && bl < 90;
    }
  g_assert_cmpint(yellow, >, 20);
  const char *path = g_getenv("SPN_WIDGETS_PNG");
  if (path)
    g_assert_true(gdk_texture_save_to_png(texture, path));
  g_free(px);
  g_object_unref(texture);
  gtk_window_destroy(GTK_WINDOW(win));
  spn_snapshot_unref(s);
}

int
main(int argc, char **argv)
{
  /* Without a session bus (plain Xvfb) the accessibility bridge warns, and warnings are fatal
   * in tests; the accessible properties are set all the same. */
  g_setenv("GTK_A11Y", "none", FALSE);
  gtk_test_init(&argc, &argv, NULL);
  g_test_add_func("/widgets/figure-view/click", test_view_click);
  g_test_add_func("/widgets/figure-view/zoom-drag", test_view_zoom_drag);
  g_test_add_func("/widgets/figure-view/distance", test_distance_view);
  g_test_add_func("/widgets/figure-view/async", test_view_async);
  g_test_add_func("/widgets/panel", test_panel);
  g_test_add_func("/widgets/inspector", test_inspector);
  g_test_add_func("/widgets/inspector-unknown", test_inspector_unknown);
  g_test_add_func("/widgets/render", test_render);
  return g_test_run();
}
