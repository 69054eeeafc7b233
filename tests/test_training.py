"""Trainer: exact resume, safe checkpoints, non-finite guard, stop event, live updates."""

import pickle
import threading

import pytest
import torch

from ntm_widgets.config import ConfigError, ModelConfig, RunConfig, TaskConfig, TrainConfig
from ntm_widgets.training import CheckpointError, Trainer, load_checkpoint


def tiny(seed=0, **train):
    return RunConfig(
        model=ModelConfig(memory_size=8, word_size=4, controller_size=16),
        task=TaskConfig(width=3, min_len=1, max_len=4),
        train=TrainConfig(batch_size=4, seed=seed, val_samples=20, **train),
    )


def test_resume_from_step_k_equals_uninterrupted_run(tmp_path):
    k = 6
    straight = Trainer(tiny(seed=5))
    straight.run(steps=2 * k)
    first = Trainer(tiny(seed=5))
    first.run(steps=k)
    first.save(tmp_path / "ck.pt")
    resumed = Trainer.load(tmp_path / "ck.pt")
    assert resumed.step_count == k
    resumed.run(steps=k)
    assert resumed.step_count == 2 * k and resumed.sequences == straight.sequences
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), name
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]


def test_different_seeds_give_different_models():
    a, b = Trainer(tiny(seed=1)), Trainer(tiny(seed=2))
    a.run(steps=2)
    b.run(steps=2)
    assert not torch.equal(a.model.out.weight, b.model.out.weight)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.mkdir, (self.marker,))


def test_checkpoint_with_pickle_payload_is_refused_without_running(tmp_path):
    marker = str(tmp_path / "payload-ran")
    bad = tmp_path / "evil.pt"
    torch.save({"format": 1, "model": _Payload(marker)}, bad)
    with pytest.raises(CheckpointError, match="not a safe"):
        load_checkpoint(bad)
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(CheckpointError):
        Trainer.load(plain)
    assert not (tmp_path / "payload-ran").exists()


def test_nonfinite_steps_are_skipped_and_a_nan_model_is_never_saved(tmp_path):
    trainer = Trainer(tiny())
    with torch.no_grad():
        trainer.model.out.bias.fill_(float("nan"))
    rec = trainer.train_step()
    assert rec["event"] == "nonfinite" and trainer.nonfinite_steps == 1
    with pytest.raises(CheckpointError, match="non-finite"):
        trainer.save(tmp_path / "nan.pt")
    assert not (tmp_path / "nan.pt").exists()


def test_stop_event_is_honoured_within_one_step():
    trainer = Trainer(tiny())
    stop = threading.Event()

    def cb(record):
        if record["step"] == 3:
            stop.set()

    summary = trainer.run(steps=100, callbacks=[cb], stop_event=stop)
    assert summary["steps"] == 3 and summary["reason"] == "stopped"


def test_update_applies_at_next_step_and_rejects_bad_values():
    trainer = Trainer(tiny())
    trainer.update(lr=1e-2, batch_size=2, max_len=3)
    assert trainer.cfg.train.lr != 1e-2  # not yet
    rec = trainer.train_step()
    assert trainer.cfg.train.lr == 1e-2 and trainer.optimizer.param_groups[0]["lr"] == 1e-2
    assert rec["sequences"] == 2 and rec["length"] <= 2 * 3 + 1
    with pytest.raises(ConfigError, match="batch_size"):
        trainer.update(batch_size=0)
    with pytest.raises(ConfigError, match="memory_size"):
        trainer.update(max_len=20)  # longer than the 8-row memory


def test_save_run_writes_config_checkpoint_history(tmp_path):
    trainer = Trainer(tiny())
    trainer.run(steps=3)
    trainer.save_run(tmp_path / "run")
    assert {p.name for p in (tmp_path / "run").iterdir()} >= {"config.json", "checkpoint.pt", "history.json"}
    again = Trainer.load_run(tmp_path / "run")
    assert again.cfg == trainer.cfg and again.step_count == 3


def test_evaluate_reports_mean_median_max_per_length():
    trainer = Trainer(tiny())
    result = trainer.evaluate([2, 6], samples=10, seed=0)
    assert set(result) == {2, 6}
    for stats in result.values():
        assert stats["max"] >= stats["mean"] >= 0 and stats["max"] >= stats["median"]
    assert result == trainer.evaluate([2, 6], samples=10, seed=0)  # seeded


def test_rmsprop_and_baseline_train():
    cfg = tiny(optimizer="rmsprop", lr=1e-3)
    trainer = Trainer(cfg)
    assert isinstance(trainer.optimizer, torch.optim.RMSprop)
    before = trainer.model.out.weight.clone()
    trainer.run(steps=2)
    assert not torch.equal(before, trainer.model.out.weight)
    base = Trainer(tiny(), baseline=True)
    base.run(steps=2)
    assert base.step_count == 2


def test_stuck_run_restarts_from_fresh_weights_and_resumes_exactly(tmp_path):
    from ntm_widgets.training.trainer import build_model

    cfg = tiny(seed=4, restart_after=20, restart_bits=1e-6)  # any error counts as stuck (20: the window)
    trainer = Trainer(cfg)
    trainer.run(steps=20)
    assert trainer.restarts == 1 and trainer.history[19]["event"] == "restart"
    fresh = build_model(cfg, trainer.task, attempt=1)
    for (name, p), q in zip(trainer.model.named_parameters(), fresh.parameters()):
        assert torch.equal(p, q), name  # restarted weights are attempt 1's initialisation
    assert not torch.equal(next(fresh.parameters()), next(build_model(cfg, trainer.task).parameters()))
    assert trainer.optimizer.state == {}
    trainer.run(steps=22)
    assert trainer.restarts == 2 and trainer.history[39]["event"] == "restart"  # 20 steps into attempt 1

    # Stopped after a restart and resumed: the same parameters as without the stop.
    whole = Trainer(cfg)
    whole.run(steps=45)
    part = Trainer(cfg)
    part.run(steps=25)
    part.save(tmp_path / "ck.pt")
    back = Trainer.load(tmp_path / "ck.pt")
    back.run(steps=20)
    assert back.restarts == whole.restarts == 2
    for p, q in zip(whole.model.parameters(), back.model.parameters()):
        assert torch.equal(p, q)


def test_a_run_below_restart_bits_never_restarts():
    trainer = Trainer(tiny(seed=1, restart_after=20, restart_bits=1e6))
    trainer.run(steps=30)
    assert trainer.restarts == 0 and all(h["event"] == "step" for h in trainer.history)


def test_restart_checks_follow_the_setting_and_resume_keeps_the_window(tmp_path):
    # Lowered while training: an attempt already older than the new limit is judged at once.
    trainer = Trainer(tiny(seed=2))
    trainer.run(steps=30)
    trainer.update(restart_after=20, restart_bits=1e-6)
    trainer.run(steps=1)
    assert trainer.restarts == 1 and trainer.history[-1]["event"] == "restart"
    # Below the 20-batch window: judged on the batches the attempt has.
    short = Trainer(tiny(seed=2, restart_after=5, restart_bits=1e-6))
    short.run(steps=10)
    assert short.restarts == 2
    # Saved a few steps after a restart: the loaded window holds only the new attempt.
    cfg = tiny(seed=2, restart_after=20, restart_bits=1e-6, target_bits=1e-9, curriculum=True)
    part = Trainer(cfg)
    part.run(steps=23)
    assert part.restarts == 1 and part.last_val is None and part.curriculum_max == cfg.train.curriculum_start
    part.save(tmp_path / "ck.pt")
    back = Trainer.load(tmp_path / "ck.pt")
    assert back._recent == part._recent and len(back._recent) == 3
    assert (back.restarts, back._attempt_start, back._attempt_checked) == (1, 20, False)


def test_a_curriculum_over_repeats_grows_the_count_and_draws_every_length():
    cfg = RunConfig(
        model=ModelConfig(memory_size=16, word_size=4, controller_size=16),
        task=TaskConfig(name="repeat_copy", width=3, min_len=1, max_len=4, min_repeats=1, max_repeats=6),
        train=TrainConfig(
            batch_size=4, seed=0, curriculum=True, curriculum_over="repeats", curriculum_threshold=1e9, restart_after=None
        ),
    )
    trainer = Trainer(cfg)
    seen = []
    trainer.run(steps=60, callbacks=[lambda r: seen.append((r["curriculum_max"], r["length"]))])
    caps = [c for c, _ in seen]
    assert caps[0] == 2 and caps[-1] == 6 and caps == sorted(caps)  # grows to max_repeats, not max_len (4)
    # Lengths beyond the cap are drawn while the count is capped at 2 (lengths <= 2 with
    # counts <= 2 make at most 2 + 2 + 2 * 2 steps), and no batch exceeds its cap's answer.
    assert max(steps for cap, steps in seen if cap == 2) > 2 + 2 + 2 * 2
    assert all(steps <= 4 + 2 + 4 * cap for cap, steps in seen)
    with pytest.raises(ConfigError, match="curriculum_over is for repeat_copy only") as err:
        tiny(curriculum=True, curriculum_over="repeats")
    assert err.value.field == "curriculum_over"


def test_length_then_repeats_grows_the_length_under_a_capped_count_then_the_count(tmp_path):
    cfg = RunConfig(
        model=ModelConfig(memory_size=16, word_size=4, controller_size=16),
        task=TaskConfig(name="repeat_copy", width=3, min_len=1, max_len=5, min_repeats=1, max_repeats=6),
        train=TrainConfig(
            batch_size=4,
            seed=0,
            curriculum=True,
            curriculum_over="length-then-repeats",
            curriculum_threshold=1e9,
            restart_after=None,
            target_bits=1e-9,
        ),
    )
    trainer = Trainer(cfg)
    drawn = []  # (length, count) of each training batch
    build = trainer.task.build

    def spy(batch_size, length, generator, repeats=None):
        batch = build(batch_size, length, generator, repeats)
        if trainer.task._training:  # the training draws only, one per step
            drawn.append((length, round(float(batch.inputs[0, length, -1]) * cfg.task.max_repeats)))
        return batch

    trainer.task.build = spy
    # A step's record holds the caps after its batch was drawn, so batch i ran under
    # the caps of record i - 1 (the starting caps for the first).
    seen = [(2, 2)]
    trainer.run(steps=30, callbacks=[lambda r: seen.append((r["curriculum_max"], r["curriculum_repeats"]))])
    # 2 -> 3 -> 4 -> 5 on the length while the count stays at 2; then the count.
    assert seen[1::10] == [(2, 2), (3, 2), (4, 2)]
    assert not trainer.curriculum_done()
    assert all(n <= m and r <= c for (m, c), (n, r) in zip(seen, drawn)) and max(r for _, r in drawn) == 2
    trainer.save(tmp_path / "ck.pt")
    back = Trainer.load(tmp_path / "ck.pt")
    assert (back.curriculum_max, back.curriculum_repeats) == (trainer.curriculum_max, trainer.curriculum_repeats)
    trainer.run(steps=60, callbacks=[lambda r: seen.append((r["curriculum_max"], r["curriculum_repeats"]))])
    assert seen == sorted(seen) and seen[-1] == (5, 6) and trainer.curriculum_done()
    assert all(m == 5 for m, c in seen if c > 2)  # the count grows only once the length is done
    assert all(n <= m and r <= c for (m, c), (n, r) in zip(seen, drawn)) and max(r for _, r in drawn) == 6


def test_the_count_cap_lets_go_when_the_run_goes_on_under_another_curriculum():
    cfg = RunConfig(
        model=ModelConfig(memory_size=16, word_size=4, controller_size=16),
        task=TaskConfig(name="repeat_copy", width=3, min_len=1, max_len=3, min_repeats=1, max_repeats=6),
        train=TrainConfig(batch_size=4, seed=1, curriculum=True, curriculum_over="length-then-repeats", restart_after=None),
    )
    trainer = Trainer(cfg)
    trainer.run(steps=3)
    assert (trainer.curriculum_max, trainer.curriculum_repeats) == (2, 2)
    trainer.update(curriculum_over="length", curriculum_threshold=1e9)
    counts = []
    build = trainer.task.build

    def spy(batch_size, length, generator, repeats=None):
        batch = build(batch_size, length, generator, repeats)
        if trainer.task._training:
            counts.append(round(float(batch.inputs[0, length, -1]) * cfg.task.max_repeats))
        return batch

    trainer.task.build = spy
    trainer.run(steps=40)
    # The count is drawn from 1-6 again, and the length curriculum alone says when it is done.
    assert max(counts) > 2 and trainer.curriculum_max == 3 and trainer.curriculum_done()
