"""Minimal safetensors reader/writer in pure Python (struct + json), torch tensors <-> bytes.

Layout: 8-byte little-endian header length N, N bytes of JSON header
{"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [...], "data_offsets": [b, e]}},
padded with spaces to a multiple of 8, then the raw little-endian tensor data (offsets are
relative to the end of the header). Supported dtypes: F32, I32, I64.

The writer adds the metadata key "spanscope.sha256" (hex SHA-256 of the data section), as the
C writer does; the reader verifies it when present.
"""
import hashlib
import json
import os
import struct
import sys
import tempfile
from collections import OrderedDict

import torch

_DTYPES = {"F32": torch.float32, "I32": torch.int32, "I64": torch.int64}
_NAMES = {v: k for k, v in _DTYPES.items()}
_SIZES = {"F32": 4, "I32": 4, "I64": 8}

if sys.byteorder != "little":
    raise RuntimeError("safetensors_io assumes a little-endian host")


def _tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype not in _NAMES:
        raise TypeError(f"unsupported dtype {t.dtype} (expected float32, int32 or int64)")
    if t.numel() == 0:
        return b""
    # numpy is avoided on purpose: go through an untyped byte view of the storage.
    return t.reshape(-1).view(torch.uint8).numpy().tobytes()


def write(path, tensors, metadata=None, checksum=True):
    """Write an ordered mapping name -> torch tensor (float32/int32/int64) to `path`.

    metadata: mapping str -> str. Tensors are stored in the given order. The file is written to
    a temporary name in the same directory and renamed over `path`."""
    header = OrderedDict()
    meta = OrderedDict((str(k), str(v)) for k, v in (metadata or {}).items())
    chunks = []
    offset = 0
    entries = OrderedDict()
    for name, t in tensors.items():
        if name == "__metadata__":
            raise ValueError("'__metadata__' is not a valid tensor name")
        data = _tensor_bytes(t)
        entries[name] = {
            "dtype": _NAMES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    blob = b"".join(chunks)
    if checksum:
        meta["spanscope.sha256"] = hashlib.sha256(blob).hexdigest()
    header["__metadata__"] = meta
    header.update(entries)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp-", dir=d)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(hjson)))
            f.write(hjson)
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read(path):
    """Read a safetensors file. Returns (OrderedDict name -> tensor, metadata dict)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: file is {len(raw)} bytes, too short for a safetensors header")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError(f"{path}: header length {n} exceeds the file size")
    header = json.loads(raw[8:8 + n].decode("utf-8"), object_pairs_hook=OrderedDict)
    data = raw[8 + n:]
    meta = dict(header.pop("__metadata__", {}) or {})
    want = meta.get("spanscope.sha256")
    if want is not None and hashlib.sha256(data).hexdigest() != want:
        raise ValueError(f"{path}: checksum mismatch: the file is corrupt")
    out = OrderedDict()
    for name, e in header.items():
        dt = e["dtype"]
        if dt not in _DTYPES:
            raise ValueError(f"{path}: unsupported dtype '{dt}' of tensor '{name}' "
                             "(expected F32, I32 or I64)")
        b, end = e["data_offsets"]
        shape = list(e["shape"])
        numel = 1
        for s in shape:
            numel *= s
        if end > len(data) or b > end:
            raise ValueError(f"{path}: tensor '{name}' data offsets [{b}, {end}] exceed the "
                             f"data section ({len(data)} bytes)")
        if numel * _SIZES[dt] != end - b:
            raise ValueError(f"{path}: tensor '{name}' shape {shape} needs "
                             f"{numel * _SIZES[dt]} bytes but its offsets span {end - b}")
        if numel == 0:
            t = torch.zeros(shape, dtype=_DTYPES[dt])
        else:
            t = torch.frombuffer(bytearray(data[b:end]), dtype=_DTYPES[dt]).reshape(shape).clone()
        out[name] = t
    return out, meta
