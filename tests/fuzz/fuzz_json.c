/* fuzz_json.c — libFuzzer target for the JSON that checkpoints carry as metadata: the first byte
 * picks the parser (configuration, vocabulary, metrics history, or the bounded reader itself),
 * the rest is the text. Anything must parse into something valid or fail with a message; nothing
 * may overflow the stack (json-glib recurses) or allocate what the text does not hold.
 * Build: see tests/fuzz/README.md. */
#include "config.h"
#include "history.h"
#include "jsonread.h"
#include "vocab.h"

#include <string.h>

#include "fuzz.h"

static void
check_config(const char *text)
{
  SpnConfig c;
  spn_config_init_desktop(&c);
  GError *error = NULL;
  if (spn_config_from_json(&c, text, &error) && spn_config_validate(&c, &error)) {
    /* a valid configuration survives its own JSON: once written, reading and writing it again
     * changes nothing (the first write may normalise, e.g. -0 to 0) */
    char *again = spn_config_to_json(&c);
    SpnConfig d, e;
    spn_config_init_desktop(&d);
    g_assert(spn_config_from_json(&d, again, NULL) && spn_config_validate(&d, NULL));
    char *second = spn_config_to_json(&d);
    spn_config_init_reference_small(&e);
    g_assert(spn_config_from_json(&e, second, NULL));
    char *third = spn_config_to_json(&e);
    g_assert(strcmp(second, third) == 0);
    g_free(third);
    g_free(second);
    g_free(again);
  }
  g_clear_error(&error);
}

static void
check_vocab(const char *text)
{
  GError *error = NULL;
  SpnVocab *v = spn_vocab_from_json(text, &error);
  if (v == NULL) {
    g_assert(error != NULL && g_str_has_prefix(error->message, "vocabulary JSON: "));
    g_error_free(error);
    return;
  }
  for (int i = 0; i < v->size; i++)
    g_assert(g_utf8_validate(v->tokens[i], -1, NULL) && v->tokens[i][0] != '\0');
  gint32 ids[4] = {0, v->size - 1, v->size / 2, 0};
  char *decoded = spn_vocab_decode(v, ids, 4);
  /* characters decode to UTF-8; byte and reference vocabularies to the bytes they stand for */
  g_assert(v->kind != SPN_VOCAB_CHARS || g_utf8_validate(decoded, -1, NULL));
  g_free(decoded);
  spn_vocab_free(v);
}

/* The history JSON of older checkpoints, for a model of 1 × 2 and of 4 × 4 heads: what loads
 * holds steps in order and every row's spans. */
static void
check_history(const char *text)
{
  static const int shapes[2][2] = {{1, 2}, {4, 4}};
  for (int k = 0; k < 2; k++) {
    GError *error = NULL;
    SpnHistory *h = spn_history_from_legacy_json(text, shapes[k][0], shapes[k][1], &error);
    if (h == NULL) {
      g_assert(error != NULL && g_str_has_prefix(error->message, "metrics history: "));
      g_error_free(error);
      continue;
    }
    g_assert(spn_history_check(h, NULL));
    double mean, max;
    for (int i = 0; i < h->n; i++)
      spn_span_stats(spn_history_row_spans(h, i), h->nlayers * h->nheads, &mean, &max);
    spn_history_unref(h);
  }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  char *text = g_strndup((const char *)data + 1, size - 1);
  switch (data[0] % 4) {
  case 0: check_config(text); break;
  case 1: check_vocab(text); break;
  case 2: check_history(text); break;
  default: {
    GError *error = NULL;
    JsonParser *p = spn_json_read(text, strlen(text), 1 << 16, SPN_JSON_MAX_DEPTH, FALSE, "fuzz",
                                  G_MARKUP_ERROR, 0, &error);
    g_assert((p == NULL) == (error != NULL));
    g_clear_error(&error);
    if (p != NULL)
      g_object_unref(p);
  }
  }
  g_free(text);
  return 0;
}
