// Small SVG charts drawn by hand (no third-party code to vendor or audit). Labels are text nodes only.

import { fmtClock, fmtNumber, h, inert } from "./dom.js";

const clock = (t, bucketS) => fmtClock(t, bucketS < 10);

const NS = "http://www.w3.org/2000/svg";

export const SEVERITY_COLORS = {
  critical: "#ff4d6a",
  error: "#ff8f3c",
  warning: "#f2c94c",
  info: "#56a8ff",
};

const PALETTE = [
  "#7c9cff", "#3fd0c9", "#f6ad55", "#f687b3", "#a78bfa",
  "#6ee7a0", "#fc8181", "#63b3ed", "#e9d758", "#c084fc",
];

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) el.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(inert(child)));
  }
  return el;
}

/** Stable colours: severities keep theirs, other series get palette colours in name order. */
export function colorMap(names) {
  const out = {};
  [...names].sort().forEach((name, i) => {
    out[name] = SEVERITY_COLORS[name] || PALETTE[i % PALETTE.length];
  });
  return out;
}

/** An axis maximum that splits into four round, whole-number steps. */
function niceMax(value) {
  const raw = Math.max(1, value / 4);
  const exp = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) {
    const step = m * exp;
    if (step >= raw && Number.isInteger(step)) return step * 4;
  }
  return 40 * exp;
}

/**
 * Stacked bar chart over time buckets.
 * series: {name: number[]} aligned with buckets (unix seconds, bucket starts).
 */
export function stackedBars({ buckets, series, bucketS, height = 170, width = 720, unit = "", empty }) {
  const names = Object.keys(series || {}).filter((n) => (series[n] || []).some((v) => v > 0));
  const colors = colorMap(names);
  const n = buckets.length;
  const totals = buckets.map((_, i) => names.reduce((acc, name) => acc + (series[name][i] || 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const left = 34;
  const right = 6;
  const top = 8;
  const bottom = 20;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "chart-svg",
    role: "img",
    preserveAspectRatio: "none",
  });
  for (let k = 0; k <= 4; k++) {
    const y = top + plotH - (plotH * k) / 4;
    svg.appendChild(s("line", { x1: left, x2: width - right, y1: y, y2: y, class: "grid" }));
    svg.appendChild(s("text", { x: left - 6, y: y + 3, class: "axis", "text-anchor": "end" }, fmtNumber((max * k) / 4)));
  }
  const step = plotW / Math.max(1, n);
  const barW = Math.max(1, step * 0.72);
  const labelEvery = Math.max(1, Math.ceil(n / 8));
  buckets.forEach((t, i) => {
    const x = left + i * step + (step - barW) / 2;
    let y = top + plotH;
    const g = s("g", { class: "col" });
    const parts = [];
    for (const name of names) {
      const v = series[name][i] || 0;
      if (!v) continue;
      const bh = (plotH * v) / max;
      y -= bh;
      g.appendChild(s("rect", { x, y, width: barW, height: Math.max(bh, 0.5), fill: colors[name], rx: 1 }));
      parts.push(`${name}: ${fmtNumber(v)}${unit}`);
    }
    const hit = s("rect", { x: left + i * step, y: top, width: step, height: plotH, class: "hit" });
    hit.appendChild(s("title", {}, `${clock(t, bucketS)}–${clock(t + bucketS, bucketS)}  ${parts.join(", ") || "none"}`));
    g.appendChild(hit);
    svg.appendChild(g);
    if (i % labelEvery === 0) {
      svg.appendChild(s("text", { x: left + i * step, y: height - 5, class: "axis" }, clock(t, bucketS)));
    }
  });
  const legend = h(
    "ul",
    { class: "legend" },
    names.map((name) =>
      h(
        "li",
        {},
        h("span", { class: "swatch", style: { background: colors[name] } }),
        h("span", { class: "legend-name" }, name),
        h("span", { class: "legend-value" }, fmtNumber(series[name].reduce((a, b) => a + b, 0))),
      ),
    ),
  );
  const wrap = h("div", { class: "chart" }, svg);
  if (!names.length) wrap.appendChild(h("div", { class: "chart-empty" }, empty || "Nothing in this window"));
  else wrap.appendChild(legend);
  return wrap;
}

/**
 * The metric around an operational anomaly: the baseline's normal band and median against the window's median.
 */
export function bandChart({ band, baseline, observed, unit = "" }) {
  const width = 640;
  const height = 74;
  const lo = Math.min(band[0], baseline, observed);
  const hi = Math.max(band[1], baseline, observed);
  const pad = (hi - lo) * 0.12 || 1;
  const min = Math.max(0, lo - pad);
  const max = hi + pad;
  const left = 16;
  const right = 16;
  const x = (v) => left + ((v - min) / (max - min)) * (width - left - right);
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart-svg band", role: "img" });
  svg.appendChild(s("line", { x1: left, x2: width - right, y1: 40, y2: 40, class: "axis-line" }));
  svg.appendChild(s("rect", { x: x(band[0]), y: 28, width: Math.max(2, x(band[1]) - x(band[0])), height: 24, class: "band-normal", rx: 3 }));
  svg.appendChild(s("line", { x1: x(baseline), x2: x(baseline), y1: 24, y2: 56, class: "band-baseline" }));
  svg.appendChild(s("circle", { cx: x(observed), cy: 40, r: 7, class: "band-observed" }));
  const label = (v, text, y, cls) =>
    s("text", { x: x(v), y, class: `axis ${cls || ""}`, "text-anchor": "middle" }, text);
  svg.appendChild(label(band[0], `${fmtNumber(band[0])}${unit}`, 68));
  svg.appendChild(label(band[1], `${fmtNumber(band[1])}${unit}`, 68));
  svg.appendChild(label(baseline, `baseline ${fmtNumber(baseline)}${unit}`, 16));
  svg.appendChild(label(observed, `now ${fmtNumber(observed)}${unit}`, 16, "hot"));
  return h(
    "div",
    { class: "chart" },
    svg,
    h(
      "ul",
      { class: "legend" },
      h("li", {}, h("span", { class: "swatch band-normal-swatch" }), h("span", { class: "legend-name" }, "normal band")),
      h("li", {}, h("span", { class: "swatch baseline-swatch" }), h("span", { class: "legend-name" }, "baseline median")),
      h("li", {}, h("span", { class: "swatch observed-swatch" }), h("span", { class: "legend-name" }, "window median")),
    ),
  );
}

/** Bucket times into counts for a small timeline chart (findings of one incident). */
export function bucketTimes(times, slots = 40) {
  if (!times.length) return { buckets: [], counts: [], bucketS: 60 };
  const first = Math.min(...times);
  const last = Math.max(...times);
  const span = Math.max(60, last - first);
  const bucketS = span / (slots - 1);
  const start = first - bucketS / 2;
  const counts = new Array(slots).fill(0);
  for (const t of times) counts[Math.min(slots - 1, Math.floor((t - start) / bucketS))] += 1;
  return { buckets: counts.map((_, i) => start + i * bucketS), counts, bucketS };
}

/** Baseline against now as two horizontal bars (rates, medians): the shift at a glance. */
export function compareBars({ baseline, observed, unit = "", percent = false, labels = ["baseline", "now"] }) {
  const width = 640;
  const row = 26;
  const left = 84;
  const right = 90;
  const max = Math.max(baseline, observed) || 1;
  const fmt = (v) => (percent ? `${(v * 100).toFixed(1)}%` : `${fmtNumber(v)}${unit}`);
  const svg = s("svg", { viewBox: `0 0 ${width} ${row * 2 + 8}`, class: "chart-svg band", role: "img" });
  [[labels[0], baseline, "band-baseline-bar"], [labels[1], observed, "band-observed-bar"]].forEach(([name, v, cls], i) => {
    const y = 4 + i * row;
    const w = Math.max(2, ((width - left - right) * v) / max);
    svg.appendChild(s("text", { x: left - 8, y: y + 15, class: "axis", "text-anchor": "end" }, name));
    svg.appendChild(s("rect", { x: left, y: y + 3, width: w, height: row - 8, rx: 3, class: cls }));
    svg.appendChild(s("text", { x: left + w + 8, y: y + 15, class: `axis ${i ? "hot" : ""}` }, fmt(v)));
  });
  return h("div", { class: "chart" }, svg);
}
