#!/usr/bin/python3
"""PyTorch checkpoint fixtures for the C reader and writer of `.pt` files (engine/torchfile.c).

Usage:
  /usr/bin/python3 tools/oracle/torch_checkpoints.py [--out DIR]      # fixtures -> tests/fixtures/
  /usr/bin/python3 tools/oracle/torch_checkpoints.py --compare A B    # torch.load both, deep-equal
  /usr/bin/python3 tools/oracle/torch_checkpoints.py --check-sample PT # what `torchfile-tool
                                                                      # sample` writes, read by torch

Fixtures (each .pt has a .json beside it that describes, independently of any C code, every
value torch.load reads from it; the legacy twin shares its zip twin's .json):
  torch_ckpt_{zip,legacy}.pt  a reference-style checkpoint: iter_no, model (DataParallel
                              state_dict: `module.` keys, OrderedDict with _metadata), optimizer
                              (Adagrad with grad_clip, after 2 steps: int-keyed state with step
                              and sum, param_groups), logger (dict of lists), scheduler_iter
  torch_types_{zip,legacy}.pt every dtype, shared storages, transposed/sliced/offset/expanded
                              views, 0-d and empty tensors, a Parameter, nested containers,
                              int/bool/float/None keys and values, big ints, non-ASCII text,
                              inf/nan
  torch_cuda_zip.pt           storages whose location says cuda:0 (as a GPU run saves them)
  torch_bigendian_zip.pt      torch_types_zip.pt with byteorder "big" (elements byte-swapped),
                              written by Python's zipfile (no alignment padding); its values
                              are torch_types.json's
  torch_views_legacy.pt       legacy storage views (view_metadata), as torch < 1.0 wrote them
  evil_*.pt                   pickles that would run code if unpickled by Python (os.system,
                              builtins.eval, STACK_GLOBAL, __reduce__ of a plain class): the C
                              reader must refuse each, naming the global (no .json)
"""
import argparse
import collections
import io
import json
import math
import os
import pickle
import struct
import sys
import zipfile

import torch

PWNED = "/tmp/spanscope-torchfile-pwned"


# ------------------------------------------------------------------------------------------------
# Independent description of what torch.load returns
# ------------------------------------------------------------------------------------------------

def num(x):
    """Exact text for a float (repr round-trips), also inf/nan."""
    return repr(float(x))


def describe(obj, storages):
    if obj is None:
        return {"t": "none"}
    if isinstance(obj, bool):
        return {"t": "bool", "v": obj}
    if isinstance(obj, int):
        return {"t": "int", "v": str(obj)}
    if isinstance(obj, float):
        return {"t": "float", "v": num(obj)}
    if isinstance(obj, str):
        return {"t": "str", "v": obj}
    if isinstance(obj, (list, tuple)):
        return {"t": "list" if isinstance(obj, list) else "tuple",
                "items": [describe(x, storages) for x in obj]}
    if isinstance(obj, dict):
        attrs = getattr(obj, "__dict__", None) or None
        return {"t": "dict", "ordered": isinstance(obj, collections.OrderedDict),
                "items": [[describe(k, storages), describe(v, storages)] for k, v in obj.items()],
                "attrs": describe(attrs, storages) if attrs else None}
    if isinstance(obj, torch.Tensor):
        st = obj.storage()
        key = (st.data_ptr(), st.size(), str(obj.dtype))
        if key not in storages:
            storages[key] = len(storages)
        flat = obj.detach().reshape(-1)
        if obj.dtype.is_floating_point:
            values = [num(v) for v in flat.double().tolist()]
        elif obj.dtype == torch.bool:
            values = [str(int(v)) for v in flat.tolist()]
        else:
            values = [str(int(v)) for v in flat.tolist()]
        return {"t": "tensor", "dtype": str(obj.dtype).replace("torch.", ""),
                "shape": list(obj.shape), "stride": list(obj.stride()),
                "offset": obj.storage_offset(), "requires_grad": obj.requires_grad,
                "parameter": isinstance(obj, torch.nn.Parameter),
                "storage": storages[key] if st.size() > 0 else -1, "storage_numel": st.size(),
                "values": values}
    raise TypeError(type(obj))


def write_json(obj, path):
    with open(path, "w") as f:
        json.dump(describe(obj, {}), f, indent=0, ensure_ascii=False)
        f.write("\n")


# ------------------------------------------------------------------------------------------------
# The objects
# ------------------------------------------------------------------------------------------------

class AdagradWithGradClip(torch.optim.Adagrad):
    """Adagrad whose param group carries grad_clip, as the reference's optimizer does; the step
    scales the learning rate by clip/|g| per tensor (docs/MODEL.md, "The optimizer")."""

    def __init__(self, params, lr, grad_clip):
        super().__init__(params, lr=lr)
        self.defaults["grad_clip"] = grad_clip
        self.param_groups[0].setdefault("grad_clip", grad_clip)

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                state["step"] += 1
                clr = group["lr"]
                norm = p.grad.norm(2).item()
                if group["grad_clip"] > 0 and norm > group["grad_clip"]:
                    clr *= group["grad_clip"] / (norm + 1e-10)
                state["sum"].addcmul_(p.grad, p.grad, value=1)
                p.addcdiv_(p.grad, state["sum"].sqrt().add_(1e-10), value=-clr)


class TinyLayer(torch.nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.proj_query = torch.nn.Linear(d, d, bias=False)
        self.current_val = torch.nn.Parameter(torch.tensor([[[0.25]], [[0.5]]])[:heads])
        self.norm1 = torch.nn.LayerNorm(d)


class TinyModel(torch.nn.Module):
    """Parameter names and nesting like the reference model's (layers.N..., key_pe)."""

    def __init__(self, vocab=5, d=4, heads=2, span=3):
        super().__init__()
        self.in_emb = torch.nn.Embedding(vocab, d)
        self.key_pe = torch.nn.Parameter(torch.randn(1, d // heads, span))
        self.layers = torch.nn.ModuleList([TinyLayer(d, heads) for _ in range(2)])
        self.out_emb = torch.nn.Linear(d, vocab)

    def forward(self, x):
        h = self.in_emb(x)
        for layer in self.layers:
            h = layer.norm1(h + layer.proj_query(h) * layer.current_val.mean())
        return self.out_emb(h).sum() + self.key_pe.sum()


def reference_checkpoint():
    torch.manual_seed(7)
    model = torch.nn.DataParallel(TinyModel())   # on CPU it just wraps: keys get `module.`
    opt = AdagradWithGradClip([p for p in model.parameters() if p.requires_grad], lr=0.07,
                              grad_clip=0.03)
    for _ in range(2):
        opt.zero_grad()
        model(torch.tensor([[1, 2, 3], [4, 0, 1]])).backward()
        opt.step()
    logger = {"step": [1000, 2000], "train_bpc": [3.25, 2.5], "val_bpc": [3.125, 2.75],
              "span_avg": [12.5, 40.0], "span_max": [64.0, 128.0]}
    return {"iter_no": 1, "model": model.state_dict(), "logger": logger,
            "optimizer": opt.state_dict(), "scheduler_iter": 2000}


def types_object():
    torch.manual_seed(3)
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 8 - 1
    wide = torch.randn(3, 5, dtype=torch.float64)
    obj = collections.OrderedDict()
    obj["f32"] = torch.randn(2, 3)
    obj["f64"] = wide
    obj["f16"] = torch.tensor([1.0, -2.5, 65504.0, 6e-8, float("inf")], dtype=torch.float16)
    obj["bf16"] = torch.tensor([1.0, -3.0e38, 0.1, float("-inf")], dtype=torch.bfloat16)
    obj["i64"] = torch.tensor([0, -1, 2**62, -2**63], dtype=torch.int64)
    obj["i32"] = torch.tensor([7, -2**31], dtype=torch.int32)
    obj["i16"] = torch.tensor([[300, -300]], dtype=torch.int16)
    obj["i8"] = torch.tensor([-128, 127], dtype=torch.int8)
    obj["u8"] = torch.tensor([0, 255, 9], dtype=torch.uint8)
    obj["bool"] = torch.tensor([True, False, True])
    obj["base"] = base
    obj["transposed"] = base.t()                    # shares base's storage
    obj["sliced"] = base[1:, ::2]                   # offset 6, strides (6, 2)
    obj["row"] = base[2]                            # offset 12
    obj["expanded"] = torch.tensor([1.5, 2.5]).reshape(2, 1).expand(2, 3)   # stride 0
    obj["wide_col"] = wide[:, 3]                    # float64 view, stride 5
    obj["scalar"] = torch.tensor(3.75)
    obj["empty"] = torch.zeros(0, 3)
    obj["param"] = torch.nn.Parameter(torch.tensor([0.5, -0.5]))
    shared = [1, 2]
    obj["nested"] = {"a": {"b": [shared, (None, True, False)], 3: "three", -4: 4.5},
                     "again": shared, "empty_list": [], "empty_dict": {}, "empty_tuple": ()}
    obj["numbers"] = [0, 255, 256, 65535, 65536, -1, -2**31, 2**31, 2**40, -2**40, 2**63 - 1,
                      -2**63, 0.1, -0.0, 1e300, float("inf"), float("-inf"), float("nan")]
    obj["text"] = "façade ✓ 日本"
    obj["keys"] = {1: "int", 2.5: "float", None: "none", True: "bool", (1, "x"): "tuple"}
    return obj


# ------------------------------------------------------------------------------------------------
# Special containers
# ------------------------------------------------------------------------------------------------

def storage_dtypes(pt_path):
    """key -> element size of every storage in a zip checkpoint, from its data.pkl."""
    z = zipfile.ZipFile(pt_path)
    pkl = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
    sizes = {}

    class Reader(pickle.Unpickler):
        def find_class(self, module, name):
            if module == "torch" and name.endswith("Storage"):
                return name
            if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
                return lambda *a: None
            if (module, name) == ("torch._utils", "_rebuild_parameter"):
                return lambda *a: None
            if (module, name) == ("collections", "OrderedDict"):
                return collections.OrderedDict
            raise pickle.UnpicklingError(f"{module}.{name}")

        def persistent_load(self, pid):
            dtype = getattr(torch, pid[1]).dtype
            sizes[pid[2]] = torch.tensor([], dtype=dtype).element_size()
            return None

    Reader(io.BytesIO(z.read(pkl))).load()
    return sizes


def big_endian_copy(src, dst):
    sizes = storage_dtypes(src)
    zin = zipfile.ZipFile(src)
    prefix = zin.namelist()[0].split("/")[0]
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for name in zin.namelist():
            data = zin.read(name)
            key = name[len(prefix) + len("/data/"):] if name.startswith(prefix + "/data/") else None
            if key in sizes and sizes[key] > 1:
                n = sizes[key]
                data = b"".join(data[i:i + n][::-1] for i in range(0, len(data), n))
            zout.writestr(name, data)
        zout.writestr(prefix + "/byteorder", "big")


def legacy_with_views(path):
    """A legacy file whose tensors use storage views (view_metadata), as torch < 1.0 saved
    tensors built on torch.Storage slices. Written with the pickle module directly."""
    root = torch.arange(10, dtype=torch.float32) * 0.5

    class Ref:
        def __init__(self, key, offset, size):
            self.key, self.offset, self.size = key, offset, size

    class Saver(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Ref):
                view = None if obj.key == "root" else (obj.key, obj.offset, obj.size)
                return ("storage", torch.FloatStorage, "root", "cpu", 10, view)
            return None

    class Tensor:
        def __init__(self, ref, offset, size, stride):
            self.args = (ref, offset, size, stride, False, collections.OrderedDict())

        def __reduce__(self):
            return (torch._utils._rebuild_tensor_v2, self.args)

    obj = {"whole": Tensor(Ref("root", 0, 10), 0, (10,), (1,)),
           "view": Tensor(Ref("v1", 2, 6), 1, (2, 2), (1, 3)),   # elements 3, 6, 4, 7 of root
           "view_again": Tensor(Ref("v1", 2, 6), 0, (6,), (1,))}
    with open(path, "wb") as f:
        for header in (0x1950a86a20f9469cfc6c, 1001,
                       {"protocol_version": 1001, "little_endian": True,
                        "type_sizes": {"short": 2, "int": 4, "long": 4}}):
            pickle.dump(header, f, protocol=2)
        Saver(f, protocol=2).dump(obj)
        pickle.dump(["root"], f, protocol=2)
        f.write(struct.pack("<q", 10))
        f.write(root.numpy().tobytes())
    return {"whole": root, "view": root[torch.tensor([[3, 6], [4, 7]])], "view_again": root[2:8]}


class Evil:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


class Plain:
    """An ordinary object: pickled as copyreg/NEWOBJ of a class from __main__."""

    def __init__(self):
        self.x = 1


def write_evil(out):
    touch = f"touch {PWNED}"
    torch.save({"model": {"w": torch.ones(2)}, "x": Evil(os.system, touch)},
               os.path.join(out, "evil_system_zip.pt"))
    torch.save({"x": Evil(eval, f"__import__('os').system('{touch}')")},
               os.path.join(out, "evil_eval_legacy.pt"), _use_new_zipfile_serialization=False)
    torch.save([Evil(os.system, touch)], os.path.join(out, "evil_stack_global_zip.pt"),
               pickle_protocol=4)
    torch.save({"obj": Plain()}, os.path.join(out, "evil_object_zip.pt"))


# ------------------------------------------------------------------------------------------------

def save_both(obj, out, stem):
    torch.save(obj, os.path.join(out, stem + "_zip.pt"))
    torch.save(obj, os.path.join(out, stem + "_legacy.pt"), _use_new_zipfile_serialization=False)
    write_json(torch.load(os.path.join(out, stem + "_zip.pt")), os.path.join(out, stem + ".json"))


def make_fixtures(out):
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    save_both(reference_checkpoint(), out, "torch_ckpt")
    save_both(types_object(), out, "torch_types")

    real_tag = torch.serialization.location_tag
    torch.serialization.location_tag = lambda storage: "cuda:0"
    try:
        torch.save(reference_checkpoint()["model"], os.path.join(out, "torch_cuda_zip.pt"))
    finally:
        torch.serialization.location_tag = real_tag
    write_json(torch.load(os.path.join(out, "torch_cuda_zip.pt"), map_location="cpu"),
               os.path.join(out, "torch_cuda.json"))

    # torch < 2.1 ignores the byteorder record (it would read the swapped bytes as they are):
    # the expected values are those of torch_types_zip.pt (torch_types.json).
    big_endian_copy(os.path.join(out, "torch_types_zip.pt"), os.path.join(out, "torch_bigendian_zip.pt"))

    views = os.path.join(out, "torch_views_legacy.pt")
    expected = legacy_with_views(views)
    loaded = torch.load(views)
    for k, v in expected.items():
        assert torch.equal(loaded[k], v), k
    write_json(loaded, os.path.join(out, "torch_views.json"))
    write_evil(out)


# ------------------------------------------------------------------------------------------------
# Checks of files written by C
# ------------------------------------------------------------------------------------------------

def deep_equal(a, b, path="", seen=None):
    """Same types (OrderedDict vs dict too), keys in order, values, tensor dtype, shape, strides,
    offsets, requires_grad, and the same storage sharing."""
    seen = {} if seen is None else seen
    assert type(a) is type(b), f"{path}: {type(a)} vs {type(b)}"
    if isinstance(a, dict):
        assert list(a.keys()) == list(b.keys()), f"{path}: keys {list(a)} vs {list(b)}"
        assert getattr(a, "__dict__", {}) == getattr(b, "__dict__", {}), f"{path}: attributes"
        for k in a:
            deep_equal(a[k], b[k], f"{path}/{k}", seen)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            deep_equal(x, y, f"{path}/{i}", seen)
    elif isinstance(a, torch.Tensor):
        assert (a.dtype, a.shape, a.stride(), a.storage_offset(), a.requires_grad) == \
            (b.dtype, b.shape, b.stride(), b.storage_offset(), b.requires_grad), path
        assert a.storage().size() == b.storage().size(), f"{path}: storage size"
        assert torch.equal(a, b) or (a.dtype.is_floating_point and torch.equal(a.isnan(), b.isnan())
                                     and torch.equal(a.nan_to_num(), b.nan_to_num())), path
        key_a = a.storage().data_ptr() if a.storage().size() else None
        key_b = b.storage().data_ptr() if b.storage().size() else None
        if key_a is not None:
            assert seen.setdefault(("a", key_a), key_b) == key_b, f"{path}: storage sharing"
            assert seen.setdefault(("b", key_b), key_a) == key_a, f"{path}: storage sharing"
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), path
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


def compare(a_path, b_path):
    a = torch.load(a_path, map_location="cpu")
    b = torch.load(b_path, map_location="cpu")
    deep_equal(a, b)
    print(f"{b_path}: same as {a_path}")


def sample_value(i):
    """Value i of the sample tensors written by tests/torchfile_tool.c (exact in float32)."""
    return (i % 7) * 0.25 - 1.0


def check_sample(path):
    """The checkpoint `torchfile-tool sample` builds the way export-reference will: torch reads
    it, a DataParallel model and the reference-style Adagrad load it and can take steps."""
    ck = torch.load(path)
    assert type(ck) is dict and list(ck) == ["iter_no", "model", "optimizer", "logger",
                                             "scheduler_iter"], list(ck)
    assert ck["iter_no"] == 4999 and ck["scheduler_iter"] == 5000
    model = torch.nn.DataParallel(TinyModel())
    names = [n for n, _ in model.named_parameters()]
    assert list(ck["model"]) == names, (list(ck["model"]), names)
    for name, t in ck["model"].items():
        want = torch.tensor([sample_value(i) for i in range(t.numel())]).reshape(t.shape)
        assert t.dtype == torch.float32 and torch.equal(t, want), name
    model.load_state_dict(ck["model"])
    opt = AdagradWithGradClip(model.parameters(), lr=0.07, grad_clip=0.03)
    opt.load_state_dict(ck["optimizer"])
    for i, p in enumerate(model.parameters()):
        st = opt.state[p]
        assert float(st["step"]) == 5000, st["step"]
        want = torch.tensor([0.5 + sample_value(k) for k in range(p.numel())]).reshape(p.shape)
        assert torch.equal(st["sum"], want), i
    group = opt.param_groups[0]
    assert group["lr"] == 0.07 and group["grad_clip"] == 0.03, group
    assert ck["logger"] == {"step": [1000, 2000], "train_bpc": [2.5, 2.0],
                            "val_bpc": [2.625, 2.125]}, ck["logger"]
    for _ in range(3):
        opt.zero_grad()
        model(torch.tensor([[1, 2, 3]])).backward()
        opt.step()
    print(f"{path}: torch loads it into a DataParallel model and its Adagrad, 3 steps taken")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "tests",
                                                  "fixtures"))
    ap.add_argument("--compare", nargs=2)
    ap.add_argument("--check-sample")
    args = ap.parse_args()
    if args.compare:
        compare(*args.compare)
    elif args.check_sample:
        check_sample(args.check_sample)
    else:
        make_fixtures(args.out)


if __name__ == "__main__":
    main()
