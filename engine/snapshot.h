/* snapshot.h — an immutable picture of the engine for the figures: the configuration, the
 * spans now, the metrics history and the model reading the probe text. Published by the worker
 * threads, read by the main thread and the headless export; never changed once published.
 * Reference counted (g_atomic_rc_box) so the window can keep the last one while a newer one is
 * built; its history and probe are reference-counted objects of their own, which snapshots
 * made from one another share instead of copying. */
#pragma once
#include <glib.h>

#include "config.h"
#include "history.h"
#include "probe.h"

G_BEGIN_DECLS

typedef struct {
  SpnConfig cfg;
  gint64 step;
  float *spans;          /* nlayers × nheads, z·S in characters (cfg.adapt_span off: S) */
  SpnHistory *history;   /* a reference; may be empty, never NULL */
  char *corpus;          /* what the corpus is, for titles ("bundled", a path, "demo") */
  SpnVocabKind vocab;    /* the run's vocabulary: characters (unknown ones are token 0), bytes, … */
  char *passage;         /* a passage of the corpus's validation split (UTF-8), NULL if none */
  char *text;            /* the probe text (UTF-8), NULL when no probe */
  SpnProbe *probe;       /* a reference to the model reading `text`, NULL when none; token i
                            is the text between probe->offsets[i] and the next offset (or the
                            end) */
  gboolean reading;      /* a newer text or model is being read: its probe is on its way */
} SpnSnapshot;

/* Zeroed snapshot for cfg with a new, empty history (ref count 1): fill the fields (a test may
 * append to the history), then publish. */
SpnSnapshot *spn_snapshot_new(const SpnConfig *cfg);
SpnSnapshot *spn_snapshot_ref(SpnSnapshot *s);
void spn_snapshot_unref(SpnSnapshot *s);
/* A new snapshot with the training state of s (sharing its history) but probe and text
 * replaced (probe taken over, may be NULL). Combines the training state with the latest
 * reading of the user's text. */
SpnSnapshot *spn_snapshot_with_probe(const SpnSnapshot *s, const char *text, SpnProbe *probe);
/* The same, sharing from's probe (nothing large is copied). */
SpnSnapshot *spn_snapshot_with_probe_of(const SpnSnapshot *s, const SpnSnapshot *from);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(SpnSnapshot, spn_snapshot_unref)

G_END_DECLS
