"""Pure plotting functions: the trace figure, the colour lookup and the PNG encoder."""

import io

import numpy as np
import pytest
from PIL import Image

from ntm_widgets.plotting.images import colormap_lut, colormap_rgb, png_bytes
from ntm_widgets.plotting.trace_plots import save_trace_png, trace_figure
from ntm_widgets.trace import synthetic_trace


def decode_png(data: bytes) -> np.ndarray:
    """The (H, W, 3) pixels of an RGB PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG" and im.mode == "RGB"
        return np.asarray(im)


def test_png_round_trip():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(decode_png(png_bytes(rgb)), rgb)


def test_png_rejects_wrong_dtype_and_shape():
    with pytest.raises(ValueError, match="rgb"):
        png_bytes(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="rgb"):
        png_bytes(np.zeros((4, 4), np.uint8))


def test_colormap_ends_clip_nan_and_scale():
    lut = colormap_lut("RdBu_r")
    a = np.array([[-5.0, -1.0, 0.0], [1.0, 7.0, np.nan]])
    rgb = colormap_rgb(a, -1.0, 1.0, "RdBu_r")
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[0, 0], lut[0])  # clipped below
    np.testing.assert_array_equal(rgb[0, 1], lut[0])
    np.testing.assert_array_equal(rgb[1, 0], lut[255])
    np.testing.assert_array_equal(rgb[1, 1], lut[255])  # clipped above
    np.testing.assert_array_equal(rgb[1, 2], [128, 128, 128])  # NaN
    # RdBu_r: low end blue, high end red.
    assert lut[0, 2] > lut[0, 0] and lut[255, 0] > lut[255, 2]
    big = colormap_rgb(a, -1.0, 1.0, scale=3)
    assert big.shape == (6, 9, 3)
    np.testing.assert_array_equal(big[3:6, 0:3], np.broadcast_to(rgb[1, 0], (3, 3, 3)))


def test_colormap_validates_arguments():
    with pytest.raises(ValueError, match="vmin"):
        colormap_rgb(np.zeros((2, 2)), 1.0, 1.0)
    with pytest.raises(ValueError, match="cmap"):
        colormap_rgb(np.zeros((2, 2)), 0.0, 1.0, cmap="no-such-map")
    with pytest.raises(ValueError, match="2-D"):
        colormap_rgb(np.zeros(3), 0.0, 1.0)


def test_trace_figure_has_one_panel_per_part_and_head():
    trace = synthetic_trace(steps=12, memory_size=16, word_size=6, head_kinds=("read", "read", "write"))
    fig = trace_figure(trace)
    labels = [ax.get_label() for ax in fig.axes]
    for name in ("inputs", "targets", "outputs", "weights:0", "weights:1", "weights:2", "memory"):
        assert name in labels
    by = {ax.get_label(): ax for ax in fig.axes}
    # The heatmaps hold the trace's own arrays, oriented (rows, time) and (N, M).
    np.testing.assert_array_equal(by["weights:2"].images[0].get_array(), trace.weights[:, 2, :].T)  # small: not pooled
    np.testing.assert_array_equal(by["memory"].images[0].get_array(), trace.memory[-1])
    assert "read head 1" in by["weights:1"].get_title(loc="left")
    assert "write head 0" in by["weights:2"].get_title(loc="left")
    # Memory colours are symmetric about zero (diverging map).
    lo, hi = by["memory"].images[0].get_clim()
    assert hi > 0 and lo == -hi
    # Every wrong bit is circled, and only those.
    marks = by["outputs"].collections[0].get_offsets()
    assert len(marks) == int(trace.wrong_bits.sum()) > 0


def test_frame_panels_mark_wrong_bits_and_the_step():
    from ntm_widgets.plotting.trace_plots import (
        CURSOR_COLOR,
        WRONG_COLOR,
        bits_rgb,
        memory_rgb,
        weights_rgb,
        with_cursor,
        write_vectors_rgb,
    )

    def rgb(hex_color):
        return [int(hex_color[i : i + 2], 16) for i in (1, 3, 5)]

    trace = synthetic_trace(steps=12, memory_size=16, word_size=6, head_kinds=("read", "write"))
    I, O = trace.inputs.shape[1], trace.targets.shape[1]
    bits = bits_rgb(trace, px_per_step=2, px_per_bit=3)
    assert bits.shape == ((I + 1 + O + 1 + O) * 3, 24, 3)
    t, o = np.argwhere(trace.wrong_bits)[0]
    np.testing.assert_array_equal(bits[(I + O + 2 + o) * 3, t * 2], rgb(WRONG_COLOR))
    marked = with_cursor(bits, 5, px_per_step=8)
    np.testing.assert_array_equal(marked[:, 40:42], np.broadcast_to(rgb(CURSOR_COLOR), marked[:, 40:42].shape))
    assert (marked[:, 42:] == bits[:, 42:]).all() and marked is not bits
    assert weights_rgb(trace, 1, 2, 3).shape == (16 * 3, 24, 3)
    assert memory_rgb(trace, 4, 2, 5).shape == (32, 30, 3)
    assert write_vectors_rgb(trace, 4, 5).shape == (24, 30, 3)  # erase and add of one write head
    assert write_vectors_rgb(synthetic_trace(steps=3, memory_size=4, word_size=2, head_kinds=("read",)), 0, 5) is None


def test_big_weightings_are_pooled_keeping_one_row_peaks():
    from ntm_widgets.plotting.trace_plots import max_pool

    a = np.zeros((512, 1000))
    a[301, 17] = 1.0
    p = max_pool(a, 256, 800)
    assert p.shape == (256, 500) and p.max() == 1.0 and p[150, 8] == 1.0
    assert max_pool(np.ones((4, 5)), 256, 800).shape == (4, 5)
    trace = synthetic_trace(steps=900, memory_size=300, word_size=4)
    ax = [a for a in trace_figure(trace).axes if a.get_label() == "weights:0"][0]
    assert ax.images[0].get_array().shape == (150, 450)
    assert ax.images[0].get_extent() == [-0.5, 899.5, 299.5, -0.5]


def test_trace_figure_step_and_its_range():
    trace = synthetic_trace(steps=6, memory_size=8, word_size=4)
    fig = trace_figure(trace, step=2)
    mem = [ax for ax in fig.axes if ax.get_label() == "memory"][0]
    np.testing.assert_array_equal(mem.images[0].get_array(), trace.memory[2])
    with pytest.raises(ValueError, match=r"step must be in \[0, 5\]"):
        trace_figure(trace, step=6)


def test_save_trace_png_writes_a_png(tmp_path):
    path = save_trace_png(synthetic_trace(steps=5, memory_size=8, word_size=4), tmp_path / "t.png", dpi=40)
    with Image.open(path) as im:
        assert im.format == "PNG"
        w, h = im.size
    assert w > 200 and h > 200


# ---------------------------------------------------------------- non-finite traces


def recorded_trace(inf_weights=False):
    """A trace recorded from a tiny untrained model (all NaN when its weights are inf)."""
    import torch

    from ntm_widgets.config import ModelConfig, RunConfig, TaskConfig
    from ntm_widgets.trace import record_trace
    from ntm_widgets.training import Trainer

    tr = Trainer(
        RunConfig(
            model=ModelConfig(memory_size=8, word_size=4, controller_size=8), task=TaskConfig(width=3, min_len=1, max_len=3)
        )
    )
    if inf_weights:
        with torch.no_grad():
            for p in tr.model.parameters():
                p.fill_(float("inf"))
    return record_trace(tr.model, tr.task, 3, seed=1)


def with_nonfinite(trace):
    """Six non-finite values where each panel of the figure shows them."""
    trace.memory[-1, 0, 0] = np.inf
    trace.memory[-1, 1, 1] = -np.inf
    trace.memory[-1, 2, 2] = np.nan
    trace.weights[1, 0, 3] = np.inf
    trace.outputs[4, 0] = np.nan
    trace.beta[0, 0] = np.nan
    return trace


def nan_cell(a, i, j) -> bool:
    """matplotlib hands NaN cells back masked."""
    return bool(np.ma.getmaskarray(a)[i, j] or np.isnan(np.ma.getdata(a)[i, j]))


def assert_valid_png(data: bytes):
    """A PNG whose chunks (and their checksums) Pillow accepts, and whose pixels it reads."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as im:
        im.verify()
    with Image.open(io.BytesIO(data)) as im:
        im.load()


def test_png_of_a_trace_holding_inf_and_nan_draws_them_and_says_so(tmp_path):
    import warnings

    from matplotlib.colors import to_rgba

    from ntm_widgets.plotting.trace_plots import NAN_COLOR

    trace = with_nonfinite(recorded_trace())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "invalid value" or "All-NaN slice" on the way
        fig = trace_figure(trace)
        path = save_trace_png(trace, tmp_path / "t.png", dpi=40)
    assert_valid_png(open(path, "rb").read())
    assert "6 non-finite values" in fig._suptitle.get_text()
    by = {ax.get_label(): ax for ax in fig.axes}
    # Colour limits come from the finite values; +-inf sit on the scale's ends, NaN stays NaN (marked).
    lo, hi = by["memory"].images[0].get_clim()
    finite = trace.memory[np.isfinite(trace.memory)]
    assert hi == pytest.approx(np.abs(finite).max()) and lo == -hi
    mem = by["memory"].images[0].get_array()
    assert mem[0, 0] == hi and mem[1, 1] == lo and nan_cell(mem, 2, 2)
    w_lo, w_hi = by["weights:0"].images[0].get_clim()
    assert np.isfinite(w_hi) and by["weights:0"].images[0].get_array()[3, 1] == w_hi
    out = by["outputs"].images[0]
    assert nan_cell(out.get_array(), 0, 4)
    assert tuple(out.get_cmap().get_bad()) == to_rgba(NAN_COLOR)  # NaN drawn in the colour the title names


def test_png_of_a_model_with_inf_weights(tmp_path):
    import warnings

    trace = recorded_trace(inf_weights=True)
    n = sum(
        int((~np.isfinite(getattr(trace, k))).sum())
        for k in ("memory", "weights", "outputs", "beta", "g", "s", "gamma", "erase", "add", "reads")
    )
    assert n > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = trace_figure(trace)
        path = save_trace_png(trace, tmp_path / "dead.png", dpi=40)
    assert_valid_png(open(path, "rb").read())
    assert f"{n:,} non-finite values" in fig._suptitle.get_text()
    for ax in fig.axes:
        for im in ax.images:
            assert np.isfinite(im.get_clim()).all(), ax.get_label()


def test_png_to_a_folder_names_it(tmp_path):
    trace = synthetic_trace(steps=3, memory_size=4, word_size=2)
    with pytest.raises(IsADirectoryError) as info:
        save_trace_png(trace, tmp_path)
    msg = str(info.value)
    assert msg == f"{tmp_path} is a folder; give a file name such as {tmp_path / 'replay.png'}"
    with pytest.raises(IsADirectoryError, match="is a folder"):
        save_trace_png(trace, f"{tmp_path / 'new'}/")  # a name ending in / means a folder too
    assert list(tmp_path.iterdir()) == []


def test_trace_figure_numbers_rows_and_labels_its_colour_scales():
    trace = synthetic_trace(steps=12, memory_size=32, word_size=6, head_kinds=("read", "write"))
    fig = trace_figure(trace)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()  # tick labels are filled in at draw time
    by = {ax.get_label(): ax for ax in fig.axes}
    for name in ("weights:0", "weights:1", "memory"):
        ax = by[name]
        assert ax.get_ylabel() == "row"
        lo, hi = sorted(ax.get_ylim())
        rows = [int(t.get_text()) for t, y in zip(ax.get_yticklabels(), ax.get_yticks()) if lo <= y <= hi]
        assert rows[0] == 0 and 3 <= len(rows) <= 8 and all(0 <= r < 32 for r in rows), (name, rows)
    vlim = float(np.abs(trace.memory).max())
    mem = [t.get_text() for t in by["colorbar:memory"].get_yticklabels()]
    assert mem == [f"\u2212{vlim:.3g}", "0", f"+{vlim:.3g}"]
    wmax = float(trace.weights.max())
    assert [t.get_text() for t in by["colorbar:weights"].get_yticklabels()][::2] == ["0", f"{wmax:.3g}"]


# ---------------------------------------------------------------- training curves: smoothing


def test_a_spike_lifts_the_window_mean_for_exactly_the_window_then_it_is_back_at_baseline():
    from ntm_widgets.plotting.curves import ema, window_mean

    steps = np.arange(1, 301, dtype=np.float64)
    y = np.full(300, 0.01)
    y[99] = 100.0  # one bad batch at step 100
    m = window_mean(steps, y, 20)
    assert np.allclose(m[:99], 0.01)  # before: untouched (a trailing window)
    assert np.allclose(m[99:119], 0.01 + (100 - 0.01) / 20)  # steps 100-119: one spike in 20
    assert np.allclose(m[119:], 0.01)  # from step 120 on: the baseline again
    # The exponential average the curves used to draw is still 10x above baseline 40 steps on.
    assert ema(y)[139] > 10 * 0.01


def test_window_mean_counts_steps_not_points_and_skips_nan():
    from ntm_widgets.plotting.curves import window_mean

    steps = np.array([1, 2, 3, 10, 11, 30.0])  # gaps: a down-sampled or restarted history
    y = np.array([1, np.nan, 3, 5, 7, 9.0])
    m = window_mean(steps, y, 10)
    assert np.allclose(m, [1, 1, 2, 3, 5, 9])  # (s-10, s]: step 11 sees 3, 5, 7 (2 is NaN); step 30 only itself
    assert window_mean(np.zeros(0), np.zeros(0), 5).shape == (0,)
    with pytest.raises(ValueError):
        window_mean(steps, y, 0)


def test_smoothing_window_is_a_round_number_and_stated():
    from ntm_widgets.plotting.curves import smooth_window
    from ntm_widgets.widgets.curves import LiveCurves

    assert [smooth_window(n) for n in (0, 500, 1000, 5000, 23_000)] == [20, 20, 20, 100, 500]
    c = LiveCurves()
    steps = np.arange(1, 201, dtype=np.float64)
    bits = np.full(200, 0.5)
    bits[50] = 50.0
    c.set_data(steps, bits * 0.1, bits)
    assert c.window == 20 and c.caption == "bold: mean of the last 20 steps \u00b7 light: every step"
    _, _, raw = c.arrays()
    _, smooth = c.smoothed()
    assert raw.max() == pytest.approx(50.0)  # the raw points are all there
    assert np.allclose(smooth[70:], 0.5) and smooth[60] == pytest.approx(0.5 + 49.5 / 20)
    c.set_data(np.arange(1, 23_001.0), np.ones(23_000), np.ones(23_000))  # binned: the caption says so
    assert c.window == 500 and "mean of the last 500 steps" in c.caption and "mean of ~23 steps" in c.caption


def test_image_fallback_states_the_window_in_its_legend():
    from ntm_widgets.plotting.curves import curves_figure

    steps = np.arange(1, 101, dtype=np.float64)
    fig = curves_figure(steps, np.ones(100), np.ones(100), label="run 1")
    texts = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert "run 1: mean of last 20 steps" in texts and "every point" in texts
    assert [ax.get_title() for ax in fig.axes] == ["loss (BCE / bit)", "bit errors / sequence"]


def test_image_fallback_marks_each_restart_on_both_panels():
    from ntm_widgets.plotting.curves import curves_figure

    steps = np.arange(1, 101, dtype=np.float64)
    fig = curves_figure(steps, np.ones(100), np.ones(100), restarts=[30.0, 70.0])
    for ax in fig.axes:  # axvline: a vertical line whose x data is the step at both ends
        xs = sorted(line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == ":")
        assert xs == [30.0, 70.0]
    texts = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert texts.count("restarts (fresh weights)") == 1  # named once, not per line
    plain = curves_figure(steps, np.ones(100), np.ones(100))
    assert not [line for ax in plain.axes for line in ax.get_lines() if line.get_linestyle() == ":"]
