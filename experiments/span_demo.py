#!/usr/bin/env python3
"""Span demo: train the "demo" preset on the generated "demo" corpus and check that adaptive
span visibly does something.

The demo corpus (engine/demo.h) copies every passage again exactly D characters after it starts,
so predicting a copied character needs a look back of D - 1 positions (the query just before it
must see the character it repeats) while everything else needs a few. The run passes when
  - most heads shrank: at least 3/4 of them end below --short characters, and
  - at least one head still reaches the copies' source: its soft mask is non-zero at distance
    D - 1, i.e. span + R > D - 2 (R is the mask's ramp; see "Why not span >= D" below).
It prints the learned span of every head against D and exits 1 otherwise (2 on usage or run
errors).

Why not span >= D: a head's mask is 1 up to distance span + 1 and falls linearly to 0 over R
more positions, and the attention weights are renormalised after masking. A head that looks at
one far distance loses almost nothing while that distance sits on the ramp, so the span loss
pushes its span down until the distance is near the ramp's end: the copying head settles just
under D - 1 - R (about 225 for D = 256, R = 32) with a small mask left at D - 1, never at D.

Default --steps: about five minutes of training on an idle 2-core machine (see data/README.md,
"Span demo", for how it was measured).
"""
import argparse
import json
import math
import os
import re
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_STEPS = 1800


def planted_distance():
    """SPN_DEMO_DISTANCE from engine/demo.h, so the script and the engine cannot disagree."""
    with open(os.path.join(ROOT, "engine", "demo.h"), encoding="utf-8") as f:
        m = re.search(r"#define\s+SPN_DEMO_DISTANCE\s+(\d+)", f.read())
    if m is None:
        sys.exit("span_demo.py: SPN_DEMO_DISTANCE not found in engine/demo.h")
    return int(m.group(1))


def mask(span, delta, ramp):
    """The soft mask of a head with this span at distance delta (see docs/MODEL.md)."""
    return min(1.0, max(0.0, (ramp + span - (delta - 1)) / ramp))


def checkpoint_config(path):
    """The model configuration stored in a checkpoint's safetensors metadata."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    return json.loads(header["__metadata__"]["config"])


def train(args, checkpoint):
    """Runs the CLI, echoing progress; returns the last JSON report, wall and CPU seconds."""
    cmd = [args.cli, "train", "--preset", "demo", "--corpus", "demo", "--steps", str(args.steps),
           "--json", "--report-every", str(args.report_every), "--eval-every", str(args.steps),
           "--checkpoint", checkpoint, "--save-every", str(args.steps),
           "--threads", str(args.threads), "--seed", str(args.seed)]
    print("$ " + " ".join(cmd), flush=True)
    if shutil.which("stdbuf"):
        cmd = ["stdbuf", "-oL"] + cmd  # the CLI's stdout is a pipe here: see each report now
    start = time.monotonic()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    last = None
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        for line in proc.stdout:
            if not line.startswith("{"):
                continue
            last = json.loads(line)
            print(f"step {last['step']:5d}  train {last['train_bpc']:.3f} bpc  "
                  f"{last['tokens_per_s']:6.0f} chars/s  span avg {last['span_avg']:6.1f} "
                  f"max {last['span_max']:6.1f}", flush=True)
    wall = time.monotonic() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    if proc.returncode != 0 or last is None:
        sys.exit(f"span_demo.py: training failed (exit {proc.returncode})")
    return last, wall, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", default=os.path.join(ROOT, "build", "app", "spanscope-cli"),
                    help="spanscope-cli to run (default: build/app/spanscope-cli)")
    ap.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                    help=f"training steps (default {DEFAULT_STEPS}: about five minutes on an "
                         "idle 2-core machine)")
    ap.add_argument("--short", type=float, default=64.0,
                    help="a head has shrunk when its span is below this, in characters "
                         "(default 64)")
    ap.add_argument("--threads", type=int, default=0, help="threads, 0 = one per core")
    ap.add_argument("--seed", type=int, default=1, help="random seed of the model (default 1)")
    ap.add_argument("--report-every", type=int, default=50, help="progress every N steps")
    args = ap.parse_args()
    if args.steps < 1 or args.report_every < 1:
        ap.error("--steps and --report-every must be at least 1")
    if not os.access(args.cli, os.X_OK):
        ap.error(f"{args.cli} is not an executable; build first or pass --cli")

    distance = planted_distance()
    with tempfile.TemporaryDirectory(prefix="span-demo-") as tmp:
        checkpoint = os.path.join(tmp, "demo.safetensors")
        last, wall, cpu = train(args, checkpoint)
        cfg = checkpoint_config(checkpoint)
    ramp = cfg["adapt_span_ramp"]
    spans = last["spans"]
    heads = [(l, h, s) for l, layer in enumerate(spans) for h, s in enumerate(layer)]
    chars = last["step"] * cfg["batch_sz"] * cfg["block_sz"]

    print(f"\nplanted distance D = {distance}; maximum span S = {cfg['attn_span']}, "
          f"initial span {cfg['adapt_span_init'] * cfg['attn_span']:.0f}, ramp R = {ramp}")
    print(f"{'layer':>5} {'head':>4} {'span':>7} {'span+R':>7} {'mask at D-1':>11}")
    for l, h, s in heads:
        note = ("reaches the copies" if mask(s, distance - 1, ramp) > 0 else
                "shrunk" if s < args.short else "")
        print(f"{l:5d} {h:4d} {s:7.1f} {s + ramp:7.1f} {mask(s, distance - 1, ramp):11.3f}  {note}")
    short = sum(1 for _, _, s in heads if s < args.short)
    reaching = sum(1 for _, _, s in heads if mask(s, distance - 1, ramp) > 0)
    need_short = math.ceil(0.75 * len(heads))
    print(f"\nsteps {last['step']}, {chars} characters, wall {wall:.0f} s "
          f"({chars / wall:.0f} chars/s), CPU {cpu:.0f} s, final validation "
          f"{last.get('val_bpc', float('nan')):.3f} bpc (batch {cfg['batch_sz']})")
    print(f"heads below {args.short:g} characters: {short} of {len(heads)} (need {need_short}); "
          f"heads whose mask reaches distance D-1 = {distance - 1}: {reaching} (need 1); "
          f"longest span {max(s for _, _, s in heads):.1f}")

    ok = short >= need_short and reaching >= 1
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
