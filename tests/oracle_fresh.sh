#!/bin/sh
# Regenerates the oracle fixtures with PyTorch into a temporary folder and runs the oracle test
# on them, so the committed fixtures can never drift from what tools/oracle/ computes.
# Exit 77 (skipped) when PyTorch is not installed.
set -e
python="$1" oracle="$2" test_exe="$3"
"$python" -c 'import torch' 2>/dev/null || { echo "PyTorch not installed: skipped"; exit 77; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$python" "$oracle/make_fixtures.py" --out "$out" >/dev/null
for f in "$out"/*.safetensors; do
  cmp -s "$f" "$(dirname "$0")/fixtures/$(basename "$f")" || echo "note: $(basename "$f") differs from the committed file"
done
SPANSCOPE_FIXTURES="$out" "$test_exe"
