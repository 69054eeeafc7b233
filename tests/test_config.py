"""Every config field rejects out-of-range values with a message naming it."""

import pytest

from ntm_widgets.config import ConfigError, ModelConfig, RunConfig, TaskConfig, TrainConfig

BAD = [
    (ModelConfig, "memory_size", 0),
    (ModelConfig, "memory_size", 2.5),
    (ModelConfig, "memory_size", True),
    (ModelConfig, "word_size", 0),
    (ModelConfig, "controller", "gru"),
    (ModelConfig, "controller_size", 0),
    (ModelConfig, "controller_layers", 0),
    (ModelConfig, "controller_layers", 9),
    (ModelConfig, "num_read_heads", 0),
    (ModelConfig, "num_write_heads", 17),
    (ModelConfig, "shift_range", -1),
    (ModelConfig, "shift_range", 100),
    (ModelConfig, "memory_init", "zeros"),
    (ModelConfig, "init_gate_bias", 21.0),
    (ModelConfig, "init_gate_bias", float("nan")),
    (TaskConfig, "name", "sorting"),
    (TaskConfig, "width", 0),
    (TaskConfig, "min_len", 0),
    (TaskConfig, "max_len", 0),
    (TaskConfig, "min_repeats", 0),
    (TaskConfig, "max_repeats", 0),
    (TaskConfig, "item_len", 0),
    (TaskConfig, "ngram_order", 0),
    (TaskConfig, "ngram_order", 13),
    (TaskConfig, "sort_outputs", 0),
    (ModelConfig, "init_read_gate_bias", 25.0),
    (ModelConfig, "init_write_shift", 2),
    (TrainConfig, "batch_size", 0),
    (TrainConfig, "optimizer", "sgd"),
    (TrainConfig, "lr", 0.0),
    (TrainConfig, "lr", float("nan")),
    (TrainConfig, "momentum", 1.5),
    (TrainConfig, "clip", 0.0),
    (TrainConfig, "seed", -1),
    (TrainConfig, "steps", -1),
    (TrainConfig, "time_limit", 0.0),
    (TrainConfig, "target_bits", -0.1),
    (TrainConfig, "val_samples", 0),
    (TrainConfig, "val_every", 0),
    (TrainConfig, "curriculum", "yes"),
    (TrainConfig, "curriculum_start", 0),
    (TrainConfig, "curriculum_threshold", 0.0),
    (TrainConfig, "curriculum_over", "count"),
    (TrainConfig, "threads", 0),
    (TrainConfig, "compile", "yes"),
    (TrainConfig, "fused", "yes"),
    (TrainConfig, "fused", 1),
    (TrainConfig, "fused_threads", 0),
    (TrainConfig, "fused_threads", 65),
    (TrainConfig, "fused_threads", 1.5),
    (TrainConfig, "length_power", -1.0),
    (TrainConfig, "length_power", 9.0),
    (TrainConfig, "length_power", float("nan")),
    (TrainConfig, "restart_after", 0),
    (TrainConfig, "restart_after", 1.5),
    (TrainConfig, "restart_bits", 0.0),
    (TrainConfig, "select_lengths", ()),
    (TrainConfig, "select_lengths", (40, 0)),
    (TrainConfig, "select_lengths", 40),
    (TrainConfig, "select_samples", 0),
    (TrainConfig, "select_bits", -1.0),
    (TrainConfig, "select_max_bits", -1.0),
    (TrainConfig, "select_long_bits", 0.0),
    (TrainConfig, "select_every", 0),
    (TrainConfig, "select_steps", 0),
    (TrainConfig, "polish_lr", 0.0),
    (TrainConfig, "lr_final", -1e-3),
    (TrainConfig, "lr_decay_part", 0.0),
    (TrainConfig, "lr_decay_part", 1.5),
    (TrainConfig, "ema", 1.0),
    (TrainConfig, "ema", -0.5),
    (TrainConfig, "select_early_steps", -1),
    (TrainConfig, "select_early_bits", -1.0),
    (TrainConfig, "select_min_steps", -1),
    (TrainConfig, "select_confirm", -1),
    (TrainConfig, "polish_length_power", 9.0),
    (TrainConfig, "polish_memory_size", 2),
    (TrainConfig, "polish_memory_every", 0),
    (TrainConfig, "select_repeats", 0),
    (TrainConfig, "polish_marker_weight", 0.5),
    (TrainConfig, "gate_noise", -0.5),
    (TrainConfig, "polish_gate_noise", 11.0),
    (TrainConfig, "polish_blank_prob", 0.6),
    (TrainConfig, "polish_lr_final", 0.0),
    (TrainConfig, "polish_lr_steps", 0),
]


@pytest.mark.parametrize("cls,field,value", BAD, ids=[f"{c.__name__}.{f}={v!r}" for c, f, v in BAD])
def test_out_of_range_value_names_the_field(cls, field, value):
    with pytest.raises(ConfigError) as err:
        cls(**{field: value})
    assert err.value.field == field
    assert str(err.value).startswith(field + " must")
    assert repr(value) in str(err.value) or str(value) in str(err.value)


def test_every_field_is_covered_by_a_bad_value():
    covered = {(c, f) for c, f, _ in BAD}
    for cls in (ModelConfig, TaskConfig, TrainConfig):
        for name in cls.__dataclass_fields__:
            if name in ("steps", "time_limit", "target_bits", "threads") or (cls, name) in covered:
                continue
            pytest.fail(f"{cls.__name__}.{name} has no out-of-range test")


def test_combinations_are_checked():
    with pytest.raises(ConfigError, match="min_len must be <= max_len"):
        TaskConfig(min_len=5, max_len=3)
    with pytest.raises(ConfigError, match="min_repeats"):
        TaskConfig(min_repeats=4, max_repeats=2)
    with pytest.raises(ConfigError, match="memory_size must be >= 30") as err:
        RunConfig(model=ModelConfig(memory_size=16), task=TaskConfig(max_len=30))
    assert err.value.field == "memory_size"
    with pytest.raises(ConfigError, match="shift_range"):
        ModelConfig(memory_size=4, shift_range=2)


def test_round_trip_and_unknown_fields():
    cfg = RunConfig(model=ModelConfig(memory_size=64), task=TaskConfig(max_len=10), train=TrainConfig(lr=1e-3, seed=3))
    again = RunConfig.from_dict(cfg.to_dict())
    assert again == cfg
    with pytest.raises(ConfigError, match="unknown field 'memory'"):
        RunConfig.from_dict({"model": {"memory": 3}})
    with pytest.raises(ConfigError, match="unknown section"):
        RunConfig.from_dict({"optim": {}})
    with pytest.raises(ConfigError, match="lr must be"):
        cfg.train.replace(lr=-1)
