"""The standalone replay read without the code, in Debian's chromium (file://, no Jupyter).

In light and dark colour schemes (Playwright ``color_scheme``): the row numbers of the
weighting and memory panels and the colour scales' values are drawn (replay.js also
writes them to data-* attributes, and the colour bars' pixels are checked against the
colour tables), the keyboard shortcuts are listed on screen, the canvas background and
text follow the scheme, and the right arrow advances one step. A third case stands in
for JupyterLab's dark theme: light OS scheme, JupyterLab's dark --jp-* variables set on
the page afterwards and <body data-jp-theme-light="false">, as Lab does when the theme
changes (the replay redraws on that attribute). Screenshots:
artifacts/browser/replay_readable_{light,dark,lab-dark}.png.
"""

from __future__ import annotations

import json

import pytest

from ntm_widgets.render.colormaps import colormap_tables
from ntm_widgets.replay_html import write_replay_html
from ntm_widgets.trace import synthetic_trace

pytestmark = pytest.mark.browser

# JupyterLab 4's dark theme values for the variables replay.css reads.
LAB_DARK = """:root {
  --jp-layout-color0: #111111; --jp-layout-color2: #424242; --jp-layout-color3: #616161;
  --jp-ui-font-color1: rgba(255, 255, 255, 0.87); --jp-ui-font-color2: rgba(255, 255, 255, 0.54);
  --jp-border-color1: #616161;
}
body { background: #111111; color: rgba(255, 255, 255, 0.87); }"""


@pytest.fixture(scope="module")
def replay_path(tmp_path_factory):
    trace = synthetic_trace(steps=12, memory_size=32, word_size=6, head_kinds=("read", "write"), seed=5)
    return write_replay_html(trace, tmp_path_factory.mktemp("replay") / "replay.html")


def pixel(page, x, y):
    """The canvas pixel at CSS position (x, y), as [r, g, b]."""
    return page.evaluate(
        """([x, y]) => {
          const c = document.querySelector('.ntm-replay-canvas');
          const k = c.width / c.clientWidth;
          return Array.from(c.getContext('2d').getImageData(Math.floor(x * k), Math.floor(y * k), 1, 1).data.slice(0, 3));
        }""",
        [x, y],
    )


@pytest.mark.parametrize("scheme", ["light", "dark", "lab-dark"])
def test_standalone_replay_is_readable(browser, artifacts_dir, replay_path, scheme):
    context = browser.new_context(
        viewport={"width": 1100, "height": 900}, color_scheme="light" if scheme == "lab-dark" else scheme
    )
    page = context.new_page()
    try:
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"file://{replay_path}")
        page.wait_for_selector(".ntm-replay[data-loaded='1'][data-frames]:not([data-frames='0'])", timeout=10_000)
        root = page.locator(".ntm-replay")
        if scheme == "lab-dark":
            frames = int(root.get_attribute("data-frames"))
            page.add_style_tag(content=LAB_DARK)
            page.evaluate("() => document.body.setAttribute('data-jp-theme-light', 'false')")
            page.wait_for_function("(n) => +document.querySelector('.ntm-replay').dataset.frames > n", arg=frames, timeout=5_000)

        # Row numbers: 0 first, evenly every k-th row, the last row when it has room.
        for attr in ("data-row-ticks", "data-head-row-ticks"):
            ticks = [int(v) for v in root.get_attribute(attr).split(",")]
            assert ticks[0] == 0 and len(ticks) >= 3 and ticks[-1] <= 31, (attr, ticks)
            assert len({b - a for a, b in zip(ticks[:-2], ticks[1:-1])}) <= 1, (attr, ticks)

        # Colour scales: memory -lim, 0, +lim; weighting 0 and its maximum.
        scales = {s["name"]: s for s in json.loads(root.get_attribute("data-scales"))}
        mem, wts = scales["memory, reads"], scales["weighting"]
        assert mem["min"] == -mem["max"] < 0 and len(mem["labels"]) == 3 and mem["labels"][1] == "0"
        assert mem["labels"][0].startswith("-") and mem["labels"][2].startswith("+")
        assert wts["min"] == 0 and wts["labels"][0] == "0" and 0 < wts["max"] <= 1
        # ... and drawn: the bars' ends carry the colour tables' ends.
        luts = colormap_tables()
        boxes = json.loads(root.get_attribute("data-scale-boxes"))
        for (x, y, w, h), name in zip(boxes, ("memory", "weights")):
            lut = luts[name]
            for end, px in ((0, pixel(page, x + 0.5, y + h / 2)), (255, pixel(page, x + w - 0.5, y + h / 2))):
                assert all(abs(a - b) <= 12 for a, b in zip(px, lut[3 * end : 3 * end + 3])), (name, end, px)

        # The shortcuts, on screen.
        keys = page.inner_text(".ntm-replay-keys")
        for text in ("space", "play", "←", "→", "Home", "End"):
            assert text in keys, keys
        assert page.locator(".ntm-replay-keys").is_visible()

        # The canvas follows the colour scheme (its top-left corner is background).
        bg = pixel(page, 2, 2)
        assert (sum(bg) > 600) if scheme == "light" else (sum(bg) < 150), bg
        fg = page.evaluate("() => getComputedStyle(document.querySelector('.ntm-replay-keys')).color")
        rgb = [int(v) for v in fg[fg.index("(") + 1 : fg.index(")")].split(",")[:3]]
        assert abs(sum(rgb) - sum(bg)) > 250, (fg, bg)  # text contrasts with the background

        page.screenshot(path=str(artifacts_dir / f"replay_readable_{scheme}.png"), full_page=True)

        # The right arrow advances exactly one step.
        assert root.get_attribute("data-step") == "0"
        page.locator("h1").click()
        page.keyboard.press("ArrowRight")
        page.wait_for_function("() => document.querySelector('.ntm-replay').dataset.step === '1'", timeout=5_000)
        page.wait_for_timeout(100)
        assert root.get_attribute("data-step") == "1"
        assert page.inner_text("#ntm-readout") == "1 / 11"
        assert errors == []
    finally:
        context.close()
