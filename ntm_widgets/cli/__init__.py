"""The ``ntm-widgets`` command line: train, eval, replay, bench, sweep, demo.

Every verb takes ``--json`` and then prints exactly one JSON object on stdout, as its
last line, and nothing else there (progress bars go to stderr and are off). Bad
arguments exit with code 2 and one line naming the flag and its allowed range.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional

from ..config import PRESETS, field_flag
from ..training.trainer import CHECKPOINT_EVERY, RESTART_CAUSES

EXIT_USAGE = 2
EXIT_FAILED = 1  # the command ran and its result is unusable (e.g. a non-finite model)
EXIT_TERMINATED = 128 + signal.SIGTERM  # the shell's code for a process ended by SIGTERM


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


class CommandExit(Exception):
    """A verb that ran but ends with a non-zero exit code: ``message`` for stderr, the
    ``result`` still printed as JSON with ``--json``."""

    def __init__(self, code: int, message: str, result: Dict):
        super().__init__(message)
        self.code = code
        self.result = result


def check_device(text: str, flag: str = "--device") -> str:
    """A device torch knows and this machine has, or UsageError naming the flag."""
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise UsageError(f"ntm-widgets: {flag} must be cpu, cuda or cuda:N, got {text!r}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(
                f"ntm-widgets: {flag} {text}: this machine has no CUDA device that PyTorch can use (use --device cpu)"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(
                f"ntm-widgets: {flag} {text}: there are {torch.cuda.device_count()} CUDA devices (0-{torch.cuda.device_count() - 1})"
            )
    elif device.type != "cpu":
        raise UsageError(f"ntm-widgets: {flag} must be cpu, cuda or cuda:N, got {text!r}")
    return text


def check_output_dir(folder, flag: str) -> None:
    from ..files import writable_dir_problem

    problem = writable_dir_problem(folder)
    if problem:
        raise UsageError(f"ntm-widgets: {flag} {folder}: {problem}")


def check_output_file(path, flag: str) -> None:
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"ntm-widgets: {flag} {path} is a folder; give a file name, e.g. {path / 'replay.html'}")
    check_output_dir(path.parent if str(path.parent) else Path("."), flag)


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
            raise argparse.ArgumentTypeError(f"must be an integer{f' >= {lo}' if lo is not None else ''}, got {text!r}") from None
        if lo is not None and value < lo:
            raise argparse.ArgumentTypeError(f"must be an integer >= {lo}, got {value}")
        return value

    return parse


def _float_type(lo: Optional[float] = None, open_lo: bool = False):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        bad = not math.isfinite(value) or (lo is not None and (value <= lo if open_lo else value < lo))
        if bad:
            op = ">" if open_lo else ">="
            want = "a finite number" if lo is None else f"a finite number {op} {lo:g}"
            raise argparse.ArgumentTypeError(f"must be {want}, got {text}")
        return value

    return parse


def _lengths_type(text: str) -> List[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers >= 1, e.g. 20,40,80, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers >= 1, e.g. 20,40,80, got {text!r}")
    return values


def _select_lengths_type(text: str) -> List[int]:
    if text.strip().lower() in ("0", "none", "off"):
        return [0]
    return _lengths_type(text)


# ------------------------------------------------------------------ parsers
def _flag_kwargs(f) -> Dict:
    """argparse keywords of a config field, from its declaration (config.knob)."""
    kind, help_text = f.metadata["kind"], f.metadata["help"]
    kw: Dict = {"help": help_text} if help_text else {}
    if kind == "int":
        kw["type"] = _int_type()
    elif kind == "float":
        kw["type"] = _float_type()
    elif kind == "bool":
        kw["action"] = argparse.BooleanOptionalAction
    elif kind == "choice":
        kw["choices"] = list(f.metadata["choices"])
    elif kind == "lengths":
        kw["type"] = _select_lengths_type
    return kw


def _config_flags():
    """(flag, section, field, argparse keywords) for every config field: the flags come
    from the dataclasses, so a new field has its flag and its checks at once. Every
    default is None ("not given"): the config comes from --preset (or RunConfig's
    defaults) and a flag given beside it overrides that field alone."""
    import dataclasses

    from ..config import ModelConfig, TaskConfig, TrainConfig

    out = []
    for section, cls in (("model", ModelConfig), ("task", TaskConfig), ("train", TrainConfig)):
        for f in dataclasses.fields(cls):
            out.append((field_flag(f), section, f.name, _flag_kwargs(f)))
    return out


CONFIG_FLAGS = _config_flags()
# Config field -> the flag that sets it, so a ConfigError names what the user typed.
FIELD_FLAGS = {field: flag for flag, _section, field, _kw in CONFIG_FLAGS}
# Help of the config flags that other verbs (bench, demo) take too.
FIELD_HELP = {field: kw.get("help", "") for _flag, _section, field, kw in CONFIG_FLAGS}


def _flag_value(field: str, value):
    """A flag's parsed value as the config field holds it (0 -> None where declared)."""
    import dataclasses

    from ..config import ModelConfig, TaskConfig, TrainConfig

    f = next(g for cls in (ModelConfig, TaskConfig, TrainConfig) for g in dataclasses.fields(cls) if g.name == field)
    if f.metadata.get("zero_means_none") and value == 0:
        return None
    if f.metadata.get("kind") == "lengths":
        return tuple(value) if value and value != [0] else None
    return value


def _add_model_task_args(p: argparse.ArgumentParser, defaults) -> None:
    groups = {}
    for flag, section, name, kw in CONFIG_FLAGS:
        if section not in groups:
            groups[section] = p.add_argument_group({"model": "model", "task": "task", "train": "training"}[section])
        value = getattr(getattr(defaults, section), name)
        help_text = kw.get("help", "")
        help_text = f"{help_text} (default {value})" if help_text else f"default {value}"
        groups[section].add_argument(
            flag, dest=name if section != "task" or name != "name" else "task", default=None, **{**kw, "help": help_text}
        )


def build_parser() -> argparse.ArgumentParser:
    from ..config import RunConfig

    defaults = RunConfig()
    parser = _Parser(prog="ntm-widgets", description="Neural Turing Machines: train, evaluate, replay, benchmark.")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("train", help="train a model and write a run folder")
    p.add_argument(
        "--preset",
        choices=list(PRESETS),
        default=None,
        help="a whole recipe with its own stopping rule (paper: Graves et al.'s configuration of --task, "
        "any of the five; quick: a 64 x 8 copy model, lengths 1-8); flags given beside it override it",
    )
    _add_model_task_args(p, defaults)
    p.add_argument("--out", default=None, help="run folder (default runs/<task>-seed<S>)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run already in --out (to its saved --steps / --time-limit, or to new ones given "
        "now: --steps N means N more; training flags such as --lr apply from here on; model flags are refused)",
    )
    p.add_argument(
        "--checkpoint-every",
        type=_float_type(0.0),
        default=CHECKPOINT_EVERY,
        metavar="SECONDS",
        help=f"save the run folder every this many seconds of training, so a killed run loses at most that "
        f"(0: only at the start and the end; default {CHECKPOINT_EVERY:g})",
    )
    p.add_argument("--force", action="store_true", help="train even if the memory estimate exceeds the memory available")
    p.add_argument(
        "--tensorboard",
        default=None,
        metavar="DIR",
        help="also write TensorBoard logs here (scalars, the config as hyperparameters, a replay frame); "
        "needs pip install 'ntm-widgets[tensorboard]'",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("eval", help="bit errors per sequence by length")
    p.add_argument("run_dir")
    p.add_argument("--lengths", type=_lengths_type, default=[20, 40, 80, 120])
    p.add_argument("--samples", type=_int_type(1), default=100)
    p.add_argument("--seed", type=_int_type(0), default=0)
    p.add_argument(
        "--repeats",
        type=_int_type(1),
        default=None,
        help="repeat copy: every sequence repeats this many times (default: each draws from the training range)",
    )
    p.add_argument(
        "--memory-size",
        type=_int_type(1),
        default=None,
        help="evaluate with this many memory rows instead of the trained N (models with a constant initial memory: "
        "no parameter depends on N)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--force", action="store_true", help="evaluate even if the memory estimate exceeds the memory available")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("replay", help="write a standalone HTML replay of one sequence")
    p.add_argument("run_dir")
    p.add_argument("--length", type=_int_type(1), default=20)
    p.add_argument("--seed", type=_int_type(0), default=0)
    p.add_argument("--out", default="replay.html")
    p.add_argument("--png", default=None, help="also write a PNG picture of the replay")
    p.add_argument("--force", action="store_true", help="record even if the memory estimate exceeds the memory available")
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
    p.add_argument("--fused", action=argparse.BooleanOptionalAction, default=defaults.train.fused, help=FIELD_HELP["fused"])
    p.add_argument("--fused-threads", type=_int_type(1), default=defaults.train.fused_threads, help=FIELD_HELP["fused_threads"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("demo", help="the main job: learn copy, show generalisation, draw a replay")
    p.add_argument("--out", default="runs/demo")
    p.add_argument(
        "--time-limit",
        type=_float_type(0.0, open_lo=True),
        default=None,
        help="seconds of training at most (default: none, the preset's --steps ends it)",
    )
    p.add_argument(
        "--steps",
        type=_int_type(1),
        default=None,
        help="training steps at most, keeping the best candidate (default: the preset's, 8,000 quick, 18,000 paper)",
    )
    p.add_argument("--target-bits", type=_float_type(0.0), default=0.1)
    p.add_argument("--seed", type=_int_type(0), default=0)
    p.add_argument(
        "--preset",
        choices=list(DEMO_PRESETS),
        default="quick",
        help="quick: 64 x 8 memory, lengths 1-8, learns in seconds (default); "
        "paper: Graves et al.'s 128 x 20, lengths 1-20, takes minutes",
    )
    p.add_argument(
        "--lengths",
        type=_lengths_type,
        default=None,
        help="generalisation lengths (default 8,16,24,32,40,64 quick; 10,20,40,80,120 paper)",
    )
    p.add_argument("--samples", type=_int_type(1), default=100)
    p.add_argument("--val-samples", type=_int_type(1), default=1000, help="fresh sequences per validation (default 1000)")
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="torch.compile the step (faster steps after a compile wait; default off)",
    )
    p.add_argument("--fused", action=argparse.BooleanOptionalAction, default=defaults.train.fused, help=FIELD_HELP["fused"])
    p.add_argument(
        "--fused-threads",
        type=_int_type(1),
        default=None,
        help="threads the fused step splits each batch over (default: the preset's: 1 for quick, whose steps are "
        "too small to split; 2 for paper, or 1 on a 1-CPU machine)",
    )
    p.add_argument("--json", action="store_true")

    from ..config import TASKS

    p = sub.add_parser(
        "paper",
        help="the paper's tasks: train the NTM and the LSTM baseline, test them, write a report",
        description="Train the NTM (its paper preset) and the LSTM baseline on each of the paper's tasks, test "
        "them at the paper's settings and write a report folder (report.md / report.html, learning curves, "
        "generalisation figures, replays, run folders). A stopped report goes on where it stopped when run "
        "again with the same --out. Full runs take minutes per task (copy, repeat copy, associative recall: "
        "up to 5 min each per model; n-grams 10; priority sort 15).",
    )
    p.add_argument("--task", choices=list(TASKS), default=None, help="one task (default: all five)")
    p.add_argument("--seed", type=_int_type(0), default=0)
    p.add_argument(
        "--quick", action="store_true", help="tiny models and a dozen steps per task: checks the pipeline, judges nothing"
    )
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--json", action="store_true", help="one JSON line per task")

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
    """The RunConfig of ``train``'s flags: the preset (or RunConfig's defaults) with every
    flag that was given replacing its field. Selection lengths follow a changed training
    range or memory unless given."""
    from ..config import RunConfig, preset, preset_select_lengths

    name = getattr(args, "preset", None)
    task = args.task or "copy"
    base = preset(name, task) if name else RunConfig()
    data = base.to_dict()
    if not name:
        data["task"]["name"] = task
    for _flag, section, field, _ in CONFIG_FLAGS:
        value = getattr(args, "task" if (section, field) == ("task", "name") else field, None)
        if value is None:
            continue
        data[section][field] = _flag_value(field, value)
    if name and task == "copy" and args.select_lengths is None and (args.max_len is not None or args.memory_size is not None):
        data["train"]["select_lengths"] = preset_select_lengths(name, data["task"]["max_len"], data["model"]["memory_size"])
    return RunConfig.from_dict(data)


def _progress(args, total=None, desc="train"):
    if args.json:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", file=sys.stderr, dynamic_ncols=True, mininterval=0.5)


class Interrupted(Exception):
    """A second Ctrl-C (or SIGTERM) during work that may be cut short, such as the final validation."""


class _StopOnSignal:
    """Ctrl-C and SIGTERM set a stop event: the trainer finishes its step, then the run
    is saved. A second signal skips what is left (the final validation) but still
    saves; only code inside ``interruptible()`` is cut short by it, never a training
    step or a save, so the saved state is always one the run can resume from."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.event = threading.Event()
        self.terminated = False  # SIGTERM: exit non-zero once saved
        self.urgent = False  # a second signal: skip the rest
        self._interruptible = False
        self._old = {}

    def __enter__(self) -> "_StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if signum == signal.SIGTERM:
            self.terminated = True
        if self.event.is_set() or signum == signal.SIGTERM:
            self.urgent = True
        self.event.set()
        if self.urgent and self._interruptible:
            self._interruptible = False
            raise Interrupted()

    def interruptible(self, fn, *args, **kwargs):
        """fn(...) or None when a second signal (or SIGTERM) cuts it short."""
        if self.urgent:
            return None
        self._interruptible = True
        try:
            return fn(*args, **kwargs)
        except Interrupted:
            return None
        finally:
            self._interruptible = False

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


def _train(trainer, args, stop, steps=None, time_limit=None, target_bits=None, checkpoint=None, checkpoint_every=None) -> Dict:
    bar = _progress(args, total=steps)
    fit = {}
    logger = None
    if getattr(args, "tensorboard", None):
        from ..tensorboard import TensorBoardLogger

        logger = TensorBoardLogger(args.tensorboard, trainer)

    def on_step(record):
        if "select_bits" in record and "at" not in fit:
            fit["at"] = time.perf_counter()  # the training lengths were learned (first time)
        if bar is not None:
            bar.update(1)
            post = {
                "loss": f"{record['loss']:.4f}" if record["loss"] is not None else "nan",
                "bits": f"{record['bits_per_seq']:.2f}",
            }
            if trainer.last_val is not None:
                post["val"] = f"{trainer.last_val:.3f}"
            if trainer.last_select is not None:
                post["longer"] = f"{trainer.last_select['bits']:.2f}"
            bar.set_postfix(post, refresh=False)

    try:
        summary = trainer.run(
            steps=steps,
            callbacks=[on_step] + ([logger] if logger is not None else []),
            stop_event=stop.event,
            time_limit=time_limit,
            target_bits=target_bits,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
        )
        summary["fit_at"] = fit.get("at")
        if logger is not None:
            summary["tensorboard"] = str(logger.log_dir)
        return summary
    finally:
        if bar is not None:
            bar.close()
        if logger is not None:
            logger.close()


# Fields ``train --resume`` may change: how long and how fast to train, not what.
RESUME_FIXED = {("task", "name"), ("task", "width"), ("train", "seed")}


def _resume(args, out: Path, stop):
    """The trainer of ``--out``, with the flags given now applied (and recorded), or UsageError."""
    from ..training import CheckpointError, Trainer

    if args.preset is not None:
        raise UsageError("ntm-widgets train: --preset cannot be combined with --resume (the run folder holds its config)")
    if not (out / "checkpoint.pt").exists():
        raise UsageError(f"ntm-widgets train: --out {out} holds no checkpoint.pt to resume")
    try:
        trainer = Trainer.load_run(out, device=args.device, force=args.force)
    except CheckpointError as exc:
        raise UsageError(f"ntm-widgets train --resume: {exc}") from None
    saved = trainer.cfg
    changes: Dict = {}
    for flag, section, field, _ in CONFIG_FLAGS:
        value = getattr(args, "task" if (section, field) == ("task", "name") else field, None)
        if value is None or field in ("steps", "time_limit"):
            continue
        value = _flag_value(field, value)
        old = getattr(getattr(saved, section), field)
        if value == old or (isinstance(old, tuple) and value is not None and tuple(value) == old):
            continue
        if section == "model" or (section, field) in RESUME_FIXED:
            raise UsageError(
                f"ntm-widgets train --resume: {flag} {value} would change the run in {out} (it has {old}); "
                f"resume with the saved value, or train a new run in another --out"
            )
        changes[field] = value
    # The budget: steps and seconds are totals over the run's life, so a resume with no
    # budget flag finishes what the first command asked for; a flag given now replaces it.
    t = saved.train
    if args.steps is not None or args.time_limit is not None:
        changes["steps"] = None if args.steps is None else trainer.step_count + args.steps
        changes["time_limit"] = None if args.time_limit is None else trainer.seconds + args.time_limit
    if changes:
        try:
            trainer.update(**changes)
        except ValueError as exc:
            raise UsageError(f"ntm-widgets train --resume: {flag_message(str(exc))}") from None
        trainer._apply_pending()
        trainer.resumes.append(
            {"step": trainer.step_count, "changes": {k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()}}
        )
    t = trainer.cfg.train
    steps = None if t.steps is None else max(0, t.steps - trainer.step_count)
    time_limit = None if t.time_limit is None else max(1e-9, t.time_limit - trainer.seconds)
    if steps is None and time_limit is None and t.target_bits is None:
        raise UsageError("ntm-widgets train --resume: the run has no budget left to resume; give --steps or --time-limit")
    return trainer, steps, time_limit


def _check_tensorboard(args) -> None:
    if getattr(args, "tensorboard", None):
        from ..tensorboard import available

        problem = available()
        if problem:
            raise UsageError(f"ntm-widgets train: --tensorboard: {problem}")
        check_output_dir(Path(args.tensorboard), "--tensorboard")


def cmd_train(args) -> Dict:
    from ..files import LockedError, RunLock, remove_stale_temps
    from ..limits import MemoryLimitError, check_fits, train_bytes
    from ..training import Trainer

    start = time.perf_counter()
    check_device(args.device)
    cfg = None if args.resume else config_from_args(args)
    out = Path(args.out or (f"runs/{cfg.task.name}-seed{cfg.train.seed}" if cfg else ""))
    if args.resume and not args.out:
        raise UsageError("ntm-widgets train: --resume needs --out RUN_DIR")
    if cfg is not None and cfg.train.steps is None and cfg.train.time_limit is None and cfg.train.target_bits is None:
        raise UsageError(
            "ntm-widgets train: give at least one of --steps, --time-limit, --target-bits (otherwise it would never stop)"
        )
    check_output_dir(out, "--out")
    _check_tensorboard(args)
    try:
        lock = RunLock(out).acquire()
    except LockedError as exc:
        raise UsageError(f"ntm-widgets train: --out {exc}") from None
    remove_stale_temps(out)  # a killed run's half-written files
    try:
        with _StopOnSignal() as stop:
            if args.resume:
                trainer, steps, time_limit = _resume(args, out, stop)
            else:
                from ..tasks import make_task

                try:
                    check_fits(
                        f"training this configuration (batch {cfg.train.batch_size}, lengths up to {cfg.task.max_len}, "
                        f"memory {cfg.model.memory_size} x {cfg.model.word_size})",
                        train_bytes(cfg, make_task(cfg.task)),
                        args.force,
                        hint="try a smaller --batch-size, --max-len or memory",
                    )
                except MemoryLimitError as exc:
                    raise UsageError(f"ntm-widgets train: {exc}") from None
                replacing = (out / "checkpoint.pt").exists()
                trainer = Trainer(cfg, device=args.device)
                if replacing:
                    # A new run in a used folder replaces the old one (--resume continues it):
                    # its step-0 checkpoint goes in now, so the folder never mixes two runs.
                    print(f"ntm-widgets train: replacing the run in {out} (continue a run with --resume)", file=sys.stderr)
                    trainer.checkpoint(out)
                steps, time_limit = cfg.train.steps, cfg.train.time_limit
            every = args.checkpoint_every or None
            summary = _train(
                trainer,
                args,
                stop,
                steps=steps,
                time_limit=time_limit,
                target_bits=args.target_bits,
                checkpoint=out,
                checkpoint_every=every,
            )
            failure = summary["failure"]
            if failure is None:
                if not summary["converged"] and trainer.use_best():
                    # Selection did not finish: keep its best candidate, not the last weights.
                    summary["selected"] = True
                if not summary["converged"] and trainer.step_count > 0:
                    # The last validation may be stale (or absent): measure the model being saved.
                    bits = stop.interruptible(trainer.validate)
                    if bits is not None:
                        summary["bits_per_seq"] = trainer.last_val = bits
                trainer.save_run(out)
    finally:
        lock.release()
    result = {
        "steps": summary["steps"],
        "sequences": summary["sequences"],
        "seconds": round(time.perf_counter() - start, 3),
        "train_seconds": round(summary["train_seconds"], 3),
        "bits_per_seq": summary["bits_per_seq"],
        "converged": summary["converged"],
        "stopped_by": "terminated" if stop.terminated else summary["reason"],
        "nonfinite_steps": summary["nonfinite_steps"],
        "restarts": summary["restarts"],
        "run_dir": str(out),
        "failure": failure,
    }
    if trainer.cfg.train.select_lengths is not None:
        # Whole-process seconds until the training lengths were first learned (< target_bits).
        result["fit_seconds"] = None if summary["fit_at"] is None else round(summary["fit_at"] - start, 3)
        # What the stopping rule measured on the longer lengths (the kept candidate's).
        best = trainer.best
        result["select"] = (
            None
            if best is None
            else {
                "lengths": {str(k): v for k, v in best["lengths"].items()},
                "bits": best["bits"],
                "worst": best["worst"],
                "step": best["step"],
                "attempt": best["attempt"],
            }
        )
    if failure is not None:
        if trainer.checkpoint_step is not None:
            kept = f"{out} keeps the last good checkpoint (step {trainer.checkpoint_step})"
        else:
            kept = f"{out} keeps the checkpoint it had" if (out / "checkpoint.pt").exists() else "nothing was saved"
        raise CommandExit(EXIT_FAILED, f"ntm-widgets train: training failed: {failure}; {trainer.failure_hint()}. {kept}", result)
    if not args.json:
        state = "converged" if result["converged"] else f"stopped ({result['stopped_by']})"
        bits = "n/a" if result["bits_per_seq"] is None else f"{result['bits_per_seq']:.3f}"
        print(
            f"{state} after {result['steps']} steps, {result['sequences']} sequences, {result['seconds']:.1f} s; "
            f"validation bit errors per sequence: {bits}{_restart_text(trainer)}; run saved in {out}"
        )
        if result.get("select"):
            sel = result["select"]
            at = ", ".join(f"{k}: {v:.2f}" for k, v in sel["lengths"].items())
            print(f"selected on longer lengths (mean wrong bits {at}; worst sequence {sel['worst']:.0f})")
    if stop.terminated:
        raise CommandExit(
            EXIT_TERMINATED,
            f"ntm-widgets train: terminated (SIGTERM) at step {result['steps']}; "
            f"the run is saved in {out} (continue it with --resume)",
            result,
        )
    return result


def _load_run(run_dir, device="cpu", force=False):
    from ..training import CheckpointError, Trainer

    path = Path(run_dir)
    if not (path / "checkpoint.pt").exists():
        raise UsageError(
            f"ntm-widgets: RUN_DIR {run_dir} holds no checkpoint.pt (make one with: ntm-widgets train --out {run_dir} ...)"
        )
    try:
        return Trainer.load_run(path, device=device, force=force)
    except CheckpointError as exc:
        raise UsageError(f"ntm-widgets: {exc}") from None


def _check_lengths_fit(what: str, flag: str, lengths, need, force: bool) -> None:
    """Refuse (UsageError naming the flag) a length whose work would not fit in memory."""
    from ..limits import MemoryLimitError, available_memory, check_fits, largest_fitting

    for length in sorted(set(lengths), reverse=True):
        try:
            check_fits(f"{what} at length {length}", need(length), force)
        except MemoryLimitError as exc:
            have = available_memory()
            top = largest_fitting(lambda n, have=have: need(n) <= have)
            raise UsageError(f"ntm-widgets: {flag} {length}: {exc}; the longest that fits is {top}") from None


def format_table(lengths: Dict) -> str:
    optimal = any("optimal" in s for s in lengths.values())
    rows = [
        "length   mean  median    max" + ("  optimal" if optimal else ""),
        "------  ------  ------  -----" + ("  -------" if optimal else ""),
    ]
    for length, s in lengths.items():
        extra = f"  {s['optimal']:7.2f}" if optimal else ""
        rows.append(f"{length:>6}  {s['mean']:6.2f}  {s['median']:6.1f}  {s['max']:5.0f}{extra}")
    return "\n".join(rows)


def cmd_eval(args) -> Dict:
    from ..limits import eval_bytes

    check_device(args.device)
    trainer = _load_run(args.run_dir, args.device, args.force)
    if args.repeats is not None:
        if trainer.cfg.task.name != "repeat_copy":
            raise UsageError(
                f"ntm-widgets eval: --repeats is for repeat_copy runs; {args.run_dir} trained {trainer.cfg.task.name}"
            )
        trainer.task.fixed_repeats = args.repeats
    trained_rows = trainer.cfg.model.memory_size
    if args.memory_size is not None:
        trainer.resize_memory(args.memory_size)
    _check_lengths_fit(
        f"evaluating {args.samples} sequences",
        "--lengths",
        args.lengths,
        lambda n: eval_bytes(trainer.cfg, n, args.samples),
        args.force,
    )
    result = trainer.evaluate(args.lengths, samples=args.samples, seed=args.seed)
    if not args.json:
        what = (
            "cross-entropy bits per sequence (optimal: the Bayes estimator)"
            if trainer.task.optimal is not None
            else "bit errors per sequence"
        )
        rows = f", {args.memory_size} memory rows (trained with {trained_rows})" if args.memory_size is not None else ""
        print(
            f"{what}, {args.samples} sequences per length "
            f"(trained on {trainer.cfg.task.min_len}-{trainer.cfg.task.max_len}{rows}):"
        )
        print(format_table(result))
    out = {"lengths": {str(k): v for k, v in result.items()}, "samples": args.samples, "seed": args.seed, "run_dir": args.run_dir}
    if args.repeats is not None:
        out["repeats"] = args.repeats
    if args.memory_size is not None:
        out["memory_size"] = args.memory_size
        out["trained_memory_size"] = trained_rows
    return out


def cmd_replay(args) -> Dict:
    from ..limits import replay_too_long, trace_bytes
    from ..replay_html import write_replay_html
    from ..trace import record_trace

    check_output_file(args.out, "--out")
    if args.png:
        check_output_file(args.png, "--png")
    trainer = _load_run(args.run_dir, force=args.force)
    _check_lengths_fit(
        "recording a replay", "--length", [args.length], lambda n: trace_bytes(trainer.cfg, trainer.task, n), args.force
    )
    if replay_too_long(trainer.cfg, trainer.task, args.length) and not args.force:
        from ..limits import largest_fitting

        top = largest_fitting(lambda n: not replay_too_long(trainer.cfg, trainer.task, n))
        raise UsageError(
            f"ntm-widgets: --length {args.length}: a replay that long would make a page of hundreds of MB "
            f"or more, too big for a browser; the longest replay of this model is {top} (--force writes it anyway)"
        )
    trace = record_trace(trainer.model, trainer.task, length=args.length, seed=args.seed)
    write_replay_html(trace, args.out)
    result = {"out": str(args.out), "steps": trace.steps, "length": args.length, "bits_wrong": trace.meta["bits_wrong"]}
    if args.png:
        from ..plotting.trace_plots import save_trace_png

        save_trace_png(trace, args.png)
        result["png"] = str(args.png)
    if not args.json:
        print(f"wrote {args.out} ({trace.steps} steps, {trace.meta['bits_wrong']} wrong bits); open it in any browser")
    return result


def cmd_bench(args) -> Dict:
    from ..bench import bench_train

    check_device(args.device)
    result = bench_train(
        batch_size=args.batch_size,
        length=args.length,
        steps=args.steps,
        memory_size=args.memory_size,
        word_size=args.word_size,
        controller_size=args.controller_size,
        threads=args.threads,
        device=args.device,
        compile=args.compile,
        fused=args.fused,
        fused_threads=args.fused_threads,
    )
    if not args.json:
        print(
            f"training: {result['train_seq_per_s']:.1f} sequences/s at batch {args.batch_size}, length {args.length} "
            f"({args.memory_size} x {args.word_size} memory)"
        )
    return result


# The demo's presets are config.preset's: "quick" (64 x 8 memory, lengths 1-8, learns
# in seconds) and "paper" (Graves et al.'s 128 x 20, LSTM 100, lengths 1-20).
DEMO_PRESETS = PRESETS
# Lengths the demo reports, on sequences of its own: the paper's never include its
# selection lengths (50, 112); the quick preset's include 24, which it selects on with 28.
DEMO_LENGTHS = {"quick": [8, 16, 24, 32, 40, 64], "paper": [10, 20, 40, 80, 120]}


def demo_config(
    preset: str, seed: int = 0, val_samples: int = 1000, compile: bool = False, fused: bool = True, fused_threads=None
):
    """The demo's RunConfig: a preset of ``config.preset`` with the demo's own settings."""
    from ..config import RunConfig
    from ..config import preset as make_preset

    if preset not in DEMO_PRESETS:
        raise ValueError(f"preset must be one of {DEMO_PRESETS}, got {preset!r}")
    cfg = make_preset(preset)
    # --fused-threads replaces the preset's thread count only when given.
    threads = {} if fused_threads is None else {"fused_threads": fused_threads}
    train = cfg.train.replace(seed=seed, val_samples=val_samples, compile=compile, fused=fused, **threads)
    return RunConfig(model=cfg.model, task=cfg.task, train=train)


def _restart_text(trainer) -> str:
    """The '; restarted from fresh weights N times (why)' tail, the causes counted from the history."""
    restarts = trainer.restarts
    if not restarts:
        return ""
    why = Counter(h.get("restart_why", "stuck") for h in trainer.history if "restarts" in h)
    counts = [f"{why[k]} {w}" for k, w in RESTART_CAUSES.items() if why[k]]
    causes = ", ".join(counts) if sum(why.values()) == restarts else "stuck or failed selection"
    return f"; restarted from fresh weights {restarts} time{'s' if restarts > 1 else ''} ({causes})"


def cmd_demo(args) -> Dict:
    """Learn copy on the default recipe, then show how far it generalises and draw it."""
    from ..trace import record_trace
    from ..training import Trainer

    start = time.perf_counter()
    out = Path(args.out)
    cfg = demo_config(
        args.preset,
        seed=args.seed,
        val_samples=args.val_samples,
        compile=args.compile,
        fused=args.fused,
        fused_threads=args.fused_threads,
    )
    lengths = args.lengths or DEMO_LENGTHS[args.preset]
    steps = args.steps or cfg.train.steps
    time_limit = args.time_limit or cfg.train.time_limit
    parts = ([] if steps is None else [f"{steps:,} steps"]) + ([] if time_limit is None else [f"{time_limit:.0f} s"])
    budget = " or ".join(parts) or "until stopped"
    if not args.json:
        print(
            f"Training an NTM on the copy task (memory {cfg.model.memory_size} x {cfg.model.word_size}, "
            f"lengths {cfg.task.min_len}-{cfg.task.max_len}) until < {args.target_bits} bit errors per sequence, "
            f"then until it copies lengths {', '.join(map(str, cfg.train.select_lengths or ()))} too, "
            f"or {budget} ...",
            file=sys.stderr,
        )
    check_output_dir(out, "--out")
    trainer = Trainer(cfg)
    with _StopOnSignal() as stop:
        summary = _train(trainer, args, stop, steps=steps, time_limit=time_limit, target_bits=args.target_bits)
        if summary["failure"] is not None:
            raise CommandExit(EXIT_FAILED, f"ntm-widgets demo: training failed: {summary['failure']}", summary)
        if not trainer.converged:
            trainer.use_best()  # selection's best candidate, when it got that far
        if summary["bits_per_seq"] is None:
            trainer.last_val = stop.interruptible(trainer.validate)
        trainer.save_run(out)
    if stop.urgent:
        code = EXIT_TERMINATED if stop.terminated else 130
        raise CommandExit(code, f"ntm-widgets demo: interrupted; the run is saved in {out}", {"run_dir": str(out)})
    lengths = [n for n in lengths if n <= cfg.model.memory_size] or [cfg.task.max_len]
    table = trainer.evaluate(lengths, samples=args.samples, seed=args.seed)
    trace = record_trace(trainer.model, trainer.task, length=cfg.task.max_len, seed=args.seed)
    from ..plotting.trace_plots import save_trace_png

    png = out / "replay.png"
    save_trace_png(trace, png)
    html = None
    try:
        from ..replay_html import write_replay_html

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
        state = "converged" if trainer.converged else f"did not converge within {budget}"
        print(
            f"\n{state}: {trainer.step_count} steps, {trainer.sequences} sequences, {result['seconds']:.1f} s, "
            f"validation {trainer.last_val:.3f} bit errors per sequence" + _restart_text(trainer)
        )
        if not trainer.converged:
            print("  (some seeds take several attempts: try more --steps or another --seed)")
        print(f"\ngeneralisation (trained on lengths {cfg.task.min_len}-{cfg.task.max_len}):")
        print(format_table(table))
        print(f"\nrun folder: {out}\npicture:    {png}" + (f"\nreplay:     {html} (open in a browser)" if html else ""))
    return result


def cmd_paper(args) -> None:
    """Each task's JSON line is printed when that task is done (a report takes long)."""
    from ..config import TASKS
    from ..paper import run_task, write_report

    out = Path(args.out)
    check_output_dir(out, "--out")
    tasks = [args.task] if args.task else list(TASKS)
    results = []

    def log(message):
        print(message, file=sys.stderr)

    def bar(desc, total):
        return _progress(args, total=total, desc=desc)

    with _StopOnSignal() as stop:
        for task in tasks:
            result = run_task(task, out, seed=args.seed, quick=args.quick, stop=stop.event, log=log, bar=bar)
            if result is None:
                write_report(out, results)
                code = EXIT_TERMINATED if stop.terminated else 130
                raise CommandExit(code, f"ntm-widgets paper: interrupted; run the same command again to go on from {out}", {})
            results.append(result)
            write_report(out, results)
            if args.json:
                print(json.dumps(result, default=_json_default), flush=True)
            else:
                met = {None: "", True: " (target met)", False: " (target missed)"}[result["met"]]
                log(f"{task}: {result['measured']}{met}")
    log(f"report: {out / 'report.md'} and {out / 'report.html'}")
    return None


def cmd_sweep(args) -> Dict:
    from .sweep import run_sweep_command

    return run_sweep_command(args)


VERBS = {
    "train": cmd_train,
    "eval": cmd_eval,
    "replay": cmd_replay,
    "bench": cmd_bench,
    "demo": cmd_demo,
    "paper": cmd_paper,
    "sweep": cmd_sweep,
}


def main(argv: Optional[List[str]] = None) -> int:
    from ..config import ConfigError

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
    except CommandExit as exc:
        print(str(exc), file=sys.stderr)
        if getattr(args, "json", False):
            print(json.dumps(exc.result, default=_json_default))
        return exc.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if getattr(args, "json", False) and result is not None:
        print(json.dumps(result, default=_json_default))
    return 0


def _json_default(obj):
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)
