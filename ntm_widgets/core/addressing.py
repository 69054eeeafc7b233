"""Addressing of an NTM head (Graves et al. 2014, arXiv:1410.5401, section 3.3).

Each step a head turns its parameters into a weighting over the N memory rows:

    content        w_c(i) = softmax_i(beta * cos(k, M(i)))                (eq. 5-6)
    interpolation  w_g    = g * w_c + (1 - g) * w_{t-1}                   (eq. 7)
    shift          w~(i)  = sum_j w_g(j) s(i - j)      (circular)         (eq. 8)
    sharpen        w(i)   = w~(i)^gamma / sum_j w~(j)^gamma               (eq. 9)

All functions are pure and batch-first: memory (B, N, M), key (B, M), weightings
(B, N), scalars (beta, g, gamma) shaped (B, 1), shift distributions (B, 2k+1).
``s[..., j]`` is the weight of offset ``j - k``; offset +1 moves focus from row i to
row i + 1, wrapping around.
"""

from __future__ import annotations

from typing import Optional

import torch

# Guards a zero-norm row or key (cosine undefined) and 0 ** gamma in the sharpening.
_EPS = 1e-8


def content_weights(
    memory: torch.Tensor, key: torch.Tensor, beta: torch.Tensor, row_norms: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """Content addressing, eq. 5-6: softmax over rows of beta * cosine(key, row).

    ``row_norms`` (B, N): the rows' lengths ``memory.norm(dim=-1)``, when the caller
    already has them (several heads, or the next step, addressing the same memory).
    """
    # K[u, v] = u.v / (|u| |v|)
    dots = torch.bmm(memory, key.unsqueeze(-1)).squeeze(-1)  # (B, N)
    row_norms = memory.norm(dim=-1) if row_norms is None else row_norms
    norms = row_norms * key.norm(dim=-1, keepdim=True)  # (B, N)
    cosine = dots / (norms + _EPS)
    return torch.softmax(beta * cosine, dim=-1)  # (B, N)


def interpolate(w_c: torch.Tensor, w_prev: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Interpolation gate, eq. 7: g = 1 keeps the content weighting, g = 0 the previous one."""
    # g * w_c + (1 - g) * w_prev in one operation: 85 vs 129 us forward + backward (B=1, N=128).
    return torch.lerp(w_prev, w_c, g)


def shift(w: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Circular convolution, eq. 8: w~(i) = sum_j w(j) s(i - j), offsets -k..k.

    Built as a weighted sum of k*2+1 rolled copies of ``w``, which vectorises over the
    batch with no Python loop over it (the loop is over the 2k+1 offsets only).
    """
    k = (s.shape[-1] - 1) // 2
    # Offset o moves the weight at row j to row j + o: torch.roll(w, o) does exactly that.
    rolled = torch.stack([torch.roll(w, shifts=j - k, dims=-1) for j in range(2 * k + 1)], dim=-1)
    return (rolled * s.unsqueeze(1)).sum(dim=-1)  # (B, N)


def sharpen(w: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """Sharpening, eq. 9: raise to gamma >= 1 and renormalise.

    Computed as softmax(gamma * log w), the same function: w ** gamma itself
    underflows to 0 on every row of a flat weighting (w ~ 1/128, gamma ~ 26 in float32)
    and the renormalisation gives 0 / 0 = NaN, which stopped feed-forward associative
    recall runs (1 step in 5 skipped as non-finite; benchmarks/NOTES.md)."""
    return torch.softmax(gamma * torch.log(w + _EPS), dim=-1)


def address(
    memory: torch.Tensor,
    key: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Tensor,
    s: torch.Tensor,
    gamma: torch.Tensor,
    w_prev: torch.Tensor,
    row_norms: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """The whole addressing pipeline, eq. 5-9, returning the new weighting (B, N);
    ``row_norms`` as in ``content_weights``."""
    w_c = content_weights(memory, key, beta, row_norms)
    w_g = interpolate(w_c, w_prev, g)
    w_s = shift(w_g, s)
    return sharpen(w_s, gamma)
