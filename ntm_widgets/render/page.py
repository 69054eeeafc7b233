"""Standalone replay: one self-contained HTML file that opens offline in any browser.

It runs the very renderer the ReplayPlayer widget uses (``replay.js``), controls
included: the trace is inlined as base64 of ``trace.to_bytes()``, and a few lines
stand in for the widget model (get / set / on / off / save_changes) that replay.js
talks to. No network request is made: no external script, style sheet or font.
"""

from __future__ import annotations

import base64
import html
import json
import pathlib
from typing import Optional

from ..plotting.trace_plots import check_file_path, nonfinite_note
from ..trace import Trace, read_trace_header
from .colormaps import colormap_tables

# The renderer and its style sheet: the widget loads these files, the page inlines them.
REPLAY_JS = pathlib.Path(__file__).parent / "replay.js"
REPLAY_CSS = pathlib.Path(__file__).parent / "replay.css"

# The widget model's interface for a page without a kernel. All drawing and all
# controls are replay.js's; this only feeds it the inlined data.
_PAGE_SCRIPT = r"""
function b64ToBytes(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function pageModel(initial) {
  const state = Object.assign({}, initial);
  const handlers = {};
  return {
    get: (k) => state[k],
    set(k, v) {
      const old = state[k];
      state[k] = v;
      if (old !== v) (handlers["change:" + k] || []).slice().forEach((f) => f({ name: k, old, new: v }));
    },
    on(ev, f) { (handlers[ev] = handlers[ev] || []).push(f); },
    off(ev, f) { handlers[ev] = (handlers[ev] || []).filter((g) => g !== f); },
    save_changes() {},
    send() {},
  };
}

const t0 = performance.now();
const bytes = b64ToBytes(document.getElementById("ntm-trace-data").textContent.trim());
const colormaps = JSON.parse(document.getElementById("ntm-colormaps").textContent);
const model = pageModel({
  trace_bytes: new DataView(bytes.buffer), step: 0, width: WIDTH, colormaps, frontend_info: {},
  builtin_controls: "on", interval: 120, keyboard: "document",
});
const root = document.getElementById("ntm-replay-root");
render({ model, el: root });
// Fixed ids on replay.js's controls for scripts that drive the page (tests, benchmarks).
for (const name of ["first", "prev", "play", "next", "step", "readout", "speed", "loop"]) {
  const control = root.querySelector(`[data-control="${name}"]`);
  if (control) control.id = "ntm-" + name;
}
window.ntmReplayModel = model;
window.ntmReplayLoadMs = performance.now() - t0;
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
:root {{ color-scheme: light dark; }}
body {{ margin: 16px; font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222; background: #fff; }}
h1 {{ font-size: 16px; margin: 0 0 4px 0; }}
.sub {{ color: #666; font-size: 12px; margin-bottom: 10px; }}
.help {{ color: #777; font-size: 11px; margin-top: 8px; }}
@media (prefers-color-scheme: dark) {{
  body {{ color: #e6e6e6; background: #111; }}
  .sub {{ color: #aaa; }}
  .help {{ color: #9a9a9a; }}
}}
{css}
</style>
</head>
<body>
<h1>{title}</h1>
<div class="sub">{subtitle}</div>
<div id="ntm-replay-root"></div>
<div class="help">Memory is drawn after each step's write; the columns beside it (w_t) are each head's weighting
at that step, on memory's row numbers. Red marks output bits that are wrong (thresholded at 0.5) in the scored part.
The keyboard shortcuts are listed under the replay.</div>
<script type="application/octet-stream" id="ntm-trace-data">
{data}
</script>
<script type="application/json" id="ntm-colormaps">{colormaps}</script>
<script type="module">
{renderer}
const WIDTH = {width};
{page}
</script>
</body>
</html>
"""


def replay_html(trace: Trace, title: Optional[str] = None, width: int = 1000, memory_dtype: str = "auto") -> str:
    """The standalone page for ``trace`` as a string (see ``write_replay_html``)."""
    if not isinstance(trace, Trace):
        raise TypeError(f"trace must be an ntm_widgets.trace.Trace, got {type(trace).__name__}")
    if not 480 <= int(width) <= 4096:
        raise ValueError(f"width must be in [480, 4096] pixels, got {width}")
    js = REPLAY_JS.read_text(encoding="utf-8")
    css = REPLAY_CSS.read_text(encoding="utf-8")
    for name, text in (("replay.js", js), ("replay.css", css)):
        # Inlined text must not be able to close its own element early.
        if "</script" in text.lower() or "</style" in text.lower():
            raise ValueError(f"{name} contains a closing tag and cannot be inlined")
    blob = trace.to_bytes(memory_dtype=memory_dtype)
    header = read_trace_header(blob)
    meta = trace.meta or {}
    n, m = trace.memory_shape
    if title is None:
        title = f"NTM replay: {str(meta.get('task', 'run')).replace('_', ' ')}" + (
            f", length {meta['length']}" if "length" in meta else ""
        )
    bits = meta.get("bits_wrong", int(trace.wrong_bits.sum()))
    subtitle = f"{trace.steps} steps, {n} x {m} memory, heads: {', '.join(trace.head_kinds)}; {bits} bits wrong"
    # The encoding sends NaN as +inf, so both land on the top end; it has counted them.
    note = nonfinite_note(sum(header["nonfinite"].values()), "at the top end")
    if note:
        subtitle += f". {note}"
    data = base64.b64encode(blob).decode("ascii")
    # Wrapped at 76 columns like MIME base64, so editors and diff tools cope with the file.
    data = "\n".join(data[i : i + 76] for i in range(0, len(data), 76))
    return _PAGE.format(
        title=html.escape(title),
        subtitle=html.escape(subtitle),
        css=css,
        data=data,
        colormaps=json.dumps(colormap_tables(), separators=(",", ":")),
        renderer=js,
        width=int(width),
        page=_PAGE_SCRIPT,
    )


def write_replay_html(trace: Trace, path, title: Optional[str] = None, width: int = 1000, memory_dtype: str = "auto") -> str:
    """Write one self-contained HTML replay of ``trace`` to ``path``; returns the path.

    Same renderer and controls as the ReplayPlayer widget (replay.js, inlined), the
    trace inlined as base64; opens offline from file://.
    Raises ``IsADirectoryError`` (one line, naming ``path``) when ``path`` is a folder.
    """
    path = pathlib.Path(check_file_path(path, "replay.html"))
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(replay_html(trace, title=title, width=width, memory_dtype=memory_dtype), encoding="utf-8")
    return str(path)
