/* reader.h — the model reading a user's text incrementally, for the text inspector: appending a
 * character computes only the new position (every layer's attention and the surprisal), editing
 * in the middle recomputes from the first changed token; new weights re-read the whole text.
 *
 * Results equal spn_probe_run on the same text and weights (the reader is a single-query
 * forward over stored per-layer keys and values; it never runs the block machinery). A reader
 * reads its weights in place from an immutable parameter blob it holds a reference to, and is
 * used by one thread at a time. */
#pragma once
#include <glib.h>

#include "corpus.h"
#include "model.h"
#include "probe.h"

G_BEGIN_DECLS

typedef struct _SpnReader SpnReader;

/* Reads with weights (their configuration; a reference is taken) and a copy of vocab. */
SpnReader *spn_reader_new(SpnParamBlob *weights, const SpnVocab *vocab);
void spn_reader_free(SpnReader *r);
/* Replaces the weights (same configuration; a reference is taken): the next read re-reads
 * everything. */
void spn_reader_set_weights(SpnReader *r, SpnParamBlob *weights);
/* Reads text, reusing every position of the longest common token prefix with the text read
 * before. An empty text gives a probe with n = 0. Errors: invalid UTF-8 (position named). */
gboolean spn_reader_read(SpnReader *r, const char *text, GError **error);
/* The reading of the last text: owned by the reader, valid until the next call (hand it to
 * another thread as spn_probe_snapshot()). */
const SpnProbe *spn_reader_probe(const SpnReader *r);
/* Positions computed by the last read (n − reused prefix), for tests and benchmarks. */
int spn_reader_last_computed(const SpnReader *r);
/* Positions its arrays hold: at least the last text's, and at most four times more than a
 * short text needs (memory comes back when the text shrinks). */
int spn_reader_capacity(const SpnReader *r);

G_END_DECLS
