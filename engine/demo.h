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

/* One planted copy: text[start … start+length) equals text[start-distance … ). */
typedef struct {
  gsize start;
  gsize length;
} SpnDemoCopy;

/* Exactly n_chars characters (NUL-terminated) generated from seed; the same arguments give the
 * same text everywhere. distance must be at least SPN_DEMO_MAX_PASSAGE + 2 so a passage is
 * complete before its copy starts. If copies is not NULL it receives a GArray of SpnDemoCopy
 * (ascending starts; a copy cut by the end of the text is listed with its shortened length). */
char *spn_demo_text(guint64 seed, gsize n_chars, int distance, GArray **copies);

G_END_DECLS
