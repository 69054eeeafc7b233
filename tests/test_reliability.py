"""In-process reliability checks: exact resume, bad files, size limits, resume flags, locks.

The process-level versions (signals, kills) are in test_faults.py.
"""

import json
import os

import pytest
import torch
from cli_helpers import TINY, run_cli

from ntm_widgets import limits
from ntm_widgets.config import ModelConfig, RunConfig, TaskConfig, TrainConfig
from ntm_widgets.files import LockedError, RunLock, atomic_write
from ntm_widgets.training import CheckpointError, Trainer, load_checkpoint


def small(**train):
    return RunConfig(
        model=ModelConfig(memory_size=8, word_size=4, controller_size=16),
        task=TaskConfig(width=3, min_len=1, max_len=3),
        train=TrainConfig(batch_size=8, seed=3, val_samples=20, lr=1e-2, val_every=25, **train),
    )


# ------------------------------------------------------------------ exact resume
def _same_weights(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))


def test_stop_anywhere_and_resume_converges_at_the_same_step_with_the_same_weights(tmp_path):
    # Validation on its schedule, curriculum, target bits: a straight run converges at S.
    cfg = small(target_bits=0.3, curriculum=True, restart_after=None)
    straight = Trainer(cfg)
    summary = straight.run(steps=3000)
    assert summary["reason"] == "converged"
    end = summary["steps"]
    val_steps = [h["step"] for h in straight.history if "val_bits_per_seq" in h]
    # Stop points around validations (where a restarted schedule would show), and the middle.
    for k in sorted({val_steps[0], val_steps[len(val_steps) // 2] + 1, end - 1}):
        part = Trainer(cfg)
        part.run(steps=k)
        part.save(tmp_path / "ck.pt")
        back = Trainer.load(tmp_path / "ck.pt")
        resumed = back.run(steps=3000)
        assert (resumed["reason"], resumed["steps"]) == ("converged", end), k
        assert _same_weights(straight, back), k


def test_stop_anywhere_with_restarts_and_selection_resumes_exactly(tmp_path):
    # A loose target and an unreachable selection rule: early selection, give-ups, restarts.
    cfg = small(
        target_bits=3.0,
        curriculum=True,
        restart_after=20,
        restart_bits=2.0,
        select_lengths=(5,),
        select_bits=0.01,
        select_every=20,
        select_steps=60,
        select_samples=20,
        select_confirm=0,
        polish_lr=3e-3,
    )
    total = 300
    straight = Trainer(cfg)
    straight.run(steps=total)
    events = [h["step"] for h in straight.history if h.get("event") == "restart"]
    selects = [h["step"] for h in straight.history if "select_bits" in h]
    assert events and selects, "the recipe should restart and select within the budget"
    assert len(events) >= 2 and selects[0] < events[1]  # a restart from fit, then one from selection
    for k in sorted({events[0], selects[0] + 1, events[1], events[1] + 1}):
        part = Trainer(cfg)
        part.run(steps=k)
        shown = part.use_best()  # what `train` does when stopped during selection
        part.save(tmp_path / "ck.pt")
        back = Trainer.load(tmp_path / "ck.pt")
        if shown:  # the saved model is the selected candidate, for eval and replay
            assert all(torch.equal(back.model.state_dict()[n], v) for n, v in part.best["model"].items())
        back.run(steps=total - k)
        assert back.restarts == straight.restarts and back.stage == straight.stage, k
        assert [h.get("select_bits") for h in back.history] == [h.get("select_bits") for h in straight.history], k
        assert _same_weights(straight, back), k


# ------------------------------------------------------------- periodic checkpoints
def test_run_writes_a_checkpoint_at_start_and_then_every_interval(tmp_path):
    out = tmp_path / "run"
    trainer = Trainer(small())
    seen = []
    trainer.run(
        steps=40,
        checkpoint=out,
        checkpoint_every=1e-9,
        callbacks=[lambda r: seen.append(load_checkpoint(out / "checkpoint.pt")["step"]) if r["step"] in (5, 20) else None],
    )
    # The callback runs before that step's save: it sees the previous step's checkpoint.
    assert seen == [4, 19]
    assert Trainer.load_run(out).step_count == 40
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_a_non_finite_model_is_never_checkpointed_over_a_good_one(tmp_path):
    out = tmp_path / "run"
    trainer = Trainer(small())
    trainer.run(steps=3, checkpoint=out)
    with torch.no_grad():
        next(trainer.model.parameters()).fill_(float("nan"))
    assert "non-finite" in trainer.failure()
    assert trainer.checkpoint(out) is False
    assert Trainer.load_run(out).failure() is None


def test_failure_names_a_run_of_skipped_steps():
    trainer = Trainer(small())
    trainer.history = [{"step": i, "event": "nonfinite"} for i in range(1, 61)]
    assert "last 50 steps" in trainer.failure()
    trainer.history[-1]["event"] = "step"
    assert trainer.failure() is None


# ---------------------------------------------------------------- bad checkpoints
def _corrupt(tmp_path, raw=None, data=None):
    """A run folder whose checkpoint is the good one's bytes or dict, changed."""
    good = tmp_path / "good"
    Trainer(small()).save_run(good)
    folder = tmp_path / "bad"
    folder.mkdir()
    if raw is not None:
        (folder / "checkpoint.pt").write_bytes(raw((good / "checkpoint.pt").read_bytes()))
    else:
        loaded = load_checkpoint(good / "checkpoint.pt")
        data(loaded)
        torch.save(loaded, folder / "checkpoint.pt")
    return folder


BAD = {  # kind: (change of the bytes, change of the dict, words of the message)
    "empty": (lambda raw: b"", None, "empty (0 bytes)"),
    "truncated": (lambda raw: raw[: len(raw) // 2], None, "not a safe, complete"),
    "missing key": (None, lambda d: d.pop("optimizer"), "no 'optimizer' entry"),
    "wrong shape": (None, lambda d: d["model"].__setitem__("out.weight", torch.zeros(2, 2)), "out.weight is (2, 2)"),
    "bad config": (None, lambda d: d["config"]["model"].__setitem__("memory_size", -3), "invalid config: memory_size"),
    "absurd config": (
        None,
        lambda d: d["config"]["model"].update(memory_size=4096, word_size=1024, num_read_heads=16, num_write_heads=16),
        "does not match its config",
    ),
    "bad value": (None, lambda d: d.__setitem__("step", "x"), "is corrupt"),
}


@pytest.mark.parametrize("kind", list(BAD))
@pytest.mark.parametrize("verb", ["eval", "resume"])
def test_every_bad_checkpoint_exits_2_naming_the_file(tmp_path, capsys, kind, verb):
    raw, data, words = BAD[kind]
    folder = _corrupt(tmp_path, raw, data)
    argv = (
        ["eval", str(folder), "--lengths", "2"] if verb == "eval" else ["train", "--resume", "--out", str(folder), "--steps", "1"]
    )
    code, out, err = run_cli(capsys, *argv)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(folder / "checkpoint.pt") in lines[0] and words in lines[0], lines


def test_a_checkpoint_bigger_than_memory_is_refused_before_allocating(tmp_path, monkeypatch):
    Trainer(small()).save_run(tmp_path / "run")
    monkeypatch.setattr(limits, "available_memory", lambda: 1000)  # bytes
    with pytest.raises(CheckpointError, match="would need about .* of memory"):
        Trainer.load_run(tmp_path / "run")
    assert Trainer.load_run(tmp_path / "run", force=True).step_count == 0


def test_load_run_repairs_copies_left_behind_by_a_kill_between_writes(tmp_path):
    trainer = Trainer(small())
    trainer.run(steps=3)
    trainer.save_run(tmp_path / "run")
    trainer.run(steps=2)
    trainer.save(tmp_path / "run" / "checkpoint.pt")  # killed before the copies were written
    Trainer.load_run(tmp_path / "run")
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())) == 5


# ------------------------------------------------------------------- resume flags
def test_resume_refuses_model_flags_and_applies_and_records_training_flags(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(capsys, "train", *TINY, "--steps", "4", "--out", str(out))[0] == 0
    code, _, err = run_cli(capsys, "train", "--resume", "--out", str(out), "--memory-size", "16", "--steps", "2")
    assert code == 2 and "--memory-size 16 would change the run" in err and "it has 8" in err
    code, _, err = run_cli(capsys, "train", "--resume", "--out", str(out), "--width", "5", "--steps", "2")
    assert code == 2 and "--width" in err
    code, out_text, err = run_cli(capsys, "train", "--resume", "--out", str(out), "--lr", "0.002", "--steps", "3", "--json")
    assert code == 0, err
    back = Trainer.load_run(out)
    assert back.step_count == 7 and back.cfg.train.lr == 0.002
    assert back.optimizer.param_groups[0]["lr"] == 0.002
    assert back.resumes == [{"step": 4, "changes": {"lr": 0.002, "steps": 7, "time_limit": None}}]
    assert json.loads((out / "config.json").read_text())["train"]["lr"] == 0.002


def test_resume_without_budget_flags_finishes_the_saved_budget_and_a_new_time_limit_replaces_it(tmp_path, capsys):
    out = tmp_path / "run"
    trainer = Trainer(RunConfig.from_dict({**small().to_dict(), "train": {**small().to_dict()["train"], "steps": 30}}))
    trainer.run(steps=12)  # as if stopped by Ctrl-C at step 12 of 30
    trainer.save_run(out)
    code, text, err = run_cli(capsys, "train", "--resume", "--out", str(out), "--json")
    assert code == 0 and json.loads(text)["steps"] == 30, err
    # A time limit given now is this resume's budget: the saved --steps no longer stops it.
    code, text, err = run_cli(capsys, "train", "--resume", "--out", str(out), "--time-limit", "0.5", "--json")
    result = json.loads(text)
    assert code == 0 and result["stopped_by"] == "time_limit" and result["steps"] > 30, err


# ----------------------------------------------------------------- sizes, devices
@pytest.mark.parametrize(
    "argv,words",
    [
        (["eval", "{run}", "--lengths", "4,1000000000"], "--lengths 1000000000: evaluating 100 sequences"),
        # Too long to watch (or, on a small machine, to hold): refused before recording.
        (["replay", "{run}", "--length", "1100000", "--out", "{tmp}/r.html"], "--length 1100000: "),
        (["train", "--lr", "inf", "--steps", "1"], "--lr: must be a finite number, got inf"),
        (["train", "--memory-size", "2", "--max-len", "1", "--steps", "1"], "--shift-range must be <= (--memory-size - 1) / 2"),
        (["train", *TINY, "--steps", "1", "--device", "bogus", "--out", "{tmp}/d"], "--device must be cpu, cuda or cuda:N"),
        (["replay", "{run}", "--out", "{tmp}"], "is a folder; give a file name"),
        (
            [
                "train",
                *TINY,
                "--batch-size",
                "65536",
                "--memory-size",
                "4096",
                "--word-size",
                "1024",
                "--steps",
                "1",
                "--out",
                "{tmp}/big",
            ],
            "training this configuration",
        ),
    ],
)
def test_sizes_devices_and_paths_are_checked_with_one_line(tmp_path, capsys, argv, words):
    run = tmp_path / "run"
    Trainer(small()).save_run(run)
    argv = [a.format(run=run, tmp=tmp_path) for a in argv]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], lines
    assert not (tmp_path / "big").joinpath("checkpoint.pt").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_cuda_is_a_usage_error(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", *TINY, "--steps", "1", "--device", "cuda", "--out", str(tmp_path / "c"))
    assert code == 2 and "no CUDA device" in err


def test_the_length_limit_is_the_largest_that_fits(monkeypatch):
    cfg = small()
    have = limits.eval_bytes(cfg, 500, 100)
    top = limits.largest_fitting(lambda n: limits.eval_bytes(cfg, n, 100) <= have)
    assert top >= 500 and limits.eval_bytes(cfg, top + 1, 100) > have


# ------------------------------------------------------------------ files, locks
def test_atomic_write_leaves_the_old_file_and_no_temporary_on_failure(tmp_path):
    target = tmp_path / "f.json"
    atomic_write(target, "old")

    def broken(tmp):
        open(tmp, "w").write("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, broken)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["f.json"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_resume_removes_temporaries_a_killed_save_left(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(capsys, "train", *TINY, "--steps", "2", "--out", str(out))[0] == 0
    (out / ".checkpoint.pt.k1ll3d.tmp").write_bytes(b"half")
    assert run_cli(capsys, "train", "--resume", "--steps", "1", "--out", str(out))[0] == 0
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))


def test_run_lock_is_exclusive_and_names_its_owner(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(LockedError, match=f"in use by process {os.getpid()}"):
            RunLock(tmp_path).acquire()
    with RunLock(tmp_path):  # released on exit
        pass
