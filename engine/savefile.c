/* savefile.c — temporary file, fsync, rename (savefile.h). */
#include "savefile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#define TMP_INFIX ".tmp-"
#define TMP_RANDOM "XXXXXX"
/* write(2) takes at most ~2 GiB at once */
#define WRITE_CHUNK ((gsize)1 << 30)

static gboolean
fail_errno(GError **error, int err, const char *what)
{
  g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "%s: %s", what, g_strerror(err));
  return FALSE;
}

gboolean
spn_save_write(int fd, const void *data, gsize len, GError **error)
{
  const guint8 *p = data;
  while (len > 0) {
    ssize_t n = write(fd, p, MIN(len, WRITE_CHUNK));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return fail_errno(error, n < 0 ? errno : ENOSPC, "cannot write");
    p += n;
    len -= (gsize)n;
  }
  return TRUE;
}

/* ".NAME.tmp-" in path's folder: the prefix of every temporary file of path */
static char *
tmp_prefix(const char *path)
{
  g_autofree char *dir = g_path_get_dirname(path);
  g_autofree char *base = g_path_get_basename(path);
  g_autofree char *name = g_strconcat(".", base, TMP_INFIX, NULL);
  return g_build_filename(dir, name, NULL);
}

static int
lock_fd(int fd, int how)
{
  int rc;
  do
    rc = flock(fd, how);
  while (rc != 0 && errno == EINTR);
  return rc;
}

/* Creates and locks a new temporary file. A stale-file sweep may remove a file between its
 * creation and our lock (it saw no lock yet); such a file has no name left, so try again. */
static int
create_tmp(const char *path, char **tmp_path, GError **error)
{
  g_autofree char *prefix = tmp_prefix(path);
  for (int attempt = 0; attempt < 16; attempt++) {
    char *tmpl = g_strconcat(prefix, TMP_RANDOM, NULL);
    int fd = g_mkstemp_full(tmpl, O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0) {
      int err = errno;
      g_autofree char *dir = g_path_get_dirname(path);
      g_autofree char *shown = g_filename_display_name(dir);
      g_autofree char *what = g_strdup_printf("cannot create a temporary file in %s", shown);
      g_free(tmpl);
      fail_errno(error, err, what);
      return -1;
    }
    if (lock_fd(fd, LOCK_EX) != 0) {
      int err = errno;
      close(fd);
      g_unlink(tmpl);
      g_free(tmpl);
      fail_errno(error, err, "cannot lock a temporary file");
      return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) == 0 && sb.st_nlink > 0) {
      *tmp_path = tmpl;
      return fd;
    }
    close(fd);
    g_free(tmpl);
  }
  fail_errno(error, EAGAIN, "cannot keep a temporary file in its folder");
  return -1;
}

static gboolean
sync_fd(int fd, GError **error)
{
  int rc;
  do
    rc = fsync(fd);
  while (rc != 0 && errno == EINTR);
  return rc == 0 || fail_errno(error, errno, "cannot write to disk");
}

/* Makes the rename itself durable; the new file is in place whether or not this succeeds. */
static void
sync_folder(const char *path)
{
  g_autofree char *dir = g_path_get_dirname(path);
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd);
    close(dfd);
  }
}

gboolean
spn_save_file(const char *path, SpnSaveFunc fn, gpointer user_data, GError **error)
{
  g_return_val_if_fail(path != NULL && fn != NULL, FALSE);
  spn_save_remove_stale(path);
  g_autofree char *tmp_path = NULL;
  int fd = create_tmp(path, &tmp_path, error);
  if (fd < 0)
    return FALSE;
  gboolean ok = fn(fd, user_data, error) && sync_fd(fd, error);
  if (ok && g_rename(tmp_path, path) != 0)
    ok = fail_errno(error, errno, "cannot rename the temporary file over it");
  if (!ok)
    g_unlink(tmp_path);
  close(fd); /* releases the lock only once the temporary name is gone */
  if (ok)
    sync_folder(path);
  return ok;
}

typedef struct {
  const void *data;
  gsize len;
} Bytes;

static gboolean
write_bytes(int fd, gpointer user_data, GError **error)
{
  const Bytes *b = user_data;
  return spn_save_write(fd, b->data, b->len, error);
}

gboolean
spn_save_bytes(const char *path, const void *data, gsize len, GError **error)
{
  Bytes b = {data, len};
  return spn_save_file(path, write_bytes, &b, error);
}

/* Removes tmp if no writer holds its lock and the name still refers to the file we locked. */
static gboolean
remove_if_abandoned(const char *tmp)
{
  int fd = open(tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0)
    return FALSE;
  struct stat held, named;
  gboolean removed = fstat(fd, &held) == 0 && S_ISREG(held.st_mode) &&
                     lock_fd(fd, LOCK_EX | LOCK_NB) == 0 && g_lstat(tmp, &named) == 0 &&
                     named.st_ino == held.st_ino && named.st_dev == held.st_dev &&
                     g_unlink(tmp) == 0;
  close(fd);
  return removed;
}

guint
spn_save_remove_stale(const char *path)
{
  g_return_val_if_fail(path != NULL, 0);
  g_autofree char *prefix = tmp_prefix(path);
  g_autofree char *dir = g_path_get_dirname(prefix);
  g_autofree char *start = g_path_get_basename(prefix);
  GDir *d = g_dir_open(dir, 0, NULL);
  if (d == NULL)
    return 0;
  guint removed = 0;
  const char *name;
  while ((name = g_dir_read_name(d)) != NULL) {
    if (!g_str_has_prefix(name, start) || strlen(name) != strlen(start) + strlen(TMP_RANDOM))
      continue;
    g_autofree char *tmp = g_build_filename(dir, name, NULL);
    removed += remove_if_abandoned(tmp);
  }
  g_dir_close(d);
  return removed;
}
