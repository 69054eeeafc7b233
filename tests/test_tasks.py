"""Task formats (Graves et al. 2014, section 4): delimiters, no input while answering."""
import pytest
import torch

from ntm_widgets.config import TaskConfig
from ntm_widgets.tasks import make_task


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_copy_format():
    task = make_task(TaskConfig(name="copy", width=4, min_len=1, max_len=6))
    b = task.sample(5, gen(), length=3)
    assert b.inputs.shape == (5, 7, 5) and b.targets.shape == (5, 7, 4)
    seq = b.inputs[:, :3, :4]
    assert torch.equal(b.targets[:, 4:], seq)
    assert torch.equal(b.inputs[:, 3, 4], torch.ones(5))  # delimiter step
    assert b.inputs[:, 4:].abs().sum() == 0  # nothing while answering
    assert b.inputs[:, :3, 4].abs().sum() == 0
    assert torch.equal(b.mask[0], torch.tensor([0, 0, 0, 0, 1, 1, 1.0]))
    assert set(seq.unique().tolist()) <= {0.0, 1.0}


def test_seeded_and_lengths_in_range():
    task = make_task(TaskConfig(min_len=2, max_len=5))
    a, b = task.sample(4, gen(7)), task.sample(4, gen(7))
    assert torch.equal(a.inputs, b.inputs)
    lengths = {int(task.sample(1, g).mask.sum()) for g in [gen(s) for s in range(40)]}
    assert lengths == {2, 3, 4, 5}
    capped = {int(task.sample(1, gen(s), max_len=3).mask.sum()) for s in range(40)}
    assert capped == {2, 3}


def test_repeat_copy_format():
    task = make_task(TaskConfig(name="repeat_copy", width=3, max_repeats=4))
    b = task.build(2, 2, gen(), repeats=3)
    assert b.inputs.shape == (2, 2 + 1 + 2 * 3 + 1, 5) and b.targets.shape[-1] == 4
    seq = b.inputs[:, :2, :3]
    assert torch.equal(b.targets[:, 3:9, :3], seq.repeat(1, 3, 1))
    assert torch.allclose(b.inputs[:, 2, 4], torch.full((2,), 3 / 4))
    assert torch.equal(b.targets[:, -1, 3], torch.ones(2)) and b.targets[:, :-1, 3].sum() == 0


def test_associative_recall_answers_the_next_item():
    task = make_task(TaskConfig(name="associative_recall", width=3, min_len=2, max_len=6, item_len=2))
    b = task.sample(8, gen(3), length=4)
    x = b.inputs
    items = torch.stack([x[:, i * 3 + 1 : i * 3 + 3, :3] for i in range(4)], 1)  # (B, 4, 2, 3)
    query = x[:, 13:15, :3]
    for row in range(8):
        i = [k for k in range(3) if torch.equal(items[row, k], query[row])][0]
        assert torch.equal(b.targets[row, -2:], items[row, i + 1])
    assert b.mask.sum(1).eq(2).all()


def test_priority_sort_orders_by_priority():
    task = make_task(TaskConfig(name="priority_sort", width=4))
    b = task.sample(3, gen(1), length=5)
    pri = b.inputs[:, :5, 4]
    order = pri.argsort(1, descending=True)
    seq = b.inputs[:, :5, :4]
    assert torch.equal(b.targets[:, 6:], torch.gather(seq, 1, order[..., None].expand(-1, -1, 4)))


def test_length_power_favours_long_sequences_and_zero_is_uniform():
    task = make_task(TaskConfig(name="copy", width=3, min_len=1, max_len=4))
    g = torch.Generator().manual_seed(0)
    counts = {p: torch.zeros(5) for p in (0.0, 2.0)}
    for power in counts:
        for _ in range(3000):
            counts[power][task.sample(1, g, length_power=power).inputs.shape[1] // 2] += 1
    uniform, weighted = counts[0.0][1:] / 3000, counts[2.0][1:] / 3000
    assert torch.allclose(uniform, torch.full((4,), 0.25), atol=0.03)
    expected = torch.tensor([1.0, 4.0, 9.0, 16.0]) / 30  # P(L) ~ L ** 2
    assert torch.allclose(weighted, expected, atol=0.03), weighted
    # max_len (a curriculum) still caps the weighted draw.
    assert all(task.sample(1, g, max_len=2, length_power=2.0).inputs.shape[1] <= 5 for _ in range(50))


def test_blank_prob_zeroes_whole_vectors_and_leaves_the_default_stream_alone():
    from ntm_widgets.config import TaskConfig
    from ntm_widgets.tasks import make_task

    task = make_task(TaskConfig(name="copy", width=8, min_len=30, max_len=30))
    plain = task.sample(64, torch.Generator().manual_seed(3))
    again = task.sample(64, torch.Generator().manual_seed(3), blank_prob=0.0)
    assert torch.equal(plain.inputs, again.inputs)  # blank_prob 0 draws nothing extra
    blanked = task.sample(64, torch.Generator().manual_seed(3), blank_prob=0.5).inputs[:, :30, :8]
    zero_rows = (blanked.sum(-1) == 0).float().mean().item()
    assert 0.4 < zero_rows < 0.6  # whole vectors, about half of them
    assert set(blanked.unique().tolist()) == {0.0, 1.0}
    assert task.sample(4, torch.Generator().manual_seed(3), blank_prob=1.0).inputs[:, :30, :8].sum() == 0
    assert task._blank_prob == 0.0  # per call, not sticky
    with pytest.raises(ValueError, match="blank_prob"):
        task.sample(4, torch.Generator(), blank_prob=1.5)
