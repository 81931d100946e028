/* readfile.h — how spanscope opens a file it is told to read (corpora, checkpoints, texts): only a
 * regular file is read. A FIFO is opened without waiting for a writer (O_NONBLOCK) and refused,
 * like a folder or a device such as /dev/zero, by the type of the open descriptor, before a byte
 * is read. Callers word the error: each names its own file and what it expected. */
#pragma once
#include <glib.h>
#include <sys/stat.h>

G_BEGIN_DECLS

/* What a file that is not regular is, for messages: "a folder", "a pipe (FIFO)", "a device". */
const char *spn_file_kind(mode_t mode);

/* path opened for reading, with its status in *sb; -1 when it cannot be opened (errno says why)
 * or when it is not a regular file (errno is 0; spn_file_kind(sb->st_mode) says what it is). */
int spn_open_regular(const char *path, struct stat *sb);

/* read(2) into buf until len bytes or the end of the file (EINTR retried); *got is what was
 * read. FALSE with errno set when a read fails. */
gboolean spn_read_all(int fd, void *buf, gsize len, gsize *got);

G_END_DECLS
