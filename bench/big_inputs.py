#!/usr/bin/env python3
"""Peak resident memory of loading a big corpus (issue 13): a UTF-8 text of --mb megabytes (the
bundled King James text repeated) is loaded by bench/corpus_load the way training loads it, and
the kernel's peak RSS of that process (wait4's ru_maxrss) is printed against the file's size.

  bench/big_inputs.py [--build DIR] [--mb 200] [--json]
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def peak_rss(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    out, err = p.stdout.read().decode(), p.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed: {err.strip()}")
    return usage.ru_maxrss * 1024, json.loads(out)  # ru_maxrss is in KiB on Linux


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    loader = os.path.join(a.build, "bench", "corpus_load")
    with gzip.open(os.path.join(ROOT, "data", "kjv.txt.gz"), "rb") as f:
        kjv = f.read()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.txt")
        with open(path, "wb") as f:
            size = 0
            while size < a.mb * 1_000_000:
                f.write(kjv)
                size += len(kjv)
        rss, loaded = peak_rss([loader, path])
    result = {"file_mb": size / 1e6, "peak_rss_mb": rss / 1e6, "rss_per_file_byte": rss / size,
              "tokens": loaded["tokens"], "load_s": loaded["seconds"]}
    if a.json:
        print(json.dumps(result))
    else:
        print(f"{result['file_mb']:.0f} MB corpus: peak RSS {result['peak_rss_mb']:.0f} MB "
              f"({result['rss_per_file_byte']:.2f}x the file), {result['tokens']} tokens, "
              f"loaded in {result['load_s']:.1f} s")


if __name__ == "__main__":
    main()
