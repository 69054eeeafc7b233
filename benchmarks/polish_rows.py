"""Does polishing a trained repeat-copy model with fewer memory rows stop its write head
from overwriting what it stored when the answer is long?

A model trained on lengths 1-10 with 1-10 repeats answers for at most 100 steps after
at most 11 steps of input, so with 128 rows its write head, which walks on one row a
step while it answers, never comes back round to the stored rows in training, and
nothing teaches it to stop writing. At 20 x 10 (220 steps) it does come round, and that
walk is most of what the trained models get wrong there (benchmarks/memory_size.py).
With fewer rows (64) the long training answers wrap too, so writing while answering
costs in training. No parameter depends on the number of rows when the initial memory
is constant, so the model moves between sizes freely.

    python benchmarks/polish_rows.py RUN_DIR [RUN_DIR ...] --rows 64 --steps 6000

Loads each saved run (``task_arm.py ... --save DIR``) and trains it on by its own
stopping rule for ``--steps`` steps, one fused thread, on the full training range (no
curriculum): validation, then polishing at ``--lr`` with ``--rows`` rows
(``TrainConfig.polish_memory_size``) and selection on length 20 at the trained size
every 500 steps. ``--select-bits 0`` (the default) never passes, so it polishes to the
cap and keeps its best candidate. Scores the best candidate and the final weights at the
paper's test settings on 100 fresh sequences (seed 1000 + the run's seed, as
task_arm.py). ``--rows`` equal to the trained size is the control: polishing alone.
One JSON line per run.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from ntm_widgets import paper
from ntm_widgets.config import RunConfig
from ntm_widgets.training import Trainer


def polish(run: str, rows: int, steps: int, lr: float, samples: int, select_bits: float, select_samples: int) -> dict:
    src = Trainer.load_run(run)
    d = src.cfg.to_dict()
    seed = d["train"]["seed"]
    # The preset's own stopping rule from the loaded weights: validation on the training
    # range, then polishing at polish_lr with selection on length 20 every select_every
    # steps; select_bits 0 never passes, so it polishes to the cap and keeps its best.
    d["train"].update(
        curriculum=False,
        polish_lr=lr,
        select_bits=select_bits,
        select_samples=select_samples,
        polish_memory_size=None if rows == d["model"]["memory_size"] else rows,
        fused_threads=1,
        steps=steps,
        time_limit=None,
    )
    trainer = Trainer(RunConfig.from_dict(d))
    with torch.no_grad():
        trainer.model.load_state_dict(src.model.state_dict())
    start = time.perf_counter()
    summary = trainer.run(steps=steps)
    wall = time.perf_counter() - start
    spec = paper.PAPER[trainer.cfg.task.name]
    final = paper.evaluate(trainer, spec.tests, samples, seed=1000 + seed)
    picked = trainer.use_best()
    best = paper.evaluate(trainer, spec.tests, samples, seed=1000 + seed) if picked else final
    select = [(r["step"], round(r["select_bits"], 2)) for r in trainer.history if "select_bits" in r]
    return dict(
        run=run,
        seed=seed,
        rows=rows,
        steps=trainer.step_count,
        reason=summary["reason"],
        lr=lr,
        select_bits=select_bits,
        select_samples=select_samples,
        wall=round(wall, 1),
        best_step=trainer.best["step"] if trainer.best else None,
        final={k: round(v["mean"], 2) for k, v in final.items()},
        mean={k: round(v["mean"], 2) for k, v in best.items()},
        max={k: v["max"] for k, v in best.items()},
        select=select,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--rows", type=int, default=64)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--samples", type=int, default=100)
    p.add_argument(
        "--select-bits", type=float, default=0.0, help="selection passes at or below this (0: never, polish to the cap)"
    )
    p.add_argument("--select-samples", type=int, default=50)
    a = p.parse_args()
    torch.set_num_threads(1)
    for run in a.runs:
        print(json.dumps(polish(run, a.rows, a.steps, a.lr, a.samples, a.select_bits, a.select_samples)), flush=True)


if __name__ == "__main__":
    main()
