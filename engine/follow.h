/* follow.h — following a checkpoint that a run elsewhere keeps rewriting: the reference's
 * main.py (a `.pt` overwritten in place at the end of every iteration, not atomically) or
 * spanscope's own trainer (`train --checkpoint`, a safetensors file replaced by rename).
 *
 * A GFileMonitor watches the path (a slow poll of its size and time stands in where the file
 * system sends no events, as network file systems do not). Some quiet after the last change,
 * the file is read on a worker thread; a version whose step differs from the last one is
 * delivered. A file that cannot be read completely — being written, truncated, missing — is
 * read again later and reported only as "waiting": it never replaces the last good version.
 * A file that reads completely but cannot be used (a vocabulary or flag that contradicts it)
 * is reported as failed, once, and read again when it changes.
 *
 * Each version is delivered whole, its history as the file holds it; the reference's logger
 * keeps only the mean and maximum span per iteration, so a version's history has every head's
 * span at its own step only. Whoever shows the run continues its history with each version
 * (spn_history_continued, as spn_trainer_replace does): rows already shown stay, the spans of
 * every version delivered among them, and the span history grows as the run is followed. */
#pragma once
#include <glib.h>

#include "checkpoint.h"
#include "refrun.h"

G_BEGIN_DECLS

typedef struct _SpnFollower SpnFollower;

typedef enum {
  SPN_FOLLOW_VERSION,  /* a new complete version: checkpoint, step */
  SPN_FOLLOW_WAITING,  /* the file is not complete (yet): error says what was found */
  SPN_FOLLOW_FAILED,   /* the file is complete but cannot be used: error says why */
} SpnFollowEventKind;

typedef struct {
  SpnFollowEventKind kind;
  /* VERSION: the checkpoint read (model, vocabulary, optimizer, history, trainer state); the
   * callback may take it (setting the field to NULL), else it is freed after the callback. */
  SpnCheckpoint *checkpoint;
  gint64 step;
  const GError *error;   /* WAITING, FAILED */
} SpnFollowEvent;

typedef void (*SpnFollowFunc)(SpnFollowEvent *event, gpointer user_data);

/* What a `.pt` file needs: the run's flags, the vocabulary of its --data folder (may be NULL:
 * versions without one) and the corpus to name in the versions' trainer state (may be NULL).
 * All copied. With a corpus but no vocabulary, the follower reads the vocabulary from the
 * corpus (a folder in the reference's format) on its own thread, once. */
typedef struct {
  const SpnRefFlags *flags;
  const SpnVocab *vocab;
  const char *corpus;
} SpnFollowSource;

/* Starts following path (which need not exist yet; when it does, it must be a regular file: a
 * folder, a FIFO or a device is an error, and one found there later is never opened) in the
 * thread-default main context, where the callback runs. The first version is the file as it is now, if complete. source may be NULL
 * (main.py's defaults, no vocabulary). */
SpnFollower *spn_follower_new(const char *path, const SpnFollowSource *source,
                              SpnFollowFunc callback, gpointer user_data, GError **error);
/* Stops: no callback runs after this returns (a read under way is dropped). */
void spn_follower_free(SpnFollower *f);
const char *spn_follower_path(const SpnFollower *f);
/* Monotonic time (g_get_monotonic_time) of the last version delivered, 0 before the first. */
gint64 spn_follower_last_version_time(const SpnFollower *f);

/* Reads any checkpoint spanscope follows or opens: a `.pt` of main.py through source (may be
 * NULL), else a spanscope checkpoint. notes may be NULL. */
SpnCheckpoint *spn_checkpoint_load_any(const char *path, const SpnFollowSource *source,
                                       GPtrArray *notes, GError **error);

G_END_DECLS
