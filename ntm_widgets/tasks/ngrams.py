"""Dynamic N-grams (Graves et al. 2014, section 4.4): predict the next bit of a sequence
drawn from an N-gram model that is new for every sequence.

For each sequence, every context of N - 1 bits gets its own probability that the next
bit is 1, drawn from Beta(1/2, 1/2); the first N - 1 bits are fair coins, each later bit
follows the table. Input: one bit per step; output: the probability that the next bit is
1. Scored on every prediction with a full context, as cross-entropy in bits per sequence
(``score``). ``optimal`` is the cost of the Bayes-optimal estimator (the paper's eq. 17):
P(1 | context) = (N1 + 1/2) / (N0 + N1 + 1), N0 and N1 the continuations of that
context seen so far in the sequence.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .base import Batch, Task


class NGramsTask(Task):
    name = "ngrams"

    def __init__(self, cfg):
        super().__init__(cfg)
        self.input_size = 1
        self.output_size = 1
        self.order = cfg.ngram_order
        self.contexts = 2 ** (self.order - 1)

    def max_steps(self, length: int) -> int:
        return length

    def table(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """P(next bit = 1) per context, (B, 2 ** (N - 1)): Beta(1/2, 1/2) is the arcsine
        law, sin^2(pi U / 2) for U uniform, which a seeded generator can draw."""
        u = torch.rand(batch_size, self.contexts, generator=generator, dtype=torch.float64)
        return torch.sin(0.5 * math.pi * u) ** 2

    def build(self, batch_size: int, length: int, generator: torch.Generator) -> Batch:
        k = self.order - 1
        if length < self.order:
            raise ValueError(f"ngrams needs length (bits) >= ngram_order ({self.order}), got {length}")
        table = self.table(batch_size, generator)
        draws = torch.rand(batch_size, length, generator=generator, dtype=torch.float64)
        bits = torch.zeros(batch_size, length, dtype=torch.float64)
        bits[:, :k] = (draws[:, :k] < 0.5).to(bits.dtype)
        context = torch.zeros(batch_size, dtype=torch.long)
        for t in range(k):
            context = (context * 2 + bits[:, t].long()) % self.contexts
        rows = torch.arange(batch_size)
        for t in range(k, length):
            bits[:, t] = (draws[:, t] < table[rows, context]).to(bits.dtype)
            context = (context * 2 + bits[:, t].long()) % self.contexts
        inputs = bits.to(torch.float32).unsqueeze(-1)  # (B, L, 1)
        targets = torch.zeros_like(inputs)
        targets[:, :-1, 0] = inputs[:, 1:, 0]
        # Step t predicts bit t + 1; bits k .. L-1 have a full context (step k - 1 onwards).
        mask = torch.zeros(batch_size, length)
        mask[:, max(k - 1, 0) : length - 1] = 1.0
        return Batch(inputs, targets, mask)

    def score(self, logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the scored predictions, in bits per sequence (B,)."""
        nats = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(-1)
        return (nats * mask).sum(1) / math.log(2.0)

    def optimal(self, batch: Batch) -> torch.Tensor:
        """The Bayes-optimal estimator's cost on the batch, bits per sequence (B,)."""
        bits = batch.inputs[:, :, 0].long()
        b, length = bits.shape
        k = self.order - 1
        counts = torch.zeros(b, self.contexts, 2, dtype=torch.float64)
        rows = torch.arange(b)
        context = torch.zeros(b, dtype=torch.long)
        for t in range(k):
            context = (context * 2 + bits[:, t]) % self.contexts
        cost = torch.zeros(b, dtype=torch.float64)
        for t in range(k, length):
            n0, n1 = counts[rows, context, 0], counts[rows, context, 1]
            p1 = (n1 + 0.5) / (n0 + n1 + 1.0)
            x = bits[:, t]
            scored = batch.mask[:, t - 1] > 0 if t >= 1 else torch.zeros(b, dtype=torch.bool)
            cost -= torch.where(scored, torch.log2(torch.where(x == 1, p1, 1.0 - p1)), torch.zeros_like(p1))
            counts[rows, context, x] += 1.0
            context = (context * 2 + x) % self.contexts
        return cost.to(torch.float32)
