/* probe.h — the model reading a text: per character its surprisal and, per layer and head,
 * where it looked. */
#pragma once
#include <gio/gio.h>

#include "corpus.h"
#include "runner.h"

G_BEGIN_DECLS

typedef struct {
  int window;          /* distances 1..window are stored */
  float *weights;      /* n×window: weight of query i on distance δ at [i·window + δ−1] */
  float *before_start; /* n: mass on positions before the text (the zero cache) */
  float *persistent;   /* n: mass on the persistent vectors (0 without them) */
  int n_slots;         /* persistent vectors (P), 0 without them */
  float *slots;        /* n×n_slots: weight of query i on persistent vector j at [i·n_slots + j];
                          NULL without persistent memory */
} SpnProbeHead;

/* Reference counted (g_atomic_rc_box). A reading still being written (the incremental
 * reader's) is handed to other threads as spn_probe_snapshot(). */
typedef struct {
  int n;               /* tokens */
  gint32 *tokens;
  gsize *offsets;      /* byte offset of each token in the text */
  float *surprisal;    /* n bits; NaN at 0 (nothing precedes it) */
  int nlayers, nheads;
  float *spans;        /* nlayers×nheads, z·S in characters */
  SpnProbeHead *heads; /* nlayers×nheads */
  /*< private >*/
  gboolean frozen;     /* a snapshot: shared, never written again */
} SpnProbe;

/* What one reading may keep in memory; a longer text is refused with the length that fits. */
#define SPN_PROBE_MAX_BYTES 2e9

/* An empty reading (n = 0, no arrays; ref count 1) to fill in; every array it points to is
 * freed with its last reference. */
SpnProbe *spn_probe_new(void);
SpnProbe *spn_probe_ref(SpnProbe *p);
void spn_probe_unref(SpnProbe *p);
SpnProbe *spn_probe_run(SpnModel *m, const SpnVocab *vocab, const char *text, GError **error);
/* An immutable reading equal to p: a copy of the n tokens p holds now, or p itself (another
 * reference) when p is already a snapshot. */
SpnProbe *spn_probe_snapshot(const SpnProbe *p);
/* Which heads and weights spn_probe_write_json writes. */
typedef struct {
  const gboolean *layers;  /* nlayers flags; NULL: every layer */
  const gboolean *heads;   /* nheads flags (the same heads of every layer chosen); NULL: all */
  int max_distance;        /* > 0: only the distances up to it */
  int top_k;               /* > 0: only the k largest weights, as [distance, weight] pairs */
} SpnProbeSelection;

/* Reads `len` bytes of text and writes the reading to out as one JSON object, a block of
 * positions at a time, so memory stays that of one block whatever the text's length:
 *   {"text": the text, "heads": [{"layer", "head", "span", "window"} of every head written],
 *    "max_distance": D or null, "top_k": k or null,
 *    "positions": [{"offset": byte offset, "token": vocabulary text, "text": its bytes of the
 *      text, "surprisal_bits": null at 0, "attention": per head its weights on distances 1, 2, …
 *      up to min(position, window, D) (with top_k "top": per head [distance, weight] pairs,
 *      strongest first), "before_start": per head the weight past the text's start (the zero
 *      cache), "persistent": per head the weight on the persistent vectors, with persistent
 *      memory "persistent_slots": per head its weight on each of the P vectors}, …]}
 * Numbers have six significant digits, a number that is not finite is null. Errors: the
 * encoding's (spn_vocab_encode), an empty text, and the stream's. */
gboolean spn_probe_write_json(SpnModel *m, const SpnVocab *vocab, const char *text, gsize len,
                              const SpnProbeSelection *sel, GOutputStream *out, GError **error);

#define SPN_PROBE_ERROR (spn_probe_error_quark())
GQuark spn_probe_error_quark(void);
typedef enum {
  SPN_PROBE_ERROR_EMPTY,     /* no text (or prompt, generate.h) to read */
  SPN_PROBE_ERROR_TOO_LONG,  /* more tokens than an int counts, or (spn_probe_run) a reading of
                              * more than SPN_PROBE_MAX_BYTES */
  SPN_PROBE_ERROR_NOT_FINITE, /* the model predicts NaN or +Inf (generate.h) */
} SpnProbeError;

G_DEFINE_AUTOPTR_CLEANUP_FUNC(SpnProbe, spn_probe_unref)

G_END_DECLS
