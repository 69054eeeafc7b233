"""ReplayPlayer (no browser), the bytes it sends, the fallback renderer and the HTML export.

One real-browser test at the end (marked ``browser``) opens the standalone HTML in
Debian's chromium, presses play and watches the step advance.
"""

import base64
import os
import re

import numpy as np
import pytest
import traitlets

from ntm_widgets.replay_html import replay_html, write_replay_html
from ntm_widgets.trace import ARRAY_FIELDS, Trace, decode_trace, read_trace_header, synthetic_trace
from ntm_widgets.widgets.fallback import ImageReplayPlayer
from ntm_widgets.widgets.replay import ReplayPlayer


@pytest.fixture(scope="module")
def trace():
    return synthetic_trace(steps=12, memory_size=16, word_size=6, head_kinds=("read", "write", "write"), seed=3)


# ---------------------------------------------------------------- bytes


def test_bytes_round_trip_is_exact_in_float32(trace):
    back = Trace.from_bytes(trace.to_bytes(memory_dtype="float32"))
    for name in ARRAY_FIELDS:
        np.testing.assert_array_equal(getattr(back, name), getattr(trace, name), err_msg=name)
    assert back.head_kinds == trace.head_kinds and back.meta == trace.meta


def test_float16_memory_is_close_and_half_the_size(trace):
    f32, f16 = trace.to_bytes(memory_dtype="float32"), trace.to_bytes(memory_dtype="float16")
    back = decode_trace(f16)
    np.testing.assert_allclose(back.memory, trace.memory, rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(back.weights, trace.weights)  # only memory is halved
    assert len(f32) - len(f16) >= trace.memory.size * 2 - 64


def test_arrays_are_aligned_for_typed_arrays(trace):
    data = trace.to_bytes()
    header = read_trace_header(data)
    assert header["body_offset"] % 8 == 0
    assert all(spec["offset"] % 8 == 0 for spec in header["arrays"].values())
    assert header["steps"] == 12 and header["memory_shape"] == [16, 6]
    assert header["memory_limit"] == pytest.approx(float(np.abs(trace.memory).max()))


def test_encoding_rejects_bad_input(trace):
    with pytest.raises(ValueError, match="memory_dtype"):
        trace.to_bytes(memory_dtype="int8")
    with pytest.raises(ValueError, match="NTMTRACE"):
        decode_trace(b"not a trace at all")


def test_wrong_bits_are_computed_with_the_trace_and_travel_in_the_bytes(trace):
    expected = ((trace.outputs > 0.5) != (trace.targets > 0.5)) & (trace.mask[:, None] > 0)
    np.testing.assert_array_equal(trace.wrong_bits, expected)
    data = trace.to_bytes()
    assert read_trace_header(data)["arrays"]["wrong_bits"]["dtype"] == "|u1"
    back = decode_trace(data)
    assert back.wrong_bits.dtype == bool
    np.testing.assert_array_equal(back.wrong_bits, trace.wrong_bits)


def test_a_recorded_trace_counts_wrong_bits_as_the_training_metric_does():
    import torch

    from ntm_widgets.config import ModelConfig, RunConfig, TaskConfig
    from ntm_widgets.trace import record_trace
    from ntm_widgets.training import Trainer
    from ntm_widgets.training.metrics import bit_errors

    tr = Trainer(
        RunConfig(
            model=ModelConfig(memory_size=8, word_size=4, controller_size=8), task=TaskConfig(width=3, min_len=1, max_len=3)
        )
    )
    t = record_trace(tr.model, tr.task, 3, seed=1)
    x, y, m = tr.task.sample(1, torch.Generator().manual_seed(1), length=3)
    tr.model.eval()
    with torch.inference_mode():
        logits, _ = tr.model(x, record={})  # as record_trace runs it
    assert t.meta["bits_wrong"] == int(t.wrong_bits.sum()) == int(bit_errors(logits, y, m).item())


# ---------------------------------------------------------------- widget


def test_state_holds_the_trace_bytes_and_step(trace):
    p = ReplayPlayer(trace)
    state = p.get_state()
    assert state["step"] == 0
    sent = decode_trace(state["trace_bytes"])
    np.testing.assert_array_equal(sent.memory, trace.memory)
    np.testing.assert_array_equal(sent.outputs, trace.outputs)
    assert len(state["colormaps"]["memory"]) == 768
    p.step = 7
    assert p.get_state()["step"] == 7


def test_step_is_validated_with_a_message_naming_it(trace):
    p = ReplayPlayer(trace)
    p.step = 11
    for bad in (12, -1):
        with pytest.raises(traitlets.TraitError, match=r"step must be in \[0, 11\]"):
            p.step = bad
    assert p.step == 11


def test_controls_span_the_trace_and_link_in_the_browser(trace):
    p = ReplayPlayer(trace, interval=20)
    assert p.play.max == p.slider.max == trace.steps - 1
    assert p.play.interval == 20
    # jslink: the step follows Play and the slider without the kernel.
    pairs = {(link.source[0], link.source[1], link.target[0], link.target[1]) for link in p._links if hasattr(link, "source")}
    assert (p.play, "value", p, "step") in pairs and (p.slider, "value", p, "step") in pairs
    assert p in p.ui.children and p.controls in p.ui.children


def test_set_trace_resends_and_resets(trace):
    p = ReplayPlayer(trace)
    p.step = 5
    other = synthetic_trace(steps=4, memory_size=8, word_size=3)
    p.set_trace(other)
    assert p.step == 0 and p.steps == 4 and p.play.max == 3
    assert decode_trace(p.trace_bytes).memory.shape == (4, 8, 3)


def test_repr_is_short_and_stable(trace):
    p = ReplayPlayer(trace)
    assert repr(p) == "ReplayPlayer(steps=12, memory=16x6, heads=3)"
    data, _ = p._repr_mimebundle_()
    assert data["text/plain"] == repr(p)
    # What is displayed is the box with the controls, not the bare canvas.
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == p.ui.model_id


def test_bad_arguments_are_named(trace):
    with pytest.raises(ValueError, match="renderer"):
        ReplayPlayer(trace, renderer="svg")
    with pytest.raises(TypeError, match="trace"):
        ReplayPlayer("not a trace")
    with pytest.raises(traitlets.TraitError, match="interval"):
        ReplayPlayer(trace, interval=0)
    with pytest.raises(traitlets.TraitError, match="builtin_controls"):
        ReplayPlayer(trace, builtin_controls="sometimes")
    assert ReplayPlayer(trace).get_state()["builtin_controls"] == "auto"


def test_from_trainer_and_from_run(tmp_path):
    from ntm_widgets.config import ModelConfig, RunConfig, TaskConfig
    from ntm_widgets.training import Trainer

    tr = Trainer(
        RunConfig(
            model=ModelConfig(memory_size=8, word_size=4, controller_size=8), task=TaskConfig(width=3, min_len=1, max_len=3)
        )
    )
    p = ReplayPlayer.from_trainer(tr, length=3, seed=1)
    assert p.trace.memory_shape == (8, 4) and p.trace.meta["length"] == 3
    tr.save_run(tmp_path / "run")
    q = ReplayPlayer.from_run(tmp_path / "run", length=3, seed=1)
    np.testing.assert_allclose(q.trace.memory, p.trace.memory, atol=1e-6)


# ---------------------------------------------------------------- fallback


def test_image_renderer_redraws_when_the_step_changes(trace):
    p = ReplayPlayer(trace, renderer="image")
    assert isinstance(p, ImageReplayPlayer)
    assert repr(p) == "ImageReplayPlayer(steps=12, memory=16x6, heads=3)"
    mem0, head0, params0 = p.memory_image.value, p.head_images[0].value, p.params.value
    assert mem0[:8] == b"\x89PNG\r\n\x1a\n"
    p.slider.value = 4  # what the Play widget moves, through its browser link
    assert p.step == 4
    assert p.memory_image.value != mem0 and p.head_images[0].value != head0 and p.params.value != params0
    assert int(p.memory_image.width) > 0 and p.memory_image.layout.width.endswith("px")  # Lab stretches images without a size
    with pytest.raises(traitlets.TraitError, match=r"step must be in \[0, 11\]"):
        p.step = 12


# ---------------------------------------------------------------- standalone HTML


def test_html_inlines_renderer_and_data_and_fetches_nothing(trace, tmp_path):
    path = write_replay_html(trace, tmp_path / "sub" / "replay.html", title="a <test>")
    page = open(path, encoding="utf-8").read()
    js = open(
        os.path.join(os.path.dirname(__import__("ntm_widgets.render", fromlist=["x"]).__file__), "replay.js"), encoding="utf-8"
    ).read()
    assert js in page  # the very renderer the widget uses
    blob = re.search(r'id="ntm-trace-data">(.*?)</script>', page, re.S).group(1)
    assert base64.b64decode("".join(blob.split())) == trace.to_bytes()
    assert "a &lt;test&gt;" in page
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""\b(src|href)\s*=""", page), "the page must not load anything"
    assert "@import" not in page and not re.search(r"\bimport\s*\(", page)


def test_save_html_from_the_widget(trace, tmp_path):
    path = ReplayPlayer(trace).save_html(tmp_path / "r.html")
    assert "ntm-replay-root" in open(path, encoding="utf-8").read()
    with pytest.raises(ValueError, match="width"):
        replay_html(trace, width=100)


def test_html_lists_the_keys_and_draws_row_numbers_and_colour_scales(trace, tmp_path):
    page = open(write_replay_html(trace, tmp_path / "replay.html"), encoding="utf-8").read()
    # The shortcuts line, row numbers and colour scales come from the inlined replay.js.
    for text in ("space: play / pause", "← →: one step", "Home / End: first / last step", "ntm-replay-keys"):
        assert text in page, text
    for text in ("function rowTicks(", "rowAxis(", 'colourScale(sm, "memory, reads"', 'colourScale(sw, "weighting"'):
        assert text in page, text
    assert "(±" not in page  # the bare "+-limit" title is gone: the scale carries the values
    # Theme: JupyterLab's variables with fallbacks, and the OS scheme on the page.
    assert "var(--jp-ui-font-color1, #222)" in page
    assert page.count("@media (prefers-color-scheme: dark)") >= 2  # replay.css and the page's own style
    assert "The keyboard shortcuts are listed under the replay" in page


@pytest.mark.browser
def test_html_plays_offline_in_chromium(trace, tmp_path, browser):
    path = write_replay_html(trace, tmp_path / "replay.html")
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    try:
        errors, requests = [], []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"file://{path}")
        root = page.locator(".ntm-replay")
        page.wait_for_selector(".ntm-replay[data-loaded='1']", timeout=10_000)
        assert root.get_attribute("data-steps") == "12" and root.get_attribute("data-step") == "0"
        page.select_option("#ntm-speed", "40")
        page.click("#ntm-play")
        page.wait_for_function("() => +document.querySelector('.ntm-replay').dataset.step >= 3", timeout=10_000)
        assert int(root.get_attribute("data-frames")) >= 3
        # Hovering memory shows that cell's value.
        x, y, w, h = (int(v) for v in root.get_attribute("data-memory-box").split(","))
        page.hover(".ntm-replay-canvas", position={"x": x + w // 2, "y": y + h // 2})
        page.wait_for_selector(".ntm-replay-tooltip", state="visible", timeout=2_000)
        assert "memory" in page.inner_text(".ntm-replay-tooltip")
        assert errors == []
        assert all(u.startswith(("file:", "data:", "blob:")) for u in requests), requests
    finally:
        page.close()


def test_html_has_no_controls_of_its_own(trace, tmp_path):
    page = open(write_replay_html(trace, tmp_path / "replay.html"), encoding="utf-8").read()
    # The play / step / scrub bar is replay.js's, built by the inlined script.
    for tag in ("<button", "<input", "<select"):
        assert tag not in page


@pytest.mark.browser
def test_html_controls_step_scrub_and_keys_in_chromium(trace, tmp_path, browser):
    path = write_replay_html(trace, tmp_path / "replay.html")
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    try:
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"file://{path}")
        page.wait_for_selector(".ntm-replay[data-loaded='1']", timeout=10_000)

        def shows(step):
            # The canvas redraws on the next animation frame; the readout at once.
            page.wait_for_function(
                "(s) => document.querySelector('.ntm-replay').dataset.step === String(s)", arg=step, timeout=5_000
            )
            assert page.inner_text("#ntm-readout") == f"{step} / 11"

        page.click("#ntm-next")
        page.click("#ntm-next")
        page.click("#ntm-prev")
        shows(1)
        page.fill("#ntm-step", "7")  # scrubbing
        shows(7)
        page.locator("h1").click()  # keys act anywhere on the page
        page.keyboard.press("ArrowLeft")
        shows(6)
        page.keyboard.press("End")
        shows(11)
        page.keyboard.press("Home")
        shows(0)
        page.select_option("#ntm-speed", "1")
        page.keyboard.press(" ")
        shows(11)
        # Stopped at the end (not looping): the button offers play again.
        page.wait_for_function(
            "() => document.getElementById('ntm-play').getAttribute('aria-pressed') === 'false'", timeout=5_000
        )
        assert int(page.get_attribute(".ntm-replay", "data-step")) == 11
        assert errors == []
    finally:
        page.close()


# ---------------------------------------------------------------- non-finite traces


def strict_json(text):
    """json.loads that refuses NaN and Infinity, as a browser's JSON.parse does."""
    import json

    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def bad_trace():
    """Recorded from a tiny model, then given NaN and +-inf in several arrays and in meta."""
    from ntm_widgets.config import ModelConfig, RunConfig, TaskConfig
    from ntm_widgets.trace import record_trace
    from ntm_widgets.training import Trainer

    tr = Trainer(
        RunConfig(
            model=ModelConfig(memory_size=8, word_size=4, controller_size=8), task=TaskConfig(width=3, min_len=1, max_len=3)
        )
    )
    t = record_trace(tr.model, tr.task, 3, seed=1)
    t.memory[2, 0, 0], t.memory[3, 1, 1], t.memory[4, 2, 2] = np.inf, -np.inf, np.nan
    t.weights[1, 0, 3] = np.inf
    t.outputs[4, 0] = np.nan
    t.gamma[0, 1] = np.inf
    t.meta["loss"] = float("nan")
    t.meta["scores"] = [np.float32(np.inf), 1.5]
    return t


def test_bytes_of_a_trace_holding_inf_and_nan_have_a_strict_json_header(bad_trace):
    for dtype in ("float32", "float16"):
        data = bad_trace.to_bytes(memory_dtype=dtype)
        n = int.from_bytes(data[8:12], "little")
        header = strict_json(data[12 : 12 + n].decode("utf-8"))
        finite = bad_trace.memory[np.isfinite(bad_trace.memory)]
        assert header["memory_limit"] == pytest.approx(float(np.abs(finite).max()))
        assert header["weight_max"] == pytest.approx(
            float(np.nanmax(np.where(np.isinf(bad_trace.weights), np.nan, bad_trace.weights)))
        )
        assert header["nonfinite"] == {"memory": 3, "weights": 1, "outputs": 1, "gamma": 1}
        assert header["meta"]["loss"] is None and header["meta"]["scores"] == [None, 1.5]
        back = decode_trace(data)
        # +-inf arrive as they are (the renderer clips them to the colour scale's ends);
        # NaN arrives as +inf, on the top end too.
        assert back.memory[2, 0, 0] == np.inf and back.memory[3, 1, 1] == -np.inf and back.memory[4, 2, 2] == np.inf
        assert back.weights[1, 0, 3] == np.inf and back.outputs[4, 0] == np.inf and back.gamma[0, 1] == np.inf
        assert np.isfinite(back.memory).sum() == np.isfinite(bad_trace.memory).sum()


def test_html_of_a_trace_holding_inf_and_nan_parses_and_says_so(bad_trace, tmp_path):
    path = write_replay_html(bad_trace, tmp_path / "bad.html")
    page = open(path, encoding="utf-8").read()
    strict_json(re.search(r'id="ntm-colormaps">(.*?)</script>', page, re.S).group(1))
    blob = base64.b64decode("".join(re.search(r'id="ntm-trace-data">(.*?)</script>', page, re.S).group(1).split()))
    header = strict_json(blob[12 : 12 + int.from_bytes(blob[8:12], "little")].decode("utf-8"))
    assert sum(header["nonfinite"].values()) == 6
    sub = re.search(r'<div class="sub">(.*?)</div>', page, re.S).group(1)
    assert "6 non-finite values" in sub and "scale" in sub
    # A widget gets the same bytes.
    state = ReplayPlayer(bad_trace).get_state()
    data = bytes(state["trace_bytes"])
    strict_json(data[12 : 12 + int.from_bytes(data[8:12], "little")].decode("utf-8"))


def test_image_player_draws_a_trace_holding_inf_and_nan(bad_trace):
    p = ImageReplayPlayer(bad_trace)
    assert "6 non-finite values" in p.title.value
    p.step = 4  # the step whose memory holds the NaN
    assert p.memory_image.value[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_to_a_folder_names_it(trace, tmp_path):
    with pytest.raises(IsADirectoryError) as info:
        write_replay_html(trace, tmp_path)
    assert str(info.value) == f"{tmp_path} is a folder; give a file name such as {tmp_path / 'replay.html'}"
    assert "\n" not in str(info.value)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        write_replay_html(trace, str(tmp_path / "new") + "/")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.browser
def test_html_of_a_trace_holding_inf_and_nan_plays_in_chromium(bad_trace, tmp_path, browser):
    path = write_replay_html(bad_trace, tmp_path / "bad.html")
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    try:
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"file://{path}")
        page.wait_for_selector(".ntm-replay[data-loaded='1']", timeout=10_000)
        page.select_option("#ntm-speed", "1")
        page.click("#ntm-play")
        last = bad_trace.steps - 1
        page.wait_for_function(f"() => +document.querySelector('.ntm-replay').dataset.step >= {last}", timeout=10_000)
        assert errors == []
    finally:
        page.close()
