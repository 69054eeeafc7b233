"""The Ray backend: each trial a Ray Tune trial, with early stopping and run folders in Tune's storage.

A trial is a function trainable around ``run_trial``: it reports the validation
bits per sequence (``bits_per_seq``, the metric schedulers see) and the loss at each
validation, each report with the trial's run folder as a Tune checkpoint, and a last
report with the whole result row. Tune keeps the checkpoints in its storage (a
local folder, or any path or URI Tune accepts: ``s3://``, ``gs://``, a shared mount),
restarts a trial whose node died from its last checkpoint (``max_failures``), stops
poor trials early when asked (``scheduler="asha"``) and, after the sweep's own process
died, resumes the experiment (``Tuner.restore``).

Results travel to the sweep's process as trials end: a Tune callback (which runs
where Tune's driver runs: on the head node when the sweep connects through
``ray://``) puts each finished trial's last result and run folder into a small actor,
which the sweep's process empties, so the results file grows trial by trial and
every row's ``run_dir`` is a folder on the sweep's machine, wherever the trial ran.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from ..config import ConfigError
from ..files import atomic_write

SCHEDULERS = ("none", "asha")
# ASHA's defaults for NTM training. A copy model either finds its memory pointer or
# stalls: the seeds that learn need ~700-1,000 steps (benchmarks/NOTES.md), and the
# recipe restarts an attempt stuck after 1,200 steps; stopping trials before that
# would judge them on the plateau every run starts on. So the first rung comes at
# 1,000 steps, and a third of the trials go on at each rung.
ASHA_GRACE_STEPS = 1000
ASHA_REDUCTION = 3
METRIC = "bits_per_seq"
# A trial whose node dies is started again (from its last checkpoint) this many times.
MAX_FAILURES = 3
POLL_SECONDS = 0.5
MANIFEST = "tune-experiment.json"


# --------------------------------------------------------------------- choices
def check_scheduler(scheduler) -> None:
    if scheduler is None or (isinstance(scheduler, str) and scheduler in SCHEDULERS):
        return
    if isinstance(scheduler, str):
        raise ConfigError(
            "scheduler", f"scheduler must be one of {', '.join(SCHEDULERS)} (or a Ray Tune scheduler), got {scheduler!r}"
        )
    if not hasattr(scheduler, "on_trial_result"):
        raise ConfigError(
            "scheduler",
            f"scheduler must be one of {', '.join(SCHEDULERS)} or a Ray Tune scheduler, got {type(scheduler).__name__}",
        )


def make_scheduler(scheduler, max_steps: Optional[int], grace_steps: Optional[int] = None):
    """The Tune scheduler for ``scheduler`` ("none", "asha" or a scheduler object)."""
    if scheduler is None or scheduler == "none":
        return None
    if not isinstance(scheduler, str):
        return scheduler
    from ray.tune.schedulers import ASHAScheduler

    grace = ASHA_GRACE_STEPS if grace_steps is None else int(grace_steps)
    max_t = max_steps if max_steps is not None else 10**9  # a time-limited sweep: rungs by steps all the same
    return ASHAScheduler(
        time_attr="steps",
        metric=METRIC,
        mode="min",
        max_t=max(max_t, grace),
        grace_period=min(grace, max(max_t, 1)),
        reduction_factor=ASHA_REDUCTION,
        stop_last_trials=False,  # a trial ends at its own budget, after its last report
    )


def experiment_name(stem: str, ids: List[str]) -> str:
    """A stable name for a sweep's Tune experiment: its file's stem and its trials."""
    digest = hashlib.sha256(",".join(sorted(ids)).encode()).hexdigest()[:10]
    return f"{stem}-{digest}"


def storage_uri(storage) -> str:
    """Tune's storage_path: URIs as given, local paths made absolute."""
    text = str(storage)
    if "://" in text:
        return text
    return str(Path(text).expanduser().resolve())


# --------------------------------------------------------------------- on the workers
def _trainable(config: Dict, payloads: Dict[str, Dict]) -> None:
    """One Tune trial: run_trial, reporting at each validation with the run folder."""
    from ray import tune

    from .backends import run_trial

    key = config["trial_id"]
    payload = dict(payloads[key])
    with tempfile.TemporaryDirectory(prefix="ntm-widgets-trial-") as tmp:
        checkpoint = tune.get_checkpoint()
        if checkpoint is not None:  # a retry after a node died, or a restored sweep
            payload["resume_from"] = checkpoint.to_directory(os.path.join(tmp, "resume"))
        count = [0]

        def report(trainer, fields: Dict) -> None:
            count[0] += 1
            folder = os.path.join(tmp, f"report-{count[0]}")
            saved = trainer.checkpoint(folder)  # False for a non-finite model: no checkpoint
            tune.report(
                {**fields, "final": False},
                checkpoint=tune.Checkpoint.from_directory(folder) if saved else None,
            )
            shutil.rmtree(folder, ignore_errors=True)  # Tune copied it to its storage

        payload["run_dir"] = os.path.join(tmp, "final")
        result = run_trial(payload, report=report)
        run_dir = result.pop("run_dir", None)
        tune.report(
            {**result, "final": True},
            checkpoint=tune.Checkpoint.from_directory(run_dir) if run_dir else None,
        )


def _pack(checkpoint) -> Optional[Dict[str, bytes]]:
    """A checkpoint's files (a run folder: small), read from wherever Tune stored it."""
    if checkpoint is None:
        return None
    with tempfile.TemporaryDirectory(prefix="ntm-widgets-fetch-") as tmp:
        folder = Path(checkpoint.to_directory(tmp))
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _checkpoint_location(checkpoint) -> Optional[str]:
    if checkpoint is None:
        return None
    fs = getattr(checkpoint, "filesystem", None)
    kind = getattr(fs, "type_name", "local")
    return checkpoint.path if kind == "local" else f"{kind}://{checkpoint.path}"


class _Inbox:
    """Finished trials on their way to the sweep's process (a named actor)."""

    def __init__(self):
        self.items: List[Dict] = []

    def put(self, item: Dict) -> None:
        self.items.append(item)

    def take(self) -> List[Dict]:
        items, self.items = self.items, []
        return items


def _error_text(trial) -> str:
    try:
        error = trial.get_error()
    except Exception:  # older or newer Tune: the message is enough
        error = None
    text = str(error) if error is not None else "the trial failed"
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return f"ray tune: {lines[-1] if lines else text}"


def _make_forwarder(inbox_name: str):
    from ray import tune

    class Forward(tune.Callback):
        """Sends each trial that ends (finished, stopped early, failed) to the inbox.

        It holds the inbox's name, not its handle: Tune saves its callbacks with the
        experiment, and a restored experiment finds the inbox of the process resuming it.
        """

        def __init__(self, name: str):
            self.name = name

        def _send(self, trial, error: Optional[str]) -> None:
            import ray

            item = {
                "trial_id": trial.config.get("trial_id"),
                "metrics": dict(trial.last_result or {}),
                "error": error,
                "files": None,
                "location": None,
            }
            try:
                item["files"] = _pack(trial.checkpoint)
                item["location"] = _checkpoint_location(trial.checkpoint)
            except Exception as exc:  # the row still counts; say why its folder is missing
                item["fetch_error"] = f"{type(exc).__name__}: {exc}"
            ray.get(ray.get_actor(self.name).put.remote(item))

        def on_trial_complete(self, iteration, trials, trial, **info):
            self._send(trial, None)

        def on_trial_error(self, iteration, trials, trial, **info):
            self._send(trial, _error_text(trial))

    return Forward(inbox_name)


# --------------------------------------------------------------------- in the sweep's process
def _read_manifest(path: Optional[Path]) -> Optional[Dict]:
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_manifest(path: Optional[Path], data: Dict) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(data, indent=1) + "\n")


def _row_result(item: Dict, scheduled: bool) -> Dict:
    """A trial's result fields from what Tune last heard of it."""
    metrics = dict(item.get("metrics") or {})
    result = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
    if item.get("error"):
        result["error"] = item["error"]
    elif not metrics.get("final"):
        # Ended without its last report: the scheduler stopped it at a rung.
        result["reason"] = "early_stopped" if scheduled else "stopped"
        result["error"] = None if scheduled else "ray tune: the trial ended before its last report"
    return result


def run_tune(
    ray,
    jobs,
    finished: Callable[[Dict, Dict], None],
    *,
    workers: Optional[int],
    storage: str,
    name: str,
    scheduler=None,
    max_steps: Optional[int] = None,
    grace_steps: Optional[int] = None,
    runs_dir: Optional[Path] = None,
    manifest: Optional[Path] = None,
    max_failures: int = MAX_FAILURES,
) -> None:
    """Run the jobs as Tune trials in experiment ``storage/name``; ``finished(trial, result)``
    for each as it ends (``result["run_dir"]`` its run folder on this machine when
    ``runs_dir`` is given, else where Tune keeps it).

    With a ``manifest`` file, an experiment left unfinished by an earlier process (the
    same trials, or more) is resumed with ``Tuner.restore``; it is marked finished when
    every trial has ended.
    """
    from ray import tune
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # the results table is ours
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    by_id = {trial["trial_id"]: (trial, payload) for trial, payload in jobs}
    ids = list(by_id)
    path = storage.rstrip("/") + "/" + name
    inbox_name = f"ntm-widgets-inbox-{name}"
    # On this process's node (the head, through ray://), where Tune's driver runs too:
    # a node that dies takes its actors with it, and worker nodes may die mid-sweep.
    here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
    inbox = ray.remote(num_cpus=0)(_Inbox).options(name=inbox_name, get_if_exists=True, scheduling_strategy=here).remote()
    trainable = tune.with_resources(tune.with_parameters(_trainable, payloads={k: p for k, (_t, p) in by_id.items()}), {"cpu": 1})
    state = _read_manifest(manifest)
    restorable = (
        state is not None
        and not state.get("finished")
        and state.get("experiment") == path
        and set(ids) <= set(state.get("trials") or [])
        and tune.Tuner.can_restore(path)
    )
    tuner_scheduler = make_scheduler(scheduler, max_steps, grace_steps)
    if restorable:
        tuner = tune.Tuner.restore(path, trainable, resume_unfinished=True, resume_errored=True)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space={"trial_id": tune.grid_search(ids)},
            tune_config=tune.TuneConfig(scheduler=tuner_scheduler, max_concurrent_trials=workers, reuse_actors=False),
            run_config=tune.RunConfig(
                name=name,
                storage_path=storage,
                failure_config=tune.FailureConfig(max_failures=max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                callbacks=[_make_forwarder(inbox_name)],
                verbose=0,
            ),
        )
    # Whether a scheduler may stop trials early (a restored experiment keeps its own).
    scheduled = bool(state.get("scheduled")) if restorable else tuner_scheduler is not None
    if not restorable:
        _write_manifest(manifest, {"experiment": path, "trials": ids, "finished": False, "scheduled": scheduled})

    outcome: Dict[str, Any] = {}

    def fit() -> None:
        try:
            outcome["grid"] = tuner.fit()
        except BaseException as exc:  # handed to the sweep's thread
            outcome["error"] = exc

    done: set = set()

    def deliver(item: Dict) -> None:
        key = item.get("trial_id")
        if key not in by_id or key in done:
            return
        done.add(key)
        result = _row_result(item, scheduled)
        result["run_dir"] = _place_run_folder(item, runs_dir, key)
        finished(by_id[key][0], result)

    thread = threading.Thread(target=fit, name="ntm-widgets-tune", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(POLL_SECONDS)
        for item in ray.get(inbox.take.remote()):
            deliver(item)
    for item in ray.get(inbox.take.remote()):
        deliver(item)
    if "error" in outcome:
        raise outcome["error"]
    grid = outcome["grid"]
    # Trials that ended under an earlier process (before it died) reach us only here.
    missing = [r for r in grid if (r.config or {}).get("trial_id") in by_id and r.config["trial_id"] not in done]
    if missing:
        pack = ray.remote(num_cpus=0, scheduling_strategy=here)(_pack)
        for r in missing:
            files = ray.get(pack.remote(r.checkpoint)) if r.checkpoint is not None else None
            error = None if r.error is None else f"ray tune: {str(r.error).strip().splitlines()[-1]}"
            deliver(
                {
                    "trial_id": r.config["trial_id"],
                    "metrics": r.metrics or {},
                    "error": error,
                    "files": files,
                    "location": _checkpoint_location(r.checkpoint),
                }
            )
    never = [k for k in ids if k not in done]
    for key in never:  # e.g. a trial whose first report never came
        finished(by_id[key][0], {"error": "ray tune: the trial reported nothing", "run_dir": None})
    if manifest is not None:
        _write_manifest(manifest, {"experiment": path, "trials": ids, "finished": True, "scheduled": scheduled})
    try:
        ray.kill(inbox)
    except Exception:  # already gone with its job
        pass


def _place_run_folder(item: Dict, runs_dir: Optional[Path], key: str) -> Optional[str]:
    """Write the trial's run folder under ``runs_dir`` (this machine); its path, or
    where Tune keeps it when there is no ``runs_dir``."""
    files = item.get("files")
    if runs_dir is None or not files:
        return item.get("location")
    folder = Path(runs_dir) / key
    if folder.exists():
        shutil.rmtree(folder)
    for rel, data in files.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return str(folder)
