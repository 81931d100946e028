/* test_savefile.c — engine/savefile.c: a write either replaces the target whole or leaves it as it
 * was; temporary files of dead writers go at the next save, those of live writers stay. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "savefile.h"

static char *
make_dir(void)
{
  GError *error = NULL;
  char *dir = g_dir_make_tmp("savefile-XXXXXX", &error);
  g_assert_no_error(error);
  return dir;
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
  return strcmp(*(char *const *)a, *(char *const *)b); /* g_ptr_array_sort passes the slots */
}

/* Sorted, comma-separated names in dir. */
static char *
list_dir(const char *dir)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
  const char *name;
  while ((name = g_dir_read_name(d)) != NULL)
    g_ptr_array_add(names, g_strdup(name));
  g_dir_close(d);
  g_ptr_array_sort(names, compare_names);
  g_ptr_array_add(names, NULL);
  return g_strjoinv(",", (char **)names->pdata);
}

static void
remove_dir(const char *dir)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name(d)) != NULL) {
    g_autofree char *p = g_build_filename(dir, name, NULL);
    g_unlink(p);
  }
  g_dir_close(d);
  g_rmdir(dir);
}

static char *
contents_of(const char *path)
{
  char *text = NULL;
  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  return text;
}

static gboolean
write_half_then_fail(int fd, gpointer user_data, GError **error)
{
  (void)user_data;
  g_assert_true(spn_save_write(fd, "partial", 7, NULL));
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "cannot write: simulated full disk");
  return FALSE;
}

static void
test_replace_or_keep(void)
{
  g_autofree char *dir = make_dir();
  g_autofree char *path = g_build_filename(dir, "out.txt", NULL);
  GError *error = NULL;
  g_assert_true(spn_save_bytes(path, "first", 5, &error));
  g_assert_no_error(error);
  g_autofree char *first = contents_of(path);
  g_assert_cmpstr(first, ==, "first");

  g_assert_false(spn_save_file(path, write_half_then_fail, NULL, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_clear_error(&error);
  g_autofree char *kept = contents_of(path);
  g_assert_cmpstr(kept, ==, "first");
  g_autofree char *names = list_dir(dir);
  g_assert_cmpstr(names, ==, "out.txt");

  g_assert_true(spn_save_bytes(path, "second", 6, &error));
  g_autofree char *second = contents_of(path);
  g_assert_cmpstr(second, ==, "second");

  /* no folder: nothing to fall back to, nothing written anywhere */
  g_autofree char *missing = g_build_filename(dir, "no", "such.txt", NULL);
  g_assert_false(spn_save_bytes(missing, "x", 1, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull(strstr(error->message, "cannot create a temporary file in"));
  g_clear_error(&error);
  remove_dir(dir);
}

static gboolean
write_then_kill(int fd, gpointer user_data, GError **error)
{
  (void)user_data;
  (void)error;
  spn_save_write(fd, "half", 4, NULL);
  raise(SIGKILL);
  return TRUE;
}

static void
kill_in_save(const char *path)
{
  pid_t pid = fork();
  g_assert_cmpint(pid, >=, 0);
  if (pid == 0) {
    spn_save_file(path, write_then_kill, NULL, NULL);
    _exit(0);
  }
  int status;
  g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
  g_assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static void
test_stale_removed(void)
{
  g_autofree char *dir = make_dir();
  g_autofree char *path = g_build_filename(dir, "run.bin", NULL);
  g_autofree char *other = g_build_filename(dir, "other.bin", NULL);
  GError *error = NULL;
  g_assert_true(spn_save_bytes(path, "old", 3, &error));
  g_assert_true(spn_save_bytes(other, "o", 1, &error));
  for (int i = 0; i < 3; i++)
    kill_in_save(path);
  kill_in_save(other);
  g_autofree char *names = list_dir(dir);
  g_auto(GStrv) entries = g_strsplit(names, ",", -1);
  /* each save starts by removing what the previous dead one left: one stale file per target */
  g_assert_cmpuint(g_strv_length(entries), ==, 4);
  g_autofree char *kept = contents_of(path);
  g_assert_cmpstr(kept, ==, "old");

  /* the next save of run.bin removes its three, not other.bin's */
  g_assert_true(spn_save_bytes(path, "new", 3, &error));
  g_autofree char *after = list_dir(dir);
  g_assert_nonnull(strstr(after, ".other.bin.tmp-"));
  g_assert_null(strstr(after, ".run.bin.tmp-"));
  g_assert_cmpuint(spn_save_remove_stale(other), ==, 1);
  g_autofree char *clean = list_dir(dir);
  g_assert_cmpstr(clean, ==, "other.bin,run.bin");
  remove_dir(dir);
}

/* A temporary file whose writer is alive (holds its lock) is left alone. */
static void
test_live_writer_kept(void)
{
  g_autofree char *dir = make_dir();
  g_autofree char *path = g_build_filename(dir, "run.bin", NULL);
  g_autofree char *tmp = g_build_filename(dir, ".run.bin.tmp-abcdef", NULL);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
  g_assert_cmpint(fd, >=, 0);
  g_assert_cmpint(flock(fd, LOCK_EX), ==, 0);
  g_assert_cmpuint(spn_save_remove_stale(path), ==, 0);
  g_assert_true(g_file_test(tmp, G_FILE_TEST_EXISTS));
  GError *error = NULL;
  g_assert_true(spn_save_bytes(path, "x", 1, &error));
  g_assert_true(g_file_test(tmp, G_FILE_TEST_EXISTS));
  close(fd); /* the writer is gone */
  g_assert_cmpuint(spn_save_remove_stale(path), ==, 1);
  g_assert_false(g_file_test(tmp, G_FILE_TEST_EXISTS));
  /* names that only look alike are not ours */
  g_autofree char *near = g_build_filename(dir, ".run.bin.tmp-abc", NULL);
  g_assert_true(g_file_set_contents(near, "keep", 4, NULL));
  g_assert_cmpuint(spn_save_remove_stale(path), ==, 0);
  g_assert_true(g_file_test(near, G_FILE_TEST_EXISTS));
  remove_dir(dir);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/savefile/replace-or-keep", test_replace_or_keep);
  g_test_add_func("/savefile/stale-removed", test_stale_removed);
  g_test_add_func("/savefile/live-writer-kept", test_live_writer_kept);
  return g_test_run();
}
