/* fuzz_corpus.c — libFuzzer target for every corpus format (engine/corpus.c): the first byte picks
 * the format — a UTF-8 text file, a byte-mode file, a gzipped file (the bytes as the .gz), a
 * train/valid/test folder, a folder in the reference format, a text in memory — and the rest is
 * the content (split into three files at the first two 0xff bytes for the folders). A corpus must
 * load with every token id inside its vocabulary, or fail with a message naming the file.
 * Build: see tests/fuzz/README.md. */
#include "corpus.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static char *dir;

static void
remove_scratch(void)
{
  const char *names[] = {"corpus.txt", "corpus.txt.gz", "train.txt", "valid.txt", "test.txt"};
  for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
    g_autofree char *path = g_build_filename(dir, names[i], NULL);
    g_unlink(path);
  }
  g_rmdir(dir);
}

/* The folder the inputs are written into, once per process, in memory (/dev/shm) when the
 * machine has it: on ext4 a file truncated and written again is flushed to the disk when it is
 * closed (auto_da_alloc), so /tmp made every input wait for the disk. Removed at exit. */
static void
make_scratch(void)
{
  const char *base = access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : g_get_tmp_dir();
  dir = g_build_filename(base, "spanscope-fuzz-corpus-XXXXXX", NULL);
  if (g_mkdtemp(dir) == NULL)
    g_error("cannot make a folder in %s: %s", base, g_strerror(errno));
  atexit(remove_scratch);
}

/* A plain write: g_file_set_contents may sync, which would dominate a run. */
static char *
put(const char *name, const guint8 *data, gsize len)
{
  char *path = g_build_filename(dir, name, NULL);
  FILE *f = fopen(path, "wb");
  if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
    g_error("cannot write %s", path);
  return path;
}

/* The three files of a folder: the content cut at its first two 0xff bytes. */
static void
put_folder(const guint8 *data, gsize len)
{
  const char *names[3] = {"train.txt", "valid.txt", "test.txt"};
  gsize start = 0;
  for (int s = 0; s < 3; s++) {
    const guint8 *cut = s < 2 && start <= len ? memchr(data + start, 0xff, len - start) : NULL;
    gsize end = cut ? (gsize)(cut - data) : len;
    g_free(put(names[s], data + start, end - start));
    start = cut ? end + 1 : len;
  }
}

static void
check(SpnCorpus *corpus, GError *error)
{
  if (corpus == NULL) {
    g_assert(error != NULL && error->message[0] != '\0');
    g_error_free(error);
    return;
  }
  for (int s = 0; s < 3; s++) {
    g_assert(corpus->n_tokens[s] > 0);
    for (gsize i = 0; i < corpus->n_tokens[s]; i++)
      g_assert(corpus->tokens[s][i] < corpus->vocab->size);
  }
  g_free(spn_corpus_decode(corpus, SPN_SPLIT_TRAIN, 0, MIN(corpus->n_tokens[0], 64)));
  spn_corpus_free(corpus);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (dir == NULL)
    make_scratch();
  if (size < 1)
    return 0;
  guint8 mode = data[0] % 7;
  const guint8 *body = data + 1;
  gsize len = size - 1;
  GError *error = NULL;
  SpnCorpusOptions opts = {0};
  g_autofree char *path = NULL;
  switch (mode) {
  case 0:
  case 1:
    opts.byte_mode = mode == 1;
    path = put("corpus.txt", body, len);
    break;
  case 2: path = put("corpus.txt.gz", body, len); break;
  case 3:
  case 4:
    opts.ref_format = mode == 4;
    put_folder(body, len);
    path = g_strdup(dir);
    break;
  default:
    opts.byte_mode = mode == 6;
    SpnCorpus *corpus = spn_corpus_from_text("text", (const char *)body, len, &opts, &error);
    check(corpus, error);
    return 0;
  }
  SpnCorpus *corpus = spn_corpus_load(path, &opts, &error);
  check(corpus, error);
  return 0;
}
