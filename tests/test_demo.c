/* test_demo.c — the generated span-demo corpus plants what it promises, and its preset is usable. */
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "config.h"
#include "corpus.h"
#include "demo.h"

#define TEST_CHARS 200000

static char *demo_text(guint64 seed, int distance, GArray **copies)
{
  char *text = spn_demo_text(seed, TEST_CHARS, distance, copies);
  g_assert_nonnull(text);
  return text;
}

static void test_reproducible(void)
{
  GArray *copies_a, *copies_b;
  char *a = demo_text(SPN_DEMO_SEED, SPN_DEMO_DISTANCE, &copies_a);
  char *b = demo_text(SPN_DEMO_SEED, SPN_DEMO_DISTANCE, &copies_b);
  g_assert_cmpint(memcmp(a, b, TEST_CHARS), ==, 0);
  g_assert_cmpuint(copies_a->len, ==, copies_b->len);
  g_assert_cmpint(memcmp(copies_a->data, copies_b->data, copies_a->len * sizeof(SpnDemoCopy)),
                  ==, 0);

  char *other = demo_text(SPN_DEMO_SEED + 1, SPN_DEMO_DISTANCE, NULL);
  g_assert_cmpint(memcmp(a, other, TEST_CHARS), !=, 0);
  g_free(other);
  g_array_unref(copies_a);
  g_array_unref(copies_b);
  g_free(a);
  g_free(b);
}

/* Printable ASCII plus line breaks: valid UTF-8 with one byte per character. */
static void test_text_is_plain(void)
{
  char *text = demo_text(SPN_DEMO_SEED, SPN_DEMO_DISTANCE, NULL);
  g_assert_cmpuint(strlen(text), ==, TEST_CHARS);
  g_assert_true(g_utf8_validate(text, TEST_CHARS, NULL));
  for (gsize i = 0; i < TEST_CHARS; i++)
    g_assert_true(text[i] == '\n' || (text[i] >= ' ' && text[i] <= '~'));
  g_free(text);
}

/* Every listed copy repeats its source exactly `distance` characters back, copies do not overlap,
 * about half the text is copied, and outside the copies a character rarely equals the one
 * `distance` back: the planted distance is what predicts the copies, not a period of the text. */
static void check_copies(int distance)
{
  GArray *copies;
  char *text = demo_text(SPN_DEMO_SEED, distance, &copies);
  gboolean *copied = g_new0(gboolean, TEST_CHARS);
  gsize covered = 0, prev_end = 0;
  for (guint i = 0; i < copies->len; i++) {
    const SpnDemoCopy *c = &g_array_index(copies, SpnDemoCopy, i);
    g_assert_cmpuint(c->start, >=, prev_end);
    g_assert_cmpuint(c->start, >=, (gsize)distance);
    g_assert_cmpuint(c->start + c->length, <=, TEST_CHARS);
    if (c->start + c->length < TEST_CHARS) {
      g_assert_cmpuint(c->length, >=, SPN_DEMO_MIN_PASSAGE);
      g_assert_cmpuint(c->length, <=, SPN_DEMO_MAX_PASSAGE);
    }
    g_assert_cmpint(memcmp(text + c->start, text + c->start - distance, c->length), ==, 0);
    for (gsize k = c->start; k < c->start + c->length; k++)
      copied[k] = TRUE;
    covered += c->length;
    prev_end = c->start + c->length;
  }
  double share = (double)covered / TEST_CHARS;
  g_test_message("distance %d: %u copies cover %.1f %% of the text", distance, copies->len,
                 100.0 * share);
  g_assert_cmpfloat(share, >, 0.35);
  g_assert_cmpfloat(share, <, 0.6);

  gsize free_chars = 0, echoes = 0;
  for (gsize k = (gsize)distance; k < TEST_CHARS; k++) {
    if (copied[k])
      continue;
    free_chars++;
    echoes += text[k] == text[k - distance];
  }
  g_assert_cmpfloat((double)echoes / free_chars, <, 0.2);
  g_free(copied);
  g_array_unref(copies);
  g_free(text);
}

static void test_copies_at_distance(void)
{
  check_copies(SPN_DEMO_DISTANCE);
  check_copies(SPN_DEMO_MAX_PASSAGE + 2);
  check_copies(700);
}

/* The long-span corpus: every copy repeats its source at one of the three planted distances,
 * each distance gets between a fifth and a half of the copies, copies do not overlap, and the
 * corpus loads whole with splits its preset can read. */
static void test_long_corpus(void)
{
  const SpnDemoCorpus *long_demo = spn_demo_corpus(SPN_LONG_DEMO_SOURCE);
  g_assert_nonnull(long_demo);
  g_assert_cmpint(long_demo->n_distances, ==, 3);
  const int *d = long_demo->distances;
  g_assert_cmpint(d[0], ==, SPN_LONG_DEMO_NEAR);
  g_assert_cmpint(d[2], ==, SPN_LONG_DEMO_FAR);
  GArray *copies;
  char *text = spn_demo_text_multi(long_demo->seed, TEST_CHARS, d, 3, &copies);
  gsize prev_end = 0, covered = 0;
  guint per[3] = {0};
  for (guint i = 0; i < copies->len; i++) {
    const SpnDemoCopy *c = &g_array_index(copies, SpnDemoCopy, i);
    int k = c->distance == d[0] ? 0 : c->distance == d[1] ? 1 : c->distance == d[2] ? 2 : -1;
    g_assert_cmpint(k, >=, 0);
    per[k]++;
    g_assert_cmpuint(c->start, >=, prev_end);
    g_assert_cmpint(memcmp(text + c->start, text + c->start - c->distance, c->length), ==, 0);
    prev_end = c->start + c->length;
    covered += c->length;
  }
  for (int k = 0; k < 3; k++) {
    g_test_message("distance %d: %u of %u copies", d[k], per[k], copies->len);
    g_assert_cmpfloat((double)per[k] / copies->len, >, 0.2);
    g_assert_cmpfloat((double)per[k] / copies->len, <, 0.5);
  }
  g_assert_cmpfloat((double)covered / TEST_CHARS, >, 0.25);
  g_array_unref(copies);
  g_free(text);

  GError *error = NULL;
  SpnCorpus *corpus = spn_corpus_load(SPN_LONG_DEMO_SOURCE, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(corpus->n_tokens[0] + corpus->n_tokens[1] + corpus->n_tokens[2], ==,
                   SPN_LONG_DEMO_CHARS);
  SpnConfig cfg;
  spn_config_init_long_span(&cfg);
  for (int s = 0; s < 3; s++) {
    spn_corpus_check_split(corpus, (SpnSplit)s, cfg.batch_sz, cfg.block_sz, &error);
    g_assert_no_error(error);
  }
  spn_corpus_free(corpus);
}

static void test_corpus(void)
{
  GError *error = NULL;
  SpnCorpus *corpus = spn_corpus_load(SPN_DEMO_SOURCE, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(corpus->source, ==, SPN_DEMO_SOURCE);
  g_assert_cmpint(corpus->vocab->kind, ==, SPN_VOCAB_CHARS);
  gsize total = 0;
  for (int s = 0; s < 3; s++) {
    g_assert_cmpuint(corpus->n_tokens[s], >, 0);
    total += corpus->n_tokens[s];
  }
  g_assert_cmpuint(total, ==, SPN_DEMO_CHARS);
  g_assert_cmpuint(corpus->n_tokens[SPN_SPLIT_TRAIN], ==, SPN_DEMO_CHARS / 100 * 90);

  /* The splits hold the generated text itself. */
  char *text = spn_demo_text(SPN_DEMO_SEED, SPN_DEMO_CHARS, SPN_DEMO_DISTANCE, NULL);
  gsize n_valid = corpus->n_tokens[SPN_SPLIT_VALID];
  char *valid = spn_corpus_decode(corpus, SPN_SPLIT_VALID, 0, n_valid);
  g_assert_cmpint(memcmp(valid, text + corpus->n_tokens[SPN_SPLIT_TRAIN], n_valid), ==, 0);
  g_free(valid);
  g_free(text);

  SpnConfig cfg;
  spn_config_init_span_demo(&cfg);
  for (int s = 0; s < 3; s++) {
    spn_corpus_check_split(corpus, (SpnSplit)s, cfg.batch_sz, cfg.block_sz, &error);
    g_assert_no_error(error);
  }
  spn_corpus_free(corpus);
}

static void test_corpus_errors(void)
{
  GError *error = NULL;
  SpnCorpusOptions ref = {.ref_format = TRUE};
  /* a distance shorter than a passage is a programming error, refused */
  g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*distance*");
  g_assert_null(spn_demo_text(SPN_DEMO_SEED, 10000, SPN_DEMO_MAX_PASSAGE, NULL));
  g_test_assert_expected_messages();

  /* the default passage of the demonstration corpus: in its validation split, a planted copy
   * inside it; any other corpus reads the bundled corpus's passage */
  const char *passage = spn_corpus_default_passage(SPN_DEMO_SOURCE);
  g_assert_cmpuint(strlen(passage), >, SPN_DEMO_DISTANCE + SPN_DEMO_MIN_PASSAGE);
  g_assert_cmpmem(passage, SPN_DEMO_MIN_PASSAGE, passage + SPN_DEMO_DISTANCE, SPN_DEMO_MIN_PASSAGE);
  g_assert_true(spn_corpus_default_passage(SPN_DEMO_SOURCE) == passage);
  g_assert_nonnull(strstr(spn_corpus_default_passage(SPN_BUNDLED_SOURCE), "Charity"));
  g_assert_true(spn_corpus_default_passage(NULL) ==
                spn_corpus_default_passage(SPN_BUNDLED_SOURCE));

  g_assert_null(spn_corpus_load(SPN_DEMO_SOURCE, &ref, &error));
  g_assert_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT);
  g_clear_error(&error);

  g_assert_null(spn_corpus_from_text("pasted", "", 0, NULL, &error));
  g_assert_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_TOO_SMALL);
  g_clear_error(&error);

  g_assert_null(spn_corpus_from_text("pasted", "abc\xff" "def", 7, NULL, &error));
  g_assert_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT);
  g_assert_nonnull(strstr(error->message, "pasted: invalid UTF-8 at byte 3"));
  g_clear_error(&error);
}

/* "demo" names the generated corpus; a file of that name is still reachable as "./demo". */
static void test_file_named_demo(void)
{
  GError *error = NULL;
  char *dir = g_dir_make_tmp("spanscope-demo-XXXXXX", &error);
  g_assert_no_error(error);
  char *old_cwd = g_get_current_dir();
  g_assert_cmpint(g_chdir(dir), ==, 0);
  const char *content = "a file that happens to be called demo, long enough to split\n";
  g_file_set_contents("demo", content, -1, &error);
  g_assert_no_error(error);

  SpnCorpus *file = spn_corpus_load("./demo", NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(file->source, ==, "./demo");
  g_assert_cmpuint(file->n_tokens[0] + file->n_tokens[1] + file->n_tokens[2], ==,
                   strlen(content));
  spn_corpus_free(file);

  g_assert_cmpint(g_remove("demo"), ==, 0);
  g_assert_cmpint(g_chdir(old_cwd), ==, 0);
  g_assert_cmpint(g_rmdir(dir), ==, 0);
  g_free(old_cwd);
  g_free(dir);
}

/* The preset validates, and its spans start wide enough to reach the planted distance. */
static void test_preset(void)
{
  SpnConfig cfg;
  spn_config_init_span_demo(&cfg);
  cfg.vocab_size = 40;
  GError *error = NULL;
  g_assert_true(spn_config_validate(&cfg, &error));
  g_assert_no_error(error);
  g_assert_true(cfg.adapt_span);
  g_assert_cmpfloat(cfg.adapt_span_init * cfg.attn_span, >, SPN_DEMO_DISTANCE);
  g_assert_cmpint(cfg.attn_span, >, SPN_DEMO_DISTANCE);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/demo/reproducible", test_reproducible);
  g_test_add_func("/demo/text-is-plain", test_text_is_plain);
  g_test_add_func("/demo/copies-at-distance", test_copies_at_distance);
  g_test_add_func("/demo/corpus", test_corpus);
  g_test_add_func("/demo/long-corpus", test_long_corpus);
  g_test_add_func("/demo/corpus-errors", test_corpus_errors);
  g_test_add_func("/demo/file-named-demo", test_file_named_demo);
  g_test_add_func("/demo/preset", test_preset);
  return g_test_run();
}
