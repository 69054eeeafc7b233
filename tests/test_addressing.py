"""Addressing (Graves et al. 2014, eq. 5-9) against hand-computed values, in float64."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ntm_widgets.core.addressing import address, content_weights, interpolate, sharpen, shift

D = torch.float64
BATCHES = [1, 3, 7]


def rep(t, b):
    """The same example repeated over a batch of b."""
    return t.unsqueeze(0).expand(b, *t.shape).clone()


@pytest.mark.parametrize("b", BATCHES)
def test_content_weights_hand_values(b):
    memory = rep(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=D), b)
    key = rep(torch.tensor([2.0, 0.0], dtype=D), b)  # cosine ignores the key's length
    beta = torch.full((b, 1), 2.0, dtype=D)
    # cos = [1, 0, 1/sqrt(2)]; w = exp(2 cos) / sum
    e = [math.exp(2.0), math.exp(0.0), math.exp(2.0 / math.sqrt(2.0))]
    expected = torch.tensor([v / sum(e) for v in e], dtype=D)
    w = content_weights(memory, key, beta)
    assert w.shape == (b, 3)
    torch.testing.assert_close(w, rep(expected, b), atol=1e-7, rtol=0)


def test_content_weights_beta_zero_is_uniform_and_per_batch_keys():
    memory = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]], dtype=D)
    key = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=D)
    w = content_weights(memory, key, torch.tensor([[0.0], [50.0]], dtype=D))
    torch.testing.assert_close(w[0], torch.tensor([0.5, 0.5], dtype=D))
    assert w[1, 1] > 0.999  # the second sequence's key points at row 1


@pytest.mark.parametrize("b", BATCHES)
def test_interpolate_hand_values(b):
    w_c = rep(torch.tensor([1.0, 0.0, 0.0], dtype=D), b)
    w_prev = rep(torch.tensor([0.0, 0.0, 1.0], dtype=D), b)
    g = torch.full((b, 1), 0.25, dtype=D)
    torch.testing.assert_close(interpolate(w_c, w_prev, g), rep(torch.tensor([0.25, 0.0, 0.75], dtype=D), b))


@pytest.mark.parametrize("b", BATCHES)
def test_shift_plus_one_moves_down_with_wraparound(b):
    w = rep(torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=D), b)
    s = rep(torch.tensor([0.0, 0.0, 1.0], dtype=D), b)  # offsets -1, 0, +1: all on +1
    # row i's weight moves to row i+1, the last wraps to row 0
    torch.testing.assert_close(shift(w, s), rep(torch.tensor([0.4, 0.1, 0.2, 0.3], dtype=D), b))


@pytest.mark.parametrize("b", BATCHES)
def test_shift_minus_one_and_blend(b):
    w = rep(torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=D), b)
    minus = rep(torch.tensor([1.0, 0.0, 0.0], dtype=D), b)
    torch.testing.assert_close(shift(w, minus), rep(torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=D), b))
    blend = rep(torch.tensor([0.2, 0.5, 0.3], dtype=D), b)
    # w~(i) = sum_j w(j) s(i - j): row 0 keeps 0.5, row 1 gets 0.3 (+1), row 3 gets 0.2 (-1)
    torch.testing.assert_close(shift(w, blend), rep(torch.tensor([0.5, 0.3, 0.0, 0.2], dtype=D), b))


def test_shift_wider_range_k2():
    w = torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0]], dtype=D)
    s = torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0]], dtype=D)  # offsets -2..2: all on +2
    torch.testing.assert_close(shift(w, s), torch.tensor([[0.0, 0.0, 1.0, 0.0, 0.0]], dtype=D))


@pytest.mark.parametrize("b", BATCHES)
def test_sharpen_hand_values(b):
    w = rep(torch.tensor([0.5, 0.25, 0.25], dtype=D), b)
    gamma = torch.full((b, 1), 2.0, dtype=D)
    # squares 0.25, 0.0625, 0.0625 over their sum 0.375
    torch.testing.assert_close(sharpen(w, gamma), rep(torch.tensor([2 / 3, 1 / 6, 1 / 6], dtype=D), b), atol=1e-7, rtol=0)
    torch.testing.assert_close(sharpen(w, torch.ones(b, 1, dtype=D)), w, atol=1e-7, rtol=0)


def test_address_composes_the_stages():
    memory = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]]], dtype=D)
    key = torch.tensor([[1.0, 0.0]], dtype=D)
    beta, g, gamma = (torch.tensor([[v]], dtype=D) for v in (3.0, 0.6, 1.5))
    s = torch.tensor([[0.1, 0.7, 0.2]], dtype=D)
    w_prev = torch.tensor([[0.0, 1.0, 0.0, 0.0]], dtype=D)
    w = address(memory, key, beta, g, s, gamma, w_prev)
    expected = sharpen(shift(interpolate(content_weights(memory, key, beta), w_prev, g), s), gamma)
    torch.testing.assert_close(w, expected)
    # and the stages by hand: content of row 0 is exp(3)/(exp(3)+1+exp(3/sqrt2)+exp(-3))
    c0 = math.exp(3) / (math.exp(3) + 1 + math.exp(3 / math.sqrt(2)) + math.exp(-3))
    torch.testing.assert_close(content_weights(memory, key, beta)[0, 0], torch.tensor(c0, dtype=D))


def test_float32_and_float64_agree():
    g = torch.Generator().manual_seed(0)
    args64 = _random_args(4, 6, 3, g)
    args32 = [a.float() for a in args64]
    torch.testing.assert_close(address(*args32).double(), address(*args64), atol=1e-5, rtol=1e-4)


def _random_args(b, n, m, gen, dtype=D):
    memory = torch.randn(b, n, m, generator=gen, dtype=dtype)
    key = torch.randn(b, m, generator=gen, dtype=dtype)
    beta = torch.rand(b, 1, generator=gen, dtype=dtype) * 5
    gg = torch.rand(b, 1, generator=gen, dtype=dtype)
    s = torch.softmax(torch.randn(b, 3, generator=gen, dtype=dtype), -1)
    gamma = 1 + torch.rand(b, 1, generator=gen, dtype=dtype) * 3
    w_prev = torch.softmax(torch.randn(b, n, generator=gen, dtype=dtype), -1)
    return [memory, key, beta, gg, s, gamma, w_prev]


@settings(max_examples=60, deadline=None)
@given(
    b=st.integers(1, 4),
    n=st.integers(3, 12),
    m=st.integers(1, 5),
    beta=st.floats(0.0, 50.0),
    g=st.floats(0.0, 1.0),
    gamma=st.floats(1.0, 30.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_weightings_are_distributions_for_any_parameters_in_range(b, n, m, beta, g, gamma, seed):
    gen = torch.Generator().manual_seed(seed)
    memory, key, _, _, s, _, w_prev = _random_args(b, n, m, gen)
    memory[0, 0] = 0.0  # a zero row must not break the cosine
    w = address(
        memory,
        key,
        torch.full((b, 1), beta, dtype=D),
        torch.full((b, 1), g, dtype=D),
        s,
        torch.full((b, 1), gamma, dtype=D),
        w_prev,
    )
    assert torch.isfinite(w).all()
    assert (w >= 0).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(b, dtype=D))


def test_gradcheck_address():
    gen = torch.Generator().manual_seed(1)
    args = [a.requires_grad_() for a in _random_args(2, 5, 3, gen)]
    assert torch.autograd.gradcheck(address, args, eps=1e-6, atol=1e-5)
