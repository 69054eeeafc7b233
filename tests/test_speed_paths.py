"""``NTM.forward`` computes the paper's step as the reference functions write it.

``forward`` runs the fused C step by default (on the CPU) and runs the output layer once
per sequence. These tests rebuild each step plainly, one head and one step at a time,
from the pure reference functions of DESIGN.md (``addressing.address``, ``memory.write``
/ ``write_many``, ``Head.split``) in float64 and check that outputs, recorded traces and
gradients agree.
"""

from __future__ import annotations

import pytest
import torch

from ntm_widgets.core import addressing
from ntm_widgets.core import memory as mem
from ntm_widgets.core.ntm import NTM, NTMState

CONFIGS = [
    dict(memory_size=12, word_size=5, controller_size=16),
    dict(memory_size=10, word_size=4, controller_size=8, num_read_heads=2, num_write_heads=3, shift_range=2),
    dict(memory_size=9, word_size=3, controller="feedforward", controller_size=7, shift_range=0),
]


def reference_forward(model: NTM, inputs: torch.Tensor):
    """The NTM step written plainly, one head at a time, from the reference functions."""
    batch, steps, _ = inputs.shape
    state = model.initial_state(batch, dtype=inputs.dtype)
    r = model.num_read_heads
    sizes = [h.param_size for h in model.heads]
    logits, rec = [], {k: [] for k in ("memory", "weights", "beta", "g", "s", "gamma", "erase", "add")}
    for t in range(steps):
        x = torch.cat([inputs[:, t], state.reads.reshape(batch, -1)], dim=-1)
        if model.controller_kind == "lstm":
            h, c = model.controller.cell(x, state.controller)
            ctrl = (h, c)
        else:
            h, ctrl = torch.tanh(model.controller.layer(x)), ()
        params = [hd.split(chunk) for hd, chunk in zip(model.heads, model.head_proj(h).split(sizes, dim=-1))]
        memory = state.memory
        w_write = torch.stack(
            [
                addressing.address(memory, p.key, p.beta, p.g, p.s, p.gamma, state.weights[:, r + i])
                for i, p in enumerate(params[r:])
            ],
            1,
        )
        erase = torch.stack([p.erase for p in params[r:]], 1)
        add = torch.stack([p.add for p in params[r:]], 1)
        if w_write.shape[1] == 1:
            memory = mem.write(memory, w_write[:, 0], erase[:, 0], add[:, 0])
        else:
            memory = mem.write_many(memory, w_write, erase, add)
        w_read = torch.stack(
            [addressing.address(memory, p.key, p.beta, p.g, p.s, p.gamma, state.weights[:, i]) for i, p in enumerate(params[:r])],
            1,
        )
        reads = torch.stack([mem.read(memory, w_read[:, i]) for i in range(r)], 1)
        logits.append(model.out(torch.cat([h, reads.reshape(batch, -1)], dim=-1)))
        weights = torch.cat([w_read, w_write], 1)
        state = NTMState(memory, weights, reads, ctrl)
        rec["memory"].append(memory)
        rec["weights"].append(weights)
        rec["beta"].append(torch.cat([p.beta for p in params], -1))
        rec["g"].append(torch.cat([p.g for p in params], -1))
        rec["gamma"].append(torch.cat([p.gamma for p in params], -1))
        rec["s"].append(torch.stack([p.s for p in params], 1))
        rec["erase"].append(erase)
        rec["add"].append(add)
    return torch.stack(logits, 1), {k: torch.stack(v, 1) for k, v in rec.items()}


def _model(kw, seed=0):
    torch.manual_seed(seed)
    model = NTM(5, 4, **kw).double()
    # Random biases too, so the test does not depend on the head initialisation.
    with torch.no_grad():
        model.head_proj.bias.normal_()
    return model


@pytest.mark.parametrize("kw", CONFIGS)
def test_forward_matches_reference_in_float64(kw):
    model = _model(kw)
    x = torch.randint(0, 2, (3, 6, 5), generator=torch.Generator().manual_seed(1)).double()
    record = {}
    fast, _ = model(x, record=record)
    ref, ref_rec = reference_forward(model, x)
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-12)
    for key, value in ref_rec.items():
        torch.testing.assert_close(record[key], value, rtol=1e-10, atol=1e-12, msg=key)
    assert record["head_kinds"] == [h.kind for h in model.heads]


@pytest.mark.parametrize("kw", CONFIGS[:2])
def test_gradients_match_reference_in_float64(kw):
    model = _model(kw, seed=3)
    x = torch.randint(0, 2, (2, 5, 5), generator=torch.Generator().manual_seed(2)).double()
    target = torch.rand(2, 5, 4, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    loss_fast = ((model(x)[0] - target) ** 2).sum()
    fast = torch.autograd.grad(loss_fast, list(model.parameters()))
    loss_ref = ((reference_forward(model, x)[0] - target) ** 2).sum()
    ref = torch.autograd.grad(loss_ref, list(model.parameters()))
    for (name, _), a, b in zip(model.named_parameters(), fast, ref):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10, msg=name)
        assert torch.isfinite(a).all()
    # Gradients reach every parameter (a zero gradient would mean a cut path).
    assert all(g.abs().sum() > 0 for g in fast)


def test_gradcheck_through_the_sequence():
    model = _model(dict(memory_size=6, word_size=3, controller_size=5), seed=5)
    x = torch.rand(1, 3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp: model(inp)[0], (x,), eps=1e-6, atol=1e-6)


def test_step_api_agrees_with_forward():
    model = _model(CONFIGS[1])
    x = torch.rand(2, 4, 5, dtype=torch.float64)
    logits, final = model(x)
    state = model.initial_state(2, dtype=torch.float64)
    for t in range(4):
        y, state = model.step(x[:, t], state)
        torch.testing.assert_close(y, logits[:, t], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(state.memory, final.memory)
    torch.testing.assert_close(state.weights, final.weights)


def test_fresh_heads_start_sharp_and_stationary():
    torch.manual_seed(0)
    model = NTM(9, 8)
    x = torch.zeros(1, 1, 9)
    record = {}
    model(x, record=record)
    assert (record["g"] < 0.2).all()  # keep the previous focus
    assert (record["s"][..., 1] > 0.6).all()  # offset 0 dominates the shift
    assert (record["gamma"] > 1.8).all()  # sharpen
    # The pointer starts on row 0 and stays mostly there after one step.
    assert (record["weights"][0, 0, :, 0] > 0.5).all()


def test_layout_buffer_is_not_saved():
    model = NTM(9, 8)
    assert "_perm" not in model.state_dict()
    copy = NTM(9, 8)
    copy.load_state_dict(model.state_dict())
    x = torch.rand(2, 3, 9)
    torch.testing.assert_close(copy(x)[0], model(x)[0])
