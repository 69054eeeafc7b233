"""Live training curves: loss and bit errors per sequence against step, log y.

The kernel sends the (downsampled) history as float32 bytes, at most every few
hundred milliseconds; the browser draws, on a log axis, the raw points (light)
and their trailing mean over the last ``window`` steps (bold; ``plotting.curves.
window_mean``, computed here at full resolution), with a caption that says so.
Sending a thousand points costs the kernel well under a millisecond, so the curves
can follow training without slowing it (see benchmarks/playground_overhead.py).

``ImageCurves`` is the fallback for front ends without custom widgets: the same data
drawn by ``plotting.curves.curves_png`` into an ``ipywidgets.Image``; matplotlib is
slow (tens of ms a frame), so the Playground redraws it less often.
"""

from __future__ import annotations

from typing import Dict, List, Sequence

import anywidget
import ipywidgets as widgets
import numpy as np
import traitlets

from ..plotting.curves import BITS_FLOOR, LOSS_FLOOR, curves_png, downsample, smooth_window, window_mean

_ESM = r"""
const NS = "http://www.w3.org/2000/svg";

function f32(dv) {
  // Bytes arrive as a DataView whose offset need not be 4-aligned: copy first.
  if (!dv || !dv.byteLength) return new Float32Array(0);
  const buf = dv.buffer.slice(dv.byteOffset, dv.byteOffset + dv.byteLength);
  return new Float32Array(buf);
}

// Theme colours: JupyterLab's CSS variables (light and dark themes), with fallbacks
// for front ends without them. SVG presentation attributes cannot hold var(), so
// node() sets these as style properties.
const C = {
  text: "var(--jp-ui-font-color1, #333)",
  muted: "var(--jp-ui-font-color2, #666)",
  faint: "var(--jp-ui-font-color3, #999)",
  frame: "var(--jp-border-color1, #bbb)",
  grid: "var(--jp-border-color2, #eee)",
};

function node(tag, attrs, parent) {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs) {
    const v = attrs[k];
    if (typeof v === "string" && v.startsWith("var(")) e.style.setProperty(k, v);
    else e.setAttribute(k, v);
  }
  if (parent) parent.appendChild(e);
  return e;
}

function fmt(v) {
  if (!isFinite(v)) return "-";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1000 || a < 0.01) return v.toExponential(1);
  return v.toPrecision(3);
}

function xTicks(lo, hi) {
  const span = Math.max(hi - lo, 1);
  const raw = span / 4;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(v);
  return out;
}

function logs(ys, floor) {
  const out = new Float64Array(ys.length);
  for (let i = 0; i < ys.length; i++) {
    const v = ys[i];
    out[i] = v !== null && isFinite(v) ? Math.log10(Math.max(v, floor)) : NaN;
  }
  return out;
}

function panel(parent, title, colour, xs, ys, smooth, floor, overlays, restarts) {
  // ys: the raw points (light); smooth: their trailing window mean, made in the kernel
  // (plotting.curves.window_mean), drawn bold. overlays: [{color, label, xs, ys}] with
  // ys already smoothed, drawn dashed under the current run. restarts: steps that ended
  // with fresh weights, drawn as dotted vertical lines (the curve jumps back up there).
  const W = 340, H = 190, L = 46, R = 10, T = 22, B = 26;
  const svg = node("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "ntm-curve-panel" }, parent);
  svg.style.fontFamily = "sans-serif";
  svg.style.fontSize = "10px";
  const n = xs.length;
  let last = NaN;
  for (let i = n - 1; i >= 0; i--) if (isFinite(ys[i])) { last = ys[i]; break; }
  const label = node("text", { x: L, y: 14, fill: C.text }, svg);
  label.style.fontSize = "11px";
  label.textContent = `${title}: ${fmt(last)}`;
  node("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: C.frame }, svg);
  const all = [{ xs, ys, color: colour, main: true }, ...(overlays || [])];
  const ls = logs(smooth, floor);
  // Log y over whole decades that hold the data; values <= 0 sit on the floor.
  let ymin = Infinity, ymax = -Infinity, xmin = Infinity, xmax = -Infinity, total = 0;
  for (const s of all) {
    const m = s.xs.length;
    total += m;
    s.ly = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      const v = s.ys[i];
      s.ly[i] = isFinite(v) && v !== null ? Math.log10(Math.max(v, floor)) : NaN;
      if (isFinite(s.ly[i])) { ymin = Math.min(ymin, s.ly[i]); ymax = Math.max(ymax, s.ly[i]); }
      if (isFinite(s.xs[i])) { xmin = Math.min(xmin, s.xs[i]); xmax = Math.max(xmax, s.xs[i]); }
    }
  }
  if (total === 0) {
    const t = node("text", { x: (W + L - R) / 2, y: (H + T - B) / 2, "text-anchor": "middle", fill: C.faint }, svg);
    t.textContent = "press Train";
    return;
  }
  if (!isFinite(ymin)) { ymin = 0; ymax = 1; }
  let d0 = Math.floor(ymin), d1 = Math.ceil(ymax);
  if (d1 <= d0) d1 = d0 + 1;
  const x0 = xmin, x1 = xmax > xmin ? xmax : xmin + 1;
  const sx = (x) => L + ((x - x0) / Math.max(x1 - x0, 1e-9)) * (W - L - R);
  const sy = (l) => T + (1 - (l - d0) / (d1 - d0)) * (H - T - B);
  for (let d = d0; d <= d1; d++) {
    const y = sy(d);
    node("line", { x1: L, x2: W - R, y1: y, y2: y, stroke: C.grid }, svg);
    const t = node("text", { x: L - 4, y: y + 3, "text-anchor": "end", fill: C.muted }, svg);
    t.textContent = d >= -2 && d <= 3 ? String(Math.pow(10, d)) : `1e${d}`;
  }
  for (const v of xTicks(x0, x1)) {
    const x = sx(v);
    const anchor = x > W - R - 14 ? "end" : "middle";  // keep the last label inside
    const t = node("text", { x: Math.min(x, W - 2), y: H - 8, "text-anchor": anchor, fill: C.muted }, svg);
    t.textContent = String(Math.round(v));
  }
  for (const r of restarts || []) {
    if (!(r >= x0 && r <= x1)) continue;
    const x = sx(r).toFixed(1);
    node("line", { x1: x, x2: x, y1: T, y2: H - B, stroke: C.muted, "stroke-width": 1, "stroke-dasharray": "2 2", class: "ntm-curve-restart" }, svg);
  }
  // Past runs first (dashed, smoothed), then the current run on top.
  for (const s of all.slice(1)) {
    const sm = s.ly, pts = [];
    for (let i = 0; i < s.xs.length; i++) if (isFinite(sm[i])) pts.push(`${sx(s.xs[i]).toFixed(1)},${sy(sm[i]).toFixed(1)}`);
    const line = node("polyline", { points: pts.join(" "), fill: "none", stroke: s.color, "stroke-width": 1.6, "stroke-dasharray": "5 3", class: "ntm-curve-overlay" }, svg);
    line.dataset.label = s.label || "";
  }
  // Raw points (light dots on a faint line) and the window mean (bold).
  // The dots are one path of zero-length round-capped segments: one element, not n.
  let raw = [], line = [], dots = [];
  for (let i = 0; i < n; i++) {
    if (isFinite(all[0].ly[i])) {
      const px = sx(xs[i]).toFixed(1), py = sy(all[0].ly[i]).toFixed(1);
      raw.push(`${px},${py}`);
      dots.push(`M${px},${py}h0`);
    }
    if (isFinite(ls[i])) line.push(`${sx(xs[i]).toFixed(1)},${sy(ls[i]).toFixed(1)}`);
  }
  node("polyline", { points: raw.join(" "), fill: "none", stroke: colour, "stroke-opacity": 0.2, "stroke-width": 1, class: "ntm-curve-raw" }, svg);
  node("path", { d: dots.join(""), stroke: colour, "stroke-opacity": 0.5, "stroke-width": n > 400 ? 2 : 3, "stroke-linecap": "round", class: "ntm-curve-points" }, svg);
  node("polyline", { points: line.join(" "), fill: "none", stroke: colour, "stroke-width": 2, class: "ntm-curve-smooth" }, svg);
}

function legend(parent, label, overlays, caption, restarts) {
  const box = document.createElement("div");
  box.className = "ntm-curve-legend";
  box.style.cssText = `flex-basis:100%;font:12px sans-serif;color:${C.text};display:flex;flex-wrap:wrap;gap:4px 14px`;
  const item = (text, css) => {
    const s = document.createElement("span");
    const sw = document.createElement("span");
    sw.style.cssText = `display:inline-block;width:22px;height:0;vertical-align:middle;margin-right:4px;${css}`;
    s.appendChild(sw);
    s.appendChild(document.createTextNode(text));
    box.appendChild(s);
  };
  const cap = document.createElement("span");
  cap.className = "ntm-curve-caption";
  cap.textContent = caption;
  box.appendChild(cap);
  if (restarts.length) {
    const n = restarts.length;
    item(`${n} restart${n > 1 ? "s" : ""} (fresh weights)`, `border-left:1px dashed ${C.muted};height:10px;width:0;margin-left:6px;margin-right:8px`);
  }
  if (overlays.length) {
    item(label || "current run", `border-top:2px solid ${C.muted}`);
    for (const o of overlays) item(`${o.label} (mean of ${o.window} steps)`, `border-top:2px dashed ${o.color}`);
  }
  parent.appendChild(box);
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.style.display = "flex";
  root.style.flexWrap = "wrap";
  root.style.gap = "8px";
  el.appendChild(root);
  const draw = () => {
    const t0 = performance.now();
    root.replaceChildren();
    const xs = f32(model.get("steps"));
    const overlays = model.get("overlays") || [];
    const pick = (key) => overlays.map((o) => ({ color: o.color, label: o.label, xs: o.steps, ys: o["smooth_" + key] }));
    const sl = f32(model.get("smooth_loss")), sb = f32(model.get("smooth_bits"));
    const restarts = model.get("restarts") || [];
    panel(root, "loss", "#1f77b4", xs, f32(model.get("loss")), sl, model.get("loss_floor"), pick("loss"), restarts);
    panel(root, "bit errors / seq", "#d62728", xs, f32(model.get("bits")), sb, model.get("bits_floor"), pick("bits"), restarts);
    if (xs.length || overlays.length) legend(root, model.get("label"), overlays, model.get("caption"), restarts);
    root.dataset.points = String(xs.length);
    root.dataset.overlays = String(overlays.length);
    root.dataset.restarts = String(restarts.length);
    root.dataset.version = String(model.get("version"));
    root.dataset.drawMs = (performance.now() - t0).toFixed(2);  // read by browser tests
  };
  draw();
  model.on("change:version", draw);
  return () => model.off("change:version", draw);
}

export default { render };
"""


def _f32(values) -> bytes:
    return np.ascontiguousarray(values, dtype="<f4").tobytes()


OVERLAY_POINTS = 300  # points per curve of a past run drawn under the current one
OVERLAY_COLOURS = ("#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")


def _json_floats(values) -> List:
    """Floats for JSON: 4 significant digits (a curve drawn 340 px wide needs no more), NaN as None."""
    return [None if not np.isfinite(v) else float(f"{v:.4g}") for v in np.asarray(values, dtype=np.float64)]


def overlay_series(overlays: Sequence[Dict], max_points: int = OVERLAY_POINTS) -> List[Dict]:
    """[{label, steps, loss, bits[, color]}] -> the same, down-sampled, as JSON lists, each with a colour."""
    out = []
    for k, o in enumerate(overlays):
        steps = np.asarray(o["steps"], dtype=np.float64)
        loss = np.asarray([np.nan if v is None else v for v in o["loss"]], dtype=np.float64)
        bits = np.asarray([np.nan if v is None else v for v in o["bits"]], dtype=np.float64)
        window = smooth_window(steps[-1] - steps[0] + 1 if steps.size else 0)
        sl, sb = window_mean(steps, loss, window), window_mean(steps, bits, window)
        s, lo, b, sl, sb = downsample(steps, loss, bits, sl, sb, max_points=max_points)
        out.append(
            {
                "label": str(o.get("label", f"run {k + 1}")),
                "color": o.get("color") or OVERLAY_COLOURS[k % len(OVERLAY_COLOURS)],
                "steps": _json_floats(s),
                "loss": _json_floats(lo),
                "bits": _json_floats(b),
                "window": window,
                "smooth_loss": _json_floats(sl),
                "smooth_bits": _json_floats(sb),
            }
        )
    return out


def smoothing_caption(n_steps: int, n_points: int, window: int) -> str:
    """What the two lines of each panel are, in words (shown under the curves)."""
    per = n_steps / max(n_points, 1)
    light = "light: every step" if per <= 1.5 else f"light: each point the mean of ~{per:,.0f} steps"
    return f"bold: mean of the last {window:,} steps \u00b7 {light}"


class LiveCurves(anywidget.AnyWidget):
    """Loss and bit-error curves drawn by the browser from float32 bytes."""

    _esm = _ESM
    steps = traitlets.Bytes(b"", help="float32 little-endian step numbers, one per point").tag(sync=True)
    loss = traitlets.Bytes(b"", help="float32 loss per point (NaN: skipped step)").tag(sync=True)
    bits = traitlets.Bytes(b"", help="float32 bit errors per sequence per point").tag(sync=True)
    smooth_loss = traitlets.Bytes(b"", help="float32 loss, mean over the last `window` steps, per point").tag(sync=True)
    smooth_bits = traitlets.Bytes(b"", help="float32 bit errors per sequence, mean over the last `window` steps").tag(sync=True)
    window = traitlets.Int(20, help="steps the bold line averages over (plotting.curves.smooth_window)").tag(sync=True)
    caption = traitlets.Unicode("", help="what the bold and light lines are, shown under the curves").tag(sync=True)
    version = traitlets.Int(0, help="bumped after each data change; the front end redraws on it").tag(sync=True)
    loss_floor = traitlets.Float(LOSS_FLOOR, help="loss values below this sit on the floor of the log axis").tag(sync=True)
    bits_floor = traitlets.Float(
        BITS_FLOOR, help="bit errors per sequence below this (0 included) sit on the floor of the log axis"
    ).tag(sync=True)
    max_points = traitlets.Int(1000, help="points sent per curve; longer histories are averaged into bins")
    overlays = traitlets.List(
        help="past runs drawn dashed under the current one: [{label, color, steps, loss, bits}] (set_overlays)"
    ).tag(sync=True)
    label = traitlets.Unicode("", help="the current run's name in the legend (shown with overlays)").tag(sync=True)
    restarts = traitlets.List(
        traitlets.Float(), help="steps that ended with a restart (fresh weights), drawn as dotted vertical lines"
    ).tag(sync=True)

    @traitlets.validate("max_points")
    def _check_max_points(self, proposal):
        value = proposal["value"]
        if not 2 <= value <= 100_000:
            raise traitlets.TraitError(f"max_points must be in [2, 100000], got {value}")
        return value

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_class("ntm-curves")

    def set_data(
        self, steps: Sequence[float], loss: Sequence[float], bits: Sequence[float], restarts: Sequence[float] = ()
    ) -> None:
        """Replace the curves with this history (downsampled to ``max_points``);
        ``restarts``: the steps that ended with fresh weights."""
        steps, loss, bits = (np.asarray(a, dtype=np.float64) for a in (steps, loss, bits))
        span = int(steps[-1] - steps[0] + 1) if steps.size else 0
        window = smooth_window(span)
        # Smoothed at full resolution (the window is in steps), then binned with the raw points.
        sl, sb = window_mean(steps, loss, window), window_mean(steps, bits, window)
        s, l, b, sl, sb = downsample(steps, loss, bits, sl, sb, max_points=self.max_points)
        with self.hold_sync():  # one message for all the traits
            self.steps, self.loss, self.bits = _f32(s), _f32(l), _f32(b)
            self.smooth_loss, self.smooth_bits = _f32(sl), _f32(sb)
            self.window = window
            self.restarts = [float(r) for r in restarts]
            self.caption = smoothing_caption(steps.size, s.size, window) if steps.size else ""
            self.version += 1

    def set_overlays(self, overlays: Sequence[Dict], label: str = "") -> None:
        """Draw these runs ([{label, steps, loss, bits[, color]}]) under the current curves."""
        with self.hold_sync():
            self.overlays = overlay_series(overlays)
            self.label = label
            self.version += 1

    def clear(self) -> None:
        self.set_data([], [], [])

    def arrays(self):
        """What the front end holds now, decoded: (steps, loss, bits) float32 arrays."""
        return tuple(np.frombuffer(v, dtype="<f4") for v in (self.steps, self.loss, self.bits))

    def smoothed(self):
        """The bold lines the front end draws, decoded: (loss, bits) float32 arrays."""
        return tuple(np.frombuffer(v, dtype="<f4") for v in (self.smooth_loss, self.smooth_bits))

    def __repr__(self) -> str:
        return f"LiveCurves(points={len(self.steps) // 4})"


class ImageCurves(widgets.Image):
    """Fallback: the same curves as a PNG made by matplotlib (slower; redraw rarely)."""

    max_points = traitlets.Int(1000, help="points drawn per curve")

    def __init__(self, **kwargs):
        kwargs.setdefault("format", "png")
        # Explicit size: JupyterLab's CSS stretches an Image without one.
        kwargs.setdefault("width", 640)
        kwargs.setdefault("height", 208)
        super().__init__(**kwargs)
        self.add_class("ntm-curves")
        self._n = 0
        self.overlays: List[Dict] = []
        self.label = ""
        self._data = (np.zeros(0), np.zeros(0), np.zeros(0))
        self.restarts: List[float] = []
        self.clear()

    def set_data(self, steps, loss, bits, restarts: Sequence[float] = ()) -> None:
        s, l, b = downsample(np.asarray(steps), np.asarray(loss), np.asarray(bits), max_points=self.max_points)
        self._n = len(s)
        self._data = (s, l, b)
        self.restarts = [float(r) for r in restarts]
        self.value = curves_png(s, l, b, overlays=self.overlays, label=self.label, restarts=self.restarts)

    def set_overlays(self, overlays: Sequence[Dict], label: str = "") -> None:
        self.overlays = overlay_series(overlays)
        self.label = label
        self.value = curves_png(*self._data, overlays=self.overlays, label=self.label, restarts=self.restarts)

    def clear(self) -> None:
        self.set_data([], [], [])

    def __repr__(self) -> str:
        return f"ImageCurves(points={self._n})"
