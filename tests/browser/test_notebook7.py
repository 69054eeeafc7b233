"""The quickstart's widgets in the Jupyter Notebook 7 front end (the notebook package 7.x).

Notebook 7 is the classic-style, one-document-per-tab app built on JupyterLab's
components: ``jupyter notebook`` serves ``/tree`` and ``/notebooks/<name>``. The test
opens notebooks/01_quickstart.ipynb there, runs every cell (quick mode), checks that no
output says "Error displaying widget", presses the Playground's Train and watches its
status line move, then checks that the ReplayPlayer (anywidget) loaded its data and drew
its canvas, and that Play advances it. Screenshots go to artifacts/browser/nb7_*.png.
"""

from __future__ import annotations

import pytest
from test_lab import ALL_RUN, DIAGNOSE, KERNEL_IDLE, RUN_TIMEOUT_MS, assert_no_errors, shot, status_step

pytestmark = pytest.mark.browser

NAME = "01_quickstart.ipynb"

# Pixels of the replay canvas that differ from its top-left pixel: 0 for a blank canvas.
CANVAS_INK = """(c) => {
  const ctx = c.getContext('2d');
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2] || d[i + 3] !== d[3]) n++;
  }
  return {width: c.width, height: c.height, ink: n};
}"""


def open_and_run_nb7(page, url: str, name: str, artifacts_dir) -> None:
    """Open ``/notebooks/<name>`` in Notebook 7, wait for an idle kernel, run all cells, wait."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(f"{url}/notebooks/{name}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=60_000)
    assert page.evaluate("() => !!window.jupyterapp"), "Notebook 7 did not expose window.jupyterapp"
    name_in_app = page.evaluate("() => window.jupyterapp.name")
    assert "Notebook" in name_in_app, f"this is not the Notebook 7 front end: jupyterapp.name is {name_in_app!r}"
    try:
        page.wait_for_function(KERNEL_IDLE, arg=name, timeout=60_000)
        # The same command the menu's Run > Run All Cells executes.
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(ALL_RUN, timeout=RUN_TIMEOUT_MS)
    except PlaywrightTimeout:
        state = page.evaluate(DIAGNOSE)
        page.screenshot(path=str(artifacts_dir / f"nb7_{name}_timeout.png"))
        pytest.fail(
            f"{name} (Notebook 7): cells did not all run in time; kernel {state['kernel']}, "
            f"execution counts {state['counts']}; output of the last cell that ran:\n{state['last_output']}"
        )


def test_quickstart_in_notebook7(page, notebook7_server, artifacts_dir):
    # Notebook 7 scrolls the notebook inside its own panel under a fixed header: an
    # element taller than the viewport screenshots with the header over it, so make
    # the window tall enough for the whole Playground (about 1,500 px with its replay).
    page.set_viewport_size({"width": 1700, "height": 2000})
    open_and_run_nb7(page, notebook7_server, NAME, artifacts_dir)
    assert_no_errors(page, "01_quickstart (Notebook 7)")
    page.screenshot(path=str(artifacts_dir / "nb7_01_page.png"))

    # The Playground rendered, and Train moves its status line.
    playground = page.locator(".ntm-playground").first
    status = playground.locator(".ntm-status").first
    shot(playground, artifacts_dir, "nb7_01_playground.png")
    step0 = status_step(status.inner_text())
    assert step0 >= 1, f"the notebook's pg.train() should have taken steps; status: {status.inner_text()!r}"
    playground.locator("button.ntm-train").click()
    page.wait_for_function(
        """([el, s]) => { const m = el.innerText.match(/step ([\\d,]+)/); return m && parseInt(m[1].replace(/,/g, '')) >= s + 20; }""",
        arg=[status.element_handle(), step0],
        timeout=60_000,
    )
    shot(playground, artifacts_dir, "nb7_01_playground_training.png")
    playground.locator("button.ntm-stop").click()
    page.wait_for_function("(el) => /stopped/.test(el.innerText)", arg=status.element_handle(), timeout=30_000)
    assert status_step(status.inner_text()) >= step0 + 20
    assert_no_errors(page, "01_quickstart (Notebook 7) after Train/Stop")

    # The standalone ReplayPlayer (the notebook's last widget) loaded and drew its canvas.
    ui = page.locator(".ntm-replay-ui").last
    replay = ui.locator(".ntm-replay").first
    replay.scroll_into_view_if_needed()
    canvas = replay.locator("canvas.ntm-replay-canvas")
    assert canvas.count() == 1, "the replay has no canvas"
    page.wait_for_function("(el) => el.dataset.loaded === '1'", arg=replay.element_handle(), timeout=15_000)
    assert int(replay.get_attribute("data-steps")) > 1
    assert int(replay.get_attribute("data-frames") or 0) >= 1, "the replay canvas was never drawn"
    drawn = canvas.evaluate(CANVAS_INK)
    assert drawn["width"] > 50 and drawn["height"] > 50, f"the replay canvas is tiny: {drawn}"
    assert drawn["ink"] > 0.01 * drawn["width"] * drawn["height"], f"the replay canvas is blank: {drawn}"
    shot(ui, artifacts_dir, "nb7_01_replay.png")
    step_a = int(replay.get_attribute("data-step"))
    ui.locator(".ntm-replay-play button").first.click()
    page.wait_for_function(
        "([el, s]) => parseInt(el.dataset.step) >= s + 3", arg=[replay.element_handle(), step_a], timeout=15_000
    )
    shot(ui, artifacts_dir, "nb7_01_replay_playing.png")
    assert_no_errors(page, "01_quickstart (Notebook 7) after Play")
