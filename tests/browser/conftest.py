"""Fixtures for real-browser tests: a throwaway JupyterLab server and Debian's chromium.

Recipe: the project's browser-testing notes, summarised here. The server runs on
a free port of 127.0.0.1 with no token, over a temporary copy of notebooks/, with HOME
and every Jupyter directory pointed into a temporary folder, so nothing touches the
user's set-up. Kernels inherit ``CI=1``: notebooks run in their quick mode. The server
and its kernels share a process group that is killed at the end, pass or fail.

Playwright drives /usr/bin/chromium (never a downloaded browser); the tests skip with a
reason when it is missing. Screenshots go to artifacts/browser/ (ignored by git).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the Jupyter server exited with code {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the Jupyter server did not answer {url} within {timeout} s:\n{log.read_text()[-3000:]}")


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (server and kernels), SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def _serve_lab(base: Path, extra_overrides: Optional[dict] = None, app: str = "lab") -> Iterator[str]:
    """Run a JupyterLab over a copy of notebooks/ in ``base``; yield its base URL.

    ``extra_overrides``: more settings for overrides.json (e.g. the theme).
    ``app="notebook"``: the Jupyter Notebook 7 front end (``jupyter notebook``, the
    notebook package's JupyterNotebookApp) instead, serving ``/tree`` and
    ``/notebooks/<name>``, with the same settings and ``window.jupyterapp`` exposed."""
    root = base / "notebooks"
    root.mkdir()
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        shutil.copy(nb, root / nb.name)
    home = base / "home"
    app_settings = base / "app-settings"
    for d in (home, app_settings, base / "config", base / "data", base / "runtime", base / "user-settings", base / "workspaces"):
        d.mkdir()
    # The news pop-up would cover screenshots; render every cell (no virtual scrolling)
    # so widgets far down a notebook exist in the page.
    overrides = {
        "@jupyterlab/apputils-extension:notification": {"fetchNews": "false"},
        "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
        **(extra_overrides or {}),
    }
    (app_settings / "overrides.json").write_text(json.dumps(overrides))
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_DATA_DIR=str(base / "data"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(base / "user-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
        CI="1",  # the notebooks' quick mode
    )
    env.pop("MPLBACKEND", None)  # kernels use their inline backend
    port = _free_port()
    app_class = {"lab": "LabApp", "notebook": "JupyterNotebookApp"}[app]
    log = base / f"{app}.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        app,
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--ServerApp.root_dir={root}",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        f"--{app_class}.expose_app_in_browser=True",
        f"--{app_class}.app_settings_dir={app_settings}",
        "--ServerApp.port_retries=0",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{url}/api/status", proc, timeout=60, log=log)
        yield url
    finally:
        _kill_group(proc)


@pytest.fixture(scope="session")
def lab_server(chromium_path, tmp_path_factory):
    """Base URL of a JupyterLab serving a temporary copy of notebooks/."""
    yield from _serve_lab(tmp_path_factory.mktemp("lab"))


@pytest.fixture(scope="session")
def dark_lab_server(chromium_path, tmp_path_factory):
    """The same, with the "JupyterLab Dark" theme set in overrides.json."""
    dark = {"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"}}
    yield from _serve_lab(tmp_path_factory.mktemp("lab-dark"), dark)


@pytest.fixture(scope="session")
def notebook7_server(chromium_path, tmp_path_factory):
    """Base URL of a Jupyter Notebook 7 (``jupyter notebook``) over a copy of notebooks/.

    Skips when the notebook package (7.x) is not installed."""
    nb = pytest.importorskip("notebook", reason="the notebook package (Notebook 7) is not installed")
    if not nb.__version__.startswith("7."):
        pytest.skip(f"notebook {nb.__version__} is installed; these tests need Notebook 7")
    yield from _serve_lab(tmp_path_factory.mktemp("nb7"), app="notebook")


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1700, "height": 1100})
    p = context.new_page()
    p.set_default_timeout(60_000)
    try:
        yield p
    finally:
        context.close()
