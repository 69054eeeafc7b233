"""Where trials run: in this process, a local process pool, or Ray; and one trial.

Every trial seeds itself and runs with one torch thread, so a trial gives the same
numbers on each backend.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..config import RunConfig
from .cluster import import_ray, start_ray  # noqa: F401  (the sweep package's names)
from .results import RESULT_FIELDS

# Plain Python types for the results table (the summary may hold numpy or torch scalars).
RESULT_TYPES = {
    "converged": bool,
    "seconds": float,
    "train_seconds": float,
    "sequences": int,
    "steps": int,
    "bits_per_seq": float,
    "nonfinite_steps": int,
    "reason": str,
}

BACKENDS = ("local", "ray", "serial")
# (trial, payload) pairs to run, and the callback that takes each trial's result.
Jobs = List[Tuple[Dict, Dict]]
Finished = Callable[[Dict, Dict], None]


# What a trial reports at each validation (the Ray backend hands it to Tune): the
# trainer, and the result fields as they stand then.
Report = Callable[[Any, Dict], None]


def _result_fields(values: Dict) -> Dict:
    return {name: None if values.get(name) is None else RESULT_TYPES[name](values[name]) for name in RESULT_FIELDS}


def _reporter(trainer, report: Report, start: float, prior_seconds: float, end_step: Optional[int]) -> Callable[[Dict], None]:
    """A training callback that calls ``report`` at each validation on the training lengths.

    With a target the trainer validates by itself (``val_bits_per_seq`` in its record;
    in selection the last such value stands); without one nothing else measures the
    model while it trains, so this validates every ``val_every`` steps. Those
    validations use their own seeds, not the training generator, so the trial's
    numbers stay those of a trial run without reports. Nothing is reported at the
    last step (``end_step``): the trial's whole result follows at once, and a
    scheduler judging that step must see the whole result, not stop the trial
    before it is written.
    """
    every = trainer.cfg.train.val_every
    target = trainer.cfg.train.target_bits

    def on_step(record: Dict) -> None:
        if end_step is not None and record["step"] >= end_step:
            return
        if "val_bits_per_seq" in record or "select_bits" in record:
            bits = trainer.last_val
        elif target is None and record["step"] % every == 0:
            bits = trainer.validate()
        else:
            return
        if bits is None:  # a restart just dropped the old attempt's validation
            return
        summary = trainer.summary(wall=prior_seconds + time.perf_counter() - start, reason="running")
        values = {**summary, "bits_per_seq": bits}
        report(trainer, {**_result_fields(values), "loss": record.get("loss")})

    return on_step


def run_trial(payload: Dict, report: Optional[Report] = None) -> Dict:
    """Train and evaluate one trial; returns its result fields. Runs in any backend.

    ``payload``: ``config`` (RunConfig dict), ``eval_lengths``, ``samples``,
    ``eval_seed``, ``threads``; optionally ``run_dir`` (the trial's run folder is saved
    there at the end, as ``ntm-widgets train --out`` saves one) and ``resume_from`` (a
    run folder to continue, e.g. the last checkpoint of a trial whose node died:
    training resumes exactly where it was saved). ``report(trainer, fields)`` is
    called at each validation. Exceptions become an ``error`` entry, so one bad trial
    does not end the sweep (KeyboardInterrupt still propagates).
    """
    import torch

    from ..training.trainer import Trainer

    start = time.perf_counter()
    previous_threads = torch.get_num_threads()
    result: Dict[str, Any] = {}
    try:
        # One thread: parallelism comes from running trials side by side, and one
        # thread makes a trial's numbers the same in every backend.
        torch.set_num_threads(int(payload.get("threads") or 1))
        prior = 0.0
        if payload.get("resume_from"):
            trainer = Trainer.load_run(payload["resume_from"])
            prior = trainer.seconds
        else:
            cfg = RunConfig.from_dict(payload["config"])
            if cfg.train.fused_threads is None:  # trials run side by side: one thread each
                cfg = RunConfig(
                    model=cfg.model, task=cfg.task, train=cfg.train.replace(fused_threads=int(payload.get("threads") or 1))
                )
            trainer = Trainer(cfg)
        t = trainer.cfg.train
        steps = None if t.steps is None else max(0, t.steps - trainer.step_count)
        end_step = None if steps is None else trainer.step_count + steps
        callbacks = [] if report is None else [_reporter(trainer, report, start, prior, end_step)]
        time_limit = None if t.time_limit is None else max(0.0, t.time_limit - prior)
        if trainer.converged:  # resumed from the checkpoint of a finished trial
            summary = trainer.summary(wall=0.0, reason="converged")
        else:
            summary = trainer.run(steps=steps, time_limit=time_limit, callbacks=callbacks)
        summary["seconds"] += prior
        bits = summary["bits_per_seq"]
        if bits is None:  # no target: validate once at the end for the final error
            bits = trainer.validate()
        values = {**summary, "bits_per_seq": bits}
        result.update(_result_fields(values))
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
        if payload.get("run_dir"):
            # The folder ``ntm-widgets eval`` / ``replay`` read, as ``train --out`` writes it.
            result["run_dir"] = str(trainer.save_run(payload["run_dir"]))
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
            raise ValueError(
                f"NTM_WIDGETS_START_METHOD must be one of {', '.join(m for m in methods if m != 'fork')}, got {wanted!r}"
            )
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


def run_local(jobs: Jobs, nworkers: int, threads: int, finished: Finished) -> None:
    """Run the jobs on a process pool of ``nworkers`` (forkserver, one torch thread each)."""
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
        for trial, payload in jobs:
            futures[pool.submit(run_trial, payload)] = trial
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
