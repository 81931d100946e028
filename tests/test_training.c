/* Training behaviour: trimming changes nothing, a resumed run equals an uninterrupted one,
 * checkpoints and corpora that are wrong give errors, the probe and sampling work. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "checkpoint.h"
#include "fixtures.h"
#include "generate.h"
#include "parallel.h"
#include "probe.h"
#include "rng.h"
#include "safetensors.h"
#include "trainer.h"
#include "fixtures.h"

static char *tmpdir;

static char *
tmp_path(const char *name)
{
  return g_build_filename(tmpdir, name, NULL);
}

/* a small corpus with some structure, so losses move */
static char *
write_corpus(const char *name, gsize chars)
{
  GString *s = g_string_new(NULL);
  const char *words[] = {"the ", "spans ", "grow ", "and ", "shrink ", "while ", "heads ", "look ",
                         "back, ", "far ", "near. ", "\n"};
  SpnRng rng;
  spn_rng_seed(&rng, 3);
  while (s->len < chars)
    g_string_append(s, words[spn_rng_below(&rng, G_N_ELEMENTS(words))]);
  char *path = tmp_path(name);
  g_assert_true(g_file_set_contents(path, s->str, (gssize)s->len, NULL));
  g_string_free(s, TRUE);
  return path;
}

static void
small_config(SpnConfig *c)
{
  spn_config_init_desktop(c);
  c->nlayers = 2, c->hid_sz = 16, c->nheads = 2, c->inner_hid_sz = 32, c->attn_span = 64;
  c->adapt_span_ramp = 8, c->block_sz = 16, c->batch_sz = 3, c->lr_warmup = 5, c->seed = 11;
  c->adapt_span_loss = 1e-4;
}

/* ---- trimming ---- */

static void
run_steps(SpnModel *m, gboolean full, const gint32 *tokens, int steps, double *losses)
{
  const SpnConfig *c = &m->cfg;
  int n = c->batch_sz * c->block_sz;
  SpnRunner *r = spn_runner_new(m, c->batch_sz, c->block_sz, TRUE);
  spn_runner_set_full_windows(r, full);
  SpnOptim *o = spn_optim_new(m);
  for (int s = 0; s < steps; s++) {
    if (s == steps / 2)
      spn_runner_reset_cache(r); /* a stream restart in the middle */
    spn_model_zero_grad(m);
    losses[s] = spn_runner_forward(r, tokens + (gsize)s * n, tokens + (gsize)s * n + 1,
                                   c->block_sz, TRUE, NULL);
    spn_runner_backward(r);
    spn_model_span_loss_backward(m);
    spn_optim_step(o, m);
  }
  spn_optim_free(o);
  spn_runner_free(r);
}

/* Trains a model with spans zs (nlayers × nheads) trimmed and untrimmed (all heads over all S
 * distances, full cache) on the same tokens: the losses and parameters must agree. */
static void
trim_compare(const SpnConfig *cfg, const float *zs)
{
  SpnConfig c = *cfg;
  SpnConfig full_cfg = c;
  full_cfg.adapt_span_cache = FALSE;
  SpnModel *trimmed = spn_model_new(&c), *full = spn_model_new(&full_cfg);
  for (int l = 0; l < c.nlayers; l++)
    for (int h = 0; h < c.nheads; h++)
      trimmed->w.layers[l].z[h] = zs[l * c.nheads + h];
  memcpy(full->params, trimmed->params, sizeof(float) * trimmed->layout->total);
  int steps = 30, n = c.batch_sz * c.block_sz;
  gint32 *tokens = g_new(gint32, (gsize)steps * n + 1);
  SpnRng rng;
  spn_rng_seed(&rng, 9);
  for (int i = 0; i < steps * n + 1; i++)
    tokens[i] = (gint32)spn_rng_below(&rng, c.vocab_size);
  double lt[30], lf[30];
  run_steps(trimmed, FALSE, tokens, steps, lt);
  run_steps(full, TRUE, tokens, steps, lf);
  for (int s = 0; s < steps; s++)
    if (fabs(lt[s] - lf[s]) > 1e-5 * fabs(lf[s]))
      g_error("step %d: trimmed loss %.9g, untrimmed %.9g", s, lt[s], lf[s]);
  /* parameters, except position columns no head can reach: there the untrimmed run applies
   * round-off gradients and the trimmed one exact zeros */
  int wmax = 0;
  for (int l = 0; l < c.nlayers; l++)
    for (int h = 0; h < c.nheads; h++)
      wmax = MAX(wmax, spn_attention_window(full->w.layers[l].z[h], c.attn_span, c.adapt_span_ramp, TRUE));
  for (int t = 0; t < trimmed->layout->n_tensors; t++) {
    const SpnTensorSpec *s = &trimmed->layout->tensors[t];
    gboolean pe = g_str_equal(s->name, "key_pe");
    for (gsize i = 0; i < s->numel; i++) {
      if (pe && (int)(i % c.attn_span) < c.attn_span - wmax)
        continue;
      float a = trimmed->params[s->offset + i], b = full->params[s->offset + i];
      if (fabsf(a - b) > 2e-4f)
        g_error("%s[%zu]: trimmed %.7g, untrimmed %.7g", s->name, (size_t)i, a, b);
    }
  }
  g_free(tokens);
  spn_model_free(trimmed);
  spn_model_free(full);
}

static void
trim_case(int pers)
{
  SpnConfig c;
  small_config(&c);
  c.vocab_size = 13, c.pers_mem_size = pers, c.attn_span = 256;
  /* windows 23, 86, 9 and 166 of S = 256: layer 0 keeps a 192-row cache; 15 blocks of 16 per
   * half: the streams outgrow it before the restart */
  const float zs[4] = {0.05f, 0.3f, 0.0f, 0.61f};
  SpnModel *m = spn_model_new(&c);
  for (int k = 0; k < 4; k++)
    m->w.layers[k / 2].z[k % 2] = zs[k];
  g_assert_cmpint(spn_model_cache_size(m, 0), ==, 192);
  spn_model_free(m);
  trim_compare(&c, zs);
}

static void test_trim_ff(void) { trim_case(0); }
static void test_trim_pers(void) { trim_case(4); }

/* Per-head projections: one long head beside short ones in the same layer, so the layer's
 * cache and key rows are sized by one head while the others read only their own windows. */
static void
test_trim_per_head(void)
{
  SpnConfig c;
  small_config(&c);
  c.vocab_size = 13, c.nheads = 4, c.attn_span = 512, c.pers_mem_size = 2;
  /* windows at the start: 9, 470, 15 and 9 in layer 0; 265, 9, 9 and 512 (all of S) in layer 1 */
  const float zs[8] = {0.0f, 0.9f, 0.01f, 0.0f, 0.5f, 0.0f, 0.0f, 1.0f};
  trim_compare(&c, zs);
}

/* ---- the reference's window ---- */

#define REF_BLOCKS 14

/* REF_BLOCKS blocks of training forward from empty caches (13·16 positions: the caches fill
 * beyond the windows), backward of the last (without an update); the gradients into grads, the
 * log-probabilities of the last block into logp. */
static double
last_block(SpnModel *m, gboolean full, const gint32 *x, float *grads, float *logp)
{
  const SpnConfig *c = &m->cfg;
  int n = c->batch_sz * c->block_sz;
  SpnRunner *r = spn_runner_new(m, c->batch_sz, c->block_sz, TRUE);
  spn_runner_set_full_windows(r, full);
  for (int j = 0; j < REF_BLOCKS - 1; j++)
    spn_runner_forward(r, x + (gsize)j * n, x + (gsize)j * n + 1, c->block_sz, TRUE, NULL);
  spn_model_zero_grad(m);
  const gint32 *xl = x + (gsize)(REF_BLOCKS - 1) * n;
  double loss = spn_runner_forward(r, xl, xl + 1, c->block_sz, TRUE, NULL);
  memcpy(logp, spn_runner_logprobs(r), sizeof(float) * n * c->vocab_size);
  spn_runner_backward(r);
  memcpy(grads, m->grads, sizeof(float) * m->layout->total);
  spn_runner_free(r);
  return loss;
}

/* Reference mode with per-head windows (values and their gradients over each head's own
 * window) against every head over its layer's whole trimmed window, the reference's own
 * computation: the same losses, log-probabilities and gradients, those of key_pe's columns
 * outside every span included. The position table's columns of distances 87..128 and
 * 167..192 (outside every span of layers 0 and 1, inside their trimmed windows) are scaled up
 * so that many queries give their spans almost no mass: the normaliser over the layer's window
 * then decides their weights (through the renormalisation's epsilon) and the gradients of the
 * columns outside every span are large; head mode must give other numbers. */
static void
reference_window_case(int pers)
{
  SpnConfig c;
  small_config(&c);
  c.vocab_size = 13, c.attn_span = 256, c.pers_mem_size = pers;
  c.attn_window = SPN_ATTN_WINDOW_REFERENCE;
  /* windows 23, 86 | 9, 166; the reference's layer windows 128 | 192 */
  const float zs[4] = {0.05f, 0.3f, 0.0f, 0.61f};
  SpnModel *m = spn_model_new(&c);
  for (int k = 0; k < 4; k++)
    m->w.layers[k / 2].z[k % 2] = zs[k];
  g_assert_cmpint(spn_model_trim(m, 0), ==, 128);
  g_assert_cmpint(spn_model_trim(m, 1), ==, 64);
  int S = c.attn_span, D = spn_config_head_dim(&c), n = c.batch_sz * c.block_sz;
  for (int j = 0; j < D; j++)
    for (int delta = 87; delta <= 192; delta++)
      if (delta <= 128 || delta > 166)
        m->w.key_pe[j * S + S - delta] *= 20.0f;
  gint32 *x = g_new(gint32, REF_BLOCKS * n + 1);
  SpnRng rng;
  spn_rng_seed(&rng, 21);
  for (int i = 0; i < REF_BLOCKS * n + 1; i++)
    x[i] = (gint32)spn_rng_below(&rng, c.vocab_size);
  gsize total = m->layout->total, V = c.vocab_size;
  float *g[2] = {g_new(float, total), g_new(float, total)};
  float *lp[2] = {g_new(float, n * V), g_new(float, n * V)};
  double loss[2];
  for (int k = 0; k < 2; k++)
    loss[k] = last_block(m, k == 1, x, g[k], lp[k]);
  if (fabs(loss[0] - loss[1]) > 1e-6 * fabs(loss[1]))
    g_error("per-head windows loss %.9g, layer windows %.9g", loss[0], loss[1]);
  for (gsize i = 0; i < (gsize)n * V; i++)
    if (fabsf(lp[0][i] - lp[1][i]) > 1e-5f)
      g_error("logprobs[%zu]: %.7g, %.7g", (size_t)i, lp[0][i], lp[1][i]);
  double outside = 0.0; /* the largest key_pe gradient outside every span */
  for (int t = 0; t < m->layout->n_tensors; t++) {
    const SpnTensorSpec *s = &m->layout->tensors[t];
    float mx = 0.0f;
    for (gsize i = 0; i < s->numel; i++)
      mx = MAX(mx, fabsf(g[1][s->offset + i]));
    for (gsize i = 0; i < s->numel; i++) {
      float a = g[0][s->offset + i], b = g[1][s->offset + i];
      if (fabsf(a - b) > 1e-4f * mx + 1e-3f * fabsf(b))
        g_error("grad %s[%zu]: per-head %.7g, layer windows %.7g", s->name, (size_t)i, a, b);
    }
    if (g_str_equal(s->name, "key_pe"))
      for (gsize i = 0; i < s->numel; i++)
        if (S - (int)(i % S) > 166)
          outside = MAX(outside, fabsf(g[1][s->offset + i]));
  }
  g_assert_cmpfloat(outside, >, 1e-6); /* distances 167..192: layer 1's window only */
  /* head mode on the same weights: its softmax over each head's own window */
  m->cfg.attn_window = SPN_ATTN_WINDOW_HEAD;
  double head = last_block(m, FALSE, x, g[0], lp[0]);
  g_assert_cmpfloat(fabs(head - loss[1]), >, 1e-4 * fabs(loss[1])); /* 100× the tolerance */
  const float *pe = g[0] + (m->g.key_pe - m->grads);
  for (int delta = 167; delta <= 192; delta++) /* no head of head mode scores them */
    for (int j = 0; j < D; j++)
      g_assert_cmpfloat(pe[j * S + S - delta], ==, 0.0f);
  g_free(x);
  for (int k = 0; k < 2; k++)
    g_free(g[k]), g_free(lp[k]);
  spn_model_free(m);
}

static void test_reference_window_ff(void) { reference_window_case(0); }
static void test_reference_window_pers(void) { reference_window_case(3); }

/* ---- every kind of runner computes the same ---- */

/* Two blocks through a training runner, a probe runner, an evaluation runner with arrays of its
 * own and one working in the arrays of a training runner that trains in between: the same
 * log-probabilities, bit for bit, and the same attention for the two that keep it. Three
 * layers, so the runners whose layers share one set of arrays hand over more than once. */
static void
runners_case(int pers)
{
  SpnConfig c;
  small_config(&c);
  c.nlayers = 3, c.vocab_size = 11, c.pers_mem_size = pers, c.adapt_span_init = 0.2;
  SpnModel *m = spn_model_new(&c);
  int B = c.batch_sz, M = c.block_sz, n = B * M, S = c.attn_span;
  gint32 *x = g_new(gint32, 2 * n + 1);
  SpnRng rng;
  spn_rng_seed(&rng, 4);
  for (int i = 0; i < 2 * n + 1; i++)
    x[i] = (gint32)spn_rng_below(&rng, c.vocab_size);
  SpnRunner *donor = spn_runner_new(m, B, M, TRUE);
  SpnRunner *all[4] = {spn_runner_new(m, B, M, TRUE), spn_runner_new(m, B, M, FALSE),
                       spn_runner_new_eval(m, B, M, NULL), spn_runner_new_eval(m, B, M, donor)};
  float *ctx[2] = {g_new(float, S), g_new(float, S)}, *pm[2] = {g_new(float, 4), g_new(float, 4)};
  for (int j = 0; j < 2; j++) {
    const gint32 *xj = x + (gsize)j * n, *yj = xj + 1;
    double loss[4];
    for (int k = 0; k < 4; k++)
      loss[k] = spn_runner_forward(all[k], xj, yj, M, FALSE, NULL);
    for (int k = 1; k < 4; k++) {
      g_assert_cmpfloat(loss[k], ==, loss[0]);
      g_assert_cmpmem(spn_runner_logprobs(all[k]), sizeof(float) * n * c.vocab_size,
                      spn_runner_logprobs(all[0]), sizeof(float) * n * c.vocab_size);
    }
    for (int l = 0; l < c.nlayers; l++)
      for (int i = 0; i < M; i += 5)
        for (int k = 0; k < 2; k++) {
          spn_runner_attention(all[k], l, B - 1, l % c.nheads, i, ctx[k], pers ? pm[k] : NULL);
          if (k == 1) {
            g_assert_cmpmem(ctx[0], sizeof(float) * S, ctx[1], sizeof(float) * S);
            g_assert_cmpmem(pm[0], sizeof(float) * pers, pm[1], sizeof(float) * pers);
          }
        }
    /* the donor trains between two evaluation blocks: only the caches must carry over */
    spn_runner_forward(donor, x + (gsize)(1 - j) * n, x + (gsize)(1 - j) * n + 1, M, TRUE, NULL);
    spn_runner_backward(donor);
  }
  for (int k = 0; k < 4; k++)
    spn_runner_free(all[k]);
  spn_runner_free(donor);
  for (int k = 0; k < 2; k++)
    g_free(ctx[k]), g_free(pm[k]);
  g_free(x);
  spn_model_free(m);
}

static void test_runners_ff(void) { runners_case(0); }
static void test_runners_pers(void) { runners_case(3); }

/* ---- resume ---- */

static SpnCorpus *
load(const char *path)
{
  g_autoptr(GError) error = NULL;
  SpnCorpusOptions opts = {0};
  SpnCorpus *c = spn_corpus_load(path, &opts, &error);
  g_assert_no_error(error);
  return c;
}

/* A trainer of the small configuration (with eval_mode) on a fresh 3,000-character corpus
 * named `name`. */
static SpnTrainer *
small_trainer_eval(const char *name, SpnEvalMode eval_mode)
{
  g_autofree char *corpus = write_corpus(name, 3000);
  SpnConfig c;
  small_config(&c);
  c.eval_mode = eval_mode;
  g_autoptr(GError) error = NULL;
  SpnTrainer *t = spn_trainer_new(&c, load(corpus), &error);
  g_assert_no_error(error);
  return t;
}

static SpnTrainer *
small_trainer(const char *name)
{
  return small_trainer_eval(name, SPN_EVAL_PREFIX);
}

static void
resume_case(SpnOptimKind optim)
{
  g_autofree char *corpus = write_corpus("resume.txt", 4000); /* streams restart every ~70 steps */
  g_autofree char *ckpt = tmp_path("resume.safetensors");
  SpnConfig c;
  small_config(&c);
  c.dropout = 0.1; /* the dropout masks must resume too */
  c.optim = optim;
  c.lr = optim == SPN_OPTIM_ADAM ? 3e-3 : c.lr;
  g_autoptr(GError) error = NULL;
  int total = 90, first = 50;
  double straight[90], resumed[90];
  SpnStepResult r;
  SpnTrainer *t = spn_trainer_new(&c, load(corpus), &error);
  g_assert_no_error(error);
  for (int s = 0; s < total; s++) {
    g_assert_true(spn_trainer_step(t, &r, NULL));
    straight[s] = r.objective;
  }
  spn_trainer_free(t);
  t = spn_trainer_new(&c, load(corpus), &error);
  for (int s = 0; s < first; s++) {
    g_assert_true(spn_trainer_step(t, &r, NULL));
    resumed[s] = r.objective;
  }
  double bpc_before;
  g_assert_true(spn_trainer_evaluate(t, SPN_SPLIT_VALID, 2, 0, &bpc_before, &error));
  g_assert_true(spn_trainer_save(t, ckpt, &error));
  g_assert_no_error(error);
  spn_trainer_free(t);
  t = spn_trainer_load(ckpt, load(corpus), &error);
  g_assert_no_error(error);
  g_assert_cmpint(spn_trainer_step_count(t), ==, first);
  double bpc_after;
  g_assert_true(spn_trainer_evaluate(t, SPN_SPLIT_VALID, 2, 0, &bpc_after, &error));
  g_assert_cmpfloat(bpc_before, ==, bpc_after);
  for (int s = first; s < total; s++) {
    g_assert_true(spn_trainer_step(t, &r, NULL));
    resumed[s] = r.objective;
  }
  for (int s = 0; s < total; s++)
    if (straight[s] != resumed[s])
      g_error("step %d: uninterrupted %.17g, resumed %.17g", s + 1, straight[s], resumed[s]);
  g_assert_cmpfloat(straight[total - 1], <, straight[0]);
  spn_trainer_free(t);
}

static void test_resume_adagrad(void) { resume_case(SPN_OPTIM_ADAGRAD); }
static void test_resume_adam(void) { resume_case(SPN_OPTIM_ADAM); }

/* ---- an interrupted validation ---- */

typedef struct {
  GCancellable *cancellable;
  gulong delay_us;
} CancelLater;

static gpointer
cancel_later(gpointer data)
{
  CancelLater *c = data;
  g_usleep(c->delay_us);
  g_cancellable_cancel(c->cancellable);
  return NULL;
}

/* A validation stopped between two blocks, whenever that is, leaves the run as it was: the steps
 * after it are those of a run without it, bit for bit, and its bpc is not reported. */
static void
cancelled_evaluation_case(SpnEvalMode mode)
{
  g_autofree char *corpus = write_corpus("cancel.txt", 200000); /* 10,000 validation positions */
  SpnConfig c;
  small_config(&c);
  c.eval_mode = mode;
  g_autoptr(GError) error = NULL;
  double straight[12], cancelled[12];
  SpnStepResult r;
  SpnTrainer *t = spn_trainer_new(&c, load(corpus), &error);
  for (int s = 0; s < 12; s++) {
    g_assert_true(spn_trainer_step(t, &r, NULL));
    straight[s] = r.objective;
  }
  spn_trainer_free(t);
  t = spn_trainer_new(&c, load(corpus), &error);
  int partial = 0;
  for (int s = 0; s < 12; s++) {
    g_assert_true(spn_trainer_step(t, &r, NULL));
    cancelled[s] = r.objective;
    /* cancelled before it starts, then later and later while it runs */
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    spn_trainer_set_cancellable(t, cancellable);
    CancelLater later = {cancellable, s == 0 ? 0 : 500ul << MIN(s, 8)};
    if (s == 0)
      g_cancellable_cancel(cancellable);
    GThread *thread = s == 0 ? NULL : g_thread_new("cancel", cancel_later, &later);
    double bpc = -1.0;
    /* the reference's rolling validation: all 208 blocks of a stream */
    gboolean done = mode == SPN_EVAL_REFERENCE
                        ? spn_trainer_validate(t, 2080, 0, &bpc, &error)
                        : spn_trainer_evaluate(t, SPN_SPLIT_VALID, 1, 0, &bpc, &error);
    if (thread)
      g_thread_join(thread);
    if (!done) {
      g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      g_assert_cmpfloat(bpc, ==, -1.0);
      partial += strstr(error->message, "after 0 of") == NULL;
      g_clear_error(&error);
    }
    spn_trainer_set_cancellable(t, NULL);
  }
  for (int s = 0; s < 12; s++)
    if (straight[s] != cancelled[s])
      g_error("step %d: without validations %.17g, with cancelled ones %.17g", s + 1, straight[s],
              cancelled[s]);
  g_test_message("%d of 11 validations stopped part of the way through", partial);
  spn_trainer_free(t);
}

static void test_cancelled_evaluation(void) { cancelled_evaluation_case(SPN_EVAL_PREFIX); }
static void test_cancelled_validation(void) { cancelled_evaluation_case(SPN_EVAL_REFERENCE); }

/* ---- bad input ---- */

static void
expect_load_error(const char *path, const char *fragment)
{
  g_autoptr(GError) error = NULL;
  SpnCheckpoint *ck = spn_checkpoint_load(path, &error);
  g_assert_null(ck);
  g_assert_nonnull(error);
  if (strstr(error->message, fragment) == NULL)
    g_error("error \"%s\" does not mention \"%s\"", error->message, fragment);
  g_assert_nonnull(strstr(error->message, path));
}

static char *
saved_checkpoint(void)
{
  char *ckpt = tmp_path("good.safetensors");
  g_autoptr(GError) error = NULL;
  SpnTrainer *t = small_trainer("ck.txt");
  g_assert_true(spn_trainer_step(t, NULL, NULL));
  g_assert_true(spn_trainer_save(t, ckpt, &error));
  spn_trainer_free(t);
  return ckpt;
}

static void
rewrite_with_metadata(const char *src, const char *dst, const char *key, const char *value)
{
  spn_test_rewrite_checkpoint(src, dst, NULL, SPN_DTYPE_F32, 0, NULL, NULL, key, value);
}

static void
test_checkpoint_errors(void)
{
  g_autofree char *good = saved_checkpoint();
  gchar *contents;
  gsize len;
  g_assert_true(g_file_get_contents(good, &contents, &len, NULL));

  g_autofree char *missing = tmp_path("missing.safetensors");
  expect_load_error(missing, "missing.safetensors");

  g_autofree char *truncated = tmp_path("truncated.safetensors");
  g_assert_true(g_file_set_contents(truncated, contents, (gssize)(len / 2), NULL));
  expect_load_error(truncated, "truncated");

  g_autofree char *flipped = tmp_path("flipped.safetensors");
  contents[len - 100] ^= 0x10;
  g_assert_true(g_file_set_contents(flipped, contents, (gssize)len, NULL));
  expect_load_error(flipped, "corrupt");
  g_free(contents);

  g_autofree char *version = tmp_path("version.safetensors");
  rewrite_with_metadata(good, version, "version", "99");
  expect_load_error(version, "version 99 is not supported");

  g_autofree char *foreign = tmp_path("foreign.safetensors");
  rewrite_with_metadata(good, foreign, "format", "something-else");
  expect_load_error(foreign, "not a spanscope checkpoint");

  /* a configuration that disagrees with the tensors: every shape check must catch it */
  SpnConfig c;
  small_config(&c);
  c.vocab_size = 0;
  g_autoptr(GError) error = NULL;
  SpnCheckpoint *ck = spn_checkpoint_load(good, &error);
  g_assert_no_error(error);
  c = ck->model->cfg;
  c.hid_sz = 24, c.nheads = 3;
  g_autofree char *cfg_json = spn_config_to_json(&c);
  spn_checkpoint_free(ck);
  g_autofree char *shape = tmp_path("shape.safetensors");
  rewrite_with_metadata(good, shape, "config", cfg_json);
  expect_load_error(shape, "expected [");

  g_autofree char *garbage = tmp_path("garbage.safetensors");
  g_assert_true(g_file_set_contents(garbage, "not a checkpoint at all", -1, NULL));
  expect_load_error(garbage, "garbage.safetensors");
}

/* The attention window is saved; a checkpoint from before the option opens in head mode, how
 * it was trained. */
static void
test_checkpoint_window(void)
{
  g_autofree char *good = saved_checkpoint();
  g_autoptr(GError) error = NULL;
  SpnCheckpoint *ck = spn_checkpoint_load(good, &error);
  g_assert_no_error(error);
  g_assert_cmpint(ck->model->cfg.attn_window, ==, SPN_ATTN_WINDOW_REFERENCE);
  g_autofree char *json = spn_config_to_json(&ck->model->cfg);
  spn_checkpoint_free(ck);
  g_auto(GStrv) parts = g_strsplit(json, "\"attn_window\":\"reference\",", 2);
  g_assert_cmpuint(g_strv_length(parts), ==, 2);
  g_autofree char *older = g_strjoinv("", parts);
  g_autofree char *path = tmp_path("older.safetensors");
  rewrite_with_metadata(good, path, "config", older);
  ck = spn_checkpoint_load(path, &error);
  g_assert_no_error(error);
  g_assert_cmpint(ck->model->cfg.attn_window, ==, SPN_ATTN_WINDOW_HEAD);
  spn_checkpoint_free(ck);
}

static void
test_atomic_save(void)
{
  /* a save into a folder that does not exist fails without touching anything */
  g_autoptr(GError) error = NULL;
  SpnTrainer *t = small_trainer("atomic.txt");
  g_autofree char *bad = tmp_path("no-such-dir/x.safetensors");
  g_assert_false(spn_trainer_save(t, bad, &error));
  g_assert_nonnull(error);
  g_assert_nonnull(strstr(error->message, "no-such-dir"));
  g_clear_error(&error);
  /* overwriting keeps a loadable file at every moment: the old one until the rename */
  g_autofree char *path = tmp_path("atomic.safetensors");
  g_assert_true(spn_trainer_save(t, path, &error));
  g_assert_true(spn_trainer_step(t, NULL, NULL));
  g_assert_true(spn_trainer_save(t, path, &error));
  SpnCheckpoint *ck = spn_checkpoint_load(path, &error);
  g_assert_no_error(error);
  g_assert_cmpint(ck->optim->step, ==, 1);
  spn_checkpoint_free(ck);
  g_autoptr(GDir) dir = g_dir_open(tmpdir, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name(dir)) != NULL)   /* no temporary file left behind */
    g_assert_false(g_str_has_prefix(name, ".goutputstream-") || strstr(name, ".tmp-"));
  spn_trainer_free(t);
}

static void
test_small_corpus(void)
{
  g_autofree char *corpus = write_corpus("tiny.txt", 400);
  SpnConfig c;
  small_config(&c);
  c.batch_sz = 16, c.block_sz = 128;
  g_autoptr(GError) error = NULL;
  SpnTrainer *t = spn_trainer_new(&c, load(corpus), &error);
  g_assert_null(t);
  g_assert_nonnull(error);
  g_assert_nonnull(strstr(error->message, "tiny.txt"));
  g_assert_nonnull(strstr(error->message, "train"));
}

static void
test_absurd_config(void)
{
  SpnConfig c;
  small_config(&c);
  c.vocab_size = 10;
  c.hid_sz = 30, c.nheads = 4;
  g_autoptr(GError) error = NULL;
  g_assert_false(spn_config_validate(&c, &error));
  g_assert_nonnull(strstr(error->message, "--nheads"));
  g_clear_error(&error);
  small_config(&c);
  c.vocab_size = 10, c.adapt_span_init = 3;
  g_assert_false(spn_config_validate(&c, &error));
  g_assert_nonnull(strstr(error->message, "adapt-span-init"));
  g_clear_error(&error);
  small_config(&c);
  c.vocab_size = 10, c.attn_span = 60000, c.batch_sz = 4096, c.block_sz = 4096;
  g_assert_false(spn_config_validate(&c, &error));
  g_assert_nonnull(strstr(error->message, "GB"));
}

/* ---- evaluation ---- */

/* How many blocks the reference's full evaluation reads from streams of L tokens: it reads the
 * block at pos, moves pos on by M and stops once pos >= L - M, or after ceil(L / M) blocks. */
static gsize
reference_full_eval_blocks(gsize L, int M)
{
  gsize blocks = 0, cap = (L + M - 1) / M;
  for (gsize pos = 0; blocks < cap;) {
    blocks++;
    pos += M;
    if (pos + M >= L)
      break;
  }
  return blocks;
}

/* eval --whole-blocks reads the reference's blocks, and its bpc is the reference's mean of the
 * blocks' mean losses; the default reads every position that has a successor. */
static void
test_eval_whole_blocks(void)
{
  g_autoptr(GError) error = NULL;
  SpnTrainer *t = small_trainer("eval.txt");
  SpnModel *m = spn_trainer_model(t);
  const SpnCorpus *corpus = spn_trainer_corpus(t);
  int B = m->cfg.batch_sz, M = m->cfg.block_sz;
  gsize L = corpus->n_tokens[SPN_SPLIT_VALID] / B, K = reference_full_eval_blocks(L, M);
  g_assert_cmpuint(K * M, <, L - 1); /* a partial block is left over */
  double all = 0, whole = 0, first_blocks = 0;
  gsize scored = 0;
  g_assert_true(spn_evaluate(m, corpus, SPN_SPLIT_VALID, B, 0, FALSE, &all, &scored, &error));
  g_assert_cmpuint(scored, ==, B * (L - 1));
  g_assert_true(spn_evaluate(m, corpus, SPN_SPLIT_VALID, B, 0, TRUE, &whole, &scored, &error));
  g_assert_cmpuint(scored, ==, B * K * M);
  g_assert_cmpfloat(whole, !=, all);
  g_assert_true(spn_evaluate(m, corpus, SPN_SPLIT_VALID, B, B * K * M, FALSE, &first_blocks,
                             NULL, &error));
  g_assert_cmpfloat(whole, ==, first_blocks);
  /* the reference averages the blocks' mean losses */
  SpnRunner *r = spn_runner_new_eval(m, B, M, NULL);
  gint32 *x = g_new(gint32, (gsize)B * M), *y = g_new(gint32, (gsize)B * M);
  const SpnToken *tokens = corpus->tokens[SPN_SPLIT_VALID];
  double sum = 0;
  for (gsize k = 0; k < K; k++) {
    for (int b = 0; b < B; b++)
      for (int i = 0; i < M; i++) {
        x[b * M + i] = tokens[b * L + k * M + i];
        y[b * M + i] = tokens[b * L + k * M + i + 1];
      }
    sum += spn_runner_forward(r, x, y, M, FALSE, NULL);
  }
  g_assert_cmpfloat(fabs(sum / K / G_LN2 - whole), <=, 1e-12 * whole);
  g_free(x);
  g_free(y);
  spn_runner_free(r);
  /* streams shorter than a block and its last target: no whole block to read */
  int streams = (int)(corpus->n_tokens[SPN_SPLIT_VALID] / M);
  g_assert_false(spn_evaluate(m, corpus, SPN_SPLIT_VALID, streams, 0, TRUE, &whole, NULL, &error));
  g_assert_nonnull(strstr(error->message, "valid"));
  g_clear_error(&error);
  g_assert_true(spn_evaluate(m, corpus, SPN_SPLIT_VALID, streams, 0, FALSE, &all, NULL, &error));
  spn_trainer_free(t);
}

/* ---- the reference's validation during training ---- */

/* the mean NLL (nats) of `blocks` consecutive blocks of every validation stream from `pos`,
 * through runner r (its caches carried) */
static double
valid_blocks(SpnRunner *r, const SpnCorpus *corpus, int B, int M, gsize pos, int blocks)
{
  gsize L = corpus->n_tokens[SPN_SPLIT_VALID] / B;
  const SpnToken *tokens = corpus->tokens[SPN_SPLIT_VALID];
  gint32 *x = g_new(gint32, (gsize)B * M), *y = g_new(gint32, (gsize)B * M);
  double sum = 0;
  for (int k = 0; k < blocks; k++, pos += M) {
    g_assert_cmpuint(pos + M + 1, <=, L);
    for (int b = 0; b < B; b++)
      for (int i = 0; i < M; i++) {
        x[b * M + i] = tokens[b * L + pos + i];
        y[b * M + i] = tokens[b * L + pos + i + 1];
      }
    sum += spn_runner_forward(r, x, y, M, FALSE, NULL);
  }
  g_free(x);
  g_free(y);
  return sum / blocks;
}

/* Validations every 20 steps read 2 blocks each, continuing through the 50-token streams with
 * the validation's caches; the streams restart after the block at 32 (the position passes
 * 50 − 16) at an offset in [0, 16) with empty caches. Training, whose work arrays the validation
 * borrows, goes on as without validation. Prefix mode is the prefix evaluation. */
static void
test_reference_validation(void)
{
  g_autoptr(GError) error = NULL;
  SpnTrainer *t = small_trainer_eval("rolling.txt", SPN_EVAL_REFERENCE);
  SpnTrainer *plain = small_trainer_eval("rolling.txt", SPN_EVAL_PREFIX);
  SpnModel *m = spn_trainer_model(t);
  const SpnCorpus *corpus = spn_trainer_corpus(t);
  int B = m->cfg.batch_sz, M = m->cfg.block_sz;
  g_assert_cmpuint(corpus->n_tokens[SPN_SPLIT_VALID] / B, ==, 50);
  SpnStepResult r0, r1;
  g_assert_true(spn_trainer_step(t, &r0, NULL));
  g_assert_true(spn_trainer_step(plain, &r1, NULL));
  g_assert_cmpfloat(r0.train_bpc, ==, r1.train_bpc);
  /* a fresh runner over the same weights, caches carried across the validations' blocks */
  SpnRunner *r = spn_runner_new_eval(m, B, M, NULL);
  double bpc;
  g_assert_true(spn_trainer_validate(t, 20, 0, &bpc, &error));
  g_assert_cmpfloat(bpc, ==, valid_blocks(r, corpus, B, M, 0, 2) / G_LN2);
  /* the block at 32, then the restart: a block from some offset in [0, M), empty caches */
  g_assert_true(spn_trainer_validate(t, 20, 0, &bpc, &error));
  double last = valid_blocks(r, corpus, B, M, 2 * M, 1);
  int offset = -1;
  for (int o = 0; o < M && offset < 0; o++) {
    spn_runner_reset_cache(r);
    if ((last + valid_blocks(r, corpus, B, M, o, 1)) / 2 / G_LN2 == bpc)
      offset = o;
  }
  g_assert_cmpint(offset, >=, 0);
  /* and on from there with the caches of that block */
  g_assert_true(spn_trainer_validate(t, 10, 0, &bpc, &error));
  g_assert_cmpfloat(bpc, ==, valid_blocks(r, corpus, B, M, offset + M, 1) / G_LN2);
  spn_runner_free(r);
  /* every < 10 still reads one block; training continues as if nothing had run in its arrays */
  g_assert_true(spn_trainer_validate(t, 5, 0, &bpc, &error));
  g_assert_true(isfinite(bpc));
  for (int k = 0; k < 3; k++) {
    g_assert_true(spn_trainer_step(t, &r0, NULL));
    g_assert_true(spn_trainer_step(plain, &r1, NULL));
    g_assert_cmpfloat(r0.train_bpc, ==, r1.train_bpc);
  }
  /* prefix mode: the split's first tokens from fresh caches */
  double want;
  g_assert_true(spn_trainer_validate(plain, 20, 1000, &bpc, &error));
  g_assert_true(spn_trainer_evaluate(plain, SPN_SPLIT_VALID, B, 1000, &want, &error));
  g_assert_cmpfloat(bpc, ==, want);
  spn_trainer_free(plain);
  spn_trainer_free(t);
}

/* The rolling validation needs every stream to hold two blocks and a target. */
static void
test_reference_validation_small(void)
{
  g_autofree char *path = write_corpus("rolling-small.txt", 600); /* 30 valid tokens */
  SpnConfig c;
  small_config(&c);
  c.eval_mode = SPN_EVAL_REFERENCE;
  g_autoptr(GError) error = NULL;
  SpnTrainer *t = spn_trainer_new(&c, load(path), &error);
  g_assert_no_error(error);
  double bpc;
  g_assert_false(spn_trainer_validate(t, 1000, 0, &bpc, &error));
  g_assert_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_TOO_SMALL);
  g_assert_nonnull(strstr(error->message, "reference's validation needs two blocks"));
  spn_trainer_free(t);
}

/* ---- probe and sampling ---- */

/* number k of a JSON array member */
static double
number_at(JsonArray *a, guint k)
{
  JsonNode *n = json_array_get_element(a, k);
  return JSON_NODE_HOLDS_NULL(n) ? NAN : json_node_get_double(n);
}

/* The streamed JSON of a reading says what spn_probe_run holds, to its six digits: every
 * position, the heads chosen, the weights nearest first; with top_k the strongest distances. */
static void
check_probe_json(SpnModel *m, const SpnVocab *v, const SpnProbe *p, const char *text)
{
  gboolean layers[] = {FALSE, TRUE}, heads[] = {TRUE, FALSE};
  for (int top_k = 0; top_k <= 3; top_k += 3) {
    SpnProbeSelection sel = {layers, heads, 7, top_k};
    g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable();
    g_autoptr(GError) error = NULL;
    g_assert_true(spn_probe_write_json(m, v, text, strlen(text), &sel, out, &error));
    g_assert_no_error(error);
    g_assert_true(g_output_stream_close(out, NULL, NULL));
    g_autoptr(JsonParser) parser = json_parser_new();
    g_assert_true(json_parser_load_from_data(
        parser, g_memory_output_stream_get_data(G_MEMORY_OUTPUT_STREAM(out)),
        (gssize)g_memory_output_stream_get_data_size(G_MEMORY_OUTPUT_STREAM(out)), &error));
    JsonObject *root = json_node_get_object(json_parser_get_root(parser));
    g_assert_cmpstr(json_object_get_string_member(root, "text"), ==, text);
    JsonArray *chosen = json_object_get_array_member(root, "heads");
    g_assert_cmpuint(json_array_get_length(chosen), ==, 1);   /* layer 1, head 0 */
    JsonObject *head = json_array_get_object_element(chosen, 0);
    g_assert_cmpint(json_object_get_int_member(head, "layer"), ==, 1);
    g_assert_cmpint(json_object_get_int_member(head, "head"), ==, 0);
    const SpnProbeHead *ph = &p->heads[1 * p->nheads + 0];
    g_assert_cmpint(json_object_get_int_member(head, "window"), ==, ph->window);
    JsonArray *positions = json_object_get_array_member(root, "positions");
    g_assert_cmpuint(json_array_get_length(positions), ==, (guint)p->n);
    for (int i = 0; i < p->n; i++) {
      JsonObject *pos = json_array_get_object_element(positions, i);
      g_assert_cmpint(json_object_get_int_member(pos, "offset"), ==, (gint64)p->offsets[i]);
      JsonNode *sn = json_object_get_member(pos, "surprisal_bits");
      if (i == 0)
        g_assert_true(JSON_NODE_HOLDS_NULL(sn));
      else
        g_assert_cmpfloat(fabs(json_node_get_double(sn) - p->surprisal[i]), <=,
                          1e-5 * p->surprisal[i]);
      const float *w = ph->weights + (gsize)i * ph->window;
      int reach = MIN(MIN(i, ph->window), 7);
      g_assert_cmpfloat(fabs(number_at(json_object_get_array_member(pos, "before_start"), 0) -
                             ph->before_start[i]), <=, 1e-5);
      if (top_k == 0) {
        JsonArray *att =
            json_array_get_array_element(json_object_get_array_member(pos, "attention"), 0);
        g_assert_cmpuint(json_array_get_length(att), ==, (guint)reach);
        for (int d = 1; d <= reach; d++)
          g_assert_cmpfloat(fabs(number_at(att, d - 1) - w[d - 1]), <=, 1e-5 * w[d - 1] + 1e-12);
      } else {
        JsonArray *top = json_array_get_array_element(json_object_get_array_member(pos, "top"), 0);
        g_assert_cmpuint(json_array_get_length(top), ==, (guint)MIN(reach, top_k));
        double last = INFINITY;
        for (guint j = 0; j < json_array_get_length(top); j++) {
          JsonArray *pair = json_array_get_array_element(top, j);
          int d = (int)json_array_get_int_element(pair, 0);
          g_assert_cmpint(d, >=, 1);
          g_assert_cmpint(d, <=, reach);
          g_assert_cmpfloat(fabs(number_at(pair, 1) - w[d - 1]), <=, 1e-5 * w[d - 1] + 1e-12);
          g_assert_cmpfloat(w[d - 1], <=, last);
          last = w[d - 1];
        }
        for (int d = 1; d <= reach && json_array_get_length(top) == (guint)top_k; d++) {
          gboolean listed = FALSE;   /* a distance left out weighs no more than the listed ones */
          for (guint j = 0; j < json_array_get_length(top); j++)
            listed |= json_array_get_int_element(json_array_get_array_element(top, j), 0) == d;
          g_assert_true(listed || w[d - 1] <= last);
        }
      }
    }
  }
}

static void
test_probe_generate(void)
{
  g_autofree char *corpus = write_corpus("probe.txt", 3000);
  SpnConfig c;
  small_config(&c);
  c.pers_mem_size = 3;
  g_autoptr(GError) error = NULL;
  SpnTrainer *t = spn_trainer_new(&c, load(corpus), &error);
  for (int s = 0; s < 5; s++)
    g_assert_true(spn_trainer_step(t, NULL, NULL));
  SpnModel *m = spn_trainer_model(t);
  const SpnVocab *v = spn_trainer_corpus(t)->vocab;
  /* longer than one probe chunk, so the cache carries between chunks */
  GString *text = g_string_new(NULL);
  while (text->len < 300)
    g_string_append(text, "the spans grow and shrink ");
  SpnProbe *p = spn_probe_run(m, v, text->str, &error);
  g_assert_no_error(error);
  g_assert_cmpint(p->n, ==, (int)text->len);
  g_assert_true(isnan(p->surprisal[0]));
  for (int i = 1; i < p->n; i++)
    g_assert_cmpfloat(p->surprisal[i], >, 0.0f);
  for (int k = 0; k < p->nlayers * p->nheads; k++) {
    const SpnProbeHead *ph = &p->heads[k];
    for (int i = 0; i < p->n; i += 37) {
      double sum = ph->persistent[i];
      for (int delta = 1; delta <= ph->window; delta++)
        sum += ph->weights[(gsize)i * ph->window + delta - 1];
      g_assert_cmpfloat(fabs(sum - 1.0), <, 1e-4); /* weights over everything sum to one */
      g_assert_cmpfloat(ph->persistent[i], >, 0.0f);
    }
    g_assert_cmpfloat(ph->before_start[p->n - 1], ==, 0.0f); /* far from the start */
  }
  check_probe_json(m, v, p, text->str);
  spn_probe_unref(p);
  g_string_free(text, TRUE);
  g_autofree char *a = spn_generate(m, v, "the ", 40, 0.8, 7, &error);
  g_autofree char *b = spn_generate(m, v, "the ", 40, 0.8, 7, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(g_utf8_strlen(a, -1), ==, 40);
  g_assert_cmpstr(a, ==, b); /* seeded */
  g_assert_null(spn_probe_run(m, v, "", &error));
  g_assert_nonnull(error);
  g_clear_error(&error);
  /* a model whose weights are not finite: generate says so, the probe's JSON stays JSON */
  for (gsize i = 0; i < m->layout->total; i += 7)
    m->params[i] = NAN;
  g_assert_null(spn_generate(m, v, "the ", 5, 0.8, 7, &error));
  g_assert_error(error, SPN_PROBE_ERROR, SPN_PROBE_ERROR_NOT_FINITE);
  g_clear_error(&error);
  g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable();
  g_assert_true(spn_probe_write_json(m, v, "the spans", 9, NULL, out, &error));
  g_assert_true(g_output_stream_close(out, NULL, NULL));
  g_autoptr(JsonParser) parser = json_parser_new();
  g_assert_true(json_parser_load_from_data(
      parser, g_memory_output_stream_get_data(G_MEMORY_OUTPUT_STREAM(out)),
      (gssize)g_memory_output_stream_get_data_size(G_MEMORY_OUTPUT_STREAM(out)), &error));
  g_assert_no_error(error);
  JsonArray *positions = json_object_get_array_member(
      json_node_get_object(json_parser_get_root(parser)), "positions");
  JsonObject *last = json_array_get_object_element(positions, 8);
  g_assert_true(JSON_NODE_HOLDS_NULL(json_object_get_member(last, "surprisal_bits")));
  spn_trainer_free(t);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  spn_threads_init(spn_test_threads(2));
  tmpdir = g_dir_make_tmp("spanscope-training-XXXXXX", NULL);
  g_test_add_func("/training/trim-equals-untrimmed-ff", test_trim_ff);
  g_test_add_func("/training/trim-equals-untrimmed-persistent", test_trim_pers);
  g_test_add_func("/training/trim-equals-untrimmed-per-head", test_trim_per_head);
  g_test_add_func("/training/reference-window-ff", test_reference_window_ff);
  g_test_add_func("/training/reference-window-persistent", test_reference_window_pers);
  g_test_add_func("/training/runners-agree-ff", test_runners_ff);
  g_test_add_func("/training/runners-agree-persistent", test_runners_pers);
  g_test_add_func("/training/resume-equals-uninterrupted-adagrad", test_resume_adagrad);
  g_test_add_func("/training/resume-equals-uninterrupted-adam", test_resume_adam);
  g_test_add_func("/training/cancelled-evaluation", test_cancelled_evaluation);
  g_test_add_func("/training/cancelled-reference-validation", test_cancelled_validation);
  g_test_add_func("/training/checkpoint-errors", test_checkpoint_errors);
  g_test_add_func("/training/checkpoint-window", test_checkpoint_window);
  g_test_add_func("/training/atomic-save", test_atomic_save);
  g_test_add_func("/training/corpus-smaller-than-block", test_small_corpus);
  g_test_add_func("/training/absurd-config", test_absurd_config);
  g_test_add_func("/training/eval-whole-blocks", test_eval_whole_blocks);
  g_test_add_func("/training/reference-validation", test_reference_validation);
  g_test_add_func("/training/reference-validation-small-split", test_reference_validation_small);
  g_test_add_func("/training/probe-generate", test_probe_generate);
  int rc = g_test_run();
  g_autoptr(GDir) dir = g_dir_open(tmpdir, 0, NULL);
  const char *name;
  while (dir && (name = g_dir_read_name(dir)) != NULL) {
    g_autofree char *p = tmp_path(name);
    g_unlink(p);
  }
  g_rmdir(tmpdir);
  return rc;
}
