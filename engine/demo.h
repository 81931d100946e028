/* demo.h — a generated corpus whose needed context is known, so adaptive span has something
 * to show.
 *
 * The text is sentences of pseudo-words (drawn from a seeded lexicon with Zipf frequencies,
 * capitalised, ending in ". " or ".\n"). Every fresh sentence, a passage of
 * SPN_DEMO_MIN_PASSAGE … SPN_DEMO_MAX_PASSAGE characters, is copied again exactly `distance`
 * characters after its start, unless it would overlap an earlier copy; the gaps in front of
 * copies are filled with lowercase pseudo-words. About half the characters are copies. Predicting
 * a copy needs a look back of `distance` characters, everything else a few characters, so most
 * heads can shrink while some must keep a long span. The text is ASCII and one character is one
 * byte, so character and byte offsets agree.
 *
 * spn_corpus_load("demo", ...) (corpus.c) returns the text of the constants below as a corpus,
 * split 90/5/5 like a text file; a file or folder that is really named "demo" stays reachable as
 * "./demo". This file only generates text: the corpus depends on it, not the other way. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

/* What spn_corpus_load() answers to, the app and experiments/span_demo.py use the same. */
#define SPN_DEMO_SOURCE "demo"
#define SPN_DEMO_SEED 1
#define SPN_DEMO_CHARS 2000000
#define SPN_DEMO_DISTANCE 256

#define SPN_DEMO_MIN_PASSAGE 20
#define SPN_DEMO_MAX_PASSAGE 60

/* The long-span corpus (`--corpus longdemo`, the "Long span" preset's): every fresh passage is
 * copied again at one of three distances, chosen evenly, so a model needs heads that look back a
 * few dozen, several hundred and six thousand characters (docs: data/README.md, "Long span"). */
#define SPN_LONG_DEMO_SOURCE "longdemo"
#define SPN_LONG_DEMO_SEED 1
#define SPN_LONG_DEMO_CHARS 2000000
#define SPN_LONG_DEMO_NEAR 100
#define SPN_LONG_DEMO_MID 800
#define SPN_LONG_DEMO_FAR 6000

#define SPN_DEMO_MAX_DISTANCES 4

/* One planted copy: text[start … start+length) equals text[start-distance … ). */
typedef struct {
  gsize start;
  gsize length;
  int distance;
} SpnDemoCopy;

/* A generated corpus: the name that loads it and what it plants. */
typedef struct {
  const char *source;   /* what --corpus and spn_corpus_load() call it */
  const char *title;    /* for the window's title: "the demonstration corpus" */
  guint64 seed;
  gsize n_chars;
  int n_distances;
  int distances[SPN_DEMO_MAX_DISTANCES];   /* ascending */
} SpnDemoCorpus;

/* The generated corpus called `source` ("demo", "longdemo"), NULL for any other name. */
const SpnDemoCorpus *spn_demo_corpus(const char *source);
/* Its text (corpus->n_chars characters) and, if copies is not NULL, its copies. */
char *spn_demo_corpus_text(const SpnDemoCorpus *corpus, GArray **copies);

/* Exactly n_chars characters (NUL-terminated) generated from seed; the same arguments give the
 * same text everywhere. distance must be at least SPN_DEMO_MAX_PASSAGE + 2 so a passage is
 * complete before its copy starts. If copies is not NULL it receives a GArray of SpnDemoCopy
 * (ascending starts; a copy cut by the end of the text is listed with its shortened length). */
char *spn_demo_text(guint64 seed, gsize n_chars, int distance, GArray **copies);
/* The same with each fresh passage's copy at one of n_distances distances (1 …
 * SPN_DEMO_MAX_DISTANCES, each at least SPN_DEMO_MAX_PASSAGE + 2), chosen evenly. A copy that
 * would overlap or crowd one already scheduled is dropped. With one distance the text equals
 * spn_demo_text()'s. */
char *spn_demo_text_multi(guint64 seed, gsize n_chars, const int *distances, int n_distances,
                          GArray **copies);

G_END_DECLS
