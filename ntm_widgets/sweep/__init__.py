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
- ``"ray"``: each trial a Ray Tune trial (one CPU), on the cluster at ``ray_address``
  (``ray://HOST:10001``, checked within seconds; ``ray_token_file`` for a cluster
  that wants a token Ray would not find) or on a local Ray started for the sweep.
  Trials report their validation bits to Tune, so ``scheduler="asha"`` can stop poor
  ones early; their checkpoints live in Tune's ``storage``; a trial whose node died
  continues from its last checkpoint elsewhere; an interrupted sweep resumes its Tune
  experiment (``Tuner.restore``). Needs ``pip install 'ntm-widgets[ray]'``;
- ``"serial"``: in this process, one trial after another (tests, tiny grids).

Every row's ``run_dir`` is the trial's run folder on this machine (config,
checkpoint, history: ``ntm-widgets eval`` / ``replay`` read it), under ``runs_dir``
(default: ``STEM_runs`` beside ``results_path``).

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

from typing import Callable, Dict, Iterable, Mapping, Optional, Sequence, Union

from ..config import RunConfig
from .backends import BACKENDS, pool_start_method, run_trial
from .cluster import ClusterError, start_ray
from .fields import known_fields, parse_value, resolve_field, trial_key
from .grid import Sweep
from .results import RESULT_COLUMNS, RESULT_FIELDS, best_row, load_results, order_columns, save_results
from .tune import SCHEDULERS


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
    runs_dir=None,
    storage=None,
    scheduler=None,
    grace_steps: Optional[int] = None,
    ray_token_file=None,
):
    """Build a ``Sweep`` and run it; returns a pandas DataFrame, one row per trial."""
    sweep = Sweep(
        grid,
        base,
        steps=steps,
        time_limit=time_limit,
        target_bits=target_bits,
        eval_lengths=eval_lengths,
        samples=samples,
        eval_seed=eval_seed,
        n_samples=n_samples,
        random_seed=random_seed,
    )
    return sweep.run(
        backend=backend,
        workers=workers,
        ray_address=ray_address,
        results_path=results_path,
        progress=progress,
        threads=threads,
        runs_dir=runs_dir,
        storage=storage,
        scheduler=scheduler,
        grace_steps=grace_steps,
        ray_token_file=ray_token_file,
    )


__all__ = [
    "Sweep",
    "run_sweep",
    "run_trial",
    "save_results",
    "load_results",
    "order_columns",
    "trial_key",
    "known_fields",
    "resolve_field",
    "parse_value",
    "best_row",
    "start_ray",
    "ClusterError",
    "SCHEDULERS",
    "pool_start_method",
    "BACKENDS",
    "RESULT_COLUMNS",
    "RESULT_FIELDS",
]
