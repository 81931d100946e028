/* test_corpus.c — corpus loading, splits, vocabularies and their errors. */
#include <errno.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "corpus.h"
#include "spanscope-config.h"

/* Scratch directory for the files the tests write; removed at exit. */
static char *tmp_root;

/* ---- helpers ------------------------------------------------------------------------------- */

static char *
tmp_path(const char *name)
{
  return g_build_filename(tmp_root, name, NULL);
}

/* Writes `len` bytes (-1: a C string) to `name` under the scratch directory; returns its path. */
static char *
write_file(const char *name, const char *data, gssize len)
{
  char *path = tmp_path(name);
  g_autofree char *dir = g_path_get_dirname(path);
  g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
  GError *error = NULL;
  g_file_set_contents(path, data, len, &error);
  g_assert_no_error(error);
  return path;
}

static void
remove_tree(const char *path)
{
  if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
    GDir *dir = g_dir_open(path, 0, NULL);
    const char *name;
    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
      char *child = g_build_filename(path, name, NULL);
      remove_tree(child);
      g_free(child);
    }
    if (dir != NULL)
      g_dir_close(dir);
  }
  g_remove(path);
}

static SpnCorpus *
load_ok(const char *path, gboolean byte_mode, gboolean ref_format)
{
  SpnCorpusOptions opts = {byte_mode, ref_format};
  GError *error = NULL;
  SpnCorpus *corpus = spn_corpus_load(path, &opts, &error);
  g_assert_no_error(error);
  g_assert_nonnull(corpus);
  return corpus;
}

/* Loads `path` expecting failure with `code`; returns the message for further checks. */
static char *
load_error(const char *path, gboolean byte_mode, gboolean ref_format, int code)
{
  SpnCorpusOptions opts = {byte_mode, ref_format};
  GError *error = NULL;
  SpnCorpus *corpus = spn_corpus_load(path, &opts, &error);
  g_assert_null(corpus);
  g_assert_error(error, SPN_CORPUS_ERROR, code);
  char *message = g_strdup(error->message);
  g_error_free(error);
  return message;
}

#define assert_contains(haystack, needle)                                                          \
  do {                                                                                             \
    if (strstr((haystack), (needle)) == NULL)                                                      \
      g_error("expected \"%s\" in \"%s\"", (needle), (haystack));                                  \
  } while (0)

static char *
decode_split(const SpnCorpus *corpus, SpnSplit split)
{
  return spn_corpus_decode(corpus, split, 0, corpus->n_tokens[split]);
}

static gsize
total_tokens(const SpnCorpus *corpus)
{
  return corpus->n_tokens[0] + corpus->n_tokens[1] + corpus->n_tokens[2];
}

/* ---- bundled corpus ------------------------------------------------------------------------ */

static void
test_bundled_load(void)
{
  SpnCorpus *corpus = load_ok(NULL, FALSE, FALSE);
  g_assert_cmpstr(corpus->source, ==, "bundled");
  SpnVocab *vocab = corpus->vocab;
  g_assert_cmpint(vocab->kind, ==, SPN_VOCAB_CHARS);
  /* 73 distinct characters in the whole KJV text, plus <unk>. */
  g_assert_cmpint(vocab->size, >=, 60);
  g_assert_cmpint(vocab->size, <=, 100);
  g_assert_cmpstr(vocab->tokens[0], ==, "<unk>");
  for (int i = 2; i < vocab->size; i++)
    g_assert_cmpuint(g_utf8_get_char(vocab->tokens[i - 1]), <, g_utf8_get_char(vocab->tokens[i]));
  g_assert_cmpint(spn_vocab_lookup(vocab, "\n"), ==, 1);
  g_assert_cmpint(spn_vocab_lookup(vocab, " "), ==, 2);
  g_assert_cmpint(spn_vocab_lookup(vocab, "z"), ==, vocab->size - 1);

  gsize n = total_tokens(corpus);
  g_assert_cmpuint(n, >, 4000000);
  g_assert_cmpuint(corpus->n_tokens[SPN_SPLIT_TRAIN], ==, n * 90 / 100);
  g_assert_cmpuint(corpus->n_tokens[SPN_SPLIT_TRAIN] + corpus->n_tokens[SPN_SPLIT_VALID], ==,
                   n * 95 / 100);

  g_autofree char *head = spn_corpus_decode(corpus, SPN_SPLIT_TRAIN, 0, 200);
  assert_contains(head, "In the beginning God created the heaven and the earth.");
  g_autofree char *test = decode_split(corpus, SPN_SPLIT_TEST);
  g_assert_true(g_str_has_suffix(test, "be with you all. Amen.\n"));

  SpnCorpus *again = load_ok("bundled", FALSE, FALSE);
  for (int s = 0; s < 3; s++) {
    g_assert_cmpuint(again->n_tokens[s], ==, corpus->n_tokens[s]);
    g_assert_cmpmem(again->tokens[s], again->n_tokens[s] * sizeof(SpnToken), corpus->tokens[s],
                    corpus->n_tokens[s] * sizeof(SpnToken));
  }
  spn_corpus_free(again);
  spn_corpus_free(corpus);
}

static void
test_bundled_gzip_path(void)
{
  SpnCorpus *bundled = load_ok(NULL, FALSE, FALSE);
  g_autofree char *path = g_build_filename(spn_data_dir(), "kjv.txt.gz", NULL);
  SpnCorpus *by_path = load_ok(path, FALSE, FALSE);
  g_assert_cmpstr(by_path->source, ==, path);
  g_assert_cmpint(by_path->vocab->size, ==, bundled->vocab->size);
  for (int s = 0; s < 3; s++)
    g_assert_cmpmem(by_path->tokens[s], by_path->n_tokens[s] * sizeof(SpnToken), bundled->tokens[s],
                    bundled->n_tokens[s] * sizeof(SpnToken));
  spn_corpus_free(by_path);
  spn_corpus_free(bundled);
}

static void
test_bad_gzip(void)
{
  g_autofree char *path = write_file("bad.txt.gz", "this is plain text, not gzip\n", -1);
  g_autofree char *message = load_error(path, FALSE, FALSE, SPN_CORPUS_ERROR_IO);
  assert_contains(message, path);
  assert_contains(message, "gzip");
}

static void
test_data_dir_env(void)
{
  g_autofree char *saved = g_strdup(g_getenv("SPANSCOPE_DATADIR"));
  g_autofree char *empty_dir = tmp_path("no-data");
  g_assert_cmpint(g_mkdir_with_parents(empty_dir, 0700), ==, 0);
  g_setenv("SPANSCOPE_DATADIR", empty_dir, TRUE);
  g_assert_cmpstr(spn_data_dir(), ==, empty_dir);

  g_autofree char *message = load_error("bundled", FALSE, FALSE, SPN_CORPUS_ERROR_IO);
  g_autofree char *expected = g_build_filename(empty_dir, "kjv.txt.gz", NULL);
  assert_contains(message, expected);
  assert_contains(message, "bundled corpus");

  /* without the variable, a program of the build tree (this test) reads the source tree's data,
   * an installed one the installed data dir */
  g_unsetenv("SPANSCOPE_DATADIR");
  g_assert_cmpstr(spn_data_dir(), ==, SPN_SOURCE_DATADIR);
  g_assert_cmpstr(spn_data_dir(), !=, SPN_DATADIR);

  if (saved != NULL)
    g_setenv("SPANSCOPE_DATADIR", saved, TRUE);
  else
    g_unsetenv("SPANSCOPE_DATADIR");
}

/* ---- single files -------------------------------------------------------------------------- */

static void
test_file_split(void)
{
  GString *text = g_string_new(NULL);
  for (int i = 0; i < 200; i++)
    g_string_append_c(text, "abcdefghij\n"[i % 11]);
  g_autofree char *path = write_file("split.txt", text->str, -1);
  SpnCorpus *corpus = load_ok(path, FALSE, FALSE);
  g_assert_cmpstr(corpus->source, ==, path);
  g_assert_cmpuint(corpus->n_tokens[SPN_SPLIT_TRAIN], ==, 180);
  g_assert_cmpuint(corpus->n_tokens[SPN_SPLIT_VALID], ==, 10);
  g_assert_cmpuint(corpus->n_tokens[SPN_SPLIT_TEST], ==, 10);
  g_assert_cmpint(corpus->vocab->size, ==, 12);

  /* Every character is in train, so the three splits put back together are the file. */
  GString *joined = g_string_new(NULL);
  for (int s = 0; s < 3; s++) {
    char *part = decode_split(corpus, (SpnSplit)s);
    g_string_append(joined, part);
    g_free(part);
  }
  g_assert_cmpstr(joined->str, ==, text->str);
  g_string_free(joined, TRUE);
  spn_corpus_free(corpus);
  g_string_free(text, TRUE);
}

static void
test_file_split_by_characters(void)
{
  /* 100 two-byte characters and 100 four-byte ones: the split counts characters, not bytes. */
  GString *text = g_string_new(NULL);
  for (int i = 0; i < 100; i++)
    g_string_append(text, i % 2 ? "\xc3\xa9" : "\xf0\x9f\x98\x80");
  for (int i = 0; i < 100; i++)
    g_string_append(text, i % 2 ? "\xc3\xa9" : "\xf0\x9f\x98\x80");
  g_autofree char *path = write_file("multibyte.txt", text->str, -1);
  SpnCorpus *corpus = load_ok(path, FALSE, FALSE);
  g_assert_cmpuint(corpus->n_tokens[SPN_SPLIT_TRAIN], ==, 180);
  g_assert_cmpuint(corpus->n_tokens[SPN_SPLIT_VALID], ==, 10);
  g_assert_cmpuint(corpus->n_tokens[SPN_SPLIT_TEST], ==, 10);
  g_assert_cmpint(corpus->vocab->size, ==, 3);
  g_assert_cmpstr(corpus->vocab->tokens[1], ==, "\xc3\xa9");
  g_assert_cmpstr(corpus->vocab->tokens[2], ==, "\xf0\x9f\x98\x80");
  g_autofree char *valid = decode_split(corpus, SPN_SPLIT_VALID);
  g_assert_cmpuint(g_utf8_strlen(valid, -1), ==, 10);
  spn_corpus_free(corpus);
  g_string_free(text, TRUE);
}

static void
test_file_unknown_chars(void)
{
  /* 'Z' and '\xc3\xa9' occur only in the last 5 %, the test split. */
  GString *text = g_string_new(NULL);
  for (int i = 0; i < 190; i++)
    g_string_append_c(text, i % 2 ? 'a' : 'b');
  g_string_append(text, "aZb\xc3\xa9"
                        "aaaaaa");
  g_autofree char *path = write_file("unknown.txt", text->str, -1);
  SpnCorpus *corpus = load_ok(path, FALSE, FALSE);
  g_assert_cmpint(corpus->vocab->size, ==, 3);
  g_assert_cmpint(spn_vocab_lookup(corpus->vocab, "Z"), ==, -1);
  const SpnToken *test = corpus->tokens[SPN_SPLIT_TEST];
  g_assert_cmpuint(corpus->n_tokens[SPN_SPLIT_TEST], ==, 10);
  g_assert_cmpint(test[0], ==, 1);
  g_assert_cmpint(test[1], ==, 0);
  g_assert_cmpint(test[2], ==, 2);
  g_assert_cmpint(test[3], ==, 0);
  g_autofree char *decoded = decode_split(corpus, SPN_SPLIT_TEST);
  g_assert_cmpstr(decoded, ==,
                  "a\xef\xbf\xbd"
                  "b\xef\xbf\xbd"
                  "aaaaaa");
  spn_corpus_free(corpus);
  g_string_free(text, TRUE);
}

typedef struct {
  const char *what;
  const char *data;
  gsize len;
  gsize offset;
  gsize line;
  const char *found;
} InvalidCase;

static void
test_file_invalid_utf8(void)
{
  static const InvalidCase cases[] = {
      {"lone continuation byte", "ab\n\xc3\xa9\n\x80rest", 10, 6, 3, "0x80"},
      {"truncated at end", "abc\xe2\x82", 5, 3, 1, "0xe2"},
      {"overlong slash", "a\nb\nc\xc0\xafxyz", 10, 5, 3, "0xc0"},
      {"surrogate", "xy\xed\xa0\x80z", 6, 2, 1, "0xed"},
      {"beyond U+10FFFF", "\xf4\x90\x80\x80", 4, 0, 1, "0xf4"},
      {"NUL byte", "abc\n\0def", 8, 4, 2, "NUL"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_test_message("case: %s", cases[i].what);
    char *path = write_file("invalid.txt", cases[i].data, (gssize)cases[i].len);
    char *message = load_error(path, FALSE, FALSE, SPN_CORPUS_ERROR_FORMAT);
    char *where =
        g_strdup_printf("invalid UTF-8 at byte %" G_GSIZE_FORMAT " (line %" G_GSIZE_FORMAT ")",
                        cases[i].offset, cases[i].line);
    assert_contains(message, path);
    assert_contains(message, where);
    assert_contains(message, cases[i].found);
    assert_contains(message, "byte mode");
    g_free(where);
    g_free(message);
    g_free(path);
  }
}

static void
test_file_invalid_utf8_far(void)
{
  /* 1234 bytes of valid text over 16 lines, then one bad byte: byte 1234, line 17. */
  GString *text = g_string_new(NULL);
  while (text->len < 1234)
    g_string_append_c(text, text->len % 77 == 76 && text->len < 16 * 77 ? '\n' : 'x');
  g_assert_cmpuint(text->len, ==, 1234);
  g_string_append(text, "\xff and more text after it\n");
  g_autofree char *path = write_file("corpus.txt", text->str, (gssize)text->len);
  g_autofree char *message = load_error(path, FALSE, FALSE, SPN_CORPUS_ERROR_FORMAT);
  char *expected = g_strdup_printf("%s: invalid UTF-8 at byte 1234 (line 17): expected a UTF-8 "
                                   "character, found byte 0xff; use byte mode for binary data",
                                   path);
  g_assert_cmpstr(message, ==, expected);
  g_free(expected);
  g_string_free(text, TRUE);
}

static void
test_file_empty(void)
{
  g_autofree char *path = write_file("empty.txt", "", 0);
  char *message = load_error(path, FALSE, FALSE, SPN_CORPUS_ERROR_TOO_SMALL);
  g_autofree char *expected = g_strdup_printf("%s: file is empty", path);
  g_assert_cmpstr(message, ==, expected);
  g_free(message);
  /* Byte mode reads the same file and must reject it the same way. */
  message = load_error(path, TRUE, FALSE, SPN_CORPUS_ERROR_TOO_SMALL);
  assert_contains(message, "file is empty");
  g_free(message);
}

static void
test_file_too_small_for_split(void)
{
  g_autofree char *path = write_file("tiny.txt", "hello\n", -1);
  g_autofree char *message = load_error(path, FALSE, FALSE, SPN_CORPUS_ERROR_TOO_SMALL);
  assert_contains(message, path);
  assert_contains(message, "the valid split is empty");
  assert_contains(message, "6 characters");
}

static void
test_missing_path(void)
{
  g_autofree char *path = tmp_path("does-not-exist.txt");
  g_autofree char *message = load_error(path, FALSE, FALSE, SPN_CORPUS_ERROR_IO);
  assert_contains(message, path);
  assert_contains(message, g_strerror(ENOENT));
}

static void
test_options_exclusive(void)
{
  char *message = load_error("bundled", TRUE, TRUE, SPN_CORPUS_ERROR_FORMAT);
  assert_contains(message, "byte mode");
  assert_contains(message, "reference format");
  g_free(message);
  message = load_error("bundled", FALSE, TRUE, SPN_CORPUS_ERROR_FORMAT);
  assert_contains(message, "bundled");
  g_free(message);
}

/* ---- directories --------------------------------------------------------------------------- */

static void
test_dir_load(void)
{
  g_free(write_file("dir/train.txt", "hello world\n", -1));
  g_free(write_file("dir/valid.txt", "hold\n", -1));
  g_free(write_file("dir/test.txt", "w\xc3\xb6rd!\n", -1));
  g_autofree char *dir = tmp_path("dir");
  SpnCorpus *corpus = load_ok(dir, FALSE, FALSE);
  g_assert_cmpuint(corpus->n_tokens[SPN_SPLIT_TRAIN], ==, 12);
  g_assert_cmpuint(corpus->n_tokens[SPN_SPLIT_VALID], ==, 5);
  g_assert_cmpuint(corpus->n_tokens[SPN_SPLIT_TEST], ==, 6);
  /* <unk> \n space d e h l o r w */
  g_assert_cmpint(corpus->vocab->size, ==, 10);
  g_autofree char *valid = decode_split(corpus, SPN_SPLIT_VALID);
  g_assert_cmpstr(valid, ==, "hold\n");
  g_autofree char *test = decode_split(corpus, SPN_SPLIT_TEST);
  g_assert_cmpstr(test, ==, "w\xef\xbf\xbdrd\xef\xbf\xbd\n");
  spn_corpus_free(corpus);

  /* The same directory in byte mode: one token per byte of each file. */
  corpus = load_ok(dir, TRUE, FALSE);
  g_assert_cmpint(corpus->vocab->size, ==, 256);
  g_assert_cmpuint(corpus->n_tokens[SPN_SPLIT_TEST], ==, 7);
  g_assert_cmpint(corpus->tokens[SPN_SPLIT_TEST][1], ==, 0xc3);
  spn_corpus_free(corpus);
}

static void
test_dir_missing_file(void)
{
  g_free(write_file("partial/train.txt", "some training text\n", -1));
  g_free(write_file("partial/valid.txt", "valid\n", -1));
  g_autofree char *dir = tmp_path("partial");
  g_autofree char *missing = g_build_filename(dir, "test.txt", NULL);
  char *message = load_error(dir, FALSE, FALSE, SPN_CORPUS_ERROR_IO);
  assert_contains(message, missing);
  assert_contains(message, "missing");
  g_free(message);
  /* The reference format needs the same three files. */
  message = load_error(dir, FALSE, TRUE, SPN_CORPUS_ERROR_IO);
  assert_contains(message, missing);
  g_free(message);
}

static void
test_dir_empty_file(void)
{
  g_free(write_file("hollow/train.txt", "some training text\n", -1));
  g_free(write_file("hollow/valid.txt", "", 0));
  g_free(write_file("hollow/test.txt", "test\n", -1));
  g_autofree char *dir = tmp_path("hollow");
  g_autofree char *empty = g_build_filename(dir, "valid.txt", NULL);
  g_autofree char *expected = g_strdup_printf("%s: file is empty", empty);
  g_autofree char *message = load_error(dir, FALSE, FALSE, SPN_CORPUS_ERROR_TOO_SMALL);
  g_assert_cmpstr(message, ==, expected);
}

/* ---- reference format ---------------------------------------------------------------------- */

static void
test_ref_load(void)
{
  g_free(write_file("ref/train.txt", "72 105\n105 33\n", -1));
  g_free(write_file("ref/valid.txt", "33  72", -1)); /* no final newline: still ends in <eos> */
  g_free(write_file("ref/test.txt", "\n \t \n105\n", -1));
  g_autofree char *dir = tmp_path("ref");
  SpnCorpus *corpus = load_ok(dir, FALSE, TRUE);
  const SpnVocab *vocab = corpus->vocab;
  g_assert_cmpint(vocab->kind, ==, SPN_VOCAB_REF);
  g_assert_cmpint(vocab->size, ==, 4);
  const char *order[] = {"72", "105", "<eos>", "33"};
  for (int i = 0; i < 4; i++) {
    g_assert_cmpstr(vocab->tokens[i], ==, order[i]);
    g_assert_cmpint(spn_vocab_lookup(vocab, order[i]), ==, i);
  }

  const SpnToken train[] = {0, 1, 2, 1, 3, 2};
  const SpnToken valid[] = {3, 0, 2};
  const SpnToken test[] = {2, 2, 1, 2};
  g_assert_cmpmem(corpus->tokens[SPN_SPLIT_TRAIN],
                  corpus->n_tokens[SPN_SPLIT_TRAIN] * sizeof(SpnToken), train, sizeof train);
  g_assert_cmpmem(corpus->tokens[SPN_SPLIT_VALID],
                  corpus->n_tokens[SPN_SPLIT_VALID] * sizeof(SpnToken), valid, sizeof valid);
  g_assert_cmpmem(corpus->tokens[SPN_SPLIT_TEST],
                  corpus->n_tokens[SPN_SPLIT_TEST] * sizeof(SpnToken), test, sizeof test);

  g_autofree char *decoded = decode_split(corpus, SPN_SPLIT_TRAIN);
  g_assert_cmpstr(decoded, ==, "Hi\ni!\n");
  spn_corpus_free(corpus);
}

static void
test_ref_unknown_token(void)
{
  g_free(write_file("refbad/train.txt", "72 105\n105 33\n", -1));
  g_free(write_file("refbad/valid.txt", "72\n105 300\n", -1));
  g_free(write_file("refbad/test.txt", "72\n", -1));
  g_autofree char *dir = tmp_path("refbad");
  g_autofree char *valid = g_build_filename(dir, "valid.txt", NULL);
  g_autofree char *train = g_build_filename(dir, "train.txt", NULL);
  char *expected = g_strdup_printf("%s line 2 (byte 7): token \"300\" is not in the vocabulary "
                                   "of %s",
                                   valid, train);
  g_autofree char *message = load_error(dir, FALSE, TRUE, SPN_CORPUS_ERROR_FORMAT);
  g_assert_cmpstr(message, ==, expected);
  g_free(expected);
}

static void
test_ref_invalid_utf8(void)
{
  g_free(write_file("refutf/train.txt",
                    "72 105\n1\xff"
                    "05\n",
                    -1));
  g_free(write_file("refutf/valid.txt", "72\n", -1));
  g_free(write_file("refutf/test.txt", "72\n", -1));
  g_autofree char *dir = tmp_path("refutf");
  g_autofree char *message = load_error(dir, FALSE, TRUE, SPN_CORPUS_ERROR_FORMAT);
  assert_contains(message, "train.txt: invalid UTF-8 at byte 8 (line 2)");
}

static void
test_ref_needs_directory(void)
{
  g_autofree char *path = write_file("ref-file.txt", "72 105\n", -1);
  g_autofree char *message = load_error(path, FALSE, TRUE, SPN_CORPUS_ERROR_FORMAT);
  assert_contains(message, path);
  assert_contains(message, "directory");
}

/* ---- byte mode ----------------------------------------------------------------------------- */

static void
test_byte_mode(void)
{
  guchar data[100];
  for (int i = 0; i < 100; i++)
    data[i] = (guchar)(i * 37);
  data[50] = 0xff; /* with 0x00 at 0 and lone continuation bytes: not UTF-8 */
  g_autofree char *path = write_file("binary.bin", (const char *)data, sizeof data);
  g_autofree char *message = load_error(path, FALSE, FALSE, SPN_CORPUS_ERROR_FORMAT);
  assert_contains(message, "byte 0 (line 1)");

  SpnCorpus *corpus = load_ok(path, TRUE, FALSE);
  const SpnVocab *vocab = corpus->vocab;
  g_assert_cmpint(vocab->kind, ==, SPN_VOCAB_BYTES);
  g_assert_cmpint(vocab->size, ==, 256);
  g_assert_cmpuint(corpus->n_tokens[SPN_SPLIT_TRAIN], ==, 90);
  g_assert_cmpuint(corpus->n_tokens[SPN_SPLIT_VALID], ==, 5);
  g_assert_cmpuint(corpus->n_tokens[SPN_SPLIT_TEST], ==, 5);
  for (int i = 0; i < 100; i++) {
    SpnSplit split = i < 90 ? SPN_SPLIT_TRAIN : i < 95 ? SPN_SPLIT_VALID : SPN_SPLIT_TEST;
    int start = split == SPN_SPLIT_TRAIN ? 0 : split == SPN_SPLIT_VALID ? 90 : 95;
    g_assert_cmpint(corpus->tokens[split][i - start], ==, data[i]);
  }
  g_assert_cmpstr(vocab->tokens[0x41], ==, "A");
  g_assert_cmpstr(vocab->tokens[0x20], ==, " ");
  g_assert_cmpstr(vocab->tokens[0x5c], ==, "\\");
  g_assert_cmpstr(vocab->tokens[0x0a], ==, "\\x0a");
  g_assert_cmpstr(vocab->tokens[0x7f], ==, "\\x7f");
  g_assert_cmpstr(vocab->tokens[0xff], ==, "\\xff");
  g_assert_cmpint(spn_vocab_lookup(vocab, "\\x00"), ==, 0);

  /* BYTES encodes raw bytes without UTF-8 checks and decodes them back. */
  gsize n = 0;
  GError *error = NULL;
  gint32 *ids = spn_vocab_encode(vocab,
                                 "\xff\x01"
                                 "A",
                                 3, &n, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(n, ==, 3);
  g_assert_cmpint(ids[0], ==, 0xff);
  g_assert_cmpint(ids[1], ==, 0x01);
  g_assert_cmpint(ids[2], ==, 'A');
  g_autofree char *decoded = spn_vocab_decode(vocab, ids, n);
  g_assert_cmpstr(decoded, ==,
                  "\xff\x01"
                  "A");
  g_free(ids);
  spn_corpus_free(corpus);
}

/* ---- check_split --------------------------------------------------------------------------- */

static void
test_check_split(void)
{
  GString *text = g_string_new(NULL);
  for (int i = 0; i < 200; i++)
    g_string_append_c(text, 'a' + i % 26);
  g_autofree char *path = write_file("check.txt", text->str, -1);
  SpnCorpus *corpus = load_ok(path, FALSE, FALSE);
  g_assert_cmpuint(corpus->n_tokens[SPN_SPLIT_VALID], ==, 10);

  GError *error = NULL;
  g_assert_true(spn_corpus_check_split(corpus, SPN_SPLIT_VALID, 1, 9, &error));
  g_assert_no_error(error);
  g_assert_true(spn_corpus_check_split(corpus, SPN_SPLIT_VALID, 2, 4, &error));
  g_assert_no_error(error);
  g_assert_true(spn_corpus_check_split(corpus, SPN_SPLIT_TRAIN, 20, 8, &error));
  g_assert_no_error(error);

  /* floor(10 / 1) = 10 tokens cannot hold a 10-token block and its last target. */
  g_assert_false(spn_corpus_check_split(corpus, SPN_SPLIT_VALID, 1, 10, &error));
  g_assert_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_TOO_SMALL);
  assert_contains(error->message, "1 stream of one 10-token block (needs at least 11)");
  g_clear_error(&error);
  /* floor(10 / 3) = 3 tokens per stream < 4. */
  g_assert_false(spn_corpus_check_split(corpus, SPN_SPLIT_VALID, 3, 3, &error));
  g_clear_error(&error);

  g_assert_false(spn_corpus_check_split(corpus, SPN_SPLIT_VALID, 16, 128, &error));
  char *expected = g_strdup_printf("%s: the valid split has 10 tokens, too few for 16 streams of "
                                   "one 128-token block (needs at least 2064); use a smaller "
                                   "--batch-sz or --block-sz or a larger corpus",
                                   path);
  g_assert_cmpstr(error->message, ==, expected);
  g_clear_error(&error);

  g_assert_false(spn_corpus_check_split(corpus, SPN_SPLIT_TEST, 0, 8, &error));
  g_assert_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_TOO_SMALL);
  g_clear_error(&error);

  g_free(expected);
  spn_corpus_free(corpus);
  g_string_free(text, TRUE);
}

/* ---- vocabularies -------------------------------------------------------------------------- */

static SpnVocab *
chars_vocab(void)
{
  static const char *const tokens[] = {"<unk>", "\n", " ", "d",        "l",
                                       "o",     "r",  "w", "\xc3\xb6", "\xf0\x9f\x98\x80"};
  return spn_vocab_new(SPN_VOCAB_CHARS, G_N_ELEMENTS(tokens), tokens);
}

static void
test_vocab_encode_decode(void)
{
  SpnVocab *vocab = chars_vocab();
  const char *text = "w\xc3\xb6rld \xf0\x9f\x98\x80\n";
  gsize n = 0, *offsets = NULL;
  GError *error = NULL;
  gint32 *ids = spn_vocab_encode(vocab, text, -1, &n, &offsets, &error);
  g_assert_no_error(error);
  const gint32 expected_ids[] = {7, 8, 6, 4, 3, 2, 9, 1};
  const gsize expected_offsets[] = {0, 1, 3, 4, 5, 6, 7, 11};
  g_assert_cmpmem(ids, n * sizeof *ids, expected_ids, sizeof expected_ids);
  g_assert_cmpmem(offsets, n * sizeof *offsets, expected_offsets, sizeof expected_offsets);
  g_autofree char *decoded = spn_vocab_decode(vocab, ids, n);
  g_assert_cmpstr(decoded, ==, text);
  g_free(offsets);
  g_free(ids);

  /* An explicit length stops before the NUL-terminated end. */
  ids = spn_vocab_encode(vocab, "world", 3, &n, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(n, ==, 3);
  g_free(ids);

  ids = spn_vocab_encode(vocab, "", 0, &n, &offsets, &error);
  g_assert_no_error(error);
  g_assert_nonnull(ids);
  g_assert_cmpuint(n, ==, 0);
  g_free(offsets);
  g_free(ids);
  spn_vocab_free(vocab);
}

static void
test_vocab_encode_unknown(void)
{
  SpnVocab *vocab = chars_vocab();
  gsize n = 0;
  GError *error = NULL;
  g_autofree gint32 *ids = spn_vocab_encode(vocab, "word?\xc3\xa9", -1, &n, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(n, ==, 6);
  g_assert_cmpint(ids[4], ==, 0);
  g_assert_cmpint(ids[5], ==, 0);
  g_assert_cmpint(ids[0], ==, spn_vocab_lookup(vocab, "w"));
  char *decoded = spn_vocab_decode(vocab, ids, n);
  g_assert_cmpstr(decoded, ==, "word\xef\xbf\xbd\xef\xbf\xbd");
  g_free(decoded);

  /* Ids the vocabulary cannot hold decode as U+FFFD instead of reading out of bounds. */
  const gint32 bad[] = {-1, 1000, 3};
  decoded = spn_vocab_decode(vocab, bad, 3);
  g_assert_cmpstr(decoded, ==,
                  "\xef\xbf\xbd\xef\xbf\xbd"
                  "d");
  g_free(decoded);
  spn_vocab_free(vocab);
}

static void
test_vocab_encode_invalid_utf8(void)
{
  SpnVocab *vocab = chars_vocab();
  gsize n = 0;
  GError *error = NULL;
  gint32 *ids = spn_vocab_encode(vocab, "wo\nr\xffld", -1, &n, NULL, &error);
  g_assert_null(ids);
  g_assert_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT);
  assert_contains(error->message, "invalid UTF-8 at byte 4 (line 2)");
  g_clear_error(&error);
  spn_vocab_free(vocab);
}

static void
test_vocab_ref_encode(void)
{
  static const char *const tokens[] = {"104", "105", "<eos>", "33"};
  SpnVocab *vocab = spn_vocab_new(SPN_VOCAB_REF, 4, tokens);
  gsize n = 0, *offsets = NULL;
  GError *error = NULL;
  gint32 *ids = spn_vocab_encode(vocab, "hi!\nh", -1, &n, &offsets, &error);
  g_assert_no_error(error);
  const gint32 expected[] = {0, 1, 3, 2, 0};
  g_assert_cmpmem(ids, n * sizeof *ids, expected, sizeof expected);
  g_assert_cmpuint(offsets[4], ==, 4);
  g_autofree char *decoded = spn_vocab_decode(vocab, ids, n);
  g_assert_cmpstr(decoded, ==, "hi!\nh");
  g_free(offsets);
  g_free(ids);

  ids = spn_vocab_encode(vocab, "hi\nhx", -1, &n, NULL, &error);
  g_assert_null(ids);
  g_assert_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT);
  assert_contains(error->message, "at byte 4 (line 2)");
  assert_contains(error->message, "\"120\"");
  g_clear_error(&error);
  spn_vocab_free(vocab);
}

static void
test_vocab_new_copy_lookup(void)
{
  static const char *const tokens[] = {"<unk>", "a", "b"};
  SpnVocab *vocab = spn_vocab_new(SPN_VOCAB_CHARS, 3, tokens);
  g_assert_cmpint(spn_vocab_lookup(vocab, "b"), ==, 2);
  g_assert_cmpint(spn_vocab_lookup(vocab, "<unk>"), ==, 0);
  g_assert_cmpint(spn_vocab_lookup(vocab, "c"), ==, -1);
  g_assert_cmpint(spn_vocab_lookup(vocab, NULL), ==, -1);
  g_assert_true(vocab->tokens[0] != tokens[0]);

  SpnVocab *copy = spn_vocab_copy(vocab);
  spn_vocab_free(vocab);
  g_assert_cmpint(copy->kind, ==, SPN_VOCAB_CHARS);
  g_assert_cmpint(copy->size, ==, 3);
  g_assert_cmpstr(copy->tokens[1], ==, "a");
  g_assert_cmpint(spn_vocab_lookup(copy, "a"), ==, 1);
  spn_vocab_free(copy);

  SpnVocab *bytes = spn_vocab_new(SPN_VOCAB_BYTES, 256, NULL);
  g_assert_cmpint(bytes->size, ==, 256);
  g_assert_cmpint(spn_vocab_lookup(bytes, "\\x0a"), ==, '\n');
  g_assert_cmpint(spn_vocab_lookup(bytes, "~"), ==, '~');
  spn_vocab_free(bytes);
}

static void
assert_json_round_trip(SpnVocab *vocab, const char *kind)
{
  g_autofree char *json = spn_vocab_to_json(vocab);
  g_autofree char *kind_member = g_strdup_printf("\"kind\":\"%s\"", kind);
  assert_contains(json, kind_member);
  GError *error = NULL;
  SpnVocab *back = spn_vocab_from_json(json, &error);
  g_assert_no_error(error);
  g_assert_cmpint(back->kind, ==, vocab->kind);
  g_assert_cmpint(back->size, ==, vocab->size);
  for (int i = 0; i < vocab->size; i++) {
    g_assert_cmpstr(back->tokens[i], ==, vocab->tokens[i]);
    g_assert_cmpint(spn_vocab_lookup(back, vocab->tokens[i]), ==, i);
  }
  spn_vocab_free(back);
}

static void
test_vocab_json_round_trip(void)
{
  static const char *const chars[] = {
      "<unk>",           "\x01", "\t", "\n", " ", "\"", "\\", "\x7f", "\xc3\xa9", "\xe2\x80\xa8",
      "\xf0\x9f\x98\x80"};
  SpnVocab *vocab = spn_vocab_new(SPN_VOCAB_CHARS, G_N_ELEMENTS(chars), chars);
  assert_json_round_trip(vocab, "chars");
  spn_vocab_free(vocab);

  vocab = spn_vocab_new(SPN_VOCAB_BYTES, 256, NULL);
  assert_json_round_trip(vocab, "bytes");
  spn_vocab_free(vocab);

  static const char *const ref[] = {"72", "<eos>", "105", "_"};
  vocab = spn_vocab_new(SPN_VOCAB_REF, G_N_ELEMENTS(ref), ref);
  assert_json_round_trip(vocab, "ref");
  spn_vocab_free(vocab);

  /* The vocabulary of a loaded corpus survives the trip too. */
  SpnCorpus *corpus = load_ok(NULL, FALSE, FALSE);
  assert_json_round_trip(corpus->vocab, "chars");
  spn_corpus_free(corpus);
}

static void
test_vocab_json_errors(void)
{
  static const struct {
    const char *json;
    const char *expected;
  } cases[] = {
      {"not json", "vocabulary JSON: "},
      {"[1, 2]", "not a JSON object"},
      /* json-glib decodes a lone surrogate escape to bytes that are not UTF-8 */
      {"{\"kind\": \"chars\", \"tokens\": [\"<unk>\", \"\\ud800x\"]}",
       "token 1 is not valid UTF-8"},
      {"{\"kind\": \"ref\", \"tokens\": [\"\\udfffx\"]}", "token 0 is not valid UTF-8"},
      {"{\"kind\": \"ref\", \"tokens\": [\"4 5\"]}", "token 0 contains white space"},
      {"{\"kind\": \"ref\", \"tokens\": [[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]}",
       "nests JSON more than 16 levels deep"},
      {"{\"tokens\": [\"a\"]}", "\"kind\""},
      {"{\"kind\": 3, \"tokens\": [\"a\"]}", "\"kind\""},
      {"{\"kind\": \"words\", \"tokens\": [\"a\"]}", "unknown kind \"words\""},
      {"{\"kind\": \"ref\"}", "\"tokens\""},
      {"{\"kind\": \"ref\", \"tokens\": \"ab\"}", "\"tokens\""},
      {"{\"kind\": \"ref\", \"tokens\": []}", "0 entries"},
      {"{\"kind\": \"ref\", \"tokens\": [\"a\", 1]}", "token 1 is not a string"},
      {"{\"kind\": \"ref\", \"tokens\": [\"a\", null]}", "token 1 is not a string"},
      {"{\"kind\": \"ref\", \"tokens\": [\"a\", \"b\", \"a\"]}", "token 2 (\"a\") appears twice"},
      {"{\"kind\": \"ref\", \"tokens\": [\"\"]}", "token 0 is empty"},
      {"{\"kind\": \"chars\", \"tokens\": [\"a\"]}", "must be \"<unk>\""},
      {"{\"kind\": \"chars\", \"tokens\": [\"<unk>\", \"ab\"]}",
       "token 1 must be a single character"},
      {"{\"kind\": \"bytes\", \"tokens\": [\"a\"]}", "256 tokens, found 1"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    GError *error = NULL;
    SpnVocab *vocab = spn_vocab_from_json(cases[i].json, &error);
    g_assert_null(vocab);
    g_assert_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT);
    assert_contains(error->message, "vocabulary JSON: ");
    assert_contains(error->message, cases[i].expected);
    g_error_free(error);
  }

  /* A bytes vocabulary must hold exactly the canonical texts. */
  SpnVocab *bytes = spn_vocab_new(SPN_VOCAB_BYTES, 256, NULL);
  g_autofree char *json = spn_vocab_to_json(bytes);
  char *slot = strstr(json, "\"A\"");
  g_assert_nonnull(slot);
  slot[1] = 'Q';
  GError *error = NULL;
  g_assert_null(spn_vocab_from_json(json, &error));
  assert_contains(error->message, "bytes token 65 is \"Q\", expected \"A\"");
  g_error_free(error);
  spn_vocab_free(bytes);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  GError *error = NULL;
  tmp_root = g_dir_make_tmp("spanscope-corpus-XXXXXX", &error);
  g_assert_no_error(error);

  g_test_add_func("/corpus/bundled/load", test_bundled_load);
  g_test_add_func("/corpus/bundled/gzip-path", test_bundled_gzip_path);
  g_test_add_func("/corpus/bundled/data-dir-env", test_data_dir_env);
  g_test_add_func("/corpus/file/bad-gzip", test_bad_gzip);
  g_test_add_func("/corpus/file/split", test_file_split);
  g_test_add_func("/corpus/file/split-by-characters", test_file_split_by_characters);
  g_test_add_func("/corpus/file/unknown-chars", test_file_unknown_chars);
  g_test_add_func("/corpus/file/invalid-utf8", test_file_invalid_utf8);
  g_test_add_func("/corpus/file/invalid-utf8-far", test_file_invalid_utf8_far);
  g_test_add_func("/corpus/file/empty", test_file_empty);
  g_test_add_func("/corpus/file/too-small-for-split", test_file_too_small_for_split);
  g_test_add_func("/corpus/file/missing", test_missing_path);
  g_test_add_func("/corpus/options/exclusive", test_options_exclusive);
  g_test_add_func("/corpus/dir/load", test_dir_load);
  g_test_add_func("/corpus/dir/missing-file", test_dir_missing_file);
  g_test_add_func("/corpus/dir/empty-file", test_dir_empty_file);
  g_test_add_func("/corpus/ref/load", test_ref_load);
  g_test_add_func("/corpus/ref/unknown-token", test_ref_unknown_token);
  g_test_add_func("/corpus/ref/invalid-utf8", test_ref_invalid_utf8);
  g_test_add_func("/corpus/ref/needs-directory", test_ref_needs_directory);
  g_test_add_func("/corpus/bytes/load", test_byte_mode);
  g_test_add_func("/corpus/check-split", test_check_split);
  g_test_add_func("/vocab/encode-decode", test_vocab_encode_decode);
  g_test_add_func("/vocab/encode-unknown", test_vocab_encode_unknown);
  g_test_add_func("/vocab/encode-invalid-utf8", test_vocab_encode_invalid_utf8);
  g_test_add_func("/vocab/ref-encode", test_vocab_ref_encode);
  g_test_add_func("/vocab/new-copy-lookup", test_vocab_new_copy_lookup);
  g_test_add_func("/vocab/json-round-trip", test_vocab_json_round_trip);
  g_test_add_func("/vocab/json-errors", test_vocab_json_errors);

  int status = g_test_run();
  remove_tree(tmp_root);
  g_free(tmp_root);
  return status;
}
