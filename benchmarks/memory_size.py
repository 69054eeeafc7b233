"""Does a trained model generalise further when it is given more memory rows at test time?

With ``memory_init="constant"`` no parameter of the NTM depends on the number of rows N
(the heads emit keys, strengths, gates, shifts and sharpenings; content addressing is a
softmax over whatever rows there are), so a model trained with N rows can be run with
more. A model whose write head walks on while it answers wraps round onto what it
stored after N steps; with more rows the same walk lands on unused memory instead.

    python benchmarks/memory_size.py RUN_DIR --sizes 128,256,512 --settings 10x10,20x10,10x20

The same as ``ntm-widgets eval RUN --memory-size N`` per size. Evaluates a saved run
(``task_arm.py ... --save DIR``) on the fused path at each memory size and setting
(LENGTHxREPEATS for repeat copy, LENGTH otherwise), 100 fresh sequences per setting (seed
1000 + the run's seed unless ``--seed``). One JSON line each.
"""

from __future__ import annotations

import argparse
import json

import torch

from ntm_widgets.paper import TestSetting, evaluate
from ntm_widgets.training import Trainer


def _setting(text: str) -> TestSetting:
    length, _, repeats = text.lower().partition("x")
    return TestSetting(int(length), int(repeats) if repeats else None)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--sizes", default="128,256,512")
    p.add_argument("--settings", default="10x10,20x10,10x20", help="LENGTHxREPEATS or LENGTH, comma-separated")
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--seed", type=int, default=None)
    a = p.parse_args()
    torch.set_num_threads(1)
    trainer = Trainer.load_run(a.run)
    seed = 1000 + trainer.cfg.train.seed if a.seed is None else a.seed
    trained = trainer.cfg.model.memory_size
    tests = [_setting(s) for s in a.settings.split(",")]
    for size in (int(s) for s in a.sizes.split(",")):
        trainer.resize_memory(size)  # refuses models with per-row initial memory
        for test in tests:
            r = evaluate(trainer, [test], samples=a.samples, seed=seed)[test.label]
            row = dict(run=a.run, trained_rows=trained, rows=size, length=test.length, repeats=test.repeats)
            print(json.dumps({**row, **{k: round(v, 3) for k, v in r.items()}}), flush=True)


if __name__ == "__main__":
    main()
