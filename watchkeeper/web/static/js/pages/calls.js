// The calls explorer: what the apps sent and answered, filtered by app, model, time, finish reason,
// system-prompt hash, findings, errors and free text. Filters live in the URL, so a link shares the view.

import { get } from "../api.js";
import { fmtNumber, fmtTime, h, link, replace, severityPill, timeAgo } from "../dom.js";

const PAGE_SIZE = 50;
const RANGES = [["", "any time"], ["900", "last 15 min"], ["3600", "last hour"], ["21600", "last 6 h"], ["86400", "last 24 h"]];
const FILTERS = ["app", "model", "range", "finish_reason", "system_sha256", "has_finding", "error", "q", "trace_id", "conversation_id"];

export function callPath(call) {
  return `/calls/${encodeURIComponent(`${call.trace_id}:${call.span_id}`)}`;
}

/** A trace id chip that opens its call page (when the span is known). */
export function traceLink(traceId, spanId) {
  if (!traceId) return null;
  const label = h("code", {}, traceId);
  return spanId ? link(callPath({ trace_id: traceId, span_id: spanId }), label) : label;
}

function readFilters() {
  const q = new URLSearchParams(window.location.search);
  const out = { offset: Number(q.get("offset") || 0) };
  for (const key of FILTERS) out[key] = q.get(key) || "";
  return out;
}

function writeFilters(f) {
  const q = new URLSearchParams();
  for (const key of FILTERS) if (f[key]) q.set(key, f[key]);
  if (f.offset) q.set("offset", String(f.offset));
  history.replaceState(null, "", q.toString() ? `/calls?${q}` : "/calls");
}

function options(values, current, all) {
  const list = [...new Set([...values, current].filter(Boolean))];
  return [h("option", { value: "" }, all), ...list.map((v) => h("option", { value: v, selected: v === current }, v))];
}

export function mount(root, _params, ctx) {
  const filters = readFilters();
  let facets = { app: [], model: [] };
  let shown = null; // what the list shows: rebuilt only when it changes, so a click never lands on a stale row
  const listHost = h("div", { class: "table-host" }, h("div", { class: "empty" }, "Loading calls…"));
  const pager = h("div", { class: "pager" });
  const stored = h("span", { class: "muted small" });

  const control = (name, el) => {
    el.setAttribute("name", name);
    el.addEventListener("change", () => update({ [name]: el.value.trim() }));
    return el;
  };
  const appSel = control("app", h("select", { "aria-label": "app" }));
  const modelSel = control("model", h("select", { "aria-label": "model" }));
  const rangeSel = control("range", h("select", { "aria-label": "time range" }, RANGES.map(([v, l]) => h("option", { value: v, selected: v === filters.range }, l))));
  const findingSel = control("has_finding", h("select", { "aria-label": "findings" },
    [["", "with or without findings"], ["true", "with findings"], ["false", "without findings"]].map(([v, l]) => h("option", { value: v, selected: v === filters.has_finding }, l))));
  const errorSel = control("error", h("select", { "aria-label": "errors" },
    [["", "errors or not"], ["true", "errors only"], ["false", "no errors"]].map(([v, l]) => h("option", { value: v, selected: v === filters.error }, l))));
  const finishIn = control("finish_reason", h("input", { placeholder: "finish reason", value: filters.finish_reason, "aria-label": "finish reason", size: 12 }));
  const shaIn = control("system_sha256", h("input", { placeholder: "system-prompt hash", value: filters.system_sha256, "aria-label": "system prompt hash", class: "mono", size: 14 }));
  const search = h("input", { type: "search", name: "q", placeholder: "Search prompts and answers, or a trace id", value: filters.q, "aria-label": "search calls" });
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => update({ q: search.value.trim() }), 300);
  });

  root.append(
    h("div", { class: "page-head" },
      h("div", { class: "title-block" }, h("h1", {}, "Calls"), h("p", { class: "sub" }, "Every model call the daemon recorded: what was asked, what was answered, and what the detectors said. "), stored)),
    h("section", { class: "panel" },
      h("div", { class: "filters" }, search, appSel, modelSel, rangeSel, findingSel, errorSel, finishIn, shaIn,
        h("button", { type: "button", class: "btn btn-ghost", onclick: () => { search.value = ""; finishIn.value = ""; shaIn.value = ""; update(Object.fromEntries(FILTERS.map((k) => [k, ""]))); } }, "Clear")),
      listHost,
      pager),
  );

  function renderFacets() {
    replace(appSel, options(facets.app || [], filters.app, "All apps"));
    replace(modelSel, options(facets.model || [], filters.model, "All models"));
  }
  renderFacets();

  function update(change) {
    Object.assign(filters, change, change.offset === undefined ? { offset: 0 } : {});
    writeFilters(filters);
    load().catch(ctx.onError);
  }

  function row(c) {
    const findings = c.finding_count
      ? h("span", { class: "chips" }, severityPill(c.max_severity), c.detectors.map((d) => h("span", { class: "tag" }, d)))
      : h("span", { class: "muted" }, "—");
    return h("tr", { class: `call-row${c.finding_count ? ` sev-row-${c.max_severity}` : ""}`, "data-call-id": c.id, onclick: (ev) => { if (!ev.target.closest("a, button")) ctx.navigate(callPath(c)); } },
      h("td", { "data-label": "When", class: "nowrap" }, h("span", { title: fmtTime(c.time) }, timeAgo(c.time))),
      h("td", { "data-label": "App" }, c.app),
      h("td", { "data-label": "Model", class: "mono small" }, c.model || "—"),
      h("td", { "data-label": "Latency", class: "num" }, `${fmtNumber(Math.round(c.duration_ms))} ms`),
      h("td", { "data-label": "Tokens", class: "num" }, `${fmtNumber(c.input_tokens)} / ${fmtNumber(c.output_tokens)}`),
      h("td", { "data-label": "Finish" }, c.error_type ? h("span", { class: "err-text" }, c.error_type) : (c.finish_reasons || []).join(", ") || "—"),
      h("td", { "data-label": "Prompt hash" }, c.system_sha256 ? h("button", { type: "button", class: "linkish mono small", title: "show calls with this system prompt", onclick: () => { shaIn.value = c.system_sha256.slice(0, 12); update({ system_sha256: c.system_sha256.slice(0, 12) }); } }, c.system_sha256.slice(0, 12)) : "—"),
      h("td", { "data-label": "Findings" }, findings),
      h("td", { "data-label": "Answer", class: "answer-cell" }, link(callPath(c), h("span", { class: "clamp" }, c.output_text || (c.content_captured ? "" : "(content not captured)")))),
    );
  }

  async function load() {
    const now = Date.now() / 1000;
    const query = { ...filters, since: filters.range ? new Date((now - Number(filters.range)) * 1000).toISOString() : "", limit: PAGE_SIZE };
    delete query.range;
    const res = await get("/api/v1/calls", query);
    const rows = res.data;
    const key = JSON.stringify([filters, rows, res.total, res.next]);
    if (key === shown) return;
    shown = key;
    if (!rows.length) replace(listHost, h("div", { class: "empty" }, "No recorded call matches these filters."));
    else {
      replace(listHost, h("table", { class: "grid-table calls rtable" },
        h("thead", {}, h("tr", {}, ["When", "App", "Model", "Latency", "Tokens in / out", "Finish", "Prompt hash", "Findings", "Answer"].map((c) => h("th", {}, c)))),
        h("tbody", {}, rows.map(row))));
    }
    const total = res.total ?? rows.length;
    replace(pager,
      h("span", { class: "muted", "data-total": String(total) }, `${total ? filters.offset + 1 : 0}–${filters.offset + rows.length} of ${fmtNumber(total)}`),
      h("button", { type: "button", class: "btn btn-small", disabled: filters.offset === 0, onclick: () => update({ offset: Math.max(0, filters.offset - PAGE_SIZE) }) }, "‹ Prev"),
      h("button", { type: "button", class: "btn btn-small", disabled: !res.next, onclick: () => update({ offset: filters.offset + PAGE_SIZE }) }, "Next ›"));
  }

  async function loadFacets() {
    const { data } = await get("/api/v1/calls/facets");
    facets = data;
    const st = data.stored || {};
    stored.textContent = st.calls ? `${fmtNumber(st.calls)} calls kept, since ${fmtTime(st.oldest_at)}.` : "";
    if (!appSel.contains(document.activeElement) && !modelSel.contains(document.activeElement)) renderFacets();
  }

  return { refresh: () => Promise.all([load(), loadFacets()]) };
}

