#!/usr/bin/python3
"""Models trained by spanscope, evaluated by the oracle's copy of the reference's procedure
(tools/oracle/reference_eval.py): the same bpc.

A small model trains 80 steps in reference mode (spans start at 4 % of S = 256: the reference
trims 192 distances of every layer, so its softmax covers 64 distances while the heads' own
windows are about 28) and in head mode, on a byte-mode folder; `spanscope-cli eval
--whole-blocks` and the oracle's full evaluation (the reference's trimmed computation in
reference mode, the clear path with each head's window in head mode) must agree to 1e-5 bpc on
the validation split. The cross evaluation (the head-mode model by the reference's
computation) is printed for information.

Prints TAP. Usage: oracle_eval.py PYTHON_WITH_TORCH ORACLE_DIR SPANSCOPE_CLI
"""
import json
import os
import random
import subprocess
import sys
import tempfile

PYTHON, ORACLE, CLI = sys.argv[1:4]
THREADS = os.environ.get("SPANSCOPE_TEST_THREADS", "2")
results = []


def run(*args):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p.stdout


def skip_all(reason):
    print("1..0 # SKIP " + reason)
    sys.exit(0)


if subprocess.run([PYTHON, "-c", "import torch"], capture_output=True).returncode != 0:
    skip_all("PyTorch not installed")

tmp = tempfile.mkdtemp(prefix="spanscope-oracle-eval-")
rng = random.Random(5)
words = ["the ", "span ", "grows ", "and ", "shrinks ", "while ", "heads ", "look ", "back, ",
         "far ", "near. ", "\n"]
for name, size in [("train.txt", 60000), ("valid.txt", 12000), ("test.txt", 4000)]:
    with open(os.path.join(tmp, name), "w") as f:
        text = ""
        while len(text) < size:
            text += rng.choice(words)
        f.write(text)
with open(os.path.join(tmp, "valid.txt"), "rb") as f:
    valid = f.read()
tokens = os.path.join(tmp, "valid.i32")
with open(tokens, "wb") as f:
    for b in valid:
        f.write(int(b).to_bytes(4, "little"))

common = ["--corpus", tmp, "--byte-mode", "--nlayers", "2", "--hid-sz", "32", "--nheads", "2",
          "--inner-hid-sz", "64", "--attn-span", "256", "--adapt-span-ramp", "16",
          "--adapt-span-init", "0.04", "--block-sz", "32", "--batch-sz", "4", "--lr-warmup", "10",
          "--steps", "80", "--eval-every", "0", "--report-every", "80", "--json",
          "--threads", THREADS]


def trained(window):
    ckpt = os.path.join(tmp, f"{window}.safetensors")
    run(CLI, "train", *common, "--attn-window", window, "--checkpoint", ckpt)
    return ckpt


def ours(ckpt):
    out = json.loads(run(CLI, "eval", "--checkpoint", ckpt, "--corpus", tmp, "--byte-mode",
                         "--whole-blocks", "--threads", THREADS))
    return out["bpc"]


def oracle(ckpt, window=None):
    args = [PYTHON, os.path.join(ORACLE, "reference_eval.py"), ckpt, "--tokens", tokens]
    if window:
        args += ["--attn-window", window]
    return json.loads(run(*args))["bpc"]


ckpts = {}
for window in ("reference", "head"):
    name = f"{window} mode: spanscope-cli eval --whole-blocks equals the oracle's full evaluation"
    try:
        ckpts[window] = trained(window)
        a, b = ours(ckpts[window]), oracle(ckpts[window])
        ok = abs(a - b) < 1e-5
        results.append((ok, name, f"spanscope {a:.6f}, oracle {b:.7f}"))
    except AssertionError as e:
        results.append((False, name, str(e)))

if "head" in ckpts:
    try:
        cross = oracle(ckpts["head"], "reference")
        head = oracle(ckpts["head"])
        results.append((True, "the head-mode model read by the reference's computation",
                        f"{cross:.7f} bpc, in head mode {head:.7f} ({cross - head:+.2e})"))
    except AssertionError as e:
        results.append((False, "the head-mode model read by the reference's computation", str(e)))

print(f"1..{len(results)}")
for i, (ok, name, info) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {i} - {name}")
    if info:
        print(f"# {info}")
sys.exit(0 if all(ok for ok, _, _ in results) else 1)
