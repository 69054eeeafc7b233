"""Live training curves: loss and bit errors per sequence against step, log y.

The kernel sends the (downsampled) history as float32 bytes, at most every few
hundred milliseconds; the browser draws two SVG polylines (the raw trace and its
moving average) on a log axis. Sending a thousand points costs the kernel well under
a millisecond, so the curves can follow training without slowing it (see
benchmarks/playground_overhead.py).

``ImageCurves`` is the fallback for front ends without custom widgets: the same data
drawn by ``plotting.curves.curves_png`` into an ``ipywidgets.Image``; matplotlib is
slow (tens of ms a frame), so the Playground redraws it less often.
"""

from __future__ import annotations

from typing import Sequence

import anywidget
import ipywidgets as widgets
import numpy as np
import traitlets

from ..plotting.curves import BITS_FLOOR, LOSS_FLOOR, curves_png, downsample

_ESM = r"""
const NS = "http://www.w3.org/2000/svg";

function f32(dv) {
  // Bytes arrive as a DataView whose offset need not be 4-aligned: copy first.
  if (!dv || !dv.byteLength) return new Float32Array(0);
  const buf = dv.buffer.slice(dv.byteOffset, dv.byteOffset + dv.byteLength);
  return new Float32Array(buf);
}

function node(tag, attrs, parent) {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
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

function panel(parent, title, colour, xs, ys, floor) {
  const W = 340, H = 190, L = 46, R = 10, T = 22, B = 26;
  const svg = node("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "ntm-curve-panel" }, parent);
  svg.style.fontFamily = "sans-serif";
  svg.style.fontSize = "10px";
  const n = xs.length;
  let last = NaN;
  for (let i = n - 1; i >= 0; i--) if (isFinite(ys[i])) { last = ys[i]; break; }
  const label = node("text", { x: L, y: 14, fill: "#333" }, svg);
  label.style.fontSize = "11px";
  label.textContent = `${title}: ${fmt(last)}`;
  node("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "#bbb" }, svg);
  if (n === 0) {
    const t = node("text", { x: (W + L - R) / 2, y: (H + T - B) / 2, "text-anchor": "middle", fill: "#999" }, svg);
    t.textContent = "press Train";
    return;
  }
  // Log y over whole decades that hold the data; values <= 0 sit on the floor.
  let ymin = Infinity, ymax = -Infinity;
  const ly = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = ys[i];
    ly[i] = isFinite(v) ? Math.log10(Math.max(v, floor)) : NaN;
    if (isFinite(ly[i])) { ymin = Math.min(ymin, ly[i]); ymax = Math.max(ymax, ly[i]); }
  }
  if (!isFinite(ymin)) { ymin = 0; ymax = 1; }
  let d0 = Math.floor(ymin), d1 = Math.ceil(ymax);
  if (d1 <= d0) d1 = d0 + 1;
  const x0 = xs[0], x1 = n > 1 ? xs[n - 1] : xs[0] + 1;
  const sx = (x) => L + ((x - x0) / Math.max(x1 - x0, 1e-9)) * (W - L - R);
  const sy = (l) => T + (1 - (l - d0) / (d1 - d0)) * (H - T - B);
  for (let d = d0; d <= d1; d++) {
    const y = sy(d);
    node("line", { x1: L, x2: W - R, y1: y, y2: y, stroke: "#eee" }, svg);
    const t = node("text", { x: L - 4, y: y + 3, "text-anchor": "end", fill: "#666" }, svg);
    t.textContent = d >= -2 && d <= 3 ? String(Math.pow(10, d)) : `1e${d}`;
  }
  for (const v of xTicks(x0, x1)) {
    const x = sx(v);
    const anchor = x > W - R - 14 ? "end" : "middle";  // keep the last label inside
    const t = node("text", { x: Math.min(x, W - 2), y: H - 8, "text-anchor": anchor, fill: "#666" }, svg);
    t.textContent = String(Math.round(v));
  }
  // Raw trace (light) and its exponential moving average (dark).
  const alpha = Math.min(1, 30 / Math.max(n, 1));
  let raw = [], smooth = [], acc = NaN;
  for (let i = 0; i < n; i++) {
    if (!isFinite(ly[i])) continue;
    const v = Math.pow(10, ly[i]);
    acc = isFinite(acc) ? (1 - alpha) * acc + alpha * v : v;
    raw.push(`${sx(xs[i]).toFixed(1)},${sy(ly[i]).toFixed(1)}`);
    smooth.push(`${sx(xs[i]).toFixed(1)},${sy(Math.log10(acc)).toFixed(1)}`);
  }
  node("polyline", { points: raw.join(" "), fill: "none", stroke: colour, "stroke-opacity": 0.3, "stroke-width": 1, class: "ntm-curve-raw" }, svg);
  node("polyline", { points: smooth.join(" "), fill: "none", stroke: colour, "stroke-width": 1.8, class: "ntm-curve-smooth" }, svg);
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
    panel(root, "loss", "#1f77b4", xs, f32(model.get("loss")), model.get("loss_floor"));
    panel(root, "bit errors / seq", "#d62728", xs, f32(model.get("bits")), model.get("bits_floor"));
    root.dataset.points = String(xs.length);
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


class LiveCurves(anywidget.AnyWidget):
    """Loss and bit-error curves drawn by the browser from float32 bytes."""

    _esm = _ESM
    steps = traitlets.Bytes(b"", help="float32 little-endian step numbers, one per point").tag(sync=True)
    loss = traitlets.Bytes(b"", help="float32 loss per point (NaN: skipped step)").tag(sync=True)
    bits = traitlets.Bytes(b"", help="float32 bit errors per sequence per point").tag(sync=True)
    version = traitlets.Int(0, help="bumped after each data change; the front end redraws on it").tag(sync=True)
    loss_floor = traitlets.Float(LOSS_FLOOR, help="loss values below this sit on the floor of the log axis").tag(sync=True)
    bits_floor = traitlets.Float(
        BITS_FLOOR, help="bit errors per sequence below this (0 included) sit on the floor of the log axis"
    ).tag(sync=True)
    max_points = traitlets.Int(1000, help="points sent per curve; longer histories are averaged into bins")

    @traitlets.validate("max_points")
    def _check_max_points(self, proposal):
        value = proposal["value"]
        if not 2 <= value <= 100_000:
            raise traitlets.TraitError(f"max_points must be in [2, 100000], got {value}")
        return value

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_class("ntm-curves")

    def set_data(self, steps: Sequence[float], loss: Sequence[float], bits: Sequence[float]) -> None:
        """Replace the curves with this history (downsampled to ``max_points``)."""
        s, l, b = downsample(np.asarray(steps), np.asarray(loss), np.asarray(bits), max_points=self.max_points)
        with self.hold_sync():  # one message for all four traits
            self.steps, self.loss, self.bits = _f32(s), _f32(l), _f32(b)
            self.version += 1

    def clear(self) -> None:
        self.set_data([], [], [])

    def arrays(self):
        """What the front end holds now, decoded: (steps, loss, bits) float32 arrays."""
        return tuple(np.frombuffer(v, dtype="<f4") for v in (self.steps, self.loss, self.bits))

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
        self.clear()

    def set_data(self, steps, loss, bits) -> None:
        s, l, b = downsample(np.asarray(steps), np.asarray(loss), np.asarray(bits), max_points=self.max_points)
        self._n = len(s)
        self.value = curves_png(s, l, b)

    def clear(self) -> None:
        self.set_data([], [], [])

    def __repr__(self) -> str:
        return f"ImageCurves(points={self._n})"
