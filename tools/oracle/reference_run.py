#!/usr/bin/python3
"""Runs of the reference code as its main.py records them, for spanscope's import, export and
follow (engine/refrun.c, engine/follow.c). Written from the reference's file formats; the
training itself is the oracle's (model.py).

The reference (facebookresearch/adaptive-span) saves, at the end of every iteration of
--nbatches steps, torch.save({"iter_no", "model": state dict of the model wrapped in
DataParallel ("module." keys), "logger": {"step", "train_bpc", "val_bpc", "span_avg",
"span_max"}, "optimizer": Adagrad-with-clip state dict, "scheduler_iter"}). Its model's state
dict differs from the oracle's (model.py) in three ways that matter to a reader:
  * module nesting decides the order of the parameters, which numbers the optimizer's state:
    the model's own key_pe first, then in_emb, out_emb, the layers; in a layer the attention
    core (span, persistent memory) before the projections, which come as query, out, val, key;
  * each soft mask keeps a buffer mask_template = linspace(1 - S, 0, S) in the state dict;
  * with persistent memory and adaptive spans, the persistent-memory module holds the layer's
    adaptive-span module too, so the span and its template appear a second time under
    "...persistent_memory.adaptive_span._mask".
ReferenceLayout below builds that nesting around the oracle's own parameters, so torch's
state_dict(), load_state_dict() and parameters() behave as they would on the reference model.

Usage:
  /usr/bin/python3 tools/oracle/reference_run.py [--out DIR]        # fixtures -> tests/fixtures/reference
  /usr/bin/python3 tools/oracle/reference_run.py --versions DIR N    # N iterations, one .pt each

Fixtures (OUT): corpus/{train,valid,test}.txt (a small corpus in the reference's format),
ref_{ff,pers}_{zip,legacy}.pt (a run of 2 iterations of 3 steps), ref_{ff,pers}.safetensors
(what spanscope must read from them, under docs/MODEL.md names: every parameter,
optimizer.sum.<name>, batch.x/batch.y (I32, B x M, the first block of valid in 2 streams with
empty caches) and batch.loss; metadata "expected": JSON of the flags, step, iter_no, logger, and
the reference's full evaluation of valid at batch 8 ("full_eval_bpc")).
"""
import argparse
import json
import math
import os
import random
import sys
import warnings

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from model import Config, SpanModel, nll  # noqa: E402
from torch_checkpoints import AdagradWithGradClip  # noqa: E402

warnings.filterwarnings("ignore")   # LambdaLR's order warning: main.py steps it first, on purpose

# main.py's flags for the fixture runs (the ones that differ from its defaults)
FLAGS = {
    "ff": {"nlayers": 2, "hid_sz": 16, "nheads": 2, "attn_span": 20, "inner_hid_sz": 24,
           "pers_mem_size": 0},
    "pers": {"nlayers": 2, "hid_sz": 16, "nheads": 2, "attn_span": 20, "inner_hid_sz": 0,
             "pers_mem_size": 5},
}
COMMON = {"block_sz": 8, "batch_sz": 4, "adapt_span": True, "adapt_span_loss": 0.02,
          "adapt_span_ramp": 4, "adapt_span_cache": True, "lr": 0.07, "lr_warmup": 4,
          "grad_clip": 0.03, "dropout": 0.0, "optim": "adagrad"}
NBATCHES = 3
ITERATIONS = 2
Z_INIT = [[0.1, 0.45], [0.8, 0.25]]
EVAL_BATCH = 8


def cli_flags(name):
    """The same flags as spanscope-cli options."""
    d = dict(FLAGS[name], **COMMON)
    out = []
    for k in ("nlayers", "hid_sz", "nheads", "attn_span", "pers_mem_size", "block_sz",
              "batch_sz", "adapt_span_loss", "adapt_span_ramp", "lr_warmup", "dropout"):
        out += ["--" + k.replace("_", "-"), str(d[k])]
    if d["pers_mem_size"] == 0:
        out += ["--inner-hid-sz", str(d["inner_hid_sz"])]
    out += ["--adapt-span", "--adapt-span-cache", "--nbatches", str(NBATCHES)]
    return out


# ------------------------------------------------------------------------------------------------
# The reference's module nesting around the oracle's parameters
# ------------------------------------------------------------------------------------------------

class _Mask(nn.Module):
    def __init__(self, z, S):
        super().__init__()
        self.current_val = z
        self.register_buffer("mask_template", torch.linspace(1 - S, 0, steps=S))


class _Span(nn.Module):
    def __init__(self, z, S):
        super().__init__()
        self._mask = _Mask(z, S)


class _PersistentMemory(nn.Module):
    def __init__(self, pm):
        super().__init__()
        self.key = pm.key
        self.val = pm.val


class _Core(nn.Module):
    def __init__(self, core, S):
        super().__init__()
        span = None
        if hasattr(core, "adaptive_span"):
            span = self.adaptive_span = _Span(core.adaptive_span._mask.current_val, S)
        if hasattr(core, "persistent_memory"):
            self.persistent_memory = _PersistentMemory(core.persistent_memory)
            if span is not None:
                self.persistent_memory.adaptive_span = span   # one module in two places


class _Attention(nn.Module):
    def __init__(self, mha, S):
        super().__init__()
        self.attn = _Core(mha.attn, S)
        self.proj_query = mha.proj_query
        self.proj_out = mha.proj_out
        self.proj_val = mha.proj_val
        self.proj_key = mha.proj_key


class _FF(nn.Module):
    def __init__(self, ff):
        super().__init__()
        self.fc1 = ff.fc1
        self.fc2 = ff.fc2


class _Layer(nn.Module):
    def __init__(self, layer, S):
        super().__init__()
        self.attn = _Attention(layer.attn, S)
        self.norm1 = layer.norm1
        if hasattr(layer, "ff"):
            self.ff = _FF(layer.ff)
            self.norm2 = layer.norm2


class ReferenceLayout(nn.Module):
    def __init__(self, model):
        super().__init__()
        S = model.cfg.attn_span
        self.in_emb = model.in_emb
        self.out_emb = model.out_emb
        self.key_pe = model.key_pe
        self.layers = nn.ModuleList([_Layer(layer, S) for layer in model.layers])


def oracle_names(ref_key):
    """docs/MODEL.md name of a reference state-dict key, None for the buffers and the second
    copy of a shared span."""
    key = ref_key[len("module."):] if ref_key.startswith("module.") else ref_key
    if key.endswith("mask_template") or ".persistent_memory.adaptive_span." in key:
        return None
    return key


def load_into_oracle(model, state):
    """The oracle's parameters from a reference state dict (strict, through ReferenceLayout)."""
    torch.nn.DataParallel(ReferenceLayout(model)).load_state_dict(state, strict=True)


# ------------------------------------------------------------------------------------------------
# Data in the reference's format
# ------------------------------------------------------------------------------------------------

def write_corpus(folder, seed=11):
    """train/valid/test.txt: lines of space-separated byte values. Train's first line holds every
    letter so valid and test have no token train lacks."""
    rng = random.Random(seed)
    letters = "abcdefghij ."
    os.makedirs(folder, exist_ok=True)
    sizes = {"train": 60, "valid": 16, "test": 16}
    for split, lines in sizes.items():
        with open(os.path.join(folder, split + ".txt"), "w") as f:
            for i in range(lines):
                n = rng.randrange(20, 40)
                text = letters if (split == "train" and i == 0) else \
                    "".join(rng.choice(letters) for _ in range(n))
                f.write(" ".join(str(ord(ch)) for ch in text) + "\n")


def read_corpus(folder):
    """Token ids as main.py numbers them: first appearance, train then valid then test, with
    <eos> at every line end."""
    vocab = {}
    splits = []
    for split in ("train", "valid", "test"):
        ids = []
        with open(os.path.join(folder, split + ".txt")) as f:
            for line in f:
                for tok in line.split() + ["<eos>"]:
                    ids.append(vocab.setdefault(tok, len(vocab)))
        splits.append(torch.tensor(ids))
    return vocab, splits


def batchify(ids, B):
    n = ids.numel() // B
    return ids[: n * B].view(B, n)


# ------------------------------------------------------------------------------------------------
# Training and evaluation as main.py does them
# ------------------------------------------------------------------------------------------------

def cache_sizes(model):
    S = model.cfg.attn_span
    return [layer.span().cache_size() if model.cfg.adapt_span_cache else S
            for layer in model.layers]


def empty_caches(model, B):
    return [torch.zeros(B, c, model.cfg.hid_sz) for c in cache_sizes(model)]


def block_loss(model, data, pos, caches, M):
    x, y = data[:, pos:pos + M], data[:, pos + 1:pos + M + 1]
    out = model(x, caches, mode="fast", trim=True)
    return nll(out["logprobs"], y), out["caches"]


def make_optimizer(ref, cfg):
    opt = AdagradWithGradClip([p for p in ref.parameters() if p.requires_grad], lr=cfg.lr,
                              grad_clip=cfg.grad_clip)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda ep: min(1, ep / cfg.lr_warmup))
    return opt, sched


class Run:
    """A run of main.py: reading position and caches of train and valid, the logger."""

    def __init__(self, model, train, valid):
        cfg = model.cfg
        self.model, self.cfg = model, cfg
        self.ref = ReferenceLayout(model)
        self.opt, self.sched = make_optimizer(self.ref, cfg)
        self.data = [batchify(train, cfg.batch_sz), batchify(valid, cfg.batch_sz)]
        self.pos = [0, 0]
        self.caches = [empty_caches(model, cfg.batch_sz) for _ in range(2)]
        self.logger = {}
        self.rng = random.Random(5)
        self.losses = []

    def _advance(self, k, M):
        self.pos[k] += M
        if self.pos[k] >= self.data[k].size(1) - M:
            self.pos[k] = self.rng.randrange(M)
            self.caches[k] = [torch.zeros_like(c) for c in self.caches[k]]

    def step(self):
        M = self.cfg.block_sz
        self.opt.zero_grad()
        loss, caches = block_loss(self.model, self.data[0], self.pos[0], self.caches[0], M)
        (loss + self.model.span_loss()).backward()
        self.sched.step()
        self.opt.step()
        self.model.clamp_spans()
        self.caches[0] = caches
        self._advance(0, M)
        self.losses.append(loss.item())
        return loss.item()

    def iteration(self, iter_no, nbatches):
        M = self.cfg.block_sz
        train = sum(self.step() for _ in range(nbatches)) / nbatches
        with torch.no_grad():   # main.py validates on nbatches // 10 blocks, at least one
            vals = []
            for _ in range(max(1, nbatches // 10)):
                loss, self.caches[1] = block_loss(self.model, self.data[1], self.pos[1],
                                                  self.caches[1], M)
                vals.append(loss.item())
                self._advance(1, M)
        avg, mx = logged_spans(self.model)
        for key, v in (("step", (iter_no + 1) * nbatches), ("train_bpc", train / math.log(2)),
                       ("val_bpc", sum(vals) / len(vals) / math.log(2)), ("span_avg", avg),
                       ("span_max", mx)):
            self.logger.setdefault(key, []).append(v)

    def checkpoint(self, iter_no):
        return {"iter_no": iter_no,
                "model": torch.nn.DataParallel(self.ref).state_dict(),
                "logger": {k: list(v) for k, v in self.logger.items()},
                "optimizer": self.opt.state_dict(),
                "scheduler_iter": self.sched.last_epoch}


def logged_spans(model):
    """main.py's span_avg and span_max: per layer ceil(z·S) of the heads' mean (maximum) plus
    the ramp, within [0, S]; averaged (largest) over layers."""
    cfg = model.cfg
    S, R = cfg.attn_span, cfg.adapt_span_ramp
    avgs, maxs = [], []
    for layer in model.layers:
        z = layer.span()._mask.current_val.detach()
        avgs.append(max(0, min(S, math.ceil(z.mean().item() * S) + R)))
        maxs.append(max(0, min(S, math.ceil(z.max().item() * S) + R)))
    return float(sum(avgs)) / len(avgs), float(max(maxs))


@torch.no_grad()
def full_eval(model, ids, B, M):
    """main.py --full-eval-mode: B streams from their start, empty caches, whole blocks only,
    the mean of the blocks' losses, in bits."""
    model.eval()
    data = batchify(ids, B)
    caches = empty_caches(model, B)
    total, n, pos = 0.0, 0, 0
    for _ in range(math.ceil(data.size(1) / M)):
        loss, caches = block_loss(model, data, pos, caches, M)
        total += loss.item()
        n += 1
        pos += M
        if pos >= data.size(1) - M:
            break
    return total / n / math.log(2)


def new_model(name, vocab_size, seed=1234):
    torch.manual_seed(seed)
    d = dict(FLAGS[name], **COMMON)
    cfg = Config.from_dict(dict(d, vocab_size=vocab_size))
    model = SpanModel(cfg)
    with torch.no_grad():
        for l, layer in enumerate(model.layers):
            layer.span()._mask.current_val.copy_(torch.tensor(Z_INIT[l]).view(-1, 1, 1))
    return model


# ------------------------------------------------------------------------------------------------

def expected_tensors(model, run, valid):
    """What spanscope must read: parameters and Adagrad sums by docs/MODEL.md name, a batch and
    the oracle's loss on it."""
    t = {name: p.detach().clone() for name, p in model.named_parameters()}
    by_param = {id(p): name for name, p in model.named_parameters()}
    for p in run.ref.parameters():
        t["optimizer.sum." + by_param[id(p)]] = run.opt.state[p]["sum"].clone()
    M = model.cfg.block_sz
    data = batchify(valid, 2)
    x, y = data[:, :M], data[:, 1:M + 1]
    with torch.no_grad():
        model.eval()
        out = model(x, empty_caches(model, 2), mode="fast", trim=True)
        t["batch.loss"] = nll(out["logprobs"], y).reshape(1)
    t["batch.x"] = x.to(torch.int32).contiguous()
    t["batch.y"] = y.to(torch.int32).contiguous()
    return t


def make_fixtures(out):
    torch.set_num_threads(1)
    corpus = os.path.join(out, "corpus")
    write_corpus(corpus)
    vocab, (train, valid, test) = read_corpus(corpus)
    for name in FLAGS:
        model = new_model(name, len(vocab))
        run = Run(model, train, valid)
        for it in range(ITERATIONS):
            run.iteration(it, NBATCHES)
        ck = run.checkpoint(ITERATIONS - 1)
        torch.save(ck, os.path.join(out, f"ref_{name}_zip.pt"))
        torch.save(ck, os.path.join(out, f"ref_{name}_legacy.pt"),
                   _use_new_zipfile_serialization=False)
        expected = {"flags": dict(FLAGS[name], **COMMON), "nbatches": NBATCHES,
                    "step": ck["scheduler_iter"], "iter_no": ck["iter_no"],
                    "logger": ck["logger"], "losses": run.losses,
                    "full_eval_bpc": full_eval(model, valid, EVAL_BATCH, model.cfg.block_sz),
                    "eval_batch": EVAL_BATCH}
        safetensors_io.write(os.path.join(out, f"ref_{name}.safetensors"),
                             expected_tensors(model, run, valid),
                             {"expected": json.dumps(expected)})


def write_versions(folder, n, name="ff"):
    """A run's first n iterations, each checkpoint to <folder>/v<i>.pt (for the follow test)."""
    torch.set_num_threads(1)
    corpus = os.path.join(folder, "corpus")
    write_corpus(corpus)
    vocab, (train, valid, _) = read_corpus(corpus)
    model = new_model(name, len(vocab))
    run = Run(model, train, valid)
    for it in range(n):
        run.iteration(it, NBATCHES)
        torch.save(run.checkpoint(it), os.path.join(folder, f"v{it}.pt"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "tests",
                                                  "fixtures", "reference"))
    ap.add_argument("--versions", nargs=2, metavar=("DIR", "N"))
    args = ap.parse_args()
    if args.versions:
        write_versions(args.versions[0], int(args.versions[1]))
    else:
        make_fixtures(args.out)


if __name__ == "__main__":
    main()
