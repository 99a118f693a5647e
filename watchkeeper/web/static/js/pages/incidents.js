// The incident list: stats, the findings chart, filters and a table that refreshes itself.

import { get } from "../api.js";
import { stackedBars } from "../charts.js";
import { fmtNumber, h, link, replace, severityPill, statusPill, timeAgo } from "../dom.js";
import { panel, stat } from "../ui.js";

const PAGE_SIZE = 50;
const STATUSES = [["open", "Open"], ["triggered", "Triggered"], ["acknowledged", "Acknowledged"], ["resolved", "Resolved"], ["", "All"]];
const SEVERITIES = ["critical", "error", "warning", "info"];

function readFilters() {
  const q = new URLSearchParams(window.location.search);
  return {
    status: q.has("status") ? q.get("status") : "open",
    severity: q.get("severity") || "",
    app: q.get("app") || "",
    detector: q.get("detector") || "",
    q: q.get("q") || "",
    offset: Number(q.get("offset") || 0),
  };
}

function writeFilters(f) {
  const q = new URLSearchParams();
  if (f.status !== "open") q.set("status", f.status);
  for (const key of ["severity", "app", "detector", "q"]) if (f[key]) q.set(key, f[key]);
  if (f.offset) q.set("offset", String(f.offset));
  const qs = q.toString();
  history.replaceState(null, "", qs ? `/?${qs}` : "/");
}

function select(name, label, values, current, onChange) {
  const el = h(
    "select",
    { name, "aria-label": label, onchange: () => onChange(el.value) },
    h("option", { value: "" }, `All ${label}`),
    values.map((v) => h("option", { value: v, selected: v === current }, v)),
  );
  return el;
}

export function mount(root, _params, ctx) {
  const filters = readFilters();
  const seen = new Set();
  let firstLoad = true;
  let shown = null; // what the table shows: rebuilt only when it changes, so a click never lands on a stale row
  let facets = { app: [], detector: [] };

  const stats = h("div", { class: "stats" });
  const chart = h("div", { class: "chart-host" });
  const tableHost = h("div", { class: "table-host" }, h("div", { class: "empty" }, "Loading incidents…"));
  const pager = h("div", { class: "pager" });
  const facetHost = h("span", { class: "facet-selects" });
  const search = h("input", {
    type: "search",
    name: "q",
    placeholder: "Search incidents (title, labels, id)",
    value: filters.q,
    "aria-label": "search incidents",
  });
  let searchTimer = null;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => update({ q: search.value.trim() }), 250);
  });
  const statusTabs = h(
    "div",
    { class: "segmented", role: "tablist", "aria-label": "status" },
    STATUSES.map(([value, label]) =>
      h("button", { type: "button", class: "seg", "data-status": value, onclick: () => update({ status: value }) }, label),
    ),
  );
  const severitySelect = select("severity", "severities", SEVERITIES, filters.severity, (v) => update({ severity: v }));

  function update(change) {
    Object.assign(filters, change, change.offset === undefined ? { offset: 0 } : {});
    writeFilters(filters);
    renderFilters();
    loadList().catch(ctx.onError);
  }

  function renderFilters() {
    for (const b of statusTabs.children) b.classList.toggle("active", b.dataset.status === filters.status);
    severitySelect.value = filters.severity;
    const apps = [...new Set([...facets.app, filters.app].filter(Boolean))].sort();
    const detectors = [...new Set([...facets.detector, filters.detector].filter(Boolean))].sort();
    replace(
      facetHost,
      select("app", "apps", apps, filters.app, (v) => update({ app: v })),
      select("detector", "detectors", detectors, filters.detector, (v) => update({ detector: v })),
    );
  }

  root.append(
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("h1", {}, "Incidents"), h("p", { class: "sub" }, "What is wrong with your LLM traffic right now.")),
    ),
    stats,
    h(
      "section",
      { class: "panel" },
      h("div", { class: "filters" }, statusTabs, search, severitySelect, facetHost,
        h("button", { type: "button", class: "btn btn-ghost", onclick: () => { search.value = ""; update({ status: "open", severity: "", app: "", detector: "", q: "" }); } }, "Clear")),
      tableHost,
      pager,
    ),
    panel("Findings · last hour", chart, { cls: "chart-panel" }),
  );
  renderFilters();

  function row(inc) {
    const labels = inc.labels || {};
    const isNew = !firstLoad && !seen.has(inc.id);
    seen.add(inc.id);
    return h(
      "tr",
      {
        class: `inc-row sev-row-${inc.severity}${isNew ? " fresh" : ""}`,
        "data-incident-id": inc.id,
        onclick: (ev) => {
          if (!ev.target.closest("a")) ctx.navigate(`/incidents/${encodeURIComponent(inc.id)}`);
        },
      },
      h("td", { "data-label": "Severity", class: "sev-cell" }, severityPill(inc.severity)),
      h(
        "td",
        { class: "title-cell", "data-label": "Incident" },
        link(`/incidents/${encodeURIComponent(inc.id)}`, inc.title),
        h("div", { class: "muted clamp" }, inc.summary),
      ),
      h("td", { "data-label": "App" }, labels.app || "—"),
      h("td", { class: "mono small", "data-label": "Model" }, labels.model || "—"),
      h("td", { "data-label": "Detector" }, h("span", { class: "tag" }, labels.detector || "—")),
      h("td", { class: "nowrap", "data-label": "Age" }, timeAgo(inc.first_seen)),
      h("td", { class: "nowrap", "data-label": "Last seen" }, timeAgo(inc.last_seen)),
      h("td", { class: "num", "data-label": "Findings" }, fmtNumber(inc.finding_count)),
      h("td", { "data-label": "Status" }, statusPill(inc.status)),
    );
  }

  async function loadList() {
    const res = await get("/api/v1/incidents", {
      status: filters.status,
      severity: filters.severity,
      app: filters.app,
      detector: filters.detector,
      q: filters.q,
      limit: PAGE_SIZE,
      offset: filters.offset,
    });
    const rows = res.data;
    const key = JSON.stringify([filters, rows, res.total, res.next]);
    if (key === shown) return;
    shown = key;
    if (!rows.length) {
      replace(tableHost, h("div", { class: "empty" }, filters.status === "open" && !filters.q ? "No open incidents. All quiet." : "No incidents match these filters."));
    } else {
      replace(
        tableHost,
        h(
          "table",
          { class: "grid-table incidents rtable" },
          h("thead", {}, h("tr", {}, ["Severity", "Incident", "App", "Model", "Detector", "Age", "Last seen", "Findings", "Status"].map((c) => h("th", {}, c)))),
          h("tbody", {}, rows.map(row)),
        ),
      );
    }
    firstLoad = false;
    const total = res.total ?? rows.length;
    const from = total ? filters.offset + 1 : 0;
    const to = filters.offset + rows.length;
    replace(
      pager,
      h("span", { class: "muted", "data-total": String(total) }, `${from}–${to} of ${total}`),
      h("button", { type: "button", class: "btn btn-small", disabled: filters.offset === 0, onclick: () => update({ offset: Math.max(0, filters.offset - PAGE_SIZE) }) }, "‹ Prev"),
      h("button", { type: "button", class: "btn btn-small", disabled: !res.next, onclick: () => update({ offset: filters.offset + PAGE_SIZE }) }, "Next ›"),
    );
  }

  async function loadSummary() {
    const { data } = await get("/api/v1/ui/summary");
    const sev = data.open_by_severity || {};
    const open = (data.incidents.triggered || 0) + (data.incidents.acknowledged || 0);
    replace(
      stats,
      stat("Open incidents", fmtNumber(open), { tone: open ? "hot" : "ok", hint: `${fmtNumber(data.incidents.acknowledged || 0)} acknowledged`, id: "open" }),
      stat("Critical", fmtNumber(sev.critical || 0), { tone: sev.critical ? "critical" : null, hint: "open", id: "critical" }),
      stat("Error", fmtNumber(sev.error || 0), { tone: sev.error ? "error" : null, hint: "open", id: "error" }),
      stat("Warning", fmtNumber(sev.warning || 0), { tone: sev.warning ? "warning" : null, hint: "open", id: "warning" }),
      stat("Findings · 1h", fmtNumber(data.findings_last_hour), { hint: `${fmtNumber(data.findings_total)} stored`, id: "findings" }),
      stat("Dead letters", fmtNumber(data.dead_letters), { tone: data.dead_letters ? "error" : null, hint: "undelivered notifications", id: "dead" }),
    );
    const ts = data.findings_timeseries;
    replace(chart, stackedBars({ buckets: ts.buckets, series: ts.series, bucketS: ts.bucket_s, height: 150, width: 1000, empty: "No findings in the last hour" }));
    facets = data.facets || facets;
    if (document.activeElement === null || !facetHost.contains(document.activeElement)) renderFilters();
  }

  return {
    refresh: async () => {
      await Promise.all([loadList(), loadSummary()]);
    },
  };
}
