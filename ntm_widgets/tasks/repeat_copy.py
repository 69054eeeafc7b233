"""Repeat copy (Graves et al. 2014, section 4.2): copy a sequence R times, then mark the end.

Input channels: ``width`` bits, a delimiter, and the repeat count as a scalar in its
own channel on the delimiter step (divided by ``max_repeats``). Output channels:
``width`` bits and an end marker, set on the step after the last repeat. In
evaluation every sequence draws its own repeat count; a training batch shares one
(a batch is padded to its largest count, and per-sequence counts cost ~35% of the
steps in a fixed time: benchmarks/NOTES.md).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Optional

import torch

from .base import Batch, Task


class RepeatCopyTask(Task):
    name = "repeat_copy"

    def __init__(self, cfg):
        super().__init__(cfg)
        self.input_size = cfg.width + 2
        self.output_size = cfg.width + 1

    # Evaluation with one repeat count for every sequence (``eval --repeats R``); None:
    # each sequence draws its own from min_repeats..max_repeats.
    fixed_repeats: Optional[int] = None

    def max_steps(self, length: int) -> int:
        return length + 2 + length * max(self.cfg.max_repeats, self.fixed_repeats or 0)

    def build(self, batch_size: int, length: int, generator: torch.Generator, repeats: Optional[int] = None) -> Batch:
        """Each sequence has its own repeat count; shorter answers end with their end
        marker and the steps after it are neither input nor scored."""
        w, cfg = self.cfg.width, self.cfg
        repeats = repeats or self.fixed_repeats
        if repeats is None and self._training:
            hi = cfg.max_repeats if self._max_repeats is None else max(cfg.min_repeats, min(cfg.max_repeats, self._max_repeats))
            counts = torch.randint(cfg.min_repeats, hi + 1, (1,), generator=generator).expand(batch_size)
        elif repeats is None:
            counts = torch.randint(cfg.min_repeats, cfg.max_repeats + 1, (batch_size,), generator=generator)
        else:
            counts = torch.full((batch_size,), int(repeats))
        seq = self.bits(batch_size, length, generator)
        most = int(counts.max())
        total = length + 2 + length * most
        inputs = torch.zeros(batch_size, total, w + 2)
        inputs[:, :length, :w] = seq
        inputs[:, length, w] = 1.0
        # The count as a scalar scaled by the training range's largest count: counts
        # beyond it give values above 1, which stay ordered and meaningful (the paper
        # normalises to zero mean and unit variance over its training range instead).
        inputs[:, length, w + 1] = counts.to(inputs.dtype) / cfg.max_repeats
        targets = torch.zeros(batch_size, total, w + 1)
        tiled = seq.repeat(1, most, 1)  # (B, L * most, W)
        steps = torch.arange(total)
        answer_end = length + 1 + length * counts  # the end marker's step, per sequence
        in_answer = (steps[None, :] >= length + 1) & (steps[None, :] < answer_end[:, None])
        targets[:, length + 1 : length + 1 + length * most, :w] = (
            tiled * in_answer[:, length + 1 : length + 1 + length * most, None]
        )
        rows = torch.arange(batch_size)
        targets[rows, answer_end, w] = 1.0  # end marker
        mask = ((steps[None, :] >= length + 1) & (steps[None, :] <= answer_end[:, None])).to(inputs.dtype)
        return Batch(inputs, targets, mask)

    @staticmethod
    def weight_marker(targets: torch.Tensor, mask: torch.Tensor, weight: float) -> torch.Tensor:
        """The scored-step mask with the end-marker step of each sequence counting
        ``weight`` times (the marker is the last output channel, 1 on that step only)."""
        return mask + (weight - 1.0) * targets[..., -1] * mask


@contextmanager
def repeats_fixed(task, repeats: Optional[int]):
    """``task`` with every sequence repeating ``repeats`` times while inside (None: as it
    was), restored on the way out: tests and selection measure one count this way."""
    if repeats is None:
        yield task
        return
    before = task.fixed_repeats
    task.fixed_repeats = repeats
    try:
        yield task
    finally:
        task.fixed_repeats = before
