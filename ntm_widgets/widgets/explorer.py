"""AddressingExplorer: sliders for one NTM head's parameters, bars for each addressing stage.

Graves et al. 2014 (arXiv:1410.5401), section 3.3, eq. 5-9, on a small memory:

    content        w_c(i) = softmax_i(beta * cos(k, M(i)))          key k, strength beta
    interpolation  w_g    = g * w_c + (1 - g) * w_prev               gate g
    shift          w~(i)  = sum_j w_g(j) s(i - j)   (circular)       s over offsets -1, 0, +1
    sharpen        w(i)   = w~(i)^gamma / sum_j w~(j)^gamma          gamma >= 1

The numbers come from ``ntm_widgets.core.addressing`` itself (the functions the model
runs), so what a learner sees is exactly what the model computes. Every slider move
recomputes the four stages in the kernel (well under a millisecond for 8 rows) and
sends them, as the ``stages`` trait, to a small SVG renderer (``explorer.js``).
"""

from __future__ import annotations

import pathlib
from typing import Dict, List

import anywidget
import ipywidgets as widgets
import numpy as np
import torch
import traitlets

from ..core.addressing import content_weights, interpolate, sharpen, shift
from .text_repr import with_plain_text

_HERE = pathlib.Path(__file__).parent
PREV_MODES = ("row", "uniform", "custom")


class ExplorerBars(anywidget.AnyWidget):
    """The drawing: memory rows beside bars for w_prev and the four stages."""

    _esm = _HERE / "explorer.js"
    stages = traitlets.Dict(help="stage weightings and parameters, see AddressingExplorer.stages").tag(sync=True)

    def __repr__(self) -> str:
        return "ExplorerBars()"


def default_memory(rows: int = 8, width: int = 4, seed: int = 0) -> np.ndarray:
    """A small seeded memory with values in [-1, 1] (rows x width)."""
    if not 2 <= int(rows) <= 32:
        raise ValueError(f"rows must be in [2, 32], got {rows}")
    if not 1 <= int(width) <= 8:
        raise ValueError(f"width must be in [1, 8], got {width}")
    rng = np.random.default_rng(seed)
    return np.round(rng.uniform(-1.0, 1.0, (int(rows), int(width))), 2)


def address_stages(memory, key, beta: float, g: float, s, gamma: float, w_prev) -> Dict[str, List[float]]:
    """All intermediate weightings of one head, computed by the model's own functions.

    ``s`` is normalised to sum to 1 (raw slider weights for offsets -k..k). Returns
    lists: ``cosine``, ``content``, ``interpolation``, ``shift``, ``sharpen``, ``prev``
    and the normalised ``s``.
    """
    mem = torch.as_tensor(np.asarray(memory, dtype=np.float64)).unsqueeze(0)  # (1, N, M)
    k = torch.as_tensor(np.asarray(key, dtype=np.float64)).unsqueeze(0)  # (1, M)
    if mem.shape[-1] != k.shape[-1]:
        raise ValueError(f"key must have {mem.shape[-1]} components (the memory width), got {k.shape[-1]}")
    s_raw = np.asarray(s, dtype=np.float64)
    if (s_raw < 0).any() or s_raw.sum() <= 0:
        raise ValueError(f"shift weights must be >= 0 with a positive sum, got {list(s_raw)}")
    s_t = torch.as_tensor(s_raw / s_raw.sum()).unsqueeze(0)  # (1, 2k+1)
    w0 = torch.as_tensor(np.asarray(w_prev, dtype=np.float64)).unsqueeze(0)  # (1, N)
    scalar = lambda v: torch.tensor([[float(v)]], dtype=torch.float64)  # (1, 1)
    # The cosine itself, for display only (content_weights recomputes it inside).
    norms = mem.norm(dim=-1) * k.norm(dim=-1, keepdim=True)
    cosine = torch.bmm(mem, k.unsqueeze(-1)).squeeze(-1) / (norms + 1e-8)  # (1, N)
    w_c = content_weights(mem, k, scalar(beta))  # eq. 5-6
    w_g = interpolate(w_c, w0, scalar(g))  # eq. 7
    w_s = shift(w_g, s_t)  # eq. 8
    w = sharpen(w_s, scalar(gamma))  # eq. 9
    out = lambda x: [float(v) for v in x[0]]
    return {
        "cosine": out(cosine),
        "prev": out(w0),
        "content": out(w_c),
        "interpolation": out(w_g),
        "shift": out(w_s),
        "sharpen": out(w),
        "s": [float(v) for v in s_t[0]],
    }


class AddressingExplorer(widgets.VBox):
    """Sliders for key, beta, g, shift and gamma; bars for content -> interpolation ->
    shift -> sharpening. ``AddressingExplorer(memory=None, rows=8, width=4, seed=0)``.

    ``stages`` (a dict of lists, see ``address_stages``) holds the current numbers.
    ``feed_back()`` (the "use result as w_prev" button) makes the result the next
    step's previous weighting, so repeated presses walk the head through memory.
    """

    key = traitlets.List(traitlets.Float(), help="key vector k, one value per memory column, each in [-1, 1]")
    beta = traitlets.Float(5.0, help="key strength beta >= 0 (slider 0 to 50)")
    g = traitlets.Float(1.0, help="interpolation gate g in [0, 1]")
    shift = traitlets.List(traitlets.Float(), help="raw weights of offsets -1, 0, +1 (each in [0, 1], normalised)")
    gamma = traitlets.Float(1.0, help="sharpening exponent gamma >= 1 (slider 1 to 20)")
    prev_mode = traitlets.Unicode("row", help="previous weighting: 'row' (all on prev_row), 'uniform', 'custom' (w_prev)")
    prev_row = traitlets.Int(0, help="row that holds the whole previous weighting when prev_mode is 'row'")
    w_prev = traitlets.List(traitlets.Float(), help="the previous weighting w_{t-1} in use (N values summing to 1)")
    stages = traitlets.Dict(help="cosine, prev, content, interpolation, shift, sharpen (lists of N) and normalised s")

    def __init__(self, memory=None, rows: int = 8, width: int = 4, seed: int = 0, **kwargs):
        mem = default_memory(rows, width, seed) if memory is None else np.asarray(memory, dtype=np.float64)
        if mem.ndim != 2 or not (2 <= mem.shape[0] <= 64) or not (1 <= mem.shape[1] <= 16):
            raise ValueError(f"memory must be 2-D with 2 to 64 rows and 1 to 16 columns, got shape {mem.shape}")
        self.memory = mem
        N, M = mem.shape
        # Default key: close to row 2, so content addressing already picks a row out.
        init = dict(key=[float(np.clip(v, -1, 1)) for v in mem[min(2, N - 1)]], shift=[0.0, 1.0, 0.0], w_prev=_one_hot(N, 0))
        init.update(kwargs.pop("init", {}))
        super().__init__(**kwargs)
        self.add_class("ntm-explorer")
        self.bars = ExplorerBars()
        self.bars.add_class("ntm-explorer-bars")
        self._ready = False
        self._syncing = False
        with self.hold_trait_notifications():
            for name, value in init.items():
                setattr(self, name, value)
        self._build_controls()
        self._ready = True
        self._update()

    # ------------------------------------------------------------ controls
    def _build_controls(self) -> None:
        N, M = self.memory.shape
        style = {"description_width": "64px"}
        lay = widgets.Layout(width="280px")
        self.key_sliders = []
        for j in range(M):
            s = widgets.FloatSlider(
                value=self.key[j],
                min=-1.0,
                max=1.0,
                step=0.05,
                description=f"k[{j}]",
                style=style,
                layout=lay,
                continuous_update=True,
            )
            s.add_class(f"ntm-explorer-key-{j}")
            s.observe(self._key_slider_moved, names="value")
            self.key_sliders.append(s)
        self.key_row = widgets.Dropdown(
            options=[("key = ...", -1)] + [(f"key = row {i}", i) for i in range(N)],
            value=-1,
            layout=widgets.Layout(width="140px"),
        )
        self.key_row.observe(self._copy_row_to_key, names="value")

        def slider(cls, name, lo, hi, step, desc, **kw):
            w = cls(
                value=getattr(self, name),
                min=lo,
                max=hi,
                step=step,
                description=desc,
                style=style,
                layout=lay,
                continuous_update=True,
                **kw,
            )
            w.add_class(f"ntm-explorer-{name}")
            widgets.link((w, "value"), (self, name))
            return w

        self.beta_slider = slider(widgets.FloatSlider, "beta", 0.0, 50.0, 0.5, "beta")
        self.g_slider = slider(widgets.FloatSlider, "g", 0.0, 1.0, 0.01, "g")
        self.gamma_slider = slider(widgets.FloatSlider, "gamma", 1.0, 20.0, 0.1, "gamma")
        self.shift_sliders = []
        for j, off in enumerate((-1, 0, 1)):
            s = widgets.FloatSlider(
                value=self.shift[j],
                min=0.0,
                max=1.0,
                step=0.05,
                description=f"s({off:+d})",
                style=style,
                layout=lay,
                continuous_update=True,
            )
            s.add_class(f"ntm-explorer-shift-{off:+d}".replace("+", "p").replace("-", "m"))
            s.observe(self._shift_slider_moved, names="value")
            self.shift_sliders.append(s)
        self.prev_dropdown = widgets.Dropdown(
            options=[("w_prev: one row", "row"), ("w_prev: uniform", "uniform"), ("w_prev: last result", "custom")],
            value=self.prev_mode,
            layout=widgets.Layout(width="180px"),
        )
        widgets.link((self.prev_dropdown, "value"), (self, "prev_mode"))
        self.prev_row_slider = slider(widgets.IntSlider, "prev_row", 0, N - 1, 1, "prev row")
        self.feed_button = widgets.Button(
            description="use result as w_prev",
            icon="step-forward",
            tooltip="make the sharpened weighting the previous one, as at the next time step",
            layout=widgets.Layout(width="220px"),
        )
        self.feed_button.add_class("ntm-explorer-feed")
        self.feed_button.on_click(lambda _b: self.feed_back())
        self.message = widgets.HTML()
        self.message.add_class("ntm-explorer-message")

        def group(title, *items):
            return widgets.VBox([widgets.HTML(f"<b>{title}</b>"), *items])

        controls = widgets.VBox(
            [
                group("1. content: key k and strength beta", *self.key_sliders, self.key_row, self.beta_slider),
                group(
                    "2. interpolation with w_prev: gate g",
                    self.g_slider,
                    widgets.HBox([self.prev_dropdown]),
                    self.prev_row_slider,
                    self.feed_button,
                ),
                group("3. shift: offsets -1, 0, +1", *self.shift_sliders),
                group("4. sharpen: gamma", self.gamma_slider),
                self.message,
            ],
            layout=widgets.Layout(min_width="290px", width="290px"),
        )
        self.children = [widgets.HBox([controls, self.bars])]

    def _key_slider_moved(self, _change):
        if not self._syncing:
            self.key = [s.value for s in self.key_sliders]

    def _shift_slider_moved(self, _change):
        if not self._syncing:
            self.shift = [s.value for s in self.shift_sliders]

    def _copy_row_to_key(self, change):
        i = change["new"]
        if i is None or i < 0:
            return
        self.key = [float(np.clip(v, -1, 1)) for v in self.memory[i]]
        self.key_row.value = -1  # back to the prompt, so the same row can be picked again

    def feed_back(self) -> None:
        """Use the current result (sharpened weighting) as the previous weighting."""
        self.w_prev = list(self.stages["sharpen"])
        self.prev_mode = "custom"

    # ------------------------------------------------------------ validation
    @traitlets.validate("key")
    def _check_key(self, proposal):
        value = [float(v) for v in proposal["value"]]
        M = self.memory.shape[1]
        if len(value) != M:
            raise traitlets.TraitError(f"key must have {M} components (the memory width), got {len(value)}")
        if any(not -1.0 <= v <= 1.0 for v in value):
            raise traitlets.TraitError(f"key components must be in [-1, 1], got {value}")
        return value

    @traitlets.validate("beta")
    def _check_beta(self, proposal):
        v = float(proposal["value"])
        if not 0.0 <= v <= 1000.0:
            raise traitlets.TraitError(f"beta must be in [0, 1000], got {v}")
        return v

    @traitlets.validate("g")
    def _check_g(self, proposal):
        v = float(proposal["value"])
        if not 0.0 <= v <= 1.0:
            raise traitlets.TraitError(f"g must be in [0, 1], got {v}")
        return v

    @traitlets.validate("gamma")
    def _check_gamma(self, proposal):
        v = float(proposal["value"])
        if not 1.0 <= v <= 100.0:
            raise traitlets.TraitError(f"gamma must be in [1, 100], got {v}")
        return v

    @traitlets.validate("shift")
    def _check_shift(self, proposal):
        value = [float(v) for v in proposal["value"]]
        if len(value) != 3 or any(not 0.0 <= v <= 1.0 for v in value):
            raise traitlets.TraitError(
                f"shift must be 3 weights in [0, 1] for offsets -1, 0, +1 (normalised to sum 1), got {value}"
            )
        return value

    @traitlets.validate("prev_mode")
    def _check_prev_mode(self, proposal):
        if proposal["value"] not in PREV_MODES:
            raise traitlets.TraitError(f"prev_mode must be one of {PREV_MODES}, got {proposal['value']!r}")
        return proposal["value"]

    @traitlets.validate("prev_row")
    def _check_prev_row(self, proposal):
        v = int(proposal["value"])
        N = self.memory.shape[0]
        if not 0 <= v < N:
            raise traitlets.TraitError(f"prev_row must be in [0, {N - 1}], got {v}")
        return v

    @traitlets.validate("w_prev")
    def _check_w_prev(self, proposal):
        value = [float(v) for v in proposal["value"]]
        N = self.memory.shape[0]
        if len(value) != N or any(v < 0 for v in value) or abs(sum(value) - 1.0) > 1e-4:
            raise traitlets.TraitError(f"w_prev must be {N} non-negative values summing to 1")
        return value

    # ------------------------------------------------------------ computing
    @traitlets.observe("key", "beta", "g", "shift", "gamma", "prev_mode", "prev_row", "w_prev")
    def _changed(self, change):
        if change["name"] in ("key", "shift") and self._ready:
            # Mirror a list set from code onto its sliders without each slider writing
            # a half-updated list back.
            sliders = self.key_sliders if change["name"] == "key" else self.shift_sliders
            self._syncing = True
            try:
                for s, v in zip(sliders, change["new"]):
                    s.value = v
            finally:
                self._syncing = False
        self._update()

    def previous_weighting(self) -> List[float]:
        N = self.memory.shape[0]
        if self.prev_mode == "row":
            return _one_hot(N, self.prev_row)
        if self.prev_mode == "uniform":
            return [1.0 / N] * N
        return list(self.w_prev)

    def _update(self) -> None:
        if not self._ready:
            return
        if sum(self.shift) <= 0:
            self.message.value = "<span style='color:var(--jp-error-color1, #a00)'>shift: at least one of s(-1), s(0), s(+1) must be above 0; keeping the last result</span>"
            return
        self.message.value = ""
        stages = address_stages(self.memory, self.key, self.beta, self.g, self.shift, self.gamma, self.previous_weighting())
        stages["memory"] = [[float(v) for v in row] for row in self.memory]
        stages["key"] = list(self.key)
        stages["params"] = {"beta": self.beta, "g": self.g, "gamma": self.gamma, "prev_mode": self.prev_mode}
        self.stages = stages
        self.bars.stages = stages

    def __repr__(self) -> str:
        n, m = self.memory.shape
        return f"AddressingExplorer(memory={n}x{m})"

    def _repr_mimebundle_(self, **kwargs):
        return with_plain_text(super()._repr_mimebundle_(**kwargs), repr(self))


def _one_hot(n: int, i: int) -> List[float]:
    w = [0.0] * n
    w[i] = 1.0
    return w
