"""The figure of merit: bit errors per sequence (Graves et al. 2014, section 4).

Outputs are thresholded at 0.5; wrong bits are summed over the answer part of each
sequence and averaged over sequences.
"""

from __future__ import annotations

from typing import Dict, Iterable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..tasks.base import wrong_bits


def masked_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy per bit, averaged over the scored steps and channels (a mask
    above 1 on a step counts that step as often)."""
    per_bit = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")  # (B, T, O)
    return (per_bit * mask.unsqueeze(-1)).sum() / (mask.sum() * logits.shape[-1]).clamp_min(1.0)


# The paper's measure (wrong bits per sequence) is the tasks' own: one definition.
bit_errors = wrong_bits


@torch.inference_mode()
def errors_at_length(
    model,
    task,
    length: int,
    samples: int,
    generator: torch.Generator,
    batch_size: int = 100,
    device=None,
    optimal: Optional[list] = None,
) -> np.ndarray:
    """The task's cost (wrong bits; n-grams: cross-entropy bits) of ``samples`` fresh
    sequences of one length, as a numpy array; ``optimal``, a list, collects the
    optimal estimator's cost where the task has one."""
    out = []
    done = 0
    while done < samples:
        n = min(batch_size, samples - done)
        batch = task.sample(n, generator, length=length)
        x, y, m = (t.to(device) for t in batch) if device is not None else batch
        logits, _ = model(x)
        out.append(task.score(logits, y, m).cpu().numpy())
        if optimal is not None and task.optimal is not None:
            optimal.append(task.optimal(batch).cpu().numpy())
        done += n
    return np.concatenate(out)


@torch.inference_mode()
def validate(model, task, samples: int, seed: int, batch_size: int = 250, device=None, max_len: Optional[int] = None) -> float:
    """Mean bit errors per sequence over ``samples`` fresh sequences of the task's lengths.

    Lengths are drawn per sequence from the training range (capped by ``max_len``),
    then sequences of one length run as one batch.
    """
    g = torch.Generator().manual_seed(seed)
    lo, hi = task.cfg.min_len, task.cfg.max_len
    if max_len is not None:
        hi = max(lo, min(hi, max_len))
    lengths = torch.randint(lo, hi + 1, (samples,), generator=g)
    total = 0.0
    for length, count in zip(*torch.unique(lengths, return_counts=True)):
        total += float(errors_at_length(model, task, int(length), int(count), g, batch_size, device).sum())
    return total / samples


def evaluate_lengths(
    model, task, lengths: Iterable[int], samples: int = 100, seed: int = 0, batch_size: int = 100, device=None
) -> Dict[int, Dict[str, float]]:
    """Generalisation: mean, median and worst bit errors per sequence at each length."""
    was_training = model.training
    model.eval()
    result = {}
    try:
        for length in lengths:
            g = torch.Generator().manual_seed(seed * 100_003 + int(length))
            best: list = []
            e = errors_at_length(model, task, int(length), samples, g, batch_size, device, optimal=best)
            result[int(length)] = {"mean": float(e.mean()), "median": float(np.median(e)), "max": float(e.max())}
            if best:
                result[int(length)]["optimal"] = float(np.concatenate(best).mean())
    finally:
        model.train(was_training)
    return result
