"""One arm of a quick-preset experiment: the preset with overrides, over seeds, one JSON line each.

Trains ``config.preset("quick")`` (64 x 8, lengths 1-8) with ``--set section.field=JSON``
overrides, in this process with one fused thread, by its own stopping rule (selection
included) under a step cap, keeps the best candidate when the cap ends it, and tests at
8 / 16 / 24 / 32 on 100 fresh sequences (seed 1000 + the training seed). ``met``: mean
<= 1 wrong bit at 32, 4x the longest training length (issue 10's demo target).

    python benchmarks/quick_arm.py e5 --seeds 0-19 --steps 5000 > e5.jsonl
    # the preset as it was before length weighting (the "s_base" arm in NOTES.md):
    python benchmarks/quick_arm.py base --seeds 0-19 --steps 5000 --set train.length_power=0 \\
        --set train.select_lengths=[20] --set train.select_early_bits=20 --set train.select_min_steps=0

A step cap rather than a time limit compares arms fairly when several run side by side
on a shared machine.
"""

from __future__ import annotations

import argparse
import json

import torch
from generalise import _seeds, apply_sets, train_capped  # benchmarks/ is the script's folder, so on sys.path

from ntm_widgets.config import preset

TEST_LENGTHS = (8, 16, 24, 32)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("name")
    p.add_argument("--seeds", default="0-9")
    p.add_argument("--set", action="append", default=[], help="section.field=JSON, e.g. train.length_power=2")
    p.add_argument("--steps", type=int, default=None, help="step cap (replaces the preset's time limit)")
    p.add_argument("--time", type=float, default=None, help="time limit in seconds instead")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(1)
    for seed in _seeds(a.seeds):
        d = preset("quick").to_dict()
        apply_sets(d, a.set)
        d["train"].update(seed=seed, fused_threads=a.threads)
        if a.steps is not None:
            d["train"].update(steps=a.steps, time_limit=None)
        if a.time is not None:
            d["train"]["time_limit"] = a.time
        trainer, summary, wall = train_capped(d)
        ev = trainer.evaluate(TEST_LENGTHS, samples=100, seed=1000 + seed)
        row = dict(
            arm=a.name,
            seed=seed,
            wall=round(wall, 1),
            steps=summary["steps"],
            restarts=summary["restarts"],
            converged=summary["converged"],
            reason=summary["reason"],
            mean={n: round(v["mean"], 2) for n, v in ev.items()},
            max={n: v["max"] for n, v in ev.items()},
            met=ev[32]["mean"] <= 1.0,
            set=a.set,
        )
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
