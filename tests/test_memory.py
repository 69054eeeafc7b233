"""Read and write (Graves et al. 2014, eq. 2-4) against hand-computed values."""

import pytest
import torch

from ntm_widgets.core.memory import read, write, write_many

D = torch.float64


@pytest.mark.parametrize("b", [1, 2, 5])
def test_read_is_weighted_sum_of_rows(b):
    memory = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=D).expand(b, 3, 2)
    w = torch.tensor([0.5, 0.5, 0.0], dtype=D).expand(b, 3)
    torch.testing.assert_close(read(memory, w), torch.tensor([2.0, 3.0], dtype=D).expand(b, 2))


@pytest.mark.parametrize("b", [1, 2, 5])
def test_write_erases_then_adds_only_where_the_head_points(b):
    memory = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=D).expand(b, 3, 2).clone()
    before = memory.clone()
    w = torch.tensor([1.0, 0.5, 0.0], dtype=D).expand(b, 3)
    erase = torch.tensor([1.0, 0.0], dtype=D).expand(b, 2)
    add = torch.tensor([0.5, -1.0], dtype=D).expand(b, 2)
    new = write(memory, w, erase, add)
    # row 0: [1*(1-1), 2*(1-0)] + [0.5, -1] = [0.5, 1]
    # row 1: [3*(1-0.5), 4] + 0.5*[0.5, -1] = [1.75, 3.5]
    # row 2: untouched (weight 0)
    expected = torch.tensor([[0.5, 1.0], [1.75, 3.5], [5.0, 6.0]], dtype=D).expand(b, 3, 2)
    torch.testing.assert_close(new, expected)
    torch.testing.assert_close(memory, before)  # never mutates its input


def test_write_many_with_one_head_equals_write():
    g = torch.Generator().manual_seed(0)
    memory = torch.randn(3, 6, 4, generator=g, dtype=D)
    w = torch.softmax(torch.randn(3, 6, generator=g, dtype=D), -1)
    e = torch.rand(3, 4, generator=g, dtype=D)
    a = torch.randn(3, 4, generator=g, dtype=D)
    torch.testing.assert_close(write_many(memory, w[:, None], e[:, None], a[:, None]), write(memory, w, e, a))


def test_write_many_erasures_multiply_and_adds_sum():
    memory = torch.ones(1, 2, 1, dtype=D)
    w = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]], dtype=D)  # both heads on row 0
    e = torch.tensor([[[0.5], [0.5]]], dtype=D)
    a = torch.tensor([[[1.0], [2.0]]], dtype=D)
    new = write_many(memory, w, e, a)
    # row 0: 1 * (1-0.5) * (1-0.5) + 1 + 2 = 3.25; row 1 untouched
    torch.testing.assert_close(new, torch.tensor([[[3.25], [1.0]]], dtype=D))


def test_gradcheck_read_write():
    g = torch.Generator().manual_seed(2)
    memory = torch.randn(2, 4, 3, generator=g, dtype=D, requires_grad=True)
    w = torch.softmax(torch.randn(2, 4, generator=g, dtype=D), -1).requires_grad_()
    e = torch.rand(2, 3, generator=g, dtype=D, requires_grad=True)
    a = torch.randn(2, 3, generator=g, dtype=D, requires_grad=True)
    assert torch.autograd.gradcheck(lambda mm, ww, ee, aa: read(write(mm, ww, ee, aa), ww), (memory, w, e, a))
