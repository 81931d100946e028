/* spanscope-cli — train, evaluate, probe and sample from the command line. */
#include <gio/gunixoutputstream.h>
#include <glib-unix.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli_common.h"
#include "cli_export.h"
#include "cli_ref.h"
#include "demo.h"
#include "generate.h"
#include "jsonwrite.h"
#include "parallel.h"
#include "probe.h"
#include "spanscope-config.h"
#include "trainer.h"

/* the longest text probe reads from a file */
#define PROBE_MAX_BYTES (64u << 20)

/* ---- corpus options (train, eval) ---- */

typedef struct {
  char *corpus;
  gboolean byte_mode, ref_format;
} CorpusArgs;

static void
corpus_args_clear(CorpusArgs *a)
{
  g_clear_pointer(&a->corpus, g_free);
}

#define CORPUS_HELP                                                                              \
  "Text file, folder with train/valid/test.txt, \"bundled\", \"demo\" (generated text with "     \
  "passages recurring " G_STRINGIFY(SPN_DEMO_DISTANCE) " characters later) or \"longdemo\" "     \
  "(recurring " G_STRINGIFY(SPN_LONG_DEMO_NEAR) ", " G_STRINGIFY(SPN_LONG_DEMO_MID) " or "        \
  G_STRINGIFY(SPN_LONG_DEMO_FAR) " characters later); a file named demo is ./demo"

/* GLib copies the entries (not their strings), so a local array will do */
static void
add_corpus_entries(GOptionContext *ctx, CorpusArgs *a, const char *help)
{
  GOptionEntry entries[] = {
    {"corpus", 0, 0, G_OPTION_ARG_FILENAME, &a->corpus, help, "PATH"},
    {"byte-mode", 0, 0, G_OPTION_ARG_NONE, &a->byte_mode, "Every byte is a token (V = 256)", NULL},
    {"ref-format", 0, 0, G_OPTION_ARG_NONE, &a->ref_format,
     "Folder in the reference's enwik8/text8 format (space-separated byte values)", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_option_context_add_main_entries(ctx, entries, NULL);
}

/* A path is recorded absolute, so that a checkpoint finds its corpus from any folder. */
static SpnCorpus *
load_corpus(const CorpusArgs *a, GError **error)
{
  SpnCorpusOptions opts = {.byte_mode = a->byte_mode, .ref_format = a->ref_format};
  const char *name = a->corpus ? a->corpus : SPN_BUNDLED_SOURCE;
  if (g_str_equal(name, SPN_BUNDLED_SOURCE) || spn_demo_corpus(name) != NULL)
    return spn_corpus_load(name, &opts, error);
  g_autofree char *path = g_canonicalize_filename(name, NULL);
  SpnCorpus *corpus = spn_corpus_load(path, &opts, error);
  spn_cli_name_option(error, "--corpus", path);
  return corpus;
}

/* ---- stopping: Ctrl+C, SIGTERM, SIGHUP ----
 *
 * The first signal asks the run to stop: the step under way finishes, a validation under way
 * stops at its next block, the run is saved, and the program exits with 128 + the signal's
 * number (130 for Ctrl+C). A second signal quits at once without saving (what is on disk stays
 * whole: saves go through a temporary file). The signals are GLib's unix signal sources,
 * dispatched on a thread of their own, so they are heard while the main thread computes. */

static GCancellable *stop_request;
static gint stop_signal;

static gboolean
on_stop_signal(gpointer data)
{
  int sig = GPOINTER_TO_INT(data);
  if (!g_atomic_int_compare_and_exchange(&stop_signal, 0, sig)) {
    static const char msg[] = "spanscope-cli train: quitting at once, without saving\n";
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) { /* nothing more to say */
    }
    _exit(128 + sig);
  }
  g_printerr("spanscope-cli train: %s: stopping after this step and saving (%s again quits at "
             "once, without saving)\n", g_strsignal(sig), sig == SIGINT ? "Ctrl+C" : "the signal");
  g_cancellable_cancel(stop_request);
  return G_SOURCE_CONTINUE;
}

typedef struct {
  GMainContext *ctx;
  GThread *thread;
  gint done;
} SignalWatch;

static gpointer
watch_signals(gpointer data)
{
  SignalWatch *w = data;
  g_main_context_push_thread_default(w->ctx);
  while (!g_atomic_int_get(&w->done))
    g_main_context_iteration(w->ctx, TRUE);
  g_main_context_pop_thread_default(w->ctx);
  return NULL;
}

static void
signal_watch_start(SignalWatch *w)
{
  static const int signals[] = {SIGINT, SIGTERM, SIGHUP};
  stop_request = g_cancellable_new();
  w->ctx = g_main_context_new();
  for (guint i = 0; i < G_N_ELEMENTS(signals); i++) {
    GSource *source = g_unix_signal_source_new(signals[i]);
    g_source_set_callback(source, on_stop_signal, GINT_TO_POINTER(signals[i]), NULL);
    g_source_attach(source, w->ctx);
    g_source_unref(source);
  }
  w->done = 0;
  w->thread = g_thread_new("signals", watch_signals, w);
}

static void
signal_watch_stop(SignalWatch *w)
{
  g_atomic_int_set(&w->done, 1);
  g_main_context_wakeup(w->ctx);
  g_thread_join(w->thread);
  g_main_context_unref(w->ctx);
  g_clear_object(&stop_request);
}

static gboolean
stopping(void)
{
  return g_atomic_int_get(&stop_signal) != 0;
}

/* ---- train ---- */

typedef struct {
  SpnConfig cfg;
  CorpusArgs corpus;
  char *checkpoint, *preset;
  int steps, eval_every, eval_tokens, save_every, report_every;
  gboolean json;
  GHashTable *given;   /* the row options given */
} TrainArgs;

static void
train_args_clear(TrainArgs *a)
{
  corpus_args_clear(&a->corpus);
  g_clear_pointer(&a->checkpoint, g_free);
  g_clear_pointer(&a->preset, g_free);
  g_clear_pointer(&a->given, g_hash_table_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(TrainArgs, train_args_clear)

static const SpnConfigField train_rows[] = {
  SPN_CLI_ROW("steps", TrainArgs, steps, SPN_FIELD_INT, 0, 1e9, "Train until this step", "N"),
  SPN_CLI_ROW("eval-every", TrainArgs, eval_every, SPN_FIELD_INT, 0, 1e9,
              "Validation bpc every N steps and at the end, 0 = never; with --eval-mode "
              "reference the default is the reference's 1000, and each validation reads N/10 "
              "blocks", "N"),
  SPN_CLI_ROW("eval-tokens", TrainArgs, eval_tokens, SPN_FIELD_INT, 0, G_MAXINT,
              "Validation tokens per evaluation with --eval-mode prefix, 0 = the whole split",
              "N"),
  SPN_CLI_ROW("save-every", TrainArgs, save_every, SPN_FIELD_INT, 0, 1e9,
              "With --checkpoint: save every N steps and at the end, 0 = at the end only", "N"),
  SPN_CLI_ROW("report-every", TrainArgs, report_every, SPN_FIELD_INT, 1, 1e9,
              "Progress every N steps", "N"),
};
static const TrainArgs train_defaults = {.steps = 1000, .eval_every = 100, .eval_tokens = 65536,
                                         .save_every = 500, .report_every = 10};

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
  GString *s = g_string_new("{");
  spn_json_key(s, "step", TRUE);
  g_string_append_printf(s, "%" G_GINT64_FORMAT, r->step);
  spn_json_key(s, "train_bpc", FALSE);
  spn_json_number(s, r->train_bpc, 7);
  if (!isnan(val_bpc)) {
    spn_json_key(s, "val_bpc", FALSE);
    spn_json_number(s, val_bpc, 7);
  }
  spn_json_key(s, "tokens_per_s", FALSE);
  spn_json_number(s, tokens_per_s, 6);
  spn_json_key(s, "lr", FALSE);
  spn_json_number(s, r->lr, 6);
  spn_json_key(s, "spans", FALSE);
  g_string_append_c(s, '[');
  for (int l = 0; l < c->nlayers; l++) {
    g_string_append(s, l ? ",[" : "[");
    for (int h = 0; h < c->nheads; h++) {
      if (h)
        g_string_append_c(s, ',');
      spn_json_number(s, spn_model_span(m, l, h), 6);
    }
    g_string_append_c(s, ']');
  }
  g_string_append_c(s, ']');
  double avg, mx;
  span_stats(m, &avg, &mx);
  spn_json_key(s, "span_avg", FALSE);
  spn_json_number(s, avg, 6);
  spn_json_key(s, "span_max", FALSE);
  spn_json_number(s, mx, 6);
  spn_json_key(s, "batch_sz", FALSE);
  g_string_append_printf(s, "%d", c->batch_sz);
  /* what this step cost, and the same model with every head at S */
  SpnCost full = spn_cost_full_span(c, NULL);
  const struct {
    const char *name;
    double value;
  } cost[] = {
    {"flops_per_char", r->cost.flops},
    {"flops_per_char_full_span", full.flops},
    {"attn_flops_per_char", r->cost.attn_flops},
    {"attn_flops_per_char_full_span", full.attn_flops},
    {"cache_bytes", r->cost.cache_bytes},
    {"cache_bytes_full_span", full.cache_bytes},
  };
  for (guint i = 0; i < G_N_ELEMENTS(cost); i++) {
    spn_json_key(s, cost[i].name, FALSE);
    spn_json_number(s, cost[i].value, 7);
  }
  g_string_append_c(s, '}');
  return g_string_free(s, FALSE);
}

static void
print_progress(SpnTrainer *t, const SpnStepResult *r, gint64 total, double val_bpc,
               double tokens_per_s)
{
  double avg, mx;
  span_stats(spn_trainer_model(t), &avg, &mx);
  g_autofree char *val = isnan(val_bpc) ? g_strdup("") : g_strdup_printf("  val %.3f bpc", val_bpc);
  SpnCost full = spn_cost_full_span(&spn_trainer_model(t)->cfg, NULL);
  g_print("step %5" G_GINT64_FORMAT "/%" G_GINT64_FORMAT "  train %.3f bpc%s  %6.0f tok/s  "
          "span avg %.1f max %.1f  lr %.4f  FLOPs %.0f%% of full span\n",
          r->step, total, r->train_bpc, val, tokens_per_s, avg, mx,
          r->lr, 100.0 * r->cost.flops / full.flops);
}

/* "--nlayers 8 (C has 4)" for every setting that differs, resumable ones and the others apart */
static void
describe_differences(const SpnConfig *have, const SpnConfig *want, GString *refused,
                     GString *changed)
{
  guint n;
  const SpnConfigField *rows = spn_config_fields(&n);
  for (guint i = 0; i < n; i++) {
    const SpnConfigField *f = &rows[i];
    if ((f->flags & SPN_FIELD_INTERNAL) || spn_config_field_equal(have, want, f))
      continue;
    g_autofree char *old = spn_config_field_format(have, f);
    g_autofree char *now = spn_config_field_format(want, f);
    GString *s = (f->flags & SPN_FIELD_RESUMABLE) ? changed : refused;
    g_string_append_printf(s, "%s--%s %s (%s %s)", s->len ? ", " : "", f->name, now,
                           s == changed ? "was" : "the checkpoint has", old);
  }
}

/* "--dropout, --lr, ... and --threads" */
static char *
resumable_names(void)
{
  guint n;
  const SpnConfigField *rows = spn_config_fields(&n);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; i < n; i++)
    if (rows[i].flags & SPN_FIELD_RESUMABLE)
      g_ptr_array_add(names, g_strconcat("--", rows[i].name, NULL));
  GString *s = g_string_new(NULL);
  for (guint i = 0; i < names->len; i++)
    g_string_append_printf(s, "%s%s", i == 0 ? "" : i + 1 == names->len ? " and " : ", ",
                           (char *)names->pdata[i]);
  return g_string_free(s, FALSE);
}

/* A run resumes with its own model. The settings the command line gives (all of the preset's
 * but the run group's when --preset is given) must be the checkpoint's, except those a run may
 * change when it resumes, which are taken and named. */
static gboolean
resume_settings(SpnTrainer *t, const TrainArgs *a, GError **error)
{
  const SpnConfig *have = &spn_trainer_model(t)->cfg;
  SpnConfig want = *have;
  guint n;
  const SpnConfigField *rows = spn_config_fields(&n);
  for (guint i = 0; i < n; i++)
    if (g_hash_table_contains(a->given, rows[i].name) ||
        (a->preset && rows[i].group != SPN_FIELD_GROUP_RUN &&
         !(rows[i].flags & SPN_FIELD_INTERNAL)))
      spn_config_field_copy(&want, &a->cfg, &rows[i]);
  g_autoptr(GString) refused = g_string_new(NULL), changed = g_string_new(NULL);
  describe_differences(have, &want, refused, changed);
  if (refused->len > 0) {
    g_autofree char *names = resumable_names();
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "%s holds a run of other settings than the command line gives: %s. A run keeps "
                "its model when it resumes: leave these out to resume it, or name another "
                "--checkpoint to start a new run (resuming may change %s, and the run's --steps, "
                "--eval-every, --eval-tokens, --save-every and --report-every)",
                a->checkpoint, refused->str, names);
    return FALSE;
  }
  if (changed->len > 0)
    spn_trainer_adjust(t, &want);
  g_autofree char *line = g_strdup_printf("resuming %s at step %" G_GINT64_FORMAT "%s%s",
                                          a->checkpoint, spn_trainer_step_count(t),
                                          changed->len ? " with " : "", changed->str);
  if (!a->json)
    g_print("%s\n", line);
  else if (changed->len > 0) /* stdout stays JSON */
    g_printerr("spanscope-cli train: %s\n", line);
  return TRUE;
}

static SpnTrainer *
open_trainer(const TrainArgs *a, GError **error)
{
  if (a->checkpoint && g_file_test(a->checkpoint, G_FILE_TEST_EXISTS)) {
    /* without --corpus the run goes on with the corpus it recorded */
    SpnCorpus *corpus = NULL;
    if (a->corpus.corpus && (corpus = load_corpus(&a->corpus, error)) == NULL)
      return NULL;
    SpnTrainer *t = spn_trainer_load(a->checkpoint, corpus, error);
    spn_cli_name_option(error, "--checkpoint", a->checkpoint);
    if (t && !resume_settings(t, a, error))
      g_clear_pointer(&t, spn_trainer_free);
    return t;
  }
  CorpusArgs ca = a->corpus;
  SpnPreset preset = SPN_PRESET_DESKTOP;
  if (ca.corpus == NULL && a->preset && spn_preset_from_name(a->preset, &preset))
    ca.corpus = (char *)spn_preset_corpus(preset);   /* the preset's corpus comes along */
  SpnCorpus *corpus = load_corpus(&ca, error);
  return corpus ? spn_trainer_new(&a->cfg, corpus, error) : NULL;
}

/* A failed save is tried once more; if that fails too, training stops (the file keeps the last
 * save that succeeded). */
static gboolean
save(SpnTrainer *t, const TrainArgs *a)
{
  for (int attempt = 0; attempt < 2; attempt++) {
    g_autoptr(GError) error = NULL;
    if (spn_trainer_save(t, a->checkpoint, &error)) {
      if (!a->json)
        g_print("saved %s at step %" G_GINT64_FORMAT "\n", a->checkpoint,
                spn_trainer_step_count(t));
      fflush(stdout);
      return TRUE;
    }
    g_printerr("spanscope-cli train: could not save step %" G_GINT64_FORMAT ": %s%s\n",
               spn_trainer_step_count(t), error->message,
               attempt == 0 ? "; trying once more" : "");
  }
  g_printerr("spanscope-cli train: training stopped at step %" G_GINT64_FORMAT " because it "
             "cannot be saved; %s keeps the last save that succeeded, if any\n",
             spn_trainer_step_count(t), a->checkpoint);
  return FALSE;
}

/* validation bpc, NaN when it failed or was stopped */
static double
evaluate(SpnTrainer *t, const TrainArgs *a)
{
  double bpc = NAN;
  g_autoptr(GError) error = NULL;
  if (!spn_trainer_validate(t, a->eval_every, (gsize)a->eval_tokens, &bpc, &error))
    g_printerr("spanscope-cli train: validation of step %" G_GINT64_FORMAT " %s: %s\n",
               spn_trainer_step_count(t),
               g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ? "left out" : "skipped",
               error->message);
  return bpc;
}

/* the exit status: 0, 1 after a failed save or a step that was not finite, 128 + the signal
 * after a stop */
static int
train_loop(SpnTrainer *t, const TrainArgs *a)
{
  const SpnConfig *c = &spn_trainer_model(t)->cfg;
  double window_s = 0.0;
  int window_steps = 0;
  gboolean diverged = FALSE;
  while (spn_trainer_step_count(t) < a->steps && !stopping()) {
    SpnStepResult r;
    g_autoptr(GError) error = NULL;
    if (!spn_trainer_step(t, &r, &error)) {
      /* diverged: nothing bad was applied, so the checkpoint below keeps the last good weights */
      g_printerr("spanscope-cli train: %s\n", error->message);
      diverged = TRUE;
      break;
    }
    window_s += r.seconds;
    window_steps++;
    gboolean last = r.step >= a->steps || stopping();
    gboolean do_eval = a->eval_every > 0 && !stopping() &&
                       (r.step % a->eval_every == 0 || r.step >= a->steps);
    if (!do_eval && r.step % a->report_every != 0 && !last)
      continue;
    double val = do_eval ? evaluate(t, a) : NAN;
    double tps = window_s > 0 ? window_steps * (double)c->batch_sz * c->block_sz / window_s : 0;
    window_s = 0.0;
    window_steps = 0;
    if (!isnan(val))
      spn_trainer_record_validation(t, val);
    if (a->json) {
      g_autofree char *line = metrics_json(t, &r, val, tps);
      g_print("%s\n", line);
    } else
      print_progress(t, &r, a->steps, val, tps);
    fflush(stdout); /* a line as it happens, also into a pipe */
    if (a->checkpoint && a->save_every > 0 && r.step % a->save_every == 0 && !last &&
        !save(t, a))
      return 1;
  }
  if ((a->checkpoint && !save(t, a)) || diverged)
    return 1;
  if (!stopping())
    return 0;
  if (!a->json)
    g_print("stopped at step %" G_GINT64_FORMAT "\n", spn_trainer_step_count(t));
  return 128 + g_atomic_int_get(&stop_signal);
}

/* The preset is read in a first pass so the other options, parsed after it, override it. */
static gboolean
init_preset(int argc, char **argv, SpnConfig *cfg)
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
    spn_cli_usage_error("%s", error->message);
    return FALSE;
  }
  SpnPreset preset = SPN_PRESET_DESKTOP;
  if (name != NULL && !spn_preset_from_name(name, &preset)) {
    g_autofree char *names = spn_preset_names();
    spn_cli_usage_error("--preset %s: expected %s", name, names);
    return FALSE;
  }
  spn_preset_init(preset, cfg);
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
  g_auto(TrainArgs) a = train_defaults;
  a.given = g_hash_table_new(g_str_hash, g_str_equal);
  if (!init_preset(argc, argv, &a.cfg))
    return 2;
  SpnConfig preset_cfg = a.cfg;
  g_autofree char *preset_about = preset_help(), *resumable = resumable_names();
  g_autofree char *checkpoint_help = g_strdup_printf(
      "Resume from PATH if it exists, on the corpus it recorded unless --corpus is given, with its "
      "model (of the settings, only %s may change); save to it periodically and at the end",
      resumable);
  GOptionEntry run[] = {
    {"preset", 0, 0, G_OPTION_ARG_STRING, &a.preset, preset_about, "NAME"},
    {"checkpoint", 0, 0, G_OPTION_ARG_FILENAME, &a.checkpoint, checkpoint_help, "PATH"},
    {"json", 0, 0, G_OPTION_ARG_NONE, &a.json, "One JSON object per progress line", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  guint n_fields;
  const SpnConfigField *fields = spn_config_fields(&n_fields);
  SpnOptionRows sets[] = {
    {fields, n_fields, &a.cfg, &preset_cfg},
    {train_rows, G_N_ELEMENTS(train_rows), &a, &train_defaults},
  };
  g_autoptr(GOptionContext) ctx = spn_cli_context(
      "- train a model", "Trains the adaptive-span Transformer on a corpus, showing progress; "
      "option names follow the reference's. Ctrl+C stops after the step under way and saves "
      "(exit status 130); a second Ctrl+C quits at once.", sets, G_N_ELEMENTS(sets), run, a.given);
  add_corpus_entries(ctx, &a.corpus, CORPUS_HELP "; default: bundled, or the preset's corpus");
  if (!spn_cli_parse(ctx, &argc, &argv))
    return 2;
  GError *error = NULL;
  SignalWatch watch;
  signal_watch_start(&watch);
  SpnTrainer *t = open_trainer(&a, &error);
  int rc = 0;
  if (t == NULL)
    rc = spn_cli_fail(error);
  else {
    const SpnConfig *c = &spn_trainer_model(t)->cfg;
    if (!g_hash_table_contains(a.given, "eval-every") && c->eval_mode == SPN_EVAL_REFERENCE)
      a.eval_every = SPN_REFERENCE_EVAL_EVERY;
    spn_threads_init(c->threads);
    spn_trainer_set_cancellable(t, stop_request);
    rc = train_loop(t, &a);
    spn_trainer_free(t);
  }
  signal_watch_stop(&watch);
  return rc;
}

/* ---- eval ---- */

typedef struct {
  CorpusArgs corpus;
  char *checkpoint, *split;
  int batch, threads;
  gboolean whole_blocks;
  GHashTable *given;
} EvalArgs;

static void
eval_args_clear(EvalArgs *a)
{
  corpus_args_clear(&a->corpus);
  g_clear_pointer(&a->checkpoint, g_free);
  g_clear_pointer(&a->split, g_free);
  g_clear_pointer(&a->given, g_hash_table_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(EvalArgs, eval_args_clear)

static void
print_eval(SpnSplit which, double bpc, int batch, gsize tokens, gsize scored,
           gboolean whole_blocks)
{
  GString *s = g_string_new("{");
  spn_json_key(s, "split", TRUE);
  spn_json_string(s, which == SPN_SPLIT_TEST ? "test" : "valid", -1);
  spn_json_key(s, "bpc", FALSE);
  spn_json_number(s, bpc, 7);
  g_string_append_printf(s, ",\"batch_sz\":%d,\"tokens\":%zu,\"scored\":%zu,\"whole_blocks\":%s}",
                         batch, (size_t)tokens, (size_t)scored, whole_blocks ? "true" : "false");
  g_print("%s\n", s->str);
  g_string_free(s, TRUE);
}

static int
cmd_eval(int argc, char **argv)
{
  g_auto(EvalArgs) a = {.given = g_hash_table_new(g_str_hash, g_str_equal)};
  SpnConfigField batch = *spn_config_field("batch-sz");
  batch.offset = G_STRUCT_OFFSET(EvalArgs, batch);
  batch.help = "Streams (default: the model's)";
  SpnOptionRows sets[] = {{&batch, 1, &a, NULL}, spn_cli_threads_rows(&a.threads)};
  GOptionEntry e[] = {
    {"checkpoint", 0, 0, G_OPTION_ARG_FILENAME, &a.checkpoint, "Model to evaluate", "PATH"},
    {"split", 0, 0, G_OPTION_ARG_STRING, &a.split, "valid (default) or test", "NAME"},
    {"whole-blocks", 0, 0, G_OPTION_ARG_NONE, &a.whole_blocks,
     "Leave out each stream's last partial block, as the reference's full evaluation", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx =
      spn_cli_context("- bits per character over a whole split", "Scores a checkpoint on the "
                      "validation or test split of its corpus (or another of the same "
                      "vocabulary).", sets, G_N_ELEMENTS(sets), e, a.given);
  add_corpus_entries(ctx, &a.corpus, CORPUS_HELP "; default: the corpus it was trained on");
  if (!spn_cli_parse(ctx, &argc, &argv))
    return 2;
  SpnSplit which = SPN_SPLIT_VALID;
  if (a.split && g_str_equal(a.split, "test"))
    which = SPN_SPLIT_TEST;
  else if (a.split && !g_str_equal(a.split, "valid"))
    return spn_cli_usage_error("--split %s: expected valid or test", a.split);
  spn_threads_init(a.threads);
  GError *error = NULL;
  SpnCheckpoint *ck = spn_cli_open_checkpoint(a.checkpoint, &error);
  if (ck == NULL)
    return spn_cli_fail(error);
  SpnCorpus *corpus = a.corpus.corpus ? load_corpus(&a.corpus, &error)
                                      : spn_cli_checkpoint_corpus(ck, a.checkpoint, &error);
  int rc = 0;
  double bpc = 0;
  gsize scored = 0;
  int streams = g_hash_table_contains(a.given, "batch-sz") ? a.batch : ck->model->cfg.batch_sz;
  if (corpus == NULL)
    rc = spn_cli_fail(error);
  else if (!spn_vocab_equal(corpus->vocab, ck->vocab)) {
    /* the same size is not enough: ids of another alphabet mean other characters */
    g_set_error(&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "corpus %s has another vocabulary (%d tokens) than the model (%d tokens); "
                "evaluate on a corpus of the model's alphabet", corpus->source,
                corpus->vocab->size, ck->vocab->size);
    rc = spn_cli_fail(error);
  } else if (!spn_evaluate(ck->model, corpus, which, streams, 0, a.whole_blocks, &bpc, &scored,
                         &error))
    rc = spn_cli_fail(error);
  else
    print_eval(which, bpc, streams, corpus->n_tokens[which], scored, a.whole_blocks);
  spn_corpus_free(corpus);
  spn_checkpoint_free(ck);
  return rc;
}

/* ---- probe ---- */

typedef struct {
  char *checkpoint, *text, *text_file, *layers, *heads;
  int threads, top_k, max_distance;
} ProbeArgs;

static void
probe_args_clear(ProbeArgs *a)
{
  g_clear_pointer(&a->checkpoint, g_free);
  g_clear_pointer(&a->text, g_free);
  g_clear_pointer(&a->text_file, g_free);
  g_clear_pointer(&a->layers, g_free);
  g_clear_pointer(&a->heads, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ProbeArgs, probe_args_clear)

static const SpnConfigField probe_rows[] = {
  SPN_CLI_ROW("top-k", ProbeArgs, top_k, SPN_FIELD_INT, 1, 65536,
              "Per position and head only the K largest weights, as [distance, weight] pairs "
              "(default: every weight)", "K"),
  SPN_CLI_ROW("max-distance", ProbeArgs, max_distance, SPN_FIELD_INT, 1, 65536,
              "Only the weights on distances up to D (default: the head's whole window)", "D"),
};

/* "0,2" → flags of n entries; NULL (every one) without a list */
static gboolean
parse_indices(const char *option, const char *list, int n, const char *what, gboolean **flags)
{
  *flags = NULL;
  if (list == NULL)
    return TRUE;
  g_auto(GStrv) parts = g_strsplit(list, ",", -1);
  g_autofree gboolean *on = g_new0(gboolean, n);
  for (int i = 0; parts[i]; i++) {
    guint64 k;
    if (!g_ascii_string_to_unsigned(g_strstrip(parts[i]), 10, 0, n - 1, &k, NULL)) {
      spn_cli_usage_error("--%s %s: \"%s\" is not one of the model's %s 0 to %d (give a comma "
                          "list, e.g. 0,2)", option, list, parts[i], what, n - 1);
      return FALSE;
    }
    on[k] = TRUE;
  }
  *flags = g_steal_pointer(&on);
  return TRUE;
}

/* --text, --text-file (one of them), or the passage of the checkpoint's corpus */
static char *
probe_input(const ProbeArgs *a, const SpnCheckpoint *ck, gsize *len, GError **error)
{
  if (a->text_file)
    return spn_cli_read_text("--text-file", a->text_file, PROBE_MAX_BYTES, len, error);
  if (a->text) {
    *len = strlen(a->text);
    return g_strdup(a->text);
  }
  char *text = spn_cli_default_text(ck, a->checkpoint, error);
  if (text == NULL)
    g_prefix_error(error, "give --text or --text-file: ");
  else
    *len = strlen(text);
  return text;
}

static int
cmd_probe(int argc, char **argv)
{
  g_auto(ProbeArgs) a = {0};
  SpnOptionRows sets[] = {{probe_rows, G_N_ELEMENTS(probe_rows), &a, NULL},
                          spn_cli_threads_rows(&a.threads)};
  GOptionEntry e[] = {
    {"checkpoint", 0, 0, G_OPTION_ARG_FILENAME, &a.checkpoint, "Model", "PATH"},
    {"text", 0, 0, G_OPTION_ARG_STRING, &a.text,
     "Text to read (default: a passage of the checkpoint's corpus the model did not train on)",
     "TEXT"},
    {"text-file", 0, 0, G_OPTION_ARG_FILENAME, &a.text_file, "Read the text from a file", "PATH"},
    {"layers", 0, 0, G_OPTION_ARG_STRING, &a.layers, "Only these layers, e.g. 0,2 (default: all)",
     "LIST"},
    {"heads", 0, 0, G_OPTION_ARG_STRING, &a.heads,
     "Only these heads of each layer, e.g. 1,3 (default: all)", "LIST"},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx = spn_cli_context(
      "- attention and surprisal on a text, as JSON",
      "Writes, position after position as the model reads, the surprisal of every character and "
      "where each head looked (see README.md for the format).", sets, G_N_ELEMENTS(sets), e, NULL);
  if (!spn_cli_parse(ctx, &argc, &argv))
    return 2;
  if (a.text && a.text_file)
    return spn_cli_usage_error("give --text or --text-file, not both");
  spn_threads_init(a.threads);
  GError *error = NULL;
  SpnCheckpoint *ck = spn_cli_open_checkpoint(a.checkpoint, &error);
  if (ck == NULL)
    return spn_cli_fail(error);
  const SpnConfig *c = &ck->model->cfg;
  g_autofree gboolean *layers = NULL, *heads = NULL;
  gsize len = 0;
  g_autofree char *text = NULL;
  int rc = 0;
  if (!parse_indices("layers", a.layers, c->nlayers, "layers", &layers) ||
      !parse_indices("heads", a.heads, c->nheads, "heads", &heads))
    rc = 2;
  else if ((text = probe_input(&a, ck, &len, &error)) == NULL)
    rc = spn_cli_fail(error);
  else {
    SpnProbeSelection sel = {layers, heads, a.max_distance, a.top_k};
    g_autoptr(GOutputStream) out = g_unix_output_stream_new(STDOUT_FILENO, FALSE);
    if (!spn_probe_write_json(ck->model, ck->vocab, text, len, &sel, out, &error)) {
      if (a.text_file)
        g_prefix_error(&error, "--text-file %s: ", a.text_file);
      rc = spn_cli_fail(error);
    }
  }
  spn_checkpoint_free(ck);
  return rc;
}

/* ---- generate ---- */

typedef struct {
  char *checkpoint, *prompt;
  int length, threads;
  double temperature;
  guint64 seed;
} GenerateArgs;

static void
generate_args_clear(GenerateArgs *a)
{
  g_clear_pointer(&a->checkpoint, g_free);
  g_clear_pointer(&a->prompt, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(GenerateArgs, generate_args_clear)

static const SpnConfigField generate_rows[] = {
  SPN_CLI_ROW("length", GenerateArgs, length, SPN_FIELD_INT, 0, 1000000, "Tokens to sample", "N"),
  SPN_CLI_ROW("temperature", GenerateArgs, temperature, SPN_FIELD_DOUBLE, 0, 100,
              "Sampling temperature; 0 = always the most likely", "T"),
  SPN_CLI_ROW("seed", GenerateArgs, seed, SPN_FIELD_SEED, 0, 0, "Random seed", "N"),
};
static const GenerateArgs generate_defaults = {.length = 200, .temperature = 0.8, .seed = 1};

static int
cmd_generate(int argc, char **argv)
{
  g_auto(GenerateArgs) a = generate_defaults;
  SpnOptionRows sets[] = {{generate_rows, G_N_ELEMENTS(generate_rows), &a, &generate_defaults},
                          spn_cli_threads_rows(&a.threads)};
  GOptionEntry e[] = {
    {"checkpoint", 0, 0, G_OPTION_ARG_FILENAME, &a.checkpoint, "Model", "PATH"},
    {"prompt", 0, 0, G_OPTION_ARG_STRING, &a.prompt, "Text to continue (default: a line break)",
     "TEXT"},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx = spn_cli_context(
      "- continue a prompt by sampling", "Prints the prompt and the model's continuation.", sets,
      G_N_ELEMENTS(sets), e, NULL);
  if (!spn_cli_parse(ctx, &argc, &argv))
    return 2;
  spn_threads_init(a.threads);
  GError *error = NULL;
  SpnCheckpoint *ck = spn_cli_open_checkpoint(a.checkpoint, &error);
  if (ck == NULL)
    return spn_cli_fail(error);
  char *out = spn_generate(ck->model, ck->vocab, a.prompt ? a.prompt : "\n", a.length,
                           a.temperature, a.seed, &error);
  int rc = 0;
  if (out == NULL)
    rc = spn_cli_fail(error);
  else
    g_print("%s%s\n", a.prompt ? a.prompt : "", out);
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
          "  export     draw figures of a checkpoint into a PNG, SVG or PDF file\n"
          "  import     a checkpoint of the reference's main.py (.pt) as a spanscope checkpoint\n"
          "  export-reference   a spanscope checkpoint as a .pt that main.py resumes from\n"
          "  reference-command  main.py's command line for a checkpoint's configuration\n"
          "  follow     one line per new version of a checkpoint a run keeps rewriting\n\n"
          "spanscope-cli COMMAND --help shows the options of a command; --version the version.\n"
          "Exit status: 0 done, 1 failed, 2 bad command line, 128 + N stopped by signal N (130: "
          "Ctrl+C).\n");
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
  static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
  } commands[] = {{"train", cmd_train}, {"eval", cmd_eval}, {"probe", cmd_probe},
                  {"generate", cmd_generate}, {"export", spn_cli_export},
                  {"import", spn_cli_import}, {"export-reference", spn_cli_export_reference},
                  {"reference-command", spn_cli_reference_command}, {"follow", spn_cli_follow}};
  const char *cmd = argv[1];
  for (guint i = 0; i < G_N_ELEMENTS(commands); i++)
    if (g_str_equal(cmd, commands[i].name)) {
      /* the subcommand's own parser sees "spanscope-cli COMMAND" as its program name */
      g_autofree char *prgname = g_strdup_printf("%s %s", argv[0], cmd);
      argv[1] = prgname;
      g_set_prgname(prgname);
      spn_cli_set_command(cmd);
      int rc = commands[i].run(argc - 1, argv + 1);
      spn_cli_set_command(NULL);
      return rc;
    }
  g_printerr("spanscope-cli: unknown command \"%s\"\n\n", cmd);
  usage();
  return 2;
}
