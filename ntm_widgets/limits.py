"""What training, evaluation and a replay will allocate, checked before they start.

Training and a replay keep the N x M memory of every time step of every sequence
(autograd saves it for the backward pass; a trace records it), so they grow as
batch x steps x N x M. Bytes per (sequence, step, memory cell), measured with
``ru_maxrss`` on this project's machine (128-512 rows, widths 8-20, lengths 200-2,000)
and rounded up:

    training, eager autograd   16.7-21.1   -> 24
    training, fused C step      7.6-9.4    (covered by the eager figure)
    recording a replay          12.9       -> 24 (the HTML page's text comes on top)

Heads and controller state are added as if they were memory cells. Evaluation keeps
no memory matrix per step, only the controller's and heads' per-step buffers (see
``eval_bytes_per_step``). The estimates refuse what cannot fit (a length of 10^9, a
4096 x 1024 memory in a checkpoint); they do not predict usage to the megabyte.
"""

from __future__ import annotations

import os
from typing import Optional

TRAIN_BYTES = 24
TRACE_BYTES = 24
# Weights, gradients and Adam's two moment buffers, float32.
TRAIN_PARAM_BYTES = 16
# Sequences evaluated at once (training.metrics.evaluate_lengths' batch_size).
EVAL_BATCH = 100
FLOAT_BYTES = 4
# Temporaries eval_bytes_per_step leaves out (drawing the bits, scoring them) and the
# allocator's slack. Peak growth of one evaluation (100 sequences of length 1,000,
# N=128, M=20, C=100) against the buffers alone (520 MB feed-forward, 978 MB LSTM):
# feed-forward 329 MB fused and 515-765 MB eager (it varies from run to run), LSTM
# 862 MB fused and 689-945 MB eager. Up to 1.5x, so 2x.
EVAL_OVERHEAD = 2


class MemoryLimitError(ValueError):
    """The work would need more memory than the machine has available."""


def available_memory() -> Optional[int]:
    """Bytes the machine can give now (MemAvailable), or its physical memory, or None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def step_cells(model_cfg) -> int:
    """Memory cells plus head weightings and controller state kept per sequence per step."""
    heads = model_cfg.num_read_heads + model_cfg.num_write_heads
    return (
        model_cfg.memory_size * model_cfg.word_size
        + 4 * heads * model_cfg.memory_size
        + 8 * model_cfg.controller_size * model_cfg.controller_layers
    )


def parameter_count(model_cfg, input_size: int, output_size: int) -> int:
    """Exact, without allocating: the model is built on PyTorch's "meta" device."""
    import torch

    from .core.ntm import NTM

    with torch.device("meta"):
        model = NTM.from_config(model_cfg, input_size, output_size)
    return sum(p.numel() for p in model.parameters())


def train_bytes(cfg, task) -> int:
    steps = task.max_steps(cfg.task.max_len)
    activations = TRAIN_BYTES * cfg.train.batch_size * steps * step_cells(cfg.model)
    return activations + TRAIN_PARAM_BYTES * parameter_count(cfg.model, task.input_size, task.output_size)


def steps_for(task_cfg, length: int) -> int:
    """Time steps of the longest sequence of ``length`` (repeat copy: the most repeats)."""
    from .tasks import make_task

    return make_task(task_cfg).max_steps(length)


def eval_bytes_per_step(cfg) -> int:
    """Bytes one sequence holds per time step while a batch is evaluated (an upper bound).

    The batch itself: inputs (at most width + 2 channels), targets and logits (at most
    width + 1), the mask. No gradients are kept, but the forward still keeps buffers
    with a time axis: the controller's input pre-activations and activated gates (G
    each, G = 4 C for an LSTM, C feed-forward), the raw head parameters (P), and the
    reads and controller outputs (R*M + C), counted three times (per-step list,
    stacked, joined for the output layer) to cover the fused and the eager path; all
    of it times ``EVAL_OVERHEAD``.
    """
    m, t = cfg.model, cfg.task
    batch = (t.width + 2) + 2 * (t.width + 1) + 1
    c = m.controller_size * m.controller_layers
    gates = 4 * c if m.controller == "lstm" else c
    heads = m.num_read_heads + m.num_write_heads
    params = heads * (m.word_size + 2 * m.shift_range + 4) + m.num_write_heads * 2 * m.word_size
    loop = 2 * gates + params + 3 * (m.num_read_heads * m.word_size + c)
    return (batch + loop) * FLOAT_BYTES * EVAL_OVERHEAD


def eval_bytes(cfg, length: int, samples: int) -> int:
    """Estimated peak bytes of evaluating ``samples`` sequences of ``length``."""
    return min(samples, EVAL_BATCH) * steps_for(cfg.task, length) * eval_bytes_per_step(cfg)


def trace_bytes(cfg, task, length: int) -> int:
    return TRACE_BYTES * task.max_steps(length) * step_cells(cfg.model)


# A replay page inlines the memory of every step (float16 above a few MB, base64):
# 1,001 steps of a 128 x 20 memory made a 15.8 MB page. Past about 2**26 memory cells
# (a page of some 200 MB) browsers struggle to open it, and nobody watches that long.
REPLAY_MAX_CELLS = 1 << 26


def replay_too_long(cfg, task, length: int) -> bool:
    return task.max_steps(length) * cfg.model.memory_size * cfg.model.word_size > REPLAY_MAX_CELLS


def bytes_text(n: float) -> str:
    for unit, size in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n / 2**10:.0f} KB"


def check_fits(what: str, need: int, force: bool = False, hint: str = "") -> None:
    """Raise MemoryLimitError when ``need`` bytes exceed the memory available now."""
    have = available_memory()
    if force or have is None or need <= have:
        return
    raise MemoryLimitError(
        f"{what} would need about {bytes_text(need)} of memory; this machine has {bytes_text(have)} available"
        + (f"; {hint}" if hint else "")
        + " (--force tries anyway)"
    )


def largest_fitting(fn, lo: int = 1, hi: int = 1 << 40) -> int:
    """The largest n in [lo, hi] with fn(n) true for a monotone fn (lo - 1 if none)."""
    if not fn(lo):
        return lo - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fn(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo
