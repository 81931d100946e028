#!/usr/bin/python3
"""PyTorch baseline for the spanscope training benchmark.

Trains the oracle model (fast path: heads batched in bmm, skew/unskew for the relative
positions, the reference's trimming + adaptive cache unless --no-trim) and prints one JSON line:
  {"chars_per_s": B*M / median step time, "step_ms_median": ..., "cpu_ms_median": CPU time of
   the process per step (all threads), "first_loss": NLL of the first block before any update,
   "losses": [NLL of every step, warm-up steps included], "threads": T}
A step is forward + backward + Adagrad update (+ clamping z); it is timed with perf_counter.

Streams: B contiguous streams of floor(n/B) tokens; blocks are read consecutively from
position 0 of every stream, caches start at zero. If a stream runs out, reading restarts at 0
with zeroed caches (a benchmark should be given enough tokens not to need this).

Example:
  /usr/bin/python3 tools/oracle/bench_torch.py --config '{"nlayers":4,...}' \
      --tokens train.i32 --steps 5 --warmup-steps 1 --threads 2
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import Adagrad, Config, SpanModel, train_step  # noqa: E402
import safetensors_io  # noqa: E402


def load_tokens(path):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) % 4:
        sys.exit(f"{path}: size {len(raw)} is not a multiple of 4 (expected raw int32 tokens)")
    t = torch.frombuffer(bytearray(raw), dtype=torch.int32)
    if sys.byteorder != "little":
        raise RuntimeError("little-endian host expected")
    return t.to(torch.int64)


def load_init(model, path):
    tensors, _ = safetensors_io.read(path)
    sd = model.state_dict()
    with torch.no_grad():
        for name, p in sd.items():
            if name not in tensors:
                sys.exit(f"{path}: tensor '{name}' is missing")
            t = tensors[name]
            if list(t.shape) != list(p.shape):
                sys.exit(f"{path}: tensor '{name}' has shape {list(t.shape)}, "
                         f"expected {list(p.shape)}")
            p.copy_(t.to(p.dtype))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="JSON string with the model/training config")
    ap.add_argument("--tokens", required=True, help="raw little-endian int32 token ids")
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--warmup-steps", type=int, default=1, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--trim", action=argparse.BooleanOptionalAction, default=True,
                    help="reference trimming + adaptive cache (default on)")
    ap.add_argument("--init", help="initial weights (safetensors, docs/MODEL.md names); extra "
                                   "tensors such as optimizer.* or cache.* are ignored")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    cfg = Config.from_dict(json.loads(a.config))
    B, M = cfg.batch_sz, cfg.block_sz
    tokens = load_tokens(a.tokens)
    if tokens.numel() and (tokens.min() < 0 or tokens.max() >= cfg.vocab_size):
        sys.exit(f"{a.tokens}: token ids must be in [0, {cfg.vocab_size})")
    L = tokens.numel() // B
    if L < M + 1:
        sys.exit(f"{a.tokens}: {tokens.numel()} tokens are too few for {B} streams of "
                 f"blocks of {M}")
    data = tokens[: B * L].view(B, L)

    model = SpanModel(cfg)
    if a.init:
        load_init(model, a.init)
    model.train()
    opt = Adagrad(model.named_parameters(), cfg.lr, cfg.lr_warmup, cfg.grad_clip)
    caches = model.init_caches(B)
    pos = 0
    losses, times, cpu_times = [], [], []
    for step in range(a.warmup_steps + a.steps):
        if pos + M + 1 > L:
            pos = 0
            caches = model.init_caches(B)
        x = data[:, pos: pos + M]
        y = data[:, pos + 1: pos + M + 1]
        pos += M
        t0, c0 = time.perf_counter(), time.process_time()
        loss, caches = train_step(model, opt, x, y, caches, mode="fast", trim=a.trim)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        losses.append(loss)
        if step >= a.warmup_steps:
            times.append(dt)
            cpu_times.append(dc)
    med = statistics.median(times) if times else float("nan")
    print(json.dumps({"chars_per_s": B * M / med if times else None,
                      "step_ms_median": med * 1e3 if times else None,
                      "cpu_ms_median": statistics.median(cpu_times) * 1e3 if times else None,
                      "first_loss": losses[0] if losses else None,
                      "losses": losses, "threads": a.threads}))


if __name__ == "__main__":
    main()
