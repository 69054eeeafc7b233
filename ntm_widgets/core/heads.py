"""Read and write heads: one interface for both (Graves et al. 2014, section 3).

A head turns a slice of the controller's output into addressing parameters with the
usual activations, and addresses memory (eq. 5-9). Write heads also emit an erase and
an add vector (eq. 3-4). The controller's output for every head is produced by one
fused Linear in the NTM; a head only knows how wide its slice is and how to read it.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

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
    def param_size(self) -> int:
        """Width of this head's slice of the controller output."""
        addressing = self.word_size + 1 + 1 + (2 * self.shift_range + 1) + 1
        return addressing + (2 * self.word_size if self.is_write else 0)

    def split(self, raw: torch.Tensor) -> HeadParams:
        """Apply the activations to a raw (B, param_size) slice."""
        m, k = self.word_size, self.shift_range
        key, beta, g, s, gamma, rest = torch.split(raw, [m, 1, 1, 2 * k + 1, 1, raw.shape[-1] - m - 2 * k - 4], dim=-1)
        erase = add = None
        if self.is_write:
            erase, add = torch.split(rest, [m, m], dim=-1)
            erase, add = torch.sigmoid(erase), torch.tanh(add)
        return HeadParams(
            key=torch.tanh(key),
            beta=F.softplus(beta),
            g=torch.sigmoid(g),
            s=torch.softmax(s, dim=-1),
            gamma=1.0 + F.softplus(gamma),
            erase=erase,
            add=add,
        )

    def address(self, memory: torch.Tensor, params: HeadParams, w_prev: torch.Tensor) -> torch.Tensor:
        """New weighting (B, N) from the memory and the previous weighting."""
        return address(memory, params.key, params.beta, params.g, params.s, params.gamma, w_prev)

    def __repr__(self) -> str:
        return f"Head({self.kind!r}, word_size={self.word_size}, shift_range={self.shift_range})"
