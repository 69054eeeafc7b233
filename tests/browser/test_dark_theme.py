"""The Playground and the AddressingExplorer in JupyterLab's dark theme.

A JupyterLab whose overrides.json sets "JupyterLab Dark" opens the quickstart and the
addressing notebook and runs them. Text the widgets draw (the Playground's status and
target lines, the curves' labels, the explorer's titles and numbers) must stand out
from the background it sits on: its computed colour against the first opaque
background behind it, by the WCAG contrast ratio (4.5 for text, 3 for the muted axis
labels). Hard-coded dark text (the SVG default fill is black) fails this. Screenshots
go to artifacts/browser/dark_*.png.
"""

from __future__ import annotations

import pytest
from test_lab import assert_no_errors, open_and_run, shot, status_step

pytestmark = pytest.mark.browser

# The element's own colour (CSS color and SVG fill) and the first non-transparent
# background among it and its ancestors, as [r, g, b, a].
COLOURS = """(el) => {
  const parse = (c) => {
    const m = /rgba?\\(([^)]+)\\)/.exec(c || "");
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  let bg = null;
  for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
    const c = parse(getComputedStyle(n).backgroundColor);
    if (c && c[3] > 0) { bg = c; break; }
  }
  const s = getComputedStyle(el);
  return { color: parse(s.color), fill: parse(s.fill), bg: bg || [255, 255, 255, 1] };
}"""


def luminance(rgb) -> float:
    def lin(c: float) -> float:
        c /= 255.0
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg, bg) -> float:
    """WCAG contrast ratio of ``fg`` (its alpha blended over ``bg``) against ``bg``."""
    a = fg[3]
    blended = [a * f + (1 - a) * b for f, b in zip(fg[:3], bg[:3])]
    hi, lo = sorted((luminance(blended), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def check(locator, what: str, minimum: float, svg: bool = False) -> float:
    c = locator.evaluate(COLOURS)
    fg = c["fill"] if svg else c["color"]
    assert fg is not None, f"{what}: no computed colour ({c})"
    ratio = contrast(fg, c["bg"])
    assert luminance(c["bg"]) < 0.1, f"{what}: the background {c['bg']} is not dark: is the dark theme on?"
    assert ratio >= minimum, f"{what}: colour {fg} on background {c['bg']} has contrast {ratio:.2f} < {minimum}"
    return ratio


def test_playground_reads_in_the_dark_theme(page, dark_lab_server, artifacts_dir):
    open_and_run(page, dark_lab_server, "01_quickstart.ipynb", artifacts_dir)
    assert_no_errors(page, "01_quickstart (dark)")
    assert page.evaluate("() => document.body.dataset.jpThemeLight") == "false", "JupyterLab is not in a dark theme"

    playground = page.locator(".ntm-playground").first
    status = playground.locator(".ntm-status").first  # its inner span is replaced at every update
    # Train a little so the curves hold points, then Stop (or the target stops it).
    step0 = status_step(status.inner_text())
    playground.locator("button.ntm-train").click()
    page.wait_for_function(
        """([el, s]) => { const m = el.innerText.match(/step ([\\d,]+)/); return (m && parseInt(m[1].replace(/,/g, '')) >= s + 30) || /stopped/.test(el.innerText); }""",
        arg=[status.element_handle(), step0],
        timeout=60_000,
    )
    playground.locator("button.ntm-stop").click()
    page.wait_for_function("(el) => /stopped/.test(el.innerText)", arg=status.element_handle(), timeout=30_000)
    page.wait_for_timeout(300)
    shot(playground, artifacts_dir, "dark_01_playground.png")

    check(status.locator("span").first, "status line", 4.5)
    check(playground.locator(".ntm-target-text").first, "target line", 4.5)
    curves = playground.locator(".ntm-curves").first
    check(curves.locator("svg.ntm-curve-panel text").first, "curve title", 4.5, svg=True)
    check(curves.locator("svg.ntm-curve-panel text").nth(1), "curve axis label", 3.0, svg=True)
    check(curves.locator(".ntm-curve-caption").first, "curve caption", 4.5)
    assert "mean of the last" in curves.locator(".ntm-curve-caption").first.inner_text()
    check(playground.locator(".ntm-history-row").first.locator("span").first, "run table", 4.5)
    assert_no_errors(page, "01_quickstart (dark) after Train/Stop")


def test_explorer_reads_in_the_dark_theme(page, dark_lab_server, artifacts_dir):
    open_and_run(page, dark_lab_server, "03_addressing.ipynb", artifacts_dir)
    assert_no_errors(page, "03_addressing (dark)")
    explorer = page.locator(".ntm-explorer").first
    bars = explorer.locator(".ntm-explorer-bars").first
    page.wait_for_function("(el) => parseInt(el.dataset.draws || '0') >= 1", arg=bars.element_handle(), timeout=15_000)
    shot(explorer, artifacts_dir, "dark_03_explorer.png")
    stage = bars.locator("g.ntm-explorer-stage").first
    check(stage.locator("text").first, "explorer stage title", 4.5, svg=True)
    check(stage.locator("text").nth(1), "explorer stage subtitle", 3.0, svg=True)
    check(bars.locator("svg > text").first, "explorer memory title", 4.5, svg=True)
