/* setup_dialog.c — the New model dialog: one row per entry of the engine's settings table
 * (config.c), so that filling, reading and validating stay one loop each. */
#include "setup_dialog.h"

#include "cost.h"
#include "demo.h"

#include <math.h>
#include <stddef.h>

#include "accessible.h"

static guint n_fields;
static const SpnConfigField *fields;   /* the engine's table (config.c) */

typedef enum { CORPUS_BUNDLED, CORPUS_DEMO, CORPUS_LONG_DEMO, CORPUS_FILE, CORPUS_FOLDER } CorpusKind;

struct _SpnSetupDialog {
  AdwWindow parent;
  GtkWidget **inputs;   /* per field of the table; NULL for the engine's internal fields */
  GtkWidget **rows;
  AdwComboRow *preset_row, *corpus_row;
  AdwActionRow *location_row;
  GtkWidget *byte_switch;
  GtkWidget *problem_label;
  GtkWidget *create_button;
  char *paths[CORPUS_FOLDER + 1];   /* the chosen file and folder, by CorpusKind */
  char *problem;
  char *corpus_error;               /* why the engine refused the corpus, until it changes */
  gboolean filling;                 /* set_config in progress: validate once at the end */
  gboolean busy;                    /* the model is being created: Create waits */
  AdwActionRow *cost_row;           /* parameters and seconds per step of the settings */
  double flops_per_s;               /* this machine's training rate, 0 until measured */
  char *run_corpus;                 /* the current run's corpus and vocabulary size */
  int run_vocab;
  gint64 parameters;
  double step_seconds;              /* estimated at the initial spans, 0 when not measured */
};

G_DEFINE_FINAL_TYPE(SpnSetupDialog, spn_setup_dialog, ADW_TYPE_WINDOW)

enum { SIGNAL_CREATE, N_SIGNALS };
static guint signals[N_SIGNALS];

static void revalidate(SpnSetupDialog *d);

/* ---- reading and writing one field ---- */

static void
field_write(SpnSetupDialog *d, guint i, const SpnConfig *cfg)
{
  const SpnConfigField *f = &fields[i];
  const guint8 *base = (const guint8 *)cfg + f->offset;
  GtkWidget *w = d->inputs[i];
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  if (w == NULL)
    return;
  switch (f->type) {
  case SPN_FIELD_INT: gtk_spin_button_set_value(GTK_SPIN_BUTTON(w), *(const int *)base); break;
  case SPN_FIELD_DOUBLE:
    gtk_editable_set_text(GTK_EDITABLE(w), g_ascii_formatd(buf, sizeof buf, "%g",
                                                           *(const double *)base));
    break;
  case SPN_FIELD_SEED:
    g_snprintf(buf, sizeof buf, "%" G_GUINT64_FORMAT, *(const guint64 *)base);
    gtk_editable_set_text(GTK_EDITABLE(w), buf);
    break;
  case SPN_FIELD_BOOL: gtk_switch_set_active(GTK_SWITCH(w), *(const gboolean *)base); break;
  case SPN_FIELD_CHOICE: adw_combo_row_set_selected(ADW_COMBO_ROW(w), *(const int *)base); break;
  }
}

static gboolean
parse_int(const SpnConfigField *f, const char *text, int *out, GError **error)
{
  gint64 v;
  g_autofree char *t = g_strstrip(g_strdup(text));
  if (!g_ascii_string_to_signed(t, 10, G_MININT, G_MAXINT, &v, NULL)) {
    g_set_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_PARSE,
                "%s (--%s): “%s” is not a whole number", f->title, f->name, t);
    return FALSE;
  }
  *out = (int)v;
  return TRUE;
}

static gboolean
parse_double(const SpnConfigField *f, const char *text, double *out, GError **error)
{
  g_autofree char *t = g_strstrip(g_strdup(text));
  char *end = NULL;
  double v = g_ascii_strtod(t, &end);
  if (*t == '\0' || end == NULL || *end != '\0' || !isfinite(v)) {
    g_set_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_PARSE,
                "%s (--%s): “%s” is not a number (e.g. 0.07 or 2e-6)", f->title, f->name, t);
    return FALSE;
  }
  *out = v;
  return TRUE;
}

static gboolean
parse_seed(const SpnConfigField *f, const char *text, guint64 *out, GError **error)
{
  g_autofree char *t = g_strstrip(g_strdup(text));
  if (!g_ascii_string_to_unsigned(t, 10, 0, G_MAXUINT64, out, NULL)) {
    g_set_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_PARSE,
                "%s (--%s): “%s” is not a whole number from 0 up", f->title, f->name, t);
    return FALSE;
  }
  return TRUE;
}

static gboolean
field_read(SpnSetupDialog *d, guint i, SpnConfig *cfg, GError **error)
{
  const SpnConfigField *f = &fields[i];
  guint8 *base = (guint8 *)cfg + f->offset;
  GtkWidget *w = d->inputs[i];
  if (w == NULL)
    return TRUE;
  switch (f->type) {
  case SPN_FIELD_INT:
    return parse_int(f, gtk_editable_get_text(GTK_EDITABLE(w)), (int *)base, error);
  case SPN_FIELD_DOUBLE:
    return parse_double(f, gtk_editable_get_text(GTK_EDITABLE(w)), (double *)base, error);
  case SPN_FIELD_SEED:
    return parse_seed(f, gtk_editable_get_text(GTK_EDITABLE(w)), (guint64 *)base, error);
  case SPN_FIELD_BOOL: *(gboolean *)base = gtk_switch_get_active(GTK_SWITCH(w)); return TRUE;
  case SPN_FIELD_CHOICE: *(int *)base = (int)adw_combo_row_get_selected(ADW_COMBO_ROW(w)); return TRUE;
  }
  return TRUE;
}

/* ---- building the rows ---- */

static GtkWidget *
make_input(SpnSetupDialog *d, const SpnConfigField *f)
{
  GtkWidget *w;
  switch (f->type) {
  case SPN_FIELD_INT:
    /* the whole int range: the typed text is read and judged as it is typed (validation says
     * what is sensible), never clamped on focus-out */
    w = gtk_spin_button_new_with_range(MIN(0, f->min), G_MAXINT, 1);
    gtk_spin_button_set_update_policy(GTK_SPIN_BUTTON(w), GTK_UPDATE_IF_VALID);
    gtk_editable_set_width_chars(GTK_EDITABLE(w), 7);
    g_signal_connect_swapped(w, "changed", G_CALLBACK(revalidate), d);
    break;
  case SPN_FIELD_DOUBLE:
  case SPN_FIELD_SEED:
    w = gtk_entry_new();
    gtk_editable_set_width_chars(GTK_EDITABLE(w), 10);
    gtk_editable_set_alignment(GTK_EDITABLE(w), 1.0);
    gtk_entry_set_input_purpose(GTK_ENTRY(w), f->type == SPN_FIELD_SEED ? GTK_INPUT_PURPOSE_DIGITS
                                                                        : GTK_INPUT_PURPOSE_NUMBER);
    g_signal_connect_swapped(w, "changed", G_CALLBACK(revalidate), d);
    break;
  case SPN_FIELD_BOOL:
    w = gtk_switch_new();
    g_signal_connect_swapped(w, "notify::active", G_CALLBACK(revalidate), d);
    break;
  case SPN_FIELD_CHOICE:
  default:
    return NULL;
  }
  gtk_widget_set_valign(w, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text(w, f->help);
  spn_set_accessible_label(w, f->title);
  return w;
}

static GtkWidget *
make_choice_row(SpnSetupDialog *d, const SpnConfigField *f)
{
  GtkStringList *titles = gtk_string_list_new(NULL);
  for (const SpnChoice *c = f->choices; c->name != NULL; c++)
    gtk_string_list_append(titles, c->title);
  AdwComboRow *row = ADW_COMBO_ROW(adw_combo_row_new());
  adw_combo_row_set_model(row, G_LIST_MODEL(titles));
  g_object_unref(titles);
  g_signal_connect_swapped(row, "notify::selected", G_CALLBACK(revalidate), d);
  gtk_widget_set_tooltip_text(GTK_WIDGET(row), f->help);
  spn_set_accessible_label(GTK_WIDGET(row), f->title);
  return GTK_WIDGET(row);
}

static GtkWidget *
make_row(SpnSetupDialog *d, guint i)
{
  const SpnConfigField *f = &fields[i];
  g_autofree char *subtitle = g_strconcat("--", f->name, NULL);
  GtkWidget *row;
  if (f->type == SPN_FIELD_CHOICE) {
    row = make_choice_row(d, f);
    d->inputs[i] = row;
  } else {
    row = adw_action_row_new();
    d->inputs[i] = make_input(d, f);
    adw_action_row_add_suffix(ADW_ACTION_ROW(row), d->inputs[i]);
    adw_action_row_set_activatable_widget(ADW_ACTION_ROW(row), d->inputs[i]);
    gtk_widget_set_tooltip_text(row, f->help);
  }
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), f->title);
  /* the option's name, because the engine's reasons name options that way */
  adw_action_row_set_subtitle(ADW_ACTION_ROW(row), subtitle);
  return row;
}

static GtkWidget *
make_option_groups(SpnSetupDialog *d, AdwPreferencesPage *page)
{
  AdwPreferencesGroup *groups[SPN_FIELD_GROUP_COUNT];
  for (int g = 0; g < SPN_FIELD_GROUP_COUNT; g++) {
    groups[g] = ADW_PREFERENCES_GROUP(adw_preferences_group_new());
    adw_preferences_group_set_title(groups[g], spn_config_group_title((SpnFieldGroup)g));
    adw_preferences_page_add(page, groups[g]);
  }
  for (guint i = 0; i < n_fields; i++) {
    if (fields[i].flags & SPN_FIELD_INTERNAL)
      continue;
    d->rows[i] = make_row(d, i);
    adw_preferences_group_add(groups[fields[i].group], d->rows[i]);
  }
  return GTK_WIDGET(page);
}

/* ---- corpus ---- */

static CorpusKind
corpus_kind(SpnSetupDialog *d)
{
  return (CorpusKind)adw_combo_row_get_selected(d->corpus_row);
}

static void
update_location_row(SpnSetupDialog *d)
{
  static const char *about[] = {
    [CORPUS_BUNDLED] = "bundled with spanscope; spans stay short on it",
    [CORPUS_DEMO] = "generated; passages recur " G_STRINGIFY(SPN_DEMO_DISTANCE) " characters later",
    [CORPUS_LONG_DEMO] = "generated; passages recur " G_STRINGIFY(SPN_LONG_DEMO_NEAR) ", "
                         G_STRINGIFY(SPN_LONG_DEMO_MID) " or " G_STRINGIFY(SPN_LONG_DEMO_FAR)
                         " characters later",
    [CORPUS_FILE] = "a UTF-8 text file, split 90/5/5 into train/valid/test",
    [CORPUS_FOLDER] = "a folder with train.txt, valid.txt and test.txt",
  };
  CorpusKind k = corpus_kind(d);
  /* the engine's reason to refuse the corpus, on its row, until the corpus changes */
  adw_action_row_set_subtitle(ADW_ACTION_ROW(d->corpus_row),
                              d->corpus_error ? d->corpus_error : about[k]);
  if (d->corpus_error)
    gtk_widget_add_css_class(GTK_WIDGET(d->corpus_row), "error");
  else
    gtk_widget_remove_css_class(GTK_WIDGET(d->corpus_row), "error");
  gboolean needs_path = k == CORPUS_FILE || k == CORPUS_FOLDER;
  gtk_widget_set_visible(GTK_WIDGET(d->location_row), needs_path);
  const char *path = needs_path ? d->paths[k] : NULL;
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(d->location_row),
                                k == CORPUS_FOLDER ? "Folder" : "Text file");
  adw_action_row_set_subtitle(d->location_row, path ? path : "none chosen yet");
}

static void
on_corpus_chosen(GtkNativeDialog *native, int response, gpointer data)
{
  SpnSetupDialog *d = data;
  if (response == GTK_RESPONSE_ACCEPT) {
    g_autoptr(GFile) file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(native));
    CorpusKind k = corpus_kind(d);
    if (file && (k == CORPUS_FILE || k == CORPUS_FOLDER)) {
      g_free(d->paths[k]);
      d->paths[k] = g_file_get_path(file);
      g_clear_pointer(&d->corpus_error, g_free);
    }
  }
  g_object_unref(native);
  update_location_row(d);
  revalidate(d);
  g_object_unref(d);
}

static void
choose_corpus_location(SpnSetupDialog *d)
{
  gboolean folder = corpus_kind(d) == CORPUS_FOLDER;
  GtkFileChooserNative *native = gtk_file_chooser_native_new(
      folder ? "Folder with train.txt, valid.txt and test.txt" : "Corpus text file",
      GTK_WINDOW(d), folder ? GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER : GTK_FILE_CHOOSER_ACTION_OPEN,
      "_Choose", "_Cancel");
  gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(native), TRUE);
  g_signal_connect(native, "response", G_CALLBACK(on_corpus_chosen), g_object_ref(d));
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(native));
}

static void
on_corpus_selected(SpnSetupDialog *d)
{
  CorpusKind k = corpus_kind(d);
  g_clear_pointer(&d->corpus_error, g_free);
  update_location_row(d);
  revalidate(d);
  /* choosing "Text file…" means choosing a file: ask for it right away */
  if (!d->filling && (k == CORPUS_FILE || k == CORPUS_FOLDER) && d->paths[k] == NULL)
    choose_corpus_location(d);
}

static void
forget_corpus_error(SpnSetupDialog *d)
{
  if (d->corpus_error == NULL)
    return;
  g_clear_pointer(&d->corpus_error, g_free);
  update_location_row(d);
}

static GtkWidget *
make_corpus_group(SpnSetupDialog *d)
{
  const char *kinds[] = {"King James Bible", "Demonstration", "Long-span demonstration",
                         "Text file…", "Folder…", NULL};
  AdwPreferencesGroup *group = ADW_PREFERENCES_GROUP(adw_preferences_group_new());
  adw_preferences_group_set_title(group, "Corpus");

  d->corpus_row = ADW_COMBO_ROW(adw_combo_row_new());
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(d->corpus_row), "Text");
  adw_combo_row_set_model(d->corpus_row, G_LIST_MODEL(gtk_string_list_new(kinds)));
  gtk_widget_set_tooltip_text(GTK_WIDGET(d->corpus_row), "The text the model learns from");
  spn_set_accessible_label(GTK_WIDGET(d->corpus_row), "Corpus");
  g_signal_connect_swapped(d->corpus_row, "notify::selected", G_CALLBACK(on_corpus_selected), d);
  adw_preferences_group_add(group, GTK_WIDGET(d->corpus_row));

  d->location_row = ADW_ACTION_ROW(adw_action_row_new());
  GtkWidget *choose = gtk_button_new_with_mnemonic("C_hoose…");
  gtk_widget_set_valign(choose, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text(choose, "Pick the corpus file or folder");
  spn_set_accessible_label(choose, "Choose the corpus location");
  g_signal_connect_swapped(choose, "clicked", G_CALLBACK(choose_corpus_location), d);
  adw_action_row_add_suffix(d->location_row, choose);
  adw_preferences_group_add(group, GTK_WIDGET(d->location_row));

  AdwActionRow *byte_row = ADW_ACTION_ROW(adw_action_row_new());
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(byte_row), "Byte mode");
  adw_action_row_set_subtitle(byte_row, "every byte is a token (V = 256), for enwik8-style data");
  d->byte_switch = gtk_switch_new();
  g_signal_connect_swapped(d->byte_switch, "notify::active", G_CALLBACK(forget_corpus_error), d);
  gtk_widget_set_valign(d->byte_switch, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text(d->byte_switch, "Read the corpus as raw bytes instead of characters");
  spn_set_accessible_label(d->byte_switch, "Byte mode");
  adw_action_row_add_suffix(byte_row, d->byte_switch);
  adw_action_row_set_activatable_widget(byte_row, d->byte_switch);
  adw_preferences_group_add(group, GTK_WIDGET(byte_row));
  update_location_row(d);
  return GTK_WIDGET(group);
}

/* ---- presets row ---- */

static void
on_preset_selected(SpnSetupDialog *d)
{
  SpnPreset p = (SpnPreset)adw_combo_row_get_selected(d->preset_row);
  SpnConfig cfg;
  spn_preset_init(p, &cfg);
  spn_setup_dialog_set_config(d, &cfg);
  if (spn_preset_corpus(p))
    spn_setup_dialog_set_corpus(d, spn_preset_corpus(p), FALSE);
}

static GtkWidget *
make_preset_group(SpnSetupDialog *d)
{
  const char *titles[SPN_PRESET_COUNT + 1];
  for (int i = 0; i < SPN_PRESET_COUNT; i++)
    titles[i] = spn_preset_title(i);
  titles[SPN_PRESET_COUNT] = NULL;
  AdwPreferencesGroup *group = ADW_PREFERENCES_GROUP(adw_preferences_group_new());
  adw_preferences_group_set_description(
      group, "A preset fills every field below; change any of them before creating the model.");
  d->preset_row = ADW_COMBO_ROW(adw_combo_row_new());
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(d->preset_row), "Preset");
  adw_combo_row_set_model(d->preset_row, G_LIST_MODEL(gtk_string_list_new(titles)));
  GString *tip = g_string_new(NULL);
  for (int i = 0; i < SPN_PRESET_COUNT; i++)
    g_string_append_printf(tip, "%s%s: %s.", i ? " " : "", spn_preset_title(i),
                           spn_preset_about(i));
  gtk_widget_set_tooltip_text(GTK_WIDGET(d->preset_row), tip->str);
  g_string_free(tip, TRUE);
  spn_set_accessible_label(GTK_WIDGET(d->preset_row), "Preset");
  g_signal_connect_swapped(d->preset_row, "notify::selected", G_CALLBACK(on_preset_selected), d);
  adw_preferences_group_add(group, GTK_WIDGET(d->preset_row));
  d->cost_row = ADW_ACTION_ROW(adw_action_row_new());
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(d->cost_row), "Size and speed");
  adw_action_row_set_subtitle_lines(d->cost_row, 0);
  gtk_widget_set_tooltip_text(GTK_WIDGET(d->cost_row),
                              "Seconds per step: the model's FLOPs per step over the rate this "
                              "machine reached training a model (bench/step_estimate says how "
                              "close that comes)");
  adw_preferences_group_add(group, GTK_WIDGET(d->cost_row));
  return GTK_WIDGET(group);
}

/* ---- size and speed ---- */

static char *
format_seconds(double s)
{
  if (s < 0.01)
    return g_strdup_printf("%.2f ms", s * 1e3);
  if (s < 1)
    return g_strdup_printf("%.0f ms", s * 1e3);
  return g_strdup_printf(s < 10 ? "%.1f s" : "%.0f s", s);
}

/* "1.23 M parameters · ≈ 210 ms per step at first, ≈ 1.4 s once every span reaches S, from the
 * speed this machine trained a model at". The vocabulary is the corpus's: 256
 * bytes in byte mode, the current run's on its corpus, else assumed like it. */
static void
update_cost(SpnSetupDialog *d, const SpnConfig *valid)
{
  if (d->cost_row == NULL || d->byte_switch == NULL)
    return;
  if (valid == NULL) {
    d->parameters = 0;
    d->step_seconds = 0;
    adw_action_row_set_subtitle(d->cost_row, "—");
    return;
  }
  SpnConfig c = *valid;
  gboolean bytes = gtk_switch_get_active(GTK_SWITCH(d->byte_switch));
  gboolean same = g_strcmp0(spn_setup_dialog_get_corpus(d), d->run_corpus) == 0;
  c.vocab_size = bytes ? 256 : d->run_vocab > 0 ? d->run_vocab : 256;
  const char *about_v = bytes || (same && d->run_vocab > 0) ? "" : " (vocabulary as the run's)";
  d->parameters = spn_cost_parameters(&c);
  double flops = spn_cost_step_flops(&c, NULL), work = spn_cost_step_work(&c, NULL);
  GString *t = g_string_new(NULL);
  if (d->parameters >= 1000000)
    g_string_append_printf(t, "%.2f M parameters%s · ", d->parameters / 1e6, about_v);
  else
    g_string_append_printf(t, "%'" G_GINT64_FORMAT " parameters%s · ", d->parameters, about_v);
  d->step_seconds = d->flops_per_s > 0 ? work / d->flops_per_s : 0;
  if (d->step_seconds > 0) {
    g_autofree char *first = format_seconds(d->step_seconds);
    g_string_append_printf(t, "≈ %s per step", first);
    if (c.adapt_span && c.adapt_span_init < 1.0) {
      SpnConfig full = c;
      full.adapt_span_init = 1.0;
      g_autofree char *most = format_seconds(spn_cost_step_work(&full, NULL) / d->flops_per_s);
      g_string_append_printf(t, " at first, ≈ %s once every span reaches S", most);
    }
    g_string_append(t, ", from the speed this machine trained a model at");
  } else {
    g_string_append_printf(t, "%.1f GFLOP per step; seconds per step are known once a model "
                              "has trained a few steps on this machine", flops / 1e9);
  }
  adw_action_row_set_subtitle(d->cost_row, t->str);
  g_string_free(t, TRUE);
}

/* ---- validation ---- */

static gboolean
check_corpus(SpnSetupDialog *d, GError **error)
{
  CorpusKind k = corpus_kind(d);
  if ((k == CORPUS_FILE || k == CORPUS_FOLDER) && d->paths[k] == NULL) {
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_IO,
                "Choose the corpus %s (or pick another corpus)",
                k == CORPUS_FILE ? "text file" : "folder");
    return FALSE;
  }
  return TRUE;
}

static const char *
text_of(SpnSetupDialog *d, gsize offset)
{
  for (guint i = 0; i < n_fields; i++)
    if (fields[i].offset == offset && d->inputs[i] != NULL)
      return gtk_editable_get_text(GTK_EDITABLE(d->inputs[i]));
  return "";
}

/* Rows that mean nothing in the current settings are greyed out: the span options without the
 * adaptive span, the feed-forward size with persistent memory. */
static void
update_dependent_rows(SpnSetupDialog *d)
{
  gboolean adaptive = FALSE;
  for (guint i = 0; i < n_fields; i++)
    if (fields[i].offset == offsetof(SpnConfig, adapt_span))
      adaptive = gtk_switch_get_active(GTK_SWITCH(d->inputs[i]));
  gint64 n = 0;
  g_ascii_string_to_signed(text_of(d, offsetof(SpnConfig, pers_mem_size)), 10, 0, G_MAXINT, &n,
                           NULL);
  for (guint i = 0; i < n_fields; i++) {
    gboolean meaningful = !((fields[i].flags & SPN_FIELD_SPAN_ONLY) && !adaptive) &&
                          !((fields[i].flags & SPN_FIELD_FF_ONLY) && n > 0);
    if (d->rows[i] != NULL)
      gtk_widget_set_sensitive(d->rows[i], meaningful);
  }
}

static void
revalidate(SpnSetupDialog *d)
{
  if (d->filling || d->create_button == NULL)
    return;
  update_dependent_rows(d);
  g_autoptr(GError) error = NULL;
  SpnConfig cfg;
  g_clear_pointer(&d->problem, g_free);
  gboolean valid = spn_setup_dialog_get_config(d, &cfg, &error);
  update_cost(d, valid ? &cfg : NULL);
  if (!valid || !check_corpus(d, &error))
    d->problem = g_strdup(error->message);
  gtk_label_set_text(GTK_LABEL(d->problem_label), d->problem ? d->problem : "");
  gtk_widget_set_visible(d->problem_label, d->problem != NULL);
  gtk_widget_set_sensitive(d->create_button, d->problem == NULL && !d->busy);
}

/* ---- the window ---- */

static void
on_create_clicked(SpnSetupDialog *d)
{
  revalidate(d);
  if (d->problem == NULL && !d->busy)
    g_signal_emit(d, signals[SIGNAL_CREATE], 0);
}

static GtkWidget *
make_header(SpnSetupDialog *d)
{
  GtkWidget *header = adw_header_bar_new();
  adw_header_bar_set_show_end_title_buttons(ADW_HEADER_BAR(header), FALSE);
  adw_header_bar_set_title_widget(ADW_HEADER_BAR(header),
                                  adw_window_title_new("New Model", "replaces the current run"));
  GtkWidget *cancel = gtk_button_new_with_mnemonic("_Cancel");
  gtk_widget_set_tooltip_text(cancel, "Close without changing the current model");
  spn_set_accessible_label(cancel, "Cancel");
  g_signal_connect_swapped(cancel, "clicked", G_CALLBACK(gtk_window_close), d);
  adw_header_bar_pack_start(ADW_HEADER_BAR(header), cancel);
  d->create_button = gtk_button_new_with_mnemonic("C_reate");
  gtk_widget_add_css_class(d->create_button, "suggested-action");
  gtk_widget_set_tooltip_text(d->create_button, "Create this model and make it ready to train");
  spn_set_accessible_label(d->create_button, "Create the model");
  g_signal_connect_swapped(d->create_button, "clicked", G_CALLBACK(on_create_clicked), d);
  adw_header_bar_pack_end(ADW_HEADER_BAR(header), d->create_button);
  return header;
}

static GtkWidget *
make_problem_label(SpnSetupDialog *d)
{
  d->problem_label = gtk_label_new(NULL);
  gtk_label_set_wrap(GTK_LABEL(d->problem_label), TRUE);
  gtk_label_set_xalign(GTK_LABEL(d->problem_label), 0.0);
  gtk_widget_add_css_class(d->problem_label, "error");
  gtk_widget_set_margin_start(d->problem_label, 18);
  gtk_widget_set_margin_end(d->problem_label, 18);
  gtk_widget_set_margin_top(d->problem_label, 8);
  gtk_widget_set_margin_bottom(d->problem_label, 8);
  gtk_widget_set_visible(d->problem_label, FALSE);
  return d->problem_label;
}

static void
add_escape_closes(GtkWidget *window)
{
  GtkEventController *keys = gtk_shortcut_controller_new();
  gtk_shortcut_controller_add_shortcut(
      GTK_SHORTCUT_CONTROLLER(keys),
      gtk_shortcut_new(gtk_keyval_trigger_new(GDK_KEY_Escape, 0),
                       gtk_named_action_new("window.close")));
  gtk_widget_add_controller(window, keys);
}

static void
spn_setup_dialog_init(SpnSetupDialog *d)
{
  d->inputs = g_new0(GtkWidget *, n_fields);
  d->rows = g_new0(GtkWidget *, n_fields);
  gtk_window_set_title(GTK_WINDOW(d), "New Model");
  gtk_window_set_default_size(GTK_WINDOW(d), 560, 720);
  gtk_window_set_modal(GTK_WINDOW(d), TRUE);
  gtk_window_set_destroy_with_parent(GTK_WINDOW(d), TRUE);
  GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *header = make_header(d);
  gtk_box_append(GTK_BOX(box), header);
  gtk_box_append(GTK_BOX(box), make_problem_label(d));
  AdwPreferencesPage *page = ADW_PREFERENCES_PAGE(adw_preferences_page_new());
  gtk_widget_set_vexpand(GTK_WIDGET(page), TRUE);
  adw_preferences_page_add(page, ADW_PREFERENCES_GROUP(make_preset_group(d)));
  adw_preferences_page_add(page, ADW_PREFERENCES_GROUP(make_corpus_group(d)));
  make_option_groups(d, page);
  gtk_box_append(GTK_BOX(box), GTK_WIDGET(page));
  adw_window_set_content(ADW_WINDOW(d), box);
  add_escape_closes(GTK_WIDGET(d));
  on_preset_selected(d);
}

static void
spn_setup_dialog_finalize(GObject *object)
{
  SpnSetupDialog *d = SPN_SETUP_DIALOG(object);
  for (guint i = 0; i < G_N_ELEMENTS(d->paths); i++)
    g_free(d->paths[i]);
  g_free(d->problem);
  g_free(d->corpus_error);
  g_free(d->run_corpus);
  g_free(d->inputs);
  g_free(d->rows);
  G_OBJECT_CLASS(spn_setup_dialog_parent_class)->finalize(object);
}

static void
spn_setup_dialog_class_init(SpnSetupDialogClass *klass)
{
  fields = spn_config_fields(&n_fields);
  G_OBJECT_CLASS(klass)->finalize = spn_setup_dialog_finalize;
  signals[SIGNAL_CREATE] = g_signal_new("create", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                        NULL, NULL, NULL, G_TYPE_NONE, 0);
}

/* ---- public ---- */

SpnSetupDialog *
spn_setup_dialog_new(GtkWindow *parent)
{
  return g_object_new(SPN_TYPE_SETUP_DIALOG, "transient-for", parent, NULL);
}

void
spn_setup_dialog_set_config(SpnSetupDialog *d, const SpnConfig *cfg)
{
  d->filling = TRUE;
  for (guint i = 0; i < n_fields; i++)
    field_write(d, i, cfg);
  d->filling = FALSE;
  revalidate(d);
}

void
spn_setup_dialog_set_corpus(SpnSetupDialog *d, const char *corpus, gboolean byte_mode)
{
  CorpusKind k = CORPUS_BUNDLED;
  if (g_strcmp0(corpus, SPN_DEMO_SOURCE) == 0)
    k = CORPUS_DEMO;
  else if (g_strcmp0(corpus, SPN_LONG_DEMO_SOURCE) == 0)
    k = CORPUS_LONG_DEMO;
  else if (corpus && g_strcmp0(corpus, SPN_BUNDLED_SOURCE) != 0) {
    k = g_file_test(corpus, G_FILE_TEST_IS_DIR) ? CORPUS_FOLDER : CORPUS_FILE;
    g_free(d->paths[k]);
    d->paths[k] = g_strdup(corpus);
  }
  d->filling = TRUE;
  adw_combo_row_set_selected(d->corpus_row, k);
  gtk_switch_set_active(GTK_SWITCH(d->byte_switch), byte_mode);
  d->filling = FALSE;
  g_clear_pointer(&d->corpus_error, g_free);
  update_location_row(d);
  revalidate(d);
}

gboolean
spn_setup_dialog_get_config(SpnSetupDialog *d, SpnConfig *cfg, GError **error)
{
  spn_config_init_desktop(cfg);
  for (guint i = 0; i < n_fields; i++)
    if (!field_read(d, i, cfg, error))
      return FALSE;
  /* The corpus sets the vocabulary when the model is made; a size in range lets every other
   * check run now. */
  cfg->vocab_size = 256;
  gboolean ok = spn_config_validate(cfg, error);
  cfg->vocab_size = 0;
  return ok;
}

const char *
spn_setup_dialog_get_corpus(SpnSetupDialog *d)
{
  CorpusKind k = corpus_kind(d);
  switch (k) {
  case CORPUS_DEMO: return SPN_DEMO_SOURCE;
  case CORPUS_LONG_DEMO: return SPN_LONG_DEMO_SOURCE;
  case CORPUS_FILE:
  case CORPUS_FOLDER: return d->paths[k] ? d->paths[k] : SPN_BUNDLED_SOURCE;
  case CORPUS_BUNDLED:
  default: return SPN_BUNDLED_SOURCE;
  }
}

void
spn_setup_dialog_get_corpus_options(SpnSetupDialog *d, SpnCorpusOptions *opts)
{
  *opts = (SpnCorpusOptions){.byte_mode = gtk_switch_get_active(GTK_SWITCH(d->byte_switch))};
}

const char *
spn_setup_dialog_get_problem(SpnSetupDialog *d)
{
  return d->problem;
}

void
spn_setup_dialog_set_busy(SpnSetupDialog *d, gboolean busy)
{
  d->busy = busy;
  gtk_button_set_label(GTK_BUTTON(d->create_button), busy ? "Creating…" : "C_reate");
  gtk_button_set_use_underline(GTK_BUTTON(d->create_button), TRUE);
  revalidate(d);
}

/* The corpus's errors (a file that cannot be read, is not text, or is smaller than a block) go
 * on the corpus row; the others above the settings, as validation's do. */
void
spn_setup_dialog_show_error(SpnSetupDialog *d, const GError *error)
{
  spn_setup_dialog_set_busy(d, FALSE);
  if (error->domain == SPN_CORPUS_ERROR) {
    g_free(d->corpus_error);
    d->corpus_error = g_strdup(error->message);
    update_location_row(d);
    return;
  }
  gtk_label_set_text(GTK_LABEL(d->problem_label), error->message);
  gtk_widget_set_visible(d->problem_label, TRUE);
}

const char *
spn_setup_dialog_get_corpus_error(SpnSetupDialog *d)
{
  return d->corpus_error;
}

void
spn_setup_dialog_set_preset(SpnSetupDialog *d, SpnPreset preset)
{
  if (adw_combo_row_get_selected(d->preset_row) == (guint)preset)
    on_preset_selected(d);
  else
    adw_combo_row_set_selected(d->preset_row, preset);
}

SpnPreset
spn_setup_dialog_get_preset(SpnSetupDialog *d)
{
  return (SpnPreset)adw_combo_row_get_selected(d->preset_row);
}

void
spn_setup_dialog_set_machine(SpnSetupDialog *d, double flops_per_s, const char *run_corpus,
                             int run_vocab)
{
  d->flops_per_s = isfinite(flops_per_s) && flops_per_s > 0 ? flops_per_s : 0;
  g_free(d->run_corpus);
  d->run_corpus = g_strdup(run_corpus);
  d->run_vocab = run_vocab;
  revalidate(d);
}

void
spn_setup_dialog_get_cost(SpnSetupDialog *d, gint64 *parameters, double *step_seconds)
{
  *parameters = d->parameters;
  *step_seconds = d->step_seconds;
}
