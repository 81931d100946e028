/* vocab.c — vocabularies (vocab.h): building, looking up, encoding user text, decoding
 * generated ids, JSON for checkpoints; and the text helpers error messages share with corpus.c. */
#include "vocab.h"

#include <stdarg.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "corpus.h"
#include "jsonread.h"

#define N_BYTES 256
/* U+FFFD REPLACEMENT CHARACTER, what <unk> and impossible ids decode to. */
#define REPLACEMENT "\xef\xbf\xbd"
/* A vocabulary of 2^24 tokens of up to 12 escaped bytes each; anything larger is not one. */
#define MAX_VOCAB_JSON ((gsize)256 << 20)
/* Longest token text quoted in an error message, in characters. */
#define MAX_QUOTED 40

static const char *const kind_names[3] = {"chars", "bytes", "ref"};

/* ---- text helpers for messages ---- */

/* Line number (1-based) of the byte at `offset`, for error messages only. */
static gsize
text_line_of(const guchar *data, gsize offset)
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
char *
spn_text_quote(const char *text)
{
  if (g_utf8_strlen(text, -1) <= MAX_QUOTED)
    return g_strdup(text);
  g_autofree char *cut = g_utf8_substring(text, 0, MAX_QUOTED);
  return g_strconcat(cut, "\xe2\x80\xa6", NULL); /* U+2026 ellipsis */
}

void
spn_text_set_utf8_error(GError **error, const char *name, guint64 offset, guint64 line,
                        guchar byte, const char *hint)
{
  char found[16];
  if (byte == '\0')
    g_strlcpy(found, "a NUL byte", sizeof found);
  else
    g_snprintf(found, sizeof found, "byte 0x%02x", byte);
  g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT,
              "%s: invalid UTF-8 at byte %" G_GUINT64_FORMAT " (line %" G_GUINT64_FORMAT
              "): expected a UTF-8 character, found %s%s",
              name, offset, line, found, hint);
}

/* g_utf8_validate's rules (NUL bytes, overlong forms and surrogates are rejected), reporting the
 * offset of the first byte of the first malformed sequence. */
static gboolean
check_utf8(const char *name, const guchar *data, gsize len, const char *hint,
                    GError **error)
{
  const gchar *end = NULL;
  if (g_utf8_validate_len((const gchar *)data, len, &end))
    return TRUE;
  gsize at = (gsize)((const guchar *)end - data);
  spn_text_set_utf8_error(error, name, at, text_line_of(data, at), data[at], hint);
  return FALSE;
}

/* ---- vocabularies -------------------------------------------------------------------------- */

/* The first occurrence of a repeated text keeps the index entry, so lookups stay stable. */
static GHashTable *
index_new(char *const *tokens, int size)
{
  GHashTable *index = g_hash_table_new(g_str_hash, g_str_equal);
  for (int i = 0; i < size; i++)
    if (!g_hash_table_contains(index, tokens[i]))
      g_hash_table_insert(index, tokens[i], GINT_TO_POINTER(i + 1));
  return index;
}

/* Takes ownership of the strings in `tokens` and of `index` (built here when NULL; its keys must
 * be the strings of `tokens`). */
SpnVocab *
spn_vocab_new_take(SpnVocabKind kind, GPtrArray *tokens, GHashTable *index)
{
  SpnVocab *vocab = g_new0(SpnVocab, 1);
  vocab->kind = kind;
  vocab->size = (int)tokens->len;
  g_ptr_array_add(tokens, NULL);
  vocab->tokens = (char **)g_ptr_array_free(tokens, FALSE);
  vocab->index = index != NULL ? index : index_new(vocab->tokens, vocab->size);
  return vocab;
}

static char *
byte_text(guint byte)
{
  if (byte >= 0x20 && byte <= 0x7e)
    return g_strdup_printf("%c", (char)byte);
  return g_strdup_printf("\\x%02x", byte);
}

static SpnVocab *
bytes_vocab_new(void)
{
  GPtrArray *tokens = g_ptr_array_sized_new(N_BYTES + 1);
  for (guint b = 0; b < N_BYTES; b++)
    g_ptr_array_add(tokens, byte_text(b));
  return spn_vocab_new_take(SPN_VOCAB_BYTES, tokens, NULL);
}

SpnVocab *
spn_vocab_new(SpnVocabKind kind, int size, const char *const *tokens)
{
  g_return_val_if_fail(kind >= SPN_VOCAB_CHARS && kind <= SPN_VOCAB_REF, NULL);
  g_return_val_if_fail(size >= 0, NULL);
  /* BYTES texts are fixed, so callers may leave them out. */
  if (tokens == NULL && kind == SPN_VOCAB_BYTES && size == N_BYTES)
    return bytes_vocab_new();
  g_return_val_if_fail(tokens != NULL || size == 0, NULL);
  GPtrArray *copy = g_ptr_array_sized_new((guint)size + 1);
  for (int i = 0; i < size; i++)
    g_ptr_array_add(copy, g_strdup(tokens[i]));
  return spn_vocab_new_take(kind, copy, NULL);
}

void
spn_vocab_free(SpnVocab *vocab)
{
  if (vocab == NULL)
    return;
  g_hash_table_unref(vocab->index);
  g_strfreev(vocab->tokens);
  g_free(vocab);
}

SpnVocab *
spn_vocab_copy(const SpnVocab *vocab)
{
  g_return_val_if_fail(vocab != NULL, NULL);
  return spn_vocab_new(vocab->kind, vocab->size, (const char *const *)vocab->tokens);
}

int
spn_vocab_lookup(const SpnVocab *vocab, const char *token)
{
  if (vocab == NULL || token == NULL)
    return -1;
  return GPOINTER_TO_INT(g_hash_table_lookup(vocab->index, token)) - 1;
}

/* ---- encoding and decoding ----------------------------------------------------------------- */

/* Code point -> id + 1 of the single-character tokens, for encoding user text. */
static GHashTable *
chars_table_new(const SpnVocab *vocab)
{
  GHashTable *table = g_hash_table_new(g_direct_hash, g_direct_equal);
  for (int i = 1; i < vocab->size; i++) {
    const char *text = vocab->tokens[i];
    if (g_utf8_validate(text, -1, NULL) && g_utf8_strlen(text, -1) == 1)
      g_hash_table_insert(table, GUINT_TO_POINTER(g_utf8_get_char(text)), GINT_TO_POINTER(i + 1));
  }
  return table;
}

static gsize
encode_chars(const SpnVocab *vocab, const guchar *text, gsize len, gint32 *ids, gsize *offsets,
             GError **error)
{
  if (!check_utf8("text", text, len, "", error))
    return G_MAXSIZE;
  g_autoptr(GHashTable) table = chars_table_new(vocab);
  gsize n = 0;
  for (const guchar *p = text; p < text + len; p = (const guchar *)g_utf8_next_char(p)) {
    gunichar cp = g_utf8_get_char((const gchar *)p);
    offsets[n] = (gsize)(p - text);
    gpointer found = g_hash_table_lookup(table, GUINT_TO_POINTER(cp));
    ids[n++] = found != NULL ? GPOINTER_TO_INT(found) - 1 : 0; /* 0 is <unk> */
  }
  return n;
}

static gsize
encode_bytes(const guchar *text, gsize len, gint32 *ids, gsize *offsets)
{
  for (gsize i = 0; i < len; i++) {
    ids[i] = text[i];
    offsets[i] = i;
  }
  return len;
}

/* REF: every byte is its decimal token. A typed '\n' is the token "10" when the vocabulary has
 * one (a folder whose lines hold real newline bytes, e.g. a whole file written on one line),
 * else <eos>, the line break of an enwik8/text8 folder. */
static gsize
encode_ref(const SpnVocab *vocab, const guchar *text, gsize len, gint32 *ids, gsize *offsets,
           GError **error)
{
  char names[N_BYTES][8];
  gint32 id_of[N_BYTES];
  for (guint b = 0; b < N_BYTES; b++) {
    g_snprintf(names[b], sizeof names[b], "%u", b);
    id_of[b] = spn_vocab_lookup(vocab, names[b]);
  }
  if (id_of['\n'] < 0) {
    id_of['\n'] = spn_vocab_lookup(vocab, SPN_VOCAB_EOS);
    g_strlcpy(names['\n'], SPN_VOCAB_EOS, sizeof names['\n']);
  }
  for (gsize i = 0; i < len; i++) {
    if (id_of[text[i]] < 0) {
      g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT,
                  "text: byte 0x%02x at byte %" G_GSIZE_FORMAT " (line %" G_GSIZE_FORMAT
                  ") has no token \"%s\" in the vocabulary",
                  text[i], i, text_line_of(text, i), names[text[i]]);
      return G_MAXSIZE;
    }
    ids[i] = id_of[text[i]];
    offsets[i] = i;
  }
  return len;
}

gint32 *
spn_vocab_encode(const SpnVocab *vocab, const char *text, gssize len, gsize *n_tokens,
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
  case SPN_VOCAB_BYTES: n = encode_bytes(bytes, size, ids, offs); break;
  case SPN_VOCAB_REF: n = encode_ref(vocab, bytes, size, ids, offs, error); break;
  case SPN_VOCAB_CHARS:
  default: n = encode_chars(vocab, bytes, size, ids, offs, error); break;
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

static void
decode_ref_token(GString *out, const char *text)
{
  guint64 byte;
  if (strcmp(text, SPN_VOCAB_EOS) == 0)
    g_string_append_c(out, '\n');
  else if (g_ascii_string_to_unsigned(text, 10, 0, 255, &byte, NULL))
    g_string_append_c(out, (char)byte);
  else
    g_string_append(out, text); /* e.g. text8's letters */
}

char *
spn_vocab_decode(const SpnVocab *vocab, const gint32 *ids, gsize n)
{
  g_return_val_if_fail(vocab != NULL, NULL);
  GString *out = g_string_sized_new(n + 1);
  for (gsize i = 0; i < n; i++) {
    gint32 id = ids[i];
    if (id < 0 || id >= vocab->size || (vocab->kind == SPN_VOCAB_CHARS && id == 0))
      g_string_append(out, REPLACEMENT);
    else if (vocab->kind == SPN_VOCAB_BYTES)
      g_string_append_c(out, (char)id);
    else if (vocab->kind == SPN_VOCAB_REF)
      decode_ref_token(out, vocab->tokens[id]);
    else
      g_string_append(out, vocab->tokens[id]);
  }
  return g_string_free(out, FALSE);
}

/* ---- JSON ---------------------------------------------------------------------------------- */

char *
spn_vocab_to_json(const SpnVocab *vocab)
{
  g_return_val_if_fail(vocab != NULL, NULL);
  g_autoptr(JsonBuilder) builder = json_builder_new();
  json_builder_begin_object(builder);
  json_builder_set_member_name(builder, "kind");
  json_builder_add_string_value(builder, kind_names[vocab->kind]);
  json_builder_set_member_name(builder, "tokens");
  json_builder_begin_array(builder);
  for (int i = 0; i < vocab->size; i++)
    json_builder_add_string_value(builder, vocab->tokens[i]);
  json_builder_end_array(builder);
  json_builder_end_object(builder);

  g_autoptr(JsonNode) root = json_builder_get_root(builder);
  g_autoptr(JsonGenerator) generator = json_generator_new();
  json_generator_set_root(generator, root);
  return json_generator_to_data(generator, NULL);
}

static gboolean vocab_json_error(GError **error, const char *format, ...) G_GNUC_PRINTF(2, 3);

static gboolean
vocab_json_error(GError **error, const char *format, ...)
{
  va_list args;
  va_start(args, format);
  g_autofree char *detail = g_strdup_vprintf(format, args);
  va_end(args);
  g_set_error(error, SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT, "vocabulary JSON: %s", detail);
  return FALSE;
}

static gboolean
node_is_string(JsonNode *node)
{
  return node != NULL && JSON_NODE_HOLDS_VALUE(node) &&
         json_node_get_value_type(node) == G_TYPE_STRING;
}

static gboolean
parse_kind(JsonObject *object, SpnVocabKind *kind, GError **error)
{
  JsonNode *node = json_object_get_member(object, "kind");
  if (!node_is_string(node))
    return vocab_json_error(error, "expected a string member \"kind\" (\"chars\", \"bytes\" "
                                   "or \"ref\")");
  const char *name = json_node_get_string(node);
  for (int k = 0; k < 3; k++) {
    if (strcmp(name, kind_names[k]) == 0) {
      *kind = (SpnVocabKind)k;
      return TRUE;
    }
  }
  return vocab_json_error(error,
                          "unknown kind \"%s\" (expected \"chars\", \"bytes\" or "
                          "\"ref\")",
                          name);
}

/* Fills `tokens` (borrowed strings owned by the JSON tree) from the "tokens" member. */
static gboolean
parse_tokens(JsonObject *object, GPtrArray *tokens, GError **error)
{
  JsonNode *node = json_object_get_member(object, "tokens");
  if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node))
    return vocab_json_error(error, "expected an array member \"tokens\"");
  JsonArray *array = json_node_get_array(node);
  guint n = json_array_get_length(array);
  if (n == 0 || n > (guint)G_MAXINT32)
    return vocab_json_error(error, "\"tokens\" holds %u entries, expected 1 to %d", n, G_MAXINT32);
  for (guint i = 0; i < n; i++) {
    JsonNode *element = json_array_get_element(array, i);
    if (!node_is_string(element))
      return vocab_json_error(error, "token %u is not a string", i);
    g_ptr_array_add(tokens, (gpointer)json_node_get_string(element));
  }
  return TRUE;
}

static gboolean
has_space(const char *text)
{
  for (const char *p = text; *p != '\0'; p++)
    if (g_ascii_isspace(*p))
      return TRUE;
  return FALSE;
}

/* What a token of `kind` at position `i` must look like; NULL when it is fine: valid UTF-8 (json-glib
 * turns a lone surrogate escape into invalid UTF-8), one character for CHARS, the fixed texts for
 * BYTES, no white space for REF. */
static char *
token_problem(SpnVocabKind kind, guint i, const char *text)
{
  if (kind == SPN_VOCAB_BYTES) {
    g_autofree char *expected = byte_text(i);
    return strcmp(text, expected) == 0
               ? NULL
               : g_strdup_printf("bytes token %u is \"%s\", expected \"%s\"", i, text, expected);
  }
  if (kind == SPN_VOCAB_CHARS && i == 0)
    return strcmp(text, SPN_VOCAB_UNK) == 0
               ? NULL
               : g_strdup("chars token 0 must be \"" SPN_VOCAB_UNK "\"");
  if (!g_utf8_validate(text, -1, NULL))
    return g_strdup_printf("token %u is not valid UTF-8 (a lone surrogate escape such as "
                           "\\ud800?)", i);
  if (kind == SPN_VOCAB_CHARS && g_utf8_strlen(text, -1) != 1)
    return g_strdup_printf("chars token %u must be a single character", i);
  if (*text == '\0')
    return g_strdup_printf("token %u is empty", i);
  if (kind == SPN_VOCAB_REF && strcmp(text, SPN_VOCAB_EOS) != 0 && has_space(text))
    return g_strdup_printf("ref token %u contains white space, which separates tokens", i);
  return NULL;
}

static gboolean
check_tokens(SpnVocabKind kind, GPtrArray *tokens, GError **error)
{
  if (kind == SPN_VOCAB_BYTES && tokens->len != N_BYTES)
    return vocab_json_error(error, "a bytes vocabulary has 256 tokens, found %u", tokens->len);
  g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
  gboolean ok = TRUE;
  for (guint i = 0; ok && i < tokens->len; i++) {
    const char *text = g_ptr_array_index(tokens, i);
    g_autofree char *problem = token_problem(kind, i, text);
    if (problem != NULL)
      ok = vocab_json_error(error, "%s", problem);
    else if (g_hash_table_contains(seen, text))
      ok = vocab_json_error(error, "token %u (\"%s\") appears twice", i, text);
    g_hash_table_add(seen, (gpointer)text);
  }
  return ok;
}

SpnVocab *
spn_vocab_from_json(const char *json, GError **error)
{
  g_return_val_if_fail(json != NULL, NULL);
  g_autoptr(JsonParser) parser =
      spn_json_read(json, strlen(json), MAX_VOCAB_JSON, SPN_JSON_MAX_DEPTH, TRUE, "the text",
                    SPN_CORPUS_ERROR, SPN_CORPUS_ERROR_FORMAT, error);
  if (parser == NULL) {
    g_prefix_error(error, "vocabulary JSON: ");
    return NULL;
  }
  JsonObject *root = spn_json_root_object(parser);
  g_autoptr(GPtrArray) tokens = g_ptr_array_new();
  SpnVocabKind kind = SPN_VOCAB_CHARS;
  if (!parse_kind(root, &kind, error) || !parse_tokens(root, tokens, error) ||
      !check_tokens(kind, tokens, error))
    return NULL;
  return spn_vocab_new(kind, (int)tokens->len, (const char *const *)tokens->pdata);
}

gboolean
spn_vocab_equal(const SpnVocab *a, const SpnVocab *b)
{
  if (a->kind != b->kind || a->size != b->size)
    return FALSE;
  for (int i = 0; i < a->size; i++)
    if (strcmp(a->tokens[i], b->tokens[i]) != 0)
      return FALSE;
  return TRUE;
}
