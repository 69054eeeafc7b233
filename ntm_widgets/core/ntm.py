"""The Neural Turing Machine (Graves et al. 2014, arXiv:1410.5401).

One step, for a batch at once:

    controller  h_t = C([x_t, r_{t-1}], state)
    heads       params = split(Linear(h_t))             one projection for every head
    write       M_t = write(M_{t-1}, w^W_t, e_t, a_t)   eq. 3-4, addressed on M_{t-1}
    read        r_t = read(M_t, w^R_t)                  eq. 2, addressed on M_t
    output      y_t = Linear([h_t, r_t])                logits; sigmoid gives bits

State is explicit (``NTMState``): ``step(x, state) -> (y, state)`` and nothing hidden
mutates, so a run can be paused, replayed or recorded step by step.

The maths is written twice, not more:

- the eager path runs the reference functions (``Head.split``, ``addressing.address``,
  ``memory.write`` / ``write_many`` / ``read``, the controller's ``step``) under plain
  autograd, one head at a time. ``step`` always runs it; so does ``forward`` on CUDA,
  without a C compiler, and with ``set_backend("eager")``;
- the fused C step (``fused.py``), the one accelerated backend, computes the same maths
  with a hand-written backward: on a 2-core CPU it trains about 9x faster at batch 32
  and 20x at batch 1 (``ntm-widgets bench``). tests/test_fused.py checks the two against
  each other in float64.

Which one ``forward`` runs is an explicit setting, ``set_backend`` (``Backend``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
from torch import nn

from . import fused
from . import memory as mem
from .controller import make_controller
from .heads import Head, HeadParams

# Collier & Beel 2018 use a small constant for memory; exactly 0 leaves cosine undefined.
MEMORY_INIT_CONSTANT = 1e-6
# Initial head biases (see NTM._init_head_bias): stay-in-place shift logit, sharpening
# (the interpolation gate's is ModelConfig.init_gate_bias).
HEAD_INIT_STAY_BIAS = 2.0
HEAD_INIT_GAMMA_BIAS = 1.0
RECORD_KEYS = ("memory", "weights", "erase", "add", "beta", "g", "s", "gamma", "reads")
BACKENDS = ("fused", "eager", "compiled")


class NTMState(NamedTuple):
    memory: torch.Tensor  # (B, N, M)
    weights: torch.Tensor  # (B, H, N): read heads first, then write heads
    reads: torch.Tensor  # (B, R, M): last read vectors
    controller: tuple  # the controller's own state ((h, c) for an LSTM, () otherwise)


@dataclass(frozen=True)
class Backend:
    """How ``NTM.forward`` runs a sequence.

    ``kind``:
      - ``"fused"``: the fused C step (``fused.py``) for float32 / float64 inputs on the
        CPU where it can be built; the eager path otherwise (CUDA, no C compiler,
        ``NTM_WIDGETS_FUSED=0``);
      - ``"eager"``: the reference functions under autograd;
      - ``"compiled"``: the eager step through ``torch.compile`` for training (with
        gradients, not recorded). On a 2-core CPU about 2-3x faster than eager, but the
        first call compiles for tens of seconds (a few when torch's on-disk cache holds
        the shape) and compiled arithmetic may round differently. Evaluation batches
        come in many sizes, each another compilation, so they run eager.
    ``threads``: parts of a batch the fused step trains on parallel threads
    (``fused.chunks_for``; no part smaller than 16 sequences).
    """

    kind: str = "fused"
    threads: int = 1

    def __post_init__(self):
        if self.kind not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {self.kind!r}")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError(f"threads must be an integer >= 1, got {self.threads!r}")


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
        controller_layers: int = 1,
        num_read_heads: int = 1,
        num_write_heads: int = 1,
        shift_range: int = 1,
        memory_init: str = "constant",
        init_gate_bias: float = -3.0,
        init_read_gate_bias: Optional[float] = None,
        init_write_shift: int = 0,
    ):
        super().__init__()
        self.input_size, self.output_size = input_size, output_size
        self.memory_size, self.word_size = memory_size, word_size
        self.num_read_heads, self.num_write_heads = num_read_heads, num_write_heads
        self.shift_range = shift_range
        self.memory_init = memory_init
        self.init_gate_bias = init_gate_bias
        self.init_read_gate_bias = init_gate_bias if init_read_gate_bias is None else init_read_gate_bias
        self.init_write_shift = init_write_shift
        self.controller_kind = controller
        self.heads: List[Head] = [Head("read", word_size, shift_range) for _ in range(num_read_heads)]
        self.heads += [Head("write", word_size, shift_range) for _ in range(num_write_heads)]
        self.controller = make_controller(controller, input_size + num_read_heads * word_size, controller_size, controller_layers)
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
        self._init_head_bias()
        self._head_sizes = [h.param_size for h in self.heads]
        self.backend = Backend()
        self._compiled = None  # the compiled step while the backend is "compiled"; never saved
        # Standard deviation of Gaussian noise added to the controller's pre-activations
        # on training passes (in train mode, with gradients); 0 for none. Set by the
        # Trainer from TrainConfig.gate_noise; not part of the model, so never saved.
        self.gate_noise = 0.0

    @classmethod
    def from_config(cls, model_cfg, input_size: int, output_size: int) -> "NTM":
        return cls(input_size, output_size, **model_cfg.to_dict())

    @property
    def num_heads(self) -> int:
        return len(self.heads)

    def _init_head_bias(self) -> None:
        """Start every head as a sharp, stationary pointer (issue 3, convergence lever).

        With zero biases a fresh head has g ~ 0.5 (half of a uniform content weighting
        over a constant memory), a uniform shift over -k..k and gamma ~ 1.7, so its
        weighting blurs across many rows within a few steps and the gradients that would
        teach it to move one row at a time are weak. These biases make the untrained head
        keep its previous focus (g ~ 0.05 with the default ``init_gate_bias`` of -3), mostly stay in place (s(0) ~ 0.8 for k = 1)
        and sharpen (gamma ~ 2.3); training moves them where the task needs.
        ``init_read_gate_bias`` and ``init_write_shift`` start read heads on content
        look-up and write heads walking instead (the n-grams preset).
        """
        with torch.no_grad():
            pos, k = 0, self.shift_range
            for head in self.heads:
                b, at = self.head_proj.bias[pos : pos + head.param_size], head.offsets()
                b[at["g"]] = self.init_read_gate_bias if head.kind == "read" else self.init_gate_bias
                offset = self.init_write_shift if head.kind == "write" else 0
                b[at["s"] + k + offset] = HEAD_INIT_STAY_BIAS if k > 0 else 0.0  # s[k + o]: offset o
                b[at["gamma"]] = HEAD_INIT_GAMMA_BIAS
                pos += head.param_size

    def resize_memory(self, rows: int) -> None:
        """Run with ``rows`` memory rows from now on (for evaluation: the optimiser's
        state is not touched).

        With a constant initial memory no parameter depends on N: the heads emit keys,
        strengths, gates, shifts and sharpenings, and content addressing normalises over
        whatever rows there are, so a model trained with N rows runs with more. A head that
        keeps walking while the model answers then reaches unused rows instead of wrapping
        round onto what it stored (repeat copy, benchmarks/NOTES.md)."""
        if self.memory_init != "constant":
            raise ValueError(
                f"memory_size can change only when memory_init is 'constant' (no per-row parameters); "
                f"this model's initial memory is {self.memory_init!r}, {self.memory_size} rows"
            )
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 2 * self.shift_range + 1:
            raise ValueError(f"memory_size must be an integer >= {2 * self.shift_range + 1} (2 x shift_range + 1), got {rows!r}")
        self.memory_size = rows

    # ---------------------------------------------------------------- backend
    def set_backend(self, kind: str = "fused", threads: int = 1) -> None:
        """Choose how ``forward`` runs (see ``Backend``): "fused", "eager" or "compiled"."""
        backend = Backend(kind, threads)
        if kind != "compiled":
            self._compiled = None
        elif self._compiled is None:
            # The unbound step, given the model at each call: a copy of the model (e.g.
            # averaged weights) that shares this function still runs its own weights.
            self._compiled = torch.compile(NTM._step, dynamic=False)
        self.backend = backend

    @property
    def fused(self) -> bool:
        """Shorthand: whether the backend is "fused"; setting it chooses "fused" or "eager"."""
        return self.backend.kind == "fused"

    @fused.setter
    def fused(self, on: bool) -> None:
        self.set_backend("fused" if on else "eager", self.backend.threads)

    @property
    def fused_threads(self) -> int:
        """Shorthand for the backend's ``threads``."""
        return self.backend.threads

    @fused_threads.setter
    def fused_threads(self, threads: int) -> None:
        self.set_backend(self.backend.kind, threads)

    # ------------------------------------------------------------ eager path
    def _split_heads(self, raw: torch.Tensor) -> List[HeadParams]:
        """Each head's activated parameters from the head projection's output (..., P)."""
        return [head.split(part) for head, part in zip(self.heads, raw.split(self._head_sizes, dim=-1))]

    def _step(self, x: torch.Tensor, state: NTMState, norms: torch.Tensor, noise: Optional[torch.Tensor] = None):
        """One time step on the reference functions: x (B, input_size) and the state with
        its memory's row norms (B, N) -> the controller's output h (B, C), the new state,
        its row norms, and the raw head parameters (B, P). ``noise`` (B, G): added to
        the controller's pre-activations."""
        h, ctrl = self.controller.step(torch.cat([x, state.reads.flatten(1)], dim=-1), state.controller, noise)
        raw = self.head_proj(h)
        params = self._split_heads(raw)
        r = self.num_read_heads
        w_prev = state.weights.unbind(1)
        # Write heads address the memory as it was, then all their writes land together.
        w_write = [head.address(state.memory, p, w, norms) for head, p, w in zip(self.heads[r:], params[r:], w_prev[r:])]
        if len(w_write) == 1:
            memory = mem.write(state.memory, w_write[0], params[r].erase, params[r].add)
        else:
            erase, add = torch.stack([p.erase for p in params[r:]], dim=1), torch.stack([p.add for p in params[r:]], dim=1)
            memory = mem.write_many(state.memory, torch.stack(w_write, dim=1), erase, add)
        # Read heads see the memory after this step's write. Its row norms serve them and the
        # next step's write heads: one norm a step, not one a head (193 -> 168 ms, B=32, 41 steps).
        norms = memory.norm(dim=-1)
        w_read = [head.address(memory, p, w, norms) for head, p, w in zip(self.heads[:r], params[:r], w_prev[:r])]
        reads = torch.stack([mem.read(memory, w) for w in w_read], dim=1)  # (B, R, M)
        return h, NTMState(memory, torch.stack(w_read + w_write, dim=1), reads, ctrl), norms, raw

    def _head_record(self, raw: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The recorded head parameters from raw ones (..., P): beta, g, gamma (..., H),
        s (..., H, 2k+1) and the write heads' erase and add (..., W, M)."""
        params = self._split_heads(raw)
        writes = params[self.num_read_heads :]
        return {
            "beta": torch.cat([p.beta for p in params], dim=-1),
            "g": torch.cat([p.g for p in params], dim=-1),
            "s": torch.stack([p.s for p in params], dim=-2),
            "gamma": torch.cat([p.gamma for p in params], dim=-1),
            "erase": torch.stack([p.erase for p in writes], dim=-2),
            "add": torch.stack([p.add for p in writes], dim=-2),
        }

    def _draw_gate_noise(self, inputs: torch.Tensor) -> Optional[torch.Tensor]:
        """This pass's noise on the controller's pre-activations, (T, G, B) with G its
        gate rows (4 x size for an LSTM), from torch's global generator (saved with a
        checkpoint); None unless training with ``gate_noise`` > 0."""
        if not (self.gate_noise > 0 and self.training and torch.is_grad_enabled()):
            return None
        gates = self.controller.hidden_size * (4 if self.controller_kind == "lstm" else 1)
        shape = (inputs.shape[1], gates, inputs.shape[0])
        return self.gate_noise * torch.randn(shape, device=inputs.device, dtype=inputs.dtype)

    def _forward_eager(self, inputs: torch.Tensor, state: NTMState, keep: bool, noise: Optional[torch.Tensor] = None):
        # Time-major and contiguous, so every step sees the same strides whatever T is
        # (a compiled step would otherwise recompile for each sequence length).
        xs = inputs.transpose(0, 1).contiguous().unbind(0)
        compiled = self._compiled is not None and not keep and torch.is_grad_enabled()
        step = self._compiled if compiled else NTM._step
        hs, reads, norms = [], [], state.memory.norm(dim=-1)
        steps = {"memory": [], "weights": [], "reads": [], "raw": []} if keep else None
        noises = [None] * len(xs) if noise is None else [n.t() for n in noise.unbind(0)]
        for x, n in zip(xs, noises):
            h, state, norms, raw = step(self, x, state, norms, n)
            hs.append(h)
            reads.append(state.reads.flatten(1))
            if keep:
                for key, value in (("memory", state.memory), ("weights", state.weights), ("reads", state.reads), ("raw", raw)):
                    steps[key].append(value)
        # The output layer does not feed back, so it runs once over the whole sequence.
        logits = self.out(torch.cat([torch.stack(hs, dim=1), torch.stack(reads, dim=1)], dim=-1))
        return logits, state, None if steps is None else {k: torch.stack(v, dim=1) for k, v in steps.items()}

    # ------------------------------------------------------------ fused path
    def _fused_weights(self) -> fused.Weights:
        """The parameters as the fused step takes them (views, so gradients reach them)."""
        i = self.input_size
        if self.controller_kind == "lstm":
            cell = self.controller.cell
            w_in, b_in = cell.weight_ih[:, :i], cell.bias_ih + cell.bias_hh
            w_rec = torch.cat([cell.weight_ih[:, i:], cell.weight_hh], dim=1)
        else:
            layer = self.controller.layer
            w_in, b_in, w_rec = layer.weight[:, :i], layer.bias, layer.weight[:, i:]
        return fused.Weights(w_in, b_in, w_rec, self.head_proj.weight, self.head_proj.bias, self.out.weight, self.out.bias)

    def _forward_fused(self, inputs: torch.Tensor, state: NTMState, keep: bool, noise: Optional[torch.Tensor] = None):
        dims = fused.Dims(
            self.memory_size,
            self.word_size,
            self.num_read_heads,
            self.num_write_heads,
            self.shift_range,
            self.controller.hidden_size,
            self.controller_kind == "lstm",
        )
        rows = fused.head_rows(tuple(head.fields for head in self.heads))
        logits, final, steps = fused.forward(
            inputs, self._fused_weights(), state, dims, rows, self.backend.threads, keep, gate_noise=noise
        )
        return logits, NTMState(*final), steps

    # ------------------------------------------------------------- public API
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
        """One time step: x (B, input_size) -> logits (B, output_size) and the new state.

        ``record``, if given, maps each of RECORD_KEYS to a list that gets this step's
        values appended.
        """
        h, state, _, raw = self._step(x, state, state.memory.norm(dim=-1))
        logits = self.out(torch.cat([h, state.reads.flatten(1)], dim=-1))
        if record is not None:
            values = {"memory": state.memory, "weights": state.weights, "reads": state.reads, **self._head_record(raw)}
            for key in RECORD_KEYS:
                record[key].append(values[key])
        return logits, state

    def forward(self, inputs: torch.Tensor, state: Optional[NTMState] = None, record: Optional[Dict[str, list]] = None):
        """Run a whole sequence: inputs (B, T, input_size) -> logits (B, T, output_size), final state.

        Pass ``record={}`` to have every step's memory, weightings and head parameters
        collected into it as tensors with a time axis (B, T, ...); with ``record=None``
        nothing is kept.
        """
        if state is None:
            state = self.initial_state(inputs.shape[0], inputs.device, inputs.dtype)
        keep = record is not None
        noise = self._draw_gate_noise(inputs)
        # The C step implements a one-layer controller; deeper ones run eagerly.
        if self.backend.kind == "fused" and self.controller.layers == 1 and fused.supports(inputs):
            logits, final, steps = self._forward_fused(inputs, state, keep, noise)
        else:
            logits, final, steps = self._forward_eager(inputs, state, keep, noise)
        if keep:
            record.update({k: v for k, v in steps.items() if k != "raw"}, **self._head_record(steps["raw"]))
            record["head_kinds"] = [h.kind for h in self.heads]
        return logits, final


class LSTMBaseline(nn.Module):
    """The paper's comparison: a plain LSTM with the NTM's sequence interface."""

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 256, num_layers: int = 3):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.out = nn.Linear(hidden_size, output_size)

    def forward(self, inputs: torch.Tensor, state=None, record=None):
        h, state = self.lstm(inputs, state)
        return self.out(h), state
