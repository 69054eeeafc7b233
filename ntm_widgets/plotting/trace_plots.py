"""One static picture of a recorded run (a ``Trace``): what the NTM saw, said and did.

Panels, time running left to right (Graves et al. 2014, arXiv:1410.5401, fig. 6 shows
the same kind of view for the copy task):

- inputs, targets, and outputs with the wrong bits marked (thresholded at 0.5, scored
  part of the sequence only);
- each head's weighting ``w_t(i)`` over the N rows, as an N x T heatmap;
- the N x M memory at one step (the last by default), in a diverging colour map
  centred on 0.

The same panels also come as plain RGB arrays for one step at a time (``bits_rgb``,
``weights_rgb``, ``memory_rgb``, ``write_vectors_rgb``, ``with_cursor``): the frames
of the image player (``widgets/fallback.py``), made in about a millisecond where a
matplotlib figure takes most of a second.

Built on ``matplotlib.figure.Figure`` directly, never through ``pyplot``: nothing global
is switched (Jupyter's inline backend keeps working, no figure is left open in a pyplot
registry), and saving goes through the Agg canvas explicitly.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..trace import finite_range, nonfinite_counts
from .images import colormap_rgb, png_bytes  # noqa: F401  (re-exported: per-frame images without matplotlib)

__all__ = [
    "trace_figure",
    "save_trace_png",
    "colormap_rgb",
    "png_bytes",
    "max_pool",
    "memory_limit",
    "weight_limit",
    "nonfinite_note",
    "head_label",
    "check_file_path",
    "pixels_per_cell",
    "bits_rgb",
    "weights_rgb",
    "memory_rgb",
    "write_vectors_rgb",
    "with_cursor",
]

# Colour maps: bits and probabilities in greys, weightings in a sequential map (a
# weighting is non-negative), memory in a diverging map (its sign carries meaning).
BITS_CMAP = "Greys"
WEIGHT_CMAP = "magma"
MEMORY_CMAP = "RdBu_r"
WRONG_COLOR = "#e4002b"
CURSOR_COLOR = "#00a0e0"  # the step shown
# NaN cells: a green that none of the three maps above contains.
NAN_COLOR = "#00c853"


# Seaborn's "white" style at its "notebook" context, font scale 0.8, written out: the
# values ``sns.axes_style("white")`` and ``sns.plotting_context("notebook", 0.8)`` give.
# Importing seaborn (and with it scipy and pandas) took 1.6 s of every `ntm-widgets demo`
# and `replay` on a 2-core AMD EPYC, for a picture that needs only these settings.
_TRACE_RC = {
    "axes.axisbelow": True,
    "axes.edgecolor": ".15",
    "axes.facecolor": "white",
    "axes.grid": False,
    "axes.labelcolor": ".15",
    "axes.labelsize": 9.6,
    "axes.linewidth": 1.25,
    "figure.facecolor": "white",
    "font.family": ["sans-serif"],
    "font.sans-serif": ["Arial", "DejaVu Sans", "Liberation Sans", "Bitstream Vera Sans", "sans-serif"],
    "font.size": 9.6,
    "grid.color": ".8",
    "grid.linestyle": "-",
    "grid.linewidth": 1,
    "legend.fontsize": 8.8,
    "legend.title_fontsize": 9.6,
    "lines.linewidth": 1.5,
    "lines.markersize": 6,
    "lines.solid_capstyle": "round",
    "patch.edgecolor": "w",
    "patch.force_edgecolor": True,
    "patch.linewidth": 1,
    "text.color": ".15",
    "xtick.bottom": False,
    "xtick.color": ".15",
    "xtick.direction": "out",
    "xtick.labelsize": 8.8,
    "xtick.major.size": 6,
    "xtick.major.width": 1.25,
    "xtick.minor.size": 4,
    "xtick.minor.width": 1,
    "xtick.top": False,
    "ytick.color": ".15",
    "ytick.direction": "out",
    "ytick.labelsize": 8.8,
    "ytick.left": False,
    "ytick.major.size": 6,
    "ytick.major.width": 1.25,
    "ytick.minor.size": 4,
    "ytick.minor.width": 1,
    "ytick.right": False,
    "image.interpolation": "nearest",
    "axes.titlesize": 9,
    "axes.titleweight": "bold",
}


def _style():
    """The trace figure's style (``_TRACE_RC``), applied only while a figure is being built."""
    import matplotlib as mpl

    return mpl.rc_context(_TRACE_RC)


def memory_limit(memory: np.ndarray) -> float:
    """Symmetric colour limit for memory: the largest finite magnitude, at least a small floor."""
    lo, hi = finite_range(memory)
    return max(-lo, hi, 1e-6)


def weight_limit(weights: np.ndarray) -> float:
    """Upper colour limit for weightings: the largest finite weight, at least a small floor."""
    return max(finite_range(weights)[1], 1e-6)


def _nonfinite_total(trace) -> int:
    return sum(nonfinite_counts(trace).values())


def nonfinite_note(count: int, nan: str) -> str:
    """One phrase for a picture's title: how many values were not finite and how they
    are drawn (``nan`` says where NaN went); '' when there were none."""
    if not count:
        return ""
    return f"{count:,} non-finite value{'s' if count != 1 else ''}: \u00b1inf drawn at the colour scale's ends, NaN {nan}"


def _clip_inf(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """+-inf replaced by the colour limits (matplotlib's resampling turns inf into NaN); NaN kept."""
    a = np.asarray(a, dtype=np.float64)
    if np.isinf(a).any():
        a = np.where(np.isposinf(a), hi, np.where(np.isneginf(a), lo, a))
    return a


def _cmap(name: str):
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad=NAN_COLOR)


def max_pool(a: np.ndarray, max_rows: int, max_cols: int) -> np.ndarray:
    """Shrink a 2-D array to at most max_rows x max_cols by taking block maxima.

    A figure has fewer pixels than a 512-row, 1,000-step weighting has cells; plain
    resampling would drop a one-row peak, the block maximum keeps it visible.
    """
    r = max(1, -(-a.shape[0] // max_rows))
    c = max(1, -(-a.shape[1] // max_cols))
    if r == 1 and c == 1:
        return a
    R, C = -(-a.shape[0] // r) * r, -(-a.shape[1] // c) * c
    padded = np.full((R, C), -np.inf, dtype=np.float64)
    padded[: a.shape[0], : a.shape[1]] = a
    return padded.reshape(R // r, r, C // c, c).max(axis=(1, 3))


def head_label(trace, h: int) -> str:
    """'read head 0', 'write head 0', ... numbered within each kind."""
    kind = trace.head_kinds[h]
    return f"{kind} head {trace.head_kinds[:h].count(kind)}"


def trace_figure(trace, step: Optional[int] = None, width: float = 11.0):
    """A matplotlib ``Figure`` of a whole recorded sequence.

    Left column, top to bottom: inputs, targets, outputs (wrong bits circled), then
    one N x T weighting heatmap per head. Right column: memory (N x M) after ``step``
    (default: the last step), whose time is also marked by a line on the left panels.
    Each axes carries a label (``ax.get_label()``): ``inputs``, ``targets``,
    ``outputs``, ``weights:<h>``, ``memory``.
    """
    from matplotlib.figure import Figure
    from matplotlib.gridspec import GridSpec
    from matplotlib.ticker import MaxNLocator

    def row_axis(ax):
        # Whole row numbers, a few of them whatever N is (0, 8, 16, ... or 0, 100, ...).
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True, steps=[1, 2, 4, 5, 8, 10]))
        ax.set_ylabel("row")

    T = trace.steps
    if T < 1:
        raise ValueError("trace must hold at least one step")
    t = T - 1 if step is None else int(step)
    if not 0 <= t < T:
        raise ValueError(f"step must be in [0, {T - 1}], got {step}")
    H = len(trace.head_kinds)
    N, M = trace.memory_shape
    I, O = trace.inputs.shape[1], trace.targets.shape[1]

    # Heights in "bit rows": keep the bit panels readable and give heads more room,
    # whatever N is (a 512-row weighting still gets a sensible height).
    bit_h = [max(I, 4), max(O, 4), max(O, 4)]
    head_h = [min(max(N, 12), 24)] * H
    ratios = bit_h + head_h
    height = 0.9 + 0.085 * sum(ratios) + 0.35 * (3 + H)

    with _style():
        fig = Figure(figsize=(width, height), layout="constrained")
        gs = GridSpec(3 + H, 4, figure=fig, height_ratios=ratios, width_ratios=[1.0, 0.022, 0.3, 0.022])
        wrong = trace.wrong_bits  # (T, O)
        ext = (-0.5, T - 0.5)
        ax_first = []  # bit panels and heads share the time axis with the first panel

        def bits_panel(row, data, label, title):
            ax = fig.add_subplot(gs[row, 0], label=label, sharex=None if row == 0 else ax_first[0])
            ax_first.append(ax)
            im = ax.imshow(_clip_inf(data.T, 0.0, 1.0), aspect="auto", cmap=_cmap(BITS_CMAP), vmin=0.0, vmax=1.0, origin="upper")
            ax.set_title(title, loc="left")
            ax.set_ylabel("bit")
            ax.set_xlim(*ext)
            ax.tick_params(labelbottom=False)
            return ax, im

        ax_in, _ = bits_panel(0, trace.inputs, "inputs", "inputs")
        ax_tg, _ = bits_panel(1, trace.targets, "targets", "targets")
        n_wrong = int(wrong.sum())
        ax_out, im_bits = bits_panel(
            2, trace.outputs, "outputs", f"outputs (probability; {n_wrong} wrong bit{'s' if n_wrong != 1 else ''} circled)"
        )
        cax = fig.add_subplot(gs[0:3, 1], label="colorbar:bits")
        fig.colorbar(im_bits, cax=cax).set_label("value", fontsize=8)
        tt, oo = np.nonzero(wrong)
        if tt.size:
            # Marker area follows the cell width, so 1,000 steps do not drown in circles.
            size = float(np.clip((500.0 / T) ** 2 * 0.5, 2.0, 40.0))
            ax_out.scatter(tt, oo, s=size, facecolors="none", edgecolors=WRONG_COLOR, linewidths=1.4 if size > 10 else 0.8)
        # Shade the scored (answer) part on the targets panel so the task phases are visible.
        scored = np.nonzero(trace.mask > 0)[0]
        if scored.size:
            for ax in (ax_tg, ax_out):
                ax.axvspan(scored[0] - 0.5, scored[-1] + 0.5, ymin=0.0, ymax=1.0, facecolor="none", edgecolor="#2b8cbe", lw=1.2)

        wmax = weight_limit(trace.weights)
        head_axes = []
        im_w = None
        for h in range(H):
            ax = fig.add_subplot(gs[3 + h, 0], label=f"weights:{h}", sharex=ax_in)
            # extent keeps axes in rows and steps whatever pooling did to the pixels.
            pooled = _clip_inf(max_pool(trace.weights[:, h, :].T, 256, 800), 0.0, wmax)
            im_w = ax.imshow(
                pooled,
                aspect="auto",
                cmap=_cmap(WEIGHT_CMAP),
                vmin=0.0,
                vmax=wmax,
                extent=(-0.5, T - 0.5, N - 0.5, -0.5),
                interpolation="nearest",
            )
            ax.set_title(f"{head_label(trace, h)}: weighting over rows", loc="left")
            row_axis(ax)
            ax.set_xlim(*ext)
            if h < H - 1:
                ax.tick_params(labelbottom=False)
            head_axes.append(ax)
        if head_axes:
            head_axes[-1].set_xlabel("time step")
            cax = fig.add_subplot(gs[3:, 1], label="colorbar:weights")
            cb = fig.colorbar(im_w, cax=cax)
            cb.set_label("weight", fontsize=8)
            cb.set_ticks([0.0, wmax / 2, wmax], labels=["0", f"{wmax / 2:.3g}", f"{wmax:.3g}"])
        else:
            ax_out.set_xlabel("time step")

        for ax in [ax_in, ax_tg, ax_out] + head_axes:
            ax.axvline(t, color=CURSOR_COLOR, lw=1.0, ls="--", alpha=0.9)

        vlim = memory_limit(trace.memory)
        ax_mem = fig.add_subplot(gs[:, 2], label="memory")
        im_m = ax_mem.imshow(
            _clip_inf(trace.memory[t], -vlim, vlim), aspect="auto", cmap=_cmap(MEMORY_CMAP), vmin=-vlim, vmax=vlim, origin="upper"
        )
        ax_mem.set_title(f"memory at step {t} ({N} x {M})", loc="left")
        row_axis(ax_mem)
        ax_mem.set_xlabel("column")
        cax = fig.add_subplot(gs[:, 3], label="colorbar:memory")
        cb = fig.colorbar(im_m, cax=cax)
        cb.set_label("memory value", fontsize=8)
        # The scale's ends and its centre, labelled with their values (as in the replay).
        cb.set_ticks([-vlim, 0.0, vlim], labels=[f"\u2212{vlim:.3g}", "0", f"+{vlim:.3g}"])

        meta = trace.meta or {}
        bits = meta.get("bits_wrong", n_wrong)
        parts = [
            str(meta.get("task", "")).replace("_", " "),
            f"length {meta['length']}" if "length" in meta else "",
            f"{bits} bits wrong",
        ]
        title = "  |  ".join(p for p in parts if p)
        note = nonfinite_note(_nonfinite_total(trace), "in green")
        fig.suptitle(title + (f"\n{note}" if note else ""), fontsize=10, x=0.01, ha="left", color="#b00020" if note else None)
    return fig


def check_file_path(path, example: str) -> str:
    """``path`` as a string; ``IsADirectoryError`` with a one-line message naming it
    when it is a folder (an existing one, or a name ending in a separator), whose
    suggestion is ``example`` inside that folder."""
    import os

    text = os.fspath(path)
    if os.path.isdir(text) or text.endswith(("/", os.sep)):
        folder = text.rstrip("/" + os.sep) or text
        raise IsADirectoryError(f"{folder} is a folder; give a file name such as {os.path.join(folder, example)}")
    return text


def save_trace_png(trace, path, dpi: int = 110, step: Optional[int] = None) -> str:
    """Render ``trace_figure(trace)`` to a PNG file through the Agg canvas; returns the path.

    Raises ``IsADirectoryError`` (one line, naming ``path``) when ``path`` is a folder.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = check_file_path(path, "replay.png")  # before the seconds spent drawing
    fig = trace_figure(trace, step=step)
    FigureCanvasAgg(fig)  # attaches itself as fig.canvas; no global backend switch
    fig.savefig(path, dpi=dpi, facecolor="white")
    return path


# ---------------------------------------------------------------- one step as RGB


def _rgb(hex_color: str) -> np.ndarray:
    return np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)], np.uint8)


def _upscale(rgb: np.ndarray, sy: int, sx: int) -> np.ndarray:
    """Nearest-neighbour enlargement by whole factors (rows sy, columns sx)."""
    return np.repeat(np.repeat(rgb, sy, axis=0), sx, axis=1)


def pixels_per_cell(n: int, target: int, lo: int = 1, hi: int = 24) -> int:
    """Whole pixels per cell, within [lo, hi], so that n cells come close to ``target`` pixels."""
    return int(min(hi, max(lo, target // max(n, 1))))


def bits_rgb(trace, px_per_step: int, px_per_bit: int) -> np.ndarray:
    """Inputs, targets and outputs over time (rows: bits, a white row between panels),
    the wrong output bits in ``WRONG_COLOR``; (rows * px_per_bit, T * px_per_step, 3)."""
    gap = np.full((1, trace.steps, 3), 255, np.uint8)
    outputs = colormap_rgb(trace.outputs.T, 0.0, 1.0, BITS_CMAP)
    outputs[trace.wrong_bits.T] = _rgb(WRONG_COLOR)
    parts = [
        colormap_rgb(trace.inputs.T, 0.0, 1.0, BITS_CMAP),
        gap,
        colormap_rgb(trace.targets.T, 0.0, 1.0, BITS_CMAP),
        gap,
        outputs,
    ]
    return _upscale(np.concatenate(parts, axis=0), px_per_bit, px_per_step)


def weights_rgb(trace, h: int, px_per_step: int, px_per_row: int, limit: Optional[float] = None) -> np.ndarray:
    """Head ``h``'s weighting over time, rows x steps, from 0 to ``limit``
    (default ``weight_limit`` of all weights)."""
    limit = weight_limit(trace.weights) if limit is None else limit
    return _upscale(colormap_rgb(trace.weights[:, h, :].T, 0.0, limit, WEIGHT_CMAP), px_per_row, px_per_step)


def memory_rgb(trace, t: int, px_per_row: int, px_per_col: int, limit: Optional[float] = None) -> np.ndarray:
    """Memory after step t, from -limit to +limit (default ``memory_limit`` of the whole run;
    pass it in when drawing many steps, it scans every step)."""
    limit = memory_limit(trace.memory) if limit is None else limit
    return _upscale(colormap_rgb(trace.memory[t], -limit, limit, MEMORY_CMAP), px_per_row, px_per_col)


def write_vectors_rgb(trace, t: int, px_per_col: int, px_per_row: int = 12) -> Optional[np.ndarray]:
    """Each write head's erase (0 to 1) and add (-1 to 1) vector at step t, one row each;
    None when there is no write head."""
    rows = []
    for w in range(trace.erase.shape[1]):
        rows.append(colormap_rgb(trace.erase[t, w][None, :], 0.0, 1.0, BITS_CMAP))
        rows.append(colormap_rgb(trace.add[t, w][None, :], -1.0, 1.0, MEMORY_CMAP))
    return _upscale(np.concatenate(rows, axis=0), px_per_row, px_per_col) if rows else None


def with_cursor(rgb: np.ndarray, t: int, px_per_step: int) -> np.ndarray:
    """A copy of a time panel with step t marked in ``CURSOR_COLOR``: a band a quarter
    of a step wide, at least one pixel."""
    out = rgb.copy()
    x0 = t * px_per_step
    out[:, x0 : x0 + max(1, px_per_step // 4)] = _rgb(CURSOR_COLOR)
    return out
