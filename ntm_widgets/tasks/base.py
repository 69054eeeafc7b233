"""What every task returns: a batch of inputs, targets and a mask of answer steps."""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch


class Batch(NamedTuple):
    inputs: torch.Tensor  # (B, T, input_size), 0/1 bits plus delimiter channels
    targets: torch.Tensor  # (B, T, output_size), zero outside the answer
    mask: torch.Tensor  # (B, T) float, 1 on the steps whose output is scored


def wrong_bits(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Wrong bits per sequence (B,), the paper's measure: an output bit is its logit > 0
    (sigmoid > 0.5), summed over the scored steps."""
    wrong = ((logits > 0).to(targets.dtype) != targets).to(logits.dtype)
    return (wrong * mask.unsqueeze(-1)).sum(dim=(1, 2))


class Task:
    """A batch generator; subclasses set the sizes and build one batch of a length."""

    name = "task"
    input_size: int
    output_size: int
    # Tasks whose cost has a known optimum (n-grams: the Bayes estimator) define
    # ``optimal(batch)``; evaluation reports it beside the model's cost.
    optimal = None

    def __init__(self, cfg):
        self.cfg = cfg
        # Probability that a drawn vector is all zeros instead (``sample(blank_prob=)``).
        self._blank_prob = 0.0
        # True while ``sample(training=True)`` builds a batch: tasks with per-sequence
        # settings (repeat copy's count) then draw one setting for the whole batch.
        self._training = False
        # A cap on repeat copy's training repeat count while ``sample`` builds a batch (a
        # curriculum over the count); None: the configured range.
        self._max_repeats = None

    def sample_length(self, generator: torch.Generator, max_len: Optional[int] = None, length_power: float = 0.0) -> int:
        """A length from the configured range, capped by ``max_len``; uniform, or with
        probability proportional to L ** length_power when that is > 0."""
        lo, hi = self.cfg.min_len, self.cfg.max_len
        if max_len is not None:
            hi = max(lo, min(hi, max_len))
        if length_power > 0 and hi > lo:
            weights = torch.arange(lo, hi + 1, dtype=torch.float64) ** length_power
            return lo + int(torch.multinomial(weights, 1, generator=generator).item())
        return int(torch.randint(lo, hi + 1, (1,), generator=generator).item())

    def sample(
        self,
        batch_size: int,
        generator: torch.Generator,
        length: Optional[int] = None,
        max_len: Optional[int] = None,
        length_power: float = 0.0,
        blank_prob: float = 0.0,
        training: bool = False,
        max_repeats: Optional[int] = None,
    ) -> Batch:
        """A batch whose sequences share one length, drawn from the configured range.

        ``length`` fixes it (for evaluation beyond the trained range); ``max_len`` caps
        the draw (a curriculum); ``length_power`` > 0 draws length L with probability
        proportional to L ** length_power (training favours long sequences), 0 uniformly.
        ``blank_prob`` > 0 makes each data vector all zeros with that probability (it
        stays a valid input of the task: random bits are all zero with p = 2 ** -width).
        ``training`` lets a task share one draw of its other settings across the batch
        (cheaper steps); evaluation leaves it off so that every sequence draws its own.
        ``max_repeats`` caps repeat copy's training draw of the count (other tasks ignore it).
        """
        if length is None:
            length = self.sample_length(generator, max_len=max_len, length_power=length_power)
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        if not 0.0 <= blank_prob <= 1.0:
            raise ValueError(f"blank_prob must be in [0, 1], got {blank_prob}")
        self._blank_prob, self._training, self._max_repeats = blank_prob, training, max_repeats
        try:
            return self.build(batch_size, length, generator)
        finally:
            self._blank_prob, self._training, self._max_repeats = 0.0, False, None

    def build(self, batch_size: int, length: int, generator: torch.Generator) -> Batch:
        raise NotImplementedError

    def max_steps(self, length: int) -> int:
        """Time steps of the longest sequence of this length (memory estimates use it)."""
        return 2 * length + 1

    def score(self, logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The task's cost per sequence (B,): wrong bits (n-grams: cross-entropy bits)."""
        return wrong_bits(logits, targets, mask)

    def bits(self, batch_size: int, length: int, generator: torch.Generator) -> torch.Tensor:
        """Random binary vectors (B, length, width), each bit 0 or 1 with p = 0.5 (and
        each vector all zeros with the probability ``sample`` was given as blank_prob)."""
        out = torch.randint(0, 2, (batch_size, length, self.cfg.width), generator=generator).float()
        if self._blank_prob > 0:
            keep = torch.rand(batch_size, length, 1, generator=generator) >= self._blank_prob
            out = out * keep
        return out
