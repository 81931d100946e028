/* cli_ref.c — see cli_ref.h. */
#include "cli_ref.h"

#include <glib-unix.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>

#include "checkpoint.h"
#include "cli_common.h"
#include "follow.h"
#include "jsonwrite.h"
#include "refrun.h"
#include "torchfile.h"

static void
print_notes(GPtrArray *notes)
{
  for (guint i = 0; i < notes->len; i++)
    spn_cli_message("note: %s", (const char *)g_ptr_array_index(notes, i));
}

/* A model trained in head mode does not compute what main.py computes: said on stderr. */
static void
warn_head_mode(const SpnConfig *c)
{
  g_autofree char *why = NULL;
  if (spn_config_reference_exact(c, &why))
    return;
  spn_cli_message("warning: %s. main.py always computes the reference's window: with this model "
                  "its bpc and its training will differ from spanscope's. To hand a model over "
                  "exactly, train it here with --attn-window reference (the default).", why);
}

/* The reference's data folder: --data, or --corpus (always read in its format). */
typedef struct {
  char *data, *corpus;
  gboolean ref_format;
} DataArgs;

static void
add_data_entries(GOptionContext *ctx, DataArgs *a)
{
  GOptionEntry e[] = {
    {"corpus", 0, 0, G_OPTION_ARG_FILENAME, &a->corpus,
     "The folder the run was trained on (main.py's --data: train.txt, valid.txt, test.txt in the "
     "reference's format), for the vocabulary", "DIR"},
    {"data", 0, 0, G_OPTION_ARG_FILENAME, &a->data, "The same as --corpus, main.py's name", "DIR"},
    {"ref-format", 0, 0, G_OPTION_ARG_NONE, &a->ref_format,
     "Read the folder in the reference's format (always so here)", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_option_context_add_main_entries(ctx, e, NULL);
}

static const char *
data_dir(const DataArgs *a)
{
  return a->corpus ? a->corpus : a->data;
}

static const char *
data_option(const DataArgs *a)
{
  return a->corpus ? "--corpus" : "--data";
}

/* The folder's path is recorded absolute, so that the checkpoint finds it from any folder. */
static SpnCorpus *
load_data(const DataArgs *a, GError **error)
{
  SpnCorpusOptions opts = {.ref_format = TRUE};
  g_autofree char *path = g_canonicalize_filename(data_dir(a), NULL);
  SpnCorpus *corpus = spn_corpus_load(path, &opts, error);
  spn_cli_name_option(error, data_option(a), path);
  return corpus;
}

static void
data_args_clear(DataArgs *a)
{
  g_clear_pointer(&a->data, g_free);
  g_clear_pointer(&a->corpus, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(DataArgs, data_args_clear)

/* ---- import ---- */

static void
describe_import(const char *from, SpnTorchFormat format, const SpnCheckpoint *ck,
                const char *to)
{
  const SpnConfig *c = &ck->model->cfg;
  const SpnHistory *h = ck->history;
  g_autofree char *sublayer = c->pers_mem_size > 0
                                  ? g_strdup_printf("%d persistent vectors", c->pers_mem_size)
                                  : g_strdup_printf("FF %d", c->inner_hid_sz);
  g_print("imported %s (%s format): %d layers, width %d, %d heads, S %d, %s, vocabulary %d; "
          "step %" G_GINT64_FORMAT ", %d history rows, optimizer %s\nwrote %s\n",
          from, format == SPN_TORCH_ZIP ? "zip" : "legacy", c->nlayers, c->hid_sz, c->nheads,
          c->attn_span, sublayer, c->vocab_size, ck->optim->step, h ? h->n : 0,
          spn_optim_name(ck->optim->kind), to);
}

int
spn_cli_import(int argc, char **argv)
{
  g_autofree char *checkpoint = NULL, *output = NULL;
  g_auto(DataArgs) data = {0};
  SpnRefFlags flags, defaults;
  spn_ref_flags_init(&flags);
  GOptionEntry e[] = {
    {"checkpoint", 0, 0, G_OPTION_ARG_FILENAME, &checkpoint,
     "The .pt file main.py wrote (--checkpoint), either torch format", "RUN.pt"},
    {"output", 0, 0, G_OPTION_ARG_FILENAME, &output, "The spanscope checkpoint to write",
     "RUN.safetensors"},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  SpnOptionRows rows[2];
  guint n_rows = spn_ref_option_rows(&flags, &defaults, rows);
  g_autoptr(GOptionContext) ctx = spn_cli_context(
      "- a checkpoint of the reference's main.py as a spanscope checkpoint",
      "The model's shape comes from the tensors; the other settings are main.py's flags, given "
      "here with the same names (main.py's defaults otherwise); the vocabulary comes from the "
      "--data folder. The logger becomes the history, the optimizer state ours.",
      rows, n_rows, e, NULL);
  add_data_entries(ctx, &data);
  if (!spn_cli_parse(ctx, &argc, &argv))
    return 2;
  if (checkpoint == NULL || output == NULL || data_dir(&data) == NULL)
    return spn_cli_usage_error("--checkpoint RUN.pt, --corpus DIR (the run's --data) and --output "
                               "are required (see --help)");
  GError *error = NULL;
  SpnTorchFormat format;
  SpnCorpus *corpus = load_data(&data, &error);
  SpnPtTree *tree = corpus ? spn_torch_load(checkpoint, &format, &error) : NULL;
  spn_cli_name_option(&error, "--checkpoint", checkpoint);
  g_autoptr(GPtrArray) notes = g_ptr_array_new_with_free_func(g_free);
  SpnCheckpoint *ck = tree ? spn_ref_import(spn_pt_tree_root(tree), checkpoint, &flags,
                                            corpus->vocab, corpus->source, notes, &error)
                           : NULL;
  int rc = 0;
  if (ck && spn_checkpoint_save(ck, output, &error)) {
    print_notes(notes);
    describe_import(checkpoint, format, ck, output);
  } else
    rc = spn_cli_fail(error);
  spn_checkpoint_free(ck);
  spn_pt_tree_free(tree);
  spn_corpus_free(corpus);
  return rc;
}

/* ---- export-reference ---- */

typedef struct {
  int nbatches, gpus, steps;
} RefArgs;

static const RefArgs ref_defaults = {.nbatches = 1000, .gpus = 8, .steps = 0};

static const SpnConfigField nbatches_row =
    SPN_CLI_ROW("nbatches", RefArgs, nbatches, SPN_FIELD_INT, 1, 1e9,
                "Optimizer steps per logged iteration, main.py's --nbatches", "N");

/* main.py logs at step (iteration + 1) x --nbatches: the log of an imported run says its
 * --nbatches (0: no log, or one that does not). */
static int
logged_nbatches(const SpnHistory *h)
{
  gint64 first = h && h->n_logged > 0 ? spn_history_logged_step(h, 0) : 0;
  if (first < 1 || first > (gint64)nbatches_row.max)
    return 0;
  for (int i = 1; i < h->n_logged; i++)
    if (spn_history_logged_step(h, i) != (i + 1) * first)
      return 0;
  return (int)first;
}

/* --nbatches when not given: the imported run's, else main.py's default */
static void
default_nbatches(RefArgs *a, GHashTable *given, const SpnCheckpoint *ck)
{
  int logged = logged_nbatches(ck->history);
  if (g_hash_table_contains(given, "nbatches") || logged == 0 || logged == a->nbatches)
    return;
  a->nbatches = logged;
  spn_cli_message("note: --nbatches %d, as main.py's log of this run has it", logged);
}

int
spn_cli_export_reference(int argc, char **argv)
{
  g_autofree char *checkpoint = NULL, *output = NULL;
  RefArgs a = ref_defaults;
  gboolean legacy = FALSE;
  g_autoptr(GHashTable) given = g_hash_table_new(g_str_hash, g_str_equal);
  GOptionEntry e[] = {
    {"checkpoint", 0, 0, G_OPTION_ARG_FILENAME, &checkpoint, "The spanscope checkpoint",
     "RUN.safetensors"},
    {"output", 0, 0, G_OPTION_ARG_FILENAME, &output, "The .pt file to write", "RUN.pt"},
    {"legacy", 0, 0, G_OPTION_ARG_NONE, &legacy,
     "Write torch's legacy format (what torch < 1.6 reads) instead of the zip format", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  SpnOptionRows rows[] = {{&nbatches_row, 1, &a, &ref_defaults}};
  g_autoptr(GOptionContext) ctx = spn_cli_context(
      "- a spanscope run as a checkpoint main.py resumes from",
      "Writes the model (keys prefixed module.), Adagrad's state in the reference's parameter "
      "order, iter_no, logger and scheduler_iter, as main.py saves them. --nbatches defaults to "
      "that of main.py's log in an imported run.",
      rows, G_N_ELEMENTS(rows), e, given);
  if (!spn_cli_parse(ctx, &argc, &argv))
    return 2;
  GError *error = NULL;
  SpnCheckpoint *ck = spn_cli_open_checkpoint(checkpoint, &error);
  if (ck == NULL)
    return spn_cli_fail(error);
  if (output == NULL) {
    spn_checkpoint_free(ck);
    return spn_cli_usage_error("--output RUN.pt is required (see --help)");
  }
  if (ck->history_error) {
    g_prefix_error(&ck->history_error, "its history cannot be handed back: ");
    error = g_steal_pointer(&ck->history_error);
  } else
    default_nbatches(&a, given, ck);
  SpnHistory *h = error         ? NULL
                  : ck->history ? spn_history_ref(ck->history)
                                : spn_history_new(ck->model->cfg.nlayers, ck->model->cfg.nheads);
  g_autoptr(GPtrArray) notes = g_ptr_array_new_with_free_func(g_free);
  SpnPtTree *tree =
      h ? spn_ref_export(ck->model, ck->optim, h, ck->vocab, a.nbatches, notes, &error) : NULL;
  int rc = 0;
  if (tree && spn_torch_save(tree, spn_pt_tree_root(tree), output,
                             legacy ? SPN_TORCH_LEGACY : SPN_TORCH_ZIP, &error)) {
    print_notes(notes);
    warn_head_mode(&ck->model->cfg);
    gint64 step = ck->optim ? ck->optim->step : 0;
    g_autofree char *source = spn_checkpoint_corpus(ck);
    g_autofree char *command =
        spn_ref_command(&ck->model->cfg, source, output, a.nbatches, 0, 0);
    g_print("wrote %s: step %" G_GINT64_FORMAT ", iteration %" G_GINT64_FORMAT
            " done; main.py resumes it with\n  %s\n",
            output, step, step / a.nbatches - 1, command);
  } else
    rc = spn_cli_fail(error);
  spn_pt_tree_free(tree);
  spn_history_unref(h);
  spn_checkpoint_free(ck);
  return rc;
}

/* ---- reference-command ---- */

int
spn_cli_reference_command(int argc, char **argv)
{
  g_autofree char *checkpoint = NULL, *data = NULL, *out = NULL;
  RefArgs a = ref_defaults;
  g_autoptr(GHashTable) given = g_hash_table_new(g_str_hash, g_str_equal);
  GOptionEntry e[] = {
    {"checkpoint", 0, 0, G_OPTION_ARG_FILENAME, &checkpoint, "The spanscope checkpoint",
     "RUN.safetensors"},
    {"data", 0, 0, G_OPTION_ARG_FILENAME, &data,
     "main.py's --data folder (default: the run's corpus if it is such a folder, else "
     "data/enwik8)", "DIR"},
    {"output", 0, 0, G_OPTION_ARG_FILENAME, &out, "main.py's --checkpoint (default run.pt)",
     "RUN.pt"},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  static const SpnConfigField rows_[] = {
    SPN_CLI_ROW("gpus", RefArgs, gpus, SPN_FIELD_INT, 1, 65536,
                "GPUs of the --distributed command", "N"),
    SPN_CLI_ROW("steps", RefArgs, steps, SPN_FIELD_INT, 0, 1e9,
                "Train until this step (main.py's --niter in iterations of --nbatches; 0: "
                "main.py's default)", "N"),
  };
  SpnOptionRows rows[] = {{rows_, G_N_ELEMENTS(rows_), &a, &ref_defaults},
                          {&nbatches_row, 1, &a, &ref_defaults}};
  g_autoptr(GOptionContext) ctx = spn_cli_context(
      "- the reference's command line that trains this configuration",
      "Prints main.py's command line for one machine and for --distributed over --gpus GPUs. "
      "--nbatches defaults to that of main.py's log in an imported run.",
      rows, G_N_ELEMENTS(rows), e, given);
  if (!spn_cli_parse(ctx, &argc, &argv))
    return 2;
  GError *error = NULL;
  SpnCheckpoint *ck = spn_cli_open_checkpoint(checkpoint, &error);
  if (ck == NULL)
    return spn_cli_fail(error);
  default_nbatches(&a, given, ck);
  const SpnConfig *c = &ck->model->cfg;
  g_autofree char *source = spn_checkpoint_corpus(ck);
  const char *folder = data ? data : ck->vocab->kind == SPN_VOCAB_REF ? source : NULL;
  const char *pt = out ? out : "run.pt";
  g_autofree char *one = spn_ref_command(c, folder, pt, a.nbatches, a.steps, 0);
  g_autofree char *many = spn_ref_command(c, folder, pt, a.nbatches, a.steps, a.gpus);
  g_print("# one machine (main.py wraps the model in DataParallel over every visible GPU):\n"
          "%s\n# %d GPUs with torch.distributed (--batch-sz %d is the total over them):\n%s\n"
          "# spanscope computes what main.py does with --attn-window reference --eval-mode "
          "reference (this run: --attn-window %s --eval-mode %s)\n",
          one, a.gpus, c->batch_sz, many, spn_attn_window_name(c->attn_window),
          spn_eval_mode_name(c->eval_mode));
  warn_head_mode(c);
  if (c->batch_sz % a.gpus != 0)
    spn_cli_message("note: main.py --distributed needs --batch-sz %d divisible by the %d GPUs",
                    c->batch_sz, a.gpus);
  if (ck->vocab->kind != SPN_VOCAB_REF)
    spn_cli_message("note: main.py reads only folders in the reference's format; this run's "
                    "corpus is not one, so --data must name such a folder");
  spn_checkpoint_free(ck);
  return 0;
}

/* ---- follow ---- */

typedef struct {
  GMainLoop *loop;
  gboolean json, verbose;
  int count, seen;
  int stop_signal;   /* the signal that stopped following, 0 until one */
  char *last_wait;
} Follow;

static void
add_number(GString *s, const char *key, double v, int digits)
{
  spn_json_key(s, key, FALSE);
  spn_json_number(s, v, digits);
}

static void
version_line(const SpnCheckpoint *ck, gint64 step, gboolean json)
{
  const SpnConfig *c = &ck->model->cfg;
  const SpnHistory *h = ck->history;
  double train = NAN, val = NAN, avg, mx;
  for (int i = h ? h->n - 1 : -1; i >= 0 && isnan(train); i--)
    train = spn_history_train_bpc(h, i);
  int v = h ? spn_history_latest_valid(h) : -1;
  if (v >= 0)
    val = spn_history_valid_bpc(h, v);
  int n = c->nlayers * c->nheads;
  g_autofree float *spans = g_new(float, n);
  spn_model_spans(ck->model, spans);
  spn_span_stats(spans, n, &avg, &mx);
  if (!json) {
    g_print("step %" G_GINT64_FORMAT "  train %.3f bpc  val %.3f bpc  span avg %.1f max %.1f\n",
            step, train, val, avg, mx);
    return;
  }
  GString *s = g_string_new("{");
  spn_json_key(s, "step", TRUE);
  g_string_append_printf(s, "%" G_GINT64_FORMAT, step);
  add_number(s, "train_bpc", train, 7);
  add_number(s, "val_bpc", val, 7);
  add_number(s, "span_avg", avg, 6);
  add_number(s, "span_max", mx, 6);
  spn_json_key(s, "spans", FALSE);
  g_string_append_c(s, '[');
  for (int l = 0; l < c->nlayers; l++) {
    g_string_append(s, l ? ",[" : "[");
    for (int k = 0; k < c->nheads; k++) {
      if (k)
        g_string_append_c(s, ',');
      spn_json_number(s, spans[l * c->nheads + k], 6);
    }
    g_string_append_c(s, ']');
  }
  g_string_append_c(s, ']');
  /* what main.py logged at this step (a .pt): its own definition of the two */
  int g = h ? spn_history_logged_at(h, step) : -1;
  if (g >= 0) {
    add_number(s, "logged_span_avg", spn_history_logged_span_avg(h, g), 6);
    add_number(s, "logged_span_max", spn_history_logged_span_max(h, g), 6);
  }
  g_string_append_c(s, '}');
  g_print("%s\n", s->str);
  g_string_free(s, TRUE);
}

static void
on_follow_event(SpnFollowEvent *e, gpointer data)
{
  Follow *f = data;
  if (e->kind == SPN_FOLLOW_VERSION) {
    version_line(e->checkpoint, e->step, f->json);
    fflush(stdout);
    g_clear_pointer(&f->last_wait, g_free);
    if (f->count > 0 && ++f->seen >= f->count)
      g_main_loop_quit(f->loop);
  } else if (e->kind == SPN_FOLLOW_FAILED)
    spn_cli_message("%s (following on)", e->error->message);
  else if (f->verbose && g_strcmp0(f->last_wait, e->error->message) != 0) {
    spn_cli_message("waiting for a complete version: %s", e->error->message);
    g_free(f->last_wait);
    f->last_wait = g_strdup(e->error->message);
  }
}

typedef struct {
  Follow *follow;
  int sig;
} FollowSignal;

/* Ctrl+C, SIGTERM, SIGHUP: following stops (nothing to save), exit 128 + the signal */
static gboolean
on_stop_signal(gpointer data)
{
  FollowSignal *s = data;
  if (s->follow->stop_signal == 0)
    s->follow->stop_signal = s->sig;
  g_main_loop_quit(s->follow->loop);
  return G_SOURCE_CONTINUE;
}

int
spn_cli_follow(int argc, char **argv)
{
  Follow f = {0};
  g_auto(DataArgs) data = {0};
  SpnRefFlags flags, defaults;
  spn_ref_flags_init(&flags);
  GOptionEntry e[] = {
    {"json", 0, 0, G_OPTION_ARG_NONE, &f.json,
     "One JSON object per version: step, train_bpc, val_bpc, span_avg, span_max (of spans), "
     "spans, and for a .pt logged_span_avg, logged_span_max (main.py's log)", NULL},
    {"verbose", 0, 0, G_OPTION_ARG_NONE, &f.verbose,
     "Say on stderr when the file is not complete yet", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  static const SpnConfigField count_row =
      SPN_CLI_ROW("count", Follow, count, SPN_FIELD_INT, 0, 1e9,
                  "Stop after N versions (0: never)", "N");
  static const Follow follow_defaults = {.count = 0};
  SpnOptionRows rows[3];
  guint n_rows = spn_ref_option_rows(&flags, &defaults, rows);
  rows[n_rows++] = (SpnOptionRows){&count_row, 1, &f, &follow_defaults};
  g_autoptr(GOptionContext) ctx = spn_cli_context(
      "PATH - one line per new version of a checkpoint another run keeps rewriting",
      "PATH is a spanscope checkpoint or a .pt of the reference's main.py (whose flags and --data "
      "folder may be given as for import). A half-written file is read again later, never "
      "printed. Ctrl+C stops following (exit status 130).",
      rows, n_rows, e, NULL);
  add_data_entries(ctx, &data);
  g_autoptr(GError) parse_error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &parse_error))
    return spn_cli_usage_error("%s", parse_error->message);
  if (argc < 2)
    return spn_cli_usage_error("give the PATH to follow (see --help)");
  if (argc > 2)
    return spn_cli_usage_error("unexpected argument \"%s\" (see --help)", argv[2]);
  GError *error = NULL;
  SpnCorpus *corpus = NULL;
  if (data_dir(&data) && (corpus = load_data(&data, &error)) == NULL)
    return spn_cli_fail(error);
  SpnFollowSource source = {&flags, corpus ? corpus->vocab : NULL,
                            corpus ? corpus->source : NULL};
  f.loop = g_main_loop_new(NULL, FALSE);
  SpnFollower *follower = spn_follower_new(argv[1], &source, on_follow_event, &f, &error);
  spn_corpus_free(corpus);
  if (follower == NULL) {
    g_main_loop_unref(f.loop);
    return spn_cli_fail(error);
  }
  static const int signals[] = {SIGINT, SIGTERM, SIGHUP};
  FollowSignal stops[G_N_ELEMENTS(signals)];
  guint sources[G_N_ELEMENTS(signals)];
  for (guint i = 0; i < G_N_ELEMENTS(signals); i++) {
    stops[i] = (FollowSignal){&f, signals[i]};
    sources[i] = g_unix_signal_add(signals[i], on_stop_signal, &stops[i]);
  }
  g_main_loop_run(f.loop);
  for (guint i = 0; i < G_N_ELEMENTS(signals); i++)
    g_source_remove(sources[i]);
  spn_follower_free(follower);
  g_main_loop_unref(f.loop);
  g_free(f.last_wait);
  return f.stop_signal ? 128 + f.stop_signal : 0;
}
