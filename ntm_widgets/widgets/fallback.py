"""Replay without custom-widget support: plain ipywidgets ``Image``s drawn by the kernel.

For front ends that cannot load an anywidget (some notebook viewers, older VS Code,
nbconvert-to-HTML with only the standard widget manager). Chosen explicitly with
``ReplayPlayer(trace, renderer="image")``. Every step change runs through the kernel:
a numpy colour lookup and a PNG per panel, a few milliseconds, so it tops out at a
few tens of frames per second where the canvas player does not need the kernel at all.

Panels per step t (Graves et al. 2014, arXiv:1410.5401): inputs / targets / outputs
(wrong bits red), each head's weighting over time (N x T) with a cursor column at t,
memory M_t (N x M), the write heads' erase and add vectors, and an HTML table of the
addressing parameters beta, g, s, gamma. The pictures are ``plotting.trace_plots``'s
RGB panels; this module sizes them and puts them in widgets.
"""

from __future__ import annotations

import html
from typing import List, Optional

import ipywidgets as widgets
import numpy as np
import traitlets

from ..plotting.images import png_bytes
from ..plotting.trace_plots import (
    bits_rgb,
    head_label,
    memory_limit,
    memory_rgb,
    nonfinite_note,
    pixels_per_cell,
    weight_limit,
    weights_rgb,
    with_cursor,
    write_vectors_rgb,
)
from ..render.page import write_replay_html
from ..trace import Trace, nonfinite_counts
from .text_repr import with_plain_text


class ImageReplayPlayer(widgets.VBox):
    """Kernel-drawn replay: ``Play`` + slider -> ``step`` -> new PNGs in ``Image`` widgets."""

    step = traitlets.Int(0, help="time step shown, 0 to steps - 1")

    def __init__(self, trace: Trace, interval: int = 150, **kwargs):
        if not isinstance(trace, Trace):
            raise TypeError(f"trace must be an ntm_widgets.trace.Trace, got {type(trace).__name__}")
        if trace.steps < 1:
            raise ValueError("trace must hold at least one step")
        kwargs.pop("renderer", None)
        kwargs.pop("memory_dtype", None)
        super().__init__(**kwargs)
        self.add_class("ntm-replay")
        self.add_class("ntm-replay-fallback")
        self.trace = trace
        T = trace.steps
        self.play = widgets.Play(value=0, min=0, max=T - 1, step=1, interval=int(interval), description="play")
        self.play.add_class("ntm-replay-play")
        self.slider = widgets.IntSlider(value=0, min=0, max=T - 1, description="step", layout=widgets.Layout(width="420px"))
        self.slider.add_class("ntm-replay-slider")
        widgets.jslink((self.play, "value"), (self.slider, "value"))
        widgets.link((self.slider, "value"), (self, "step"))
        self.frames_drawn = 0

        self._precompute()
        self.bits_image = self._image(self._bits_rgb, "ntm-replay-bits")
        self.head_images: List[widgets.Image] = [self._image(rgb, f"ntm-replay-head-{h}") for h, rgb in enumerate(self._head_rgb)]
        self.memory_image = self._image(self._memory_rgb(0), "ntm-replay-memory")
        vectors = self._vectors_rgb(0)
        self.vectors_image = self._image(vectors, "ntm-replay-vectors") if vectors is not None else None
        self.params = widgets.HTML()
        self.title = widgets.HTML()

        def labelled(text, w):
            return widgets.VBox([widgets.HTML(f"<b>{html.escape(text)}</b>"), w])

        left = [labelled("inputs / targets / outputs (wrong bits red)", self.bits_image)]
        left += [labelled(f"{head_label(trace, h)} weighting (rows x time)", im) for h, im in enumerate(self.head_images)]
        right = [labelled(f"memory at step t ({trace.memory_shape[0]} x {trace.memory_shape[1]})", self.memory_image)]
        if self.vectors_image is not None:
            right.append(labelled("erase / add of each write head", self.vectors_image))
        right.append(self.params)
        self.children = [
            self.title,
            widgets.HBox([self.play, self.slider]),
            widgets.HBox([widgets.VBox(left), widgets.VBox(right, layout=widgets.Layout(margin="0 0 0 16px"))]),
        ]
        self._render(0)

    # ------------------------------------------------------------ drawing
    @property
    def ui(self):
        """The widget to embed (the fallback player is its own container)."""
        return self

    def _image(self, rgb: np.ndarray, css_class: str) -> widgets.Image:
        h, w, _ = rgb.shape
        # Explicit pixel size: JupyterLab stretches an Image widget without one.
        im = widgets.Image(
            value=png_bytes(rgb), format="png", width=w, height=h, layout=widgets.Layout(width=f"{w}px", height=f"{h}px")
        )
        im.add_class(css_class)
        return im

    def _precompute(self) -> None:
        """Pixel sizes, colour limits and the time panels, which change only by their cursor."""
        tr = self.trace
        T, (N, M) = tr.steps, tr.memory_shape
        self._sx = pixels_per_cell(T, 640)  # pixels per time step
        by = pixels_per_cell(max(tr.inputs.shape[1], tr.targets.shape[1]), 60, lo=3, hi=10)
        self._bits_rgb = bits_rgb(tr, self._sx, by)
        wmax, hy = weight_limit(tr.weights), pixels_per_cell(N, 120, hi=6)
        self._head_rgb = [weights_rgb(tr, h, self._sx, hy, limit=wmax) for h in range(len(tr.head_kinds))]
        self._mlim = memory_limit(tr.memory)
        self._my = pixels_per_cell(N, 256, hi=8)
        self._mx = pixels_per_cell(M, 200)
        # colormap_rgb clips +-inf to the colour limits and draws NaN grey.
        note = nonfinite_note(sum(nonfinite_counts(tr).values()), "grey")
        self._note = (
            f" &middot; <span class='ntm-replay-nonfinite' style='color:#b00020'>{html.escape(note)}</span>" if note else ""
        )

    def _memory_rgb(self, t: int) -> np.ndarray:
        return memory_rgb(self.trace, t, self._my, self._mx, limit=self._mlim)

    def _vectors_rgb(self, t: int) -> Optional[np.ndarray]:
        return write_vectors_rgb(self.trace, t, self._mx)

    def _params_html(self, t: int) -> str:
        tr = self.trace
        k = (tr.s.shape[-1] - 1) // 2
        head = "".join(f"<th>s({o:+d})</th>" for o in range(-k, k + 1))
        rows = []
        for h in range(len(tr.head_kinds)):
            s = "".join(f"<td>{v:.2f}</td>" for v in tr.s[t, h])
            rows.append(
                f"<tr><td>{html.escape(head_label(tr, h))}</td><td>{tr.beta[t, h]:.2f}</td><td>{tr.g[t, h]:.2f}</td>{s}<td>{tr.gamma[t, h]:.2f}</td></tr>"
            )
        return (
            "<table class='ntm-replay-params' style='font-size:12px'><tr><th>head</th><th>beta</th><th>g</th>"
            f"{head}<th>gamma</th></tr>{''.join(rows)}</table>"
        )

    def _render(self, t: int) -> None:
        tr = self.trace
        self.bits_image.value = png_bytes(with_cursor(self._bits_rgb, t, self._sx))
        for h, im in enumerate(self.head_images):
            im.value = png_bytes(with_cursor(self._head_rgb[h], t, self._sx))
        self.memory_image.value = png_bytes(self._memory_rgb(t))
        if self.vectors_image is not None:
            self.vectors_image.value = png_bytes(self._vectors_rgb(t))
        self.params.value = self._params_html(t)
        wrong = int(tr.wrong_bits[: t + 1].sum())
        phase = "answering" if tr.mask[t] > 0 else "reading input"
        self.title.value = f"<b>step {t} / {tr.steps - 1}</b> &middot; {phase} &middot; wrong bits so far {wrong} of {int(tr.wrong_bits.sum())}{self._note}"
        self.frames_drawn += 1

    # ------------------------------------------------------------ state
    @traitlets.validate("step")
    def _check_step(self, proposal):
        value = int(proposal["value"])
        hi = self.trace.steps - 1
        if not 0 <= value <= hi:
            raise traitlets.TraitError(f"step must be in [0, {hi}] for this {self.trace.steps}-step trace, got {value}")
        return value

    @traitlets.observe("step")
    def _on_step(self, change):
        self.slider.value = change["new"]
        self._render(change["new"])

    @property
    def steps(self) -> int:
        return self.trace.steps

    def save_html(self, path, title: Optional[str] = None) -> str:
        """Standalone HTML replay of this trace (the canvas renderer, which needs no kernel)."""
        return write_replay_html(self.trace, path, title=title)

    def __repr__(self) -> str:
        n, m = self.trace.memory_shape
        return f"ImageReplayPlayer(steps={self.steps}, memory={n}x{m}, heads={len(self.trace.head_kinds)})"

    def _repr_mimebundle_(self, **kwargs):
        return with_plain_text(super()._repr_mimebundle_(**kwargs), repr(self))
