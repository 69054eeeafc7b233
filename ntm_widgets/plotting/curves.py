"""Training curves as pure functions: histories -> arrays to draw, or a PNG.

The Playground's live curves (``widgets/curves.py``) draw in the browser from float32
bytes; what they receive is made here by ``downsample`` so that a long run sends a
bounded number of points however many steps it has taken. ``curves_png`` draws the
same two panels with matplotlib, for front ends without custom widgets and for reports.

The figure of merit is bit errors per sequence (Graves et al. 2014, arXiv:1410.5401,
section 4): output bits wrong after thresholding at 0.5, summed over the answer.
Both panels use a log y axis, because loss and bit errors fall by orders of magnitude.
"""

from __future__ import annotations

import io
from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy as np

# Values <= 0 cannot sit on a log axis; they are drawn at a floor. A batch with no
# wrong bits is common early on (short sequences), so the bits floor is one wrong bit
# per hundred sequences: low enough to read progress, high enough that zeros do not
# stretch the axis over decades that hold nothing.
BITS_FLOOR = 1e-2
LOSS_FLOOR = 1e-6  # BCE per bit of a converged model is ~1e-3 to 1e-4
LOG_FLOOR = BITS_FLOOR


def history_arrays(history: Iterable[Dict]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trainer records -> (steps, loss, bits_per_seq) float64 arrays; a missing loss is NaN."""
    rows = [(r["step"], np.nan if r.get("loss") is None else r["loss"], r["bits_per_seq"]) for r in history]
    if not rows:
        empty = np.zeros(0)
        return empty, empty.copy(), empty.copy()
    arr = np.asarray(rows, dtype=np.float64)  # (T, 3)
    return arr[:, 0], arr[:, 1], arr[:, 2]


def downsample(steps: np.ndarray, *series: np.ndarray, max_points: int = 1000) -> Tuple[np.ndarray, ...]:
    """Average consecutive points into at most ``max_points`` bins (NaNs ignored).

    Bins hold equal numbers of points, so the curve keeps its shape; the last point
    of a short history is kept exactly. Returns ``(steps, *series)`` of equal length.
    """
    if max_points < 2:
        raise ValueError(f"max_points must be >= 2, got {max_points}")
    steps = np.asarray(steps, dtype=np.float64)
    series = tuple(np.asarray(s, dtype=np.float64) for s in series)
    n = steps.shape[0]
    if n <= max_points:
        return (steps, *series)
    starts = (np.arange(max_points) * n) // max_points  # (P,) first index of each bin
    counts = np.diff(np.append(starts, n))  # (P,)
    out = [np.add.reduceat(steps, starts) / counts]
    for s in series:
        finite = np.isfinite(s)
        sums = np.add.reduceat(np.where(finite, s, 0.0), starts)
        hits = np.add.reduceat(finite.astype(np.float64), starts)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.where(hits > 0, sums / np.maximum(hits, 1), np.nan))
    return tuple(out)


def log_clip(values: np.ndarray, floor: float = LOG_FLOOR) -> np.ndarray:
    """Values for a log axis: non-positive values raised to ``floor``, NaN kept."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(values), np.nan, np.maximum(values, floor))


def ema(values: np.ndarray, alpha: float = 0.1) -> np.ndarray:
    """Exponential moving average (what the live curves draw over the raw trace)."""
    values = np.asarray(values, dtype=np.float64)
    out = np.empty_like(values)
    acc = np.nan
    for i, v in enumerate(values):  # a loop over time, not over the batch
        if np.isfinite(v):
            acc = v if not np.isfinite(acc) else (1 - alpha) * acc + alpha * v
        out[i] = acc
    return out


def curves_figure(
    steps: Sequence[float],
    loss: Sequence[float],
    bits: Sequence[float],
    title: Optional[str] = None,
    overlays: Sequence[Dict] = (),
    label: str = "",
):
    """Two panels, loss and bit errors per sequence against step, log y. A Figure.

    ``overlays``: other runs, [{label, color, steps, loss, bits}], drawn dashed
    (smoothed) under this one, with a legend naming them and ``label`` (this run)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, safe off the main thread

    steps, loss, bits = downsample(np.asarray(steps), np.asarray(loss), np.asarray(bits), max_points=2000)
    fig = Figure(figsize=(8, 2.6), dpi=80)
    panels = (("loss (BCE / bit)", loss, "#1f77b4", LOSS_FLOOR), ("bit errors / sequence", bits, "#d62728", BITS_FLOOR))
    for k, (label, y, colour, floor) in enumerate(panels):
        ax = fig.add_subplot(1, 2, k + 1)
        key = "loss" if k == 0 else "bits"
        for o in overlays:
            oy = log_clip(np.asarray([np.nan if v is None else v for v in o[key]], dtype=np.float64), floor)
            if oy.size:
                ax.plot(
                    np.asarray(o["steps"], dtype=np.float64), ema(oy), color=o.get("color"), lw=1.4, ls="--", label=o["label"]
                )
        y = log_clip(y, floor)
        if y.size:
            ax.plot(steps, y, color=colour, alpha=0.3, lw=0.8)
            ax.plot(steps, ema(y), color=colour, lw=1.6, label=label or "current run")
        if overlays and k == 1:
            ax.legend(fontsize=7, loc="upper right")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(label, fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def curves_png(
    steps: Sequence[float],
    loss: Sequence[float],
    bits: Sequence[float],
    title: Optional[str] = None,
    overlays: Sequence[Dict] = (),
    label: str = "",
) -> bytes:
    """``curves_figure`` rendered to PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = curves_figure(steps, loss, bits, title, overlays=overlays, label=label)
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
