#!/usr/bin/python3
"""torch and the C reader/writer of .pt files, both ways (TAP).

Usage: torchfile_torch.py ORACLE_DIR TORCHFILE_TOOL TEST_TORCHFILE

1. Fresh fixtures from tools/oracle/torch_checkpoints.py, and test-torchfile run on them, so the
   committed fixtures can never drift from what torch writes today.
2. Every fixture read by C and written back by C (zip and legacy): torch.load gives the same
   objects (types, keys in order, values, dtypes, shapes, strides, offsets, storage sharing).
3. The export-style sample checkpoint written by C: torch loads it into a DataParallel model and
   the reference-style Adagrad, which then takes steps.
Skipped (exit 77) without torch.
"""
import contextlib
import io
import os
import subprocess
import sys
import tempfile

try:
    import torch  # noqa: F401
except ImportError:
    print("1..0 # SKIP PyTorch not installed")
    sys.exit(77)

oracle_dir, tool, test_exe = sys.argv[1:4]
sys.path.insert(0, oracle_dir)
import torch_checkpoints  # noqa: E402

results = []


def check(name, fn):
    try:
        with contextlib.redirect_stdout(io.StringIO()):   # TAP lines only on stdout
            fn()
        results.append((True, name, ""))
    except Exception as e:  # noqa: BLE001 - every failure is reported as a TAP line
        results.append((False, name, f"{type(e).__name__}: {e}"))


def run(*cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stdout[-2000:]} {p.stderr[-2000:]}")
    return p.stdout


with tempfile.TemporaryDirectory() as tmp:
    fixtures = os.path.join(tmp, "fixtures")
    torch_checkpoints.make_fixtures(fixtures)
    env = dict(os.environ, SPANSCOPE_TORCH_FIXTURES=fixtures)
    check("test-torchfile on freshly written fixtures", lambda: run(test_exe, env=env))

    for name in sorted(os.listdir(fixtures)):
        if not name.endswith(".pt") or name.startswith("evil_"):
            continue
        src = os.path.join(fixtures, name)
        # torch 1.x cannot read the big-endian file itself: compare with its little-endian twin
        same_as = os.path.join(fixtures, "torch_types_zip.pt" if "bigendian" in name else name)
        for fmt in ("zip", "legacy"):
            out = os.path.join(tmp, f"{name[:-3]}.c_{fmt}.pt")

            def copy_and_compare(src=src, out=out, fmt=fmt, same_as=same_as):
                run(tool, "copy", src, out, fmt)
                torch_checkpoints.compare(same_as, out)
            check(f"{name} read and written by C as {fmt}: torch.load gives the same objects",
                  copy_and_compare)

    for fmt in ("zip", "legacy"):
        out = os.path.join(tmp, f"sample_{fmt}.pt")

        def sample(out=out, fmt=fmt):
            run(tool, "sample", out, fmt)
            torch_checkpoints.check_sample(out)
        check(f"export-style checkpoint written by C as {fmt}: torch resumes from it", sample)

print(f"1..{len(results)}")
for i, (ok, name, why) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {i} - {name}")
    if why:
        for line in why.splitlines():
            print(f"# {line}")
sys.exit(0 if all(ok for ok, _, _ in results) else 1)
