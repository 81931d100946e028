"""PyTorch oracle of the spanscope model (written from docs/MODEL.md).

A character-level Transformer with
  * relative-position attention over the S previous positions (never the current one),
    a cache of the layer *inputs* carried across blocks (detached);
  * adaptive attention span (soft mask per head, parameter z in [0,1]);
  * optional persistent memory (all-attention layer, FF sublayer removed).

Two implementations of the attention share the same parameters:
  * mode="clear": gathers, for every query, its S keys explicitly (B x K x M x S scores via
    einsum). Slow but obviously right. Scores all S distances with a cache of S rows; the
    softmax's normaliser covers the distances of the attention window (docs/MODEL.md): the
    layer's trimmed window (attn_window "reference") or each head's own window ("head"), the
    other scores taking no part (set to -inf before the softmax).
  * mode="fast": heads batched into bmm, the S relative columns taken out of the M x (S'+M)
    query-key product with the skew/unskew (pad + reshape) trick, and optionally the
    reference's trimming and adaptive cache. With trimming and attn_window "reference" it is
    the reference's own computation: the keys of the trimmed distances are not there at all.
The self-check in make_fixtures.py --check-fd asserts that the two agree.

Parameter names (model.state_dict()) are exactly the names of docs/MODEL.md's table.
"""
import math
from dataclasses import dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    vocab_size: int
    nlayers: int
    hid_sz: int
    nheads: int
    attn_span: int
    block_sz: int
    batch_sz: int
    inner_hid_sz: int = 0
    adapt_span: bool = True
    adapt_span_ramp: int = 32
    adapt_span_loss: float = 2e-6
    adapt_span_cache: bool = True
    span_init: float = 0.0
    pers_mem_size: int = 0
    lr: float = 0.07
    lr_warmup: int = 0
    grad_clip: float = 0.03
    optim: str = "adagrad"
    dropout: float = 0.0
    attn_window: str = "reference"

    @classmethod
    def from_dict(cls, d):
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self):
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def head_dim(self):
        return self.hid_sz // self.nheads


# ---------------------------------------------------------------------------------------------
# skew / unskew: relative-position columns out of a full query x key product
# ---------------------------------------------------------------------------------------------

def unskew(X, ncols):
    """X: (..., M, ncols + M), query i against key index c (key index ncols + i is the query's
    own position). Returns Y: (..., M, ncols) with Y[i, j] = X[i, i + j]; column j is distance
    ncols - j (the last column is distance 1).

    Row i of Y starts at flat offset i*(ncols+M) + i = i*(ncols+M+1) of X, so padding the flat
    array by M elements and viewing it with rows of ncols+M+1 aligns all rows."""
    *lead, M, L = X.shape
    assert L == ncols + M
    flat = X.reshape(*lead, M * L)
    flat = F.pad(flat, (0, M))
    return flat.view(*lead, M, L + 1)[..., :ncols]


def skew(Y):
    """Inverse of unskew: Y (..., M, ncols) -> X (..., M, ncols + M) with X[i, i + j] = Y[i, j]
    and zeros elsewhere (so X @ values sums over the right key rows)."""
    *lead, M, ncols = Y.shape
    L = ncols + M
    Yp = F.pad(Y, (0, M + 1))                       # (..., M, L + 1)
    flat = Yp.reshape(*lead, M * (L + 1))[..., : M * L]
    return flat.view(*lead, M, L)


# ---------------------------------------------------------------------------------------------
# modules (attribute names give the docs/MODEL.md parameter names)
# ---------------------------------------------------------------------------------------------

class AdaptiveMask(nn.Module):
    def __init__(self, nheads, max_size, ramp, init):
        super().__init__()
        self.max_size = max_size
        self.ramp = ramp
        self.current_val = nn.Parameter(torch.full((nheads, 1, 1), float(init)))  # z, K x 1 x 1
        # column j -> 1 - delta, delta = S - j
        self.register_buffer("template", torch.linspace(1 - max_size, 0, max_size),
                             persistent=False)

    def windows(self):
        """Each head's window: the distances its mask can weigh, min(S, ceil(z*S) + R + 1) with
        z*S rounded to float32 as the mask computes it."""
        zs = (self.current_val.detach().float() * self.max_size).view(-1)
        return [min(self.max_size, int(math.ceil(v)) + self.ramp + 1) for v in zs.tolist()]

    def mask(self, ncols=None):
        """K x 1 x ncols soft mask m(delta) = clamp((template + z*S)/R + 1, 0, 1), last ncols
        columns (distances ncols ... 1). torch.clamp passes the gradient at both boundaries."""
        x = (self.template + self.current_val * self.max_size) / self.ramp + 1
        x = torch.clamp(x, 0, 1)
        if ncols is not None and ncols < self.max_size:
            x = x[:, :, -ncols:]
        return x


class AdaptiveSpan(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.max_size = cfg.attn_span
        self.ramp = cfg.adapt_span_ramp
        self.loss_coeff = cfg.adapt_span_loss
        self._mask = AdaptiveMask(cfg.nheads, cfg.attn_span, cfg.adapt_span_ramp, cfg.span_init)

    def span_loss(self):
        return self.loss_coeff * self.max_size * self._mask.current_val.mean()

    def current_max_size(self):
        """ceil(max_h z_h * S) + R, clipped to [0, S] (computed in double from the f32 z)."""
        size = math.ceil(self._mask.current_val.detach().max().item() * self.max_size)
        size += self.ramp
        return max(0, min(self.max_size, size))

    def trim_len(self):
        S = self.max_size
        t = min(S - 1, S - self.current_max_size())
        return (t // 64) * 64

    def cache_size(self):
        S = self.max_size
        return min(S, S - self.trim_len() + 64)

    @torch.no_grad()
    def clamp_param(self):
        self._mask.current_val.clamp_(0, 1)


class PersistentMemory(nn.Module):
    def __init__(self, nheads, head_dim, size):
        super().__init__()
        self.size = size
        self.head_dim = head_dim
        self.key = nn.Parameter(torch.zeros(nheads, head_dim, size))   # K x D x N
        self.val = nn.Parameter(torch.zeros(nheads, size, head_dim))   # K x N x D

    def scaled(self):
        return self.key * math.sqrt(self.head_dim), self.val * math.sqrt(self.size)


class SeqAttention(nn.Module):
    """The attention core (everything after the projections)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.S = cfg.attn_span
        self.K = cfg.nheads
        self.D = cfg.head_dim
        self.N = cfg.pers_mem_size
        if cfg.adapt_span:
            self.adaptive_span = AdaptiveSpan(cfg)
        if self.N > 0:
            self.persistent_memory = PersistentMemory(cfg.nheads, self.D, self.N)

    def norm_limits(self, trim_len):
        """How many distances each head's softmax normaliser covers (a list of K), or None for
        all S: the layer's trimmed window S - trim_len in reference mode, the head's own window
        in head mode (docs/MODEL.md, "Attention window")."""
        if not self.cfg.adapt_span:
            return None
        if self.cfg.attn_window == "reference":
            return [self.S - trim_len] * self.K
        if self.cfg.attn_window == "head":
            return self.adaptive_span._mask.windows()
        raise ValueError(self.cfg.attn_window)

    def _weights(self, scores_ctx, scores_pers, ncols, limits=None):
        """scores_ctx: B x K x M x ncols (q.k + q.p, not yet divided by sqrt(D)),
        scores_pers: B x K x M x N or None; limits: per head, the distances the softmax covers
        (None: all ncols). Returns (context weights, persistent weights)."""
        cfg = self.cfg
        if limits is not None:
            assert max(limits) <= ncols, (limits, ncols)
            dist = torch.arange(ncols, 0, -1)                               # column j: ncols - j
            lim = torch.tensor(limits).view(-1, 1, 1)                       # K x 1 x 1
            scores_ctx = scores_ctx.masked_fill(dist > lim, float("-inf"))
        if scores_pers is None:
            w = F.softmax(scores_ctx / math.sqrt(self.D), dim=-1)
            if cfg.adapt_span:
                w = w * self.adaptive_span._mask.mask(ncols)      # K x 1 x ncols broadcast
                w = w / (w.sum(-1, keepdim=True) + 1e-8)
            wp = None
        else:
            allsc = torch.cat([scores_ctx, scores_pers], dim=-1) / math.sqrt(self.D)
            w_all = F.softmax(allsc, dim=-1)
            w, wp = w_all[..., :ncols], w_all[..., ncols:]
            if cfg.adapt_span:
                w = w * self.adaptive_span._mask.mask(ncols)
                tot = w.sum(-1, keepdim=True) + wp.sum(-1, keepdim=True) + 1e-8
                w = w / tot
                wp = wp / tot
        if cfg.dropout > 0 and self.training:
            w = F.dropout(w, cfg.dropout, True)
            if wp is not None:
                wp = F.dropout(wp, cfg.dropout, True)
        return w, wp

    # --- clear path ---------------------------------------------------------------------------
    def forward_clear(self, q, k_all, v_all, key_pe, limits):
        """q: B x M x d; k_all, v_all: B x (S + M) x d (keys/values of [cache; block], cache
        left-padded with zeros to S rows); key_pe: 1 x D x S; limits: see norm_limits.
        Returns out B x M x d, context weights B x K x M x S, persistent weights or None."""
        B, M, d = q.shape
        K, D, S = self.K, self.D, self.S
        assert k_all.shape[1] == S + M
        qh = q.view(B, M, K, D)
        kh = k_all.view(B, S + M, K, D)
        vh = v_all.view(B, S + M, K, D)
        # query i sits at row S + i of [cache; block]; column j is distance delta = S - j,
        # i.e. row S + i - delta = i + j.
        idx = torch.arange(M)[:, None] + torch.arange(S)[None, :]          # M x S
        kg = kh[:, idx]                                                    # B x M x S x K x D
        vg = vh[:, idx]
        ctx = torch.einsum("bikd,bijkd->bkij", qh, kg)                     # q . k
        pos = torch.einsum("bikd,dj->bkij", qh, key_pe[0])                 # q . p
        scores = ctx + pos                                                 # B x K x M x S
        pers = None
        if self.N > 0:
            pk, pv = self.persistent_memory.scaled()
            pers = torch.einsum("bikd,kdn->bkin", qh, pk)                  # B x K x M x N
        w, wp = self._weights(scores, pers, S, limits)
        out = torch.einsum("bkij,bijkd->bikd", w, vg)
        if self.N > 0:
            out = out + torch.einsum("bkin,knd->bikd", wp, pv)
        return out.reshape(B, M, d), w, wp

    # --- fast path ----------------------------------------------------------------------------
    def forward_fast(self, qh, kh, vh, key_pe, trim_len, B, limits):
        """qh: (B*K) x M x D; kh, vh: (B*K) x (S' + M) x D with S' = S - trim_len;
        key_pe: 1 x D x S; limits: see norm_limits (each at most S').
        Returns out (B*K) x M x D and the weights (B x K x M x S', ...)."""
        BK, M, D = qh.shape
        K, S = self.K, self.S
        ncols = S - trim_len
        ctx = unskew(torch.bmm(qh, kh.transpose(1, 2)), ncols)            # BK x M x S'
        pos = torch.mm(qh.reshape(BK * M, D), key_pe[0, :, trim_len:]).view(BK, M, ncols)
        scores = (ctx + pos).view(B, K, M, ncols)
        pers = None
        if self.N > 0:
            pk, pv = self.persistent_memory.scaled()
            pers = torch.matmul(qh.view(B, K, M, D), pk)                   # B x K x M x N
        w, wp = self._weights(scores, pers, ncols, limits)
        out = torch.bmm(skew(w.reshape(BK, M, ncols)), vh)                 # BK x M x D
        if self.N > 0:
            out = out + torch.matmul(wp, pv).view(BK, M, D)
        return out, w, wp


class MultiHeadAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg.hid_sz
        self.cfg = cfg
        self.proj_query = nn.Linear(d, d, bias=False)
        self.proj_key = nn.Linear(d, d, bias=False)
        self.proj_val = nn.Linear(d, d, bias=False)
        self.proj_out = nn.Linear(d, d, bias=False)
        self.attn = SeqAttention(cfg)

    def forward(self, h, cache, key_pe, mode, trim_len, limits):
        """h: B x M x d block input; cache: B x C x d; trim_len: the keys the fast path leaves
        out; limits: see SeqAttention.norm_limits. Returns (B x M x d, weights, pers weights)."""
        cfg = self.cfg
        B, M, d = h.shape
        S, K, D = cfg.attn_span, cfg.nheads, cfg.head_dim
        q = self.proj_query(h)
        if mode == "clear":
            C = cache.shape[1]
            if C < S:
                cache = F.pad(cache, (0, 0, S - C, 0))
            elif C > S:
                cache = cache[:, C - S:]
            h_all = torch.cat([cache, h], dim=1)                          # B x (S+M) x d
            out, w, wp = self.attn.forward_clear(q, self.proj_key(h_all), self.proj_val(h_all),
                                                 key_pe, limits)
        elif mode == "fast":
            need = S - trim_len                                            # kept cached rows
            C = cache.shape[1]
            if C >= need:
                h_all = torch.cat([cache[:, C - need:], h], dim=1)
            else:  # cache too short: zero hidden states (zero keys and values) on the left
                h_all = torch.cat([F.pad(cache, (0, 0, need - C, 0)), h], dim=1)
            L = need + M

            def heads(x, n):
                return x.view(B, n, K, D).transpose(1, 2).reshape(B * K, n, D)
            qh = heads(q, M)
            # keys and values in one GEMM
            kv = F.linear(h_all, torch.cat([self.proj_key.weight, self.proj_val.weight], 0))
            kh = heads(kv[..., :d], L)
            vh = heads(kv[..., d:], L)
            o, w, wp = self.attn.forward_fast(qh, kh, vh, key_pe, trim_len, B, limits)
            out = o.view(B, K, M, D).transpose(1, 2).reshape(B, M, d)
        else:
            raise ValueError(mode)
        return self.proj_out(out), w, wp


class FeedForward(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.fc1 = nn.Linear(cfg.hid_sz, cfg.inner_hid_sz)
        self.fc2 = nn.Linear(cfg.inner_hid_sz, cfg.hid_sz)

    def forward(self, h):
        x = F.relu(self.fc1(h))
        if self.cfg.dropout > 0 and self.training:
            x = F.dropout(x, self.cfg.dropout, True)
        return self.fc2(x)


class Layer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.attn = MultiHeadAttention(cfg)
        self.norm1 = nn.LayerNorm(cfg.hid_sz, eps=1e-5)
        if cfg.pers_mem_size == 0:
            self.ff = FeedForward(cfg)
            self.norm2 = nn.LayerNorm(cfg.hid_sz, eps=1e-5)

    def span(self):
        return self.attn.attn.adaptive_span if self.cfg.adapt_span else None

    def forward(self, h, cache, key_pe, mode, trim_len, limits):
        a, w, wp = self.attn(h, cache, key_pe, mode, trim_len, limits)
        h = self.norm1(h + a)
        if self.cfg.pers_mem_size == 0:
            h = self.norm2(h + self.ff(h))
        return h, w, wp


class SpanModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d, V = cfg.hid_sz, cfg.vocab_size
        self.in_emb = nn.Embedding(V, d)
        self.out_emb = nn.Linear(d, V)
        self.key_pe = nn.Parameter(torch.zeros(1, cfg.head_dim, cfg.attn_span))
        self.layers = nn.ModuleList([Layer(cfg) for _ in range(cfg.nlayers)])
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self):
        """docs/MODEL.md initialisation (uses the global torch RNG, in a fixed order)."""
        cfg = self.cfg

        def uniform_linear(lin):
            b = 1.0 / math.sqrt(lin.in_features)
            lin.weight.uniform_(-b, b)
            if lin.bias is not None:
                lin.bias.uniform_(-b, b)

        self.in_emb.weight.normal_(0, 1)
        uniform_linear(self.out_emb)
        self.key_pe.normal_(0, 1)
        for layer in self.layers:
            at = layer.attn
            for lin in (at.proj_query, at.proj_key, at.proj_val, at.proj_out):
                uniform_linear(lin)
            if cfg.adapt_span:
                at.attn.adaptive_span._mask.current_val.fill_(float(cfg.span_init))
            if cfg.pers_mem_size > 0:
                pm = at.attn.persistent_memory
                pm.key.normal_(0, 1).div_(math.sqrt(cfg.head_dim))
                pm.val.normal_(0, 1).div_(math.sqrt(cfg.pers_mem_size))
            layer.norm1.weight.fill_(1.0)
            layer.norm1.bias.zero_()
            if cfg.pers_mem_size == 0:
                uniform_linear(layer.ff.fc1)
                uniform_linear(layer.ff.fc2)
                layer.norm2.weight.fill_(1.0)
                layer.norm2.bias.zero_()

    # ------------------------------------------------------------------------------------------
    def init_caches(self, B, dtype=torch.float32):
        return [torch.zeros(B, self.cfg.attn_span, self.cfg.hid_sz, dtype=dtype)
                for _ in range(self.cfg.nlayers)]

    def span_loss(self):
        if not self.cfg.adapt_span:
            return None
        return sum(layer.span().span_loss() for layer in self.layers)

    @torch.no_grad()
    def clamp_spans(self):
        if self.cfg.adapt_span:
            for layer in self.layers:
                layer.span().clamp_param()

    def forward(self, x, caches, mode="clear", trim=False):
        """x: B x M token ids; caches: list (per layer) of B x C x d detached block inputs.

        mode "clear": full S distances, caches keep S rows.
        mode "fast", trim=False: same numbers through the fast kernels.
        mode "fast", trim=True: reference trimming per layer; with adapt_span_cache the new
        cache keeps min(S, S - trim + 64) rows (not for head mode: a head's window may pass
        the layer's trimmed window by one distance).
        In every mode the softmax normaliser covers the distances of cfg.attn_window.

        Returns dict with logprobs (B x M x V), caches (new, detached), attn / attn_pers
        (per-layer weights), trim (per-layer trim lengths)."""
        cfg = self.cfg
        S = cfg.attn_span
        h = self.in_emb(x)
        new_caches, attn, attn_pers, trims = [], [], [], []
        for l, layer in enumerate(self.layers):
            span = layer.span()
            trim_len, cache_size = 0, S
            if mode == "fast" and trim and span is not None:
                trim_len = span.trim_len()
                if cfg.adapt_span_cache:
                    cache_size = span.cache_size()
            limits = layer.attn.attn.norm_limits(span.trim_len() if span is not None else 0)
            cache = caches[l]
            # new cache: the last cache_size rows of [old cache; block input]
            M = h.shape[1]
            if cache_size <= M:
                nc = h[:, M - cache_size:]
            else:
                keep = min(cache.shape[1], cache_size - M)
                nc = torch.cat([cache[:, cache.shape[1] - keep:], h], dim=1)
            new_caches.append(nc.detach())
            h, w, wp = layer(h, cache, self.key_pe, mode, trim_len, limits)
            attn.append(w)
            attn_pers.append(wp)
            trims.append(trim_len)
        logits = self.out_emb(h)
        logprobs = F.log_softmax(logits, dim=-1)
        return {"logprobs": logprobs, "caches": new_caches, "attn": attn,
                "attn_pers": attn_pers, "trim": trims}


def nll(logprobs, y):
    V = logprobs.shape[-1]
    return F.nll_loss(logprobs.reshape(-1, V), y.reshape(-1))


def objective(model, x, y, caches, mode="clear", trim=False):
    """Returns (nll loss, objective = nll + span loss, forward outputs)."""
    out = model(x, caches, mode=mode, trim=trim)
    loss = nll(out["logprobs"], y)
    sl = model.span_loss()
    obj = loss + sl if sl is not None else loss
    return loss, obj, out


class Adagrad:
    """The reference optimizer, exactly as docs/MODEL.md: step k (1-based) uses
    lr_k = lr * min(1, k / warmup); per tensor, if ||g|| > clip the lr is scaled by
    clip / (||g|| + 1e-10); acc += g^2; p -= lr_k * g / (sqrt(acc) + 1e-10).
    The caller clamps z afterwards (model.clamp_spans())."""

    def __init__(self, named_params, lr, warmup, clip):
        self.params = list(named_params)
        self.lr = lr
        self.warmup = warmup
        self.clip = clip
        self.acc = {n: torch.zeros_like(p) for n, p in self.params}
        self.k = 0

    def lr_at(self, k):
        if self.warmup and self.warmup > 0:
            return self.lr * min(1.0, k / self.warmup)
        return self.lr

    @torch.no_grad()
    def step(self):
        self.k += 1
        lr_k = self.lr_at(self.k)
        for n, p in self.params:
            g = p.grad
            if g is None:
                continue
            clr = lr_k
            if self.clip > 0:
                norm = g.norm(2).item()
                if norm > self.clip:
                    clr = clr * self.clip / (norm + 1e-10)
            acc = self.acc[n]
            acc.addcmul_(g, g, value=1.0)
            std = acc.sqrt().add_(1e-10)
            p.addcdiv_(g, std, value=-clr)

    def zero_grad(self):
        for _, p in self.params:
            p.grad = None


def train_step(model, opt, x, y, caches, mode="clear", trim=False):
    """One optimizer step on block (x, y). Returns (nll before the update, new caches)."""
    opt.zero_grad()
    loss, obj, out = objective(model, x, y, caches, mode=mode, trim=trim)
    obj.backward()
    opt.step()
    model.clamp_spans()
    return loss.item(), out["caches"]
