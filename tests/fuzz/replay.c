/* replay.c — runs a fuzz target (linked with it instead of libFuzzer) over every file of the given
 * files or folders, so `meson test` replays the committed corpus with the ordinary build.
 * Prints TAP: one test per folder or file. */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>

#include "fuzz.h"

static guint
replay_file(const char *path)
{
  char *data;
  gsize len;
  GError *error = NULL;
  if (!g_file_get_contents(path, &data, &len, &error))
    g_error("%s", error->message);
  LLVMFuzzerTestOneInput((const uint8_t *) data, len);
  g_free(data);
  return 1;
}

int
main(int argc, char **argv)
{
  LLVMFuzzerInitialize(&argc, &argv);
  printf("1..%d\n", argc - 1);
  for (int i = 1; i < argc; i++) {
    guint n = 0;
    GDir *dir = g_dir_open(argv[i], 0, NULL);
    if (dir == NULL) {
      n = replay_file(argv[i]);
    } else {
      const char *name;
      while ((name = g_dir_read_name(dir)) != NULL) {
        char *path = g_build_filename(argv[i], name, NULL);
        n += replay_file(path);
        g_free(path);
      }
      g_dir_close(dir);
    }
    /* a crash or a failed check aborts before this line */
    printf("%s %d - %u inputs of %s replayed\n", n > 0 ? "ok" : "not ok", i, n, argv[i]);
  }
  return 0;
}
