"""The Playground: train a Neural Turing Machine inline, tweak it, watch it learn.

One widget holds everything, in the spirit of TensorFlow Playground: the task and the
machine's sizes (N memory rows of width M, Graves et al. 2014, arXiv:1410.5401,
section 3), the training settings, Train / Pause / Step / Stop / Reset, a status
line, live loss and bit-error curves on a log axis, and a replay of the current model
on a fresh sequence (possibly longer than any it was trained on).

Where Train stops. A line under the buttons says what Train trains towards, from the
config's stopping rule (``target_text``: below ``target_bits`` wrong bits per sequence
on the training lengths, then ``select_lengths``); Train stops there and the status
says it reached the target. "keep training past the target" (``keep_training``) trains
on until Stop; with no ``target_bits`` the line says Train runs until Stop.

Threads. Training runs in a daemon thread so the kernel stays free for the sliders.
One lock (``_step_lock``) makes every training step, model rebuild and replay
recording exclusive; the thread checks the pause and stop flags *after* taking it, so
a Stop or Pause requested now is honoured before the next step starts (at most the
step already running completes). Each thread has its own stop event: once it is set
the thread is on its way out and never trains again, so Train after Stop starts a new
thread rather than waking one that is leaving, and only the newest thread writes the
run state (running, paused, the status). Settings the trainer can change between steps
(learning rate, batch size, lengths) go through ``Trainer.update``; anything that
changes the model's shape (N, M, controller, heads, task, seed) builds a new Trainer,
seeded from the configuration, so a run is reproducible from ``config_json()``.

The curves are throttled: the thread records every step into a numpy buffer, and
sends the (downsampled) history to the browser at most every ``update_interval``
seconds, so watching costs a few percent of training time (benchmarks/
playground_overhead.py measures it).
"""

from __future__ import annotations

import html
import json
import math
import textwrap
import threading
import time
from typing import Any, Dict, List, Optional, Union

import ipywidgets as widgets
import numpy as np
import traitlets

from ..config import CONTROLLERS, TASKS, ConfigError, RunConfig, preset
from ..core import fused
from ..training.trainer import Trainer
from .curves import OVERLAY_COLOURS, ImageCurves, LiveCurves
from .history_view import HistoryTable
from .run_history import KEEP_WEIGHTS, RunHistory, RunRecord


def _default_config() -> RunConfig:
    """The "quick" preset (config.preset: the demo's recipe, 64 x 8 memory, lengths 1-8,
    Adam 1e-2), trained until its stopping rule says the copy is learned: below 0.1
    wrong bits on the training lengths, then selected on longer lengths. No step or time
    budget: Stop ends it sooner."""
    quick = preset("quick")
    return RunConfig(model=quick.model, task=quick.task, train=quick.train.replace(time_limit=None, steps=None))


DEFAULT_CONFIG = _default_config()

# Settings a running Trainer takes at its next step boundary; any other change rebuilds.
LIVE_FIELDS = ("lr", "batch_size", "min_len", "max_len")

# Short names for the status line ("rebuilding model for N=64").
_LABELS = {
    "memory_size": "N",
    "word_size": "M",
    "controller": "controller",
    "controller_size": "controller size",
    "num_read_heads": "read heads",
    "num_write_heads": "write heads",
    "controller_layers": "controller layers",
    "min_repeats": "fewest repeats",
    "max_repeats": "most repeats",
    "item_len": "item length",
    "ngram_order": "n-gram order",
    "sort_outputs": "sorted outputs",
    "shift_range": "shift range",
    "memory_init": "memory init",
    "init_gate_bias": "initial gate bias",
    "name": "task",
    "width": "width",
    "seed": "seed",
}

ConfigLike = Union[None, RunConfig, Dict[str, Any], str]


def as_run_config(config: ConfigLike) -> RunConfig:
    """A fresh RunConfig from a RunConfig, a dict, a JSON string or None (the default)."""
    if config is None:
        return RunConfig.from_dict(DEFAULT_CONFIG.to_dict())
    if isinstance(config, RunConfig):
        return RunConfig.from_dict(config.to_dict())
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except json.JSONDecodeError as exc:
            raise ConfigError("config", f"config must be valid JSON: {exc}") from None
    if isinstance(config, dict):
        return RunConfig.from_dict(config)
    raise ConfigError("config", f"config must be a RunConfig, a dict or a JSON string, got {type(config).__name__}")


def _flat(cfg: RunConfig) -> Dict[str, Any]:
    """Section fields as one dict (field names do not collide across sections)."""
    return {**cfg.model.to_dict(), **cfg.task.to_dict(), **cfg.train.to_dict()}


def _changes(old: RunConfig, new: RunConfig) -> Dict[str, Any]:
    a, b = _flat(old), _flat(new)
    return {k: b[k] for k in b if a.get(k) != b[k]}


def _try_replay_player():
    """The ReplayPlayer class if its module is there (it is written separately)."""
    try:
        from .replay import ReplayPlayer
    except ImportError:
        return None
    return ReplayPlayer


class _Buffer:
    """Growable (T, 3) float64 history of step, loss, bits: O(1) amortised append;
    ``restarts``: the steps that ended with fresh weights (marked on the curves)."""

    def __init__(self, capacity: int = 1024):
        self.data = np.empty((capacity, 3))
        self.n = 0
        self.restarts: List[float] = []

    def append(self, step: float, loss: Optional[float], bits: float) -> None:
        if self.n == self.data.shape[0]:
            self.data = np.concatenate([self.data, np.empty_like(self.data)])
        self.data[self.n] = (step, np.nan if loss is None else loss, bits)
        self.n += 1

    def arrays(self):
        d = self.data[: self.n]
        return d[:, 0], d[:, 1], d[:, 2]


def readable(bits: float) -> str:
    """Wrong bits per sequence for people: "0" below a hundredth of a bit (a score of
    1e-204 is zero for anyone reading it), two decimals below 10, whole numbers above."""
    if bits != bits:  # NaN
        return "n/a"
    if abs(bits) < 0.005:
        return "0"
    return f"{bits:.2f}" if abs(bits) < 10 else f"{bits:,.0f}"


def _lengths(lengths) -> str:
    lengths = sorted(lengths)
    return f"length {lengths[0]}" if len(lengths) == 1 else "lengths " + ", ".join(str(n) for n in lengths)


def target_text(cfg: RunConfig) -> str:
    """What Train trains towards, from the config's stopping rule, in one sentence.

    ``target_bits`` None: no rule, Train runs until Stop. Otherwise it trains until
    validation on the training lengths is below ``target_bits`` and, with
    ``select_lengths``, until the model also copies those longer lengths."""
    t, task = cfg.train, cfg.task
    if t.target_bits is None:
        return "no target in the config: Train runs until Stop"
    span = f"length {task.min_len}" if task.min_len == task.max_len else f"lengths {task.min_len}-{task.max_len}"
    text = f"Train trains until < {t.target_bits:g} wrong bits per sequence on {span}"
    if t.select_lengths:
        bar = f"at most {t.select_bits:g} wrong bits per sequence"
        if t.long_select_length() is not None:
            bar += f", {t.select_long_bits:g} at {t.long_select_length()}"
        text += f", then checks {_lengths(t.select_lengths)} too ({bar})"
    return text + ", then stops"


class Playground(widgets.VBox):
    """Inline NTM training: controls, buttons, status, live curves, replay, config.

    ``Playground()`` starts from ``DEFAULT_CONFIG``; ``Playground(config=...)`` takes a
    RunConfig, a dict or the JSON of ``config_json()`` and reproduces that run.
    ``renderer="image"`` draws the curves (and asks the replay for) PNGs instead of
    custom widgets, for front ends that cannot show them.
    """

    status = traitlets.Unicode("", help="the status line: what is happening, step, sequences, speed, bit error")
    error = traitlets.Unicode("", help="why the current settings cannot train ('' when they can)")
    running = traitlets.Bool(False, help="a training thread (or a synchronous train()) is active")
    paused = traitlets.Bool(False, help="the training thread is waiting at a step boundary")
    step = traitlets.Int(0, help="training steps taken by the current model")
    sequences = traitlets.Int(0, help="training sequences seen by the current model")
    seq_per_s = traitlets.Float(0.0, help="training throughput over the last status interval")
    bits_per_seq = traitlets.Float(
        float("nan"), allow_none=True, help="bit errors per sequence, moving average over recent batches"
    )
    update_interval = traitlets.Float(0.25, help="seconds between curve and status redraws while training (0.05 to 10)")
    replay_length = traitlets.Int(8, help="length of the fresh sequence the replay runs the model on (1 to 1024)")
    auto_replay = traitlets.Bool(True, help="record a new replay whenever training pauses or stops")
    overlay = traitlets.List(traitlets.Int(), help="ids of past runs whose curves are drawn under the current run's")
    keep_training = traitlets.Bool(
        False, help="train past the config's target (the stopping rule still reports when it is reached) until Stop"
    )
    target = traitlets.Unicode("", help="what Train trains towards, shown under the buttons")

    def __init__(self, config: ConfigLike = None, renderer: str = "canvas", keep_weights: int = KEEP_WEIGHTS, **kwargs):
        if renderer not in ("canvas", "image"):
            raise ConfigError("renderer", f"renderer must be 'canvas' or 'image', got {renderer!r}")
        cfg = as_run_config(config)
        if cfg.train.fused:
            # Build (or load) the fused CPU step while the widget is drawn, not at the
            # first Train click: the first build on a machine takes a second or two.
            threading.Thread(target=fused.library, name="ntm-fused-build", daemon=True).start()
        super().__init__(**kwargs)
        self.add_class("ntm-playground")
        self.renderer = renderer
        self._step_lock = threading.RLock()  # one step / rebuild / replay at a time
        self._push_lock = threading.Lock()  # one curve + status message at a time
        self._cond = threading.Condition()  # pause and stop wake-ups
        self._pause_requested = False
        self._stop_event = threading.Event()  # the newest thread's (set: it ends or has ended)
        self._thread: Optional[threading.Thread] = None
        self._rule_done_for: Optional[Trainer] = None  # the trainer whose stopping rule has ended a run
        self._reached: Optional[str] = None  # what the rule said, shown in the target line ("reached at step 20")
        self._syncing = False  # True while code (not the user) sets the controls
        self._base = cfg  # the full config; controls overwrite the fields they show
        self._active = cfg  # what the trainer runs (pending updates included)
        self._activity = "ready"  # what the run is doing: ready, training, paused, stopped ...
        self._note, self._note_until = "", 0.0  # a passing event: "rebuilt model for N=64"
        self._replay_count = 0
        self._player = None
        self._buf = _Buffer()
        self._bits_ema: Optional[float] = None
        self._last_push = 0.0
        self._rate_mark = (time.perf_counter(), 0)
        self.last_rebuild_seconds: Optional[float] = None
        self._history = RunHistory(keep_weights=keep_weights)
        self._run: Optional[RunRecord] = None  # the current model's run, from its first step
        self._run_verdict: Optional[str] = None  # what the stopping rule said about it, if anything
        self._pending_live: Dict[str, Any] = {}  # settings changed mid-run, not yet trained with

        self._build_controls(cfg)
        self._trainer = Trainer(cfg)
        self._set_replay_default(cfg)
        self._sync_buttons()
        self._refresh_config_text(cfg)
        self._refresh_target()
        self._push(force=True)

    # ------------------------------------------------------------------ layout
    def _build_controls(self, cfg: RunConfig) -> None:
        m, t, tr = cfg.model, cfg.task, cfg.train
        style = {"description_width": "110px"}
        wide = widgets.Layout(width="330px")

        def slider(desc, value, lo, hi, cls):
            # The range stretches to hold any valid configured value (a slider clamps).
            w = widgets.IntSlider(
                value=value,
                min=min(lo, value),
                max=max(hi, value),
                description=desc,
                continuous_update=False,
                style=style,
                layout=widgets.Layout(width=wide.width),  # its own: task settings hide theirs
            )
            w.add_class(cls)
            return w

        def range_slider(desc, value, hi, cls):
            w = widgets.IntRangeSlider(
                value=value,
                min=1,
                max=max(hi, value[1]),
                description=desc,
                continuous_update=False,
                style=style,
                layout=widgets.Layout(width=wide.width),
            )
            w.add_class(cls)
            return w

        self.task_dropdown = widgets.Dropdown(options=list(TASKS), value=t.name, description="task", style=style, layout=wide)
        self.task_dropdown.add_class("ntm-task")
        self.n_slider = slider("N (rows)", m.memory_size, 4, 256, "ntm-slider-n")
        self.m_slider = slider("M (width)", m.word_size, 1, 64, "ntm-slider-m")
        self.controller_dropdown = widgets.Dropdown(
            options=list(CONTROLLERS), value=m.controller, description="controller", style=style, layout=wide
        )
        self.controller_dropdown.add_class("ntm-controller")
        self.controller_size_slider = slider("controller size", m.controller_size, 4, 256, "ntm-controller-size")
        self.read_heads_slider = slider("read heads", m.num_read_heads, 1, 4, "ntm-read-heads")
        self.write_heads_slider = slider("write heads", m.num_write_heads, 1, 4, "ntm-write-heads")
        self.layers_slider = slider("controller layers", m.controller_layers, 1, 4, "ntm-controller-layers")
        # Each task's own setting (section 4 of the paper); only the current task's shows.
        self.repeats_slider = range_slider("repeats", (t.min_repeats, t.max_repeats), 20, "ntm-repeats")
        self.item_len_slider = slider("item length", t.item_len, 1, 6, "ntm-item-len")
        self.ngram_order_slider = slider("n-gram order", t.ngram_order, 1, 8, "ntm-ngram-order")
        self.sort_outputs_slider = slider("sorted outputs", t.sort_outputs or 0, 0, 64, "ntm-sort-outputs")
        self.sort_outputs_slider.tooltip = "how many of the highest-priority vectors to output (0: all)"
        self._task_controls = {
            "repeat_copy": self.repeats_slider,
            "associative_recall": self.item_len_slider,
            "ngrams": self.ngram_order_slider,
            "priority_sort": self.sort_outputs_slider,
        }
        self._show_task_control(t.name)

        self.length_slider = range_slider("lengths", (t.min_len, t.max_len), 64, "ntm-slider-len")
        self.batch_slider = slider("batch size", tr.batch_size, 1, 128, "ntm-batch")
        self.lr_slider = widgets.FloatLogSlider(
            value=tr.lr,
            base=10,
            min=min(-5, math.floor(math.log10(tr.lr))),
            max=max(0, math.ceil(math.log10(tr.lr))),
            step=0.1,
            description="learning rate",
            readout_format=".1e",
            continuous_update=False,
            style=style,
            layout=wide,
        )
        self.lr_slider.add_class("ntm-lr")
        self.seed_box = widgets.BoundedIntText(
            value=tr.seed, min=0, max=max(2**31 - 1, tr.seed), description="seed", style=style, layout=wide
        )
        self.seed_box.add_class("ntm-seed")

        # Two columns: what builds the model, and how it trains.
        self._model_controls = [
            self.task_dropdown,
            self.n_slider,
            self.m_slider,
            self.controller_dropdown,
            self.controller_size_slider,
            self.read_heads_slider,
            self.write_heads_slider,
            self.layers_slider,
            *self._task_controls.values(),
        ]
        self._train_controls = [self.length_slider, self.batch_slider, self.lr_slider, self.seed_box]
        self._controls = self._model_controls + self._train_controls
        for w in self._controls:
            w.observe(self._on_control, names="value")

        def button(desc, icon, cls, tip, handler):
            b = widgets.Button(description=desc, icon=icon, tooltip=tip, layout=widgets.Layout(width="90px"))
            b.add_class(cls)
            b.on_click(lambda _b: handler())
            return b

        self.train_button = button("Train", "play", "ntm-train", "train in the background (resumes when paused)", self.start)
        self.pause_button = button("Pause", "pause", "ntm-pause", "pause at the next step boundary", self.pause)
        self.step_button = button("Step", "step-forward", "ntm-step", "one training step", self._step_clicked)
        self.stop_button = button("Stop", "stop", "ntm-stop", "stop at the next step boundary", self._stop_clicked)
        self.reset_button = button("Reset", "undo", "ntm-reset", "new model from the same seed; clears the curves", self.reset)
        self.train_button.button_style = "success"

        self.status_html = widgets.HTML()
        self.status_html.add_class("ntm-status")
        self.target_html = widgets.HTML(layout=widgets.Layout(margin="0 16px 0 0"))
        self.target_html.add_class("ntm-target")
        self.keep_checkbox = widgets.Checkbox(
            value=False,
            description="keep training past the target",
            indent=False,
            tooltip="Train does not stop at the target: it runs until Stop",
            layout=widgets.Layout(width="auto"),
        )
        self.keep_checkbox.add_class("ntm-keep-training")
        widgets.link((self, "keep_training"), (self.keep_checkbox, "value"))
        self.error_html = widgets.HTML(layout=widgets.Layout(display="none"))
        self.error_html.add_class("ntm-playground-error")
        self.curves = ImageCurves() if self.renderer == "image" else LiveCurves()

        self.replay_slider = widgets.IntSlider(
            value=8, min=1, max=128, description="replay length", continuous_update=False, style=style, layout=wide
        )
        self.replay_slider.add_class("ntm-replay-length")
        widgets.link((self, "replay_length"), (self.replay_slider, "value"))
        self.replay_button = widgets.Button(
            description="Replay", icon="film", tooltip="run the current model on a fresh sequence and show every step"
        )
        self.replay_button.add_class("ntm-replay-button")
        self.replay_button.on_click(lambda _b: self.refresh_replay())
        self.replay_box = widgets.VBox([widgets.HTML("<i>Replay: press Replay, or pause/stop training.</i>")])
        self.replay_box.add_class("ntm-replay-area")

        self.config_text = widgets.Textarea(layout=widgets.Layout(width="98%", height="260px"))
        self.config_text.add_class("ntm-config-json")
        self.apply_button = widgets.Button(description="Apply JSON", tooltip="set every control from the JSON above")
        self.apply_button.add_class("ntm-config-apply")
        self.apply_button.on_click(lambda _b: self._apply_json_clicked())
        config_panel = widgets.VBox(
            [
                widgets.HTML(
                    "Configuration as JSON: copy it out, or paste one and press Apply. "
                    "<code>Playground(config=...)</code> takes the same JSON."
                ),
                self.config_text,
                self.apply_button,
            ]
        )
        self.config_accordion = widgets.Accordion(children=[config_panel], selected_index=None)
        self.config_accordion.set_title(0, "configuration (JSON)")
        self.history_table = HistoryTable(on_overlay=self._overlay_clicked, on_restore=self._restore_clicked)

        model_col = widgets.VBox([widgets.HTML("<b>task and machine</b>"), *self._model_controls])
        train_col = widgets.VBox([widgets.HTML("<b>training</b>"), *self._train_controls])
        buttons = widgets.HBox([self.train_button, self.pause_button, self.step_button, self.stop_button, self.reset_button])
        self.children = [
            widgets.HBox([model_col, train_col], layout=widgets.Layout(flex_flow="row wrap")),
            buttons,
            widgets.HBox([self.target_html, self.keep_checkbox], layout=widgets.Layout(align_items="center")),
            self.status_html,
            self.error_html,
            self.history_table,
            self.curves,
            widgets.HBox([self.replay_slider, self.replay_button]),
            self.replay_box,
            self.config_accordion,
        ]

    def _show_task_control(self, task: str) -> None:
        for name, w in self._task_controls.items():
            w.layout.display = None if name == task else "none"

    def _set_replay_default(self, cfg: RunConfig) -> None:
        self.replay_slider.max = max(self.replay_slider.max, 2 * cfg.task.max_len)
        self.replay_length = max(cfg.task.max_len, 2 if cfg.task.name == "associative_recall" else 1)

    # ------------------------------------------------------------ traitlets
    @traitlets.validate("update_interval")
    def _check_interval(self, proposal):
        value = proposal["value"]
        if not 0.05 <= value <= 10:
            raise traitlets.TraitError(f"update_interval must be in [0.05, 10] seconds, got {value}")
        return value

    @traitlets.validate("replay_length")
    def _check_replay_length(self, proposal):
        value = proposal["value"]
        if not 1 <= value <= 1024:
            raise traitlets.TraitError(f"replay_length must be in [1, 1024], got {value}")
        if value > self.replay_slider.max:
            self.replay_slider.max = value
        return value

    @traitlets.observe("status")
    def _show_status(self, change):
        self.status_html.value = f"<span>{html.escape(change['new'])}</span>"

    @traitlets.observe("target")
    def _show_target(self, change):
        self.target_html.value = f"<span class='ntm-target-text'><b>target:</b> {html.escape(change['new'])}</span>"

    @traitlets.observe("keep_training")
    def _on_keep_training(self, change):
        if hasattr(self, "_trainer"):
            self._refresh_target()

    def _refresh_target(self) -> None:
        """The target line: what Train trains towards now (config, keep training, reached)."""
        cfg = self._active
        if self._reached is not None:
            text = f"{self._reached}: Train trains on until Stop"
        elif cfg.train.target_bits is None:
            text = target_text(cfg)
        elif self.keep_training:
            text = target_text(cfg).replace(", then stops", "; keep training is on: Train runs until Stop")
        else:
            text = target_text(cfg)
        self.target = text

    @traitlets.observe("error")
    def _show_error(self, change):
        msg = change["new"]
        self.error_html.value = (
            f"<span style='color:var(--jp-error-color1, #b00020)'>&#9888; {html.escape(msg)}</span>" if msg else ""
        )
        self.error_html.layout.display = None if msg else "none"
        self._sync_buttons()
        if hasattr(self, "_trainer"):
            self._refresh_status()

    @traitlets.observe("running", "paused")
    def _on_run_state(self, change):
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        if not hasattr(self, "train_button"):
            return
        bad = bool(self.error)
        active = self.running and not self.paused
        self.train_button.disabled = bad or active
        self.train_button.description = "Resume" if self.paused else "Train"
        self.pause_button.disabled = not active or self._thread is None
        self.step_button.disabled = bad
        self.stop_button.disabled = not self.running
        self.replay_button.disabled = False

    # ---------------------------------------------------------- configuration
    @property
    def trainer(self) -> Trainer:
        """The Trainer of the current model (replaced on rebuild and reset)."""
        return self._trainer

    @property
    def config(self) -> RunConfig:
        """The configuration the controls describe (the last valid one); a copy."""
        return RunConfig.from_dict(self._active.to_dict())

    @config.setter
    def config(self, value: ConfigLike) -> None:
        self.set_config(value)

    def config_json(self, indent: int = 2) -> str:
        """The configuration as JSON; ``Playground(config=that_json)`` reproduces it."""
        return json.dumps(self._active.to_dict(), indent=indent)

    def config_code(self) -> str:
        """Python that rebuilds this Playground (paste it into a cell)."""
        # Every field, not only those that differ from the defaults: the code must
        # rebuild this run even if a later version changes a default.
        sections = []
        for name, cls in (("model", "ModelConfig"), ("task", "TaskConfig"), ("train", "TrainConfig")):
            args = ", ".join(f"{k}={v!r}" for k, v in getattr(self._active, name).to_dict().items())
            wrapped = textwrap.fill(
                args, width=84, initial_indent=" " * 8, subsequent_indent=" " * 8, break_long_words=False, break_on_hyphens=False
            )
            sections.append(f"    {name}={cls}(\n{wrapped}\n    ),")
        body = "\n".join(sections)
        return (
            "from ntm_widgets import ModelConfig, Playground, RunConfig, TaskConfig, TrainConfig\n\n"
            f"config = RunConfig(\n{body}\n)\nPlayground(config=config)\n"
        )

    def set_config(self, config: ConfigLike) -> None:
        """Set every control from a configuration (RunConfig, dict or JSON)."""
        cfg = as_run_config(config)
        m, t, tr = cfg.model, cfg.task, cfg.train
        self._base = cfg
        self._syncing = True
        try:
            self.task_dropdown.value = t.name
            for w, v in (
                (self.n_slider, m.memory_size),
                (self.m_slider, m.word_size),
                (self.controller_size_slider, m.controller_size),
                (self.read_heads_slider, m.num_read_heads),
                (self.write_heads_slider, m.num_write_heads),
                (self.layers_slider, m.controller_layers),
                (self.item_len_slider, t.item_len),
                (self.ngram_order_slider, t.ngram_order),
                (self.sort_outputs_slider, t.sort_outputs or 0),
                (self.batch_slider, tr.batch_size),
            ):
                w.max, w.min = max(w.max, v), min(w.min, v)
                w.value = v
            self.controller_dropdown.value = m.controller
            self.repeats_slider.max = max(self.repeats_slider.max, t.max_repeats)
            self.repeats_slider.value = (t.min_repeats, t.max_repeats)
            self._show_task_control(t.name)
            self.length_slider.max = max(self.length_slider.max, t.max_len)
            self.length_slider.value = (t.min_len, t.max_len)
            self.lr_slider.min = min(self.lr_slider.min, math.floor(math.log10(tr.lr)))
            self.lr_slider.max = max(self.lr_slider.max, math.ceil(math.log10(tr.lr)))
            self.lr_slider.value = tr.lr
            self.seed_box.max = max(self.seed_box.max, tr.seed)
            self.seed_box.value = tr.seed
        finally:
            self._syncing = False
        self._apply(cfg)

    def _controls_config(self) -> RunConfig:
        b = self._base
        model = b.model.replace(
            memory_size=self.n_slider.value,
            word_size=self.m_slider.value,
            controller=self.controller_dropdown.value,
            controller_size=self.controller_size_slider.value,
            num_read_heads=self.read_heads_slider.value,
            num_write_heads=self.write_heads_slider.value,
            controller_layers=self.layers_slider.value,
        )
        lo, hi = self.length_slider.value
        r_lo, r_hi = self.repeats_slider.value
        task = b.task.replace(
            name=self.task_dropdown.value,
            min_len=lo,
            max_len=hi,
            min_repeats=r_lo,
            max_repeats=r_hi,
            item_len=self.item_len_slider.value,
            ngram_order=self.ngram_order_slider.value,
            sort_outputs=self.sort_outputs_slider.value or None,
        )
        # The slider shows lr rounded to its step; keep the exact value unless moved.
        lr = b.train.lr if np.isclose(self.lr_slider.value, b.train.lr, rtol=1e-6) else float(self.lr_slider.value)
        train = b.train.replace(batch_size=self.batch_slider.value, lr=lr, seed=int(self.seed_box.value))
        return RunConfig(model=model, task=task, train=train)

    def _on_control(self, change) -> None:
        if self._syncing:
            return
        if change["owner"] is self.task_dropdown:
            self._show_task_control(change["new"])
        # Recall needs at least two items and n-grams at least N bits: move the length
        # range up to the task's shortest instead of showing an error.
        task = self.task_dropdown.value
        shortest = {"associative_recall": 2, "ngrams": self.ngram_order_slider.value}.get(task, 1)
        lo, hi = self.length_slider.value
        if lo < shortest and change["owner"] in (self.task_dropdown, self.ngram_order_slider):
            self._syncing = True
            try:
                self.length_slider.max = max(self.length_slider.max, shortest)
                self.length_slider.value = (shortest, max(shortest, hi))
            finally:
                self._syncing = False
        try:
            cfg = self._controls_config()
        except ConfigError as exc:
            self.error = str(exc)
            self._error_field = exc.field
            return
        self._apply(cfg)

    def _apply(self, cfg: RunConfig) -> None:
        """Hand a valid configuration to the trainer: live update or rebuild."""
        changes = _changes(self._active, cfg)
        try:
            if changes and set(changes) <= set(LIVE_FIELDS):
                self._trainer.update(**changes)  # applied at the next step boundary
                what = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in changes.items())
                run = self._run
                if run is not None and self._trainer.step_count > 0:
                    # Recorded in the run when a step trains with it (a Reset first: never).
                    self._pending_live.update(changes)
                    self._set_note(f"{what} applies at the next step of run {run.run_id} (Reset: a new run with it)")
                else:
                    self._set_note(f"{what} applies at the next step")
            elif changes:
                self._rebuild(cfg, changes)
        except ConfigError as exc:
            self.error = str(exc)
            self._error_field = exc.field
            return
        self._base = cfg
        self._active = cfg
        self.error = ""
        self._refresh_config_text(cfg)
        self._refresh_target()
        self._refresh_status()

    def _rebuild(self, cfg: RunConfig, changes: Dict[str, Any]) -> None:
        what = ", ".join(f"{_LABELS.get(k, k)}={v}" for k, v in changes.items())
        self._set_note(f"rebuilding model for {what}")
        self._refresh_status()
        t0 = time.perf_counter()
        with self._step_lock:  # waits for the step in flight, if any
            self._close_run()
            self._trainer = Trainer(cfg)
            self._clear_history()
        self.last_rebuild_seconds = time.perf_counter() - t0
        self._set_note(f"rebuilt model for {what}")
        self._set_replay_default(cfg)
        self._push(force=True)
        # The replay on screen shows the old model: replace it.
        if self.running and not self.paused:
            self.replay_box.children = [
                widgets.HTML(
                    f"<i>Model rebuilt for {html.escape(what)}: the replay refreshes when training pauses or stops, or press Replay.</i>"
                )
            ]
        elif self.auto_replay and self._player is not None:
            self.refresh_replay()

    def _refresh_config_text(self, cfg: RunConfig) -> None:
        self.config_text.value = json.dumps(cfg.to_dict(), indent=2)

    def _apply_json_clicked(self) -> None:
        try:
            self.set_config(self.config_text.value)
        except ConfigError as exc:
            self.error = str(exc)
            self._error_field = exc.field

    # ------------------------------------------------------------ history
    def _clear_history(self) -> None:
        self._buf = _Buffer()
        self._bits_ema = None
        self._rule_done_for = None
        self._reached = None
        if hasattr(self, "target_html"):
            self._refresh_target()
        self._rate_mark = (time.perf_counter(), 0)
        self.seq_per_s = 0.0

    def _step(self) -> bool:
        """One training step and the config's stopping rule; True when it ends the run.

        With ``keep_training`` the rule is still asked (the status and the target line
        say when the target is reached) but the run goes on until Stop."""
        tr = self._trainer
        t0 = time.perf_counter()
        record = tr.train_step()
        # Once the rule has ended a run (learned, or selection gave up), Train again
        # means "keep training" until Stop. Asking the rule again would end the run
        # within select_every steps after a give-up, and load the old best weights back.
        done = tr.converged or self._rule_done_for is tr
        verdict = None if done else tr.after_step(record)
        if verdict is not None:
            self._rule_done_for = tr
        self._track(time.perf_counter() - t0, verdict)
        self._record(record)
        on = "; keep training is on, so it trains on until Stop" if self.keep_training else ""
        if verdict == "converged":
            self._reached = f"target reached at step {tr.step_count:,}"
            if tr.last_select is not None:
                at = ", ".join(f"{n}: {readable(b)}" for n, b in tr.last_select["lengths"].items())
                self._set_note(
                    f"learned: it copies longer sequences too (wrong bits per sequence at length {at}){on}", seconds=3600.0
                )
            else:
                self._set_note(f"learned: validation below the target{on}", seconds=3600.0)
        elif verdict == "select_steps":
            self._reached = f"selection gave up at step {tr.step_count:,} (kept its best candidate)"
            self._set_note(f"selection gave up (no restarts set): kept its best candidate{on}", seconds=3600.0)
            if not self.keep_training:
                tr.use_best()
        if verdict is not None:
            self._refresh_target()
        return verdict is not None and not self.keep_training

    def _record(self, record: Dict) -> None:
        """Called after every step (in whatever thread trains): cheap, then throttled."""
        bits = record["bits_per_seq"]
        if "restarts" in record:  # this step ended with a restart
            self._buf.restarts.append(float(record["step"]))
            self._set_note(
                f"{self._restart_cause(record)}: restarted from fresh weights (attempt {record['restarts'] + 1})", seconds=10.0
            )
        self._buf.append(record["step"], record["loss"], bits)
        self._bits_ema = bits if self._bits_ema is None else 0.9 * self._bits_ema + 0.1 * bits
        if time.perf_counter() - self._last_push >= self.update_interval:
            self._push()

    def _restart_cause(self, record: Dict) -> str:
        """Why the trainer restarted at this step, in the status line's words."""
        t = self._trainer.cfg.train
        lengths = ", ".join(str(n) for n in t.select_lengths or ())
        why = record.get("restart_why")
        if why == "select_early":
            return (
                f"learned the training lengths, but its first answers at length {lengths} were over "
                f"{t.select_early_bits:g} wrong bits (a program that fails on long sequences)"
            )
        if why == "select_steps":
            return f"learned the training lengths, but did not pass at length {lengths} within {t.select_steps:,} steps"
        return f"stuck above {t.restart_bits:g} bits/seq after {t.restart_after:,} steps"

    def _push(self, force: bool = False) -> None:
        """Send the curves and the status line to the front end."""
        now = time.perf_counter()
        if self.renderer == "image" and not force and now - self._last_push < max(1.0, self.update_interval):
            return  # matplotlib takes tens of ms a frame: at most one a second
        self._last_push = now
        with self._push_lock:  # the training thread and a button may both push
            steps, loss, bits = self._buf.arrays()
            self.curves.set_data(steps, loss, bits, restarts=self._buf.restarts)
            self._refresh_status()

    def _set_note(self, text: str, seconds: float = 3.0) -> None:
        self._note, self._note_until = text, time.perf_counter() + seconds

    def _refresh_status(self) -> None:
        tr = self._trainer
        now = time.perf_counter()
        t_mark, s_mark = self._rate_mark
        if self.running and not self.paused and now - t_mark > 0.05 and tr.sequences > s_mark:
            self.seq_per_s = (tr.sequences - s_mark) / (now - t_mark)
            self._rate_mark = (now, tr.sequences)
        self.step = tr.step_count
        self.sequences = tr.sequences
        self.bits_per_seq = float("nan") if self._bits_ema is None else self._bits_ema
        fresh = tr.step_count == 0 and not self.running
        activity = "new model, not trained yet" if fresh else self._activity
        parts = ["cannot train (see the message below)" if self.error and not self.running else activity]
        if self._note and now < self._note_until:
            parts.append(self._note)
        if not fresh:
            parts += [f"step {tr.step_count:,}", f"{tr.sequences:,} sequences"]
        if self.seq_per_s > 0:
            parts.append(f"{self.seq_per_s:,.0f} seq/s")
        if self._bits_ema is not None:
            parts.append(f"bit error {readable(self._bits_ema)}/seq")
        if tr.stage == "select" and tr.last_select is not None and not tr.converged:
            parts.append(f"longer lengths {readable(tr.last_select['bits'])}/seq")
        self.status = " \u00b7 ".join(parts)

    # ------------------------------------------------------------ training
    def _check_trainable(self) -> None:
        if self.error:
            raise ConfigError(getattr(self, "_error_field", "config"), self.error)

    def start(self) -> bool:
        """Train in a background thread (or resume a paused one). False if it cannot.

        True means a thread trains (or is about to take its next step): after Stop, or
        once the stopping rule has ended a run, a new thread starts, even while the old
        one is still finishing its last step.
        """
        if self.error:
            return False
        with self._cond:
            thread = self._thread
            alive = thread is not None and thread.is_alive()
            if alive and not self._stop_event.is_set():
                self._pause_requested = False  # resume; a no-op when it is not paused
                self._activity = "training"
                self._cond.notify_all()
            else:
                if self.running and not alive:  # a synchronous train() holds the model (another subshell)
                    return False
                stop_event = threading.Event()
                self._stop_event = stop_event
                self._pause_requested = False
                self._activity = "training"
                self._rate_mark = (time.perf_counter(), self._trainer.sequences)
                self._thread = threading.Thread(
                    target=self._loop, args=(stop_event, thread if alive else None), name="ntm-playground-train", daemon=True
                )
                self.running, self.paused = True, False
                self._thread.start()
        self._sync_buttons()
        with self._push_lock:
            self._refresh_status()  # the status says "training" now, not at the next redraw
        return True

    def _is_current(self) -> bool:
        return self._thread is threading.current_thread()

    def _end_activity(self, stop_event_was_rule: bool) -> str:
        """The status's first words once a run ends: why it ended."""
        if not stop_event_was_rule:
            return "stopped"
        return "reached the target, stopped" if self._trainer.converged else "stopped by the stopping rule"

    def _loop(self, stop_event: threading.Event, previous: Optional[threading.Thread] = None) -> None:
        if previous is not None:
            previous.join()  # it is stopping: at most its last step, so one thread steps at a time
        rule_ended = False
        try:
            while True:
                with self._step_lock:
                    if stop_event.is_set():
                        break
                    if not self._pause_requested:
                        if self._step():
                            rule_ended = True
                            break
                        continue
                self._wait_paused(stop_event)
        except Exception as exc:  # show it in the widget; never a traceback from a thread
            self.error = f"training stopped: {type(exc).__name__}: {exc}"
        finally:
            with self._cond:
                # From here on start() sees this thread as leaving and starts another.
                stop_event.set()
                current = self._is_current()
                if current:
                    self._activity = self._end_activity(stop_event_was_rule=rule_ended)
                    self.running, self.paused = False, False
            if current:
                self._push(force=True)
                with self._step_lock:  # after the status says "stopped": it validates
                    self._snapshot_run("stopped")
                if self.auto_replay:
                    self.refresh_replay()

    def _wait_paused(self, stop_event: threading.Event) -> None:
        with self._cond:
            if stop_event.is_set() or not self._is_current() or not self._pause_requested:
                return  # stopping, replaced, or Train came first: no pause to show
            self.paused = True
            self._activity = "paused"
        self._push(force=True)
        with self._step_lock:  # after the status says "paused": it validates
            self._snapshot_run("paused")
        if self.auto_replay:
            self.refresh_replay()
        with self._cond:
            while self._pause_requested and not stop_event.is_set():
                self._cond.wait(0.5)
            if not stop_event.is_set():
                self._activity = "training"
                self._rate_mark = (time.perf_counter(), self._trainer.sequences)
                self.paused = False
        # Stopping: ``paused`` stays until ``finally`` (or a new thread) clears it, so
        # the button does not flicker from Resume to Train and back.

    def pause(self) -> None:
        """Pause the training thread at the next step boundary."""
        if self.running:
            self._pause_requested = True

    def resume(self) -> None:
        """Continue a paused training thread."""
        with self._cond:
            self._pause_requested = False
            self._cond.notify_all()

    def stop(self, wait: bool = True, timeout: Optional[float] = None) -> None:
        """Stop training before the next step starts; ``wait`` joins the thread."""
        with self._cond:
            self._stop_event.set()
            self._pause_requested = False
            self._cond.notify_all()
        if wait:
            self.wait(timeout)

    def _stop_clicked(self) -> None:
        self.stop(wait=False)  # a button handler must not block the kernel

    def wait(self, timeout: Optional[float] = None) -> None:
        """Join the background training thread (returns at once if none)."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _step_clicked(self) -> None:
        try:
            self.step_once()
        except ConfigError:
            pass  # already shown in the error box

    def step_once(self) -> Dict:
        """Exactly one training step (pausing a running thread first). The record."""
        self._check_trainable()
        self.pause()
        with self._step_lock:
            t0 = time.perf_counter()
            record = self._trainer.train_step()
            self._track(time.perf_counter() - t0)
            self._record(record)
            self._snapshot_run("stepped", measure=False)
        if not self.running:
            self._activity = "stepped"
        self._push(force=True)
        return record

    def train(self, steps: int) -> Dict:
        """Train ``steps`` steps in the calling thread and return the trainer's summary.

        For notebooks and tests: it returns when done, so nothing runs (or prints)
        after the cell ends. Refuses while a background thread trains.
        """
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
            raise ConfigError("steps", f"steps must be an integer >= 0, got {steps!r}")
        self._check_trainable()
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("training is running in the background; call stop() first")
        t0 = time.perf_counter()
        self._activity = "training"
        self._rate_mark = (t0, self._trainer.sequences)
        self.running, self.paused = True, False
        rule_ended = False
        try:
            for _ in range(steps):
                with self._step_lock:
                    if self._step():
                        rule_ended = True
                        break
        finally:
            self._refresh_status()  # rate over the whole call
            self.running = False
            self._activity = self._end_activity(True) if rule_ended else "trained"
            with self._step_lock:
                self._snapshot_run("steps")
            self._push(force=True)
        if self.auto_replay:
            self.refresh_replay()
        return self._trainer.summary(wall=time.perf_counter() - t0, reason="steps")

    def reset(self) -> None:
        """Stop, then a new model from the same configuration and seed; clears curves."""
        self.stop(wait=True)
        cfg = self._active
        with self._step_lock:
            self._close_run()
            self._trainer = Trainer(cfg)
            self._clear_history()
        self._replay_count = 0
        self.replay_box.children = [widgets.HTML("<i>Replay: press Replay, or pause/stop training.</i>")]
        self._player = None
        self._activity = "reset"
        self._set_note(f"new model from seed {cfg.train.seed}")
        if self.error.startswith("training stopped"):
            self.error = ""
        self._push(force=True)

    # ------------------------------------------------------------ run history
    @property
    def history(self) -> RunHistory:
        """Every run this Playground trained, oldest first (``RunHistory`` of ``RunRecord``).

        A run starts at the first step after a rebuild (a change of the task or the
        machine) or a Reset; more Train presses on the same model continue it. Each keeps
        its starting config, what it changed from the previous run, down-sampled curves
        (at most 1,000 points), counts, seconds, the final validation bit errors and,
        once converged, generalisation at 2x and 4x the longest training length.
        ``history_frame()`` is the same as a DataFrame."""
        return self._history

    def history_frame(self):
        """The run history as a pandas DataFrame with a sweep's columns (trial_id "run-N",
        the fields that differ between runs, ``sweep.results.RESULT_FIELDS``, run,
        restarts, changed, live, gen_{L}_mean / _max, error, config); ``SweepView`` takes it."""
        return self._history.frame()

    def restore(self, run_id: int) -> RunConfig:
        """Put run ``run_id``'s starting configuration on the controls. If the current model
        has trained, it is reset too, so the next Train starts a new run from that
        configuration (seeded: the same run again). Returns the configuration."""
        record = self._history.get(run_id)
        self.stop(wait=True)
        with self._step_lock:
            self._close_run()
        self.set_config(record.config)
        if self._trainer.step_count > 0:  # only live settings differed: the model was kept
            self.reset()
        self._set_note(f"restored run {run_id}'s configuration: Train starts a new run from it", seconds=10.0)
        self._push(force=True)
        return self.config

    def save_history(self, folder):
        """Write the history to ``folder`` (``RunHistory.save``): index.json, results.csv
        and a run folder per run that ``ntm-widgets eval`` / ``replay`` take (the current
        run's with its whole training state). Returns the folder's Path."""
        with self._step_lock:
            if self._run is not None:
                self._snapshot_run("")
            live = (self._run, self._trainer) if self._run is not None else None
            return self._history.save(folder, live=live)

    def load_history(self, folder) -> RunHistory:
        """Add the runs saved in ``folder`` (by ``save_history``) to this history, numbered
        after the runs already here; they can be overlaid and restored like any other."""
        loaded = RunHistory.load(folder, keep_weights=self._history.keep_weights)
        offset = self._history.runs[-1].run_id if self._history.runs else 0
        for r in loaded.runs:
            r.run_id += offset
        with self._step_lock:
            if self._run is not None:  # the current run stays the newest
                self._history.runs[-1:-1] = loaded.runs
            else:
                self._history.runs.extend(loaded.runs)
        self._refresh_history_view()
        return self._history

    def _track(self, seconds: float, verdict: Optional[str] = None) -> None:
        """After each step (the step lock held): the current run, made at its first step."""
        run = self._run
        if run is None:
            run = self._run = self._history.new_run(self._trainer.cfg)
            self._run_verdict = None
            self._refresh_history_view()
        run.seconds += seconds
        if self._pending_live:
            run.live.append((self._trainer.step_count, self._pending_live))
            self._pending_live = {}
        if verdict is not None:
            self._run_verdict = verdict

    def _snapshot_run(self, reason: str, measure: bool = True) -> None:
        """Copy the current run's state into its record (the step lock held)."""
        run = self._run
        if run is None:
            return
        steps, loss, bits = self._buf.arrays()
        self._history.snapshot(run, self._trainer, steps, loss, bits, reason=self._run_verdict or reason, measure=measure)
        self._refresh_history_view()

    def _close_run(self) -> None:
        """The current model is about to be replaced: its run is final."""
        self._pending_live = {}
        if self._run is not None:
            self._snapshot_run("")
            self._run = None
            self._refresh_history_view()

    def _refresh_history_view(self) -> None:
        table = getattr(self, "history_table", None)
        if table is None:
            return
        current = self._run.run_id if self._run is not None else None
        table.refresh(self._history.runs, overlay=self.overlay, current=current)
        if self.overlay or self.curves.label:
            self._push_overlays()

    @traitlets.validate("overlay")
    def _check_overlay(self, proposal):
        ids = {r.run_id for r in self._history.runs}
        unknown = [i for i in proposal["value"] if i not in ids]
        if unknown:
            raise traitlets.TraitError(f"overlay: no run {unknown[0]} in the history (runs: {sorted(ids)})")
        return list(dict.fromkeys(proposal["value"]))

    @traitlets.observe("overlay")
    def _on_overlay(self, change):
        self._refresh_history_view()
        self._push_overlays()

    def _overlay_clicked(self, run_id: int, on: bool) -> None:
        ids = [i for i in self.overlay if i != run_id] + ([run_id] if on else [])
        if ids != list(self.overlay):
            self.overlay = ids

    def _restore_clicked(self, run_id: int) -> None:
        try:
            self.restore(run_id)
        except (ConfigError, KeyError) as exc:
            self.error = f"cannot restore run {run_id}: {exc}"

    def _push_overlays(self) -> None:
        current = self._run.run_id if self._run is not None else None
        runs = [r for r in self._history.runs if r.run_id in self.overlay and r.run_id != current]
        series = [
            {
                "label": r.label,
                "color": OVERLAY_COLOURS[(r.run_id - 1) % len(OVERLAY_COLOURS)],
                "steps": r.steps,
                "loss": r.loss,
                "bits": r.bits,
            }
            for r in runs
        ]
        label = f"{self._run.label} (current)" if self._run is not None else "new run (current)"
        with self._push_lock:
            self.curves.set_overlays(series, label=label if series else "")

    # ------------------------------------------------------------ replay
    def record_replay(self, length: Optional[int] = None):
        """A Trace of the current model on a fresh seeded sequence of ``length``."""
        from ..trace import record_trace

        length = self.replay_length if length is None else int(length)
        if length < 1:
            raise ConfigError("replay_length", f"replay_length must be >= 1, got {length}")
        self._replay_count += 1
        seed = (self._active.train.seed * 1_000_003 + 7919 + self._replay_count) % (2**63)
        with self._step_lock:
            return record_trace(self._trainer.model, self._trainer.task, length, seed=seed)

    def refresh_replay(self, length: Optional[int] = None) -> None:
        """Record a new trace and show it (ReplayPlayer when available)."""
        try:
            trace = self.record_replay(length)
        except Exception as exc:  # shown, not raised: this runs from buttons and threads
            self.replay_box.children = [widgets.HTML(f"<i>replay unavailable: {html.escape(str(exc))}</i>")]
            return
        self.last_trace = trace
        player_cls = _try_replay_player()
        if player_cls is None:
            self.replay_box.children = [widgets.HTML(self._trace_summary(trace))]
            return
        player = self._player
        if player is not None and hasattr(player, "set_trace"):
            try:
                player.set_trace(trace)  # reuse the widget: only the new bytes travel
                view = getattr(player, "ui", player)
                if self.replay_box.children != (view,):
                    self.replay_box.children = [view]
                return
            except Exception:
                pass  # fall back to a new player below
        try:
            player = player_cls(trace, renderer="image") if self.renderer == "image" else player_cls(trace)
        except Exception as exc:
            self.replay_box.children = [
                widgets.HTML(self._trace_summary(trace) + f"<br><i>player failed: {html.escape(str(exc))}</i>")
            ]
            return
        self._player = player
        # ``ui`` is the player with its Play / scrub controls, when it offers one.
        self.replay_box.children = [getattr(player, "ui", player)]

    @staticmethod
    def _trace_summary(trace) -> str:
        n, m = trace.memory_shape
        meta = trace.meta
        return (
            f"<div class='ntm-replay-placeholder'>replay of {html.escape(str(meta.get('task')))}, length {meta.get('length')}: "
            f"{trace.steps} steps over a {n} x {m} memory, {meta.get('bits_wrong')} bits wrong "
            f"(the replay player is not installed)</div>"
        )

    def close(self) -> None:
        """Stop training (joining the thread), then close the widget."""
        if hasattr(self, "_stop_event"):  # not when __init__ failed early
            self.stop(wait=True, timeout=30)
        super().close()

    # ------------------------------------------------------------ display
    def __repr__(self) -> str:
        c = self._active
        return (
            f"Playground(task={c.task.name!r}, N={c.model.memory_size}, M={c.model.word_size}, steps={self._trainer.step_count})"
        )
