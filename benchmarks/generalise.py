"""Issue 10's figures, one JSON line each: do the presets learn copy as an algorithm?

For each seed it runs the real command line, one process after another, and times the
whole process (start-up included):

    ntm-widgets train --task copy --preset paper --seed S --out DIR --json
    ntm-widgets eval DIR --lengths 40,80,120 --samples 100 --json
    ntm-widgets demo --seed S --lengths 8,16,32 --out DIR --json      (the quick preset)

A paper-copy model meets the target when its mean wrong bits per sequence are <= 0.5 /
1 / 2 at lengths 40 / 80 / 120 and no sequence has more than 10; a demo model when
its mean at 32 (4x its longest training length) is <= 1. The stopping rule never sees
the test lengths (it selects on 50 and 100, or 20 and 40 for the quick preset).

    python benchmarks/generalise.py                       # seeds 0-9, both presets
    python benchmarks/generalise.py --seeds 0-19 --only paper
    python benchmarks/generalise.py --quick               # 2 seeds, a smoke test
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAPER_TARGET = {40: 0.5, 80: 1.0, 120: 2.0}
PAPER_MAX = 10.0
DEMO_LENGTH, DEMO_TARGET = 32, 1.0


def emit(figure: str, **fields) -> None:
    print(json.dumps({"figure": figure, **fields}), flush=True)


def cli(*argv, timeout=None) -> tuple:
    """Run ``ntm-widgets ARGV --json``; (its JSON, wall seconds of the whole process)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "ntm_widgets.cli", *argv, "--json"], capture_output=True, text=True, timeout=timeout
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"ntm-widgets {' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def apply_sets(d: dict, items) -> dict:
    """``--set section.field=JSON`` overrides (e.g. ``train.length_power=2``) applied to a
    RunConfig dict, in place; returns it."""
    for item in items:
        key, value = item.split("=", 1)
        section, field = key.split(".")
        d[section][field] = json.loads(value)
    return d


def train_capped(d: dict):
    """Train a RunConfig dict by its stopping rule (in this process) and keep the best
    selection candidate when the rule was not met; (trainer, summary, wall seconds)."""
    from ntm_widgets.config import RunConfig
    from ntm_widgets.training import Trainer

    start = time.perf_counter()
    trainer = Trainer(RunConfig.from_dict(d))
    summary = trainer.run()
    if not trainer.converged:
        trainer.use_best()
    return trainer, summary, time.perf_counter() - start


def measured(trainer, key: str = "val_bits_per_seq"):
    """(step, value) for every step whose history record holds ``key`` (validation bits
    by default, ``select_bits`` for selection), rounded to 2 places."""
    return [(h["step"], round(h[key], 2)) for h in trainer.history if h.get(key) is not None]


def _seeds(text: str):
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def paper(seeds, out: Path, extra) -> None:
    rows = []
    for seed in seeds:
        run_dir = out / f"paper-seed{seed}"
        shutil.rmtree(run_dir, ignore_errors=True)  # train refuses to overwrite a run folder
        train, wall = cli("train", "--task", "copy", "--preset", "paper", "--seed", str(seed), "--out", str(run_dir), *extra)
        ev, _ = cli("eval", str(run_dir), "--lengths", "40,80,120", "--samples", "100")
        lengths = {int(k): v for k, v in ev["lengths"].items()}
        met = (
            all(lengths[n]["mean"] <= t for n, t in PAPER_TARGET.items()) and max(v["max"] for v in lengths.values()) <= PAPER_MAX
        )
        row = dict(
            seed=seed,
            seconds=round(wall, 1),
            fit_seconds=train.get("fit_seconds"),
            steps=train["steps"],
            restarts=train["restarts"],
            converged=train["converged"],
            select=train.get("select"),
            lengths={n: {k: round(v, 3) for k, v in d.items()} for n, d in lengths.items()},
            met=met,
        )
        rows.append(row)
        emit("paper_copy_seed", **row)
    secs = [r["seconds"] for r in rows]
    fits = [r["fit_seconds"] for r in rows if r["fit_seconds"] is not None]
    emit(
        "paper_copy_generalises",
        seeds=len(rows),
        met=sum(r["met"] for r in rows),
        target=">= 9 of 10 seeds: mean <= 0.5 / 1 / 2 at 40 / 80 / 120, no sequence over 10",
        median_mean={n: statistics.median(r["lengths"][n]["mean"] for r in rows) for n in PAPER_TARGET},
        worst_max={n: max(r["lengths"][n]["max"] for r in rows) for n in PAPER_TARGET},
    )
    emit(
        "paper_copy_preset_seconds",
        median=statistics.median(secs),
        worst=max(secs),
        target="median <= 30 s, worst <= 90 s",
        met=statistics.median(secs) <= 30 and max(secs) <= 90,
        converged=sum(r["converged"] for r in rows),
    )
    if fits:
        emit(
            "paper_copy_fit_seconds",
            median=statistics.median(fits),
            worst=max(fits),
            found=len(fits),
            target="median <= 10 s (whole process until < 0.1 bits on lengths 1-20)",
            met=statistics.median(fits) <= 10,
        )


def demo(seeds, out: Path, extra=()) -> None:
    rows = []
    for seed in seeds:
        res, wall = cli(
            "demo", "--seed", str(seed), "--lengths", f"8,16,{DEMO_LENGTH}", "--out", str(out / f"demo-seed{seed}"), *extra
        )
        at = res["lengths"][str(DEMO_LENGTH)]
        row = dict(
            seed=seed,
            seconds=round(wall, 1),
            steps=res["steps"],
            restarts=res["restarts"],
            converged=res["converged"],
            lengths=res["lengths"],
            met=at["mean"] <= DEMO_TARGET,
        )
        rows.append(row)
        emit("demo_seed", **row)
    secs = [r["seconds"] for r in rows]
    emit(
        "demo_generalises",
        seeds=len(rows),
        met=sum(r["met"] for r in rows),
        target=f">= 9 of 10 seeds: mean <= {DEMO_TARGET:g} wrong bits at length {DEMO_LENGTH}",
        median_mean=statistics.median(r["lengths"][str(DEMO_LENGTH)]["mean"] for r in rows),
    )
    emit("demo_seconds", median=statistics.median(secs), worst=max(secs), target="<= 10 s", met=statistics.median(secs) <= 10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 3,5,8")
    p.add_argument("--only", choices=["paper", "demo"], default=None)
    p.add_argument("--quick", action="store_true", help="seeds 0-1 only")
    p.add_argument("--out", default=None, help="folder for the run folders (default: a temporary one)")
    p.add_argument(
        "--train-arg", action="append", default=[], help="extra flag for train (repeat), e.g. --train-arg=--fused-threads=1"
    )
    p.add_argument(
        "--demo-arg", action="append", default=[], help="extra flag for demo (repeat), e.g. --demo-arg=--fused-threads=1"
    )
    args = p.parse_args()
    seeds = [0, 1] if args.quick else _seeds(args.seeds)
    out = Path(args.out or tempfile.mkdtemp(prefix="ntm-generalise-"))
    if args.only in (None, "paper"):
        paper(seeds, out, args.train_arg)
    if args.only in (None, "demo"):
        demo(seeds, out, args.demo_arg)


if __name__ == "__main__":
    main()
