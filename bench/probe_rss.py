#!/usr/bin/env python3
"""Peak resident memory (the kernel's ru_maxrss of the child, MB = 10^6 bytes) and wall time of
`spanscope-cli probe` reading texts of N characters, its JSON written to /dev/null:

  probe_rss_mb_<n>, probe_s_<n>            every weight of every head (the default)
  probe_top8_rss_mb_<n>, probe_top8_s_<n>  --top-k 8

The model is a preset after one step (--preset; default desktop: 4 layers x 4 heads whose spans
start at 0, so every head reads R + 1 = 33 distances, like a trained model's short heads; the
span demo's heads start at 0.75 S = 768 and read about 800 each, 24 times the weights). With
--baseline CLI, another spanscope-cli (e.g. a build of an older commit) reads the same texts in
the same run, each size interleaved with this one's, and the ratios baseline / this are printed
(`*_ratio_<n>`); sizes the baseline should skip (too slow or too large for the machine) are
left out with --baseline-max-chars.

Usage: bench/probe_rss.py [--build DIR] [--chars 10000,100000] [--preset NAME] [--baseline CLI]
                          [--baseline-max-chars N] [--threads N] [--json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = ["the ", "spans ", "grow ", "and ", "shrink ", "while ", "heads ", "look ", "back, ",
         "far ", "near. ", "\n"]


def measure(cmd):
    """(peak RSS in MB, wall seconds) of cmd, its stdout to /dev/null."""
    with open(os.devnull, "wb") as null:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=null, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(p.pid, 0)
        seconds = time.monotonic() - t0
        err = p.stderr.read().decode(errors="replace")
        p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed: {err.strip()[-400:]}")
    return usage.ru_maxrss * 1024 / 1e6, seconds


def text_of(n):
    out, i = [], 0
    while sum(map(len, out)) < n:
        out.append(WORDS[i % len(WORDS)])
        i = i * 7 + 3
    return "".join(out)[:n]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--chars", default="10000,100000")
    ap.add_argument("--preset", default="desktop")
    ap.add_argument("--baseline")
    ap.add_argument("--baseline-max-chars", type=int, default=10 ** 9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    build = a.build if os.path.isdir(a.build) else os.path.join(ROOT, a.build)
    cli = os.path.join(build, "app", "spanscope-cli")
    sizes = [int(s) for s in a.chars.split(",")]
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = os.path.join(tmp, "model.safetensors")
        subprocess.run([cli, "train", "--preset", a.preset, "--steps", "1", "--eval-every", "0",
                        "--threads", str(a.threads), "--json", "--checkpoint", ckpt],
                       check=True, capture_output=True)
        for n in sizes:
            path = os.path.join(tmp, f"text{n}.txt")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text_of(n))
            k = f"{n // 1000}k" if n % 1000 == 0 else str(n)
            base = ["probe", "--checkpoint", ckpt, "--text-file", path]
            runs = [("probe", base + ["--threads", str(a.threads)], cli),
                    ("probe_top8", base + ["--threads", str(a.threads), "--top-k", "8"], cli)]
            if a.baseline and n <= a.baseline_max_chars:
                # the older program has no --threads for probe: it uses every core
                runs.insert(1, ("baseline_probe", base, a.baseline))
            for name, args, program in runs:
                rss, seconds = measure([program, *args])
                result[f"{name}_rss_mb_{k}"] = round(rss, 1)
                result[f"{name}_s_{k}"] = round(seconds, 2)
            if f"baseline_probe_rss_mb_{k}" in result:
                result[f"rss_ratio_{k}"] = round(result[f"baseline_probe_rss_mb_{k}"] /
                                                 result[f"probe_rss_mb_{k}"], 2)
                result[f"time_ratio_{k}"] = round(result[f"baseline_probe_s_{k}"] /
                                                  result[f"probe_s_{k}"], 2)
    if a.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key} {value}")


if __name__ == "__main__":
    main()
