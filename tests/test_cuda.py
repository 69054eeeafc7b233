"""The CUDA path: the same model gives the same numbers on the GPU as on the CPU.

Skipped where torch sees no GPU (CI has none); run by hand on a GPU machine:
``python -m pytest tests/test_cuda.py``.
"""

import pytest
import torch

from ntm_widgets.config import ModelConfig, RunConfig, TaskConfig, TrainConfig
from ntm_widgets.core import NTM, address
from ntm_widgets.tasks import make_task

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

CUDA = torch.device("cuda")


def small_model(controller="lstm", dtype=torch.float64):
    torch.manual_seed(0)
    cfg = ModelConfig(memory_size=16, word_size=6, controller=controller, controller_size=24, num_read_heads=2, num_write_heads=1)
    return NTM(input_size=5, output_size=4, **cfg.to_dict()).to(dtype)


@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
def test_forward_and_gradients_match_cpu(controller):
    cpu = small_model(controller)
    gpu = small_model(controller).to(CUDA)
    x = torch.rand(3, 9, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y_cpu, state_cpu = cpu(x)
    y_gpu, state_gpu = gpu(x.to(CUDA))
    assert y_gpu.device.type == "cuda" and state_gpu.memory.device.type == "cuda"
    torch.testing.assert_close(y_gpu.cpu(), y_cpu, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(state_gpu.memory.cpu(), state_cpu.memory, rtol=1e-9, atol=1e-9)
    y_cpu.square().sum().backward()
    y_gpu.square().sum().backward()
    for (name, p), q in zip(cpu.named_parameters(), gpu.parameters()):
        assert q.grad is not None and q.grad.device.type == "cuda", name
        torch.testing.assert_close(q.grad.cpu(), p.grad, rtol=1e-7, atol=1e-9, msg=name)


def test_addressing_gradcheck_on_gpu():
    g = torch.Generator().manual_seed(2)
    b, n, m = 2, 5, 3
    memory = torch.randn(b, n, m, generator=g, dtype=torch.float64).to(CUDA)
    key = torch.randn(b, m, generator=g, dtype=torch.float64).to(CUDA).requires_grad_()
    beta = (torch.rand(b, 1, generator=g, dtype=torch.float64) + 0.5).to(CUDA).requires_grad_()
    gate = torch.rand(b, 1, generator=g, dtype=torch.float64).to(CUDA).requires_grad_()
    shift = torch.softmax(torch.randn(b, 3, generator=g, dtype=torch.float64), -1).to(CUDA).requires_grad_()
    gamma = (torch.rand(b, 1, generator=g, dtype=torch.float64) + 1.0).to(CUDA).requires_grad_()
    prev = torch.softmax(torch.randn(b, n, generator=g, dtype=torch.float64), -1).to(CUDA)
    assert torch.autograd.gradcheck(
        lambda k, be, gt, s, ga: address(memory, k, be, gt, s, ga, prev), (key, beta, gate, shift, gamma)
    )


def test_trainer_trains_on_gpu_and_its_checkpoint_loads_on_cpu(tmp_path):
    from ntm_widgets.training import Trainer

    cfg = RunConfig(
        model=ModelConfig(memory_size=16, word_size=6, controller_size=32),
        task=TaskConfig(name="copy", width=4, min_len=1, max_len=4),
        train=TrainConfig(batch_size=8, seed=3, val_samples=40),
    )
    trainer = Trainer(cfg, device="cuda")
    trainer.run(steps=5)
    assert trainer.step_count == 5
    assert all(p.device.type == "cuda" for p in trainer.model.parameters())
    trainer.save_run(tmp_path / "run")
    back = Trainer.load_run(tmp_path / "run", device="cpu")
    assert back.step_count == 5
    for p, q in zip(trainer.model.parameters(), back.model.parameters()):
        torch.testing.assert_close(p.detach().cpu(), q.detach())
    # The same batch gives the same logits on both devices (float32: loose tolerance).
    batch = make_task(cfg.task).sample(4, torch.Generator().manual_seed(0), length=4)
    with torch.no_grad():
        y_gpu, _ = trainer.model(batch.inputs.to(CUDA))
        y_cpu, _ = back.model(batch.inputs)
    torch.testing.assert_close(y_gpu.cpu(), y_cpu, rtol=1e-4, atol=1e-4)


def test_restart_and_validation_on_gpu():
    from ntm_widgets.training import Trainer

    cfg = RunConfig(
        model=ModelConfig(memory_size=16, word_size=6, controller_size=32),
        task=TaskConfig(name="copy", width=4, min_len=1, max_len=4),
        train=TrainConfig(batch_size=8, seed=3, val_samples=40, restart_after=5, restart_bits=1e-6),
    )
    trainer = Trainer(cfg, device="cuda")
    trainer.run(steps=10)
    assert trainer.restarts == 2
    assert all(p.device.type == "cuda" for p in trainer.model.parameters())
    assert 0.0 <= trainer.validate() <= 4 * 4  # inference mode on the GPU: at most every bit wrong
    table = trainer.evaluate([2, 6], samples=10)
    assert set(table) == {2, 6}
