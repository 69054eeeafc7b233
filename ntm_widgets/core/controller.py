"""Controllers: the network that sees the input and the last reads, and drives the heads.

Both kinds share one interface: ``initial_state(batch, device, dtype)`` and
``step(x, state) -> (output, state)``; a feed-forward controller's state is an empty
tuple, so the NTM's step never branches on the kind.
"""

from __future__ import annotations

from typing import Tuple

import torch
from torch import nn


class LSTMController(nn.Module):
    """One LSTM cell; the paper's recurrent controller (100 units for copy)."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.cell = nn.LSTMCell(input_size, hidden_size)
        # A forget-gate bias of 1 keeps early gradients alive through long sequences.
        with torch.no_grad():
            self.cell.bias_ih[hidden_size : 2 * hidden_size].fill_(1.0)
            self.cell.bias_hh[hidden_size : 2 * hidden_size].zero_()

    def initial_state(self, batch_size: int, device=None, dtype=None) -> Tuple[torch.Tensor, torch.Tensor]:
        z = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return (z, z.clone())

    def step(self, x: torch.Tensor, state):
        h, c = self.cell(x, state)
        return h, (h, c)


class FeedForwardController(nn.Module):
    """A single tanh layer with no state: all memory must go through the NTM's memory."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.layer = nn.Linear(input_size, hidden_size)

    def initial_state(self, batch_size: int, device=None, dtype=None) -> tuple:
        return ()

    def step(self, x: torch.Tensor, state):
        return torch.tanh(self.layer(x)), state


def make_controller(kind: str, input_size: int, hidden_size: int) -> nn.Module:
    if kind == "lstm":
        return LSTMController(input_size, hidden_size)
    if kind == "feedforward":
        return FeedForwardController(input_size, hidden_size)
    raise ValueError(f"controller must be 'lstm' or 'feedforward', got {kind!r}")
