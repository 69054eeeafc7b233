# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown] id="05-00"
# # 5. More tasks: repeat copy and associative recall
#
# Copying needs one pattern of head movement: write forward, then read forward.
# Two more tasks from Graves et al. (2014, sections 4.2 and 4.3) need the heads to do
# something different, and the replays show it.
#
# * **Repeat copy**: copy the sequence R times, then output an end marker. R is given
#   as a number on the delimiter step. The read head has to go back to the start of
#   the stored sequence at the end of every pass, and the controller has to count.
# * **Associative recall**: the input is a list of *items* (each 3 vectors long);
#   then one of them comes back as a query, and the answer is the item that came
#   *after* it in the list. The read head must find the query by its content, then
#   step to the next item by location: both kinds of addressing, one after the other.
#
# *Run time:* quick mode a few seconds (the models barely train, so the replays are
# a blur). Full mode trains three repeat-copy candidates for 1,500 steps each and
# associative recall with the paper preset's recipe until its stopping rule is met
# (about 1,000 steps for the seeds we measured), a minute or two in all on a 2-core
# laptop: often enough to see the repeat-copy pattern, and usually enough for
# associative recall's.

# %% id="05-01"
# %matplotlib inline
import os

# Quick mode (set by CI, or by you: NTM_QUICK=1) shrinks every run to seconds.
QUICK = "CI" in os.environ or "NTM_QUICK" in os.environ
SEED = 0

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from ntm_widgets import ModelConfig, ReplayPlayer, RunConfig, TaskConfig, TrainConfig
from ntm_widgets.config import preset
from ntm_widgets.plotting.trace_plots import trace_figure
from ntm_widgets.tasks import make_task
from ntm_widgets.trace import record_trace
from ntm_widgets.training import Trainer

torch.set_num_threads(1)


def train(task_cfg, model_cfg, steps, seed=SEED):
    # Adam at 1e-2 (as for copy in notebook 4); stop early below 0.1 wrong bits. No
    # restarts: these tasks take longer than copy to leave 1 wrong bit, and the copy
    # task's restart rule would cut them off.
    cfg = RunConfig(
        model=model_cfg,
        task=task_cfg,
        train=TrainConfig(batch_size=32, lr=1e-2, seed=seed, val_samples=200, val_every=250, restart_after=None),
    )
    trainer = Trainer(cfg)
    budget = dict(steps=20) if QUICK else dict(steps=steps, target_bits=0.1)

    def report(record):
        if record["step"] % 1000 == 0:
            print(f"step {record['step']:6,}  {record['seconds']:5.0f} s  last validation bit error {trainer.last_val}")

    summary = trainer.run(**budget, callbacks=[report])
    print({k: summary[k] for k in ("steps", "seconds", "converged", "bits_per_seq")})
    return trainer


def gates(trace, title):
    # Per head over time: g near 1 = addressing by content, near 0 = by location.
    df = pd.DataFrame(trace.g, columns=[f"{kind} head" for kind in trace.head_kinds])
    ax = df.plot(figsize=(7, 2.4), marker=".", title=title)
    ax.set(xlabel="time step", ylabel="interpolation gate g", ylim=(-0.05, 1.05))
    plt.show()


# %% [markdown] id="05-02"
# ## Repeat copy
#
# One example with a sequence of 3 vectors and 2 repeats: the inputs carry the
# vectors, a delimiter and (on the delimiter step) the repeat count scaled to
# $[0, 1]$; the target is the sequence twice, then the end marker in its own channel.

# %% id="repeat-example"
# NBVAL_CHECK_OUTPUT
repeat_task = TaskConfig(name="repeat_copy", width=6, min_len=1, max_len=6, min_repeats=1, max_repeats=4)
example = make_task(repeat_task).build(1, 3, torch.Generator().manual_seed(SEED), repeats=2)
print("inputs  (B, T, channels):", tuple(example.inputs.shape))
print("targets (B, T, channels):", tuple(example.targets.shape))
print("repeat count channel:", example.inputs[0, :, -1].tolist())

# %% id="05-04"
fig, axes = plt.subplots(1, 2, figsize=(9, 2.6))
for ax, data, title in ((axes[0], example.inputs, "input"), (axes[1], example.targets, "target")):
    sns.heatmap(data[0].T, ax=ax, cmap="Greys", cbar=False, linewidths=0.5, linecolor="lightgrey")
    ax.set(title=title, xlabel="time step", ylabel="channel")
fig.tight_layout()
plt.show()

# %% id="05-05"
small = dict(controller_size=32, word_size=6) if QUICK else dict(controller_size=100, word_size=8)
# A feedforward controller has no state of its own: whatever it repeats must come from memory.
# Seeds differ a lot at this budget, so train three candidates and keep the one with the
# fewest wrong bits on fresh validation sequences (a careful practitioner's choice, made
# by the run itself: nothing here depends on which seed did well on our machine).
candidates = []
for seed in [SEED] if QUICK else [SEED, SEED + 1, SEED + 2]:
    print(f"candidate seed {seed}:")
    t = train(
        repeat_task, ModelConfig(memory_size=16 if QUICK else 32, controller="feedforward", **small), steps=1_500, seed=seed
    )
    candidates.append((t.validate(), seed, t))
repeat_bits, repeat_seed, repeat = min(candidates, key=lambda c: c[:2])
print(f"kept seed {repeat_seed}: {repeat_bits:.2f} wrong bits per sequence on fresh validation sequences")
# The repeat count is drawn with the sequence: take the first seed that asks for
# 3 or more repeats, so the read head has to go round several times.
for seed in range(SEED, SEED + 100):
    repeat_trace = record_trace(repeat.model, repeat.task, length=6, seed=seed)
    if repeat_trace.steps >= 6 + 1 + 3 * 6 + 1:
        break
print(f"{repeat_trace.steps} steps, {repeat_trace.meta['bits_wrong']} bits wrong")
ReplayPlayer(repeat_trace)

# %% id="05-06"
trace_figure(repeat_trace)

# %% id="05-07"
gates(repeat_trace, "repeat copy: interpolation gate per head")

# %% id="05-08"
# Did the read head go back? Count its jumps of more than one row during the answer.
reader = repeat_trace.head_kinds.index("read")
n = repeat_trace.memory.shape[1]
seq_len = 6
answer = slice(seq_len + 1, repeat_trace.steps)
rows = repeat_trace.weights[answer, reader].argmax(-1)
moves = (np.diff(rows) + n // 2) % n - n // 2
passes = (repeat_trace.steps - seq_len - 2) // seq_len
print(
    f"{passes} passes over the sequence; the read head jumped more than one row {int((np.abs(moves) > 1).sum())} times "
    f"and moved one row {int((np.abs(moves) == 1).sum())} times"
)

# %% [markdown] id="05-09"
# **What to look for.** The write head does what it did for copy: one row per input
# vector. The read head, during the answer, walks over the same rows once per
# repeat and then *jumps back* to the first of them. A jump is not a shift of one
# row, so at that moment the read head must use content addressing (its gate $g$
# goes up) or lean on an earlier weighting: look for a spike in its gate at the
# start of each pass. The controller also has to count passes, from the repeat
# number it saw once, to know when to emit the end marker; that part is the
# hardest to learn and the first to fail on counts beyond the training range.
#
# Why a feedforward controller here: our first try used a 100-unit LSTM, and it
# learned to repeat short sequences from the LSTM's own state. Its write head
# stored the vectors, but its read head never went back to them. A feedforward
# controller remembers nothing between steps, so it has to use the memory.
#
# The cell above counts what the replay shows. A model that has found the pattern
# jumps back about once per pass and otherwise moves one row per step. One that has
# not yet found it either barely moves its read head, or walks it on, one row a step,
# past the rows it stored, never going back: its weights there are spread over several
# rows (look at the read head's row in the replay) and its answers blur. At 1,500 steps
# some seeds have found the pattern and others have not, which is why the cell trains
# three and keeps the best by validation; the best by validation is not always the
# one that jumps back. Over twelve seeds on our machine, 7 jumped back on every pass,
# and in 3 of 4 groups of three the one kept did (`benchmarks/NOTES.md`); the paper
# trained far longer. If yours printed 0 jumps, change `SEED` in the first cell.
#
# ## Associative recall
#
# Items of 3 vectors, each preceded by an item delimiter; then the query delimiter,
# a copy of one item, the query delimiter again, and the model must answer with the
# item that followed the query in the list.

# %% id="recall-example"
# NBVAL_CHECK_OUTPUT
recall_task = TaskConfig(name="associative_recall", width=6, min_len=2, max_len=4 if QUICK else 6, item_len=3)
example = make_task(recall_task).sample(1, torch.Generator().manual_seed(SEED), length=3)
print("inputs  (B, T, channels):", tuple(example.inputs.shape))
print("scored steps:", example.mask[0].int().tolist())

# %% id="05-11"
fig, axes = plt.subplots(1, 2, figsize=(10, 2.6))
for ax, data, title in ((axes[0], example.inputs, "input"), (axes[1], example.targets, "target")):
    sns.heatmap(data[0].T, ax=ax, cmap="Greys", cbar=False, linewidths=0.5, linecolor="lightgrey")
    ax.set(title=title, xlabel="time step", ylabel="channel")
fig.tight_layout()
plt.show()

# %% id="05-12"
# The paper preset's recipe for this task (what `ntm-widgets train --task
# associative_recall --preset paper` runs): memory 128 x 20, an LSTM of 100, Adam 3e-3,
# the read head started on content look-up and the write head walking a row a step.
# It stops once it is below 0.1 wrong bits on 2-6 items and within 0.5 on 12 items.
cfg = preset("paper", "associative_recall")
if QUICK:
    cfg = RunConfig(
        model=cfg.model.replace(memory_size=16, word_size=6, controller_size=32),
        task=recall_task,
        train=cfg.train.replace(steps=20, select_lengths=None),
    )
recall = Trainer(RunConfig(model=cfg.model, task=cfg.task, train=cfg.train.replace(seed=SEED, steps=min(cfg.train.steps, 4_000))))


def progress(record):
    if record["step"] % 500 == 0:
        print(f"step {record['step']:6,}  {record['seconds']:5.0f} s  last validation bit error {recall.last_val}")


summary = recall.run(callbacks=[progress])
print({k: summary[k] for k in ("steps", "seconds", "converged", "bits_per_seq")})

recall_trace = record_trace(recall.model, recall.task, length=4, seed=SEED)
kinds = recall_trace.head_kinds
rows = recall_trace.weights.argmax(-1)  # each step, each head's most weighted row
query_end = recall_trace.steps - recall_task.item_len - 1  # the query's closing delimiter
walked = bool(np.all(np.diff(rows[:query_end, kinds.index("write")]) == 1))
# The answer item's vectors, as the write head stored them: the read head's row at
# the query's end (read vectors feed the next step's output) should hold its first.
answer = recall_trace.targets[query_end + 1 :, : recall_task.width]
stored = {int(rows[t, kinds.index("write")]): t for t in range(query_end)}
read_row = int(rows[query_end, kinds.index("read")])
found = read_row in stored and np.array_equal(recall_trace.inputs[stored[read_row], : recall_task.width], answer[0])
print(
    f"validation: {recall.validate():.2f} wrong bits per answer of {recall_task.item_len * recall_task.width} "
    f"(guessing: {recall_task.item_len * recall_task.width / 2:.0f}); {recall_trace.meta['bits_wrong']} in this sequence"
)
print(
    f"write head moved one row a step while the items arrived: {walked}; at the query's end the read "
    f"head was on row {read_row}, {'where' if found else 'not where'} the answer's first vector is stored"
)
ReplayPlayer(recall_trace)

# %% id="05-13"
trace_figure(recall_trace)

# %% id="05-14"
gates(recall_trace, "associative recall: interpolation gate per head")

# %% [markdown] id="05-15"
# **What the paper's NTM did** (Graves et al. 2014, section 4.3): while the items
# arrive, the write head moves forward, keeping one compressed representation per
# *item*. When the query ends, the read head finds the row that matches the query by
# content, moves one row on by location, to the item stored after it, and the
# controller unpacks that row into 3 output vectors.
#
# **What this run's model does.** The cell above prints it from the replay. A model
# trained by this recipe stores every vector in its own row (the write head walks one
# row a step, delimiters included), and at the query's end its read head lands on the
# row holding the first vector of the answer: a look-up by the query's content, then a
# move on by location past the item delimiter; it then walks the answer's rows, one a
# step. Scrub the replay to the last four steps to see the jump.
#
# **Why the heads start in their roles.** With the heads started as stationary
# pointers (the defaults, as for copy), associative recall is slow to learn: models sit
# for thousands of steps on a plateau where the controller squeezes the items into its
# LSTM's own state and the write head stays on one or two rows, a common stage in
# training an NTM (the controller's own memory is the easy path). Starting the read head
# on content look-up and the write head walking skips that plateau: on our 2-core
# machine 20 of 20 seeds met the task's targets within 711-1,236 steps
# (`benchmarks/NOTES.md`). A seed's path depends on the CPU's rounding, so yours may
# differ; the lines above say what it did, and `SEED` in the first cell picks another.
#
# Side by side, for trained models:
#
# | | copy | repeat copy | associative recall (this recipe) |
# |---|---|---|---|
# | write head | one row per vector, forward | same as copy | one row per vector, forward |
# | read head | back to the start, then forward | forward, then jump back, R times | find the query by content, then on by location |
# | addressing | location (plus one content jump) | location with periodic resets | content, then location |
#
# **References.** A. Graves, G. Wayne, I. Danihelka, *Neural Turing Machines*, 2014,
# [arXiv:1410.5401](https://arxiv.org/abs/1410.5401).
# M. Collier, J. Beel, *Implementing Neural Turing Machines*, ICANN 2018,
# [arXiv:1807.08518](https://arxiv.org/abs/1807.08518).
