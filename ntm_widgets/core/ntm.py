"""The Neural Turing Machine (Graves et al. 2014, arXiv:1410.5401).

One step, for a batch at once:

    controller  h_t = C([x_t, r_{t-1}], state)
    heads       params = split(Linear(h_t))             one fused projection
    write       M_t = write(M_{t-1}, w^W_t, e_t, a_t)   eq. 3-4, addressed on M_{t-1}
    read        r_t = read(M_t, w^R_t)                  eq. 2, addressed on M_t
    output      y_t = Linear([h_t, r_t])                logits; sigmoid gives bits

State is explicit (``NTMState``): ``step(x, state) -> (y, state)`` and nothing hidden
mutates, so a run can be paused, replayed or recorded step by step.
"""
from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
from torch import nn

from . import memory as mem
from .controller import make_controller
from .heads import Head

# Collier & Beel 2018 use a small constant for memory; exactly 0 leaves cosine undefined.
MEMORY_INIT_CONSTANT = 1e-6


class NTMState(NamedTuple):
    memory: torch.Tensor  # (B, N, M)
    weights: torch.Tensor  # (B, H, N): read heads first, then write heads
    reads: torch.Tensor  # (B, R, M): last read vectors
    controller: tuple  # the controller's own state ((h, c) for an LSTM, () otherwise)


class NTM(nn.Module):
    """An NTM with any number of read and write heads; see the module docstring."""

    def __init__(
        self,
        input_size: int,
        output_size: int,
        memory_size: int = 128,
        word_size: int = 20,
        controller: str = "lstm",
        controller_size: int = 100,
        num_read_heads: int = 1,
        num_write_heads: int = 1,
        shift_range: int = 1,
        memory_init: str = "constant",
    ):
        super().__init__()
        self.input_size, self.output_size = input_size, output_size
        self.memory_size, self.word_size = memory_size, word_size
        self.num_read_heads, self.num_write_heads = num_read_heads, num_write_heads
        self.shift_range = shift_range
        self.memory_init = memory_init
        self.heads: List[Head] = [Head("read", word_size, shift_range) for _ in range(num_read_heads)]
        self.heads += [Head("write", word_size, shift_range) for _ in range(num_write_heads)]
        self.controller = make_controller(controller, input_size + num_read_heads * word_size, controller_size)
        # One Linear for every head's parameters: one matmul per step instead of one per head.
        self.head_proj = nn.Linear(controller_size, sum(h.param_size for h in self.heads))
        self.out = nn.Linear(controller_size + num_read_heads * word_size, output_size)
        if memory_init == "learned":
            self.memory_bias = nn.Parameter(torch.randn(memory_size, word_size) * 0.01)
        elif memory_init == "random":
            # A fixed random memory, drawn once per model (a buffer, saved with it).
            self.register_buffer("memory_bias", torch.rand(memory_size, word_size) * 1e-2)
        elif memory_init != "constant":
            raise ValueError(f"memory_init must be 'constant', 'learned' or 'random', got {memory_init!r}")

    @classmethod
    def from_config(cls, model_cfg, input_size: int, output_size: int) -> "NTM":
        return cls(input_size, output_size, **model_cfg.to_dict())

    @property
    def num_heads(self) -> int:
        return len(self.heads)

    def initial_state(self, batch_size: int, device=None, dtype=None) -> NTMState:
        p = self.out.weight
        device = p.device if device is None else device
        dtype = p.dtype if dtype is None else dtype
        n, m = self.memory_size, self.word_size
        if self.memory_init == "constant":
            memory = torch.full((batch_size, n, m), MEMORY_INIT_CONSTANT, device=device, dtype=dtype)
        else:
            memory = self.memory_bias.to(device=device, dtype=dtype).unsqueeze(0).expand(batch_size, n, m)
        # Every head starts focused on row 0, a sharp start the shifts can move from.
        weights = torch.zeros(batch_size, self.num_heads, n, device=device, dtype=dtype)
        weights[:, :, 0] = 1.0
        reads = torch.zeros(batch_size, self.num_read_heads, m, device=device, dtype=dtype)
        return NTMState(memory, weights, reads, self.controller.initial_state(batch_size, device, dtype))

    def step(self, x: torch.Tensor, state: NTMState, record: Optional[Dict[str, list]] = None) -> Tuple[torch.Tensor, NTMState]:
        """One time step: x (B, input_size) -> logits (B, output_size) and the new state."""
        batch = x.shape[0]
        ctrl_in = torch.cat([x, state.reads.reshape(batch, -1)], dim=-1)
        h, ctrl_state = self.controller.step(ctrl_in, state.controller)
        raw = self.head_proj(h)  # (B, sum of param sizes)
        params = [head.split(chunk) for head, chunk in zip(self.heads, torch.split(raw, [hd.param_size for hd in self.heads], dim=-1))]

        r = self.num_read_heads
        memory = state.memory
        # Write heads address the memory as it was, then all their writes land together.
        write_w = [head.address(memory, p, state.weights[:, r + i]) for i, (head, p) in enumerate(zip(self.heads[r:], params[r:]))]
        w_write = torch.stack(write_w, dim=1)  # (B, W, N)
        erase = torch.stack([p.erase for p in params[r:]], dim=1)  # (B, W, M)
        add = torch.stack([p.add for p in params[r:]], dim=1)  # (B, W, M)
        if self.num_write_heads == 1:
            memory = mem.write(memory, w_write[:, 0], erase[:, 0], add[:, 0])
        else:
            memory = mem.write_many(memory, w_write, erase, add)
        # Read heads see the memory after this step's write.
        read_w = [head.address(memory, p, state.weights[:, i]) for i, (head, p) in enumerate(zip(self.heads[:r], params[:r]))]
        w_read = torch.stack(read_w, dim=1)  # (B, R, N)
        reads = torch.bmm(w_read, memory)  # (B, R, M), eq. 2 for every read head at once

        logits = self.out(torch.cat([h, reads.reshape(batch, -1)], dim=-1))
        weights = torch.cat([w_read, w_write], dim=1)  # (B, H, N)
        if record is not None:
            record["memory"].append(memory)
            record["weights"].append(weights)
            record["erase"].append(erase)
            record["add"].append(add)
            record["beta"].append(torch.cat([p.beta for p in params], dim=-1))
            record["g"].append(torch.cat([p.g for p in params], dim=-1))
            record["s"].append(torch.stack([p.s for p in params], dim=1))
            record["gamma"].append(torch.cat([p.gamma for p in params], dim=-1))
            record["reads"].append(reads)
        return logits, NTMState(memory, weights, reads, ctrl_state)

    def forward(self, inputs: torch.Tensor, state: Optional[NTMState] = None, record: Optional[Dict[str, list]] = None):
        """Run a whole sequence: inputs (B, T, input_size) -> logits (B, T, output_size), final state.

        Pass ``record={}`` to have every step's memory, weightings and head parameters
        collected into it as tensors with a time axis (B, T, ...); with ``record=None``
        nothing is kept.
        """
        if state is None:
            state = self.initial_state(inputs.shape[0], inputs.device, inputs.dtype)
        lists = None
        if record is not None:
            lists = {k: [] for k in ("memory", "weights", "erase", "add", "beta", "g", "s", "gamma", "reads")}
        outputs = []
        for t in range(inputs.shape[1]):
            y, state = self.step(inputs[:, t], state, lists)
            outputs.append(y)
        if record is not None:
            record.update({k: torch.stack(v, dim=1) for k, v in lists.items()})
            record["head_kinds"] = [h.kind for h in self.heads]
        return torch.stack(outputs, dim=1), state


class LSTMBaseline(nn.Module):
    """The paper's comparison: a plain LSTM with the NTM's sequence interface."""

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 256, num_layers: int = 3):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.out = nn.Linear(hidden_size, output_size)

    def forward(self, inputs: torch.Tensor, state=None, record=None):
        h, state = self.lstm(inputs, state)
        return self.out(h), state
