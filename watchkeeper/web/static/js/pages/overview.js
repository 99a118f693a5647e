// The overview: traffic, findings and incidents over time, detector health, bus lag and dead letters.

import { get, post } from "../api.js";
import { stackedBars } from "../charts.js";
import { fmtNumber, fmtTime, h, link, replace, timeAgo } from "../dom.js";
import { LineChart, zoneNote } from "../timecharts.js";
import { panel, stat, table, toast } from "../ui.js";

const WINDOWS = [[900, "15m"], [3600, "1h"], [21600, "6h"], [86400, "24h"]];

function sumSeries(series) {
  return Object.values(series || {}).reduce((acc, arr) => acc + arr.reduce((a, b) => a + b, 0), 0);
}

export function mount(root, _params, ctx) {
  const q = new URLSearchParams(window.location.search);
  let windowS = Number(q.get("window")) || 3600;
  const tabs = h(
    "div",
    { class: "segmented", "aria-label": "time window" },
    WINDOWS.map(([s, label]) => h("button", { type: "button", class: "seg", "data-window": String(s), onclick: () => setWindow(s) }, label)),
  );
  let groupBy = q.get("by") === "model" ? "model" : "app";
  const byTabs = h(
    "div",
    { class: "segmented", "aria-label": "group traffic by" },
    [["app", "per app"], ["model", "per model"]].map(([key, label]) => h("button", { type: "button", class: "seg", "data-by": key, onclick: () => setBy(key) }, label)),
  );
  const traffic = {
    calls: new LineChart({ unit: "calls", label: "calls per bucket" }),
    p95: new LineChart({ unit: "ms", label: "latency p95" }),
    p50: new LineChart({ unit: "ms", label: "latency p50" }),
    tokens: new LineChart({ unit: "tokens", label: "tokens in and out" }),
    errors: new LineChart({ unit: "%", label: "error rate" }),
  };
  const trafficNote = h("p", { class: "muted small" });
  const trafficHost = h(
    "section",
    { class: "traffic", "data-section": "traffic" },
    h("div", { class: "section-head" }, h("h2", {}, "Traffic"), byTabs),
    h(
      "div",
      { class: "chart-grid" },
      panel("Latency p95", traffic.p95.el, { cls: "chart-panel" }),
      panel("Latency p50", traffic.p50.el, { cls: "chart-panel" }),
      panel("Error rate", traffic.errors.el, { cls: "chart-panel" }),
      panel("Tokens (in + out)", traffic.tokens.el, { cls: "chart-panel" }),
      panel("Calls", traffic.calls.el, { cls: "chart-panel" }),
    ),
    zoneNote(),
    trafficNote,
  );
  const stats = h("div", { class: "stats" });
  const stages = h("div", { class: "stage-chips" });
  const charts = h("div", { class: "chart-grid", "data-section": "findings-charts" });
  const lower = h("div", { class: "two-col" });
  const dead = h("div", {});
  root.append(
    h("div", { class: "page-head" },
      h("div", {}, h("h1", {}, "Overview"), h("p", { class: "sub" }, "Traffic, detections and the health of the pipeline.")),
      h("div", { class: "head-tools" }, stages, tabs)),
    stats,
    trafficHost,
    charts,
    lower,
    dead,
  );

  function setWindow(s) {
    windowS = s;
    const params = new URLSearchParams(window.location.search);
    if (s === 3600) params.delete("window");
    else params.set("window", String(s));
    history.replaceState(null, "", `/overview${params.toString() ? `?${params}` : ""}`);
    markTabs();
    refresh().catch(ctx.onError);
  }

  function markTabs() {
    for (const b of tabs.children) b.classList.toggle("active", Number(b.dataset.window) === windowS);
    for (const b of byTabs.children) b.classList.toggle("active", b.dataset.by === groupBy);
  }
  markTabs();
  let lastData = null;

  function setBy(key) {
    groupBy = key;
    const params = new URLSearchParams(window.location.search);
    if (key === "app") params.delete("by");
    else params.set("by", key);
    history.replaceState(null, "", `/overview${params.toString() ? `?${params}` : ""}`);
    markTabs();
    if (lastData) drawTraffic(lastData);
  }

  function pick(groups, field, combine) {
    const out = {};
    for (const [name, st] of Object.entries(groups || {})) out[name] = combine ? combine(st) : st[field];
    return out;
  }

  function drawTraffic(data) {
    const t = data.traffic;
    if (!t) {
      trafficHost.hidden = true;
      return;
    }
    trafficHost.hidden = false;
    const groups = groupBy === "model" ? t.by_model : t.by_app;
    const args = { buckets: data.buckets, bucketS: data.bucket_s };
    traffic.calls.update({ ...args, series: pick(groups, "calls") });
    traffic.p95.update({ ...args, series: pick(groups, "p95_ms") });
    traffic.p50.update({ ...args, series: pick(groups, "p50_ms") });
    traffic.errors.update({ ...args, series: pick(groups, "error_rate") });
    traffic.tokens.update({ ...args, series: pick(groups, null, (st) => st.tokens_in.map((v, i) => v + st.tokens_out[i])) });
    trafficNote.textContent = `${fmtNumber(t.calls_in_window)} recorded calls in this window; buckets of ${Math.round(data.bucket_s / 60) || 1} min.`;
  }

  function chart(title, series, data, empty) {
    return panel(title, stackedBars({ buckets: data.buckets, series, bucketS: data.bucket_s, height: 160, width: 640, empty }), { cls: "chart-panel" });
  }

  async function replay(id) {
    try {
      await post(`/api/v1/deadletters/${encodeURIComponent(id)}/replay`);
      toast("Queued for delivery again");
      refresh().catch(ctx.onError);
    } catch (exc) {
      toast(exc.message, "error");
    }
  }

  async function refresh() {
    const { data } = await get("/api/v1/ui/overview", { window: windowS });
    lastData = data;
    drawTraffic(data);
    const reg = data.registry || {};
    const inc = (data.counts && data.counts.incidents) || {};
    const lagValues = Object.values(reg.bus_lag || {});
    const maxLag = lagValues.length ? Math.max(...lagValues) : 0;
    const findingsInWindow = data.findings.total_in_window;
    replace(
      stats,
      stat("Calls traced", fmtNumber(reg.calls_traced), { hint: `${fmtNumber(sumSeries(data.calls_by_app))} in window`, id: "calls" }),
      stat("Spans received", fmtNumber(reg.spans_received), { hint: `${fmtNumber(reg.intake_rejects)} rejected`, tone: reg.intake_rejects ? "warning" : null, id: "spans" }),
      stat("Findings", fmtNumber(findingsInWindow), { hint: "in window", id: "findings" }),
      stat("Open incidents", fmtNumber((inc.triggered || 0) + (inc.acknowledged || 0)), { tone: inc.triggered ? "hot" : "ok", hint: `${fmtNumber(inc.resolved || 0)} resolved`, id: "open" }),
      stat("Bus lag", fmtNumber(maxLag), { tone: maxLag > 1000 ? "warning" : null, hint: "records behind (max)", id: "lag" }),
      stat("Dead letters", fmtNumber(data.counts.dead_letters), { tone: data.counts.dead_letters ? "error" : null, hint: "undelivered", id: "dead" }),
    );
    replace(
      stages,
      Object.entries(data.stages || {}).map(([name, st]) =>
        h("span", { class: `stage-chip ${st.ready ? "ok" : "bad"}`, title: st.error || (st.ready ? "ready" : "not ready") }, h("span", { class: "dot" }), name)),
    );
    replace(
      charts,
      data.traffic ? null : chart("Calls traced per app", data.calls_by_app, data, "No traced calls in this window (counted since the daemon started)"),
      chart("Findings per detector", data.findings.by_detector, data, "No findings in this window"),
      chart("Findings per app", data.findings.by_app, data, "No findings in this window"),
      chart("Findings per model", data.findings.by_model, data, "No findings in this window"),
      chart("Findings per severity", data.findings.by_severity, data, "No findings in this window"),
      chart("Incidents opened per detector", data.incidents_opened_by_detector, data, "No incident opened in this window"),
    );
    const notif = Object.entries(reg.notifications || {}).map(([channel, outcomes]) => ({ channel, ...outcomes }));
    const outcomes = [...new Set(notif.flatMap((n) => Object.keys(n).filter((k) => k !== "channel")))].sort();
    replace(
      lower,
      panel("Detector health", table(
        [
          { label: "Detector", cell: (d) => h("span", { class: "tag" }, d.detector) },
          { label: "State", cell: (d) => h("span", { class: `pill ${d.healthy ? "ok" : "bad"}` }, d.healthy ? "healthy" : "errors") },
          { label: "Batches", cell: (d) => fmtNumber(d.batches), cls: "num" },
          { label: "Mean batch", cell: (d) => (d.mean_batch_ms === null ? "—" : `${d.mean_batch_ms.toFixed(2)} ms`), cls: "num" },
          { label: "Errors", cell: (d) => h("span", { class: d.errors ? "err-text" : "" }, fmtNumber(d.errors)), cls: "num" },
          { label: "Findings", cell: (d) => fmtNumber(d.findings), cls: "num" },
          // content safety: share of answers its semantic judge read (the rest got the lexical signal, over budget)
          { label: "Judged", cell: (d) => (d.coverage ? h("span", { class: d.coverage.share < 1 ? "err-text" : "", title: "answers read by the semantic judge\n" + Object.entries(d.coverage.by_app || {}).map(([a, v]) => `${a}: ${Math.round(100 * v)}%`).join("\n") }, `${Math.round(100 * d.coverage.share)}%`) : ""), cls: "num" },
        ],
        data.detectors || [],
        { empty: "No detector has run yet." },
      )),
      h("div", { class: "stack" },
        panel("Bus lag", table(
          [
            { label: "Consumer group", cell: (r) => h("code", {}, r[0]) },
            { label: "Records behind", cell: (r) => fmtNumber(r[1]), cls: "num" },
          ],
          Object.entries(reg.bus_lag || {}),
          { empty: "No consumer has reported lag yet." },
        )),
        panel("Notifications by channel", table(
          [{ label: "Channel", cell: (n) => h("span", { class: "tag" }, n.channel) },
            ...outcomes.map((o) => ({ label: o, cell: (n) => fmtNumber(n[o] || 0), cls: "num" }))],
          notif,
          { empty: "No notification attempted yet." },
        ))),
    );
    replace(
      dead,
      panel(`Dead letters (${fmtNumber(data.counts.dead_letters)})`, table(
        [
          { label: "Incident", cell: (d) => link(`/incidents/${encodeURIComponent(d.incident_id)}`, h("code", {}, d.incident_id)) },
          { label: "Receiver", cell: (d) => d.receiver },
          { label: "Channel", cell: (d) => h("span", { class: "tag" }, d.channel) },
          { label: "Event", cell: (d) => d.event },
          { label: "Attempts", cell: (d) => fmtNumber(d.attempts), cls: "num" },
          { label: "Last error", cell: (d) => h("span", { class: "err-text" }, d.last_error || d.reason || "") },
          { label: "Since", cell: (d) => h("span", { title: fmtTime(d.updated_at) }, timeAgo(d.updated_at)) },
          { label: "", cell: (d) => h("button", { type: "button", class: "btn btn-small", onclick: () => replay(d.id) }, "Replay") },
        ],
        data.dead_letters || [],
        { empty: "No dead letters: every notification was delivered or is still being retried." },
      )),
    );
  }

  return { refresh, destroy: () => Object.values(traffic).forEach((c) => c.destroy()) };
}
