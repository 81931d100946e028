/* The incremental reader against the probe: the same reading of the same text and weights,
 * whatever the history of edits that led to the text, and only the changed positions computed. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "parallel.h"
#include "probe.h"
#include "reader.h"
#include "fixtures.h"

/* The reader and the probe compute the same float32 expressions, but their products are
 * blocked differently (one query against a band versus tiles of a 256-token block), so sums
 * are rounded in another order: a few ulps per operation, about 1e-6 after four layers on
 * values of order 1 (weights ≤ 1, surprisal of a few bits). 1e-5 leaves a margin of ten while
 * any real mistake (a wrong distance, mask or position) moves values by 1e-3 and more. */
#define TOL 1e-5

#define TEXT_CHARS 700

static SpnCorpus *corpus;
static char *text;        /* TEXT_CHARS ASCII characters of the bundled corpus */

/* CASE_DESKTOP and CASE_PERSISTENT in reference mode (the default), CASE_HEAD the desktop one in
 * head mode, CASE_STARVED the desktop one whose layer 1 gives its spans almost no mass (see
 * model_for) */
typedef enum { CASE_DESKTOP, CASE_PERSISTENT, CASE_NO_ADAPT, CASE_HEAD, CASE_STARVED } Case;

/* Spans that differ per head: short, medium, one exactly on an integer z·S (where the window
 * keeps the distance at which the ramp starts) and the full span. */
static void
set_spans(SpnModel *m, const float *spans)
{
  const SpnConfig *c = &m->cfg;
  for (int l = 0; l < c->nlayers; l++)
    for (int h = 0; h < c->nheads; h++)
      m->w.layers[l].z[h] = spans[(l * c->nheads + h) % 5] / c->attn_span;
}

static SpnModel *
model_for(Case kind, guint64 seed)
{
  SpnConfig c;
  spn_config_init_desktop(&c);
  c.vocab_size = corpus->vocab->size;
  c.seed = seed;
  if (kind == CASE_PERSISTENT) {
    c.nlayers = 2, c.hid_sz = 32, c.nheads = 4, c.attn_span = 128, c.adapt_span_ramp = 16;
    c.pers_mem_size = 8;
  } else if (kind == CASE_NO_ADAPT) {
    c.nlayers = 2, c.hid_sz = 32, c.nheads = 2, c.inner_hid_sz = 64, c.attn_span = 64;
    c.adapt_span = FALSE;
  } else if (kind == CASE_HEAD) {
    c.attn_window = SPN_ATTN_WINDOW_HEAD;
  }
  g_assert_true(spn_config_validate(&c, NULL));
  SpnModel *m = spn_model_new(&c);
  if (kind == CASE_DESKTOP || kind == CASE_HEAD || kind == CASE_STARVED) {
    const float spans[] = {3.0f, 40.0f, 256.0f, 1024.0f, 137.5f};
    set_spans(m, spans);
  }
  if (kind == CASE_STARVED) {
    /* layer 1's spans 137.5, 3, 40 and 256 reach 289 at most, its trimmed window is 320: the
     * position table's columns of distances 290..320 scaled up draw its queries' mass beyond
     * every span, so the epsilon of the renormalisation decides the weights */
    int S = c.attn_span, D = spn_config_head_dim(&c);
    g_assert_cmpint(spn_model_trim(m, 1), ==, S - 320);
    for (int j = 0; j < D; j++)
      for (int delta = 290; delta <= 320; delta++)
        m->w.key_pe[j * S + S - delta] *= 12.0f;
  } else if (kind == CASE_PERSISTENT) {
    const float spans[] = {0.0f, 10.0f, 64.0f, 128.0f, 33.3f};
    set_spans(m, spans);
  }
  return m;
}

/* A reader of m's weights, handed over as the worker does: one reference-counted copy, which
 * the reader keeps (the test's reference goes at once). */
static SpnReader *
reader_for(SpnModel *m)
{
  g_autoptr(SpnParamBlob) weights = spn_param_blob_new(&m->cfg, m->layout, m->params);
  return spn_reader_new(weights, corpus->vocab);
}

static void
set_weights(SpnReader *r, SpnModel *m)
{
  g_autoptr(SpnParamBlob) weights = spn_param_blob_new(&m->cfg, m->layout, m->params);
  spn_reader_set_weights(r, weights);
}

static void
assert_close(float got, float want, const char *what, int l, int h, int i)
{
  if (isnan(want) && isnan(got))
    return;
  if (!(fabsf(got - want) <= TOL))
    g_error("%s differs at layer %d head %d position %d: reader %.8g, probe %.8g", what, l, h, i,
            got, want);
}

static void
assert_probe_equal(const SpnProbe *got, const SpnProbe *want)
{
  g_assert_cmpint(got->n, ==, want->n);
  g_assert_cmpint(got->nlayers, ==, want->nlayers);
  g_assert_cmpint(got->nheads, ==, want->nheads);
  g_assert_cmpmem(got->tokens, sizeof(gint32) * got->n, want->tokens, sizeof(gint32) * want->n);
  g_assert_cmpmem(got->offsets, sizeof(gsize) * got->n, want->offsets, sizeof(gsize) * want->n);
  g_assert_cmpmem(got->spans, sizeof(float) * got->nlayers * got->nheads, want->spans,
                  sizeof(float) * want->nlayers * want->nheads);
  g_assert_true(isnan(got->surprisal[0]));
  for (int i = 0; i < got->n; i++)
    assert_close(got->surprisal[i], want->surprisal[i], "surprisal", -1, -1, i);
  for (int l = 0; l < got->nlayers; l++)
    for (int h = 0; h < got->nheads; h++) {
      const SpnProbeHead *a = &got->heads[l * got->nheads + h], *b = &want->heads[l * want->nheads + h];
      g_assert_cmpint(a->window, ==, b->window);
      for (int i = 0; i < got->n; i++) {
        for (int delta = 1; delta <= a->window; delta++)
          assert_close(a->weights[(gsize)i * a->window + delta - 1],
                       b->weights[(gsize)i * b->window + delta - 1], "weight", l, h, i);
        assert_close(a->before_start[i], b->before_start[i], "before_start", l, h, i);
        assert_close(a->persistent[i], b->persistent[i], "persistent", l, h, i);
        /* each slot's weight, and the slots make up the persistent mass */
        g_assert_cmpint(a->n_slots, ==, b->n_slots);
        g_assert_true((a->slots != NULL) == (a->n_slots > 0));
        double sum = 0.0;
        for (int j = 0; j < a->n_slots; j++) {
          assert_close(a->slots[(gsize)i * a->n_slots + j], b->slots[(gsize)i * b->n_slots + j],
                       "slot", l, h, i);
          sum += b->slots[(gsize)i * b->n_slots + j];
        }
        if (b->n_slots > 0)
          assert_close((float)sum, b->persistent[i], "slots' sum", l, h, i);
      }
    }
}

/* reads `len` bytes of s and checks the result against the probe and the work done */
static void
read_and_check(SpnReader *r, SpnModel *m, const char *s, gsize len, int computed)
{
  g_autofree char *t = g_strndup(s, len);
  g_autoptr(GError) error = NULL;
  g_assert_true(spn_reader_read(r, t, &error));
  g_assert_no_error(error);
  g_assert_cmpint(spn_reader_last_computed(r), ==, computed);
  SpnProbe *want = spn_probe_run(m, corpus->vocab, t, &error);
  g_assert_no_error(error);
  assert_probe_equal(spn_reader_probe(r), want);
  spn_probe_unref(want);
}

static void
test_edits(gconstpointer data)
{
  Case kind = GPOINTER_TO_INT(data);
  SpnModel *m = model_for(kind, 5);
  SpnReader *r = reader_for(m);
  int n = TEXT_CHARS - 1;
  read_and_check(r, m, text, n, n);
  /* a keystroke at the end */
  read_and_check(r, m, text, n + 1, 1);
  /* the same text again: nothing to do */
  read_and_check(r, m, text, n + 1, 0);
  /* a changed character in the middle: everything from it on */
  int pos = 350;
  g_autofree char *edited = g_strndup(text, n + 1);
  edited[pos] = edited[pos] == 'a' ? 'b' : 'a';
  read_and_check(r, m, edited, n + 1, n + 1 - pos);
  /* the tail deleted: the prefix is kept as it is */
  read_and_check(r, m, edited, 200, 0);
  /* new weights (other spans, so other windows): everything again */
  SpnModel *m2 = model_for(kind, 9);
  if (m2->cfg.adapt_span) {
    const float spans[] = {700.0f, 1.0f, 20.0f, 60.0f, 5.0f};
    set_spans(m2, spans);
  }
  set_weights(r, m2);
  read_and_check(r, m2, edited, 200, 200);
  /* a text with no common start */
  read_and_check(r, m2, text + 1, 300, 300);
  spn_reader_free(r);
  spn_model_free(m2);
  spn_model_free(m);
}

/* typing the whole text one character at a time grows every array many times over */
static void
test_typing(gconstpointer data)
{
  Case kind = GPOINTER_TO_INT(data);
  SpnModel *m = model_for(kind, 7);
  SpnReader *r = reader_for(m);
  for (int len = 1; len < TEXT_CHARS; len++) {
    g_autofree char *t = g_strndup(text, len);
    g_assert_true(spn_reader_read(r, t, NULL));
    g_assert_cmpint(spn_reader_last_computed(r), ==, 1);
  }
  read_and_check(r, m, text, TEXT_CHARS, 1);
  spn_reader_free(r);
  spn_model_free(m);
}

static void
test_empty_and_invalid(void)
{
  SpnModel *m = model_for(CASE_PERSISTENT, 5);
  SpnReader *r = reader_for(m);
  g_autoptr(GError) error = NULL;
  g_assert_true(spn_reader_read(r, "", &error));
  g_assert_no_error(error);
  g_assert_cmpint(spn_reader_probe(r)->n, ==, 0);
  g_assert_cmpint(spn_reader_last_computed(r), ==, 0);
  read_and_check(r, m, text, 100, 100);
  /* "ab" then a lone continuation byte */
  g_assert_false(spn_reader_read(r, "ab\x80z", &error));
  g_assert_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT);
  g_assert_nonnull(strstr(error->message, "byte 2"));
  g_clear_error(&error);
  /* a failed read leaves the last reading in place, and the next read builds on it */
  g_assert_cmpint(spn_reader_probe(r)->n, ==, 100);
  read_and_check(r, m, text, 101, 1);
  g_assert_true(spn_reader_read(r, "", NULL));
  g_assert_cmpint(spn_reader_probe(r)->n, ==, 0);
  read_and_check(r, m, text, 50, 50);
  spn_reader_free(r);
  spn_model_free(m);
}

/* A long text read, then a short one: the arrays give their memory back, and the short text
 * still reads exactly as the probe does (its positions reused from the long one). */
static void
test_memory_follows_text(void)
{
  SpnModel *m = model_for(CASE_DESKTOP, 5);
  SpnReader *r = reader_for(m);
  g_autofree char *lng = g_strjoin("", text, text, text, text, text, NULL);
  int n = 5 * TEXT_CHARS;
  read_and_check(r, m, lng, n, n);
  g_assert_cmpint(spn_reader_capacity(r), >=, n);
  read_and_check(r, m, lng, 100, 0);
  g_assert_cmpint(spn_reader_capacity(r), <, n / 3);
  g_assert_cmpint(spn_reader_capacity(r), >=, 100);
  read_and_check(r, m, lng, 300, 200);
  spn_reader_free(r);
  spn_model_free(m);
}

static void
test_probe_snapshot(void)
{
  SpnModel *m = model_for(CASE_PERSISTENT, 5);
  g_autofree char *t = g_strndup(text, 120);
  SpnProbe *p = spn_probe_run(m, corpus->vocab, t, NULL);
  /* a reading still being written is copied; a snapshot of a snapshot is the same reading */
  SpnProbe *c = spn_probe_snapshot(p);
  SpnProbe *again = spn_probe_snapshot(c);
  g_assert_true(again == c);
  spn_probe_unref(again);
  g_assert_cmpint(c->n, ==, p->n);
  g_assert_cmpint(c->nlayers, ==, p->nlayers);
  g_assert_cmpint(c->nheads, ==, p->nheads);
  gsize n = (gsize)p->n, nh = (gsize)p->nlayers * p->nheads;
  g_assert_true(c->tokens != p->tokens && c->offsets != p->offsets &&
                c->surprisal != p->surprisal && c->spans != p->spans && c->heads != p->heads);
  g_assert_cmpmem(c->tokens, n * sizeof(gint32), p->tokens, n * sizeof(gint32));
  g_assert_cmpmem(c->offsets, n * sizeof(gsize), p->offsets, n * sizeof(gsize));
  /* surprisal[0] is NaN: compare bytes, not values */
  g_assert_cmpmem(c->surprisal, n * sizeof(float), p->surprisal, n * sizeof(float));
  g_assert_cmpmem(c->spans, nh * sizeof(float), p->spans, nh * sizeof(float));
  for (gsize k = 0; k < nh; k++) {
    const SpnProbeHead *a = &c->heads[k], *b = &p->heads[k];
    g_assert_cmpint(a->window, ==, b->window);
    g_assert_true(a->weights != b->weights && a->before_start != b->before_start &&
                  a->persistent != b->persistent);
    g_assert_cmpmem(a->weights, n * a->window * sizeof(float), b->weights,
                    n * b->window * sizeof(float));
    g_assert_cmpmem(a->before_start, n * sizeof(float), b->before_start, n * sizeof(float));
    g_assert_cmpmem(a->persistent, n * sizeof(float), b->persistent, n * sizeof(float));
    g_assert_cmpint(a->n_slots, ==, b->n_slots);
    if (b->slots != NULL) {
      g_assert_true(a->slots != b->slots);
      g_assert_cmpmem(a->slots, n * a->n_slots * sizeof(float), b->slots,
                      n * b->n_slots * sizeof(float));
    }
  }
  /* the snapshot outlives the original */
  spn_probe_unref(p);
  g_assert_cmpint(c->tokens[0], ==, spn_vocab_lookup(corpus->vocab, (char[]){text[0], 0}));
  spn_probe_unref(c);
  spn_model_free(m);
}

/* ---- newlines in the reference's folders ---- */

/* A reference-format folder whose three files are `lines` (each line ends in <eos>). */
static SpnCorpus *
ref_folder(const char *lines)
{
  g_autofree char *dir = g_dir_make_tmp("spanscope-ref-XXXXXX", NULL);
  const char *names[] = {"train.txt", "valid.txt", "test.txt"};
  for (int i = 0; i < 3; i++) {
    g_autofree char *path = g_build_filename(dir, names[i], NULL);
    g_assert_true(g_file_set_contents(path, lines, -1, NULL));
  }
  SpnCorpusOptions opts = {.ref_format = TRUE};
  g_autoptr(GError) error = NULL;
  SpnCorpus *c = spn_corpus_load(dir, &opts, &error);
  g_assert_no_error(error);
  for (int i = 0; i < 3; i++) {
    g_autofree char *path = g_build_filename(dir, names[i], NULL);
    g_remove(path);
  }
  g_rmdir(dir);
  return c;
}

/* A typed newline in the inspector (the reader) and in `probe`: <eos> in an enwik8-style
 * folder, where every line break of the original text is a line end; the token "10" in a
 * folder whose lines hold the newline byte as a token (a whole file on one line), where <eos>
 * only ends the file's lines. */
static void
test_ref_newline(void)
{
  const char *folders[] = {"72 105\n72 111 33\n", "72 105 10 72 111 33 10 72 105\n"};
  const char *newline[] = {SPN_VOCAB_EOS, "10"};
  for (int k = 0; k < 2; k++) {
    SpnCorpus *c = ref_folder(folders[k]);
    SpnConfig cfg;
    spn_config_init_desktop(&cfg);
    cfg.nlayers = 2, cfg.hid_sz = 16, cfg.nheads = 2, cfg.inner_hid_sz = 16, cfg.attn_span = 32;
    cfg.adapt_span_ramp = 4, cfg.vocab_size = c->vocab->size;
    SpnModel *m = spn_model_new(&cfg);
    const char *typed = "Hi\nHo!\nHi";
    g_autoptr(GError) error = NULL;
    SpnProbe *p = spn_probe_run(m, c->vocab, typed, &error);
    g_assert_no_error(error);
    g_autoptr(SpnParamBlob) weights = spn_param_blob_new(&m->cfg, m->layout, m->params);
    SpnReader *r = spn_reader_new(weights, c->vocab);
    g_assert_true(spn_reader_read(r, typed, &error));
    g_assert_no_error(error);
    assert_probe_equal(spn_reader_probe(r), p);
    int nl = spn_vocab_lookup(c->vocab, newline[k]);
    g_assert_cmpint(nl, >=, 0);
    const gint32 want[] = {spn_vocab_lookup(c->vocab, "72"), spn_vocab_lookup(c->vocab, "105"),
                           nl, spn_vocab_lookup(c->vocab, "72"),
                           spn_vocab_lookup(c->vocab, "111"), spn_vocab_lookup(c->vocab, "33"),
                           nl, spn_vocab_lookup(c->vocab, "72"),
                           spn_vocab_lookup(c->vocab, "105")};
    g_assert_cmpmem(p->tokens, sizeof(gint32) * p->n, want, sizeof want);
    /* the folder with newline tokens also has <eos>, which a typed newline must not become */
    if (k == 1)
      g_assert_cmpint(spn_vocab_lookup(c->vocab, SPN_VOCAB_EOS), !=, nl);
    spn_reader_free(r);
    spn_probe_unref(p);
    spn_model_free(m);
    spn_corpus_free(c);
  }
}

/* TEXT_CHARS characters of the corpus, ASCII so that characters are bytes and tokens */
static char *
corpus_text(void)
{
  g_autofree char *s = spn_corpus_decode(corpus, SPN_SPLIT_TRAIN, 5000, 4 * TEXT_CHARS);
  GString *out = g_string_new(NULL);
  for (const char *p = s; *p && out->len < TEXT_CHARS; p++)
    if ((guchar)*p < 0x80)
      g_string_append_c(out, *p);
  g_assert_cmpuint(out->len, ==, TEXT_CHARS);
  return g_string_free(out, FALSE);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  spn_threads_init(spn_test_threads(2));
  SpnCorpusOptions opts = {0};
  g_autoptr(GError) error = NULL;
  corpus = spn_corpus_load("bundled", &opts, &error);
  g_assert_no_error(error);
  text = corpus_text();
  g_test_add_data_func("/reader/edits/desktop", GINT_TO_POINTER(CASE_DESKTOP), test_edits);
  g_test_add_data_func("/reader/edits/persistent", GINT_TO_POINTER(CASE_PERSISTENT), test_edits);
  g_test_add_data_func("/reader/edits/no-adapt", GINT_TO_POINTER(CASE_NO_ADAPT), test_edits);
  g_test_add_data_func("/reader/edits/head-window", GINT_TO_POINTER(CASE_HEAD), test_edits);
  g_test_add_data_func("/reader/edits/starved", GINT_TO_POINTER(CASE_STARVED), test_edits);
  g_test_add_data_func("/reader/typing/desktop", GINT_TO_POINTER(CASE_DESKTOP), test_typing);
  g_test_add_data_func("/reader/typing/persistent", GINT_TO_POINTER(CASE_PERSISTENT), test_typing);
  g_test_add_data_func("/reader/typing/no-adapt", GINT_TO_POINTER(CASE_NO_ADAPT), test_typing);
  g_test_add_func("/reader/empty-and-invalid", test_empty_and_invalid);
  g_test_add_func("/reader/probe-snapshot", test_probe_snapshot);
  g_test_add_func("/reader/memory-follows-text", test_memory_follows_text);
  g_test_add_func("/reader/reference-folder-newlines", test_ref_newline);
  int status = g_test_run();
  g_free(text);
  spn_corpus_free(corpus);
  return status;
}
