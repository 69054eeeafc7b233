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
    ("14 x 10", 14, 10),
    ("18 x 10", 18, 10),
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
        # A rule that never ends the run: a first pass (a perfect candidate meets
        # select_bits 0) only starts a second look that never comes within the budget.
        d["train"].update(
            seed=seed,
            fused_threads=1,
            steps=a.steps,
            time_limit=None,
            select_bits=0.0,
            select_max_bits=None,
            select_min_steps=10 * a.steps,
        )
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
    <= the bar (on ``runs`` measurements in a row) stops the run; otherwise the
    candidate with the lowest score is kept and the run takes its whole budget."""
    seeds = [json.loads(line) for line in open(path)]
    # name: (measures scored by their worst, bar, passes needed: a number in a row, or
    # "again" for a first pass and any later one, as TrainConfig.select_min_steps does)
    table = {
        "20 rand <= 2": (("20 rand",), 2.0, 1),
        "16 x 10 <= 1 (the preset's rule)": (("16 x 10",), 1.0, 1),
        "16 x 10 <= 1, twice in a row": (("16 x 10",), 1.0, 2),
        "16 x 10 <= 1, then again later": (("16 x 10",), 1.0, "again"),
        "18 x 10 <= 1, then again later": (("18 x 10",), 1.0, "again"),
        "16 x 10 <= 0.5": (("16 x 10",), 0.5, 1),
        "14 x 10 <= 0.5": (("14 x 10",), 0.5, 1),
        "18 x 10 <= 1": (("18 x 10",), 1.0, 1),
        "18 x 10 <= 2": (("18 x 10",), 2.0, 1),
        "18 x 10 <= 2, twice in a row": (("18 x 10",), 2.0, 2),
        "16 x 10 & 18 x 10 <= 1": (("16 x 10", "18 x 10"), 1.0, 1),
        "24 x 10 & 10 x 10 <= 1": (("24 x 10", "10 x 10"), 1.0, 1),
        "never stop, best 16 x 10": (("16 x 10",), -1.0, 1),
        "never stop, best 18 x 10": (("18 x 10",), -1.0, 1),
    }
    budget = max((s["steps"] for s in seeds), default=0)
    for name, (labels, bar, runs) in table.items():
        out = []
        for s in seeds:
            cands = [c for c in s["candidates"] if all(k in c["measures"] for k in labels)]
            if not cands:
                out.append((s["seed"], None, None, False))
                continue
            score = [(max(c["measures"][k][0] for k in labels), max(c["measures"][k][1] for k in labels)) for c in cands]
            ok = [sc[0] <= bar for sc in score]
            if runs == "again":
                passes = [i for i, good in enumerate(ok) if good]
                first = passes[1] if len(passes) > 1 else None
            else:
                first = next((i for i in range(runs - 1, len(cands)) if all(ok[i - runs + 1 : i + 1])), None)
            i = first if first is not None else min(range(len(cands)), key=lambda j: score[j])
            c = cands[i]
            out.append((s["seed"], c["step"] if first is not None else None, c["test"], meets(c["test"])))
        n = sum(1 for *_, ok in out if ok)
        stops = sorted(stop if stop else budget for _, stop, _, _ in out)
        median = (stops[(len(stops) - 1) // 2] + stops[len(stops) // 2]) / 2 if stops else 0
        cells = "; ".join(
            f"{seed}: " + (f"{t['10 x 10']:.2f}/{t['20 x 10']:.2f}" if t else "-") + (f" @{stop}" if stop else "")
            for seed, stop, t, _ in out
        )
        print(f"{name}: both targets {n} of {len(out)}, median stop {median:.0f} | {cells}")
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
