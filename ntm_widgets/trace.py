"""A recorded run of one sequence, as numpy arrays: what a replay shows, step by step.

Shapes (T steps, N rows, M row width, H heads = R read heads then W write heads,
K = 2 * shift_range + 1 shift offsets, I inputs, O outputs):

    inputs   (T, I)      targets (T, O)      outputs (T, O) sigmoid probabilities
    mask     (T,)        1 where the output is scored
    memory   (T, N, M)   memory after step t's write
    weights  (T, H, N)   each head's weighting at step t
    erase    (T, W, M)   add (T, W, M)       write heads' vectors
    beta, g, gamma (T, H)   s (T, H, K)      addressing parameters
    reads    (T, R, M)
    head_kinds  ["read", ..., "write", ...]
    wrong_bits  (T, O) bool: scored output bits on the wrong side of 0.5

Below the pictures (``plotting``) and the replay front end (``render``), which read
traces; it imports neither. The byte form for the browser is defined here, beside
``Trace.to_bytes``, and read by ``render/replay.js``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

ARRAY_FIELDS = ("inputs", "targets", "outputs", "mask", "memory", "weights", "erase", "add", "beta", "g", "s", "gamma", "reads")


def _wrong(says_one: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(T, O) bool: the figure of merit's wrong bits, given where the model says 1."""
    return (np.asarray(says_one) != (np.asarray(targets) > 0.5)) & (np.asarray(mask)[:, None] > 0)


@dataclass
class Trace:
    inputs: np.ndarray
    targets: np.ndarray
    outputs: np.ndarray
    mask: np.ndarray
    memory: np.ndarray
    weights: np.ndarray
    erase: np.ndarray
    add: np.ndarray
    beta: np.ndarray
    g: np.ndarray
    s: np.ndarray
    gamma: np.ndarray
    reads: np.ndarray
    head_kinds: List[str]
    meta: Dict[str, Any] = field(default_factory=dict)  # task, length, config, bits wrong ...
    # Computed once, when the trace is made: from the logits when recorded (as the
    # training metric decides), else from ``outputs`` thresholded at 0.5. The figure,
    # both players and the encoding all read this one array.
    wrong_bits: Optional[np.ndarray] = None

    def __post_init__(self):
        if self.wrong_bits is None:
            self.wrong_bits = _wrong(self.outputs > 0.5, self.targets, self.mask)
        else:
            self.wrong_bits = np.asarray(self.wrong_bits, dtype=bool)

    @property
    def steps(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def memory_shape(self):
        return tuple(self.memory.shape[1:])

    @classmethod
    def from_record(cls, record: Dict, inputs, targets, logits, mask, index: int = 0, meta: Optional[Dict] = None) -> "Trace":
        """Pick sequence ``index`` of a batch recorded by ``NTM.forward(..., record={})``."""

        def np32(t):
            return t[index].detach().to(torch.float32).cpu().numpy()

        targets, mask = np32(targets), np32(mask)
        return cls(
            inputs=np32(inputs),
            targets=targets,
            outputs=np32(torch.sigmoid(logits)),
            mask=mask,
            memory=np32(record["memory"]),
            weights=np32(record["weights"]),
            erase=np32(record["erase"]),
            add=np32(record["add"]),
            beta=np32(record["beta"]),
            g=np32(record["g"]),
            s=np32(record["s"]),
            gamma=np32(record["gamma"]),
            reads=np32(record["reads"]),
            head_kinds=list(record["head_kinds"]),
            meta=dict(meta or {}),
            wrong_bits=_wrong((logits[index] > 0).cpu().numpy(), targets, mask),
        )

    def to_bytes(self, memory_dtype: str = "auto") -> bytes:
        """The whole trace as one binary blob for a browser: see ``encode_trace``."""
        return encode_trace(self, memory_dtype=memory_dtype)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Trace":
        """Inverse of ``to_bytes`` (float16 memory comes back as float32)."""
        return decode_trace(data)

    def to_npz(self, path) -> None:
        np.savez_compressed(
            path,
            **{k: getattr(self, k) for k in ARRAY_FIELDS},
            wrong_bits=self.wrong_bits,
            head_kinds=np.array(self.head_kinds),
            meta=np.array(json.dumps(self.meta)),
        )

    @classmethod
    def from_npz(cls, path) -> "Trace":
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in ARRAY_FIELDS}
            wrong = data["wrong_bits"] if "wrong_bits" in data.files else None  # files saved before it was kept
            return cls(
                **arrays, head_kinds=[str(k) for k in data["head_kinds"]], meta=json.loads(str(data["meta"])), wrong_bits=wrong
            )


@torch.inference_mode()
def record_trace(model, task, length: int, seed: int = 0, index: int = 0) -> Trace:
    """Run ``model`` on one fresh seeded sequence of ``length`` and record every step."""
    g = torch.Generator().manual_seed(seed)
    batch = task.sample(1, g, length=length)
    device = next(model.parameters()).device
    x, y, m = (t.to(device) for t in batch)
    was = model.training
    model.eval()
    record: Dict = {}
    try:
        logits, _ = model(x, record=record)
    finally:
        model.train(was)
    trace = Trace.from_record(record, x, y, logits, m, index=0, meta={"task": task.name, "length": length, "seed": seed})
    trace.meta["bits_wrong"] = int(trace.wrong_bits.sum())
    return trace


def synthetic_trace(
    steps: int = 17,
    memory_size: int = 32,
    word_size: int = 8,
    bits: int = 8,
    head_kinds=("read", "write"),
    shift_range: int = 1,
    seed: int = 0,
) -> Trace:
    """A made-up trace with the right shapes and plausible values, for tests and benchmarks.

    Heads sweep the rows one per step (sharp weightings, as a trained copy model's do),
    memory drifts, and about one output bit in twenty is wrong. No model is run, so a
    1,000-step, 512 x 64 trace takes milliseconds.
    """
    rng = np.random.default_rng(seed)
    T, N, M, O = int(steps), int(memory_size), int(word_size), int(bits)
    kinds = list(head_kinds)
    H, W, K = len(kinds), kinds.count("write"), 2 * shift_range + 1
    f32 = np.float32
    inputs = (rng.random((T, O + 1)) > 0.5).astype(f32)
    targets = (rng.random((T, O)) > 0.5).astype(f32)
    mask = (np.arange(T) >= T // 2).astype(f32)
    flip = rng.random((T, O)) < 0.05
    outputs = np.clip(np.abs(targets - flip) * 0.9 + 0.05 + rng.normal(0, 0.03, (T, O)), 0, 1).astype(f32)
    rows = np.arange(N)
    weights = np.empty((T, H, N), f32)
    for h in range(H):
        centre = (np.arange(T) + 3 * h) % N
        d = np.minimum(np.abs(rows[None, :] - centre[:, None]), N - np.abs(rows[None, :] - centre[:, None]))
        w = np.exp(-(d.astype(np.float64) ** 2))
        weights[:, h] = (w / w.sum(axis=1, keepdims=True)).astype(f32)
    memory = np.cumsum(rng.normal(0, 0.1, (T, N, M)), axis=0).astype(f32)
    s = rng.dirichlet(np.ones(K), size=(T, H)).astype(f32)
    return Trace(
        inputs=inputs,
        targets=targets,
        outputs=outputs,
        mask=mask,
        memory=memory,
        weights=weights,
        erase=rng.random((T, W, M)).astype(f32),
        add=np.tanh(rng.normal(0, 1, (T, W, M))).astype(f32),
        beta=rng.gamma(2.0, 5.0, (T, H)).astype(f32),
        g=rng.random((T, H)).astype(f32),
        s=s,
        gamma=(1.0 + rng.gamma(2.0, 2.0, (T, H))).astype(f32),
        reads=np.tanh(rng.normal(0, 1, (T, kinds.count("read"), M))).astype(f32),
        head_kinds=kinds,
        meta={"task": "synthetic", "length": T // 2, "seed": seed},
    )


# --- binary form, read by ntm_widgets/render/replay.js --------------------------------
#
#   b"NTMTRACE" | uint32 LE header length L | header JSON (utf-8, space-padded) | body
#
# The body starts 8-byte aligned; each array starts at an 8-byte aligned ``offset``
# from the body start, little-endian, C order, so the browser wraps it in a typed array
# without copying. Float arrays go as float32, the wrong bits as one byte each. Memory
# dominates the size (T * N * M values): above ``AUTO_FLOAT16_BYTES`` it is sent as
# float16 (3 significant digits, plenty for a colour and a tooltip), halving the
# transfer of a 1,000-step 512 x 64 trace.
#
# Non-finite values (a model whose weights overflowed): the header must stay strict
# JSON (JSON has no NaN or Infinity, and the browser's JSON.parse rejects them), so its
# colour limits come from the finite values and non-finite numbers in ``meta`` become
# null. In the arrays, +-inf stay: the renderer clips them to the ends of the colour
# scale. NaN is sent as +inf, so it too lands on the top end; left as NaN, the
# renderer's max pooling would skip it and draw the cell as if it were the minimum.
# The header's ``nonfinite`` says how many non-finite values each array held.
TRACE_MAGIC = b"NTMTRACE"
TRACE_FORMAT_VERSION = 2  # 2: the wrong bits travel as an array of their own
AUTO_FLOAT16_BYTES = 16 * 2**20
_F16_MAX = 65504.0


def _align8(n: int) -> int:
    return (n + 7) & ~7


def finite_range(array) -> Tuple[float, float]:
    """(smallest, largest) finite value of ``array``; (0.0, 0.0) when it holds none.

    Colour limits come from here: one inf would stretch a scale until every finite
    value looks alike, one NaN would make the limit NaN. When every value is finite
    (nearly always) this is two passes over the array and no temporary copy.
    """
    a = np.asarray(array)
    if a.size == 0:
        return 0.0, 0.0
    lo, hi = float(a.min()), float(a.max())  # NaN if any value is NaN, +-inf if any is
    if not (np.isfinite(lo) and np.isfinite(hi)):
        finite = a[np.isfinite(a)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    return lo, hi


def _count_nonfinite(a: np.ndarray) -> int:
    if a.size == 0 or (np.isfinite(a.min()) and np.isfinite(a.max())):  # no temporary when all finite
        return 0
    return int(a.size - np.count_nonzero(np.isfinite(a)))


def nonfinite_counts(trace: Trace) -> Dict[str, int]:
    """How many NaN or +-inf values each array of ``trace`` holds (arrays with none left out)."""
    counts = {name: _count_nonfinite(np.asarray(getattr(trace, name))) for name in ARRAY_FIELDS}
    return {name: n for name, n in counts.items() if n}


def _strict_json(obj):
    """``obj`` with numpy scalars as plain numbers and non-finite floats as None."""
    if isinstance(obj, dict):
        return {k: _strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict_json(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def encode_trace(trace: Trace, memory_dtype: str = "auto") -> bytes:
    """Serialise ``trace`` for the replay front end: a JSON header plus raw arrays.

    ``memory_dtype``: "float32", "float16", or "auto" (float16 when float32 memory
    would exceed 16 MiB). A trace holding NaN or +-inf encodes too: the header is
    strict JSON whatever the values, NaN is sent as +inf (so it decodes as +inf), and
    ``header["nonfinite"]`` counts the non-finite values per array.
    """
    if memory_dtype not in ("auto", "float32", "float16"):
        raise ValueError(f"memory_dtype must be 'auto', 'float32' or 'float16', got {memory_dtype!r}")
    if memory_dtype == "auto":
        memory_dtype = "float16" if trace.memory.size * 4 > AUTO_FLOAT16_BYTES else "float32"
    nonfinite = nonfinite_counts(trace)
    arrays, specs, offset = [], {}, 0
    for name in ARRAY_FIELDS:
        a = np.asarray(getattr(trace, name), dtype=np.float32)
        if name in nonfinite:
            a = np.where(np.isnan(a), np.float32(np.inf), a)
        if name == "memory" and memory_dtype == "float16":
            # Finite values beyond float16's range are clipped to it; +-inf stay inf.
            clipped = np.clip(a, -_F16_MAX, _F16_MAX)
            if name in nonfinite:
                clipped = np.where(np.isinf(a), a, clipped)
            a = clipped.astype("<f2")
        a = np.ascontiguousarray(a.astype(a.dtype.newbyteorder("<")))
        specs[name] = {"dtype": a.dtype.str, "shape": list(a.shape), "offset": offset, "nbytes": int(a.nbytes)}
        arrays.append((offset, a))
        offset = _align8(offset + a.nbytes)
    wrong = np.ascontiguousarray(trace.wrong_bits, dtype=np.uint8)
    specs["wrong_bits"] = {"dtype": wrong.dtype.str, "shape": list(wrong.shape), "offset": offset, "nbytes": int(wrong.nbytes)}
    arrays.append((offset, wrong))
    offset = _align8(offset + wrong.nbytes)
    mem_lo, mem_hi = finite_range(trace.memory)
    header = {
        "version": TRACE_FORMAT_VERSION,
        "steps": trace.steps,
        "memory_shape": [int(x) for x in trace.memory_shape],
        "head_kinds": list(trace.head_kinds),
        "meta": _strict_json(trace.meta),
        # Colour limits, computed once here so the browser never scans the whole trace.
        "memory_limit": max(-mem_lo, mem_hi, 1e-6),
        "weight_max": max(finite_range(trace.weights)[1], 1e-6),
        "nonfinite": nonfinite,
        "arrays": specs,
    }
    head = json.dumps(header, default=_json_default, allow_nan=False).encode("utf-8")
    head += b" " * (_align8(len(TRACE_MAGIC) + 4 + len(head)) - (len(TRACE_MAGIC) + 4 + len(head)))
    out = bytearray(len(TRACE_MAGIC) + 4 + len(head) + offset)
    out[:8] = TRACE_MAGIC
    out[8:12] = len(head).to_bytes(4, "little")
    out[12 : 12 + len(head)] = head
    base = 12 + len(head)
    for off, a in arrays:
        out[base + off : base + off + a.nbytes] = a.tobytes()
    return bytes(out)


def _json_default(obj):
    # meta may hold numpy scalars (bits wrong, lengths): JSON wants plain numbers.
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"meta value of type {type(obj).__name__} is not JSON serialisable")


def read_trace_header(data: bytes) -> Dict[str, Any]:
    """The JSON header of an ``encode_trace`` blob (with ``body_offset`` added)."""
    if bytes(data[:8]) != TRACE_MAGIC:
        raise ValueError("data is not an encoded trace (missing NTMTRACE magic)")
    n = int.from_bytes(bytes(data[8:12]), "little")
    header = json.loads(bytes(data[12 : 12 + n]).decode("utf-8"))
    header["body_offset"] = 12 + n
    return header


def decode_trace(data: bytes) -> Trace:
    """Inverse of ``encode_trace``: every float array back as float32."""
    header = read_trace_header(data)
    if header.get("version") != TRACE_FORMAT_VERSION:
        raise ValueError(f"trace format version must be {TRACE_FORMAT_VERSION}, got {header.get('version')}")
    buf, base = memoryview(data), header["body_offset"]
    arrays = {}
    for name in ARRAY_FIELDS:
        spec = header["arrays"][name]
        count = int(np.prod(spec["shape"], dtype=np.int64))
        a = np.frombuffer(buf, dtype=np.dtype(spec["dtype"]), count=count, offset=base + spec["offset"])
        arrays[name] = a.reshape(spec["shape"]).astype(np.float32)
    spec = header["arrays"]["wrong_bits"]
    wrong = np.frombuffer(buf, dtype=np.uint8, count=int(np.prod(spec["shape"], dtype=np.int64)), offset=base + spec["offset"])
    return Trace(
        **arrays, head_kinds=list(header["head_kinds"]), meta=dict(header["meta"]), wrong_bits=wrong.reshape(spec["shape"])
    )
