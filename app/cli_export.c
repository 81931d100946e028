/* cli_export.c — `spanscope-cli export`: loads a checkpoint, lets the model read a text when a
 * figure needs it, and writes the figures through the same drawing code as the window. */
#include "cli_export.h"

#include <glib/gstdio.h>
#include <string.h>

#include "cli_common.h"
#include "cost.h"
#include "colormap.h"
#include "compare.h"
#include "figures.h"
#include "jsonwrite.h"
#include "parallel.h"
#include "probe.h"
#include "readfile.h"
#include "snapshot.h"
#include "summary.h"

typedef struct {
  char **checkpoints, **labels;
  char *checkpoint; /* the first of checkpoints, borrowed */
  char *figure, *text, *text_file, *colormap, *output, *span_table;
  int layer, head, query, max_chars, threads;
  gboolean log, linear_color, dark, json;
  double width, height, scale, font_size;
} ExportArgs;

static const SpnConfigField export_rows[] = {
  SPN_CLI_ROW("max-chars", ExportArgs, max_chars, SPN_FIELD_INT, 1, 20000,
              "Read at most the first N characters of the text", "N"),
  SPN_CLI_ROW("layer", ExportArgs, layer, SPN_FIELD_INT, 0, 63, "Layer of masks and attention",
              "L"),
  SPN_CLI_ROW("head", ExportArgs, head, SPN_FIELD_INT, -1, 255,
              "Attention head, -1 for a grid of all heads; masks: the head emphasised", "H"),
  SPN_CLI_ROW("query", ExportArgs, query, SPN_FIELD_INT, -1, 19999,
              "Character of the text (from 0) that heads and persistent show, and attention and "
              "distance outline; -1: heads and persistent the last, none outlined", "I"),
  SPN_CLI_ROW("width", ExportArgs, width, SPN_FIELD_DOUBLE, 16, 32767,
              "Width in pixels (PNG) or points", "W"),
  SPN_CLI_ROW("height", ExportArgs, height, SPN_FIELD_DOUBLE, 16, 32767, "Height", "H"),
  SPN_CLI_ROW("scale", ExportArgs, scale, SPN_FIELD_DOUBLE, 0.01, 16,
              "PNG pixels per unit, e.g. 2 for HiDPI", "S"),
  SPN_CLI_ROW("font-size", ExportArgs, font_size, SPN_FIELD_DOUBLE, 4, 96, "Base font size",
              "PT"),
};
static const ExportArgs export_defaults = {.layer = 0, .head = -1, .query = -1,
                                           .max_chars = 600, .width = 1200, .height = 750, .scale = 1,
                                           .font_size = 11};

static void
export_args_clear(ExportArgs *a)
{
  g_strfreev(a->checkpoints);
  g_strfreev(a->labels);
  g_free(a->figure);
  g_free(a->text);
  g_free(a->text_file);
  g_free(a->colormap);
  g_free(a->output);
  g_free(a->span_table);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ExportArgs, export_args_clear)

/* "spans,attention" → kinds; FALSE with a message naming the bad entry */
static gboolean
parse_figures(const char *list, SpnFigureKind **kinds, int *n)
{
  g_auto(GStrv) parts = g_strsplit(list, ",", -1);
  *n = 0;
  *kinds = g_new(SpnFigureKind, g_strv_length(parts) + 1);
  for (int i = 0; parts[i]; i++) {
    char *name = g_strstrip(parts[i]);
    if (*name == '\0')
      continue;
    if (!spn_figure_from_name(name, &(*kinds)[*n])) {
      g_autofree char *names = spn_figure_names();
      spn_cli_usage_error("--figure %s: unknown figure; expected %s (several separated by commas)",
                          name, names);
      return FALSE;
    }
    (*n)++;
  }
  if (*n == 0) {
    spn_cli_usage_error("--figure names no figure");
    return FALSE;
  }
  return TRUE;
}

static gboolean
needs_probe(const SpnFigureKind *kinds, int n)
{
  for (int i = 0; i < n; i++)
    if (kinds[i] == SPN_FIGURE_ATTENTION || kinds[i] == SPN_FIGURE_MASKS ||
        kinds[i] == SPN_FIGURE_DISTANCE || kinds[i] == SPN_FIGURE_HEADS ||
        kinds[i] == SPN_FIGURE_PERSISTENT)
      return TRUE;
  return FALSE;
}

/* at most max_chars characters (bytes for text that is not UTF-8) */
static char *
cut_text(const char *text, gsize len, int max_chars)
{
  if (!g_utf8_validate(text, (gssize)len, NULL))
    return g_strndup(text, MIN(len, (gsize)max_chars));
  if (g_utf8_strlen(text, (gssize)len) <= max_chars)
    return g_strndup(text, len);
  return g_strndup(text, g_utf8_offset_to_pointer(text, max_chars) - text);
}

/* the probe text: --text-file, --text, or when a figure needs one what the window's inspector
 * reads on the checkpoint's corpus */
static gboolean
probe_text(const ExportArgs *a, const SpnCheckpoint *ck, gboolean needed, char **text,
           GError **error)
{
  g_autofree char *contents = NULL;
  gsize len = 0;
  *text = NULL;
  if (a->text_file)
    contents = spn_cli_read_text("--text-file", a->text_file, 64u << 20, &len, error);
  else if (a->text)
    contents = g_strdup(a->text);
  else if (needed && (contents = spn_cli_default_text(ck, a->checkpoint, error)) == NULL)
    g_prefix_error(error, "the attention and masks figures need a text for the model to read; "
                          "give --text or --text-file: ");
  else if (!needed)
    return TRUE;
  if (contents == NULL)
    return FALSE;
  const char *nul = a->text_file ? memchr(contents, '\0', len) : NULL;
  if (nul) { /* the figures read text up to a NUL: refused, rather than cut short unsaid */
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "--text-file %s: a NUL byte at byte %zu; the figures read text without them",
                a->text_file, (size_t)(nul - contents));
    return FALSE;
  }
  if (!a->text_file)
    len = strlen(contents);
  *text = cut_text(contents, len, a->max_chars);
  return TRUE;
}

/* snapshot of the checkpoint: spans, history (empty when absent or unreadable) and probe */
static SpnSnapshot *
build_snapshot(SpnCheckpoint *ck, const char *path, char *text, SpnProbe *probe)
{
  if (ck->history == NULL && ck->history_error)
    g_printerr("spanscope-cli export: %s: training history skipped: %s\n", path,
               ck->history_error->message);
  g_autofree char *name = g_path_get_basename(path);
  SpnSnapshot *s = spn_checkpoint_snapshot(ck, name);
  s->text = text;
  s->probe = probe;
  return s;
}

static gboolean
check_indices(const ExportArgs *a, const SpnConfig *c)
{
  if (a->layer < 0 || a->layer >= c->nlayers) {
    spn_cli_usage_error("--layer %d: the model has layers 0 to %d", a->layer, c->nlayers - 1);
    return FALSE;
  }
  if (a->head < -1 || a->head >= c->nheads) {
    spn_cli_usage_error("--head %d: the model has heads 0 to %d (or -1 for all)", a->head,
                        c->nheads - 1);
    return FALSE;
  }
  return TRUE;
}

static GOptionContext *
export_context(ExportArgs *a)
{
  SpnOptionRows sets[] = {{export_rows, G_N_ELEMENTS(export_rows), a, &export_defaults},
                          spn_cli_threads_rows(&a->threads)};
  GOptionEntry e[] = {
    {"checkpoint", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &a->checkpoints,
     "Model to draw; given several times, the runs side by side", "PATH"},
    {"label", 0, 0, G_OPTION_ARG_STRING_ARRAY, &a->labels,
     "Name of the run of the checkpoint given in the same place (default: its file name)",
     "NAME"},
    {"figure", 0, 0, G_OPTION_ARG_STRING, &a->figure,
     "spans, history, masks, attention, curves, distance, heads, summary or persistent; a comma "
     "list draws them side by side; with several checkpoints curves, spans or table", "NAMES"},
    {"json", 0, 0, G_OPTION_ARG_NONE, &a->json,
     "With several checkpoints, print each run's numbers (the table) as a JSON line", NULL},
    {"text", 0, 0, G_OPTION_ARG_STRING, &a->text,
     "Text for the model to read (attention, masks, distance, heads, persistent; default: a "
     "passage of the checkpoint's corpus that it did not train on)", "TEXT"},
    {"text-file", 0, 0, G_OPTION_ARG_FILENAME, &a->text_file, "Read that text from a file", "PATH"},
    {"span-table", 0, 0, G_OPTION_ARG_FILENAME, &a->span_table,
     "Also write the span table (layer, head, span, window, attention FLOPs per character) as "
     "CSV; with it --figure and --output may be left out", "FILE"},
    {"log", 0, 0, G_OPTION_ARG_NONE, &a->log,
     "Logarithmic value axes (spans, history, bpc, distance)", NULL},
    {"linear-color", 0, 0, G_OPTION_ARG_NONE, &a->linear_color,
     "Linear colour scale for attention (default logarithmic, like the window)", NULL},
    {"colormap", 0, 0, G_OPTION_ARG_STRING, &a->colormap, "viridis (default) or cividis", "NAME"},
    {"dark", 0, 0, G_OPTION_ARG_NONE, &a->dark, "Light ink on a dark background", NULL},
    {"output", 'o', 0, G_OPTION_ARG_FILENAME, &a->output, "File to write: .png, .svg or .pdf",
     "FILE"},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  return spn_cli_context("- draw figures of a checkpoint into a file",
                         "Writes the learned spans, span history, soft masks, attention heatmaps "
                         "(by position or by distance), every head at once, the span summary, "
                         "persistent memory or training curves of a checkpoint to PNG, SVG or "
                         "PDF, without a display; with several checkpoints, their training "
                         "curves, spans and numbers side by side.", sets, G_N_ELEMENTS(sets), e,
                         NULL);
}

static gboolean
parse_args(ExportArgs *a, int *argc, char ***argv)
{
  g_autoptr(GOptionContext) ctx = export_context(a);
  if (!spn_cli_parse(ctx, argc, argv))
    return FALSE;
  a->checkpoint = a->checkpoints ? a->checkpoints[0] : NULL;
  if (a->checkpoint == NULL || (a->figure == NULL) != (a->output == NULL) ||
      (a->figure == NULL && a->span_table == NULL)) {
    spn_cli_usage_error("--checkpoint, --figure and --output are required, or --checkpoint and "
                        "--span-table (see --help)");
    return FALSE;
  }
  if (a->span_table && g_strv_length(a->checkpoints) > 1) {
    spn_cli_usage_error("--span-table takes one --checkpoint");
    return FALSE;
  }
  if (a->text && a->text_file) {
    spn_cli_usage_error("give --text or --text-file, not both");
    return FALSE;
  }
  guint n_runs = g_strv_length(a->checkpoints);
  if (a->labels && g_strv_length(a->labels) > n_runs) {
    spn_cli_usage_error("%u --label for %u --checkpoint: give at most one label per checkpoint",
                        g_strv_length(a->labels), n_runs);
    return FALSE;
  }
  if (n_runs > 1 && (a->text || a->text_file)) {
    spn_cli_usage_error("--text and --text-file are for one checkpoint; several are compared by "
                        "their curves, spans and table");
    return FALSE;
  }
  return TRUE;
}

/* "curves,spans" → comparison figures; FALSE with a message naming the bad entry */
static gboolean
parse_compare_figures(const char *list, SpnCompareKind **kinds, int *n)
{
  g_auto(GStrv) parts = g_strsplit(list, ",", -1);
  *n = 0;
  *kinds = g_new(SpnCompareKind, g_strv_length(parts) + 1);
  for (int i = 0; parts[i]; i++) {
    char *name = g_strstrip(parts[i]);
    if (*name == '\0')
      continue;
    if (!spn_compare_from_name(name, &(*kinds)[*n])) {
      spn_cli_usage_error("--figure %s: several checkpoints are compared by curves, spans or "
                          "table (several separated by commas)", name);
      return FALSE;
    }
    (*n)++;
  }
  if (*n == 0) {
    spn_cli_usage_error("--figure names no figure");
    return FALSE;
  }
  return TRUE;
}

/* One run's numbers (the table's) as a JSON line; null for what it has not measured. */
static void
print_run_json(const SpnCompareRun *run, const char *path)
{
  SpnRunSummary m;
  spn_run_summary(run->snapshot, &m);
  g_autoptr(GString) s = g_string_new("{");
  spn_json_key(s, "label", TRUE);
  spn_json_string(s, run->label, -1);
  spn_json_key(s, "checkpoint", FALSE);
  spn_json_string(s, path, -1);
  g_string_append_printf(s, ",\"step\":%" G_GINT64_FORMAT ",\"params\":%" G_GSIZE_FORMAT
                         ",\"best_val_step\":%" G_GINT64_FORMAT, m.step, m.params,
                         m.best_valid_step);
  const struct {
    const char *key;
    double v;
  } numbers[] = {
    {"chars", m.chars}, {"final_val_bpc", m.final_valid}, {"best_val_bpc", m.best_valid},
    {"final_train_bpc", m.final_train}, {"span_mean", m.span_mean}, {"span_max", m.span_max},
    {"flops_per_char", m.flops_per_char}, {"flops_per_char_full_span", m.flops_per_char_full},
    {"train_flops", m.train_flops},
  };
  for (guint i = 0; i < G_N_ELEMENTS(numbers); i++) {
    spn_json_key(s, numbers[i].key, FALSE);
    spn_json_number(s, numbers[i].v, i == 0 ? 15 : 7);
  }
  g_string_append(s, "}\n");
  g_print("%s", s->str);
}

/* Several checkpoints: their snapshots side by side in the comparison figures. */
static int
export_comparison(const ExportArgs *a, const SpnFigureOptions *o)
{
  g_autofree SpnCompareKind *kinds = NULL;
  int n_kinds = 0;
  if (!parse_compare_figures(a->figure, &kinds, &n_kinds))
    return 2;
  int n = (int)g_strv_length(a->checkpoints), status = 0;
  guint n_labels = a->labels ? g_strv_length(a->labels) : 0;
  SpnSnapshot **snaps = g_new0(SpnSnapshot *, n);
  SpnCompareRun *runs = g_new0(SpnCompareRun, n);
  char **names = g_new0(char *, n + 1);
  GError *error = NULL;
  for (int i = 0; i < n && status == 0; i++) {
    SpnCheckpoint *ck = spn_cli_open_checkpoint(a->checkpoints[i], &error);
    if (ck == NULL) {
      status = spn_cli_fail(error);
      break;
    }
    snaps[i] = build_snapshot(ck, a->checkpoints[i], NULL, NULL);
    spn_checkpoint_free(ck);
    names[i] = (guint)i < n_labels ? g_strdup(a->labels[i])
                                   : g_path_get_basename(a->checkpoints[i]);
    runs[i] = (SpnCompareRun){snaps[i], names[i]};
  }
  if (status == 0 && !spn_compare_export(a->output, kinds, n_kinds, a->width, a->height, a->scale,
                                         runs, n, o, &error))
    status = spn_cli_fail(error);
  if (status == 0 && a->json)
    for (int i = 0; i < n; i++)
      print_run_json(&runs[i], a->checkpoints[i]);
  if (status == 0 && !a->json)
    g_print("wrote %s\n", a->output);
  for (int i = 0; i < n; i++)
    if (snaps[i])
      spn_snapshot_unref(snaps[i]);
  g_free(snaps);
  g_free(runs);
  g_strfreev(names);
  return status;
}

int
spn_cli_export(int argc, char **argv)
{
  g_auto(ExportArgs) a = export_defaults;
  if (!parse_args(&a, &argc, &argv))
    return 2;
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  if (a.colormap && !spn_colormap_from_name(a.colormap, &o.colormap))
    return spn_cli_usage_error("--colormap %s: expected viridis or cividis", a.colormap);
  if (g_strv_length(a.checkpoints) > 1) {
    o.dark = a.dark;
    o.log_axis = a.log;
    o.font_size = a.font_size;
    spn_threads_init(a.threads);
    return export_comparison(&a, &o);
  }
  g_autofree SpnFigureKind *kinds = NULL;
  int n = 0;
  if (a.figure != NULL && !parse_figures(a.figure, &kinds, &n))
    return 2;
  spn_threads_init(a.threads);
  GError *error = NULL;
  SpnCheckpoint *ck = spn_cli_open_checkpoint(a.checkpoint, &error);
  if (ck == NULL)
    return spn_cli_fail(error);
  if (!check_indices(&a, &ck->model->cfg)) {
    spn_checkpoint_free(ck);
    return 2;
  }
  if (a.span_table != NULL) {
    g_autofree float *spans = g_new(float, ck->model->cfg.nlayers * ck->model->cfg.nheads);
    spn_model_spans(ck->model, spans);
    /* written over a regular file only: never a pipe, device or folder */
    GStatBuf sb;
    if (g_stat(a.span_table, &sb) == 0 && !S_ISREG(sb.st_mode)) {
      spn_checkpoint_free(ck);
      return spn_cli_usage_error("--span-table %s: is %s, expected a regular file or a new one",
                                 a.span_table, spn_file_kind(sb.st_mode));
    }
    if (!spn_span_table_write_csv(&ck->model->cfg, spans, a.span_table, &error)) {
      spn_checkpoint_free(ck);
      return spn_cli_fail(error);
    }
    g_print("wrote %s\n", a.span_table);
  }
  if (n == 0) {
    spn_checkpoint_free(ck);
    return 0;
  }
  char *text = NULL;
  SpnProbe *probe = NULL;
  if (!probe_text(&a, ck, needs_probe(kinds, n), &text, &error) ||
      (text && (probe = spn_probe_run(ck->model, ck->vocab, text, &error)) == NULL)) {
    if (text && a.text_file)
      g_prefix_error(&error, "--text-file %s: ", a.text_file);
    g_free(text);
    spn_checkpoint_free(ck);
    return spn_cli_fail(error);
  }
  int n_chars = probe ? probe->n : 0;
  if (a.query < -1 || a.query >= n_chars) {
    spn_checkpoint_free(ck);
    spn_probe_unref(probe);
    g_free(text);
    if (n_chars == 0)
      return spn_cli_usage_error("--query %d: no figure asked for reads a text", a.query);
    return spn_cli_usage_error("--query %d: the text read has characters 0 to %d (or -1)", a.query,
                       n_chars - 1);
  }
  g_autoptr(SpnSnapshot) s = build_snapshot(ck, a.checkpoint, text, probe);
  spn_checkpoint_free(ck);
  o.dark = a.dark;
  o.log_axis = a.log;
  o.log_color = !a.linear_color;
  o.layer = a.layer;
  o.head = a.head;
  o.query = a.query;
  o.font_size = a.font_size;
  g_autofree SpnFigureOptions *each = g_new(SpnFigureOptions, n);
  for (int i = 0; i < n; i++)
    each[i] = o;
  if (!spn_figure_export(a.output, kinds, n, a.width, a.height, a.scale, s, each, &error))
    return spn_cli_fail(error);
  g_print("wrote %s\n", a.output);
  return 0;
}
