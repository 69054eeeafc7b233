"""The Sweep: a grid (or a random sample of one) of trials, run on a backend, saved as a table."""

from __future__ import annotations

import itertools
import json
import os
import random
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from ..config import ConfigError, RunConfig
from . import backends
from .backends import BACKENDS
from .fields import _as_run_config, _normalise_value, _with_values, known_fields, resolve_field, trial_key
from .results import (
    RESULT_COLUMNS,
    RESULT_FIELDS,
    _clean_frame,
    _describe_best,
    _results_format,
    best_row,
    load_results,
    order_columns,
    output_problem,
    save_results,
)

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
        budget = {
            k: v
            for k, v in (("train.steps", steps), ("train.time_limit", time_limit), ("train.target_bits", target_bits))
            if v is not None
        }
        if budget:
            # Budget values are config values: the config classes check their ranges.
            self.base = _with_values(self.base, {k: _normalise_value(k, v) for k, v in budget.items()})
        self.axes: Dict[str, List] = {}
        self.columns: Dict[str, str] = {}  # dotted -> column name in the results
        for name, values in grid.items():
            dotted = resolve_field(name)
            if dotted in self.axes:
                raise ConfigError(dotted.split(".", 1)[1], f"grid names {dotted} twice")
            if (
                isinstance(values, (str, bytes, Mapping, set, frozenset))
                or not isinstance(values, (list, tuple, range))
                and not hasattr(values, "tolist")
            ):
                raise ConfigError(
                    dotted.split(".", 1)[1],
                    f"grid axis {name!r} must be a list of values, got {type(values).__name__} {values!r}",
                )
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
                raise ConfigError(
                    "steps", "a sweep needs a budget per trial: steps or time_limit (target_bits alone may never be reached)"
                )
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
        eval_settings = (
            {"lengths": self.eval_lengths, "samples": self.samples, "seed": self.eval_seed} if self.eval_lengths else {}
        )
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
                raise ConfigError(
                    exc.field, f"{lead} is out of range: {exc}" + (f" [trial: {shown}]" if offending and len(point) > 1 else "")
                ) from None
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

    def _payload(self, trial: Dict, threads: int, runs_dir: Optional[Path] = None) -> Dict:
        return {
            "config": trial["config"].to_dict(),
            "eval_lengths": self.eval_lengths,
            "samples": self.samples,
            "eval_seed": self.eval_seed,
            "threads": threads,
            "run_dir": None if runs_dir is None else str(runs_dir / trial["trial_id"]),
        }

    def _row(self, trial: Dict, result: Dict) -> Dict:
        row: Dict[str, Any] = {"trial_id": trial["trial_id"]}
        for dotted, value in trial["point"].items():
            row[self.columns[dotted]] = value
        for name in RESULT_FIELDS:
            row[name] = result.get(name)
        for length in self.eval_lengths:
            row[f"gen_{length}_mean"] = result.get(f"gen_{length}_mean")
            row[f"gen_{length}_max"] = result.get(f"gen_{length}_max")
        row["error"] = result.get("error")
        row["wall_seconds"] = result.get("wall_seconds")
        row["run_dir"] = result.get("run_dir")
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
        runs_dir=None,
        storage=None,
        scheduler=None,
        grace_steps: Optional[int] = None,
        ray_token_file=None,
    ):
        """Run the trials not yet in ``results_path``; returns the DataFrame of this sweep.

        ``progress``: True for a tqdm bar on stderr, False for none, or a callable
        that gets ``{"done", "total", "row", "best"}`` after each trial (an exception
        it raises stops the sweep; finished trials stay saved).

        Run folders: each trial's (config, checkpoint, history, as ``ntm-widgets train
        --out`` writes them) goes to ``runs_dir/TRIAL_ID``, by default the folder
        ``STEM_runs`` beside ``results_path`` (none without either); its path is the
        row's ``run_dir``. The Ray backend (Ray Tune) keeps every trial's checkpoints
        in ``storage`` (a folder or a URI Tune accepts; default ``runs_dir/tune``, or
        Tune's ``~/ray_results`` without a ``runs_dir``) and copies the last one to
        ``runs_dir`` on this machine as each trial ends, wherever it ran.
        ``scheduler``: "asha" stops poor trials early on the Ray backend (their
        ``reason`` is "early_stopped"; a later sweep without a scheduler runs them
        again in full); ``grace_steps`` its first rung (default 1,000 steps).
        ``ray_token_file``: the cluster's authentication token, when ``ray_address``
        needs one that Ray would not find by itself.
        """
        import pandas as pd

        _check_run_arguments(backend, threads, progress, workers)
        if backend == "ray":
            ray = backends.import_ray()  # fail before any file is touched
        from . import tune as tune_backend

        tune_backend.check_scheduler(scheduler)
        if scheduler not in (None, "none") and backend != "ray":
            raise ConfigError(
                "scheduler", f"scheduler {scheduler!r} needs backend='ray' (Ray Tune stops the trials), got {backend!r}"
            )
        if grace_steps is not None and (isinstance(grace_steps, bool) or not isinstance(grace_steps, int) or grace_steps < 1):
            raise ConfigError("grace_steps", f"grace_steps must be an integer >= 1, got {grace_steps!r}")
        if runs_dir is None and results_path is not None:
            runs_dir = Path(results_path).with_name(Path(results_path).stem + "_runs")
        runs_dir = None if runs_dir is None else Path(runs_dir).expanduser().resolve()
        previous = _previous_results(results_path)
        if runs_dir is not None:
            problem = _folder_problem(runs_dir)
            if problem is not None:
                raise ConfigError("runs_dir", f"runs_dir {runs_dir} cannot be written: {problem}")
        todo, rows = self._plan(previous, retry_errors, rerun_early_stopped=scheduler in (None, "none"))
        ids = {t["trial_id"] for t in self._trials}
        if todo and not (backend == "ray" and ray_address is not None):  # a cluster's nodes have their own memory
            problem = self.eval_memory_problem([t["config"] for t in todo])
            if problem is not None:
                raise ConfigError("eval_lengths", f"eval_lengths {problem}")
        total = len(self._trials)
        axes = list(self.columns.values())
        self.ran = 0  # trials trained in this call (a resume skips the rest)

        started = False
        if backend == "ray" and todo:
            # Connect before anything is shown: a wrong address or token fails within seconds.
            started = backends.start_ray(ray_address, num_cpus=workers, token_file=ray_token_file)
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
                jobs = [(trial, self._payload(trial, threads, runs_dir)) for trial in todo]
                nworkers = workers or os.cpu_count() or 1
                if backend == "serial":
                    for trial, payload in jobs:
                        finished(trial, backends.run_trial(payload))
                elif backend == "local":
                    backends.run_local(jobs, min(nworkers, len(todo)), threads, finished)
                else:
                    self._run_tune(ray, jobs, finished, workers, results_path, runs_dir, storage, scheduler, grace_steps)
        finally:
            if bar is not None:
                bar.close()
            if started:
                # Also what stops Tune's trials when the sweep is interrupted: their
                # last checkpoints stay in the storage for the next run to resume.
                ray.shutdown()
        if results_path is not None and rows and not self.ran:
            # Nothing new, but reused rows may have gained this sweep's axis columns.
            save_results(order_columns(_clean_frame(pd.DataFrame(rows)), axes), results_path)
        df = order_columns(_clean_frame(pd.DataFrame([r for r in rows if str(r.get("trial_id")) in ids])), axes)
        order = {t["trial_id"]: i for i, t in enumerate(self._trials)}
        if len(df):
            df = df.sort_values("trial_id", key=lambda s: s.map(order)).reset_index(drop=True)
        return df

    def _run_tune(self, ray, jobs, finished, workers, results_path, runs_dir, storage, scheduler, grace_steps) -> None:
        """The jobs as Ray Tune trials, on the Ray this process is connected to."""
        from . import tune as tune_backend

        if storage is None:
            storage = runs_dir / "tune" if runs_dir is not None else Path("~/ray_results").expanduser()
        stem = Path(results_path).stem if results_path is not None else "sweep"
        # One experiment per sweep: its name follows every trial of the sweep, so an
        # interrupted sweep finds it again, whatever was finished before.
        name = tune_backend.experiment_name(stem, [t["trial_id"] for t in self._trials])
        budgets = [t["config"].train.steps for t, _p in jobs]
        tune_backend.run_tune(
            ray,
            jobs,
            finished,
            workers=workers,
            storage=tune_backend.storage_uri(storage),
            name=name,
            scheduler=scheduler,
            max_steps=None if any(b is None for b in budgets) else max(budgets),
            grace_steps=grace_steps,
            runs_dir=runs_dir,
            manifest=None if runs_dir is None else runs_dir / tune_backend.MANIFEST,
        )

    def _plan(self, previous, retry_errors: bool, rerun_early_stopped: bool = True):
        """(trials still to run, rows to keep): a resume skips finished trials, retries
        failed ones (``retry_errors``), runs trials a scheduler stopped early again in
        full when no scheduler is asked for, and keeps rows of other sweeps sharing the file."""
        records = previous.to_dict("records") if len(previous) and "trial_id" in previous.columns else []

        def redo(r) -> bool:
            return (retry_errors and isinstance(r.get("error"), str)) or (
                rerun_early_stopped and r.get("reason") == "early_stopped"
            )

        done = {str(r["trial_id"]) for r in records if not redo(r)}
        todo = [t for t in self._trials if t["trial_id"] not in done]
        todo_ids = {t["trial_id"] for t in todo}
        by_id = {t["trial_id"]: t for t in self._trials}
        rows: List[Dict] = []
        for record in records:
            key = str(record.get("trial_id"))
            if key in todo_ids:
                continue  # a failed trial about to be retried
            if key in by_id:
                # A trial done by an earlier sweep with other axes: fill in this sweep's axis columns.
                for dotted, value in by_id[key]["point"].items():
                    record[self.columns[dotted]] = value
            rows.append(record)
        return todo, rows

    def eval_memory_problem(
        self, configs: Optional[Sequence[RunConfig]] = None, available: Optional[int] = None
    ) -> Optional[str]:
        """Why the longest eval length cannot be evaluated in memory, or None.

        Every trial evaluates in one process (``eval_bytes``); it is compared with the
        memory available now (``available_memory``; no check when that is unknown).
        Trials running side by side share that memory, so passing this check does not
        promise that they all fit at once: it catches lengths that can never fit.
        """
        if not self.eval_lengths:
            return None
        from .. import limits

        have = limits.available_memory() if available is None else available
        if have is None:
            return None
        configs = [t["config"] for t in self._trials] if configs is None else list(configs)
        longest = max(self.eval_lengths)
        worst = max(configs, key=lambda cfg: limits.eval_bytes(cfg, longest, self.samples), default=None)
        if worst is None or limits.eval_bytes(worst, longest, self.samples) <= have:
            return None
        need = limits.eval_bytes(worst, longest, self.samples)
        allowed = min(
            limits.largest_fitting(lambda n, cfg=cfg: limits.eval_bytes(cfg, n, self.samples) <= have) for cfg in configs
        )
        batch = min(self.samples, limits.EVAL_BATCH)
        steps = limits.steps_for(worst.task, longest)
        return (
            f"{longest} cannot be evaluated in memory: {batch} sequences of {steps:,} steps at once "
            f"need about {limits.bytes_text(need)}, and {limits.bytes_text(have)} is available; the largest length allowed is {allowed}"
        )


def _check_run_arguments(backend, threads, progress, workers) -> None:
    if backend not in BACKENDS:
        raise ConfigError("backend", f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError("threads", f"threads must be an integer >= 1 (torch threads per trial), got {threads!r}")
    if not (isinstance(progress, bool) or callable(progress)):
        raise TypeError(f"progress must be True, False or a callable, got {type(progress).__name__}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError("workers", f"workers must be an integer >= 1 (or None for one per core), got {workers!r}")


def _folder_problem(folder: Path) -> Optional[str]:
    """Why run folders could not be made in ``folder``, or None; creates nothing (a
    sweep refused for another reason leaves no empty folder behind)."""
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def _previous_results(results_path):
    """The table already in ``results_path`` (empty if none); checked writable first,
    so a bad path is found now, not when the first trial's row is saved minutes later."""
    import pandas as pd

    if results_path is None:
        return pd.DataFrame()
    _results_format(results_path)
    problem = output_problem(results_path)
    if problem is not None:
        raise ConfigError("results_path", f"results_path {results_path} cannot be written: {problem}")
    if not Path(results_path).exists():
        return pd.DataFrame()
    try:
        return load_results(results_path)
    except ConfigError as exc:
        raise ConfigError("results_path", f"results_path {exc}") from None
