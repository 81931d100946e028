/* export_dialog.c — choosing what to export and where; drawing is the window's job. The frame
 * and the output rows are a template (data/ui/export-dialog.ui); the figure rows, one per
 * figure, are made here. */
#include "export_dialog.h"

#include <math.h>
#include <string.h>

#include "accessible.h"
#include "viewstate.h"

static const char *extensions[SPN_EXPORT_COUNT] = {"png", "svg", "pdf"};

const char *
spn_export_format_extension(SpnExportFormat f)
{
  return extensions[f];
}

gboolean
spn_export_format_from_path(const char *path, SpnExportFormat *f)
{
  const char *dot = path ? strrchr(path, '.') : NULL;
  if (dot == NULL || strchr(dot, G_DIR_SEPARATOR))
    return FALSE;
  for (int i = 0; i < SPN_EXPORT_COUNT; i++)
    if (g_ascii_strcasecmp(dot + 1, extensions[i]) == 0) {
      *f = i;
      return TRUE;
    }
  return FALSE;
}

struct _SpnExportDialog {
  AdwWindow parent;
  GtkWidget *checks[SPN_FIGURE_COUNT];
  /* from the template */
  AdwPreferencesGroup *figures_group;
  AdwComboRow *format_row;
  GtkWidget *width_spin, *height_spin, *scale_spin;
  GtkWidget *scale_row;
  AdwActionRow *summary_row;
  GtkWidget *export_button;
  const char *size_keys;   /* "one" or "several": which remembered size it shows */
};

G_DEFINE_FINAL_TYPE(SpnExportDialog, spn_export_dialog, ADW_TYPE_WINDOW)

enum { SIGNAL_EXPORT, N_SIGNALS };
static guint signals[N_SIGNALS];

static SpnExportFormat
current_format(SpnExportDialog *d)
{
  guint i = adw_combo_row_get_selected(d->format_row);
  return i < SPN_EXPORT_COUNT ? (SpnExportFormat)i : SPN_EXPORT_PNG;
}

/* Keeps the summary, the scale row and the Export button in step with the choices. */
static void
update(SpnExportDialog *d)
{
  SpnFigureKind kinds[SPN_FIGURE_COUNT];
  int n = spn_export_dialog_get_kinds(d, kinds);
  double w, h, scale;
  spn_export_dialog_get_size(d, &w, &h, &scale);
  SpnExportFormat f = current_format(d);
  gtk_widget_set_visible(d->scale_row, f == SPN_EXPORT_PNG);
  char *summary =
      f == SPN_EXPORT_PNG
          ? g_strdup_printf("%d × %d pixels", (int)ceil(w * scale), (int)ceil(h * scale))
          : g_strdup_printf("%.0f × %.0f points, vector", w, h);
  /* what spn_figure_export can write: PNG sides up to cairo's 32767 pixels */
  gboolean too_large = f == SPN_EXPORT_PNG && (w * scale > 32767 || h * scale > 32767);
  if (too_large) {
    g_free(summary);
    summary = g_strdup_printf("%d × %d pixels: too large, a PNG side can have at most 32767; "
                              "lower the size or the scale",
                              (int)ceil(w * scale), (int)ceil(h * scale));
  }
  adw_action_row_set_subtitle(d->summary_row, n == 0 ? "tick at least one figure" : summary);
  gtk_widget_set_sensitive(d->export_button, n > 0 && !too_large);
  g_free(summary);
}

/* ---- figure rows ---- */

static void
add_figure_rows(SpnExportDialog *d, const gboolean selected[SPN_FIGURE_COUNT])
{
  gboolean any = FALSE;
  for (int k = 0; k < SPN_FIGURE_COUNT; k++)
    any = any || selected[k];
  for (int k = 0; k < SPN_FIGURE_COUNT; k++) {
    GtkWidget *row = adw_action_row_new();
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), spn_figure_title(k));
    d->checks[k] = gtk_check_button_new();
    gtk_check_button_set_active(GTK_CHECK_BUTTON(d->checks[k]), !any || selected[k]);
    g_autofree char *tip = g_strdup_printf("Include the %s figure", spn_figure_title(k));
    gtk_widget_set_tooltip_text(d->checks[k], tip);
    spn_set_accessible_label(d->checks[k], spn_figure_title(k));
    g_signal_connect_swapped(d->checks[k], "toggled", G_CALLBACK(update), d);
    adw_action_row_add_prefix(ADW_ACTION_ROW(row), d->checks[k]);
    adw_action_row_set_activatable_widget(ADW_ACTION_ROW(row), d->checks[k]);
    adw_preferences_group_add(d->figures_group, row);
  }
}

/* ---- choosing the file ---- */

static char *
suggested_name(SpnExportDialog *d)
{
  SpnFigureKind kinds[SPN_FIGURE_COUNT];
  int n = spn_export_dialog_get_kinds(d, kinds);
  return g_strdup_printf("spanscope-%s.%s", n == 1 ? spn_figure_name(kinds[0]) : "figures",
                         spn_export_format_extension(current_format(d)));
}

/* A name without a known extension gets the one of the chosen format. */
static char *
path_with_extension(SpnExportDialog *d, const char *path)
{
  SpnExportFormat f;
  if (spn_export_format_from_path(path, &f))
    return g_strdup(path);
  return g_strconcat(path, ".", spn_export_format_extension(current_format(d)), NULL);
}

static void
on_file_chosen(GtkNativeDialog *native, int response, gpointer data)
{
  SpnExportDialog *d = data;
  g_autoptr(GFile) file = response == GTK_RESPONSE_ACCEPT
                              ? gtk_file_chooser_get_file(GTK_FILE_CHOOSER(native))
                              : NULL;
  g_autofree char *chosen = file ? g_file_get_path(file) : NULL;
  g_object_unref(native);
  if (chosen) {
    g_autofree char *path = path_with_extension(d, chosen);
    g_signal_emit(d, signals[SIGNAL_EXPORT], 0, path);
    gtk_window_close(GTK_WINDOW(d));
  }
  g_object_unref(d);
}

static void
add_format_filter(GtkFileChooser *chooser, SpnExportFormat f)
{
  static const char *names[SPN_EXPORT_COUNT] = {"PNG images", "SVG drawings", "PDF documents"};
  GtkFileFilter *filter = gtk_file_filter_new();
  g_autofree char *pattern = g_strconcat("*.", spn_export_format_extension(f), NULL);
  gtk_file_filter_set_name(filter, names[f]);
  gtk_file_filter_add_pattern(filter, pattern);
  gtk_file_chooser_add_filter(chooser, filter);
  g_object_unref(filter);
}

static void
choose_file(SpnExportDialog *d)
{
  GtkFileChooserNative *native = gtk_file_chooser_native_new(
      "Export Figure", GTK_WINDOW(d), GTK_FILE_CHOOSER_ACTION_SAVE, "_Export", "_Cancel");
  GtkFileChooser *chooser = GTK_FILE_CHOOSER(native);
  gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(native), TRUE);
  add_format_filter(chooser, current_format(d));
  g_autofree char *name = suggested_name(d);
  gtk_file_chooser_set_current_name(chooser, name);
  const char *pictures = g_get_user_special_dir(G_USER_DIRECTORY_PICTURES);
  if (pictures && g_file_test(pictures, G_FILE_TEST_IS_DIR)) {
    g_autoptr(GFile) folder = g_file_new_for_path(pictures);
    gtk_file_chooser_set_current_folder(chooser, folder, NULL);
  }
  g_signal_connect(native, "response", G_CALLBACK(on_file_chosen), g_object_ref(d));
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(native));
}

/* The next export starts where this one was: format, scale and the size (of one figure or
 * of several). */
static void
remember_choices(SpnExportDialog *d)
{
  double w, h, scale;
  spn_export_dialog_get_size(d, &w, &h, &scale);
  g_autofree char *wk = g_strconcat("width-", d->size_keys, NULL);
  g_autofree char *hk = g_strconcat("height-", d->size_keys, NULL);
  spn_view_state_set_double("export", wk, w);
  spn_view_state_set_double("export", hk, h);
  spn_view_state_set_double("export", "scale", scale);
  spn_view_state_set_string("export", "format", extensions[current_format(d)]);
}

/* ---- the window ---- */

static void
spn_export_dialog_init(SpnExportDialog *d)
{
  gtk_widget_init_template(GTK_WIDGET(d));
}

static void
spn_export_dialog_dispose(GObject *object)
{
  gtk_widget_dispose_template(GTK_WIDGET(object), SPN_TYPE_EXPORT_DIALOG);
  G_OBJECT_CLASS(spn_export_dialog_parent_class)->dispose(object);
}

static void
spn_export_dialog_class_init(SpnExportDialogClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  G_OBJECT_CLASS(klass)->dispose = spn_export_dialog_dispose;
  gtk_widget_class_set_template_from_resource(widget_class,
                                              "/org/spanscope/Spanscope/ui/export-dialog.ui");
  gtk_widget_class_bind_template_child(widget_class, SpnExportDialog, figures_group);
  gtk_widget_class_bind_template_child(widget_class, SpnExportDialog, format_row);
  gtk_widget_class_bind_template_child(widget_class, SpnExportDialog, width_spin);
  gtk_widget_class_bind_template_child(widget_class, SpnExportDialog, height_spin);
  gtk_widget_class_bind_template_child(widget_class, SpnExportDialog, scale_spin);
  gtk_widget_class_bind_template_child(widget_class, SpnExportDialog, scale_row);
  gtk_widget_class_bind_template_child(widget_class, SpnExportDialog, summary_row);
  gtk_widget_class_bind_template_child(widget_class, SpnExportDialog, export_button);
  gtk_widget_class_bind_template_callback(widget_class, update);
  gtk_widget_class_bind_template_callback(widget_class, choose_file);
  signals[SIGNAL_EXPORT] = g_signal_new("export", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                        NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

/* ---- public ---- */

SpnExportDialog *
spn_export_dialog_new(GtkWindow *parent, const gboolean selected[SPN_FIGURE_COUNT])
{
  SpnExportDialog *d = g_object_new(SPN_TYPE_EXPORT_DIALOG, "transient-for", parent, NULL);
  int n = 0;
  for (int k = 0; k < SPN_FIGURE_COUNT; k++)
    n += selected[k] ? 1 : 0;
  add_figure_rows(d, selected);
  /* several figures side by side get a wider default than one panel's proportions; both
   * sizes, the format and the scale are the ones of the last export */
  gboolean several = n != 1;
  d->size_keys = several ? "several" : "one";
  g_autofree char *wk = g_strconcat("width-", d->size_keys, NULL);
  g_autofree char *hk = g_strconcat("height-", d->size_keys, NULL);
  gtk_spin_button_set_value(GTK_SPIN_BUTTON(d->width_spin),
                            spn_view_state_get_double("export", wk, several ? 1500 : 900, 1, 1e5));
  gtk_spin_button_set_value(GTK_SPIN_BUTTON(d->height_spin),
                            spn_view_state_get_double("export", hk, several ? 900 : 560, 1, 1e5));
  gtk_spin_button_set_value(GTK_SPIN_BUTTON(d->scale_spin),
                            spn_view_state_get_double("export", "scale",
                                                      gtk_spin_button_get_value(
                                                          GTK_SPIN_BUTTON(d->scale_spin)),
                                                      0.1, 100));
  adw_combo_row_set_selected(d->format_row,
                             spn_view_state_get_choice("export", "format", extensions,
                                                       SPN_EXPORT_COUNT, SPN_EXPORT_PNG));
  g_signal_connect(d, "export", G_CALLBACK(remember_choices), NULL);
  update(d);
  return d;
}

int
spn_export_dialog_get_kinds(SpnExportDialog *d, SpnFigureKind kinds[SPN_FIGURE_COUNT])
{
  int n = 0;
  for (int k = 0; k < SPN_FIGURE_COUNT; k++)
    if (d->checks[k] && gtk_check_button_get_active(GTK_CHECK_BUTTON(d->checks[k])))
      kinds[n++] = k;
  return n;
}

void
spn_export_dialog_get_size(SpnExportDialog *d, double *width, double *height, double *scale)
{
  *width = gtk_spin_button_get_value(GTK_SPIN_BUTTON(d->width_spin));
  *height = gtk_spin_button_get_value(GTK_SPIN_BUTTON(d->height_spin));
  *scale = gtk_spin_button_get_value(GTK_SPIN_BUTTON(d->scale_spin));
}
