"""The tutorials in a real JupyterLab, driven by Playwright in Debian's chromium.

Opens the quickstart, runs every cell (quick mode), then presses the buttons a person
would: Train must move the status line and the loss curves, Play must advance the
replay canvas; in the addressing notebook, a slider must change the explorer's bars.
Every check also looks for "Error displaying widget" and for error outputs. Screenshots
of each widget are saved to artifacts/browser/.
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser

RUN_TIMEOUT_MS = 120_000

KERNEL_IDLE = """(name) => {
  const app = window.jupyterapp;
  const w = app && app.shell.currentWidget;
  if (!w || !w.context || !w.context.path.endsWith(name)) return false;
  const k = w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle';
}"""

ALL_RUN = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const k = w.sessionContext.session.kernel;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  const raised = w.node.querySelector(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']");
  return k.status === 'idle' && (!!raised || cells.every(c => typeof c.model.executionCount === 'number'));
}"""  # done when every cell ran, or one raised (Lab then stops; assert_no_errors reports it)


DIAGNOSE = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  const cells = w ? w.content.widgets.filter(c => c.model.type === 'code') : [];
  const ran = cells.filter(c => typeof c.model.executionCount === 'number');
  const last = ran.length ? ran[ran.length - 1] : null;
  const out = last ? last.node.querySelector('.jp-OutputArea') : null;
  return {kernel: k ? k.status : null, counts: cells.map(c => c.model.executionCount),
          last_output: out ? out.innerText.slice(-1500) : ''};
}"""


def open_and_run(page, url: str, name: str, artifacts_dir=None) -> None:
    """Open a notebook with a fresh layout, wait for its kernel, run all cells, wait.

    On a timeout the failure says which cells ran and the kernel's status, and a
    screenshot of the page is saved next to the others.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(f"{url}/lab/tree/{name}?reset")
    try:
        page.wait_for_function(KERNEL_IDLE, arg=name, timeout=60_000)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(ALL_RUN, timeout=RUN_TIMEOUT_MS)
    except PlaywrightTimeout:
        state = page.evaluate(DIAGNOSE)
        if artifacts_dir is not None:
            page.screenshot(path=str(artifacts_dir / f"{name}_timeout.png"), full_page=True)
        pytest.fail(
            f"{name}: cells did not all run in time; kernel {state['kernel']}, execution counts {state['counts']}; "
            f"output of the last cell that ran:\n{state['last_output']}"
        )


def assert_no_errors(page, name: str) -> None:
    text = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").inner_text()
    assert "Error displaying widget" not in text, f"{name}: a widget failed to render"
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
    if errors.count():
        pytest.fail(f"{name}: a cell raised:\n{errors.first.inner_text()[:2000]}")


def shot(locator, artifacts_dir, filename: str) -> bytes:
    locator.scroll_into_view_if_needed()
    return locator.screenshot(path=str(artifacts_dir / filename))


def status_step(text: str) -> int:
    match = re.search(r"step ([\d,]+)", text)
    return int(match.group(1).replace(",", "")) if match else -1


def test_quickstart_playground_and_replay(page, lab_server, artifacts_dir):
    open_and_run(page, lab_server, "01_quickstart.ipynb", artifacts_dir)
    assert_no_errors(page, "01_quickstart")

    playground = page.locator(".ntm-playground").first
    status = playground.locator(".ntm-status")
    curve = playground.locator(".ntm-curves polyline.ntm-curve-smooth").first
    shot(playground, artifacts_dir, "01_playground_after_run_all.png")
    step0 = status_step(status.inner_text())
    assert step0 >= 1, f"the notebook's pg.train() should have taken steps; status: {status.inner_text()!r}"
    points0 = curve.get_attribute("points")

    # Press Train: training runs in a background thread; the status and curves move.
    playground.locator("button.ntm-train").click()
    page.wait_for_function(
        """([el, step0]) => { const m = el.innerText.match(/step ([\\d,]+)/); return m && parseInt(m[1].replace(/,/g, '')) >= step0 + 20; }""",
        arg=[status.element_handle(), step0],
        timeout=60_000,
    )
    page.wait_for_timeout(600)  # at least one more curve push (every 0.25 s)
    points1 = curve.get_attribute("points")
    assert points1 != points0, "the loss curve did not change while training"
    shot(playground, artifacts_dir, "01_playground_training.png")
    playground.locator("button.ntm-stop").click()
    page.wait_for_function("(el) => /stopped/.test(el.innerText)", arg=status.element_handle(), timeout=30_000)
    stopped_at = status_step(status.inner_text())
    assert stopped_at >= step0 + 20
    page.wait_for_timeout(500)
    assert status_step(status.inner_text()) == stopped_at, "training went on after Stop"
    assert_no_errors(page, "01_quickstart after Train/Stop")

    # The standalone replay (the notebook's last widget): Play advances the canvas.
    ui = page.locator(".ntm-replay-ui").last
    replay = ui.locator(".ntm-replay").first
    replay.scroll_into_view_if_needed()
    assert replay.locator("canvas.ntm-replay-canvas").count() == 1, "the replay has no canvas"
    page.wait_for_function("(el) => el.dataset.loaded === '1'", arg=replay.element_handle(), timeout=15_000)
    assert int(replay.get_attribute("data-steps")) > 1
    step_a = int(replay.get_attribute("data-step"))
    frames_a = int(replay.get_attribute("data-frames"))
    shot(ui, artifacts_dir, "01_replay_before_play.png")
    ui.locator(".ntm-replay-play button").first.click()  # Play's buttons: play, pause/stop, repeat
    page.wait_for_function(
        "([el, s]) => parseInt(el.dataset.step) >= s + 3", arg=[replay.element_handle(), step_a], timeout=15_000
    )
    assert int(replay.get_attribute("data-frames")) > frames_a, "the canvas was not redrawn"
    shot(ui, artifacts_dir, "01_replay_playing.png")
    assert_no_errors(page, "01_quickstart after Play")


def test_addressing_explorer_sliders_change_bars(page, lab_server, artifacts_dir):
    open_and_run(page, lab_server, "03_addressing.ipynb", artifacts_dir)
    assert_no_errors(page, "03_addressing")

    explorer = page.locator(".ntm-explorer").first
    bars = explorer.locator(".ntm-explorer-bars").first
    shot(explorer, artifacts_dir, "03_explorer_before.png")
    before = bars.screenshot()
    state_before = bars.get_attribute("data-weights")

    # Focus the key-strength slider's handle and press ArrowRight a few times.
    handle = explorer.locator(".ntm-explorer-beta .noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(8):
        handle.press("ArrowRight")
    page.wait_for_function(
        "([el, old]) => el.getAttribute('data-weights') !== old", arg=[bars.element_handle(), state_before], timeout=10_000
    ) if state_before is not None else page.wait_for_timeout(1500)
    after = shot(bars, artifacts_dir, "03_explorer_bars_after.png")
    shot(explorer, artifacts_dir, "03_explorer_after.png")
    assert after != before, "the explorer's bars did not change when a slider moved"
    assert_no_errors(page, "03_addressing after slider")
