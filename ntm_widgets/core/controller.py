"""Controllers: the network that sees the input and the last reads, and drives the heads.

Both kinds share one interface: ``initial_state(batch, device, dtype)`` and
``step(x, state) -> (output, state)``; a feed-forward controller's state is an empty
tuple, so the NTM's step never branches on the kind.
"""

from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn


def _forget_bias_one(cell: nn.LSTMCell) -> None:
    # A forget-gate bias of 1 keeps early gradients alive through long sequences.
    n = cell.hidden_size
    with torch.no_grad():
        cell.bias_ih[n : 2 * n].fill_(1.0)
        cell.bias_hh[n : 2 * n].zero_()


def _noisy_cell(cell: nn.LSTMCell, x, state, noise):
    """nn.LSTMCell's step (gates in its order: input, forget, cell, output) with
    ``noise`` added to the gate pre-activations."""
    h, c = state
    gates = F.linear(x, cell.weight_ih, cell.bias_ih) + F.linear(h, cell.weight_hh, cell.bias_hh) + noise
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class LSTMController(nn.Module):
    """A stack of LSTM cells; the paper's recurrent controller (one layer of 100 units
    for copy, two layers of 100 for priority sort). Layer k > 0 reads layer k - 1's
    output; the heads and the output layer see the top layer's.

    The state is (h, c), each (B, layers * hidden): the layers side by side, so that a
    one-layer controller's state is the plain (h, c) of an LSTM cell (the fused step's).
    """

    def __init__(self, input_size: int, hidden_size: int, layers: int = 1):
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        self.hidden_size, self.layers = hidden_size, layers
        self.cell = nn.LSTMCell(input_size, hidden_size)
        self.upper = nn.ModuleList(nn.LSTMCell(hidden_size, hidden_size) for _ in range(layers - 1))
        for cell in (self.cell, *self.upper):
            _forget_bias_one(cell)

    def initial_state(self, batch_size: int, device=None, dtype=None) -> Tuple[torch.Tensor, torch.Tensor]:
        z = torch.zeros(batch_size, self.hidden_size * self.layers, device=device, dtype=dtype)
        return (z, z.clone())

    def step(self, x: torch.Tensor, state, noise=None):
        """``noise`` (B, 4 x hidden), if given, is added to the first layer's gate
        pre-activations (NTM.gate_noise)."""
        if self.layers == 1:
            h, c = self.cell(x, state) if noise is None else _noisy_cell(self.cell, x, state, noise)
            return h, (h, c)
        hs, cs = state[0].chunk(self.layers, dim=1), state[1].chunk(self.layers, dim=1)
        new_h, new_c = [], []
        for k, cell in enumerate((self.cell, *self.upper)):
            if k == 0 and noise is not None:
                x, c = _noisy_cell(cell, x, (hs[k], cs[k]), noise)
            else:
                x, c = cell(x, (hs[k], cs[k]))
            new_h.append(x)
            new_c.append(c)
        return x, (torch.cat(new_h, dim=1), torch.cat(new_c, dim=1))


class FeedForwardController(nn.Module):
    """tanh layers with no state: all memory must go through the NTM's memory."""

    def __init__(self, input_size: int, hidden_size: int, layers: int = 1):
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        self.hidden_size, self.layers = hidden_size, layers
        self.layer = nn.Linear(input_size, hidden_size)
        self.upper = nn.ModuleList(nn.Linear(hidden_size, hidden_size) for _ in range(layers - 1))

    def initial_state(self, batch_size: int, device=None, dtype=None) -> tuple:
        return ()

    def step(self, x: torch.Tensor, state, noise=None):
        x = self.layer(x)
        x = torch.tanh(x if noise is None else x + noise)
        for layer in self.upper:
            x = torch.tanh(layer(x))
        return x, state


def make_controller(kind: str, input_size: int, hidden_size: int, layers: int = 1) -> nn.Module:
    if kind == "lstm":
        return LSTMController(input_size, hidden_size, layers)
    if kind == "feedforward":
        return FeedForwardController(input_size, hidden_size, layers)
    raise ValueError(f"controller must be 'lstm' or 'feedforward', got {kind!r}")
