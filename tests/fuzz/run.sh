#!/bin/sh
# Runs every libFuzzer target of tests/fuzz for SPANSCOPE_FUZZ_SECONDS seconds each (.ci/run sets
# it) over its committed corpus, as TAP: one test per target. Skipped when the variable is unset
# or clang is missing (apt-get install clang libomp-dev).
#   tests/fuzz/run.sh OUTDIR
cd "$(dirname "$0")/../.." || exit 1
out=${1:-build-fuzz}
secs=${SPANSCOPE_FUZZ_SECONDS:-0}
targets="pickle torchfile refrun safetensors checkpoint corpus json"
if [ "$secs" -le 0 ] 2>/dev/null; then
  echo "1..0 # SKIP set SPANSCOPE_FUZZ_SECONDS=N to fuzz every target for N seconds (.ci/run does)"
  exit 0
fi
if ! command -v clang >/dev/null 2>&1; then
  echo "1..0 # SKIP clang is not installed: the fuzz targets need it (apt-get install clang libomp-dev)"
  exit 0
fi
if ! sh tests/fuzz/build.sh "$out" > "$out.log" 2>&1; then
  echo "1..0 # SKIP the fuzz targets do not build with this clang: see $out.log"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "1..$(echo $targets | wc -w)"
i=0
for t in $targets; do
  i=$((i + 1))
  dict=tests/fuzz/json.dict
  case $t in pickle | torchfile | refrun) dict=tests/fuzz/pickle.dict ;; esac
  mkdir -p "$work/$t"
  log="$work/$t.log"
  if "$out/fuzz-$t" "$work/$t" "tests/fuzz/corpus/$t" -dict="$dict" -max_len=16384 \
      -rss_limit_mb=2048 -max_total_time="$secs" -artifact_prefix="$work/" \
      -print_final_stats=1 > "$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "ok $i - fuzz-$t: $runs executions in ${secs} s, no finding"
  else
    echo "not ok $i - fuzz-$t found a crash, leak or timeout"
    grep -E "ERROR|SUMMARY|Test unit written|assertion" "$log" | head -20 | sed 's/^/# /'
    for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
      [ -f "$a" ] && cp "$a" "$out/" && echo "# kept $out/$(basename "$a")"
    done
  fi
done
