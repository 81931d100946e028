/* corpus.c — loading corpora into token ids, and the vocabularies that map text to ids.
 *
 * Every input is read whole into memory: the corpora this tool trains on are a few megabytes
 * (enwik8, the largest, is 100 MB), and one contiguous buffer keeps tokenizing a single pass. */
#include "corpus.h"

#include "demo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "spanscope-config.h"

#define BUNDLED_FILE "kjv.txt.gz"
#define N_CODE_POINTS 0x110000
/* A single file is split at these percentages of its length: train | valid | test. */
#define SPN_TRAIN_END_PCT 90
#define SPN_VALID_END_PCT 95

static const char *const split_names[3] = {"train", "valid", "test"};
static const char *const split_files[3] = {"train.txt", "valid.txt", "test.txt"};

/* clang-format off */
G_DEFINE_QUARK(spn-corpus-error-quark, spn_corpus_error)
/* clang-format on */

/* ---- data directory ------------------------------------------------------------------------ */

/* A program started from the build tree (tests, `build/app/spanscope`) is not installed; an
 * installed copy never lives there. /proc/self/exe is resolved, so the build root is too. */
static gboolean
running_uninstalled(void)
{
  g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
  g_autofree char *root = realpath(SPN_BUILD_ROOT, NULL);
  return exe != NULL && root != NULL && g_str_has_prefix(exe, root) &&
         exe[strlen(root)] == G_DIR_SEPARATOR;
}

const char *
spn_data_dir(void)
{
  const char *env = g_getenv("SPANSCOPE_DATADIR");
  if (env != NULL && *env != '\0')
    return env;
  return running_uninstalled() ? SPN_SOURCE_DATADIR : SPN_DATADIR;
}

/* ---- small helpers ------------------------------------------------------------------------- */

/* Decodes UTF-8 that spn_text_check_utf8 accepted; `out` needs room for `len` code points. */
static gsize
decode_utf8(const guchar *data, gsize len, gint32 *out)
{
  const guchar *p = data, *end = data + len;
  gsize n = 0;
  while (p < end) {
    if (*p < 0x80) {
      out[n++] = *p++;
    } else {
      out[n++] = (gint32)g_utf8_get_char((const gchar *)p);
      p = (const guchar *)g_utf8_next_char(p);
    }
  }
  return n;
}

static gint32 *
bytes_to_ids(const guchar *data, gsize len)
{
  gint32 *ids = g_new(gint32, MAX(len, 1));
  for (gsize i = 0; i < len; i++)
    ids[i] = data[i];
  return ids;
}

/* ---- reading files ------------------------------------------------------------------------- */

static void
set_io_error(GError **error, const char *path, int err)
{
  g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_IO, "%s: cannot read the file: %s", path,
              g_strerror(err));
}

/* GByteArray lengths are guint: refuse to grow past them rather than abort in GLib. */
static gboolean
append(GByteArray *buf, const guchar *chunk, gsize n, const char *path, GError **error)
{
  if (n > G_MAXUINT - 1 - buf->len) {
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_IO,
                "%s: the file is larger than the 4 GiB a corpus may hold", path);
    return FALSE;
  }
  g_byte_array_append(buf, chunk, (guint)n);
  return TRUE;
}

static GByteArray *
read_plain(const char *path, GError **error)
{
  FILE *file = g_fopen(path, "rb");
  if (file == NULL) {
    set_io_error(error, path, errno);
    return NULL;
  }
  GByteArray *buf = g_byte_array_new();
  guchar chunk[1 << 16];
  size_t got;
  gboolean ok = TRUE;
  while (ok && (got = fread(chunk, 1, sizeof chunk, file)) > 0)
    ok = append(buf, chunk, got, path, error);
  int err = ferror(file) ? errno : 0;
  fclose(file);
  if (ok && err != 0) {
    set_io_error(error, path, err);
    ok = FALSE;
  }
  if (!ok) {
    g_byte_array_unref(buf);
    return NULL;
  }
  return buf;
}

static GByteArray *
gunzip(const char *path, const GByteArray *gz, GError **error)
{
  g_autoptr(GInputStream) raw = g_memory_input_stream_new_from_data(gz->data, gz->len, NULL);
  g_autoptr(GZlibDecompressor) gunzip = g_zlib_decompressor_new(G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  g_autoptr(GInputStream) in = g_converter_input_stream_new(raw, G_CONVERTER(gunzip));
  g_autoptr(GByteArray) out = g_byte_array_new();
  guchar chunk[1 << 16];
  g_autoptr(GError) local = NULL;
  gssize got;
  gboolean ok = TRUE;
  while (ok && (got = g_input_stream_read(in, chunk, sizeof chunk, NULL, &local)) > 0)
    ok = append(out, chunk, (gsize)got, path, error);
  if (ok && got < 0) {
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_IO,
                "%s: cannot decompress the file (%s); a *.gz file must hold complete gzip "
                "data",
                path, local->message);
    ok = FALSE;
  }
  return ok ? g_steal_pointer(&out) : NULL;
}

/* Reads a whole file, gunzipping names ending in ".gz". The data is NUL-terminated one byte past
 * *len so tokenizers may cut C strings out of it in place. An empty file is an error. */
static guchar *
read_file(const char *path, gsize *len, GError **error)
{
  GByteArray *buf = read_plain(path, error);
  if (buf != NULL && g_str_has_suffix(path, ".gz")) {
    GByteArray *plain = gunzip(path, buf, error);
    g_byte_array_unref(buf);
    buf = plain;
  }
  if (buf == NULL)
    return NULL;
  if (buf->len == 0) {
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_TOO_SMALL, "%s: file is empty", path);
    g_byte_array_unref(buf);
    return NULL;
  }
  *len = buf->len;
  g_byte_array_append(buf, (const guint8 *)"", 1);
  return g_byte_array_free(buf, FALSE);
}

/* ---- CHARS corpora ------------------------------------------------------------------------- */

static char *
char_text(gunichar cp)
{
  char buf[8];
  int n = g_unichar_to_utf8(cp, buf);
  return g_strndup(buf, (gsize)n);
}

/* Builds the CHARS vocabulary of the training split and rewrites all three splits from code
 * points to token ids in place. A table indexed by code point keeps this one cheap pass over
 * the corpus; its zero entries double as <unk>. */
static SpnVocab *
chars_tokenize(gint32 *const splits[3], const gsize n[3])
{
  g_autofree gint32 *id_of = g_new0(gint32, N_CODE_POINTS);
  for (gsize i = 0; i < n[SPN_SPLIT_TRAIN]; i++)
    id_of[splits[SPN_SPLIT_TRAIN][i]] = 1;

  GPtrArray *tokens = g_ptr_array_new();
  g_ptr_array_add(tokens, g_strdup(SPN_VOCAB_UNK));
  for (gunichar cp = 0; cp < N_CODE_POINTS; cp++) {
    if (id_of[cp] == 0)
      continue;
    id_of[cp] = (gint32)tokens->len;
    g_ptr_array_add(tokens, char_text(cp));
  }

  for (int s = 0; s < 3; s++)
    for (gsize i = 0; i < n[s]; i++)
      splits[s][i] = id_of[splits[s][i]];
  return spn_vocab_new_take(SPN_VOCAB_CHARS, tokens, NULL);
}

/* Text into code points (CHARS) or byte values (BYTES), not yet mapped to ids; `name` is what
 * an error message calls the text. */
static gint32 *
units_from_data(const char *name, const guchar *data, gsize len, gboolean byte_mode, gsize *n,
                GError **error)
{
  gint32 *units = NULL;
  if (byte_mode) {
    units = bytes_to_ids(data, len);
    *n = len;
  } else if (spn_text_check_utf8(name, data, len, "; use byte mode for binary data", error)) {
    units = g_new(gint32, len);
    *n = decode_utf8(data, len, units);
    units = g_renew(gint32, units, *n); /* multi-byte text decodes to fewer units than bytes */
  }
  return units;
}

/* Reads one file into code points (CHARS) or byte values (BYTES), not yet mapped to ids. */
static gint32 *
read_units(const char *path, gboolean byte_mode, gsize *n, GError **error)
{
  gsize len;
  g_autofree guchar *data = read_file(path, &len, error);
  if (data == NULL)
    return NULL;
  return units_from_data(path, data, len, byte_mode, n, error);
}

static void
corpus_finish_units(SpnCorpus *corpus, gboolean byte_mode)
{
  corpus->vocab = byte_mode ? spn_vocab_new(SPN_VOCAB_BYTES, 256, NULL)
                            : chars_tokenize(corpus->tokens, corpus->n_tokens);
}

static gint32 *
slice(const gint32 *units, gsize from, gsize to)
{
  gint32 *copy = g_new(gint32, MAX(to - from, 1));
  memcpy(copy, units + from, (to - from) * sizeof *copy);
  return copy;
}

/* One text, split by position: first 90 % train, next 5 % valid, last 5 % test. Takes `units`. */
static gboolean
split_units(SpnCorpus *corpus, const char *path, gint32 *units, gsize n, gboolean byte_mode,
            GError **error)
{
  gsize ends[3] = {(gsize)((guint64)n * SPN_TRAIN_END_PCT / 100),
                   (gsize)((guint64)n * SPN_VALID_END_PCT / 100), n};
  for (int s = 0; s < 3; s++) {
    gsize start = s == 0 ? 0 : ends[s - 1];
    if (ends[s] > start)
      continue;
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_TOO_SMALL,
                "%s: the %s split is empty: the file has only %" G_GSIZE_FORMAT
                " %s, too few for a 90/5/5 split; use a larger file or a directory with "
                "train.txt, valid.txt and test.txt",
                path, split_names[s], n, byte_mode ? "bytes" : "characters");
    g_free(units);
    return FALSE;
  }

  corpus->tokens[SPN_SPLIT_VALID] = slice(units, ends[0], ends[1]);
  corpus->tokens[SPN_SPLIT_TEST] = slice(units, ends[1], ends[2]);
  corpus->tokens[SPN_SPLIT_TRAIN] = g_renew(gint32, units, ends[0]);
  corpus->n_tokens[SPN_SPLIT_TRAIN] = ends[0];
  corpus->n_tokens[SPN_SPLIT_VALID] = ends[1] - ends[0];
  corpus->n_tokens[SPN_SPLIT_TEST] = ends[2] - ends[1];
  corpus_finish_units(corpus, byte_mode);
  return TRUE;
}

static gboolean
load_file(SpnCorpus *corpus, const char *path, gboolean byte_mode, GError **error)
{
  gsize n;
  gint32 *units = read_units(path, byte_mode, &n, error);
  return units != NULL && split_units(corpus, path, units, n, byte_mode, error);
}

/* Fails before reading anything when one of the three files is missing. */
static gboolean
dir_paths(const char *dir, char *paths[3], GError **error)
{
  for (int s = 0; s < 3; s++)
    paths[s] = g_build_filename(dir, split_files[s], NULL);
  for (int s = 0; s < 3; s++) {
    if (g_file_test(paths[s], G_FILE_TEST_EXISTS))
      continue;
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_IO,
                "%s: file is missing; a corpus directory holds train.txt, valid.txt and test.txt",
                paths[s]);
    return FALSE;
  }
  return TRUE;
}

static void
free_paths(char *paths[3])
{
  for (int s = 0; s < 3; s++)
    g_free(paths[s]);
}

static gboolean
load_dir(SpnCorpus *corpus, const char *dir, gboolean byte_mode, GError **error)
{
  char *paths[3];
  gboolean ok = dir_paths(dir, paths, error);
  for (int s = 0; ok && s < 3; s++) {
    corpus->tokens[s] = read_units(paths[s], byte_mode, &corpus->n_tokens[s], error);
    ok = corpus->tokens[s] != NULL;
  }
  free_paths(paths);
  if (ok)
    corpus_finish_units(corpus, byte_mode);
  return ok;
}

/* ---- REF corpora --------------------------------------------------------------------------- */

/* The vocabulary while train.txt is read; frozen for valid.txt and test.txt. */
typedef struct {
  GPtrArray *tokens;
  GHashTable *index; /* text -> id + 1; keys are the strings of `tokens` */
  gboolean frozen;
} SpnRefBuilder;

/* One file of the reference format being tokenized. */
typedef struct {
  const char *path;
  const char *train_path; /* named when a token is missing from the vocabulary */
  guchar *data;           /* NUL-terminated at len; tokens are cut out of it in place */
  gsize len;
  gint32 *ids;
  gsize n;
} SpnRefFile;

/* Id of `text`, adding it unless frozen; -1 when frozen and unknown. */
static gint32
ref_id(SpnRefBuilder *builder, const char *text)
{
  gpointer found = g_hash_table_lookup(builder->index, text);
  if (found != NULL)
    return GPOINTER_TO_INT(found) - 1;
  if (builder->frozen)
    return -1;
  char *copy = g_strdup(text);
  g_ptr_array_add(builder->tokens, copy);
  g_hash_table_insert(builder->index, copy, GINT_TO_POINTER(builder->tokens->len));
  return (gint32)builder->tokens->len - 1;
}

/* The reference reads a file line by line, splitting each line on whitespace and appending
 * <eos>, so a last line without '\n' still ends in <eos>. Prepared files are ASCII, so ASCII
 * whitespace is all the splitting needed. */
static gsize
ref_count(const guchar *data, gsize len)
{
  gsize n = 0;
  for (gsize i = 0; i < len; i++) {
    if (data[i] == '\n')
      n++;
    else if (!g_ascii_isspace(data[i]) && (i == 0 || g_ascii_isspace(data[i - 1])))
      n++;
  }
  return n + (data[len - 1] != '\n');
}

static gboolean
ref_push(SpnRefFile *file, SpnRefBuilder *builder, const char *text, gsize offset, GError **error)
{
  gint32 id = ref_id(builder, text);
  if (id >= 0) {
    file->ids[file->n++] = id;
    return TRUE;
  }
  g_autofree char *quoted = spn_text_quote(text);
  g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT,
              "%s line %" G_GSIZE_FORMAT " (byte %" G_GSIZE_FORMAT
              "): token \"%s\" is not in the vocabulary of %s",
              file->path, spn_text_line_of(file->data, offset), offset, quoted, file->train_path);
  return FALSE;
}

static gboolean
ref_tokenize(SpnRefFile *file, SpnRefBuilder *builder, GError **error)
{
  guchar *data = file->data;
  gsize i = 0;
  file->ids = g_new(gint32, ref_count(data, file->len));
  while (i < file->len) {
    if (data[i] == '\n') {
      if (!ref_push(file, builder, SPN_VOCAB_EOS, i, error))
        return FALSE;
      i++;
    } else if (g_ascii_isspace(data[i])) {
      i++;
    } else {
      gsize start = i;
      while (i < file->len && !g_ascii_isspace(data[i]))
        i++;
      guchar separator = data[i];
      data[i] = '\0';
      gboolean ok = ref_push(file, builder, (const char *)data + start, start, error);
      data[i] = separator;
      if (!ok)
        return FALSE;
    }
  }
  return data[file->len - 1] == '\n' || ref_push(file, builder, SPN_VOCAB_EOS, file->len, error);
}

static gboolean
load_ref_file(SpnCorpus *corpus, SpnSplit split, char *paths[3], SpnRefBuilder *builder,
              GError **error)
{
  SpnRefFile file = {paths[split], paths[SPN_SPLIT_TRAIN], NULL, 0, NULL, 0};
  file.data = read_file(file.path, &file.len, error);
  if (file.data == NULL)
    return FALSE;
  gboolean ok = spn_text_check_utf8(file.path, file.data, file.len, "", error) &&
                ref_tokenize(&file, builder, error);
  g_free(file.data);
  if (!ok) {
    g_free(file.ids);
    return FALSE;
  }
  corpus->tokens[split] = file.ids;
  corpus->n_tokens[split] = file.n;
  return TRUE;
}

static gboolean
load_ref_dir(SpnCorpus *corpus, const char *dir, GError **error)
{
  char *paths[3];
  SpnRefBuilder builder = {g_ptr_array_new_with_free_func(g_free),
                           g_hash_table_new(g_str_hash, g_str_equal), FALSE};
  gboolean ok = dir_paths(dir, paths, error);
  for (int s = 0; ok && s < 3; s++) {
    builder.frozen = s != SPN_SPLIT_TRAIN;
    ok = load_ref_file(corpus, (SpnSplit)s, paths, &builder, error);
  }
  free_paths(paths);
  if (ok) {
    corpus->vocab = spn_vocab_new_take(SPN_VOCAB_REF, builder.tokens, builder.index);
  } else {
    g_hash_table_unref(builder.index);
    g_ptr_array_free(builder.tokens, TRUE);
  }
  return ok;
}

/* ---- corpora ------------------------------------------------------------------------------- */

static gboolean
load_bundled(SpnCorpus *corpus, const SpnCorpusOptions *opts, GError **error)
{
  if (opts->ref_format) {
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT,
                "%s: the bundled corpus is plain text, not in the reference format",
                SPN_BUNDLED_SOURCE);
    return FALSE;
  }
  g_autofree char *path = g_build_filename(spn_data_dir(), BUNDLED_FILE, NULL);
  gboolean ok = load_file(corpus, path, opts->byte_mode, error);
  if (!ok)
    g_prefix_error(error, "bundled corpus: ");
  return ok;
}

static gboolean
load_path(SpnCorpus *corpus, const char *path, const SpnCorpusOptions *opts, GError **error)
{
  GStatBuf st;
  if (g_stat(path, &st) != 0) {
    int err = errno;
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_IO, "%s: %s", path, g_strerror(err));
    return FALSE;
  }
  if (S_ISDIR(st.st_mode))
    return opts->ref_format ? load_ref_dir(corpus, path, error)
                            : load_dir(corpus, path, opts->byte_mode, error);
  if (opts->ref_format) {
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT,
                "%s: the reference format needs a directory holding train.txt, valid.txt and "
                "test.txt",
                path);
    return FALSE;
  }
  return load_file(corpus, path, opts->byte_mode, error);
}

SpnCorpus *
spn_corpus_load(const char *path, const SpnCorpusOptions *opts, GError **error)
{
  static const SpnCorpusOptions defaults = {FALSE, FALSE};
  if (opts == NULL)
    opts = &defaults;
  const char *source = path != NULL ? path : SPN_BUNDLED_SOURCE;
  if (opts->byte_mode && opts->ref_format) {
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT,
                "%s: byte mode and the reference format exclude each other; choose one", source);
    return NULL;
  }

  const SpnDemoCorpus *generated = spn_demo_corpus(source);
  if (generated != NULL) {
    g_autofree char *text = spn_demo_corpus_text(generated, NULL);
    return spn_corpus_from_text(generated->source, text, generated->n_chars, opts, error);
  }

  SpnCorpus *corpus = g_new0(SpnCorpus, 1);
  corpus->source = g_strdup(source);
  gboolean ok = strcmp(source, SPN_BUNDLED_SOURCE) == 0 ? load_bundled(corpus, opts, error)
                                                        : load_path(corpus, source, opts, error);
  if (!ok) {
    spn_corpus_free(corpus);
    return NULL;
  }
  return corpus;
}

SpnCorpus *
spn_corpus_from_text(const char *source, const char *text, gsize len, const SpnCorpusOptions *opts,
                     GError **error)
{
  g_return_val_if_fail(source != NULL, NULL);
  g_return_val_if_fail(text != NULL || len == 0, NULL);
  gboolean byte_mode = opts != NULL && opts->byte_mode;
  if (opts != NULL && opts->ref_format) {
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT,
                "%s: the text is plain, not in the reference format", source);
    return NULL;
  }
  if (len == 0) {
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_TOO_SMALL, "%s: the text is empty",
                source);
    return NULL;
  }
  SpnCorpus *corpus = g_new0(SpnCorpus, 1);
  corpus->source = g_strdup(source);
  gsize n;
  gint32 *units = units_from_data(source, (const guchar *)text, len, byte_mode, &n, error);
  if (units == NULL || !split_units(corpus, source, units, n, byte_mode, error)) {
    spn_corpus_free(corpus);
    return NULL;
  }
  return corpus;
}

void
spn_corpus_free(SpnCorpus *corpus)
{
  if (corpus == NULL)
    return;
  for (int s = 0; s < 3; s++)
    g_free(corpus->tokens[s]);
  spn_vocab_free(corpus->vocab);
  g_free(corpus->source);
  g_free(corpus);
}

gboolean
spn_corpus_check_split(const SpnCorpus *corpus, SpnSplit split, int batch, int block,
                       GError **error)
{
  g_return_val_if_fail(corpus != NULL, FALSE);
  g_return_val_if_fail(split >= SPN_SPLIT_TRAIN && split <= SPN_SPLIT_TEST, FALSE);
  if (batch < 1 || block < 1) {
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_TOO_SMALL,
                "%s: the batch size and the block size must be at least 1 (got %d and %d)",
                corpus->source, batch, block);
    return FALSE;
  }
  /* Each stream gets floor(n / batch) tokens and one block of inputs needs one more target. */
  guint64 needed = (guint64)batch * ((guint64)block + 1);
  if ((guint64)corpus->n_tokens[split] >= needed)
    return TRUE;
  g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_TOO_SMALL,
              "%s: the %s split has %" G_GSIZE_FORMAT " tokens, too few for %d stream%s of one "
              "%d-token block (needs at least %" G_GUINT64_FORMAT "); use a smaller --batch-sz "
              "or --block-sz or a larger corpus",
              corpus->source, split_names[split], corpus->n_tokens[split], batch,
              batch == 1 ? "" : "s", block, needed);
  return FALSE;
}

/* ---- passages ---- */

#define PASSAGE_TOKENS 800

char *
spn_corpus_passage(const SpnCorpus *c)
{
  gsize n = MIN(c->n_tokens[SPN_SPLIT_VALID], (gsize)PASSAGE_TOKENS * 2);
  g_autofree char *raw = spn_vocab_decode(c->vocab, c->tokens[SPN_SPLIT_VALID], n);
  g_autofree char *text = g_utf8_make_valid(raw, -1);
  const char *start = strchr(text, '\n');
  start = start && start - text < 400 ? start + 1 : text;
  const char *end = g_utf8_offset_to_pointer(start, MIN(g_utf8_strlen(start, -1), PASSAGE_TOKENS));
  if (*end != '\0') {   /* more follows: cut after the last line, or else word, that fits */
    const char *half = g_utf8_offset_to_pointer(start, PASSAGE_TOKENS / 2), *cut = end;
    while (cut > half && cut[-1] != '\n')
      cut--;
    if (cut == half)
      for (cut = end; cut > half && cut[-1] != ' '; cut--)
        ;
    if (cut > half)
      end = cut;
  }
  return g_strndup(start, (gsize)(end - start));
}


/* 1 Corinthians 13:1-8 as the bundled corpus has it. It lies at 93 % of the text, inside the
 * validation split (90-95 %), so the model has never trained on it. */
static const char kjv_passage[] =
    "1 Corinthians 13\n"
    "\n"
    "  1 Though I speak with the tongues of men and of angels, and have not charity,\n"
    "I am become as sounding brass, or a tinkling cymbal.\n"
    "  2 And though I have the gift of prophecy, and understand all mysteries, and\n"
    "all knowledge; and though I have all faith, so that I could remove mountains,\n"
    "and have not charity, I am nothing.\n"
    "  3 And though I bestow all my goods to feed the poor, and though I give my\n"
    "body to be burned, and have not charity, it profiteth me nothing.\n"
    "  4 Charity suffereth long, and is kind; charity envieth not; charity vaunteth\n"
    "not itself, is not puffed up,\n"
    "  5 Doth not behave itself unseemly, seeketh not her own, is not easily\n"
    "provoked, thinketh no evil;\n"
    "  6 Rejoiceth not in iniquity, but rejoiceth in the truth;\n"
    "  7 Beareth all things, believeth all things, hopeth all things, endureth all\n"
    "things.\n"
    "  8 Charity never faileth: but whether there be prophecies, they shall fail;\n"
    "whether there be tongues, they shall cease; whether there be knowledge, it\n"
    "shall vanish away.\n";

#define PASSAGE_CHARS 800

/* From the validation split (90-95 %) of a generated corpus, the first sentence whose planted
 * copy follows at its longest distance D, from the sentence up to D + PASSAGE_CHARS characters
 * (so the passage shows the copy), ending after a word. The same constants give the corpus the
 * engine trains on. */
static char *
demo_passage(const SpnDemoCorpus *corpus)
{
  GArray *copies = NULL;
  g_autofree char *text = spn_demo_corpus_text(corpus, &copies);
  int distance = corpus->distances[corpus->n_distances - 1];
  gsize from = corpus->n_chars / 100 * 91 + (gsize)distance;
  gsize start = from - (gsize)distance;
  for (guint i = 0; i < copies->len; i++) {
    const SpnDemoCopy *c = &g_array_index(copies, SpnDemoCopy, i);
    if (c->start >= from && c->distance == distance) {
      start = c->start - (gsize)distance;
      break;
    }
  }
  g_array_unref(copies);
  gsize length = MAX((gsize)PASSAGE_CHARS, (gsize)distance + PASSAGE_CHARS / 4);
  gsize end = MIN(start + length, corpus->n_chars);
  while (end > start + length / 2 && text[end - 1] != ' ')
    end--;
  return g_strndup(text + start, end - start);
}

const char *
spn_corpus_default_passage(const char *source)
{
  static char *passages[2];
  const SpnDemoCorpus *generated = spn_demo_corpus(source);
  if (generated == NULL)
    return kjv_passage;
  char **passage = &passages[g_strcmp0(source, SPN_DEMO_SOURCE) == 0 ? 0 : 1];
  if (g_once_init_enter(passage))
    g_once_init_leave(passage, demo_passage(generated));
  return *passage;
}
