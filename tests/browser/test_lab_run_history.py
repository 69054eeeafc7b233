"""The Playground's run history in a real JupyterLab: two learning rates trained and overlaid.

Opens the hyperparameters notebook (quick mode), whose last section trains three
learning rates in a Playground and overlays runs 1 and 2. Then, with the mouse and
keyboard only: Reset + Train + Stop (a run at lr 1e-2), the learning-rate slider down
by half a decade, Reset + Train + Stop (a run at lr ~3e-3), tick the first of the two
so its curves are drawn under the second, and Restore it. Screenshots go to
artifacts/browser/06_history_*.png.
"""

from __future__ import annotations

import pytest
from test_lab import assert_no_errors, open_and_run, shot, status_step

pytestmark = pytest.mark.browser

NAME = "06_hyperparameters.ipynb"


def rows(playground):
    return playground.locator(".ntm-history-row")


def train_a_run(page, playground, steps: int = 15) -> None:
    """Reset, Train until the status passes ``steps``, Stop: one new run."""
    status = playground.locator(".ntm-status")
    before = rows(playground).count()
    playground.locator("button.ntm-reset").click()
    page.wait_for_function("(el) => /new model|reset/.test(el.innerText)", arg=status.element_handle(), timeout=30_000)
    playground.locator("button.ntm-train").click()
    page.wait_for_function(
        """([el, n]) => { const m = el.innerText.match(/step ([\\d,]+)/); return m && parseInt(m[1].replace(/,/g, '')) >= n; }""",
        arg=[status.element_handle(), steps],
        timeout=60_000,
    )
    playground.locator("button.ntm-stop").click()
    page.wait_for_function("(el) => /stopped/.test(el.innerText)", arg=status.element_handle(), timeout=30_000)
    assert status_step(status.inner_text()) >= steps
    page.wait_for_function(
        "([root, n]) => root.querySelectorAll('.ntm-history-row').length === n",
        arg=[playground.element_handle(), before + 1],
        timeout=30_000,
    )


def overlay_lines(playground) -> int:
    return playground.locator(".ntm-curves polyline.ntm-curve-overlay").count()


def test_two_learning_rates_trained_and_overlaid(page, lab_server, artifacts_dir):
    open_and_run(page, lab_server, NAME, artifacts_dir)
    assert_no_errors(page, "06_hyperparameters")
    playground = page.locator(".ntm-playground").first
    table = playground.locator(".ntm-history")
    playground.scroll_into_view_if_needed()

    # The notebook trained three runs and overlaid runs 1 and 2 (two panels each).
    assert rows(playground).count() == 3
    assert "lr=0.01" in rows(playground).first.inner_text()  # newest first: run 3 changed lr to 1e-2
    page.wait_for_function("(root) => root.querySelectorAll('.ntm-curve-overlay').length === 4", arg=playground.element_handle())
    legend = playground.locator(".ntm-curve-legend")
    assert "run 1" in legend.inner_text() and "run 2: lr=0.003" in legend.inner_text()
    shot(playground, artifacts_dir, "06_history_after_run_all.png")

    # Untick runs 1 and 2: the curves are the current run's alone.
    for run in (1, 2):
        playground.locator(f".ntm-history-run-{run} input[type=checkbox]").click()
    page.wait_for_function("(root) => root.querySelectorAll('.ntm-curve-overlay').length === 0", arg=playground.element_handle())

    # Run 4: the notebook's last learning rate (1e-2), trained with the buttons.
    train_a_run(page, playground)
    # Run 5: the learning-rate slider half a decade down (5 key presses of 0.1 decade).
    handle = playground.locator(".ntm-lr .noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(5):
        handle.press("ArrowLeft")
    readout = playground.locator(".ntm-lr .widget-readout").first
    page.wait_for_function("(el) => el.innerText.trim() === '3.2e-3'", arg=readout.element_handle(), timeout=15_000)
    train_a_run(page, playground)

    newest = rows(playground).first
    assert "ntm-history-run-5" in (newest.get_attribute("class") or "")
    assert "lr=0.00316228" in newest.inner_text(), newest.inner_text()
    # The changed cells are highlighted (the "changed" and "lr" cells of run 5).
    highlighted = newest.locator("span[style*='fff1a8']")
    assert highlighted.count() == 2

    # Tick run 4: its curves, dashed, under run 5's, named in the legend.
    playground.locator(".ntm-history-run-4 input[type=checkbox]").click()
    page.wait_for_function("(root) => root.querySelectorAll('.ntm-curve-overlay').length === 2", arg=playground.element_handle())
    text = legend.inner_text()
    assert "run 4" in text and "run 5: lr=0.00316228 (current)" in text, text
    points = playground.locator(".ntm-curves polyline.ntm-curve-overlay").first.get_attribute("points")
    assert points and len(points.split()) >= 10, "the overlaid run has no curve"
    assert overlay_lines(playground) == 2
    shot(playground, artifacts_dir, "06_history_two_lrs_overlaid.png")
    shot(table, artifacts_dir, "06_history_table.png")
    shot(playground.locator(".ntm-curves"), artifacts_dir, "06_history_curves_overlaid.png")

    # Restore run 4: the slider goes back to 1e-2 and the model is fresh.
    playground.locator(".ntm-history-run-4 button.ntm-history-restore").click()
    page.wait_for_function("(el) => el.innerText.trim() === '1.0e-2'", arg=readout.element_handle(), timeout=15_000)
    status = playground.locator(".ntm-status")
    page.wait_for_function("(el) => /restored run 4/.test(el.innerText)", arg=status.element_handle(), timeout=15_000)
    assert_no_errors(page, "06_hyperparameters after the run history")
