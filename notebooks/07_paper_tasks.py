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

# %% [markdown] id="07-00"
# # 7. The paper's five tasks: trained models, their heads, and NTM against LSTM
#
# Graves et al. (2014, section 4) tested the NTM on five tasks: **copy**, **repeat
# copy**, **associative recall**, **dynamic n-grams** and **priority sort**, each
# against an LSTM without external memory. This notebook loads the trained NTMs that
# ship with the package (`ntm_widgets.pretrained(task)`), tests each on fresh
# sequences at the paper's settings, shows what its heads do in a replay, and puts it
# next to the LSTM baseline measured by the same command. Then it trains one task
# inline, the way `ntm-widgets paper` does.
#
# Every shipped model records the command that made it (`made_by`) and what that run
# measured (`measured`); the numbers printed below are measured again here, on
# sequences the model never saw. A shipped model is what one run learned: how often
# its task's recipe gets there from other seeds differs by task (the README's table of
# the paper's tasks gives the counts measured so far, and `benchmarks/NOTES.md` every
# recipe tried).
#
# *Run time:* quick mode about ten seconds (fewer test sequences, a tiny inline run).
# Full mode about half a minute for the tests and replays, then the inline training run
# at the end: about two minutes on a 2-core laptop for a seed that learns in the usual
# ~1,000 steps, up to about ten for one that needs the whole budget.

# %% id="07-01"
# %matplotlib inline
import os

# Quick mode (set by CI, or by you: NTM_QUICK=1) shrinks every run to seconds.
QUICK = "CI" in os.environ or "NTM_QUICK" in os.environ
SEED = 0

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Image, display

import ntm_widgets
from ntm_widgets import ReplayPlayer
from ntm_widgets.config import TASKS
from ntm_widgets.paper import PAPER, evaluate, run_task
from ntm_widgets.shipped import available
from ntm_widgets.trace import record_trace

torch.set_num_threads(1)
SAMPLES = 20 if QUICK else 100

# %% [markdown] id="07-02"
# ## What ships
#
# One NTM per task that this project can train to its target; for the others the
# cell says so.

# %% id="07-03"
shipped = available()
for task in TASKS:
    if task in shipped:
        model = ntm_widgets.pretrained(task)
        m = model.cfg.model
        print(
            f"{task:20s} shipped: memory {m.memory_size} x {m.word_size}, {m.controller} controller "
            f"{m.controller_layers} x {m.controller_size}; made by `{model.made_by}`"
        )
    else:
        print(f"{task:20s} not shipped: no recipe here learns it reliably yet (benchmarks/NOTES.md)")

# %% [markdown] id="07-04"
# ## Tested again, on fresh sequences
#
# For each shipped model: the paper's test settings (copy: lengths up to 120 after
# training on 1-20; associative recall: up to 15 items after 2-6; ...), 100 fresh
# sequences each (20 in quick mode), with a test seed the shipping run did not use.
# Beside it, the LSTM baseline's figures as the shipping run measured them (the
# baseline is not shipped: it is the comparison, not the product).


# %% id="07-05"
def cost(cell):
    """A test setting's figure: mean wrong bits per sequence, or for n-grams the
    cross-entropy above the Bayes-optimal estimator's (what the comparison is about)."""
    return cell["mean"] - cell["optimal"] if "optimal" in cell else cell["mean"]


def trained_on(cfg):
    lo, hi = cfg.task.min_len, cfg.task.max_len
    return str(hi) if lo == hi else f"{lo}-{hi}"


rows = []
for task in shipped:
    model = ntm_widgets.pretrained(task)
    spec = PAPER[task]
    ntm = evaluate(model, spec.tests, samples=SAMPLES, seed=SEED + 777)
    lstm = model.measured["lstm_settings"]
    met, text = spec.judge(ntm, lstm)
    rows.append((task, ntm, lstm, met, trained_on(model.cfg)))
    print(f"{task}: target ({spec.target}) {'met' if met else 'NOT met'} here: {text}")
    print("    setting:       " + "  ".join(f"{k:>8s}" for k in ntm))
    print("    NTM (here):    " + "  ".join(f"{cost(ntm[k]):8.2f}" for k in ntm))
    print("    LSTM (shipped):" + "  ".join(f"{cost(lstm[k]):8.2f}" for k in ntm))


# %% id="07-06"
def value(v):
    return f"{v:.2f}" if abs(v) < 10 else f"{v:.0f}"


cols = min(3, max(1, len(rows)))
lines = -(-max(1, len(rows)) // cols)
fig, axes = plt.subplots(lines, cols, figsize=(4.6 * cols, 3.3 * lines), squeeze=False)
for ax in axes.flat[len(rows) :]:
    ax.axis("off")
for ax, (task, ntm, lstm, _met, trained) in zip(axes.flat, rows):
    labels = list(ntm)
    x = np.arange(len(labels))
    heights = [[cost(table[k]) for k in labels] for table in (ntm, lstm)]
    for dx, h, name in zip((-0.2, 0.2), heights, ("NTM (tested here)", "LSTM baseline (shipping run)")):
        bars = ax.bar(x + dx, h, 0.4, label=name)
        # Every bar's value written on it: a bar of 0.01 has no visible height.
        ax.bar_label(bars, labels=[value(v) for v in h], fontsize=7, padding=1)
    ax.set_xticks(x, labels)
    if len(labels) == 1:
        ax.set_xlim(-1.5, 1.5)  # one setting: bars as wide as the other panels'
    ax.set_title(f"{task} (trained on {trained})", fontsize=10)
    ax.set_xlabel("test setting" + (" (items)" if task == "associative_recall" else ""))
    ax.set_ylabel("bits above Bayes-optimal" if "optimal" in ntm[labels[0]] else "mean wrong bits per sequence")
    ax.set_yscale("symlog", linthresh=1)
    ax.set_ylim(0, 4 * max(1.0, *heights[0], *heights[1]))  # room for the labels
handles, names = axes.flat[0].get_legend_handles_labels()
fig.legend(handles, names, loc="upper center", ncol=2, frameon=False)
fig.tight_layout(rect=(0, 0, 1, 0.95))
plt.show()

# %% [markdown] id="07-07"
# **Reading the figure.** The y axis is symmetric-log: 0 to 1 is linear, above 1 each
# step is ten times the last, so a model with a fraction of a wrong bit per sequence
# and one with hundreds fit on one axis; each bar carries its value. On copy and
# associative recall the NTM's bars stay near zero at lengths well beyond its training
# range, which is the point of the paper: it learned a procedure that does not depend
# on the length. Repeat copy is only partly there: at 20 x 10 (twice its longest
# training length) the shipped model gets a few bits of a sequence wrong, in its last
# pass, and at 10 x 20 (twice its largest repeat count) tens: it ends its answer after
# about twelve passes instead of twenty. It does count passes: the cell after this one
# splits its errors by pass, and it stops after the same number of passes at 5 x 20 as
# at 10 x 20, and gets 40 x 10, four times the longest answer it trained on, within
# about ten wrong bits of its 3,200. It reads a count twice the largest it trained on as about twelve (the
# paper's model, too, misplaced its end marker there). The LSTM baselines had as many training sequences as their NTM saw (and no
# more than its time), far fewer than the paper's: on that budget they do not learn
# repeat copy, associative recall or priority sort even inside the training range, and
# on copy they err from length 20 on, so their bars measure a budget as much as a
# missing memory. For n-grams the bars are the cost above the Bayes-optimal estimator
# (cross-entropy bits per 200-bit sequence): the paper's NTM came close to it and was
# slightly better than its LSTM; here the gap is wider, since the baseline trained only
# for the NTM's ten minutes.

# %% id="07-07b"
# Repeat copy pass by pass: a model that times its answer (about L x R steps) fails
# sooner as the passes get longer; one that counts ends after the same number of passes
# whatever their length.
if "repeat_copy" in shipped:
    from ntm_widgets.tasks.repeat_copy import repeats_fixed

    rc = ntm_widgets.pretrained("repeat_copy")
    width = rc.cfg.task.width
    for length, repeats in ((10, 20), (5, 20), (20, 5), (40, 10)):
        with repeats_fixed(rc.task, repeats):
            batch = rc.task.sample(SAMPLES, torch.Generator().manual_seed(SEED + 5), length=length)
        with torch.no_grad():
            logits, _ = rc.model(batch.inputs)
        wrong = ((logits > 0).float() != batch.targets).float() * batch.mask[..., None]
        start = length + 1  # the first answer step
        per_pass = [
            float(wrong[:, start + k * length : start + (k + 1) * length, :width].sum((1, 2)).mean()) for k in range(repeats)
        ]
        right = next((k for k, v in enumerate(per_pass) if v >= 0.5), repeats)
        print(
            f"{length:2d} x {repeats:2d}: {float(wrong.sum((1, 2)).mean()):6.2f} wrong bits per sequence; "
            f"the first {right} of {repeats} passes within 0.5 wrong bits each"
        )
else:
    print("repeat copy has no shipped model")

# %% [markdown] id="07-08"
# ## What the heads do
#
# One replay per shipped model. Copy's is at length 40 (10 in quick mode), twice the
# longest it trained on; the others are at their first test setting, inside the training range (n-grams
# and priority sort have a single length), so they show *how* each model works, and the
# figure above how far that carries. Scrub through one: the write head's row while the
# input arrives, the read head's row while the answer goes out, and the memory filling
# up. n-grams predicts random bits, so even the Bayes-optimal estimator gets many of a
# sequence's bits wrong: its score is the cost above that estimator, in the figure.

# %% id="07-09"
players, traces = {}, {}
for task in shipped:
    model = ntm_widgets.pretrained(task)
    test = PAPER[task].tests[-1 if task == "copy" and not QUICK else 0]
    length = min(test.length, 40) if task == "copy" else test.length
    trace = record_trace(model.model, model.task, length=length, seed=SEED)
    print(f"{task}: length {length} (trained on {trained_on(model.cfg)}), {trace.meta['bits_wrong']} wrong bits in this sequence")
    traces[task] = trace
    players[task] = ReplayPlayer(trace)
players["copy"] if "copy" in players else print("copy has no shipped model to replay")

# %% [markdown] id="07-10"
# **Copy** (the replay above): while the input arrives the write head moves one row per
# vector; at the delimiter the read head jumps to the first row written and walks the
# same rows in the same direction. The other players are in `players`, by task
# (`players["ngrams"]` in a new cell shows that one); repeat copy's and priority
# sort's are shown below.

# %% [markdown] id="07-10a"
# **Repeat copy**: the model was trained with answers of at
# most 100 steps, where a write head that walks on as the model answers never comes back
# round to the stored rows. Its preset polishes with fewer rows, where it does come
# round, so a model that answers long sequences correctly has found some way not to
# overwrite what it stored while it answers. The cell below shows its replay and reads
# both heads off it: how sharply the write head is focused during the answer (1.0: all its
# weight on one row; 1/128: spread evenly over every row, so it adds to each only a
# 128th of a vector) and how often the read head comes back to the row it read first
# (at the end of every pass, the last time on the end marker's step, if it goes round
# the stored rows once a repeat).

# %% id="07-10b"
if "repeat_copy" in traces:
    display(players["repeat_copy"])
    t = traces["repeat_copy"]
    n = PAPER["repeat_copy"].tests[0].length
    answer = slice(n + 1, t.steps)
    writing = t.weights[: n + 1, t.head_kinds.index("write")].max(-1)
    answering = t.weights[answer, t.head_kinds.index("write")].max(-1)
    read_rows = t.weights[answer, t.head_kinds.index("read")].argmax(-1)
    # A return: the read head back on the row it read first, from another row (the
    # stored rows may run either way round the memory, so a fall in the row number is
    # not a jump back).
    first = read_rows[0]
    repeats = int((t.mask.sum() - 1) // n)  # the scored steps: n x repeats, and the end marker
    returns = int(((read_rows[1:] == first) & (read_rows[:-1] != first)).sum())
    print(
        f"write head's largest weight on one row: {writing.min():.2f}-{writing.max():.2f} while the input arrives, "
        f"median {np.median(answering):.3f} (range {answering.min():.3f}-{answering.max():.3f}) "
        f"while it answers ({t.steps - n - 1} steps)"
    )
    print(
        f"read head while answering: {len(set(read_rows.tolist()))} distinct rows, "
        f"back on its first row (row {first}) {returns} times in {repeats} repeats"
    )
else:
    print("repeat copy has no shipped model")

# %% [markdown] id="07-10c"
# **Priority sort**: the paper guessed that its NTM
# wrote each vector at a row set by its priority and then read the rows in order. The
# models trained here do something else, a selection sort. A write head walks one row
# per input, storing the vectors in the order they arrive; while the answer goes out a
# read head finds the row holding the highest priority still there by a content
# look-up, and on the next step a write head looks up that same row and erases it, so
# the following look-up finds the next highest. The cell below shows its replay and
# checks that reading on a few fresh sequences: whether the write head walked,
# the share of answer steps on which the read head was on the row of the k-th highest
# priority, and the share on which a write head was on the row read one step before.

# %% id="07-10d"
if "priority_sort" in traces:
    display(players["priority_sort"])
    sorter = ntm_widgets.pretrained("priority_sort")
    for seed in range(SEED, SEED + 3):
        n, width = sorter.cfg.task.max_len, sorter.cfg.task.width  # inputs: width bits, priority, delimiter
        t = record_trace(sorter.model, sorter.task, length=n, seed=seed)
        kinds = t.head_kinds
        rows = t.weights.argmax(-1)  # each step, each head's most weighted row
        stored = rows[:n, kinds.index("write")]  # where each input vector went
        wanted = stored[np.argsort(-t.inputs[:n, width])][: t.steps - n - 1]  # rows in priority order
        reads = [h for h, kind in enumerate(kinds) if kind == "read"]
        on_row = {h: np.mean(rows[n + 1 :, h] == wanted) for h in reads}
        reader = max(on_row, key=on_row.get)
        erase = max(np.mean(rows[n + 2 :, h] == rows[n + 1 : -1, reader]) for h, kind in enumerate(kinds) if kind == "write")
        print(
            f"sequence {seed}: {t.meta['bits_wrong']} wrong bits; write head walked one row per input: "
            f"{bool(np.all(np.diff(stored) == 1))}; read head {reader} on the k-th highest's row "
            f"{on_row[reader]:.0%} of answer steps; a write head on the row read the step before {erase:.0%}"
        )
else:
    print("priority sort has no shipped model")

# %% [markdown] id="07-11"
# ## Train one inline
#
# `run_task` is what `ntm-widgets paper --task T` runs: the task's paper preset for
# the NTM, then the LSTM baseline on as many sequences, both tested at the paper's
# settings, with learning curves, a generalisation figure and a replay written to a
# folder. Quick mode shrinks every model to a few units and a dozen steps, so its
# curves only show that the pipeline works; full mode trains associative recall's
# NTM until its stopping rule is met (at most 18,600 steps; the seeds we measured needed
# about 1,000, about half a minute on a 2-core laptop), then the LSTM on as many
# sequences or for as long as the NTM trained, a minute at least: its steps are the
# dearer ones, so its curve in the figure may end sooner (it stays near guessing). The
# curves are drawn against sequences seen, as in the paper's figures: a step is one
# batch of 32.

# %% id="07-12"
out = Path(tempfile.mkdtemp(prefix="ntm-paper-"))
result = run_task("associative_recall", out, seed=SEED, quick=QUICK, log=print)
for name in ("ntm", "lstm"):
    r = result[name]
    rule = ("its stopping rule" if r["converged"] else "its step budget") if name == "ntm" else "the NTM's sequences or time"
    print(f"{name.upper()}: {r['steps']:,} steps ({r['sequences']:,} sequences) in {r['seconds']:.0f} s, stopped by {rule}")
print({k: result[k] for k in ("seconds", "measured", "met")})
display(Image(filename=str(out / "associative_recall" / "curves.png")))
display(Image(filename=str(out / "associative_recall" / "generalisation.png")))

# %% [markdown] id="07-12a"
# **Reading the result.** `met` says whether this run's NTM met the task's target
# (at most 0.5 wrong bits per sequence at 6 items and 1 at 12, on fresh sequences), and
# `measured` what it made. The preset starts the read heads on content look-up and
# the write head walking a row a step, the roles a trained model ends in; started
# elsewhere, a third of the seeds sat on a plateau near 6 wrong bits for the whole
# budget. With the roles, all 20 seeds we tried (0-9 and 20-29) met the target on our
# 2-core machine (`benchmarks/NOTES.md`), but a seed's path depends on the CPU's
# rounding: if this run did not, set `SEED` to another value and run the cell again.

# %% [markdown] id="07-13"
# **What to remember.**
#
# - The NTM's claim is generalisation: trained on short sequences, correct on long ones.
#   Test at lengths the model never saw, on fresh sequences, before believing it.
# - A baseline is only as good as its budget: the LSTMs here, given the NTM's number
#   of sequences, fail even inside the training range on three of the five tasks.
# - A trained model can learn another algorithm than the one its authors pictured:
#   read it off the heads (priority sort above) rather than assume it.
# - Not every seed learns its task within the preset's budget; the README's table of
#   the paper's tasks says how many did, and `benchmarks/NOTES.md` what was tried.
#
# **References.** A. Graves, G. Wayne, I. Danihelka, *Neural Turing Machines*, 2014,
# [arXiv:1410.5401](https://arxiv.org/abs/1410.5401).
