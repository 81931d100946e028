/* corpus.h — text corpora and their train/valid/test splits.
 *
 * A corpus is loaded once into three arrays of token ids, with the vocabulary (vocab.h) of its
 * kind: characters, bytes, or the reference's enwik8/text8 format.
 */
#pragma once
#include <glib.h>

#include "vocab.h"

G_BEGIN_DECLS

typedef enum { SPN_SPLIT_TRAIN = 0, SPN_SPLIT_VALID = 1, SPN_SPLIT_TEST = 2 } SpnSplit;

/* A token id: vocabularies hold at most 65,535 tokens, so a corpus takes two bytes per token. */
typedef guint16 SpnToken;

typedef struct {
  char *source;              /* what the user named: a path, SPN_BUNDLED_SOURCE or "demo" */
  SpnVocab *vocab;
  SpnToken *tokens[3];       /* indexed by SpnSplit */
  gsize n_tokens[3];
} SpnCorpus;

/* What spn_corpus_load() calls the King James Bible shipped in data/. */
#define SPN_BUNDLED_SOURCE "bundled"

/* How to read the corpus named by `path`:
 *  - "bundled" (or NULL): the King James Bible shipped in data/ (kjv.txt.gz), CHARS, 90/5/5 split;
 *  - "demo", "longdemo": the generated texts of demo.h (passages recurring at planted
 *    distances), 90/5/5 split; a file or folder of that name is reached as "./demo";
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
 * "300" is not in the vocabulary of train.txt". Files named *.gz are gunzipped as they are read
 * (offsets then count bytes of the decompressed text). Files are streamed twice (count, then
 * write ids), never held whole: memory is two bytes per token. Empty files and splits are
 * SPN_CORPUS_ERROR_TOO_SMALL; unreadable or missing files, anything but a regular file (a FIFO, a
 * device such as /dev/zero: refused before reading) and texts beyond 4 GiB SPN_CORPUS_ERROR_IO;
 * bad content, and vocabularies of more than 65,535 tokens, SPN_CORPUS_ERROR_FORMAT. */
SpnCorpus *spn_corpus_load(const char *path, const SpnCorpusOptions *opts, GError **error);
/* A text in memory (`len` bytes, UTF-8 unless byte mode) as a corpus split 90/5/5 like a file;
 * `source` names it in the corpus and in error messages. The reference format is refused. */
SpnCorpus *spn_corpus_from_text(const char *source, const char *text, gsize len,
                                const SpnCorpusOptions *opts, GError **error);
void spn_corpus_free(SpnCorpus *corpus);
/* Token ids [from, from + n) of a split, widened to what the model reads. */
void spn_corpus_copy_ids(const SpnCorpus *corpus, SpnSplit split, gsize from, gsize n, gint32 *out);
/* The text of those tokens (spn_vocab_decode). */
char *spn_corpus_decode(const SpnCorpus *corpus, SpnSplit split, gsize from, gsize n);

/* Checks that `split` can feed `batch` streams of blocks of `block` tokens (each stream needs at
 * least block + 1 tokens). Error message names the corpus, the split, its token count and the
 * minimum required. */
gboolean spn_corpus_check_split(const SpnCorpus *corpus, SpnSplit split, int batch, int block,
                                GError **error);

/* Where the bundled data lives: $SPANSCOPE_DATADIR if set; else, for a program run from the
 * build tree (tests, `build/app/spanscope`), the source tree's data/; else the installed data dir
 * (<prefix>/share/spanscope, where `meson install` puts the corpus). Owned by the library. */
const char *spn_data_dir(void);

/* The passage a model of corpus `source` reads by default (the inspector's text, the export's):
 * 1 Corinthians 13:1-8 for the bundled corpus and any other; for the demonstration corpus a
 * passage of its validation split whose first sentence recurs SPN_DEMO_DISTANCE characters later,
 * so a head reaching back for it shows. Both lie in the validation split: the model never trained
 * on them. Owned by the library; safe from any thread. */
const char *spn_corpus_default_passage(const char *source);

/* About 800 tokens of the corpus's validation split, which a model of it never trained on, from
 * the first line start near its beginning to the last line or word end that fits (UTF-8, bytes
 * that are not replaced by U+FFFD): the text a model of a user's corpus reads by default. */
char *spn_corpus_passage(const SpnCorpus *corpus);

#define SPN_CORPUS_ERROR (spn_corpus_error_quark())
GQuark spn_corpus_error_quark(void);
typedef enum { SPN_CORPUS_ERROR_IO, SPN_CORPUS_ERROR_FORMAT, SPN_CORPUS_ERROR_TOO_SMALL } SpnCorpusError;

G_END_DECLS
