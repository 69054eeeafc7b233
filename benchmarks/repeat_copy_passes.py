"""Where a repeat-copy model goes wrong: its wrong bits pass by pass, and where it
puts the end marker, at several lengths and repeat counts.

A model that counts its passes (say, its read head's returns to the first stored row)
ends after R passes whatever the length L; one that times its answer (ends after about
L x R steps, estimated from the input's length and the count) ends early or late once
L x R, or L alone, leaves the training range. The pass its errors start in, and whether
the marker comes early (set before its step) or late (missed at its step), tell which.

    python benchmarks/repeat_copy_passes.py                  # the shipped model
    python benchmarks/repeat_copy_passes.py RUN_DIR --settings 16x10,20x10,30x10

One JSON line per model and setting: ``total`` (mean wrong bits per sequence),
``per_pass`` (mean wrong data bits in each pass), ``marker_missed`` (share of sequences
without the marker at its step) and ``marker_early_or_extra`` (mean marker bits set
on other steps), over ``--samples`` fresh sequences (seed ``--seed``).
"""

from __future__ import annotations

import argparse
import json

import torch

import ntm_widgets
from ntm_widgets.tasks.repeat_copy import repeats_fixed
from ntm_widgets.training import Trainer


def passes(trainer, length: int, repeats: int, samples: int, seed: int) -> dict:
    model, task = trainer.model, trainer.task
    model.eval()
    with repeats_fixed(task, repeats):
        batch = task.sample(samples, torch.Generator().manual_seed(seed), length=length)
    with torch.no_grad():
        logits, _ = model(batch.inputs)
    wrong = ((logits > 0).float() != batch.targets).float() * batch.mask[..., None]
    data, marker = wrong[..., :-1].sum(-1), wrong[..., -1]
    start = length + 1  # the first answer step
    end = start + length * repeats  # the end marker's step
    per_pass = [data[:, start + p * length : start + (p + 1) * length].sum(1).mean().item() for p in range(repeats)]
    return {
        "setting": f"{length} x {repeats}",
        "total": round(wrong.sum((1, 2)).mean().item(), 3),
        "per_pass": [round(v, 3) for v in per_pass],
        "marker_missed": round(marker[:, end].mean().item(), 3),
        "marker_early_or_extra": round((marker.sum(1) - marker[:, end]).mean().item(), 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", nargs="?", default=None, help="a run folder (default: the shipped repeat-copy model)")
    p.add_argument("--settings", default="10x10,16x10,20x10,30x10,40x10,20x5,5x20,10x20", help="LxR,...")
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--seed", type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(1)
    trainer = Trainer.load_run(a.run) if a.run else ntm_widgets.pretrained("repeat_copy")
    if trainer.task.name != "repeat_copy":
        raise SystemExit(f"repeat_copy_passes.py: {a.run} is a {trainer.task.name} run")
    for item in a.settings.split(","):
        length, repeats = (int(v) for v in item.lower().split("x"))
        print(json.dumps({"model": a.run or "shipped", **passes(trainer, length, repeats, a.samples, a.seed)}), flush=True)


if __name__ == "__main__":
    main()
