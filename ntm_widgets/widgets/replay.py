"""ReplayPlayer: a recorded NTM run (``Trace``) drawn step by step in the browser.

What it shows at step t (Graves et al. 2014, arXiv:1410.5401, section 3): memory
``M_t`` (N x M, diverging colours), each head's weighting ``w_t`` over time (N x T)
with a cursor at t, each write head's erase ``e_t`` and add ``a_t`` vectors (eq. 3-4),
each head's addressing parameters ``beta, g, s, gamma`` (eq. 5-9), and the inputs,
targets and outputs with wrong bits marked.

The whole trace crosses to the front end once, as bytes (``Trace.to_bytes``); an
ipywidgets ``Play`` and an ``IntSlider`` are linked to ``step`` in the browser
(``jslink``), so playing and scrubbing never wait for the kernel. The canvas renderer
is ``ntm_widgets/render/replay.js``; the standalone HTML export
(``ntm_widgets.render.page``) runs the same file, controls included.

Displaying a ``ReplayPlayer`` shows ``player.ui``: the ipywidgets controls above the
canvas. Put ``player.ui`` inside other containers too; a player embedded bare draws
replay.js's own play / step / scrub bar instead (``builtin_controls="auto"``). The
ipywidgets controls stay because they are part of the player's interface:
``player.play`` and ``player.slider`` can be linked to other widgets, and
``player.ui`` is what the Playground and notebooks embed.
"""

from __future__ import annotations

import time
from typing import Optional

import anywidget
import ipywidgets as widgets
import traitlets

from ..render.colormaps import colormap_tables
from ..render.page import REPLAY_CSS, REPLAY_JS, write_replay_html
from ..trace import Trace, read_trace_header
from .text_repr import with_plain_text

RENDERERS = ("canvas", "image")


def check_renderer(renderer: str) -> str:
    if renderer not in RENDERERS:
        raise ValueError(f"renderer must be one of {RENDERERS}, got {renderer!r}")
    return renderer


class ReplayPlayer(anywidget.AnyWidget):
    """Replay a ``Trace`` on a canvas: ``ReplayPlayer(trace)``; ``renderer="image"``
    returns the kernel-drawn fallback (``fallback.ImageReplayPlayer``) instead.

    Attributes: ``step`` (synced), ``trace`` (the Python ``Trace``), ``play`` and
    ``slider`` (the controls), ``ui`` (controls + canvas, for embedding),
    ``load_seconds`` (widget creation to the browser having decoded the bytes, once a
    front end reports it).
    """

    _esm = REPLAY_JS
    _css = REPLAY_CSS

    trace_bytes = traitlets.Bytes(help="the whole trace, encoded by Trace.to_bytes").tag(sync=True)
    step = traitlets.Int(0, help="time step shown, 0 to steps - 1").tag(sync=True)
    steps = traitlets.Int(1, read_only=True, help="number of time steps in the trace")
    width = traitlets.Int(960, help="canvas width in CSS pixels (480 to 4096)").tag(sync=True)
    colormaps = traitlets.Dict(help="256 x RGB lookup tables: memory, weights, bits").tag(sync=True)
    builtin_controls = traitlets.Enum(
        ("auto", "on", "off"),
        "auto",
        help="replay.js's own play/step/scrub bar: 'auto' shows it only when the player is embedded without its .ui box",
    ).tag(sync=True)
    interval = traitlets.Int(
        80, help="milliseconds between steps when playing (1 to 5000); the Play widget and the built-in bar both use it"
    ).tag(sync=True)
    frontend_info = traitlets.Dict(help="set by the browser once it has decoded the trace").tag(sync=True)

    def __new__(cls, trace: Optional[Trace] = None, renderer: str = "canvas", **kwargs):
        if check_renderer(renderer) == "image":
            from .fallback import ImageReplayPlayer

            return ImageReplayPlayer(trace, **kwargs)
        return super().__new__(cls)

    def __init__(self, trace: Trace, renderer: str = "canvas", interval: int = 80, memory_dtype: str = "auto", **kwargs):
        check_renderer(renderer)
        if not isinstance(trace, Trace):
            raise TypeError(f"trace must be an ntm_widgets.trace.Trace, got {type(trace).__name__}")
        self._created = time.perf_counter()
        self.load_seconds: Optional[float] = None
        self._memory_dtype = memory_dtype
        super().__init__(colormaps=colormap_tables(), interval=interval, **kwargs)
        self.add_class("ntm-replay")
        self.play = widgets.Play(
            value=0, min=0, max=max(trace.steps - 1, 0), step=1, interval=self.interval, description="play", repeat=False
        )
        self.play.add_class("ntm-replay-play")
        self.slider = widgets.IntSlider(
            value=0,
            min=0,
            max=max(trace.steps - 1, 0),
            description="step",
            continuous_update=True,
            layout=widgets.Layout(width="420px"),
        )
        self.slider.add_class("ntm-replay-slider")
        # Browser-side links: the step moves with no kernel round trip.
        self._links = [
            widgets.jslink((self.play, "value"), (self, "step")),
            widgets.jslink((self.slider, "value"), (self, "step")),
            widgets.link((self, "interval"), (self.play, "interval")),  # rare: through the kernel is fine
        ]
        self.controls = widgets.HBox([self.play, self.slider])
        self.ui = widgets.VBox([self.controls, self])
        self.ui.add_class("ntm-replay-ui")
        self.set_trace(trace)

    # ------------------------------------------------------------ data
    def set_trace(self, trace: Trace) -> None:
        """Show another trace (sends its bytes once); the step goes back to 0."""
        if not isinstance(trace, Trace):
            raise TypeError(f"trace must be an ntm_widgets.trace.Trace, got {type(trace).__name__}")
        if trace.steps < 1:
            raise ValueError("trace must hold at least one step")
        self.trace = trace
        with self.hold_trait_notifications():
            self.step = 0
            self.set_trait("steps", trace.steps)
            self.play.value = 0
            self.slider.value = 0
            self.play.max = self.slider.max = trace.steps - 1
            self.frontend_info = {}
            self.trace_bytes = trace.to_bytes(memory_dtype=self._memory_dtype)

    @property
    def header(self) -> dict:
        """The JSON header of the bytes sent (shapes, offsets, colour limits)."""
        return read_trace_header(self.trace_bytes)

    @classmethod
    def from_trainer(cls, trainer, length: int, seed: int = 0, **kwargs) -> "ReplayPlayer":
        """Record the trainer's current model on one fresh sequence and replay it."""
        from ..trace import record_trace

        return cls(record_trace(trainer.model, trainer.task, length=length, seed=seed), **kwargs)

    @classmethod
    def from_run(cls, run_dir, length: int, seed: int = 0, **kwargs) -> "ReplayPlayer":
        """Load a run folder's checkpoint (``ntm-widgets train --out``) and replay it."""
        return cls(trace_from_run(run_dir, length=length, seed=seed), **kwargs)

    # ------------------------------------------------------------ state
    @traitlets.validate("step")
    def _check_step(self, proposal):
        value = int(proposal["value"])
        hi = self.steps - 1
        if not 0 <= value <= hi:
            raise traitlets.TraitError(f"step must be in [0, {hi}] for this {self.steps}-step trace, got {value}")
        return value

    @traitlets.validate("interval")
    def _check_interval(self, proposal):
        value = int(proposal["value"])
        if not 1 <= value <= 5000:
            raise traitlets.TraitError(f"interval must be in [1, 5000] milliseconds, got {value}")
        return value

    @traitlets.validate("width")
    def _check_width(self, proposal):
        value = int(proposal["value"])
        if not 480 <= value <= 4096:
            raise traitlets.TraitError(f"width must be in [480, 4096] pixels, got {value}")
        return value

    @traitlets.observe("frontend_info")
    def _on_frontend(self, change):
        if change["new"].get("decoded") and self.load_seconds is None:
            self.load_seconds = time.perf_counter() - self._created

    def save_html(self, path, title: Optional[str] = None) -> str:
        """Write a standalone HTML replay of this trace (same renderer, data inlined)."""
        return write_replay_html(self.trace, path, title=title)

    # ------------------------------------------------------------ display
    def __repr__(self) -> str:
        n, m = self.trace.memory_shape
        return f"ReplayPlayer(steps={self.steps}, memory={n}x{m}, heads={len(self.trace.head_kinds)})"

    def _repr_mimebundle_(self, **kwargs):
        # Show controls and canvas together; keep this short repr as the text.
        return with_plain_text(self.ui._repr_mimebundle_(**kwargs), repr(self))


def trace_from_run(run_dir, length: int, seed: int = 0) -> Trace:
    """Record one sequence of ``length`` from the model saved in ``run_dir``."""
    from ..trace import record_trace
    from ..training import Trainer

    trainer = Trainer.load_run(run_dir, device="cpu")
    return record_trace(trainer.model, trainer.task, length=length, seed=seed)
