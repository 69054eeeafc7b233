"""One arm of a paper-task recipe experiment (issue 11): a task's paper preset with
overrides, over seeds, one JSON line each.

Trains ``config.preset("paper", TASK)`` with ``--set section.field=JSON`` overrides in
this process (one fused thread) under a step cap, keeps the best selection candidate
when the cap ends it, and scores the model at the paper's test settings
(``paper.PAPER[TASK].tests``) on fresh sequences (seed 1000 + the training seed).
``curve`` lists (step, validation bits) as the run measured them, so the step at which a
seed learned can be read off without re-running (``train_curve``: training bits per
sequence, each 100 steps, for tasks that train with no validation); ``step_ms`` is the
mean training step.

    python benchmarks/task_arm.py repeat_copy b8 --seeds 0-9 --steps 20000 --set train.batch_size=8

A step cap rather than a time limit compares arms fairly when several run side by side
on a shared machine; convert steps to time with ``step_ms`` measured alone.
"""

from __future__ import annotations

import argparse
import json

import torch
from generalise import _seeds, apply_sets, measured, train_capped  # benchmarks/ is the script's folder, so on sys.path

from ntm_widgets import paper
from ntm_widgets.config import preset


def train_curve(trainer, window: int = 100):
    """(last step, mean training bits per sequence) over each ``window`` steps: the curve
    of tasks that train for their budget with no validation (n-grams, priority sort)."""
    bits = [(h["step"], h["bits_per_seq"]) for h in trainer.history if h.get("bits_per_seq") is not None]
    return [
        (bits[i + window - 1][0], round(sum(b for _, b in bits[i : i + window]) / window, 1))
        for i in range(0, len(bits) - window + 1, window)
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("task", choices=sorted(paper.PAPER))
    p.add_argument("name")
    p.add_argument("--seeds", default="0-9")
    p.add_argument("--set", action="append", default=[], help="section.field=JSON, e.g. train.batch_size=8")
    p.add_argument("--steps", type=int, required=True, help="step cap (replaces the preset's time limit)")
    p.add_argument("--samples", type=int, default=None, help="test sequences per setting (default: the paper's)")
    p.add_argument("--save", default=None, help="folder: each seed's run is saved to FOLDER/seedS (eval, replay)")
    a = p.parse_args()
    torch.set_num_threads(1)
    spec = paper.PAPER[a.task]
    for seed in _seeds(a.seeds):
        d = preset("paper", a.task).to_dict()
        apply_sets(d, a.set)
        d["train"].update(seed=seed, fused_threads=1, steps=a.steps, time_limit=None)
        trainer, summary, wall = train_capped(d)
        if a.save:
            trainer.save_run(f"{a.save}/seed{seed}")
        table = paper.evaluate(trainer, spec.tests, a.samples or spec.samples, seed=1000 + seed)
        select = measured(trainer, "select_bits")
        row = dict(
            task=a.task,
            arm=a.name,
            seed=seed,
            wall=round(wall, 1),
            steps=summary["steps"],
            step_ms=round(1000 * trainer.seconds / max(1, trainer.step_count), 2),
            restarts=summary["restarts"],
            converged=summary["converged"],
            reason=summary["reason"],
            mean={k: round(v["mean"], 2) for k, v in table.items()},
            max={k: v["max"] for k, v in table.items()},
            optimal={k: round(v["optimal"], 2) for k, v in table.items() if "optimal" in v},
            curve=measured(trainer)[-40:],
            # The step of the first selection look (the first attempt to fit the training
            # range, with restarts off): ``select`` keeps only the last 20 looks.
            first_select=select[0][0] if select else None,
            select=select[-20:],
            train_curve=train_curve(trainer),
            set=a.set,
        )
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
