#!/bin/sh
# ThreadSanitizer over the engine's parallel code:  tools/tsan/run.sh [TEST ...]
#
# Builds the engine and the named test programs (default: threads training reader worker
# history gradcheck) with clang -fsanitize=thread and LLVM's OpenMP runtime, whose Archer tool
# tells ThreadSanitizer what OpenMP's barriers, regions and worksharing mean (GCC's libgomp is
# not instrumented and has no such tool: its barriers and thread-pool hand-offs would all look
# like races). OpenBLAS's sgemm is replaced by an instrumented one (sgemm.c) and GLib's locks and
# queues are annotated (glib_sync.c), so the accesses and hand-offs that would otherwise be
# invisible are checked. Slow (minutes): not part of `meson test`. Exits 1 on any report.
# Needs clang, libomp-dev and libclang-rt-dev (Debian).
set -e
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
deps="glib-2.0 gio-2.0 json-glib-1.0 openblas libzip"
if [ ! -f "$root/build/spanscope-config.h" ]; then
  echo "tools/tsan/run.sh: build/spanscope-config.h is missing: run tools/setup.sh first" >&2
  exit 2
fi
flags="-fsanitize=thread -fopenmp -g -O1 -ffp-contract=off -std=gnu11 -D_GNU_SOURCE
-DG_LOG_DOMAIN=\"spanscope\" -I$root/build -I$root/engine $(pkg-config --cflags $deps)"
for f in "$root"/engine/*.c "$root"/tools/tsan/sgemm.c "$root"/tools/tsan/glib_sync.c; do
  clang $flags -c "$f" -o "$out/$(basename "$f" .c).o"
done
# history_size=7: with the default, reports whose earlier access cannot be traced are dropped
export TSAN_OPTIONS="suppressions=$root/tools/tsan/suppressions.txt history_size=7"
export SPANSCOPE_DATADIR="$root/data" SPANSCOPE_FIXTURES="$root/tests/fixtures"
status=0
for t in ${*:-threads training reader worker history gradcheck}; do
  clang $flags "$root/tests/test_$t.c" "$out"/*.o -o "$out/test-$t" $(pkg-config --libs $deps) -ldl -lm
  "$out/test-$t" > "$out/$t.log" 2>&1 || status=1
  races=$(grep -c "WARNING: ThreadSanitizer" "$out/$t.log" || true)
  echo "$t: $(grep -c '^ok' "$out/$t.log" || true) tests passed, $races race reports"
  if [ "$races" != 0 ] || ! grep -q "^1\.\." "$out/$t.log"; then
    status=1
    grep -B2 -A40 "WARNING: ThreadSanitizer\|Bail out\|ERROR" "$out/$t.log" | head -120
  fi
done
exit $status
