/* fixtures.h — what several tests build: tiny configurations, snapshots and probes made by hand.
 * Header-only (static inline), included by the test programs that need it. */
#pragma once
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "config.h"
#include "safetensors.h"
#include "snapshot.h"

/* How many threads a test program runs the engine on: SPANSCOPE_TEST_THREADS when set
 * (`SPANSCOPE_TEST_THREADS=4 meson test -C build` runs the suite on 4), else the test's own
 * choice. */
static inline int
spn_test_threads(int fallback)
{
  const char *env = g_getenv("SPANSCOPE_TEST_THREADS");
  int n = env != NULL ? atoi(env) : 0;
  return n >= 1 && n <= 1024 ? n : fallback;
}

/* A model small enough to train in milliseconds: 2 layers, width 16, 2 heads, FF 32, S 64,
 * ramp 8, block 16, 3 streams, one thread (or SPANSCOPE_TEST_THREADS), spans starting at
 * 0.3·S. */
static inline void
spn_test_tiny_config(SpnConfig *c)
{
  spn_config_init_desktop(c);
  c->nlayers = 2, c->hid_sz = 16, c->nheads = 2, c->inner_hid_sz = 32, c->attn_span = 64;
  c->adapt_span_ramp = 8, c->block_sz = 16, c->batch_sz = 3, c->lr_warmup = 5, c->seed = 2;
  c->adapt_span_init = 0.3, c->threads = spn_test_threads(1);
}

/* A snapshot of a desktop-like model with nlayers × nheads heads of the given spans (z·S), at
 * step 1234 on corpus "test", with an empty history and no probe. */
static inline SpnSnapshot *
spn_test_snapshot_new(int nlayers, int nheads, int span, int ramp, const float *spans)
{
  SpnConfig cfg;
  spn_config_init_desktop(&cfg);
  cfg.nlayers = nlayers;
  cfg.nheads = nheads;
  cfg.attn_span = span;
  cfg.adapt_span_ramp = ramp;
  cfg.adapt_span = TRUE;
  SpnSnapshot *s = spn_snapshot_new(&cfg);
  memcpy(s->spans, spans, sizeof(float) * nlayers * nheads);
  s->step = 1234;
  s->corpus = g_strdup("test");
  return s;
}

/* A reading of an ASCII text (one token per byte) by every head of nlayers × nheads, each head
 * storing `window` distances, every weight, surprisal and mass 0: fill in what a test looks at. */
static inline SpnProbe *
spn_test_probe_new(const char *text, int nlayers, int nheads, const float *spans, int window)
{
  int n = (int)strlen(text);
  SpnProbe *p = spn_probe_new();
  p->n = n;
  p->nlayers = nlayers;
  p->nheads = nheads;
  p->tokens = g_new0(gint32, MAX(n, 1));
  p->offsets = g_new(gsize, MAX(n, 1));
  p->surprisal = g_new0(float, MAX(n, 1));
  for (int i = 0; i < n; i++) {
    p->tokens[i] = (guint8)text[i];
    p->offsets[i] = i;
  }
  p->spans = g_memdup2(spans, sizeof(float) * nlayers * nheads);
  p->heads = g_new0(SpnProbeHead, nlayers * nheads);
  for (int k = 0; k < nlayers * nheads; k++) {
    p->heads[k].window = window;
    p->heads[k].weights = g_new0(float, (gsize)MAX(n, 1) * window);
    p->heads[k].before_start = g_new0(float, MAX(n, 1));
    p->heads[k].persistent = g_new0(float, MAX(n, 1));
  }
  return p;
}

/* A training run's history of `rows` steps as a long run looks: bpc falling with noise,
 * validation every 100 steps, throughput around 19k tokens/s, every head's span growing like
 * the square root of time towards final_spans (nlayers × nheads of h). Always the same. */
static inline void
spn_test_fill_history(SpnHistory *h, int rows, const float *final_spans)
{
  GRand *rng = g_rand_new_with_seed(3);
  int per_row = h->nlayers * h->nheads;
  float *spans = g_new(float, per_row);
  for (int i = 0; i < rows; i++) {
    double t = (i + 1) / (double)rows;
    for (int k = 0; k < per_row; k++)
      spans[k] = (float)(final_spans[k] * sqrt(t) * (0.95 + 0.1 * g_rand_double(rng)));
    double bpc = 1.3 + 3.2 * exp(-6 * t) + 0.15 * g_rand_double(rng);
    spn_history_append(h, i + 1, bpc, 18000 + 2000 * g_rand_double(rng), spans);
    if ((i + 1) % 100 == 0)
      spn_history_add_valid(h, i + 1, 1.35 + 3.1 * exp(-6 * t));
  }
  g_free(spans);
  g_rand_free(rng);
}

/* Rewrites the checkpoint src into dst: tensor `name` (NULL: none) replaced by (dtype, ndim,
 * shape, data), or left out when data is NULL; metadata `key` (NULL: none) set to value. */
static inline void
spn_test_rewrite_checkpoint(const char *src, const char *dst, const char *name, SpnDtype dtype,
                            int ndim, const gint64 *shape, const void *data, const char *key,
                            const char *value)
{
  g_autoptr(GError) error = NULL;
  SpnSafetensors *st = spn_safetensors_read(src, &error);
  g_assert_no_error(error);
  SpnStWriter *w = spn_st_writer_new();
  for (guint i = 0; i < spn_safetensors_n_tensors(st); i++) {
    const SpnStTensor *t = spn_safetensors_nth(st, i);
    if (g_strcmp0(t->name, name) != 0)
      spn_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
    else if (data != NULL)
      spn_st_writer_add(w, name, dtype, ndim, shape, data);
  }
  const char *keys[] = {"format", "version", "config", "vocab", "optimizer", "step", "trainer"};
  for (gsize k = 0; k < G_N_ELEMENTS(keys); k++)
    if (spn_safetensors_metadata(st, keys[k]))
      spn_st_writer_set_metadata(w, keys[k], spn_safetensors_metadata(st, keys[k]));
  if (key != NULL)
    spn_st_writer_set_metadata(w, key, value);
  g_assert_true(spn_st_writer_write(w, dst, &error));
  spn_st_writer_free(w);
  spn_safetensors_free(st);
}

/* Writes st to dst with metadata `key` set to `value` (NULL: left out) and, when `tensor` is
 * given, element `index` of that tensor set to x. A "history" value makes dst a checkpoint of
 * before the history tensors, whose history is that JSON: the tensors are left out. */
static inline void
spn_test_write_variant(const SpnSafetensors *st, const char *dst, const char *key,
                       const char *value, const char *tensor, gsize index, float x)
{
  g_autoptr(GError) error = NULL;
  SpnStWriter *w = spn_st_writer_new();
  GPtrArray *copies = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; i < spn_safetensors_n_tensors(st); i++) {
    const SpnStTensor *t = spn_safetensors_nth(st, i);
    if (g_strcmp0(key, "history") == 0 && g_str_has_prefix(t->name, "history."))
      continue;
    const void *data = t->data;
    if (tensor != NULL && strcmp(t->name, tensor) == 0) {
      g_assert_cmpuint(index, <, t->n_elements);
      float *copy = g_memdup2(t->data, t->n_elements * sizeof(float));
      copy[index] = x;
      g_ptr_array_add(copies, copy);
      data = copy;
    }
    spn_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, data);
  }
  static const char *const keys[] = {"format",    "version", "config",  "vocab",
                                     "optimizer", "step",    "trainer", "history"};
  for (gsize k = 0; k < G_N_ELEMENTS(keys); k++) {
    gboolean ours = key != NULL && strcmp(keys[k], key) == 0;
    const char *v = ours ? value : spn_safetensors_metadata(st, keys[k]);
    if (v != NULL)
      spn_st_writer_set_metadata(w, keys[k], v);
  }
  g_assert_true(spn_st_writer_write(w, dst, &error));
  spn_st_writer_free(w);
  g_ptr_array_unref(copies);
}

/* A fresh temporary folder (returned) for the XDG state, data, config and cache folders, and
 * GSettings in memory: a test of the application never touches the user's session files. */
static inline char *
spn_test_isolate_environment(const char *tmpl)
{
  char *tmpdir = g_dir_make_tmp(tmpl, NULL);
  g_assert_nonnull(tmpdir);
  const char *dirs[][2] = {{"XDG_STATE_HOME", "state"}, {"XDG_DATA_HOME", "data"},
                           {"XDG_CONFIG_HOME", "config"}, {"XDG_CACHE_HOME", "cache"}};
  for (guint i = 0; i < G_N_ELEMENTS(dirs); i++) {
    g_autofree char *d = g_build_filename(tmpdir, dirs[i][1], NULL);
    g_mkdir_with_parents(d, 0700);
    g_setenv(dirs[i][0], d, TRUE);
  }
  g_setenv("GSETTINGS_BACKEND", "memory", TRUE);
  /* without a session bus the accessibility bridge can only complain */
  if (g_getenv("DBUS_SESSION_BUS_ADDRESS") == NULL)
    g_setenv("GTK_A11Y", "none", TRUE);
  return tmpdir;
}

/* Removes a test's temporary folder and the files in it. */
static inline void
spn_test_remove_dir(const char *dir)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  for (const char *name; d && (name = g_dir_read_name(d));) {
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_unlink(path);
  }
  if (d)
    g_dir_close(d);
  g_rmdir(dir);
}
