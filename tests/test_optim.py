"""ntm_widgets.training.optim.Adam: torch.optim.Adam's algorithm without importing
torch._dynamo (~1.2 s of every training process's start)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from ntm_widgets.core.ntm import NTM
from ntm_widgets.training.optim import Adam


def _model(seed=0):
    torch.manual_seed(seed)
    return NTM(5, 4, memory_size=10, word_size=4, controller_size=8)


def _train(model, opt, steps, seed=1, lr_change_at=None):
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        if step == lr_change_at:
            for group in opt.param_groups:
                group["lr"] = 3e-3
        x = torch.randint(0, 2, (3, 6, 5), generator=g).float()
        y = torch.randint(0, 2, (3, 6, 4), generator=g).float()
        logits, _ = model(x)
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.binary_cross_entropy_with_logits(logits, y).backward()
        opt.step()


def test_same_updates_as_torch_adam():
    ours, ref = _model(), _model()
    _train(ours, Adam(ours.parameters(), lr=1e-2), steps=12, lr_change_at=5)
    _train(ref, torch.optim.Adam(ref.parameters(), lr=1e-2), steps=12, lr_change_at=5)
    for (name, a), (_, b) in zip(ours.named_parameters(), ref.named_parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, msg=lambda m, name=name: f"{name}: {m}")
    assert any((a != p).any() for a, p in zip(ours.parameters(), _model().parameters()))  # it did train


@pytest.mark.parametrize("direction", ["torch_to_ours", "ours_to_torch"])
def test_state_dicts_are_interchangeable(direction):
    """A checkpoint from either optimizer resumes in the other with the same next steps."""
    first, second = (torch.optim.Adam, Adam) if direction == "torch_to_ours" else (Adam, torch.optim.Adam)
    a = _model()
    opt_a = first(a.parameters(), lr=5e-3)
    _train(a, opt_a, steps=4)
    b = _model()
    b.load_state_dict(a.state_dict())
    opt_b = second(b.parameters(), lr=1.0)  # the lr comes from the state dict
    opt_b.load_state_dict(opt_a.state_dict())
    assert opt_b.param_groups[0]["lr"] == 5e-3
    _train(a, opt_a, steps=3, seed=7)
    _train(b, opt_b, steps=3, seed=7)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_clearing_state_restarts_the_moments():
    model = _model()
    opt = Adam(model.parameters(), lr=1e-2)
    _train(model, opt, steps=3)
    assert all(float(s["step"]) == 3 for s in opt.state.values())
    opt.state.clear()
    _train(model, opt, steps=1)
    assert all(float(s["step"]) == 1 for s in opt.state.values())


def test_a_mismatched_state_dict_is_refused():
    opt = Adam(_model().parameters())
    other = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))])
    with pytest.raises(ValueError, match="parameters"):
        opt.load_state_dict(other.state_dict())


def test_training_does_not_import_dynamo():
    code = (
        "import sys\n"
        "from ntm_widgets.config import RunConfig, TaskConfig, TrainConfig\n"
        "from ntm_widgets.training import Trainer\n"
        "t = Trainer(RunConfig(task=TaskConfig(max_len=4), train=TrainConfig(batch_size=2, val_samples=4)))\n"
        "t.train_step(); t.train_step()\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
