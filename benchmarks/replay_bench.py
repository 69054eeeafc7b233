"""Replay player speed in a real browser: frames per second and time to send a trace.

    python benchmarks/replay_bench.py                    # both: standalone page, JupyterLab
    python benchmarks/replay_bench.py --only html
    python benchmarks/replay_bench.py --steps 1000 --rows 512 --width 64 --seconds 4

Trace: ``synthetic_trace`` (T steps, N x M memory, one read and one write head; the
renderer's work depends only on the shapes). Debian's /usr/bin/chromium, headless,
via Playwright; nothing downloaded.

- ``html``: the standalone page (``write_replay_html``) from file://, speed "fastest"
  (1 ms timer). Counts ``data-frames`` (canvas redraws, one per animation frame at
  most) and ``data-step`` over ``--seconds``; ``draw_ms`` is the renderer's mean time
  per frame; ``load_s`` from navigation to the trace decoded.
- ``lab``: a throwaway JupyterLab (temporary HOME and Jupyter dirs, stopped by its
  process group). A notebook creates ``ReplayPlayer(trace, interval=1)``; the kernel
  records the time from creation to the browser reporting the bytes decoded
  (``load_seconds``, encoding and transfer included); then ipywidgets' Play drives it
  and frames are counted as above.

Numbers taken while other work shares the CPU are noisy; ``loadavg`` is reported.
Prints one JSON object per measurement; the last line holds them all.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def count_frames(page, root, seconds: float) -> dict:
    time.sleep(0.5)  # past the first frames
    f0, s0, t0 = int(root.get_attribute("data-frames")), int(root.get_attribute("data-step")), time.perf_counter()
    time.sleep(seconds)
    f1, s1, t1 = int(root.get_attribute("data-frames")), int(root.get_attribute("data-step")), time.perf_counter()
    return {
        "fps": round((f1 - f0) / (t1 - t0), 1),
        "steps_per_s": round((s1 - s0) / (t1 - t0), 1),
        "draw_ms": float(root.get_attribute("data-draw-ms")),
    }


def bench_html(pw, trace, seconds: float, out_dir: Path) -> dict:
    from ntm_widgets.replay_html import write_replay_html

    t0 = time.perf_counter()
    path = write_replay_html(trace, out_dir / "replay_bench.html")
    write_s = time.perf_counter() - t0
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
    try:
        page = browser.new_page(viewport={"width": 1100, "height": 950})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        t0 = time.perf_counter()
        page.goto(f"file://{path}", timeout=120_000)
        page.wait_for_selector(".ntm-replay[data-loaded='1']", timeout=120_000)
        load_s = time.perf_counter() - t0
        root = page.locator(".ntm-replay")
        page.select_option("#ntm-speed", "1")
        page.click("#ntm-play")
        r = count_frames(page, root, seconds)
        page.click("#ntm-play")
        page.screenshot(path=str(out_dir / "replay_bench_html.png"), full_page=True)
        return {
            "measure": "html",
            "file_bytes": os.path.getsize(path),
            "write_s": round(write_s, 3),
            "load_s": round(load_s, 3),
            "decode_ms": float(root.get_attribute("data-decode-ms")),
            **r,
            "js_errors": errors,
            "screenshot": str(out_dir / "replay_bench_html.png"),
        }
    finally:
        browser.close()


def _notebook(path: Path, steps: int, rows: int, width: int) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(c)
        for c in (
            f"import time\nfrom ntm_widgets.trace import synthetic_trace\nfrom ntm_widgets.widgets.replay import ReplayPlayer\ntrace = synthetic_trace({steps}, {rows}, {width})",
            "t0 = time.perf_counter()\nplayer = ReplayPlayer(trace, interval=1)\ncreate_s = time.perf_counter() - t0\nplayer",
            "import json\nprint('RESULT' + json.dumps({'load_seconds': player.load_seconds, 'create_s': create_s, 'bytes': len(player.trace_bytes), 'frontend': player.frontend_info}))",
        )
    ]
    nbformat.write(nb, str(path))


def bench_lab(pw, seconds: float, out_dir: Path, steps: int, rows: int, width: int) -> dict:
    base = Path(tempfile.mkdtemp(prefix="ntm-replay-bench-"))
    (base / "nb").mkdir()
    _notebook(base / "nb" / "bench.ipynb", steps, rows, width)
    app_settings = base / "app-settings"
    app_settings.mkdir()
    (app_settings / "overrides.json").write_text(
        json.dumps(
            {
                "@jupyterlab/apputils-extension:notification": {"fetchNews": "false"},
                "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
            }
        )
    )
    env = dict(
        os.environ,
        HOME=str(base / "home"),
        JUPYTER_CONFIG_DIR=str(base / "cfg"),
        JUPYTER_DATA_DIR=str(base / "data"),
        JUPYTER_RUNTIME_DIR=str(base / "rt"),
        JUPYTERLAB_SETTINGS_DIR=str(base / "us"),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "ws"),
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(base / "lab.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--ServerApp.root_dir={base / 'nb'}",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            "--LabApp.expose_app_in_browser=True",
            f"--LabApp.app_settings_dir={app_settings}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    browser = None
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if urllib.request.urlopen(url + "/api/status", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{url}/lab/tree/bench.ipynb?reset")
        idle = "() => { const w = window.jupyterapp && jupyterapp.shell.currentWidget; const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel; return !!k && k.status === 'idle'; }"
        page.wait_for_function(idle, timeout=120_000)
        page.evaluate("jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_selector(".ntm-replay[data-loaded='1']", timeout=180_000)
        page.wait_for_function(idle, timeout=60_000)
        time.sleep(1.0)  # the browser's frontend_info reaches the kernel
        # Run the last cell again: the kernel has now heard from the front end.
        page.evaluate(
            "() => { const nb = jupyterapp.shell.currentWidget.content; nb.activeCellIndex = 2; return jupyterapp.commands.execute('notebook:run-cell'); }"
        )
        page.wait_for_function("() => document.body.innerText.includes('RESULT{')", timeout=60_000)
        text = page.inner_text(".jp-Notebook")
        result = json.loads(text[text.index("RESULT{") + 6 :].splitlines()[0])
        ui = page.locator(".ntm-replay-ui").first
        root = ui.locator(".ntm-replay").first
        ui.scroll_into_view_if_needed()
        ui.locator(".ntm-replay-play button").first.click()
        r = count_frames(page, root, seconds)
        ui.screenshot(path=str(out_dir / "replay_bench_lab.png"))
        return {
            "measure": "lab",
            **result,
            "decode_ms": float(root.get_attribute("data-decode-ms")),
            **r,
            "widget_errors": "Error displaying widget" in text,
            "js_errors": errors,
            "screenshot": str(out_dir / "replay_bench_lab.png"),
        }
    finally:
        if browser is not None:
            browser.close()
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--rows", type=int, default=512)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--only", choices=("html", "lab"), default=None)
    ap.add_argument("--out", default="artifacts/bench")
    args = ap.parse_args()
    if not os.path.exists(CHROMIUM):
        sys.exit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    from ntm_widgets.trace import synthetic_trace

    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    trace = synthetic_trace(args.steps, args.rows, args.width)
    shape = {"steps": args.steps, "rows": args.rows, "width": args.width, "bytes": len(trace.to_bytes())}
    results = []
    with sync_playwright() as pw:
        if args.only in (None, "html"):
            results.append({**shape, **bench_html(pw, trace, args.seconds, out_dir), "loadavg": os.getloadavg()[0]})
            print(json.dumps(results[-1]), flush=True)
        if args.only in (None, "lab"):
            results.append(
                {
                    **shape,
                    **bench_lab(pw, args.seconds, out_dir, args.steps, args.rows, args.width),
                    "loadavg": os.getloadavg()[0],
                }
            )
            print(json.dumps(results[-1]), flush=True)
    print(json.dumps({"replay_bench": results}))


if __name__ == "__main__":
    main()
