"""Every speed and convergence figure of benchmarks/NOTES.md, one JSON line each.

The paper's copy configuration (Graves et al. 2014, arXiv:1410.5401, section 4.1:
128 x 20 memory, LSTM 100, one read and one write head, 8-bit vectors, lengths 1-20)
unless a line says otherwise. Each line holds ``figure``, the measured values, the
``target`` and whether it is ``met``.

    python benchmarks/run_all.py                  # everything (about 15 minutes)
    python benchmarks/run_all.py --quick          # 2 seeds, shorter limits
    python benchmarks/run_all.py --only speed     # throughput, inference, rebuild
    python benchmarks/run_all.py --device cuda --quick

Time to converge runs the real command line, ``ntm-widgets train --task copy
--target-bits 0.1 --time-limit 60 --seed S --json --out DIR``, one seed after another,
and counts the wall time of the whole process (start-up included). Figures taken on a
machine shared with other work are noisy: the ``cpu_*`` fields count only this
process's CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from ntm_widgets.bench import bench_inference, bench_rebuild, bench_train, playground_config


def emit(figure: str, **fields) -> None:
    print(json.dumps({"figure": figure, **fields}), flush=True)


def speed(args) -> None:
    # The default path (the fused C step where it builds), then the others to compare.
    variants = [("", dict())] + ([("_eager", dict(fused=False))] if args.eager else [])
    variants += [("_compiled", dict(compile=True))] if args.compile else []
    for batch, target in ((32, 2000.0), (1, 150.0)):
        for suffix, kw in variants:
            r = bench_train(batch_size=batch, length=20, steps=args.train_steps, threads=args.threads, device=args.device, **kw)
            emit(f"train_b{batch}_len20{suffix}", target=f">= {target:g} seq/s", met=r["train_seq_per_s"] >= target, **r)
    for trace in (False, True):
        for suffix, kw in variants[:2]:
            r = bench_inference(length=120, trace=trace, threads=args.threads, device=args.device, **kw)
            emit(
                "inference_len120" + ("_trace" if trace else "") + suffix,
                target="<= 10 ms (with trace)",
                met=r["ms"] <= 10.0,
                **r,
            )
    for n, m in ((48, 12), (64, 16), (24, 6)):
        r = bench_rebuild(memory_size=n, word_size=m, device=args.device)
        emit("playground_rebuild_first_step", target="<= 1 s", met=r["first_step_s"] <= 1.0, **r)


# The same run as `ntm-widgets train --task copy --target-bits 0.1 --json` with the
# compiled step switched on, for as long as the command line has no --compile flag.
_COMPILED_TRAIN = """
import json, sys, time
t0 = time.perf_counter()
from ntm_widgets.config import RunConfig, TrainConfig
from ntm_widgets.training import Trainer
seed, limit, out, device = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
trainer = Trainer(RunConfig(train=TrainConfig(seed=seed, compile=True, target_bits=0.1, time_limit=limit)), device=device)
s = trainer.run()
if not s["converged"]:
    s["bits_per_seq"] = trainer.last_val = trainer.validate()
trainer.save_run(out)
s["seconds"] = time.perf_counter() - t0
print(json.dumps(s))
"""


def _cli_has_compile() -> bool:
    proc = subprocess.run(["ntm-widgets", "train", "--help"], capture_output=True, text=True)
    return "--compile" in proc.stdout


def converge(args, compiled: bool = False) -> list:
    """Whole `ntm-widgets train` processes, one per seed; returns their run dirs."""
    results, dirs = [], []
    root = Path(args.out or tempfile.mkdtemp(prefix="ntm-bench-"))
    name = "converge_copy" + ("_compiled" if compiled else "")
    seeds = args.compiled_seeds if compiled else args.seeds
    for seed in range(seeds):
        out = root / f"copy-seed{seed}" if not compiled else root / f"copy-compiled-seed{seed}"
        cmd = [
            "ntm-widgets",
            "train",
            "--task",
            "copy",
            "--target-bits",
            "0.1",
            "--time-limit",
            str(args.time_limit),
            "--seed",
            str(seed),
            "--json",
            "--out",
            str(out),
            "--device",
            args.device,
        ]
        if compiled:
            cmd = (
                cmd + ["--compile"]
                if _cli_has_compile()
                else [sys.executable, "-c", _COMPILED_TRAIN, str(seed), str(args.time_limit), str(out), args.device]
            )
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            emit(name + "_seed", seed=seed, error=proc.stderr.strip()[-500:], wall_s=wall)
            continue
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        res.update(seed=seed, wall_s=wall)
        results.append(res)
        dirs.append(out)
        emit(name + "_seed", **res)
    walls = [r["wall_s"] if r["converged"] else float("inf") for r in results]
    ok = [r for r in results if r["converged"] and r["wall_s"] <= 60.0]
    med = statistics.median(walls) if walls else None
    emit(
        name,
        seeds=seeds,
        median_wall_s=med,
        worst_wall_s=max(walls) if walls else None,
        converged_within_60s=len(ok),
        median_sequences=statistics.median([r["sequences"] for r in results]) if results else None,
        time_limit=args.time_limit,
        target="median <= 10 s, 10/10 within 60 s",
        met=bool(walls) and med <= 10.0 and len(ok) == seeds == 10,
    )
    return [d for d, r in zip(dirs, results) if r["converged"]]


def generalise(dirs, args, name: str = "generalisation") -> None:
    from ntm_widgets.training import Trainer

    targets = {40: 0.5, 80: 1.0, 120: 2.0}
    per_len = {n: [] for n in targets}
    worst = {n: 0.0 for n in targets}
    for d in dirs:
        trainer = Trainer.load_run(d, device=args.device)
        table = trainer.evaluate(list(targets), samples=100, seed=0)
        emit(name + "_seed", run_dir=str(d), lengths={str(k): v for k, v in table.items()})
        for n in targets:
            per_len[n].append(table[n]["mean"])
            worst[n] = max(worst[n], table[n]["max"])
    if dirs:
        means = {str(n): statistics.mean(v) for n, v in per_len.items()}
        medians = {str(n): statistics.median(v) for n, v in per_len.items()}
        emit(
            name,
            models=len(dirs),
            mean_of_means=means,
            median_of_means=medians,
            worst={str(k): v for k, v in worst.items()},
            target="mean <= 0.5 / 1 / 2 at 40 / 80 / 120, no sequence worse than 10",
            met=all(statistics.mean(per_len[n]) <= t for n, t in targets.items()) and max(worst.values()) <= 10,
        )


def playground(args) -> None:
    """The Playground's default run, in process (as the widget runs it), per seed."""
    from ntm_widgets.training import Trainer

    base = playground_config()
    walls = []
    for seed in range(args.playground_seeds):
        cfg = type(base)(model=base.model, task=base.task, train=base.train.replace(seed=seed))
        t0 = time.perf_counter()
        trainer = Trainer(cfg, device=args.device)
        s = trainer.run(time_limit=args.time_limit, target_bits=0.1)
        wall = time.perf_counter() - t0
        walls.append(wall if s["converged"] else float("inf"))
        emit("converge_playground_seed", seed=seed, wall_s=wall, **s)
    med = statistics.median(walls)
    emit(
        "converge_playground",
        config=base.to_dict(),
        seeds=len(walls),
        median_wall_s=med,
        worst_wall_s=max(walls),
        target="<= 5 s",
        met=med <= 5.0,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2 seeds and shorter limits")
    p.add_argument("--only", choices=["speed", "converge", "playground"], default=None)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--playground-seeds", type=int, default=5)
    p.add_argument("--compiled-seeds", type=int, default=5, help="seeds for the compiled-step variant of time to converge")
    p.add_argument("--time-limit", type=float, default=60.0)
    p.add_argument("--train-steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True, help="also time the torch.compile path")
    p.add_argument(
        "--eager",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time the eager PyTorch path (the default is the fused C step)",
    )
    p.add_argument("--out", default=None, help="folder for the run folders (default: a temporary one)")
    args = p.parse_args()
    if args.quick:
        args.seeds, args.playground_seeds, args.compiled_seeds, args.train_steps = 2, 2, 1, 5
    emit("environment", torch=torch.__version__, cpus=os.cpu_count(), load_avg=os.getloadavg(), python=sys.version.split()[0])
    if args.only in (None, "speed"):
        speed(args)
    if args.only in (None, "converge"):
        generalise(converge(args), args)
        if args.compile and args.compiled_seeds:
            generalise(converge(args, compiled=True), args, "generalisation_compiled")
    if args.only in (None, "playground"):
        playground(args)


if __name__ == "__main__":
    main()
