// AddressingExplorer bars (Graves et al. 2014, arXiv:1410.5401, eq. 5-9).
// Draws, as SVG, the memory rows and one bar chart per stage of addressing:
// w_prev | content | interpolation | shift | sharpen, rows aligned across all panels.
// The numbers arrive in the `stages` trait, computed in the kernel by the model's own
// functions; this file only draws them.

const NS = "http://www.w3.org/2000/svg";
const ROW = 22, HEAD = 44, BAR = 70, PANEL = 104, CELL = 27;

// Theme colours: JupyterLab's CSS variables (light and dark themes) with fallbacks.
// SVG presentation attributes cannot hold var(), so svgEl sets these as style.
const C = {
  text: "var(--jp-ui-font-color1, #333)",
  muted: "var(--jp-ui-font-color2, #666)",
  track: "var(--jp-layout-color2, #f0f0f0)",
};

function svgEl(name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (typeof v === "string" && v.startsWith("var(")) e.style.setProperty(k, v);
    else e.setAttribute(k, v);
  }
  if (text !== undefined) e.textContent = text;
  return e;
}

function memColour(v) {
  // Diverging: blue for negative, red for positive, white at 0 (values in [-1, 1]).
  const x = Math.max(-1, Math.min(1, v));
  const a = Math.abs(x);
  const [r, g, b] = x >= 0 ? [255, 255 - 170 * a, 255 - 180 * a] : [255 - 190 * a, 255 - 120 * a, 255];
  return `rgb(${r | 0},${g | 0},${b | 0})`;
}

const PANELS = [
  { key: "prev", title: "w_prev", sub: "previous weighting", colour: "#9aa5b1" },
  { key: "content", title: "1. content", sub: "softmax(β·cos)", colour: "#4a78b5" },
  { key: "interpolation", title: "2. interpolation", sub: "g·w_c + (1−g)·w_prev", colour: "#6a51a3" },
  { key: "shift", title: "3. shift", sub: "w_g ⊛ s", colour: "#d9822b" },
  { key: "sharpen", title: "4. sharpen", sub: "w̃^γ / Σ w̃^γ", colour: "#c0392b" },
];

function render({ model, el }) {
  el.classList.add("ntm-explorer-bars");
  const svg = svgEl("svg", { role: "img", "aria-label": "addressing stages as bar charts" });
  svg.style.fontFamily = "-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";
  svg.style.fontSize = "11px";
  svg.style.fill = C.text;  // text without its own fill (the titles) follows the theme
  el.appendChild(svg);
  let draws = 0;

  function draw() {
    const st = model.get("stages") || {};
    const mem = st.memory || [];
    const N = mem.length;
    if (!N) return;
    const M = mem[0].length;
    const memW = M * CELL + 44; // cells + cosine column
    const width = 12 + memW + PANELS.length * PANEL + 8;
    const height = HEAD + N * ROW + 40;
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    while (svg.firstChild) svg.removeChild(svg.firstChild);

    // Memory rows with the key's cosine similarity to each.
    let x0 = 12;
    svg.appendChild(svgEl("text", { x: x0, y: 14, "font-weight": "bold" }, "memory M(i)"));
    svg.appendChild(svgEl("text", { x: x0 + M * CELL + 4, y: 14, "font-weight": "bold" }, "cos"));
    const key = st.key || [];
    svg.appendChild(svgEl("text", { x: x0, y: 30, fill: C.text }, "k = [" + key.map((v) => v.toFixed(2)).join(", ") + "]"));
    for (let i = 0; i < N; i++) {
      const y = HEAD + i * ROW;
      for (let j = 0; j < M; j++) {
        svg.appendChild(svgEl("rect", { x: x0 + j * CELL, y, width: CELL - 1, height: ROW - 2, fill: memColour(mem[i][j]) }));
        svg.appendChild(svgEl("text", { x: x0 + j * CELL + CELL / 2, y: y + ROW / 2 + 3, "text-anchor": "middle", fill: "#222", "font-size": "9px" }, mem[i][j].toFixed(1)));
      }
      const c = (st.cosine || [])[i];
      if (c !== undefined) svg.appendChild(svgEl("text", { x: x0 + M * CELL + 4, y: y + ROW / 2 + 3, fill: C.text }, c.toFixed(2)));
      svg.appendChild(svgEl("text", { x: 8, y: y + ROW / 2 + 3, "text-anchor": "end", fill: C.muted, "font-size": "9px" }, String(i)));
    }
    x0 += memW;

    const p = st.params || {};
    const sNorm = st.s || [];
    const arrowText = {
      content: `β = ${(p.beta ?? 0).toFixed(1)}`,
      interpolation: `g = ${(p.g ?? 0).toFixed(2)}`,
      shift: "s = [" + sNorm.map((v) => v.toFixed(2)).join(" ") + "]",
      sharpen: `γ = ${(p.gamma ?? 1).toFixed(1)}`,
    };
    PANELS.forEach((panel, k) => {
      const px = x0 + k * PANEL;
      const w = st[panel.key] || [];
      const g = svgEl("g", { class: "ntm-explorer-stage", "data-stage": panel.key });
      g.appendChild(svgEl("text", { x: px, y: 14, "font-weight": "bold" }, panel.title));
      g.appendChild(svgEl("text", { x: px, y: 27, fill: C.muted, "font-size": "10px" }, panel.sub));
      if (arrowText[panel.key]) g.appendChild(svgEl("text", { x: px, y: 39, fill: panel.colour, "font-size": "10px" }, arrowText[panel.key]));
      let best = 0;
      for (let i = 1; i < w.length; i++) if (w[i] > w[best]) best = i;
      for (let i = 0; i < N; i++) {
        const y = HEAD + i * ROW;
        const v = w[i] ?? 0;
        g.appendChild(svgEl("rect", { x: px, y: y + 2, width: BAR, height: ROW - 6, fill: C.track }));
        const bar = svgEl("rect", { x: px, y: y + 2, width: Math.max(0, Math.min(1, v)) * BAR, height: ROW - 6, fill: panel.colour, opacity: i === best ? 1 : 0.6, class: "ntm-explorer-bar", "data-row": i, "data-value": v.toFixed(6) });
        bar.appendChild(svgEl("title", {}, `${panel.title}, row ${i}: ${v.toFixed(4)}`));
        g.appendChild(bar);
        g.appendChild(svgEl("text", { x: px + BAR + 3, y: y + ROW / 2 + 3, fill: C.text, "font-size": "9px" }, v.toFixed(2)));
      }
      svg.appendChild(g);
    });
    svg.appendChild(svgEl("text", { x: 12, y: height - 12, fill: C.muted, "font-size": "10px" },
      "Bars show each row's weight (0 to 1). Numbers come from ntm_widgets.core.addressing, the functions the model runs."));
    draws += 1;
    el.dataset.draws = String(draws);
    el.dataset.sharpenMax = String(Math.max(...(st.sharpen || [0])));
    // Every stage's numbers, for browser tests and anyone inspecting the page.
    el.dataset.weights = JSON.stringify(PANELS.map((p) => (st[p.key] || []).map((v) => +v.toFixed(4))));
  }

  model.on("change:stages", draw);
  draw();
  return () => model.off("change:stages", draw);
}

export default { render };
