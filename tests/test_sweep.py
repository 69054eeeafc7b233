"""Sweeps: the same trials give the same numbers on every backend; interrupted sweeps
resume without redoing finished trials; bad grids fail before any training with a
message naming the field; results round-trip through CSV and JSON; heatmaps draw the
chosen axes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ntm_widgets.cli.sweep import add_sweep_arguments, run_sweep_command
from ntm_widgets.config import ConfigError, ModelConfig, RunConfig, TaskConfig, TrainConfig
from ntm_widgets.sweep import Sweep, load_results, resolve_field, run_sweep, save_results

BASE = RunConfig(
    model=ModelConfig(memory_size=8, word_size=4, controller_size=16),
    task=TaskConfig(width=4, min_len=1, max_len=3),
    train=TrainConfig(batch_size=4, val_samples=16, seed=3),
)
GRID = {"memory_size": [8, 12], "max_len": [3]}
KW = dict(steps=6, eval_lengths=(5,), samples=8, progress=False)
# Columns that must match exactly between backends (times differ, numbers must not).
NUMBERS = ["trial_id", "memory_size", "max_len", "steps", "sequences", "bits_per_seq", "gen_5_mean", "gen_5_max", "converged"]


@pytest.fixture(scope="module")
def serial_df():
    return run_sweep(GRID, BASE, backend="serial", **KW)


def test_serial_rows_have_config_and_results(serial_df):
    df = serial_df
    assert list(df["memory_size"]) == [8, 12] and list(df["max_len"]) == [3, 3]
    assert df["error"].isna().all()
    assert (df["steps"] == 6).all() and (df["sequences"] == 24).all()
    # Final error comes from a validation after training: a multiple of 1/val_samples.
    assert np.allclose(df["bits_per_seq"] * 16, np.round(df["bits_per_seq"] * 16))
    assert df["gen_5_mean"].between(0, 5 * 4).all()
    cfg = RunConfig.from_dict(json.loads(df["config"][1]))
    assert cfg.model.memory_size == 12 and cfg.train.steps == 6 and cfg.train.seed == 3
    # Different memory sizes give different models, so not every number can coincide.
    assert len(set(df["trial_id"])) == 2


def test_local_backend_gives_the_same_numbers(serial_df):
    df = run_sweep(GRID, BASE, backend="local", workers=2, **KW)
    pd.testing.assert_frame_equal(df[NUMBERS], serial_df[NUMBERS])


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install ntm-widgets[ray])")
    from ntm_widgets.sweep import start_ray

    started = start_ray(num_cpus=2)
    yield ray
    if started:
        ray.shutdown()


def test_ray_backend_gives_the_same_numbers(serial_df, ray_session, tmp_path):
    df = run_sweep(GRID, BASE, backend="ray", runs_dir=tmp_path / "runs", **KW)
    pd.testing.assert_frame_equal(df[NUMBERS], serial_df[NUMBERS])
    assert ray_session.is_initialized()  # a Ray the caller started stays up
    # Each row's run folder is on this machine, copied from Tune's storage (runs/tune).
    for key, run_dir in zip(df["trial_id"], df["run_dir"]):
        assert run_dir == str((tmp_path / "runs" / key).resolve())
        assert sorted(p.name for p in (tmp_path / "runs" / key).iterdir()) == ["checkpoint.pt", "config.json", "history.json"]
    assert list((tmp_path / "runs" / "tune").glob("sweep-*/*/checkpoint_*/checkpoint.pt"))


def test_ray_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with pytest.raises(ImportError, match=r"pip install 'ntm-widgets\[ray\]'"):
        run_sweep(GRID, BASE, backend="ray", **KW)
    with pytest.raises(ConfigError, match=r"^--backend ray: .*pip install 'ntm-widgets\[ray\]'"):
        run_sweep_command(_cli(["--grid", "memory_size=20", "--steps", "1", "--backend", "ray"]))


class Interrupt(Exception):
    pass


def test_interrupted_sweep_resumes_without_redoing_trials(tmp_path, serial_df):
    path = tmp_path / "results.csv"
    grid = {"memory_size": [8, 12], "max_len": [2, 3]}

    def stop_after_first(info):
        if info["done"] == 1:
            raise Interrupt("stop")

    sweep = Sweep(grid, BASE, **{k: v for k, v in KW.items() if k != "progress"})
    with pytest.raises(Interrupt):
        sweep.run(backend="serial", results_path=path, progress=stop_after_first)
    saved = load_results(path)
    assert sweep.ran == 1 and len(saved) == 1  # the finished trial was written at once
    first_wall = saved["wall_seconds"][0]

    seen = []
    df = sweep.run(backend="serial", results_path=path, progress=lambda info: seen.append(info["done"]))
    assert sweep.ran == 3 and seen == [2, 3, 4]  # only the three missing trials ran
    assert len(df) == 4 and df["error"].isna().all()
    assert df.loc[df["trial_id"] == saved["trial_id"][0], "wall_seconds"].item() == first_wall
    assert len(load_results(path)) == 4

    df2 = sweep.run(backend="serial", results_path=path, progress=False)
    assert sweep.ran == 0
    pd.testing.assert_frame_equal(df2, df)
    # The two max_len=3 trials are the serial_df trials: same key, same numbers.
    same = df[df["max_len"] == 3].reset_index(drop=True)
    pd.testing.assert_frame_equal(same[NUMBERS], serial_df[NUMBERS])


def test_interrupt_on_the_local_backend_keeps_results_and_stops_workers(tmp_path):
    import multiprocessing
    import time

    path = tmp_path / "results.json"
    # One worker: the 20-step trial finishes, then the next one (minutes long) is running
    # when the interrupt comes.
    grid = {"train.steps": [20, 10**6]}

    def interrupt(info):
        raise KeyboardInterrupt  # what Ctrl-C (or a kernel interrupt) raises here

    sweep = Sweep(grid, BASE)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        sweep.run(backend="local", workers=1, results_path=path, progress=interrupt)
    saved = load_results(path)
    assert saved["train.steps"].tolist() == [20] and saved["steps"].tolist() == [20]
    while multiprocessing.active_children() and time.monotonic() < start + 20:
        time.sleep(0.1)
    # The worker training the long trial was stopped, not left running.
    assert not multiprocessing.active_children()


def test_failed_trial_is_recorded_and_retried(tmp_path, monkeypatch):
    from ntm_widgets.training import trainer as trainer_module

    real_run = trainer_module.Trainer.run

    def flaky_run(self, *args, **kwargs):
        if self.cfg.model.memory_size == 12:
            raise RuntimeError("boom")
        return real_run(self, *args, **kwargs)

    monkeypatch.setattr(trainer_module.Trainer, "run", flaky_run)
    path = tmp_path / "r.json"
    sweep = Sweep(GRID, BASE, steps=3)
    df = sweep.run(backend="serial", results_path=path, progress=False)
    assert df["error"].isna().tolist() == [True, False]
    assert df["error"][1].startswith("RuntimeError: boom")
    assert np.isnan(df["bits_per_seq"][1]) and df["bits_per_seq"][0] >= 0

    monkeypatch.setattr(trainer_module.Trainer, "run", real_run)
    df = sweep.run(backend="serial", results_path=path, progress=False)
    assert sweep.ran == 1 and df["error"].isna().all()


@pytest.mark.parametrize(
    "grid, field, pattern",
    [
        ({"memory_sise": [8]}, "memory_sise", r"unknown sweep field 'memory_sise'.*known fields: .*memory_size"),
        ({"memory_size": []}, "memory_size", r"axis 'memory_size' is empty"),
        ({"memory_size": 8}, "memory_size", r"must be a list of values, got int 8"),
        ({"max_len": "4,8"}, "max_len", r"must be a list of values, got str"),
        (
            {"memory_size": [8, 0]},
            "memory_size",
            r"grid value memory_size=0 is out of range: memory_size must be an integer in \[1, 4096\], got 0",
        ),
        ({"lr": [1e-3, -1.0]}, "lr", r"grid value lr=-1.0 is out of range: lr must be a number > 0"),
        (
            {"memory_size": [8], "max_len": [4, 9]},
            "memory_size",
            r"grid value memory_size=8 is out of range: memory_size must be >= 9 .*\[trial: memory_size=8, max_len=9\]",
        ),
        ({"memory_size": [8, 8]}, "memory_size", r"repeats a value"),
        ({"memory_size": [8], "model.memory_size": [12]}, "memory_size", r"names model.memory_size twice"),
    ],
)
def test_bad_grids_fail_with_the_field_named(grid, field, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        Sweep(grid, BASE, steps=1)
    assert info.value.field == field


def test_other_bad_arguments():
    with pytest.raises(ConfigError, match="needs a budget"):
        Sweep(GRID, BASE)
    with pytest.raises(ConfigError, match="backend must be one of local, ray, serial"):
        Sweep(GRID, BASE, steps=1).run(backend="gpu")
    with pytest.raises(ConfigError, match="eval_lengths"):
        Sweep(GRID, BASE, steps=1, eval_lengths=[0])
    with pytest.raises(ValueError, match=r"\.csv or \.json"):
        Sweep(GRID, BASE, steps=1).run(backend="serial", results_path="out.txt")


def test_names_short_dotted_and_normalised():
    assert resolve_field("memory_size") == resolve_field("model.memory_size") == "model.memory_size"
    assert resolve_field("task") == "task.name" and resolve_field("seed") == "train.seed"
    a = Sweep({"memory_size": [8, 12], "lr": [1]}, BASE, steps=2)
    b = Sweep({"model.memory_size": [8, 12], "train.lr": [1.0]}, BASE, steps=2)
    assert [t["trial_id"] for t in a.trials] == [t["trial_id"] for t in b.trials]
    assert a.trials[0]["config"].train.lr == 1.0 and isinstance(a.trials[0]["config"].train.lr, float)
    # The budget is part of a trial's config, so another budget is another trial.
    c = Sweep({"memory_size": [8, 12], "lr": [1]}, BASE, steps=3)
    assert not {t["trial_id"] for t in a.trials} & {t["trial_id"] for t in c.trials}


def test_random_search_is_seeded_and_distinct():
    grid = {"memory_size": [8, 12, 16], "max_len": [2, 3], "seed": [0, 1]}
    full = Sweep(grid, BASE, steps=1)
    assert len(full) == 12
    picks = [tuple(t["trial_id"] for t in Sweep(grid, BASE, steps=1, n_samples=4, random_seed=s).trials) for s in (0, 0, 1)]
    assert picks[0] == picks[1] and picks[0] != picks[2]
    assert len(set(picks[0])) == 4 and set(picks[0]) <= {t["trial_id"] for t in full.trials}
    assert len(Sweep(grid, BASE, steps=1, n_samples=50)) == 12


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_results_round_trip(tmp_path, serial_df, suffix):
    df = serial_df.copy()
    df.loc[1, "error"] = 'ValueError: a, "quoted" message'
    path = save_results(df, tmp_path / f"r{suffix}")
    back = load_results(path)
    pd.testing.assert_frame_equal(back, df, check_exact=True)


def _heatmap_frame():
    rows = []
    for n in (8, 16, 32):
        for length in (2, 4):
            for seed in (0, 1):
                rows.append(
                    {
                        "trial_id": f"{n}-{length}-{seed}",
                        "memory_size": n,
                        "max_len": length,
                        "seed": seed,
                        "converged": seed == 0,
                        "seconds": float(n + length + 10 * seed),
                        "bits_per_seq": float(seed),
                        "error": None,
                    }
                )
    return pd.DataFrame(rows)


def test_heatmaps_draw_the_chosen_axes_with_the_rest_aggregated():
    from ntm_widgets.plotting.sweep import figure_png, sweep_heatmaps, sweep_table

    df = _heatmap_frame()
    table = sweep_table(df, "memory_size", "max_len", "seconds", "median")
    assert list(table.columns) == [8, 16, 32] and list(table.index) == [2, 4]
    assert table.loc[4, 16] == 16 + 4 + 5  # median of the two seeds (+0, +10)
    fig = sweep_heatmaps(df, x="memory_size", y="max_len", metrics=("seconds", "converged"))
    heat = [ax for ax in fig.axes if ax.get_xlabel()]
    assert len(heat) == 2
    ax = heat[0]
    assert ax.get_xlabel() == "memory_size" and ax.get_ylabel() == "max_len"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["8", "16", "32"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["2", "4"]
    assert "median over seed" in ax.get_title()
    assert sorted(float(t.get_text()) for t in ax.texts) == sorted(table.to_numpy().ravel())
    assert {t.get_text() for t in heat[1].texts} == {"0.5"}  # fraction converged per cell
    assert figure_png(fig)[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="x must be a column"):
        sweep_heatmaps(df, x="word_size", y="max_len")
    with pytest.raises(ValueError, match="agg must be one of"):
        sweep_heatmaps(df, x="memory_size", y="max_len", agg="mode")


def test_sweep_view_follows_its_controls():
    import traitlets

    from ntm_widgets.widgets.sweep_view import SweepView

    view = SweepView(_heatmap_frame())
    assert (view.x, view.y, view.metric) == ("memory_size", "max_len", "seconds")
    assert view.x_dropdown.options == ("memory_size", "max_len", "seed")
    first = view.image.value
    assert first[:4] == b"\x89PNG"
    view.metric_dropdown.value = "bits_per_seq"
    assert view.metric == "bits_per_seq" and view.image.value != first
    view.y = "memory_size"  # same as x: nothing drawn, a note instead
    assert "two different fields" in view.error
    view.x = "seed"
    assert view.error == ""
    with pytest.raises(traitlets.TraitError, match="agg must be one of"):
        view.agg = "mode"


def _cli(argv):
    parser = argparse.ArgumentParser()
    add_sweep_arguments(parser)
    return parser.parse_args(argv)


def test_cli_command_runs_and_reports(tmp_path):
    out = tmp_path / "cli.csv"
    argv = [
        "--grid",
        "memory_size=8,12",
        "--grid",
        "max_len=2,3",
        "--set",
        "word_size=4",
        "--set",
        "controller_size=16",
        "--set",
        "batch_size=4",
        "--set",
        "val_samples=8",
        "--steps",
        "2",
        "--backend",
        "serial",
        "--out",
        str(out),
        "--json",
    ]
    result = run_sweep_command(_cli(argv))
    assert result["trials"] == 4 and result["ran"] == 4 and result["errors"] == 0
    assert result["axes"] == ["memory_size", "max_len"] and len(result["results"]) == 4
    assert result["best"]["bits_per_seq"] == min(r["bits_per_seq"] for r in result["results"])
    json.dumps(result)  # the lead prints it as the last line
    again = run_sweep_command(_cli(argv + ["--seeds", "1"]))  # seed 0 is the base seed: all done
    assert again["ran"] == 0 and again["skipped"] == 4


@pytest.mark.parametrize(
    "argv, pattern",
    [
        (["--grid", "memory_size=8,x", "--steps", "2"], r"--grid model.memory_size: 'x' is not an integer"),
        (["--grid", "memory_size=", "--steps", "2"], r"--grid memory_size: give a comma-separated list"),
        (["--grid", "colour=1", "--steps", "2"], r"--grid: unknown sweep field 'colour'"),
        (["--grid", "memory_size=8"], r"needs a budget"),
        (["--grid", "memory_size=8", "--steps", "-1"], r"--steps: steps must be an integer >= 0"),
        (["--grid", "memory_size=8", "--steps", "1", "--backend", "gpu"], r"--backend must be one of"),
        (["--grid", "memory_size=1,8", "--steps", "1"], r"--grid: grid value memory_size=1"),
        (["--steps", "1"], r"--grid: give at least one axis"),
        (["--grid", "memory_size=8", "--steps", "1", "--seeds", "0"], r"--seeds must be an integer >= 1"),
    ],
)
def test_cli_bad_arguments_name_the_flag(argv, pattern):
    with pytest.raises(ConfigError, match=pattern):
        run_sweep_command(_cli(argv))


def test_every_row_has_a_run_folder_that_eval_and_replay_read(tmp_path, capsys):
    from ntm_widgets.cli import main
    from ntm_widgets.training import Trainer

    path = tmp_path / "results.csv"
    df = run_sweep(GRID, BASE, backend="local", workers=2, results_path=path, **KW)
    runs = tmp_path / "results_runs"
    assert [Path(p) for p in df["run_dir"]] == [(runs / key).resolve() for key in df["trial_id"]]
    for row in df.to_dict("records"):
        trainer = Trainer.load_run(row["run_dir"])
        assert trainer.step_count == row["steps"] == 6 and trainer.cfg.model.memory_size == row["memory_size"]
    saved = load_results(path)  # in the order the trials finished
    assert dict(zip(saved["trial_id"], saved["run_dir"])) == dict(zip(df["trial_id"], df["run_dir"]))
    assert main(["eval", df["run_dir"][0], "--lengths", "5", "--samples", "8", "--json"]) == 0
    # The trial's own evaluation (same seed, same samples) is what eval measures again.
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["lengths"]["5"]["mean"] == df["gen_5_mean"][0]
    assert main(["replay", df["run_dir"][1], "--length", "4", "--out", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").stat().st_size > 1000


def test_asha_stops_the_lagging_trial_and_a_plain_rerun_trains_it_in_full(tmp_path, ray_session):
    # One trial at a time, so ASHA's decisions do not depend on timing: lr 1e-2 sets the
    # rung at step 20 (2.86 bits), lr 1e-6 is still at 4.0 bits there and is stopped.
    base = RunConfig(model=BASE.model, task=BASE.task, train=BASE.train.replace(batch_size=8, val_samples=64, val_every=20))
    grid = {"lr": [1e-2, 1e-6]}
    path = tmp_path / "asha.csv"
    df = run_sweep(
        grid, base, steps=60, backend="ray", workers=1, scheduler="asha", grace_steps=20, results_path=path, progress=False
    )
    good, slow = df.to_dict("records")
    assert (good["steps"], good["reason"]) == (60, "steps")
    assert (slow["steps"], slow["reason"], slow["bits_per_seq"]) == (20, "early_stopped", 4.0)
    assert slow["error"] is None
    from ntm_widgets.training import Trainer

    assert Trainer.load_run(slow["run_dir"]).step_count == 20  # its run folder: the model ASHA judged
    seen = []
    again = run_sweep(grid, base, steps=60, backend="serial", results_path=path, progress=lambda info: seen.append(info["row"]))
    assert [r["trial_id"] for r in seen] == [slow["trial_id"]]  # only the stopped trial, in full
    assert again["steps"].tolist() == [60, 60] and again["reason"].tolist() == ["steps", "steps"]


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(backend="ray", scheduler="hyperband"), r"scheduler must be one of none, asha"),
        (dict(backend="local", scheduler="asha"), r"scheduler 'asha' needs backend='ray'"),
        (dict(backend="ray", scheduler="asha", grace_steps=0), r"grace_steps must be an integer >= 1"),
    ],
)
def test_bad_scheduler_settings_name_the_field(kwargs, pattern):
    pytest.importorskip("ray.tune")
    with pytest.raises(ConfigError, match=pattern):
        run_sweep(GRID, BASE, **KW, **kwargs)


def test_cli_scheduler_flags_are_checked_before_training(capsys):
    from ntm_widgets.cli import main

    base = ["sweep", "--grid", "memory_size=20", "--steps", "1"]
    assert main([*base, "--backend", "ray", "--scheduler", "pbt"]) == 2
    assert capsys.readouterr().err.strip() == "ntm-widgets: --scheduler must be one of none, asha, got 'pbt'"
    assert main([*base, "--scheduler", "asha"]) == 2
    assert "--scheduler asha needs --backend ray" in capsys.readouterr().err


def test_an_address_where_nothing_listens_exits_2_within_seconds(tmp_path):
    import socket
    import subprocess
    import time

    pytest.importorskip("ray.tune")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = ["sweep", "--grid", "memory_size=20", "--steps", "1", "--backend", "ray", "--ray-address", f"ray://127.0.0.1:{port}"]
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "ntm_widgets.cli", *argv], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    # Ray's own client retries for ~30 s; this is the import of torch and Ray, then one try.
    assert done.returncode == 2 and time.monotonic() - start < 25
    assert done.stderr.strip().splitlines() == [
        f"ntm-widgets: --ray-address: cannot connect to the Ray client server at 127.0.0.1:{port} (Connection refused): "
        "is the head running (`ray start --head` serves clients on port 10001), is the address right, and is the port "
        "reachable from here (firewall, or `kubectl port-forward service/CLUSTER-head-svc 10001:10001` for KubeRay)?"
    ]
