"""Early stopping on the Ray backend: ASHA against no scheduler on the same 16-trial grid.

The grid: copy (Graves et al. 2014, arXiv:1410.5401) with the quick preset (64 x 8
memory, LSTM 64, lengths 1-8, its stopping rule), learning rates 1e-3 and 1e-2,
memory 32 and 64 rows, seeds 0-3; each trial capped at ``--steps``. Each arm runs on a
fresh local Ray with ``--workers`` trials at a time and prints one JSON line: its wall
time, when the best trial (``best_row``: converged first, then fewest bits) finished,
that trial's bits, how many trials ASHA stopped and the steps trained in all.

    python benchmarks/tune_asha.py --out benchmarks/results/tune-asha.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

from ntm_widgets.config import preset
from ntm_widgets.sweep import Sweep, best_row


def run_arm(scheduler: str, steps: int, workers: int, grace: int) -> dict:
    grid = {"lr": [1e-3, 1e-2], "memory_size": [32, 64], "seed": [0, 1, 2, 3]}
    sweep = Sweep(grid, preset("quick"), steps=steps)
    finished = {}
    start = time.perf_counter()

    def progress(info):
        finished[info["row"]["trial_id"]] = time.perf_counter() - start

    with tempfile.TemporaryDirectory(prefix="tune-asha-") as tmp:
        df = sweep.run(
            backend="ray",
            workers=workers,
            results_path=os.path.join(tmp, f"{scheduler}.csv"),
            progress=progress,
            scheduler=scheduler,
            grace_steps=grace,
        )
    wall = time.perf_counter() - start
    rows = df.to_dict("records")
    best = best_row(rows)
    return {
        "arm": scheduler,
        "trials": len(rows),
        "workers": workers,
        "steps_cap": steps,
        "grace_steps": grace if scheduler == "asha" else None,
        "wall_s": round(wall, 1),
        "best_trial": best["trial_id"],
        "best": {k: best[k] for k in ("lr", "memory_size", "seed", "converged", "steps", "bits_per_seq")},
        "time_to_best_s": round(finished[best["trial_id"]], 1),
        "converged": int(df["converged"].fillna(False).astype(bool).sum()),
        "early_stopped": int((df["reason"] == "early_stopped").sum()),
        "steps_trained": int(df["steps"].sum()),
        "errors": int(df["error"].notna().sum()),
        "per_trial": [
            {k: r[k] for k in ("lr", "memory_size", "seed", "steps", "bits_per_seq", "converged", "reason")}
            | {"done_s": round(finished.get(r["trial_id"], float("nan")), 1)}
            for r in rows
        ],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--grace", type=int, default=1000)
    parser.add_argument("--arms", default="none,asha")
    parser.add_argument("--out", default=None, help="append the JSON lines to this file too")
    args = parser.parse_args(argv)
    for arm in args.arms.split(","):
        line = run_arm(arm, args.steps, args.workers, args.grace)
        line.update(
            machine=platform.node(),
            cpus=os.cpu_count(),
            load_at_end=round(os.getloadavg()[0], 2),
            when=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
        )
        text = json.dumps(line)
        print(text, flush=True)
        if args.out:
            with open(args.out, "a") as fh:
                fh.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
