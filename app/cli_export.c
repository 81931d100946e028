/* cli_export.c — `spanscope-cli export`: loads a checkpoint, lets the model read a text when a
 * figure needs it, and writes the figures through the same drawing code as the window. */
#include "cli_export.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "checkpoint.h"
#include "colormap.h"
#include "figures.h"
#include "parallel.h"
#include "probe.h"
#include "snapshot.h"

typedef struct {
  char *checkpoint, *figure, *text, *text_file, *colormap, *output;
  int layer, head, max_chars;
  gboolean log, linear_color, dark;
  double width, height, scale, font_size;
} ExportArgs;

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

static int
usage_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static int
usage_error(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_printerr("spanscope-cli export: %s\n", msg);
  return 2;
}

static int
fail(GError *error)
{
  g_printerr("spanscope-cli export: %s\n", error->message);
  g_error_free(error);
  return 1;
}

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
      usage_error("--figure %s: unknown figure; expected %s (several separated by commas)", name,
                  names->str);
      g_string_free(names, TRUE);
      return FALSE;
    }
    (*n)++;
  }
  if (*n == 0) {
    usage_error("--figure names no figure");
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

/* the default passage, if every character of it is in the vocabulary */
static gboolean
vocab_knows(const SpnVocab *vocab, const char *text)
{
  gsize n = 0;
  g_autofree gint32 *ids = spn_vocab_encode(vocab, text, -1, &n, NULL, NULL);
  if (ids == NULL)
    return FALSE;
  for (gsize i = 0; vocab->kind == SPN_VOCAB_CHARS && i < n; i++)
    if (ids[i] == 0)
      return FALSE;
  return TRUE;
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

/* the probe text: --text-file, --text, or the default passage when a figure needs one */
static gboolean
probe_text(const ExportArgs *a, const SpnCheckpoint *ck, gboolean needed, char **text,
           GError **error)
{
  const SpnVocab *vocab = ck->vocab;
  *text = NULL;
  if (a->text_file) {
    g_autofree char *contents = NULL;
    gsize len = 0;
    if (!g_file_get_contents(a->text_file, &contents, &len, error))
      return FALSE;
    *text = cut_text(contents, len, a->max_chars);
  } else if (a->text) {
    *text = cut_text(a->text, strlen(a->text), a->max_chars);
  } else if (needed) {
    /* what the window's inspector reads on the checkpoint's corpus */
    g_autofree char *corpus = spn_checkpoint_corpus(ck);
    const char *passage = spn_corpus_default_passage(corpus);
    if (!vocab_knows(vocab, passage)) {
      g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                  "the attention and masks figures need a text for the model to read, and its "
                  "vocabulary cannot encode the default passage: give --text or --text-file");
      return FALSE;
    }
    *text = g_strdup(passage);
  }
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
    usage_error("--layer %d: the model has layers 0 to %d", a->layer, c->nlayers - 1);
    return FALSE;
  }
  if (a->head < -1 || a->head >= c->nheads) {
    usage_error("--head %d: the model has heads 0 to %d (or -1 for all)", a->head, c->nheads - 1);
    return FALSE;
  }
  return TRUE;
}

static GOptionContext *
export_context(ExportArgs *a)
{
  GOptionEntry e[] = {
    {"checkpoint", 0, 0, G_OPTION_ARG_FILENAME, &a->checkpoint, "Model to draw", "PATH"},
    {"figure", 0, 0, G_OPTION_ARG_STRING, &a->figure,
     "spans, history, masks, attention or curves; a comma list draws them side by side", "NAMES"},
    {"text", 0, 0, G_OPTION_ARG_STRING, &a->text, "Text for the model to read (attention, masks)",
     "TEXT"},
    {"text-file", 0, 0, G_OPTION_ARG_FILENAME, &a->text_file, "Read that text from a file", "PATH"},
    {"max-chars", 0, 0, G_OPTION_ARG_INT, &a->max_chars,
     "Read at most the first N characters of the text (default 600)", "N"},
    {"layer", 0, 0, G_OPTION_ARG_INT, &a->layer, "Layer of masks and attention (default 0)", "L"},
    {"head", 0, 0, G_OPTION_ARG_INT, &a->head,
     "Attention head, -1 for a grid of all heads (default); masks: the head emphasised", "H"},
    {"log", 0, 0, G_OPTION_ARG_NONE, &a->log, "Logarithmic value axes (spans, history, bpc, distance)",
     NULL},
    {"linear-color", 0, 0, G_OPTION_ARG_NONE, &a->linear_color,
     "Linear colour scale for attention (default logarithmic, like the window)", NULL},
    {"colormap", 0, 0, G_OPTION_ARG_STRING, &a->colormap, "viridis (default) or cividis", "NAME"},
    {"dark", 0, 0, G_OPTION_ARG_NONE, &a->dark, "Light ink on a dark background", NULL},
    {"output", 'o', 0, G_OPTION_ARG_FILENAME, &a->output, "File to write: .png, .svg or .pdf",
     "FILE"},
    {"width", 0, 0, G_OPTION_ARG_DOUBLE, &a->width, "Width in pixels (PNG) or points (default 1200)",
     "W"},
    {"height", 0, 0, G_OPTION_ARG_DOUBLE, &a->height, "Height (default 750)", "H"},
    {"scale", 0, 0, G_OPTION_ARG_DOUBLE, &a->scale, "PNG pixels per unit, e.g. 2 for HiDPI (default 1)",
     "S"},
    {"font-size", 0, 0, G_OPTION_ARG_DOUBLE, &a->font_size, "Base font size (default 11)", "PT"},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  GOptionContext *ctx = g_option_context_new("- draw figures of a checkpoint into a file");
  g_option_context_set_summary(ctx, "Writes the learned spans, span history, soft masks, attention "
                                    "heatmaps or training curves of a checkpoint to PNG, SVG or "
                                    "PDF, without a display.");
  g_option_context_add_main_entries(ctx, e, NULL);
  return ctx;
}

static gboolean
parse_args(ExportArgs *a, int *argc, char ***argv)
{
  g_autoptr(GOptionContext) ctx = export_context(a);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, argc, argv, &error)) {
    usage_error("%s", error->message);
    return FALSE;
  }
  if (*argc > 1) {
    usage_error("unexpected argument \"%s\" (see --help)", (*argv)[1]);
    return FALSE;
  }
  if (a->checkpoint == NULL || a->figure == NULL || a->output == NULL) {
    usage_error("--checkpoint, --figure and --output are required (see --help)");
    return FALSE;
  }
  if (!(a->width >= 16 && a->height >= 16 && a->scale > 0 && a->font_size > 0 &&
        a->max_chars > 0)) {
    usage_error("--width and --height must be at least 16, --scale, --font-size and --max-chars "
                "positive");
    return FALSE;
  }
  if (a->text && a->text_file) {
    usage_error("give --text or --text-file, not both");
    return FALSE;
  }
  return TRUE;
}

int
spn_cli_export(int argc, char **argv)
{
  g_auto(ExportArgs) a = {.layer = 0, .head = -1, .max_chars = 600, .width = 1200, .height = 750,
                          .scale = 1, .font_size = 11};
  if (!parse_args(&a, &argc, &argv))
    return 2;
  SpnFigureOptions o;
  spn_figure_options_init(&o);
  if (a.colormap && !spn_colormap_from_name(a.colormap, &o.colormap))
    return usage_error("--colormap %s: expected viridis or cividis", a.colormap);
  g_autofree SpnFigureKind *kinds = NULL;
  int n = 0;
  if (!parse_figures(a.figure, &kinds, &n))
    return 2;
  spn_threads_init(0);
  GError *error = NULL;
  SpnCheckpoint *ck = spn_checkpoint_load(a.checkpoint, &error);
  if (ck == NULL)
    return fail(error);
  if (!check_indices(&a, &ck->model->cfg)) {
    spn_checkpoint_free(ck);
    return 2;
  }
  char *text = NULL;
  SpnProbe *probe = NULL;
  if (!probe_text(&a, ck, needs_probe(kinds, n), &text, &error) ||
      (text && (probe = spn_probe_run(ck->model, ck->vocab, text, &error)) == NULL)) {
    g_free(text);
    spn_checkpoint_free(ck);
    return fail(error);
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
    return fail(error);
  g_print("wrote %s\n", a.output);
  return 0;
}
