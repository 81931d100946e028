#!/usr/bin/python3
"""The reference's two evaluation procedures over the oracle model (docs/MODEL.md, "Evaluation"),
and a spanscope checkpoint read into the oracle.

  * full_eval: the reference's evaluation of a whole split: B streams of floor(T/B) tokens,
    blocks of M from position 0 with caches starting at zero and carried, only whole blocks
    (it stops once the next block would pass the last target), the mean of the blocks' mean
    losses.
  * RollingValidation: the reference's validation during training: after every `every`
    training steps, max(1, every // 10) blocks (at most ceil(cols / M)), continuing where the
    previous validation stopped, with caches of its own; once the position passes cols - M the
    streams restart at a random offset in [0, M) with zeroed caches.
  * train_and_validate: training as the reference trains (the streams read from position 0 in
    order, its Adagrad), validating every `every` steps by RollingValidation.

The attention runs as the model's attn_window says: reference mode through the fast path with
the reference's trimming (the reference's own computation), head mode through the clear path.

Command line: the bpc of a checkpoint over a token file, as JSON.
  /usr/bin/python3 tools/oracle/reference_eval.py CKPT --tokens FILE.i32 [--batch-sz B]
      [--attn-window reference|head]
"""
import argparse
import json
import math
import os
import random
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import Adagrad, Config, SpanModel, nll, train_step  # noqa: E402
import safetensors_io  # noqa: E402


def load_spanscope(path):
    """A spanscope checkpoint (safetensors, docs/MODEL.md names) as (Config, SpanModel)."""
    tensors, meta = safetensors_io.read(path)
    cfg = Config.from_dict(json.loads(meta["config"]))
    model = SpanModel(cfg)
    with torch.no_grad():
        for name, p in model.state_dict().items():
            t = tensors[name]
            if list(t.shape) != list(p.shape):
                raise ValueError(f"{path}: {name} has shape {list(t.shape)}, "
                                 f"expected {list(p.shape)}")
            p.copy_(t)
    model.eval()
    return cfg, model


def batchify(tokens, B):
    cols = tokens.numel() // B
    return tokens[: B * cols].view(B, cols)


def forward_loss(model, x, y, caches):
    """Mean NLL of one block and the caches for the next, in the model's attention window."""
    if model.cfg.attn_window == "reference":
        out = model(x, caches, mode="fast", trim=True)
    else:
        out = model(x, caches, mode="clear")
    return nll(out["logprobs"], y).item(), out["caches"]


@torch.no_grad()
def full_eval(model, tokens, B, M):
    data = batchify(tokens, B)
    cols = data.shape[1]
    caches = model.init_caches(B)
    pos, total, blocks = 0, 0.0, 0
    for _ in range(math.ceil(cols / M)):
        loss, caches = forward_loss(model, data[:, pos: pos + M], data[:, pos + 1: pos + M + 1],
                                    caches)
        total += loss
        blocks += 1
        pos += M
        if pos >= cols - M:
            break
    return total / blocks / math.log(2), blocks


class RollingValidation:
    def __init__(self, model, tokens, B, M, seed=0):
        self.data = batchify(tokens, B)
        self.B, self.M = B, M
        self.pos = 0
        self.caches = model.init_caches(B)
        self.random = random.Random(seed)

    @torch.no_grad()
    def validate(self, model, every):
        cols = self.data.shape[1]
        M = self.M
        blocks = min(max(1, every // 10), math.ceil(cols / M))
        total = 0.0
        for _ in range(blocks):
            x = self.data[:, self.pos: self.pos + M]
            y = self.data[:, self.pos + 1: self.pos + M + 1]
            loss, self.caches = forward_loss(model, x, y, self.caches)
            total += loss
            self.pos += M
            if self.pos >= cols - M:
                self.pos = self.random.randrange(M)
                self.caches = [torch.zeros_like(c) for c in self.caches]
        return total / blocks / math.log(2)


def train_and_validate(cfg, model, train_tokens, valid_tokens, steps, every, seed=0):
    """Trains `steps` steps from the model's weights; returns ({step: validation bpc},
    {step: that step's training bpc}) at every multiple of `every`, and the rolling validation.
    The training streams must not run out within the run."""
    B, M = cfg.batch_sz, cfg.block_sz
    data = batchify(train_tokens, B)
    if steps * M + 1 > data.shape[1]:
        raise ValueError("the training streams would restart within the run")
    opt = Adagrad(model.named_parameters(), cfg.lr, cfg.lr_warmup, cfg.grad_clip)
    caches = model.init_caches(B)
    rolling = RollingValidation(model, valid_tokens, B, M, seed=seed)
    val, train = {}, {}
    for k in range(steps):
        model.train()
        x, y = data[:, k * M: k * M + M], data[:, k * M + 1: k * M + M + 1]
        loss, caches = train_step(model, opt, x, y, caches, mode="fast", trim=True)
        if (k + 1) % every == 0:
            train[k + 1] = loss / math.log(2)
            model.eval()
            val[k + 1] = rolling.validate(model, every)
    model.eval()
    return val, train, rolling


def load_tokens(path):
    with open(path, "rb") as f:
        raw = f.read()
    return torch.frombuffer(bytearray(raw), dtype=torch.int32).to(torch.int64)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--tokens", required=True, help="raw little-endian int32 token ids")
    ap.add_argument("--batch-sz", type=int, default=0, help="streams (default: the model's)")
    ap.add_argument("--attn-window", choices=["reference", "head"],
                    help="read the model in this window instead of its own")
    a = ap.parse_args()
    torch.set_num_threads(1)
    cfg, model = load_spanscope(a.checkpoint)
    if a.attn_window:
        cfg.attn_window = a.attn_window    # the modules share the Config
    B = a.batch_sz or cfg.batch_sz
    bpc, blocks = full_eval(model, load_tokens(a.tokens), B, cfg.block_sz)
    print(json.dumps({"bpc": bpc, "blocks": blocks, "batch_sz": B,
                      "attn_window": cfg.attn_window}))


if __name__ == "__main__":
    main()
