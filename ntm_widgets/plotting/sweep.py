"""Heatmaps of a sweep: one metric over two chosen axes, the other axes aggregated.

Pure functions: a results DataFrame (``ntm_widgets.sweep``) in, a matplotlib
``Figure`` (or PNG bytes) out. The figure is built without pyplot, so nothing global
changes and no window opens; Jupyter shows a returned ``Figure`` inline.
"""

from __future__ import annotations

import io
from typing import Iterable, Optional, Sequence, Union

AGGREGATES = ("median", "mean", "min", "max")
# Metrics where a lower value is better get a reversed map (dark = bad = high).
HIGHER_IS_BETTER = {"converged"}
FRACTIONS = {"converged"}
LABELS = {
    "seconds": "seconds (budget if not converged)",
    "train_seconds": "training seconds",
    "bits_per_seq": "bit errors / sequence",
    "converged": "fraction converged",
    "sequences": "sequences seen",
    "steps": "steps (budget if not converged)",
}


def _label(metric: str) -> str:
    if metric in LABELS:
        return LABELS[metric]
    parts = metric.split("_")
    if len(parts) == 3 and parts[0] == "gen" and parts[1].isdigit():
        return f"bit errors / sequence, length {parts[1]}"
    return metric


def sweep_table(df, x: str, y: str, metric: str, agg: str = "median"):
    """The pivot behind one heatmap: rows ``y`` (ascending), columns ``x``, cells ``agg`` of ``metric``.

    Failed trials (an ``error``) are left out. Raises ``ValueError`` naming the bad argument.
    """
    import pandas as pd

    if agg not in AGGREGATES:
        raise ValueError(f"agg must be one of {', '.join(AGGREGATES)}, got {agg!r}")
    for name, value in (("x", x), ("y", y), ("metric", metric)):
        if value not in df.columns:
            raise ValueError(f"{name} must be a column of the results ({', '.join(map(str, df.columns))}), got {value!r}")
    if x == y:
        raise ValueError(f"x and y must be different columns, both are {x!r}")
    data = df
    if "error" in data.columns:
        data = data[data["error"].isna()]
    values = pd.to_numeric(data[metric].astype(float) if data[metric].dtype == bool else data[metric], errors="coerce")
    if len(data) and values.notna().sum() == 0:
        raise ValueError(f"metric {metric!r} has no numeric values to plot")
    frame = pd.DataFrame({x: data[x].values, y: data[y].values, metric: values.values})
    table = frame.pivot_table(index=y, columns=x, values=metric, aggfunc=agg, dropna=False)
    return table.sort_index(axis=0).sort_index(axis=1)


def sweep_heatmaps(
    df,
    x: str,
    y: str,
    metrics: Union[str, Sequence[str]] = ("seconds", "bits_per_seq"),
    agg: str = "median",
    annotate: bool = True,
    figsize: Optional[tuple] = None,
):
    """Seaborn heatmaps of ``metrics`` over ``x`` (columns) and ``y`` (rows), side by side.

    Every other axis of the sweep (seeds, ...) is aggregated with ``agg`` in each cell;
    a cell with no finished trial stays blank. Returns a ``matplotlib.figure.Figure``.
    """
    import seaborn as sns
    from matplotlib.figure import Figure

    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    if not metrics:
        raise ValueError("metrics must name at least one column")
    # "converged" is a yes/no per trial: its cell is the fraction that converged.
    aggs = ["mean" if m in FRACTIONS else agg for m in metrics]
    tables = [sweep_table(df, x, y, m, a) for m, a in zip(metrics, aggs)]
    others = [c for c in _axes_of(df) if c not in (x, y)]
    ncols, nrows = tables[0].shape[1], tables[0].shape[0]
    width = max(3.6, 1.0 + 0.75 * ncols)
    fig = Figure(figsize=figsize or (width * len(metrics), max(3.0, 1.4 + 0.55 * nrows)), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric, table, how in zip(axes, metrics, tables, aggs):
        cmap = "rocket" if metric in HIGHER_IS_BETTER else "rocket_r"
        limits = {"vmin": 0.0, "vmax": 1.0} if metric in FRACTIONS else {}
        sns.heatmap(
            table,
            ax=ax,
            annot=annotate,
            fmt=".3g",
            cmap=cmap,
            cbar_kws={"label": _label(metric)},
            linewidths=0.5,
            linecolor="white",
            **limits,
        )
        ax.invert_yaxis()  # small values at the bottom, like a plot's y axis
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        title = metric if not others else f"{metric}, {how} over {', '.join(others)}"
        ax.set_title(title, fontsize=10)
    return fig


def _axes_of(df) -> Iterable[str]:
    """Swept columns: those between ``trial_id`` and ``converged`` in a results table."""
    cols = list(df.columns)
    if "trial_id" in cols and "converged" in cols:
        return cols[cols.index("trial_id") + 1 : cols.index("converged")]
    return []


def figure_png(fig, dpi: int = 100) -> bytes:
    """A Figure as PNG bytes (for an ipywidgets Image or a file)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def save_heatmaps(df, path, x: str, y: str, metrics=("seconds", "bits_per_seq"), agg: str = "median", dpi: int = 100):
    """``sweep_heatmaps`` written to ``path`` (any format matplotlib knows by suffix)."""
    fig = sweep_heatmaps(df, x, y, metrics=metrics, agg=agg)
    fig.savefig(path, dpi=dpi)
    return path


__all__ = ["sweep_heatmaps", "sweep_table", "save_heatmaps", "figure_png", "AGGREGATES"]
