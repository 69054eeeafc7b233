"""Selection (TrainConfig.select_lengths): after the training lengths are learned, the
run polishes, measures longer lengths, keeps the best candidate and stops, restarts or
gives up by the rule; presets are one source for the CLI, demo and Playground."""

import math

import pytest
import torch

from ntm_widgets.config import ConfigError, ModelConfig, RunConfig, TaskConfig, TrainConfig, preset, select_lengths_for
from ntm_widgets.training import Trainer


def tiny(seed=0, **train):
    base = dict(
        batch_size=4,
        seed=seed,
        val_samples=20,
        target_bits=1e9,
        select_lengths=(6, 8),
        select_samples=10,
        select_every=5,
        restart_after=None,
    )
    base.update(train)
    return RunConfig(
        model=ModelConfig(memory_size=8, word_size=4, controller_size=16),
        task=TaskConfig(width=3, min_len=1, max_len=4),
        train=TrainConfig(**base),
    )


def tiny_repeat_copy(**train):
    """A repeat-copy run whose training lengths pass at once, then polishes and selects
    on length 5 by a rule that never passes."""
    base = dict(
        batch_size=4,
        val_samples=20,
        target_bits=1e9,
        select_lengths=(5,),
        select_samples=10,
        select_every=5,
        select_bits=0.0,
        select_steps=1000,
        restart_after=None,
    )
    base.update(train)
    return RunConfig(
        model=ModelConfig(memory_size=16, word_size=4, controller_size=16),
        task=TaskConfig(name="repeat_copy", width=3, min_len=1, max_len=3, min_repeats=1, max_repeats=3),
        train=TrainConfig(**base),
    )


def _records(trainer, **run):
    out = []
    summary = trainer.run(callbacks=[out.append], **run)
    return summary, out


def test_a_met_selection_rule_converges_with_the_measured_candidate():
    trainer = Trainer(tiny(select_bits=1e9, polish_lr=1e-4))
    summary, records = _records(trainer, time_limit=60)
    assert summary["converged"] and summary["reason"] == "converged"
    assert trainer.stage == "select"
    measured = [r for r in records if "select_bits" in r]
    assert len(measured) == 1 and measured[0]["step"] == trainer.step_count
    assert set(trainer.best["lengths"]) == {6, 8}
    assert trainer.best["bits"] == max(trainer.best["lengths"].values())
    assert trainer.optimizer.param_groups[0]["lr"] == 1e-4  # polishing at polish_lr


def test_an_unmet_rule_stops_after_select_steps_and_keeps_the_best_candidate():
    trainer = Trainer(tiny(select_bits=0.0, select_max_bits=0.0, select_steps=20, select_every=5, lr=0.05))
    summary, records = _records(trainer, time_limit=60)
    assert not summary["converged"] and summary["reason"] == "select_steps"
    measured = [r for r in records if "select_bits" in r]
    assert len(measured) == 5  # on entering selection, then every 5 of its 20 steps
    best = min(measured, key=lambda r: (r["select_bits"], r["select_worst"]))
    assert trainer.best["step"] == best["step"] and trainer.best["bits"] == best["select_bits"]
    last = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    assert trainer.use_best()
    now = trainer.model.state_dict()
    for name, value in trainer.best["model"].items():
        assert torch.equal(now[name], value), name
    if best["step"] != trainer.step_count:  # lr 0.05 moves the weights between checks
        assert any(not torch.equal(last[k], now[k]) for k in now)


def test_the_longest_selection_length_is_held_to_its_own_bar():
    # Length 6 passes any bar here; length 8 (the longest) is held to select_long_bits.
    held = Trainer(tiny(select_bits=1e9, select_long_bits=1e-6, select_steps=10, polish_lr=1e-4))
    summary, records = _records(held, time_limit=60)
    assert not summary["converged"] and summary["reason"] == "select_steps"
    best = held.best
    assert best["lengths"][8] > 1e-6  # an untrained model: the bar at 8 is what refused it
    assert best["bits"] == max(best["lengths"][6], best["lengths"][8] * 1e9 / 1e-6)
    assert all(r["select_bits"] > 1e9 for r in records if "select_bits" in r)
    # A loose bar at 8 does not loosen the bar at 6 ...
    shorter = Trainer(tiny(select_bits=0.0, select_long_bits=1e9, select_steps=10, polish_lr=1e-4))
    assert not _records(shorter, time_limit=60)[0]["converged"]
    assert shorter.best["lengths"][6] > 0.0
    # ... and with both bars met the run converges at its first measurement.
    met = Trainer(tiny(select_bits=1e9, select_long_bits=1e9, polish_lr=1e-4))
    assert _records(met, time_limit=60)[0]["converged"]


def test_an_unmet_rule_restarts_when_restarts_are_on():
    trainer = Trainer(tiny(select_bits=0.0, select_max_bits=0.0, select_steps=10, restart_after=10_000, polish_lr=1e-4, lr=2e-3))
    summary, records = _records(trainer, steps=80)
    assert trainer.restarts >= 1
    restart = next(r for r in records if r["event"] == "restart")
    assert restart.get("select_bits") is not None  # the check that gave up
    assert trainer.best is not None and trainer.best["attempt"] <= trainer.restarts
    if trainer.stage == "fit":
        assert trainer.optimizer.param_groups[0]["lr"] == 2e-3  # back to the fitting lr


def test_weight_average_is_what_selection_measures_and_keeps():
    trainer = Trainer(tiny(select_bits=0.0, select_steps=15, ema=0.9, lr=0.05))
    trainer.run(time_limit=60)
    assert trainer.ema_model is not None and trainer.selected_model() is trainer.ema_model
    avg = trainer.ema_model.state_dict()
    live = trainer.model.state_dict()
    assert any(not torch.equal(avg[k], live[k]) for k in live if avg[k].is_floating_point())


def test_resume_in_the_selection_stage_is_exact(tmp_path):
    cfg = tiny(seed=3, select_bits=0.0, select_steps=1000, ema=0.9, polish_lr=1e-3)
    straight = Trainer(cfg)
    straight.run(steps=60)
    first = Trainer(cfg)
    first.run(steps=40)
    assert first.stage == "select"
    first.save(tmp_path / "ck.pt")
    resumed = Trainer.load(tmp_path / "ck.pt")
    assert resumed.stage == "select" and resumed.best["step"] == first.best["step"]
    assert resumed.optimizer.param_groups[0]["lr"] == 1e-3
    resumed.run(steps=20)
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), name
    for (name, a), (_, b) in zip(straight.ema_model.state_dict().items(), resumed.ema_model.state_dict().items()):
        assert torch.equal(a, b), name


def test_select_lengths_follow_the_training_range_and_memory():
    assert select_lengths_for(20, 128) == (50, 112)  # never the paper's test lengths 40, 80, 120
    assert select_lengths_for(8, 64) == (20, 48)
    assert select_lengths_for(8, 32) == (20, 32)
    assert select_lengths_for(8, 16) == (16,)  # capped by the memory
    assert select_lengths_for(8, 8) == (8,)
    with pytest.raises(ConfigError, match="select_lengths"):
        TrainConfig(select_lengths=[10, -1])
    assert TrainConfig(select_lengths=[10, 20]).select_lengths == (10, 20)  # JSON lists come back as tuples


def test_presets_are_the_paper_and_quick_recipes():
    paper, quick = preset("paper"), preset("quick")
    assert (paper.model.memory_size, paper.model.word_size, paper.model.controller_size, paper.task.max_len) == (128, 20, 100, 20)
    assert (quick.model.memory_size, quick.model.word_size, quick.task.max_len) == (64, 8, 8)
    assert quick.train.select_lengths == (24, 28) and quick.train.steps == 8_000 and quick.train.time_limit is None
    assert quick.train.select_bits == 0.5 and quick.train.select_long_bits == 1.0  # 28 has a bar of its own
    assert 32 not in quick.train.select_lengths  # the demo's test length (4x)
    assert quick.train.length_power == 2.0 and quick.train.select_early_bits == 5.0
    assert paper.train.length_power == 1.0
    assert paper.train.select_confirm == quick.train.select_confirm == 2_000  # rare slips caught
    for cfg in (paper, quick):
        assert cfg.train.target_bits is not None and cfg.train.select_lengths
        assert all(n > cfg.task.max_len for n in cfg.train.select_lengths)
        assert RunConfig.from_dict(cfg.to_dict()) == cfg
    assert 80 not in paper.train.select_lengths and 120 not in paper.train.select_lengths  # the test lengths
    with pytest.raises(ConfigError, match="preset"):
        preset("huge")


def test_cli_preset_with_overrides():
    from ntm_widgets.cli import build_parser, config_from_args

    parse = build_parser().parse_args
    cfg = config_from_args(parse(["train", "--preset", "paper"]))
    assert cfg == preset("paper")
    cfg = config_from_args(parse(["train", "--preset", "paper", "--lr", "0.01", "--seed", "7"]))
    assert cfg.train.lr == 0.01 and cfg.train.seed == 7 and cfg.train.select_lengths == (50, 112)
    cfg = config_from_args(parse(["train", "--preset", "quick", "--max-len", "4", "--memory-size", "32"]))
    assert cfg.task.max_len == 4 and cfg.train.select_lengths == (12, 14)  # 3x and 3.5x the longest
    cfg = config_from_args(parse(["train", "--preset", "quick", "--select-lengths", "none"]))
    assert cfg.train.select_lengths is None
    plain = config_from_args(parse(["train", "--steps", "3"]))
    assert plain.train.select_lengths is None and plain.train.steps == 3 and plain.model == ModelConfig()


def test_a_hopeless_attempt_gives_up_early():
    # Every measurement is above select_early_bits (a bits target of 0 on an untrained
    # model), so the attempt gives up at select_early_steps, long before select_steps.
    trainer = Trainer(
        tiny(
            select_bits=0.0, select_max_bits=0.0, select_steps=1000, select_early_steps=10, select_early_bits=0.0, select_every=5
        )
    )
    summary, records = _records(trainer, time_limit=60)
    assert summary["reason"] == "select_steps"
    measured = [r["step"] for r in records if "select_bits" in r]
    assert measured[-1] - measured[0] == 10


def test_a_met_rule_polishes_select_min_steps_more_and_must_be_met_again():
    trainer = Trainer(tiny(select_bits=1e9, select_min_steps=12, select_every=5))
    summary, records = _records(trainer, time_limit=60)
    measured = [r["step"] for r in records if "select_bits" in r]
    # met at the first measurement; +5 and +10 are too soon; +15 meets it again and ends
    assert summary["converged"] and measured[-1] - measured[0] == 15 and len(measured) == 4
    now = trainer.model.state_dict()
    assert trainer.best["step"] == measured[-1]  # the model kept is the one that met it last
    assert all(torch.equal(now[k], v) for k, v in trainer.best["model"].items())


def test_polishing_with_fewer_rows_trains_at_that_size_and_measures_at_the_configured_one(monkeypatch):
    trainer = Trainer(tiny(select_bits=0.0, select_steps=1000, polish_memory_size=6))
    seen = []
    cls = type(trainer.model)
    real = cls.forward

    def spy(self, *args, **kwargs):
        seen.append((self.training, trainer.stage, self.memory_size))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(cls, "forward", spy)
    trainer.run(steps=30)
    trained = {(stage, size) for training, stage, size in seen if training}
    assert trained == {("fit", 8), ("select", 6)}  # fewer rows only while polishing
    measured = {size for training, _, size in seen if not training}
    assert measured == {8}  # validation and selection at the configured size
    assert trainer.model.memory_size == 8 and trainer.cfg.model.memory_size == 8


def test_polish_memory_every_alternates_the_polishing_rows_with_the_configured_ones(monkeypatch):
    trainer = Trainer(tiny(select_bits=0.0, select_steps=1000, polish_memory_size=6, polish_memory_every=3))
    seen = []
    cls = type(trainer.model)
    real = cls.forward

    def spy(self, *args, **kwargs):
        if self.training:
            seen.append((trainer.step_count, trainer.stage, self.memory_size))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(cls, "forward", spy)
    trainer.run(steps=45)
    polish = [(step, size) for step, stage, size in seen if stage == "select"]
    assert len(polish) >= 20 and {size for _, size in polish} == {6, 8}
    assert all((size == 6) == (step % 3 == 0) for step, size in polish)  # every third step
    assert {size for _, stage, size in seen if stage == "fit"} == {8}


def test_polish_memory_size_needs_a_constant_initial_memory_and_room_for_the_input():
    with pytest.raises(ConfigError, match="polish_memory_size needs memory_init 'constant'") as err:
        RunConfig(
            model=ModelConfig(memory_size=8, word_size=4, controller_size=16, memory_init="learned"),
            task=TaskConfig(width=3, min_len=1, max_len=4),
            train=TrainConfig(polish_memory_size=6),
        )
    assert err.value.field == "polish_memory_size"
    with pytest.raises(ConfigError, match="polish_memory_size must be >= 4"):
        tiny(polish_memory_size=3)


def test_select_repeats_fixes_the_repeat_count_of_selection_sequences_only(monkeypatch):
    trainer = Trainer(tiny_repeat_copy(select_repeats=4))
    seen = []
    real = type(trainer.task).build

    def spy(task, batch_size, length, generator, repeats=None):
        x, y, m = out = real(task, batch_size, length, generator, repeats)
        # The answer's length (scored steps) tells the repeat count: length x repeats + 1.
        seen.append((task._training, length, sorted({int(k) for k in m.sum(dim=1).tolist()})))
        return out

    monkeypatch.setattr(type(trainer.task), "build", spy)
    trainer.run(steps=30)
    selection = [s for s in seen if not s[0] and s[1] == 5]
    assert selection and all(counts == [5 * 4 + 1] for _, _, counts in selection)
    trained = {c for training, length, counts in seen if training for c in counts}
    assert trainer.task.fixed_repeats is None and len(trained) > 1  # training draws its counts
    with pytest.raises(ConfigError, match="select_repeats is for repeat_copy only") as err:
        tiny(select_repeats=4)
    assert err.value.field == "select_repeats"


def test_lr_final_anneals_over_the_step_budget_and_polishing_keeps_its_own_rate():
    trainer = Trainer(tiny(target_bits=None, select_lengths=None, lr=1e-2, lr_final=1e-3, steps=20))
    rates = []
    for _ in range(20):
        trainer.train_step()
        rates.append(trainer.optimizer.param_groups[0]["lr"])
    assert rates[0] == pytest.approx(1e-2)
    assert all(a > b for a, b in zip(rates, rates[1:]))  # falls every step
    assert rates[10] == pytest.approx(5.5e-3)  # the cosine's midpoint
    assert trainer.scheduled_lr() == pytest.approx(1e-3)  # the budget spent
    late = Trainer(tiny(target_bits=None, select_lengths=None, lr=1e-2, lr_final=1e-3, lr_decay_part=0.25, steps=40))
    late_rates = []
    for _ in range(40):
        late.train_step()
        late_rates.append(late.optimizer.param_groups[0]["lr"])
    assert late_rates[:31] == [pytest.approx(1e-2)] * 31  # held for the first 30 steps of 40
    assert late_rates[35] == pytest.approx(5.5e-3)  # the cosine's midpoint, 5 steps into the last 10
    assert all(a > b for a, b in zip(late_rates[30:], late_rates[31:]))
    polished = Trainer(tiny(select_bits=1e9, polish_lr=1e-4, lr_final=1e-3, steps=1000))
    polished.run(time_limit=60)
    assert polished.stage == "select" and polished.optimizer.param_groups[0]["lr"] == 1e-4


def test_lr_final_needs_a_budget_and_a_lower_rate():
    with pytest.raises(ConfigError, match="lr_final") as err:
        tiny(lr_final=1e-4)  # no steps, no time limit
    assert err.value.field == "lr_final"
    with pytest.raises(ConfigError, match=r"lr_final must be <= lr \(0.003\)"):
        tiny(lr_final=1e-2, steps=10)


def test_polish_marker_weight_weights_the_end_marker_step_while_polishing_only(monkeypatch):
    from ntm_widgets.tasks.repeat_copy import RepeatCopyTask
    from ntm_widgets.training import trainer as trainer_module

    cfg = tiny_repeat_copy(polish_marker_weight=7.0)
    trainer = Trainer(cfg)
    seen = []
    real = trainer_module.masked_loss

    def spy(logits, targets, mask):
        seen.append((trainer.stage, targets.clone(), mask.clone()))
        return real(logits, targets, mask)

    monkeypatch.setattr(trainer_module, "masked_loss", spy)
    trainer.run(steps=30)
    stages = {stage for stage, _, _ in seen}
    assert stages == {"fit", "select"}
    for stage, targets, mask in seen:
        marker = targets[..., -1] == 1.0
        assert int(marker.sum()) == targets.shape[0]  # one end marker per sequence
        expected = 7.0 if stage == "select" else 1.0
        assert torch.all(mask[marker] == expected)
        assert set(mask[~marker].unique().tolist()) <= {0.0, 1.0}  # every other step as it was
    # The weighted loss is the marker step's cross-entropy counted weight times.
    task = RepeatCopyTask(cfg.task)
    x, y, m = task.sample(2, torch.Generator().manual_seed(1))
    logits = torch.randn(y.shape, generator=torch.Generator().manual_seed(2))
    w = task.weight_marker(y, m, 3.0)
    per_step = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none").sum(-1)
    assert torch.allclose(real(logits, y, w) * w.sum() * y.shape[-1], (per_step * w).sum())
    assert float(w.sum() - m.sum()) == 2 * 2.0
    with pytest.raises(ConfigError, match="polish_marker_weight is for repeat_copy only") as err:
        tiny(polish_marker_weight=2.0)
    assert err.value.field == "polish_marker_weight"


def test_polish_lr_final_anneals_the_polish_rate_along_a_cosine_then_holds_it():
    trainer = Trainer(tiny(select_bits=0.0, select_steps=1000, lr=0.01, polish_lr=4e-3, polish_lr_final=1e-3, polish_lr_steps=20))
    rates = []
    trainer.run(
        steps=60,
        callbacks=[lambda record: rates.append((trainer.stage, trainer._select_start, trainer.optimizer.param_groups[0]["lr"]))],
    )
    fit = [lr for stage, _, lr in rates if stage == "fit"]
    polish = [(i, start, lr) for i, (stage, start, lr) in enumerate(rates, start=1) if stage == "select"]
    assert polish and all(lr == pytest.approx(0.01) for lr in fit)
    start = polish[0][1]
    for step, _, lr in polish:
        done = min(1.0, max(0, step - 1 - start) / 20)  # set before the step counts; polish_lr on entering
        assert lr == pytest.approx(1e-3 + 0.5 * 3e-3 * (1 + math.cos(math.pi * done)))
    assert len(polish) > 25 and polish[-1][2] == pytest.approx(1e-3)  # held after its 20 steps


def test_polish_lr_final_needs_a_polish_lr_above_it():
    for train, says in (
        (dict(polish_lr_final=1e-3), "polish_lr is not set"),
        (dict(polish_lr=1e-3, polish_lr_final=2e-3), "polish_lr is 0.001"),
    ):
        with pytest.raises(ConfigError, match=says) as err:
            tiny(**train)
        assert err.value.field == "polish_lr_final"
