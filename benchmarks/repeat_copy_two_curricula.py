"""Repeat copy with both curricula, one after the other: the longest length grows from 2
to 10 while the count is drawn from 1-2, then the largest count grows from 2 to 10 with
every length 1-10 drawn; run through task_arm's loop.

Why (benchmarks/NOTES.md, "Repeat copy: a curriculum over the repeat count"): growing the
count alone learned the training range fast on the seeds that learned it (5,905-19,723
steps to the rule against 10,513-30,000) but left three of eight copying ten vectors
without a length curriculum, which they never learned; growing the length alone (the
preset) learns the range on every seed of 0-9 but from answers of up to 10 passes at
length 2, where ending by the duration is as good as ending by the passes. Here the
length is learned first on answers of one or two passes, and the count grows only once
every length is copied: each new count is one more pass of an event the model already
meets at every length.

The schedule of caps (longest length, largest count) is a list; the trainer's
curriculum_max holds an index into it, offset by curriculum_start (2), and grows by one
entry each time the running training error is below curriculum_threshold, as the
preset's curriculum grows by a quarter.

    python benchmarks/repeat_copy_two_curricula.py --seeds 0-4 --steps 30000

Everything after the script's name is task_arm's arguments (the task is repeat_copy; the
arm's name is two-curricula).
"""

from __future__ import annotations

import sys

import task_arm  # benchmarks/ is the script's folder, so on sys.path

from ntm_widgets.tasks.repeat_copy import RepeatCopyTask
from ntm_widgets.training import trainer as trainer_module

GROW = (2, 3, 4, 5, 6, 7, 8, 10)  # the preset's steps: a quarter more each time, from 2
SCHEDULE = [(n, 2) for n in GROW] + [(10, r) for r in GROW[1:]]
OFFSET = 2  # curriculum_start: the trainer's first curriculum_max


def caps(index: int):
    """(longest length, largest count) at the trainer's curriculum_max ``index``."""
    return SCHEDULE[min(len(SCHEDULE) - 1, index - OFFSET)]


def patch() -> None:
    base_sample = RepeatCopyTask.sample

    def sample(
        self, batch_size, generator, length=None, max_len=None, length_power=0.0, blank_prob=0.0, training=False, max_repeats=None
    ):
        if training and max_len is not None and max_repeats is None:
            max_len, max_repeats = caps(max_len)
        return base_sample(self, batch_size, generator, length, max_len, length_power, blank_prob, training, max_repeats)

    def _curriculum_end(self):
        return OFFSET + len(SCHEDULE) - 1

    def _advance_curriculum(self, bits, answer_steps):
        r = self._running_bits
        self._running_bits = bits if r is None else 0.9 * r + 0.1 * bits
        if self.curriculum_max is None or self.curriculum_max >= self._curriculum_end():
            return
        if self._running_bits < self.cfg.train.curriculum_threshold and self.step_count % 10 == 0:
            self.curriculum_max += 1
            self._running_bits = None

    RepeatCopyTask.sample = sample
    trainer_module.Trainer._curriculum_end = _curriculum_end
    trainer_module.Trainer._advance_curriculum = _advance_curriculum


if __name__ == "__main__":
    patch()
    sys.argv = [sys.argv[0], "repeat_copy", "two-curricula"] + sys.argv[1:]
    task_arm.main()
