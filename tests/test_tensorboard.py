"""`train --tensorboard DIR`: event files TensorBoard reads, with what the run measured."""

import json

import pytest
from cli_helpers import TINY, run_cli

pytest.importorskip("tensorboard")


def _events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    runs = sorted({p.parent for p in folder.rglob("events.out.tfevents.*")})
    accs = [EventAccumulator(str(r), size_guidance={"scalars": 0, "images": 0}) for r in runs]
    for a in accs:
        a.Reload()
    return accs


def test_train_writes_scalars_hyperparameters_and_a_replay_frame(capsys, tmp_path):
    tb = tmp_path / "tb"
    code, out, err = run_cli(
        capsys,
        "train",
        *TINY,
        "--steps",
        "30",
        "--target-bits",
        "0.0",
        "--val-every",
        "10",
        "--out",
        str(tmp_path / "r"),
        "--tensorboard",
        str(tb),
        "--json",
    )
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["steps"] == 30
    accs = _events(tb)
    scalars = {tag: [e.step for e in a.Scalars(tag)] for a in accs for tag in a.Tags()["scalars"]}
    assert scalars["train/loss"] == [10, 20, 30] and scalars["train/bits_per_seq"] == [10, 20, 30]
    assert scalars["val/bits_per_seq"] == [10, 20, 30]  # a validation every 10 steps (--val-every)
    assert "hparam/val_bits_per_seq" in scalars  # the metrics beside the config
    images = [(tag, a.Images(tag)[0]) for a in accs for tag in a.Tags()["images"]]
    assert [tag for tag, _ in images] == ["replay/last_step"] and images[0][1].width > 100
    plugins = {name for a in accs for name in a.PluginTagToContent("hparams")} if accs else set()
    assert "_hparams_/session_start_info" in plugins


def test_a_missing_tensorboard_is_refused_before_training(capsys, tmp_path, monkeypatch):
    import ntm_widgets.tensorboard as tbmod

    monkeypatch.setattr(tbmod, "available", lambda: "TensorBoard logging needs the tensorboard package (test)")
    code, out, err = run_cli(
        capsys, "train", *TINY, "--steps", "3", "--out", str(tmp_path / "r"), "--tensorboard", str(tmp_path / "tb")
    )
    assert code == 2 and "--tensorboard" in err and "tensorboard package" in err
    assert not (tmp_path / "r" / "checkpoint.pt").exists()
