/* test_refrun.c — the reference's main.py checkpoints (engine/refrun.c) and following a
 * rewritten checkpoint (engine/follow.c).
 *
 * Fixtures (tools/oracle/reference_run.py): a run of main.py written by torch in both formats,
 * and what must be read from it under our names — every parameter and Adagrad sum (compared
 * bit for bit), the oracle's loss on a batch, the logger and the reference's full evaluation.
 * They come from $SPANSCOPE_REF_FIXTURES when set (fresh ones, by tests/refrun_torch.py), else
 * from $SPANSCOPE_FIXTURES/reference. */
#include "fixtures.h"
#include "follow.h"
#include "refrun.h"
#include "safetensors.h"
#include "torchfile.h"
#include "trainer.h"

#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <unistd.h>

#include <glib/gstdio.h>

static char *
fixture(const char *name)
{
  const char *dir = g_getenv("SPANSCOPE_REF_FIXTURES");
  if (dir)
    return g_build_filename(dir, name, NULL);
  g_assert_nonnull(g_getenv("SPANSCOPE_FIXTURES"));
  return g_build_filename(g_getenv("SPANSCOPE_FIXTURES"), "reference", name, NULL);
}

static SpnCorpus *
ref_corpus(void)
{
  g_autofree char *dir = fixture("corpus");
  SpnCorpusOptions opts = {.ref_format = TRUE};
  GError *error = NULL;
  SpnCorpus *c = spn_corpus_load(dir, &opts, &error);
  g_assert_no_error(error);
  return c;
}

/* The flags of the fixture runs (reference_run.py COMMON), the shape left to the tensors. */
static void
fixture_flags(SpnRefFlags *f)
{
  spn_ref_flags_init(f);
  f->cfg.block_sz = 8, f->cfg.batch_sz = 4, f->cfg.adapt_span_loss = 0.02;
  f->cfg.adapt_span_ramp = 4, f->cfg.adapt_span_cache = TRUE, f->cfg.lr_warmup = 4;
  f->cfg.dropout = 0, f->nbatches = 3;
}

static SpnPtTree *
load_pt(const char *name)
{
  g_autofree char *path = fixture(name);
  GError *error = NULL;
  SpnPtTree *t = spn_torch_load(path, NULL, &error);
  g_assert_no_error(error);
  return t;
}

static SpnCheckpoint *
import_tree(SpnPtTree *tree, const SpnRefFlags *flags, const SpnVocab *vocab, GError **error)
{
  return spn_ref_import(spn_pt_tree_root(tree), "run.pt", flags, vocab, "corpus", NULL, error);
}

static SpnCheckpoint *
import_fixture(const char *name, const SpnVocab *vocab)
{
  SpnRefFlags flags;
  fixture_flags(&flags);
  SpnPtTree *tree = load_pt(name);
  GError *error = NULL;
  SpnCheckpoint *ck = import_tree(tree, &flags, vocab, &error);
  g_assert_no_error(error);
  spn_pt_tree_free(tree);
  return ck;
}

static SpnSafetensors *
expected_of(const char *run, JsonObject **expected, JsonParser **parser)
{
  g_autofree char *name = g_strdup_printf("ref_%s.safetensors", run);
  g_autofree char *path = fixture(name);
  GError *error = NULL;
  SpnSafetensors *st = spn_safetensors_read(path, &error);
  g_assert_no_error(error);
  *parser = json_parser_new();
  g_assert_true(json_parser_load_from_data(*parser, spn_safetensors_metadata(st, "expected"), -1,
                                           NULL));
  *expected = json_node_get_object(json_parser_get_root(*parser));
  return st;
}

static void
assert_tensors_equal(const SpnSafetensors *st, const SpnLayout *layout, const char *prefix,
                     const float *base)
{
  for (int i = 0; i < layout->n_tensors; i++) {
    const SpnTensorSpec *s = &layout->tensors[i];
    g_autofree char *name = g_strconcat(prefix, s->name, NULL);
    GError *error = NULL;
    const float *want = spn_safetensors_expect(st, name, SPN_DTYPE_F32, s->ndim, s->shape, &error);
    g_assert_no_error(error);
    if (memcmp(want, base + s->offset, sizeof(float) * s->numel) != 0)
      g_error("%s differs from the oracle's", name);
  }
}

/* The model's NLL on the fixture's batch (2 streams, empty caches). */
static double
batch_loss(SpnModel *m, const SpnSafetensors *st)
{
  gint64 shape[2] = {2, m->cfg.block_sz};
  const gint32 *x = spn_safetensors_expect(st, "batch.x", SPN_DTYPE_I32, 2, shape, NULL);
  const gint32 *y = spn_safetensors_expect(st, "batch.y", SPN_DTYPE_I32, 2, shape, NULL);
  g_assert_nonnull(x);
  g_assert_nonnull(y);
  SpnRunner *r = spn_runner_new_eval(m, 2, m->cfg.block_sz, NULL);
  double loss = spn_runner_forward(r, x, y, m->cfg.block_sz, FALSE, NULL);
  spn_runner_free(r);
  return loss;
}

static double
json_number(JsonArray *a, guint i)
{
  return json_array_get_double_element(a, i);
}

/* Import equals the oracle's weights and optimizer bit for bit, its loss on a batch, the
 * logger as history and the reference's full evaluation. */
static void
check_import(const char *run, const char *file)
{
  SpnCorpus *corpus = ref_corpus();
  SpnCheckpoint *ck = import_fixture(file, corpus->vocab);
  JsonObject *expected;
  JsonParser *parser;
  SpnSafetensors *st = expected_of(run, &expected, &parser);
  SpnModel *m = ck->model;
  JsonObject *flags = json_object_get_object_member(expected, "flags");
  g_assert_cmpint(m->cfg.nlayers, ==, json_object_get_int_member(flags, "nlayers"));
  g_assert_cmpint(m->cfg.nheads, ==, json_object_get_int_member(flags, "nheads"));
  g_assert_cmpint(m->cfg.pers_mem_size, ==, json_object_get_int_member(flags, "pers_mem_size"));
  g_assert_true(m->cfg.adapt_span);
  /* what main.py computes: the reference's window and validation */
  g_assert_cmpint(m->cfg.attn_window, ==, SPN_ATTN_WINDOW_REFERENCE);
  g_assert_cmpint(m->cfg.eval_mode, ==, SPN_EVAL_REFERENCE);
  g_assert_cmpfloat(m->cfg.lr, ==, 0.07);          /* from the param group */
  g_assert_cmpfloat(m->cfg.grad_clip, ==, 0.03);
  assert_tensors_equal(st, m->layout, "", m->params);
  g_assert_nonnull(ck->optim);
  assert_tensors_equal(st, m->layout, "optimizer.sum.", ck->optim->m1);
  g_assert_cmpint(ck->optim->step, ==, json_object_get_int_member(expected, "step"));

  const float *want = spn_safetensors_expect(st, "batch.loss", SPN_DTYPE_F32, 1,
                                             (gint64[]){1}, NULL);
  double loss = batch_loss(m, st);
  g_assert_cmpfloat(fabs(loss - want[0]), <=, 1e-5 * want[0]);

  double bpc, reference = json_object_get_double_member(expected, "full_eval_bpc");
  GError *error = NULL;
  g_assert_true(spn_evaluate(m, corpus, SPN_SPLIT_VALID, 8, 0, TRUE, &bpc, NULL, &error));
  g_assert_cmpfloat(fabs(bpc - reference), <=, 1e-5 * reference);

  JsonObject *logger = json_object_get_object_member(expected, "logger");
  JsonArray *steps = json_object_get_array_member(logger, "step");
  JsonArray *train = json_object_get_array_member(logger, "train_bpc");
  JsonArray *val = json_object_get_array_member(logger, "val_bpc");
  JsonArray *span_avg = json_object_get_array_member(logger, "span_avg");
  JsonArray *span_max = json_object_get_array_member(logger, "span_max");
  const SpnHistory *h = ck->history;
  g_assert_nonnull(h);
  g_assert_cmpint(h->n, ==, json_array_get_length(steps));
  g_assert_cmpint(h->n_valid, ==, h->n);
  g_assert_cmpint(h->n_logged, ==, h->n);
  /* the trainer's shape, so that a followed version continues it */
  g_assert_true(h->persistent == (m->cfg.pers_mem_size > 0));
  int n = m->cfg.nlayers * m->cfg.nheads;
  g_autofree float *spans = g_new(float, n);
  spn_model_spans(m, spans);
  for (int i = 0; i < h->n; i++) {
    gint64 step = json_array_get_int_element(steps, i);
    /* main.py logs no cost and no persistent shares, and its mean and longest span do not
     * give one: unknown */
    g_assert_true(isnan(spn_history_flops_per_char(h, i)));
    g_assert_true(isnan(spn_history_attn_flops_per_char(h, i)));
    g_assert_true(isnan(spn_history_cache_bytes(h, i)));
    if (h->persistent)
      g_assert_true(isnan(spn_history_row_pers_share(h, i)[0]));
    g_assert_cmpint(spn_history_step(h, i), ==, step);
    g_assert_cmpfloat(fabs(spn_history_train_bpc(h, i) - json_number(train, i)), <=, 1e-6);
    g_assert_cmpint(spn_history_valid_step(h, i), ==, step);
    g_assert_cmpfloat(fabs(spn_history_valid_bpc(h, i) - json_number(val, i)), <=, 1e-6);
    /* the logger's span statistics as logged (whole numbers of positions) */
    g_assert_cmpint(spn_history_logged_step(h, i), ==, step);
    g_assert_cmpfloat(spn_history_logged_span_avg(h, i), ==, (float)json_number(span_avg, i));
    g_assert_cmpfloat(spn_history_logged_span_max(h, i), ==, (float)json_number(span_max, i));
    double mean, max;
    g_assert_true(spn_history_span_stats_at(h, step, spn_history_row_spans(h, i), &mean, &max));
    g_assert_cmpfloat(max, ==, (float)json_number(span_max, i));
    const float *row = spn_history_row_spans(h, i);
    if (i + 1 < h->n)   /* the logger keeps no head's span: only the checkpoint's own step has them */
      g_assert_true(isnan(row[0]));
    else
      g_assert_cmpmem(row, sizeof(float) * n, spans, sizeof(float) * n);
  }
  g_assert_true(g_str_has_prefix(ck->trainer_json, "{\"pos\":0,"));
  spn_safetensors_free(st);
  g_object_unref(parser);
  spn_checkpoint_free(ck);
  spn_corpus_free(corpus);
}

static void test_import_ff_zip(void) { check_import("ff", "ref_ff_zip.pt"); }
static void test_import_ff_legacy(void) { check_import("ff", "ref_ff_legacy.pt"); }
static void test_import_pers_zip(void) { check_import("pers", "ref_pers_zip.pt"); }
static void test_import_pers_legacy(void) { check_import("pers", "ref_pers_legacy.pt"); }

/* An imported run resumes in our trainer: from the streams' start, empty caches, its step. */
static void
test_import_resumes(void)
{
  SpnCorpus *corpus = ref_corpus();
  SpnCheckpoint *ck = import_fixture("ref_ff_zip.pt", corpus->vocab);
  gint64 step = ck->optim->step;
  GError *error = NULL;
  SpnTrainer *t = spn_trainer_from_checkpoint(ck, "run.pt", corpus, &error);
  g_assert_no_error(error);
  g_assert_cmpint(spn_trainer_step_count(t), ==, step);
  SpnStepResult r;
  g_assert_true(spn_trainer_step(t, &r, NULL));
  g_assert_cmpint(r.step, ==, step + 1);
  g_assert_true(isfinite(r.train_bpc));
  g_assert_cmpint(spn_trainer_history(t)->n, ==, 3);
  spn_trainer_free(t);
}

static void
expect_import_error(SpnPtTree *tree, const SpnRefFlags *flags, const SpnVocab *vocab, int code,
                    const char *fragment)
{
  GError *error = NULL;
  SpnCheckpoint *ck = import_tree(tree, flags, vocab, &error);
  g_assert_null(ck);
  /* lookups in the tree report a missing or misshapen part in their own domain */
  if (error->domain == SPN_PT_ERROR && code == SPN_REF_ERROR_FORMAT)
    g_assert_error(error, SPN_PT_ERROR, SPN_PT_ERROR_MISMATCH);
  else
    g_assert_error(error, SPN_REF_ERROR, code);
  if (strstr(error->message, fragment) == NULL)
    g_error("\"%s\" does not say \"%s\"", error->message, fragment);
  g_assert_true(g_str_has_prefix(error->message, "run.pt: "));
  g_error_free(error);
}

/* The state dict of a model saved without DataParallel (keys without "module.") imports to the
 * same model; keys of both kinds are refused. */
static SpnPtObj *
model_with_keys(SpnPtTree *tree, gboolean strip_all)
{
  SpnPtObj *model = spn_pt_dict_get(spn_pt_tree_root(tree), "model");
  SpnPtObj *out = spn_pt_new_dict(tree, TRUE);
  for (guint i = 0; i < spn_pt_len(model); i++) {
    const char *key = spn_pt_get_str(spn_pt_dict_key(model, i), NULL);
    g_assert_true(g_str_has_prefix(key, "module."));
    gboolean strip = strip_all || i == 3;
    spn_pt_dict_set_str(out, strip ? key + strlen("module.") : key, spn_pt_dict_value(model, i));
  }
  return out;
}

static void
test_import_unprefixed(void)
{
  SpnCorpus *corpus = ref_corpus();
  SpnCheckpoint *prefixed = import_fixture("ref_ff_zip.pt", corpus->vocab);
  SpnRefFlags flags;
  fixture_flags(&flags);
  SpnPtTree *tree = load_pt("ref_ff_zip.pt");
  SpnPtObj *plain = model_with_keys(tree, TRUE), *mixed = model_with_keys(tree, FALSE);
  spn_pt_dict_set_str(spn_pt_tree_root(tree), "model", plain);
  GError *error = NULL;
  SpnCheckpoint *ck = import_tree(tree, &flags, corpus->vocab, &error);
  g_assert_no_error(error);
  gsize n = ck->model->layout->total, bytes = sizeof(float) * n;
  g_assert_cmpuint(n, ==, prefixed->model->layout->total);
  g_assert_cmpmem(ck->model->params, bytes, prefixed->model->params, bytes);
  g_assert_cmpmem(ck->optim->m1, bytes, prefixed->optim->m1, bytes);
  spn_pt_dict_set_str(spn_pt_tree_root(tree), "model", mixed);
  expect_import_error(tree, &flags, corpus->vocab, SPN_REF_ERROR_FORMAT,
                      "keys start with \"module.\" and the others do not");
  spn_checkpoint_free(ck);
  spn_checkpoint_free(prefixed);
  spn_pt_tree_free(tree);
  spn_corpus_free(corpus);
}

/* Flags and a vocabulary that contradict the tensors are refused, naming both. */
static void
test_import_mismatch(void)
{
  SpnCorpus *corpus = ref_corpus();
  SpnPtTree *tree = load_pt("ref_ff_zip.pt");
  SpnRefFlags flags;
  fixture_flags(&flags);
  flags.cfg.nlayers = 3;
  expect_import_error(tree, &flags, corpus->vocab, SPN_REF_ERROR_MISMATCH,
                      "--nlayers 3 was given, but the checkpoint's model has 2");
  fixture_flags(&flags);
  flags.cfg.nheads = 4;
  expect_import_error(tree, &flags, corpus->vocab, SPN_REF_ERROR_MISMATCH, "--nheads 4");
  fixture_flags(&flags);
  flags.cfg.lr = 0.5;
  expect_import_error(tree, &flags, corpus->vocab, SPN_REF_ERROR_MISMATCH,
                      "--lr 0.5 was given, but the optimizer's param group says initial_lr");
  fixture_flags(&flags);
  flags.cfg.adapt_span = FALSE;
  expect_import_error(tree, &flags, corpus->vocab, SPN_REF_ERROR_MISMATCH, "--no-adapt-span");
  fixture_flags(&flags);   /* main.py computes the reference's window only */
  flags.cfg.attn_window = SPN_ATTN_WINDOW_HEAD;
  expect_import_error(tree, &flags, corpus->vocab, SPN_REF_ERROR_MISMATCH,
                      "--attn-window head was given, but main.py computes the reference's window");
  fixture_flags(&flags);
  const char *tokens[] = {"<eos>", "65", "66"};
  SpnVocab *small = spn_vocab_new(SPN_VOCAB_REF, 3, tokens);
  expect_import_error(tree, &flags, small, SPN_REF_ERROR_MISMATCH,
                      "the corpus has 3 tokens in its vocabulary, but the model's in_emb.weight "
                      "has 13 rows");
  spn_vocab_free(small);
  spn_pt_tree_free(tree);
  spn_corpus_free(corpus);
}

/* Damaged checkpoints: each refused with an error naming the part. */
static void
test_import_damaged(void)
{
  SpnRefFlags flags;
  fixture_flags(&flags);
  static const struct {
    const char *path, *key, *fragment;
    int what;   /* 0: drop the value (set None), 1: a wrong shape, 2: an out-of-range z,
                   3: norm1.weight's tensor again (one storage for two parameters) */
  } cases[] = {
    {"model", "module.key_pe", "no 3-dimensional tensor 'module.key_pe'", 0},
    {"model", "module.layers.1.norm1.bias", "'model': 'module.layers.1.norm1.bias' has shape", 1},
    {"model", "module.layers.0.attn.attn.adaptive_span._mask.current_val", "outside [0, 1]", 2},
    {"model", "module.layers.0.attn.attn.adaptive_span._mask.mask_template",
     "'module.layers.0.attn.attn.adaptive_span._mask.mask_template' has shape", 1},
    {"model", "module.extra.weight", "'model' holds 'module.extra.weight'", 1},
    {"", "iter_no", "'iter_no' is missing", 0},
    {"logger", "val_bpc", "'logger/val_bpc' is not a list of one entry", 1},
    {"optimizer/state/3", "sum", "'optimizer/state/3': 'sum'", 1},
    {"optimizer/state/0", "step", "'optimizer/state/0/step' is missing", 0},
    {"model", "module.layers.1.norm1.bias", "shares its storage with another parameter", 3},
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    SpnPtTree *tree = load_pt("ref_ff_zip.pt");
    GError *error = NULL;
    SpnPtObj *dict = spn_pt_lookup(spn_pt_tree_root(tree), cases[i].path, &error);
    g_assert_no_error(error);
    SpnPtObj *v = spn_pt_new_none(tree);
    if (cases[i].what == 1 && g_str_equal(cases[i].path, "logger")) {
      v = spn_pt_new_list(tree);
      spn_pt_append(v, spn_pt_new_float(tree, 1.0));
    } else if (cases[i].what == 3) {
      v = spn_pt_dict_get(dict, "module.layers.1.norm1.weight");
    } else if (cases[i].what > 0) {
      float z[4] = {0.5f, cases[i].what == 2 ? 1.5f : 0.5f, 0.5f, 0.5f};
      gint64 shape[3] = {cases[i].what == 2 ? 2 : 3, 1, 1};
      v = spn_pt_new_tensor(tree, SPN_PT_F32, cases[i].what == 2 ? 3 : 1, shape, z);
    }
    spn_pt_dict_set_str(dict, cases[i].key, v);
    expect_import_error(tree, &flags, NULL, SPN_REF_ERROR_FORMAT, cases[i].fragment);
    spn_pt_tree_free(tree);
  }
}

/* Not a main.py checkpoint at all: the torchfile type fixtures. */
static void
test_import_foreign(void)
{
  SpnRefFlags flags;
  fixture_flags(&flags);
  SpnPtTree *tree = spn_pt_tree_new();
  SpnPtObj *list = spn_pt_new_list(tree);
  spn_pt_tree_set_root(tree, list);
  expect_import_error(tree, &flags, NULL, SPN_REF_ERROR_FORMAT, "it holds a list");
  SpnPtObj *root = spn_pt_new_dict(tree, FALSE);
  spn_pt_tree_set_root(tree, root);
  GError *error = NULL;
  g_assert_null(import_tree(tree, &flags, NULL, &error));
  g_assert_error(error, SPN_PT_ERROR, SPN_PT_ERROR_MISMATCH);
  g_assert_nonnull(strstr(error->message, "'model'"));
  g_clear_error(&error);
  spn_pt_tree_free(tree);
}

/* export → torch file → import: the same model, optimizer, step and logger. */
static void
check_export_round_trip(SpnTorchFormat format)
{
  SpnCorpus *corpus = ref_corpus();
  SpnCheckpoint *ck = import_fixture("ref_pers_zip.pt", corpus->vocab);
  const SpnHistory *h = ck->history;
  g_autoptr(GPtrArray) notes = g_ptr_array_new_with_free_func(g_free);
  GError *error = NULL;
  SpnPtTree *tree = spn_ref_export(ck->model, ck->optim, h, ck->vocab, 3, notes, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(notes->len, ==, 0);
  g_autofree char *dir = g_dir_make_tmp("spanscope-refrun-XXXXXX", NULL);
  g_autofree char *path = g_build_filename(dir, "run.pt", NULL);
  g_assert_true(spn_torch_save(tree, spn_pt_tree_root(tree), path, format, &error));
  SpnRefFlags flags;
  fixture_flags(&flags);
  SpnCheckpoint *back = spn_ref_load(path, &flags, corpus->vocab, NULL, NULL, &error);
  g_assert_no_error(error);
  SpnModel *a = ck->model, *b = back->model;
  g_assert_cmpmem(a->params, sizeof(float) * a->layout->total, b->params,
                  sizeof(float) * b->layout->total);
  g_assert_cmpmem(ck->optim->m1, sizeof(float) * a->layout->total, back->optim->m1,
                  sizeof(float) * b->layout->total);
  g_assert_cmpint(back->optim->step, ==, ck->optim->step);
  const SpnHistory *hb = back->history;
  g_assert_cmpint(hb->n, ==, h->n);
  g_assert_cmpint(hb->n_valid, ==, h->n_valid);
  g_assert_cmpint(hb->n_logged, ==, h->n_logged);
  for (int i = 0; i < h->n; i++) {
    g_assert_cmpint(spn_history_step(hb, i), ==, spn_history_step(h, i));
    g_assert_cmpfloat(spn_history_train_bpc(hb, i), ==, spn_history_train_bpc(h, i));
  }
  for (int i = 0; i < h->n_valid; i++) {
    g_assert_cmpint(spn_history_valid_step(hb, i), ==, spn_history_valid_step(h, i));
    g_assert_cmpfloat(spn_history_valid_bpc(hb, i), ==, spn_history_valid_bpc(h, i));
  }
  /* span_avg and span_max handed back as main.py logged them, never NaN */
  for (int i = 0; i < h->n_logged; i++) {
    g_assert_cmpint(spn_history_logged_step(hb, i), ==, spn_history_logged_step(h, i));
    g_assert_true(isfinite(spn_history_logged_span_avg(h, i)));
    g_assert_cmpfloat(spn_history_logged_span_avg(hb, i), ==, spn_history_logged_span_avg(h, i));
    g_assert_cmpfloat(spn_history_logged_span_max(hb, i), ==, spn_history_logged_span_max(h, i));
  }
  SpnPtObj *root = spn_pt_tree_root(tree);
  gint64 iter_no;
  g_assert_true(spn_pt_get_int(spn_pt_dict_get(root, "iter_no"), &iter_no));
  g_assert_cmpint(iter_no, ==, 1);
  spn_checkpoint_free(back);
  spn_checkpoint_free(ck);
  spn_pt_tree_free(tree);
  spn_corpus_free(corpus);
  g_unlink(path);
  g_rmdir(dir);
}

static void test_export_zip(void) { check_export_round_trip(SPN_TORCH_ZIP); }
static void test_export_legacy(void) { check_export_round_trip(SPN_TORCH_LEGACY); }

/* A run on characters of a text keeps token ids main.py cannot reproduce: refused. */
static void
test_export_needs_ref_vocab(void)
{
  SpnConfig c;
  spn_test_tiny_config(&c);
  c.vocab_size = 5;
  SpnModel *m = spn_model_new(&c);
  const char *tokens[] = {"<unk>", "a", "b", "c", "d"};
  SpnVocab *v = spn_vocab_new(SPN_VOCAB_CHARS, 5, tokens);
  SpnHistory *h = spn_history_new(c.nlayers, c.nheads);
  GError *error = NULL;
  g_assert_null(spn_ref_export(m, NULL, h, v, 1000, NULL, &error));
  g_assert_error(error, SPN_REF_ERROR, SPN_REF_ERROR_UNSUPPORTED);
  g_assert_nonnull(strstr(error->message, "--ref-format"));
  g_error_free(error);
  spn_history_unref(h);
  spn_vocab_free(v);
  spn_model_free(m);
}

static void
test_command(void)
{
  SpnConfig c;
  spn_config_init_desktop(&c);
  g_autofree char *one = spn_ref_command(&c, "data/my enwik8", "run.pt", 1000, 20000, 0);
  g_assert_cmpstr(one, ==,
                  "python3 main.py --data 'data/my enwik8' --nlayers 4 --hid-sz 128 "
                  "--inner-hid-sz 512 --nheads 4 --attn-span 1024 --block-sz 128 --batch-sz 16 "
                  "--nbatches 1000 --niter 20 --dropout 0 --optim adagrad --lr 0.07 "
                  "--lr-warmup 100 --grad-clip 0.03 --adapt-span --adapt-span-loss 2e-06 "
                  "--adapt-span-ramp 32 --adapt-span-init 0 --adapt-span-cache "
                  "--checkpoint run.pt");
  spn_config_init_all_attention(&c);
  g_autofree char *many = spn_ref_command(&c, NULL, NULL, 1000, 0, 4);
  g_assert_true(g_str_has_prefix(many, "python3 -m torch.distributed.launch --nproc_per_node=4 "
                                       "main.py --distributed --data data/enwik8 "));
  g_assert_nonnull(strstr(many, " --pers-mem-size 256"));
  g_assert_null(strstr(many, "--inner-hid-sz"));
  g_assert_null(strstr(many, "--checkpoint"));
}

static void
test_flags_parse(void)
{
  SpnRefFlags f;
  spn_ref_flags_init(&f);
  g_autofree char *data = NULL;
  GError *error = NULL;
  g_assert_true(spn_ref_flags_parse(&f, "python3 main.py --data 'data/en wik8' --nlayers 12 "
                                         "--adapt-span --adapt-span-ramp 64 --distributed "
                                         "--local_rank 0 --checkpoint x.pt",
                                    &data, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(data, ==, "data/en wik8");
  g_assert_cmpint(f.cfg.nlayers, ==, 12);
  g_assert_cmpint(f.cfg.adapt_span_ramp, ==, 64);
  g_assert_cmpint(f.cfg.adapt_span, ==, TRUE);
  g_assert_cmpint(f.cfg.hid_sz, ==, -1);   /* not given: the tensors decide */
  g_assert_false(spn_ref_flags_parse(&f, "--nlayers many", NULL, &error));
  g_assert_nonnull(strstr(error->message, "nlayers"));
  g_clear_error(&error);
}

/* ---- following ---- */

typedef struct {
  GArray *steps;   /* gint64 */
  int waiting, failed;
  GMainLoop *loop;
  SpnCheckpoint *last;   /* the latest version delivered */
} Seen;

static void
on_event(SpnFollowEvent *e, gpointer data)
{
  Seen *s = data;
  if (e->kind == SPN_FOLLOW_VERSION) {
    g_array_append_val(s->steps, e->step);
    spn_checkpoint_free(s->last);
    s->last = g_steal_pointer(&e->checkpoint);
  }
  else if (e->kind == SPN_FOLLOW_WAITING)
    s->waiting++;
  else
    s->failed++;
  g_main_loop_quit(s->loop);
}

static gboolean
quit_loop(gpointer loop)
{
  g_main_loop_quit(loop);
  return G_SOURCE_REMOVE;
}

/* Runs the main loop until an event or timeout_ms. */
static void
iterate(Seen *s, int timeout_ms)
{
  GSource *timeout = g_timeout_source_new(timeout_ms);
  g_source_set_callback(timeout, quit_loop, s->loop, NULL);
  g_source_attach(timeout, NULL);
  g_main_loop_run(s->loop);
  g_source_destroy(timeout);
  g_source_unref(timeout);
}

static void
write_bytes(const char *path, const guint8 *data, gsize from, gsize to, gboolean truncate)
{
  int fd = open(path, O_WRONLY | O_CREAT | (truncate ? O_TRUNC : 0), 0644);
  g_assert_cmpint(fd, >=, 0);
  g_assert_cmpint(lseek(fd, (off_t)from, SEEK_SET), ==, (off_t)from);
  g_assert_cmpint(write(fd, data + from, to - from), ==, (gssize)(to - from));
  close(fd);
}

/* A tiny trainer on a text of 4,000 characters, for the follower's versions. */
static SpnTrainer *
follow_trainer(void)
{
  SpnConfig c;
  spn_test_tiny_config(&c);
  g_autofree char *text = g_strnfill(4000, 'a');
  for (int i = 0; i < 4000; i++)
    text[i] = "abcde fghij\n"[(i * 7 + i / 13) % 12];
  SpnCorpus *corpus = spn_corpus_from_text("test", text, strlen(text), NULL, NULL);
  g_assert_nonnull(corpus);
  GError *error = NULL;
  SpnTrainer *t = spn_trainer_new(&c, corpus, &error);
  g_assert_no_error(error);
  return t;
}

/* A file the follower may not read is reported (once), not waited for in silence; once it may,
 * its version comes. Root reads any file: the test needs another user. */
static void
test_follow_unreadable(void)
{
  if (geteuid() == 0) {
    g_test_skip("root may read any file");
    return;
  }
  SpnTrainer *t = follow_trainer();
  GError *error = NULL;
  g_assert_true(spn_trainer_step(t, NULL, NULL));
  g_autofree char *dir = g_dir_make_tmp("spanscope-follow-XXXXXX", NULL);
  g_autofree char *target = g_build_filename(dir, "run.safetensors", NULL);
  g_assert_true(spn_trainer_save(t, target, &error));
  g_assert_cmpint(g_chmod(target, 0), ==, 0);
  Seen s = {g_array_new(FALSE, FALSE, sizeof(gint64)), 0, 0, g_main_loop_new(NULL, FALSE), NULL};
  SpnFollower *f = spn_follower_new(target, NULL, on_event, &s, &error);
  g_assert_no_error(error);
  for (gint64 until = g_get_monotonic_time() + 3000 * 1000; g_get_monotonic_time() < until;)
    iterate(&s, 200);
  g_assert_cmpint(s.failed, ==, 1);
  g_assert_cmpint(s.waiting, ==, 0);
  g_assert_cmpint(s.steps->len, ==, 0);
  g_assert_cmpint(g_chmod(target, 0644), ==, 0);
  for (gint64 until = g_get_monotonic_time() + 5000 * 1000;
       s.steps->len == 0 && g_get_monotonic_time() < until;)
    iterate(&s, 200);
  g_assert_cmpint(s.steps->len, ==, 1);
  spn_follower_free(f);
  spn_checkpoint_free(s.last);
  g_array_unref(s.steps);
  g_main_loop_unref(s.loop);
  spn_trainer_free(t);
  g_unlink(target);
  g_rmdir(dir);
}

/* Three versions of our own trainer's checkpoint, each rewritten in place; the second in two
 * pieces with a long pause: the half-written file is waited for, never delivered, and the
 * spans of each version stay in its history. */
static void
test_follow_versions(void)
{
  SpnTrainer *t = follow_trainer();
  GError *error = NULL;
  g_autofree char *dir = g_dir_make_tmp("spanscope-follow-XXXXXX", NULL);
  g_autofree char *target = g_build_filename(dir, "run.safetensors", NULL);
  GBytes *versions[3];
  for (int v = 0; v < 3; v++) {
    g_assert_true(spn_trainer_step(t, NULL, NULL));
    g_autofree char *p = g_strdup_printf("%s.%d", target, v);
    g_assert_true(spn_trainer_save(t, p, &error));
    g_autofree char *data = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(p, &data, &len, NULL));
    versions[v] = g_bytes_new(data, len);
    g_unlink(p);
  }
  Seen s = {g_array_new(FALSE, FALSE, sizeof(gint64)), 0, 0, g_main_loop_new(NULL, FALSE), NULL};
  SpnFollower *f = spn_follower_new(target, NULL, on_event, &s, &error);
  g_assert_no_error(error);
  iterate(&s, 3000);
  g_assert_cmpint(s.waiting, >=, 1);   /* not there yet */
  for (int v = 0; v < 3; v++) {
    gsize len;
    const guint8 *data = g_bytes_get_data(versions[v], &len);
    if (v == 1) {
      write_bytes(target, data, 0, len / 2, TRUE);
      int waiting = s.waiting;
      gint64 until = g_get_monotonic_time() + 1500 * 1000;   /* a writer that pauses */
      while (g_get_monotonic_time() < until)
        iterate(&s, 100);
      g_assert_cmpint(s.steps->len, ==, 1);
      g_assert_cmpint(s.waiting, >, waiting);
      write_bytes(target, data, len / 2, len, FALSE);
    } else
      write_bytes(target, data, 0, len, TRUE);
    gint64 until = g_get_monotonic_time() + 5000 * 1000;
    while (s.steps->len < (guint)v + 1 && g_get_monotonic_time() < until)
      iterate(&s, 200);
    g_assert_cmpint(s.steps->len, ==, v + 1);
    g_assert_cmpint(g_array_index(s.steps, gint64, v), ==, v + 1);
  }
  g_assert_cmpint(s.failed, ==, 0);
  g_assert_cmpint(spn_follower_last_version_time(f), >, 0);
  spn_follower_free(f);
  spn_checkpoint_free(s.last);
  for (int v = 0; v < 3; v++)
    g_bytes_unref(versions[v]);
  g_array_unref(s.steps);
  g_main_loop_unref(s.loop);
  spn_trainer_free(t);
  g_unlink(target);
  g_rmdir(dir);
}

/* A .pt followed with its flags, each version handed to a trainer as the window's worker does:
 * the second version extends the history shown — the heads' spans at the first version's step,
 * which the logger does not keep, stay in it — without editing a row already published; steps
 * trained here between versions are dropped from the history that continues, never from a
 * snapshot taken before. */
static void
test_follow_keeps_spans(void)
{
  g_autofree char *dir = g_dir_make_tmp("spanscope-follow-XXXXXX", NULL);
  g_autofree char *target = g_build_filename(dir, "run.pt", NULL);
  SpnCorpus *corpus = ref_corpus();
  SpnRefFlags flags;
  fixture_flags(&flags);
  SpnFollowSource src = {&flags, corpus->vocab, corpus->source};
  Seen s = {g_array_new(FALSE, FALSE, sizeof(gint64)), 0, 0, g_main_loop_new(NULL, FALSE), NULL};
  GError *error = NULL;
  /* version 1: the fixture run cut back to its first iteration (step 3, one logger entry) */
  SpnPtTree *tree = load_pt("ref_ff_legacy.pt");
  SpnPtObj *root = spn_pt_tree_root(tree);
  spn_pt_dict_set_str(root, "scheduler_iter", spn_pt_new_int(tree, 3));
  SpnPtObj *logger = spn_pt_dict_get(root, "logger");
  for (guint k = 0; k < spn_pt_len(logger); k++) {
    SpnPtObj *cut = spn_pt_new_list(tree);
    spn_pt_append(cut, spn_pt_item(spn_pt_dict_value(logger, k), 0));
    g_assert_true(spn_pt_dict_set(logger, spn_pt_dict_key(logger, k), cut, NULL));
  }
  g_assert_true(spn_torch_save(tree, root, target, SPN_TORCH_ZIP, &error));
  spn_pt_tree_free(tree);
  SpnFollower *f = spn_follower_new(target, &src, on_event, &s, &error);
  g_assert_no_error(error);
  while (s.steps->len < 1)
    iterate(&s, 5000);
  g_assert_cmpint(g_array_index(s.steps, gint64, 0), ==, 3);
  const SpnConfig *c = &s.last->model->cfg;
  int n = c->nlayers * c->nheads;
  g_autofree float *first = g_new(float, n);
  spn_model_spans(s.last->model, first);
  SpnTrainer *t = spn_trainer_from_checkpoint(g_steal_pointer(&s.last), target, ref_corpus(),
                                              &error);
  g_assert_no_error(error);
  SpnHistory *shown = spn_history_snapshot(spn_trainer_history(t));
  g_assert_cmpint(shown->n, ==, 1);
  /* version 2: the whole run */
  g_autofree char *src_path = fixture("ref_ff_zip.pt");
  g_autofree char *data = NULL;
  gsize len;
  g_assert_true(g_file_get_contents(src_path, &data, &len, NULL));
  write_bytes(target, (guint8 *)data, 0, len, TRUE);
  while (s.steps->len < 2)
    iterate(&s, 5000);
  g_assert_cmpint(g_array_index(s.steps, gint64, 1), ==, 6);
  g_autofree float *now = g_new(float, n);
  spn_model_spans(s.last->model, now);
  g_assert_true(spn_trainer_replace(t, s.last, target, &error));
  g_assert_no_error(error);
  const SpnHistory *h = spn_trainer_history(t);
  g_assert_cmpint(h->n, ==, 2);
  g_assert_cmpint(spn_history_step(h, 0), ==, 3);
  g_assert_cmpmem(spn_history_row_spans(h, 0), sizeof(float) * n, first, sizeof(float) * n);
  g_assert_cmpmem(spn_history_row_spans(h, 1), sizeof(float) * n, now, sizeof(float) * n);
  g_assert_cmpint(h->n_valid, ==, 2);
  g_assert_cmpint(h->n_logged, ==, 2);
  /* appended to the rows shown, which stay where they were: the snapshot still has one */
  g_assert_true(spn_history_row_spans(h, 0) == spn_history_row_spans(shown, 0));
  g_assert_cmpint(shown->n, ==, 1);
  g_assert_cmpint(shown->n_logged, ==, 1);
  /* a step trained here, then the same version again: the followed run's history only */
  spn_history_unref(shown);
  g_assert_true(spn_trainer_step(t, NULL, NULL));
  shown = spn_history_snapshot(spn_trainer_history(t));
  g_assert_cmpint(shown->n, ==, 3);
  SpnCheckpoint *again = spn_ref_load(target, &flags, corpus->vocab, corpus->source, NULL, &error);
  g_assert_no_error(error);
  g_assert_true(spn_trainer_replace(t, again, target, &error));
  h = spn_trainer_history(t);
  g_assert_cmpint(h->n, ==, 2);
  g_assert_cmpint(spn_history_step(h, 1), ==, 6);
  g_assert_cmpmem(spn_history_row_spans(h, 0), sizeof(float) * n, first, sizeof(float) * n);
  g_assert_cmpint(spn_trainer_step_count(t), ==, 6);
  g_assert_cmpint(shown->n, ==, 3);
  g_assert_cmpint(spn_history_step(shown, 2), ==, 7);
  spn_checkpoint_free(again);
  spn_history_unref(shown);
  spn_trainer_free(t);
  spn_follower_free(f);
  spn_checkpoint_free(s.last);
  g_array_unref(s.steps);
  g_main_loop_unref(s.loop);
  spn_corpus_free(corpus);
  g_unlink(target);
  g_rmdir(dir);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/refrun/import/ff-zip", test_import_ff_zip);
  g_test_add_func("/refrun/import/ff-legacy", test_import_ff_legacy);
  g_test_add_func("/refrun/import/pers-zip", test_import_pers_zip);
  g_test_add_func("/refrun/import/pers-legacy", test_import_pers_legacy);
  g_test_add_func("/refrun/import/resumes", test_import_resumes);
  g_test_add_func("/refrun/import/unprefixed", test_import_unprefixed);
  g_test_add_func("/refrun/import/mismatch", test_import_mismatch);
  g_test_add_func("/refrun/import/damaged", test_import_damaged);
  g_test_add_func("/refrun/import/foreign", test_import_foreign);
  g_test_add_func("/refrun/export/zip", test_export_zip);
  g_test_add_func("/refrun/export/legacy", test_export_legacy);
  g_test_add_func("/refrun/export/needs-ref-vocab", test_export_needs_ref_vocab);
  g_test_add_func("/refrun/command", test_command);
  g_test_add_func("/refrun/flags-parse", test_flags_parse);
  g_test_add_func("/follow/versions", test_follow_versions);
  g_test_add_func("/follow/unreadable", test_follow_unreadable);
  g_test_add_func("/follow/keeps-spans", test_follow_keeps_spans);
  return g_test_run();
}
