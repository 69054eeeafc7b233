"""Priority sort (Graves et al. 2014, section 4.5): output the vectors ordered by priority.

Input channels: ``width`` bits, a priority in [-1, 1], and a delimiter. Steps: L
vectors with their priorities, a delimiter, then L blank steps where the vectors must
come out highest priority first: the ``sort_outputs`` highest (the paper: 16 of 20),
or all L when it is not set.
"""

from __future__ import annotations

import torch

from .base import Batch, Task


class PrioritySortTask(Task):
    name = "priority_sort"

    def __init__(self, cfg):
        super().__init__(cfg)
        self.input_size = cfg.width + 2
        self.output_size = cfg.width

    def outputs(self, length: int) -> int:
        return min(self.cfg.sort_outputs or length, length)

    def max_steps(self, length: int) -> int:
        return length + 1 + self.outputs(length)

    def build(self, batch_size: int, length: int, generator: torch.Generator) -> Batch:
        w = self.cfg.width
        seq = self.bits(batch_size, length, generator)
        priority = torch.rand(batch_size, length, generator=generator) * 2 - 1
        out = self.outputs(length)
        order = torch.argsort(priority, dim=1, descending=True)[:, :out]
        total = length + 1 + out
        inputs = torch.zeros(batch_size, total, w + 2)
        inputs[:, :length, :w] = seq
        inputs[:, :length, w] = priority
        inputs[:, length, w + 1] = 1.0
        targets = torch.zeros(batch_size, total, w)
        targets[:, length + 1 :] = torch.gather(seq, 1, order.unsqueeze(-1).expand(-1, -1, w))
        mask = torch.zeros(batch_size, total)
        mask[:, length + 1 :] = 1.0
        return Batch(inputs, targets, mask)
