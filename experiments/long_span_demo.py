#!/usr/bin/env python3
"""Long-span demonstration: an 8k-span model on a CPU.

Trains the "long" preset (S = 8192, adaptive cache, head window) on the generated long-span
corpus (`--corpus longdemo`, engine/demo.h), whose passages recur NEAR, MID and FAR characters
later (100, 800 and 6000), then the desktop preset (S = 1024) for a few steps on the bundled
text to measure its speed on the same machine in the same script. It reports
  - every head's learned span, and which planted distance its soft mask reaches;
  - the cost: training FLOPs per character at the final spans against the same model with every
    head at S (`spanscope-cli export --json`, engine/cost.h), and over the whole run;
  - steps/s and characters/s of both models, and the long run's peak memory (RSS);
and passes (exit 0) when
  - most heads collapsed: at least --short-share of them end below --short characters,
  - every planted distance is reached by at least one head (its mask is non-zero at D - 1:
    experiments/span_demo.py explains why D - 1 and not D),
  - the final spans cost below --cost-fraction of the full-span model's FLOPs per character.
It writes the comparison of the two runs (curves, spans, table) to --out.

Full setting: --steps 1000 (the default; the preset's comment in engine/config.c says when the
spans pass each distance). Each run prints its seconds per step, so a short run
(--steps 100 --desktop-steps 20) says what the full one costs here; a short run cannot sort the
spans (they start at S), so it checks the pipeline and the early cost, and usually FAILs.
"""
import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from span_demo import checkpoint_config, mask  # noqa: E402  (one definition of both)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_STEPS = 1000


def planted_distances():
    """SPN_LONG_DEMO_NEAR, _MID, _FAR from engine/demo.h: the script and engine cannot differ."""
    with open(os.path.join(ROOT, "engine", "demo.h"), encoding="utf-8") as f:
        text = f.read()
    out = []
    for name in ("NEAR", "MID", "FAR"):
        m = re.search(r"#define\s+SPN_LONG_DEMO_%s\s+(\d+)" % name, text)
        if m is None:
            sys.exit(f"long_span_demo.py: SPN_LONG_DEMO_{name} not found in engine/demo.h")
        out.append(int(m.group(1)))
    return out


def train(args, preset, steps, checkpoint):
    """Runs the CLI, echoing progress; returns the reports, wall seconds and peak RSS (KiB)."""
    if os.path.exists(checkpoint):
        os.remove(checkpoint)   # from step 0, not a resume
    cmd = [args.cli, "train", "--preset", preset, "--steps", str(steps), "--json",
           "--report-every", str(args.report_every), "--eval-every", str(steps),
           "--eval-tokens", str(args.eval_tokens),
           "--checkpoint", checkpoint, "--save-every", str(steps),
           "--threads", str(args.threads), "--seed", str(args.seed)]
    print("$ " + " ".join(cmd), flush=True)
    if shutil.which("stdbuf"):
        cmd = ["stdbuf", "-oL"] + cmd
    reports = []
    start = time.monotonic()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        for line in proc.stdout:
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            reports.append(r)
            print(f"  {preset:7s} step {r['step']:5d}  train {r['train_bpc']:.3f} bpc  "
                  f"{r['tokens_per_s']:6.0f} chars/s  span avg {r['span_avg']:7.1f} "
                  f"max {r['span_max']:7.1f}", flush=True)
    wall = time.monotonic() - start
    if proc.returncode != 0 or not reports:
        sys.exit(f"long_span_demo.py: training {preset} failed (exit {proc.returncode})")
    return reports, wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def export(args, checkpoints):
    """The engine's numbers of each run, and the comparison figure."""
    cmd = [args.cli, "export", "--figure", "curves,spans,table", "--json", "--width", "1800",
           "--height", "1100", "--log", "--output", os.path.join(args.out, "comparison.png")]
    for label, path in checkpoints:
        cmd += ["--checkpoint", path, "--label", label]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"long_span_demo.py: export failed: {res.stderr.strip()}")
    return {row["label"]: row for row in map(json.loads, res.stdout.splitlines())}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", default=os.path.join(ROOT, "build", "app", "spanscope-cli"))
    ap.add_argument("--out", default="long-span-demo", help="folder for checkpoints and figure")
    ap.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                    help=f"steps of the long-span run (default {DEFAULT_STEPS})")
    ap.add_argument("--desktop-steps", type=int, default=50,
                    help="steps of the desktop run that measures its speed (default 50)")
    ap.add_argument("--short", type=float, default=64.0,
                    help="a head has collapsed below this span, in characters (default 64)")
    ap.add_argument("--short-share", type=float, default=0.5,
                    help="share of heads that must collapse (default 0.5)")
    ap.add_argument("--cost-fraction", type=float, default=0.25,
                    help="final FLOPs per character must be below this share of all heads at S "
                         "(default 0.25)")
    ap.add_argument("--eval-tokens", type=int, default=65536,
                    help="validation tokens at the end of each run (default 65536; 0 = the "
                         "whole split)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--report-every", type=int, default=25)
    args = ap.parse_args()
    if args.steps < 1 or args.desktop_steps < 1 or args.report_every < 1:
        ap.error("--steps, --desktop-steps and --report-every must be at least 1")
    if not os.access(args.cli, os.X_OK):
        ap.error(f"{args.cli} is not an executable; build first or pass --cli")
    os.makedirs(args.out, exist_ok=True)

    distances = planted_distances()
    long_ck = os.path.join(args.out, "long.safetensors")
    desk_ck = os.path.join(args.out, "desktop.safetensors")
    long_reports, long_wall, long_rss = train(args, "long", args.steps, long_ck)
    desk_reports, desk_wall, _ = train(args, "desktop", args.desktop_steps, desk_ck)
    rows = export(args, [("long S=8192", long_ck), ("desktop S=1024", desk_ck)])
    long_row, desk_row = rows["long S=8192"], rows["desktop S=1024"]
    cfg = checkpoint_config(long_ck)
    ramp, S = cfg["adapt_span_ramp"], cfg["attn_span"]

    spans = long_reports[-1]["spans"]
    heads = [(l, h, s) for l, layer in enumerate(spans) for h, s in enumerate(layer)]
    print(f"\nplanted distances {distances}; S = {S}, ramp R = {ramp}")
    print(f"{'layer':>5} {'head':>4} {'span':>8}  reaches")
    reached = {d: 0 for d in distances}
    for l, h, s in heads:
        hits = [d for d in distances if mask(s, d - 1, ramp) > 0]
        for d in hits:
            reached[d] += 1
        note = (f"{max(hits)}" if hits else "") + ("  collapsed" if s < args.short else "")
        print(f"{l:5d} {h:4d} {s:8.1f}  {note}")
    short = sum(1 for _, _, s in heads if s < args.short)
    need_short = args.short_share * len(heads)
    frac = long_row["flops_per_char"] / long_row["flops_per_char_full_span"]
    run_frac = (long_row["train_flops"] / long_row["chars"]) / long_row["flops_per_char_full_span"]
    long_sps, desk_sps = args.steps / long_wall, args.desktop_steps / desk_wall
    long_cps, desk_cps = long_row["chars"] / long_wall, desk_row["chars"] / desk_wall
    load = os.getloadavg()
    print(f"\nlong:    {args.steps} steps in {long_wall:.0f} s, {long_sps:.3f} steps/s, "
          f"{long_cps:.0f} chars/s, peak RSS {long_rss / 1024:.0f} MiB, final validation "
          f"{long_row['final_val_bpc']} bpc")
    print(f"desktop: {args.desktop_steps} steps in {desk_wall:.0f} s, {desk_sps:.3f} steps/s, "
          f"{desk_cps:.0f} chars/s; long/desktop: {long_sps / desk_sps:.2f}x steps/s, "
          f"{long_cps / desk_cps:.2f}x chars/s")
    print(f"FLOPs per character at the final spans: {long_row['flops_per_char']:.3g}, "
          f"{100 * frac:.1f} % of every head at S ({long_row['flops_per_char_full_span']:.3g}); "
          f"over the run {100 * run_frac:.1f} %")
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / "
          f"{load[2]:.1f} (shared); {args.threads} threads")
    print(f"heads below {args.short:g}: {short} of {len(heads)} (need {need_short:g}); heads "
          "reaching each distance: " + ", ".join(f"{d}: {n}" for d, n in reached.items()))
    ok = short >= need_short and all(reached.values()) and frac < args.cost_fraction
    print("PASS" if ok else "FAIL")
    print(f"wrote {args.out}/comparison.png")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
