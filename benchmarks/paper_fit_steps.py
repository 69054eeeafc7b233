"""When does one attempt of the paper copy preset fit lengths 1-20? One JSON line per seed.

Each seed is one attempt of ``config.preset("paper")`` with restarts and selection off,
one fused thread, trained until < 0.1 bits per sequence on the training lengths or the
step cap. ``val_1200`` is the validation error at the restart rule's step (1,200):
comparing it with ``steps`` shows which fits the rule would have cut off.

    python benchmarks/paper_fit_steps.py c3k --seeds 100-119 --steps 3000
"""

from __future__ import annotations

import argparse
import json

import torch
from generalise import _seeds, apply_sets, measured, train_capped  # benchmarks/ is the script's folder, so on sys.path

from ntm_widgets.config import RESTART_AFTER, preset


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("name")
    p.add_argument("--seeds", default="100-119", help="e.g. 100-119 or 3,5,8")
    p.add_argument("--set", action="append", default=[], help="section.field=JSON")
    p.add_argument("--steps", type=int, default=3000)
    a = p.parse_args()
    torch.set_num_threads(1)
    for seed in _seeds(a.seeds):
        d = preset("paper").to_dict()
        apply_sets(d, a.set)
        d["train"].update(seed=seed, fused_threads=1, restart_after=None, select_lengths=None, time_limit=None, steps=a.steps)
        trainer, summary, wall = train_capped(d)
        vals = measured(trainer)
        early = [v for step, v in vals if step <= RESTART_AFTER]
        row = dict(
            arm=a.name,
            seed=seed,
            wall=round(wall, 1),
            steps=summary["steps"],
            fit=summary["converged"],
            val_1200=early[-1] if early else None,
            last_val=vals[-1][1] if vals else None,
            set=a.set,
        )
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
