/* window-layout.c — the window's panes: spans, their history and the training curves above; the
 * heatmap, the masks and the text below; and one panel at a time maximized. */
#include "inspector.h"
#include "panel.h"
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
  GtkWidget *top = paned(GTK_ORIENTATION_HORIZONTAL, 33, make_panel(win, SPN_FIGURE_SPANS),
                         paned(GTK_ORIENTATION_HORIZONTAL, 50, make_panel(win, SPN_FIGURE_HISTORY),
                               make_panel(win, SPN_FIGURE_CURVES)));
  win->inspector = spn_inspector_new();
  GtkWidget *bottom = paned(GTK_ORIENTATION_HORIZONTAL, 42, make_panel(win, SPN_FIGURE_ATTENTION),
                            paned(GTK_ORIENTATION_HORIZONTAL, 42, make_panel(win, SPN_FIGURE_MASKS),
                                  win->inspector));
  win->layout = paned(GTK_ORIENTATION_VERTICAL, 48, top, bottom);
  gtk_widget_set_vexpand(win->layout, TRUE);
  gtk_widget_add_tick_callback(win->layout, initial_split, NULL, NULL);
  win->maximized = -1;
  return win->layout;
}

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

void
spn_window_set_maximized(SpnWindow *win, int kind)
{
  win->maximized = kind;
  for (int k = 0; k < SPN_FIGURE_COUNT; k++)
    spn_panel_set_maximized(SPN_PANEL(win->panels[k]), k == kind);
  show_only(win->layout, kind >= 0 ? win->panels[kind] : NULL);
}
