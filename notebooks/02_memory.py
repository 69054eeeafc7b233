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

# %% [markdown] id="02-00"
# # 2. The memory: reading and writing
#
# An NTM's memory is a plain matrix with **N rows** (locations) and **M columns**
# (the width of each row). Nothing about it is learned: it is a scratch pad that the
# network fills while it reads a sequence and empties when the sequence ends.
#
# What *is* learned is how to use it. The network never picks one row with an index
# (that would not be differentiable). Instead each head holds a **weighting**
# $w_t$: N non-negative numbers that add up to 1, saying how much attention each row
# gets. A sharp weighting (one row near 1, the rest near 0) behaves like an index; a
# blurry one touches several rows a little.
#
# This notebook takes a tiny hand-made memory and works through reading and writing
# exactly as Graves et al. (2014, section 3) define them, with the functions the
# toolkit's NTM uses (`ntm_widgets.core.read` and `write`).
#
# *Run time:* a few seconds in any mode (no training here).

# %% id="02-01"
# %matplotlib inline
import os

# Quick mode (set by CI, or by you: NTM_QUICK=1) shrinks every run to seconds.
QUICK = "CI" in os.environ or "NTM_QUICK" in os.environ
SEED = 0

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch

from ntm_widgets.core import read, write

torch.manual_seed(SEED)
np.set_printoptions(precision=3, suppress=True)


def heatmaps(*panels, vmin=None, vmax=None, annot=None):
    """Draw (title, matrix) panels side by side on one colour scale.

    Diverging colours centred on 0 (red positive, blue negative) unless vmin >= 0.
    """
    mats = [np.asarray(m, dtype=float) for _, m in panels]
    if vmax is None:
        vmax = max(float(np.abs(m).max()) for m in mats) or 1.0
    if vmin is None:
        vmin = -vmax
    cmap = "RdBu_r" if vmin < 0 else "rocket_r"
    cell = 0.5 if max(m.shape[0] for m in mats) <= 8 else 0.22
    widths = [cell * m.shape[1] + 1.0 for m in mats]
    height = cell * max(m.shape[0] for m in mats) + 1.0
    fig, axes = plt.subplots(1, len(mats), figsize=(sum(widths), height), squeeze=False, gridspec_kw={"width_ratios": widths})
    for ax, (title, _), mat in zip(axes[0], panels, mats):
        show_numbers = mat.size <= 40 if annot is None else annot
        sns.heatmap(
            mat,
            ax=ax,
            vmin=vmin,
            vmax=vmax,
            cmap=cmap,
            annot=show_numbers,
            fmt=".2f",
            cbar=False,
            linewidths=0.5 if show_numbers else 0,
            annot_kws={"size": 8},
        )
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("column (M)")
        ax.set_ylabel("row (N)")
    fig.tight_layout()
    plt.show()


def show(values):
    """Print rounded numbers (and no negative zeros), so outputs are stable."""
    print(np.round(np.asarray(values, dtype=np.float64), 3) + 0.0)


# %% [markdown] id="02-02"
# ## A tiny memory
#
# Four rows of three numbers. The functions work on whole batches at once, so every
# tensor gets a leading batch dimension of 1: memory is `(B, N, M) = (1, 4, 3)` and a
# weighting is `(B, N) = (1, 4)`.

# %% id="memory-shape"
# NBVAL_CHECK_OUTPUT
memory = torch.tensor(
    [
        [
            [0.2, 0.8, 0.1],
            [0.9, 0.1, 0.4],
            [0.5, 0.5, 0.5],
            [0.0, 0.3, 1.0],
        ]
    ]
)  # (1, 4, 3)
print("memory shape (B, N, M):", tuple(memory.shape))

# %% id="02-04"
heatmaps(("memory", memory[0]))

# %% [markdown] id="02-05"
# ## Reading is a weighted sum of rows
#
# Equation 2 of the paper: the read vector is
#
# $$ r_t = \sum_i w_t(i)\, M_t(i), $$
#
# the rows of memory mixed in the proportions the weighting gives. With the weighting
# $w = (0.1, 0.7, 0.2, 0)$ the head reads mostly row 1, a little of rows 0 and 2,
# nothing of row 3. By hand:
# $0.1 \cdot (0.2, 0.8, 0.1) + 0.7 \cdot (0.9, 0.1, 0.4) + 0.2 \cdot (0.5, 0.5, 0.5) = (0.75, 0.25, 0.39)$.

# %% id="read-example"
# NBVAL_CHECK_OUTPUT
w = torch.tensor([[0.1, 0.7, 0.2, 0.0]])  # (1, 4): non-negative, sums to 1
r = read(memory, w)  # (1, 3)
show(r[0])
# The same thing written as a matrix product: w (1 x N) times memory (N x M).
show(w[0] @ memory[0])

# %% [markdown] id="02-07"
# A sharp weighting reads one row exactly; a uniform one reads the average of all
# rows. Everything in between is a blend, and because the blend is smooth in $w$, the
# network can learn where to read by gradient descent.

# %% id="read-sharp-uniform"
# NBVAL_CHECK_OUTPUT
sharp = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
uniform = torch.full((1, 4), 0.25)
show(read(memory, sharp)[0])  # exactly row 2
show(read(memory, uniform)[0])  # the column means

# %% [markdown] id="02-09"
# ## Writing is erase, then add
#
# A write head emits, besides its weighting $w_t$, an **erase vector**
# $e_t \in (0, 1)^M$ and an **add vector** $a_t$. Equations 3 and 4 of the paper
# apply them to every row $i$, each in proportion to that row's weight:
#
# $$ \tilde M_t(i) = M_{t-1}(i) \odot \bigl(\mathbf 1 - w_t(i)\, e_t\bigr) \qquad \text{(erase, eq. 3)} $$
#
# $$ M_t(i) = \tilde M_t(i) + w_t(i)\, a_t \qquad \text{(add, eq. 4)} $$
#
# where $\odot$ multiplies element by element. Where $w_t(i) = 0$ the row is left
# exactly as it was. Where $w_t(i) = 1$ and $e_t = \mathbf 1$, the row is wiped and
# replaced by $a_t$. Columns with $e_t = 0$ are never erased, only added to.
#
# Below the head points mostly at row 1 (weight 0.8) and a little at row 2 (0.2).
# It erases the first two columns fully, keeps the third, and adds $(0, 1, 0.5)$.
# By hand for row 1: $(0.9, 0.1, 0.4) \odot (0.2, 0.2, 1) + 0.8\,(0, 1, 0.5) = (0.18, 0.82, 0.8)$.

# %% id="write-paper"
# NBVAL_CHECK_OUTPUT
w = torch.tensor([[0.0, 0.8, 0.2, 0.0]])
erase = torch.tensor([[1.0, 1.0, 0.0]])  # erase columns 0 and 1, keep column 2
add = torch.tensor([[0.0, 1.0, 0.5]])
paper = write(memory, w, erase, add)  # a new tensor: `memory` is not changed
show(paper[0])

# %% id="02-11"
heatmaps(("before", memory[0]), ("after (paper, eq. 3-4)", paper[0]), ("change", paper[0] - memory[0]))


# %% [markdown] id="02-12"
# Rows 0 and 3 have weight 0, so they did not change at all: the write was *local*.
# That locality is what lets an NTM keep a value for hundreds of steps while it
# writes elsewhere.
#
# ## The simplified "keep gate" rule, and why the paper's form matters
#
# Several popular write-ups of the NTM give a shorter write rule,
#
# $$ \text{row}_{new} = k \odot \text{row}_{old} + w(i)\, a, $$
#
# with a "keep" (or "forget") gate $k$ multiplying *every* row, whatever its weight.
# It looks like an LSTM's cell update, which is probably where it comes from. To
# compare like with like we use $k = 1 - e$: the same amount of erasing as above.


# %% id="write-keep-gate"
# NBVAL_CHECK_OUTPUT
def write_keep_gate(memory, w, keep, add):
    # row_new = keep * row_old + w(i) * add: the gate is NOT scaled by the row's weight
    return keep.unsqueeze(1) * memory + w.unsqueeze(-1) * add.unsqueeze(1)  # (B, N, M)


simple = write_keep_gate(memory, w, 1.0 - erase, add)
show(simple[0])

# %% id="02-14"
heatmaps(("paper (eq. 3-4)", paper[0]), ("keep-gate rule", simple[0]), ("paper - keep gate", paper[0] - simple[0]))

# %% id="write-compare"
# NBVAL_CHECK_OUTPUT
untouched = w[0] == 0
print("rows with weight 0:", untouched.nonzero().flatten().tolist())
print("changed by the paper's rule:    ", bool((paper[0][untouched] != memory[0][untouched]).any()))
print("changed by the keep-gate rule:  ", bool((simple[0][untouched] != memory[0][untouched]).any()))

# %% [markdown] id="02-16"
# With the keep-gate rule, rows 0 and 3, which the head was not pointing at, lost
# their first two columns. Algebraically the two rules differ by
#
# $$ \text{paper} - \text{keep gate} = M_{t-1}(i) \odot e_t \,\bigl(1 - w_t(i)\bigr), $$
#
# which is zero only where the row's weight is 1 or nothing is erased. In the paper's
# form the erase is multiplied by the weight, so it lands only where the head points;
# in the simplified form it lands everywhere.
#
# The damage adds up over time. Below, a head writes eight words, one per step, to
# rows 0, 1, ..., 7 with a sharp weighting and a gentle erase $e = 0.5$. Then we look
# at what is left.

# %% id="write-over-time"
# NBVAL_CHECK_OUTPUT
N, M, steps = 8, 4, 8
gen = torch.Generator().manual_seed(SEED)
words = torch.rand(steps, M, generator=gen) + 0.5  # what the head writes at each step
erase = torch.full((1, M), 0.5)

mem_paper = torch.zeros(1, N, M)
mem_keep = torch.zeros(1, N, M)
for t in range(steps):
    w = torch.nn.functional.one_hot(torch.tensor([t]), N).float()  # (1, N): row t
    mem_paper = write(mem_paper, w, erase, words[t : t + 1])
    mem_keep = write_keep_gate(mem_keep, w, 1.0 - erase, words[t : t + 1])

# How much of each word is still there, reading row t back with a sharp weighting.
kept_paper = (mem_paper[0] / words).mean(dim=1)
kept_keep = (mem_keep[0] / words).mean(dim=1)
print("fraction left, paper:    ", np.round(kept_paper.numpy(), 3))
print("fraction left, keep gate:", np.round(kept_keep.numpy(), 3))

# %% id="02-18"
heatmaps(("written words", words), ("paper", mem_paper[0]), ("keep gate", mem_keep[0]), vmin=0, vmax=1.5, annot=False)

# %% [markdown] id="02-19"
# Under the paper's rule every word survives intact. Under the keep-gate rule the
# word written first has been halved seven times: $0.5^7 \approx 0.008$ of it is
# left. A network using that rule could only keep old values by setting the keep gate
# near 1, and then it could not erase anything it wanted to overwrite. The toolkit's
# NTM follows the paper.
#
# ## A real NTM's memory
#
# The NTM in this toolkit holds its memory as a `(B, N, M)` tensor and updates it
# with exactly these functions, once per time step. A recorded run (a *trace*) keeps
# the memory after every step, so it has shape `(T, N, M)`. Here is an untrained
# model on a copy sequence of length 5 (the first five steps are the input, the sixth
# the delimiter, the last five the answer): $T = 11$ steps of a 16 x 6 memory.
# Untrained, every head starts as a sharp pointer that stays where it is, so each
# write lands on the same row (look at the write weighting in the plot); notebook 4
# trains one, and its writes move down the rows, one vector per row.

# %% id="trace-shapes"
# NBVAL_CHECK_OUTPUT
from ntm_widgets import NTM, TaskConfig
from ntm_widgets.tasks import make_task
from ntm_widgets.trace import record_trace

task = make_task(TaskConfig(name="copy", min_len=1, max_len=8))
torch.manual_seed(SEED)
model = NTM(task.input_size, task.output_size, memory_size=16, word_size=6, controller_size=32)
trace = record_trace(model, task, length=5, seed=SEED)
print("memory over time (T, N, M):", trace.memory.shape)
print("head weightings (T, heads, N):", trace.weights.shape, trace.head_kinds)
print("every weighting sums to 1:", bool(np.allclose(trace.weights.sum(-1), 1.0, atol=1e-4)))

# %% id="02-21"
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
sns.heatmap(trace.memory[-1], ax=axes[0], cmap="RdBu_r", center=0)
axes[0].set(title="memory after the last step", xlabel="column (M)", ylabel="row (N)")
sns.heatmap(trace.weights[:, 1].T, ax=axes[1], cmap="rocket_r", vmin=0)
axes[1].set(title="write head's weighting over time", xlabel="time step", ylabel="row (N)")
fig.tight_layout()
plt.show()

# %% [markdown] id="02-22"
# ## What to remember
#
# * Memory is an N x M matrix; heads address it with soft weightings over rows.
# * Reading (eq. 2) is a weighted sum of rows.
# * Writing (eq. 3-4) first erases and then adds, each scaled by the row's weight, so
#   rows the head does not point at stay exactly as they were.
# * The shortcut rule `row_new = e * row_old + w * a` erases every row each step;
#   that is not the NTM of the paper.
#
# **References.** A. Graves, G. Wayne, I. Danihelka, *Neural Turing Machines*, 2014,
# [arXiv:1410.5401](https://arxiv.org/abs/1410.5401).
# M. Collier, J. Beel, *Implementing Neural Turing Machines*, ICANN 2018,
# [arXiv:1807.08518](https://arxiv.org/abs/1807.08518).
