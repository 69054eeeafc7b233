"""Associative recall (Graves et al. 2014, section 4.3): given a query item, answer the next one.

An item is ``item_len`` random vectors; ``length`` counts items (2 or more). Input
channels: ``width`` bits, an item delimiter (before each item) and a query delimiter
(around the query). Steps: each item after its delimiter, the query delimiter, a copy
of one item (never the last), the query delimiter again, then ``item_len`` blank steps
where the item that followed the query must be written.
"""

from __future__ import annotations

import torch

from .base import Batch, Task


class AssociativeRecallTask(Task):
    name = "associative_recall"

    def __init__(self, cfg):
        super().__init__(cfg)
        self.input_size = cfg.width + 2
        self.output_size = cfg.width

    def max_steps(self, length: int) -> int:
        k = self.cfg.item_len
        return length * (k + 1) + 2 * k + 2

    def build(self, batch_size: int, length: int, generator: torch.Generator) -> Batch:
        if length < 2:
            raise ValueError(f"associative recall needs length (items) >= 2, got {length}")
        w, k = self.cfg.width, self.cfg.item_len
        items = self.bits(batch_size, length * k, generator).view(batch_size, length, k, w)
        query = torch.randint(0, length - 1, (batch_size,), generator=generator)
        rows = torch.arange(batch_size)
        store = length * (k + 1)
        total = store + 1 + k + 1 + k
        inputs = torch.zeros(batch_size, total, w + 2)
        for i in range(length):  # a loop over items, never over the batch
            start = i * (k + 1)
            inputs[:, start, w] = 1.0
            inputs[:, start + 1 : start + 1 + k, :w] = items[:, i]
        inputs[:, store, w + 1] = 1.0
        inputs[:, store + 1 : store + 1 + k, :w] = items[rows, query]
        inputs[:, store + 1 + k, w + 1] = 1.0
        targets = torch.zeros(batch_size, total, w)
        targets[:, total - k :] = items[rows, query + 1]
        mask = torch.zeros(batch_size, total)
        mask[:, total - k :] = 1.0
        return Batch(inputs, targets, mask)
