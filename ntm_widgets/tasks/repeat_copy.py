"""Repeat copy (Graves et al. 2014, section 4.2): copy a sequence R times, then mark the end.

Input channels: ``width`` bits, a delimiter, and the repeat count as a scalar in its
own channel on the delimiter step (normalised by ``max_repeats``). Output channels:
``width`` bits and an end marker, set on the step after the last repeat.
"""
from __future__ import annotations

from typing import Optional

import torch

from .base import Batch, Task


class RepeatCopyTask(Task):
    name = "repeat_copy"

    def __init__(self, cfg):
        super().__init__(cfg)
        self.input_size = cfg.width + 2
        self.output_size = cfg.width + 1

    def max_steps(self, length: int) -> int:
        return length + 2 + length * self.cfg.max_repeats

    def build(self, batch_size: int, length: int, generator: torch.Generator, repeats: Optional[int] = None) -> Batch:
        w, cfg = self.cfg.width, self.cfg
        if repeats is None:
            repeats = int(torch.randint(cfg.min_repeats, cfg.max_repeats + 1, (1,), generator=generator).item())
        seq = self.bits(batch_size, length, generator)
        answer = length * repeats + 1
        total = length + 1 + answer
        inputs = torch.zeros(batch_size, total, w + 2)
        inputs[:, :length, :w] = seq
        inputs[:, length, w] = 1.0
        inputs[:, length, w + 1] = repeats / cfg.max_repeats
        targets = torch.zeros(batch_size, total, w + 1)
        targets[:, length + 1 : total - 1, :w] = seq.repeat(1, repeats, 1)
        targets[:, total - 1, w] = 1.0  # end marker
        mask = torch.zeros(batch_size, total)
        mask[:, length + 1 :] = 1.0
        return Batch(inputs, targets, mask)
