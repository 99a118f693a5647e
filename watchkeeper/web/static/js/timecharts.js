// Time-series line charts (uPlot, vendored): hover shows every series' value with its unit at that time, the
// x axis is local time, the legend names the zone. Charts are kept between refreshes (setData), so a live
// page does not lose the reader's cursor every few seconds.

import uPlot from "../vendor/uplot/uPlot.esm.js";
import { colorMap } from "./charts.js";
import { fmtTime, h, zoneName } from "./dom.js";

const AXIS = { stroke: "#8a94a6", grid: { stroke: "#262c37", width: 1 }, ticks: { stroke: "#262c37", width: 1 } };

function fmtValue(value, unit) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  if (unit === "%") return `${(value * 100).toFixed(value < 0.1 ? 1 : 0)} %`;
  if (unit === "ms") return value >= 10000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
  const n = Math.abs(value) >= 1e6 ? `${(value / 1e6).toFixed(1)}M` : Math.abs(value) >= 1e4 ? `${(value / 1e3).toFixed(1)}k` : `${Math.round(value * 100) / 100}`;
  return unit ? `${n} ${unit}` : n;
}

/** 24-hour local clock ticks; the date too when the range spans days. */
function timeTicks(u, splits) {
  const span = (u.scales.x.max || 0) - (u.scales.x.min || 0);
  return splits.map((v) => {
    const d = new Date(v * 1000);
    const hm = `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
    return span > 86400 ? `${d.getMonth() + 1}/${d.getDate()} ${hm}` : hm;
  });
}

function axisValue(unit) {
  return (_u, splits) => splits.map((v) => (unit === "%" ? `${Math.round(v * 100)}%` : fmtValue(v, unit === "ms" ? "ms" : "")));
}

/**
 * A panel body holding one line chart that can be updated in place.
 * update({buckets, series: {name: number[]}, bucketS}) redraws; series names changing rebuilds the chart.
 */
export class LineChart {
  constructor({ unit = "", height = 200, empty = "No data in this window", label = "" } = {}) {
    this.unit = unit;
    this.height = height;
    this.emptyText = empty;
    this.label = label;
    this.plot = null;
    this.names = "";
    this.host = h("div", { class: "tchart", role: "img", "aria-label": label });
    this.emptyEl = h("div", { class: "tchart-empty" }, empty);
    this.el = h("div", { class: "tchart-wrap" }, this.host, this.emptyEl);
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(this.el);
  }

  width() {
    return Math.max(240, Math.floor(this.el.clientWidth || 600));
  }

  fit() {
    if (this.plot && Math.abs(this.plot.width - this.width()) > 2) this.plot.setSize({ width: this.width(), height: this.height });
  }

  update({ buckets, series }) {
    const names = Object.keys(series || {}).filter((n) => (series[n] || []).some((v) => v !== null && v !== undefined));
    const hasData = names.length > 0;
    this.emptyEl.style.display = hasData ? "none" : "";
    this.host.style.display = hasData ? "" : "none";
    if (!hasData) return;
    const data = [buckets.slice(), ...names.map((n) => series[n].map((v) => (v === undefined ? null : v)))];
    const key = names.join("\u0000");
    if (this.plot && key === this.names) {
      this.plot.setData(data);
      return;
    }
    if (this.plot) this.plot.destroy();
    this.names = key;
    const colors = colorMap(names);
    const unit = this.unit;
    this.plot = new uPlot(
      {
        width: this.width(),
        height: this.height,
        cursor: { points: { size: 6 }, drag: { x: false, y: false } },
        legend: { live: true },
        scales: { x: { time: true }, y: { range: (_u, lo, hi) => [Math.min(0, lo), hi > 0 ? hi * 1.1 : 1] } },
        axes: [
          { ...AXIS, values: timeTicks },
          { ...AXIS, size: 72, values: axisValue(unit) },
        ],
        series: [
          { label: "time", value: (_u, v) => (v === null || v === undefined ? "—" : fmtTime(v)) },
          ...names.map((name) => ({
            label: name,
            stroke: colors[name],
            width: 1.6,
            spanGaps: false,
            points: { show: true, size: 4, fill: colors[name] },
            value: (_u, v) => fmtValue(v, unit),
          })),
        ],
      },
      data,
      this.host,
    );
  }

  destroy() {
    this.resize.disconnect();
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }
}

/** A small caption under charts: which zone the axis is in. */
export function zoneNote() {
  return h("p", { class: "chart-zone muted small" }, `Times in ${zoneName()}; hover a chart for exact values.`);
}
