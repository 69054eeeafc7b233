"""A trained NTM run with more memory rows than it trained with (NTM.resize_memory,
``ntm-widgets eval --memory-size``): with a constant initial memory no parameter depends
on N, so resizing must equal building the model at the new size with the same weights."""

import json

import pytest
import torch
from cli_helpers import TINY
from cli_helpers import run_cli as run
from test_fused import _inputs, _run, needs_fused
from test_speed_paths import CONFIGS, _model

from ntm_widgets.config import ConfigError
from ntm_widgets.core.ntm import NTM


@pytest.mark.parametrize("kw", CONFIGS)
@pytest.mark.parametrize("fused", [False, pytest.param(True, marks=needs_fused)])
def test_resized_model_equals_one_built_with_that_many_rows(kw, fused):
    model = _model(kw)
    rows = 2 * kw["memory_size"] + 3
    built = NTM(5, 4, **{**kw, "memory_size": rows}).double()
    built.load_state_dict(model.state_dict())  # no parameter has N in its shape
    x = _inputs(batch=3, steps=2 * rows)  # long enough for a walking head to pass the trained rows
    before, _ = _run(model, x, fused)
    model.resize_memory(rows)
    logits, state = _run(model, x, fused)
    want, want_state = _run(built, x, fused)
    assert state.memory.shape == (3, rows, kw["word_size"]) and state.weights.shape[-1] == rows
    torch.testing.assert_close(logits, want, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(state.memory, want_state.memory, rtol=1e-10, atol=1e-12)
    assert not torch.allclose(logits, before)  # the rows changed what the model computed
    model.resize_memory(kw["memory_size"])
    torch.testing.assert_close(_run(model, x, fused)[0], before, rtol=1e-10, atol=1e-12)


def test_resize_refuses_per_row_initial_memory_and_too_few_rows():
    learned = NTM(5, 4, memory_size=12, word_size=5, controller_size=16, memory_init="learned")
    with pytest.raises(ValueError, match="only when memory_init is 'constant'"):
        learned.resize_memory(24)
    model = NTM(5, 4, memory_size=12, word_size=5, controller_size=16, shift_range=2)
    with pytest.raises(ValueError, match=r">= 5 \(2 x shift_range \+ 1\), got 4"):
        model.resize_memory(4)
    assert model.memory_size == 12


def test_eval_memory_size_reports_both_sizes_and_leaves_the_run_unchanged(capsys, tmp_path):
    out = tmp_path / "r"
    assert run(capsys, "train", *TINY, "--steps", "2", "--out", str(out))[0] == 0
    saved = (out / "config.json").read_text()
    args = ["eval", str(out), "--lengths", "12", "--samples", "6", "--json"]
    code, text, _ = run(capsys, *args, "--memory-size", "24")
    assert code == 0
    ev = json.loads(text)
    assert (ev["memory_size"], ev["trained_memory_size"]) == (24, 8)
    plain = json.loads(run(capsys, *args)[1])
    assert "memory_size" not in plain and set(plain["lengths"]) == {"12"}
    code, text, _ = run(capsys, *args[:-1], "--memory-size", "24")
    assert code == 0 and "24 memory rows (trained with 8)" in text
    assert (out / "config.json").read_text() == saved

    code, _, err = run(capsys, "eval", str(out), "--lengths", "3", "--memory-size", "3")
    assert code == 2 and "--memory-size must be >= 4" in err  # the task's longest input does not fit


def test_eval_memory_size_names_the_flag_for_learned_memory(capsys, tmp_path):
    out = tmp_path / "r"
    assert run(capsys, "train", *TINY, "--memory-init", "learned", "--steps", "1", "--out", str(out))[0] == 0
    code, _, err = run(capsys, "eval", str(out), "--lengths", "3", "--memory-size", "16")
    assert code == 2 and err.startswith("ntm-widgets: --memory-size") and "when --memory-init is 'constant'" in err


def test_trainer_resize_keeps_its_config_in_step():
    from ntm_widgets.config import ModelConfig, RunConfig, TaskConfig
    from ntm_widgets.training import Trainer

    trainer = Trainer(
        RunConfig(model=ModelConfig(memory_size=16, word_size=4, controller_size=8), task=TaskConfig(max_len=4, width=3))
    )
    trainer.resize_memory(40)
    assert trainer.cfg.model.memory_size == trainer.model.memory_size == 40
    with pytest.raises(ConfigError) as info:
        trainer.resize_memory(5000)
    assert info.value.field == "memory_size" and trainer.model.memory_size == 40
