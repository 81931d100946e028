/* corpus.c — loading corpora into token ids.
 *
 * Files are streamed, never held whole: a first pass validates the text, counts its tokens and
 * finds the vocabulary; a second pass writes 16-bit token ids straight into the three splits. So a
 * corpus costs two bytes per token (twice the file for ASCII text) plus buffers of a few MiB, and a
 * *.gz file is gunzipped twice rather than kept. Only regular files are read (a FIFO or a device
 * such as /dev/zero is refused before a byte is read), and no text longer than MAX_TEXT is
 * accepted, however it is compressed. */
#include "corpus.h"

#include "demo.h"
#include "readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "spanscope-config.h"

#define BUNDLED_FILE "kjv.txt.gz"
#define N_CODE_POINTS 0x110000
/* Text is read in pieces of at most this size (plus the few bytes of a character cut at a piece's
 * end); a smaller source, in pieces of its size, but at least MIN_PIECE. */
#define PIECE ((gsize)1 << 20)
#define MIN_PIECE ((gsize)4096)
/* The most text one file may hold: token ids of more would not fit a desktop's memory. */
#define MAX_TEXT ((guint64)4 << 30)
/* Token ids are 16 bits (SpnToken). */
#define MAX_VOCAB 65535
/* A token of the reference format is a byte's decimal value; anything this long is not one. */
#define MAX_REF_TOKEN 256
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

/* ---- sources: the bytes of a file (gunzipped) or of a text in memory, in pieces ------------- */

typedef struct {
  const char *name;      /* in messages: the path, or the text's source */
  const guchar *text;    /* a text in memory, or NULL for a file */
  gsize text_len, text_pos;
  int fd;                /* the file, -1 for a text */
  gsize piece;           /* bytes read at once: the size of the file or text, within limits */
  GConverter *gunzip;    /* files named *.gz */
  guchar *zbuf;          /* compressed bytes read but not yet converted (`piece` bytes) */
  gsize zlen, zpos;
  gboolean zeof;
  guint64 total;         /* bytes delivered so far */
} Source;

static void
set_io_error(GError **error, const char *path, int err)
{
  g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_IO, "%s: cannot read the file: %s", path,
              g_strerror(err));
}

/* A small corpus needs no megabyte of buffer per pass (a *.gz file that expands is read in
 * several pieces; a file that grows meanwhile, too). */
static gsize
piece_size(guint64 size)
{
  return (gsize)CLAMP(size, MIN_PIECE, PIECE);
}

/* Opens a regular file; anything else is refused before it is read (readfile.h). */
static gboolean
source_open_file(Source *src, const char *path, GError **error)
{
  *src = (Source){.name = path, .fd = -1};
  struct stat sb;
  int fd = spn_open_regular(path, &sb);
  if (fd < 0 && errno != 0) {
    set_io_error(error, path, errno);
    return FALSE;
  }
  if (fd < 0) {
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_IO,
                "%s: is %s; a corpus is a text file or a folder of them", path,
                spn_file_kind(sb.st_mode));
    return FALSE;
  }
  src->fd = fd;
  src->piece = piece_size((guint64)sb.st_size);
  if (g_str_has_suffix(path, ".gz")) {
    src->gunzip = G_CONVERTER(g_zlib_decompressor_new(G_ZLIB_COMPRESSOR_FORMAT_GZIP));
    src->zbuf = g_malloc(src->piece);
  }
  return TRUE;
}

static void
source_open_text(Source *src, const char *name, const guchar *text, gsize len)
{
  *src = (Source){.name = name, .text = text, .text_len = len, .fd = -1, .piece = piece_size(len)};
}

static void
source_close(Source *src)
{
  if (src->fd >= 0)
    close(src->fd);
  g_clear_object(&src->gunzip);
  g_free(src->zbuf);
  src->fd = -1;
  src->zbuf = NULL;
}

/* Back to the first byte, for the second pass. */
static gboolean
source_rewind(Source *src, GError **error)
{
  src->total = 0;
  src->text_pos = 0;
  src->zlen = src->zpos = 0;
  src->zeof = FALSE;
  if (src->gunzip != NULL)
    g_converter_reset(src->gunzip);
  if (src->fd >= 0 && lseek(src->fd, 0, SEEK_SET) != 0) {
    set_io_error(error, src->name, errno);
    return FALSE;
  }
  return TRUE;
}

static gssize
read_fd(Source *src, guchar *buf, gsize cap, GError **error)
{
  for (;;) {
    ssize_t n = read(src->fd, buf, cap);
    if (n >= 0)
      return n;
    if (errno != EINTR) {
      set_io_error(error, src->name, errno);
      return -1;
    }
  }
}

/* Gunzips into buf: at least one byte, or 0 at the end of the data. */
static gssize
read_gunzip(Source *src, guchar *buf, gsize cap, GError **error)
{
  for (;;) {
    if (src->zpos == src->zlen && !src->zeof) {
      gssize n = read_fd(src, src->zbuf, src->piece, error);
      if (n < 0)
        return -1;
      src->zlen = (gsize)n;
      src->zpos = 0;
      src->zeof = n == 0;
    }
    gsize used = 0, made = 0;
    g_autoptr(GError) local = NULL;
    GConverterResult r = g_converter_convert(
        src->gunzip, src->zbuf + src->zpos, src->zlen - src->zpos, buf, cap,
        src->zeof ? G_CONVERTER_INPUT_AT_END : G_CONVERTER_NO_FLAGS, &used, &made, &local);
    src->zpos += used;
    if (r == G_CONVERTER_ERROR && g_error_matches(local, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT) &&
        !src->zeof)
      continue; /* needs more input */
    if (r == G_CONVERTER_ERROR) {
      g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_IO,
                  "%s: cannot decompress the file (%s); a *.gz file must hold complete gzip "
                  "data",
                  src->name, local->message);
      return -1;
    }
    if (made > 0 || r == G_CONVERTER_FINISHED)
      return (gssize)made;
  }
}

/* Up to cap bytes of text; 0 at the end. Refuses to deliver more than MAX_TEXT. */
static gssize
source_read(Source *src, guchar *buf, gsize cap, GError **error)
{
  gssize n;
  if (src->text != NULL) {
    n = (gssize)MIN(cap, src->text_len - src->text_pos);
    memcpy(buf, src->text + src->text_pos, (gsize)n);
    src->text_pos += (gsize)n;
  } else {
    n = src->gunzip != NULL ? read_gunzip(src, buf, cap, error) : read_fd(src, buf, cap, error);
  }
  if (n > 0 && (src->total += (guint64)n) > MAX_TEXT) {
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_IO,
                "%s: the text is longer than the %" G_GUINT64_FORMAT " GiB a corpus file may hold",
                src->name, MAX_TEXT >> 30);
    return -1;
  }
  return n;
}

/* ---- text: pieces that end at character boundaries, checked as UTF-8 ----------------------- */

typedef struct {
  Source *src;
  gboolean check_utf8;   /* FALSE in byte mode */
  const char *hint;      /* ends a UTF-8 error message */
  guchar *buf;           /* the source's piece + 4 bytes */
  gsize carry;           /* bytes of a character cut by the last piece, kept at buf's start */
  guint64 offset;        /* of the current piece in the text */
  guint64 line;          /* 1-based line at `offset` */
} TextReader;

static void
text_reader_init(TextReader *tr, Source *src, gboolean check_utf8, const char *hint)
{
  *tr = (TextReader){.src = src, .check_utf8 = check_utf8, .hint = hint, .line = 1};
  tr->buf = g_malloc(src->piece + 4);
}

static void
text_reader_clear(TextReader *tr)
{
  g_clear_pointer(&tr->buf, g_free);
}

static guint64
count_lines(const guchar *p, gsize n)
{
  guint64 lines = 0;
  const guchar *end = p + n;
  while (p < end && (p = memchr(p, '\n', (gsize)(end - p))) != NULL) {
    lines++;
    p++;
  }
  return lines;
}

/* Where the last complete character of buf[0, n) ends: a lead byte among the last three bytes
 * whose sequence runs past n starts what must be carried into the next piece. */
static gsize
complete_prefix(const guchar *buf, gsize n)
{
  for (gsize back = 1; back <= 3 && back <= n; back++) {
    guchar c = buf[n - back];
    if ((c & 0xc0) == 0x80)
      continue; /* a continuation byte: look further back */
    gsize need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

static gboolean
utf8_error(const TextReader *tr, const guchar *piece, gsize at, GError **error)
{
  spn_text_set_utf8_error(error, tr->src->name, tr->offset + at,
                          tr->line + count_lines(piece, at), piece[at], tr->hint);
  return FALSE;
}

/* The next piece of text in *piece (valid UTF-8 when checked, ending at a character boundary);
 * *n = 0 at the end. The piece stays valid until the next call. */
static gboolean
text_reader_next(TextReader *tr, const guchar **piece, gsize *n, GError **error)
{
  gsize have = tr->carry;
  gssize got = source_read(tr->src, tr->buf + have, tr->src->piece, error);
  if (got < 0)
    return FALSE;
  have += (gsize)got;
  /* at the end a carried, incomplete character is an error of its own */
  gsize whole = tr->check_utf8 && got > 0 ? complete_prefix(tr->buf, have) : have;
  if (tr->check_utf8) {
    const gchar *end = NULL;
    if (!g_utf8_validate_len((const gchar *)tr->buf, whole, &end))
      return utf8_error(tr, tr->buf, (gsize)((const guchar *)end - tr->buf), error);
  }
  *piece = tr->buf;
  *n = whole;
  tr->carry = have - whole;
  return TRUE;
}

/* After the caller is done with the piece of length n: moves on (the carried bytes first). */
static void
text_reader_advance(TextReader *tr, gsize n)
{
  tr->line += count_lines(tr->buf, n);
  tr->offset += n;
  memmove(tr->buf, tr->buf + n, tr->carry);
}

/* Calls fn on every piece of the source's text; FALSE when reading or fn fails. An empty text is
 * SPN_CORPUS_ERROR_TOO_SMALL. */
typedef gboolean (*PieceFunc)(TextReader *tr, const guchar *piece, gsize n, gpointer data,
                              GError **error);

static gboolean
for_each_piece(Source *src, gboolean check_utf8, const char *hint, PieceFunc fn, gpointer data,
               GError **error)
{
  TextReader tr;
  text_reader_init(&tr, src, check_utf8, hint);
  const guchar *piece;
  gsize n;
  gboolean ok;
  while ((ok = text_reader_next(&tr, &piece, &n, error)) && n > 0) {
    if (!(ok = fn(&tr, piece, n, data, error)))
      break;
    text_reader_advance(&tr, n);
  }
  if (ok && tr.offset == 0) {
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_TOO_SMALL, "%s: file is empty",
                src->name);
    ok = FALSE;
  }
  text_reader_clear(&tr);
  return ok;
}

/* ---- token sinks: where the second pass writes ids ------------------------------------------ */

/* Consecutive destinations: the three splits of one text, or the one split of a file. */
typedef struct {
  SpnToken *dest[3];
  gsize len[3];
  int n_dest;
  int at;       /* current destination */
  gsize pos;    /* tokens written into it */
  guint64 written;
} Sink;

/* FALSE when the text holds more tokens than the first pass counted: it changed meanwhile. */
static inline gboolean
sink_put(Sink *sink, SpnToken id)
{
  while (sink->at < sink->n_dest && sink->pos == sink->len[sink->at]) {
    sink->at++;
    sink->pos = 0;
  }
  if (sink->at == sink->n_dest)
    return FALSE;
  sink->dest[sink->at][sink->pos++] = id;
  sink->written++;
  return TRUE;
}

static gboolean
changed_error(const char *name, GError **error)
{
  g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_IO,
              "%s: the file changed while it was read; read it again once it is complete", name);
  return FALSE;
}

/* ---- CHARS and BYTES: a token per code point or per byte ------------------------------------ */

/* Code point tables in pages of 256, allocated when a page is first used: a text touches a few
 * pages, and a load costs kilobytes, not the 11 MB of flat tables over all of Unicode. */
#define PAGE_BITS 8
#define N_PAGES (N_CODE_POINTS >> PAGE_BITS)
#define PAGE_OF(c) ((c) >> PAGE_BITS)
#define IN_PAGE(c) ((c) & ((1u << PAGE_BITS) - 1))

/* What the passes over CHARS text share: code point -> first position (pass one) and code point
 * -> token id (pass two). */
typedef struct {
  guint64 *first[N_PAGES]; /* first position of each code point, G_MAXUINT64 where unseen */
  guint64 count;           /* code points so far (pass one) */
  gboolean mark;           /* pass one: record first positions (the training text only) */
  SpnToken *id_of[N_PAGES];/* token ids; a missing page is all <unk> (pass two) */
  Sink *sink;
} CharsPass;

static inline void
mark_first(CharsPass *cp, gunichar c)
{
  guint64 *page = cp->first[PAGE_OF(c)];
  if (page == NULL) {
    page = cp->first[PAGE_OF(c)] = g_new(guint64, 1u << PAGE_BITS);
    memset(page, 0xff, sizeof(guint64) << PAGE_BITS);
  }
  if (page[IN_PAGE(c)] == G_MAXUINT64)
    page[IN_PAGE(c)] = cp->count;
}

static inline SpnToken
id_of(const CharsPass *cp, gunichar c)
{
  const SpnToken *page = cp->id_of[PAGE_OF(c)];
  return page != NULL ? page[IN_PAGE(c)] : 0;
}

static inline gunichar
next_char(const guchar **p)
{
  gunichar c = **p;
  if (c < 0x80) {
    (*p)++;
    return c;
  }
  c = g_utf8_get_char((const gchar *)*p);
  *p = (const guchar *)g_utf8_next_char(*p);
  return c;
}

static gboolean
chars_count(TextReader *tr, const guchar *piece, gsize n, gpointer data, GError **error)
{
  (void)tr, (void)error;
  CharsPass *cp = data;
  for (const guchar *p = piece, *end = piece + n; p < end;) {
    gunichar c = next_char(&p);
    if (cp->mark)
      mark_first(cp, c);
    cp->count++;
  }
  return TRUE;
}

static gboolean
chars_map(TextReader *tr, const guchar *piece, gsize n, gpointer data, GError **error)
{
  CharsPass *cp = data;
  for (const guchar *p = piece, *end = piece + n; p < end;)
    if (!sink_put(cp->sink, id_of(cp, next_char(&p))))
      return changed_error(tr->src->name, error);
  return TRUE;
}

static gboolean
bytes_count(TextReader *tr, const guchar *piece, gsize n, gpointer data, GError **error)
{
  (void)tr, (void)piece, (void)error;
  *(guint64 *)data += n;
  return TRUE;
}

static gboolean
bytes_map(TextReader *tr, const guchar *piece, gsize n, gpointer data, GError **error)
{
  for (gsize i = 0; i < n; i++)
    if (!sink_put(data, piece[i]))
      return changed_error(tr->src->name, error);
  return TRUE;
}

static char *
char_text(gunichar cp)
{
  char buf[8];
  int n = g_unichar_to_utf8(cp, buf);
  return g_strndup(buf, (gsize)n);
}

/* The CHARS vocabulary: <unk>, then the code points first seen before position `train_end`,
 * by code point; fills id_of (0, <unk>, elsewhere). */
static SpnVocab *
chars_vocab(CharsPass *cp, guint64 train_end, const char *name, GError **error)
{
  GPtrArray *tokens = g_ptr_array_new_with_free_func(g_free);
  g_ptr_array_add(tokens, g_strdup(SPN_VOCAB_UNK));
  for (guint pg = 0; pg < N_PAGES; pg++) {
    if (cp->first[pg] == NULL)
      continue;
    cp->id_of[pg] = g_new0(SpnToken, 1u << PAGE_BITS);
    for (guint i = 0; i < (1u << PAGE_BITS); i++) {
      if (cp->first[pg][i] >= train_end)
        continue;
      if (tokens->len == MAX_VOCAB) {
        g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT,
                    "%s: the training text holds more than %d distinct characters; use byte mode",
                    name, MAX_VOCAB - 1);
        g_ptr_array_free(tokens, TRUE);
        return NULL;
      }
      cp->id_of[pg][i] = (SpnToken)tokens->len;
      g_ptr_array_add(tokens, char_text((pg << PAGE_BITS) | i));
    }
  }
  g_ptr_array_set_free_func(tokens, NULL);
  return spn_vocab_new_take(SPN_VOCAB_CHARS, tokens, NULL);
}

/* One pass: the count (and, for CHARS, first positions) of every file. */
static gboolean
count_units(Source *src, gboolean byte_mode, CharsPass *cp, guint64 *n, GError **error)
{
  if (byte_mode) {
    *n = 0;
    return for_each_piece(src, FALSE, "", bytes_count, n, error);
  }
  guint64 before = cp->count;
  gboolean ok = for_each_piece(src, TRUE, "; use byte mode for binary data", chars_count, cp, error);
  *n = cp->count - before;
  return ok;
}

static gboolean
map_units(Source *src, gboolean byte_mode, CharsPass *cp, Sink *sink, GError **error)
{
  gboolean ok = source_rewind(src, error);
  cp->sink = sink;
  if (ok && byte_mode)
    ok = for_each_piece(src, FALSE, "", bytes_map, sink, error);
  else if (ok)
    ok = for_each_piece(src, TRUE, "; use byte mode for binary data", chars_map, cp, error);
  guint64 expected = 0;
  for (int d = 0; d < sink->n_dest; d++)
    expected += sink->len[d];
  return ok && (sink->written == expected || changed_error(src->name, error));
}

static CharsPass *
chars_pass_new(void)
{
  return g_new0(CharsPass, 1);
}

static void
chars_pass_free(CharsPass *cp)
{
  /* id_of has a page only where first has one; most pages have neither */
  for (guint pg = 0; pg < N_PAGES; pg++) {
    if (cp->first[pg] == NULL)
      continue;
    g_free(cp->first[pg]);
    g_free(cp->id_of[pg]);
  }
  g_free(cp);
}

static SpnVocab *
units_vocab(CharsPass *cp, gboolean byte_mode, guint64 train_end, const char *name, GError **error)
{
  return byte_mode ? spn_vocab_new(SPN_VOCAB_BYTES, 256, NULL)
                   : chars_vocab(cp, train_end, name, error);
}

static void
alloc_split(SpnCorpus *corpus, SpnSplit s, guint64 n)
{
  corpus->tokens[s] = g_new(SpnToken, MAX(n, 1));
  corpus->n_tokens[s] = (gsize)n;
}

/* One text, split by position: first 90 % train, next 5 % valid, last 5 % test. */
static gboolean
load_units(SpnCorpus *corpus, Source *src, gboolean byte_mode, GError **error)
{
  CharsPass *cp = chars_pass_new();
  cp->mark = TRUE;
  guint64 n = 0;
  gboolean ok = count_units(src, byte_mode, cp, &n, error);
  guint64 ends[3] = {n * SPN_TRAIN_END_PCT / 100, n * SPN_VALID_END_PCT / 100, n};
  for (int s = 0; ok && s < 3; s++) {
    guint64 start = s == 0 ? 0 : ends[s - 1];
    if (ends[s] > start)
      continue;
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_TOO_SMALL,
                "%s: the %s split is empty: the file has only %" G_GUINT64_FORMAT
                " %s, too few for a 90/5/5 split; use a larger file or a directory with "
                "train.txt, valid.txt and test.txt",
                src->name, split_names[s], n, byte_mode ? "bytes" : "characters");
    ok = FALSE;
  }
  if (ok)
    ok = (corpus->vocab = units_vocab(cp, byte_mode, ends[0], src->name, error)) != NULL;
  if (ok) {
    Sink sink = {.n_dest = 3};
    for (int s = 0; s < 3; s++) {
      alloc_split(corpus, (SpnSplit)s, ends[s] - (s == 0 ? 0 : ends[s - 1]));
      sink.dest[s] = corpus->tokens[s];
      sink.len[s] = corpus->n_tokens[s];
    }
    ok = map_units(src, byte_mode, cp, &sink, error);
  }
  chars_pass_free(cp);
  return ok;
}

static gboolean
load_file(SpnCorpus *corpus, const char *path, gboolean byte_mode, GError **error)
{
  Source src;
  if (!source_open_file(&src, path, error))
    return FALSE;
  gboolean ok = load_units(corpus, &src, byte_mode, error);
  source_close(&src);
  return ok;
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

static void
close_sources(Source src[3])
{
  for (int s = 0; s < 3; s++)
    source_close(&src[s]);
}

/* One file per split; the vocabulary is the training file's. */
static gboolean
load_dir(SpnCorpus *corpus, const char *dir, gboolean byte_mode, GError **error)
{
  char *paths[3];
  Source src[3] = {{.fd = -1}, {.fd = -1}, {.fd = -1}};
  CharsPass *cp = chars_pass_new();
  guint64 n[3] = {0};
  gboolean ok = dir_paths(dir, paths, error);
  for (int s = 0; ok && s < 3; s++) {
    cp->mark = s == SPN_SPLIT_TRAIN;
    ok = source_open_file(&src[s], paths[s], error) &&
         count_units(&src[s], byte_mode, cp, &n[s], error);
  }
  if (ok)
    ok = (corpus->vocab = units_vocab(cp, byte_mode, G_MAXUINT64, paths[0], error)) != NULL;
  for (int s = 0; ok && s < 3; s++) {
    alloc_split(corpus, (SpnSplit)s, n[s]);
    Sink sink = {.dest = {corpus->tokens[s]}, .len = {corpus->n_tokens[s]}, .n_dest = 1};
    ok = map_units(&src[s], byte_mode, cp, &sink, error);
  }
  close_sources(src);
  chars_pass_free(cp);
  free_paths(paths);
  return ok;
}

/* ---- REF corpora --------------------------------------------------------------------------- */

/* The vocabulary while train.txt is read; frozen for valid.txt and test.txt. */
typedef struct {
  GPtrArray *tokens;
  GHashTable *index; /* text -> id + 1; keys are the strings of `tokens` */
  gboolean frozen;
} RefVocab;

/* One pass over a file of the reference format: the reference reads it line by line, splitting
 * each line on white space and appending <eos>, so a last line without '\n' still ends in <eos>.
 * Prepared files are ASCII, so ASCII white space is all the splitting needed. */
typedef struct {
  const char *path;
  const char *train_path; /* named when a token is missing from the vocabulary */
  RefVocab *vocab;
  GString *token;         /* the token being read (it may span pieces) */
  guint64 token_offset, token_line;
  guchar last;            /* the last byte read */
  guint64 count;          /* pass one: tokens */
  Sink *sink;             /* pass two: where ids go */
} RefPass;

/* Id of `text`, adding it unless frozen; -1 when frozen and unknown, -2 when full. */
static gint32
ref_id(RefVocab *vocab, const char *text)
{
  gpointer found = g_hash_table_lookup(vocab->index, text);
  if (found != NULL)
    return GPOINTER_TO_INT(found) - 1;
  if (vocab->frozen)
    return -1;
  if (vocab->tokens->len == MAX_VOCAB)
    return -2;
  char *copy = g_strdup(text);
  g_ptr_array_add(vocab->tokens, copy);
  g_hash_table_insert(vocab->index, copy, GINT_TO_POINTER(vocab->tokens->len));
  return (gint32)vocab->tokens->len - 1;
}

static gboolean
ref_emit(RefPass *rp, const char *text, guint64 offset, guint64 line, GError **error)
{
  gint32 id = ref_id(rp->vocab, text);
  if (id == -2) {
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT,
                "%s line %" G_GUINT64_FORMAT " (byte %" G_GUINT64_FORMAT "): more than %d "
                "distinct tokens; the reference format holds characters or bytes",
                rp->path, line, offset, MAX_VOCAB);
    return FALSE;
  }
  if (id < 0) {
    g_autofree char *quoted = spn_text_quote(text);
    g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT,
                "%s line %" G_GUINT64_FORMAT " (byte %" G_GUINT64_FORMAT
                "): token \"%s\" is not in the vocabulary of %s",
                rp->path, line, offset, quoted, rp->train_path);
    return FALSE;
  }
  if (rp->sink == NULL) {
    rp->count++;
    return TRUE;
  }
  return sink_put(rp->sink, (SpnToken)id) || changed_error(rp->path, error);
}

static gboolean
ref_end_token(RefPass *rp, GError **error)
{
  if (rp->token->len == 0)
    return TRUE;
  gboolean ok = ref_emit(rp, rp->token->str, rp->token_offset, rp->token_line, error);
  g_string_truncate(rp->token, 0);
  return ok;
}

static gboolean
ref_piece(TextReader *tr, const guchar *piece, gsize n, gpointer data, GError **error)
{
  RefPass *rp = data;
  guint64 line = tr->line;
  for (gsize i = 0; i < n; i++) {
    guchar c = piece[i];
    if (!g_ascii_isspace(c)) {
      if (rp->token->len == 0) {
        rp->token_offset = tr->offset + i;
        rp->token_line = line;
      }
      if (rp->token->len == MAX_REF_TOKEN) {
        g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT,
                    "%s line %" G_GUINT64_FORMAT " (byte %" G_GUINT64_FORMAT "): a token longer "
                    "than %d bytes; the reference format holds decimal byte values",
                    rp->path, rp->token_line, rp->token_offset, MAX_REF_TOKEN);
        return FALSE;
      }
      g_string_append_c(rp->token, (char)c);
    } else if (!ref_end_token(rp, error) ||
               (c == '\n' && !ref_emit(rp, SPN_VOCAB_EOS, tr->offset + i, line, error))) {
      return FALSE;
    }
    if (c == '\n')
      line++;
    rp->last = c;
  }
  return TRUE;
}

static gboolean
ref_pass(RefPass *rp, Source *src, GError **error)
{
  g_string_truncate(rp->token, 0);
  rp->last = '\n';
  if (!for_each_piece(src, TRUE, "", ref_piece, rp, error) || !ref_end_token(rp, error))
    return FALSE;
  /* a last line without '\n' still ends in <eos> */
  return rp->last == '\n' || ref_emit(rp, SPN_VOCAB_EOS, src->total, 0, error);
}

static gboolean
load_ref_file(SpnCorpus *corpus, SpnSplit split, char *paths[3], RefVocab *vocab, GError **error)
{
  Source src;
  if (!source_open_file(&src, paths[split], error))
    return FALSE;
  g_autoptr(GString) token = g_string_new(NULL);
  RefPass rp = {.path = paths[split], .train_path = paths[SPN_SPLIT_TRAIN], .vocab = vocab,
                .token = token};
  gboolean ok = ref_pass(&rp, &src, error) && source_rewind(&src, error);
  if (ok) {
    alloc_split(corpus, split, rp.count);
    Sink sink = {.dest = {corpus->tokens[split]}, .len = {corpus->n_tokens[split]}, .n_dest = 1};
    rp.sink = &sink;
    ok = ref_pass(&rp, &src, error) &&
         (sink.written == rp.count || changed_error(paths[split], error));
  }
  source_close(&src);
  return ok;
}

static gboolean
load_ref_dir(SpnCorpus *corpus, const char *dir, GError **error)
{
  char *paths[3];
  RefVocab vocab = {g_ptr_array_new_with_free_func(g_free),
                    g_hash_table_new(g_str_hash, g_str_equal), FALSE};
  gboolean ok = dir_paths(dir, paths, error);
  for (int s = 0; ok && s < 3; s++) {
    vocab.frozen = s != SPN_SPLIT_TRAIN;
    ok = load_ref_file(corpus, (SpnSplit)s, paths, &vocab, error);
  }
  free_paths(paths);
  if (ok) {
    g_ptr_array_set_free_func(vocab.tokens, NULL);
    corpus->vocab = spn_vocab_new_take(SPN_VOCAB_REF, vocab.tokens, vocab.index);
  } else {
    g_hash_table_unref(vocab.index);
    g_ptr_array_free(vocab.tokens, TRUE);
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
  Source src;
  source_open_text(&src, source, (const guchar *)text, len);
  if (!load_units(corpus, &src, byte_mode, error)) {
    spn_corpus_free(corpus);
    return NULL;
  }
  return corpus;
}

void
spn_corpus_copy_ids(const SpnCorpus *corpus, SpnSplit split, gsize from, gsize n, gint32 *out)
{
  g_return_if_fail(from <= corpus->n_tokens[split] && n <= corpus->n_tokens[split] - from);
  const SpnToken *t = corpus->tokens[split] + from;
  for (gsize i = 0; i < n; i++)
    out[i] = t[i];
}

char *
spn_corpus_decode(const SpnCorpus *corpus, SpnSplit split, gsize from, gsize n)
{
  g_autofree gint32 *ids = g_new(gint32, MAX(n, 1));
  spn_corpus_copy_ids(corpus, split, from, n, ids);
  return spn_vocab_decode(corpus->vocab, ids, n);
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
  g_autofree char *raw = spn_corpus_decode(c, SPN_SPLIT_VALID, 0, n);
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
