/* window-layout.c — the window's panes: spans (or their summary), their history and the training
 * curves above; the heatmap (by position, by distance, or every head at once), the masks (or
 * persistent memory) and the text below; and one panel at a time maximized. */
#include <math.h>

#include "inspector.h"
#include "panel.h"
#include "viewstate.h"
#include "window-private.h"

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

static void
on_panel_maximize_toggled(SpnPanel *panel, SpnWindow *win)
{
  SpnFigureKind kind = spn_figure_view_get_kind(spn_panel_get_view(panel));
  spn_window_set_maximized(win, spn_panel_get_maximized(panel) ? (int)kind : -1);
}

static void
on_panel_export_requested(SpnPanel *panel, SpnWindow *win)
{
  gboolean selected[SPN_FIGURE_COUNT] = {FALSE};
  selected[spn_figure_view_get_kind(spn_panel_get_view(panel))] = TRUE;
  spn_window_show_export_dialog(win, selected);
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

/* Figures that share a place, one shown at a time, as tabs named short (the panel carries the
 * title): a scrollable notebook is as narrow as its widest tab, so the window is no wider. */
typedef struct {
  SpnFigureKind kind;
  const char *tab;
} Tab;

static GtkWidget *
tabs(SpnWindow *win, const Tab *t, int n)
{
  GtkWidget *book = gtk_notebook_new();
  gtk_notebook_set_show_border(GTK_NOTEBOOK(book), FALSE);
  gtk_notebook_set_scrollable(GTK_NOTEBOOK(book), TRUE);
  for (int i = 0; i < n; i++) {
    GtkWidget *label = gtk_label_new(t[i].tab);
    gtk_widget_set_tooltip_text(label, spn_figure_title(t[i].kind));
    gtk_notebook_append_page(GTK_NOTEBOOK(book), make_panel(win, t[i].kind), label);
  }
  return book;
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

/* Everything at once on a 1366×768 screen, the heatmap and the text side by side. */
GtkWidget *
spn_window_build_layout(SpnWindow *win)
{
  static const Tab spans[] = {{SPN_FIGURE_SPANS, "Spans"}, {SPN_FIGURE_SUMMARY, "Summary"}};
  static const Tab heatmaps[] = {{SPN_FIGURE_ATTENTION, "By position"},
                                 {SPN_FIGURE_DISTANCE, "By distance"},
                                 {SPN_FIGURE_HEADS, "Every head"}};
  static const Tab masks[] = {{SPN_FIGURE_MASKS, "Masks"}, {SPN_FIGURE_PERSISTENT, "Persistent"}};
  GtkWidget *top = paned(GTK_ORIENTATION_HORIZONTAL, 33, tabs(win, spans, G_N_ELEMENTS(spans)),
                         paned(GTK_ORIENTATION_HORIZONTAL, 50, make_panel(win, SPN_FIGURE_HISTORY),
                               make_panel(win, SPN_FIGURE_CURVES)));
  win->inspector = spn_inspector_new();
  GtkWidget *bottom = paned(GTK_ORIENTATION_HORIZONTAL, 42,
                            tabs(win, heatmaps, G_N_ELEMENTS(heatmaps)),
                            paned(GTK_ORIENTATION_HORIZONTAL, 42,
                                  tabs(win, masks, G_N_ELEMENTS(masks)), win->inspector));
  win->layout = paned(GTK_ORIENTATION_VERTICAL, 48, top, bottom);
  gtk_widget_set_vexpand(win->layout, TRUE);
  gtk_widget_add_tick_callback(win->layout, initial_split, NULL, NULL);
  win->maximized = -1;
  return win->layout;
}

/* Shows `only` (or everything when NULL) and hides every paned left without a visible child,
 * so the visible panel gets the whole space; tabs holding `only` turn to it. */
static gboolean
show_only(GtkWidget *node, GtkWidget *only)
{
  gboolean visible;
  if (GTK_IS_NOTEBOOK(node)) {
    int page = only ? gtk_notebook_page_num(GTK_NOTEBOOK(node), only) : -1;
    if (page >= 0)
      gtk_notebook_set_current_page(GTK_NOTEBOOK(node), page);
    visible = only == NULL || page >= 0;
  } else if (GTK_IS_PANED(node)) {
    gboolean a = show_only(gtk_paned_get_start_child(GTK_PANED(node)), only);
    gboolean b = show_only(gtk_paned_get_end_child(GTK_PANED(node)), only);
    visible = a || b;
  } else
    visible = only == NULL || node == only;
  gtk_widget_set_visible(node, visible);
  return visible;
}

void
spn_window_set_maximized(SpnWindow *win, int kind)
{
  win->maximized = kind;
  if (win->remember_view)
    spn_view_state_set_string("layout", "maximized", kind >= 0 ? spn_figure_name(kind) : "none");
  for (int k = 0; k < SPN_FIGURE_COUNT; k++)
    spn_panel_set_maximized(SPN_PANEL(win->panels[k]), k == kind);
  show_only(win->layout, kind >= 0 ? win->panels[kind] : NULL);
}

void
spn_window_show_figure(SpnWindow *win, SpnFigureKind kind)
{
  GtkWidget *panel = win->panels[kind];
  GtkWidget *book = gtk_widget_get_ancestor(panel, GTK_TYPE_NOTEBOOK);
  if (book)
    gtk_notebook_set_current_page(GTK_NOTEBOOK(book),
                                  gtk_notebook_page_num(GTK_NOTEBOOK(book), panel));
}

/* ---- the view as last chosen ---- */

static const char *const colormap_names[] = {"viridis", "cividis"};

static void
restore_options(SpnFigureView *view)
{
  const char *group = spn_figure_name(spn_figure_view_get_kind(view));
  SpnFigureOptions o = *spn_figure_view_get_options(view);
  o.log_axis = spn_view_state_get_boolean(group, "log-axis", o.log_axis);
  o.log_color = spn_view_state_get_boolean(group, "log-colour", o.log_color);
  o.colormap = spn_view_state_get_choice(group, "colormap", colormap_names,
                                         G_N_ELEMENTS(colormap_names), o.colormap);
  o.smoothing = spn_view_state_get_double(group, "smoothing", o.smoothing, 0.0, 0.99);
  spn_figure_view_set_options(view, &o);
}

/* Whoever changed them (the panel's controls, mostly), the options worth keeping are kept. */
static void
keep_options(SpnFigureView *view)
{
  const char *group = spn_figure_name(spn_figure_view_get_kind(view));
  const SpnFigureOptions *o = spn_figure_view_get_options(view);
  spn_view_state_set_boolean(group, "log-axis", o->log_axis);
  spn_view_state_set_boolean(group, "log-colour", o->log_color);
  spn_view_state_set_string(group, "colormap", colormap_names[CLAMP((int)o->colormap, 0, 1)]);
  spn_view_state_set_double(group, "smoothing", o->smoothing);
}

static void
keep_split(GtkPaned *paned, GParamSpec *pspec, gpointer key)
{
  (void)pspec;
  gboolean across = gtk_orientable_get_orientation(GTK_ORIENTABLE(paned)) ==
                    GTK_ORIENTATION_HORIZONTAL;
  int size = across ? gtk_widget_get_width(GTK_WIDGET(paned))
                    : gtk_widget_get_height(GTK_WIDGET(paned));
  if (size > 0 && gtk_widget_get_visible(GTK_WIDGET(paned)))
    spn_view_state_set_double("layout", key,
                              round(1000.0 * gtk_paned_get_position(paned) / size) / 10.0);
}

/* Each paned, in a fixed order, starts at its remembered share and remembers the user's drags. */
static void
remember_splits(GtkWidget *node, int *index)
{
  if (!GTK_IS_PANED(node))
    return;
  char *key = g_strdup_printf("split-%d", (*index)++);
  int percent = (int)spn_view_state_get_double(
      "layout", key, GPOINTER_TO_INT(g_object_get_data(G_OBJECT(node), SPLIT_KEY)), 5, 95);
  g_object_set_data(G_OBJECT(node), SPLIT_KEY, GINT_TO_POINTER(percent));
  g_signal_connect_data(node, "notify::position", G_CALLBACK(keep_split), key,
                        (GClosureNotify)(void (*)(void))g_free, 0);
  remember_splits(gtk_paned_get_start_child(GTK_PANED(node)), index);
  remember_splits(gtk_paned_get_end_child(GTK_PANED(node)), index);
}

void
spn_window_remember_view(SpnWindow *win)
{
  for (int k = 0; k < SPN_FIGURE_COUNT; k++) {
    SpnFigureView *view = spn_window_view(win, k);
    restore_options(view);
    g_signal_connect(view, "options-changed", G_CALLBACK(keep_options), NULL);
  }
  int index = 0;
  remember_splits(win->layout, &index);
  const char *names[SPN_FIGURE_COUNT];
  for (int k = 0; k < SPN_FIGURE_COUNT; k++)
    names[k] = spn_figure_name(k);
  spn_window_set_maximized(win, spn_view_state_get_choice("layout", "maximized", names,
                                                          SPN_FIGURE_COUNT, -1));
  win->remember_view = TRUE;
}
