/* spanscope-cli — train, evaluate, probe and sample from the command line. */
#include <json-glib/json-glib.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "checkpoint.h"
#include "demo.h"
#include "cli_export.h"
#include "generate.h"
#include "parallel.h"
#include "probe.h"
#include "spanscope-config.h"
#include "trainer.h"

static volatile sig_atomic_t interrupted = 0;

static void
on_signal(int sig)
{
  (void)sig;
  interrupted = 1;
}

typedef struct {
  char *corpus;
  gboolean byte_mode, ref_format;
} CorpusArgs;

static void
corpus_args_clear(CorpusArgs *a)
{
  g_clear_pointer(&a->corpus, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CorpusArgs, corpus_args_clear)

static SpnCorpus *
load_corpus(const CorpusArgs *a, GError **error)
{
  SpnCorpusOptions opts = {.byte_mode = a->byte_mode, .ref_format = a->ref_format};
  return spn_corpus_load(a->corpus ? a->corpus : SPN_BUNDLED_SOURCE, &opts, error);
}

/* GLib copies the entries, so a local array will do */
static void
add_corpus_entries(GOptionContext *ctx, CorpusArgs *a)
{
  GOptionEntry entries[] = {
    {"corpus", 0, 0, G_OPTION_ARG_FILENAME, &a->corpus,
     "Text file, folder with train/valid/test.txt, \"bundled\" (default, or the preset's corpus) "
     "or \"demo\" (generated text with passages recurring " G_STRINGIFY(SPN_DEMO_DISTANCE)
     " characters later; a file named demo is ./demo)", "PATH"},
    {"byte-mode", 0, 0, G_OPTION_ARG_NONE, &a->byte_mode, "Every byte is a token (V = 256)", NULL},
    {"ref-format", 0, 0, G_OPTION_ARG_NONE, &a->ref_format,
     "Folder in the reference's enwik8/text8 format (space-separated byte values)", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_option_context_add_main_entries(ctx, entries, NULL);
}

static gboolean
parse(GOptionContext *ctx, int *argc, char ***argv)
{
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, argc, argv, &error)) {
    g_printerr("spanscope-cli: %s\n", error->message);
    return FALSE;
  }
  if (*argc > 1) {
    g_printerr("spanscope-cli: unexpected argument \"%s\" (see --help)\n", (*argv)[1]);
    return FALSE;
  }
  return TRUE;
}

static int
fail(GError *error)
{
  g_printerr("spanscope-cli: %s\n", error->message);
  g_error_free(error);
  return 1;
}

/* ---- train ---- */

typedef struct {
  SpnConfig cfg;
  CorpusArgs corpus;
  char *checkpoint;
  int steps, eval_every, eval_tokens, save_every, report_every;
  gboolean json;
} TrainArgs;

/* the average and the longest span of all heads, in characters */
static void
span_stats(const SpnModel *m, double *avg, double *max)
{
  const SpnConfig *c = &m->cfg;
  g_autofree float *spans = g_new(float, c->nlayers * c->nheads);
  spn_model_spans(m, spans);
  spn_span_stats(spans, c->nlayers * c->nheads, avg, max);
}

static char *
metrics_json(SpnTrainer *t, const SpnStepResult *r, double val_bpc, double tokens_per_s)
{
  SpnModel *m = spn_trainer_model(t);
  const SpnConfig *c = &m->cfg;
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "step");
  json_builder_add_int_value(b, r->step);
  json_builder_set_member_name(b, "train_bpc");
  json_builder_add_double_value(b, r->train_bpc);
  if (!isnan(val_bpc)) {
    json_builder_set_member_name(b, "val_bpc");
    json_builder_add_double_value(b, val_bpc);
  }
  json_builder_set_member_name(b, "tokens_per_s");
  json_builder_add_double_value(b, tokens_per_s);
  json_builder_set_member_name(b, "lr");
  json_builder_add_double_value(b, r->lr);
  json_builder_set_member_name(b, "spans");
  json_builder_begin_array(b);
  for (int l = 0; l < c->nlayers; l++) {
    json_builder_begin_array(b);
    for (int h = 0; h < c->nheads; h++)
      json_builder_add_double_value(b, spn_model_span(m, l, h));
    json_builder_end_array(b);
  }
  json_builder_end_array(b);
  double avg, mx;
  span_stats(m, &avg, &mx);
  json_builder_set_member_name(b, "span_avg");
  json_builder_add_double_value(b, avg);
  json_builder_set_member_name(b, "span_max");
  json_builder_add_double_value(b, mx);
  json_builder_set_member_name(b, "batch_sz");
  json_builder_add_int_value(b, c->batch_sz);
  json_builder_end_object(b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  return json_to_string(root, FALSE);
}

static void
print_progress(SpnTrainer *t, const SpnStepResult *r, gint64 total, double val_bpc,
               double tokens_per_s)
{
  double avg, mx;
  span_stats(spn_trainer_model(t), &avg, &mx);
  g_autofree char *val = isnan(val_bpc) ? g_strdup("") : g_strdup_printf("  val %.3f bpc", val_bpc);
  g_print("step %5" G_GINT64_FORMAT "/%" G_GINT64_FORMAT "  train %.3f bpc%s  %6.0f tok/s  "
          "span avg %.1f max %.1f  lr %.4f\n",
          r->step, total, r->train_bpc, val, tokens_per_s, avg, mx,
          r->lr);
}

static SpnTrainer *
open_trainer(TrainArgs *a, GError **error)
{
  SpnCorpus *corpus = load_corpus(&a->corpus, error);
  if (corpus == NULL)
    return NULL;
  if (a->checkpoint && g_file_test(a->checkpoint, G_FILE_TEST_EXISTS)) {
    SpnTrainer *t = spn_trainer_load(a->checkpoint, corpus, error);
    if (t && !a->json)
      g_print("resuming %s at step %" G_GINT64_FORMAT "\n", a->checkpoint,
              spn_trainer_step_count(t));
    return t;
  }
  return spn_trainer_new(&a->cfg, corpus, error);
}

static gboolean
save(SpnTrainer *t, const char *path, gboolean json)
{
  g_autoptr(GError) error = NULL;
  if (!spn_trainer_save(t, path, &error)) {
    g_printerr("spanscope-cli: %s\n", error->message);
    return FALSE;
  }
  if (!json)
    g_print("saved %s at step %" G_GINT64_FORMAT "\n", path, spn_trainer_step_count(t));
  return TRUE;
}

static double
evaluate(SpnTrainer *t, const TrainArgs *a)
{
  double bpc = NAN;
  g_autoptr(GError) error = NULL;
  if (!spn_trainer_validate(t, a->eval_every, (gsize)a->eval_tokens, &bpc, &error))
    g_printerr("spanscope-cli: evaluation skipped: %s\n", error->message);
  return bpc;
}

static int
train_loop(SpnTrainer *t, TrainArgs *a)
{
  const SpnConfig *c = &spn_trainer_model(t)->cfg;
  double window_s = 0.0;
  int window_steps = 0;
  gboolean ok = TRUE;
  while (spn_trainer_step_count(t) < a->steps && !interrupted) {
    SpnStepResult r;
    spn_trainer_step(t, &r);
    window_s += r.seconds;
    window_steps++;
    gboolean last = r.step >= a->steps || interrupted;
    gboolean do_eval = a->eval_every > 0 && (r.step % a->eval_every == 0 || last);
    if (!do_eval && r.step % a->report_every != 0 && !last)
      continue;
    double val = do_eval ? evaluate(t, a) : NAN;
    double tps = window_s > 0 ? window_steps * (double)c->batch_sz * c->block_sz / window_s : 0;
    window_s = 0.0;
    window_steps = 0;
    g_autofree char *line = metrics_json(t, &r, val, tps);
    if (!isnan(val))
      spn_trainer_record_validation(t, val);
    if (a->json)
      g_print("%s\n", line);
    else
      print_progress(t, &r, a->steps, val, tps);
    if (a->checkpoint && a->save_every > 0 && r.step % a->save_every == 0 && !last)
      ok = save(t, a->checkpoint, a->json) && ok;
  }
  if (a->checkpoint)
    ok = save(t, a->checkpoint, a->json) && ok;
  if (interrupted && !a->json)
    g_print("interrupted at step %" G_GINT64_FORMAT "\n", spn_trainer_step_count(t));
  return ok ? 0 : 1;
}

/* The preset is read in a first pass so the other options, parsed after it, override it. */
static gboolean
init_preset(int argc, char **argv, SpnConfig *cfg, SpnPreset *preset)
{
  g_autofree char *name = NULL;
  GOptionEntry e[] = {{"preset", 0, 0, G_OPTION_ARG_STRING, &name, NULL, NULL},
                      {NULL, 0, 0, 0, NULL, NULL, NULL}};
  g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
  g_option_context_set_help_enabled(ctx, FALSE);
  g_option_context_set_ignore_unknown_options(ctx, TRUE);
  g_option_context_add_main_entries(ctx, e, NULL);
  g_auto(GStrv) args = g_new0(char *, argc + 1);
  for (int i = 0; i < argc; i++)
    args[i] = g_strdup(argv[i]);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse_strv(ctx, &args, &error)) {
    g_printerr("spanscope-cli: %s\n", error->message);
    return FALSE;
  }
  *preset = SPN_PRESET_DESKTOP;
  if (name != NULL && !spn_preset_from_name(name, preset)) {
    g_autofree char *names = spn_preset_names();
    g_printerr("spanscope-cli: --preset %s: expected %s\n", name, names);
    return FALSE;
  }
  spn_preset_init(*preset, cfg);
  return TRUE;
}

/* "Starting settings that the other options override: desktop (default: ...), ..." */
static char *
preset_help(void)
{
  GString *s = g_string_new("Starting settings that the other options override:");
  for (int i = 0; i < SPN_PRESET_COUNT; i++)
    g_string_append_printf(s, "%s %s (%s%s)", i == 0 ? "" : i == SPN_PRESET_COUNT - 1 ? " or" : ",",
                           spn_preset_name(i), i == SPN_PRESET_DESKTOP ? "default: " : "",
                           spn_preset_about(i));
  return g_string_free(s, FALSE);
}

static int
cmd_train(int argc, char **argv)
{
  TrainArgs a = {.steps = 1000, .eval_every = -1, .eval_tokens = 65536, .save_every = 500,
                 .report_every = 10};
  SpnPreset preset;
  if (!init_preset(argc, argv, &a.cfg, &preset))
    return 2;
  g_autofree char *preset_name = NULL, *preset_about = preset_help();
  GOptionEntry run[] = {
    {"preset", 0, 0, G_OPTION_ARG_STRING, &preset_name, preset_about, "NAME"},
    {"steps", 0, 0, G_OPTION_ARG_INT, &a.steps, "Train until this step (default 1000)", "N"},
    {"eval-every", 0, 0, G_OPTION_ARG_INT, &a.eval_every,
     "Validation bpc every N steps and at the end, 0 = never (default 100; 1000, the "
     "reference's, with --eval-mode reference, which then reads N/10 blocks)", "N"},
    {"eval-tokens", 0, 0, G_OPTION_ARG_INT, &a.eval_tokens,
     "Validation tokens per evaluation with --eval-mode prefix, 0 = the whole split "
     "(default 65536)", "N"},
    {"checkpoint", 0, 0, G_OPTION_ARG_FILENAME, &a.checkpoint,
     "Resume from PATH if it exists; save to it periodically and at the end", "PATH"},
    {"save-every", 0, 0, G_OPTION_ARG_INT, &a.save_every, "Save every N steps (default 500)", "N"},
    {"report-every", 0, 0, G_OPTION_ARG_INT, &a.report_every, "Progress every N steps (default 10)", "N"},
    {"json", 0, 0, G_OPTION_ARG_NONE, &a.json, "One JSON object per progress line", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("- train a model");
  g_option_context_set_summary(ctx, "Trains the adaptive-span Transformer on a corpus, showing "
                                    "progress; option names follow the reference's.");
  /* the settings table's options are main options, listed with the others */
  g_option_context_set_main_group(ctx, spn_config_option_group(&a.cfg));
  g_option_context_add_main_entries(ctx, run, NULL);
  add_corpus_entries(ctx, &a.corpus);
  if (!parse(ctx, &argc, &argv))
    return 2;
  if (a.corpus.corpus == NULL && spn_preset_corpus(preset) != NULL)
    a.corpus.corpus = g_strdup(spn_preset_corpus(preset));   /* the preset's corpus comes along */
  if (a.steps < 0 || a.report_every < 1 || a.eval_tokens < 0 || a.eval_every < -1) {
    g_printerr("spanscope-cli: --steps, --eval-every and --eval-tokens must be >= 0, "
               "--report-every >= 1\n");
    return 2;
  }
  if (a.eval_every < 0)
    a.eval_every = a.cfg.eval_mode == SPN_EVAL_REFERENCE ? SPN_REFERENCE_EVAL_EVERY : 100;
  spn_threads_init(a.cfg.threads);
  GError *error = NULL;
  SpnTrainer *t = open_trainer(&a, &error);
  if (t == NULL)
    return fail(error);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  int rc = train_loop(t, &a);
  spn_trainer_free(t);
  g_free(a.checkpoint);
  g_free(a.corpus.corpus);
  return rc;
}

/* ---- eval, probe, generate ---- */

static SpnCheckpoint *
open_checkpoint(const char *path, GError **error)
{
  if (path == NULL) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--checkpoint PATH is required");
    return NULL;
  }
  return spn_checkpoint_load(path, error);
}

static int
cmd_eval(int argc, char **argv)
{
  g_auto(CorpusArgs) ca = {0};
  g_autofree char *ckpt = NULL, *split = NULL;
  int batch = 0, threads = 0;
  gboolean whole_blocks = FALSE;
  GOptionEntry e[] = {
    {"checkpoint", 0, 0, G_OPTION_ARG_FILENAME, &ckpt, "Model to evaluate", "PATH"},
    {"split", 0, 0, G_OPTION_ARG_STRING, &split, "valid (default) or test", "NAME"},
    {"batch-sz", 0, 0, G_OPTION_ARG_INT, &batch, "Streams (default: the model's)", "B"},
    {"threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads, 0 = one per core", "N"},
    {"whole-blocks", 0, 0, G_OPTION_ARG_NONE, &whole_blocks,
     "Leave out each stream's last partial block, as the reference's full evaluation", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("- bits per character over a whole split");
  g_option_context_add_main_entries(ctx, e, NULL);
  add_corpus_entries(ctx, &ca);
  if (!parse(ctx, &argc, &argv))
    return 2;
  SpnSplit which = SPN_SPLIT_VALID;
  if (split && g_str_equal(split, "test"))
    which = SPN_SPLIT_TEST;
  else if (split && !g_str_equal(split, "valid")) {
    g_printerr("spanscope-cli: --split %s: expected valid or test\n", split);
    return 2;
  }
  spn_threads_init(threads);
  GError *error = NULL;
  SpnCheckpoint *ck = open_checkpoint(ckpt, &error);
  if (ck == NULL)
    return fail(error);
  SpnCorpus *corpus = load_corpus(&ca, &error);
  int rc = 0;
  double bpc = 0;
  gsize scored = 0;
  if (batch <= 0)
    batch = ck->model->cfg.batch_sz;
  if (corpus == NULL)
    rc = fail(error);
  else if (corpus->vocab->size != ck->vocab->size) {
    g_printerr("spanscope-cli: corpus %s has %d tokens in its vocabulary, the model %d\n",
               corpus->source, corpus->vocab->size, ck->vocab->size);
    rc = 1;
  } else if (!spn_evaluate(ck->model, corpus, which, batch, 0, whole_blocks, &bpc, &scored,
                           &error))
    rc = fail(error);
  else
    g_print("{\"split\":\"%s\",\"bpc\":%.6f,\"batch_sz\":%d,\"tokens\":%zu,"
            "\"scored\":%zu,\"whole_blocks\":%s}\n",
            which == SPN_SPLIT_TEST ? "test" : "valid", bpc, batch,
            (size_t)corpus->n_tokens[which], (size_t)scored, whole_blocks ? "true" : "false");
  spn_corpus_free(corpus);
  spn_checkpoint_free(ck);
  return rc;
}

static int
cmd_probe(int argc, char **argv)
{
  g_autofree char *ckpt = NULL, *text = NULL, *file = NULL;
  GOptionEntry e[] = {
    {"checkpoint", 0, 0, G_OPTION_ARG_FILENAME, &ckpt, "Model", "PATH"},
    {"text", 0, 0, G_OPTION_ARG_STRING, &text, "Text to read", "TEXT"},
    {"text-file", 0, 0, G_OPTION_ARG_FILENAME, &file, "Read the text from a file", "PATH"},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("- attention and surprisal on a text, as JSON");
  g_option_context_add_main_entries(ctx, e, NULL);
  if (!parse(ctx, &argc, &argv))
    return 2;
  spn_threads_init(0);
  GError *error = NULL;
  g_autofree char *contents = NULL;
  if (file && !g_file_get_contents(file, &contents, NULL, &error))
    return fail(error);
  const char *input = contents ? contents : text;
  if (input == NULL) {
    g_printerr("spanscope-cli: give --text or --text-file\n");
    return 2;
  }
  SpnCheckpoint *ck = open_checkpoint(ckpt, &error);
  if (ck == NULL)
    return fail(error);
  SpnProbe *p = spn_probe_run(ck->model, ck->vocab, input, &error);
  int rc = 0;
  if (p == NULL)
    rc = fail(error);
  else {
    g_autofree char *json = spn_probe_to_json(p, ck->vocab, input);
    g_print("%s\n", json);
  }
  spn_probe_unref(p);
  spn_checkpoint_free(ck);
  return rc;
}

static int
cmd_generate(int argc, char **argv)
{
  g_autofree char *ckpt = NULL, *prompt = NULL;
  int length = 200;
  double temperature = 0.8;
  gint64 seed = 1;
  GOptionEntry e[] = {
    {"checkpoint", 0, 0, G_OPTION_ARG_FILENAME, &ckpt, "Model", "PATH"},
    {"prompt", 0, 0, G_OPTION_ARG_STRING, &prompt, "Text to continue", "TEXT"},
    {"length", 0, 0, G_OPTION_ARG_INT, &length, "Tokens to sample (default 200)", "N"},
    {"temperature", 0, 0, G_OPTION_ARG_DOUBLE, &temperature,
     "Sampling temperature; 0 = always the most likely (default 0.8)", "T"},
    {"seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Random seed (default 1)", "N"},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("- continue a prompt by sampling");
  g_option_context_add_main_entries(ctx, e, NULL);
  if (!parse(ctx, &argc, &argv))
    return 2;
  if (length < 0 || length > 1000000 || temperature < 0) {
    g_printerr("spanscope-cli: --length must be in [0, 1000000] and --temperature >= 0\n");
    return 2;
  }
  spn_threads_init(0);
  GError *error = NULL;
  SpnCheckpoint *ck = open_checkpoint(ckpt, &error);
  if (ck == NULL)
    return fail(error);
  char *out = spn_generate(ck->model, ck->vocab, prompt ? prompt : "\n", length, temperature,
                           (guint64)seed, &error);
  int rc = 0;
  if (out == NULL)
    rc = fail(error);
  else
    g_print("%s%s\n", prompt ? prompt : "", out);
  g_free(out);
  spn_checkpoint_free(ck);
  return rc;
}

static void
usage(void)
{
  g_print("Usage: spanscope-cli COMMAND [OPTION…]\n\n"
          "Commands:\n"
          "  train      train a model (progress as text or --json)\n"
          "  eval       bits per character of a checkpoint over a whole split\n"
          "  probe      attention and surprisal of a checkpoint on a text, as JSON\n"
          "  generate   continue a prompt by sampling\n"
          "  export     draw figures of a checkpoint into a PNG, SVG or PDF file\n\n"
          "spanscope-cli COMMAND --help shows the options of a command; --version the version.\n");
}

int
main(int argc, char **argv)
{
  setlocale(LC_ALL, "");
  if (argc >= 2 && g_str_equal(argv[1], "--version")) {
    g_print("spanscope-cli %s\n", SPN_VERSION);
    return 0;
  }
  if (argc < 2 || g_str_equal(argv[1], "--help") || g_str_equal(argv[1], "-h")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  const char *cmd = argv[1];
  /* the subcommand's own parser sees "spanscope-cli COMMAND" as its program name */
  g_autofree char *prgname = g_strdup_printf("%s %s", argv[0], cmd);
  argv[1] = prgname;
  argc--;
  argv++;
  g_set_prgname(argv[0]);
  if (g_str_equal(cmd, "train"))
    return cmd_train(argc, argv);
  if (g_str_equal(cmd, "eval"))
    return cmd_eval(argc, argv);
  if (g_str_equal(cmd, "probe"))
    return cmd_probe(argc, argv);
  if (g_str_equal(cmd, "generate"))
    return cmd_generate(argc, argv);
  if (g_str_equal(cmd, "export"))
    return spn_cli_export(argc, argv);
  g_printerr("spanscope-cli: unknown command \"%s\"\n\n", cmd);
  usage();
  return 2;
}
