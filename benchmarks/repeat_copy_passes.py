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


def sample_setting(trainer, length: int, repeats: int, samples: int, seed: int):
    """``samples`` fresh sequences of one setting and the model's logits for them."""
    model, task = trainer.model, trainer.task
    model.eval()
    with repeats_fixed(task, repeats):
        batch = task.sample(samples, torch.Generator().manual_seed(seed), length=length)
    with torch.no_grad():
        logits, _ = model(batch.inputs)
    return batch, logits


def by_pass(batch, logits, width: int, length: int, repeats: int) -> dict:
    """Mean wrong bits per sequence on the task's channels (``width`` data bits and the
    end marker after them; any further output channel is left out), the data bits
    split by pass, and where the marker went."""
    k = width + 1
    wrong = ((logits[..., :k] > 0).float() != batch.targets[..., :k]).float() * batch.mask[..., None]
    data, marker = wrong[..., :width].sum(-1), wrong[..., width]
    start = length + 1  # the first answer step
    end = start + length * repeats  # the end marker's step
    return {
        "total": wrong.sum((1, 2)).mean().item(),
        "per_pass": [data[:, start + p * length : start + (p + 1) * length].sum(1).mean().item() for p in range(repeats)],
        "marker_missed": marker[:, end].mean().item(),
        "marker_early_or_extra": (marker.sum(1) - marker[:, end]).mean().item(),
    }


def passes(trainer, length: int, repeats: int, samples: int, seed: int) -> dict:
    batch, logits = sample_setting(trainer, length, repeats, samples, seed)
    split = by_pass(batch, logits, trainer.task.cfg.width, length, repeats)
    return {
        "setting": f"{length} x {repeats}",
        "total": round(split["total"], 3),
        "per_pass": [round(v, 3) for v in split["per_pass"]],
        "marker_missed": round(split["marker_missed"], 3),
        "marker_early_or_extra": round(split["marker_early_or_extra"], 3),
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
