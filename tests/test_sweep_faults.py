"""Sweeps under faults: a killed sweep takes its workers (and the forkserver and the
resource tracker) with it; a file that is not a results table is refused and left
byte for byte; outputs that cannot be written and eval lengths that cannot fit in
memory are refused before any training; saves never share a temporary file; a model
whose weights went non-finite is an error, not a result."""

from __future__ import annotations

import inspect
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from ntm_widgets import limits
from ntm_widgets import sweep as sweep_module
from ntm_widgets.cli import main
from ntm_widgets.config import ConfigError, ModelConfig, RunConfig, TaskConfig, TrainConfig
from ntm_widgets.sweep import Sweep, backends, load_results, run_sweep, save_results

# Tiny trials; the grids sweep memory_size=16,32.
TINY = ["--set", "max_len=4", "--set", "controller_size=16", "--set", "batch_size=4", "--set", "val_samples=8"]
BASE = RunConfig(
    model=ModelConfig(memory_size=8, word_size=4, controller_size=16),
    task=TaskConfig(width=4, min_len=1, max_len=3),
    train=TrainConfig(batch_size=4, val_samples=8, seed=3),
)
HAS_PROC = os.path.isdir("/proc/self")
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0  # permissions do not stop root


# ----------------------------------------------------------------- processes
def _session(sid: int):
    """Live (not zombie) processes whose session id (field 6 of /proc/PID/stat) is ``sid``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            text = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        rest = text[text.rindex(")") + 2 :].split()
        if int(rest[3]) == sid and rest[0] not in ("Z", "X"):
            found.append(int(name))
    return found


def _wait_for(predicate, timeout: float, interval: float = 0.05):
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > end:
            return value
        time.sleep(interval)


def _start_local_sweep(tmp_path):
    """A local sweep of two trials that would train for 30 s each, in its own session."""
    cmd = [
        sys.executable,
        "-m",
        "ntm_widgets.cli",
        "sweep",
        "--grid",
        "memory_size=16,32",
        *TINY,
        "--time-limit",
        "30",
        "--backend",
        "local",
        "--workers",
        "2",
        "--json",
    ]
    env = {k: v for k, v in os.environ.items() if k != "NTM_WIDGETS_START_METHOD"}  # the default: forkserver
    err = open(tmp_path / "stderr.txt", "wb")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, start_new_session=True, env=env, cwd=tmp_path)
    err.close()
    # The sweep, the resource tracker, the forkserver and the two workers.
    running = _wait_for(lambda: len(_session(proc.pid)) >= 5, timeout=90, interval=0.1)
    if not running:
        _kill_session(proc)
        pytest.fail(
            f"the sweep's workers did not start: {_session(proc.pid)}; stderr: {(tmp_path / 'stderr.txt').read_text()[-2000:]}"
        )
    time.sleep(0.5)  # the workers are past their initializer, training
    return proc


def _reaches_eof(stream, timeout: float) -> bool:
    """True once every writer has closed the pipe (read returns nothing), within ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        ready, _, _ = select.select([stream], [], [], max(0.0, end - time.monotonic()))
        if not ready:
            return False
        if not os.read(stream.fileno(), 65536):
            return True


def _kill_session(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the session's group: only processes this test started
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


@pytest.mark.skipif(not HAS_PROC, reason="needs /proc to find the sweep's processes")
def test_sigkill_of_the_sweep_ends_its_workers_and_its_output(tmp_path):
    proc = _start_local_sweep(tmp_path)
    try:
        os.kill(proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        # The killed sweep is left unreaped, as by a caller that reads its output to
        # the end before waiting (subprocess.run(capture_output=True)): the workers
        # must not take the zombie for a live parent.
        assert _reaches_eof(proc.stdout, 10), "the sweep's stdout stayed open after kill -9"
        left = _wait_for(lambda: not _session(proc.pid), timeout=max(0.0, killed + 5 - time.monotonic()))
        assert left, f"processes of the killed sweep still running after 5 s: {_session(proc.pid)}"
        assert proc.wait(timeout=5) == -signal.SIGKILL
    finally:
        _kill_session(proc)


@pytest.mark.skipif(not HAS_PROC, reason="needs /proc to find the sweep's processes")
def test_sigterm_stops_the_sweep_and_its_workers(tmp_path):
    proc = _start_local_sweep(tmp_path)
    try:
        os.kill(proc.pid, signal.SIGTERM)
        killed = time.monotonic()
        # The workers stop at once; the sweep's own exit includes tearing torch down
        # (about a second here), then the forkserver and the resource tracker follow.
        assert proc.wait(timeout=10) == 143
        assert _reaches_eof(proc.stdout, 5), "the sweep's stdout stayed open after it exited"
        gone = _wait_for(lambda: not _session(proc.pid), timeout=max(0.0, killed + 10 - time.monotonic()))
        assert gone, f"processes of the terminated sweep still running after 10 s: {_session(proc.pid)}"
        assert "terminated (SIGTERM)" in (tmp_path / "stderr.txt").read_text()
    finally:
        _kill_session(proc)


@pytest.mark.skipif(not HAS_PROC, reason="needs /proc")
def test_an_unreaped_parent_counts_as_gone():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        assert _wait_for(lambda: backends._proc_stat(child.pid)[0] == "Z", timeout=10)
        os.kill(child.pid, 0)  # a zombie still takes signals: this check alone is not enough
        assert backends._process_gone(child.pid, None)
    finally:
        child.wait()
    me = backends._proc_stat(os.getpid())
    assert not backends._process_gone(os.getpid(), me[2])
    assert backends._process_gone(os.getpid(), me[2] + 1)  # same pid, another process


# ----------------------------------------------------------------- output files
def _cli(capsys, argv):
    code = main(["sweep", *argv])
    err = capsys.readouterr().err
    return code, err


@pytest.fixture
def no_training(monkeypatch):
    """Fails the test if any trial starts (the checks must come first)."""
    calls = []

    def forbidden(payload):
        calls.append(payload)
        raise AssertionError("a trial ran before the arguments were checked")

    monkeypatch.setattr(backends, "run_trial", forbidden)
    return calls


FOREIGN = {
    "other.csv": b"name,score\nalice,3\n",
    "quoted.csv": b'trial_id,config\n"unterminated,1\n',
    "binary.csv": b"\xff\xfe\x00\x01 not text",
    "other.json": b'{"name": "alice", "score": 3}\n',
    "list.json": b'[{"trial_id": "x"}]\n',
    "cut.json": b'{"format": "ntm-widgets-sweep", "version": 1, "trials": [{"trial_id": "ab',
}


@pytest.mark.parametrize("name", sorted(FOREIGN))
def test_a_file_that_is_not_a_results_table_is_refused_and_kept(tmp_path, capsys, no_training, name):
    path = tmp_path / name
    path.write_bytes(FOREIGN[name])
    code, err = _cli(capsys, ["--grid", "memory_size=16,32", *TINY, "--steps", "5", "--backend", "serial", "--out", str(path)])
    assert code == 2 and not no_training
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"ntm-widgets: --out {path} ") and "delete" in lines[0], err
    assert path.read_bytes() == FOREIGN[name]
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary file left either


@pytest.mark.skipif(ROOT, reason="root reads any file")
def test_an_unreadable_results_file_is_refused(tmp_path, capsys, no_training):
    path = tmp_path / "r.csv"
    path.write_bytes(b"trial_id,config\n")
    path.chmod(0)
    try:
        code, err = _cli(
            capsys, ["--grid", "memory_size=16,32", *TINY, "--steps", "5", "--backend", "serial", "--out", str(path)]
        )
    finally:
        path.chmod(0o644)
    assert code == 2 and f"--out {path} cannot be read" in err and len(err.strip().splitlines()) == 1


def test_an_empty_file_holds_no_results_yet(tmp_path):
    path = tmp_path / "r.csv"
    path.touch()
    assert load_results(path).empty
    df = run_sweep({"memory_size": [8, 12]}, BASE, steps=2, backend="serial", results_path=path, progress=False)
    assert len(load_results(path)) == 2 and df["error"].isna().all()


def test_load_results_refuses_a_foreign_table_with_the_file_named(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("name,score\nalice,3\n")
    with pytest.raises(ConfigError, match=r"f\.csv is not a results table .*no trial_id and config columns"):
        load_results(path)
    with pytest.raises(ConfigError, match=r"^results_path .*f\.csv is not a results table"):
        Sweep({"memory_size": [8]}, BASE, steps=1).run(backend="serial", results_path=path, progress=False)


def test_an_unwritable_out_is_refused_before_training(tmp_path, capsys, no_training):
    afile = tmp_path / "README.md"
    afile.write_text("a file, not a folder\n")
    bad = afile / "x.csv"
    code, err = _cli(capsys, ["--grid", "memory_size=16,32", *TINY, "--steps", "5", "--backend", "serial", "--out", str(bad)])
    assert code == 2 and not no_training
    assert err.strip() == f"ntm-widgets: --out {bad} cannot be written: {afile} is a file, not a folder"
    folder = tmp_path / "results.csv"
    folder.mkdir()
    code, err = _cli(capsys, ["--grid", "memory_size=16,32", *TINY, "--steps", "5", "--backend", "serial", "--out", str(folder)])
    assert code == 2 and err.startswith(f"ntm-widgets: --out {folder} cannot be written") and not no_training


@pytest.mark.skipif(ROOT, reason="root writes in read-only folders")
def test_a_read_only_out_folder_is_refused_before_training(tmp_path, capsys, no_training):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        code, err = _cli(
            capsys, ["--grid", "memory_size=16,32", *TINY, "--steps", "5", "--backend", "serial", "--out", str(folder / "r.csv")]
        )
    finally:
        folder.chmod(0o755)
    assert code == 2 and f"--out {folder / 'r.csv'} cannot be written" in err and not no_training


def test_an_unwritable_plot_is_refused_before_training(tmp_path, capsys, no_training):
    afile = tmp_path / "README.md"
    afile.write_text("a file\n")
    grid = [
        "--grid",
        "memory_size=16,32",
        "--grid",
        "controller_size=16,32",
        "--set",
        "max_len=4",
        "--steps",
        "5",
        "--backend",
        "serial",
    ]
    code, err = _cli(capsys, [*grid, "--plot", str(afile / "p.png")])
    assert (
        code == 2 and err.strip() == f"ntm-widgets: --plot {afile / 'p.png'} cannot be written: {afile} is a file, not a folder"
    )
    code, err = _cli(capsys, [*grid, "--plot", str(tmp_path / "p.xyz")])
    assert code == 2 and "--plot" in err and "unknown image format 'xyz'" in err
    assert not no_training


def test_saves_never_share_a_temporary_file(tmp_path):
    df = pd.DataFrame([{"trial_id": "a", "error": None, "config": "{}"}])
    path = tmp_path / "r.csv"
    # Another sweep in the middle of saving the same file, under the old fixed name:
    # this save must not write into (or rename away) the other's temporary file.
    other = tmp_path / "r.csv.tmp"
    other.write_text("another sweep's half-written table")
    save_results(df, path)
    assert other.read_text() == "another sweep's half-written table"
    assert load_results(path)["trial_id"].tolist() == ["a"]

    errors = []

    def writer(suffix, n):
        frame = pd.DataFrame([{"trial_id": f"{n}-{i}", "error": None, "config": "{}"} for i in range(50)])
        try:
            for _ in range(20):
                save_results(frame, tmp_path / f"shared{suffix}")
        except Exception as exc:  # collected: an exception in a thread does not fail the test
            errors.append(exc)

    for suffix in (".csv", ".json"):
        threads = [threading.Thread(target=writer, args=(suffix, n)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert len(load_results(tmp_path / f"shared{suffix}")) == 50  # one writer's whole table
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv", "r.csv.tmp", "shared.csv", "shared.json"]


# ----------------------------------------------------------------- eval lengths
def test_eval_lengths_that_cannot_fit_are_refused_before_training(tmp_path, capsys, no_training):
    out = tmp_path / "r.csv"
    code, err = _cli(
        capsys,
        [
            "--grid",
            "memory_size=16,32",
            *TINY,
            "--steps",
            "5",
            "--backend",
            "serial",
            "--eval-lengths",
            "20,1000000000",
            "--out",
            str(out),
        ],
    )
    assert code == 2 and not no_training and not out.exists()
    assert len(err.strip().splitlines()) == 1
    assert (
        err.startswith("ntm-widgets: --eval-lengths 1000000000 cannot be evaluated in memory")
        and "the largest length allowed is" in err
    )


def test_the_largest_length_allowed_is_the_boundary():
    sweep = Sweep({"controller_size": [16, 64]}, BASE, steps=1, eval_lengths=[5], samples=30)
    have = 64 * 2**20
    message = sweep.eval_memory_problem(available=1)
    cfgs = [t["config"] for t in sweep.trials]
    allowed = min(limits.largest_fitting(lambda n, c=c: limits.eval_bytes(c, n, 30) <= have) for c in cfgs)
    assert allowed > 5 and message.endswith("the largest length allowed is 0")
    fits = Sweep({"controller_size": [16, 64]}, BASE, steps=1, eval_lengths=[allowed], samples=30)
    over = Sweep({"controller_size": [16, 64]}, BASE, steps=1, eval_lengths=[3, allowed + 1], samples=30)
    assert fits.eval_memory_problem(available=have) is None
    assert over.eval_memory_problem(available=have).endswith(f"the largest length allowed is {allowed}")
    assert max(limits.eval_bytes(c, allowed, 30) for c in cfgs) <= have < max(limits.eval_bytes(c, allowed + 1, 30) for c in cfgs)


def test_unknown_memory_refuses_nothing(monkeypatch):
    monkeypatch.setattr(limits, "available_memory", lambda: None)
    assert Sweep({"memory_size": [8]}, BASE, steps=1, eval_lengths=[10**9]).eval_memory_problem() is None


def test_the_estimate_follows_the_evaluation():
    """The constants mirror evaluate_lengths and the tasks' sequences."""
    from ntm_widgets.tasks import make_task
    from ntm_widgets.training.metrics import evaluate_lengths

    assert inspect.signature(evaluate_lengths).parameters["batch_size"].default == limits.EVAL_BATCH
    import torch

    for name in ("copy", "repeat_copy", "associative_recall", "priority_sort"):
        cfg = TaskConfig(name=name, width=4, min_len=2, max_len=4, min_repeats=3, max_repeats=3)
        task = make_task(cfg)
        for length in (2, 5):
            batch = task.sample(2, torch.Generator().manual_seed(0), length=length)
            assert batch.inputs.shape[1] == limits.steps_for(cfg, length), name
            assert batch.inputs.shape[2] <= cfg.width + 2 and batch.targets.shape[2] <= cfg.width + 1


# ----------------------------------------------------------------- dead models
def test_a_model_with_non_finite_weights_is_an_error(monkeypatch):
    import torch

    from ntm_widgets.training import trainer as trainer_module

    real_run = trainer_module.Trainer.run

    def run_then_break(self, *args, **kwargs):
        summary = real_run(self, *args, **kwargs)
        if self.cfg.model.memory_size == 12:
            with torch.no_grad():
                next(self.model.parameters()).fill_(float("nan"))
        return summary

    monkeypatch.setattr(trainer_module.Trainer, "run", run_then_break)
    df = run_sweep({"memory_size": [8, 12]}, BASE, steps=2, eval_lengths=(5,), samples=4, backend="serial", progress=False)
    assert df["error"].isna().tolist() == [True, False]
    error = df["error"][1]
    assert "weights became non-finite" in error and "skipped as non-finite" in error and "lr now" in error and "clip now" in error
    assert pd.isna(df["gen_5_mean"][1]) and df["steps"][1] == 2  # trained, then not evaluated
    assert sweep_module.best_row(df.to_dict("records"))["memory_size"] == 8
