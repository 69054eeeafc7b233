"""The command line: exit codes, one-line errors naming the flag, JSON as the last line."""

import json

import pytest
from cli_helpers import TINY
from cli_helpers import run_cli as run


@pytest.mark.parametrize(
    "argv,flag,words",
    [
        (["train", "--memory-size", "0", "--steps", "1"], "--memory-size", "integer in [1, 4096], got 0"),
        (["train", "--min-len", "5", "--max-len", "3", "--steps", "1"], "--min-len", "<= --max-len"),
        (["train", "--memory-size", "10", "--steps", "1"], "--memory-size", ">= 20"),
        (["train", "--batch-size", "x", "--steps", "1"], "--batch-size", "integer"),
        (["train", "--lr", "0", "--steps", "1"], "--lr", "> 0"),
        (["train", "--target-bits", "-1"], "--target-bits", ">= 0"),
        (["train", "--time-limit", "0"], "--time-limit", "> 0"),
        (["train", "--task", "sorting", "--steps", "1"], "--task", "invalid choice"),
        (["eval", "/nonexistent/run", "--lengths", "0,5"], "--lengths", "integers >= 1"),
        (["bench", "--batch-size", "0"], "--batch-size", ">= 1"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_naming_the_flag(capsys, argv, flag, words):
    code, out, err = run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert flag in lines[0] and words in lines[0], lines[0]
    assert out == ""


def test_train_needs_a_stopping_rule(capsys):
    code, _, err = run(capsys, "train", *TINY)
    assert code == 2 and "--steps" in err


def test_train_json_eval_and_resume(capsys, tmp_path):
    out_dir = tmp_path / "run"
    code, out, err = run(capsys, "train", *TINY, "--steps", "4", "--seed", "3", "--out", str(out_dir), "--json")
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 1  # nothing but the JSON on stdout, no progress bar
    result = json.loads(lines[-1])
    assert result["steps"] == 4 and result["sequences"] == 16 and result["run_dir"] == str(out_dir)
    assert result["converged"] is False and result["bits_per_seq"] >= 0 and result["seconds"] > 0
    assert (out_dir / "checkpoint.pt").exists() and (out_dir / "config.json").exists()
    assert json.loads((out_dir / "config.json").read_text())["train"]["seed"] == 3

    code, out, _ = run(capsys, "eval", str(out_dir), "--lengths", "2,6", "--samples", "5", "--json")
    assert code == 0
    ev = json.loads(out.strip().splitlines()[-1])
    assert set(ev["lengths"]) == {"2", "6"}
    assert set(ev["lengths"]["6"]) == {"mean", "median", "max"}

    code, out, _ = run(capsys, "train", *TINY, "--steps", "2", "--out", str(out_dir), "--resume", "--json")
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["steps"] == 6


def test_eval_text_table(capsys, tmp_path):
    run(capsys, "train", *TINY, "--steps", "1", "--out", str(tmp_path / "r"), "--json")
    code, out, _ = run(capsys, "eval", str(tmp_path / "r"), "--lengths", "3", "--samples", "4")
    assert code == 0 and "length" in out and "median" in out


def test_eval_of_missing_run_is_a_usage_error(capsys, tmp_path):
    code, _, err = run(capsys, "eval", str(tmp_path / "none"))
    assert code == 2 and "checkpoint.pt" in err


def test_compile_and_threads_flags_reach_the_config():
    from ntm_widgets.cli import build_parser, config_from_args

    default = config_from_args(build_parser().parse_args(["train", "--steps", "1"]))
    assert default.train.compile is False and default.train.threads == 1
    assert default.train.restart_after == 1200
    never = config_from_args(build_parser().parse_args(["train", "--steps", "1", "--restart-after", "0"]))
    assert never.train.restart_after is None
    cfg = config_from_args(build_parser().parse_args(["train", "--steps", "1", "--compile", "--threads", "2"]))
    assert cfg.train.compile is True and cfg.train.threads == 2
    assert build_parser().parse_args(["bench", "--compile"]).compile is True
    assert build_parser().parse_args(["demo", "--no-compile"]).compile is False


def test_sweep_errors_keep_the_flag_they_name(capsys):
    code, out, err = run(capsys, "sweep", "--grid", "memory_size=", "--steps", "1")
    assert code == 2 and out == ""
    assert err.strip() == "ntm-widgets: --grid memory_size: give a comma-separated list of values, got ''"


def test_demo_writes_run_picture_replay_and_table(capsys, tmp_path):
    out = tmp_path / "demo"
    code, stdout, _ = run(
        capsys,
        "demo",
        "--out",
        str(out),
        "--steps",
        "40",
        "--val-samples",
        "20",
        "--samples",
        "5",
        "--lengths",
        "8,16,100",
        "--json",
    )
    assert code == 0
    result = json.loads(stdout.strip().splitlines()[-1])
    assert set(result["lengths"]) == {"8", "16"}  # 100 > N = 64 is left out
    assert result["steps"] == 40 and result["converged"] is False  # --steps replaced the preset's 8,000
    png = (out / "replay.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "replay.html").stat().st_size > 1000
    from ntm_widgets.training import Trainer

    trainer = Trainer.load_run(out)
    assert (trainer.cfg.model.memory_size, trainer.cfg.task.max_len) == (64, 8)
    assert trainer.step_count == result["steps"]


def test_demo_paper_preset_is_graves_configuration():
    from ntm_widgets.cli import demo_config

    cfg = demo_config("paper")
    assert (cfg.model.memory_size, cfg.model.word_size, cfg.model.controller_size, cfg.task.max_len) == (128, 20, 100, 20)
    with pytest.raises(ValueError, match="preset"):
        demo_config("huge")


def test_train_says_when_it_restarted(capsys, tmp_path):
    code, out, _ = run(
        capsys,
        "train",
        *TINY,
        "--steps",
        "25",
        "--restart-after",
        "20",
        "--restart-bits",
        "0.000001",
        "--out",
        str(tmp_path / "r"),
    )
    assert code == 0 and "restarted from fresh weights 1 time (1 stuck)" in out, out


def test_every_flag_named_in_errors_exists_on_train():
    # A ConfigError names the flag the user typed (FIELD_FLAGS); each must be a real flag.
    from ntm_widgets.cli import CONFIG_FLAGS, FIELD_FLAGS, build_parser

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    options = {o for a in train._actions for o in a.option_strings}
    assert set(FIELD_FLAGS.values()) <= options, set(FIELD_FLAGS.values()) - options
    assert {f for f, *_ in CONFIG_FLAGS} <= options


def test_train_preset_json_reports_what_the_rule_measured(capsys, tmp_path):
    code, out, _ = run(
        capsys,
        "train",
        "--preset",
        "quick",
        *TINY,
        "--select-lengths",
        "6",
        "--select-samples",
        "5",
        "--select-confirm",
        "0",
        "--target-bits",
        "1000",
        "--select-bits",
        "1000",
        "--select-min-steps",
        "0",
        "--out",
        str(tmp_path / "r"),
        "--json",
    )
    assert code == 0, out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["converged"] and result["stopped_by"] == "converged"
    assert set(result["select"]["lengths"]) == {"6"} and result["fit_seconds"] > 0


def test_every_config_field_is_a_train_flag_and_sets_that_field():
    import dataclasses

    from ntm_widgets.cli import build_parser, config_from_args
    from ntm_widgets.config import ModelConfig, TaskConfig, TrainConfig, field_flag

    samples = {"int": "3", "float": "0.25", "lengths": "30"}
    parser = build_parser()
    for section, cls in (("model", ModelConfig), ("task", TaskConfig), ("train", TrainConfig)):
        for f in dataclasses.fields(cls):
            kind = f.metadata["kind"]
            flag = field_flag(f)
            if kind == "bool":
                argv = [flag] if not f.default else [f"--no-{flag[2:]}"]
                want = not f.default
            elif kind == "choice":
                want = f.metadata["choices"][-1]
                argv = [flag, want]
            elif f.name in ("memory_size", "polish_memory_size"):
                argv, want = [flag, "64"], 64
            elif f.name == "polish_marker_weight":
                argv, want = [flag, "2.5"], 2.5
            else:
                argv = [flag, samples[kind]]
                want = {"int": 3, "float": 0.25, "lengths": (30,)}[kind]
            extra = ["--memory-size", "64"] if f.name in ("max_len", "min_len") else []
            extra += ["--task", "repeat_copy"] if f.name in ("select_repeats", "polish_marker_weight", "curriculum_over") else []
            extra += ["--steps", "100", "--lr", "0.5"] if f.name == "lr_final" else []  # a budget, and a rate above it
            extra += ["--polish-lr", "0.5"] if f.name == "polish_lr_final" else []  # a rate above it
            extra += ["--shift-range", "3"] if f.name == "init_write_shift" else []
            args = parser.parse_args(["train", *argv, *extra])
            if f.name == "min_len":
                args.max_len = 5
            if f.name == "min_repeats":
                args.max_repeats = 5
            if f.name == "name" and want == "associative_recall":
                args.min_len = 2
            cfg = config_from_args(args)
            assert getattr(getattr(cfg, section), f.name) == want, (flag, want)


def test_ngrams_eval_reports_cross_entropy_and_the_optimal_cost(capsys, tmp_path):
    out = tmp_path / "ng"
    argv = [
        "train",
        "--task",
        "ngrams",
        "--min-len",
        "40",
        "--max-len",
        "40",
        "--memory-size",
        "16",
        "--word-size",
        "4",
        "--controller-size",
        "16",
        "--batch-size",
        "4",
        "--val-samples",
        "8",
        "--steps",
        "3",
        "--out",
        str(out),
    ]
    assert run(capsys, *argv)[0] == 0
    code, text, _ = run(capsys, "eval", str(out), "--lengths", "40,80", "--samples", "20", "--json")
    lengths = json.loads(text)["lengths"]
    assert code == 0 and set(lengths) == {"40", "80"}
    for length, row in lengths.items():
        # Cross-entropy of an untrained model: about one bit per scored prediction, above the optimum.
        assert row["optimal"] < row["mean"] and 0.5 * (int(length) - 6) < row["mean"] < 2 * int(length)


def test_eval_repeats_fixes_the_count_for_repeat_copy_only(capsys, tmp_path):
    out = tmp_path / "rc"
    argv = ["train", "--task", "repeat_copy", *TINY, "--max-repeats", "3", "--steps", "2", "--out", str(out)]
    assert run(capsys, *argv)[0] == 0
    code, text, _ = run(capsys, "eval", str(out), "--lengths", "3", "--repeats", "7", "--samples", "5", "--json")
    assert code == 0 and json.loads(text)["repeats"] == 7
    copy_run = tmp_path / "c"
    assert run(capsys, "train", *TINY, "--steps", "1", "--out", str(copy_run))[0] == 0
    code, _, err = run(capsys, "eval", str(copy_run), "--repeats", "2")
    assert code == 2 and "--repeats is for repeat_copy" in err


@pytest.mark.parametrize("task", ["repeat_copy", "associative_recall", "ngrams", "priority_sort"])
def test_train_task_with_the_paper_preset_uses_that_tasks_configuration(task):
    from ntm_widgets.cli import build_parser, config_from_args
    from ntm_widgets.config import preset

    args = build_parser().parse_args(["train", "--task", task, "--preset", "paper", "--lr", "0.02"])
    cfg = config_from_args(args)
    want = preset("paper", task)
    assert cfg.task == want.task and cfg.model == want.model
    assert cfg.train.lr == 0.02 and cfg.train.replace(lr=want.train.lr) == want.train  # a flag beside it overrides
    assert cfg.train.restart_after is None  # copy's restart rule is not applied to slower tasks


def test_paper_presets_follow_the_paper_sections():
    from ntm_widgets.config import ConfigError, preset

    assert preset("paper", "repeat_copy").task.max_repeats == 10
    assert (preset("paper", "associative_recall").task.item_len, preset("paper", "associative_recall").task.max_len) == (3, 6)
    assert preset("paper", "ngrams").task.ngram_order == 6 and preset("paper", "ngrams").task.max_len == 200
    sort = preset("paper", "priority_sort")
    assert (sort.task.max_len, sort.task.sort_outputs) == (20, 16)
    # Several heads, as the paper's; one layer, so that the fused step runs it.
    assert (sort.model.controller_layers, sort.model.num_read_heads, sort.model.num_write_heads) == (1, 3, 2)
    with pytest.raises(ConfigError, match="quick"):
        preset("quick", "ngrams")


def test_restart_text_counts_each_cause_from_the_history():
    from types import SimpleNamespace

    from ntm_widgets.cli import _restart_text

    history = [
        {"step": 1, "restarts": 1, "restart_why": "stuck"},
        {"step": 2},
        {"step": 3, "restarts": 2, "restart_why": "select_early"},
        {"step": 4, "restarts": 3},  # a checkpoint's history from before causes were recorded: stuck
    ]
    said = _restart_text(SimpleNamespace(restarts=3, history=history))
    assert said == "; restarted from fresh weights 3 times (2 stuck, 1 failed at selection's first look)"
    assert _restart_text(SimpleNamespace(restarts=0, history=[])) == ""
    # A history that does not hold every restart names no counts it cannot back.
    assert _restart_text(SimpleNamespace(restarts=5, history=history)).endswith("(stuck or failed selection)")
