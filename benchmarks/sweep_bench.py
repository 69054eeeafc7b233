"""Wall time of one sweep on each backend; prints one JSON object.

The grid: memory size N x maximum length (3 x 3) x 2 seeds = 18 trials of the copy task
(Graves et al. 2014, arXiv:1410.5401) with a small model and a fixed step budget, so
that one process takes about a minute or two. It runs the same trials serially (one
process, one torch thread), on the local process pool (one worker per core) and on a
local Ray (start-up timed apart from the sweep), and checks that every backend gives
the same numbers.

    python benchmarks/sweep_bench.py                     # serial, local, ray
    python benchmarks/sweep_bench.py --backends serial,local --steps 100
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from ntm_widgets.config import ModelConfig, RunConfig, TaskConfig, TrainConfig
from ntm_widgets.sweep import Sweep, start_ray


def _touch(_=None) -> int:
    import ntm_widgets.training  # noqa: F401  (the imports a worker pays once)

    return os.getpid()


def code_hash() -> str:
    """Hash of the package's sources: others edit the core while benchmarks run, and a
    change mid-run (not a backend) would explain different numbers."""
    import hashlib
    from pathlib import Path

    import ntm_widgets

    h = hashlib.sha256()
    for path in sorted(Path(ntm_widgets.__file__).parent.rglob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def pool_startup(method: str, workers: int) -> float:
    """Seconds to start ``workers`` processes with ``method`` and import the trainer in each."""
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["ntm_widgets.training"])  # as ntm_widgets.sweep does
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        list(pool.map(_touch, range(workers)))
    return time.perf_counter() - t0


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", default="serial,local,ray")
    p.add_argument("--steps", type=int, default=300, help="training steps per trial")
    p.add_argument("--memory-sizes", default="16,32,64")
    p.add_argument("--max-lens", default="4,8,12")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--workers", type=int, default=None)
    args = p.parse_args(argv)

    base = RunConfig(
        model=ModelConfig(memory_size=16, word_size=8, controller_size=32),
        task=TaskConfig(width=4, min_len=1, max_len=4),
        train=TrainConfig(batch_size=8, val_samples=100),
    )
    grid = {
        "memory_size": [int(v) for v in args.memory_sizes.split(",")],
        "max_len": [int(v) for v in args.max_lens.split(",")],
        "seed": list(range(args.seeds)),
    }
    sweep = Sweep(grid, base, steps=args.steps, eval_lengths=(16,), samples=50)
    workers = args.workers or os.cpu_count() or 1
    out = {
        "benchmark": "sweep",
        "trials": len(sweep),
        "grid": grid,
        "steps_per_trial": args.steps,
        "model": "N x M=8, LSTM 32, copy width 4, batch 8",
        "cpu_count": os.cpu_count(),
        "workers": workers,
        "machine": platform.platform(),
        "python": sys.version.split()[0],
        "load_avg_at_start": os.getloadavg()[0],
        "code_hash_at_start": code_hash(),
    }
    tables = {}
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if backend == "ray":
            import ray

            t0 = time.perf_counter()
            start_ray(num_cpus=workers)
            out["ray_startup_s"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        df = sweep.run(backend=backend, workers=workers, progress=False)
        out[f"{backend}_wall_s"] = round(time.perf_counter() - t0, 3)
        out[f"{backend}_train_s_sum"] = round(float(df["train_seconds"].sum()), 3)
        out[f"{backend}_errors"] = int(df["error"].notna().sum())
        if backend == "ray":
            t0 = time.perf_counter()
            ray.shutdown()
            out["ray_shutdown_s"] = round(time.perf_counter() - t0, 3)
            out["ray_total_s"] = round(out["ray_startup_s"] + out["ray_wall_s"] + out["ray_shutdown_s"], 3)
        if backend == "local":
            # After the sweep, so that its wall time includes starting the forkserver
            # cold; a later pool forks from the warm server.
            out["local_pool_startup_s"] = {
                "spawn": round(pool_startup("spawn", workers), 3),
                "forkserver_warm": round(pool_startup("forkserver", workers), 3),
            }
        tables[backend] = df.set_index("trial_id")[["bits_per_seq", "gen_16_mean", "sequences"]].sort_index()
    if "serial" in tables:
        for backend, table in tables.items():
            if backend != "serial":
                out[f"{backend}_speedup_vs_serial"] = round(out["serial_wall_s"] / out[f"{backend}_wall_s"], 3)
                out[f"{backend}_same_results_as_serial"] = bool(table.equals(tables["serial"]))
        first = tables["serial"]
        out["median_bits_per_seq"] = float(first["bits_per_seq"].median())
    out["load_avg_at_end"] = os.getloadavg()[0]
    out["code_changed_during_run"] = code_hash() != out["code_hash_at_start"]
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
