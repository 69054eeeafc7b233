"""How much of a trained repeat-copy model's error comes from writing while it answers?

Evaluates a saved run (``task_arm.py ... --save DIR``) at fixed lengths and repeat
counts three ways, on the eager path: as trained; with every write from time step
L + 2 on skipped (the answer: after L vectors and the step that gives the count); and
from L + 1 on (the count step's write skipped too, a control that should break the
model). If skipping the answer's writes removes most of the error, the model's answer
is being spoiled by its own write head, not by its read pointer.

    python benchmarks/write_gate.py RUN_DIR --settings 10x10,20x10,10x20 --samples 100

One JSON line per setting and gate. An intervention for diagnosis, not a recipe: the
model is never trained with its writes gated.
"""

from __future__ import annotations

import argparse
import json

import torch

from ntm_widgets.core import memory as mem
from ntm_widgets.core import ntm as ntm_module
from ntm_widgets.training import Trainer


class WriteGate:
    """While inside: the NTM's eager step skips every write from time step ``start`` of
    each sequence on (None: none skipped). One write head (``memory.write``)."""

    def __init__(self, model):
        self.start = None
        self.t = 0
        self._cls = type(model)
        self._write, self._forward = mem.write, self._cls.forward

    def _gated_write(self, memory, w, erase, add):
        t, self.t = self.t, self.t + 1
        if self.start is not None and t >= self.start:
            return memory
        return self._write(memory, w, erase, add)

    def __enter__(self):
        gate = self

        def forward(model, inputs, state=None, record=None):
            gate.t = 0  # each batch of sequences starts at time step 0
            return gate._forward(model, inputs, state, record)

        ntm_module.mem.write = self._gated_write
        self._cls.forward = forward
        return self

    def __exit__(self, *exc):
        ntm_module.mem.write = self._write
        self._cls.forward = self._forward


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--settings", default="10x10,20x10,10x20", help="LENGTHxREPEATS, comma-separated")
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--seed", type=int, default=1007)
    a = p.parse_args()
    trainer = Trainer.load_run(a.run)
    if trainer.cfg.model.num_write_heads != 1:
        raise SystemExit("write_gate.py: the gate handles models with one write head")
    trainer.model.set_backend("eager")
    with WriteGate(trainer.model) as gate:
        for setting in a.settings.split(","):
            length, repeats = (int(x) for x in setting.lower().split("x"))
            trainer.task.fixed_repeats = repeats
            for label, start in (("none", None), ("answer", length + 2), ("count_and_answer", length + 1)):
                gate.start = start
                r = trainer.evaluate([length], samples=a.samples, seed=a.seed)[length]
                print(json.dumps({"run": a.run, "length": length, "repeats": repeats, "writes_skipped": label, **r}), flush=True)


if __name__ == "__main__":
    with torch.inference_mode():
        main()
