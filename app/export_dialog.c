/* export_dialog.c — choosing what to export and where; drawing is the window's job. */
#include "export_dialog.h"

#include <math.h>
#include <string.h>

#include "accessible.h"

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
  AdwComboRow *format_row;
  GtkWidget *width_spin, *height_spin, *scale_spin;
  GtkWidget *scale_row;
  AdwActionRow *summary_row;
  GtkWidget *export_button;
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
  g_autofree char *summary =
      f == SPN_EXPORT_PNG
          ? g_strdup_printf("%d × %d pixels", (int)ceil(w * scale), (int)ceil(h * scale))
          : g_strdup_printf("%.0f × %.0f points, vector", w, h);
  adw_action_row_set_subtitle(d->summary_row, n == 0 ? "tick at least one figure" : summary);
  gtk_widget_set_sensitive(d->export_button, n > 0);
}

/* ---- rows ---- */

static GtkWidget *
make_figures_group(SpnExportDialog *d, const gboolean selected[SPN_FIGURE_COUNT])
{
  gboolean any = FALSE;
  for (int k = 0; k < SPN_FIGURE_COUNT; k++)
    any = any || selected[k];
  AdwPreferencesGroup *group = ADW_PREFERENCES_GROUP(adw_preferences_group_new());
  adw_preferences_group_set_title(group, "Figures");
  adw_preferences_group_set_description(group, "Several figures are laid out side by side in one file.");
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
    adw_preferences_group_add(group, row);
  }
  return GTK_WIDGET(group);
}

static GtkWidget *
spin_row(AdwPreferencesGroup *group, const char *title, const char *subtitle,
         const char *tooltip, double lo, double hi, double step, int digits, double value,
         GtkWidget **spin)
{
  GtkWidget *row = adw_action_row_new();
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
  if (subtitle)
    adw_action_row_set_subtitle(ADW_ACTION_ROW(row), subtitle);
  *spin = gtk_spin_button_new_with_range(lo, hi, step);
  gtk_spin_button_set_digits(GTK_SPIN_BUTTON(*spin), digits);
  gtk_spin_button_set_value(GTK_SPIN_BUTTON(*spin), value);
  gtk_widget_set_valign(*spin, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text(*spin, tooltip);
  gtk_widget_set_tooltip_text(row, tooltip);
  spn_set_accessible_label(*spin, title);
  adw_action_row_add_suffix(ADW_ACTION_ROW(row), *spin);
  adw_action_row_set_activatable_widget(ADW_ACTION_ROW(row), *spin);
  adw_preferences_group_add(group, row);
  return row;
}

static GtkWidget *
make_output_group(SpnExportDialog *d, gboolean several)
{
  const char *formats[] = {"PNG image", "SVG vector drawing", "PDF document", NULL};
  AdwPreferencesGroup *group = ADW_PREFERENCES_GROUP(adw_preferences_group_new());
  adw_preferences_group_set_title(group, "Output");
  d->format_row = ADW_COMBO_ROW(adw_combo_row_new());
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(d->format_row), "Format");
  adw_combo_row_set_model(d->format_row, G_LIST_MODEL(gtk_string_list_new(formats)));
  gtk_widget_set_tooltip_text(GTK_WIDGET(d->format_row),
                              "PNG is a picture; SVG and PDF keep lines and text as vectors. A "
                              "file name ending in .png, .svg or .pdf decides it too");
  spn_set_accessible_label(GTK_WIDGET(d->format_row), "Format");
  g_signal_connect_swapped(d->format_row, "notify::selected", G_CALLBACK(update), d);
  adw_preferences_group_add(group, GTK_WIDGET(d->format_row));

  spin_row(group, "Width", "pixels at scale 1 for PNG, points for SVG and PDF",
           "Width of the figure", 100, 10000, 10, 0, several ? 1500 : 900, &d->width_spin);
  spin_row(group, "Height", NULL, "Height of the figure", 100, 10000, 10, 0,
           several ? 900 : 560, &d->height_spin);
  d->scale_row = spin_row(group, "PNG scale", "pixels per unit; 2 for sharp prints and slides",
                          "Pixels per unit of width and height", 0.5, 8, 0.5, 1, 2.0,
                          &d->scale_spin);
  g_signal_connect_swapped(d->width_spin, "value-changed", G_CALLBACK(update), d);
  g_signal_connect_swapped(d->height_spin, "value-changed", G_CALLBACK(update), d);
  g_signal_connect_swapped(d->scale_spin, "value-changed", G_CALLBACK(update), d);

  d->summary_row = ADW_ACTION_ROW(adw_action_row_new());
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(d->summary_row), "Result");
  adw_preferences_group_add(group, GTK_WIDGET(d->summary_row));
  return GTK_WIDGET(group);
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

/* ---- the window ---- */

static GtkWidget *
make_header(SpnExportDialog *d)
{
  GtkWidget *header = adw_header_bar_new();
  adw_header_bar_set_show_end_title_buttons(ADW_HEADER_BAR(header), FALSE);
  GtkWidget *cancel = gtk_button_new_with_mnemonic("_Cancel");
  gtk_widget_set_tooltip_text(cancel, "Close without exporting");
  spn_set_accessible_label(cancel, "Cancel");
  g_signal_connect_swapped(cancel, "clicked", G_CALLBACK(gtk_window_close), d);
  adw_header_bar_pack_start(ADW_HEADER_BAR(header), cancel);
  d->export_button = gtk_button_new_with_mnemonic("_Export…");
  gtk_widget_add_css_class(d->export_button, "suggested-action");
  gtk_widget_set_tooltip_text(d->export_button, "Choose the file to write");
  spn_set_accessible_label(d->export_button, "Export to a file");
  g_signal_connect_swapped(d->export_button, "clicked", G_CALLBACK(choose_file), d);
  adw_header_bar_pack_end(ADW_HEADER_BAR(header), d->export_button);
  return header;
}

static void
spn_export_dialog_init(SpnExportDialog *d)
{
  gtk_window_set_title(GTK_WINDOW(d), "Export Figure");
  gtk_window_set_default_size(GTK_WINDOW(d), 480, 640);
  gtk_window_set_modal(GTK_WINDOW(d), TRUE);
  gtk_window_set_destroy_with_parent(GTK_WINDOW(d), TRUE);
  GtkEventController *keys = gtk_shortcut_controller_new();
  gtk_shortcut_controller_add_shortcut(
      GTK_SHORTCUT_CONTROLLER(keys),
      gtk_shortcut_new(gtk_keyval_trigger_new(GDK_KEY_Escape, 0),
                       gtk_named_action_new("window.close")));
  gtk_widget_add_controller(GTK_WIDGET(d), keys);
}

static void
spn_export_dialog_class_init(SpnExportDialogClass *klass)
{
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
  GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
  gtk_box_append(GTK_BOX(box), make_header(d));
  AdwPreferencesPage *page = ADW_PREFERENCES_PAGE(adw_preferences_page_new());
  gtk_widget_set_vexpand(GTK_WIDGET(page), TRUE);
  adw_preferences_page_add(page, ADW_PREFERENCES_GROUP(make_figures_group(d, selected)));
  adw_preferences_page_add(page, ADW_PREFERENCES_GROUP(make_output_group(d, n != 1)));
  gtk_box_append(GTK_BOX(box), GTK_WIDGET(page));
  adw_window_set_content(ADW_WINDOW(d), box);
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
