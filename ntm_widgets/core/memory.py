"""Reading and writing the N x M memory (Graves et al. 2014, section 3.1-3.2).

    read   r_t     = sum_i w_t(i) M_t(i)                                  (eq. 2)
    erase  M~_t(i) = M_{t-1}(i) * (1 - w_t(i) e_t)                        (eq. 3)
    add    M_t(i)  = M~_t(i) + w_t(i) a_t                                 (eq. 4)

Pure functions on batch-first tensors: memory (B, N, M), weighting (B, N),
erase / add vectors (B, M). ``write`` returns a new tensor and never mutates.
"""

from __future__ import annotations

import torch


def read(memory: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Eq. 2: the weighted sum of rows, (B, N, M) x (B, N) -> (B, M)."""
    return torch.bmm(w.unsqueeze(1), memory).squeeze(1)


def write(memory: torch.Tensor, w: torch.Tensor, erase: torch.Tensor, add: torch.Tensor) -> torch.Tensor:
    """Eq. 3-4: erase then add; a row is only touched in proportion to its weight."""
    w = w.unsqueeze(-1)  # (B, N, 1)
    erased = memory * (1.0 - w * erase.unsqueeze(1))  # (B, N, M)
    return erased + w * add.unsqueeze(1)


def write_many(memory: torch.Tensor, w: torch.Tensor, erase: torch.Tensor, add: torch.Tensor) -> torch.Tensor:
    """Several write heads at once: w (B, H, N), erase / add (B, H, M).

    The paper (section 3.2) says multiple erasures combine multiplicatively and
    additions add, so the order of the heads does not matter.
    """
    keep = torch.prod(1.0 - w.unsqueeze(-1) * erase.unsqueeze(2), dim=1)  # (B, N, M)
    added = torch.bmm(w.transpose(1, 2), add)  # (B, N, M)
    return memory * keep + added
