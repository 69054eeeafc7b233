"""Repeat copy with a training hint: an extra output channel that must say how many
passes are left (issue 11's counting problem), run through task_arm's loop.

The repeat-copy models end their answers by the answer's duration (about L x R steps)
rather than by counting passes (benchmarks/NOTES.md, "The models time their answers").
Here the model gets one more output unit, trained (never scored) to give the passes
left, (R - k) / max_repeats on the answer's steps of pass k (0 on the end marker's
step). A timer can only give that staircase by dividing its elapsed time by L; a
counter that steps down at each pass's end gives it directly, so the hint should
favour the counter. Wrong bits are counted on the task's own channels only, so the
test figures compare with task_arm's lines.

    python benchmarks/repeat_copy_hint.py left --seeds 0-4 --steps 30000
    python benchmarks/repeat_copy_hint.py done --seeds 0-4 --steps 30000   # passes done, k / max_repeats
    python benchmarks/repeat_copy_hint.py left-polish --seeds 0-4 --steps 30000  # the hint trained while polishing only

Everything after the hint's kind is task_arm's arguments (the task is repeat_copy; the
arm's name is hint-KIND). ``--diagnose RUN_DIR`` instead loads a run saved with
``--save`` and prints, per setting (100 sequences, seed 5), the mean wrong data bits in
each pass and the hint's mean reading (x max_repeats: passes left, or done) at each pass's
middle step: a counter steps by one a pass at any length.

    python benchmarks/repeat_copy_hint.py left --diagnose /tmp/hint/seed0
"""

from __future__ import annotations

import json
import sys

import task_arm  # benchmarks/ is the script's folder, so on sys.path
import torch

from ntm_widgets.tasks.base import wrong_bits
from ntm_widgets.tasks.repeat_copy import RepeatCopyTask
from ntm_widgets.training import trainer as trainer_module

KINDS = ("left", "done", "left-polish")


def patch(kind: str) -> None:
    if kind not in KINDS:
        raise SystemExit(f"hint kind must be one of {KINDS}, got {kind!r}")
    init, build = RepeatCopyTask.__init__, RepeatCopyTask.build

    def __init__(self, cfg):
        init(self, cfg)
        self.output_size = cfg.width + 2

    def build_hinted(self, batch_size, length, generator, repeats=None):
        b = build(self, batch_size, length, generator, repeats)
        x, y, m = b
        w, top = self.cfg.width, self.cfg.max_repeats
        counts = (x[:, length, w + 1] * top).round()  # the count the input gave, per sequence
        t = torch.arange(y.shape[1], dtype=y.dtype)
        done = ((t - length - 1).clamp_min(0) // length)[None, :].expand(y.shape[0], -1)
        done = torch.minimum(done, counts[:, None])
        value = done / top if kind == "done" else (counts[:, None] - done) / top
        hint = (value * (m > 0)).unsqueeze(-1)
        return type(b)(x, torch.cat([y, hint], dim=-1), m)

    def score(self, logits, targets, mask):
        k = self.cfg.width + 1
        return wrong_bits(logits[..., :k], targets[..., :k], mask)

    def weight_marker(self, targets, mask, weight):
        return mask + (weight - 1.0) * targets[..., self.cfg.width] * mask

    if kind.endswith("-polish"):
        # The hint's channel leaves the loss until the attempt polishes (selection stage).
        base_loss, base_step = trainer_module.masked_loss, trainer_module.Trainer.train_step

        def masked_loss(logits, targets, weights):
            if getattr(trainer_module, "_hint_on", True):
                return base_loss(logits, targets, weights)
            return base_loss(logits[..., :-1], targets[..., :-1], weights)

        def train_step(self):
            trainer_module._hint_on = self.stage == "select"
            return base_step(self)

        trainer_module.masked_loss = masked_loss
        trainer_module.Trainer.train_step = train_step

    RepeatCopyTask.__init__ = __init__
    RepeatCopyTask.build = build_hinted
    RepeatCopyTask.score = score
    RepeatCopyTask.weight_marker = weight_marker


SETTINGS = ((10, 10), (16, 10), (20, 10), (20, 5), (5, 10), (30, 10), (10, 20))


def diagnose(run_dir: str, kind: str) -> None:
    from repeat_copy_passes import by_pass, sample_setting

    from ntm_widgets.training import Trainer

    trainer = Trainer.load_run(run_dir)
    w, top = trainer.task.cfg.width, trainer.task.cfg.max_repeats
    for length, repeats in SETTINGS:
        batch, logits = sample_setting(trainer, length, repeats, 100, 5)
        split = by_pass(batch, logits, w, length, repeats)
        hint = torch.sigmoid(logits[..., w + 1]) * top
        start = length + 1  # the first answer step
        mids = [float(hint[:, start + k * length + length // 2].mean()) for k in range(repeats)]
        row = dict(run=run_dir, hint=kind, L=length, R=repeats, total=round(split["total"], 2))
        row.update(per_pass=[round(v, 2) for v in split["per_pass"]], hint_mid=[round(v, 2) for v in mids])
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    kind = sys.argv[1]
    patch(kind)
    if len(sys.argv) == 4 and sys.argv[2] == "--diagnose":
        diagnose(sys.argv[3], kind)
        sys.exit(0)
    sys.argv = [sys.argv[0], "repeat_copy", f"hint-{kind}"] + sys.argv[2:]
    task_arm.main()
