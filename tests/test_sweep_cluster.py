"""The Ray backend on a cluster, played on this machine: a head and a worker node started
as separate ``ray start`` processes (their own temporary folders and ports, token
authentication on), a sweep through ``ray://127.0.0.1:PORT`` from another process,
the worker node killed mid-sweep, then the sweep's own process killed and the sweep
resumed. Every Ray process the test started is stopped by its id at the end (never
``ray stop``, which would stop other people's Rays too).

Timings (start-up, sweep, kill-and-retry, resume) are printed and, with
``NTM_WIDGETS_CLUSTER_TIMINGS=FILE``, appended to FILE as one JSON line.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("ray.tune", reason="the ray extra is not installed (pip install 'ntm-widgets[ray]')")

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[1]
# Small trials that still take several seconds each on one core (3,000 steps, ~6 s),
# with a validation (a report and a checkpoint) every 100 steps: the worker node dies
# between two. With 600 steps (~1.3 s) the worker's trial had sometimes finished
# before the kill, and then nothing was retried.
AXES = ["--grid", "lr=0.003,0.01", "--seeds", "2"]
FIXED = [
    "--set",
    "memory_size=8",
    "--set",
    "word_size=4",
    "--set",
    "controller_size=16",
    "--set",
    "width=4",
    "--set",
    "max_len=3",
    "--set",
    "batch_size=8",
    "--set",
    "val_samples=32",
    "--set",
    "val_every=100",
    "--steps",
    "3000",
]
NUMBERS = ["trial_id", "lr", "seed", "steps", "sequences", "bits_per_seq", "converged"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int):
    """Every descendant of ``pid`` (Ray's workers start their own sessions, so a
    process group does not hold them; their parent does, while it lives)."""
    kids = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            kids.setdefault(int(stat[stat.rindex(")") + 2 :].split()[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for kid in kids.get(todo.pop(), []):
            found.append(kid)
            todo.append(kid)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Node:
    """One ``ray start --block`` process and everything it started."""

    def __init__(self, name: str, args, env, tmp: Path, short: Path):
        self.name = name
        # Ray's socket paths live under the temporary folder and must fit in 107 bytes.
        self.temp = short / name
        self.logfile = tmp / f"{name}.log"
        self.log = open(self.logfile, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ray.scripts.scripts", "start", "--block", "--temp-dir", str(self.temp), *args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        self.known = set()  # every pid seen under this node, for the final clean-up

    def started(self) -> bool:
        text = self.logfile.read_text()
        if self.proc.poll() is not None:
            raise AssertionError(f"ray start ({self.name}) exited with {self.proc.returncode}: {text[-2000:]}")
        return "Ray runtime started" in text

    def pids(self):
        found = [self.proc.pid, *children(self.proc.pid)]
        self.known.update(found)
        return found

    def kill(self) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=30)


def wait_for(what: str, check, timeout: float, step: float = 0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def trial_running_on(node: Node) -> bool:
    # A Tune trial's process: "ray::ImplicitFunc.train" (a function trainable).
    return any(cmdline(pid).startswith("ray::ImplicitFunc") for pid in node.pids())


def trial_dirs(storage: Path):
    return sorted(p.name for p in storage.glob("*/_trainable_*"))


def failures(storage: Path) -> int:
    """The most times Tune has restarted one trial, by its latest experiment state."""
    states = sorted(storage.glob("*/experiment_state-*.json"), key=lambda p: p.stat().st_mtime)
    try:
        data = json.loads(states[-1].read_text()) if states else {"trial_data": []}
    except (OSError, ValueError):  # being written
        return 0
    return max([json.loads(runtime)["num_failures"] for _trial, runtime in data["trial_data"]], default=0)


def rows(path: Path) -> int:
    try:
        return len(pd.read_csv(path)) if path.exists() else 0
    except (pd.errors.EmptyDataError, OSError):
        return 0


@pytest.fixture
def short_tmp():
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="ntm-ray-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_sweep_on_a_two_node_cluster_survives_a_node_and_a_driver_dying(tmp_path, short_tmp):
    timings = {}
    token = tmp_path / "token"
    token.write_text(secrets.token_hex(32))
    home = tmp_path / "home"  # no ~/.ray/auth_token: the token must come from the flag
    home.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token),
        "RAY_USAGE_STATS_ENABLED": "0",
        # A busy machine may take longer than Ray's 30 s to start a client's server.
        "RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S": "120",
        # Tune's driver (on the head) saves the experiment's state every second, which
        # is where this test reads that a trial was restarted.
        "TUNE_GLOBAL_CHECKPOINT_S": "1",
        # Notice a dead node within seconds (defaults: ~15 s).
        "RAY_health_check_period_ms": "500",
        "RAY_health_check_failure_threshold": "4",
    }
    gcs, client = free_port(), free_port()
    common = ["--num-cpus", "1", "--disable-usage-stats", "--node-ip-address", "127.0.0.1"]

    def ports():
        return [
            "--node-manager-port",
            str(free_port()),
            "--object-manager-port",
            str(free_port()),
            "--dashboard-agent-listen-port",
            str(free_port()),
            "--dashboard-agent-grpc-port",
            str(free_port()),
            "--runtime-env-agent-port",
            str(free_port()),
            "--metrics-export-port",
            str(free_port()),
        ]

    nodes = []
    driver = None
    out = tmp_path / "sweep.csv"
    address = f"ray://127.0.0.1:{client}"
    driver_env = {**env, "HOME": str(home), "RAY_CLIENT_RECONNECT_GRACE_PERIOD": "1"}
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH"):
        driver_env.pop(name)  # the sweep finds the token through --ray-token-file only
    sweep = [sys.executable, "-m", "ntm_widgets.cli", "sweep", *AXES, *FIXED, "--backend", "ray", "--workers", "2"]
    sweep += ["--ray-address", address, "--out", str(out), "--json"]
    try:
        t0 = time.monotonic()
        head_args = ["--head", "--port", str(gcs), "--ray-client-server-port", str(client), "--include-dashboard", "false"]
        head = Node("head", [*head_args, "--dashboard-port", str(free_port()), *common, *ports()], env, tmp_path, short_tmp)
        nodes.append(head)
        wait_for("the head", head.started, 120)
        worker = Node("worker", ["--address", f"127.0.0.1:{gcs}", *common, *ports()], env, tmp_path, short_tmp)
        nodes.append(worker)
        wait_for("the worker node", worker.started, 120)
        timings["startup_s"] = time.monotonic() - t0

        # Without the token: a message saying so, exit 2, within seconds (not Ray's 30 s timeout).
        t = time.monotonic()
        no_token = subprocess.run(sweep, env=driver_env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        timings["refused_without_token_s"] = time.monotonic() - t
        assert no_token.returncode == 2, no_token.stderr
        assert "requires an authentication token and none was found" in no_token.stderr
        assert "--ray-token-file" in no_token.stderr and "Traceback" not in no_token.stderr
        assert not out.exists()

        # The sweep, with the worker node killed while one of its trials runs there.
        t = time.monotonic()
        driver_log = open(tmp_path / "driver.log", "w")
        driver = subprocess.Popen(
            [*sweep, "--ray-token-file", str(token)], env=driver_env, cwd=tmp_path, stdout=driver_log, stderr=subprocess.STDOUT
        )
        wait_for("a trial on the worker node", lambda: trial_running_on(worker), 240, step=0.1)
        storage = tmp_path / "sweep_runs" / "tune"
        # Let it report (and checkpoint) at least once, then the node dies.
        wait_for("a checkpoint", lambda: list(storage.glob("*/_trainable_*/checkpoint_*")), 60)
        assert trial_running_on(worker), "the worker node's trial ended before the kill: make the trials longer"
        t_kill = time.monotonic()
        worker.kill()
        # Tune notices the dead node and starts its trial again on the head.
        wait_for("the dead node's trial retried", lambda: failures(storage) >= 1, 120)
        timings["kill_and_retry_s"] = time.monotonic() - t_kill
        # Then the sweep's own process dies too, once a trial is in the table.
        wait_for("a finished trial", lambda: rows(out) >= 1, 180)
        done_before = rows(out)
        before = trial_dirs(storage)
        driver.kill()
        driver.wait(timeout=30)
        timings["sweep_until_driver_killed_s"] = time.monotonic() - t
        assert 1 <= done_before < 4, "the driver should die mid-sweep"

        # Resume: the same command; Tune restores the experiment (the same trial folders).
        time.sleep(3)  # the head ends the dead driver's job after its 1 s grace period
        t = time.monotonic()
        again = subprocess.run(
            [*sweep, "--ray-token-file", str(token)], env=driver_env, cwd=tmp_path, capture_output=True, text=True, timeout=600
        )
        timings["resume_s"] = time.monotonic() - t
        assert again.returncode == 0, again.stderr[-3000:]
        summary = json.loads(again.stdout.strip().splitlines()[-1])
        assert summary["trials"] == 4 and summary["errors"] == 0
        assert summary["skipped"] == done_before and summary["ran"] == 4 - done_before
        # Resumed by Tuner.restore, not started afresh: the trials keep the experiment's
        # ids (a new experiment draws a new prefix) and the folders they had.
        after = trial_dirs(storage)
        assert set(before) <= set(after) and len({name.split("_")[2] for name in after}) == 1
    except BaseException:
        for node in nodes:
            print(node.name, "processes:", [cmdline(pid)[:60] for pid in node.pids()])
        if (tmp_path / "driver.log").exists():
            print("driver log:", (tmp_path / "driver.log").read_text()[-4000:])
        import shutil

        shutil.copytree(short_tmp, tmp_path / "ray-logs", ignore=shutil.ignore_patterns("sockets", "*.sock"), dirs_exist_ok=True)
        raise
    finally:
        if driver is not None and driver.poll() is None:
            driver.kill()
            driver.wait(timeout=30)
        for node in reversed(nodes):
            node.pids()
            node.kill()
        for node in nodes:
            for pid in node.known:  # workers whose raylet died before we saw them go
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        print("cluster timings:", json.dumps({k: round(v, 1) for k, v in timings.items()}))
        if os.environ.get("NTM_WIDGETS_CLUSTER_TIMINGS") and timings:
            with open(os.environ["NTM_WIDGETS_CLUSTER_TIMINGS"], "a") as fh:
                fh.write(json.dumps({"test": "cluster", **{k: round(v, 2) for k, v in timings.items()}}) + "\n")

    # The same trials on the local process pool: the same numbers.
    table = pd.read_csv(out).sort_values("trial_id").reset_index(drop=True)
    local = subprocess.run(
        [
            sys.executable,
            "-m",
            "ntm_widgets.cli",
            "sweep",
            *AXES,
            *FIXED,
            "--workers",
            "2",
            "--out",
            str(tmp_path / "local.csv"),
            "--json",
        ],
        env=driver_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert local.returncode == 0, local.stderr[-3000:]
    pool = pd.read_csv(tmp_path / "local.csv").sort_values("trial_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(table[NUMBERS], pool[NUMBERS])
    # Every row's run folder is on this machine and loads (the worker node's trials too).
    for run_dir in table["run_dir"]:
        assert sorted(p.name for p in Path(run_dir).iterdir()) == ["checkpoint.pt", "config.json", "history.json"]
