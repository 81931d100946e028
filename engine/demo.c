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
  const int *distances;
  int n_distances;
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

/* Whether a copy [start, end) may follow one that ends at `before_end` and precede one that
 * starts at `after_start`: copies touch or leave at least two characters, so the lowercase
 * filler in between is always a word and a space. */
static gboolean spn_demo_fits(gsize before_end, gsize start, gsize end, gsize after_start)
{
  return (start == before_end || start >= before_end + 2) &&
         (end == after_start || end + 2 <= after_start);
}

/* With several distances the copies of later passages can land before copies already
 * scheduled, so the new one is inserted in order and checked against both neighbours. With one
 * distance no random number is drawn here, so its text is the same as before distances could be
 * several. */
static void spn_demo_schedule(SpnDemoGen *g, gsize source, gsize length)
{
  int which = g->n_distances > 1 ? (int)spn_rng_below(&g->rng, (guint64)g->n_distances) : 0;
  SpnDemoCopy copy = {source + (gsize)g->distances[which], length, g->distances[which]};
  guint at = g->copies->len;
  while (at > g->next_copy && g_array_index(g->copies, SpnDemoCopy, at - 1).start > copy.start)
    at--;
  gsize before_end = 0, after_start = G_MAXSIZE;
  if (at > 0) {
    const SpnDemoCopy *before = &g_array_index(g->copies, SpnDemoCopy, at - 1);
    before_end = before->start + before->length;
  }
  if (at < g->copies->len)
    after_start = g_array_index(g->copies, SpnDemoCopy, at).start;
  if (spn_demo_fits(before_end, copy.start, copy.start + length, after_start))
    g_array_insert_val(g->copies, at, copy);
}

/* The source ends before the copy starts (distance > passage), so the regions never overlap. */
static void spn_demo_write_copy(SpnDemoGen *g, const SpnDemoCopy *copy)
{
  gsize at = g->out->len;
  g_string_set_size(g->out, at + copy->length);
  memcpy(g->out->str + at, g->out->str + at - copy->distance, copy->length);
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

char *spn_demo_text_multi(guint64 seed, gsize n_chars, const int *distances, int n_distances,
                         GArray **copies)
{
  g_return_val_if_fail(n_distances >= 1 && n_distances <= SPN_DEMO_MAX_DISTANCES, NULL);
  int longest = 0;
  for (int i = 0; i < n_distances; i++) {
    g_return_val_if_fail(distances[i] >= SPN_DEMO_MAX_PASSAGE + 2, NULL);
    longest = MAX(longest, distances[i]);
  }
  SpnDemoGen g = {.distances = distances, .n_distances = n_distances};
  spn_rng_seed(&g.rng, seed);
  spn_demo_build_lexicon(&g);
  g.out = g_string_sized_new(n_chars + SPN_DEMO_MAX_PASSAGE + (gsize)longest);
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

char *spn_demo_text(guint64 seed, gsize n_chars, int distance, GArray **copies)
{
  return spn_demo_text_multi(seed, n_chars, &distance, 1, copies);
}

static const SpnDemoCorpus spn_demo_corpora[] = {
  {SPN_DEMO_SOURCE, "the demonstration corpus", SPN_DEMO_SEED, SPN_DEMO_CHARS, 1,
   {SPN_DEMO_DISTANCE}},
  {SPN_LONG_DEMO_SOURCE, "the long-span corpus", SPN_LONG_DEMO_SEED, SPN_LONG_DEMO_CHARS, 3,
   {SPN_LONG_DEMO_NEAR, SPN_LONG_DEMO_MID, SPN_LONG_DEMO_FAR}},
};

const SpnDemoCorpus *spn_demo_corpus(const char *source)
{
  for (guint i = 0; i < G_N_ELEMENTS(spn_demo_corpora); i++)
    if (g_strcmp0(source, spn_demo_corpora[i].source) == 0)
      return &spn_demo_corpora[i];
  return NULL;
}

char *spn_demo_corpus_text(const SpnDemoCorpus *corpus, GArray **copies)
{
  return spn_demo_text_multi(corpus->seed, corpus->n_chars, corpus->distances,
                             corpus->n_distances, copies);
}
