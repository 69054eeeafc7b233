"""What watching costs: training throughput headless vs through the Playground, and
how long a change of N or M takes to reach the first training step of the new model.

    python benchmarks/playground_overhead.py            # inside a real Jupyter kernel
    python benchmarks/playground_overhead.py --in-process
    %run benchmarks/playground_overhead.py --notebook      # in JupyterLab: widgets on screen

Default mode starts an IPython kernel (jupyter_client) and runs the measurement
there, so every curve and status update really goes out as a comm message on the
kernel's IOPub socket, as it does with the widget on screen (the kernel does the
same work whether or not a browser draws it). ``--in-process`` runs here instead,
with a comm that JSON-encodes each message (serialisation cost, no socket).

Both arms train ``DEFAULT_CONFIG`` for the same number of steps: headless is
``Trainer.run(steps=...)`` on the main thread; Playground is ``Playground().start()``
(background thread, curves and status redrawn every ``update_interval`` s) until the
same step count. Arms alternate ``--repeats`` times, so drifting load from other
processes hits both; medians are reported. Prints one JSON object (last line).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _install_json_comm():
    """Outside a kernel ipywidgets uses a comm that drops messages; encode them instead."""
    import comm
    from comm.base_comm import BaseComm

    class JsonComm(BaseComm):
        sent_bytes = 0
        messages = 0

        def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
            JsonComm.sent_bytes += len(json.dumps(data, default=str)) + sum(len(b) for b in buffers or ())
            JsonComm.messages += 1

    comm.create_comm = lambda *a, **k: JsonComm(*a, **k)
    return JsonComm


def _wait(pred, timeout=120.0, poll=0.01):
    end = time.perf_counter() + timeout
    while not pred():
        if time.perf_counter() > end:
            raise TimeoutError("benchmark condition not met")
        time.sleep(poll)


def measure(steps: int = 150, repeats: int = 8, rebuilds: int = 6, interval: float = 0.25, show: bool = False) -> dict:
    """Both arms, alternating; ``show`` displays each Playground (inside a notebook)."""
    from ntm_widgets.training import Trainer
    from ntm_widgets.widgets.playground import DEFAULT_CONFIG, Playground

    headless, playground, updates = [], [], []
    Trainer(DEFAULT_CONFIG).run(steps=20)  # warm-up: allocator, first-call costs
    for _ in range(repeats):
        tr = Trainer(DEFAULT_CONFIG)
        t0 = time.perf_counter()
        tr.run(steps=steps)
        headless.append(tr.sequences / (time.perf_counter() - t0))

        pg = Playground(config=DEFAULT_CONFIG)
        pg.auto_replay = False  # the replay is recorded when training stops: not training time
        pg.update_interval = interval
        if show:
            from IPython.display import display

            display(pg)
            time.sleep(1.0)  # let the browser build the views before timing
        v0 = pg.curves.version
        done = {}
        record = pg._record

        def record_and_stop(rec, pg=pg, record=record, done=done):
            # Stop from the training thread itself at the step count, so the main
            # thread can block in join() instead of polling (which steals the GIL).
            record(rec)
            if rec["step"] >= steps and not done:
                done["t"], done["seqs"] = time.perf_counter(), rec["sequences"]
                pg._stop_event.set()

        pg._record = record_and_stop
        t0 = time.perf_counter()
        pg.start()
        pg.wait()
        wall = done["t"] - t0
        playground.append(done["seqs"] / wall)
        updates.append((pg.curves.version - v0) / wall)
        if show:
            pg.close()  # one Playground on screen at a time

    # Change N (alternating 32 <-> 48) or M while training: time to the new model's first step.
    pg = Playground(config=DEFAULT_CONFIG)
    pg.auto_replay = False
    pg.start()
    _wait(lambda: pg.trainer.step_count >= 5)
    to_first_step, rebuild_only = [], []
    for i in range(rebuilds):
        if i % 2 == 0:
            slider, value = pg.n_slider, (48 if pg.n_slider.value == 32 else 32)
        else:
            slider, value = pg.m_slider, (12 if pg.m_slider.value == 8 else 8)
        old = pg.trainer
        t0 = time.perf_counter()
        slider.value = value  # what a slider release does, on the kernel's main thread
        _wait(lambda old=old: pg.trainer is not old and pg.trainer.step_count >= 1, poll=0.001)
        to_first_step.append(time.perf_counter() - t0)
        rebuild_only.append(pg.last_rebuild_seconds)
        _wait(lambda: pg.trainer.step_count >= 5)
    pg.stop(wait=True)

    # Cost of one curve + status push with a long history (10,000 steps).
    pg = Playground(config=DEFAULT_CONFIG)
    for i in range(10_000):
        pg._buf.append(i + 1, 0.5, 3.0)
    t0 = time.perf_counter()
    for _ in range(20):
        pg._push(force=True)
    push_ms = (time.perf_counter() - t0) / 20 * 1e3

    # Cost per step of recording into the history (no push: interval set long).
    pg.update_interval = 10.0
    pg._last_push = time.perf_counter()
    rec = {"step": 1, "loss": 0.5, "bits_per_seq": 3.0}
    t0 = time.perf_counter()
    for _ in range(20_000):
        pg._record(rec)
    record_us = (time.perf_counter() - t0) / 20_000 * 1e6

    h, p = statistics.median(headless), statistics.median(playground)
    steps_per_s = h / DEFAULT_CONFIG.train.batch_size
    ups = statistics.median(updates)
    # Work the Playground adds per second of training, from the two costs above: an
    # estimate that does not depend on the load other processes put on the machine.
    modelled = 100 * (record_us * 1e-6 * steps_per_s + push_ms * 1e-3 * ups)
    return {
        "config": "DEFAULT_CONFIG (copy, N=32, M=8, LSTM 64, lengths 1-8, batch 32, Adam 1e-2, 1 torch thread)",
        "steps_per_arm": steps,
        "repeats": repeats,
        "update_interval_s": interval,
        "headless_seq_per_s": round(h, 1),
        "playground_seq_per_s": round(p, 1),
        "overhead_pct": round(100 * (1 - p / h), 1),
        # Each Playground arm against the headless arm just before it: less drift.
        # Best of each arm: the run least disturbed by other processes.
        "headless_best_seq_per_s": round(max(headless), 1),
        "playground_best_seq_per_s": round(max(playground), 1),
        "best_overhead_pct": round(100 * (1 - max(playground) / max(headless)), 1),
        "paired_overhead_pct_median": round(statistics.median(100 * (1 - b / a) for a, b in zip(headless, playground)), 1),
        "headless_runs": [round(x, 1) for x in headless],
        "playground_runs": [round(x, 1) for x in playground],
        "curve_updates_per_s": round(ups, 2),
        "change_to_first_step_s": {
            "median": round(statistics.median(to_first_step), 4),
            "max": round(max(to_first_step), 4),
            "runs": [round(x, 4) for x in to_first_step],
        },
        "rebuild_s_median": round(statistics.median(rebuild_only), 4),
        "push_ms_10k_history": round(push_ms, 3),
        "record_us_per_step": round(record_us, 2),
        "modelled_overhead_pct": round(modelled, 2),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }


def _run_in_kernel(args) -> dict:
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", cwd=str(ROOT))
    try:
        code = (
            f"import sys, json; sys.path.insert(0, {str(ROOT)!r})\n"
            # Its own namespace: in a kernel __name__ is "__main__", which would run main().
            f"ns = {{'__name__': 'playground_overhead', '__file__': {str(Path(__file__).resolve())!r}}}\n"
            f"exec(compile(open(ns['__file__']).read(), ns['__file__'], 'exec'), ns)\n"
            f"print('RESULT ' + json.dumps(ns['measure']({args.steps}, {args.repeats}, {args.rebuilds}, {args.interval})))\n"
        )
        out = []

        def hook(msg):
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append("\n".join(msg["content"]["traceback"]))

        reply = kc.execute_interactive(code, timeout=1800, output_hook=hook)
        text = "".join(out)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"kernel run failed:\n{text}")
        line = [l for l in text.splitlines() if l.startswith("RESULT ")][-1]
        return json.loads(line[len("RESULT ") :])
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150, help="training steps per arm (>= 10)")
    ap.add_argument("--repeats", type=int, default=8, help="alternating headless/Playground pairs (>= 1)")
    ap.add_argument("--rebuilds", type=int, default=6, help="N/M changes timed (>= 1)")
    ap.add_argument("--interval", type=float, default=0.25, help="Playground update_interval in seconds (0.05 to 10)")
    ap.add_argument("--in-process", action="store_true", help="measure here, not in a Jupyter kernel")
    ap.add_argument(
        "--notebook",
        action="store_true",
        help="inside a notebook (%%run ... --notebook): display each Playground while it trains",
    )
    args = ap.parse_args(argv)
    if args.steps < 10 or args.repeats < 1 or args.rebuilds < 1 or not 0.05 <= args.interval <= 10:
        ap.error("--steps must be >= 10, --repeats and --rebuilds >= 1, --interval in [0.05, 10]")
    if args.notebook:
        result = measure(args.steps, args.repeats, args.rebuilds, args.interval, show=True)
        result["mode"] = "notebook, Playground displayed"
    elif args.in_process:
        enc = _install_json_comm()
        result = measure(args.steps, args.repeats, args.rebuilds, args.interval)
        result["mode"] = "in-process, JSON-encoding comm"
        result["comm_messages"] = enc.messages
    else:
        result = _run_in_kernel(args)
        result["mode"] = "ipykernel (messages sent on IOPub)"
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
