/* corpus.h — text corpora, vocabularies and the train/valid/test splits.
 *
 * A corpus is loaded once into three arrays of token ids. Three kinds exist:
 *  - SPN_VOCAB_CHARS: character level, one token per Unicode code point; the vocabulary is
 *    token 0 = "<unk>" followed by the code points seen in the *training* split, sorted by
 *    code point. Characters of valid/test (or of user text) not in it map to <unk>.
 *  - SPN_VOCAB_BYTES: byte mode, V = 256, token id = byte value (enwik8-style raw data).
 *  - SPN_VOCAB_REF: the reference's enwik8/text8 format: every line holds space-separated
 *    tokens (decimal byte values), a line end adds the token "<eos>"; the vocabulary is the
 *    tokens in order of first appearance in train.txt ("<eos>" added at each line end).
 */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  SPN_VOCAB_CHARS = 0,
  SPN_VOCAB_BYTES = 1,
  SPN_VOCAB_REF = 2,
} SpnVocabKind;

typedef enum { SPN_SPLIT_TRAIN = 0, SPN_SPLIT_VALID = 1, SPN_SPLIT_TEST = 2 } SpnSplit;

typedef struct {
  SpnVocabKind kind;
  int size;
  char **tokens;       /* size entries, UTF-8, NUL-terminated: the text of each token
                          (CHARS: the character, or "<unk>"; BYTES: "\xNN" escapes for
                          non-printable bytes, else the character; REF: "65", "<eos>") */
  GHashTable *index;   /* token text -> GINT_TO_POINTER(id + 1); internal to corpus.c */
} SpnVocab;

typedef struct {
  char *source;              /* what the user named: a path, or "bundled" */
  SpnVocab *vocab;
  gint32 *tokens[3];         /* indexed by SpnSplit */
  gsize n_tokens[3];
} SpnCorpus;

/* How to read the corpus named by `path`:
 *  - "bundled" (or NULL): the King James Bible shipped in data/ (kjv.txt.gz), CHARS, 90/5/5 split;
 *  - "demo": the generated span-demo text of demo.h (passages recurring at a planted distance),
 *    90/5/5 split; a file or folder named demo is reached as "./demo";
 *  - a regular file: UTF-8 text, CHARS (or BYTES when byte_mode), split 90/5/5 by position
 *    (first 90 % train, next 5 % valid, last 5 % test; CHARS split at character boundaries);
 *  - a directory with train.txt, valid.txt, test.txt: each file one split;
 *  - ref_format: a directory in the reference's format (see above). */
typedef struct {
  gboolean byte_mode;
  gboolean ref_format;
} SpnCorpusOptions;

/* Errors name the file, the byte offset (counted from 0) and what was expected, e.g.
 * "corpus.txt: invalid UTF-8 at byte 1234 (line 17): expected a UTF-8 character, found byte 0xff;
 * use byte mode for binary data", "valid.txt: file is empty", "test.txt line 7 (byte 402): token
 * "300" is not in the vocabulary of train.txt". Files named *.gz are gunzipped first (offsets
 * then count bytes of the decompressed text). Empty files and splits are
 * SPN_CORPUS_ERROR_TOO_SMALL, unreadable or missing files SPN_CORPUS_ERROR_IO, bad content
 * SPN_CORPUS_ERROR_FORMAT. */
SpnCorpus *spn_corpus_load(const char *path, const SpnCorpusOptions *opts, GError **error);
/* A text in memory (`len` bytes, UTF-8 unless byte mode) as a corpus split 90/5/5 like a file;
 * `source` names it in the corpus and in error messages. The reference format is refused. */
SpnCorpus *spn_corpus_from_text(const char *source, const char *text, gsize len,
                                const SpnCorpusOptions *opts, GError **error);
void spn_corpus_free(SpnCorpus *corpus);

/* Checks that `split` can feed `batch` streams of blocks of `block` tokens (each stream needs at
 * least block + 1 tokens). Error message names the corpus, the split, its token count and the
 * minimum required. */
gboolean spn_corpus_check_split(const SpnCorpus *corpus, SpnSplit split, int batch, int block,
                                GError **error);

/* Where the bundled data lives: $SPANSCOPE_DATADIR if set; else, for a program run from the
 * build tree (tests, `build/app/spanscope`), the source tree's data/; else the installed data dir
 * (<prefix>/share/spanscope, where `meson install` puts the corpus). Owned by the library. */
const char *spn_data_dir(void);

/* Vocabulary on its own (checkpoints carry it, the probe encodes user text with it).
 * spn_vocab_new copies `tokens`; for SPN_VOCAB_BYTES with size 256 they may be NULL (the texts are
 * fixed). A repeated text keeps the id of its first occurrence in lookups. */
SpnVocab *spn_vocab_new(SpnVocabKind kind, int size, const char *const *tokens);
void spn_vocab_free(SpnVocab *vocab);
SpnVocab *spn_vocab_copy(const SpnVocab *vocab);
/* Token id of a token text, or -1. */
int spn_vocab_lookup(const SpnVocab *vocab, const char *token);
/* Encodes user text (UTF-8 for CHARS/REF; raw bytes for BYTES) into token ids. CHARS: unknown
 * characters become <unk> (id 0). REF: each byte becomes its decimal token, '\n' becomes <eos>;
 * bytes absent from the vocabulary are an error naming the offset. Invalid UTF-8 in CHARS mode is
 * an error naming the byte offset. If offsets is not NULL it receives, for every token, the byte
 * offset in text where the token starts (g_free it). */
gint32 *spn_vocab_encode(const SpnVocab *vocab, const char *text, gssize len, gsize *n_tokens,
                         gsize **offsets, GError **error);
/* Text of a sequence of ids (for generation): CHARS joins characters (<unk> as U+FFFD), BYTES
 * the raw bytes, REF the bytes of the decimal tokens with <eos> as '\n'. */
char *spn_vocab_decode(const SpnVocab *vocab, const gint32 *ids, gsize n);

/* Serialises the vocabulary as JSON: {"kind":"chars","tokens":[...]} ("chars", "bytes" or
 * "ref") and back. from_json rejects other shapes, repeated tokens, a CHARS list not starting with
 * "<unk>" or holding multi-character tokens, and BYTES lists other than the 256 fixed texts. */
char *spn_vocab_to_json(const SpnVocab *vocab);
SpnVocab *spn_vocab_from_json(const char *json, GError **error);

#define SPN_CORPUS_ERROR (spn_corpus_error_quark())
GQuark spn_corpus_error_quark(void);
typedef enum { SPN_CORPUS_ERROR_IO, SPN_CORPUS_ERROR_FORMAT, SPN_CORPUS_ERROR_TOO_SMALL } SpnCorpusError;

G_END_DECLS
