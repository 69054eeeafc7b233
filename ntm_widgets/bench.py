"""Speed measurements of the NTM core and trainer (issue 3), returned as dicts.

Defaults are the paper's copy configuration (Graves et al. 2014, arXiv:1410.5401,
section 4.1): 128 x 20 memory, LSTM controller of 100 units, one read and one write
head, 8-bit vectors. A copy sequence of length L runs for 2L + 1 steps.

Every function reports wall-clock figures and, next to them, figures from the process's
CPU time (``cpu_*``): on a machine shared with other work the wall clock counts time
spent waiting for a core, the CPU time does not, so the two bracket the true cost.

    from ntm_widgets.bench import bench_train, bench_inference, bench_rebuild
    bench_train(batch_size=32, length=20)["train_seq_per_s"]

``ntm-widgets bench --batch-size K --length L --json`` prints ``bench_train``'s dict.
"""

from __future__ import annotations

import platform
import time
from typing import Dict, Optional

import torch

from .config import ModelConfig, RunConfig, TaskConfig, TrainConfig, preset, resolve_fused_threads


def _clock():
    return time.perf_counter(), time.process_time()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _env(threads: Optional[int], device: torch.device) -> Dict:
    return {
        "threads": torch.get_num_threads(),
        "device": str(device),
        "torch": torch.__version__,
        "machine": platform.machine(),
    }


def _fused_used(asked: bool, device: torch.device) -> bool:
    """Whether the NTM's fused C step runs: asked for, on the CPU, and buildable here."""
    from .core import fused

    return bool(asked and device.type == "cpu" and fused.available())


def bench_train(
    batch_size: int = 32,
    length: int = 20,
    steps: int = 20,
    memory_size: int = 128,
    word_size: int = 20,
    controller_size: int = 100,
    threads: Optional[int] = None,
    device: str = "cpu",
    warmup: int = 3,
    width: int = 8,
    seed: int = 0,
    compile: bool = False,
    fused: bool = True,
    fused_threads: Optional[int] = None,
) -> Dict:
    """Training throughput of the default trainer on copy sequences of one length.

    Builds a ``Trainer`` exactly as ``ntm-widgets train`` does (so thread settings and
    any start-up cost count), times its first ``train_step`` (``first_step_s``, from
    the Trainer's construction: model build, optimiser, first batch, forward, backward
    and update), then ``warmup`` untimed steps and ``steps`` timed ones. Returns
    ``train_seq_per_s`` (sequences per wall second), ``step_ms``, ``first_step_s``,
    ``cpu_train_seq_per_s`` and the configuration; ``fused`` says whether the fused C
    step actually ran (asked for, buildable here, and no compiled step).
    """
    from .training.trainer import Trainer

    if threads is not None:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    cfg = RunConfig(
        model=ModelConfig(memory_size=memory_size, word_size=word_size, controller_size=controller_size),
        task=TaskConfig(name="copy", width=width, min_len=length, max_len=length),
        train=TrainConfig(
            batch_size=batch_size,
            seed=seed,
            threads=threads if threads is not None else TrainConfig.threads,
            compile=compile,
            fused=fused,
            fused_threads=fused_threads,
        ),
    )
    w0, c0 = _clock()
    trainer = Trainer(cfg, device=dev)
    trainer.train_step()
    _sync(dev)
    w1, c1 = _clock()
    for _ in range(warmup):
        trainer.train_step()
    _sync(dev)
    w2, c2 = _clock()
    for _ in range(steps):
        trainer.train_step()
    _sync(dev)
    w3, c3 = _clock()
    wall, cpu = (w3 - w2) / steps, (c3 - c2) / steps
    used_fused = _fused_used(fused and not compile, dev)
    return {
        "train_seq_per_s": batch_size / wall,
        "step_ms": wall * 1e3,
        "first_step_s": w1 - w0,
        "cpu_train_seq_per_s": batch_size / cpu if cpu > 0 else None,
        "cpu_first_step_s": c1 - c0,
        "batch_size": batch_size,
        "length": length,
        "time_steps": 2 * length + 1,
        "steps": steps,
        "memory_size": memory_size,
        "word_size": word_size,
        "controller_size": controller_size,
        "compile": compile,
        "fused": used_fused,
        "fused_threads": resolve_fused_threads(fused_threads) if used_fused else None,
        **_env(threads, dev),
    }


@torch.inference_mode()
def bench_inference(
    length: int = 120,
    trace: bool = False,
    repeats: int = 10,
    memory_size: int = 128,
    word_size: int = 20,
    controller_size: int = 100,
    threads: Optional[int] = None,
    device: str = "cpu",
    width: int = 8,
    seed: int = 0,
    fused: bool = True,
) -> Dict:
    """Milliseconds to run one copy sequence of ``length`` (2L + 1 steps), batch 1.

    ``trace=True`` records everything a replay needs (``forward(..., record={})``,
    then the conversion to a numpy ``Trace``), so the figure is what a replay costs.
    Reports the median over ``repeats`` runs after one warm-up run; ``fused`` (the fused
    C step, when it can be built here) as in ``bench_train``.
    """
    from .core.ntm import NTM
    from .tasks import make_task
    from .trace import Trace

    # The trainer's default thread count (TrainConfig.threads), as a replay would run.
    threads = TrainConfig.threads if threads is None else threads
    if threads is not None:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    task = make_task(TaskConfig(name="copy", width=width, min_len=1, max_len=max(1, length)))
    torch.manual_seed(seed)
    model = NTM(
        task.input_size, task.output_size, memory_size=memory_size, word_size=word_size, controller_size=controller_size
    ).to(dev)
    model.eval()
    model.set_backend("fused" if fused else "eager")
    batch = task.sample(1, torch.Generator().manual_seed(seed), length=length)
    x, y, m = (t.to(dev) for t in batch)

    def once():
        if trace:
            record: Dict = {}
            logits, _ = model(x, record=record)
            Trace.from_record(record, x, y, logits, m)
        else:
            model(x)
        _sync(dev)

    once()
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = _clock()
        once()
        w1, c1 = _clock()
        walls.append(w1 - w0)
        cpus.append(c1 - c0)
    walls.sort()
    cpus.sort()
    return {
        "ms": walls[len(walls) // 2] * 1e3,
        "cpu_ms": cpus[len(cpus) // 2] * 1e3,
        "min_ms": walls[0] * 1e3,
        "length": length,
        "time_steps": 2 * length + 1,
        "trace": trace,
        "fused": _fused_used(fused, dev),
        "memory_size": memory_size,
        "word_size": word_size,
        **_env(threads, dev),
    }


def bench_rebuild(
    memory_size: int = 48,
    word_size: int = 12,
    base: Optional[RunConfig] = None,
    device: str = "cpu",
) -> Dict:
    """Seconds from a new N / M (a fresh Trainer, as the Playground builds) to its first
    finished training step. ``base`` defaults to the Playground's configuration
    (``playground_config()``)."""
    from .training.trainer import Trainer

    if base is None:
        base = playground_config()
    cfg = RunConfig(model=base.model.replace(memory_size=memory_size, word_size=word_size), task=base.task, train=base.train)
    w0, c0 = _clock()
    trainer = Trainer(cfg, device=device)
    trainer.train_step()
    _sync(torch.device(device))
    w1, c1 = _clock()
    return {
        "first_step_s": w1 - w0,
        "cpu_first_step_s": c1 - c0,
        "memory_size": memory_size,
        "word_size": word_size,
        **_env(None, torch.device(device)),
    }


def playground_config() -> RunConfig:
    """The Playground's default run, as widgets/playground.py builds it: the "quick"
    preset (config.preset) with no step or time budget. Built here, not imported: bench sits
    below the widgets."""
    quick = preset("quick")
    return RunConfig(model=quick.model, task=quick.task, train=quick.train.replace(time_limit=None, steps=None))
