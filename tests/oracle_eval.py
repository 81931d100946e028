#!/usr/bin/python3
"""Models trained by spanscope, evaluated by the oracle's copy of the reference's procedure
(tools/oracle/reference_eval.py): the same bpc.

A small model trains 80 steps in reference mode (spans start at 4 % of S = 256: the reference
trims 192 distances of every layer, so its softmax covers 64 distances while the heads' own
windows are about 28) and in head mode, on a byte-mode folder; `spanscope-cli eval
--whole-blocks` and the oracle's full evaluation (the reference's trimmed computation in
reference mode, the clear path with each head's window in head mode) must agree to 1e-5 bpc on
the validation split. The cross evaluation (the head-mode model by the reference's
computation) is printed for information. Then `--eval-mode reference` with the learning rate
at 0, so the validation procedure alone is compared (with training, float rounding moves the
two runs apart by 1e-3 bpc within 20 steps; experiments/reference_validation.py compares
trained curves): ten validations of 2 blocks every 20 steps, rolling through the split with
their caches, equal the oracle's reference procedure to 1e-5 bpc (before the streams wrap,
where the two programs' random restart offsets would part them).

Prints TAP. Usage: oracle_eval.py PYTHON_WITH_TORCH ORACLE_DIR SPANSCOPE_CLI
"""
import json
import os
import random
import shutil
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

model = ["--corpus", tmp, "--byte-mode", "--nlayers", "2", "--hid-sz", "32", "--nheads", "2",
         "--inner-hid-sz", "64", "--attn-span", "256", "--adapt-span-ramp", "16",
         "--adapt-span-init", "0.04", "--block-sz", "32", "--batch-sz", "4", "--lr-warmup", "10",
         "--json", "--threads", THREADS]
common = model + ["--steps", "80", "--eval-every", "0", "--report-every", "80"]


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

name = ("--eval-mode reference: 10 validations of 2 blocks, every 20 steps, equal the oracle's "
        "copy of the reference's procedure")
try:
    init = os.path.join(tmp, "init.safetensors")
    run(CLI, "train", *model, "--steps", "0", "--eval-mode", "reference", "--lr", "0",
        "--checkpoint", init)
    resumed = os.path.join(tmp, "rolling.safetensors")
    shutil.copy(init, resumed)
    lines = run(CLI, "train", *model, "--steps", "200", "--eval-every", "20", "--report-every",
                "20", "--save-every", "0", "--checkpoint", resumed)
    ours_val = {}
    for l in lines.splitlines():
        if l.startswith("{"):
            o = json.loads(l)
            ours_val[o["step"]] = o["val_bpc"]
    script = ("import json, sys, torch; sys.path.insert(0, sys.argv[1]); "
              "from reference_eval import load_spanscope, train_and_validate; "
              "torch.set_num_threads(1); cfg, m = load_spanscope(sys.argv[2]); "
              "t = lambda p: torch.tensor(list(open(p, 'rb').read()), dtype=torch.int64); "
              "v, _, _ = train_and_validate(cfg, m, t(sys.argv[3]), t(sys.argv[4]), 200, 20); "
              "print(json.dumps(v))")
    theirs = json.loads(run(PYTHON, "-c", script, ORACLE, init, os.path.join(tmp, "train.txt"),
                            os.path.join(tmp, "valid.txt")))
    steps = range(20, 201, 20)
    worst = max(abs(ours_val[k] - theirs[str(k)]) for k in steps)
    spread = max(ours_val.values()) - min(ours_val.values())
    results.append((worst < 1e-5 and spread > 1e-2, name,
                    f"largest difference {worst:.1e} bpc; the points themselves range over "
                    f"{spread:.3f} bpc"))
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
