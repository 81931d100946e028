/* cli_ref.c — see cli_ref.h. */
#include "cli_ref.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>

#include "checkpoint.h"
#include "follow.h"
#include "refrun.h"
#include "torchfile.h"

static int
fail(GError *error)
{
  g_printerr("%s: %s\n", g_get_prgname(), error->message);
  g_error_free(error);
  return 1;
}

static int
usage(const char *message)
{
  g_printerr("%s: %s (see --help)\n", g_get_prgname(), message);
  return 2;
}

static gboolean
parse(GOptionContext *ctx, int *argc, char ***argv)
{
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, argc, argv, &error)) {
    g_printerr("%s: %s\n", g_get_prgname(), error->message);
    return FALSE;
  }
  if (*argc > 1) {
    g_printerr("%s: unexpected argument \"%s\" (see --help)\n", g_get_prgname(), (*argv)[1]);
    return FALSE;
  }
  return TRUE;
}

static void
print_notes(GPtrArray *notes)
{
  for (guint i = 0; i < notes->len; i++)
    g_printerr("%s: note: %s\n", g_get_prgname(), (const char *)g_ptr_array_index(notes, i));
}

/* A model trained in head mode does not compute what main.py computes: said on stderr. */
static void
warn_head_mode(const SpnConfig *c)
{
  g_autofree char *why = NULL;
  if (spn_config_reference_exact(c, &why))
    return;
  g_printerr("%s: warning: %s. main.py always computes the reference's window: with this "
             "model its bpc and its training will differ from spanscope's. To hand a model over "
             "exactly, train it here with --attn-window reference (the default).\n",
             g_get_prgname(), why);
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

static SpnCorpus *
load_data(const DataArgs *a, GError **error)
{
  SpnCorpusOptions opts = {.ref_format = TRUE};
  return spn_corpus_load(data_dir(a), &opts, error);
}

static void
data_args_clear(DataArgs *a)
{
  g_free(a->data);
  g_free(a->corpus);
}

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
  DataArgs data = {0};
  SpnRefFlags flags;
  spn_ref_flags_init(&flags);
  GOptionEntry e[] = {
    {"checkpoint", 0, 0, G_OPTION_ARG_FILENAME, &checkpoint,
     "The .pt file main.py wrote (--checkpoint), either torch format", "RUN.pt"},
    {"output", 0, 0, G_OPTION_ARG_FILENAME, &output, "The spanscope checkpoint to write",
     "RUN.safetensors"},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx =
      g_option_context_new("- a checkpoint of the reference's main.py as a spanscope checkpoint");
  g_option_context_set_summary(
      ctx, "The model's shape comes from the tensors; the other settings are main.py's flags, "
           "given here with the same names (main.py's defaults otherwise); the vocabulary comes "
           "from the --data folder. The logger becomes the history, the optimizer state ours.");
  g_option_context_set_main_group(ctx, spn_ref_option_group(&flags));
  g_option_context_add_main_entries(ctx, e, NULL);
  add_data_entries(ctx, &data);
  int rc = 2;
  g_autoptr(GPtrArray) notes = g_ptr_array_new_with_free_func(g_free);
  if (!parse(ctx, &argc, &argv))
    goto out;
  if (checkpoint == NULL || output == NULL || data_dir(&data) == NULL) {
    rc = usage("--checkpoint RUN.pt, --corpus DIR (the run's --data) and --output are required");
    goto out;
  }
  GError *error = NULL;
  SpnTorchFormat format;
  SpnCorpus *corpus = load_data(&data, &error);
  SpnPtTree *tree = corpus ? spn_torch_load(checkpoint, &format, &error) : NULL;
  SpnCheckpoint *ck = tree ? spn_ref_import(spn_pt_tree_root(tree), checkpoint, &flags,
                                            corpus->vocab, corpus->source, notes, &error)
                           : NULL;
  if (ck && spn_checkpoint_save(ck, output, &error)) {
    print_notes(notes);
    describe_import(checkpoint, format, ck, output);
    rc = 0;
  } else
    rc = fail(error);
  spn_checkpoint_free(ck);
  spn_pt_tree_free(tree);
  spn_corpus_free(corpus);
out:
  data_args_clear(&data);
  return rc;
}

/* ---- export-reference ---- */

static SpnCheckpoint *
open_checkpoint(const char *path, GError **error)
{
  if (path == NULL) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--checkpoint PATH is required");
    return NULL;
  }
  return spn_checkpoint_load(path, error);
}

int
spn_cli_export_reference(int argc, char **argv)
{
  g_autofree char *checkpoint = NULL, *output = NULL;
  int nbatches = 1000;
  gboolean legacy = FALSE;
  GOptionEntry e[] = {
    {"checkpoint", 0, 0, G_OPTION_ARG_FILENAME, &checkpoint, "The spanscope checkpoint",
     "RUN.safetensors"},
    {"output", 0, 0, G_OPTION_ARG_FILENAME, &output, "The .pt file to write", "RUN.pt"},
    {"nbatches", 0, 0, G_OPTION_ARG_INT, &nbatches,
     "Steps per iteration of main.py (its --nbatches, default 1000)", "N"},
    {"legacy", 0, 0, G_OPTION_ARG_NONE, &legacy,
     "Write torch's legacy format (what torch < 1.6 reads) instead of the zip format", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx =
      g_option_context_new("- a spanscope run as a checkpoint main.py resumes from");
  g_option_context_add_main_entries(ctx, e, NULL);
  if (!parse(ctx, &argc, &argv))
    return 2;
  if (output == NULL)
    return usage("--output RUN.pt is required");
  GError *error = NULL;
  SpnCheckpoint *ck = open_checkpoint(checkpoint, &error);
  if (ck == NULL)
    return fail(error);
  if (ck->history_error) {
    g_prefix_error(&ck->history_error, "its history cannot be handed back: ");
    error = g_steal_pointer(&ck->history_error);
  }
  SpnHistory *h = error           ? NULL
                  : ck->history ? spn_history_ref(ck->history)
                                : spn_history_new(ck->model->cfg.nlayers, ck->model->cfg.nheads);
  g_autoptr(GPtrArray) notes = g_ptr_array_new_with_free_func(g_free);
  SpnPtTree *tree = h ? spn_ref_export(ck->model, ck->optim, h, ck->vocab, nbatches, notes,
                                       &error)
                      : NULL;
  int rc = 0;
  if (tree && spn_torch_save(tree, spn_pt_tree_root(tree), output,
                             legacy ? SPN_TORCH_LEGACY : SPN_TORCH_ZIP, &error)) {
    print_notes(notes);
    warn_head_mode(&ck->model->cfg);
    gint64 step = ck->optim ? ck->optim->step : 0;
    g_autofree char *source = spn_checkpoint_corpus(ck);
    g_autofree char *command = spn_ref_command(&ck->model->cfg, source, output, nbatches, 0, 0);
    g_print("wrote %s: step %" G_GINT64_FORMAT ", iteration %" G_GINT64_FORMAT
            " done; main.py resumes it with\n  %s\n",
            output, step, step / nbatches - 1, command);
  } else
    rc = fail(error);
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
  int nbatches = 1000, gpus = 8;
  gint64 steps = 0;
  GOptionEntry e[] = {
    {"checkpoint", 0, 0, G_OPTION_ARG_FILENAME, &checkpoint, "The spanscope checkpoint",
     "RUN.safetensors"},
    {"data", 0, 0, G_OPTION_ARG_FILENAME, &data,
     "main.py's --data folder (default: the run's corpus if it is such a folder, else "
     "data/enwik8)", "DIR"},
    {"gpus", 0, 0, G_OPTION_ARG_INT, &gpus, "GPUs of the --distributed command (default 8)", "N"},
    {"steps", 0, 0, G_OPTION_ARG_INT64, &steps,
     "Train until this step (main.py's --niter in iterations of --nbatches)", "N"},
    {"nbatches", 0, 0, G_OPTION_ARG_INT, &nbatches, "Steps per iteration (default 1000)", "N"},
    {"output", 0, 0, G_OPTION_ARG_FILENAME, &out, "main.py's --checkpoint (default run.pt)",
     "RUN.pt"},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx =
      g_option_context_new("- the reference's command line that trains this configuration");
  g_option_context_add_main_entries(ctx, e, NULL);
  if (!parse(ctx, &argc, &argv))
    return 2;
  if (nbatches < 1 || gpus < 1 || steps < 0)
    return usage("--nbatches and --gpus must be at least 1, --steps at least 0");
  GError *error = NULL;
  SpnCheckpoint *ck = open_checkpoint(checkpoint, &error);
  if (ck == NULL)
    return fail(error);
  const SpnConfig *c = &ck->model->cfg;
  g_autofree char *source = spn_checkpoint_corpus(ck);
  const char *folder = data ? data : ck->vocab->kind == SPN_VOCAB_REF ? source : NULL;
  const char *pt = out ? out : "run.pt";
  g_autofree char *one = spn_ref_command(c, folder, pt, nbatches, steps, 0);
  g_autofree char *many = spn_ref_command(c, folder, pt, nbatches, steps, gpus);
  g_print("# one machine (main.py wraps the model in DataParallel over every visible GPU):\n"
          "%s\n# %d GPUs with torch.distributed (--batch-sz %d is the total over them):\n%s\n"
          "# spanscope computes what main.py does with --attn-window reference --eval-mode "
          "reference (this run: --attn-window %s --eval-mode %s)\n",
          one, gpus, c->batch_sz, many, spn_attn_window_name(c->attn_window),
          spn_eval_mode_name(c->eval_mode));
  warn_head_mode(c);
  if (c->batch_sz % gpus != 0)
    g_printerr("%s: note: main.py --distributed needs --batch-sz %d divisible by the %d GPUs\n",
               g_get_prgname(), c->batch_sz, gpus);
  if (ck->vocab->kind != SPN_VOCAB_REF)
    g_printerr("%s: note: main.py reads only folders in the reference's format; this run's "
               "corpus is not one, so --data must name such a folder\n", g_get_prgname());
  spn_checkpoint_free(ck);
  return 0;
}

/* ---- follow ---- */

static volatile sig_atomic_t interrupted = 0;

static void
on_signal(int sig)
{
  (void)sig;
  interrupted = 1;
}

typedef struct {
  GMainLoop *loop;
  gboolean json, verbose;
  int count, seen;
  char *last_wait;
} Follow;

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
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "step");
  json_builder_add_int_value(b, step);
  const char *names[] = {"train_bpc", "val_bpc", "span_avg", "span_max"};
  double values[] = {train, val, avg, mx};
  for (int k = 0; k < 4; k++) {
    json_builder_set_member_name(b, names[k]);
    if (isfinite(values[k]))
      json_builder_add_double_value(b, values[k]);
    else
      json_builder_add_null_value(b);
  }
  json_builder_set_member_name(b, "spans");
  json_builder_begin_array(b);
  for (int l = 0; l < c->nlayers; l++) {
    json_builder_begin_array(b);
    for (int k = 0; k < c->nheads; k++)
      json_builder_add_double_value(b, spans[l * c->nheads + k]);
    json_builder_end_array(b);
  }
  json_builder_end_array(b);
  /* what main.py logged at this step (a .pt): its own definition of the two */
  int g = h ? spn_history_logged_at(h, step) : -1;
  if (g >= 0) {
    const char *logged[] = {"logged_span_avg", "logged_span_max"};
    double lv[] = {spn_history_logged_span_avg(h, g), spn_history_logged_span_max(h, g)};
    for (int k = 0; k < 2; k++) {
      json_builder_set_member_name(b, logged[k]);
      if (isfinite(lv[k]))
        json_builder_add_double_value(b, lv[k]);
      else
        json_builder_add_null_value(b);
    }
  }
  json_builder_end_object(b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  g_autofree char *text = json_to_string(root, FALSE);
  g_print("%s\n", text);
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
    g_printerr("%s: %s (following on)\n", g_get_prgname(), e->error->message);
  else if (f->verbose && g_strcmp0(f->last_wait, e->error->message) != 0) {
    g_printerr("%s: waiting for a complete version: %s\n", g_get_prgname(), e->error->message);
    g_free(f->last_wait);
    f->last_wait = g_strdup(e->error->message);
  }
}

static gboolean
check_interrupted(gpointer data)
{
  if (interrupted)
    g_main_loop_quit(((Follow *)data)->loop);
  return G_SOURCE_CONTINUE;
}

int
spn_cli_follow(int argc, char **argv)
{
  Follow f = {0};
  DataArgs data = {0};
  SpnRefFlags flags;
  spn_ref_flags_init(&flags);
  GOptionEntry e[] = {
    {"json", 0, 0, G_OPTION_ARG_NONE, &f.json,
     "One JSON object per version: step, train_bpc, val_bpc, span_avg, span_max (of spans), "
     "spans, and for a .pt logged_span_avg, logged_span_max (main.py's log)", NULL},
    {"count", 0, 0, G_OPTION_ARG_INT, &f.count, "Stop after N versions (default: never)", "N"},
    {"verbose", 0, 0, G_OPTION_ARG_NONE, &f.verbose,
     "Say on stderr when the file is not complete yet", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new(
      "PATH - one line per new version of a checkpoint another run keeps rewriting");
  g_option_context_set_summary(
      ctx, "PATH is a spanscope checkpoint or a .pt of the reference's main.py (whose flags and "
           "--data folder may be given as for import). A half-written file is read again "
           "later, never printed.");
  g_option_context_set_main_group(ctx, spn_ref_option_group(&flags));
  g_option_context_add_main_entries(ctx, e, NULL);
  add_data_entries(ctx, &data);
  GError *error = NULL;
  int rc = 2;
  if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
    g_printerr("%s: %s\n", g_get_prgname(), error->message);
    g_clear_error(&error);
    goto out;
  }
  if (argc != 2) {
    rc = usage("give the PATH to follow");
    goto out;
  }
  SpnCorpus *corpus = data_dir(&data) ? load_data(&data, &error) : NULL;
  if (data_dir(&data) && corpus == NULL) {
    rc = fail(error);
    goto out;
  }
  SpnFollowSource source = {&flags, corpus ? corpus->vocab : NULL,
                            corpus ? corpus->source : NULL};
  f.loop = g_main_loop_new(NULL, FALSE);
  SpnFollower *follower = spn_follower_new(argv[1], &source, on_follow_event, &f, &error);
  spn_corpus_free(corpus);
  if (follower == NULL) {
    rc = fail(error);
    g_main_loop_unref(f.loop);
    goto out;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  guint tick = g_timeout_add(100, check_interrupted, &f);
  g_main_loop_run(f.loop);
  g_source_remove(tick);
  spn_follower_free(follower);
  g_main_loop_unref(f.loop);
  g_free(f.last_wait);
  rc = 0;
out:
  data_args_clear(&data);
  return rc;
}
