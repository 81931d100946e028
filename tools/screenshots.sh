#!/bin/sh
# Makes the window screenshots of docs/: distance.png (attention by distance), heads.png (every
# head for one character) and persistent.png (persistent memory of an all-attention model).
#
#   sh tools/screenshots.sh [WORKDIR]
#
# Trains the two checkpoints they show into WORKDIR (kept, and reused when already there), at the
# lowest priority: the span demo (seed 1, 500 steps on the demonstration corpus, where every
# fresh sentence recurs 256 characters later: by then the spans have swept down from 768 and a
# few heads copy from 255 back) and the all-attention preset on the bundled corpus (150 steps). Then takes each picture with
# `spanscope --screenshot`, choosing the view with --show/--maximize/--layer/--head/--query.
# Needs xvfb-run; a few minutes on 2 idle cores (15 minutes on a shared, busy machine).
set -e
cd "$(dirname "$0")/.."
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
cli=build/app/spanscope-cli
app=build/app/spanscope
export SPANSCOPE_DATADIR="$PWD/data"

train() {
  checkpoint="$work/$1.safetensors"
  shift
  [ -f "$checkpoint" ] || nice -n 19 $cli train --checkpoint "$checkpoint" --report-every 100 "$@"
}

train demo --preset demo --corpus demo --seed 1 --steps 500 --eval-every 500
train allattn --preset allattn --seed 1 --steps 150 --eval-every 150

# The picture is the window's pixels as the X server holds them: a screen larger than it.
shot() {
  out="$1"
  shift
  GSK_RENDERER=cairo nice -n 19 xvfb-run -a -s "-screen 0 1600x1000x24" \
    $app --size 1366x768 --screenshot "$out" "$@"
}

# a head of the span demo that copies: one vertical line at δ = 255 (the character after the
# one 256 back), from the first query that has a copy behind it
shot docs/distance.png --maximize distance --layer 2 --head 1 "$work/demo.safetensors"
# 'e' #297, in the copy of the passage's first sentence: where every head looked from it (layer 2
# heads 1 and 2 at 255 back)
shot docs/heads.png --maximize heads --layer 2 --head 1 --query 297 "$work/demo.safetensors"
# persistent memory: each head's share on its 256 persistent vectors, over training, and the slots
# the selected character used
shot docs/persistent.png --maximize persistent --layer 1 --head 0 --query 300 \
  "$work/allattn.safetensors"
echo "wrote docs/distance.png docs/heads.png docs/persistent.png (checkpoints in $work)"
