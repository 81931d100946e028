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

#define SPN_BUNDLED "bundled"
#define SPN_BUNDLED_FILE "kjv.txt.gz"
#define SPN_UNK "<unk>"
#define SPN_EOS "<eos>"
#define SPN_N_CODE_POINTS 0x110000
#define SPN_N_BYTES 256
/* A single file is split at these percentages of its length: train | valid | test. */
#define SPN_TRAIN_END_PCT 90
#define SPN_VALID_END_PCT 95
/* U+FFFD REPLACEMENT CHARACTER, what <unk> and impossible ids decode to. */
#define SPN_REPLACEMENT "\xef\xbf\xbd"
/* Longest token text quoted in an error message, in characters. */
#define SPN_MAX_QUOTED 40

static const char *const spn_split_names[3] = {"train", "valid", "test"};
static const char *const spn_split_files[3] = {"train.txt", "valid.txt", "test.txt"};
static const char *const spn_kind_names[3] = {"chars", "bytes", "ref"};

G_DEFINE_QUARK(spn-corpus-error-quark, spn_corpus_error)

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

/* Line number (1-based) of the byte at `offset`, for error messages only. */
static gsize spn_line_of(const guchar *data, gsize offset)
{
  gsize line = 1;
  const guchar *p = data, *end = data + offset;
  while (p < end && (p = memchr(p, '\n', (gsize)(end - p))) != NULL) {
    line++;
    p++;
  }
  return line;
}

/* A token text shortened for quoting in a message; the caller frees it. */
static char *spn_quote_token(const char *text)
{
  if (g_utf8_strlen(text, -1) <= SPN_MAX_QUOTED)
    return g_strdup(text);
  char *cut = g_utf8_substring(text, 0, SPN_MAX_QUOTED);
  char *quoted = g_strconcat(cut, "\xe2\x80\xa6", NULL); /* U+2026 ellipsis */
  g_free(cut);
  return quoted;
}

/* Offsets count bytes from 0; `hint` ends the message when the user can act on it (byte mode). */
static void spn_set_utf8_error(GError **error, const char *name, const guchar *data, gsize offset,
                               const char *hint)
{
  char found[16];
  if (data[offset] == '\0')
    g_strlcpy(found, "a NUL byte", sizeof found);
  else
    g_snprintf(found, sizeof found, "byte 0x%02x", data[offset]);
  g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT,
              "%s: invalid UTF-8 at byte %" G_GSIZE_FORMAT " (line %" G_GSIZE_FORMAT
              "): expected a UTF-8 character, found %s%s",
              name, offset, spn_line_of(data, offset), found, hint);
}

/* g_utf8_validate's rules (NUL bytes, overlong forms and surrogates are rejected), reporting the
 * offset of the first byte of the first malformed sequence. */
static gboolean spn_check_utf8(const char *name, const guchar *data, gsize len, const char *hint,
                               GError **error)
{
  const gchar *end = NULL;
  if (g_utf8_validate_len((const gchar *)data, len, &end))
    return TRUE;
  spn_set_utf8_error(error, name, data, (gsize)((const guchar *)end - data), hint);
  return FALSE;
}

/* Decodes UTF-8 that spn_check_utf8 accepted; `out` needs room for `len` code points. */
static gsize spn_decode_utf8(const guchar *data, gsize len, gint32 *out)
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

static gint32 *spn_bytes_to_ids(const guchar *data, gsize len)
{
  gint32 *ids = g_new(gint32, MAX(len, 1));
  for (gsize i = 0; i < len; i++)
    ids[i] = data[i];
  return ids;
}

/* ---- reading files ------------------------------------------------------------------------- */

static void spn_set_io_error(GError **error, const char *path, int err)
{
  g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_IO, "%s: cannot read the file: %s", path,
              g_strerror(err));
}

/* GByteArray lengths are guint: refuse to grow past them rather than abort in GLib. */
static gboolean spn_append(GByteArray *buf, const guchar *chunk, gsize n, const char *path,
                           GError **error)
{
  if (n > G_MAXUINT - 1 - buf->len) {
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_IO,
                "%s: the file is larger than the 4 GiB a corpus may hold", path);
    return FALSE;
  }
  g_byte_array_append(buf, chunk, (guint)n);
  return TRUE;
}

static GByteArray *spn_read_plain(const char *path, GError **error)
{
  FILE *file = g_fopen(path, "rb");
  if (file == NULL) {
    spn_set_io_error(error, path, errno);
    return NULL;
  }
  GByteArray *buf = g_byte_array_new();
  guchar chunk[1 << 16];
  size_t got;
  gboolean ok = TRUE;
  while (ok && (got = fread(chunk, 1, sizeof chunk, file)) > 0)
    ok = spn_append(buf, chunk, got, path, error);
  int err = ferror(file) ? errno : 0;
  fclose(file);
  if (ok && err != 0) {
    spn_set_io_error(error, path, err);
    ok = FALSE;
  }
  if (!ok) {
    g_byte_array_unref(buf);
    return NULL;
  }
  return buf;
}

static GByteArray *spn_gunzip(const char *path, const GByteArray *gz, GError **error)
{
  GInputStream *raw = g_memory_input_stream_new_from_data(gz->data, gz->len, NULL);
  GZlibDecompressor *gunzip = g_zlib_decompressor_new(G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  GInputStream *in = g_converter_input_stream_new(raw, G_CONVERTER(gunzip));
  GByteArray *out = g_byte_array_new();
  guchar chunk[1 << 16];
  GError *local = NULL;
  gssize got;
  gboolean ok = TRUE;
  while (ok && (got = g_input_stream_read(in, chunk, sizeof chunk, NULL, &local)) > 0)
    ok = spn_append(out, chunk, (gsize)got, path, error);
  g_object_unref(in);
  g_object_unref(gunzip);
  g_object_unref(raw);
  if (ok && got < 0) {
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_IO,
                "%s: cannot decompress the file (%s); a *.gz file must hold complete gzip "
                "data",
                path, local->message);
    g_error_free(local);
    ok = FALSE;
  }
  if (!ok) {
    g_byte_array_unref(out);
    return NULL;
  }
  return out;
}

/* Reads a whole file, gunzipping names ending in ".gz". The data is NUL-terminated one byte past
 * *len so tokenizers may cut C strings out of it in place. An empty file is an error. */
static guchar *spn_read_file(const char *path, gsize *len, GError **error)
{
  GByteArray *buf = spn_read_plain(path, error);
  if (buf != NULL && g_str_has_suffix(path, ".gz")) {
    GByteArray *plain = spn_gunzip(path, buf, error);
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

/* ---- vocabularies -------------------------------------------------------------------------- */

/* The first occurrence of a repeated text keeps the index entry, so lookups stay stable. */
static GHashTable *spn_index_new(char *const *tokens, int size)
{
  GHashTable *index = g_hash_table_new(g_str_hash, g_str_equal);
  for (int i = 0; i < size; i++)
    if (!g_hash_table_contains(index, tokens[i]))
      g_hash_table_insert(index, tokens[i], GINT_TO_POINTER(i + 1));
  return index;
}

/* Takes ownership of the strings in `tokens` and of `index` (built here when NULL; its keys must
 * be the strings of `tokens`). */
static SpnVocab *spn_vocab_adopt(SpnVocabKind kind, GPtrArray *tokens, GHashTable *index)
{
  SpnVocab *vocab = g_new0(SpnVocab, 1);
  vocab->kind = kind;
  vocab->size = (int)tokens->len;
  g_ptr_array_add(tokens, NULL);
  vocab->tokens = (char **)g_ptr_array_free(tokens, FALSE);
  vocab->index = index != NULL ? index : spn_index_new(vocab->tokens, vocab->size);
  return vocab;
}

static char *spn_byte_text(guint byte)
{
  if (byte >= 0x20 && byte <= 0x7e)
    return g_strdup_printf("%c", (char)byte);
  return g_strdup_printf("\\x%02x", byte);
}

static SpnVocab *spn_bytes_vocab_new(void)
{
  GPtrArray *tokens = g_ptr_array_sized_new(SPN_N_BYTES + 1);
  for (guint b = 0; b < SPN_N_BYTES; b++)
    g_ptr_array_add(tokens, spn_byte_text(b));
  return spn_vocab_adopt(SPN_VOCAB_BYTES, tokens, NULL);
}

SpnVocab *spn_vocab_new(SpnVocabKind kind, int size, const char *const *tokens)
{
  g_return_val_if_fail(kind >= SPN_VOCAB_CHARS && kind <= SPN_VOCAB_REF, NULL);
  g_return_val_if_fail(size >= 0, NULL);
  /* BYTES texts are fixed, so callers may leave them out. */
  if (tokens == NULL && kind == SPN_VOCAB_BYTES && size == SPN_N_BYTES)
    return spn_bytes_vocab_new();
  g_return_val_if_fail(tokens != NULL || size == 0, NULL);
  GPtrArray *copy = g_ptr_array_sized_new((guint)size + 1);
  for (int i = 0; i < size; i++)
    g_ptr_array_add(copy, g_strdup(tokens[i]));
  return spn_vocab_adopt(kind, copy, NULL);
}

void spn_vocab_free(SpnVocab *vocab)
{
  if (vocab == NULL)
    return;
  g_hash_table_unref(vocab->index);
  g_strfreev(vocab->tokens);
  g_free(vocab);
}

SpnVocab *spn_vocab_copy(const SpnVocab *vocab)
{
  g_return_val_if_fail(vocab != NULL, NULL);
  return spn_vocab_new(vocab->kind, vocab->size, (const char *const *)vocab->tokens);
}

int spn_vocab_lookup(const SpnVocab *vocab, const char *token)
{
  if (vocab == NULL || token == NULL)
    return -1;
  return GPOINTER_TO_INT(g_hash_table_lookup(vocab->index, token)) - 1;
}

/* ---- CHARS corpora ------------------------------------------------------------------------- */

static char *spn_char_text(gunichar cp)
{
  char buf[8];
  int n = g_unichar_to_utf8(cp, buf);
  return g_strndup(buf, (gsize)n);
}

/* Builds the CHARS vocabulary of the training split and rewrites all three splits from code
 * points to token ids in place. A table indexed by code point keeps this one cheap pass over
 * the corpus; its zero entries double as <unk>. */
static SpnVocab *spn_chars_tokenize(gint32 *const splits[3], const gsize n[3])
{
  gint32 *id_of = g_new0(gint32, SPN_N_CODE_POINTS);
  for (gsize i = 0; i < n[SPN_SPLIT_TRAIN]; i++)
    id_of[splits[SPN_SPLIT_TRAIN][i]] = 1;

  GPtrArray *tokens = g_ptr_array_new();
  g_ptr_array_add(tokens, g_strdup(SPN_UNK));
  for (gunichar cp = 0; cp < SPN_N_CODE_POINTS; cp++) {
    if (id_of[cp] == 0)
      continue;
    id_of[cp] = (gint32)tokens->len;
    g_ptr_array_add(tokens, spn_char_text(cp));
  }

  for (int s = 0; s < 3; s++)
    for (gsize i = 0; i < n[s]; i++)
      splits[s][i] = id_of[splits[s][i]];
  g_free(id_of);
  return spn_vocab_adopt(SPN_VOCAB_CHARS, tokens, NULL);
}

/* Text into code points (CHARS) or byte values (BYTES), not yet mapped to ids; `name` is what
 * an error message calls the text. */
static gint32 *spn_units_from_data(const char *name, const guchar *data, gsize len,
                                   gboolean byte_mode, gsize *n, GError **error)
{
  gint32 *units = NULL;
  if (byte_mode) {
    units = spn_bytes_to_ids(data, len);
    *n = len;
  } else if (spn_check_utf8(name, data, len, "; use byte mode for binary data", error)) {
    units = g_new(gint32, len);
    *n = spn_decode_utf8(data, len, units);
    units = g_renew(gint32, units, *n); /* multi-byte text decodes to fewer units than bytes */
  }
  return units;
}

/* Reads one file into code points (CHARS) or byte values (BYTES), not yet mapped to ids. */
static gint32 *spn_read_units(const char *path, gboolean byte_mode, gsize *n, GError **error)
{
  gsize len;
  guchar *data = spn_read_file(path, &len, error);
  if (data == NULL)
    return NULL;
  gint32 *units = spn_units_from_data(path, data, len, byte_mode, n, error);
  g_free(data);
  return units;
}

static void spn_corpus_finish_units(SpnCorpus *corpus, gboolean byte_mode)
{
  corpus->vocab = byte_mode ? spn_bytes_vocab_new()
                            : spn_chars_tokenize(corpus->tokens, corpus->n_tokens);
}

static gint32 *spn_slice(const gint32 *units, gsize from, gsize to)
{
  gint32 *copy = g_new(gint32, MAX(to - from, 1));
  memcpy(copy, units + from, (to - from) * sizeof *copy);
  return copy;
}

/* One text, split by position: first 90 % train, next 5 % valid, last 5 % test. Takes `units`. */
static gboolean spn_split_units(SpnCorpus *corpus, const char *path, gint32 *units, gsize n,
                                gboolean byte_mode, GError **error)
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
                path, spn_split_names[s], n, byte_mode ? "bytes" : "characters");
    g_free(units);
    return FALSE;
  }

  corpus->tokens[SPN_SPLIT_VALID] = spn_slice(units, ends[0], ends[1]);
  corpus->tokens[SPN_SPLIT_TEST] = spn_slice(units, ends[1], ends[2]);
  corpus->tokens[SPN_SPLIT_TRAIN] = g_renew(gint32, units, ends[0]);
  corpus->n_tokens[SPN_SPLIT_TRAIN] = ends[0];
  corpus->n_tokens[SPN_SPLIT_VALID] = ends[1] - ends[0];
  corpus->n_tokens[SPN_SPLIT_TEST] = ends[2] - ends[1];
  spn_corpus_finish_units(corpus, byte_mode);
  return TRUE;
}

static gboolean spn_load_file(SpnCorpus *corpus, const char *path, gboolean byte_mode,
                              GError **error)
{
  gsize n;
  gint32 *units = spn_read_units(path, byte_mode, &n, error);
  return units != NULL && spn_split_units(corpus, path, units, n, byte_mode, error);
}

/* Fails before reading anything when one of the three files is missing. */
static gboolean spn_dir_paths(const char *dir, char *paths[3], GError **error)
{
  for (int s = 0; s < 3; s++)
    paths[s] = g_build_filename(dir, spn_split_files[s], NULL);
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

static void spn_free_paths(char *paths[3])
{
  for (int s = 0; s < 3; s++)
    g_free(paths[s]);
}

static gboolean spn_load_dir(SpnCorpus *corpus, const char *dir, gboolean byte_mode,
                             GError **error)
{
  char *paths[3];
  gboolean ok = spn_dir_paths(dir, paths, error);
  for (int s = 0; ok && s < 3; s++) {
    corpus->tokens[s] = spn_read_units(paths[s], byte_mode, &corpus->n_tokens[s], error);
    ok = corpus->tokens[s] != NULL;
  }
  spn_free_paths(paths);
  if (ok)
    spn_corpus_finish_units(corpus, byte_mode);
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
static gint32 spn_ref_id(SpnRefBuilder *builder, const char *text)
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
static gsize spn_ref_count(const guchar *data, gsize len)
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

static gboolean spn_ref_push(SpnRefFile *file, SpnRefBuilder *builder, const char *text,
                             gsize offset, GError **error)
{
  gint32 id = spn_ref_id(builder, text);
  if (id >= 0) {
    file->ids[file->n++] = id;
    return TRUE;
  }
  char *quoted = spn_quote_token(text);
  g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT,
              "%s line %" G_GSIZE_FORMAT " (byte %" G_GSIZE_FORMAT
              "): token \"%s\" is not in the vocabulary of %s",
              file->path, spn_line_of(file->data, offset), offset, quoted, file->train_path);
  g_free(quoted);
  return FALSE;
}

static gboolean spn_ref_tokenize(SpnRefFile *file, SpnRefBuilder *builder, GError **error)
{
  guchar *data = file->data;
  gsize i = 0;
  file->ids = g_new(gint32, spn_ref_count(data, file->len));
  while (i < file->len) {
    if (data[i] == '\n') {
      if (!spn_ref_push(file, builder, SPN_EOS, i, error))
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
      gboolean ok = spn_ref_push(file, builder, (const char *)data + start, start, error);
      data[i] = separator;
      if (!ok)
        return FALSE;
    }
  }
  return data[file->len - 1] == '\n' || spn_ref_push(file, builder, SPN_EOS, file->len, error);
}

static gboolean spn_load_ref_file(SpnCorpus *corpus, SpnSplit split, char *paths[3],
                                  SpnRefBuilder *builder, GError **error)
{
  SpnRefFile file = {paths[split], paths[SPN_SPLIT_TRAIN], NULL, 0, NULL, 0};
  file.data = spn_read_file(file.path, &file.len, error);
  if (file.data == NULL)
    return FALSE;
  gboolean ok = spn_check_utf8(file.path, file.data, file.len, "", error) &&
                spn_ref_tokenize(&file, builder, error);
  g_free(file.data);
  if (!ok) {
    g_free(file.ids);
    return FALSE;
  }
  corpus->tokens[split] = file.ids;
  corpus->n_tokens[split] = file.n;
  return TRUE;
}

static gboolean spn_load_ref_dir(SpnCorpus *corpus, const char *dir, GError **error)
{
  char *paths[3];
  SpnRefBuilder builder = {g_ptr_array_new_with_free_func(g_free),
                           g_hash_table_new(g_str_hash, g_str_equal), FALSE};
  gboolean ok = spn_dir_paths(dir, paths, error);
  for (int s = 0; ok && s < 3; s++) {
    builder.frozen = s != SPN_SPLIT_TRAIN;
    ok = spn_load_ref_file(corpus, (SpnSplit)s, paths, &builder, error);
  }
  spn_free_paths(paths);
  if (ok) {
    corpus->vocab = spn_vocab_adopt(SPN_VOCAB_REF, builder.tokens, builder.index);
  } else {
    g_hash_table_unref(builder.index);
    g_ptr_array_free(builder.tokens, TRUE);
  }
  return ok;
}

/* ---- corpora ------------------------------------------------------------------------------- */

static gboolean spn_load_bundled(SpnCorpus *corpus, const SpnCorpusOptions *opts, GError **error)
{
  if (opts->ref_format) {
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT,
                "%s: the bundled corpus is plain text, not in the reference format", SPN_BUNDLED);
    return FALSE;
  }
  char *path = g_build_filename(spn_data_dir(), SPN_BUNDLED_FILE, NULL);
  gboolean ok = spn_load_file(corpus, path, opts->byte_mode, error);
  if (!ok)
    g_prefix_error(error, "bundled corpus: ");
  g_free(path);
  return ok;
}

static gboolean spn_load_path(SpnCorpus *corpus, const char *path, const SpnCorpusOptions *opts,
                              GError **error)
{
  GStatBuf st;
  if (g_stat(path, &st) != 0) {
    int err = errno;
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_IO, "%s: %s", path, g_strerror(err));
    return FALSE;
  }
  if (S_ISDIR(st.st_mode))
    return opts->ref_format ? spn_load_ref_dir(corpus, path, error)
                            : spn_load_dir(corpus, path, opts->byte_mode, error);
  if (opts->ref_format) {
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT,
                "%s: the reference format needs a directory holding train.txt, valid.txt and "
                "test.txt",
                path);
    return FALSE;
  }
  return spn_load_file(corpus, path, opts->byte_mode, error);
}

SpnCorpus *spn_corpus_load(const char *path, const SpnCorpusOptions *opts, GError **error)
{
  static const SpnCorpusOptions defaults = {FALSE, FALSE};
  if (opts == NULL)
    opts = &defaults;
  const char *source = path != NULL ? path : SPN_BUNDLED;
  if (opts->byte_mode && opts->ref_format) {
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT,
                "%s: byte mode and the reference format exclude each other; choose one", source);
    return NULL;
  }

  if (strcmp(source, SPN_DEMO_SOURCE) == 0)
    return spn_demo_corpus(SPN_DEMO_SEED, SPN_DEMO_CHARS, SPN_DEMO_DISTANCE, opts, error);

  SpnCorpus *corpus = g_new0(SpnCorpus, 1);
  corpus->source = g_strdup(source);
  gboolean ok = strcmp(source, SPN_BUNDLED) == 0 ? spn_load_bundled(corpus, opts, error)
                                                 : spn_load_path(corpus, source, opts, error);
  if (!ok) {
    spn_corpus_free(corpus);
    return NULL;
  }
  return corpus;
}

SpnCorpus *spn_corpus_from_text(const char *source, const char *text, gsize len,
                                 const SpnCorpusOptions *opts, GError **error)
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
  gint32 *units = spn_units_from_data(source, (const guchar *)text, len, byte_mode, &n, error);
  if (units == NULL || !spn_split_units(corpus, source, units, n, byte_mode, error)) {
    spn_corpus_free(corpus);
    return NULL;
  }
  return corpus;
}

void spn_corpus_free(SpnCorpus *corpus)
{
  if (corpus == NULL)
    return;
  for (int s = 0; s < 3; s++)
    g_free(corpus->tokens[s]);
  spn_vocab_free(corpus->vocab);
  g_free(corpus->source);
  g_free(corpus);
}

gboolean spn_corpus_check_split(const SpnCorpus *corpus, SpnSplit split, int batch, int block,
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
              corpus->source, spn_split_names[split], corpus->n_tokens[split], batch,
              batch == 1 ? "" : "s", block, needed);
  return FALSE;
}

/* ---- encoding and decoding ----------------------------------------------------------------- */

/* Code point -> id + 1 of the single-character tokens, for encoding user text. */
static GHashTable *spn_chars_table_new(const SpnVocab *vocab)
{
  GHashTable *table = g_hash_table_new(g_direct_hash, g_direct_equal);
  for (int i = 1; i < vocab->size; i++) {
    const char *text = vocab->tokens[i];
    if (g_utf8_validate(text, -1, NULL) && g_utf8_strlen(text, -1) == 1)
      g_hash_table_insert(table, GUINT_TO_POINTER(g_utf8_get_char(text)), GINT_TO_POINTER(i + 1));
  }
  return table;
}

static gsize spn_encode_chars(const SpnVocab *vocab, const guchar *text, gsize len, gint32 *ids,
                              gsize *offsets, GError **error)
{
  if (!spn_check_utf8("text", text, len, "", error))
    return G_MAXSIZE;
  GHashTable *table = spn_chars_table_new(vocab);
  gsize n = 0;
  for (const guchar *p = text; p < text + len; p = (const guchar *)g_utf8_next_char(p)) {
    gunichar cp = g_utf8_get_char((const gchar *)p);
    offsets[n] = (gsize)(p - text);
    gpointer found = g_hash_table_lookup(table, GUINT_TO_POINTER(cp));
    ids[n++] = found != NULL ? GPOINTER_TO_INT(found) - 1 : 0; /* 0 is <unk> */
  }
  g_hash_table_unref(table);
  return n;
}

static gsize spn_encode_bytes(const guchar *text, gsize len, gint32 *ids, gsize *offsets)
{
  for (gsize i = 0; i < len; i++) {
    ids[i] = text[i];
    offsets[i] = i;
  }
  return len;
}

/* REF: every byte is its decimal token, '\n' is <eos>. */
static gsize spn_encode_ref(const SpnVocab *vocab, const guchar *text, gsize len, gint32 *ids,
                            gsize *offsets, GError **error)
{
  char names[SPN_N_BYTES][8];
  gint32 id_of[SPN_N_BYTES];
  for (guint b = 0; b < SPN_N_BYTES; b++) {
    g_snprintf(names[b], sizeof names[b], "%u", b);
    id_of[b] = spn_vocab_lookup(vocab, b == '\n' ? SPN_EOS : names[b]);
  }
  for (gsize i = 0; i < len; i++) {
    if (id_of[text[i]] < 0) {
      g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT,
                  "text: byte 0x%02x at byte %" G_GSIZE_FORMAT " (line %" G_GSIZE_FORMAT
                  ") has no token \"%s\" in the vocabulary",
                  text[i], i, spn_line_of(text, i), text[i] == '\n' ? SPN_EOS : names[text[i]]);
      return G_MAXSIZE;
    }
    ids[i] = id_of[text[i]];
    offsets[i] = i;
  }
  return len;
}

gint32 *spn_vocab_encode(const SpnVocab *vocab, const char *text, gssize len, gsize *n_tokens,
                         gsize **offsets, GError **error)
{
  g_return_val_if_fail(vocab != NULL, NULL);
  g_return_val_if_fail(n_tokens != NULL, NULL);
  g_return_val_if_fail(text != NULL || len == 0, NULL);
  gsize size = len < 0 ? strlen(text) : (gsize)len;
  const guchar *bytes = (const guchar *)(text != NULL ? text : "");

  /* No kind makes more tokens than bytes; +1 keeps the arrays non-NULL for empty text. */
  gint32 *ids = g_new(gint32, size + 1);
  gsize *offs = g_new(gsize, size + 1);
  gsize n;
  switch (vocab->kind) {
  case SPN_VOCAB_BYTES:
    n = spn_encode_bytes(bytes, size, ids, offs);
    break;
  case SPN_VOCAB_REF:
    n = spn_encode_ref(vocab, bytes, size, ids, offs, error);
    break;
  case SPN_VOCAB_CHARS:
  default:
    n = spn_encode_chars(vocab, bytes, size, ids, offs, error);
    break;
  }
  if (n == G_MAXSIZE) {
    g_free(ids);
    g_free(offs);
    return NULL;
  }
  *n_tokens = n;
  if (offsets != NULL)
    *offsets = offs;
  else
    g_free(offs);
  return ids;
}

static void spn_decode_ref_token(GString *out, const char *text)
{
  guint64 byte;
  if (strcmp(text, SPN_EOS) == 0)
    g_string_append_c(out, '\n');
  else if (g_ascii_string_to_unsigned(text, 10, 0, 255, &byte, NULL))
    g_string_append_c(out, (char)byte);
  else
    g_string_append(out, text); /* e.g. text8's letters */
}

char *spn_vocab_decode(const SpnVocab *vocab, const gint32 *ids, gsize n)
{
  g_return_val_if_fail(vocab != NULL, NULL);
  GString *out = g_string_sized_new(n + 1);
  for (gsize i = 0; i < n; i++) {
    gint32 id = ids[i];
    if (id < 0 || id >= vocab->size || (vocab->kind == SPN_VOCAB_CHARS && id == 0))
      g_string_append(out, SPN_REPLACEMENT);
    else if (vocab->kind == SPN_VOCAB_BYTES)
      g_string_append_c(out, (char)id);
    else if (vocab->kind == SPN_VOCAB_REF)
      spn_decode_ref_token(out, vocab->tokens[id]);
    else
      g_string_append(out, vocab->tokens[id]);
  }
  return g_string_free(out, FALSE);
}

/* ---- JSON ---------------------------------------------------------------------------------- */

char *spn_vocab_to_json(const SpnVocab *vocab)
{
  g_return_val_if_fail(vocab != NULL, NULL);
  JsonBuilder *builder = json_builder_new();
  json_builder_begin_object(builder);
  json_builder_set_member_name(builder, "kind");
  json_builder_add_string_value(builder, spn_kind_names[vocab->kind]);
  json_builder_set_member_name(builder, "tokens");
  json_builder_begin_array(builder);
  for (int i = 0; i < vocab->size; i++)
    json_builder_add_string_value(builder, vocab->tokens[i]);
  json_builder_end_array(builder);
  json_builder_end_object(builder);

  JsonNode *root = json_builder_get_root(builder);
  JsonGenerator *generator = json_generator_new();
  json_generator_set_root(generator, root);
  char *json = json_generator_to_data(generator, NULL);
  g_object_unref(generator);
  json_node_unref(root);
  g_object_unref(builder);
  return json;
}

static gboolean spn_vocab_json_error(GError **error, const char *format, ...) G_GNUC_PRINTF(2, 3);

static gboolean spn_vocab_json_error(GError **error, const char *format, ...)
{
  va_list args;
  va_start(args, format);
  char *detail = g_strdup_vprintf(format, args);
  va_end(args);
  g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT, "vocabulary JSON: %s", detail);
  g_free(detail);
  return FALSE;
}

static gboolean spn_node_is_string(JsonNode *node)
{
  return node != NULL && JSON_NODE_HOLDS_VALUE(node) &&
         json_node_get_value_type(node) == G_TYPE_STRING;
}

static gboolean spn_parse_kind(JsonObject *object, SpnVocabKind *kind, GError **error)
{
  JsonNode *node = json_object_get_member(object, "kind");
  if (!spn_node_is_string(node))
    return spn_vocab_json_error(error, "expected a string member \"kind\" (\"chars\", \"bytes\" "
                                       "or \"ref\")");
  const char *name = json_node_get_string(node);
  for (int k = 0; k < 3; k++) {
    if (strcmp(name, spn_kind_names[k]) == 0) {
      *kind = (SpnVocabKind)k;
      return TRUE;
    }
  }
  return spn_vocab_json_error(error, "unknown kind \"%s\" (expected \"chars\", \"bytes\" or "
                                     "\"ref\")", name);
}

/* Fills `tokens` (borrowed strings owned by the JSON tree) from the "tokens" member. */
static gboolean spn_parse_tokens(JsonObject *object, GPtrArray *tokens, GError **error)
{
  JsonNode *node = json_object_get_member(object, "tokens");
  if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node))
    return spn_vocab_json_error(error, "expected an array member \"tokens\"");
  JsonArray *array = json_node_get_array(node);
  guint n = json_array_get_length(array);
  if (n == 0 || n > (guint)G_MAXINT32)
    return spn_vocab_json_error(error, "\"tokens\" holds %u entries, expected 1 to %d", n,
                                G_MAXINT32);
  for (guint i = 0; i < n; i++) {
    JsonNode *element = json_array_get_element(array, i);
    if (!spn_node_is_string(element))
      return spn_vocab_json_error(error, "token %u is not a string", i);
    g_ptr_array_add(tokens, (gpointer)json_node_get_string(element));
  }
  return TRUE;
}

/* What a token of `kind` at position `i` must look like; NULL when it is fine. */
static char *spn_token_problem(SpnVocabKind kind, guint i, const char *text)
{
  if (kind == SPN_VOCAB_BYTES) {
    char *expected = spn_byte_text(i);
    char *problem = strcmp(text, expected) == 0
                        ? NULL
                        : g_strdup_printf("bytes token %u is \"%s\", expected \"%s\"", i, text,
                                          expected);
    g_free(expected);
    return problem;
  }
  if (kind == SPN_VOCAB_CHARS && i == 0)
    return strcmp(text, SPN_UNK) == 0 ? NULL
                                      : g_strdup("chars token 0 must be \"" SPN_UNK "\"");
  if (kind == SPN_VOCAB_CHARS && g_utf8_strlen(text, -1) != 1)
    return g_strdup_printf("chars token %u must be a single character", i);
  if (*text == '\0')
    return g_strdup_printf("token %u is empty", i);
  return NULL;
}

static gboolean spn_check_tokens(SpnVocabKind kind, GPtrArray *tokens, GError **error)
{
  if (kind == SPN_VOCAB_BYTES && tokens->len != SPN_N_BYTES)
    return spn_vocab_json_error(error, "a bytes vocabulary has 256 tokens, found %u",
                                tokens->len);
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
  gboolean ok = TRUE;
  for (guint i = 0; ok && i < tokens->len; i++) {
    const char *text = g_ptr_array_index(tokens, i);
    char *problem = spn_token_problem(kind, i, text);
    if (problem != NULL)
      ok = spn_vocab_json_error(error, "%s", problem);
    else if (g_hash_table_contains(seen, text))
      ok = spn_vocab_json_error(error, "token %u (\"%s\") appears twice", i, text);
    g_hash_table_add(seen, (gpointer)text);
    g_free(problem);
  }
  g_hash_table_unref(seen);
  return ok;
}

SpnVocab *spn_vocab_from_json(const char *json, GError **error)
{
  g_return_val_if_fail(json != NULL, NULL);
  JsonParser *parser = json_parser_new();
  GError *local = NULL;
  SpnVocab *vocab = NULL;
  if (!json_parser_load_from_data(parser, json, -1, &local)) {
    spn_vocab_json_error(error, "%s", local->message);
    g_error_free(local);
    g_object_unref(parser);
    return NULL;
  }

  JsonNode *root = json_parser_get_root(parser);
  GPtrArray *tokens = g_ptr_array_new();
  SpnVocabKind kind = SPN_VOCAB_CHARS;
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
    spn_vocab_json_error(error, "expected an object with \"kind\" and \"tokens\"");
  else if (spn_parse_kind(json_node_get_object(root), &kind, error) &&
           spn_parse_tokens(json_node_get_object(root), tokens, error) &&
           spn_check_tokens(kind, tokens, error))
    vocab = spn_vocab_new(kind, (int)tokens->len, (const char *const *)tokens->pdata);
  g_ptr_array_free(tokens, TRUE);
  g_object_unref(parser);
  return vocab;
}
