"""The Playground's run history without a browser: runs, changes, table, overlay, restore, files.

Drives the widget as a person would (slider values, Reset, buttons) with the tiny
configuration of test_playground.py, so each step takes milliseconds.
"""

import json
import pickle
import tracemalloc

import numpy as np
import pytest
import traitlets
from cli_helpers import run_cli

from ntm_widgets.config import RunConfig
from ntm_widgets.sweep.results import RESULT_FIELDS, load_results
from ntm_widgets.widgets import Playground, SweepView
from ntm_widgets.widgets.run_history import MAX_POINTS, RunHistory
from ntm_widgets.widgets.sweep_view import sweep_axes

TINY = {
    "model": {"memory_size": 8, "word_size": 4, "controller_size": 16},
    "task": {"name": "copy", "width": 4, "min_len": 1, "max_len": 3},
    "train": {"batch_size": 4, "lr": 3e-3, "seed": 1, "threads": 1, "val_samples": 50},
}


@pytest.fixture
def pg():
    p = Playground(config=TINY)
    p.auto_replay = False
    yield p
    p.stop(wait=True, timeout=10)


def three_runs(pg):
    """Run 1 as configured, run 2 with lr 1e-2 (Reset), run 3 with N=12 (a rebuild)."""
    pg.train(3)
    pg.lr_slider.value = 1e-2
    pg.reset()
    pg.train(4)
    pg.n_slider.value = 12
    pg.train(2)


def test_reset_and_rebuild_start_runs_and_train_continues_one(pg):
    assert len(pg.history) == 0 and len(pg.history_frame()) == 0
    pg.train(3)
    pg.train(2)  # the same model: the same run
    assert len(pg.history) == 1 and pg.history[0].step_count == 5
    pg.lr_slider.value = 1e-2
    pg.reset()
    assert len(pg.history) == 1  # a run starts at its first step, not at Reset
    pg.train(4)
    pg.n_slider.value = 12
    pg.train(2)
    runs = pg.history
    assert [r.run_id for r in runs] == [1, 2, 3]
    assert [r.step_count for r in runs] == [5, 4, 2]
    assert [r.changed for r in runs] == [{}, {"lr": 1e-2}, {"memory_size": 12}]
    assert [r.label for r in runs] == ["run 1", "run 2: lr=0.01", "run 3: N=12"]
    assert runs[0].live == []  # the lr moved after run 1's last step, then Reset: never trained with
    for r in runs:
        assert r.reason == "steps" and r.sequences == 4 * r.step_count and r.seconds > 0
        assert r.bits_per_seq is not None and r.bits_step == r.step_count
        assert len(r.steps) == r.step_count and r.weights is not None
        np.testing.assert_array_equal(r.steps, np.arange(1, r.step_count + 1))


def test_a_setting_changed_mid_run_is_recorded_with_its_step(pg):
    pg.train(3)
    pg.lr_slider.value = 1e-2
    assert "Reset" in pg.status  # the note says how to make it a new run instead
    pg.train(2)
    (run,) = pg.history
    assert run.live == [(4, {"lr": 1e-2})] and run.config.train.lr == 3e-3 and run.final_config.train.lr == 1e-2
    assert pg.history_frame().loc[0, "live"] == "lr=0.01 at step 4"


def test_frame_has_the_sweep_columns_and_sweep_view_takes_it(pg):
    three_runs(pg)
    df = pg.history_frame()
    assert list(df["trial_id"]) == ["run-1", "run-2", "run-3"]
    assert set(RESULT_FIELDS) <= set(df.columns)
    assert sweep_axes(df) == ["memory_size", "lr"]  # the fields that differ, in config order
    assert list(df["lr"]) == [3e-3, 1e-2, 1e-2] and list(df["memory_size"]) == [8, 8, 12]
    assert list(df["changed"]) == ["", "lr=0.01", "N=12"]
    assert RunConfig.from_dict(json.loads(df.loc[2, "config"])) == pg.history[2].config
    view = SweepView(pg)
    assert (view.x, view.y) == ("memory_size", "lr") and view.image.value[:4] == b"\x89PNG" and not view.error
    assert SweepView(pg.history).axes == view.axes


def test_one_varying_field_still_gives_sweep_view_two_axes(pg):
    pg.train(2)
    pg.lr_slider.value = 1e-2
    pg.reset()
    pg.train(2)
    assert sweep_axes(pg.history_frame()) == ["lr", "memory_size"]


def test_restore_puts_a_runs_config_on_the_sliders_and_starts_fresh(pg):
    three_runs(pg)
    cfg = pg.restore(1)
    assert pg.n_slider.value == 8 and pg.lr_slider.value == pytest.approx(3e-3)
    assert cfg == pg.history[0].config and pg.trainer.step_count == 0
    pg.train(3)  # the same seeded run again
    assert len(pg.history) == 4 and pg.history[3].changed == {"lr": 3e-3, "memory_size": 8}
    np.testing.assert_allclose(pg.history[3].loss, pg.history[0].loss[:3], rtol=1e-5)
    # Only a live setting differs (lr): the trained model is reset anyway, a new run follows.
    pg.restore(2)
    assert pg.trainer.step_count == 0 and pg.lr_slider.value == pytest.approx(1e-2)


def test_table_rows_newest_first_with_changes_highlighted_and_buttons(pg):
    three_runs(pg)
    rows = pg.history_table.rows_box.children
    assert len(rows) == 3 and "ntm-history-run-3" in rows[0]._dom_classes
    html3 = rows[0].children[1].value
    assert "N=12" in html3 and "12 x 4" in html3 and "background:#fff1a8" in html3
    assert "background" not in rows[2].children[1].value  # run 1 changed nothing
    # Ticking run 1 overlays it; the current run is drawn as the main curve.
    rows[2].children[0].value = True
    assert pg.overlay == [1]
    (ov,) = pg.curves.overlays
    assert ov["label"] == "run 1" and len(ov["steps"]) == 3 and pg.curves.label == "run 3: N=12 (current)"
    pg.overlay = [1, 2]
    assert [o["label"] for o in pg.curves.overlays] == ["run 1", "run 2: lr=0.01"]
    assert rows[1].children[0].value is True  # the checkbox follows the API
    with pytest.raises(traitlets.TraitError, match="no run 9"):
        pg.overlay = [9]
    rows[1].children[2].click()  # Restore run 2
    assert pg.lr_slider.value == pytest.approx(1e-2) and pg.n_slider.value == 8 and pg.trainer.step_count == 0


def test_image_renderer_draws_overlays():
    p = Playground(config=TINY, renderer="image")
    p.auto_replay = False
    p.train(2)
    p.reset()
    p.train(2)
    before = p.curves.value
    p.overlay = [1]
    assert p.curves.value != before and p.curves.value[:4] == b"\x89PNG"


def test_generalisation_is_measured_once_converged(pg):
    pg.train(2)
    assert pg.history[0].generalisation == {}
    pg.trainer.converged = True  # as the stopping rule sets it (training to convergence takes minutes)
    pg.train(1)
    r = pg.history[0]
    assert r.converged and sorted(r.generalisation) == [6, 12] and r.gen_step == 3
    df = pg.history_frame()
    assert {"gen_6_mean", "gen_6_max", "gen_12_mean", "gen_12_max"} <= set(df.columns)
    assert df.loc[0, "gen_12_mean"] == r.generalisation[12]["mean"]


def test_save_load_and_the_cli_reads_each_run(pg, tmp_path, capsys):
    three_runs(pg)
    pg.overlay = [1]
    out = pg.save_history(tmp_path / "h")
    index = json.loads((out / "index.json").read_text())
    assert [e["dir"] for e in index["runs"]] == ["run-001", "run-002", "run-003"]
    assert all(e["checkpoint"] for e in index["runs"])
    assert len(load_results(out / "results.csv")) == 3
    code, text, _ = run_cli(capsys, "eval", str(out / "run-002"), "--lengths", "3", "--samples", "5", "--json")
    assert code == 0 and "3" in json.loads(text)["lengths"]
    code, _, _ = run_cli(capsys, "replay", str(out / "run-003"), "--length", "3", "--out", str(tmp_path / "r.html"))
    assert code == 0 and (tmp_path / "r.html").stat().st_size > 1000
    # The saved weights are the run's: evaluation of the live trainer and of the folder agree.
    from ntm_widgets.training import Trainer

    saved = Trainer.load_run(out / "run-003")
    assert saved.step_count == 2 and saved.evaluate([3], samples=5) == pg.trainer.evaluate([3], samples=5)

    later = Playground(config=TINY)
    later.auto_replay = False
    later.load_history(out)
    frame, original = later.history_frame(), pg.history_frame()
    cols = ["trial_id", "lr", "memory_size", "steps", "bits_per_seq", "changed", "converged"]
    assert frame[cols].equals(original[cols])
    np.testing.assert_allclose(later.history[1].loss, pg.history[1].loss, rtol=1e-6)
    later.overlay = [2]
    assert later.curves.overlays[0]["label"] == "run 2: lr=0.01"
    later.restore(3)
    assert later.n_slider.value == 12
    assert len(SweepView(out).results) == 3
    # Saving the loaded history again copies the checkpoints it did not hold in memory.
    again = later.save_history(tmp_path / "h2")
    assert (again / "run-002" / "checkpoint.pt").exists()


def test_curves_are_downsampled_and_old_weights_dropped():
    from ntm_widgets.training import Trainer

    trainer = Trainer(RunConfig.from_dict(TINY))
    history = RunHistory(keep_weights=2)
    steps = np.arange(1, 50_001, dtype=np.float64)
    for _ in range(4):
        r = history.new_run(trainer.cfg)
        trainer.step_count = 1
        history.snapshot(r, trainer, steps, np.exp(-steps / 1e4), steps % 7, reason="steps", measure=False)
    assert all(len(r.steps) == MAX_POINTS for r in history)
    assert [r.weights is not None for r in history] == [False, False, True, True]


def test_memory_of_a_hundred_runs_is_bounded():
    """100 runs of the default Playground model (24,692 parameters), each with 20,000 steps
    of curves: curves are kept at 1,000 points, weights for the newest 20 runs only."""
    from ntm_widgets.training import Trainer
    from ntm_widgets.widgets.playground import DEFAULT_CONFIG

    trainer = Trainer(DEFAULT_CONFIG)
    trainer.step_count = 20_000
    steps = np.arange(1, 20_001, dtype=np.float64)
    loss, bits = np.exp(-steps / 5e3), 40 * np.exp(-steps / 3e3)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    history = RunHistory()
    for k in range(100):
        cfg = RunConfig.from_dict({**DEFAULT_CONFIG.to_dict(), "train": {**DEFAULT_CONFIG.train.to_dict(), "seed": k}})
        history.snapshot(history.new_run(cfg), trainer, steps, loss, bits, reason="steps", measure=False)
    held = tracemalloc.get_traced_memory()[0] - base  # Python objects and numpy arrays (measured: 1.7 MB)
    tracemalloc.stop()
    # torch allocates tensors outside tracemalloc's view: the weights are counted exactly.
    assert history.nbytes() == 100 * 3 * 4 * MAX_POINTS + 20 * 24_692 * 4  # 1.2 MB curves + 2.0 MB weights
    assert held < 4e6, f"100 runs hold {held / 1e6:.1f} MB of Python objects"
    assert len(pickle.dumps([(r.steps, r.loss, r.bits, r.summary()) for r in history])) < 3e6


def test_every_column_of_the_runs_table_has_a_header():
    from ntm_widgets.widgets.history_view import COLUMNS, _row_html

    assert all(name for name, _, _ in COLUMNS)
    header = _row_html([c[0] for c in COLUMNS], header=True)
    assert header.count("<span") == len(COLUMNS) and "></span>" not in header and ">ended</span>" in header
