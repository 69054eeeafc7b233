"""What training, evaluation and a replay will allocate, checked before they start.

An NTM keeps its N x M memory for every time step of every sequence (autograd saves
it for the backward pass; evaluation and the replay keep it too), so memory grows as
batch x steps x N x M. The factors below are bytes per (sequence, step, memory cell),
measured with ``ru_maxrss`` on this project's machine (128-512 rows, widths 8-20,
lengths 200-2,000) and rounded up:

    training, eager autograd   16.7-21.1   -> 24
    training, fused C step      7.6-9.4    (covered by the eager figure)
    evaluation (no grad)         1.5       -> 2
    recording a replay          12.9       -> 24 (the HTML page's text comes on top)

Heads and controller state are added as if they were memory cells. The estimate is
meant to refuse what cannot fit (a length of 10^9, a 4096 x 1024 memory in a
checkpoint), not to predict usage to the megabyte.
"""
from __future__ import annotations

import os
from typing import Optional

TRAIN_BYTES = 24
EVAL_BYTES = 2
TRACE_BYTES = 24
# Weights, gradients and Adam's two moment buffers, float32.
TRAIN_PARAM_BYTES = 16


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
    return model_cfg.memory_size * model_cfg.word_size + 4 * heads * model_cfg.memory_size + 8 * model_cfg.controller_size


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


def eval_bytes(cfg, task, length: int, samples: int, batch_size: int = 100) -> int:
    batch = min(samples, batch_size)
    steps = task.max_steps(length)
    io = 4 * batch * steps * (task.input_size + 3 * task.output_size + 1)
    return EVAL_BYTES * batch * steps * step_cells(cfg.model) + io


def trace_bytes(cfg, task, length: int) -> int:
    return TRACE_BYTES * task.max_steps(length) * step_cells(cfg.model)


# A replay page inlines the memory of every step (float16 above a few MB, base64):
# 1,001 steps of a 128 x 20 memory made a 15.8 MB page. Past about 2**26 memory cells
# (a page of some 200 MB) browsers struggle to open it, and nobody watches that long.
REPLAY_MAX_CELLS = 1 << 26


def replay_too_long(cfg, task, length: int) -> bool:
    return task.max_steps(length) * cfg.model.memory_size * cfg.model.word_size > REPLAY_MAX_CELLS


def _gb(n: float) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def check_fits(what: str, need: int, force: bool = False, hint: str = "") -> None:
    """Raise MemoryLimitError when ``need`` bytes exceed the memory available now."""
    have = available_memory()
    if force or have is None or need <= have:
        return
    raise MemoryLimitError(f"{what} would need about {_gb(need)} of memory; this machine has {_gb(have)} available"
                           + (f"; {hint}" if hint else "") + " (--force tries anyway)")


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
