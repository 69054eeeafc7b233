"""The Neural Turing Machine (Graves et al. 2014, arXiv:1410.5401).

One step, for a batch at once:

    controller  h_t = C([x_t, r_{t-1}], state)
    heads       params = split(Linear(h_t))             one fused projection
    write       M_t = write(M_{t-1}, w^W_t, e_t, a_t)   eq. 3-4, addressed on M_{t-1}
    read        r_t = read(M_t, w^R_t)                  eq. 2, addressed on M_t
    output      y_t = Linear([h_t, r_t])                logits; sigmoid gives bits

State is explicit (``NTMState``): ``step(x, state) -> (y, state)`` and nothing hidden
mutates, so a run can be paused, replayed or recorded step by step.

Speed (issue 3). A step of this model is dozens of tiny tensor operations, so on a CPU
its cost is the per-operation overhead, not arithmetic. The hot loop therefore does as
few operations as it can while computing exactly the equations above:

- the controller's input projection of ``x`` is one matmul for the whole sequence;
  only the recurrent part (last reads and hidden state) is multiplied per step;
- the head projection's rows are permuted once per call so that one ``split`` gives
  four groups that share an activation (tanh, softplus, sigmoid, softmax) for every
  head at once; the shift logits are stored reversed so the circular convolution is a
  plain sliding window;
- all heads of one kind are addressed together over (B, H, N) (``address_heads``);
  the row norms of each memory are computed once and reused by the next step's writes;
- the output layer runs once over the whole sequence after the loop.

The reference functions in ``addressing`` and ``memory`` define the maths; tests check
that this path agrees with them in float64 (tests/test_speed_paths.py).

On the CPU, ``forward`` runs the fused C step instead (``fused.py``; ``model.fused``,
default True, when it can be built), which computes the same maths about 4-8x faster;
``step`` and compiled or CUDA runs use the PyTorch path here.
"""
from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from . import fused, memory as mem
from .controller import make_controller
from .heads import Head

# Collier & Beel 2018 use a small constant for memory; exactly 0 leaves cosine undefined.
MEMORY_INIT_CONSTANT = 1e-6
# Same guard as the reference addressing functions (zero norms, 0 ** gamma).
_EPS = 1e-8
# Initial head biases (see NTM._init_head_bias): interpolation gate, stay-in-place
# shift logit, sharpening.
HEAD_INIT_G_BIAS = -3.0
HEAD_INIT_STAY_BIAS = 2.0
HEAD_INIT_GAMMA_BIAS = 1.0
RECORD_KEYS = ("memory", "weights", "erase", "add", "beta", "g", "s", "gamma", "reads")


class NTMState(NamedTuple):
    memory: torch.Tensor  # (B, N, M)
    weights: torch.Tensor  # (B, H, N): read heads first, then write heads
    reads: torch.Tensor  # (B, R, M): last read vectors
    controller: tuple  # the controller's own state ((h, c) for an LSTM, () otherwise)


def address_heads(
    memory: torch.Tensor,
    mem_norm: torch.Tensor,
    key: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Tensor,
    s_rev: torch.Tensor,
    gamma: torch.Tensor,
    w_prev: torch.Tensor,
) -> torch.Tensor:
    """Eq. 5-9 for H heads at once: the same maths as ``addressing.address``.

    memory (B, N, M), mem_norm (B, N) its row norms, key (B, H, M), beta / g / gamma
    (B, H, 1), s_rev (B, H, 2k+1) the shift distribution with its offsets reversed
    (index q is offset k - q), w_prev (B, H, N). Returns (B, H, N).

    When gradients are needed this runs as one autograd node with a hand-written
    backward (``_AddressHeads``): the step is dominated by per-operation overhead, and
    one node with ~35 plain operations is cheaper than ~20 recorded ones whose
    backward the engine walks node by node.
    """
    if torch.is_grad_enabled() and any(t.requires_grad for t in (memory, mem_norm, key, beta, g, s_rev, gamma, w_prev)):
        return _AddressHeads.apply(memory, mem_norm, key, beta, g, s_rev, gamma, w_prev)
    return _address_forward(memory, mem_norm, key, beta, g, s_rev, gamma, w_prev)[0]


def _windows(w: torch.Tensor, k: int) -> torch.Tensor:
    """(B, H, N, 2k+1) view: window q of row i holds w(i - k + q), circularly."""
    padded = torch.cat([w[..., -k:], w, w[..., :k]], dim=-1)  # (B, H, N + 2k)
    return padded.unfold(-1, 2 * k + 1, 1)


def _address_forward(memory, mem_norm, key, beta, g, s_rev, gamma, w_prev):
    dots = torch.bmm(key, memory.transpose(1, 2))  # (B, H, N)
    key_norm = key.norm(dim=-1, keepdim=True)  # (B, H, 1)
    den = mem_norm.unsqueeze(1) * key_norm + _EPS  # (B, H, N)
    cos = dots / den
    w_c = torch.softmax(beta * cos, dim=-1)  # eq. 5-6
    w_g = torch.lerp(w_prev, w_c, g)  # eq. 7: g * w_c + (1 - g) * w_prev
    k = (s_rev.shape[-1] - 1) // 2
    win = None
    if k > 0:
        # eq. 8 as a sliding window: window q of row i holds offset k - q, which s_rev[q] weighs.
        win = _windows(w_g, k)
        w_s = (win * s_rev.unsqueeze(2)).sum(-1)  # (B, H, N)
    else:
        w_s = w_g * s_rev
    u = w_s + _EPS
    p = u**gamma  # eq. 9
    total = p.sum(dim=-1, keepdim=True)
    w = p / total
    return w, (key_norm, den, cos, w_c, w_g, win, u, p, total, w)


class _AddressHeads(torch.autograd.Function):
    """``address_heads`` as one autograd node; gradients derived by hand from eq. 5-9
    (checked against autograd in float64 by tests/test_speed_paths.py)."""

    @staticmethod
    def forward(ctx, memory, mem_norm, key, beta, g, s_rev, gamma, w_prev):
        w, saved = _address_forward(memory, mem_norm, key, beta, g, s_rev, gamma, w_prev)
        key_norm, den, cos, w_c, w_g, win, u, p, total, _ = saved
        ctx.k = (s_rev.shape[-1] - 1) // 2
        ctx.save_for_backward(memory, mem_norm, key, beta, g, s_rev, gamma, w_prev, key_norm, den, cos, w_c, w_g, u, p, total, w)
        return w

    @staticmethod
    def backward(ctx, grad_w):
        memory, mem_norm, key, beta, g, s_rev, gamma, w_prev, key_norm, den, cos, w_c, w_g, u, p, total, w = ctx.saved_tensors
        k = ctx.k
        # eq. 9: w = p / sum(p), p = u^gamma
        grad_p = (grad_w - (grad_w * w).sum(-1, keepdim=True)) / total
        gp = grad_p * p
        grad_gamma = (gp * torch.log(u)).sum(-1, keepdim=True)
        grad_ws = gp * gamma / u  # (B, H, N)
        # eq. 8: the adjoint of a circular convolution is the convolution with the
        # mirrored kernel; the kernel's gradient correlates the input with grad_ws.
        if k > 0:
            grad_wg = (_windows(grad_ws, k) * s_rev.flip(-1).unsqueeze(2)).sum(-1)
            grad_s = (_windows(w_g, k) * grad_ws.unsqueeze(-1)).sum(-2)  # (B, H, 2k+1)
        else:
            grad_wg = grad_ws * s_rev
            grad_s = (grad_ws * w_g).sum(-1, keepdim=True)
        # eq. 7
        grad_g = (grad_wg * (w_c - w_prev)).sum(-1, keepdim=True)
        grad_wc = grad_wg * g
        grad_wprev = grad_wg - grad_wc
        # eq. 5-6: softmax, then beta * cos with cos = dots / den
        grad_z = w_c * (grad_wc - (grad_wc * w_c).sum(-1, keepdim=True))
        grad_beta = (grad_z * cos).sum(-1, keepdim=True)
        grad_dots = grad_z * beta / den
        grad_den = -grad_dots * cos
        grad_key_norm = (grad_den * mem_norm.unsqueeze(1)).sum(-1, keepdim=True)  # (B, H, 1)
        grad_mem_norm = (grad_den * key_norm).sum(1)  # (B, N)
        # d|k|/dk = k / |k|; a zero key has zero gradient through its norm.
        grad_key = torch.bmm(grad_dots, memory) + grad_key_norm * key / key_norm.clamp_min(1e-30)
        grad_memory = torch.bmm(grad_dots.transpose(1, 2), key)  # (B, N, M)
        return grad_memory, grad_mem_norm, grad_key, grad_beta, grad_g, grad_s, grad_gamma, grad_wprev


def head_record(beta_r, beta_w, g_r, g_w, s_r, s_w, gamma_r, gamma_w) -> Dict[str, torch.Tensor]:
    """The recorded head parameters (RECORD_KEYS beta, g, s, gamma), read heads first,
    from ``_head_activations``' per-kind outputs; shifts back in offset order -k..k."""
    return {
        "beta": torch.cat([beta_r, beta_w], dim=1).squeeze(-1),
        "g": torch.cat([g_r, g_w], dim=1).squeeze(-1),
        "s": torch.cat([s_r, s_w], dim=1).flip(-1),
        "gamma": torch.cat([gamma_r, gamma_w], dim=1).squeeze(-1),
    }


def _lstm_pointwise(gates: torch.Tensor, c_prev: torch.Tensor):
    """nn.LSTMCell's pointwise part (gate order i, f, g, o) as one autograd node."""
    if torch.is_grad_enabled() and (gates.requires_grad or c_prev.requires_grad):
        return _LSTMPointwise.apply(gates, c_prev)
    return _lstm_forward(gates, c_prev)[:2]


def _lstm_forward(gates, c_prev):
    i, f, g, o = gates.chunk(4, dim=1)
    i, f, o, g = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o), torch.tanh(g)
    c = torch.addcmul(f * c_prev, i, g)
    tc = torch.tanh(c)
    return o * tc, c, (i, f, g, o, tc)


class _LSTMPointwise(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gates, c_prev):
        h, c, (i, f, g, o, tc) = _lstm_forward(gates, c_prev)
        ctx.save_for_backward(c_prev, i, f, g, o, tc)
        return h, c

    @staticmethod
    def backward(ctx, grad_h, grad_c):
        c_prev, i, f, g, o, tc = ctx.saved_tensors
        if grad_h is None:
            grad_h = torch.zeros_like(tc)
        dc = grad_h * o * (1.0 - tc * tc)
        if grad_c is not None:
            dc = dc + grad_c
        grad_gates = torch.cat(
            [dc * g * i * (1.0 - i), dc * c_prev * f * (1.0 - f), dc * i * (1.0 - g * g), grad_h * tc * o * (1.0 - o)], dim=1
        )
        return grad_gates, dc * f


def _head_activations(raw: torch.Tensor, sizes):
    """Split the grouped head projection (see ``NTM._param_layout``) into each kind of
    head's activated parameters, as one autograd node when gradients are needed.

    Returns key_r (B, R, M), key_w (B, W, M), beta_r, beta_w, g_r, g_w (B, ., 1),
    s_r, s_w (B, ., 2k+1) reversed, gamma_r, gamma_w (B, ., 1), erase, add (B, W, M).
    """
    if torch.is_grad_enabled() and raw.requires_grad:
        return _HeadActivations.apply(raw, sizes)
    return _head_forward(raw, sizes, copy=False)[0]


def _head_forward(raw, sizes, copy: bool = True):
    """``copy``: make each output its own tensor (needed for a custom autograd node's
    outputs); without gradients, views of the activated groups are enough."""
    r, w, m, s = sizes
    h, b = r + w, raw.shape[0]
    t_raw, sp_raw, sg_raw, s_raw = raw.split([(h + w) * m, 2 * h, h + w * m, h * s], dim=-1)
    t, sp, sg = torch.tanh(t_raw), F.softplus(sp_raw), torch.sigmoid(sg_raw)
    sm = torch.softmax(s_raw.view(b, h, s), dim=-1)
    keys = t[:, : h * m].view(b, h, m)
    c = (lambda x: x.contiguous()) if copy else (lambda x: x)
    out = (
        c(keys[:, :r]), c(keys[:, r:]),
        c(sp[:, :r].unsqueeze(-1)), c(sp[:, r:h].unsqueeze(-1)),
        c(sg[:, :r].unsqueeze(-1)), c(sg[:, r:h].unsqueeze(-1)),
        c(sm[:, :r]), c(sm[:, r:]),
        (1.0 + sp[:, h : h + r]).unsqueeze(-1), (1.0 + sp[:, h + r :]).unsqueeze(-1),
        sg[:, h:].reshape(b, w, m), t[:, h * m :].reshape(b, w, m),
    )
    return out, (t, sp_raw, sg, sm)


class _HeadActivations(torch.autograd.Function):
    @staticmethod
    def forward(ctx, raw, sizes):
        out, saved = _head_forward(raw, sizes)
        ctx.sizes = sizes
        ctx.save_for_backward(*saved)
        return out

    @staticmethod
    def backward(ctx, *grads):
        t, sp_raw, sg, sm = ctx.saved_tensors
        r, w, m, s = ctx.sizes
        b = t.shape[0]

        def z(grad, shape):
            return torch.zeros(shape, dtype=t.dtype, device=t.device) if grad is None else grad.reshape(shape)

        gk_r, gk_w, gb_r, gb_w, gg_r, gg_w, gs_r, gs_w, ggm_r, ggm_w, ge, ga = grads
        grad_t = torch.cat([z(gk_r, (b, r * m)), z(gk_w, (b, w * m)), z(ga, (b, w * m))], dim=1) * (1.0 - t * t)
        grad_sp = torch.cat([z(gb_r, (b, r)), z(gb_w, (b, w)), z(ggm_r, (b, r)), z(ggm_w, (b, w))], dim=1) * torch.sigmoid(sp_raw)
        grad_sg = torch.cat([z(gg_r, (b, r)), z(gg_w, (b, w)), z(ge, (b, w * m))], dim=1) * sg * (1.0 - sg)
        gsm = torch.cat([z(gs_r, (b, r, s)), z(gs_w, (b, w, s))], dim=1)  # (B, H, S)
        grad_s = sm * (gsm - (gsm * sm).sum(-1, keepdim=True))
        return torch.cat([grad_t, grad_sp, grad_sg, grad_s.flatten(1)], dim=1), None


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
        self.controller_kind = controller
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
        self._init_head_bias()
        self._compiled_step = None  # set by compile_step(); never saved
        # Use the fused C step on the CPU when it can be built (see core/fused.py).
        self.fused = True
        # Parts of a batch the fused step trains on parallel threads (the trainer sets
        # it from TrainConfig.fused_threads); see fused.chunks_for.
        self.fused_threads = 1
        perm, self._groups = self._param_layout()
        self._sizes = (num_read_heads, num_write_heads, word_size, 2 * shift_range + 1)
        # Not saved: derived from the sizes, so checkpoints keep the per-head layout.
        self.register_buffer("_perm", torch.tensor(perm, dtype=torch.long), persistent=False)

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
        keep its previous focus (g ~ 0.05), mostly stay in place (s(0) ~ 0.8 for k = 1)
        and sharpen (gamma ~ 2.3); training moves them where the task needs.
        """
        with torch.no_grad():
            pos = 0
            m, k = self.word_size, self.shift_range
            for head in self.heads:
                b = self.head_proj.bias[pos : pos + head.param_size]
                b[m + 1] = HEAD_INIT_G_BIAS
                b[m + 2 + k] = HEAD_INIT_STAY_BIAS if k > 0 else 0.0
                b[m + 3 + 2 * k] = HEAD_INIT_GAMMA_BIAS
                pos += head.param_size

    # ------------------------------------------------------------ fast layout
    def _param_layout(self):
        """Row order of ``head_proj`` grouping every head's outputs by activation.

        Per head the Linear's rows are [key M, beta, g, s 2k+1, gamma, (erase M, add M)]
        (``Head.split``). The fast path wants, for all heads at once,
        tanh [keys (H*M), adds (W*M)] | softplus [betas H, gammas H] |
        sigmoid [gs H, erases (W*M)] | softmax [shifts H*(2k+1), each reversed].
        """
        m, s = self.word_size, 2 * self.shift_range + 1
        starts, pos = [], 0
        for head in self.heads:
            starts.append(pos)
            pos += head.param_size
        writes = [st for st, hd in zip(starts, self.heads) if hd.is_write]
        keys = [st + j for st in starts for j in range(m)]
        betas = [st + m for st in starts]
        gs = [st + m + 1 for st in starts]
        shifts = [st + m + 2 + j for st in starts for j in reversed(range(s))]
        gammas = [st + m + 2 + s for st in starts]
        erases = [st + m + 3 + s + j for st in writes for j in range(m)]
        adds = [st + 2 * m + 3 + s + j for st in writes for j in range(m)]
        groups = (len(keys) + len(adds), len(betas) + len(gammas), len(gs) + len(erases), len(shifts))
        return keys + adds + betas + gammas + gs + erases + shifts, groups

    def _weights(self):
        """Per-call views of the parameters for the hot loop (differentiable)."""
        wp = self.head_proj.weight.index_select(0, self._perm).t()  # (C, P)
        bp = self.head_proj.bias.index_select(0, self._perm)  # (P,)
        ctrl = self.controller
        if self.controller_kind == "lstm":
            cell = ctrl.cell
            w_rec = torch.cat([cell.weight_ih[:, self.input_size :], cell.weight_hh], dim=1).t()  # (R*M + C, 4C)
        else:
            w_rec = ctrl.layer.weight[:, self.input_size :].t()  # (R*M, C)
        return wp, bp, w_rec

    def _input_weights(self):
        """The input part of the controller's first layer: weight (G, input_size) and bias (G,)."""
        ctrl = self.controller
        if self.controller_kind == "lstm":
            cell = ctrl.cell
            return cell.weight_ih[:, : self.input_size], cell.bias_ih + cell.bias_hh
        return ctrl.layer.weight[:, : self.input_size], ctrl.layer.bias

    def _input_proj(self, x: torch.Tensor) -> torch.Tensor:
        """The controller's input-dependent pre-activations, for any leading shape."""
        return F.linear(x, *self._input_weights())

    def _core_step(self, xg, memory, mem_norm, w_read, w_write, reads, ctrl, weights, record):
        """One step after the input projection, on the loop's own state.

        Loop state: memory (B, N, M), its row norms (B, N), the read and write heads'
        weightings (B, R, N) and (B, W, N), the last reads flattened (B, R*M) and the
        controller state. Kept apart (not as ``NTMState``) so no step slices a combined
        tensor: every slice is one more autograd node, forward and backward.
        """
        wp, bp, w_rec = weights
        if self.controller_kind == "lstm":
            h_prev, c_prev = ctrl
            gates = torch.addmm(xg, torch.cat([reads, h_prev], dim=1), w_rec)  # (B, 4C)
            h, c = _lstm_pointwise(gates, c_prev)
            ctrl = (h, c)
        else:
            h = torch.tanh(torch.addmm(xg, reads, w_rec))
        raw = torch.addmm(bp, h, wp)  # (B, P), rows in the grouped layout
        key_r, key_w, beta_r, beta_w, g_r, g_w, s_r, s_w, gamma_r, gamma_w, erase, add = _head_activations(raw, self._sizes)
        # Write heads address the memory as it was, then all their writes land together.
        w_write = address_heads(memory, mem_norm, key_w, beta_w, g_w, s_w, gamma_w, w_write)  # (B, W, N)
        if self.num_write_heads == 1:
            # eq. 3-4: M * (1 - w e^T) + w a^T as two batched outer products.
            w_t = w_write.transpose(1, 2)  # (B, N, 1)
            memory = torch.baddbmm(memory * (1.0 - torch.bmm(w_t, erase)), w_t, add)
        else:
            memory = mem.write_many(memory, w_write, erase, add)
        mem_norm = memory.norm(dim=-1)  # (B, N), reused by the next step's writes
        # Read heads see the memory after this step's write.
        w_read = address_heads(memory, mem_norm, key_r, beta_r, g_r, s_r, gamma_r, w_read)  # (B, R, N)
        read_vecs = torch.bmm(w_read, memory)  # (B, R, M), eq. 2 for every read head at once
        if record is not None:
            record["memory"].append(memory)
            record["weights"].append(torch.cat([w_read, w_write], dim=1))
            record["erase"].append(erase)
            record["add"].append(add)
            for key, value in head_record(beta_r, beta_w, g_r, g_w, s_r, s_w, gamma_r, gamma_w).items():
                record[key].append(value)
            record["reads"].append(read_vecs)
        return h, memory, mem_norm, w_read, w_write, read_vecs.flatten(1), ctrl

    def _unpack(self, state: NTMState):
        r = self.num_read_heads
        return state.memory, state.memory.norm(dim=-1), state.weights[:, :r], state.weights[:, r:], state.reads.flatten(1), state.controller

    def _pack(self, memory, w_read, w_write, reads, ctrl) -> NTMState:
        return NTMState(memory, torch.cat([w_read, w_write], dim=1), reads.view(reads.shape[0], self.num_read_heads, self.word_size), ctrl)

    def compile_step(self, enable: bool = True) -> None:
        """Run training/inference steps (not recorded ones) through ``torch.compile``.

        Opt-in (``TrainConfig.compile``): on a 2-core CPU the compiled step is about
        2-3x faster, but the first call compiles for tens of seconds (a few seconds when
        torch's on-disk cache already holds this shape), and compiled arithmetic may
        round differently from the eager path. A run keeps one choice throughout, so a
        resumed run with the same setting is still exact.
        """
        self._compiled_step = torch.compile(self._core_step, dynamic=False) if enable else None

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
        h, memory, _, w_read, w_write, reads, ctrl = self._core_step(self._input_proj(x), *self._unpack(state), self._weights(), record)
        logits = self.out(torch.cat([h, reads], dim=-1))
        return logits, self._pack(memory, w_read, w_write, reads, ctrl)

    def forward(self, inputs: torch.Tensor, state: Optional[NTMState] = None, record: Optional[Dict[str, list]] = None):
        """Run a whole sequence: inputs (B, T, input_size) -> logits (B, T, output_size), final state.

        Pass ``record={}`` to have every step's memory, weightings and head parameters
        collected into it as tensors with a time axis (B, T, ...); with ``record=None``
        nothing is kept.
        """
        if getattr(self, "fused", True) and self._compiled_step is None and fused.supports(inputs):
            return fused.forward(self, inputs, state, record)
        batch, steps = inputs.shape[0], inputs.shape[1]
        if state is None:
            state = self.initial_state(batch, inputs.device, inputs.dtype)
        lists = None if record is None else {k: [] for k in RECORD_KEYS}
        weights = self._weights()
        # (B, T, gates): one matmul for the whole sequence. unbind, not xg[:, t]: the
        # backward of T selects would build T full-size zero tensors (O(T^2) fills).
        # Time-major and contiguous, so every step sees the same strides whatever T is
        # (a compiled step would otherwise recompile for each sequence length).
        xgs = self._input_proj(inputs.transpose(0, 1)).contiguous().unbind(0)
        # The compiled step serves training only: evaluation batches come in many sizes,
        # each of which would be another compilation.
        use_compiled = self._compiled_step is not None and record is None and torch.is_grad_enabled()
        core = self._compiled_step if use_compiled else self._core_step
        memory, mem_norm, w_read, w_write, reads, ctrl = self._unpack(state)
        hs, rs = [], []
        for t in range(steps):
            h, memory, mem_norm, w_read, w_write, reads, ctrl = core(xgs[t], memory, mem_norm, w_read, w_write, reads, ctrl, weights, lists)
            hs.append(h)
            rs.append(reads)
        # The output layer does not feed back, so it runs once over the whole sequence.
        logits = self.out(torch.cat([torch.stack(hs, dim=1), torch.stack(rs, dim=1)], dim=-1))
        if record is not None:
            record.update({k: torch.stack(v, dim=1) for k, v in lists.items()})
            record["head_kinds"] = [h.kind for h in self.heads]
        return logits, self._pack(memory, w_read, w_write, reads, ctrl)


class LSTMBaseline(nn.Module):
    """The paper's comparison: a plain LSTM with the NTM's sequence interface."""

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 256, num_layers: int = 3):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.out = nn.Linear(hidden_size, output_size)

    def forward(self, inputs: torch.Tensor, state=None, record=None):
        h, state = self.lstm(inputs, state)
        return self.out(h), state
