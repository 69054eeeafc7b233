"""Copy (Graves et al. 2014, section 4.1): read L random vectors, then write them back.

Input channels: ``width`` bits and one delimiter. Steps: L vectors, one delimiter
step, then L blank steps while the model answers (no input then). The answer is
scored on the last L steps only.
"""

from __future__ import annotations

import torch

from .base import Batch, Task


class CopyTask(Task):
    name = "copy"

    def __init__(self, cfg):
        super().__init__(cfg)
        self.input_size = cfg.width + 1
        self.output_size = cfg.width

    def build(self, batch_size: int, length: int, generator: torch.Generator) -> Batch:
        w = self.cfg.width
        seq = self.bits(batch_size, length, generator)  # (B, L, W)
        total = 2 * length + 1
        inputs = torch.zeros(batch_size, total, w + 1)
        inputs[:, :length, :w] = seq
        inputs[:, length, w] = 1.0  # delimiter
        targets = torch.zeros(batch_size, total, w)
        targets[:, length + 1 :] = seq
        mask = torch.zeros(batch_size, total)
        mask[:, length + 1 :] = 1.0
        return Batch(inputs, targets, mask)
