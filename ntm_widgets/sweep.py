"""Sweeps: grids (or random samples) of ordinary training runs, one row per trial.

    df = run_sweep({"memory_size": [16, 32], "max_len": [4, 8], "seed": [0, 1]},
                   steps=200, eval_lengths=(20, 40), results_path="sweep.csv")

Each trial is a normal ``Trainer`` run (Graves et al. 2014, arXiv:1410.5401, copy task
by default) with a step / time / target budget; its row holds the swept fields, the
run summary (converged, seconds, sequences, steps, final bits per sequence on fresh
validation sequences) and generalisation at the ``eval_lengths`` (``gen_40_mean``...).

Backends (the same trials give the same numbers on each: every trial seeds itself and
runs with one torch thread):

- ``"local"`` (default): a ``concurrent.futures.ProcessPoolExecutor`` with one worker per
  core, started from a "forkserver" ("spawn" where there is none; never a plain fork
  of a parent whose torch thread pools already ran, which can hang), each worker one
  torch thread so that workers do not fight for cores;
- ``"ray"``: each trial a ``ray.remote(num_cpus=1)`` task, on the cluster at
  ``ray_address`` or on a local Ray started for the sweep (Ray is the scheduler; we do
  not write one). Needs ``pip install ntm-widgets[ray]``;
- ``"serial"``: in this process, one trial after another (tests, tiny grids).

Results are keyed by a stable hash of each trial's full configuration (plus the
evaluation settings); with ``results_path`` the file is rewritten (atomically) after every
finished trial, so an interrupt keeps finished trials and a re-run skips them. A trial
that raises, or whose model ends with non-finite weights, is recorded with its
``error`` and the sweep goes on; re-runs retry such trials.

Before the first trial a sweep checks what would otherwise fail after minutes of
training: that ``results_path`` can be written and, when it exists, is a results
table (any other file is refused and left as it is), and that evaluation at the
longest ``eval_lengths`` fits in memory. Local workers watch the sweep's process and
exit when it is gone, however it ended (``kill -9`` included).
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import random
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from .config import ConfigError, ModelConfig, RunConfig, TaskConfig, TrainConfig
from .files import atomic_write, writable_dir_problem

BACKENDS = ("local", "ray", "serial")
SECTIONS = {"model": ModelConfig, "task": TaskConfig, "train": TrainConfig}
# Columns every trial row has; a swept field whose short name clashes with one of these
# (train.steps vs the steps a run took) keeps its dotted name as its column.
RESULT_COLUMNS = (
    "trial_id",
    "converged",
    "seconds",
    "train_seconds",
    "sequences",
    "steps",
    "bits_per_seq",
    "nonfinite_steps",
    "reason",
    "error",
    "config",
)
# Short names that are not field names: "task" means task.name.
ALIASES = {"task": "task.name"}
RAY_INSTALL_HINT = "the Ray backend needs Ray: pip install ntm-widgets[ray]"


# ----------------------------------------------------------------- field names
def known_fields() -> Dict[str, str]:
    """Every accepted name -> its dotted "section.field" name (dotted names map to themselves)."""
    owners: Dict[str, List[str]] = {}
    names: Dict[str, str] = {}
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            dotted = f"{section}.{f.name}"
            names[dotted] = dotted
            owners.setdefault(f.name, []).append(dotted)
    for short, dotted in owners.items():
        if len(dotted) == 1:  # an ambiguous short name must be written in full
            names[short] = dotted[0]
    for alias, dotted in ALIASES.items():
        names.setdefault(alias, dotted)
    return names


def resolve_field(name: str) -> str:
    """"memory_size" or "model.memory_size" -> "model.memory_size"; ConfigError if unknown."""
    names = known_fields()
    if not isinstance(name, str) or name not in names:
        shorts = sorted(n for n in names if "." not in n)
        ambiguous = sorted({n.split(".", 1)[1] for n in names if "." in n} - set(shorts))
        hint = f"; ambiguous, write it as section.{name}" if name in ambiguous else ""
        raise ConfigError(str(name), f"unknown sweep field {name!r}{hint}; known fields: {', '.join(shorts)} (or section.field with section in model, task, train)")
    return names[name]


def _field_type(dotted: str) -> str:
    section, name = dotted.split(".", 1)
    return str({f.name: f.type for f in dataclasses.fields(SECTIONS[section])}[name])


def _normalise_value(dotted: str, value):
    """Ints given for float fields become floats, so lr=1 and lr=1.0 are one trial."""
    if "float" in _field_type(dotted) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        try:
            return value.item()
        except (TypeError, ValueError):
            pass
    return value


def parse_value(dotted: str, text: str, flag: str = "--grid"):
    """Parse one command-line value by the field's declared type; ValueError names the flag."""
    kind = _field_type(dotted)
    text = text.strip()
    if "Optional" in kind and text.lower() in ("none", "null", ""):
        return None
    try:
        if "bool" in kind:
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if "int" in kind:
            return int(text)
        if "float" in kind:
            return float(text)
    except ValueError:
        want = "true/false" if "bool" in kind else ("an integer" if "int" in kind else "a number")
        raise ConfigError(dotted.split(".", 1)[1], f"{flag} {dotted}: {text!r} is not {want}") from None
    return text


# ----------------------------------------------------------------- hashing
def _canonical(obj):
    """JSON-safe, with floats as repr so the hash does not depend on formatting."""
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, float):
        return repr(obj)
    return obj


def trial_key(cfg: RunConfig, eval_settings: Optional[Mapping] = None) -> str:
    """A stable 16-hex-digit hash of the full config (and evaluation settings)."""
    payload = {"config": cfg.to_dict(), "eval": dict(eval_settings or {})}
    text = json.dumps(_canonical(payload), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ----------------------------------------------------------------- one trial
def _as_run_config(base) -> RunConfig:
    if base is None:
        return RunConfig()
    if isinstance(base, RunConfig):
        return base
    if isinstance(base, Mapping):
        return RunConfig.from_dict(dict(base))
    raise TypeError(f"base must be a RunConfig, a dict or None, got {type(base).__name__}")


def _with_values(base: RunConfig, values: Mapping[str, Any]) -> RunConfig:
    """A new RunConfig with dotted fields replaced; the config classes validate."""
    data = base.to_dict()
    for dotted, value in values.items():
        section, name = dotted.split(".", 1)
        data[section][name] = value
    return RunConfig.from_dict(data)


def run_trial(payload: Dict) -> Dict:
    """Train and evaluate one trial; returns its result fields. Runs in any backend.

    ``payload``: ``config`` (RunConfig dict), ``eval_lengths``, ``samples``,
    ``eval_seed``, ``threads``. Exceptions become an ``error`` entry, so one bad trial
    does not end the sweep (KeyboardInterrupt still propagates).
    """
    import torch

    from .training.trainer import Trainer

    start = time.perf_counter()
    previous_threads = torch.get_num_threads()
    result: Dict[str, Any] = {}
    try:
        # One thread: parallelism comes from running trials side by side, and one
        # thread makes a trial's numbers the same in every backend.
        torch.set_num_threads(int(payload.get("threads") or 1))
        cfg = RunConfig.from_dict(payload["config"])
        if cfg.train.fused_threads is None:  # trials run side by side: one thread each
            cfg = RunConfig(model=cfg.model, task=cfg.task, train=cfg.train.replace(fused_threads=int(payload.get("threads") or 1)))
        trainer = Trainer(cfg)
        summary = trainer.run()
        bits = summary["bits_per_seq"]
        if bits is None:  # no target: validate once at the end for the final error
            bits = trainer.validate()
        result.update(
            converged=bool(summary["converged"]),
            seconds=float(summary["seconds"]),
            train_seconds=float(summary["train_seconds"]),
            sequences=int(summary["sequences"]),
            steps=int(summary["steps"]),
            bits_per_seq=float(bits),
            nonfinite_steps=int(summary["nonfinite_steps"]),
            reason=str(summary["reason"]),
        )
        failure = trainer.failure()
        if failure is not None:
            # A model with NaN or inf weights (or one whose last steps were all skipped)
            # predicts nothing: its bits, and any evaluation, would be meaningless.
            result["error"] = f"{failure}; {trainer.failure_hint()}"
            return result
        lengths = list(payload.get("eval_lengths") or ())
        if lengths:
            gen = trainer.evaluate(lengths, samples=int(payload.get("samples", 100)), seed=int(payload.get("eval_seed", 0)))
            for length in lengths:
                result[f"gen_{int(length)}_mean"] = gen[int(length)]["mean"]
                result[f"gen_{int(length)}_max"] = gen[int(length)]["max"]
        result["error"] = None
    except Exception as exc:  # a failed trial is a result, not the end of the sweep
        last = traceback.extract_tb(exc.__traceback__)[-1:] or None
        where = f" ({Path(last[0].filename).name}:{last[0].lineno})" if last else ""
        result["error"] = f"{type(exc).__name__}: {exc}{where}"
    finally:
        torch.set_num_threads(previous_threads)
        result["wall_seconds"] = time.perf_counter() - start
    return result


def pool_start_method() -> str:
    """How the local pool starts workers: "forkserver" where there is one, else "spawn".

    Never plain "fork": forking a parent whose torch thread pools already ran can hang
    in the child. "spawn" re-imports torch in every worker (seconds on a busy machine);
    a forkserver imports it once per session and forks ready workers from it.
    ``NTM_WIDGETS_START_METHOD`` overrides the choice. The forkserver lives as long
    as the Python session, holding the package as first imported: after editing the
    package's code, restart the kernel (or use "spawn").
    """
    import multiprocessing

    wanted = os.environ.get("NTM_WIDGETS_START_METHOD")
    methods = multiprocessing.get_all_start_methods()
    if wanted:
        if wanted not in methods or wanted == "fork":
            raise ValueError(f"NTM_WIDGETS_START_METHOD must be one of {', '.join(m for m in methods if m != 'fork')}, got {wanted!r}")
        return wanted
    return "forkserver" if "forkserver" in methods else "spawn"


# How often a local worker checks that the sweep's process is still there.
PARENT_POLL_SECONDS = 0.5


def _proc_stat(pid: int) -> Optional[Tuple[str, int, int]]:
    """(state, session id, start time) of a process from /proc; None if it has none."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            text = fh.read().decode(errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    rest = text[text.rindex(")") + 2 :].split()
    return rest[0], int(rest[3]), int(rest[19])


def _process_gone(pid: int, started: Optional[int]) -> bool:
    """True once ``pid`` has exited, even while it is an unreaped zombie.

    A killed process stays a zombie until its own parent waits for it, and a caller
    reading the sweep's output to the end (``subprocess.run(capture_output=True)``)
    waits only after that output ends: signalling the pid (``os.kill(pid, 0)``) would
    still succeed then, and workers holding the pipe open would deadlock the caller.
    /proc shows the zombie state, and its start time tells a reused pid apart.
    """
    if os.path.isdir("/proc/self"):
        stat = _proc_stat(pid)
        return stat is None or stat[0] in ("Z", "X", "x") or (started is not None and stat[2] != started)
    try:  # no /proc (macOS): an unreaped zombie still counts as alive here
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by someone else (a reused pid)
        return False
    return False


def _watch_parent(pid: int, started: Optional[int], interval: float = PARENT_POLL_SECONDS) -> None:
    while not _process_gone(pid, started):
        time.sleep(interval)
    # The sweep is gone and nobody will collect this worker's result; exiting at once
    # (no cleanup, no joining torch threads) also closes the output pipes it inherited.
    os._exit(1)


def _worker_init(threads: int, parent_pid: Optional[int] = None) -> None:
    """A local pool worker's start: one torch thread, and a watch on the sweep's process.

    Workers are forked from the forkserver, so ``os.getppid()`` is the server, not the
    sweep; the sweep's pid is passed in. Without the watch, a sweep killed by SIGKILL
    (no cleanup can run) would leave its workers training for minutes, and with them
    the forkserver and resource tracker, which exit once the workers are gone.
    """
    import torch

    torch.set_num_threads(threads)
    if parent_pid is not None:
        stat = _proc_stat(parent_pid)
        started = stat[2] if stat is not None else None
        threading.Thread(target=_watch_parent, args=(parent_pid, started), name="ntm-widgets-parent-watch", daemon=True).start()


# ----------------------------------------------------------------- results I/O
def _results_format(path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ValueError(f"results_path must end in .csv or .json, got {str(path)!r}")
    return suffix[1:]


def _clean_frame(df):
    """Dtypes that survive CSV/JSON: error None when absent, converged a bool where known."""
    import pandas as pd

    if "error" in df.columns:
        df["error"] = df["error"].astype(object).where(df["error"].notna(), None)
    if "converged" in df.columns and df["converged"].notna().all() and len(df):
        df["converged"] = df["converged"].astype(bool)
    return df if isinstance(df, pd.DataFrame) else pd.DataFrame(df)


def order_columns(df, axes: Sequence[str] = ()):
    """trial_id, the swept fields, then the results (gen_* before error, config last)."""
    cols = list(df.columns)
    lead = ["trial_id", *[c for c in axes if c in cols]]
    results = ["converged", "seconds", "train_seconds", "sequences", "steps", "bits_per_seq", "nonfinite_steps", "reason"]
    gen = [c for c in cols if c.startswith("gen_")]
    tail = ["error", "wall_seconds", "config"]
    known = set(lead) | set(results) | set(gen) | set(tail)
    other_axes = [c for c in cols if c not in known]  # axes of other sweeps sharing the file
    order = [c for c in [*lead, *other_axes, *results, *gen, *tail] if c in cols]
    return df[order]


JSON_FORMAT = "ntm-widgets-sweep"
# Columns that mark a CSV as a results table: every row save_results writes has them.
REQUIRED_COLUMNS = ("trial_id", "config")


def save_results(df, path) -> Path:
    """Write a results table as CSV or JSON (by suffix), atomically.

    The temporary file has a unique name beside ``path`` (``files.atomic_write``), so
    two sweeps saving the same file never write into each other's temporary file;
    the last rename wins, and a reader sees one whole table or the other.
    """
    path = Path(path)
    fmt = _results_format(path)
    if fmt == "csv":
        atomic_write(path, lambda tmp: df.to_csv(tmp, index=False))
    else:
        # Python's float repr round-trips exactly (pandas' to_json keeps 15 digits).
        records = [{str(k): _json_value(v) for k, v in r.items()} for r in df.to_dict("records")]
        atomic_write(path, json.dumps({"format": JSON_FORMAT, "version": 1, "trials": records}, indent=1) + "\n")
    return path


def _not_results(path: Path, why: str) -> ConfigError:
    return ConfigError("results_path", f"{path} {why}; it was left as it is: choose another results file, or delete this one to start afresh")


def load_results(path):
    """Read a table written by ``save_results`` (CSV or JSON) back into a DataFrame.

    Anything else (another program's CSV or JSON, a truncated or unreadable file)
    raises ``ConfigError`` naming the file, which is never modified: a sweep pointed
    at the wrong file must not merge its rows into it. An empty (0-byte) file counts
    as a table with no trials yet: it holds nothing to lose, and is what ``touch``
    or a reserved temporary name leaves (save_results itself never writes one).
    """
    import pandas as pd

    path = Path(path)
    fmt = _results_format(path)
    try:
        if path.is_file() and path.stat().st_size == 0:
            return pd.DataFrame()
        if fmt == "csv":
            df = pd.read_csv(path)
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        # ValueError covers json.JSONDecodeError; OSError an unreadable file or a folder.
        if isinstance(exc, OSError) and exc.strerror:
            reason = exc.strerror
        else:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise _not_results(path, f"cannot be read as a results table ({reason})") from None
    if fmt == "csv":
        missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
        if missing:
            raise _not_results(path, f"is not a results table written by ntm-widgets sweep (no {' and '.join(missing)} column{'s' if len(missing) > 1 else ''})")
    else:
        if not (isinstance(data, dict) and data.get("format") == JSON_FORMAT and isinstance(data.get("trials"), list)
                and all(isinstance(r, dict) and "trial_id" in r for r in data["trials"])):
            raise _not_results(path, f'is not a results file written by ntm-widgets sweep (expected a {{"format": "{JSON_FORMAT}", "trials": [...]}} object)')
        df = pd.DataFrame.from_records(data["trials"])
    return _clean_frame(df)


def output_problem(path) -> Optional[str]:
    """Why ``path`` cannot be written as an output file, or None (its folder is tried)."""
    path = Path(path)
    if path.is_dir():
        return f"{path} is a folder"
    return writable_dir_problem(path.parent)


# ----------------------------------------------------------------- the sweep
BudgetValue = Optional[Union[int, float]]


class Sweep:
    """A grid (or random sample of one) over config fields, run as independent trials.

    ``grid``: field name ("memory_size" or "model.memory_size") -> list of values.
    ``base``: the RunConfig (or its dict) that every trial starts from.
    ``steps`` / ``time_limit`` / ``target_bits``: each trial's budget (set on
    ``train``; at least ``steps`` or ``time_limit`` must be set somewhere, or a trial
    that never converges would never end). ``n_samples``: random search, that many
    distinct grid points drawn with ``random_seed`` (not a training seed: sweep
    those with a "seed" axis); None runs the whole grid. ``eval_lengths``,
    ``samples``, ``eval_seed``: generalisation measured after training, as
    ``Trainer.evaluate``.
    """

    def __init__(
        self,
        grid: Mapping[str, Sequence],
        base: Union[RunConfig, Mapping, None] = None,
        steps: Optional[int] = None,
        time_limit: Optional[float] = None,
        target_bits: Optional[float] = None,
        eval_lengths: Iterable[int] = (),
        samples: int = 100,
        eval_seed: int = 0,
        n_samples: Optional[int] = None,
        random_seed: int = 0,
    ):
        if not isinstance(grid, Mapping):
            raise TypeError(f"grid must be a dict of field name -> list of values, got {type(grid).__name__}")
        self.base = _as_run_config(base)
        budget = {k: v for k, v in (("train.steps", steps), ("train.time_limit", time_limit), ("train.target_bits", target_bits)) if v is not None}
        if budget:
            # Budget values are config values: the config classes check their ranges.
            self.base = _with_values(self.base, {k: _normalise_value(k, v) for k, v in budget.items()})
        self.axes: Dict[str, List] = {}
        self.columns: Dict[str, str] = {}  # dotted -> column name in the results
        for name, values in grid.items():
            dotted = resolve_field(name)
            if dotted in self.axes:
                raise ConfigError(dotted.split(".", 1)[1], f"grid names {dotted} twice")
            if isinstance(values, (str, bytes, Mapping, set, frozenset)) or not isinstance(values, (list, tuple, range)) and not hasattr(values, "tolist"):
                raise ConfigError(dotted.split(".", 1)[1], f"grid axis {name!r} must be a list of values, got {type(values).__name__} {values!r}")
            values = list(values.tolist() if hasattr(values, "tolist") else values)
            if not values:
                raise ConfigError(dotted.split(".", 1)[1], f"grid axis {name!r} is empty; give at least one value")
            values = [_normalise_value(dotted, v) for v in values]
            if len(set(map(repr, values))) != len(values):
                raise ConfigError(dotted.split(".", 1)[1], f"grid axis {name!r} repeats a value: {values!r}")
            self.axes[dotted] = values
            short = dotted.split(".", 1)[1]
            unique_short = known_fields().get(short) == dotted
            self.columns[dotted] = short if unique_short and short not in RESULT_COLUMNS else dotted
        t = self.base.train
        if t.steps is None and t.time_limit is None:
            if "train.steps" not in self.axes and "train.time_limit" not in self.axes:
                raise ConfigError("steps", "a sweep needs a budget per trial: steps or time_limit (target_bits alone may never be reached)")
        self.eval_lengths = [self._length(v) for v in eval_lengths]
        if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
            raise ConfigError("samples", f"samples must be an integer >= 1, got {samples!r}")
        self.samples = samples
        self.eval_seed = int(eval_seed)
        if n_samples is not None and (not isinstance(n_samples, int) or isinstance(n_samples, bool) or n_samples < 1):
            raise ConfigError("n_samples", f"n_samples must be an integer >= 1 (or None for the whole grid), got {n_samples!r}")
        self.n_samples = n_samples
        self.random_seed = random_seed
        self._trials = self._build_trials()

    @staticmethod
    def _length(value) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError("eval_lengths", f"eval_lengths must be integers >= 1, got {value!r}")
        return value

    def _points(self) -> List[Dict[str, Any]]:
        keys = list(self.axes)
        points = [dict(zip(keys, combo)) for combo in itertools.product(*(self.axes[k] for k in keys))]
        if self.n_samples is not None and self.n_samples < len(points):
            # Random search: distinct points, reproducible from the seed, in grid order.
            picked = sorted(random.Random(self.random_seed).sample(range(len(points)), self.n_samples))
            points = [points[i] for i in picked]
        return points

    def _build_trials(self) -> List[Dict]:
        """Every trial's RunConfig, built now so that a bad value fails before any training."""
        eval_settings = {"lengths": self.eval_lengths, "samples": self.samples, "seed": self.eval_seed} if self.eval_lengths else {}
        trials, seen = [], set()
        for point in self._points():
            try:
                cfg = _with_values(self.base, point)
            except ConfigError as exc:
                shown = ", ".join(f"{self.columns[k]}={v!r}" for k, v in point.items())
                offending = [f"{self.columns[k]}={v!r}" for k, v in point.items() if k.split(".", 1)[1] == exc.field]
                if not offending and len(point) == 1:  # e.g. memory_size=1 leaves no room for shifts
                    offending = [shown]
                lead = f"grid value {offending[0]}" if offending else f"grid trial ({shown})"
                raise ConfigError(exc.field, f"{lead} is out of range: {exc}" + (f" [trial: {shown}]" if offending and len(point) > 1 else "")) from None
            key = trial_key(cfg, eval_settings)
            if key in seen:
                continue
            seen.add(key)
            trials.append({"trial_id": key, "point": point, "config": cfg})
        return trials

    def __len__(self) -> int:
        return len(self._trials)

    @property
    def trials(self) -> List[Dict]:
        """[{"trial_id", "point" (dotted -> value), "config" (RunConfig)}] in run order."""
        return list(self._trials)

    def _payload(self, trial: Dict, threads: int) -> Dict:
        return {
            "config": trial["config"].to_dict(),
            "eval_lengths": self.eval_lengths,
            "samples": self.samples,
            "eval_seed": self.eval_seed,
            "threads": threads,
        }

    def _row(self, trial: Dict, result: Dict) -> Dict:
        row: Dict[str, Any] = {"trial_id": trial["trial_id"]}
        for dotted, value in trial["point"].items():
            row[self.columns[dotted]] = value
        for name in ("converged", "seconds", "train_seconds", "sequences", "steps", "bits_per_seq", "nonfinite_steps", "reason"):
            row[name] = result.get(name)
        for length in self.eval_lengths:
            row[f"gen_{length}_mean"] = result.get(f"gen_{length}_mean")
            row[f"gen_{length}_max"] = result.get(f"gen_{length}_max")
        row["error"] = result.get("error")
        row["wall_seconds"] = result.get("wall_seconds")
        row["config"] = json.dumps(trial["config"].to_dict(), sort_keys=True)
        return row

    # ------------------------------------------------------------------ run
    def run(
        self,
        backend: str = "local",
        workers: Optional[int] = None,
        ray_address: Optional[str] = None,
        results_path=None,
        progress: Union[bool, Callable[[Dict], None]] = True,
        threads: int = 1,
        retry_errors: bool = True,
    ):
        """Run the trials not yet in ``results_path``; returns the DataFrame of this sweep.

        ``progress``: True for a tqdm bar on stderr, False for none, or a callable
        that gets ``{"done", "total", "row", "best"}`` after each trial (an exception
        it raises stops the sweep; finished trials stay saved).
        """
        import pandas as pd

        if backend not in BACKENDS:
            raise ConfigError("backend", f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ConfigError("threads", f"threads must be an integer >= 1 (torch threads per trial), got {threads!r}")
        if not (isinstance(progress, bool) or callable(progress)):
            raise TypeError(f"progress must be True, False or a callable, got {type(progress).__name__}")
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ConfigError("workers", f"workers must be an integer >= 1 (or None for one per core), got {workers!r}")
        if backend == "ray":
            ray = _import_ray()  # fail before any file is touched
        previous = pd.DataFrame()
        if results_path is not None:
            _results_format(results_path)
            # Found now, not when the first trial's row is saved minutes later.
            problem = output_problem(results_path)
            if problem is not None:
                raise ConfigError("results_path", f"results_path {results_path} cannot be written: {problem}")
            if Path(results_path).exists():
                try:
                    previous = load_results(results_path)
                except ConfigError as exc:
                    raise ConfigError("results_path", f"results_path {exc}") from None
        done: Dict[str, Dict] = {}
        if len(previous) and "trial_id" in previous.columns:
            for record in previous.to_dict("records"):
                if retry_errors and isinstance(record.get("error"), str):
                    continue
                done[str(record["trial_id"])] = record
        todo = [t for t in self._trials if t["trial_id"] not in done]
        ids = {t["trial_id"] for t in self._trials}
        # Rows this sweep already has; rows of other sweeps in the same file are kept.
        todo_ids = {t["trial_id"] for t in todo}
        by_id = {t["trial_id"]: t for t in self._trials}
        rows: List[Dict] = []
        for record in previous.to_dict("records") if len(previous) else []:
            key = str(record.get("trial_id"))
            if key in todo_ids:
                continue  # a failed trial about to be retried
            if key in by_id:
                # A trial done by an earlier sweep with other axes: fill in this sweep's axis columns.
                for dotted, value in by_id[key]["point"].items():
                    record[self.columns[dotted]] = value
            rows.append(record)
        if todo and not (backend == "ray" and ray_address is not None):  # a cluster's nodes have their own memory
            problem = self.eval_memory_problem([t["config"] for t in todo])
            if problem is not None:
                raise ConfigError("eval_lengths", f"eval_lengths {problem}")
        total = len(self._trials)
        axes = list(self.columns.values())
        self.ran = 0  # trials trained in this call (a resume skips the rest)

        bar = None
        callback = progress if callable(progress) else None
        if progress is True:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, initial=total - len(todo), desc="sweep", unit="trial", file=sys.stderr, dynamic_ncols=True)

        def finished(trial: Dict, result: Dict) -> None:
            row = self._row(trial, result)
            rows.append(row)
            self.ran += 1
            if results_path is not None:
                save_results(order_columns(_clean_frame(pd.DataFrame(rows)), axes), results_path)
            mine = [r for r in rows if str(r.get("trial_id")) in ids]
            best = best_row(mine)
            if bar is not None:
                bar.update(1)
                if best is not None:
                    bar.set_postfix_str(_describe_best(best, self.columns.values()), refresh=True)
            if callback is not None:
                callback({"done": total - len(todo) + self.ran, "total": total, "row": row, "best": best})

        try:
            if todo:
                nworkers = workers or os.cpu_count() or 1
                if backend == "serial":
                    for trial in todo:
                        finished(trial, run_trial(self._payload(trial, threads)))
                elif backend == "local":
                    self._run_local(todo, min(nworkers, len(todo)), threads, finished)
                else:
                    self._run_ray(ray, todo, workers, ray_address, threads, finished)
        finally:
            if bar is not None:
                bar.close()
        if results_path is not None and rows and not self.ran:
            # Nothing new, but reused rows may have gained this sweep's axis columns.
            save_results(order_columns(_clean_frame(pd.DataFrame(rows)), axes), results_path)
        df = order_columns(_clean_frame(pd.DataFrame([r for r in rows if str(r.get("trial_id")) in ids])), axes)
        order = {t["trial_id"]: i for i, t in enumerate(self._trials)}
        if len(df):
            df = df.sort_values("trial_id", key=lambda s: s.map(order)).reset_index(drop=True)
        return df

    def eval_memory_problem(self, configs: Optional[Sequence[RunConfig]] = None, available: Optional[int] = None) -> Optional[str]:
        """Why the longest eval length cannot be evaluated in memory, or None.

        Every trial evaluates in one process (``eval_bytes``); it is compared with the
        memory available now (``available_memory``; no check when that is unknown).
        Trials running side by side share that memory, so passing this check does not
        promise that they all fit at once: it catches lengths that can never fit.
        """
        if not self.eval_lengths:
            return None
        from . import limits

        have = limits.available_memory() if available is None else available
        if have is None:
            return None
        configs = [t["config"] for t in self._trials] if configs is None else list(configs)
        longest = max(self.eval_lengths)
        worst = max(configs, key=lambda cfg: limits.eval_bytes(cfg, longest, self.samples), default=None)
        if worst is None or limits.eval_bytes(worst, longest, self.samples) <= have:
            return None
        need = limits.eval_bytes(worst, longest, self.samples)
        allowed = min(limits.largest_fitting(lambda n: limits.eval_bytes(cfg, n, self.samples) <= have) for cfg in configs)
        batch = min(self.samples, limits.EVAL_BATCH)
        steps = limits.steps_for(worst.task, longest)
        return (f"{longest} cannot be evaluated in memory: {batch} sequences of {steps:,} steps at once "
                f"need about {limits.bytes_text(need)}, and {limits.bytes_text(have)} is available; the largest length allowed is {allowed}")

    def _run_local(self, todo, nworkers, threads, finished) -> None:
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        ctx = multiprocessing.get_context(pool_start_method())
        if ctx.get_start_method() == "forkserver":
            # The server imports torch and the trainer once (it runs no torch op, so
            # no thread pool exists yet); each worker forks from it, ready to train.
            ctx.set_forkserver_preload(["ntm_widgets.training"])
        pool = ProcessPoolExecutor(max_workers=nworkers, mp_context=ctx, initializer=_worker_init, initargs=(threads, os.getpid()))
        futures = {}
        try:
            for trial in todo:
                futures[pool.submit(run_trial, self._payload(trial, threads))] = trial
            pending = set(futures)
            while pending:
                ready, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in ready:
                    try:
                        result = fut.result()
                    except Exception as exc:  # the worker died (e.g. out of memory)
                        result = {"error": f"{type(exc).__name__}: {exc}"}
                    finished(futures[fut], result)
        except BaseException:
            procs = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()  # running trials are lost anyway; do not wait for them
            raise
        # Every result is in; the workers exit by themselves (joining them costs
        # about a second of torch teardown for nothing).
        pool.shutdown(wait=False)

    def _run_ray(self, ray, todo, workers, ray_address, threads, finished) -> None:
        started = start_ray(ray_address, num_cpus=workers) if not ray.is_initialized() else False
        try:
            remote = ray.remote(num_cpus=1, max_retries=0)(run_trial)
            refs = {remote.remote(self._payload(trial, threads)): trial for trial in todo}
            pending = list(refs)
            try:
                while pending:
                    ready, pending = ray.wait(pending, num_returns=1)
                    for ref in ready:
                        try:
                            result = ray.get(ref)
                        except Exception as exc:  # the task or its worker died
                            result = {"error": f"{type(exc).__name__}: {exc}"}
                        finished(refs[ref], result)
            except BaseException:
                for ref in pending:
                    ray.cancel(ref, force=True)
                raise
        finally:
            if started:
                ray.shutdown()


def run_sweep(
    grid: Mapping[str, Sequence],
    base: Union[RunConfig, Mapping, None] = None,
    steps: Optional[int] = None,
    time_limit: Optional[float] = None,
    target_bits: Optional[float] = None,
    eval_lengths: Iterable[int] = (),
    samples: int = 100,
    backend: str = "local",
    workers: Optional[int] = None,
    ray_address: Optional[str] = None,
    results_path=None,
    progress: Union[bool, Callable[[Dict], None]] = True,
    n_samples: Optional[int] = None,
    random_seed: int = 0,
    eval_seed: int = 0,
    threads: int = 1,
):
    """Build a ``Sweep`` and run it; returns a pandas DataFrame, one row per trial."""
    sweep = Sweep(grid, base, steps=steps, time_limit=time_limit, target_bits=target_bits, eval_lengths=eval_lengths, samples=samples, eval_seed=eval_seed, n_samples=n_samples, random_seed=random_seed)
    return sweep.run(backend=backend, workers=workers, ray_address=ray_address, results_path=results_path, progress=progress, threads=threads)


def best_row(rows: Sequence[Mapping]) -> Optional[Dict]:
    """The best finished trial: converged first, then lowest bits per sequence, then fastest."""
    ok = [r for r in rows if not isinstance(r.get("error"), str) and _finite(r.get("bits_per_seq"))]
    if not ok:
        return None
    return dict(min(ok, key=lambda r: (not bool(r.get("converged")), float(r["bits_per_seq"]), float(r.get("seconds") or 0.0))))


def _finite(value) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _describe_best(row: Mapping, columns: Iterable[str]) -> str:
    where = " ".join(f"{c}={row.get(c)}" for c in columns)
    return f"best {row['bits_per_seq']:.3g} bits/seq {row.get('seconds', 0):.1f}s {where}".strip()


# ----------------------------------------------------------------- Ray
def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise ImportError(RAY_INSTALL_HINT) from exc
    return ray


def start_ray(address: Optional[str] = None, num_cpus: Optional[int] = None) -> bool:
    """Connect to ``address`` or start a quiet local Ray; True if this call started it.

    On a cluster every node's Python needs ntm-widgets (and torch) installed, since
    trials run ``ntm_widgets.sweep.run_trial``; or call ``ray.init`` yourself with a
    ``runtime_env`` that provides it, before the sweep.

    A local Ray gets no dashboard, no usage reporting (there may be no network) and
    no worker logs forwarded to the notebook, which keeps start-up shorter and output
    clean. Call it (or ``ray.init``) yourself to keep one Ray across several sweeps.
    """
    import logging

    ray = _import_ray()
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address is not None:
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    return True


# ----------------------------------------------------------------- command line
def add_sweep_arguments(parser) -> None:
    """Options of ``ntm-widgets sweep`` (the CLI calls ``run_sweep_command(args)``)."""
    parser.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2", help="an axis of the grid, e.g. memory_size=16,32 or model.word_size=8,20 (repeat for more axes)")
    parser.add_argument("--set", action="append", default=[], dest="set_", metavar="FIELD=VALUE", help="a fixed config value for every trial, e.g. controller_size=50")
    parser.add_argument("--task", default=None, help="the task (copy, repeat_copy, associative_recall, priority_sort); default copy")
    parser.add_argument("--seeds", type=int, default=None, metavar="K", help="add a seed axis of K seeds: S..S+K-1, S the base seed (default 0)")
    parser.add_argument("--steps", type=int, default=None, help="training steps per trial")
    parser.add_argument("--time-limit", type=float, default=None, metavar="SECONDS", help="time limit per trial")
    parser.add_argument("--target-bits", type=float, default=None, metavar="X", help="stop a trial once validation bits/seq < X")
    parser.add_argument("--eval-lengths", default="", metavar="L1,L2", help="generalisation lengths evaluated after training, e.g. 20,40")
    parser.add_argument("--samples", type=int, default=100, help="sequences per evaluation length (default 100)")
    parser.add_argument("--random", type=int, default=None, metavar="N", help="random search: N distinct points of the grid")
    parser.add_argument("--random-seed", type=int, default=0, help="seed of the random search")
    parser.add_argument("--backend", default="local", help="local (process pool), ray, or serial (default local)")
    parser.add_argument("--workers", type=int, default=None, help="parallel trials (default: one per core)")
    parser.add_argument("--ray-address", default=None, help="address of a running Ray cluster (default: start a local one)")
    parser.add_argument("--out", default=None, metavar="RESULTS", help="results file (.csv or .json); re-running skips trials already in it")
    parser.add_argument("--plot", default=None, metavar="PNG", help="save heatmaps of the first two grid axes to this PNG")
    if "--json" not in getattr(parser, "_option_string_actions", {}):
        parser.add_argument("--json", action="store_true", help="no progress bar; print one JSON object")


def _split_assignment(text: str, flag: str) -> Tuple[str, str]:
    if "=" not in text:
        raise ConfigError(flag.lstrip("-"), f"{flag} expects FIELD=VALUE, got {text!r}")
    name, value = text.split("=", 1)
    return name.strip(), value


def _flag_error(flag: str, exc: Exception) -> ConfigError:
    field = getattr(exc, "field", flag.lstrip("-"))
    return ConfigError(field, f"{flag}: {exc}")


def sweep_from_args(args) -> Sweep:
    """The Sweep the parsed arguments describe; errors name the flag."""
    base: Dict[str, Dict] = {"model": {}, "task": {}, "train": {}}
    if args.task is not None:
        base["task"]["name"] = args.task
    for text in args.set_:
        name, value = _split_assignment(text, "--set")
        try:
            dotted = resolve_field(name)
            section, field = dotted.split(".", 1)
            base[section][field] = parse_value(dotted, value, "--set")
        except ConfigError as exc:
            raise _flag_error("--set", exc) from None
    grid: Dict[str, List] = {}
    for text in args.grid:
        name, values = _split_assignment(text, "--grid")
        try:
            dotted = resolve_field(name)
        except ConfigError as exc:
            raise _flag_error("--grid", exc) from None
        if dotted in grid:
            raise ConfigError(name, f"--grid: {name} given twice")
        parts = [v for v in values.split(",")]
        if not values.strip() or any(not p.strip() for p in parts):
            raise ConfigError(name, f"--grid {name}: give a comma-separated list of values, got {values!r}")
        grid[dotted] = [parse_value(dotted, p, "--grid") for p in parts]
    if args.seeds is not None:
        if args.seeds < 1:
            raise ConfigError("seeds", f"--seeds must be an integer >= 1, got {args.seeds}")
        if "train.seed" in grid:
            raise ConfigError("seeds", "--seeds and --grid seed=... both set the seeds; use one")
        first = int(base["train"].get("seed", 0))
        grid["train.seed"] = list(range(first, first + args.seeds))
    if not grid:
        raise ConfigError("grid", "--grid: give at least one axis, e.g. --grid memory_size=16,32")
    try:
        lengths = [int(v) for v in args.eval_lengths.split(",") if v.strip()] if args.eval_lengths else []
    except ValueError:
        raise ConfigError("eval_lengths", f"--eval-lengths must be comma-separated integers >= 1, got {args.eval_lengths!r}") from None
    if args.backend not in BACKENDS:
        raise ConfigError("backend", f"--backend must be one of {', '.join(BACKENDS)}, got {args.backend!r}")
    if args.workers is not None and args.workers < 1:
        raise ConfigError("workers", f"--workers must be an integer >= 1, got {args.workers}")
    if args.out is not None and Path(args.out).suffix.lower() not in (".csv", ".json"):
        raise ConfigError("out", f"--out must end in .csv or .json, got {args.out!r}")
    if args.plot is not None and len(grid) < 2:
        raise ConfigError("plot", "--plot needs at least two grid axes (x and y)")
    flags = {"steps": "--steps", "time_limit": "--time-limit", "target_bits": "--target-bits", "samples": "--samples", "n_samples": "--random", "eval_lengths": "--eval-lengths"}
    try:
        base_cfg = RunConfig.from_dict(base)
        return Sweep(grid, base_cfg, steps=args.steps, time_limit=args.time_limit, target_bits=args.target_bits, eval_lengths=lengths, samples=args.samples, n_samples=args.random, random_seed=args.random_seed)
    except ConfigError as exc:
        flag = "--grid" if str(exc).startswith("grid") else flags.get(exc.field)
        if flag is None:
            dotted = known_fields().get(exc.field, exc.field)
            flag = "--grid" if dotted in grid else "--set"
        raise ConfigError(exc.field, f"{flag}: {exc}") from None


class SweepTerminated(BaseException):
    """SIGTERM arrived during ``ntm-widgets sweep``.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` (a trial's
    error handling) swallows it, while every backend's cleanup stops its workers.
    """


def _raise_terminated(signum, frame) -> None:
    # A second SIGTERM during the cleanup ends the process at once; the workers then
    # notice that the sweep is gone by themselves.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise SweepTerminated()


# Library names of the things a sweep checks before training -> the flags that set them.
_CLI_NAMES = {"results_path": "--out", "eval_lengths": "--eval-lengths"}


def _check_plot_path(path) -> None:
    """--plot must be writable and in a format matplotlib knows, before any trial."""
    problem = output_problem(path)
    if problem is not None:
        raise ConfigError("plot", f"--plot {path} cannot be written: {problem}")
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix:
        from matplotlib.backend_bases import FigureCanvasBase

        formats = FigureCanvasBase.get_supported_filetypes()
        if suffix not in formats:
            raise ConfigError("plot", f"--plot {path}: unknown image format {suffix!r}; use one of {', '.join(sorted(formats))}")


def run_sweep_command(args) -> Dict:
    """``ntm-widgets sweep``: run, save, optionally plot; returns the JSON summary dict.

    Every output and the evaluation's memory are checked before the first trial.
    SIGTERM stops the sweep like Ctrl-C (workers stopped, finished trials kept) and
    exits with status 143.
    """
    sweep = sweep_from_args(args)
    if args.backend == "ray":
        try:
            _import_ray()
        except ImportError as exc:  # a one-line message and exit code 2, not a traceback
            raise ConfigError("backend", f"--backend ray: {exc}") from None
    if args.plot is not None:
        _check_plot_path(args.plot)
    quiet = bool(getattr(args, "json", False))
    start = time.perf_counter()
    # Signal handlers can only be set from the main thread; elsewhere (a notebook's
    # worker thread) SIGTERM keeps its usual effect.
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if in_main else None
    if in_main:
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        df = sweep.run(backend=args.backend, workers=args.workers, ray_address=args.ray_address, results_path=args.out, progress=not quiet)
    except ConfigError as exc:
        # The checks before training use the library's names; say the flags instead.
        text = str(exc)
        first = text.split(" ", 1)[0]
        if first in _CLI_NAMES:
            raise ConfigError(exc.field, _CLI_NAMES[first] + text[len(first):]) from None
        raise
    except SweepTerminated:
        saved = f"; finished trials are saved in {args.out}" if args.out else ""
        print(f"ntm-widgets sweep: terminated (SIGTERM){saved}", file=sys.stderr)
        raise SystemExit(143) from None
    finally:
        if in_main:
            # None: a handler set outside Python, which cannot be put back; use the default.
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
    wall = time.perf_counter() - start
    columns = list(sweep.columns.values())
    summary: Dict[str, Any] = {
        "trials": len(sweep),
        "ran": sweep.ran,
        "skipped": len(sweep) - sweep.ran,
        "errors": int(df["error"].notna().sum()) if "error" in df.columns else 0,
        "converged": int(df["converged"].fillna(False).astype(bool).sum()) if "converged" in df.columns else 0,
        "seconds": wall,
        "backend": args.backend,
        "axes": columns,
        "out": str(args.out) if args.out else None,
    }
    best = best_row(df.to_dict("records"))
    summary["best"] = None if best is None else {k: _json_value(best.get(k)) for k in ["trial_id", *columns, "converged", "seconds", "bits_per_seq"]}
    keep = ["trial_id", *columns, "converged", "seconds", "sequences", "steps", "bits_per_seq", *[c for c in df.columns if c.startswith("gen_")], "error"]
    summary["results"] = [{k: _json_value(r.get(k)) for k in keep if k in r} for r in df.to_dict("records")]
    if args.plot is not None:
        from .plotting.sweep import save_heatmaps

        x, y = columns[0], columns[1]
        save_heatmaps(df, args.plot, x=x, y=y)
        summary["plot"] = str(args.plot)
    if not quiet:
        best_text = "no finished trial" if best is None else _describe_best(best, columns)
        print(f"{summary['trials']} trials ({summary['ran']} run, {summary['skipped']} already done, {summary['errors']} failed) in {wall:.1f}s; {best_text}", file=sys.stderr)
    return summary


def _json_value(value):
    """A JSON-ready scalar: numpy scalars unwrapped, NaN / inf / missing as None."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is not None and not isinstance(value, (str, bool, int, float)):
        try:
            import pandas as pd

            if pd.isna(value):
                return None
        except (TypeError, ValueError):
            pass
    return value


__all__ = ["Sweep", "run_sweep", "run_trial", "save_results", "load_results", "order_columns", "trial_key", "known_fields", "resolve_field", "best_row", "start_ray", "add_sweep_arguments", "run_sweep_command", "sweep_from_args", "BACKENDS"]
