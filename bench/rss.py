#!/usr/bin/env python3
"""Peak resident memory of `spanscope-cli train`, measured by the kernel for the child process
(wait4's ru_maxrss), in MB (10^6 bytes):

  rss_mb_desktop            the desktop defaults with their periodic evaluation
                            (1000 steps, evaluation every 100 on 65,536 tokens)
  rss_mb_s8192_adaptive     the same model with S = 8192 and the adaptive cache
  rss_mb_s8192_full_cache   S = 8192, every layer caching all S positions

Usage: bench/rss.py [--build DIR] [--quick] [--json]
--quick runs 200 desktop steps (evaluations at 100 and 200) and 80 steps at S = 8192 (the full
cache is full after 64 blocks of 128).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def peak_rss_mb(cmd, cwd):
    with open(os.devnull, "wb") as null:
        p = subprocess.Popen(cmd, stdout=null, stderr=subprocess.PIPE, cwd=cwd)
        _, status, usage = os.wait4(p.pid, 0)
        err = p.stderr.read().decode(errors="replace")
        p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed: {err.strip()}")
    return usage.ru_maxrss * 1024 / 1e6  # ru_maxrss is in KiB on Linux


def find_build(build):
    for cand in (build, os.path.join(ROOT, build)):
        if os.path.isdir(cand):
            return os.path.abspath(cand)
    sys.exit(f"build directory {build} not found")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    cli = os.path.join(find_build(a.build), "app", "spanscope-cli")
    desktop_steps, long_steps = (200, 80) if a.quick else (1000, 100)
    runs = {
        "rss_mb_desktop": ["--steps", str(desktop_steps)],
        "rss_mb_s8192_adaptive": ["--attn-span", "8192", "--steps", str(long_steps),
                                  "--eval-every", str(long_steps)],
        "rss_mb_s8192_full_cache": ["--attn-span", "8192", "--no-adapt-span-cache",
                                    "--steps", str(long_steps), "--eval-every", str(long_steps)],
    }
    result = {}
    with tempfile.TemporaryDirectory() as tmp:  # nothing is saved, but keep the tree clean
        for key, args in runs.items():
            result[key] = round(peak_rss_mb([cli, "train", "--report-every", "100"] + args, tmp), 1)
    result["desktop_steps"] = desktop_steps
    if a.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key} {value}")


if __name__ == "__main__":
    main()
