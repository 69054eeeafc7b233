"""Selection rules for the quick preset (the demo's copy model) compared on one training
path per seed (issue 10): the method of ``selection_replay.py``, on copy.

Trains ``preset("quick")``, selecting on 24 alone, through its whole step budget with
a rule that never passes, keeps every selection candidate, then measures each one: the
selection measures at 24 (``Trainer.measure_select`` itself, so the rule "24 alone"
replays exactly: 100 sequences, and the preset's ``select_confirm`` for the
confirmation, 400 in the results of 2026-12-05), other lengths a rule could add (100 sequences each, seeds apart from the test's), and the
test (100 sequences at 8 / 16 / 24 / 32, seed 1000 + S, as ``quick_arm.py``). A rule's
path is the log's until it passes: the early give-up (more than 5 wrong bits at the
first look at 24) is the trainer's own, and an attempt restarts after ``select_steps``
for every rule that has not passed. A rule whose first pass would have kept an attempt
for its second look after the log restarted it is reported as diverged.

    python benchmarks/selection_replay_quick.py --seeds 0-19 --steps 8000 > q.jsonl
    python benchmarks/selection_replay_quick.py --rules q.jsonl
"""

from __future__ import annotations

import argparse
import copy
import json

import torch
from generalise import _seeds, apply_sets  # benchmarks/ is the script's folder, so on sys.path

from ntm_widgets.config import RunConfig, preset
from ntm_widgets.training import Trainer

TEST_LENGTHS = (8, 16, 24, 32)
OTHER_LENGTHS = (12, 16, 20, 28, 32, 40)


def run(a) -> None:
    for seed in _seeds(a.seeds):
        d = preset("quick").to_dict()
        apply_sets(d, a.set)
        # The log selects on the first length alone (the early give-up at its first
        # look is then the one every rule below shares); rules add the others.
        sel_len = d["train"]["select_lengths"][0]
        d["train"].update(select_lengths=[sel_len], select_long_bits=None)
        d["train"].update(
            seed=seed, fused_threads=1, steps=a.steps, time_limit=None, select_bits=0.0, select_max_bits=None,
            select_min_steps=10 * a.steps,
        )  # fmt: skip
        trainer = Trainer(RunConfig.from_dict(d))
        # A perfect measurement (0 bits) would meet select_bits 0 and start a second look
        # that keeps the attempt from ever restarting: nudged, nothing passes, and the
        # early give-up (> 5 bits) decides as in the preset.
        measure = trainer.measure_select
        trainer.measure_select = lambda *args, measure=measure, **kw: {**(m := measure(*args, **kw)), "bits": m["bits"] + 1e-6}
        snaps = []

        def keep(record, trainer=trainer, snaps=snaps):
            if "select_bits" in record:
                snaps.append((record["step"], trainer.restarts, copy.deepcopy(trainer.model.state_dict())))

        trainer.run(callbacks=[keep])
        rows = []
        for step, attempt, state in snaps:
            trainer.model.load_state_dict(state)
            trainer.step_count = step  # the trainer's own measurements draw their sequences by step
            sel, conf = measure(), measure(trainer.cfg.train.select_confirm, salt=2)
            other = trainer.evaluate(OTHER_LENGTHS, samples=100, seed=5000 + 7 * seed + step)
            test = trainer.evaluate(TEST_LENGTHS, samples=100, seed=1000 + seed)
            rows.append(
                {
                    "step": step,
                    "attempt": attempt,
                    "sel": [round(sel["bits"], 3), sel["worst"]],
                    "conf": [round(conf["bits"], 3), conf["worst"]],
                    "m": {n: [round(v["mean"], 3), v["max"]] for n, v in other.items()},
                    "test": {n: [round(v["mean"], 3), v["max"]] for n, v in test.items()},
                }
            )
        print(json.dumps({"seed": seed, "steps": trainer.step_count, "set": a.set, "candidates": rows}), flush=True)


def replay(seed_line: dict, passes, min_gap: int = 500, budget: int = 8000):
    """The candidate a rule keeps: ``passes(c)`` is True where candidate c passes. As the
    trainer with select_min_steps: the first pass starts min_gap more steps of polishing,
    the next pass at least min_gap later ends the run with that candidate. Without one
    within the budget, the candidate with the lowest (mean, worst) at the selection
    length (confirmed score where measured) is kept. (stop step or None, candidate)."""
    first, attempt = None, None
    cands = [c for c in seed_line["candidates"] if c["step"] <= budget]
    for c in cands:
        if c["attempt"] != attempt:
            if first is not None:
                # The rule would have kept this attempt for its second look; the log
                # restarted it, so the rest of the log is not this rule's path.
                return "diverged", None
            first, attempt = None, c["attempt"]
        if not passes(c):
            continue
        if first is None:
            first = c["step"]
            if min_gap <= 0:
                return c["step"], c
        elif c["step"] - first >= min_gap:
            return c["step"], c
    if not cands:
        return None, None

    def score(c):
        s = c["conf"] if c["sel"][0] <= 0.5 and c["sel"][1] <= 8 else c["sel"]
        return (s[0], s[1])

    return None, min(cands, key=score)


def met(c) -> bool:
    return c is not None and c["test"]["32"][0] <= 1.0


def rules(path: str) -> None:
    seeds = [json.loads(line) for line in open(path)]

    def at(c, n):
        return c["m"][str(n)]

    def ok(v, bits, worst=8.0):
        return v[0] <= bits and v[1] <= worst

    table = {
        "24 alone <= 0.5, confirmed (the preset before 28)": lambda c: ok(c["sel"], 0.5) and ok(c["conf"], 0.5),
        "24 <= 0.25, confirmed": lambda c: ok(c["sel"], 0.25) and ok(c["conf"], 0.25),
        "24 <= 0.1, confirmed": lambda c: ok(c["sel"], 0.1) and ok(c["conf"], 0.1),
        "24 <= 0.5 confirmed, worst <= 2": lambda c: ok(c["sel"], 0.5, 2) and ok(c["conf"], 0.5, 2),
        "24 <= 0.5 confirmed, 28 <= 0.5": lambda c: ok(c["sel"], 0.5) and ok(c["conf"], 0.5) and ok(at(c, 28), 0.5),
        "24 <= 0.5 confirmed, 28 <= 1 (the preset)": lambda c: ok(c["sel"], 0.5) and ok(c["conf"], 0.5) and ok(at(c, 28), 1.0),
        "24 <= 0.5 confirmed, 28 <= 0.75": lambda c: ok(c["sel"], 0.5) and ok(c["conf"], 0.5) and ok(at(c, 28), 0.75),
        "24 <= 0.5 confirmed, 28 <= 1.5": lambda c: ok(c["sel"], 0.5) and ok(c["conf"], 0.5) and ok(at(c, 28), 1.5),
        "24 <= 0.5 confirmed, 40 <= 5 (worst 8)": lambda c: ok(c["sel"], 0.5) and ok(c["conf"], 0.5) and ok(at(c, 40), 5.0),
        "24 <= 0.5 confirmed, 40 <= 10": lambda c: ok(c["sel"], 0.5) and ok(c["conf"], 0.5) and ok(at(c, 40), 10.0, 80),
        "24 <= 0.5 confirmed, 40 <= 2": lambda c: ok(c["sel"], 0.5) and ok(c["conf"], 0.5) and ok(at(c, 40), 2.0, 20),
        "24 <= 0.5 confirmed, 40 <= 5": lambda c: ok(c["sel"], 0.5) and ok(c["conf"], 0.5) and ok(at(c, 40), 5.0, 40),
        "oracle-ish: 32 (other sequences) <= 0.5": lambda c: ok(c["sel"], 0.5) and ok(at(c, 32), 0.5),
    }
    for name, passes in table.items():
        out = [(s["seed"], *replay(s, passes)) for s in seeds]
        diverged = [seed for seed, stop, _ in out if stop == "diverged"]
        out = [o for o in out if o[1] != "diverged"]
        n = sum(1 for _, _, c in out if met(c))
        stops = sorted(stop if stop else 8000 for _, stop, _ in out)
        median = (stops[(len(stops) - 1) // 2] + stops[len(stops) // 2]) / 2 if stops else 0
        misses = ", ".join(f"{seed} ({c['test']['32'][0]:.2f})" for seed, _, c in out if c is not None and not met(c))
        print(
            f"{name}: met {n} of {len(out)}, median stop {median:.0f}, stopped by the rule {sum(1 for o in out if o[1])}; misses {misses}; "
            f"diverged from the log (not replayable): {diverged}"
        )
    ceiling = sum(1 for s in seeds if any(met(c) for c in s["candidates"]))
    print(f"a candidate meeting the target exists (oracle, not a rule): {ceiling} of {len(seeds)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0-9")
    p.add_argument("--set", action="append", default=[], help="section.field=JSON, e.g. train.select_lengths=[28]")
    p.add_argument("--steps", type=int, default=8000, help="step cap (the preset's budget)")
    p.add_argument("--rules", default=None, help="replay selection rules on this file's candidates (no training)")
    a = p.parse_args()
    if a.rules:
        return rules(a.rules)
    torch.set_num_threads(1)
    run(a)


if __name__ == "__main__":
    main()
