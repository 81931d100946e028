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
echo "built $out/fuzz-pickle $out/fuzz-torchfile"
