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

# %% [markdown] id="06-00"
# # 6. Hyperparameters: memory size, row width and sequence length
#
# How much memory does an NTM need, and what happens when the sequences grow? This
# notebook trains a small grid of copy-task models (a *sweep*) and draws two
# heatmaps: how many steps each took to converge, and the bit error it ended with. Then it
# takes one model and feeds it sequences longer than its memory. Last, it compares
# three learning rates by hand in the Playground, whose run history keeps each try.
#
# *Run time:* quick mode a few seconds (a 2 x 2 grid of 5-step runs and three 25-step
# Playground runs, whose numbers mean nothing). Full mode, about 3-4 minutes on a
# 2-core laptop: 9 models of up to 3,000 steps each, two at a time (under 2 minutes),
# one more (seconds), then three Playground runs of at most 2,500 steps each.

# %% id="06-01"
# %matplotlib inline
import os

# Quick mode (set by CI, or by you: NTM_QUICK=1) shrinks every run to seconds.
QUICK = "CI" in os.environ or "NTM_QUICK" in os.environ
SEED = 0

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch

from ntm_widgets import ConfigError, ModelConfig, RunConfig, TaskConfig, TrainConfig
from ntm_widgets.plotting.sweep import sweep_heatmaps
from ntm_widgets.sweep import run_sweep
from ntm_widgets.training import Trainer

torch.set_num_threads(1)

# %% [markdown] id="06-02"
# ## A sweep over N (rows) and M (row width)
#
# Every trial is an ordinary training run of the copy task with its own seed and
# the same budget: it stops when fresh validation sequences average under 0.1 wrong
# bits, or when its time runs out. `run_sweep` returns one row per trial as a pandas
# DataFrame; `backend="local"` runs trials in parallel processes, one per core.

# %% id="06-03"
base = RunConfig(
    model=ModelConfig(controller_size=32 if QUICK else 64),
    task=TaskConfig(name="copy", width=8, min_len=1, max_len=4 if QUICK else 8),
    train=TrainConfig(batch_size=32, lr=1e-2, seed=SEED, val_samples=100, val_every=100),
)
if QUICK:
    grid = {"memory_size": [8, 16], "word_size": [4, 8]}
    budget = dict(steps=5)
else:
    grid = {"memory_size": [8, 16, 32], "word_size": [4, 8, 16]}
    budget = dict(steps=3_000, time_limit=300, target_bits=0.1)
results = run_sweep(
    grid, base=base, **budget, eval_lengths=[8], samples=50, backend="serial" if QUICK else "local", progress=False
)
results[["memory_size", "word_size", "converged", "seconds", "steps", "bits_per_seq", "gen_8_mean"]]

# %% id="06-04"
sweep_heatmaps(results, x="memory_size", y="word_size", metrics=("steps", "bits_per_seq"))

# %% id="06-05"
done = results[results["converged"]]
for m, group in results.groupby("word_size"):
    ok = group[group["converged"]]
    took = f" in {ok['steps'].min():,}-{ok['steps'].max():,} steps" if len(ok) else ""
    print(
        f"M = {m}: {len(ok)} of {len(group)} converged{took}; "
        f"final wrong bits per sequence {group['bits_per_seq'].min():.2f}-{group['bits_per_seq'].max():.2f}"
    )

# %% [markdown] id="06-06"
# **Reading the picture (full mode).** The lines above say, for each row width M,
# how many models converged within the 3,000-step budget and how many steps they
# took (steps, not seconds: the trials run two at a time, so a trial's seconds also
# depend on what ran beside it; the table above has both). Look for two things. The
# number of rows matters little once the sequence fits: the copy uses only as many
# rows as the sequence is long. The width
# matters more: rows of 4 numbers are narrower than the 8-bit vectors to be stored, so
# each row must hold a squeezed code. And if a width you expected to work did not, that
# is a warning about reading a sweep: every cell here is one training run from one
# seed, and NTM training is sensitive to the seed and the learning rate (Collier &
# Beel 2018 report the same). A real study repeats each cell with several seeds: add
# `"seed": [0, 1, 2]` to the grid and the heatmaps show the median.
#
# ## When sequences outgrow memory
#
# A copy of a sequence longer than N cannot be stored row by row. The configuration
# refuses to *train* on such lengths, with a message that says why:

# %% id="outgrow-config"
# NBVAL_CHECK_OUTPUT
try:
    RunConfig(model=ModelConfig(memory_size=16), task=TaskConfig(name="copy", max_len=20))
except ConfigError as err:
    print(f"{err.field}: {err}")

# %% [markdown] id="06-08"
# Nothing stops us *testing* on longer sequences, though. Train one model with
# N = 16 rows on lengths 1 to 8, then measure its errors on lengths up to 32. Up to
# 16 the write head has room; beyond that it wraps around the ring of rows and
# overwrites the start of the sequence before the read head gets there, so the first
# vectors of the answer come out wrong.
#
# Long sequences can fail for a second reason too: the model may not have learned a
# pointer that keeps walking far beyond its training lengths (notebook 4). To tell
# the two apart, the same trained weights are measured again with 64 rows. That is
# allowed because no parameter of an NTM depends on N when its initial memory is a
# constant (`model.resize_memory`); with 64 rows nothing wraps below length 64.

# %% id="06-09"
cfg = RunConfig(
    model=ModelConfig(memory_size=16, word_size=8, controller_size=64),
    task=TaskConfig(name="copy", width=8, min_len=1, max_len=8),
    train=TrainConfig(batch_size=32, lr=1e-2, seed=SEED, val_samples=200, val_every=100),
)
trainer = Trainer(cfg)
summary = trainer.run(**(dict(steps=20) if QUICK else dict(steps=5_000, target_bits=0.01)))
print({k: summary[k] for k in ("steps", "seconds", "converged")})
lengths = [4, 8, 12, 16, 20, 24, 32]
samples = 20 if QUICK else 100
errors = pd.DataFrame(trainer.evaluate(lengths, samples=samples, seed=SEED)).T.rename_axis("length").reset_index()
errors["bits per vector"] = errors["mean"] / errors["length"]
trainer.model.resize_memory(64)  # the same weights with room for every length here
roomy = trainer.evaluate(lengths, samples=samples, seed=SEED)
trainer.model.resize_memory(cfg.model.memory_size)
errors["mean, 64 rows"] = [roomy[n]["mean"] for n in errors["length"]]
errors.round(2)

# %% id="06-10"
fig, ax = plt.subplots(figsize=(7, 3.2))
sns.lineplot(data=errors, x="length", y="mean", marker="o", ax=ax, label="16 rows (as trained)")
sns.lineplot(data=errors, x="length", y="mean, 64 rows", marker="s", ax=ax, label="the same weights, 64 rows")
ax.axvline(cfg.model.memory_size, color="tab:red", linestyle="--", label="N = 16 rows")
ax.axvspan(cfg.task.min_len, cfg.task.max_len, color="tab:green", alpha=0.1, label="trained lengths")
ax.set(ylabel="bit errors per sequence", title="copy with a 16-row memory")
ax.legend()
plt.show()

# %% id="06-10b"
by = errors.set_index("length")
for n in (12, 16, 32):
    wrap = by.loc[n, "mean"] - by.loc[n, "mean, 64 rows"]
    print(
        f"length {n}: {by.loc[n, 'mean']:.2f} wrong bits per sequence with 16 rows, {by.loc[n, 'mean, 64 rows']:.2f} "
        f"with 64; the wrap costs {wrap:.2f} ({by.loc[n, 'bits per vector']:.2f} wrong bits per vector in all)"
    )

# %% [markdown] id="06-11"
# **Reading the lines (full mode).** Where both lines lie near zero, past the
# training lengths, the model copies what it never saw. The gap between them is
# what the ring of 16 rows costs: from length 16 on, writes land on vectors the read
# head has not reached yet, and those vectors come out as whatever replaced them
# (random bits guessed wrong: 4 of 8 on average, so the bits per vector head towards
# 4). The 64-row line is the second reason: where it rises, the model's own pointer
# has drifted on a length it was never trained on, memory or no memory. A model that
# learned the pointer cleanly keeps that line flat far longer (notebook 4's
# generalisation test); how far depends on the seed.

# %% [markdown] id="06-12"
# ## The same question by hand: the Playground's run history
#
# A sweep answers a question you can write down in advance. Often you cannot: you
# change the learning rate, train, look, change something else. The Playground keeps
# every run it trained (each Train after **Reset** or a change of the task or the
# machine is a new run) in `pg.history`, with its configuration, what it changed from
# the run before, its curves (at most 1,000 points each), its time, its final bit
# errors and, once it has converged, its errors at 2x and 4x the longest training
# length. Here three learning rates are tried the way a person would with the slider;
# on screen the table under the controls lists the runs (newest first, the changed
# field highlighted), a tick overlays a run's curves on the current one, and
# **Restore** puts a run's settings back on the sliders.

# %% id="06-13"
from ntm_widgets import Playground
from ntm_widgets.widgets.playground import DEFAULT_CONFIG

if QUICK:  # a small machine and 25 steps a run: seconds, and numbers that mean nothing
    start = RunConfig(
        model=ModelConfig(memory_size=16, word_size=8, controller_size=32),
        task=TaskConfig(name="copy", width=8, min_len=1, max_len=4),
        train=TrainConfig(batch_size=32, lr=1e-2, seed=SEED, val_samples=100),
    )
    steps_per_run = 25
else:  # the Playground's own default (copy, N = 64, M = 8, lengths 1-8)
    start, steps_per_run = DEFAULT_CONFIG, 2_500
pg = Playground(config=start)
pg.auto_replay = False
for lr in (1e-3, 3e-3, 1e-2):
    pg.lr_slider.value = lr  # what the slider does
    pg.reset()  # a fresh model from the same seed: the next Train is a new run
    pg.train(steps_per_run)  # ends early once the stopping rule says the copy is learned
pg.overlay = [1, 2]  # draw runs 1 and 2 under run 3, as ticking their rows does

# %% id="06-14"
runs = pg.history_frame()
gen = [c for c in runs.columns if c.startswith("gen_") and c.endswith("_mean")]
print(
    runs[["run", "changed", "lr", "converged", "steps", "restarts", "seconds", "bits_per_seq", *gen]]
    .round(3)
    .to_string(index=False)
)
learned = runs[runs["converged"]]
if len(learned):
    best = learned.sort_values("seconds").iloc[0]
    print(f"learned fastest: run {best['run']} (lr {best['lr']:g}) in {best['seconds']:.1f} s and {best['steps']:,} steps")
    if gen:
        far = learned.sort_values(gen[-1]).iloc[0]
        print(
            f"generalised furthest: run {far['run']} (lr {far['lr']:g}), {far[gen[-1]]:.2f} wrong bits per sequence at {gen[-1]}"
        )
else:
    print(
        f"none of the {len(runs)} runs converged within {steps_per_run:,} steps; lowest validation error: run "
        f"{runs.sort_values('bits_per_seq').iloc[0]['run']} ({runs['bits_per_seq'].min():.2f} wrong bits per sequence)"
    )
print(f"the history holds {pg.history.nbytes() / 1e6:.2f} MB of curves and weights")

# %% id="06-15"
pg

# %% [markdown] id="06-16"
# The lines above are this machine's answer; in quick mode 25 steps are far too few
# for any rate to learn the copy, so only the way of working carries over. On the
# curves, a dotted line marks each restart (fresh weights; the `restarts` column
# counts them). A dip to near zero just before one is an attempt that learned
# lengths 1-8 and was then refused by the stopping rule, because its answers at
# lengths 24 or 28 were wrong: the status line names the cause of the latest restart.
# So a run that "did not converge" may still have learned the training lengths
# several times; what it had not found, within its steps, is a copy that holds at 3x. The
# table has a sweep's columns, so the same tools read it: `SweepView(pg)` draws it
# as a heatmap, and `pg.save_history("runs/lr")` writes every run as an ordinary run
# folder (`ntm-widgets eval runs/lr/run-001`, `ntm-widgets replay ...`) plus an
# index that `pg.load_history("runs/lr")` reads back in a later session.

# %% [markdown] id="06-17"
# ## What to remember
#
# * Sweeps are just many ordinary runs: each row of the table is reproducible from
#   its configuration and seed.
# * Memory rows must be wide enough for what a step stores; spare rows cost little.
# * One run per cell is one seed: repeat cells before trusting a pattern.
# * Tweaking by hand is a sweep too: the Playground's run history keeps every
#   attempt, so "which was better?" is read from a table, not remembered.
# * An NTM's memory bounds what it can do: the learned algorithm generalises to any
#   length, but only up to N rows.
#
# **References.** A. Graves, G. Wayne, I. Danihelka, *Neural Turing Machines*, 2014,
# [arXiv:1410.5401](https://arxiv.org/abs/1410.5401).
# M. Collier, J. Beel, *Implementing Neural Turing Machines*, ICANN 2018,
# [arXiv:1807.08518](https://arxiv.org/abs/1807.08518).
