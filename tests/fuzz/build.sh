#!/bin/sh
# Builds the libFuzzer targets of tests/fuzz with Debian's clang (apt-get install clang):
#   sh tests/fuzz/build.sh [OUTDIR]     (default build-fuzz/)
# then e.g.  nice build-fuzz/fuzz-pickle tests/fuzz/corpus/pickle -dict=tests/fuzz/pickle.dict
set -e
cd "$(dirname "$0")/../.."
out="${1:-build-fuzz}"
mkdir -p "$out"
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE -Iengine"
cflags="$(pkg-config --cflags glib-2.0 libzip)"
libs="$(pkg-config --libs glib-2.0 libzip) -lm"
engine="engine/ptobj.c engine/pickle.c engine/torchfile.c"
for target in pickle torchfile; do
  clang $flags $cflags tests/fuzz/fuzz_$target.c $engine $libs -o "$out/fuzz-$target"
done
# fuzz-refrun reaches the model, optimizer, history and checkpoint code: the whole engine but the
# threads of the window (worker, follow), with the header meson would generate
mkdir -p "$out/include"
printf '#pragma once\n#define SPN_APPLICATION_ID "org.spanscope.Spanscope"\n#define SPN_DATADIR "/nonexistent"\n#define SPN_SOURCE_DATADIR "data"\n#define SPN_BUILD_ROOT "."\n#define SPN_VERSION "fuzz"\n' \
  > "$out/include/spanscope-config.h"
all="$(ls engine/*.c | grep -v -e engine/worker.c -e engine/follow.c)"
clang $flags -fopenmp -I"$out/include" $(pkg-config --cflags glib-2.0 gio-2.0 json-glib-1.0 libzip openblas) \
  tests/fuzz/fuzz_refrun.c $all \
  $(pkg-config --libs glib-2.0 gio-2.0 json-glib-1.0 libzip openblas) -lm -o "$out/fuzz-refrun"
echo "built $out/fuzz-pickle $out/fuzz-torchfile $out/fuzz-refrun"
