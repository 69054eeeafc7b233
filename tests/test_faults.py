"""Fault injection on real processes: signals, kills, collisions, bad files, bad sizes.

Each test starts ``python -m ntm_widgets.cli`` as a user would and does to it what a
shell, an OOM killer or a second user does: SIGTERM, SIGKILL at a moment chosen from
what the run has written, a second Ctrl-C, a second trainer on the same folder.
benchmarks/faults.py is the longer version (50 random kill moments).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from cli_helpers import TINY, run_cli

from ntm_widgets.training import Trainer

CLI = [sys.executable, "-m", "ntm_widgets.cli"]


def start(*argv, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([*CLI, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)


def wait_for(predicate, timeout=60.0, proc=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return predicate()
        time.sleep(0.05)
    return False


def saved_step(run_dir: Path) -> int:
    return Trainer.load_run(run_dir).step_count


def test_sigterm_saves_and_exits_143_and_the_run_resumes(tmp_path):
    out = tmp_path / "run"
    proc = start("train", *TINY, "--time-limit", "60", "--out", str(out), "--json")
    # Training has begun once the start-of-run checkpoint exists; give it some steps.
    assert wait_for(lambda: (out / "checkpoint.pt").exists(), proc=proc)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143, stderr
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["stopped_by"] == "terminated" and result["steps"] > 0
    assert "SIGTERM" in stderr and "--resume" in stderr
    assert saved_step(out) == result["steps"]  # the state at the stop, not an older checkpoint
    code = subprocess.run(
        [*CLI, "train", "--resume", "--out", str(out), "--steps", "3", "--json"], capture_output=True, text=True
    )
    assert code.returncode == 0, code.stderr
    assert json.loads(code.stdout)["steps"] == result["steps"] + 3


def test_kill_9_loses_at_most_the_checkpoint_interval(tmp_path):
    out = tmp_path / "run"
    proc = start("train", *TINY, "--time-limit", "60", "--out", str(out), "--checkpoint-every", "0.3", "--json")
    # Kill just after a periodic checkpoint landed (the history copy is written last).
    assert wait_for(
        lambda: (out / "history.json").exists() and len(json.loads((out / "history.json").read_text() or "[]")) > 0, proc=proc
    )
    time.sleep(1.5)
    proc.kill()
    proc.communicate(timeout=30)
    trainer = Trainer.load_run(out)
    assert trainer.step_count > 0
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))
    # The copies agree with the checkpoint (load_run repairs a kill between the writes).
    assert len(json.loads((out / "history.json").read_text())) == trainer.step_count
    ev = subprocess.run([*CLI, "eval", str(out), "--lengths", "2,5", "--samples", "5", "--json"], capture_output=True, text=True)
    assert ev.returncode == 0, ev.stderr
    assert set(json.loads(ev.stdout)["lengths"]) == {"2", "5"}
    again = subprocess.run(
        [*CLI, "train", "--resume", "--out", str(out), "--steps", "2", "--json"], capture_output=True, text=True
    )
    assert again.returncode == 0 and json.loads(again.stdout)["steps"] == trainer.step_count + 2


def test_kill_9_right_after_start_leaves_a_loadable_folder(tmp_path):
    out = tmp_path / "run"
    proc = start("train", *TINY, "--time-limit", "60", "--out", str(out), "--json")
    assert wait_for(lambda: (out / "checkpoint.pt").exists(), proc=proc)
    proc.kill()
    proc.communicate(timeout=30)
    assert Trainer.load_run(out).step_count >= 0


def test_a_second_ctrl_c_skips_the_final_validation_but_saves(tmp_path):
    out = tmp_path / "run"
    # A final validation of 200,000 sequences takes many seconds: the second Ctrl-C lands in it.
    proc = start("train", *TINY, "--val-samples", "200000", "--time-limit", "60", "--out", str(out), "--json")
    assert wait_for(lambda: (out / "checkpoint.pt").exists(), proc=proc)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    start_wait = time.monotonic()
    stdout, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - start_wait < 10  # not the whole validation
    assert proc.returncode == 0, stderr
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["stopped_by"] == "stopped" and result["bits_per_seq"] is None
    assert saved_step(out) == result["steps"] > 0


# The command line with a fault injected: from step 5 every weight of the first tensor
# is NaN (what an exploding run ends with; with stable maths no flag setting reliably
# produces one in a few hundred steps).
POISONED_CLI = """
import sys, torch
from ntm_widgets.training import trainer
real = trainer.Trainer.train_step
def poisoned(self):
    record = real(self)
    if self.step_count >= 5:
        with torch.no_grad():
            next(self.model.parameters()).fill_(float("nan"))
    return record
trainer.Trainer.train_step = poisoned
from ntm_widgets.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_dead_model_is_a_failure_and_never_saved_over_a_good_one(tmp_path):
    out = tmp_path / "dead"
    argv = ["train", *TINY, "--steps", "60", "--checkpoint-every", "0.000001", "--out", str(out), "--json"]
    done = subprocess.run([sys.executable, "-c", POISONED_CLI, *argv], capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    assert "training failed" in done.stderr and "lower learning rate" in done.stderr and "last good checkpoint" in done.stderr
    result = json.loads(done.stdout)
    assert result["failure"] and "non-finite" in result["failure"] and result["nonfinite_steps"] > 40
    kept = Trainer.load_run(out)  # the last checkpoint before the weights went bad
    assert kept.step_count <= 5 and kept.failure() is None
    assert all(torch.isfinite(p).all() for p in kept.model.parameters())


def test_output_folder_is_checked_before_training(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    t0 = time.perf_counter()
    code, out, err = run_cli(capsys, "train", *TINY, "--steps", "100000", "--out", str(blocker / "run"))
    assert code == 2 and "is a file, not a folder" in err and str(blocker) in err
    assert time.perf_counter() - t0 < 5  # refused, not trained for 100,000 steps


def test_a_second_trainer_on_the_same_folder_is_refused_naming_the_process(tmp_path):
    out = tmp_path / "run"
    first = start("train", *TINY, "--time-limit", "60", "--out", str(out), "--json")
    assert wait_for(lambda: (out / "checkpoint.pt").exists(), proc=first)
    second = subprocess.run([*CLI, "train", *TINY, "--steps", "5", "--out", str(out)], capture_output=True, text=True)
    assert second.returncode == 2 and f"in use by process {first.pid}" in second.stderr
    resumed = subprocess.run([*CLI, "train", "--resume", "--steps", "5", "--out", str(out)], capture_output=True, text=True)
    assert resumed.returncode == 2 and "in use" in resumed.stderr
    assert first.poll() is None  # still training, undisturbed
    first.send_signal(signal.SIGINT)
    stdout, _ = first.communicate(timeout=60)
    assert first.returncode == 0
    result = json.loads(stdout)
    trainer = Trainer.load_run(out)  # the first run's own state, whole
    assert trainer.step_count == result["steps"] and trainer.cfg.task.max_len == 4


def test_a_fresh_train_in_a_used_folder_replaces_that_run_from_its_first_moment(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(capsys, "train", *TINY, "--steps", "2", "--out", str(out))[0] == 0
    proc = start("train", *TINY, "--seed", "7", "--time-limit", "60", "--out", str(out), "--json")
    # Killed right after it started: the folder is already the new run's (seed 7, step 0).
    assert wait_for(lambda: Trainer.load_run(out).cfg.train.seed == 7, proc=proc)
    proc.kill()
    proc.communicate(timeout=30)
    back = Trainer.load_run(out)
    assert back.cfg.train.seed == 7 and json.loads((out / "config.json").read_text())["train"]["seed"] == 7
