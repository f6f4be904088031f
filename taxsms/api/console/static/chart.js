// Small inline-SVG charts (no library): lines over time, horizontal bars, one stacked bar. Labels are text nodes.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = { sent: "#1f5fa8", delivered: "#1f7a3a", undelivered: "#a3261b", other: "#8a8f98" };

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== null) node.textContent = String(text);
  return node;
}

function lineChart(container, series, { width = 1000, height = 200, xLabel = clockTime, span = 0 } = {}) {
  // series: [{name, colour, points: [[x, y], ...]}], x in epoch seconds; `span`: seconds shown up to the last.
  const pad = { left: 48, right: 12, top: 10, bottom: 24 };
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "svgchart", role: "img" });
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const x1 = xs.length ? Math.max(...xs) : 1;
  const first = xs.length ? Math.min(...xs) : 0;
  const x0 = span ? Math.max(first, x1 - span) : first;
  const top = Math.max(1, ...ys) * 1.1;
  const X = (x) => pad.left + ((x - x0) / Math.max(x1 - x0, 1e-3)) * (width - pad.left - pad.right);
  const Y = (y) => height - pad.bottom - (y / top) * (height - pad.top - pad.bottom);
  for (let i = 0; i <= 4; i++) {
    const value = (top * i) / 4;
    root.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: Y(value), y2: Y(value), class: "grid" }));
    root.append(svg("text", { x: pad.left - 6, y: Y(value) + 4, "text-anchor": "end", class: "axis" }, fmt(value)));
  }
  if (xs.length) {
    root.append(svg("text", { x: pad.left, y: height - 6, class: "axis" }, xLabel(x0)));
    root.append(svg("text", { x: width - pad.right, y: height - 6, "text-anchor": "end", class: "axis" }, xLabel(x1)));
  }
  series.forEach((s, i) => {
    if (s.points.length > 1) {
      const d = s.points.map((p, j) => `${j ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(" ");
      root.append(svg("path", { d, fill: "none", stroke: s.colour, "stroke-width": 2 }));
    }
    const lx = width - pad.right - (series.length - i) * 150;
    root.append(svg("rect", { x: lx, y: pad.top, width: 10, height: 10, fill: s.colour }));
    root.append(svg("text", { x: lx + 14, y: pad.top + 9, class: "legend" }, s.name));
  });
  container.replaceChildren(root);
}

function barChart(container, bars, { width = 1000, barHeight = 22 } = {}) {
  // bars: [{label, value, limit (or null)}]: horizontal bars, a tick where the limit is.
  const labelWidth = 220;
  const height = Math.max(bars.length, 1) * (barHeight + 6) + 8;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "svgchart", role: "img" });
  const top = Math.max(1, ...bars.map((b) => Math.max(b.value, b.limit || 0)));
  const W = (v) => (v / top) * (width - labelWidth - 80);
  bars.forEach((bar, i) => {
    const y = 4 + i * (barHeight + 6);
    root.append(svg("text", { x: labelWidth - 8, y: y + barHeight - 6, "text-anchor": "end", class: "legend" }, bar.label));
    const over = bar.limit !== null && bar.limit !== undefined && bar.value >= bar.limit * 0.8;
    root.append(svg("rect", { x: labelWidth, y, width: Math.max(W(bar.value), 1), height: barHeight,
      fill: over ? COLOURS.undelivered : COLOURS.sent }));
    if (bar.limit !== null && bar.limit !== undefined) {
      root.append(svg("line", { x1: labelWidth + W(bar.limit), x2: labelWidth + W(bar.limit), y1: y - 2,
        y2: y + barHeight + 2, class: "limit" }));
    }
    root.append(svg("text", { x: labelWidth + W(bar.value) + 6, y: y + barHeight - 6, class: "axis" }, fmt(bar.value)));
  });
  container.replaceChildren(root);
}

function stackedBar(container, parts, { width = 600, height = 34 } = {}) {
  // parts: [{label, value, colour}]: one bar split by value, with a legend under it.
  const total = parts.reduce((sum, p) => sum + p.value, 0);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height + 22}`, class: "svgchart", role: "img" });
  let x = 0;
  for (const part of parts) {
    const w = total ? (part.value / total) * width : 0;
    if (w > 0) root.append(svg("rect", { x, y: 0, width: w, height, fill: part.colour }));
    x += w;
  }
  if (!total) root.append(svg("rect", { x: 0, y: 0, width, height, fill: "#e6e9ee" }));
  let lx = 0;
  for (const part of parts.filter((p) => p.value > 0)) {
    root.append(svg("rect", { x: lx, y: height + 8, width: 10, height: 10, fill: part.colour }));
    const label = svg("text", { x: lx + 14, y: height + 17, class: "legend" }, `${part.label} ${fmt(part.value)}`);
    root.append(label);
    lx += 150;
  }
  container.replaceChildren(root);
}
