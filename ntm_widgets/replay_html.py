"""Standalone replay: one self-contained HTML file that opens offline in any browser.

It runs the very renderer the ReplayPlayer widget uses (``widgets/replay.js``), with
the trace inlined as base64 of ``Trace.to_bytes()`` and a tiny stand-in for the
widget model (get / set / on / off / save_changes) that the page's own play, pause,
step and scrub controls drive. No network request is made: no external script,
style sheet or font.
"""
from __future__ import annotations

import base64
import html
import json
import pathlib
from typing import Optional

from .plotting.trace_plots import check_file_path, nonfinite_note
from .trace import Trace, nonfinite_counts

_WIDGETS = pathlib.Path(__file__).parent / "widgets"

# The page's controls and the stand-in model. Kept small: all drawing is replay.js.
_PAGE_SCRIPT = r"""
function b64ToBytes(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function fakeModel(initial) {
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
const model = fakeModel({ trace_bytes: new DataView(bytes.buffer), step: 0, width: WIDTH, colormaps, frontend_info: {} });
const root = document.getElementById("ntm-replay-root");
render({ model, el: root });
window.ntmReplayModel = model;
window.ntmReplayLoadMs = performance.now() - t0;

const T = Number(root.dataset.steps || 1);
const playBtn = document.getElementById("ntm-play");
const range = document.getElementById("ntm-step");
const speed = document.getElementById("ntm-speed");
const readout = document.getElementById("ntm-readout");
range.max = String(T - 1);
let timer = null;

function setStep(s) {
  s = Math.max(0, Math.min(T - 1, s | 0));
  model.set("step", s);
  range.value = String(s);
  readout.textContent = `${s} / ${T - 1}`;
}
function stop() {
  if (timer !== null) clearInterval(timer);
  timer = null;
  playBtn.textContent = "▶ play";
  playBtn.setAttribute("aria-pressed", "false");
}
function play() {
  if (model.get("step") >= T - 1) setStep(0);
  stop();
  playBtn.textContent = "❚❚ pause";
  playBtn.setAttribute("aria-pressed", "true");
  timer = setInterval(() => {
    const s = model.get("step") + 1;
    if (s > T - 1) { if (document.getElementById("ntm-loop").checked) setStep(0); else stop(); }
    else setStep(s);
  }, Number(speed.value));
}
playBtn.addEventListener("click", () => (timer === null ? play() : stop()));
document.getElementById("ntm-prev").addEventListener("click", () => { stop(); setStep(model.get("step") - 1); });
document.getElementById("ntm-next").addEventListener("click", () => { stop(); setStep(model.get("step") + 1); });
document.getElementById("ntm-first").addEventListener("click", () => { stop(); setStep(0); });
range.addEventListener("input", () => { stop(); setStep(Number(range.value)); });
speed.addEventListener("change", () => { if (timer !== null) play(); });
model.on("change:step", () => { range.value = String(model.get("step")); readout.textContent = `${model.get("step")} / ${T - 1}`; });
document.addEventListener("keydown", (ev) => {
  if (ev.target && ev.target.tagName === "INPUT") return;
  if (ev.key === " ") { ev.preventDefault(); timer === null ? play() : stop(); }
  else if (ev.key === "ArrowRight") { stop(); setStep(model.get("step") + 1); }
  else if (ev.key === "ArrowLeft") { stop(); setStep(model.get("step") - 1); }
});
setStep(0);
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ margin: 16px; font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222; }}
h1 {{ font-size: 16px; margin: 0 0 4px 0; }}
.sub {{ color: #666; font-size: 12px; margin-bottom: 10px; }}
.ntm-controls {{ display: flex; gap: 8px; align-items: center; margin-bottom: 8px; font-size: 13px; }}
.ntm-controls button {{ font-size: 13px; padding: 3px 10px; cursor: pointer; }}
.ntm-controls input[type=range] {{ width: 420px; }}
#ntm-readout {{ font-variant-numeric: tabular-nums; min-width: 80px; }}
.help {{ color: #777; font-size: 11px; margin-top: 8px; }}
{css}
</style>
</head>
<body>
<h1>{title}</h1>
<div class="sub">{subtitle}</div>
<div class="ntm-controls">
  <button id="ntm-first" title="back to step 0">|◀</button>
  <button id="ntm-prev" title="one step back (←)">◀</button>
  <button id="ntm-play" class="ntm-play" aria-pressed="false" title="play / pause (space)">▶ play</button>
  <button id="ntm-next" title="one step on (→)">▶|</button>
  <input id="ntm-step" class="ntm-step" type="range" min="0" max="0" value="0" aria-label="step">
  <span id="ntm-readout">0 / 0</span>
  <label>speed <select id="ntm-speed">
    <option value="400">slow</option><option value="120" selected>normal</option><option value="40">fast</option><option value="1">fastest</option>
  </select></label>
  <label><input id="ntm-loop" type="checkbox"> loop</label>
</div>
<div id="ntm-replay-root"></div>
<div class="help">Hover a cell for its value. Space plays or pauses; the arrow keys step.
Memory is drawn after each step's write; the column beside it is each head's weighting at that step.
Red marks output bits that are wrong (thresholded at 0.5) in the scored part.</div>
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
    from .widgets.replay import colormap_tables

    if not isinstance(trace, Trace):
        raise TypeError(f"trace must be an ntm_widgets.trace.Trace, got {type(trace).__name__}")
    if not 480 <= int(width) <= 4096:
        raise ValueError(f"width must be in [480, 4096] pixels, got {width}")
    js = (_WIDGETS / "replay.js").read_text(encoding="utf-8")
    css = (_WIDGETS / "replay.css").read_text(encoding="utf-8")
    for name, text in (("replay.js", js), ("replay.css", css)):
        # Inlined text must not be able to close its own element early.
        if "</script" in text.lower() or "</style" in text.lower():
            raise ValueError(f"{name} contains a closing tag and cannot be inlined")
    meta = trace.meta or {}
    n, m = trace.memory_shape
    if title is None:
        title = f"NTM replay: {str(meta.get('task', 'run')).replace('_', ' ')}" + (f", length {meta['length']}" if "length" in meta else "")
    bits = meta.get("bits_wrong", int(trace.wrong_bits.sum()))
    subtitle = f"{trace.steps} steps, {n} x {m} memory, heads: {', '.join(trace.head_kinds)}; {bits} bits wrong"
    # The encoding sends NaN as +inf (see trace.py), so both land on the top end.
    note = nonfinite_note(sum(nonfinite_counts(trace).values()), "at the top end")
    if note:
        subtitle += f". {note}"
    data = base64.b64encode(trace.to_bytes(memory_dtype=memory_dtype)).decode("ascii")
    # Wrapped at 76 columns like MIME base64, so editors and diff tools cope with the file.
    data = "\n".join(data[i:i + 76] for i in range(0, len(data), 76))
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

    Same renderer as the ReplayPlayer widget (replay.js, inlined), the trace inlined as
    base64, its own play / pause / step / scrub controls; opens offline from file://.
    Raises ``IsADirectoryError`` (one line, naming ``path``) when ``path`` is a folder.
    """
    path = pathlib.Path(check_file_path(path, "replay.html"))
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(replay_html(trace, title=title, width=width, memory_dtype=memory_dtype), encoding="utf-8")
    return str(path)
