/* readfile.c — only regular files are read (readfile.h). */
#include "readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* One read(2) asks for at most this much, so a huge len is never passed to the kernel at once. */
#define READ_CHUNK ((gsize)1 << 30)

const char *
spn_file_kind(mode_t mode)
{
  if (S_ISDIR(mode))
    return "a folder";
  if (S_ISFIFO(mode))
    return "a pipe (FIFO)";
  if (S_ISCHR(mode) || S_ISBLK(mode))
    return "a device";
  return "not a regular file";
}

int
spn_open_regular(const char *path, struct stat *sb)
{
  /* O_NONBLOCK changes nothing for a regular file; the open of a FIFO would otherwise wait */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return -1;
  if (fstat(fd, sb) != 0) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  if (!S_ISREG(sb->st_mode)) {
    close(fd);
    errno = 0;
    return -1;
  }
  return fd;
}

gboolean
spn_read_all(int fd, void *buf, gsize len, gsize *got)
{
  gsize n = 0;
  while (n < len) {
    ssize_t r = read(fd, (guint8 *)buf + n, MIN(len - n, READ_CHUNK));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      *got = n;
      return FALSE;
    }
    if (r == 0)
      break;
    n += (gsize)r;
  }
  *got = n;
  return TRUE;
}
