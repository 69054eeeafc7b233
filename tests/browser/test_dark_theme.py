"""The Playground and the AddressingExplorer in JupyterLab's dark theme.

A JupyterLab whose overrides.json sets "JupyterLab Dark" opens the quickstart and the
addressing notebook and runs them. Text the widgets draw (the Playground's status and
target lines, the curves' labels, the explorer's titles and numbers) must stand out
from the background it sits on: its computed colour against the first opaque
background behind it, by the WCAG contrast ratio (4.5 for text, 3 for the muted axis
labels). Hard-coded dark text (the SVG default fill is black) fails this. The
ReplayPlayer draws on a canvas: its background is sampled at the canvas's corners and
must be dark, and its label colour (--ntm-replay-fg, and the brightest pixel of the drawn
title "step t / T") must stand out from it. Screenshots go to artifacts/browser/dark_*.png.
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


# The replay canvas in pixels: its four corners (inset by 2 px), the theme colours it
# draws with (--ntm-replay-fg / -bg resolved to rgb), and the pixel of the title line
# "step t / T" (drawn at x 8, y 12 in CSS px) that differs most from the top-left corner.
REPLAY_PIXELS = """(el) => {
  const c = el.querySelector('canvas.ntm-replay-canvas');
  const ctx = c.getContext('2d');
  const W = c.width, H = c.height, sx = W / c.clientWidth, sy = H / c.clientHeight;
  const px = (x, y) => { const d = ctx.getImageData(x, y, 1, 1).data; return [d[0], d[1], d[2], d[3] / 255]; };
  const corners = [px(2, 2), px(W - 3, 2), px(2, H - 3), px(W - 3, H - 3)];
  const probe = document.createElement('span');
  el.appendChild(probe);
  const cs = getComputedStyle(el);
  const rgb = (name) => {
    probe.style.color = cs.getPropertyValue(name).trim();
    const p = getComputedStyle(probe).color.match(/[\\d.]+/g).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const fg = rgb('--ntm-replay-fg'), bg = rgb('--ntm-replay-bg');
  probe.remove();
  const x0 = Math.round(4 * sx), y0 = Math.round(1 * sy), w = Math.round(90 * sx), h = Math.round(16 * sy);
  const d = ctx.getImageData(x0, y0, w, h).data, ref = corners[0];
  let best = null, far = -1;
  for (let i = 0; i < d.length; i += 4) {
    const dist = Math.abs(d[i] - ref[0]) + Math.abs(d[i + 1] - ref[1]) + Math.abs(d[i + 2] - ref[2]);
    if (dist > far) { far = dist; best = [d[i], d[i + 1], d[i + 2], d[i + 3] / 255]; }
  }
  return {width: W, height: H, corners, fg, bg, title_ink: best};
}"""


def test_replay_reads_in_the_dark_theme(page, dark_lab_server, artifacts_dir):
    open_and_run(page, dark_lab_server, "01_quickstart.ipynb", artifacts_dir)
    assert_no_errors(page, "01_quickstart (dark)")
    assert page.evaluate("() => document.body.dataset.jpThemeLight") == "false", "JupyterLab is not in a dark theme"

    # The standalone ReplayPlayer, the notebook's last widget.
    ui = page.locator(".ntm-replay-ui").last
    replay = ui.locator(".ntm-replay").first
    replay.scroll_into_view_if_needed()
    page.wait_for_function(
        "(el) => el.dataset.loaded === '1' && parseInt(el.dataset.frames || '0') >= 1",
        arg=replay.element_handle(),
        timeout=15_000,
    )
    page.wait_for_timeout(200)
    shot(ui, artifacts_dir, "dark_01_replay.png")

    p = replay.evaluate(REPLAY_PIXELS)
    print(f"replay canvas in the dark theme: {p}")
    for corner in p["corners"]:
        assert corner[3] == 1, f"the replay canvas is transparent at a corner ({p['corners']}): was its background painted?"
        assert luminance(corner) < 0.1, f"the replay canvas's background {corner} is not dark in the dark theme ({p})"
    bg = p["corners"][0]
    assert luminance(p["bg"]) < 0.1, f"--ntm-replay-bg {p['bg']} is not dark"
    fg_ratio = contrast(p["fg"], bg)
    assert fg_ratio >= 4.5, f"the replay's label colour {p['fg']} on its background {bg} has contrast {fg_ratio:.2f} < 4.5"
    ink_ratio = contrast(p["title_ink"], bg)
    assert ink_ratio >= 4.5, (
        f"the replay's drawn title (brightest pixel {p['title_ink']}) on {bg} has contrast {ink_ratio:.2f} < 4.5"
    )
    # The canvas element's own CSS background and the key hint under it.
    check(replay.locator("canvas.ntm-replay-canvas").first, "replay canvas (CSS)", 4.5)
    check(replay.locator(".ntm-replay-keys").first, "replay key hint", 3.0)
    assert_no_errors(page, "01_quickstart (dark) replay")
