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
import math
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


SMOOTH_STEPS = 20  # the smoothed line: mean of the last 20 steps (longer runs: ~1/50 of the run)


def smooth_window(n_steps: float) -> int:
    """Steps the smoothed line averages over: 20, or for long runs a round number
    (1, 2 or 5 x 10^k) near a fiftieth of the run, so the line stays readable."""
    want = max(SMOOTH_STEPS, float(n_steps) / 50.0)
    if want <= SMOOTH_STEPS:
        return SMOOTH_STEPS
    mag = 10 ** math.floor(math.log10(want))
    return int(next(m * mag for m in (1, 2, 5, 10) if m * mag >= want))


def window_mean(steps: np.ndarray, values: np.ndarray, window: float) -> np.ndarray:
    """Trailing window mean: at each point, the mean of the finite values whose step
    lies in (step - window, step]. What the smoothed curves draw.

    Unlike an exponential average, a single spike lifts the line for exactly
    ``window`` steps and then it is back at the baseline (a box, not a long ramp).
    Works on down-sampled histories too (the window is in steps, not points).
    NaN where the window holds no finite value."""
    steps = np.asarray(steps, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if window <= 0:
        raise ValueError(f"window must be > 0, got {window}")
    if steps.size == 0:
        return values.copy()
    finite = np.isfinite(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(finite, values, 0.0))])  # (T+1,)
    counts = np.concatenate([[0], np.cumsum(finite)])  # (T+1,)
    lo = np.searchsorted(steps, steps - window, side="right")  # (T,) first index inside the window
    hi = np.arange(1, steps.size + 1)
    n = counts[hi] - counts[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (sums[hi] - sums[lo]) / np.maximum(n, 1), np.nan)


def smoothing_label(window: int) -> str:
    """How the bold line is made, said once in the curves' legend."""
    return f"bold: mean of the last {window:,} steps; light: every point"


def ema(values: np.ndarray, alpha: float = 0.1) -> np.ndarray:
    """Exponential moving average (the paper verb's cost curves; the Playground draws
    ``window_mean``, which does not turn one spike into a long ramp)."""
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
    window: Optional[int] = None,
    restarts: Sequence[float] = (),
):
    """Two panels, loss and bit errors per sequence against step, log y. A Figure.

    Each panel draws the raw points (light) and their trailing mean over ``window``
    steps (bold; default ``smooth_window`` of the run), said in the legend (``smoothing_label``).
    ``overlays``: other runs, [{label, color, steps, loss, bits}], drawn dashed
    (smoothed the same way) under this one, with a legend naming them and ``label``.
    ``restarts``: steps that ended with fresh weights, drawn as dotted vertical lines
    (the curve jumps back up there)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, safe off the main thread

    steps, loss, bits = (np.asarray(a, dtype=np.float64) for a in (steps, loss, bits))
    window = smooth_window(steps[-1] - steps[0] + 1 if steps.size else 0) if window is None else window
    # Smooth at full resolution, then bin for drawing.
    smooth = (window_mean(steps, loss, window), window_mean(steps, bits, window))
    steps_d, loss_d, bits_d, sl, sb = downsample(steps, loss, bits, *smooth, max_points=2000)
    fig = Figure(figsize=(8, 2.8), dpi=80)
    panels = (
        ("loss (BCE / bit)", loss_d, sl, "#1f77b4", LOSS_FLOOR, "loss"),
        ("bit errors / sequence", bits_d, sb, "#d62728", BITS_FLOOR, "bits"),
    )
    for k, (panel_title, y, ys, colour, floor, key) in enumerate(panels):
        ax = fig.add_subplot(1, 2, k + 1)
        for o in overlays:
            osteps = np.asarray(o["steps"], dtype=np.float64)
            if "smooth_" + key in o:  # overlay_series smoothed it already
                oy = np.asarray([np.nan if v is None else v for v in o["smooth_" + key]], dtype=np.float64)
                ow = o.get("window", window)
            else:
                oy = window_mean(osteps, np.asarray([np.nan if v is None else v for v in o[key]], dtype=np.float64), window)
                ow = window
            if oy.size:
                ax.plot(
                    osteps,
                    log_clip(oy, floor),
                    color=o.get("color"),
                    lw=1.4,
                    ls="--",
                    label=f"{o['label']} (mean of {ow:,} steps)",
                )
        if y.size:
            ax.plot(steps_d, log_clip(y, floor), color=colour, alpha=0.3, lw=0.8, marker=".", ms=2, label="every point")
            ax.plot(
                steps_d,
                log_clip(ys, floor),
                color=colour,
                lw=1.6,
                label=f"{label or 'current run'}: mean of last {window:,} steps",
            )
        for j, r in enumerate(restarts):
            name = f"restart{'s' if len(restarts) > 1 else ''} (fresh weights)" if j == 0 else None
            ax.axvline(r, color="0.35", lw=1.0, ls=":", label=name)
        if k == 1 and (y.size or overlays):
            ax.legend(fontsize=7, loc="upper right")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(panel_title, fontsize=10)
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
    window: Optional[int] = None,
    restarts: Sequence[float] = (),
) -> bytes:
    """``curves_figure`` rendered to PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = curves_figure(steps, loss, bits, title, overlays=overlays, label=label, window=window, restarts=restarts)
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
