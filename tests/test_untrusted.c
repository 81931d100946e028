/* test_untrusted.c — issue 13: nothing read from disk is trusted, and a run survives what can go
 * wrong. Crafted checkpoints (every metadata key, tensors, trainer state) give errors naming the
 * file and the fault; odd corpus files (a FIFO, /dev/zero) are refused before they are read; a
 * corpus barely larger than a block trains without reading past its end; a step whose numbers are
 * not finite is never applied, in the trainer and in the worker. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "checkpoint.h"
#include "fixtures.h"
#include "generate.h"
#include "probe.h"
#include "rng.h"
#include "safetensors.h"
#include "trainer.h"
#include "worker.h"

static char *tmpdir;

static char *
tmp_path(const char *name)
{
  return g_build_filename(tmpdir, name, NULL);
}

#define assert_contains(haystack, needle)                                                          \
  do {                                                                                             \
    if (strstr((haystack), (needle)) == NULL)                                                      \
      g_error("expected \"%s\" in \"%s\"", (needle), (haystack));                                  \
  } while (0)

/* Text of `chars` characters (some of two bytes), so losses move. */
static char *
write_corpus(const char *name, gsize chars)
{
  const char *words[] = {"the ", "spans ", "grow ", "and ", "shrink ", "é ", "ünï ", "→ ", "\n"};
  GString *s = g_string_new(NULL);
  SpnRng rng;
  spn_rng_seed(&rng, 3);
  while (g_utf8_strlen(s->str, -1) < (glong)chars)
    g_string_append(s, words[spn_rng_below(&rng, G_N_ELEMENTS(words))]);
  g_autofree char *cut = g_utf8_substring(s->str, 0, (glong)chars);
  char *path = tmp_path(name);
  g_assert_true(g_file_set_contents(path, cut, -1, NULL));
  g_string_free(s, TRUE);
  return path;
}

static SpnCorpus *
load(const char *path)
{
  g_autoptr(GError) error = NULL;
  SpnCorpus *c = spn_corpus_load(path, NULL, &error);
  g_assert_no_error(error);
  return c;
}

static void
small_config(SpnConfig *c)
{
  spn_config_init_desktop(c);
  c->nlayers = 2, c->hid_sz = 16, c->nheads = 2, c->inner_hid_sz = 32, c->attn_span = 64;
  c->adapt_span_ramp = 8, c->block_sz = 16, c->batch_sz = 3, c->lr_warmup = 5, c->seed = 11;
}

/* The desktop model's shape where it matters here (16 streams of 128, S = 1024, λ and the
 * optimizer) but one narrow layer, so the tests stay quick under the sanitizers. */
static void
narrow_desktop(SpnConfig *c)
{
  spn_config_init_desktop(c);
  c->nlayers = 1, c->hid_sz = 16, c->nheads = 2, c->inner_hid_sz = 32;
}

/* ---- crafted checkpoints ------------------------------------------------------------------- */

/* A checkpoint after two steps of the small model, and its corpus. */
static char *
good_checkpoint(char **corpus)
{
  *corpus = write_corpus("ck.txt", 3000);
  char *path = tmp_path("good.safetensors");
  SpnConfig c;
  small_config(&c);
  g_autoptr(GError) error = NULL;
  SpnTrainer *t = spn_trainer_new(&c, load(*corpus), &error);
  g_assert_no_error(error);
  for (int s = 0; s < 2; s++)
    g_assert_true(spn_trainer_step(t, NULL, &error));
  g_assert_true(spn_trainer_save(t, path, &error));
  spn_trainer_free(t);
  return path;
}

/* Copies src to dst as spn_test_write_variant writes it (fixtures.h). */
static void
rewrite(const char *src, const char *dst, const char *key, const char *value, const char *tensor,
        gsize index, float x)
{
  g_autoptr(GError) error = NULL;
  SpnSafetensors *st = spn_safetensors_read(src, &error);
  g_assert_no_error(error);
  spn_test_write_variant(st, dst, key, value, tensor, index, x);
  spn_safetensors_free(st);
}

/* Opening `path` for training (the window's Open, train --checkpoint) fails with a message that
 * names the file and contains `fragment`; so does spn_checkpoint_load unless the fault is only
 * in the training state. */
static void
expect_refused(const char *path, const char *corpus, const char *fragment, gboolean state_only)
{
  g_autoptr(GError) error = NULL;
  SpnCheckpoint *ck = spn_checkpoint_load(path, &error);
  if (state_only) {
    g_assert_no_error(error);
    g_assert_nonnull(ck);
    spn_checkpoint_free(ck);
  } else {
    g_assert_null(ck);
    g_assert_nonnull(error);
    assert_contains(error->message, path);
    assert_contains(error->message, fragment);
    g_clear_error(&error);
  }
  SpnTrainer *t = spn_trainer_load(path, load(corpus), &error);
  g_assert_null(t);
  g_assert_nonnull(error);
  assert_contains(error->message, path);
  assert_contains(error->message, fragment);
}

static char *
nested(int depth)
{
  GString *s = g_string_new(NULL);
  for (int i = 0; i < depth; i++)
    g_string_append_c(s, '[');
  for (int i = 0; i < depth; i++)
    g_string_append_c(s, ']');
  return g_string_free(s, FALSE);
}

static char *
config_json_with(const char *good, const char *key, int value)
{
  g_autoptr(GError) error = NULL;
  SpnCheckpoint *ck = spn_checkpoint_load(good, &error);
  g_assert_no_error(error);
  SpnConfig c = ck->model->cfg;
  spn_checkpoint_free(ck);
  guint n;
  const SpnConfigField *fields = spn_config_fields(&n);
  for (guint i = 0; i < n; i++)
    if (strcmp(fields[i].key, key) == 0)
      *(int *)((guint8 *)&c + fields[i].offset) = value;
  return spn_config_to_json(&c);
}

static void
test_metadata(void)
{
  g_autofree char *corpus = NULL;
  g_autofree char *good = good_checkpoint(&corpus);
  g_autofree char *bad = tmp_path("bad.safetensors");
  g_autofree char *deep = nested(20000); /* under every size bound */
  /* every JSON key: json-glib would recurse 20,000 levels deep */
  const char *json_keys[] = {"config", "vocab", "history", "optimizer", "trainer"};
  for (gsize k = 0; k < G_N_ELEMENTS(json_keys); k++) {
    g_test_message("nested %s", json_keys[k]);
    rewrite(good, bad, json_keys[k], deep, NULL, 0, 0);
    gboolean state_only = g_str_equal(json_keys[k], "history") ||
                          g_str_equal(json_keys[k], "trainer");
    expect_refused(bad, corpus, "nests JSON more than 16 levels deep", state_only);
  }

  static const struct {
    const char *key, *value, *fragment;
    gboolean state_only;
  } cases[] = {
    /* numbers where hex strings are expected, and a negative position (issue 13) */
    {"trainer", "{\"pos\":0,\"rng\":[1,2,3,4],\"cache_valid\":[0,0],\"corpus\":\"x\"}", "\"rng\"",
     TRUE},
    {"trainer", "{\"pos\":-10,\"rng\":[\"1\",\"2\",\"3\",\"4\"],\"cache_valid\":[0,0]}", "\"pos\"",
     TRUE},
    {"trainer", "{\"pos\":\"0\",\"rng\":[],\"cache_valid\":[0,0]}", "\"pos\"", TRUE},
    {"trainer",
     "{\"pos\":0,\"rng\":[\"0000000000000000\",\"0000000000000000\",\"0000000000000000\","
     "\"0000000000000000\"],\"cache_valid\":[0,0]}",
     "not all zero", TRUE},
    {"trainer",
     "{\"pos\":0,\"rng\":[\"000000000000000g\",\"1\",\"2\",\"3\"],\"cache_valid\":[0,0]}",
     "\"rng\"", TRUE},
    {"trainer",
     "{\"pos\":0,\"rng\":[\"0000000000000001\",\"0000000000000001\",\"0000000000000001\","
     "\"0000000000000001\"],\"cache_valid\":[1e9,0]}",
     "\"cache_valid\" of layer 0", TRUE},
    {"trainer",
     "{\"pos\":0,\"rng\":[\"0000000000000001\",\"0000000000000001\",\"0000000000000001\","
     "\"0000000000000001\"],\"cache_valid\":[65,0]}",
     "\"cache_valid\" of layer 0 is not an integer from 0 to 64", TRUE},
    {"trainer", "[]", "not a JSON object", TRUE},
    {"trainer", NULL, "the training state is missing", TRUE},
    /* the optimizer's step sets the learning rate: negative would train backwards */
    {"optimizer", "{\"kind\":\"adagrad\",\"step\":-5}", "\"step\" must be an integer", FALSE},
    {"optimizer", "{\"kind\":\"adagrad\",\"step\":2.5}", "\"step\" must be an integer", FALSE},
    {"optimizer", "{\"kind\":\"adagrad\"}", "\"step\" must be an integer", FALSE},
    {"optimizer", "{\"kind\":7,\"step\":2}", "does not match", FALSE},
    /* a lone surrogate escape is not a character */
    {"vocab", "{\"kind\":\"chars\",\"tokens\":[\"<unk>\",\"\\ud800x\"]}", "not valid UTF-8",
     FALSE},
    /* a history of another shape is refused (and freed: LeakSanitizer checks this path) */
    {"history",
     "{\"nlayers\":3,\"nheads\":1,\"step\":[1],\"train_bpc\":[2],\"val_bpc\":[null],"
     "\"tokens_per_s\":[1],\"spans\":[1,2,3]}",
     "3 layers \u00d7 1 heads, the model has 2 \u00d7 2", TRUE},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_test_message("case %" G_GSIZE_FORMAT ": %s", i, cases[i].fragment);
    rewrite(good, bad, cases[i].key, cases[i].value, NULL, 0, 0);
    expect_refused(bad, corpus, cases[i].fragment, cases[i].state_only);
  }
  /* n × layers × heads = 256 × 4096 × 4096 wraps to 0 in 32 bits: an empty "spans" passed the
   * check and 16 GiB were allocated */
  GString *h = g_string_new("{\"nlayers\":4096,\"nheads\":4096");
  const char *columns[] = {"step", "train_bpc", "val_bpc", "tokens_per_s"};
  for (gsize k = 0; k < G_N_ELEMENTS(columns); k++) {
    g_string_append_printf(h, ",\"%s\":[1", columns[k]);
    for (int i = 1; i < 256; i++)
      g_string_append(h, ",1");
    g_string_append(h, "]");
  }
  g_string_append(h, ",\"spans\":[]}");
  rewrite(good, bad, "history", h->str, NULL, 0, 0);
  /* refused by its shape before any count is multiplied */
  expect_refused(bad, corpus, "4096 layers \u00d7 4096 heads, the model has 2", TRUE);
  g_string_free(h, TRUE);
}

/* Sizes: a configuration is checked before anything is allocated for it. */
static void
test_sizes(void)
{
  g_autofree char *corpus = NULL;
  g_autofree char *good = good_checkpoint(&corpus);
  g_autofree char *bad = tmp_path("size.safetensors");
  /* tens of GB of parameters: refused by the configuration's own check */
  g_autofree char *huge = config_json_with(good, "inner_hid_sz", 65536);
  g_autofree char *wide = NULL;
  {
    g_autoptr(GError) error = NULL;
    SpnConfig c;
    g_assert_true(spn_config_from_json(&c, huge, &error));
    c.hid_sz = 8192, c.nheads = 2, c.nlayers = 64;
    wide = spn_config_to_json(&c);
  }
  rewrite(good, bad, "config", wide, NULL, 0, 0);
  expect_refused(bad, corpus, "GB for its", FALSE);
  /* within memory, but far more than the file holds: refused before allocating */
  g_autofree char *bigger = config_json_with(good, "inner_hid_sz", 60000);
  rewrite(good, bad, "config", bigger, NULL, 0, 0);
  expect_refused(bad, corpus, "bytes of parameters but the file holds only", FALSE);
}

/* Tensors: values that no training produces. */
static void
test_tensor_values(void)
{
  g_autofree char *corpus = NULL;
  g_autofree char *good = good_checkpoint(&corpus);
  g_autofree char *bad = tmp_path("values.safetensors");
  static const struct {
    const char *tensor;
    gsize index;
    float value;
    const char *fragment;
  } cases[] = {
    {"in_emb.weight", 7, NAN, "tensor 'in_emb.weight' holds nan at element 7"},
    {"layers.1.attn.proj_out.weight", 0, INFINITY, "holds inf"},
    {"layers.0.attn.attn.adaptive_span._mask.current_val", 1, 1e30f, "between 0 and 1"},
    {"layers.0.attn.attn.adaptive_span._mask.current_val", 0, -0.5f, "between 0 and 1"},
    {"optimizer.sum.key_pe", 3, -INFINITY, "holds -inf"},
    {"trainer.cache.1", 5, NAN, "tensor 'trainer.cache.1' holds nan"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_test_message("%s", cases[i].fragment);
    rewrite(good, bad, NULL, NULL, cases[i].tensor, cases[i].index, cases[i].value);
    expect_refused(bad, corpus, cases[i].fragment, FALSE);
  }
}

/* ---- odd corpus files ---------------------------------------------------------------------- */

static void
test_odd_corpus_files(void)
{
  g_autofree char *fifo = tmp_path("fifo");
  g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
  /* nothing writes to the FIFO: a loader that opened it for reading would wait forever */
  const char *paths[] = {fifo, "/dev/zero"};
  const char *kinds[] = {"a pipe", "a device"};
  for (gsize i = 0; i < G_N_ELEMENTS(paths); i++) {
    g_autoptr(GError) error = NULL;
    gint64 t0 = g_get_monotonic_time();
    g_assert_null(spn_corpus_load(paths[i], NULL, &error));
    g_assert_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_IO);
    assert_contains(error->message, paths[i]);
    assert_contains(error->message, kinds[i]);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 5 * G_USEC_PER_SEC);
    g_clear_error(&error);
    g_assert_null(spn_checkpoint_load(paths[i], &error));
    assert_contains(error->message, "not a regular file");
  }
  /* a corpus folder whose train.txt is a FIFO */
  g_autofree char *dir = tmp_path("fifo-dir");
  g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
  g_autofree char *train = g_build_filename(dir, "train.txt", NULL);
  g_assert_cmpint(mkfifo(train, 0600), ==, 0);
  const char *others[] = {"valid.txt", "test.txt"};
  for (int k = 0; k < 2; k++) {
    g_autofree char *p = g_build_filename(dir, others[k], NULL);
    g_assert_true(g_file_set_contents(p, "some text\n", -1, NULL));
  }
  g_autoptr(GError) error = NULL;
  SpnCorpusOptions ref = {FALSE, TRUE};
  g_assert_null(spn_corpus_load(dir, &ref, &error));
  assert_contains(error->message, "a pipe");
}

/* ---- training on a corpus barely larger than a block --------------------------------------- */

/* issue 13: 3,000 characters, the desktop model (16 streams of 128): each stream holds 168
 * tokens, so a restart offset drawn below 128 would read past the split. gather_block asserts the
 * bound, and ASan would see the overflow. */
static void
test_short_streams(void)
{
  g_autofree char *corpus = write_corpus("short.txt", 3000);
  SpnConfig c;
  narrow_desktop(&c);
  c.threads = 2;
  g_autoptr(GError) error = NULL;
  SpnTrainer *t = spn_trainer_new(&c, load(corpus), &error);
  g_assert_no_error(error);
  for (int s = 0; s < 12; s++)
    g_assert_true(spn_trainer_step(t, NULL, &error));
  g_assert_cmpint(spn_trainer_step_count(t), ==, 12);
  /* a resumed run reads from the saved position, within bounds */
  g_autofree char *path = tmp_path("short.safetensors");
  g_assert_true(spn_trainer_save(t, path, &error));
  spn_trainer_free(t);
  t = spn_trainer_load(path, load(corpus), &error);
  g_assert_no_error(error);
  g_assert_true(spn_trainer_step(t, NULL, &error));
  spn_trainer_free(t);
}

/* ---- steps that are not finite are never applied ------------------------------------------- */

static float *
params_copy(SpnTrainer *t)
{
  SpnModel *m = spn_trainer_model(t);
  return g_memdup2(m->params, sizeof(float) * m->layout->total);
}

static void
assert_params_equal(SpnTrainer *t, const float *before)
{
  SpnModel *m = spn_trainer_model(t);
  g_assert_cmpmem(m->params, sizeof(float) * m->layout->total, before,
                  sizeof(float) * m->layout->total);
}

/* Trains until the step fails; the failing step changed no weight. */
static GError *
train_until_diverged(SpnTrainer *t, int max_steps)
{
  GError *error = NULL;
  for (int s = 0; s < max_steps; s++) {
    g_autofree float *before = params_copy(t);
    gint64 step = spn_trainer_step_count(t);
    if (!spn_trainer_step(t, NULL, &error)) {
      assert_params_equal(t, before);
      g_assert_cmpint(spn_trainer_step_count(t), ==, step);
      return error;
    }
  }
  return NULL;
}

static void
test_nan_stop(void)
{
  g_autofree char *corpus = write_corpus("nan.txt", 3000);
  /* the largest learning rate without clipping: with S = 1024 the spans' squared gradients
   * overflow the accumulator within a few steps (with a short S the losses merely explode) */
  SpnConfig c;
  narrow_desktop(&c);
  c.lr = 1000, c.grad_clip = 0, c.lr_warmup = 0;
  g_autoptr(GError) error = NULL;
  SpnTrainer *t = spn_trainer_new(&c, load(corpus), &error);
  g_assert_no_error(error);
  error = train_until_diverged(t, 200);
  g_assert_nonnull(error);
  g_assert_error(error, SPN_TRAINER_ERROR, SPN_TRAINER_ERROR_DIVERGED);
  assert_contains(error->message, "before applying it");
  assert_contains(error->message, "--lr, now 1000");
  assert_contains(error->message, "--grad-clip, now off");
  g_test_message("%s", error->message);
  g_clear_error(&error);
  /* what is kept saves and loads: no silent non-finite checkpoint */
  g_autofree char *path = tmp_path("diverged.safetensors");
  g_assert_true(spn_trainer_save(t, path, &error));
  g_assert_no_error(error);
  spn_trainer_free(t);
  SpnCheckpoint *ck = spn_checkpoint_load(path, &error);
  g_assert_no_error(error);
  spn_checkpoint_free(ck);

  /* weights that overflow the forward pass: the loss itself is not finite */
  small_config(&c);
  t = spn_trainer_new(&c, load(corpus), &error);
  SpnModel *m = spn_trainer_model(t);
  for (gsize i = 0; i < (gsize)m->cfg.vocab_size * m->cfg.hid_sz; i++)
    m->w.in_emb[i] = 3e38f;
  error = train_until_diverged(t, 1);
  g_assert_error(error, SPN_TRAINER_ERROR, SPN_TRAINER_ERROR_DIVERGED);
  assert_contains(error->message, "the training loss is");
  g_clear_error(&error);
  spn_trainer_free(t);
}

/* The settings issue 13 names run or are refused with the option named; none crashes. */
static void
test_extreme_settings(void)
{
  g_autofree char *corpus = write_corpus("extreme.txt", 3000);
  static const struct {
    const char *what;
    double lr, clip;
    int span, block, batch;
    const char *refused; /* NULL: trains (or stops cleanly on divergence) */
  } cases[] = {
    {"--lr 1e6", 1e6, 0.03, 1024, 128, 16, "--lr is 1e+06"},
    {"--grad-clip 0", 0.07, 0, 1024, 128, 16, NULL},
    {"--attn-span 1", 0.07, 0.03, 1, 128, 16, NULL},
    {"--block-sz 1", 0.07, 0.03, 1024, 1, 16, NULL},
    {"--batch-sz 1", 0.07, 0.03, 1024, 128, 1, NULL},
    {"--lr 1000 --grad-clip 0", 1000, 0, 1024, 128, 16, NULL},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_test_message("%s", cases[i].what);
    SpnConfig c;
    narrow_desktop(&c);
    c.lr = cases[i].lr, c.grad_clip = cases[i].clip, c.attn_span = cases[i].span;
    c.block_sz = cases[i].block, c.batch_sz = cases[i].batch, c.lr_warmup = 2;
    c.adapt_span_ramp = MIN(c.adapt_span_ramp, c.attn_span);
    g_autoptr(GError) error = NULL;
    SpnTrainer *t = spn_trainer_new(&c, load(corpus), &error);
    if (cases[i].refused != NULL) {
      g_assert_null(t);
      assert_contains(error->message, cases[i].refused);
      continue;
    }
    g_assert_no_error(error);
    GError *stop = train_until_diverged(t, 6);
    if (stop != NULL) {
      g_assert_error(stop, SPN_TRAINER_ERROR, SPN_TRAINER_ERROR_DIVERGED);
      g_error_free(stop);
    }
    g_autofree char *path = tmp_path("extreme.safetensors");
    g_assert_true(spn_trainer_save(t, path, &error));
    spn_trainer_free(t);
    t = spn_trainer_load(path, load(corpus), &error);
    g_assert_no_error(error);
    spn_trainer_free(t);
  }
}

/* The worker stops training on divergence and says so; the window shows such messages. */
typedef struct {
  GPtrArray *failed; /* SpnWorkerMessage copies of the failures */
  SpnWorkerStatus status;
} Seen;

static void
seen_snapshot(SpnSnapshot *s, const SpnWorkerStatus *st, gpointer data)
{
  (void)s;
  Seen *seen = data;
  seen->status.training = st->training;
  seen->status.step = st->step;
}

static void
seen_message(const SpnWorkerMessage *m, gpointer data)
{
  Seen *seen = data;
  if (m->kind != SPN_WORKER_FAILED)
    return;
  g_ptr_array_add(seen->failed, g_strdup_printf("%d|%s|%s|%d", (int)m->task,
                                                g_quark_to_string(m->error->domain), m->text,
                                                m->error->code));
}

static void
test_worker_stops(void)
{
  g_autofree char *corpus = write_corpus("worker.txt", 3000);
  Seen seen = {g_ptr_array_new_with_free_func(g_free), {0}};
  GMainContext *ctx = g_main_context_new();
  SpnWorker *w = spn_worker_new(ctx, seen_snapshot, seen_message, &seen);
  SpnConfig c;
  narrow_desktop(&c);
  c.lr = 1000, c.grad_clip = 0, c.lr_warmup = 0;
  spn_worker_new_model(w, &c, corpus, NULL);
  spn_worker_train(w);
  gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
  while (seen.failed->len == 0 && g_get_monotonic_time() < deadline)
    g_main_context_iteration(ctx, FALSE) || (g_usleep(1000), TRUE);
  g_assert_cmpuint(seen.failed->len, ==, 1);
  const char *failure = g_ptr_array_index(seen.failed, 0);
  g_autofree char *prefix = g_strdup_printf("%d|%s|Training stopped: training stopped at step ",
                                            SPN_WORKER_TASK_TRAIN,
                                            g_quark_to_string(SPN_TRAINER_ERROR));
  g_assert_true(g_str_has_prefix(failure, prefix));
  g_assert_true(spn_worker_sync(w, 60000));
  while (g_main_context_iteration(ctx, FALSE))
    ;
  g_assert_false(seen.status.training);
  /* the kept weights save */
  g_autofree char *path = tmp_path("worker.safetensors");
  spn_worker_save(w, path);
  g_assert_true(spn_worker_sync(w, 60000));
  while (g_main_context_iteration(ctx, FALSE))
    ;
  g_assert_cmpuint(seen.failed->len, ==, 1);
  g_autoptr(GError) error = NULL;
  SpnCheckpoint *ck = spn_checkpoint_load(path, &error);
  g_assert_no_error(error);
  g_assert_cmpint(ck->optim->step, ==, seen.status.step);
  spn_checkpoint_free(ck);
  spn_worker_free(w);
  g_main_context_unref(ctx);
  g_ptr_array_unref(seen.failed);
}

/* ---- long texts ------------------------------------------------------------------------ */

/* issue 13: a reading too large for memory is refused, saying how long a text may be; a long
 * prompt is generated from. */
static void
test_long_text(void)
{
  const char *letters = "abcdefghijklmnopqrstuvwxyz ";
  GPtrArray *tokens = g_ptr_array_new();
  g_ptr_array_add(tokens, (gpointer) "<unk>");
  for (int i = 0; i < 27; i++)
    g_ptr_array_add(tokens, g_strndup(letters + i, 1));
  SpnConfig c;
  small_config(&c);
  c.adapt_span = FALSE, c.attn_span = 4096, c.vocab_size = (int)tokens->len;
  SpnModel *m = spn_model_new(&c);
  SpnRng rng;
  spn_rng_seed(&rng, 1);
  SpnVocab *v = spn_vocab_new(SPN_VOCAB_CHARS, (int)tokens->len, (const char *const *)tokens->pdata);
  GString *text = g_string_new(NULL);
  while (text->len < 100000)
    g_string_append_c(text, letters[spn_rng_below(&rng, 27)]);
  g_autoptr(GError) error = NULL;
  /* 4 heads × 4,096 distances × 4 bytes per character: 100,000 characters need 6.6 GB */
  SpnProbe *p = spn_probe_run(m, v, text->str, &error);
  g_assert_null(p);
  g_assert_error(error, SPN_PROBE_ERROR, SPN_PROBE_ERROR_TOO_LONG);
  assert_contains(error->message, "reading 100000 characters would keep 6.6 GB");
  assert_contains(error->message, "read at most 30495 characters");
  g_clear_error(&error);
  /* generation reads the prompt block by block: a 100,000-character prompt is fine */
  g_autofree char *out = spn_generate(m, v, text->str, 5, 0.8, 1, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(g_utf8_strlen(out, -1), ==, 5);
  g_string_free(text, TRUE);
  for (guint i = 1; i < tokens->len; i++)
    g_free(tokens->pdata[i]);
  g_ptr_array_unref(tokens);
  spn_vocab_free(v);
  spn_model_free(m);
}

/* ---- saves onto a full file system ------------------------------------------------------- */

static char *
full_disk_dir(void)
{
  char *dir = tmp_path("full");
  g_mkdir(dir, 0700);
  /* 1 MiB: room for the small model's checkpoint (about 60 kB) and a filler */
  if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") != 0) {
    int err = errno;
    g_autofree char *why = g_strdup_printf("cannot mount a small tmpfs on %s to fill it: %s (the "
                                           "full-disk test needs root or CAP_SYS_ADMIN)",
                                           dir, g_strerror(err));
    g_test_skip(why);
    g_rmdir(dir);
    g_free(dir);
    return NULL;
  }
  return dir;
}

/* Fills the file system of dir until `leave` bytes are free (or fewer). */
static char *
fill(const char *dir, gsize leave)
{
  char *filler = g_build_filename(dir, "filler", NULL);
  FILE *f = fopen(filler, "wb");
  g_assert_nonnull(f);
  static char block[4096];
  struct statvfs vfs;
  while (statvfs(dir, &vfs) == 0 && (gsize)vfs.f_bavail * vfs.f_frsize > leave &&
         fwrite(block, 1, sizeof block, f) == sizeof block && fflush(f) == 0)
    ;
  fclose(f);
  return filler;
}

static GBytes *
file_bytes(const char *path)
{
  char *data;
  gsize len;
  g_assert_true(g_file_get_contents(path, &data, &len, NULL));
  return g_bytes_new_take(data, len);
}

static void
assert_only(const char *dir, const char *a, const char *b)
{
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name(d)) != NULL)
    if (strcmp(name, a) != 0 && strcmp(name, b) != 0)
      g_error("%s: unexpected file %s (a temporary file left behind?)", dir, name);
}

/* issue 13: a save onto a full disk fails with a clear error, leaves the old file as it was and
 * no temporary file, training goes on, and a save after space is freed succeeds. */
static void
test_full_disk(void)
{
  g_autofree char *dir = full_disk_dir();
  if (dir == NULL)
    return;
  g_autofree char *corpus = write_corpus("full.txt", 3000);
  g_autofree char *ck = g_build_filename(dir, "run.safetensors", NULL);
  SpnConfig c;
  small_config(&c);
  g_autoptr(GError) error = NULL;
  SpnTrainer *t = spn_trainer_new(&c, load(corpus), &error);
  g_assert_true(spn_trainer_step(t, NULL, &error));
  g_assert_true(spn_trainer_save(t, ck, &error));
  g_autoptr(GBytes) saved = file_bytes(ck);
  g_assert_cmpuint(g_bytes_get_size(saved), >, 16384);
  g_autofree char *filler = fill(dir, 16384);
  for (int attempt = 0; attempt < 2; attempt++) {
    g_assert_true(spn_trainer_step(t, NULL, &error)); /* training goes on */
    g_assert_false(spn_trainer_save(t, ck, &error));
    g_assert_error(error, SPN_ST_ERROR, SPN_ST_ERROR_IO);
    assert_contains(error->message, ck);
    assert_contains(error->message, g_strerror(ENOSPC));
    assert_contains(error->message, "nothing was replaced");
    g_test_message("%s", error->message);
    g_clear_error(&error);
    g_autoptr(GBytes) now = file_bytes(ck);
    g_assert_true(g_bytes_equal(now, saved));
    assert_only(dir, "run.safetensors", "filler");
  }
  /* the worker behind the window reports the failure and keeps training */
  g_autofree char *filler2 = fill(dir, 0);
  Seen seen = {g_ptr_array_new_with_free_func(g_free), {0}};
  GMainContext *ctx = g_main_context_new();
  SpnWorker *w = spn_worker_new(ctx, seen_snapshot, seen_message, &seen);
  spn_worker_new_model(w, &c, corpus, NULL);
  spn_worker_train(w);
  spn_worker_save(w, ck);
  g_assert_true(spn_worker_sync(w, 60000));
  while (g_main_context_iteration(ctx, FALSE))
    ;
  g_assert_cmpuint(seen.failed->len, ==, 1);
  const char *failure = g_ptr_array_index(seen.failed, 0);
  g_autofree char *prefix = g_strdup_printf("%d|%s|Cannot save the checkpoint (the previous file "
                                            "is unchanged): ",
                                            SPN_WORKER_TASK_SAVE, g_quark_to_string(SPN_ST_ERROR));
  g_assert_true(g_str_has_prefix(failure, prefix));
  assert_contains(failure, g_strerror(ENOSPC));
  gint64 step = seen.status.step;
  g_assert_true(seen.status.training);
  while (seen.status.step <= step + 2)
    g_main_context_iteration(ctx, TRUE);
  spn_worker_free(w);
  g_main_context_unref(ctx);
  g_ptr_array_unref(seen.failed);
  g_autoptr(GBytes) still = file_bytes(ck);
  g_assert_true(g_bytes_equal(still, saved));
  /* space again: the next save succeeds */
  g_unlink(filler);
  g_unlink(filler2);
  g_assert_true(spn_trainer_save(t, ck, &error));
  g_assert_no_error(error);
  SpnCheckpoint *back = spn_checkpoint_load(ck, &error);
  g_assert_no_error(error);
  g_assert_cmpint(back->optim->step, ==, spn_trainer_step_count(t));
  spn_checkpoint_free(back);
  spn_trainer_free(t);
  assert_only(dir, "run.safetensors", "run.safetensors");
  g_assert_cmpint(umount2(dir, MNT_DETACH), ==, 0);
}

/* The same fault without root: a file-size limit (RLIMIT_FSIZE, as `ulimit -f`) below the
 * checkpoint's size makes the temporary file's writes fail with EFBIG (SIGXFSZ ignored, as a
 * shell's limit would not be). The save fails naming the file, the old file stays byte for byte,
 * no temporary file is left, and the next save within the limit succeeds. */
static void
test_file_size_limit(void)
{
  g_autofree char *dir = tmp_path("fsize");
  g_mkdir(dir, 0700);
  g_autofree char *corpus = write_corpus("fsize.txt", 3000);
  g_autofree char *ck = g_build_filename(dir, "run.safetensors", NULL);
  SpnConfig c;
  small_config(&c);
  g_autoptr(GError) error = NULL;
  SpnTrainer *t = spn_trainer_new(&c, load(corpus), &error);
  g_assert_true(spn_trainer_step(t, NULL, &error));
  g_assert_true(spn_trainer_save(t, ck, &error));
  g_autoptr(GBytes) saved = file_bytes(ck);
  struct rlimit old;
  g_assert_cmpint(getrlimit(RLIMIT_FSIZE, &old), ==, 0);
  struct rlimit small = {g_bytes_get_size(saved) / 2, old.rlim_max};
  void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &small), ==, 0);
  g_assert_true(spn_trainer_step(t, NULL, &error));
  gboolean ok = spn_trainer_save(t, ck, &error);
  g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &old), ==, 0);
  signal(SIGXFSZ, old_handler);
  g_assert_false(ok);
  g_assert_error(error, SPN_ST_ERROR, SPN_ST_ERROR_IO);
  assert_contains(error->message, ck);
  assert_contains(error->message, g_strerror(EFBIG));
  assert_contains(error->message, "nothing was replaced");
  g_test_message("%s", error->message);
  g_clear_error(&error);
  g_autoptr(GBytes) now = file_bytes(ck);
  g_assert_true(g_bytes_equal(now, saved));
  assert_only(dir, "run.safetensors", "run.safetensors");
  g_assert_true(spn_trainer_step(t, NULL, &error)); /* training goes on */
  g_assert_true(spn_trainer_save(t, ck, &error));
  SpnCheckpoint *back = spn_checkpoint_load(ck, &error);
  g_assert_no_error(error);
  g_assert_cmpint(back->optim->step, ==, spn_trainer_step_count(t));
  spn_checkpoint_free(back);
  spn_trainer_free(t);
  assert_only(dir, "run.safetensors", "run.safetensors");
}

static void
remove_tree(const char *path)
{
  GDir *dir = g_dir_open(path, 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
    g_autofree char *child = g_build_filename(path, name, NULL);
    if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
      remove_tree(child);
    else
      g_unlink(child);
  }
  if (dir != NULL)
    g_dir_close(dir);
  g_rmdir(path);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp("spanscope-untrusted-XXXXXX", NULL);
  g_test_add_func("/untrusted/checkpoint-metadata", test_metadata);
  g_test_add_func("/untrusted/checkpoint-sizes", test_sizes);
  g_test_add_func("/untrusted/checkpoint-tensor-values", test_tensor_values);
  g_test_add_func("/untrusted/odd-corpus-files", test_odd_corpus_files);
  g_test_add_func("/untrusted/short-streams", test_short_streams);
  g_test_add_func("/untrusted/nan-stop", test_nan_stop);
  g_test_add_func("/untrusted/extreme-settings", test_extreme_settings);
  g_test_add_func("/untrusted/worker-stops", test_worker_stops);
  g_test_add_func("/untrusted/long-text", test_long_text);
  g_test_add_func("/untrusted/full-disk", test_full_disk);
  g_test_add_func("/untrusted/file-size-limit", test_file_size_limit);
  int rc = g_test_run();
  remove_tree(tmpdir);
  return rc;
}
