"""The ``ntm-widgets`` command line: train, eval, replay, bench, sweep, demo.

Every verb takes ``--json`` and then prints exactly one JSON object on stdout, as its
last line, and nothing else there (progress bars go to stderr and are off). Bad
arguments exit with code 2 and one line naming the flag and its allowed range.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

from .config import RESTART_AFTER

EXIT_USAGE = 2

# Config field -> the flag that sets it, so a ConfigError names what the user typed.
FIELD_FLAGS = {
    "memory_size": "--memory-size",
    "word_size": "--word-size",
    "controller": "--controller",
    "controller_size": "--controller-size",
    "num_read_heads": "--read-heads",
    "num_write_heads": "--write-heads",
    "shift_range": "--shift-range",
    "memory_init": "--memory-init",
    "name": "--task",
    "width": "--width",
    "min_len": "--min-len",
    "max_len": "--max-len",
    "min_repeats": "--min-repeats",
    "max_repeats": "--max-repeats",
    "batch_size": "--batch-size",
    "optimizer": "--optimizer",
    "lr": "--lr",
    "clip": "--clip",
    "seed": "--seed",
    "steps": "--steps",
    "time_limit": "--time-limit",
    "target_bits": "--target-bits",
    "val_samples": "--val-samples",
    "curriculum": "--curriculum",
    "length_power": "--length-power",
    "restart_after": "--restart-after",
    "restart_bits": "--restart-bits",
    "threads": "--threads",
    "compile": "--compile",
    "fused": "--fused",
    "fused_threads": "--fused-threads",
}


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


def flag_message(message: str) -> str:
    """Rewrite a config message to name flags: 'min_len must be <= max_len' -> '--min-len must be <= --max-len'."""
    first, _, rest = message.partition(" ")
    if first in FIELD_FLAGS:
        first = FIELD_FLAGS[first]
    # Other snake_case field names inside the sentence (e.g. max_len) become flags too.
    rest = re.sub(r"\b[a-z]+_[a-z_]+\b", lambda m: FIELD_FLAGS.get(m.group(0), m.group(0)), rest)
    return f"{first} {rest}"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints the whole usage otherwise)
        message = message.replace("argument ", "")
        raise UsageError(f"{self.prog}: {message}")


def _int_type(lo: Optional[int] = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer{f' >= {lo}' if lo is not None else ''}, got {text!r}")
        if lo is not None and value < lo:
            raise argparse.ArgumentTypeError(f"must be an integer >= {lo}, got {value}")
        return value

    return parse


def _float_type(lo: Optional[float] = None, open_lo: bool = False):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}")
        bad = not math.isfinite(value) or (lo is not None and (value <= lo if open_lo else value < lo))
        if bad:
            op = ">" if open_lo else ">="
            raise argparse.ArgumentTypeError(f"must be a number {op} {lo:g}, got {text}")
        return value

    return parse


def _lengths_type(text: str) -> List[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers >= 1, e.g. 20,40,80, got {text!r}")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers >= 1, e.g. 20,40,80, got {text!r}")
    return values


# ------------------------------------------------------------------ parsers
# `ntm-widgets train` restarts a run still above --restart-bits after this many steps of
# an attempt (TrainConfig's own default is never). Paper configuration, seeds 0-9: 3 of 10
# converge within 60 s either way; with restarts 8 of 10 within 180 s (benchmarks/NOTES.md).
# `--resume` continues with the settings saved in the run, these included.
TRAIN_RESTART_AFTER = RESTART_AFTER
# `ntm-widgets train` clips the global gradient norm at 1, not TrainConfig's 10: over 60
# seeds of the paper's copy configuration (with restarts) it converged in fewer steps for
# 41 of them (2 ties), median 1,867 steps against 2,142, and 29 against 24 seeds needed no
# restart (benchmarks/NOTES.md). Not measured on the smaller Playground configuration,
# whose default stays 10.
TRAIN_CLIP = 1.0
FUSED_THREADS_HELP = "threads the fused step splits each batch over (at least 16 sequences each; default: 2, or 1 on a 1-CPU machine)"
FUSED_HELP = ("the fused C step on the CPU: ~4-5x faster training at batch 32, ~8x at batch 1; eager PyTorch without "
              "a C compiler or with --no-fused (default on)")

def _add_model_task_args(p: argparse.ArgumentParser, defaults) -> None:
    m, t, tr = defaults.model, defaults.task, defaults.train
    g = p.add_argument_group("model")
    g.add_argument("--memory-size", type=_int_type(), default=m.memory_size, help=f"N, memory rows (default {m.memory_size})")
    g.add_argument("--word-size", type=_int_type(), default=m.word_size, help=f"M, row width (default {m.word_size})")
    g.add_argument("--controller", choices=["lstm", "feedforward"], default=m.controller)
    g.add_argument("--controller-size", type=_int_type(), default=m.controller_size)
    g.add_argument("--read-heads", type=_int_type(), default=m.num_read_heads)
    g.add_argument("--write-heads", type=_int_type(), default=m.num_write_heads)
    g.add_argument("--memory-init", choices=["constant", "learned", "random"], default=m.memory_init)
    g = p.add_argument_group("task")
    g.add_argument("--task", choices=["copy", "repeat_copy", "associative_recall", "priority_sort"], default=t.name)
    g.add_argument("--width", type=_int_type(), default=t.width, help="bits per vector (default 8)")
    g.add_argument("--min-len", type=_int_type(), default=t.min_len)
    g.add_argument("--max-len", type=_int_type(), default=t.max_len)
    g = p.add_argument_group("training")
    g.add_argument("--batch-size", type=_int_type(), default=tr.batch_size)
    g.add_argument("--optimizer", choices=["adam", "rmsprop"], default=tr.optimizer)
    g.add_argument("--lr", type=_float_type(), default=tr.lr)
    g.add_argument("--clip", type=_float_type(), default=TRAIN_CLIP,
                   help=f"clip the global gradient norm at this value (default {TRAIN_CLIP})")
    g.add_argument("--seed", type=_int_type(), default=tr.seed)
    g.add_argument("--curriculum", action=argparse.BooleanOptionalAction, default=tr.curriculum)
    g.add_argument("--length-power", type=_float_type(0.0), default=tr.length_power,
                   help=f"draw training lengths with P(L) ~ L**p; 0 is uniform (default {tr.length_power})")
    g.add_argument("--restart-after", type=_int_type(0), default=TRAIN_RESTART_AFTER,
                   help=f"start again from fresh weights if still above --restart-bits after this many steps "
                        f"(default {TRAIN_RESTART_AFTER}; 0: never)")
    g.add_argument("--restart-bits", type=_float_type(0.0, open_lo=True), default=tr.restart_bits,
                   help=f"training bits/seq above which a run counts as stuck (default {tr.restart_bits})")
    g.add_argument("--threads", type=_int_type(), default=tr.threads, help=f"torch intra-op threads (default {tr.threads}: the step is many small ops)")
    g.add_argument("--compile", action=argparse.BooleanOptionalAction, default=tr.compile,
                   help="torch.compile the step: ~2x faster steps after a compile wait of tens of seconds (default off)")
    g.add_argument("--fused", action=argparse.BooleanOptionalAction, default=tr.fused, help=FUSED_HELP)
    g.add_argument("--fused-threads", type=_int_type(1), default=tr.fused_threads, help=FUSED_THREADS_HELP)
    g.add_argument("--val-samples", type=_int_type(), default=tr.val_samples, help="fresh sequences per validation")


def build_parser() -> argparse.ArgumentParser:
    from .config import RunConfig

    defaults = RunConfig()
    parser = _Parser(prog="ntm-widgets", description="Neural Turing Machines: train, evaluate, replay, benchmark.")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("train", help="train a model and write a run folder")
    _add_model_task_args(p, defaults)
    p.add_argument("--steps", type=_int_type(0), default=None, help="optimiser steps (default: until target or time limit)")
    p.add_argument("--time-limit", type=_float_type(0.0, open_lo=True), default=None, help="seconds")
    p.add_argument("--target-bits", type=_float_type(0.0), default=None, help="stop when validation bits/seq fall below this")
    p.add_argument("--out", default=None, help="run folder (default runs/<task>-seed<S>)")
    p.add_argument("--resume", action="store_true", help="continue the run already in --out")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("eval", help="bit errors per sequence by length")
    p.add_argument("run_dir")
    p.add_argument("--lengths", type=_lengths_type, default=[20, 40, 80, 120])
    p.add_argument("--samples", type=_int_type(1), default=100)
    p.add_argument("--seed", type=_int_type(0), default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("replay", help="write a standalone HTML replay of one sequence")
    p.add_argument("run_dir")
    p.add_argument("--length", type=_int_type(1), default=20)
    p.add_argument("--seed", type=_int_type(0), default=0)
    p.add_argument("--out", default="replay.html")
    p.add_argument("--png", default=None, help="also write a PNG picture of the replay")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("bench", help="training throughput at the paper's copy configuration")
    p.add_argument("--batch-size", type=_int_type(1), default=32)
    p.add_argument("--length", type=_int_type(1), default=20)
    p.add_argument("--steps", type=_int_type(1), default=20)
    p.add_argument("--memory-size", type=_int_type(1), default=128)
    p.add_argument("--word-size", type=_int_type(1), default=20)
    p.add_argument("--controller-size", type=_int_type(1), default=100)
    p.add_argument("--threads", type=_int_type(1), default=None, help="torch intra-op threads (default 1)")
    p.add_argument("--compile", action="store_true", help="measure the torch.compile'd step (first step includes compiling)")
    p.add_argument("--fused", action=argparse.BooleanOptionalAction, default=defaults.train.fused, help=FUSED_HELP)
    p.add_argument("--fused-threads", type=_int_type(1), default=defaults.train.fused_threads, help=FUSED_THREADS_HELP)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("demo", help="the main job: learn copy, show generalisation, draw a replay")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--time-limit", type=_float_type(0.0, open_lo=True), default=300.0, help="seconds of training at most (default 300)")
    p.add_argument("--target-bits", type=_float_type(0.0), default=0.1)
    p.add_argument("--seed", type=_int_type(0), default=0)
    p.add_argument("--preset", choices=list(DEMO_PRESETS), default="quick",
                   help="quick: 64 x 8 memory, lengths 1-8, learns in seconds (default); "
                        "paper: Graves et al.'s 128 x 20, lengths 1-20, takes minutes")
    p.add_argument("--lengths", type=_lengths_type, default=None,
                   help="generalisation lengths (default 8,16,32,48,64 quick; 10,20,40,80,120 paper)")
    p.add_argument("--samples", type=_int_type(1), default=100)
    p.add_argument("--val-samples", type=_int_type(1), default=1000, help="fresh sequences per validation (default 1000)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=False,
                   help="torch.compile the step (faster steps after a compile wait; default off)")
    p.add_argument("--fused", action=argparse.BooleanOptionalAction, default=defaults.train.fused, help=FUSED_HELP)
    p.add_argument("--fused-threads", type=_int_type(1), default=defaults.train.fused_threads, help=FUSED_THREADS_HELP)
    p.add_argument("--json", action="store_true")

    try:
        from .sweep import add_sweep_arguments
    except ImportError:
        add_sweep_arguments = None
    if add_sweep_arguments is not None:
        p = sub.add_parser("sweep", help="a grid of training runs (local processes or Ray)")
        add_sweep_arguments(p)
        if not any(a.dest == "json" for a in p._actions):
            p.add_argument("--json", action="store_true")
    return parser


# ------------------------------------------------------------------- verbs
def config_from_args(args):
    from .config import ModelConfig, RunConfig, TaskConfig, TrainConfig

    return RunConfig(
        model=ModelConfig().replace(
            memory_size=args.memory_size, word_size=args.word_size, controller=args.controller,
            controller_size=args.controller_size, num_read_heads=args.read_heads,
            num_write_heads=args.write_heads, memory_init=args.memory_init,
        ),
        task=TaskConfig().replace(name=args.task, width=args.width, min_len=args.min_len, max_len=args.max_len),
        train=TrainConfig().replace(
            batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr, clip=args.clip, seed=args.seed,
            steps=args.steps, time_limit=args.time_limit, target_bits=args.target_bits, curriculum=args.curriculum,
            threads=args.threads, val_samples=args.val_samples, compile=args.compile, fused=args.fused, fused_threads=args.fused_threads, length_power=args.length_power,
            restart_after=args.restart_after or None, restart_bits=args.restart_bits,
        ),
    )


def _progress(args, total=None, desc="train"):
    if args.json:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", file=sys.stderr, dynamic_ncols=True, mininterval=0.5)


class _StopOnSignal:
    """Ctrl-C sets a stop event; the trainer finishes its step and the run is saved."""

    def __init__(self):
        self.event = threading.Event()
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self.event

    def _handle(self, signum, frame):
        if self.event.is_set():  # a second Ctrl-C means now
            raise KeyboardInterrupt
        self.event.set()

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


def _train(trainer, args, steps=None, time_limit=None, target_bits=None) -> Dict:
    bar = _progress(args, total=steps)

    def on_step(record):
        if bar is not None:
            bar.update(1)
            post = {"loss": f"{record['loss']:.4f}" if record["loss"] is not None else "nan", "bits": f"{record['bits_per_seq']:.2f}"}
            if trainer.last_val is not None:
                post["val"] = f"{trainer.last_val:.3f}"
            bar.set_postfix(post, refresh=False)

    with _StopOnSignal() as stop:
        try:
            return trainer.run(steps=steps, callbacks=[on_step], stop_event=stop, time_limit=time_limit, target_bits=target_bits)
        finally:
            if bar is not None:
                bar.close()


def cmd_train(args) -> Dict:
    from .training import Trainer

    start = time.perf_counter()
    cfg = config_from_args(args)
    out = Path(args.out or f"runs/{cfg.task.name}-seed{cfg.train.seed}")
    if args.resume:
        if not (out / "checkpoint.pt").exists():
            raise UsageError(f"ntm-widgets train: --out {out} holds no checkpoint.pt to resume")
        trainer = Trainer.load_run(out, device=args.device)
    else:
        if cfg.train.steps is None and cfg.train.time_limit is None and cfg.train.target_bits is None:
            raise UsageError("ntm-widgets train: give at least one of --steps, --time-limit, --target-bits (otherwise it would never stop)")
        trainer = Trainer(cfg, device=args.device)
    summary = _train(trainer, args, steps=args.steps, time_limit=args.time_limit, target_bits=args.target_bits)
    if not summary["converged"] and trainer.step_count > 0:
        # The last validation may be stale (or absent): measure the model being saved.
        summary["bits_per_seq"] = trainer.last_val = trainer.validate()
    trainer.save_run(out)
    result = {
        "steps": summary["steps"],
        "sequences": summary["sequences"],
        "seconds": round(time.perf_counter() - start, 3),
        "train_seconds": round(summary["train_seconds"], 3),
        "bits_per_seq": summary["bits_per_seq"],
        "converged": summary["converged"],
        "stopped_by": summary["reason"],
        "nonfinite_steps": summary["nonfinite_steps"],
        "restarts": summary["restarts"],
        "run_dir": str(out),
    }
    if not args.json:
        state = "converged" if result["converged"] else f"stopped ({result['stopped_by']})"
        bits = "n/a" if result["bits_per_seq"] is None else f"{result['bits_per_seq']:.3f}"
        print(f"{state} after {result['steps']} steps, {result['sequences']} sequences, {result['seconds']:.1f} s; "
              f"validation bit errors per sequence: {bits}{_restart_text(result['restarts'])}; run saved in {out}")
    return result


def _load_run(run_dir, device="cpu"):
    from .training import CheckpointError, Trainer

    path = Path(run_dir)
    if not (path / "checkpoint.pt").exists():
        raise UsageError(f"ntm-widgets: RUN_DIR {run_dir} holds no checkpoint.pt (make one with: ntm-widgets train --out {run_dir} ...)")
    try:
        return Trainer.load_run(path, device=device)
    except CheckpointError as exc:
        raise UsageError(str(exc))


def format_table(lengths: Dict) -> str:
    rows = ["length   mean  median    max", "------  ------  ------  -----"]
    for length, s in lengths.items():
        rows.append(f"{length:>6}  {s['mean']:6.2f}  {s['median']:6.1f}  {s['max']:5.0f}")
    return "\n".join(rows)


def cmd_eval(args) -> Dict:
    trainer = _load_run(args.run_dir, args.device)
    result = trainer.evaluate(args.lengths, samples=args.samples, seed=args.seed)
    if not args.json:
        print(f"bit errors per sequence, {args.samples} sequences per length (trained on {trainer.cfg.task.min_len}-{trainer.cfg.task.max_len}):")
        print(format_table(result))
    return {"lengths": {str(k): v for k, v in result.items()}, "samples": args.samples, "seed": args.seed, "run_dir": args.run_dir}


def cmd_replay(args) -> Dict:
    from .replay_html import write_replay_html
    from .trace import record_trace

    trainer = _load_run(args.run_dir)
    trace = record_trace(trainer.model, trainer.task, length=args.length, seed=args.seed)
    write_replay_html(trace, args.out)
    result = {"out": str(args.out), "steps": trace.steps, "length": args.length, "bits_wrong": trace.meta["bits_wrong"]}
    if args.png:
        from .plotting.trace_plots import save_trace_png

        save_trace_png(trace, args.png)
        result["png"] = str(args.png)
    if not args.json:
        print(f"wrote {args.out} ({trace.steps} steps, {trace.meta['bits_wrong']} wrong bits); open it in any browser")
    return result


def cmd_bench(args) -> Dict:
    from .bench import bench_train

    result = bench_train(
        batch_size=args.batch_size, length=args.length, steps=args.steps, memory_size=args.memory_size,
        word_size=args.word_size, controller_size=args.controller_size, threads=args.threads, device=args.device,
        compile=args.compile, fused=args.fused, fused_threads=args.fused_threads,
    )
    if not args.json:
        print(f"training: {result['train_seq_per_s']:.1f} sequences/s at batch {args.batch_size}, length {args.length} "
              f"({args.memory_size} x {args.word_size} memory)")
    return result


# The demo's presets. "quick": a 64 x 8 memory learning lengths 1-8 (converges in
# ~6-11 s for most seeds here, Adam 1e-2; see benchmarks/NOTES.md). "paper": Graves et
# al.'s copy configuration (128 x 20, LSTM 100, lengths 1-20) on the default recipe,
# which converges within a minute for some seeds and takes minutes for others.
DEMO_PRESETS = ("quick", "paper")
DEMO_LENGTHS = {"quick": [8, 16, 32, 48, 64], "paper": [10, 20, 40, 80, 120]}


def demo_config(preset: str, seed: int = 0, val_samples: int = 1000, compile: bool = False, fused: bool = True,
                fused_threads=None):
    from .config import ModelConfig, RunConfig, TaskConfig, TrainConfig

    if preset == "paper":
        return RunConfig(train=TrainConfig(seed=seed, val_samples=val_samples, compile=compile, fused=fused, fused_threads=fused_threads,
                                           restart_after=TRAIN_RESTART_AFTER, clip=TRAIN_CLIP))
    if preset == "quick":
        return RunConfig(
            model=ModelConfig(memory_size=64, word_size=8, controller_size=64),
            task=TaskConfig(name="copy", width=8, min_len=1, max_len=8),
            train=TrainConfig(batch_size=32, lr=1e-2, seed=seed, val_samples=val_samples, compile=compile, fused=fused,
                              fused_threads=fused_threads,
                              restart_after=RESTART_AFTER),
        )
    raise ValueError(f"preset must be one of {DEMO_PRESETS}, got {preset!r}")


def _restart_text(restarts: int) -> str:
    if not restarts:
        return ""
    return f"; restarted from fresh weights {restarts} time{'s' if restarts > 1 else ''} (stuck runs)"


def cmd_demo(args) -> Dict:
    """Learn copy on the default recipe, then show how far it generalises and draw it."""
    from .trace import record_trace
    from .training import Trainer

    start = time.perf_counter()
    out = Path(args.out)
    cfg = demo_config(args.preset, seed=args.seed, val_samples=args.val_samples, compile=args.compile, fused=args.fused,
                      fused_threads=args.fused_threads)
    lengths = args.lengths or DEMO_LENGTHS[args.preset]
    if not args.json:
        print(f"Training an NTM on the copy task (memory {cfg.model.memory_size} x {cfg.model.word_size}, "
              f"lengths {cfg.task.min_len}-{cfg.task.max_len}) until < {args.target_bits} bit errors per sequence "
              f"or {args.time_limit:.0f} s ...", file=sys.stderr)
    trainer = Trainer(cfg)
    summary = _train(trainer, args, time_limit=args.time_limit, target_bits=args.target_bits)
    if summary["bits_per_seq"] is None:
        trainer.last_val = trainer.validate()
    trainer.save_run(out)
    lengths = [n for n in lengths if n <= cfg.model.memory_size] or [cfg.task.max_len]
    table = trainer.evaluate(lengths, samples=args.samples, seed=args.seed)
    trace = record_trace(trainer.model, trainer.task, length=cfg.task.max_len, seed=args.seed)
    from .plotting.trace_plots import save_trace_png

    png = out / "replay.png"
    save_trace_png(trace, png)
    html = None
    try:
        from .replay_html import write_replay_html

        html = out / "replay.html"
        write_replay_html(trace, html)
    except ImportError:
        pass
    result = {
        "converged": trainer.converged,
        "steps": trainer.step_count,
        "sequences": trainer.sequences,
        "seconds": round(time.perf_counter() - start, 3),
        "bits_per_seq": trainer.last_val,
        "lengths": {str(k): v for k, v in table.items()},
        "run_dir": str(out),
        "png": str(png),
        "html": str(html) if html else None,
        "restarts": trainer.restarts,
    }
    if not args.json:
        state = "converged" if trainer.converged else "did not converge in the time limit"
        print(f"\n{state}: {trainer.step_count} steps, {trainer.sequences} sequences, {result['seconds']:.1f} s, "
              f"validation {trainer.last_val:.3f} bit errors per sequence" + _restart_text(trainer.restarts))
        if not trainer.converged:
            print("  (some seeds take several attempts: try a longer --time-limit or another --seed)")
        print(f"\ngeneralisation (trained on lengths {cfg.task.min_len}-{cfg.task.max_len}):")
        print(format_table(table))
        print(f"\nrun folder: {out}\npicture:    {png}" + (f"\nreplay:     {html} (open in a browser)" if html else ""))
    return result


def cmd_sweep(args) -> Dict:
    from .sweep import run_sweep_command

    return run_sweep_command(args)


VERBS = {"train": cmd_train, "eval": cmd_eval, "replay": cmd_replay, "bench": cmd_bench, "demo": cmd_demo, "sweep": cmd_sweep}


def main(argv: Optional[List[str]] = None) -> int:
    from .config import ConfigError

    try:
        args = build_parser().parse_args(argv)
        result = VERBS[args.verb](args)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        message = str(exc)  # sweep errors already name their flag (--grid ...)
        print(f"ntm-widgets: {message if message.startswith('--') else flag_message(message)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if getattr(args, "json", False):
        print(json.dumps(result, default=_json_default))
    return 0


def _json_default(obj):
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


if __name__ == "__main__":
    sys.exit(main())
