/* fuzz.h — the entry point every fuzz target defines: libFuzzer calls it, and so does replay.c
 * when meson test replays the corpora. */
#pragma once
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* fuzz_init.c: once, before the first input (GLib criticals made fatal). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
