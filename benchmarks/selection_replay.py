"""Selection rules compared on one training path per seed (issue 11): train a paper
preset through its whole step budget with a selection rule that never passes, keep
every selection candidate (the weights at each measurement), then score each candidate
on the paper's test settings and on several selection measures.

A selection rule only decides when to stop and which of those candidates to keep: the
training path is the same for every rule (selection draws its own sequences, and the
polish stage starts at the same step). So rules can be compared on the candidates of
one run per seed, paired by seed, instead of one run per rule and seed.

    python benchmarks/selection_replay.py repeat_copy --seeds 0-9 --steps 30000 > rc.jsonl
    python benchmarks/selection_replay.py --rules rc.jsonl

One JSON line per seed: ``candidates`` lists, for each measured step, the test means
(``test``, 100 fresh sequences per setting, seed 1000 + S as benchmarks/task_arm.py)
and the selection measures (``measures``, ``--select-samples`` fresh sequences each,
other seeds than the test's). ``--rules FILE`` reads such lines and prints, per rule,
each seed's stop step, kept candidate and whether it meets the task's target.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys

import torch
from generalise import _seeds, apply_sets  # benchmarks/ is the script's folder, so on sys.path

from ntm_widgets import paper
from ntm_widgets.config import RunConfig, preset
from ntm_widgets.tasks.repeat_copy import repeats_fixed
from ntm_widgets.training import Trainer

# Selection measures: (label, length, fixed repeat count or None for the training draw).
MEASURES = [
    ("20 rand", 20, None),
    ("10 x 10", 10, 10),
    ("16 x 10", 16, 10),
    ("24 x 10", 24, 10),
    ("12 x 10", 12, 10),
]


def measure(trainer, length: int, repeats, samples: int, seed: int):
    with repeats_fixed(trainer.task, repeats):
        v = trainer.evaluate([length], samples=samples, seed=seed)[length]
    return round(v["mean"], 3), v["max"]


def run(a) -> None:
    spec = paper.PAPER[a.task]
    for seed in _seeds(a.seeds):
        d = preset("paper", a.task).to_dict()
        apply_sets(d, a.set)
        # A rule that never passes: the run goes through its whole budget.
        d["train"].update(seed=seed, fused_threads=1, steps=a.steps, time_limit=None, select_bits=0.0, select_max_bits=None)
        trainer = Trainer(RunConfig.from_dict(d))
        snaps = []

        def keep(record, trainer=trainer, snaps=snaps):
            if "select_bits" in record:
                snaps.append((record["step"], copy.deepcopy(trainer.selected_model().state_dict())))

        trainer.run(callbacks=[keep])
        rows = []
        for step, state in snaps:
            trainer.model.load_state_dict(state)
            table = paper.evaluate(trainer, spec.tests, a.samples or spec.samples, seed=1000 + seed)
            m = {
                label: measure(trainer, length, rep, a.select_samples, seed=5000 + 7 * seed + step)
                for label, length, rep in MEASURES
            }
            rows.append({"step": step, "test": {k: round(v["mean"], 3) for k, v in table.items()}, "measures": m})
        print(
            json.dumps({"task": a.task, "seed": seed, "steps": trainer.step_count, "set": a.set, "candidates": rows}), flush=True
        )


def meets(test) -> bool:
    return test["10 x 10"] <= 1.0 and test["20 x 10"] <= 4.0


def rules(path: str) -> None:
    """Replays selection rules on saved candidates: the first candidate whose score is
    <= the bar stops the run; otherwise the candidate with the lowest score is kept."""
    seeds = [json.loads(line) for line in open(path)]
    table = {
        "20 rand <= 2 (preset)": (("20 rand",), 2.0),
        "20 rand <= 1": (("20 rand",), 1.0),
        "16 x 10 & 10 x 10 <= 1": (("16 x 10", "10 x 10"), 1.0),
        "24 x 10 & 10 x 10 <= 2": (("24 x 10", "10 x 10"), 2.0),
        "24 x 10 & 10 x 10 <= 1": (("24 x 10", "10 x 10"), 1.0),
        "20 rand & 10 x 10 <= 2": (("20 rand", "10 x 10"), 2.0),
        "20 rand & 10 x 10 <= 1": (("20 rand", "10 x 10"), 1.0),
        "12 x 10 & 10 x 10 <= 0.5": (("12 x 10", "10 x 10"), 0.5),
        "never stop, best 20 rand": (("20 rand",), -1.0),
        "never stop, best 24 x 10 & 10 x 10": (("24 x 10", "10 x 10"), -1.0),
    }
    for name, (labels, bar) in table.items():
        out = []
        for s in seeds:
            cands = s["candidates"]
            if not cands:
                out.append((s["seed"], None, None, False))
                continue
            score = [(max(c["measures"][k][0] for k in labels), max(c["measures"][k][1] for k in labels)) for c in cands]
            first = next((i for i, sc in enumerate(score) if sc[0] <= bar), None)
            i = first if first is not None else min(range(len(cands)), key=lambda j: score[j])
            c = cands[i]
            out.append((s["seed"], c["step"] if first is not None else None, c["test"], meets(c["test"])))
        n = sum(1 for *_, ok in out if ok)
        cells = "; ".join(
            f"{seed}: " + (f"{t['10 x 10']:.2f}/{t['20 x 10']:.2f}" if t else "-") + (f" @{stop}" if stop else "")
            for seed, stop, t, _ in out
        )
        print(f"{name}: both targets {n} of {len(out)} | {cells}")
    ceiling = sum(1 for s in seeds if any(meets(c["test"]) for c in s["candidates"]))
    print(f"a candidate meeting both targets exists (oracle, not a rule): {ceiling} of {len(seeds)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("task", nargs="?", choices=sorted(paper.PAPER), default="repeat_copy")
    p.add_argument("--seeds", default="0-9")
    p.add_argument("--set", action="append", default=[], help="section.field=JSON, e.g. train.batch_size=8")
    p.add_argument("--steps", type=int, default=30_000, help="step cap")
    p.add_argument("--samples", type=int, default=None, help="test sequences per setting (default: the paper's)")
    p.add_argument("--select-samples", type=int, default=100, help="sequences per selection measure")
    p.add_argument("--rules", default=None, help="replay selection rules on this file's candidates (no training)")
    a = p.parse_args()
    if a.rules:
        return rules(a.rules)
    if a.task != "repeat_copy":
        sys.exit("selection_replay.py: the selection measures here are repeat copy's")
    torch.set_num_threads(1)
    run(a)


if __name__ == "__main__":
    main()
