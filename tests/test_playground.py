"""Playground widget without a browser: set values, click buttons, read traits and state.

A tiny configuration keeps each training step to a few milliseconds; background-thread
tests poll with a deadline instead of sleeping a fixed time.
"""

import json
import time

import numpy as np
import pytest
import torch
import traitlets

from ntm_widgets.config import ConfigError, RunConfig
from ntm_widgets.plotting.curves import downsample, history_arrays, log_clip
from ntm_widgets.widgets import Playground
from ntm_widgets.widgets.curves import LiveCurves
from ntm_widgets.widgets.playground import DEFAULT_CONFIG, _try_replay_player

TINY = {
    "model": {"memory_size": 8, "word_size": 4, "controller_size": 16},
    "task": {"name": "copy", "width": 4, "min_len": 1, "max_len": 3},
    "train": {"batch_size": 4, "lr": 3e-3, "seed": 1, "threads": 1},
}


def wait_until(pred, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.005)
    raise AssertionError("condition not met before the deadline")


@pytest.fixture
def pg():
    p = Playground(config=TINY)
    p.auto_replay = False  # replays are tested on their own
    yield p
    p.stop(wait=True, timeout=10)


def losses(p):
    return [r["loss"] for r in p.trainer.history]


def test_default_config_is_small_and_copy():
    c = DEFAULT_CONFIG
    assert (c.model.memory_size, c.model.word_size, c.model.controller, c.model.controller_size) == (64, 8, "lstm", 64)
    from ntm_widgets.config import preset

    quick = preset("quick")  # one source: the demo's recipe, without its step budget
    assert (c.model, c.task) == (quick.model, quick.task) and c.train == quick.train.replace(time_limit=None, steps=None)
    assert (c.task.name, c.task.min_len, c.task.max_len) == ("copy", 1, 8)
    assert (c.train.batch_size, c.train.optimizer, c.train.lr) == (32, "adam", 1e-2)
    p = Playground()
    assert p.config == DEFAULT_CONFIG and p.config is not DEFAULT_CONFIG
    assert repr(p) == "Playground(task='copy', N=64, M=8, steps=0)"


def test_css_classes_for_browser_tests(pg):
    expected = {
        "ntm-playground": pg,
        "ntm-train": pg.train_button,
        "ntm-pause": pg.pause_button,
        "ntm-stop": pg.stop_button,
        "ntm-step": pg.step_button,
        "ntm-reset": pg.reset_button,
        "ntm-status": pg.status_html,
        "ntm-curves": pg.curves,
        "ntm-slider-n": pg.n_slider,
        "ntm-slider-m": pg.m_slider,
        "ntm-playground-error": pg.error_html,
    }
    for cls, w in expected.items():
        assert cls in w.get_state()["_dom_classes"], cls


def test_sync_train_moves_status_traits_and_curve_bytes(pg):
    v0 = pg.curves.version
    summary = pg.train(3)
    assert summary["steps"] == 3 and pg.trainer.step_count == 3
    assert pg.step == 3 and pg.sequences == 12 and not pg.running
    assert "step 3" in pg.status and "12 sequences" in pg.status and "bit error" in pg.status
    assert "step 3" in pg.status_html.get_state()["value"]
    assert pg.curves.version > v0
    state = pg.curves.get_state()
    sent_loss = np.frombuffer(bytes(state["loss"]), dtype="<f4")
    sent_steps = np.frombuffer(bytes(state["steps"]), dtype="<f4")
    np.testing.assert_allclose(sent_loss, losses(pg), rtol=1e-6)
    np.testing.assert_array_equal(sent_steps, [1, 2, 3])
    assert np.isfinite(pg.bits_per_seq)


def test_background_thread_via_buttons_stops_within_one_step(pg):
    pg.train_button.click()
    assert pg.running and pg.train_button.disabled and not pg.stop_button.disabled
    wait_until(lambda: pg.trainer.step_count >= 3)
    requested = pg.trainer.step_count
    pg.stop_button.click()  # does not block
    pg.wait(timeout=10)
    assert not pg._thread.is_alive()
    assert pg.trainer.step_count - requested <= 1
    assert not pg.running and pg.status.startswith("stopped")
    assert not pg.train_button.disabled and pg.stop_button.disabled
    # The curves hold every step taken.
    assert len(pg.curves.arrays()[0]) == pg.trainer.step_count
    pg.start()
    wait_until(lambda: pg.trainer.step_count >= requested + 3)
    pg.close()  # closing the widget ends the thread too
    assert not pg._thread.is_alive() and not pg.running


def test_pause_blocks_and_step_does_exactly_one(pg):
    pg.start()
    wait_until(lambda: pg.trainer.step_count >= 2)
    pg.pause_button.click()
    wait_until(lambda: pg.paused)
    assert pg.status.startswith("paused") and pg.train_button.description == "Resume"
    held = pg.trainer.step_count
    time.sleep(0.1)
    assert pg.trainer.step_count == held  # blocked at the step boundary
    pg.step_button.click()
    assert pg.trainer.step_count == held + 1
    pg.train_button.click()  # resume
    wait_until(lambda: pg.trainer.step_count >= held + 3)
    pg.stop()
    assert not pg.running


def test_step_while_running_pauses_first(pg):
    pg.start()
    wait_until(lambda: pg.trainer.step_count >= 2)
    pg.step_once()
    wait_until(lambda: pg.paused)
    held = pg.trainer.step_count
    time.sleep(0.05)
    assert pg.trainer.step_count == held
    pg.stop_button.click()  # Stop wakes a paused thread and ends it
    pg.wait(timeout=10)
    assert not pg.running and not pg.paused and pg.trainer.step_count == held
    assert pg.status.startswith("stopped")


def test_invalid_combination_shows_message_and_disables_train(pg):
    pg.length_slider.value = (1, 12)  # copy needs memory_size >= 12 > N = 8
    assert "memory_size" in pg.error
    assert "memory_size" in pg.error_html.get_state()["value"]
    assert pg.error_html.layout.display != "none"
    assert pg.train_button.get_state()["disabled"] and pg.step_button.disabled
    assert pg.status.startswith("cannot train")
    assert pg.start() is False and not pg.running
    with pytest.raises(ConfigError) as info:
        pg.train(1)
    assert info.value.field == "memory_size"
    assert pg.trainer.cfg.task.max_len == 3  # the trainer kept the last valid settings
    pg.n_slider.value = 16  # fix it: the error goes, the model is rebuilt
    assert pg.error == "" and pg.error_html.layout.display == "none"
    assert not pg.train_button.disabled
    assert pg.trainer.model.memory_size == 16 and pg.trainer.cfg.task.max_len == 12


def test_live_settings_reach_trainer_at_next_step(pg):
    pg.train(1)
    model = pg.trainer.model
    pg.lr_slider.value = 1e-2
    pg.batch_slider.value = 7
    assert pg.trainer.cfg.train.lr == 3e-3 and pg.trainer.cfg.train.batch_size == 4  # not yet
    assert "applies at the next step" in pg.status
    seen = pg.trainer.sequences
    pg.train(1)
    assert pg.trainer.model is model  # no rebuild
    assert pg.trainer.cfg.train.lr == pytest.approx(1e-2) and pg.trainer.cfg.train.batch_size == 7
    assert pg.trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-2)
    assert pg.trainer.sequences - seen == 7
    pg.length_slider.value = (2, 5)
    pg.train(1)
    assert pg.trainer.history[-1]["length"] in (2 * L + 1 for L in range(2, 6))


def test_shape_changes_rebuild_the_model(pg):
    pg.train(2)
    old = pg.trainer
    pg.n_slider.value = 12
    assert pg.trainer is not old and pg.trainer.model.memory_size == 12
    assert "N=12" in pg.status and "rebuil" in pg.status
    assert pg.trainer.step_count == 0 and len(pg.curves.arrays()[0]) == 0
    pg.m_slider.value = 6
    assert pg.trainer.model.word_size == 6
    pg.read_heads_slider.value = 2
    assert pg.trainer.model.num_read_heads == 2
    pg.controller_dropdown.value = "feedforward"
    assert pg.trainer.cfg.model.controller == "feedforward"
    pg.task_dropdown.value = "associative_recall"  # needs >= 2 items: the range moves
    assert pg.error == "" and pg.length_slider.value[0] == 2
    assert pg.trainer.task.name == "associative_recall"
    pg.train(1)
    assert pg.trainer.step_count == 1


def test_rebuild_while_training_in_background(pg):
    pg.start()
    wait_until(lambda: pg.trainer.step_count >= 2)
    pg.n_slider.value = 16
    wait_until(lambda: pg.trainer.model.memory_size == 16 and pg.trainer.step_count >= 2)
    assert pg.running
    pg.stop()
    assert pg.last_rebuild_seconds is not None


def test_config_round_trips_json_dict_and_code(pg):
    pg.n_slider.value = 20
    pg.m_slider.value = 5
    pg.lr_slider.value = 1e-3
    pg.seed_box.value = 7
    cfg = pg.config
    assert cfg.model.memory_size == 20 and cfg.train.seed == 7 and cfg.model.word_size == 5
    for source in (pg.config_json(), json.loads(pg.config_json()), cfg):
        other = Playground(config=source)
        assert other.config == cfg
        assert other.n_slider.value == 20 and other.seed_box.value == 7
    # Values outside the sliders' usual ranges survive the round trip too.
    odd = json.loads(pg.config_json())
    odd["model"]["memory_size"], odd["train"]["lr"], odd["train"]["batch_size"] = 3, 2e-7, 300
    odd["task"]["max_len"] = 3
    assert Playground(config=odd).config == RunConfig.from_dict(odd)
    ns = {}
    exec(pg.config_code().replace("Playground(config=config)", ""), ns)
    assert ns["config"] == cfg
    assert json.loads(pg.config_text.value) == cfg.to_dict()


def test_same_config_trains_identically_and_reset_repeats_it(pg):
    pg.train(3)
    first = losses(pg)
    other = Playground(config=pg.config_json())
    other.auto_replay = False
    other.train(3)
    assert losses(other) == first
    pg.reset_button.click()
    assert (
        pg.trainer.step_count == 0
        and len(pg.curves.arrays()[0]) == 0
        and pg.status.startswith("new model, not trained yet")
        and "from seed" in pg.status
    )
    pg.train(3)
    assert losses(pg) == first


def test_apply_json_from_text_area(pg):
    data = json.loads(pg.config_text.value)
    data["model"]["memory_size"] = 24
    data["train"]["batch_size"] = 9
    pg.config_text.value = json.dumps(data)
    pg.apply_button.click()
    assert pg.n_slider.value == 24 and pg.batch_slider.value == 9
    assert pg.trainer.model.memory_size == 24 and pg.error == ""
    pg.config_text.value = "{not json"
    pg.apply_button.click()
    assert "JSON" in pg.error and pg.train_button.disabled
    with pytest.raises(ConfigError):
        Playground(config={"model": {"memory_size": 2}})


def test_replay_on_demand_and_after_training(pg):
    pg.replay_length = 6  # longer than the trained lengths (1-3)
    before = pg.replay_box.children
    pg.replay_button.click()
    assert pg.last_trace.steps == 2 * 6 + 1
    assert pg.last_trace.memory_shape == (8, 4)
    assert pg.replay_box.children != before
    first = pg.last_trace.inputs.copy()
    player = pg._player
    pg.refresh_replay()
    assert not np.array_equal(pg.last_trace.inputs, first)  # a fresh sequence each time
    if _try_replay_player() is not None:  # the player is written separately
        assert pg._player is player and player.trace is pg.last_trace  # reused, new bytes
        assert pg.replay_box.children[0] is getattr(player, "ui", player)
    pg.auto_replay = True
    pg.train(1)
    assert pg.last_trace.meta["length"] == 6
    pg.n_slider.value = 10  # the replay on screen follows the rebuilt model
    assert pg.last_trace.memory_shape == (10, 4)


def test_traits_validate_bounds(pg):
    with pytest.raises(traitlets.TraitError):
        pg.update_interval = 0.001
    with pytest.raises(traitlets.TraitError):
        pg.replay_length = 0
    pg.replay_length = 200
    assert pg.replay_slider.value == 200 and pg.replay_slider.max >= 200
    with pytest.raises(ConfigError):
        pg.train(-1)
    with pytest.raises(ConfigError):
        Playground(renderer="svg")


def test_image_renderer_sends_png_that_changes():
    p = Playground(config=TINY, renderer="image")
    before = p.curves.value
    assert before[:8] == b"\x89PNG\r\n\x1a\n"
    p.train(2)
    assert p.curves.value[:8] == b"\x89PNG\r\n\x1a\n" and p.curves.value != before
    if _try_replay_player() is not None:  # the replay falls back to PNGs as well
        assert "Image" in type(p._player).__name__


def test_curves_downsample_bounds_points_and_keeps_means():
    steps = np.arange(1, 10_001, dtype=float)
    loss = np.linspace(1.0, 0.01, 10_000)
    loss[5] = np.nan
    s, l = downsample(steps, loss, max_points=100)
    assert len(s) == len(l) == 100
    assert s[0] == pytest.approx(50.5) and np.all(np.diff(s) > 0)
    assert np.isfinite(l).all()
    w = LiveCurves(max_points=50)
    w.set_data(steps, loss, loss)
    assert len(w.arrays()[0]) == 50
    np.testing.assert_array_equal(log_clip(np.array([0.0, 2.0, np.nan])), [1e-2, 2.0, np.nan])
    st, lo, bi = history_arrays([{"step": 1, "loss": None, "bits_per_seq": 0.5}])
    assert np.isnan(lo[0]) and bi[0] == 0.5
    with pytest.raises(traitlets.TraitError):
        w.max_points = 1


def test_a_restart_is_said_in_the_status():
    cfg = {**TINY, "train": {**TINY["train"], "restart_after": 20, "restart_bits": 1e-6}}
    p = Playground(config=cfg)
    p.auto_replay = False
    p.train(20)
    assert p.trainer.restarts == 1
    assert "restarted from fresh weights (attempt 2)" in p.status, p.status
    assert "stuck above" in p.status and p.trainer.history[-1]["restart_why"] == "stuck"
    assert DEFAULT_CONFIG.train.restart_after == 1200


def test_a_restart_by_the_selection_rule_says_so_not_stuck():
    # Learned the training lengths at once, then over select_early_bits at selection's
    # first measurement: a restart for a program that fails on long sequences.
    train = {**LEARNS_AT_ONCE["train"], "select_bits": 0.0, "select_early_steps": 0, "select_early_bits": 0.0}
    p = Playground(config={**LEARNS_AT_ONCE, "train": {**train, "restart_after": 1000, "select_samples": 20}})
    p.auto_replay = False
    p.train(20)
    tr = p.trainer
    assert tr.restarts == 1 and tr.history[-1]["restart_why"] == "select_early"
    assert "learned the training lengths, but its first answers at length 6 were over 0 wrong bits" in p.status, p.status
    assert "stuck" not in p.status and "(attempt 2)" in p.status
    # The curves mark where the fresh weights began (the error jumps back up there).
    assert p.curves.restarts == [float(tr.history[-1]["step"])]


LEARNS_AT_ONCE = {  # a target every model meets: the rule says "learned" at its first validation (step 20)
    **TINY,
    "train": {
        **TINY["train"],
        "target_bits": 1e9,
        "select_lengths": [6],
        "select_bits": 1e9,
        "select_samples": 5,
        "select_confirm": 0,
    },
}


def test_training_stops_when_the_stopping_rule_says_learned():
    # A target every model meets: the rule says "learned" at its first validation
    # (after VAL_WINDOW steps), Playground.train returns then, and the status says so.
    cfg = LEARNS_AT_ONCE
    pg = Playground(config=cfg)
    pg.train(200)
    tr = pg.trainer
    assert tr.converged and tr.step_count == 20
    assert "learned" in pg.status and "length 6" in pg.status
    pg.train(10)  # once learned, Train trains on
    assert tr.step_count == 30


def test_train_right_after_stop_trains_on(pg):
    # Stop does not wait for the thread (the button must not block the kernel): Train
    # pressed before that thread has left must still train, not wake the leaving one.
    assert pg.start() is True
    wait_until(lambda: pg.trainer.step_count >= 2)
    pg.stop(wait=False)
    assert pg.start() is True
    held = pg.trainer.step_count
    wait_until(lambda: pg.trainer.step_count >= held + 3)
    assert pg.running and pg._thread.is_alive()
    pg.stop_button.click()
    pg.train_button.click()
    held = pg.trainer.step_count
    wait_until(lambda: pg.trainer.step_count >= held + 3)
    assert pg.running and not pg.paused
    pg.stop()
    assert not pg.running and pg.status.startswith("stopped")


def test_stop_while_paused_then_train_trains_on(pg):
    pg.start()
    wait_until(lambda: pg.trainer.step_count >= 2)
    pg.pause_button.click()
    wait_until(lambda: pg.paused)
    pg.stop_button.click()
    assert not pg.train_button.disabled  # Resume is offered while the thread leaves
    pg.train_button.click()
    held = pg.trainer.step_count
    wait_until(lambda: pg.trainer.step_count >= held + 3)
    assert pg.running and not pg.paused and pg.status.startswith("training")
    pg.stop()
    assert not pg.running and not pg.paused


def test_train_after_learned_in_the_background_trains_on():
    cfg = LEARNS_AT_ONCE
    pg = Playground(config=cfg)
    pg.auto_replay = False
    assert pg.start() is True
    pg.wait(timeout=20)  # the rule ends the thread at its first validation
    assert pg.trainer.converged and pg.trainer.step_count == 20 and not pg.running
    assert pg.start() is True
    wait_until(lambda: pg.trainer.step_count >= 25)
    pg.stop(wait=False)
    assert pg.start() is True
    wait_until(lambda: pg.trainer.step_count >= 30)
    pg.close()
    assert not pg.running


def test_train_after_selection_gave_up_trains_on():
    # Selection that can never pass, no restarts: the rule ends the run ("kept its best
    # candidate"). Train again must train on, not stop at the next selection check.
    cfg = {
        **TINY,
        "train": {
            **TINY["train"],
            "target_bits": 1e9,
            "select_lengths": [6],
            "select_bits": 0.0,
            "select_samples": 5,
            "select_confirm": 0,
            "select_steps": 5,
            "select_every": 5,
            "restart_after": None,
        },
    }
    pg = Playground(config=cfg)
    pg.auto_replay = False
    pg.train(200)
    gave_up_at = pg.trainer.step_count
    assert gave_up_at < 200 and "selection gave up" in pg.status
    pg.train(30)
    assert pg.trainer.step_count == gave_up_at + 30
    pg.reset()  # a new model gets the stopping rule back
    pg.train(200)
    assert pg.trainer.step_count == gave_up_at


def test_status_says_a_rebuilt_model_is_new_and_numbers_read_as_people_write_them(pg):
    from ntm_widgets.widgets.playground import readable

    pg.train(2)
    assert "step 2" in pg.status
    pg.n_slider.value = 12
    assert pg.status.startswith("new model, not trained yet") and "step 0" not in pg.status and "0 sequences" not in pg.status
    pg.train(1)
    assert pg.status.startswith("trained") and "step 1" in pg.status
    assert [readable(x) for x in (1.18e-204, 0.004, 0.25, 3.14159, 57.4, 1234.0, float("nan"))] == [
        "0",
        "0",
        "0.25",
        "3.14",
        "57",
        "1,234",
        "n/a",
    ]


def test_each_task_shows_its_own_setting_and_the_setting_reaches_the_task(pg):
    def shown():
        return {name for name, w in pg._task_controls.items() if w.layout.display != "none"}

    assert shown() == set()  # copy has none of its own
    pg.task_dropdown.value = "repeat_copy"
    assert shown() == {"repeat_copy"}
    pg.repeats_slider.value = (2, 5)
    assert (pg.trainer.cfg.task.min_repeats, pg.trainer.cfg.task.max_repeats) == (2, 5)
    batch = pg.trainer.task.sample(64, torch.Generator().manual_seed(0), length=2)
    counts = set((batch.inputs[:, 2, -1] * 5).round().long().tolist())
    assert counts <= {2, 3, 4, 5} and len(counts) > 1
    pg.task_dropdown.value = "priority_sort"
    assert shown() == {"priority_sort"}
    pg.sort_outputs_slider.value = 2
    assert pg.trainer.task.outputs(pg.length_slider.value[1]) == 2
    pg.sort_outputs_slider.value = 0  # 0: all of them
    assert pg.trainer.cfg.task.sort_outputs is None
    pg.task_dropdown.value = "ngrams"  # needs lengths >= its order (6): the range moves
    assert pg.error == "" and pg.length_slider.value[0] == 6 and pg.trainer.task.name == "ngrams"
    pg.ngram_order_slider.value = 3
    assert shown() == {"ngrams"} and pg.trainer.task.cfg.ngram_order == 3
    pg.layers_slider.value = 2
    assert pg.trainer.model.controller.layers == 2
    pg.train(1)
    assert pg.trainer.step_count == 1
    pg.set_config(pg.trainer.cfg.replace(task=pg.trainer.cfg.task.replace(name="associative_recall", item_len=2, min_len=2)))
    assert shown() == {"associative_recall"} and pg.item_len_slider.value == 2 and pg.layers_slider.value == 2


def test_train_shows_its_target_and_stops_there_saying_so():
    from ntm_widgets.widgets.playground import target_text

    assert target_text(DEFAULT_CONFIG) == (
        "Train trains until < 0.1 wrong bits per sequence on lengths 1-8, "
        "then checks lengths 24, 28 too (at most 0.5 wrong bits per sequence, 1 at 28), then stops"
    )
    pg = Playground(config=LEARNS_AT_ONCE)
    pg.auto_replay = False
    assert pg.target.startswith("Train trains until < 1e+09 wrong bits per sequence on lengths 1-3")
    assert "length 6 too" in pg.target and pg.target.endswith("then stops")
    assert "Train trains until" in pg.target_html.value  # on screen, under the buttons
    assert pg.start() is True
    pg.wait(timeout=20)
    assert pg.trainer.step_count == 20 and not pg.running
    assert pg.status.startswith("reached the target, stopped"), pg.status
    assert pg.target == "target reached at step 20: Train trains on until Stop"
    pg.reset()  # a new model: the target again
    assert pg.target.endswith("then stops")


def test_keep_training_goes_past_the_target_until_stop():
    pg = Playground(config=LEARNS_AT_ONCE)
    pg.auto_replay = False
    pg.keep_checkbox.value = True
    assert pg.keep_training and "keep training is on: Train runs until Stop" in pg.target
    pg.train(40)  # past step 20, where the rule says "learned"
    assert pg.trainer.step_count == 40 and pg.trainer.converged
    assert "keep training is on" in pg.status and pg.target.startswith("target reached at step 20")
    pg.reset()
    assert pg.start() is True  # in the background too: still training well past the target
    wait_until(lambda: pg.trainer.step_count >= 35)
    assert pg.running and pg.trainer.converged
    pg.stop()
    assert pg.status.startswith("stopped")


def test_without_a_target_train_says_it_runs_until_stop(pg):
    assert pg.config.train.target_bits is None
    assert pg.target == "no target in the config: Train runs until Stop"
    assert "runs until Stop" in pg.target_html.value
    pg.start()
    wait_until(lambda: pg.trainer.step_count >= 30)  # no rule ends it
    assert pg.running
    pg.stop()
    assert pg.status.startswith("stopped")
