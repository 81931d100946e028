/* compare_window.c — SpnCompareWindow: runs side by side (see compare_window.h). The figures
 * are ui/compare.h's, drawn from the runs' immutable snapshots; checkpoints are read in a
 * GTask thread, so a large file never blocks the window. */
#include "compare_window.h"

#include "checkpoint.h"
#include "plot.h"

#define EXPORT_WIDTH 1600
#define EXPORT_HEIGHT 1000

typedef struct {
  SpnSnapshot *snapshot;
  char *label;
  guint order;   /* when it was asked for: runs keep that order whichever file opens first */
} Run;

struct _SpnCompareWindow {
  AdwWindow parent;
  GPtrArray *runs;   /* Run, in the order asked for */
  guint next_order;
  int pending;
  gboolean log_axis;
  AdwToastOverlay *toasts;
  GtkListBox *list;
  GtkWidget *empty_note;
  GtkWidget *views[SPN_COMPARE_COUNT];
  GtkWidget *stack;
  GCancellable *cancel;
};

G_DEFINE_FINAL_TYPE(SpnCompareWindow, spn_compare_window, ADW_TYPE_WINDOW)

enum { SIGNAL_RUNS_CHANGED, SIGNAL_RUN_FAILED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
run_free(gpointer data)
{
  Run *r = data;
  spn_snapshot_unref(r->snapshot);
  g_free(r->label);
  g_free(r);
}

/* The runs as the figures take them; borrowed from self until the next change. */
static SpnCompareRun *
compare_runs(SpnCompareWindow *self)
{
  SpnCompareRun *out = g_new0(SpnCompareRun, MAX(self->runs->len, 1));
  for (guint i = 0; i < self->runs->len; i++) {
    const Run *r = g_ptr_array_index(self->runs, i);
    out[i] = (SpnCompareRun){r->snapshot, r->label};
  }
  return out;
}

static void
figure_options(SpnCompareWindow *self, SpnFigureOptions *o)
{
  spn_figure_options_init(o);
  o->dark = adw_style_manager_get_dark(adw_style_manager_get_default());
  o->log_axis = self->log_axis;
}

static void
draw_view(GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer data)
{
  SpnCompareWindow *self = data;
  SpnCompareKind kind = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(area), "kind"));
  SpnFigureOptions o;
  figure_options(self, &o);
  g_autofree SpnCompareRun *runs = compare_runs(self);
  spn_compare_draw(kind, cr, width, height, runs, (int)self->runs->len, &o);
}

static gboolean
on_query_tooltip(GtkWidget *area, int x, int y, gboolean keyboard, GtkTooltip *tooltip,
                 gpointer data)
{
  SpnCompareWindow *self = data;
  if (keyboard)
    return FALSE;
  SpnCompareKind kind = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(area), "kind"));
  SpnFigureOptions o;
  figure_options(self, &o);
  g_autofree SpnCompareRun *runs = compare_runs(self);
  g_autofree char *text =
      spn_compare_describe(kind, gtk_widget_get_width(area), gtk_widget_get_height(area), runs,
                           (int)self->runs->len, &o, x, y);
  if (text == NULL)
    return FALSE;
  gtk_tooltip_set_text(tooltip, text);
  return TRUE;
}

static void
redraw(SpnCompareWindow *self)
{
  for (int k = 0; k < SPN_COMPARE_COUNT; k++)
    gtk_widget_queue_draw(self->views[k]);
}

/* ---- the list of runs ---- */

static void rebuild_list(SpnCompareWindow *self);

static void
changed(SpnCompareWindow *self)
{
  rebuild_list(self);
  redraw(self);
  g_signal_emit(self, signals[SIGNAL_RUNS_CHANGED], 0);
}

static void
on_label_changed(GtkEditable *entry, gpointer data)
{
  SpnCompareWindow *self = data;
  int i = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(entry), "run"));
  if (i < 0 || (guint)i >= self->runs->len)
    return;
  Run *r = g_ptr_array_index(self->runs, i);
  g_free(r->label);
  r->label = g_strdup(gtk_editable_get_text(entry));
  redraw(self);
  g_signal_emit(self, signals[SIGNAL_RUNS_CHANGED], 0);
}

static void
on_remove_clicked(GtkButton *button, gpointer data)
{
  int i = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(button), "run"));
  spn_compare_window_remove(SPN_COMPARE_WINDOW(data), i);
}

static void
draw_swatch(GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer data)
{
  (void)data;
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  o.dark = adw_style_manager_get_dark(adw_style_manager_get_default());
  SpnPlot p;
  spn_plot_init(&p, NULL, &o);
  double rgb[3];
  spn_plot_series_rgb(&p, GPOINTER_TO_INT(g_object_get_data(G_OBJECT(area), "run")), rgb);
  spn_plot_clear(&p);
  cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
  cairo_rectangle(cr, 0, height * 0.25, width, height * 0.5);
  cairo_fill(cr);
}

static GtkWidget *
run_row(SpnCompareWindow *self, int i)
{
  const Run *r = g_ptr_array_index(self->runs, i);
  GtkWidget *box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
  gtk_widget_set_margin_start(box, 6);
  gtk_widget_set_margin_end(box, 6);
  gtk_widget_set_margin_top(box, 4);
  gtk_widget_set_margin_bottom(box, 4);
  GtkWidget *swatch = gtk_drawing_area_new();
  gtk_widget_set_size_request(swatch, 18, 18);
  g_object_set_data(G_OBJECT(swatch), "run", GINT_TO_POINTER(i));
  gtk_drawing_area_set_draw_func(GTK_DRAWING_AREA(swatch), draw_swatch, NULL, NULL);
  GtkWidget *entry = gtk_entry_new();
  gtk_editable_set_text(GTK_EDITABLE(entry), r->label);
  gtk_widget_set_hexpand(entry, TRUE);
  gtk_widget_set_tooltip_text(entry, "The run's name in the legends and the table");
  g_object_set_data(G_OBJECT(entry), "run", GINT_TO_POINTER(i));
  g_signal_connect(entry, "changed", G_CALLBACK(on_label_changed), self);
  GtkWidget *remove = gtk_button_new_from_icon_name("list-remove-symbolic");
  gtk_widget_set_tooltip_text(remove, "Remove this run from the comparison");
  gtk_accessible_update_property(GTK_ACCESSIBLE(remove), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                 "Remove run", -1);
  gtk_widget_add_css_class(remove, "flat");
  g_object_set_data(G_OBJECT(remove), "run", GINT_TO_POINTER(i));
  g_signal_connect(remove, "clicked", G_CALLBACK(on_remove_clicked), self);
  gtk_box_append(GTK_BOX(box), swatch);
  gtk_box_append(GTK_BOX(box), entry);
  gtk_box_append(GTK_BOX(box), remove);
  return box;
}

static void
rebuild_list(SpnCompareWindow *self)
{
  GtkWidget *child;
  while ((child = gtk_widget_get_first_child(GTK_WIDGET(self->list))) != NULL)
    gtk_list_box_remove(self->list, child);
  for (guint i = 0; i < self->runs->len; i++)
    gtk_list_box_append(self->list, run_row(self, (int)i));
  gtk_widget_set_visible(self->empty_note, self->runs->len == 0);
}

/* ---- adding runs ---- */

typedef struct {
  char *path;
  SpnSnapshot *snapshot;
  guint order;
} OpenJob;

static void
open_job_free(gpointer data)
{
  OpenJob *j = data;
  g_free(j->path);
  if (j->snapshot)
    spn_snapshot_unref(j->snapshot);
  g_free(j);
}

static void
add_run(SpnCompareWindow *self, SpnSnapshot *s, const char *label, guint order)
{
  Run *r = g_new0(Run, 1);
  r->snapshot = spn_snapshot_ref(s);
  r->label = g_strdup(label);
  r->order = order;
  guint at = self->runs->len;
  while (at > 0 && ((Run *)g_ptr_array_index(self->runs, at - 1))->order > order)
    at--;
  g_ptr_array_insert(self->runs, (gint)at, r);
  changed(self);
}

static void
open_in_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
  (void)source, (void)cancel;
  OpenJob *j = data;
  GError *error = NULL;
  SpnCheckpoint *ck = spn_checkpoint_load(j->path, &error);
  if (ck == NULL) {
    g_task_return_error(task, error);
    return;
  }
  g_autofree char *name = g_path_get_basename(j->path);
  j->snapshot = spn_checkpoint_snapshot(ck, name);
  spn_checkpoint_free(ck);
  g_task_return_boolean(task, TRUE);
}

static void
on_opened(GObject *source, GAsyncResult *result, gpointer data)
{
  (void)data;
  g_autoptr(GError) error = NULL;
  gboolean ok = g_task_propagate_boolean(G_TASK(result), &error);
  if (!ok && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;   /* the window is gone */
  SpnCompareWindow *self = SPN_COMPARE_WINDOW(source);
  OpenJob *j = g_task_get_task_data(G_TASK(result));
  self->pending--;
  if (ok) {
    g_autofree char *label = g_path_get_basename(j->path);
    add_run(self, j->snapshot, label, j->order);
    return;
  }
  g_autofree char *message = g_strdup_printf("Could not add the run: %s", error->message);
  AdwToast *toast = adw_toast_new(message);
  adw_toast_set_timeout(toast, 10);
  adw_toast_overlay_add_toast(self->toasts, toast);
  g_signal_emit(self, signals[SIGNAL_RUN_FAILED], 0, message);
  g_signal_emit(self, signals[SIGNAL_RUNS_CHANGED], 0);
}

void
spn_compare_window_add_file(SpnCompareWindow *self, const char *path)
{
  OpenJob *j = g_new0(OpenJob, 1);
  j->path = g_strdup(path);
  j->order = self->next_order++;
  GTask *task = g_task_new(self, self->cancel, on_opened, NULL);
  g_task_set_task_data(task, j, open_job_free);
  self->pending++;
  g_task_run_in_thread(task, open_in_thread);
  g_object_unref(task);
}

void
spn_compare_window_add_snapshot(SpnCompareWindow *self, SpnSnapshot *s, const char *label)
{
  add_run(self, s, label, self->next_order++);
}

static void
on_add_response(GtkNativeDialog *native, int response, gpointer data)
{
  SpnCompareWindow *self = data;
  if (response == GTK_RESPONSE_ACCEPT) {
    GListModel *files = gtk_file_chooser_get_files(GTK_FILE_CHOOSER(native));
    for (guint i = 0; i < g_list_model_get_n_items(files); i++) {
      g_autoptr(GFile) f = g_list_model_get_item(files, i);
      g_autofree char *path = g_file_get_path(f);
      if (path)
        spn_compare_window_add_file(self, path);
    }
    g_object_unref(files);
  }
  g_object_unref(native);
}

static void
on_add_clicked(GtkButton *button, gpointer data)
{
  (void)button;
  SpnCompareWindow *self = data;
  GtkFileChooserNative *native = gtk_file_chooser_native_new(
      "Add runs", GTK_WINDOW(self), GTK_FILE_CHOOSER_ACTION_OPEN, "_Add", "_Cancel");
  gtk_file_chooser_set_select_multiple(GTK_FILE_CHOOSER(native), TRUE);
  GtkFileFilter *filter = gtk_file_filter_new();
  gtk_file_filter_set_name(filter, "spanscope checkpoints");
  gtk_file_filter_add_pattern(filter, "*.safetensors");
  gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(native), filter);
  g_object_unref(filter);
  g_signal_connect(native, "response", G_CALLBACK(on_add_response), self);
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(native));
}

/* ---- export ---- */

gboolean
spn_compare_window_export(SpnCompareWindow *self, const char *path, double width, double height,
                          GError **error)
{
  static const SpnCompareKind all[] = {SPN_COMPARE_CURVES, SPN_COMPARE_SPANS, SPN_COMPARE_TABLE};
  SpnFigureOptions o;
  figure_options(self, &o);
  o.dark = FALSE;   /* files are for pages: light like the CLI's */
  g_autofree SpnCompareRun *runs = compare_runs(self);
  return spn_compare_export(path, all, G_N_ELEMENTS(all), width, height, 1.0, runs,
                            (int)self->runs->len, &o, error);
}

static void
on_export_response(GtkNativeDialog *native, int response, gpointer data)
{
  SpnCompareWindow *self = data;
  if (response == GTK_RESPONSE_ACCEPT) {
    g_autoptr(GFile) f = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(native));
    g_autofree char *path = g_file_get_path(f);
    g_autoptr(GError) error = NULL;
    g_autofree char *message = NULL;
    if (path && spn_compare_window_export(self, path, EXPORT_WIDTH, EXPORT_HEIGHT, &error))
      message = g_strdup_printf("Wrote %s", path);
    else
      message = g_strdup_printf("Export failed: %s", error ? error->message : "no local path");
    adw_toast_overlay_add_toast(self->toasts, adw_toast_new(message));
  }
  g_object_unref(native);
}

static void
on_export_clicked(GtkButton *button, gpointer data)
{
  (void)button;
  SpnCompareWindow *self = data;
  GtkFileChooserNative *native = gtk_file_chooser_native_new(
      "Export the comparison (PNG, SVG or PDF)", GTK_WINDOW(self), GTK_FILE_CHOOSER_ACTION_SAVE,
      "_Export", "_Cancel");
  gtk_file_chooser_set_current_name(GTK_FILE_CHOOSER(native), "comparison.svg");
  g_signal_connect(native, "response", G_CALLBACK(on_export_response), self);
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(native));
}

static void
on_log_toggled(GtkToggleButton *toggle, gpointer data)
{
  SpnCompareWindow *self = data;
  self->log_axis = gtk_toggle_button_get_active(toggle);
  redraw(self);
}

/* ---- the rest of the API ---- */

int
spn_compare_window_get_n_runs(SpnCompareWindow *self)
{
  return (int)self->runs->len;
}

const char *
spn_compare_window_get_label(SpnCompareWindow *self, int i)
{
  if (i < 0 || (guint)i >= self->runs->len)
    return NULL;
  return ((Run *)g_ptr_array_index(self->runs, i))->label;
}

void
spn_compare_window_set_label(SpnCompareWindow *self, int i, const char *label)
{
  if (i < 0 || (guint)i >= self->runs->len)
    return;
  Run *r = g_ptr_array_index(self->runs, i);
  g_free(r->label);
  r->label = g_strdup(label);
  changed(self);
}

void
spn_compare_window_remove(SpnCompareWindow *self, int i)
{
  if (i < 0 || (guint)i >= self->runs->len)
    return;
  g_ptr_array_remove_index(self->runs, (guint)i);
  changed(self);
}

int
spn_compare_window_get_pending(SpnCompareWindow *self)
{
  return self->pending;
}

SpnCompareWindow *
spn_compare_window_get(GtkApplication *app)
{
  for (GList *l = gtk_application_get_windows(app); l; l = l->next)
    if (SPN_IS_COMPARE_WINDOW(l->data))
      return l->data;
  SpnCompareWindow *w = g_object_new(SPN_TYPE_COMPARE_WINDOW, "application", app, NULL);
  return w;
}

/* ---- object ---- */

static GtkWidget *
build_header(SpnCompareWindow *self)
{
  GtkWidget *header = adw_header_bar_new();
  GtkWidget *add = gtk_button_new_with_mnemonic("_Add run…");
  gtk_widget_set_tooltip_text(add, "Open checkpoints to compare");
  g_signal_connect(add, "clicked", G_CALLBACK(on_add_clicked), self);
  adw_header_bar_pack_start(ADW_HEADER_BAR(header), add);
  GtkWidget *export = gtk_button_new_with_mnemonic("_Export…");
  gtk_widget_set_tooltip_text(export, "Write the three figures to a PNG, SVG or PDF file");
  g_signal_connect(export, "clicked", G_CALLBACK(on_export_clicked), self);
  adw_header_bar_pack_end(ADW_HEADER_BAR(header), export);
  GtkWidget *log = gtk_toggle_button_new_with_mnemonic("_Log axis");
  gtk_widget_set_tooltip_text(log, "Logarithmic span and bpc axes");
  g_signal_connect(log, "toggled", G_CALLBACK(on_log_toggled), self);
  adw_header_bar_pack_end(ADW_HEADER_BAR(header), log);
  GtkWidget *switcher = gtk_stack_switcher_new();
  gtk_stack_switcher_set_stack(GTK_STACK_SWITCHER(switcher), GTK_STACK(self->stack));
  adw_header_bar_set_title_widget(ADW_HEADER_BAR(header), switcher);
  return header;
}

static GtkWidget *
build_sidebar(SpnCompareWindow *self)
{
  GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
  gtk_widget_set_size_request(box, 260, -1);
  self->list = GTK_LIST_BOX(gtk_list_box_new());
  gtk_list_box_set_selection_mode(self->list, GTK_SELECTION_NONE);
  GtkWidget *scroll = gtk_scrolled_window_new();
  gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scroll), GTK_WIDGET(self->list));
  gtk_widget_set_vexpand(scroll, TRUE);
  self->empty_note = gtk_label_new("No runs yet. Add checkpoints, or choose Compare runs in the "
                                   "main window's menu to add the run being trained.");
  gtk_label_set_wrap(GTK_LABEL(self->empty_note), TRUE);
  gtk_widget_add_css_class(self->empty_note, "dim-label");
  gtk_widget_set_margin_start(self->empty_note, 12);
  gtk_widget_set_margin_end(self->empty_note, 12);
  gtk_widget_set_margin_top(self->empty_note, 12);
  gtk_box_append(GTK_BOX(box), self->empty_note);
  gtk_box_append(GTK_BOX(box), scroll);
  return box;
}

static void
spn_compare_window_init(SpnCompareWindow *self)
{
  self->runs = g_ptr_array_new_with_free_func(run_free);
  self->cancel = g_cancellable_new();
  gtk_window_set_title(GTK_WINDOW(self), "Compare runs");
  gtk_window_set_default_size(GTK_WINDOW(self), 1280, 800);
  self->stack = gtk_stack_new();
  for (int k = 0; k < SPN_COMPARE_COUNT; k++) {
    GtkWidget *area = gtk_drawing_area_new();
    g_object_set_data(G_OBJECT(area), "kind", GINT_TO_POINTER(k));
    gtk_drawing_area_set_draw_func(GTK_DRAWING_AREA(area), draw_view, self, NULL);
    gtk_widget_set_has_tooltip(area, TRUE);
    g_signal_connect(area, "query-tooltip", G_CALLBACK(on_query_tooltip), self);
    gtk_widget_set_hexpand(area, TRUE);
    gtk_widget_set_vexpand(area, TRUE);
    self->views[k] = area;
    gtk_stack_add_titled(GTK_STACK(self->stack), area, spn_compare_name((SpnCompareKind)k),
                         spn_compare_title((SpnCompareKind)k));
  }
  GtkWidget *paned = gtk_paned_new(GTK_ORIENTATION_HORIZONTAL);
  gtk_paned_set_start_child(GTK_PANED(paned), build_sidebar(self));
  gtk_paned_set_end_child(GTK_PANED(paned), self->stack);
  gtk_paned_set_shrink_start_child(GTK_PANED(paned), FALSE);
  gtk_paned_set_resize_start_child(GTK_PANED(paned), FALSE);
  gtk_paned_set_position(GTK_PANED(paned), 280);
  self->toasts = ADW_TOAST_OVERLAY(adw_toast_overlay_new());
  adw_toast_overlay_set_child(self->toasts, paned);
  GtkWidget *content = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
  gtk_box_append(GTK_BOX(content), build_header(self));
  gtk_widget_set_vexpand(GTK_WIDGET(self->toasts), TRUE);
  gtk_box_append(GTK_BOX(content), GTK_WIDGET(self->toasts));
  adw_window_set_content(ADW_WINDOW(self), content);
  g_signal_connect_swapped(adw_style_manager_get_default(), "notify::dark", G_CALLBACK(redraw),
                           self);
  rebuild_list(self);
}

static void
spn_compare_window_dispose(GObject *object)
{
  SpnCompareWindow *self = SPN_COMPARE_WINDOW(object);
  if (self->cancel)
    g_cancellable_cancel(self->cancel);
  g_clear_object(&self->cancel);
  g_signal_handlers_disconnect_by_data(adw_style_manager_get_default(), self);
  G_OBJECT_CLASS(spn_compare_window_parent_class)->dispose(object);
}

static void
spn_compare_window_finalize(GObject *object)
{
  SpnCompareWindow *self = SPN_COMPARE_WINDOW(object);
  g_ptr_array_unref(self->runs);
  G_OBJECT_CLASS(spn_compare_window_parent_class)->finalize(object);
}

static void
spn_compare_window_class_init(SpnCompareWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  object_class->dispose = spn_compare_window_dispose;
  object_class->finalize = spn_compare_window_finalize;
  signals[SIGNAL_RUNS_CHANGED] = g_signal_new("runs-changed", G_TYPE_FROM_CLASS(klass),
                                              G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                              G_TYPE_NONE, 0);
  signals[SIGNAL_RUN_FAILED] = g_signal_new("run-failed", G_TYPE_FROM_CLASS(klass),
                                            G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                                            1, G_TYPE_STRING);
}
