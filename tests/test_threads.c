/* Same numbers on every thread count (issue 8). A model whose layers keep caches of different
 * sizes (128, 512 and 320 rows of S = 512) and whose heads have different spans, set per head:
 * evaluation, the trainer's validation (in the training runner's arrays), the worker's
 * validation, the probe, an inspecting runner over several streams, the reader and training give
 * the same numbers at 1, 2, 3 and 4 threads, and identical numbers on repeated runs.
 *
 * Tolerances. Each thread runs whole streams, every sum over a stream or over all streams is
 * taken in a fixed order, and parameter gradients are split by output element, so the
 * expressions are the same whatever the number of threads; only the number of rows in one BLAS
 * call changes with it, and OpenBLAS's kernels for small products round a row differently when
 * the product has another number of rows (seen here: 160 rows at once versus 32 + 128). Across
 * thread counts the numbers must agree to REL_TOL (the race this guards against moved a bpc by
 * 1e-2); the same thread count twice must give identical bits. Each difference seen is reported
 * with g_test_message. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "checkpoint.h"
#include "parallel.h"
#include "probe.h"
#include "reader.h"
#include "rng.h"
#include "trainer.h"
#include "worker.h"

#define REL_TOL 1e-6
#define MAX_THREADS 4
#define REPEATS 5
#define TRAIN_STEPS 20

/* The training split's token ids as the model reads them. */
static gint32 *
train_ids(const SpnCorpus *corpus)
{
  gsize n = corpus->n_tokens[SPN_SPLIT_TRAIN];
  gint32 *ids = g_new(gint32, MAX(n, 1));
  spn_corpus_copy_ids(corpus, SPN_SPLIT_TRAIN, 0, n, ids);
  return ids;
}

static char *tmpdir;
static char *corpus_path;

/* CASE_HEAD: CASE_FF in head mode; the others in reference mode (config.h) */
typedef enum { CASE_FF, CASE_PERSISTENT, CASE_DROPOUT, CASE_HEAD } Case;

/* Spans as fractions of S, per layer and head: the longest head of each layer gives cache
 * sizes 128, 512 and 320 and key windows of 28, 478 and 222 rows in head mode, 64, 512 and 256
 * (the layers' trimmed windows) in reference mode. */
static const float ZS[3][4] = {
  {0.02f, 0.0f, 0.01f, 0.005f},
  {0.9f, 0.1f, 0.3f, 0.0f},
  {0.2f, 0.4f, 0.0f, 0.05f},
};

static void
config_for(Case kind, SpnConfig *c)
{
  spn_config_init_desktop(c);
  c->nlayers = 3, c->hid_sz = 32, c->nheads = 4, c->inner_hid_sz = 64, c->attn_span = 512;
  c->adapt_span_ramp = 16, c->block_sz = 32, c->lr_warmup = 5, c->seed = 7;
  /* five streams: 2, 3 and 4 threads get unequal shares */
  c->batch_sz = 5;
  c->adapt_span_loss = 1e-4;
  if (kind == CASE_PERSISTENT)
    c->pers_mem_size = 4, c->inner_hid_sz = 0;
  if (kind == CASE_DROPOUT)
    c->dropout = 0.2;
  if (kind == CASE_HEAD)
    c->attn_window = SPN_ATTN_WINDOW_HEAD;
}

static void
set_spans(SpnModel *m)
{
  for (int l = 0; l < 3; l++)
    for (int h = 0; h < 4; h++)
      m->w.layers[l].z[h] = ZS[l][h];
  /* what makes the layers' key/value layouts differ */
  g_assert_cmpint(spn_model_cache_size(m, 0), ==, 128);
  g_assert_cmpint(spn_model_cache_size(m, 1), ==, 512);
  g_assert_cmpint(spn_model_cache_size(m, 2), ==, 320);
}

static SpnCorpus *
load_corpus(void)
{
  g_autoptr(GError) error = NULL;
  SpnCorpusOptions opts = {0};
  SpnCorpus *c = spn_corpus_load(corpus_path, &opts, &error);
  g_assert_no_error(error);
  return c;
}

static SpnTrainer *
trainer_for(Case kind)
{
  SpnConfig c;
  config_for(kind, &c);
  g_autoptr(GError) error = NULL;
  SpnTrainer *t = spn_trainer_new(&c, load_corpus(), &error);
  g_assert_no_error(error);
  set_spans(spn_trainer_model(t));
  return t;
}

static void
assert_close(double got, double want, const char *what, int threads)
{
  if (got == want)
    return;
  if (!(fabs(got - want) <= REL_TOL * fabs(want)))
    g_error("%s with %d threads: %.10g, with 1 thread %.10g", what, threads, got, want);
  g_test_message("%s with %d threads differs from 1 thread by %.2g (relative)", what, threads,
                 fabs(got - want) / fabs(want));
}

/* Elementwise, relative to max(|want|, 1): float32 weights and probabilities below 1 are
 * compared absolutely (a weight of 1e-4 carries float32 rounding of the sums it came from). */
static void
assert_floats_close(const float *got, const float *want, gsize n, const char *what, int threads)
{
  double worst = 0.0;
  for (gsize i = 0; i < n; i++) {
    if (got[i] == want[i] || (isnan(got[i]) && isnan(want[i])))
      continue;
    double diff = fabs((double)got[i] - want[i]), scale = MAX(fabs((double)want[i]), 1.0);
    if (!(diff <= REL_TOL * scale))
      g_error("%s[%zu] with %d threads: %.9g, with 1 thread %.9g", what, (size_t)i, threads,
              got[i], want[i]);
    worst = MAX(worst, diff / scale);
  }
  if (worst > 0)
    g_test_message("%s with %d threads differs from 1 thread by up to %.2g", what, threads, worst);
}

/* ---- evaluation ---- */

static double
evaluate_at(SpnModel *m, int threads)
{
  spn_threads_init(threads);
  g_autoptr(GError) error = NULL;
  SpnCorpus *corpus = load_corpus();
  double bpc = 0.0;
  g_assert_true(spn_evaluate(m, corpus, SPN_SPLIT_VALID, m->cfg.batch_sz, 0, FALSE, &bpc, NULL,
                             &error));
  g_assert_no_error(error);
  spn_corpus_free(corpus);
  return bpc;
}

static void
test_eval(gconstpointer data)
{
  SpnTrainer *t = trainer_for(GPOINTER_TO_INT(data));
  SpnModel *m = spn_trainer_model(t);
  double want = evaluate_at(m, 1);
  for (int threads = 2; threads <= MAX_THREADS; threads++)
    assert_close(evaluate_at(m, threads), want, "eval bpc", threads);
  double first = evaluate_at(m, 2);
  for (int k = 1; k < REPEATS; k++)
    g_assert_cmpfloat(evaluate_at(m, 2), ==, first);
  spn_trainer_free(t);
}

/* ---- validation while training ---- */

/* The trainer's validation works in the training runner's arrays; after a training step they
 * hold activations, and the first step (one thread) changes the spans a little but keeps them
 * apart. Equal to an evaluation in arrays of its own. */
static void
test_training_validation(void)
{
  SpnTrainer *t = trainer_for(CASE_FF);
  spn_threads_init(1);
  g_assert_true(spn_trainer_step(t, NULL, NULL));
  double want = 0.0, bpc = 0.0;
  g_assert_true(spn_trainer_evaluate(t, SPN_SPLIT_VALID, 5, 0, &want, NULL));
  g_assert_cmpfloat(want, ==, evaluate_at(spn_trainer_model(t), 1));
  for (int threads = 2; threads <= MAX_THREADS; threads++) {
    spn_threads_init(threads);
    g_assert_true(spn_trainer_evaluate(t, SPN_SPLIT_VALID, 5, 0, &bpc, NULL));
    assert_close(bpc, want, "validation bpc", threads);
    g_assert_cmpfloat(bpc, ==, evaluate_at(spn_trainer_model(t), threads));
  }
  spn_threads_init(2);
  double first = 0.0;
  g_assert_true(spn_trainer_evaluate(t, SPN_SPLIT_VALID, 5, 0, &first, NULL));
  for (int k = 1; k < REPEATS; k++) {
    g_assert_true(spn_trainer_evaluate(t, SPN_SPLIT_VALID, 5, 0, &bpc, NULL));
    g_assert_cmpfloat(bpc, ==, first);
  }
  spn_trainer_free(t);
}

/* ---- the worker's validation ---- */

typedef struct {
  SpnSnapshot *last;
  int errors;
} WorkerSeen;

static void
on_snapshot(SpnSnapshot *s, const SpnWorkerStatus *st, gpointer data)
{
  (void)st;
  WorkerSeen *seen = data;
  spn_snapshot_unref(seen->last);
  seen->last = spn_snapshot_ref(s);
}

static void
on_message(const SpnWorkerMessage *message, gpointer data)
{
  WorkerSeen *seen = data;
  if (message->kind == SPN_WORKER_FAILED) {
    g_printerr("worker: %s\n", message->text);
    seen->errors++;
  }
}

/* Opens a checkpoint that says `threads` in the worker (its training thread sets the pool from
 * it) and returns the validation bpc the worker records. */
static double
worker_validation(const char *checkpoint)
{
  GMainContext *ctx = g_main_context_new();
  WorkerSeen seen = {0};
  SpnWorker *w = spn_worker_new(ctx, on_snapshot, on_message, &seen);
  spn_worker_open(w, checkpoint, corpus_path);
  spn_worker_evaluate(w, 0);
  g_assert_true(spn_worker_sync(w, 120000));
  while (g_main_context_iteration(ctx, FALSE))
    ;
  g_assert_cmpint(seen.errors, ==, 0);
  g_assert_nonnull(seen.last);
  const SpnHistory *h = seen.last->history;
  g_assert_cmpint(h->n, ==, 1);
  g_assert_cmpint(h->n_valid, ==, 1);
  double bpc = spn_history_valid_bpc(h, 0);
  spn_worker_free(w);
  while (g_main_context_iteration(ctx, FALSE))
    ;
  spn_snapshot_unref(seen.last);
  g_main_context_unref(ctx);
  return bpc;
}

static void
test_worker_validation(void)
{
  SpnTrainer *t = trainer_for(CASE_FF);
  spn_threads_init(1);
  g_assert_true(spn_trainer_step(t, NULL, NULL));
  set_spans(spn_trainer_model(t));
  double want = 0.0;
  g_assert_true(spn_trainer_evaluate(t, SPN_SPLIT_VALID, 5, 0, &want, NULL));
  for (int threads = 1; threads <= MAX_THREADS; threads++) {
    g_autofree char *name = g_strdup_printf("threads%d.safetensors", threads);
    g_autofree char *path = g_build_filename(tmpdir, name, NULL);
    spn_trainer_model(t)->cfg.threads = threads;
    g_assert_true(spn_trainer_save(t, path, NULL));
    /* the history keeps the value as a float */
    assert_close(worker_validation(path), (float)want, "worker validation bpc", threads);
  }
  spn_trainer_free(t);
}

/* ---- probe, inspecting runner, reader ---- */

static const char *
probe_text(void)
{
  static char *text;
  if (text == NULL) {
    g_autofree char *all = NULL;
    g_assert_true(g_file_get_contents(corpus_path, &all, NULL, NULL));
    text = g_strndup(all, 1400); /* longer than S: caches fill and trim */
  }
  return text;
}

static void
assert_probe_close(const SpnProbe *got, const SpnProbe *want, const char *what, int threads)
{
  g_assert_cmpint(got->n, ==, want->n);
  g_autofree char *s = g_strdup_printf("%s surprisal", what);
  assert_floats_close(got->surprisal, want->surprisal, got->n, s, threads);
  for (int k = 0; k < want->nlayers * want->nheads; k++) {
    const SpnProbeHead *a = &got->heads[k], *b = &want->heads[k];
    g_assert_cmpint(a->window, ==, b->window);
    g_autofree char *wname = g_strdup_printf("%s attention (layer %d head %d)", what,
                                             k / want->nheads, k % want->nheads);
    assert_floats_close(a->weights, b->weights, (gsize)want->n * b->window, wname, threads);
    assert_floats_close(a->before_start, b->before_start, want->n, wname, threads);
    assert_floats_close(a->persistent, b->persistent, want->n, wname, threads);
  }
}

/* What an inspecting runner (the probe's kind, which keeps attention weights) computes over all
 * streams for three blocks: log-probabilities and a sample of attention weights. */
static float *
inspect_at(SpnModel *m, const gint32 *tokens, int threads, gsize *n_out)
{
  spn_threads_init(threads);
  const SpnConfig *c = &m->cfg;
  int B = c->batch_sz, M = c->block_sz, S = c->attn_span, n = B * M;
  gsize per_block = (gsize)n * c->vocab_size + (gsize)c->nlayers * B * S;
  float *out = g_new(float, 3 * per_block);
  SpnRunner *r = spn_runner_new(m, B, M, FALSE);
  for (int j = 0; j < 3; j++) {
    float *o = out + j * per_block;
    spn_runner_forward(r, tokens + (gsize)j * n, NULL, M, FALSE, NULL);
    memcpy(o, spn_runner_logprobs(r), sizeof(float) * n * c->vocab_size);
    for (int l = 0; l < c->nlayers; l++)
      for (int b = 0; b < B; b++)
        spn_runner_attention(r, l, b, (l + b) % c->nheads, M - 1,
                             o + (gsize)n * c->vocab_size + ((gsize)l * B + b) * S, NULL);
  }
  spn_runner_free(r);
  *n_out = 3 * per_block;
  return out;
}

static void
test_inspect_runner(void)
{
  SpnTrainer *t = trainer_for(CASE_FF);
  SpnModel *m = spn_trainer_model(t);
  const SpnCorpus *corpus = spn_trainer_corpus(t);
  g_autofree gint32 *tokens = train_ids(corpus);
  gsize n = 0;
  float *want = inspect_at(m, tokens, 1, &n);
  for (int threads = 2; threads <= MAX_THREADS; threads++) {
    float *got = inspect_at(m, tokens, threads, &n);
    assert_floats_close(got, want, n, "inspecting runner", threads);
    g_free(got);
  }
  float *first = inspect_at(m, tokens, 2, &n);
  for (int k = 1; k < REPEATS; k++) {
    float *got = inspect_at(m, tokens, 2, &n);
    g_assert_cmpmem(got, sizeof(float) * n, first, sizeof(float) * n);
    g_free(got);
  }
  g_free(first);
  g_free(want);
  spn_trainer_free(t);
}

/* The probe (a runner over one stream, in blocks) and the reader (one position at a time, its
 * own code) read a text longer than S. */
typedef SpnProbe *(*ReadFunc)(SpnModel *m, const SpnVocab *vocab);

static SpnProbe *
probe_read(SpnModel *m, const SpnVocab *vocab)
{
  g_autoptr(GError) error = NULL;
  SpnProbe *p = spn_probe_run(m, vocab, probe_text(), &error);
  g_assert_no_error(error);
  return p;
}

static SpnProbe *
reader_read(SpnModel *m, const SpnVocab *vocab)
{
  g_autoptr(SpnParamBlob) weights = spn_param_blob_new(&m->cfg, m->layout, m->params);
  SpnReader *r = spn_reader_new(weights, vocab);
  g_autoptr(GError) error = NULL;
  g_assert_true(spn_reader_read(r, probe_text(), &error));
  SpnProbe *p = spn_probe_snapshot(spn_reader_probe(r));
  spn_reader_free(r);
  return p;
}

static void
readings_agree(Case kind, ReadFunc read_text, const char *what)
{
  SpnTrainer *t = trainer_for(kind);
  SpnModel *m = spn_trainer_model(t);
  const SpnVocab *vocab = spn_trainer_corpus(t)->vocab;
  spn_threads_init(1);
  SpnProbe *want = read_text(m, vocab);
  for (int threads = 2; threads <= MAX_THREADS; threads++) {
    spn_threads_init(threads);
    SpnProbe *p = read_text(m, vocab);
    assert_probe_close(p, want, what, threads);
    spn_probe_unref(p);
  }
  spn_threads_init(2);
  SpnProbe *first = read_text(m, vocab);
  for (int k = 1; k < REPEATS; k++) {
    SpnProbe *p = read_text(m, vocab);
    g_assert_cmpmem(p->surprisal + 1, sizeof(float) * (p->n - 1), first->surprisal + 1,
                    sizeof(float) * (first->n - 1));
    for (int h = 0; h < p->nlayers * p->nheads; h++)
      g_assert_cmpmem(p->heads[h].weights, sizeof(float) * p->n * p->heads[h].window,
                      first->heads[h].weights, sizeof(float) * first->n * first->heads[h].window);
    spn_probe_unref(p);
  }
  spn_probe_unref(first);
  spn_probe_unref(want);
  spn_trainer_free(t);
}

static void
test_probe(gconstpointer data)
{
  readings_agree(GPOINTER_TO_INT(data), probe_read, "probe");
}

static void
test_reader(void)
{
  readings_agree(CASE_FF, reader_read, "reader");
}

/* ---- training ---- */

/* Training losses agree across thread counts; parameters after several steps are not compared
 * across them. Adagrad divides each gradient element by its own root-sum-square (+1e-10), so an
 * element whose gradient is float32 rounding noise (a position column whose attention weight is
 * ~1e-8: gradient ~1e-10, 1e-7 of the tensor's largest, its rounding moved by the number of rows
 * in a BLAS call) takes a step of lr·g/(|g| + 1e-10) whose size follows that noise: the first
 * step already moves one such key_pe element by 4.7e-6 more with 3 threads than with 1. What
 * holds instead: the gradients of the same forward and backward agree to GRAD_TOL of each
 * tensor's largest element, and two runs on the same number of threads are identical. */
#define GRAD_TOL 1e-5

static float *
train_at(Case kind, int threads, double *losses, gsize *n_params)
{
  spn_threads_init(threads);
  SpnTrainer *t = trainer_for(kind);
  for (int s = 0; s < TRAIN_STEPS; s++) {
    SpnStepResult r;
    g_assert_true(spn_trainer_step(t, &r, NULL));
    losses[s] = r.train_bpc;
  }
  SpnModel *m = spn_trainer_model(t);
  *n_params = m->layout->total;
  float *params = g_memdup2(m->params, sizeof(float) * m->layout->total);
  spn_trainer_free(t);
  return params;
}

static void
test_training(gconstpointer data)
{
  Case kind = GPOINTER_TO_INT(data);
  double want[TRAIN_STEPS], got[TRAIN_STEPS];
  gsize n = 0;
  float *want_params = train_at(kind, 2, want, &n);
  float *params = train_at(kind, 2, got, &n);
  g_assert_cmpmem(got, sizeof got, want, sizeof want);
  g_assert_cmpmem(params, sizeof(float) * n, want_params, sizeof(float) * n);
  g_free(params);
  g_free(want_params);
  g_free(train_at(kind, 1, want, &n));
  for (int threads = 2; threads <= MAX_THREADS; threads++) {
    g_free(train_at(kind, threads, got, &n));
    for (int s = 0; s < TRAIN_STEPS; s++) {
      g_autofree char *what = g_strdup_printf("training loss at step %d", s + 1);
      assert_close(got[s], want[s], what, threads);
    }
  }
}

/* The gradients of three forward and backward passes (dropout on where the case has it) from
 * the trainer's first weights, over the training split's first blocks. */
static float *
gradients_at(Case kind, int threads, SpnLayout **layout)
{
  spn_threads_init(threads);
  SpnTrainer *t = trainer_for(kind);
  SpnModel *m = spn_trainer_model(t);
  int B = m->cfg.batch_sz, M = m->cfg.block_sz, n = B * M;
  g_autofree gint32 *tokens = train_ids(spn_trainer_corpus(t));
  SpnRunner *r = spn_runner_new(m, B, M, TRUE);
  spn_model_zero_grad(m);
  for (int j = 0; j < 3; j++) {
    spn_runner_set_dropout_seed(r, 100 + j);
    spn_runner_forward(r, tokens + (gsize)j * n, tokens + (gsize)j * n + 1, M, TRUE, NULL);
    spn_runner_backward(r);
  }
  spn_runner_free(r);
  float *g = g_memdup2(m->grads, sizeof(float) * m->layout->total);
  if (layout)
    *layout = spn_layout_new(&m->cfg);
  spn_trainer_free(t);
  return g;
}

static void
test_gradients(gconstpointer data)
{
  Case kind = GPOINTER_TO_INT(data);
  SpnLayout *layout = NULL;
  float *want = gradients_at(kind, 1, &layout);
  for (int threads = 2; threads <= MAX_THREADS; threads++) {
    float *got = gradients_at(kind, threads, NULL);
    double worst = 0.0;
    for (int k = 0; k < layout->n_tensors; k++) {
      const SpnTensorSpec *ts = &layout->tensors[k];
      double largest = 0.0, diff = 0.0;
      for (gsize i = ts->offset; i < ts->offset + ts->numel; i++) {
        largest = MAX(largest, fabs(want[i]));
        diff = MAX(diff, fabs((double)got[i] - want[i]));
      }
      if (!(diff <= GRAD_TOL * largest))
        g_error("gradient of %s with %d threads differs by %.3g, its largest element %.3g",
                ts->name, threads, diff, largest);
      if (largest > 0)
        worst = MAX(worst, diff / largest);
    }
    if (worst > 0)
      g_test_message("gradients with %d threads differ from 1 thread by up to %.2g of a "
                     "tensor's largest element", threads, worst);
    g_free(got);
  }
  g_free(want);
  spn_layout_free(layout);
}

static void
write_corpus(void)
{
  GString *s = g_string_new(NULL);
  const char *words[] = {"the ", "spans ", "grow ", "and ", "shrink ", "while ", "heads ",
                         "look ", "back, ", "far ", "near. ", "\n"};
  SpnRng rng;
  spn_rng_seed(&rng, 8);
  /* 5 % valid: 3,000 characters, 600 per stream, more than S */
  while (s->len < 60000)
    g_string_append(s, words[spn_rng_below(&rng, G_N_ELEMENTS(words))]);
  corpus_path = g_build_filename(tmpdir, "corpus.txt", NULL);
  g_assert_true(g_file_set_contents(corpus_path, s->str, (gssize)s->len, NULL));
  g_string_free(s, TRUE);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp("spanscope-threads-XXXXXX", NULL);
  write_corpus();
  g_test_add_data_func("/threads/eval/ff", GINT_TO_POINTER(CASE_FF), test_eval);
  g_test_add_data_func("/threads/eval/persistent", GINT_TO_POINTER(CASE_PERSISTENT), test_eval);
  g_test_add_data_func("/threads/eval/head-window", GINT_TO_POINTER(CASE_HEAD), test_eval);
  g_test_add_func("/threads/training-validation", test_training_validation);
  g_test_add_func("/threads/worker-validation", test_worker_validation);
  g_test_add_data_func("/threads/probe/ff", GINT_TO_POINTER(CASE_FF), test_probe);
  g_test_add_data_func("/threads/probe/persistent", GINT_TO_POINTER(CASE_PERSISTENT), test_probe);
  g_test_add_func("/threads/inspecting-runner", test_inspect_runner);
  g_test_add_func("/threads/reader", test_reader);
  g_test_add_data_func("/threads/training/ff", GINT_TO_POINTER(CASE_FF), test_training);
  g_test_add_data_func("/threads/training/persistent", GINT_TO_POINTER(CASE_PERSISTENT),
                       test_training);
  g_test_add_data_func("/threads/training/dropout", GINT_TO_POINTER(CASE_DROPOUT), test_training);
  g_test_add_data_func("/threads/training/head-window", GINT_TO_POINTER(CASE_HEAD), test_training);
  g_test_add_data_func("/threads/gradients/ff", GINT_TO_POINTER(CASE_FF), test_gradients);
  g_test_add_data_func("/threads/gradients/persistent", GINT_TO_POINTER(CASE_PERSISTENT),
                       test_gradients);
  g_test_add_data_func("/threads/gradients/dropout", GINT_TO_POINTER(CASE_DROPOUT),
                       test_gradients);
  g_test_add_data_func("/threads/gradients/head-window", GINT_TO_POINTER(CASE_HEAD),
                       test_gradients);
  int rc = g_test_run();
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) dir = g_dir_open(tmpdir, 0, NULL);
  const char *name;
  while (dir && (name = g_dir_read_name(dir)) != NULL) {
    g_autofree char *path = g_build_filename(tmpdir, name, NULL);
    g_unlink(path);
  }
  g_rmdir(tmpdir);
  return rc;
}
