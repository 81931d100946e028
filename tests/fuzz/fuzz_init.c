/* fuzz_init.c — linked into every fuzz target: libFuzzer calls LLVMFuzzerInitialize once before
 * the first input, and so does replay.c. A GLib CRITICAL is a failed g_return_if_fail, i.e. a
 * contract broken on the way (json-glib's typed getters asked for a member of another type): a
 * finding like a crash, so it aborts instead of scrolling past in the log. */
#include <glib.h>

#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc, (void)argv;
  g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  return 0;
}
