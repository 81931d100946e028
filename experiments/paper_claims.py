#!/usr/bin/env python3
"""The papers' claims at desktop scale, as one experiment.

Trains three models with the same data (the bundled King James text), steps and seed:
  adaptive   the desktop preset: adaptive span, maximum span S = 1024;
  fixed      the same with a fixed span: every head attends over S = 1024;
  allattn    the adaptive model with persistent memory instead of the feed-forward sublayer,
             N vectors per head chosen so the parameter count matches the adaptive model's.
Then writes to --out:
  comparison.png, comparison.svg  bpc against step, characters seen and training FLOPs (each
                                  step's FLOPs from the spans it had, engine/cost.h), span bars,
                                  the table (drawn by `spanscope-cli export` with the three
                                  checkpoints);
  table.md, table.csv             validation bpc, parameters, FLOPs per character, mean span;
  claims.txt                      what held at this scale;
and prints the same. Every number comes from the engine: `spanscope-cli export --json` on the
three checkpoints (parameters, validation bpc, spans, FLOPs per character now and with every head
at S, training FLOPs over the run) and the trainings' JSON reports (speed).

The claims checked (each says how at the end of the run):
  1. the average span stays small (below S / 8), so attention costs a fraction of full span;
  2. that cost is visible per step: the adaptive model's training FLOPs per character at its
     final spans, against the fixed model's (below --cost-fraction);
  3. adaptive span matches the fixed span's validation bpc (within --bpc-margin) at a fraction
     of the training FLOPs spent over the whole run (below --cost-fraction of the fixed model's);
  4. the all-attention model, with as many parameters, matches the adaptive model's validation
     bpc (within --bpc-margin).

Attention window: --attn-window head for all three. In the reference's window every head's
softmax covers its layer's longest window, so a layer pays for its longest head's scores; the
cost meter (engine/cost.c) counts each head's own window, which is what head mode computes. The
two differ in their numbers only through the renormalisation's epsilon (docs/MODEL.md). For the
fixed model both windows are S.

Time: the full setting is --steps 800 (the default). Run on 2026-11-30 on the 2-core machine
of bench/README.md: 17 minutes in all, 1,422 s of CPU (adaptive 156 s, fixed 926 s,
all-attention 340 s); README.md has the table. The script prints each run's seconds per step, so
a short run (--steps 100 --eval-every 50, a few minutes) says what the full one costs on another
machine. A short run trains too little for claims 3 and 4 to mean much: it checks the
pipeline and the cost side (claims 1 and 2 at that point of training).
"""
import argparse
import csv
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_STEPS = 800


def desktop_shape(cli):
    """d, F of the desktop preset as the CLI's help states its defaults (no second copy here)."""
    out = subprocess.run([cli, "train", "--help"], capture_output=True, text=True, check=True)
    values = {}
    for line in out.stdout.splitlines():
        for key in ("--hid-sz", "--inner-hid-sz"):
            if line.strip().startswith(key + "="):
                values[key] = int(line.rsplit("(default ", 1)[1].rstrip(")"))
    return values["--hid-sz"], values["--inner-hid-sz"]


def train(args, name, preset, extra, out):
    ckpt = os.path.join(out, name + ".safetensors")
    record = os.path.join(out, name + ".run.json")
    settings = {"steps": args.steps, "seed": args.seed, "preset": preset, "extra": extra,
                "eval_every": args.eval_every, "eval_tokens": args.eval_tokens}
    if args.reuse and os.path.exists(ckpt) and os.path.exists(record):
        with open(record, encoding="utf-8") as f:
            run = json.load(f)
        if run["settings"] == settings:
            print(f"  {name}: reusing {ckpt} ({args.steps} steps, {run['wall']:.0f} s)")
            return dict(run, checkpoint=ckpt)
    if os.path.exists(ckpt):
        os.remove(ckpt)   # the same run again from step 0, not a resume
    cmd = [args.cli, "train", "--preset", preset, "--steps", str(args.steps),
           "--seed", str(args.seed), "--threads", str(args.threads), "--json",
           "--report-every", str(args.report_every), "--eval-every", str(args.eval_every),
           "--eval-tokens", str(args.eval_tokens),
           "--checkpoint", ckpt, "--save-every", str(args.steps),
           "--attn-window", "head"] + extra
    print("$ " + " ".join(cmd), flush=True)
    if shutil.which("stdbuf"):
        cmd = ["stdbuf", "-oL"] + cmd
    reports = []
    start = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        for line in proc.stdout:
            if line.startswith("{"):
                r = json.loads(line)
                reports.append(r)
                val = r.get("val_bpc")
                print(f"  {name:9s} step {r['step']:5d}  train {r['train_bpc']:.3f}"
                      + (f"  val {val:.3f}" if val is not None else "")
                      + f"  {r['tokens_per_s']:6.0f} chars/s  span avg {r['span_avg']:6.1f}",
                      flush=True)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0 or not reports:
        sys.exit(f"paper_claims.py: training {name} failed (exit {proc.returncode})")
    run = {"name": name, "checkpoint": ckpt, "reports": reports, "wall": wall, "cpu": cpu,
           "settings": settings}
    with open(record, "w", encoding="utf-8") as f:
        json.dump(run, f)
    return run


def summarise(args, runs, out):
    """The engine's numbers of each run: `export --json` with every checkpoint, which also
    draws the comparison figure."""
    cmd = [args.cli, "export", "--figure", "curves,spans,table", "--json", "--width", "1800",
           "--height", "1100"]
    for r in runs:
        cmd += ["--checkpoint", r["checkpoint"], "--label", r["name"]]
    rows = {}
    for ext in ("svg", "png"):
        res = subprocess.run(cmd + ["--output", os.path.join(out, "comparison." + ext)],
                             capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit(f"paper_claims.py: export failed: {res.stderr.strip()}")
        for line in res.stdout.splitlines():
            row = json.loads(line)
            rows[row["label"]] = row
    for r in runs:
        r["summary"] = rows[r["name"]]


def run_flops_per_char(r):
    """Training FLOPs per character over the whole run, None without a history."""
    s = r["summary"]
    return s["train_flops"] / s["chars"] if s.get("train_flops") and s["chars"] else None


def fmt(v, spec):
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def write_tables(runs, out):
    header = ["run", "final val bpc", "best val bpc", "parameters", "FLOPs/char (end)",
              "of span S", "FLOPs/char (run)", "mean span", "max span", "s/step", "chars/s"]
    rows = []
    for r in runs:
        s = r["summary"]
        steps = r["reports"][-1]["step"]
        rows.append([r["name"], fmt(s["final_val_bpc"], ".3f"), fmt(s["best_val_bpc"], ".3f"),
                     str(s["params"]), fmt(s["flops_per_char"], ".3g"),
                     f"{100 * s['flops_per_char'] / s['flops_per_char_full_span']:.0f} %",
                     fmt(run_flops_per_char(r), ".3g"), fmt(s["span_mean"], ".1f"),
                     fmt(s["span_max"], ".1f"), f"{r['wall'] / steps:.3f}",
                     f"{s['chars'] / r['wall']:.0f}"])
    with open(os.path.join(out, "table.csv"), "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header] + rows)
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(row) + " |" for row in rows]
    with open(os.path.join(out, "table.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(md) + "\n")
    return "\n".join(md)


def claims(args, runs):
    a, fx, aa = (next(r for r in runs if r["name"] == n) for n in ("adaptive", "fixed", "allattn"))
    S = 1024
    lines = []

    def say(ok, text):
        verdict = "held" if ok else ("not held" if ok is not None else "not measured")
        lines.append(f"[{verdict}] {text}")

    sa, sf, saa = a["summary"], fx["summary"], aa["summary"]
    say(sa["span_mean"] < S / 8,
        f"1. average span small: mean {sa['span_mean']:.1f}, longest {sa['span_max']:.1f} of "
        f"S = {S} (claim: below S/8 = {S / 8:.0f})")
    step_frac = sa["flops_per_char"] / sf["flops_per_char"]
    say(step_frac < args.cost_fraction,
        f"2. cost visible per step: adaptive {sa['flops_per_char']:.3g} FLOPs/char at its final "
        f"spans against fixed {sf['flops_per_char']:.3g}, {100 * step_frac:.0f} % (claim: below "
        f"{100 * args.cost_fraction:.0f} %)")
    fa, ff = run_flops_per_char(a), run_flops_per_char(fx)
    frac = fa / ff if fa is not None and ff is not None else None
    d_bpc = sa["final_val_bpc"] - sf["final_val_bpc"]
    say(d_bpc <= args.bpc_margin and frac is not None and frac < args.cost_fraction,
        f"3. adaptive matches fixed: val bpc {sa['final_val_bpc']:.3f} vs {sf['final_val_bpc']:.3f} "
        f"({d_bpc:+.3f}; margin {args.bpc_margin}) at "
        + (f"{100 * frac:.0f} % of the training FLOPs" if frac is not None
           else "unmeasured cost"))
    d_aa = saa["final_val_bpc"] - sa["final_val_bpc"]
    p_ratio = saa["params"] / sa["params"]
    say(d_aa <= args.bpc_margin and abs(p_ratio - 1) < 0.01,
        f"4. all-attention matches with as many parameters ({saa['params']} vs {sa['params']}, "
        f"{100 * (p_ratio - 1):+.2f} %): val bpc {saa['final_val_bpc']:.3f} vs "
        f"{sa['final_val_bpc']:.3f} ({d_aa:+.3f}; margin {args.bpc_margin})")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", default=os.path.join(ROOT, "build", "app", "spanscope-cli"))
    ap.add_argument("--out", default="paper-claims", help="folder for figures and tables")
    ap.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                    help=f"steps of each run (default {DEFAULT_STEPS})")
    ap.add_argument("--eval-every", type=int, default=0,
                    help="validation every N steps (default steps/10)")
    ap.add_argument("--eval-tokens", type=int, default=65536,
                    help="validation tokens per evaluation (default 65536, train's; 0 = the whole "
                         "split)")
    ap.add_argument("--reuse", action="store_true",
                    help="take a run whose checkpoint and record (NAME.run.json) an earlier call "
                         "with the same settings left in --out instead of training it again")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--report-every", type=int, default=50)
    ap.add_argument("--bpc-margin", type=float, default=0.03,
                    help="'matches' means at most this much worse validation bpc (default 0.03)")
    ap.add_argument("--cost-fraction", type=float, default=0.5,
                    help="'a fraction of the cost' means below this share (default 0.5)")
    args = ap.parse_args()
    if args.steps < 10:
        ap.error("--steps must be at least 10")
    if not os.access(args.cli, os.X_OK):
        ap.error(f"{args.cli} is not an executable; build first or pass --cli")
    args.eval_every = args.eval_every or max(1, args.steps // 10)
    os.makedirs(args.out, exist_ok=True)

    d, F = desktop_shape(args.cli)
    # a feed-forward sublayer has 2·d·F + F + d parameters, N persistent vectors per head 2·d·N
    # (keys and values of every head): the N closest to the FF's count
    n_pers = round((2 * d * F + F + d) / (2 * d))
    # the all-attention preset is the desktop model without the feed-forward sublayer
    configs = [("adaptive", "desktop", []),
               ("fixed", "desktop", ["--no-adapt-span"]),
               ("allattn", "allattn", ["--pers-mem-size", str(n_pers)])]
    runs = [train(args, name, preset, extra, args.out) for name, preset, extra in configs]
    summarise(args, runs, args.out)
    table = write_tables(runs, args.out)
    verdicts = claims(args, runs)
    load = os.getloadavg()
    machine = (f"{os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / "
               f"{load[2]:.1f} (1 / 5 / 15 min) at the end")
    text = [f"steps {args.steps} per run, seed {args.seed}, {args.threads} threads; {machine}",
            f"persistent memory N = {n_pers} per head (d = {d}, F = {F})", "", table, ""]
    text += [f"{r['name']}: {r['wall']:.0f} s wall, {r['cpu']:.0f} s CPU, "
             f"{r['wall'] / args.steps:.3f} s/step" for r in runs]
    text += [""] + verdicts
    with open(os.path.join(args.out, "claims.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(text) + "\n")
    print("\n" + "\n".join(text))
    print(f"\nwrote {args.out}/comparison.png, comparison.svg, table.md, table.csv, claims.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
