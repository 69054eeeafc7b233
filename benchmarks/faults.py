"""Kill trainings (and sweeps) at random moments; report what survived.

    python benchmarks/faults.py --kills 50 --sweep-kills 10 --out benchmarks/results/faults-DATE.jsonl

Each training is ``ntm-widgets train`` at the paper's copy configuration (128 x 20,
LSTM 100, lengths 1-20) with ``--checkpoint-every`` INTERVAL, killed with SIGKILL at a
moment drawn uniformly from [0, --max-wait] seconds after the process started (so some
kills land while Python is still importing, before any run folder exists). Then:

- ``folder``: whether the run folder exists; ``loaded``: ``Trainer.load_run`` works;
  ``evaluated``: a 10-sequence evaluation at length 20 gives finite numbers;
  ``resumed``: one more training step from the loaded state works;
- ``lost_seconds``: wall seconds between the checkpoint's last write and the kill
  (the training the kill threw away; at most the interval plus one step and a save);
- ``left``: processes of the run's session still alive 5 s after the kill.

Sweep kills: ``ntm-widgets sweep`` with 2 local workers, SIGKILL at a random moment
once its workers run; ``left`` counts the processes of its session after 5 s.
One JSON line per kill, then a summary line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = [sys.executable, "-m", "ntm_widgets.cli"]


def session_processes(sid: int):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[3]) == sid and fields[0] not in ("Z", "X"):
            found.append(int(entry))
    return found


def left_after(proc, wait=5.0):
    time.sleep(wait)
    left = session_processes(proc.pid)
    proc.wait()
    return len(left)


def kill_training(i: int, root: Path, interval: float, max_wait: float, rng: random.Random) -> dict:
    import torch

    from ntm_widgets.training import CheckpointError, Trainer

    out = root / f"run{i}"
    delay = rng.uniform(0.0, max_wait)
    proc = subprocess.Popen(
        [*CLI, "train", "--time-limit", "600", "--checkpoint-every", str(interval), "--out", str(out), "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    killed_at = time.time()
    row = {"kind": "train", "i": i, "kill_after_s": round(delay, 3), "left": left_after(proc)}
    ck = out / "checkpoint.pt"
    row["folder"] = out.exists()
    row["loaded"] = row["evaluated"] = row["resumed"] = False
    row["step"] = None
    row["lost_seconds"] = None
    if ck.exists():
        row["lost_seconds"] = round(killed_at - ck.stat().st_mtime, 3)
        try:
            trainer = Trainer.load_run(out)
            row["loaded"] = True
            row["step"] = trainer.step_count
            ev = trainer.evaluate([20], samples=10)
            row["evaluated"] = all(torch.isfinite(torch.tensor(v["mean"])) for v in ev.values())
            trainer.run(steps=1)
            row["resumed"] = trainer.step_count == row["step"] + 1
        except CheckpointError as exc:
            row["error"] = str(exc)
    row["tmp_left"] = len([p for p in out.glob("*") if p.name.endswith(".tmp")]) if out.exists() else 0
    return row


def kill_sweep(i: int, root: Path, rng: random.Random) -> dict:
    out = root / f"sweep{i}.csv"
    proc = subprocess.Popen(
        [
            *CLI,
            "sweep",
            "--grid",
            "memory_size=32,64",
            "--set",
            "max_len=8",
            "--time-limit",
            "60",
            "--backend",
            "local",
            "--workers",
            "2",
            "--out",
            str(out),
            "--json",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    end = time.monotonic() + 60
    while time.monotonic() < end and len(session_processes(proc.pid)) < 4:
        time.sleep(0.1)
    delay = rng.uniform(0.0, 5.0)
    time.sleep(delay)
    before = len(session_processes(proc.pid))
    proc.send_signal(signal.SIGKILL)
    return {
        "kind": "sweep",
        "i": i,
        "kill_after_workers_s": round(delay, 3),
        "processes_before": before,
        "left": left_after(proc),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=50)
    p.add_argument("--sweep-kills", type=int, default=10)
    p.add_argument("--interval", type=float, default=2.0, help="--checkpoint-every of the trainings (seconds)")
    p.add_argument("--max-wait", type=float, default=15.0, help="kill moments are uniform in [0, this] seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="JSON lines file (default: stdout only)")
    args = p.parse_args()
    rng = random.Random(args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i in range(args.kills):
            rows.append(kill_training(i, root, args.interval, args.max_wait, rng))
            print(json.dumps(rows[-1]), flush=True)
        for i in range(args.sweep_kills):
            rows.append(kill_sweep(i, root, rng))
            print(json.dumps(rows[-1]), flush=True)
    train = [r for r in rows if r["kind"] == "train"]
    with_folder = [r for r in train if r["folder"]]
    # A kill before the first step finished (Python imports, or the C step compiling
    # after its source changed) loses no training: counted apart from the rest.
    lost = [r["lost_seconds"] for r in with_folder if r["lost_seconds"] is not None and r["step"]]
    summary = {
        "kind": "summary",
        "interval": args.interval,
        "kills": len(train),
        "folders": len(with_folder),
        "before_first_step": sum(1 for r in with_folder if not r["step"]),
        "loaded": sum(r["loaded"] for r in train),
        "evaluated": sum(r["evaluated"] for r in train),
        "resumed": sum(r["resumed"] for r in train),
        "no_folder_latest_kill_s": max([r["kill_after_s"] for r in train if not r["folder"]], default=None),
        "lost_seconds_median": statistics.median(lost) if lost else None,
        "lost_seconds_max": max(lost, default=None),
        "tmp_left": sum(r["tmp_left"] for r in train),
        "train_processes_left": sum(r["left"] for r in train),
        "sweep_kills": args.sweep_kills,
        "sweep_processes_left": sum(r["left"] for r in rows if r["kind"] == "sweep"),
    }
    print(json.dumps(summary), flush=True)
    if args.out:
        with open(args.out, "a") as fh:
            for r in [*rows, summary]:
                fh.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
