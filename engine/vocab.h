/* vocab.h — vocabularies: the map between token ids and text, for the three kinds of corpus.
 *
 *  - SPN_VOCAB_CHARS: character level, one token per Unicode code point; the vocabulary is
 *    token 0 = "<unk>" followed by the code points seen in the *training* split, sorted by
 *    code point. Characters of valid/test (or of user text) not in it map to <unk>.
 *  - SPN_VOCAB_BYTES: byte mode, V = 256, token id = byte value (enwik8-style raw data).
 *  - SPN_VOCAB_REF: the reference's enwik8/text8 format: every line holds space-separated
 *    tokens (decimal byte values), a line end adds the token "<eos>"; the vocabulary is the
 *    tokens in order of first appearance in train.txt ("<eos>" added at each line end).
 *
 * Checkpoints carry the vocabulary, the probe encodes user text with it, generation decodes
 * with it. Errors are SPN_CORPUS_ERROR_FORMAT (corpus.h): a vocabulary is part of a corpus's
 * format.
 */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

#define SPN_VOCAB_UNK "<unk>"
#define SPN_VOCAB_EOS "<eos>"

typedef enum {
  SPN_VOCAB_CHARS = 0,
  SPN_VOCAB_BYTES = 1,
  SPN_VOCAB_REF = 2,
} SpnVocabKind;

typedef struct {
  SpnVocabKind kind;
  int size;
  char **tokens;     /* size entries, UTF-8, NUL-terminated: the text of each token
                        (CHARS: the character, or "<unk>"; BYTES: "\xNN" escapes for
                        non-printable bytes, else the character; REF: "65", "<eos>") */
  GHashTable *index; /* token text -> GINT_TO_POINTER(id + 1); internal to corpus.c */
} SpnVocab;

/* spn_vocab_new copies `tokens`; for SPN_VOCAB_BYTES with size 256 they may be NULL (the texts are
 * fixed). A repeated text keeps the id of its first occurrence in lookups. */
SpnVocab *spn_vocab_new(SpnVocabKind kind, int size, const char *const *tokens);
void spn_vocab_free(SpnVocab *vocab);
SpnVocab *spn_vocab_copy(const SpnVocab *vocab);
/* Token id of a token text, or -1. */
int spn_vocab_lookup(const SpnVocab *vocab, const char *token);
/* Encodes user text (UTF-8 for CHARS/REF; raw bytes for BYTES) into token ids. CHARS: unknown
 * characters become <unk> (id 0). REF: each byte becomes its decimal token, '\n' the token "10"
 * when the vocabulary has it, else <eos>; bytes absent from the vocabulary are an error naming
 * the offset. Invalid UTF-8 in CHARS mode is
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

/* Takes `tokens` (a GPtrArray of owned strings) and `index` (text -> id + 1 over those strings,
 * or NULL to build it); for the corpus loader, which builds vocabularies as it reads. */
SpnVocab *spn_vocab_new_take(SpnVocabKind kind, GPtrArray *tokens, GHashTable *index);
/* Same kind and the same token texts in the same order. */
gboolean spn_vocab_equal(const SpnVocab *a, const SpnVocab *b);

/* Text helpers the corpus loader shares. A token text shortened for quoting in a message: */
char *spn_text_quote(const char *text);
/* "NAME: invalid UTF-8 at byte OFFSET (line LINE): expected a UTF-8 character, found byte 0xNN"
 * and `hint`; offsets count bytes from 0, lines from 1. */
void spn_text_set_utf8_error(GError **error, const char *name, guint64 offset, guint64 line,
                             guchar byte, const char *hint);

G_END_DECLS
