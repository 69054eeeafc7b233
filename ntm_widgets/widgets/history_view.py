"""The Playground's run table: one row per run, newest first, the changed fields highlighted.

Each row has a checkbox (overlay this run's curves on the current ones) and a
Restore button (put its configuration back on the sliders; the next Train starts a
new run from it). Plain ipywidgets (HTML, Checkbox, Button), so it works in any
front end that shows widgets. The newest ``max_rows`` runs are shown; all of them are
in ``Playground.history_frame()``.
"""

from __future__ import annotations

import html
from typing import Callable, Dict, List, Optional, Sequence

import ipywidgets as widgets

from .run_history import RunRecord, describe_changes

# (header, width in px, the config fields the cell shows: highlighted when the run changed one)
COLUMNS = (
    ("run", 42, ()),
    ("changed", 170, ()),
    ("task", 88, ("name",)),
    ("N x M", 58, ("memory_size", "word_size")),
    ("lr", 56, ("lr",)),
    ("batch", 44, ("batch_size",)),
    ("lengths", 56, ("min_len", "max_len")),
    ("steps", 56, ()),
    ("seconds", 58, ()),
    ("val bits", 60, ()),
    ("2x / 4x len", 92, ()),
    ("ended", 64, ()),  # converged, or why not: steps (the budget), stopped (Stop), error
)
# Dark text on the yellow: readable in JupyterLab's dark theme too (light text would not be).
HIGHLIGHT = "background:#fff1a8;color:#222;font-weight:bold;"


def _bits(v: Optional[float]) -> str:
    if v is None or v != v:
        return "-"
    if abs(v) < 0.005:
        return "0"
    return f"{v:.2f}" if abs(v) < 10 else f"{v:,.0f}"


def cells(r: RunRecord, current: bool = False) -> List[str]:
    """The row's cell texts (HTML-escaped)."""
    c = r.config
    gen = " / ".join(_bits(r.generalisation[n]["mean"]) for n in r.gen_lengths if n in r.generalisation)
    changed = describe_changes(r.changed) or ("first run" if r.run_id == 1 else "same config")
    if r.live:
        changed += f"; then {r.live_text()}"
    state = "converged" if r.converged else ("error" if r.error else r.reason)
    return [
        f"{r.run_id}" + (" &#9679;" if current else ""),
        html.escape(changed),
        html.escape(c.task.name),
        f"{c.model.memory_size} x {c.model.word_size}",
        f"{c.train.lr:.0e}" if c.train.lr < 1e-3 or c.train.lr >= 1 else f"{c.train.lr:g}",
        f"{c.train.batch_size}",
        f"{c.task.min_len}-{c.task.max_len}",
        f"{r.step_count:,}",
        f"{r.seconds:.1f}",
        _bits(r.bits_per_seq),
        gen or "-",
        html.escape(state or ""),
    ]


def _row_html(texts: Sequence[str], changed: Sequence[str] = (), header: bool = False) -> str:
    spans = []
    for (name, width, fields), text in zip(COLUMNS, texts):
        style = f"display:inline-block;width:{width}px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;padding:0 3px;"
        if header:
            style += "font-weight:bold;color:var(--jp-ui-font-color1, #444);"
        elif any(f in changed for f in fields) or (name == "changed" and changed):
            style += HIGHLIGHT
        spans.append(f"<span style='{style}' title='{text}'>{text}</span>")
    return f"<div style='font:12px sans-serif;line-height:22px;white-space:nowrap'>{''.join(spans)}</div>"


class HistoryTable(widgets.VBox):
    """Rows of runs with overlay checkboxes and Restore buttons; ``refresh(runs, ...)`` redraws."""

    def __init__(self, on_overlay: Callable[[int, bool], None], on_restore: Callable[[int], None], max_rows: int = 20):
        self.on_overlay, self.on_restore, self.max_rows = on_overlay, on_restore, max_rows
        self.header = widgets.HTML(_row_html([c[0] for c in COLUMNS], header=True), layout=widgets.Layout(margin="0 0 0 34px"))
        self.rows_box = widgets.VBox(layout=widgets.Layout(max_height="230px", overflow="auto"))
        self.note = widgets.HTML(
            "<i>Runs: each Train after Reset or a change of the task or the machine starts a run; "
            "they are listed here to compare (tick one to overlay its curves).</i>"
        )
        self._rows: Dict[int, widgets.HBox] = {}
        super().__init__([widgets.HTML("<b>runs</b> (newest first)"), self.note, self.header, self.rows_box])
        self.add_class("ntm-history")
        self.header.layout.display = "none"

    def _row(self, r: RunRecord) -> widgets.HBox:
        row = self._rows.get(r.run_id)
        if row is None:
            box = widgets.Checkbox(value=False, indent=False, layout=widgets.Layout(width="28px"))
            box.add_class("ntm-history-overlay")
            box.observe(lambda ch, rid=r.run_id: self.on_overlay(rid, bool(ch["new"])), names="value")
            text = widgets.HTML()
            text.add_class("ntm-history-cells")
            button = widgets.Button(
                description="Restore",
                tooltip="put this run's configuration on the controls (the next Train starts a new run from it)",
                layout=widgets.Layout(width="76px", height="22px"),
            )
            button.add_class("ntm-history-restore")
            button.on_click(lambda _b, rid=r.run_id: self.on_restore(rid))
            row = widgets.HBox([box, text, button], layout=widgets.Layout(align_items="center"))
            row.add_class("ntm-history-row")
            row.add_class(f"ntm-history-run-{r.run_id}")
            self._rows[r.run_id] = row
        return row

    def refresh(self, runs: Sequence[RunRecord], overlay: Sequence[int] = (), current: Optional[int] = None) -> None:
        shown = list(reversed(list(runs)))[: self.max_rows]
        rows = []
        for r in shown:
            row = self._row(r)
            box, text, _button = row.children
            value = text_value = _row_html(cells(r, current=r.run_id == current), changed=list(r.changed))
            if text.value != text_value:
                text.value = value
            want = r.run_id in overlay
            if box.value != want:
                box.value = want
            rows.append(row)
        keep = {r.run_id for r in runs}
        for rid in [k for k in self._rows if k not in keep]:
            self._rows.pop(rid).close()
        if tuple(self.rows_box.children) != tuple(rows):
            self.rows_box.children = rows
        self.header.layout.display = None if rows else "none"
        more = len(runs) - len(shown)
        self.note.value = (
            f"<i>{more} older runs are not shown; <code>history_frame()</code> has them all.</i>"
            if more > 0
            else (
                ""
                if rows
                else "<i>Runs: each Train after Reset or a change of the task or the machine starts a run; "
                "they are listed here to compare (tick one to overlay its curves).</i>"
            )
        )
        self.note.layout.display = None if self.note.value else "none"
