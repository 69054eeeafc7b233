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
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np
import torch

ARRAY_FIELDS = ("inputs", "targets", "outputs", "mask", "memory", "weights", "erase", "add", "beta", "g", "s", "gamma", "reads")


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

    @property
    def steps(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def memory_shape(self):
        return tuple(self.memory.shape[1:])

    @property
    def wrong_bits(self) -> np.ndarray:
        """(T, O) bool: scored output bits that are wrong after thresholding at 0.5."""
        return ((self.outputs > 0.5) != (self.targets > 0.5)) & (self.mask[:, None] > 0)

    @classmethod
    def from_record(cls, record: Dict, inputs, targets, logits, mask, index: int = 0, meta: Optional[Dict] = None) -> "Trace":
        """Pick sequence ``index`` of a batch recorded by ``NTM.forward(..., record={})``."""

        def np32(t):
            return t[index].detach().to(torch.float32).cpu().numpy()

        return cls(
            inputs=np32(inputs),
            targets=np32(targets),
            outputs=np32(torch.sigmoid(logits)),
            mask=np32(mask),
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
        )

    def to_npz(self, path) -> None:
        np.savez_compressed(path, **{k: getattr(self, k) for k in ARRAY_FIELDS}, head_kinds=np.array(self.head_kinds), meta=np.array(json.dumps(self.meta)))

    @classmethod
    def from_npz(cls, path) -> "Trace":
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in ARRAY_FIELDS}
            return cls(**arrays, head_kinds=[str(k) for k in data["head_kinds"]], meta=json.loads(str(data["meta"])))


@torch.no_grad()
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
    wrong = int(((logits > 0).float() != y).float().mul(m.unsqueeze(-1)).sum())
    meta = {"task": task.name, "length": length, "seed": seed, "bits_wrong": wrong}
    return Trace.from_record(record, x, y, logits, m, index=0, meta=meta)
