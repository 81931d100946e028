/* panel.c — SpnPanel: a frame with a one-row header over a SpnFigureView. The header's controls
 * edit the view's options (get → modify → set) and follow them back through the view's
 * "options-changed", so whoever changes the options, the header shows them. */
#include "panel.h"

#include "accessible.h"

/* Keeps the header one compact row so several panels fit on a 1366×768 screen. Scoped to the
 * panel's own node name, so it changes nothing else; the application's CSS still wins. */
static const char panel_css[] =
    "spnpanel .spn-panel-header { padding: 1px 2px 1px 8px; }\n"
    "spnpanel .spn-panel-header button { min-height: 22px; min-width: 22px;"
    " padding: 0 6px; }\n"
    "spnpanel .spn-panel-header button.image-button { padding: 0 3px; }\n"
    "spnpanel .spn-panel-header scale { padding: 0 6px; }\n";

static const struct {
  SpnColormap map;
  const char *label;
} colormaps[] = {
    {SPN_COLORMAP_VIRIDIS, "Viridis"},
    {SPN_COLORMAP_CIVIDIS, "Cividis"},
};

struct _SpnPanel {
  GtkWidget parent_instance;
  SpnFigureView *view;
  /* The figure's own controls; NULL when the figure has no such option. */
  GtkWidget *log_axis, *colormap, *log_color, *all_heads, *smoothing;
  GtkWidget *maximize;
  GMenu *menu;
  gboolean maximized;
  int single_head;   /* the head shown again when "All heads" is switched off */
  gboolean syncing;  /* controls being set from the options: their handlers must not write back */
};

enum { SIGNAL_EXPORT_REQUESTED, SIGNAL_MAXIMIZE_TOGGLED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_TYPE(SpnPanel, spn_panel, GTK_TYPE_WIDGET)

static void
install_css(GdkDisplay *display)
{
  if (!display || g_object_get_data(G_OBJECT(display), "spn-panel-css"))
    return;
  GtkCssProvider *provider = gtk_css_provider_new();
  gtk_css_provider_load_from_data(provider, panel_css, -1);
  gtk_style_context_add_provider_for_display(display, GTK_STYLE_PROVIDER(provider),
                                             GTK_STYLE_PROVIDER_PRIORITY_APPLICATION - 100);
  g_object_set_data_full(G_OBJECT(display), "spn-panel-css", provider, g_object_unref);
}

static void
describe(GtkWidget *w, const char *tooltip, const char *label)
{
  gtk_widget_set_tooltip_text(w, tooltip);
  spn_set_accessible_label(w, label);
}

/* ---- controls → options ---- */

static SpnFigureOptions
current_options(SpnPanel *self)
{
  return *spn_figure_view_get_options(self->view);
}

static void
on_log_axis_toggled(GtkToggleButton *b, SpnPanel *self)
{
  if (self->syncing)
    return;
  SpnFigureOptions o = current_options(self);
  o.log_axis = gtk_toggle_button_get_active(b);
  spn_figure_view_set_options(self->view, &o);
}

static void
on_log_color_toggled(GtkToggleButton *b, SpnPanel *self)
{
  if (self->syncing)
    return;
  SpnFigureOptions o = current_options(self);
  o.log_color = gtk_toggle_button_get_active(b);
  spn_figure_view_set_options(self->view, &o);
}

static void
on_all_heads_toggled(GtkToggleButton *b, SpnPanel *self)
{
  if (self->syncing)
    return;
  SpnFigureOptions o = current_options(self);
  if (gtk_toggle_button_get_active(b)) {
    if (o.head >= 0)
      self->single_head = o.head;
    o.head = -1;
  } else {
    o.head = MAX(self->single_head, 0);
  }
  spn_figure_view_set_options(self->view, &o);
}

static void
on_colormap_selected(GtkDropDown *d, GParamSpec *pspec, SpnPanel *self)
{
  (void)pspec;
  guint i = gtk_drop_down_get_selected(d);
  if (self->syncing || i >= G_N_ELEMENTS(colormaps))
    return;
  SpnFigureOptions o = current_options(self);
  o.colormap = colormaps[i].map;
  spn_figure_view_set_options(self->view, &o);
}

static void
set_smoothing_tooltip(GtkWidget *scale, double value)
{
  char *tip = g_strdup_printf("Smoothing of the curves: %.2f (0 draws the raw values, higher "
                              "averages over more steps; the raw curve stays faint behind)",
                              value);
  gtk_widget_set_tooltip_text(scale, tip);
  g_free(tip);
}

static void
on_smoothing_changed(GtkRange *r, SpnPanel *self)
{
  set_smoothing_tooltip(GTK_WIDGET(r), gtk_range_get_value(r));
  if (self->syncing)
    return;
  SpnFigureOptions o = current_options(self);
  o.smoothing = gtk_range_get_value(r);
  spn_figure_view_set_options(self->view, &o);
}

/* ---- options → controls ---- */

static void
set_toggle(GtkWidget *toggle, gboolean active)
{
  if (toggle)
    gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(toggle), active);
}

static void
sync_controls(SpnPanel *self, const SpnFigureOptions *o)
{
  self->syncing = TRUE;
  set_toggle(self->log_axis, o->log_axis);
  set_toggle(self->log_color, o->log_color);
  set_toggle(self->all_heads, o->head < 0);
  if (self->colormap) {
    for (guint i = 0; i < G_N_ELEMENTS(colormaps); i++)
      if (colormaps[i].map == o->colormap)
        gtk_drop_down_set_selected(GTK_DROP_DOWN(self->colormap), i);
  }
  if (self->smoothing)
    gtk_range_set_value(GTK_RANGE(self->smoothing), o->smoothing);
  self->syncing = FALSE;
}

static void
on_options_changed(SpnFigureView *view, SpnPanel *self)
{
  const SpnFigureOptions *o = spn_figure_view_get_options(view);
  /* "All heads" is the options' head −1, whoever set it (the window's head selector too) */
  if (o->head >= 0)
    self->single_head = o->head;
  sync_controls(self, o);
}

/* ---- header ---- */

static GtkWidget *
add_toggle(GtkWidget *header, const char *text, const char *tooltip, const char *label,
           GCallback on_toggled, SpnPanel *self)
{
  GtkWidget *b = gtk_toggle_button_new_with_label(text);
  gtk_widget_add_css_class(b, "flat");
  gtk_widget_set_valign(b, GTK_ALIGN_CENTER);
  describe(b, tooltip, label);
  g_signal_connect(b, "toggled", on_toggled, self);
  gtk_box_append(GTK_BOX(header), b);
  return b;
}

static void
add_colormap(GtkWidget *header, SpnPanel *self)
{
  const char *labels[G_N_ELEMENTS(colormaps) + 1];
  for (guint i = 0; i < G_N_ELEMENTS(colormaps); i++)
    labels[i] = colormaps[i].label;
  labels[G_N_ELEMENTS(colormaps)] = NULL;
  self->colormap = gtk_drop_down_new_from_strings(labels);
  gtk_widget_set_valign(self->colormap, GTK_ALIGN_CENTER);
  describe(self->colormap, "Colour map of the attention weights", "Colour map");
  g_signal_connect(self->colormap, "notify::selected", G_CALLBACK(on_colormap_selected), self);
  gtk_box_append(GTK_BOX(header), self->colormap);
}

static void
add_smoothing(GtkWidget *header, SpnPanel *self)
{
  GtkWidget *label = gtk_label_new("smooth");
  gtk_widget_add_css_class(label, "dim-label");
  gtk_box_append(GTK_BOX(header), label);
  self->smoothing = gtk_scale_new_with_range(GTK_ORIENTATION_HORIZONTAL, 0, 0.99, 0.01);
  gtk_scale_set_draw_value(GTK_SCALE(self->smoothing), FALSE);
  gtk_widget_set_size_request(self->smoothing, 90, -1);
  gtk_widget_set_valign(self->smoothing, GTK_ALIGN_CENTER);
  describe(self->smoothing, NULL, "Smoothing of the curves");
  set_smoothing_tooltip(self->smoothing, 0);
  g_signal_connect(self->smoothing, "value-changed", G_CALLBACK(on_smoothing_changed), self);
  gtk_box_append(GTK_BOX(header), self->smoothing);
}

static void
add_log_axis(GtkWidget *header, SpnPanel *self)
{
  self->log_axis = add_toggle(header, "log", "Logarithmic value axis", "Logarithmic value axis",
                              G_CALLBACK(on_log_axis_toggled), self);
}

/* The figure's own controls, by what its options mean for it (see figures.h). */
static void
add_figure_controls(GtkWidget *header, SpnPanel *self, SpnFigureKind kind)
{
  switch (kind) {
  case SPN_FIGURE_ATTENTION:
  case SPN_FIGURE_DISTANCE:
    add_colormap(header, self);
    self->log_color = add_toggle(
        header, "log", "Logarithmic colour scale: shows the small weights far back as well",
        "Logarithmic colour scale", G_CALLBACK(on_log_color_toggled), self);
    self->all_heads = add_toggle(header, "All heads",
                                 "Show every head of the layer side by side instead of one",
                                 "Show all heads", G_CALLBACK(on_all_heads_toggled), self);
    break;
  case SPN_FIGURE_CURVES:
    add_smoothing(header, self);
    add_log_axis(header, self);
    break;
  case SPN_FIGURE_SPANS:
  case SPN_FIGURE_HISTORY:
  case SPN_FIGURE_SUMMARY:
    add_log_axis(header, self);
    break;
  case SPN_FIGURE_MASKS:
  case SPN_FIGURE_PERSISTENT: /* beside the masks, where a wider header would widen the window */
  case SPN_FIGURE_HEADS:
  case SPN_FIGURE_COUNT:
    break;
  }
}

static void
add_title(GtkWidget *header, SpnFigureKind kind)
{
  GtkWidget *title = gtk_label_new(spn_figure_title(kind));
  PangoAttrList *attrs = pango_attr_list_new();
  pango_attr_list_insert(attrs, pango_attr_weight_new(PANGO_WEIGHT_BOLD));
  gtk_label_set_attributes(GTK_LABEL(title), attrs);
  pango_attr_list_unref(attrs);
  gtk_label_set_xalign(GTK_LABEL(title), 0);
  gtk_label_set_ellipsize(GTK_LABEL(title), PANGO_ELLIPSIZE_END);
  gtk_label_set_width_chars(GTK_LABEL(title), 6);
  gtk_widget_set_hexpand(title, TRUE);
  gtk_box_append(GTK_BOX(header), title);
}

static void
update_maximize(SpnPanel *self)
{
  const char *label = self->maximized ? "Restore" : "Maximize";
  gtk_button_set_icon_name(GTK_BUTTON(self->maximize), self->maximized
                                                           ? "view-restore-symbolic"
                                                           : "view-fullscreen-symbolic");
  describe(self->maximize,
           self->maximized ? "Restore: show all panels again" : "Maximize: show only this figure",
           self->maximized ? "Restore panel" : "Maximize panel");
  g_menu_remove(self->menu, 1);
  g_menu_insert(self->menu, 1, label, "panel.maximize");
}

static void
add_window_controls(GtkWidget *header, SpnPanel *self)
{
  self->maximize = gtk_button_new_from_icon_name("view-fullscreen-symbolic");
  gtk_widget_add_css_class(self->maximize, "flat");
  gtk_widget_set_valign(self->maximize, GTK_ALIGN_CENTER);
  gtk_actionable_set_action_name(GTK_ACTIONABLE(self->maximize), "panel.maximize");
  gtk_box_append(GTK_BOX(header), self->maximize);

  self->menu = g_menu_new();
  g_menu_append(self->menu, "Export figure…", "panel.export");
  g_menu_append(self->menu, "Maximize", "panel.maximize");
  GtkWidget *menu_button = gtk_menu_button_new();
  gtk_menu_button_set_icon_name(GTK_MENU_BUTTON(menu_button), "view-more-symbolic");
  gtk_menu_button_set_menu_model(GTK_MENU_BUTTON(menu_button), G_MENU_MODEL(self->menu));
  gtk_menu_button_set_has_frame(GTK_MENU_BUTTON(menu_button), FALSE);
  gtk_widget_set_valign(menu_button, GTK_ALIGN_CENTER);
  describe(menu_button, "Figure menu: export, maximize", "Figure menu");
  gtk_box_append(GTK_BOX(header), menu_button);
  update_maximize(self);
}

static GtkWidget *
build_header(SpnPanel *self, SpnFigureKind kind)
{
  GtkWidget *header = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 2);
  gtk_widget_add_css_class(header, "spn-panel-header");
  add_title(header, kind);
  add_figure_controls(header, self, kind);
  add_window_controls(header, self);
  return header;
}

/* ---- actions ---- */

static void
on_export_action(GtkWidget *w, const char *name, GVariant *param)
{
  (void)name, (void)param;
  g_signal_emit(w, signals[SIGNAL_EXPORT_REQUESTED], 0);
}

static void
on_maximize_action(GtkWidget *w, const char *name, GVariant *param)
{
  (void)name, (void)param;
  SpnPanel *self = SPN_PANEL(w);
  spn_panel_set_maximized(self, !self->maximized);
  g_signal_emit(self, signals[SIGNAL_MAXIMIZE_TOGGLED], 0);
}

/* ---- object ---- */

static void
spn_panel_dispose(GObject *object)
{
  SpnPanel *self = SPN_PANEL(object);
  GtkWidget *child;
  while ((child = gtk_widget_get_first_child(GTK_WIDGET(self))))
    gtk_widget_unparent(child);
  g_clear_object(&self->menu);
  G_OBJECT_CLASS(spn_panel_parent_class)->dispose(object);
}

static void
spn_panel_class_init(SpnPanelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  object_class->dispose = spn_panel_dispose;
  gtk_widget_class_set_layout_manager_type(widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name(widget_class, "spnpanel");
  gtk_widget_class_set_accessible_role(widget_class, GTK_ACCESSIBLE_ROLE_GROUP);
  gtk_widget_class_install_action(widget_class, "panel.export", NULL, on_export_action);
  gtk_widget_class_install_action(widget_class, "panel.maximize", NULL, on_maximize_action);

  signals[SIGNAL_EXPORT_REQUESTED] =
      g_signal_new("export-requested", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                   NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_MAXIMIZE_TOGGLED] =
      g_signal_new("maximize-toggled", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                   NULL, NULL, G_TYPE_NONE, 0);
}

static void
spn_panel_init(SpnPanel *self)
{
  install_css(gtk_widget_get_display(GTK_WIDGET(self)));
}

GtkWidget *
spn_panel_new(SpnFigureKind kind)
{
  g_return_val_if_fail(kind >= 0 && kind < SPN_FIGURE_COUNT, NULL);
  SpnPanel *self = g_object_new(SPN_TYPE_PANEL, NULL);
  GtkWidget *frame = gtk_frame_new(NULL);
  GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
  self->view = SPN_FIGURE_VIEW(spn_figure_view_new(kind));
  gtk_box_append(GTK_BOX(box), build_header(self, kind));
  gtk_box_append(GTK_BOX(box), GTK_WIDGET(self->view));
  gtk_frame_set_child(GTK_FRAME(frame), box);
  gtk_widget_set_parent(frame, GTK_WIDGET(self));
  gtk_accessible_update_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                 spn_figure_title(kind), -1);

  const SpnFigureOptions *o = spn_figure_view_get_options(self->view);
  self->single_head = MAX(o->head, 0);
  sync_controls(self, o);
  g_signal_connect(self->view, "options-changed", G_CALLBACK(on_options_changed), self);
  return GTK_WIDGET(self);
}

SpnFigureView *
spn_panel_get_view(SpnPanel *p)
{
  g_return_val_if_fail(SPN_IS_PANEL(p), NULL);
  return p->view;
}

void
spn_panel_set_maximized(SpnPanel *p, gboolean maximized)
{
  g_return_if_fail(SPN_IS_PANEL(p));
  if (p->maximized == !!maximized)
    return;
  p->maximized = !!maximized;
  update_maximize(p);
}

gboolean
spn_panel_get_maximized(SpnPanel *p)
{
  g_return_val_if_fail(SPN_IS_PANEL(p), FALSE);
  return p->maximized;
}
