#!/bin/sh
# Makes docs/following.png: the window following a run that another program keeps rewriting,
# in the reference's .pt format, as a run of main.py on a cluster would.
#
#   sh tools/follow_screenshot.sh [OUT.png] [WORKDIR]
#
# The stand-in for the cluster is spanscope itself: the desktop model trains on the bundled
# text converted to the reference's data format, and every 200 steps (one iteration of main.py's
# --nbatches 200) export-reference rewrites
# run.pt in place (what main.py does at the end of each iteration). The window follows run.pt
# from the first version on and takes its picture once the third has arrived. Needs xvfb-run;
# takes a few minutes on 2 cores.
set -e
cd "$(dirname "$0")/.."
out="${1:-docs/following.png}"
work="${2:-$(mktemp -d)}"
cli=build/app/spanscope-cli
app=build/app/spanscope
export SPANSCOPE_DATADIR="$PWD/data"

# the bundled text in the reference's format: one line of decimal byte values per line of text
mkdir -p "$work/data"
gzip -dc data/kjv.txt.gz | python3 -c '
import sys
lines = sys.stdin.buffer.read().split(b"\n")
n = len(lines)
cut = [0, n * 90 // 100, n * 95 // 100, n]
for k, name in enumerate(("train", "valid", "test")):
    with open(sys.argv[1] + "/" + name + ".txt", "w") as f:
        for line in lines[cut[k]:cut[k + 1]]:
            f.write(" ".join(str(b) for b in line) + "\n")
' "$work/data"

flags="--nbatches 200"
version() {
  nice $cli train --corpus "$work/data" --ref-format --checkpoint "$work/run.safetensors" \
    --steps "$1" --eval-every 200 --report-every 200 --save-every 0 > /dev/null
  $cli export-reference --checkpoint "$work/run.safetensors" --output "$work/next.pt" $flags \
    > /dev/null 2>&1
  cat "$work/next.pt" > "$work/run.pt"   # rewritten in place, not renamed
}
version 200
ref_flags="$(python3 - "$work/run.safetensors" <<'EOF'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    c = json.loads(json.loads(f.read(n))["__metadata__"]["config"])
flags = ["--block-sz", c["block_sz"], "--batch-sz", c["batch_sz"], "--dropout", c["dropout"],
         "--adapt-span-loss", c["adapt_span_loss"], "--adapt-span-ramp", c["adapt_span_ramp"],
         "--lr-warmup", c["lr_warmup"], "--nbatches", 200]
print(" ".join(str(x) for x in flags) + (" --adapt-span-cache" if c["adapt_span_cache"] else ""))
EOF
)"
GSK_RENDERER=cairo xvfb-run -a -s "-screen 0 1500x1000x24" $app --follow "$work/run.pt" \
  --corpus "$work/data" --reference-flags "$ref_flags" --train-steps 600 --size 1366x768 \
  --screenshot "$out" &
viewer=$!
version 400
version 600
wait $viewer
echo "wrote $out (work files in $work)"
