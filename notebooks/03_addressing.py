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

# %% [markdown] id="03-00"
# # 3. Addressing: how a head decides where to look
#
# Each time step, every head turns a handful of numbers from the controller into a
# weighting over the N memory rows. Graves et al. (2014, section 3.3) build it in four
# stages, each a small differentiable function:
#
# | stage | equation | parameter | what it does |
# |---|---|---|---|
# | content | $w^c(i) = \mathrm{softmax}_i\big(\beta\, K(k, M(i))\big)$ (eq. 5-6) | key $k$, strength $\beta \ge 0$ | look for rows that resemble the key |
# | interpolation | $w^g = g\, w^c + (1 - g)\, w_{t-1}$ (eq. 7) | gate $g \in (0, 1)$ | choose between that and where the head was last step |
# | shift | $\tilde w(i) = \sum_j w^g(j)\, s(i - j)$ (eq. 8) | shift weights $s$ over offsets $-1, 0, +1$ | move the focus by a row or two |
# | sharpen | $w(i) = \tilde w(i)^\gamma / \sum_j \tilde w(j)^\gamma$ (eq. 9) | $\gamma \ge 1$ | undo the blur the shift adds |
#
# Content addressing lets the NTM find things by *what* they are; the other three
# stages let it move by *where* things are, like a pointer that steps forward. This
# notebook first lets you play with all four, then works through each with numbers.
#
# *Run time:* a few seconds in any mode (no training here).

# %% id="03-01"
# %matplotlib inline
import os

# Quick mode (set by CI, or by you: NTM_QUICK=1) shrinks every run to seconds.
QUICK = "CI" in os.environ or "NTM_QUICK" in os.environ
SEED = 0

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch

from ntm_widgets import AddressingExplorer
from ntm_widgets.core import address, content_weights, interpolate, sharpen, shift

torch.manual_seed(SEED)


def show(values):
    """Print rounded numbers (and no negative zeros), so outputs are stable."""
    print(np.round(np.asarray(values, dtype=np.float64), 3) + 0.0)


def bars(**weightings):
    """One bar chart per named weighting, side by side."""
    fig, axes = plt.subplots(1, len(weightings), figsize=(2.6 * len(weightings), 2.2), sharey=True, squeeze=False)
    for ax, (name, w) in zip(axes[0], weightings.items()):
        w = np.asarray(w).ravel()
        sns.barplot(x=np.arange(len(w)), y=w, ax=ax, color="tab:blue")
        ax.set_title(name)
        ax.set_xlabel("row")
        ax.set_ylim(0, 1)
    fig.tight_layout()
    plt.show()


# %% [markdown] id="03-02"
# ## Try it
#
# The explorer holds a small memory and a previous weighting. Move the sliders for
# the key, $\beta$, $g$, the shift and $\gamma$ and watch each stage's bars change:
# content, then interpolation, then shift, then sharpening, left to right.

# %% id="03-03"
explorer = AddressingExplorer(rows=8, width=4, seed=SEED)
explorer

# %% [markdown] id="03-04"
# The explorer is also an object you can drive from code: its parameters are
# attributes (setting one moves its slider) and every stage's weighting is in
# `explorer.stages`. Here the previous weighting sits on row 0 and the key is close
# to row 2. With $g = 0.5$ the head is torn between the two; a shift of $+1$ moves
# both bumps down one row, and $\gamma = 5$ sharpens the result. Scroll up: the bars
# show the same numbers.

# %% id="explorer-stages"
# NBVAL_CHECK_OUTPUT
explorer.beta, explorer.g, explorer.shift, explorer.gamma = 20.0, 0.5, [0.0, 0.0, 1.0], 5.0
for stage in ("prev", "content", "interpolation", "shift", "sharpen"):
    print(f"{stage:13}", end=" ")
    show(explorer.stages[stage])

# %% [markdown] id="03-06"
# ## 1. Content: find rows that look like the key
#
# The head emits a key $k$ (a vector of width M) and compares it with every row by
# cosine similarity $K(u, v) = \frac{u \cdot v}{\lVert u \rVert \lVert v \rVert}$,
# which is 1 for rows pointing the same way as the key, 0 for unrelated ones, -1 for
# opposite ones. A softmax turns the similarities into a weighting, sharpened by the
# key strength $\beta$:
#
# $$ w^c_t(i) = \frac{\exp\big(\beta_t K(k_t, M_t(i))\big)}{\sum_j \exp\big(\beta_t K(k_t, M_t(j))\big)}. $$
#
# Below, a memory of six rows; the key points almost the same way as row 2
# (cosine 0.999) and partly like rows 4 and 5 (about 0.7).
# With $\beta = 0$ every row gets the same weight; the larger $\beta$, the more the
# weight piles onto the best match.

# %% id="content"
# NBVAL_CHECK_OUTPUT
memory = torch.tensor(
    [
        [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 1.0],
            [-1.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.5, 0.5, 0.5, 0.5],
        ]
    ]
)  # (B, N, M) = (1, 6, 4)
key = torch.tensor([[0.0, 0.0, 0.9, 1.0]])  # (1, 4)
cosine = torch.nn.functional.cosine_similarity(memory[0], key, dim=-1)
print("cosine similarity per row:")
show(cosine)
content = {}
for beta in (0.0, 2.0, 10.0, 50.0):
    content[beta] = content_weights(memory, key, torch.tensor([[beta]]))
    print(f"beta = {beta:4}:", end=" ")
    show(content[beta][0])

# %% id="03-08"
bars(**{f"beta = {b:g}": w for b, w in content.items()})

# %% [markdown] id="03-09"
# ## 2. Interpolation: content, or where I was?
#
# The gate $g_t$ blends the fresh content weighting with the head's weighting from
# the previous step (eq. 7). $g = 1$ uses content alone; $g = 0$ ignores content and
# keeps the old focus, which the shift stage can then move. This is how a head can
# iterate through memory without looking anything up.

# %% id="interpolate"
# NBVAL_CHECK_OUTPUT
w_content = content[10.0]  # focused on row 2
w_prev = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, 1.0]])  # last step the head was on row 5
gated = {}
for g in (0.0, 0.5, 1.0):
    gated[g] = interpolate(w_content, w_prev, torch.tensor([[g]]))
    print(f"g = {g}:", end=" ")
    show(gated[g][0])

# %% id="03-11"
bars(**{f"g = {g:g}": w for g, w in gated.items()})

# %% [markdown] id="03-12"
# ## 3. Shift: move the focus
#
# The head emits a small distribution $s_t$ over offsets $-1, 0, +1$ and the
# weighting is convolved with it, circularly, so that moving past the last row wraps
# to the first (eq. 8):
#
# $$ \tilde w_t(i) = \sum_{j=0}^{N-1} w^g_t(j)\, s_t(i - j). $$
#
# In this toolkit `s[..., j]` is the weight of offset `j - 1`: `s = [0, 0, 1]` moves
# every weight one row down, `[1, 0, 0]` one row up, `[0, 1, 0]` stays. A shift that
# is not sure, like `[0.1, 0.8, 0.1]`, smears the focus over neighbours.

# %% id="shift"
# NBVAL_CHECK_OUTPUT
w = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, 1.0]])  # focus on the last row
shifted = {}
for name, s in {
    "up [1,0,0]": [1.0, 0.0, 0.0],
    "stay [0,1,0]": [0.0, 1.0, 0.0],
    "down [0,0,1]": [0.0, 0.0, 1.0],
    "unsure": [0.1, 0.8, 0.1],
}.items():
    shifted[name] = shift(w, torch.tensor([s]))
    print(f"{name:13}", end=" ")
    show(shifted[name][0])

# %% id="03-14"
bars(**shifted)

# %% [markdown] id="03-15"
# "down" moved the focus from row 5 to row 0: the memory is a ring. "unsure" spread
# it. Repeat an unsure shift a few times and the focus dissolves, which is why the
# last stage exists.
#
# ## 4. Sharpen: undo the blur
#
# Raising every weight to a power $\gamma \ge 1$ and renormalising (eq. 9) makes the
# large weights larger relative to the small ones. $\gamma = 1$ changes nothing.

# %% id="sharpen"
# NBVAL_CHECK_OUTPUT
blurred = torch.tensor([[0.05, 0.1, 0.6, 0.2, 0.05, 0.0]])
sharpened = {}
for gamma in (1.0, 2.0, 5.0, 20.0):
    sharpened[gamma] = sharpen(blurred, torch.tensor([[gamma]]))
    print(f"gamma = {gamma:4}:", end=" ")
    show(sharpened[gamma][0])

# %% id="03-17"
bars(**{f"gamma = {g:g}": w for g, w in sharpened.items()})

# %% [markdown] id="03-18"
# ## All four stages: a head that walks
#
# `address` chains the four stages. With $g = 0$ (ignore content), a shift of $+1$
# and a strong sharpening, each call moves the focus one row down: this is the
# pattern a trained NTM's write head uses on the copy task, one row per input
# vector. The check below also confirms that `address` is exactly the four stages
# in order.

# %% id="walk"
# NBVAL_CHECK_OUTPUT
beta, g = torch.tensor([[5.0]]), torch.tensor([[0.0]])
s, gamma = torch.tensor([[0.05, 0.1, 0.85]]), torch.tensor([[10.0]])
w = torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]])  # start on row 0
positions = []
for _ in range(8):
    by_hand = sharpen(shift(interpolate(content_weights(memory, key, beta), w, g), s), gamma)
    w = address(memory, key, beta, g, s, gamma, w)
    assert torch.allclose(w, by_hand)
    positions.append(int(w.argmax()))
print("row in focus after each step:", positions)
print("largest weight after 8 steps:", round(float(w.max()), 3))

# %% [markdown] id="03-20"
# The focus walked 1, 2, 3, 4, 5, then wrapped to 0, and stayed sharp although each
# shift was only 85 % sure: sharpening repaired the blur every step. Set $g = 1$
# instead and the head would jump to the row most like the key each step, whatever
# it did before; associative recall (notebook 5) uses both modes in turn.
#
# ## What to remember
#
# * Content addressing (eq. 5-6) finds rows by similarity; $\beta$ sets how picky.
# * The gate $g$ (eq. 7) chooses between content and the previous location.
# * The shift (eq. 8) moves the focus around a ring of rows.
# * Sharpening (eq. 9) keeps the focus from blurring out over many steps.
#
# **References.** A. Graves, G. Wayne, I. Danihelka, *Neural Turing Machines*, 2014,
# [arXiv:1410.5401](https://arxiv.org/abs/1410.5401).
# M. Collier, J. Beel, *Implementing Neural Turing Machines*, ICANN 2018,
# [arXiv:1807.08518](https://arxiv.org/abs/1807.08518).
