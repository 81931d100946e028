#!/usr/bin/env python3
"""Does `--eval-mode reference` draw the reference's validation curve?

The same model (spanscope's initial weights, saved at step 0) trains twice on the same bytes
of the bundled corpus: once in spanscope (`spanscope-cli train --eval-mode reference`, the
attention in reference mode) and once in the PyTorch oracle (tools/oracle: the reference's
trimmed attention, its Adagrad, and the reference's validation procedure in
tools/oracle/reference_eval.py: every E steps, E/10 blocks continuing through the validation
streams with caches of their own, restarting at a random offset at the end). Both read the
training streams in the same order (no restart of the training streams within the run), so
their weights stay close; the two validation curves can differ through float rounding and
through the random offsets of the validation restarts, which the two programs draw from their
own generators.

The script prints both curves and compares their difference with the noise of one validation
point: the spread (standard deviation) of the oracle's validation of its final weights over
every E/10-block chunk of the rolling validation, i.e. how much a point moves with the part of
the split it happens to read. It exits 1 when a point differs by more than 3 such deviations.
(With the weights held still the two procedures agree to 1e-6 bpc: tests/oracle_eval.py.)

  /usr/bin/python3 experiments/reference_validation.py [--cli build/app/spanscope-cli]
      [--steps 600] [--every 100]          (Debian's python3-torch)
"""
import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORACLE = os.path.join(ROOT, "tools", "oracle")


def corpus_folder(tmp, train_bytes, valid_bytes):
    """train.txt, valid.txt and test.txt: consecutive ASCII bytes of the bundled corpus."""
    with gzip.open(os.path.join(ROOT, "data", "kjv.txt.gz"), "rb") as f:
        text = bytes(b for b in f.read(4 * (train_bytes + 2 * valid_bytes)) if b < 128)
    parts = {"train.txt": text[:train_bytes],
             "valid.txt": text[train_bytes: train_bytes + valid_bytes],
             "test.txt": text[train_bytes + valid_bytes: train_bytes + 2 * valid_bytes]}
    for name, data in parts.items():
        with open(os.path.join(tmp, name), "wb") as f:
            f.write(data)
    return parts


def ours(cli, args, tmp, steps, every, threads):
    init = os.path.join(tmp, "init.safetensors")
    run = os.path.join(tmp, "run.safetensors")
    common = ["--corpus", tmp, "--byte-mode", *args, "--eval-mode", "reference",
              "--threads", str(threads)]
    subprocess.run([cli, "train", *common, "--steps", "0", "--checkpoint", init], check=True,
                   capture_output=True)
    shutil.copy(init, run)
    p = subprocess.run([cli, "train", *common, "--steps", str(steps), "--eval-every", str(every),
                        "--report-every", str(every), "--save-every", "0", "--json",
                        "--checkpoint", run], check=True, capture_output=True, text=True)
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    return init, {l["step"]: l["val_bpc"] for l in lines if "val_bpc" in l}, \
        {l["step"]: l["train_bpc"] for l in lines}


def oracle(init, parts, steps, every, threads):
    sys.path.insert(0, ORACLE)
    import torch
    from reference_eval import RollingValidation, load_spanscope, train_and_validate
    torch.set_num_threads(threads)
    cfg, model = load_spanscope(init)
    train = torch.tensor(list(parts["train.txt"]), dtype=torch.int64)
    valid = torch.tensor(list(parts["valid.txt"]), dtype=torch.int64)
    val, tr, _ = train_and_validate(cfg, model, train, valid, steps, every, seed=1)
    # the noise of one point: the final weights over every chunk the rolling validation reads
    chunks = RollingValidation(model, valid, cfg.batch_sz, cfg.block_sz, seed=2)
    cols = valid.numel() // cfg.batch_sz
    blocks = max(1, every // 10)
    spread = [chunks.validate(model, every) for _ in range(max(4, cols // (blocks * cfg.block_sz)))]
    return val, tr, statistics.stdev(spread)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", default=os.path.join(ROOT, "build", "app", "spanscope-cli"))
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    args = ["--nlayers", "2", "--hid-sz", "64", "--nheads", "2", "--inner-hid-sz", "128",
            "--attn-span", "256", "--adapt-span-ramp", "16", "--block-sz", "64", "--batch-sz", "8",
            "--lr-warmup", "50", "--seed", "3"]
    tmp = tempfile.mkdtemp(prefix="spanscope-refval-")
    try:
        parts = corpus_folder(tmp, train_bytes=8 * (a.steps * 64 + 64), valid_bytes=8 * 2000)
        init, val_c, train_c = ours(a.cli, args, tmp, a.steps, a.every, a.threads)
        val_o, train_o, noise = oracle(init, parts, a.steps, a.every, a.threads)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"validation every {a.every} steps over {a.every // 10} blocks of 8 x 64; "
          f"spread of one point: {noise:.4f} bpc")
    print(" step   train: spanscope  oracle    valid: spanscope  oracle   diff   diff/spread")
    worst = 0.0
    for step in sorted(val_o):
        d = val_c[step] - val_o[step]
        worst = max(worst, abs(d) / noise)
        print(f"{step:5d}          {train_c.get(step, float('nan')):.4f}   {train_o[step]:.4f}"
              f"           {val_c[step]:.4f}   {val_o[step]:.4f}  {d:+.4f}  {d / noise:+.2f}")
    print(f"largest difference: {worst:.2f} spreads")
    sys.exit(0 if worst <= 3 else 1)


if __name__ == "__main__":
    main()
