"""SweepView: pick two axes of a sweep and a metric, see the heatmap.

    view = SweepView(results)          # a DataFrame from ntm_widgets.sweep.run_sweep
    view = SweepView(playground)       # or a Playground's run history (history_frame())
    view.x, view.y = "memory_size", "max_len"

State lives in traitlets (``x``, ``y``, ``metric``, ``agg``) checked in ``@validate``;
the dropdowns are linked to them, and every change redraws through the pure
``plotting.sweep.sweep_heatmaps`` into an ``Image`` as PNG bytes, so the view works
the same without a browser (tests read ``view.image.value``).
"""

from __future__ import annotations

from typing import List, Optional

import ipywidgets as widgets
import traitlets

from ..plotting.sweep import AGGREGATES, figure_png, sweep_heatmaps

# Result columns that make sense to colour a heatmap by (when present).
METRIC_ORDER = ("seconds", "bits_per_seq", "converged", "sequences", "steps", "train_seconds")


def sweep_axes(df) -> List[str]:
    """Swept columns of a results table: between ``trial_id`` and ``converged``."""
    cols = list(df.columns)
    if "trial_id" in cols and "converged" in cols:
        return cols[cols.index("trial_id") + 1 : cols.index("converged")]
    raise ValueError("results must be a sweep table (columns trial_id, the swept fields, converged, ...)")


def as_results(results):
    """A results DataFrame from a DataFrame, a sweep's results file (.csv / .json), a
    Playground (its ``history_frame()``), a ``RunHistory``, or a folder written by
    ``Playground.save_history``."""
    from pathlib import Path

    if hasattr(results, "history_frame"):
        return results.history_frame()
    if hasattr(results, "frame") and hasattr(results, "runs"):
        return results.frame()
    if isinstance(results, (str, bytes)) or hasattr(results, "__fspath__"):
        path = Path(results.decode() if isinstance(results, bytes) else results)
        if path.is_dir():
            from .run_history import RunHistory

            return RunHistory.load(path).frame()
        from ..sweep import load_results

        return load_results(path)
    return results


def sweep_metrics(df) -> List[str]:
    present = [m for m in METRIC_ORDER if m in df.columns]
    return present + [c for c in df.columns if c.startswith("gen_") and c.endswith("_mean")]


class SweepView(widgets.VBox):
    """Heatmap of one sweep metric over two chosen axes, the other axes aggregated."""

    x = traitlets.Unicode(help="swept field along the columns").tag(sync=False)
    y = traitlets.Unicode(help="swept field along the rows (must differ from x)").tag(sync=False)
    metric = traitlets.Unicode("seconds", help="result column coloured in the heatmap")
    agg = traitlets.Unicode("median", help="how trials that share a cell combine: median, mean, min or max")
    error = traitlets.Unicode("", help="why the current choice cannot be drawn ('' when it can)")

    def __init__(
        self,
        results,
        x: Optional[str] = None,
        y: Optional[str] = None,
        metric: Optional[str] = None,
        agg: str = "median",
        **kwargs,
    ):
        results = as_results(results)
        self.results = results
        self.axes = sweep_axes(results)
        if len(self.axes) < 2:
            raise ValueError(f"a heatmap needs a sweep over at least two fields; this one sweeps {self.axes}")
        self.metrics = sweep_metrics(results)
        self.x_dropdown = widgets.Dropdown(options=self.axes, description="x")
        self.y_dropdown = widgets.Dropdown(options=self.axes, description="y")
        self.metric_dropdown = widgets.Dropdown(options=self.metrics, description="metric")
        self.agg_dropdown = widgets.Dropdown(options=list(AGGREGATES), description="aggregate")
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.message = widgets.HTML()
        controls = widgets.HBox(
            [self.x_dropdown, self.y_dropdown, self.metric_dropdown, self.agg_dropdown],
            layout=widgets.Layout(flex_flow="row wrap"),
        )
        super().__init__(children=[controls, self.message, self.image], **kwargs)
        self._ready = False
        with self.hold_trait_notifications():
            self.x = x or self.axes[0]
            self.y = y or next(a for a in self.axes if a != self.x)
            self.metric = metric or self.metrics[0]
            self.agg = agg
        for name, dropdown in (
            ("x", self.x_dropdown),
            ("y", self.y_dropdown),
            ("metric", self.metric_dropdown),
            ("agg", self.agg_dropdown),
        ):
            widgets.link((self, name), (dropdown, "value"))
        self._ready = True
        self.redraw()

    # ------------------------------------------------------------ traitlets
    @traitlets.validate("x", "y")
    def _valid_axis(self, proposal):
        value = proposal["value"]
        if value not in self.axes:
            raise traitlets.TraitError(
                f"{proposal['trait'].name} must be one of the swept fields {', '.join(self.axes)}, got {value!r}"
            )
        return value

    @traitlets.validate("metric")
    def _valid_metric(self, proposal):
        if proposal["value"] not in self.metrics:
            raise traitlets.TraitError(f"metric must be one of {', '.join(self.metrics)}, got {proposal['value']!r}")
        return proposal["value"]

    @traitlets.validate("agg")
    def _valid_agg(self, proposal):
        if proposal["value"] not in AGGREGATES:
            raise traitlets.TraitError(f"agg must be one of {', '.join(AGGREGATES)}, got {proposal['value']!r}")
        return proposal["value"]

    @traitlets.observe("x", "y", "metric", "agg")
    def _changed(self, change):
        if getattr(self, "_ready", False):
            self.redraw()

    # ------------------------------------------------------------ drawing
    def redraw(self) -> None:
        """Draw the current choice; x == y (mid-way through swapping them) shows a note instead."""
        if self.x == self.y:
            self.error = "choose two different fields for x and y"
        else:
            try:
                fig = sweep_heatmaps(self.results, self.x, self.y, metrics=(self.metric,), agg=self.agg)
                self.image.value = figure_png(fig)
                self.error = ""
            except ValueError as exc:
                self.error = str(exc)
        self.message.value = f"<span style='color:#b00'>{self.error}</span>" if self.error else ""


__all__ = ["SweepView", "as_results", "sweep_axes", "sweep_metrics"]
