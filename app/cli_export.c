/* cli_export.c — `spanscope-cli export`: loads a checkpoint, lets the model read a text when a
 * figure needs it, and writes the figures through the same drawing code as the window. */
#include "cli_export.h"

#include <string.h>

#include "cli_common.h"
#include "colormap.h"
#include "figures.h"
#include "parallel.h"
#include "probe.h"
#include "snapshot.h"

typedef struct {
  char *checkpoint, *figure, *text, *text_file, *colormap, *output;
  int layer, head, max_chars, threads;
  gboolean log, linear_color, dark;
  double width, height, scale, font_size;
} ExportArgs;

static const SpnConfigField export_rows[] = {
  SPN_CLI_ROW("max-chars", ExportArgs, max_chars, SPN_FIELD_INT, 1, 20000,
              "Read at most the first N characters of the text", "N"),
  SPN_CLI_ROW("layer", ExportArgs, layer, SPN_FIELD_INT, 0, 63, "Layer of masks and attention",
              "L"),
  SPN_CLI_ROW("head", ExportArgs, head, SPN_FIELD_INT, -1, 255,
              "Attention head, -1 for a grid of all heads; masks: the head emphasised", "H"),
  SPN_CLI_ROW("width", ExportArgs, width, SPN_FIELD_DOUBLE, 16, 32767,
              "Width in pixels (PNG) or points", "W"),
  SPN_CLI_ROW("height", ExportArgs, height, SPN_FIELD_DOUBLE, 16, 32767, "Height", "H"),
  SPN_CLI_ROW("scale", ExportArgs, scale, SPN_FIELD_DOUBLE, 0.01, 16,
              "PNG pixels per unit, e.g. 2 for HiDPI", "S"),
  SPN_CLI_ROW("font-size", ExportArgs, font_size, SPN_FIELD_DOUBLE, 4, 96, "Base font size",
              "PT"),
};
static const ExportArgs export_defaults = {.layer = 0, .head = -1, .max_chars = 600,
                                           .width = 1200, .height = 750, .scale = 1,
                                           .font_size = 11};

static void
export_args_clear(ExportArgs *a)
{
  g_free(a->checkpoint);
  g_free(a->figure);
  g_free(a->text);
  g_free(a->text_file);
  g_free(a->colormap);
  g_free(a->output);
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
      GString *names = g_string_new(NULL);
      for (int k = 0; k < SPN_FIGURE_COUNT; k++)
        g_string_append_printf(names, "%s%s", k ? ", " : "", spn_figure_name((SpnFigureKind)k));
      spn_cli_usage_error("--figure %s: unknown figure; expected %s (several separated by commas)",
                          name, names->str);
      g_string_free(names, TRUE);
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
    if (kinds[i] == SPN_FIGURE_ATTENTION || kinds[i] == SPN_FIGURE_MASKS)
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

static gint64
checkpoint_step(const SpnCheckpoint *ck, const SpnHistory *h)
{
  if (ck->optim)
    return ck->optim->step;
  return h->n > 0 ? spn_history_step(h, h->n - 1) : 0;
}

/* snapshot of the checkpoint: spans, history (empty when absent or unreadable) and probe */
static SpnSnapshot *
build_snapshot(SpnCheckpoint *ck, const char *path, char *text, SpnProbe *probe)
{
  const SpnConfig *c = &ck->model->cfg;
  SpnSnapshot *s = spn_snapshot_new(c);
  spn_model_spans(ck->model, s->spans);
  if (ck->history) {
    spn_history_unref(s->history);
    s->history = g_steal_pointer(&ck->history);
  } else if (ck->history_error)
    g_printerr("spanscope-cli export: training history skipped: %s\n", ck->history_error->message);
  s->step = checkpoint_step(ck, s->history);
  s->corpus = g_path_get_basename(path);
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
    {"checkpoint", 0, 0, G_OPTION_ARG_FILENAME, &a->checkpoint, "Model to draw", "PATH"},
    {"figure", 0, 0, G_OPTION_ARG_STRING, &a->figure,
     "spans, history, masks, attention or curves; a comma list draws them side by side", "NAMES"},
    {"text", 0, 0, G_OPTION_ARG_STRING, &a->text,
     "Text for the model to read (attention, masks; default: a passage of the checkpoint's "
     "corpus that it did not train on)", "TEXT"},
    {"text-file", 0, 0, G_OPTION_ARG_FILENAME, &a->text_file, "Read that text from a file", "PATH"},
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
                         "or training curves of a checkpoint to PNG, SVG or PDF, without a "
                         "display.", sets, G_N_ELEMENTS(sets), e, NULL);
}

static gboolean
parse_args(ExportArgs *a, int *argc, char ***argv)
{
  g_autoptr(GOptionContext) ctx = export_context(a);
  if (!spn_cli_parse(ctx, argc, argv))
    return FALSE;
  if (a->checkpoint == NULL || a->figure == NULL || a->output == NULL) {
    spn_cli_usage_error("--checkpoint, --figure and --output are required (see --help)");
    return FALSE;
  }
  if (a->text && a->text_file) {
    spn_cli_usage_error("give --text or --text-file, not both");
    return FALSE;
  }
  return TRUE;
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
  g_autofree SpnFigureKind *kinds = NULL;
  int n = 0;
  if (!parse_figures(a.figure, &kinds, &n))
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
  g_autoptr(SpnSnapshot) s = build_snapshot(ck, a.checkpoint, text, probe);
  spn_checkpoint_free(ck);
  o.dark = a.dark;
  o.log_axis = a.log;
  o.log_color = !a.linear_color;
  o.layer = a.layer;
  o.head = a.head;
  o.font_size = a.font_size;
  g_autofree SpnFigureOptions *each = g_new(SpnFigureOptions, n);
  for (int i = 0; i < n; i++)
    each[i] = o;
  if (!spn_figure_export(a.output, kinds, n, a.width, a.height, a.scale, s, each, &error))
    return spn_cli_fail(error);
  g_print("wrote %s\n", a.output);
  return 0;
}
