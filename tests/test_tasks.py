"""Task formats (Graves et al. 2014, section 4): delimiters, no input while answering."""

import math

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


# ------------------------------------------------------------------ the paper's other tasks
def _ngrams(**kw):
    from ntm_widgets.tasks import make_task

    return make_task(TaskConfig(name="ngrams", min_len=kw.pop("min_len", 200), max_len=kw.pop("max_len", 200), **kw))


def test_ngrams_tables_are_beta_half_half_and_bits_follow_them():
    task = _ngrams()
    p = task.table(20_000, torch.Generator().manual_seed(0))
    assert p.shape == (20_000, 32)
    assert abs(float(p.mean()) - 0.5) < 0.01 and abs(float(p.var()) - 0.125) < 0.005  # Beta(1/2, 1/2)
    # Bits after a context follow that context's probability: one sequence, long.
    long = _ngrams(min_len=10_000, max_len=10_000, ngram_order=3)
    g = torch.Generator().manual_seed(1)
    table = long.table(1, torch.Generator().manual_seed(1))
    batch = long.build(1, 20_000, g)
    bits = batch.inputs[0, :, 0].long()
    ctx = bits[:-2] * 2 + bits[1:-1]
    nxt = bits[2:]
    checked = 0
    for c in range(4):
        seen = nxt[ctx == c].float()
        p = float(table[0, c])
        if len(seen) >= 200:  # a rarely visited context says little
            checked += 1
            assert abs(float(seen.mean()) - p) < 4 * math.sqrt(p * (1 - p) / len(seen)) + 0.01
    assert checked >= 2


def test_ngrams_masks_predictions_with_a_full_context_and_targets_are_the_next_bit():
    task = _ngrams(min_len=30, max_len=30)
    batch = task.sample(4, torch.Generator().manual_seed(2))
    assert batch.inputs.shape == (4, 30, 1) and batch.targets.shape == (4, 30, 1)
    assert torch.equal(batch.targets[:, :-1, 0], batch.inputs[:, 1:, 0])
    assert batch.mask[0].tolist() == [0.0] * 4 + [1.0] * 25 + [0.0]  # bits 5..29 are predicted


def test_ngrams_optimal_is_the_score_of_the_bayes_predictions():
    task = _ngrams(min_len=60, max_len=60, ngram_order=4)
    batch = task.sample(8, torch.Generator().manual_seed(3))
    # The Bayes estimator's predictions, written out step by step, as logits.
    bits = batch.inputs[:, :, 0].long()
    logits = torch.zeros(8, 60, 1)
    for b in range(8):
        counts = {}
        for t in range(3, 60):
            c = tuple(bits[b, t - 3 : t].tolist())
            n0, n1 = counts.get(c, (0, 0))
            p1 = (n1 + 0.5) / (n0 + n1 + 1.0)
            logits[b, t - 1, 0] = math.log(p1 / (1 - p1))
            counts[c] = (n0 + (bits[b, t] == 0), n1 + (bits[b, t] == 1))
    scored = task.score(logits, batch.targets, batch.mask)
    assert torch.allclose(scored, task.optimal(batch), atol=1e-3)
    assert float(task.optimal(batch).mean()) < 57  # it learns: below one bit per prediction


def test_priority_sort_outputs_the_highest_sorted():
    from ntm_widgets.tasks import make_task

    task = make_task(TaskConfig(name="priority_sort", width=4, min_len=20, max_len=20, sort_outputs=16))
    batch = task.sample(3, torch.Generator().manual_seed(4))
    assert batch.inputs.shape[1] == 20 + 1 + 16 == task.max_steps(20)
    assert batch.mask.sum(1).tolist() == [16.0] * 3
    for b in range(3):
        prio = batch.inputs[b, :20, 4]
        order = torch.argsort(prio, descending=True)[:16]
        assert torch.equal(batch.targets[b, 21:], batch.inputs[b, order, :4])


def test_repeat_copy_draws_each_sequence_its_own_count_or_a_fixed_one():
    from ntm_widgets.tasks import make_task

    task = make_task(TaskConfig(name="repeat_copy", width=3, min_len=1, max_len=5, min_repeats=1, max_repeats=6))
    batch = task.sample(64, torch.Generator().manual_seed(5), length=3)
    counts = (batch.inputs[:, 3, 4] * 6).round().long()
    assert len(set(counts.tolist())) > 3  # not one count for the whole batch
    for b in range(64):
        end = 3 + 1 + 3 * int(counts[b])
        assert batch.targets[b, end, 3] == 1 and batch.targets[b, :, 3].sum() == 1
        assert batch.mask[b].nonzero().flatten().tolist() == list(range(4, end + 1))
        assert torch.equal(batch.targets[b, 4:end, :3], batch.inputs[b, :3, :3].repeat(int(counts[b]), 1))
    task.fixed_repeats = 12  # beyond the training range
    fixed = task.sample(4, torch.Generator().manual_seed(6), length=3)
    assert fixed.inputs[:, 3, 4].tolist() == [2.0] * 4 and fixed.mask.sum(1).tolist() == [37.0] * 4


def test_repeat_copy_training_batches_share_one_count_that_varies_between_batches():
    from ntm_widgets.tasks import make_task

    task = make_task(TaskConfig(name="repeat_copy", width=3, min_len=1, max_len=5, min_repeats=1, max_repeats=6))
    g = torch.Generator().manual_seed(5)
    seen = set()
    for _ in range(20):
        batch = task.sample(16, g, length=3, training=True)
        counts = (batch.inputs[:, 3, 4] * 6).round().long()
        assert len(set(counts.tolist())) == 1
        seen.add(int(counts[0]))
        assert batch.inputs.shape[1] == 3 + 2 + 3 * int(counts[0])  # no padding beyond the count
    assert len(seen) > 3
    assert not task._training  # evaluation after training draws per sequence again
    again = task.sample(64, g, length=3)
    assert len(set((again.inputs[:, 3, 4] * 6).round().long().tolist())) > 3


def test_repeat_copy_max_repeats_caps_the_training_count_and_nothing_else():
    from ntm_widgets.tasks import make_task

    task = make_task(TaskConfig(name="repeat_copy", width=3, min_len=1, max_len=5, min_repeats=1, max_repeats=6))

    def counts(max_repeats, n=40):
        g, out = torch.Generator().manual_seed(3), set()
        for _ in range(n):
            batch = task.sample(8, g, length=3, training=True, max_repeats=max_repeats)
            out |= set((batch.inputs[:, 3, 4] * 6).round().long().tolist())
        return out

    assert counts(2) == {1, 2}
    assert counts(None) == set(range(1, 7))
    assert counts(99) == set(range(1, 7))  # a cap above the range leaves the range
    assert task._max_repeats is None  # the cap lasts one batch
    # The cap shapes training batches only; the same draw of a training count with the
    # cap at the range's top is the uncapped draw.
    assert torch.equal(task.sample(4, gen(7), training=True, max_repeats=6).inputs, task.sample(4, gen(7), training=True).inputs)
