"""The NTM module: shapes, explicit state, recording, gradients, baseline."""

import pytest
import torch

from ntm_widgets.config import ModelConfig
from ntm_widgets.core import NTM, LSTMBaseline
from ntm_widgets.core.ntm import Backend


def small(**kw):
    torch.manual_seed(0)
    cfg = ModelConfig(memory_size=10, word_size=4, controller_size=16, **kw)
    return NTM.from_config(cfg, input_size=5, output_size=4)


@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
@pytest.mark.parametrize("heads", [(1, 1), (2, 3)])
@pytest.mark.parametrize("init", ["constant", "learned", "random"])
def test_forward_shapes_and_gradients_reach_every_parameter(controller, heads, init):
    model = small(controller=controller, num_read_heads=heads[0], num_write_heads=heads[1], memory_init=init)
    x = torch.rand(3, 6, 5)
    logits, state = model(x)
    assert logits.shape == (3, 6, 4)
    assert state.memory.shape == (3, 10, 4)
    assert state.weights.shape == (3, sum(heads), 10)
    logits.pow(2).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_step_by_step_equals_whole_sequence_and_state_is_not_mutated():
    model = small()
    x = torch.rand(2, 5, 5)
    whole, final = model(x)
    state = model.initial_state(2)
    memory0 = state.memory.clone()
    outs = []
    for t in range(5):
        y, new_state = model.step(x[:, t], state)
        assert new_state is not state
        outs.append(y)
        state = new_state
    torch.testing.assert_close(torch.stack(outs, 1), whole)
    torch.testing.assert_close(state.memory, final.memory)
    initial = model.initial_state(2)
    torch.testing.assert_close(initial.memory, memory0)


def test_weightings_stay_distributions_and_record_has_every_step():
    model = small(num_read_heads=2, num_write_heads=1)
    x = torch.rand(4, 7, 5)
    rec = {}
    logits, _ = model(x, record=rec)
    plain, _ = model(x)
    torch.testing.assert_close(logits, plain)  # recording does not change the result
    assert rec["memory"].shape == (4, 7, 10, 4)
    assert rec["weights"].shape == (4, 7, 3, 10)
    assert rec["erase"].shape == (4, 7, 1, 4) and rec["add"].shape == (4, 7, 1, 4)
    assert rec["s"].shape == (4, 7, 3, 3)
    assert rec["head_kinds"] == ["read", "read", "write"]
    torch.testing.assert_close(rec["weights"].sum(-1), torch.ones(4, 7, 3))
    assert (rec["gamma"] >= 1).all() and (rec["beta"] >= 0).all()
    assert ((rec["g"] > 0) & (rec["g"] < 1)).all()


def test_batch_elements_are_independent():
    model = small()
    x = torch.rand(3, 5, 5)
    full, _ = model(x)
    single, _ = model(x[1:2])
    torch.testing.assert_close(full[1:2], single, atol=1e-6, rtol=1e-5)


def test_float64_model_follows_input_dtype():
    model = small().double()
    logits, state = model(torch.rand(2, 3, 5, dtype=torch.float64))
    assert logits.dtype == torch.float64 and state.memory.dtype == torch.float64


def test_lstm_baseline_has_the_same_interface():
    model = LSTMBaseline(5, 4, hidden_size=8, num_layers=2)
    logits, _ = model(torch.rand(2, 6, 5))
    assert logits.shape == (2, 6, 4)


def test_the_backend_is_an_explicit_setting():
    model = small()
    assert model.backend == Backend("fused", 1) and model.fused and model.fused_threads == 1
    x = torch.rand(2, 4, 5)
    fused, _ = model(x)
    model.set_backend("eager", threads=2)
    assert model.backend == Backend("eager", 2) and not model.fused and model.fused_threads == 2
    torch.testing.assert_close(model(x)[0], fused)
    model.fused = True  # the shorthands set the backend
    assert model.backend == Backend("fused", 2)
    model.fused_threads = 3
    assert model.backend == Backend("fused", 3)
    with pytest.raises(ValueError, match="backend must be one of fused, eager, compiled"):
        model.set_backend("cuda")
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="threads"):
            model.set_backend("fused", threads=bad)
    assert model.backend == Backend("fused", 3)  # a refused setting changes nothing
    assert not hasattr(LSTMBaseline(5, 4), "set_backend")


def test_fused_and_ntm_modules_do_not_import_each_other():
    """core/ntm.py calls core/fused.py with plain tensors; fused.py never reaches back."""
    import ast
    import inspect

    from ntm_widgets.core import fused

    tree = ast.parse(inspect.getsource(fused))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(name and name.split(".")[-1] == "ntm" for name in imported), imported


@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
def test_a_two_layer_controller_feeds_its_top_layer_to_the_heads(controller):
    torch.manual_seed(0)
    model = NTM.from_config(
        ModelConfig(memory_size=12, word_size=6, controller=controller, controller_size=10, controller_layers=2), 5, 4
    )
    assert model.controller.layers == 2 and len(model.controller.upper) == 1
    x = torch.randn(3, 6, 5)
    y, _ = model(x)  # the fused backend is asked for, but the C step has one layer: eager runs
    model.set_backend("eager")
    y_eager, final = model(x)
    assert torch.equal(y, y_eager)
    if controller == "lstm":
        assert final.controller[0].shape == (3, 20)  # both layers' h side by side
    y.sum().backward()
    assert all(
        p.grad is not None and p.grad.abs().sum() > 0 for n, p in model.named_parameters() if "upper" in n and "weight" in n
    )
    with torch.no_grad():
        for p in model.controller.upper.parameters():
            p.add_(0.5)
    assert not torch.allclose(model(x)[0], y_eager)  # the second layer is on the path to the output


@pytest.mark.parametrize("bias", [-3.0, 0.0])
def test_init_gate_bias_sets_every_heads_first_interpolation_gate(bias):
    # With the head projection's weights zeroed, each head's gate is sigmoid(its bias).
    model = small(num_read_heads=2, num_write_heads=1, init_gate_bias=bias)
    with torch.no_grad():
        model.head_proj.weight.zero_()
    record = {}
    model(torch.rand(1, 2, 5), record=record)
    g = record["g"]
    assert g.numel() == 2 * 3  # two steps, three heads
    torch.testing.assert_close(g, torch.full_like(g, 1 / (1 + torch.exp(torch.tensor(-bias)).item())))


@pytest.mark.parametrize("shift", [0, 1, -1])
def test_heads_start_in_the_roles_asked_for(shift):
    torch.manual_seed(0)
    m = NTM(3, 2, memory_size=16, word_size=6, controller_size=8, init_read_gate_bias=3.0, init_write_shift=shift)
    record = {}
    with torch.no_grad():
        m(torch.zeros(1, 6, 3), record=record)
    write = record["weights"][0, :, 1].argmax(-1).tolist()
    assert write == [(shift * (t + 1)) % 16 for t in range(6)]  # stays, or walks a row a step
    assert record["g"][0, 0, 0] > 0.9 and record["g"][0, 0, 1] < 0.1  # read on content, write on its last weighting
    plain = NTM(3, 2, memory_size=16, word_size=6, controller_size=8)
    assert plain.init_read_gate_bias == plain.init_gate_bias == -3.0 and plain.init_write_shift == 0
