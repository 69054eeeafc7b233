// Replay player for a recorded NTM run (Graves et al. 2014, arXiv:1410.5401).
//
// One renderer, with its play / pause / step / scrub bar, for two hosts: the
// ReplayPlayer anywidget (model = an ipywidgets model) and the standalone HTML page
// written by ntm_widgets/render/page.py (model = a tiny object with the same
// get / set / on / off / save_changes methods).
//
// Model attributes read here:
//   trace_bytes  the whole trace, once (format: ntm_widgets/trace.py, Trace.to_bytes)
//   step         the time step to show, 0..T-1
//   colormaps    {memory, weights, bits}: 256 x RGB lookup tables from matplotlib
//   width        canvas width in CSS pixels
//   builtin_controls  "on" / "off" / "auto": the bar inside the element; "auto"
//                     draws it only when the player is not inside its own
//                     .ntm-replay-ui box (whose ipywidgets Play already drives it)
//   interval     milliseconds per step when the bar plays (its speed menu sets it)
//   keyboard     "document": keys work anywhere on the page (the standalone page);
//                otherwise only while the canvas has the focus
// and written: step (by the bar and the keys), interval (by the speed menu),
// frontend_info {decoded, decode_ms, bytes, steps} once decoded.
//
// Readability: row numbers beside the weighting panels and memory (rowTicks), a
// colour scale with its values under memory (memory -lim..0..+lim, weighting 0..max),
// and the keyboard shortcuts as a line of text under the canvas (.ntm-replay-keys).
// Text, axes and background follow the theme: replay.css maps JupyterLab's CSS
// variables (or prefers-color-scheme on the standalone page) to --ntm-replay-*,
// read here at each frame. What was drawn is also written to data-* attributes
// (data-row-ticks, data-head-row-ticks, data-scales) for scripts and tests.
//
// Everything that does not depend on the step (the N x T weighting heatmaps, the
// bit panels, layout) is drawn once into offscreen canvases; a frame copies those,
// fills one N x M ImageData for memory and draws a few strips and labels.

const MAGIC = "NTMTRACE";
const FORMAT_VERSION = 2;
const WRONG = "#e4002b";
const CURSOR = "#00a0e0";
const FONT = "11px -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";
const SMALL = "10px -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";
const BOLD = "bold 11px -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";

// ---------------------------------------------------------------- decoding

let HALF_TABLE = null;
function halfTable() {
  // float16 -> float32 for all 65536 bit patterns; built once, then a lookup per cell.
  if (HALF_TABLE) return HALF_TABLE;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    if (e === 0) t[h] = s * Math.pow(2, -14) * (f / 1024);
    else if (e === 31) t[h] = f ? NaN : s * Infinity;
    else t[h] = s * Math.pow(2, e - 15) * (1 + f / 1024);
  }
  HALF_TABLE = t;
  return t;
}

function toBytes(data) {
  if (!data) return null;
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

function decodeTrace(data) {
  let u8 = toBytes(data);
  if (!u8 || u8.byteLength < 12) throw new Error("no trace bytes received");
  const magic = String.fromCharCode(...u8.subarray(0, 8));
  if (magic !== MAGIC) throw new Error("trace bytes do not start with " + MAGIC);
  const n = u8[8] | (u8[9] << 8) | (u8[10] << 16) | (u8[11] << 24);
  const header = JSON.parse(new TextDecoder().decode(u8.subarray(12, 12 + n)));
  if (header.version !== FORMAT_VERSION) throw new Error(`trace format version ${header.version}; this player reads version ${FORMAT_VERSION}`);
  const body = 12 + n;
  // Typed arrays need aligned offsets; the buffer a widget message arrives in may not
  // start on one, in which case copy once.
  if ((u8.byteOffset + body) % 8 !== 0) u8 = u8.slice();
  const arrays = {};
  for (const [name, spec] of Object.entries(header.arrays)) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const start = u8.byteOffset + body + spec.offset;
    let arr;
    if (spec.dtype === "<f4") arr = new Float32Array(u8.buffer, start, count);
    else if (spec.dtype === "<f2") arr = new Uint16Array(u8.buffer, start, count);
    else if (spec.dtype === "|u1") arr = new Uint8Array(u8.buffer, start, count);
    else throw new Error("unsupported dtype " + spec.dtype + " for " + name);
    arrays[name] = { data: arr, shape: spec.shape, half: spec.dtype === "<f2" };
  }
  const T = header.steps;
  const [N, M] = header.memory_shape;
  const kinds = header.head_kinds;
  const tr = {
    header, arrays, T, N, M, kinds,
    H: kinds.length,
    R: kinds.filter((k) => k === "read").length,
    W: kinds.filter((k) => k === "write").length,
    I: arrays.inputs.shape[1],
    O: arrays.targets.shape[1],
    K: arrays.s.shape[2],
    memLimit: header.memory_limit,
    wMax: header.weight_max,
    bytes: u8.byteLength,
  };
  const mem = arrays.memory;
  if (mem.half) {
    const table = halfTable();
    tr.memAt = (t, i, j) => table[mem.data[(t * N + i) * M + j]];
  } else {
    tr.memAt = (t, i, j) => mem.data[(t * N + i) * M + j];
  }
  // Wrong bits (T x O, 0 or 1) come computed with the trace (Trace.wrong_bits); here
  // they are only counted up to each step for the title line.
  const O = tr.O;
  tr.wrong = arrays.wrong_bits.data;
  tr.wrongUpTo = new Int32Array(T);
  let count = 0;
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < O; o++) count += tr.wrong[t * O + o];
    tr.wrongUpTo[t] = count;
  }
  tr.wrongTotal = count;
  return tr;
}

// ---------------------------------------------------------------- colour

function defaultLut(kind) {
  // Used only if no tables arrive: grey ramp, or blue-white-red.
  const lut = new Uint8Array(768);
  for (let i = 0; i < 256; i++) {
    const x = i / 255;
    let r, g, b;
    if (kind === "memory") {
      r = x < 0.5 ? 2 * x : 1; b = x < 0.5 ? 1 : 2 * (1 - x); g = Math.min(r, b);
    } else if (kind === "bits") { r = g = b = 1 - x; } else { r = x; g = x * x; b = 0.3 + 0.4 * x; }
    lut[3 * i] = r * 255; lut[3 * i + 1] = g * 255; lut[3 * i + 2] = b * 255;
  }
  return lut;
}

function lutFrom(model, kind) {
  const maps = model.get("colormaps") || {};
  const flat = maps[kind];
  return flat && flat.length === 768 ? Uint8Array.from(flat) : defaultLut(kind);
}

function colourIndex(v, vmin, vmax) {
  if (!(v === v)) return -1; // NaN
  let x = (v - vmin) / (vmax - vmin);
  x = x < 0 ? 0 : x > 1 ? 1 : x;
  return (x * 255 + 0.5) | 0;
}

function cssColour(lut, v, vmin, vmax) {
  const k = colourIndex(v, vmin, vmax);
  if (k < 0) return "rgb(128,128,128)";
  return `rgb(${lut[3 * k]},${lut[3 * k + 1]},${lut[3 * k + 2]})`;
}

// Row numbers for an axis of n rows drawn `px` pixels tall: 0, then every k-th row
// (k a power of two, so that labels stand at least `minGap` pixels apart), and the
// last row when it has room.
function rowTicks(n, px, minGap = 14) {
  const rowPx = px / Math.max(1, n);
  let k = 1;
  while (k * rowPx < minGap && k < n) k *= 2;
  const ticks = [];
  for (let i = 0; i < n; i += k) ticks.push(i);
  const last = ticks[ticks.length - 1];
  if (n - 1 > last && (n - 1 - last) * rowPx >= minGap) ticks.push(n - 1);
  return ticks;
}

// Short number for a colour-scale end: 3 significant digits, no exponent unless needed.
function short(v) {
  if (!(v === v)) return "nan";
  if (v === 0) return "0";
  const a = Math.abs(v);
  return a < 1e-3 || a >= 1e5 ? v.toExponential(1) : String(Number(v.toPrecision(3)));
}

// Canvas colours from the theme: --ntm-replay-* (replay.css), fallbacks for a page
// without the style sheet.
const THEME_DEFAULTS = { fg: "#222", fg2: "#555", fg3: "#777", bg: "#fff", border: "#999", track: "#e6e6e6" };
function themeOf(el) {
  const cs = getComputedStyle(el);
  const out = {};
  for (const [k, d] of Object.entries(THEME_DEFAULTS)) out[k] = cs.getPropertyValue("--ntm-replay-" + k).trim() || d;
  return out;
}

// A heatmap of `rows x cols` cells rendered into a canvas of exactly pw x ph pixels.
// When several cells fall on one pixel the largest value wins (max pooling), so a
// one-row-wide weighting peak in a 512-row memory never disappears from view.
function heatCanvas(pw, ph, rows, cols, at, lut, vmin, vmax) {
  const c = document.createElement("canvas");
  c.width = Math.max(1, pw); c.height = Math.max(1, ph);
  const ctx = c.getContext("2d");
  const img = ctx.createImageData(c.width, c.height);
  const px = img.data;
  const colOf = new Int32Array(c.width + 1), rowOf = new Int32Array(c.height + 1);
  for (let x = 0; x <= c.width; x++) colOf[x] = Math.min(cols, Math.floor((x * cols) / c.width));
  for (let y = 0; y <= c.height; y++) rowOf[y] = Math.min(rows, Math.floor((y * rows) / c.height));
  for (let y = 0; y < c.height; y++) {
    const r0 = rowOf[y], r1 = Math.max(r0 + 1, rowOf[y + 1]);
    for (let x = 0; x < c.width; x++) {
      const c0 = colOf[x], c1 = Math.max(c0 + 1, colOf[x + 1]);
      let v = -Infinity;
      for (let r = r0; r < r1; r++) for (let q = c0; q < c1; q++) { const a = at(r, q); if (a > v) v = a; }
      const k = colourIndex(v, vmin, vmax);
      const o = 4 * (y * c.width + x);
      if (k < 0) { px[o] = px[o + 1] = px[o + 2] = 128; } else { px[o] = lut[3 * k]; px[o + 1] = lut[3 * k + 1]; px[o + 2] = lut[3 * k + 2]; }
      px[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  return c;
}

// ---------------------------------------------------------------- layout

function layout(tr, width) {
  const L = {};
  const gutter = 92; // row labels on the left
  const { T, N, M, I, O, H, W, R } = tr;
  // Right column: memory, one px per row at least, taller rows when N is small.
  const memRowPx = N <= 48 ? 6 : N <= 96 ? 4 : N <= 192 ? 2 : 1;
  const memCellW = Math.max(3, Math.min(18, Math.floor(200 / M)));
  const memW = M * memCellW, memH = N * memRowPx;
  const stripW = 10; // current weighting of each head, beside memory
  const rightW = Math.max(34 + H * (stripW + 3) + memW + 14, 270); // room for the parameter rows
  const plotW = Math.max(160, width - gutter - rightW - 16);
  const top = 26;
  const bitRow = Math.max(3, Math.min(9, Math.floor(72 / Math.max(I, O))));
  let y = top;
  L.panels = [];
  const addPanel = (key, label, rows, rowPx) => {
    const p = { key, label, x: gutter, y, w: plotW, h: rows * rowPx, rows };
    L.panels.push(p); y += p.h + 16; return p;
  };
  L.inputs = addPanel("inputs", "inputs", I, bitRow);
  L.targets = addPanel("targets", "targets", O, bitRow);
  L.outputs = addPanel("outputs", "outputs", O, bitRow);
  const headPx = Math.max(48, Math.min(150, N * 3));
  L.heads = [];
  for (let h = 0; h < H; h++) L.heads.push(addPanel("w" + h, headName(tr, h), N, headPx / N));
  L.timeAxisY = y - 12;
  L.leftBottom = y + 8;
  // Right column.
  const rx = gutter + plotW + 16;
  L.strips = [];
  for (let h = 0; h < H; h++) L.strips.push({ x: rx + 34 + h * (stripW + 3), y: top, w: stripW, h: memH });
  L.memory = { x: rx + 34 + H * (stripW + 3) + 4, y: top, w: memW, h: memH, cellW: memCellW, rowPx: memRowPx };
  let ry = top + memH + 22;
  const vecH = 12;
  L.vectors = [];
  for (let w = 0; w < W; w++) {
    L.vectors.push({ kind: "erase", index: w, x: L.memory.x, y: ry, w: memW, h: vecH }); ry += vecH + 4;
    L.vectors.push({ kind: "add", index: w, x: L.memory.x, y: ry, w: memW, h: vecH }); ry += vecH + 8;
  }
  for (let r = 0; r < R; r++) { L.vectors.push({ kind: "read", index: r, x: L.memory.x, y: ry, w: memW, h: vecH }); ry += vecH + 8; }
  // Colour scales, side by side: memory (and reads), then weightings.
  ry += 14; // their titles
  L.scales = [
    { kind: "memory", x: rx + 8, y: ry, w: 112, h: 8 },
    { kind: "weights", x: rx + 150, y: ry, w: 100, h: 8 },
  ];
  ry += 8 + 24; // bar and its values
  L.params = { x: rx, y: ry + 6, rowH: 34, w: width - rx - 8 };
  ry = L.params.y + H * L.params.rowH;
  L.width = width;
  L.height = Math.ceil(Math.max(L.leftBottom + 20, ry + 8));
  return L;
}

function headName(tr, h) {
  const kind = tr.kinds[h];
  let n = 0;
  for (let i = 0; i < h; i++) if (tr.kinds[i] === kind) n++;
  return `${kind} ${n}`;
}

// ---------------------------------------------------------------- renderer

function fmt(v) {
  if (!(v === v)) return "nan";
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e4) ? v.toExponential(2) : v.toFixed(3);
}

function render({ model, el }) {
  el.classList.add("ntm-replay");
  const canvas = document.createElement("canvas");
  canvas.className = "ntm-replay-canvas";
  canvas.tabIndex = 0;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "NTM replay: memory, head weightings and outputs at the current step");
  const tip = document.createElement("div");
  tip.className = "ntm-replay-tooltip";
  el.appendChild(canvas);
  el.appendChild(tip);
  const ctx = canvas.getContext("2d");

  const keys = document.createElement("div");
  keys.className = "ntm-replay-keys";
  el.appendChild(keys);

  let tr = null, L = null, cache = null, frames = 0, drawMs = 0, pending = false, hover = null, th = THEME_DEFAULTS;
  const luts = {};
  let memTicks = [], headTicks = [];
  el.dataset.frames = "0";

  function showError(msg) {
    el.dataset.error = msg;
    let box = el.querySelector(".ntm-replay-message");
    if (!box) { box = document.createElement("div"); box.className = "ntm-replay-message"; el.insertBefore(box, canvas); }
    box.textContent = "Replay: " + msg;
  }

  function load() {
    const t0 = performance.now();
    try {
      tr = decodeTrace(model.get("trace_bytes"));
    } catch (err) {
      tr = null;
      showError(err.message);
      return;
    }
    luts.memory = lutFrom(model, "memory");
    luts.weights = lutFrom(model, "weights");
    luts.bits = lutFrom(model, "bits");
    L = layout(tr, model.get("width") || 960);
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(L.width * dpr);
    canvas.height = Math.round(L.height * dpr);
    canvas.style.width = L.width + "px";
    canvas.style.height = L.height + "px";
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    buildCache();
    memTicks = rowTicks(tr.N, L.memory.h);
    headTicks = L.heads.length ? rowTicks(tr.N, L.heads[0].h) : [];
    el.dataset.rowTicks = memTicks.join(",");
    el.dataset.headRowTicks = headTicks.join(",");
    el.dataset.scaleBoxes = JSON.stringify(L.scales.map((b) => [b.x, b.y, b.w, b.h]));
    showKeys();
    const ms = performance.now() - t0;
    el.dataset.decodeMs = ms.toFixed(1);
    el.dataset.steps = String(tr.T);
    // Where memory is drawn (CSS px within the canvas), so tests can hover a cell.
    el.dataset.memoryBox = [L.memory.x, L.memory.y, L.memory.w, L.memory.h].map(Math.round).join(",");
    el.dataset.loaded = "1";
    const info = { decoded: true, decode_ms: ms, bytes: tr.bytes, steps: tr.T };
    try { model.set("frontend_info", info); model.save_changes(); } catch (e) { /* host without the trait */ }
    if (bar) bar.sync();
    schedule();
  }

  function buildCache() {
    const { T, N, M, O, I, arrays } = tr;
    const at2 = (arr, cols) => (r, c) => arr[c * cols + r]; // stored (T, rows); drawn rows x time
    cache = {};
    const pin = L.inputs, pt = L.targets, po = L.outputs;
    cache.inputs = heatCanvas(pin.w, pin.h, I, T, at2(arrays.inputs.data, I), luts.bits, 0, 1);
    cache.targets = heatCanvas(pt.w, pt.h, O, T, at2(arrays.targets.data, O), luts.bits, 0, 1);
    const oc = heatCanvas(po.w, po.h, O, T, at2(arrays.outputs.data, O), luts.bits, 0, 1);
    // Wrong bits: outlined when a cell is big enough to see an outline, filled otherwise.
    const octx = oc.getContext("2d");
    const cw = po.w / T, ch = po.h / O;
    octx.strokeStyle = WRONG; octx.fillStyle = WRONG; octx.lineWidth = 2;
    for (let t = 0; t < T; t++) for (let o = 0; o < O; o++) {
      if (!tr.wrong[t * O + o]) continue;
      if (cw >= 6 && ch >= 6) octx.strokeRect(t * cw + 1, o * ch + 1, cw - 2, ch - 2);
      else octx.fillRect(Math.floor(t * cw), Math.floor(o * ch), Math.max(1, Math.ceil(cw)), Math.max(1, Math.ceil(ch)));
    }
    cache.outputs = oc;
    const wts = arrays.weights.data, H = tr.H;
    cache.heads = L.heads.map((p, h) => heatCanvas(p.w, Math.round(p.h), N, T, (r, t) => wts[(t * H + h) * N + r], luts.weights, 0, tr.wMax));
    cache.memCanvas = document.createElement("canvas");
    cache.memCanvas.width = M; cache.memCanvas.height = N;
    cache.memCtx = cache.memCanvas.getContext("2d");
    cache.memImg = cache.memCtx.createImageData(M, N);
    cache.stripCanvas = document.createElement("canvas");
    cache.stripCanvas.width = 1; cache.stripCanvas.height = N;
    cache.stripCtx = cache.stripCanvas.getContext("2d");
    cache.stripImg = cache.stripCtx.createImageData(1, N);
  }

  function stepNow() {
    const s = model.get("step") | 0;
    return tr ? Math.max(0, Math.min(tr.T - 1, s)) : 0;
  }

  function schedule() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; draw(); });
  }

  function label(text, x, y, align = "right", font = FONT, colour = th.fg) {
    ctx.font = font; ctx.fillStyle = colour; ctx.textAlign = align; ctx.textBaseline = "middle";
    ctx.fillText(text, x, y);
  }

  // Row numbers left of a panel whose n rows span y..y+h: a tick mark and the number.
  function rowAxis(x, y, h, n, ticks) {
    ctx.strokeStyle = th.fg3; ctx.lineWidth = 1;
    for (const i of ticks) {
      const ty = Math.round(y + ((i + 0.5) * h) / n) + 0.5;
      ctx.beginPath(); ctx.moveTo(x - 3, ty); ctx.lineTo(x, ty); ctx.stroke();
      label(String(i), x - 5, ty, "right", SMALL, th.fg2);
    }
  }

  // A horizontal colour bar for values lo..hi with its values under it.
  function colourScale(box, title, lut, lo, hi, values) {
    label(title, box.x, box.y - 7, "left", FONT, th.fg2);
    for (let x = 0; x < box.w; x++) {
      ctx.fillStyle = cssColour(lut, lo + ((x + 0.5) / box.w) * (hi - lo), lo, hi);
      ctx.fillRect(box.x + x, box.y, 1, box.h);
    }
    ctx.strokeStyle = th.border; ctx.lineWidth = 1; ctx.strokeRect(box.x - 0.5, box.y - 0.5, box.w + 1, box.h + 1);
    const labels = [];
    for (const v of values) {
      const x = box.x + ((v - lo) / (hi - lo)) * box.w;
      const text = (v > 0 && lo < 0 ? "+" : "") + short(v);
      ctx.strokeStyle = th.fg3;
      ctx.beginPath(); ctx.moveTo(Math.round(x) + 0.5, box.y + box.h); ctx.lineTo(Math.round(x) + 0.5, box.y + box.h + 3); ctx.stroke();
      const align = v === lo ? "left" : v === hi ? "right" : "center";
      label(text.replace("-", "−"), align === "left" ? box.x : align === "right" ? box.x + box.w : x, box.y + box.h + 10, align, SMALL, th.fg2);
      labels.push(text);
    }
    return { name: title, min: lo, max: hi, labels };
  }

  function vectorStrip(box, values, offset, lut, vmin, vmax) {
    const n = tr.M, cw = box.w / n;
    for (let j = 0; j < n; j++) {
      ctx.fillStyle = cssColour(lut, values[offset + j], vmin, vmax);
      ctx.fillRect(box.x + j * cw, box.y, Math.ceil(cw), box.h);
    }
    ctx.strokeStyle = th.border; ctx.lineWidth = 1; ctx.strokeRect(box.x - 0.5, box.y - 0.5, box.w + 1, box.h + 1);
  }

  function draw() {
    if (!tr) return;
    const t0 = performance.now();
    const t = stepNow();
    const { T, N, M, H, W, O, K, arrays } = tr;
    ctx.imageSmoothingEnabled = false;
    th = themeOf(el);
    ctx.clearRect(0, 0, L.width, L.height);
    ctx.fillStyle = th.bg; ctx.fillRect(0, 0, L.width, L.height);

    // Title line: where we are and how the answer is going so far.
    const meta = tr.header.meta || {};
    const scored = arrays.mask.data[t] > 0;
    label(`step ${t} / ${T - 1}`, 8, 12, "left", BOLD);
    label(`${meta.task ? String(meta.task).replace(/_/g, " ") + " · " : ""}${scored ? "answering" : "reading input"} · wrong bits so far ${tr.wrongUpTo[t]} of ${tr.wrongTotal}`, 110, 12, "left");

    // Time panels: cached images, a veil over the future, a cursor at t.
    const timePanels = [[L.inputs, cache.inputs], [L.targets, cache.targets], [L.outputs, cache.outputs]];
    L.heads.forEach((p, h) => timePanels.push([p, cache.heads[h]]));
    const cw = L.inputs.w / T;
    for (const [p, img] of timePanels) {
      ctx.drawImage(img, p.x, p.y, p.w, p.h);
      // A light veil over the bits still to come; head panels stay unveiled because
      // their dark colour map would turn grey under it.
      const fx = p.x + (t + 1) * cw;
      if (fx < p.x + p.w && !p.key.startsWith("w")) {
        ctx.globalAlpha = 0.4; ctx.fillStyle = th.bg;
        ctx.fillRect(fx, p.y, p.x + p.w - fx, p.h);
        ctx.globalAlpha = 1;
      }
      ctx.strokeStyle = th.border; ctx.lineWidth = 1; ctx.strokeRect(p.x - 0.5, p.y - 0.5, p.w + 1, p.h + 1);
      if (p.key.startsWith("w")) {
        // Head panels: name and "row" at the top left, row numbers beside the panel.
        label(p.label, 8, p.y + 5, "left");
        label("row", 8, p.y + 18, "left", SMALL, th.fg3);
        rowAxis(p.x, p.y, p.h, tr.N, headTicks);
      } else {
        label(p.label, p.x - 6, p.y + p.h / 2);
      }
    }
    const cx = L.inputs.x + (t + 0.5) * cw;
    ctx.strokeStyle = CURSOR; ctx.lineWidth = Math.max(1, Math.min(3, cw * 0.3));
    ctx.beginPath(); ctx.moveTo(cx, L.inputs.y - 4); ctx.lineTo(cx, L.timeAxisY + 2); ctx.stroke();
    label("time →", L.inputs.x, L.timeAxisY + 6, "left", FONT, th.fg3);
    label(String(T - 1), L.inputs.x + L.inputs.w, L.timeAxisY + 6, "right", FONT, th.fg3);

    // Memory after step t's write: one ImageData fill, then a scaled copy.
    const px = cache.memImg.data, lm = luts.memory, lim = tr.memLimit;
    for (let i = 0; i < N; i++) for (let j = 0; j < M; j++) {
      const k = colourIndex(tr.memAt(t, i, j), -lim, lim), o = 4 * (i * M + j);
      if (k < 0) { px[o] = px[o + 1] = px[o + 2] = 128; } else { px[o] = lm[3 * k]; px[o + 1] = lm[3 * k + 1]; px[o + 2] = lm[3 * k + 2]; }
      px[o + 3] = 255;
    }
    cache.memCtx.putImageData(cache.memImg, 0, 0);
    const mb = L.memory;
    ctx.drawImage(cache.memCanvas, mb.x, mb.y, mb.w, mb.h);
    ctx.strokeStyle = th.border; ctx.lineWidth = 1; ctx.strokeRect(mb.x - 0.5, mb.y - 0.5, mb.w + 1, mb.h + 1);
    label(`memory ${N}×${M}`, mb.x, mb.y - 8, "left", BOLD);
    // Row numbers for memory and the weighting columns beside it (same row scale).
    const axisX = L.strips.length ? L.strips[0].x - 2 : mb.x - 2;
    label("row", axisX, mb.y - 8, "right", SMALL, th.fg3);
    rowAxis(axisX, mb.y, mb.h, N, memTicks);

    // Each head's weighting at t, as a column beside memory, on memory's row scale.
    const wts = arrays.weights.data, lw = luts.weights, sp = cache.stripImg.data;
    L.strips.forEach((s, h) => {
      for (let i = 0; i < N; i++) {
        const k = colourIndex(wts[(t * H + h) * N + i], 0, tr.wMax), o = 4 * i;
        sp[o] = lw[3 * k]; sp[o + 1] = lw[3 * k + 1]; sp[o + 2] = lw[3 * k + 2]; sp[o + 3] = 255;
      }
      cache.stripCtx.putImageData(cache.stripImg, 0, 0);
      ctx.drawImage(cache.stripCanvas, s.x, s.y, s.w, s.h);
      ctx.save(); ctx.translate(s.x + s.w / 2, s.y + s.h + 4); ctx.rotate(-Math.PI / 2);
      label(headName(tr, h).replace("read ", "r").replace("write ", "w"), 0, 0, "right", FONT, th.fg2);
      ctx.restore();
    });
    if (L.strips.length) label("w_t", L.strips[0].x - 4, mb.y + mb.h + 10, "right", FONT, th.fg2);

    // Erase and add vectors of each write head, reads of each read head, under memory's columns.
    for (const v of L.vectors) {
      let arr, lut, lo, hi, name;
      if (v.kind === "erase") { arr = arrays.erase.data; lut = luts.bits; lo = 0; hi = 1; name = `erase w${v.index}`; }
      else if (v.kind === "add") { arr = arrays.add.data; lut = luts.memory; lo = -1; hi = 1; name = `add w${v.index}`; }
      else { arr = arrays.reads.data; lut = luts.memory; lo = -lim; hi = lim; name = `read r${v.index}`; }
      const n = v.kind === "read" ? tr.R : W;
      vectorStrip(v, arr, (t * n + v.index) * M, lut, lo, hi);
      label(name, v.x - 6, v.y + v.h / 2);
    }

    // Colour scales with their values: memory (and reads) -lim..0..+lim, weightings 0..max.
    const [sm, sw] = L.scales;
    const scales = [
      colourScale(sm, "memory, reads", luts.memory, -lim, lim, [-lim, 0, lim]),
      colourScale(sw, "weighting", luts.weights, 0, tr.wMax, [0, tr.wMax]),
    ];
    el.dataset.scales = JSON.stringify(scales);

    // Addressing parameters of each head at t: beta, g, the shift distribution, gamma.
    const P = L.params;
    label("head parameters", P.x, P.y - 2, "left", BOLD);
    for (let h = 0; h < H; h++) {
      const y = P.y + 8 + h * P.rowH;
      const beta = arrays.beta.data[t * H + h], g = arrays.g.data[t * H + h], gamma = arrays.gamma.data[t * H + h];
      label(headName(tr, h), P.x, y + 8, "left", BOLD);
      label(`β ${beta.toFixed(2)}`, P.x + 56, y + 8, "left");
      // g as a bar in [0, 1]
      const gx = P.x + 56, gy = y + 16, gw = 44;
      ctx.fillStyle = th.track; ctx.fillRect(gx, gy, gw, 7);
      ctx.fillStyle = "#4a78b5"; ctx.fillRect(gx, gy, gw * Math.max(0, Math.min(1, g)), 7);
      label(`g ${g.toFixed(2)}`, gx + gw + 4, gy + 4, "left");
      // shift distribution over offsets -k..k
      const sx = P.x + 150, sw = Math.min(12, Math.floor(60 / K)), kk = (K - 1) / 2;
      for (let j = 0; j < K; j++) {
        const v = arrays.s.data[(t * H + h) * K + j];
        const bh = 22 * Math.max(0, Math.min(1, v));
        ctx.fillStyle = th.track; ctx.fillRect(sx + j * (sw + 2), y, sw, 22);
        ctx.fillStyle = j - kk === 0 ? th.fg3 : "#d9822b"; ctx.fillRect(sx + j * (sw + 2), y + 22 - bh, sw, bh);
      }
      label(`s (${-kk}..+${kk})`, sx + K * (sw + 2) + 2, y + 8, "left");
      label(`γ ${gamma.toFixed(2)}`, sx + K * (sw + 2) + 2, y + 21, "left");
    }

    if (hover) showTip(hover.x, hover.y);
    decideBar();
    frames += 1;
    drawMs += performance.now() - t0;
    el.dataset.step = String(t);
    el.dataset.frames = String(frames);
    el.dataset.drawMs = (drawMs / frames).toFixed(3);
  }

  // ------------------------------------------------------------ hover

  function describe(x, y) {
    if (!tr) return null;
    const t = stepNow();
    const { T, N, M, O, I, H, arrays } = tr;
    const inside = (b) => x >= b.x && x < b.x + b.w && y >= b.y && y < b.y + b.h;
    for (const p of [L.inputs, L.targets, L.outputs, ...L.heads]) {
      if (!inside(p)) continue;
      const tt = Math.min(T - 1, Math.floor(((x - p.x) / p.w) * T));
      const r = Math.min(p.rows - 1, Math.floor(((y - p.y) / p.h) * p.rows));
      if (p.key === "inputs") return `input t=${tt} bit ${r}: ${fmt(arrays.inputs.data[tt * I + r])}`;
      if (p.key === "targets") return `target t=${tt} bit ${r}: ${fmt(arrays.targets.data[tt * O + r])}`;
      if (p.key === "outputs") {
        const wrong = tr.wrong[tt * O + r] ? " — WRONG" : "";
        return `output t=${tt} bit ${r}: p=${fmt(arrays.outputs.data[tt * O + r])} (target ${arrays.targets.data[tt * O + r]})${wrong}`;
      }
      const h = L.heads.indexOf(p);
      return `${headName(tr, h)} weight t=${tt} row ${r}: ${fmt(arrays.weights.data[(tt * H + h) * N + r])}`;
    }
    const mb = L.memory;
    if (inside(mb)) {
      const i = Math.min(N - 1, Math.floor((y - mb.y) / mb.rowPx)), j = Math.min(M - 1, Math.floor((x - mb.x) / mb.cellW));
      return `memory t=${t} row ${i} col ${j}: ${fmt(tr.memAt(t, i, j))}`;
    }
    for (let h = 0; h < L.strips.length; h++) {
      const s = L.strips[h];
      if (inside(s)) {
        const i = Math.min(N - 1, Math.floor(((y - s.y) / s.h) * N));
        return `${headName(tr, h)} weight t=${t} row ${i}: ${fmt(arrays.weights.data[(t * H + h) * N + i])}`;
      }
    }
    for (const v of L.vectors) {
      if (!inside(v)) continue;
      const j = Math.min(M - 1, Math.floor(((x - v.x) / v.w) * M));
      const n = v.kind === "read" ? tr.R : tr.W;
      const arr = v.kind === "erase" ? arrays.erase.data : v.kind === "add" ? arrays.add.data : arrays.reads.data;
      return `${v.kind} ${v.kind === "read" ? "r" : "w"}${v.index} t=${t} col ${j}: ${fmt(arr[(t * n + v.index) * M + j])}`;
    }
    return null;
  }

  function showTip(x, y) {
    const text = describe(x, y);
    if (!text) { tip.style.display = "none"; return; }
    tip.textContent = text;
    tip.style.display = "block";
    const left = Math.min(x + 14, L.width - tip.offsetWidth - 4);
    tip.style.left = Math.max(0, left) + canvas.offsetLeft + "px";
    tip.style.top = y + 16 + canvas.offsetTop + "px";
  }

  function onMove(ev) {
    const r = canvas.getBoundingClientRect();
    hover = { x: ev.clientX - r.left, y: ev.clientY - r.top };
    showTip(hover.x, hover.y);
  }
  function onLeave() { hover = null; tip.style.display = "none"; }
  canvas.addEventListener("mousemove", onMove);
  canvas.addEventListener("mouseleave", onLeave);

  // ------------------------------------------------------------ controls
  //
  // The one play / pause / step / scrub implementation: the standalone page shows
  // this bar, and so does a widget embedded without its .ui box (inside that box the
  // ipywidgets Play and slider move `step` instead, and only the keys below act).

  const SPEEDS = [["slow", 400], ["normal", 120], ["fast", 40], ["fastest", 1]];
  let bar = null, barDecided = false, timer = null;

  const lastStep = () => (tr ? tr.T - 1 : 0);
  const playing = () => timer !== null;

  function setStep(v) {
    const s = Math.max(0, Math.min(lastStep(), Math.round(v)));
    if (s === (model.get("step") | 0)) return;
    model.set("step", s);
    model.save_changes();
  }
  function pause() {
    if (timer !== null) clearInterval(timer);
    timer = null;
    if (bar) bar.sync();
  }
  function play() {
    pause();
    if (stepNow() >= lastStep()) setStep(0);
    timer = setInterval(tick, Math.max(1, Number(model.get("interval")) || 80));
    if (bar) bar.sync();
  }
  function tick() {
    if (stepNow() < lastStep()) setStep(stepNow() + 1);
    else if (bar && bar.loop.checked) setStep(0);
    else pause();
  }
  const toggle = () => (playing() ? pause() : play());
  const goTo = (s) => { pause(); setStep(s); };
  const stepBy = (d) => goTo(stepNow() + d);

  function buildBar() {
    bar = document.createElement("div");
    bar.className = "ntm-replay-bar";
    const control = (tag, name, props) => {
      const c = Object.assign(document.createElement(tag), props);
      c.dataset.control = name;
      return c;
    };
    const button = (name, text, title, onClick) => {
      const b = control("button", name, { type: "button", textContent: text, title, className: "ntm-replay-" + name });
      b.addEventListener("click", onClick);
      return b;
    };
    const playBtn = button("play", "▶ play", "play / pause (space)", toggle);
    const range = control("input", "step", { type: "range", min: "0", max: "0", value: "0", className: "ntm-replay-range" });
    range.setAttribute("aria-label", "step");
    range.addEventListener("input", () => goTo(Number(range.value)));
    const readout = control("span", "readout", { className: "ntm-replay-readout" });
    const speed = control("select", "speed", { className: "ntm-replay-speed" });
    for (const [name, ms] of SPEEDS) speed.append(new Option(name, String(ms)));
    speed.addEventListener("change", () => { model.set("interval", Number(speed.value)); model.save_changes(); });
    const loop = control("input", "loop", { type: "checkbox", className: "ntm-replay-loop" });
    const labelled = (...parts) => { const l = document.createElement("label"); l.append(...parts); return l; };
    bar.append(
      button("first", "|◀", "back to step 0 (Home)", () => goTo(0)),
      button("prev", "◀", "one step back (←)", () => stepBy(-1)),
      playBtn,
      button("next", "▶|", "one step on (→)", () => stepBy(1)),
      range, readout, labelled("speed ", speed), labelled(loop, " loop"),
    );
    el.insertBefore(bar, canvas);
    bar.loop = loop;
    showKeys();
    bar.sync = () => {
      const s = stepNow(), last = lastStep();
      range.max = String(last);
      range.value = String(s);
      readout.textContent = `${s} / ${last}`;
      playBtn.textContent = playing() ? "❚❚ pause" : "▶ play";
      playBtn.setAttribute("aria-pressed", String(playing()));
      const ms = String(Number(model.get("interval")) || 80);
      if (![...speed.options].some((o) => o.value === ms)) speed.append(new Option(`${ms} ms`, ms));
      speed.value = ms;
    };
    bar.sync();
  }

  // "auto" waits until the element is in the page: before that, closest() cannot see
  // the containers.
  function decideBar() {
    if (barDecided) return;
    const mode = model.get("builtin_controls");
    if (mode === "auto" && !el.isConnected) return;
    barDecided = true;
    if (mode === "on" || mode === true || (mode === "auto" && !el.closest(".ntm-replay-ui"))) buildBar();
  }

  // The shortcuts onKey handles, as one line under the canvas. Space plays only where
  // this bar is drawn (inside the widget's .ui box its Play button does that).
  function showKeys() {
    const onPage = model.get("keyboard") === "document";
    const parts = [];
    if (bar) parts.push("space: play / pause");
    parts.push("← →: one step", "Home / End: first / last step");
    keys.textContent = `Keys${onPage ? "" : " (click the replay first)"}: ${parts.join(" · ")} · hover a cell for its value`;
    canvas.title = keys.textContent;
  }

  function onKey(ev) {
    if (!tr || ev.defaultPrevented || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const tag = ev.target && ev.target.tagName;
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return; // they use these keys themselves
    if (ev.key === "ArrowRight") stepBy(1);
    else if (ev.key === "ArrowLeft") stepBy(-1);
    else if (ev.key === "Home") goTo(0);
    else if (ev.key === "End") goTo(lastStep());
    else if (ev.key === " " && bar && tag !== "BUTTON") toggle(); // a focused button clicks itself
    else return;
    ev.preventDefault();
  }
  const keyHost = model.get("keyboard") === "document" ? document : canvas;
  keyHost.addEventListener("keydown", onKey);

  // Redraw when the theme changes: the OS colour scheme, or JupyterLab's theme (it
  // sets data-jp-theme-light on <body>).
  const scheme = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  const onTheme = () => schedule();
  if (scheme && scheme.addEventListener) scheme.addEventListener("change", onTheme);
  const themeWatch = typeof MutationObserver !== "undefined" ? new MutationObserver(onTheme) : null;
  if (themeWatch && document.body) themeWatch.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name"] });

  const onStep = () => { if (bar) bar.sync(); schedule(); };
  const onInterval = () => { if (playing()) play(); else if (bar) bar.sync(); };
  const onData = () => load();
  model.on("change:step", onStep);
  model.on("change:interval", onInterval);
  model.on("change:trace_bytes", onData);
  model.on("change:width", onData);
  decideBar();
  load();

  return () => {
    pause();
    model.off("change:step", onStep);
    model.off("change:interval", onInterval);
    model.off("change:trace_bytes", onData);
    model.off("change:width", onData);
    canvas.removeEventListener("mousemove", onMove);
    canvas.removeEventListener("mouseleave", onLeave);
    keyHost.removeEventListener("keydown", onKey);
    if (scheme && scheme.removeEventListener) scheme.removeEventListener("change", onTheme);
    if (themeWatch) themeWatch.disconnect();
  };
}

export default { render };
