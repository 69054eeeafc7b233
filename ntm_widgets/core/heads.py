"""Read and write heads: one interface for both (Graves et al. 2014, section 3).

A head turns a slice of the controller's output into addressing parameters with the
usual activations, and addresses memory (eq. 5-9). Write heads also emit an erase and
an add vector (eq. 3-4). The controller's output for every head is produced by one
fused Linear in the NTM; a head only knows how wide its slice is and how to read it.

``Head.fields`` is the one description of that slice: which parameters, in which
order, how wide. Everything else derives from it: ``split`` here, the NTM's initial
biases, and the row order the fused C step reads (``fused.head_rows``).
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F

from .addressing import address


class HeadParams(NamedTuple):
    """Activated parameters of one head for one step; scalars are (B, 1)."""

    key: torch.Tensor  # (B, M), tanh
    beta: torch.Tensor  # (B, 1), softplus: >= 0
    g: torch.Tensor  # (B, 1), sigmoid: (0, 1)
    s: torch.Tensor  # (B, 2k+1), softmax over offsets -k..k
    gamma: torch.Tensor  # (B, 1), 1 + softplus: >= 1
    erase: Optional[torch.Tensor] = None  # (B, M), sigmoid; write heads only
    add: Optional[torch.Tensor] = None  # (B, M), tanh; write heads only


# Each field's activation; leading axes are free, so one call can cover a whole sequence.
ACTIVATIONS = {
    "key": torch.tanh,
    "beta": F.softplus,
    "g": torch.sigmoid,
    "s": lambda x: torch.softmax(x, dim=-1),
    "gamma": lambda x: 1.0 + F.softplus(x),
    "erase": torch.sigmoid,
    "add": torch.tanh,
}


class Head:
    """A read or write head over memory rows of width ``word_size``.

    Stateless: the previous weighting comes in and the new one goes out, so one
    recorded run holds everything a replay needs.
    """

    def __init__(self, kind: str, word_size: int, shift_range: int = 1):
        if kind not in ("read", "write"):
            raise ValueError(f"head kind must be 'read' or 'write', got {kind!r}")
        self.kind = kind
        self.word_size = word_size
        self.shift_range = shift_range

    @property
    def is_write(self) -> bool:
        return self.kind == "write"

    @property
    def fields(self) -> Tuple[Tuple[str, int], ...]:
        """This head's slice of the controller output: (field, width) in order."""
        m = self.word_size
        fields = (("key", m), ("beta", 1), ("g", 1), ("s", 2 * self.shift_range + 1), ("gamma", 1))
        return fields + ((("erase", m), ("add", m)) if self.is_write else ())

    @property
    def param_size(self) -> int:
        """Width of this head's slice of the controller output."""
        return sum(width for _, width in self.fields)

    def offsets(self) -> Dict[str, int]:
        """Where each field starts in this head's slice."""
        out, pos = {}, 0
        for name, width in self.fields:
            out[name] = pos
            pos += width
        return out

    def split(self, raw: torch.Tensor) -> HeadParams:
        """Apply the activations to a raw (..., param_size) slice."""
        names, widths = zip(*self.fields)
        parts = torch.split(raw, list(widths), dim=-1)
        return HeadParams(**{name: ACTIVATIONS[name](part) for name, part in zip(names, parts)})

    def address(
        self, memory: torch.Tensor, params: HeadParams, w_prev: torch.Tensor, row_norms: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """New weighting (B, N) from the memory (and its row norms, if known) and the
        previous weighting."""
        return address(memory, params.key, params.beta, params.g, params.s, params.gamma, w_prev, row_norms)

    def __repr__(self) -> str:
        return f"Head({self.kind!r}, word_size={self.word_size}, shift_range={self.shift_range})"
