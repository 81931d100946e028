/* savefile.h — how every file spanscope writes reaches the disk (checkpoints, PyTorch files,
 * figures, metrics): into a temporary file in the target's folder, synced, then renamed over the
 * target. Whatever happens — a full disk, a crash, SIGKILL — the target is either the old file or
 * the complete new one. There is no fallback that writes in place: when no temporary file can be
 * made, the save fails and the old file stays.
 *
 * The temporary file is ".NAME.tmp-XXXXXX" beside NAME, locked (flock) while it is written. A
 * writer that dies leaves it behind; the next save of NAME, or spn_save_remove_stale() (called when
 * a checkpoint is opened), removes the ones whose lock is free, i.e. whose writer is gone.
 *
 * Errors are G_IO_ERROR (code from errno) and do not name the target: callers prefix it. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

/* Writes the contents into fd (e.g. with spn_save_write); FALSE with error set on failure. */
typedef gboolean (*SpnSaveFunc)(int fd, gpointer user_data, GError **error);

gboolean spn_save_file(const char *path, SpnSaveFunc fn, gpointer user_data, GError **error);
gboolean spn_save_bytes(const char *path, const void *data, gsize len, GError **error);
/* write(2) until everything is written; a short write of 0 bytes is reported as ENOSPC. */
gboolean spn_save_write(int fd, const void *data, gsize len, GError **error);
/* Removes the temporary files of path's interrupted saves; returns how many. */
guint spn_save_remove_stale(const char *path);

G_END_DECLS
