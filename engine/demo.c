/* demo.c — the generated span-demo corpus: pseudo-word sentences, each copied again a fixed
 * distance later (see demo.h for what is planted and why). */
#include "demo.h"

#include <string.h>

#include "rng.h"

#define SPN_DEMO_LEXICON 300
#define SPN_DEMO_MAX_WORD 9
#define SPN_DEMO_NEWLINE_P 0.3
/* Share of words starting with a vowel; the rest alternate from a consonant. */
#define SPN_DEMO_VOWEL_FIRST_P 0.3

static const char spn_demo_consonants[] = "bdfgklmnprstvz";
static const char spn_demo_vowels[] = "aeiou";
/* Relative frequency of word lengths 1 … SPN_DEMO_MAX_WORD in the lexicon. */
static const int spn_demo_length_weights[SPN_DEMO_MAX_WORD] = {1, 4, 8, 10, 10, 8, 5, 3, 2};

typedef struct {
  SpnRng rng;
  GPtrArray *words;                              /* the lexicon, most frequent first */
  double *cumulative;                            /* Zipf weights 1/rank, summed */
  GPtrArray *by_length[SPN_DEMO_MAX_WORD + 1];   /* borrowed from words */
  GString *out;
  GArray *copies;                                /* SpnDemoCopy, scheduled, ascending */
  guint next_copy;                               /* first copy not written yet */
  gsize distance;
} SpnDemoGen;

/* ---- lexicon ------------------------------------------------------------------------------ */

static char spn_demo_pick(SpnRng *rng, const char *letters)
{
  return letters[spn_rng_below(rng, strlen(letters))];
}

/* Consonants and vowels alternate so every word can be read aloud. */
static char *spn_demo_new_word(SpnRng *rng, int length)
{
  char *word = g_malloc(length + 1);
  gboolean vowel = length == 1 || spn_rng_uniform(rng) < SPN_DEMO_VOWEL_FIRST_P;
  for (int i = 0; i < length; i++, vowel = !vowel)
    word[i] = spn_demo_pick(rng, vowel ? spn_demo_vowels : spn_demo_consonants);
  word[length] = '\0';
  return word;
}

static int spn_demo_random_length(SpnRng *rng)
{
  int total = 0;
  for (int i = 0; i < SPN_DEMO_MAX_WORD; i++)
    total += spn_demo_length_weights[i];
  int r = (int)spn_rng_below(rng, (guint64)total);
  int length = 1;
  while (r >= spn_demo_length_weights[length - 1])
    r -= spn_demo_length_weights[length++ - 1];
  return length;
}

/* Every length from 1 to SPN_DEMO_MAX_WORD gets at least one word, so any gap can be filled
 * exactly; frequency ranks are shuffled so they do not follow the lengths. */
static void spn_demo_build_lexicon(SpnDemoGen *g)
{
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
  g->words = g_ptr_array_new_with_free_func(g_free);
  while (g->words->len < SPN_DEMO_LEXICON) {
    int length = g->words->len < SPN_DEMO_MAX_WORD ? (int)g->words->len + 1
                                                   : spn_demo_random_length(&g->rng);
    char *word = spn_demo_new_word(&g->rng, length);
    if (g_hash_table_contains(seen, word)) {
      g_free(word);
      continue;
    }
    g_hash_table_add(seen, word);
    g_ptr_array_add(g->words, word);
  }
  g_hash_table_unref(seen);

  for (guint i = g->words->len - 1; i > 0; i--) {
    guint j = (guint)spn_rng_below(&g->rng, i + 1);
    gpointer tmp = g->words->pdata[i];
    g->words->pdata[i] = g->words->pdata[j];
    g->words->pdata[j] = tmp;
  }

  g->cumulative = g_new(double, g->words->len);
  double sum = 0.0;
  for (int l = 0; l <= SPN_DEMO_MAX_WORD; l++)
    g->by_length[l] = g_ptr_array_new();
  for (guint i = 0; i < g->words->len; i++) {
    sum += 1.0 / (i + 1);
    g->cumulative[i] = sum;
    const char *word = g_ptr_array_index(g->words, i);
    g_ptr_array_add(g->by_length[strlen(word)], (gpointer)word);
  }
}

static const char *spn_demo_zipf_word(SpnDemoGen *g)
{
  double r = spn_rng_uniform(&g->rng) * g->cumulative[g->words->len - 1];
  guint lo = 0, hi = g->words->len - 1;
  while (lo < hi) {
    guint mid = (lo + hi) / 2;
    if (g->cumulative[mid] > r)
      hi = mid;
    else
      lo = mid + 1;
  }
  return g_ptr_array_index(g->words, lo);
}

static const char *spn_demo_word_of_length(SpnDemoGen *g, gsize length)
{
  GPtrArray *words = g->by_length[length];
  return g_ptr_array_index(words, spn_rng_below(&g->rng, words->len));
}

/* ---- text --------------------------------------------------------------------------------- */

/* Exactly n characters of words separated by single spaces (nothing for n = 0). The last word is
 * chosen by its length so the run ends exactly at n. */
static void spn_demo_words(SpnDemoGen *g, gsize n)
{
  while (n > SPN_DEMO_MAX_WORD) {
    const char *word = spn_demo_zipf_word(g);
    gsize length = strlen(word);
    if (length + 2 > n) { /* would leave no room for a following word */
      length = n - 2;
      word = spn_demo_word_of_length(g, length);
    }
    g_string_append(g->out, word);
    g_string_append_c(g->out, ' ');
    n -= length + 1;
  }
  if (n > 0)
    g_string_append(g->out, spn_demo_word_of_length(g, n));
}

/* A passage of exactly `length` characters: a capitalised sentence and its line or word break. */
static void spn_demo_sentence(SpnDemoGen *g, gsize length)
{
  gsize start = g->out->len;
  spn_demo_words(g, length - 2);
  g->out->str[start] = g_ascii_toupper(g->out->str[start]);
  g_string_append(g->out, spn_rng_uniform(&g->rng) < SPN_DEMO_NEWLINE_P ? ".\n" : ". ");
}

/* Copies start only right after the previous one or at least two characters later, so the
 * lowercase filler in between is always a word and a space. */
static void spn_demo_schedule(SpnDemoGen *g, gsize source, gsize length)
{
  SpnDemoCopy copy = {source + g->distance, length};
  if (g->copies->len > 0) {
    const SpnDemoCopy *last = &g_array_index(g->copies, SpnDemoCopy, g->copies->len - 1);
    gsize end = last->start + last->length;
    if (copy.start != end && copy.start < end + 2)
      return;
  }
  g_array_append_val(g->copies, copy);
}

/* The source ends before the copy starts (distance > passage), so the regions never overlap. */
static void spn_demo_write_copy(SpnDemoGen *g, const SpnDemoCopy *copy)
{
  gsize at = g->out->len;
  g_string_set_size(g->out, at + copy->length);
  memcpy(g->out->str + at, g->out->str + at - g->distance, copy->length);
}

static void spn_demo_generate(SpnDemoGen *g, gsize n_chars)
{
  while (g->out->len < n_chars) {
    gsize at = g->out->len;
    const SpnDemoCopy *next = g->next_copy < g->copies->len
                                  ? &g_array_index(g->copies, SpnDemoCopy, g->next_copy)
                                  : NULL;
    if (next != NULL && next->start == at) {
      spn_demo_write_copy(g, next);
      g->next_copy++;
      continue;
    }
    gsize length = SPN_DEMO_MIN_PASSAGE +
                   spn_rng_below(&g->rng, SPN_DEMO_MAX_PASSAGE - SPN_DEMO_MIN_PASSAGE + 1);
    gsize gap = next != NULL ? next->start - at : G_MAXSIZE;
    if (length == gap || length + 2 <= gap) {
      spn_demo_sentence(g, length);
      spn_demo_schedule(g, at, length);
    } else {
      spn_demo_words(g, gap - 1);
      g_string_append_c(g->out, ' ');
    }
  }
}

/* Copies past the end of the text are dropped and the last one is cut where the text ends. */
static void spn_demo_trim_copies(GArray *copies, gsize n_chars)
{
  guint kept = 0;
  while (kept < copies->len && g_array_index(copies, SpnDemoCopy, kept).start < n_chars)
    kept++;
  g_array_set_size(copies, kept);
  if (kept > 0) {
    SpnDemoCopy *last = &g_array_index(copies, SpnDemoCopy, kept - 1);
    last->length = MIN(last->length, n_chars - last->start);
  }
}

char *spn_demo_text(guint64 seed, gsize n_chars, int distance, GArray **copies)
{
  g_return_val_if_fail(distance >= SPN_DEMO_MAX_PASSAGE + 2, NULL);
  SpnDemoGen g = {.distance = (gsize)distance};
  spn_rng_seed(&g.rng, seed);
  spn_demo_build_lexicon(&g);
  g.out = g_string_sized_new(n_chars + SPN_DEMO_MAX_PASSAGE + (gsize)distance);
  g.copies = g_array_new(FALSE, FALSE, sizeof(SpnDemoCopy));

  spn_demo_generate(&g, n_chars);
  g_string_truncate(g.out, n_chars);
  spn_demo_trim_copies(g.copies, n_chars);

  if (copies != NULL)
    *copies = g.copies;
  else
    g_array_unref(g.copies);
  for (int l = 0; l <= SPN_DEMO_MAX_WORD; l++)
    g_ptr_array_unref(g.by_length[l]);
  g_free(g.cumulative);
  g_ptr_array_unref(g.words);
  return g_string_free(g.out, FALSE);
}
