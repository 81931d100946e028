#!/bin/sh
# Builds the libFuzzer targets of tests/fuzz with Debian's clang (apt-get install clang libomp-dev):
#   sh tests/fuzz/build.sh [OUTDIR]     (default build-fuzz/)
# The engine is compiled once with coverage, ASan and UBSan (float-cast-overflow included), then
# every target is linked against it; e.g.
#   nice build-fuzz/fuzz-checkpoint WORK tests/fuzz/corpus/checkpoint -dict=tests/fuzz/json.dict
set -e
cd "$(dirname "$0")/../.."
root=$(pwd)
out="${1:-build-fuzz}"
mkdir -p "$out/obj"
out=$(cd "$out" && pwd)
targets="pickle torchfile refrun safetensors checkpoint corpus json"
deps="glib-2.0 gio-2.0 json-glib-1.0 openblas libzip"
# what meson's spanscope-config.h says, for the corpus loader's data directory
cat > "$out/spanscope-config.h" <<CONFIG
#define SPN_VERSION "fuzz"
#define SPN_APPLICATION_ID "org.spanscope.Spanscope"
#define SPN_DATADIR "$root/data"
#define SPN_SOURCE_DATADIR "$root/data"
#define SPN_BUILD_ROOT "$out"
CONFIG
sanitize="-fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all"
flags="-g -O1 -fopenmp -ffp-contract=off -std=gnu11 -D_GNU_SOURCE -DG_LOG_DOMAIN=\"spanscope\"
-I$out -Iengine $(pkg-config --cflags $deps)"
for f in engine/*.c; do
  o="$out/obj/$(basename "$f" .c).o"
  clang $flags $sanitize -fsanitize=fuzzer-no-link -c "$f" -o "$o"
done
for t in $targets; do
  clang $flags $sanitize -fsanitize=fuzzer "tests/fuzz/fuzz_$t.c" tests/fuzz/fuzz_init.c \
    "$out"/obj/*.o \
    $(pkg-config --libs $deps) -lm -o "$out/fuzz-$t"
done
echo "built $(for t in $targets; do printf '%s ' "$out/fuzz-$t"; done)"
