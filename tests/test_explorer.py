"""AddressingExplorer: the sliders change the stages as eq. 5-9 say, with the model's numbers."""

import numpy as np
import pytest
import torch
import traitlets

from ntm_widgets.core.addressing import address
from ntm_widgets.widgets.explorer import AddressingExplorer, address_stages


@pytest.fixture
def ex():
    return AddressingExplorer(rows=8, width=4, seed=0)


def arr(ex, name):
    return np.asarray(ex.stages[name])


def test_final_stage_equals_the_models_address(ex):
    ex.beta, ex.g, ex.gamma, ex.shift = 7.0, 0.6, 2.5, [0.2, 0.5, 0.3]
    ex.prev_row = 5
    t = lambda v: torch.tensor(v, dtype=torch.float64)
    w_prev = torch.zeros(1, 8, dtype=torch.float64)
    w_prev[0, 5] = 1.0
    want = address(t(ex.memory)[None], t(ex.key)[None], t([[7.0]]), t([[0.6]]), t([[0.2, 0.5, 0.3]]), t([[2.5]]), w_prev)
    np.testing.assert_allclose(arr(ex, "sharpen"), want[0].numpy(), rtol=1e-12)
    for name in ("content", "interpolation", "shift", "sharpen"):
        assert arr(ex, name).sum() == pytest.approx(1.0) and (arr(ex, name) >= 0).all()


def test_beta_changes_the_content_stage_and_sharpens_it(ex):
    before = arr(ex, "content")
    ex.beta_slider.value = 30.0  # through the slider, as a user would
    after = arr(ex, "content")
    assert ex.beta == 30.0
    assert not np.allclose(before, after)
    assert after.max() > before.max() and after.argmax() == before.argmax()
    ex.beta = 0.0  # beta = 0: every row equally likely, whatever the key
    np.testing.assert_allclose(arr(ex, "content"), np.full(8, 1 / 8))


def test_g_one_keeps_content_g_zero_keeps_previous(ex):
    ex.g = 1.0
    np.testing.assert_allclose(arr(ex, "interpolation"), arr(ex, "content"))
    ex.prev_row = 6
    ex.g_slider.value = 0.0
    np.testing.assert_allclose(arr(ex, "interpolation"), np.eye(8)[6])
    ex.prev_mode = "uniform"
    np.testing.assert_allclose(arr(ex, "prev"), np.full(8, 1 / 8))


def test_shift_plus_one_rolls_down_one_row(ex):
    ex.g = 0.7
    ex.shift = [0.0, 0.0, 1.0]
    np.testing.assert_allclose(arr(ex, "shift"), np.roll(arr(ex, "interpolation"), 1), atol=1e-12)
    # Through the three sliders: -1 rolls up one row.
    ex.shift_sliders[2].value = 0.0
    ex.shift_sliders[0].value = 1.0
    np.testing.assert_allclose(arr(ex, "shift"), np.roll(arr(ex, "interpolation"), -1), atol=1e-12)
    # Raw slider weights are normalised.
    ex.shift = [0.5, 0.5, 1.0]
    np.testing.assert_allclose(ex.stages["s"], [0.25, 0.25, 0.5])
    assert [s.value for s in ex.shift_sliders] == [0.5, 0.5, 1.0]


def test_gamma_sharpens(ex):
    ex.beta, ex.shift = 3.0, [0.3, 0.4, 0.3]
    soft = arr(ex, "sharpen")
    np.testing.assert_allclose(soft, arr(ex, "shift"), atol=1e-6)  # gamma = 1: unchanged
    ex.gamma_slider.value = 6.0
    sharp = arr(ex, "sharpen")
    assert sharp.max() > soft.max() + 0.05 and sharp.argmax() == soft.argmax()


def test_key_sliders_and_copying_a_row(ex):
    ex.key_sliders[1].value = -0.5
    assert ex.key[1] == -0.5
    ex.key_row.value = 4  # "key = row 4": content addressing then prefers row 4
    np.testing.assert_allclose(ex.key, np.clip(ex.memory[4], -1, 1))
    assert [s.value for s in ex.key_sliders] == ex.key
    ex.beta = 40.0
    assert arr(ex, "content").argmax() == 4
    assert ex.key_row.value == -1


def test_feed_back_walks_the_head(ex):
    ex.beta, ex.g = 40.0, 1.0
    ex.key_row.value = 2
    ex.shift = [0.0, 0.0, 1.0]
    assert arr(ex, "sharpen").argmax() == 3
    ex.feed_button.click()
    ex.g = 0.0  # follow the previous weighting only: the focus moves one more row each press
    assert ex.prev_mode == "custom" and arr(ex, "sharpen").argmax() == 4
    ex.feed_back()
    assert arr(ex, "sharpen").argmax() == 5


def test_bad_values_are_refused_with_their_names(ex):
    for name, bad in (("beta", -1.0), ("g", 1.5), ("gamma", 0.5), ("prev_row", 8), ("prev_mode", "last")):
        with pytest.raises(traitlets.TraitError, match=name):
            setattr(ex, name, bad)
    with pytest.raises(traitlets.TraitError, match="key"):
        ex.key = [0.0, 0.0]
    with pytest.raises(traitlets.TraitError, match="shift"):
        ex.shift = [0.0, 2.0, 0.0]
    with pytest.raises(ValueError, match="memory"):
        AddressingExplorer(memory=np.zeros(5))
    # All shift weights at zero: a message in the widget, the last result kept.
    last = arr(ex, "shift")
    ex.shift = [0.0, 0.0, 0.0]
    assert "shift" in ex.message.value
    np.testing.assert_allclose(arr(ex, "shift"), last)
    with pytest.raises(ValueError, match="shift"):
        address_stages(ex.memory, ex.key, 1.0, 1.0, [0, 0, 0], 1.0, np.full(8, 1 / 8))


def test_front_end_gets_the_stages_and_css_classes(ex):
    assert "ntm-explorer" in ex._dom_classes and "ntm-explorer-bars" in ex.bars._dom_classes
    ex.beta = 12.0
    sent = ex.bars.get_state()["stages"]
    np.testing.assert_allclose(sent["content"], ex.stages["content"])
    assert len(sent["memory"]) == 8 and len(sent["memory"][0]) == 4
    assert repr(ex) == "AddressingExplorer(memory=8x4)"
    assert ex._repr_mimebundle_()[0]["text/plain"] == repr(ex)
    given = AddressingExplorer(memory=np.eye(3))
    assert len(given.key_sliders) == 3 and len(given.stages["content"]) == 3


def test_the_explorer_shows_the_functions_the_model_runs(monkeypatch):
    """The explorer's stages come from core.addressing, and the NTM's eager path runs
    exactly those functions (the fused C step is checked against it in float64)."""
    from ntm_widgets.core import NTM, addressing
    from ntm_widgets.widgets import explorer

    names = ("content_weights", "interpolate", "shift", "sharpen")
    for name in names:
        assert getattr(explorer, name) is getattr(addressing, name), name
    calls = dict.fromkeys(names, 0)

    def spy(name, fn):
        def counted(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)

        return counted

    for name in names:
        monkeypatch.setattr(addressing, name, spy(name, getattr(addressing, name)))
    torch.manual_seed(0)
    model = NTM(5, 4, memory_size=8, word_size=4, controller_size=8, num_read_heads=2)
    model.set_backend("eager")
    model(torch.rand(2, 3, 5))
    assert calls == dict.fromkeys(names, 3 * 3)  # 3 steps, 3 heads
