// A finding's evidence, rendered from its detector's evidence schema (GET /api/v1/detectors).
// No detector has code here: each declares its layout (x-layout) in its metadata, so a plug-in's findings
// render like the built-ins'. Everything is written as text (model output is untrusted).

import { get } from "./api.js";
import { bandChart, compareBars } from "./charts.js";
import { fmtDuration, fmtNumber, h, highlight, link } from "./dom.js";
import { callPath } from "./pages/calls.js";
import { kv, table } from "./ui.js";

// What a detector unknown to this daemon (no metadata) gets: its excerpt and every other key.
const FALLBACK_LAYOUT = [
  { widget: "text", field: "excerpt", title: "Excerpt", highlight: ["highlight"] },
  { widget: "rest", skip: ["trace_id", "span_id", "excerpt"], style: "json" },
];

let detectorsPromise = null;

/** name -> metadata of every installed detector; fetched once per page load. */
export function detectors() {
  if (!detectorsPromise) {
    detectorsPromise = get("/api/v1/detectors")
      .then(({ data }) => Object.fromEntries((data || []).map((d) => [d.name, d])))
      .catch((exc) => {
        detectorsPromise = null; // try again on the next render
        throw exc;
      });
  }
  return detectorsPromise;
}

const present = (v) => v !== undefined && v !== null && v !== "";

function first(ev, fields) {
  for (const f of fields || []) if (present(ev[f])) return ev[f];
  return undefined;
}

function fill(template, ev, defaults) {
  return String(template).replace(/\{(\w+)\}/g, (_, name) => {
    const v = present(ev[name]) ? ev[name] : (defaults || {})[name];
    return v === undefined ? "" : String(v);
  });
}

function needles(block, ev) {
  const out = [];
  const one = first(ev, block.highlight);
  if (present(one)) out.push(one);
  if (block.highlight_items) {
    const [field, key] = block.highlight_items;
    const items = Array.isArray(ev[field]) ? ev[field] : [];
    for (const item of items) if (item && present(item[key])) out.push(item[key]);
  }
  return out;
}

function formatted(value, format, template) {
  if (!present(value)) return null;
  switch (format) {
    case "code": return h("code", {}, String(value));
    case "code-small": return h("code", { class: "small" }, String(value));
    case "number": return fmtNumber(value);
    case "duration": return value ? fmtDuration(value) : null;
    case "clamp": return h("div", { class: "clamp" }, String(value));
    case "template":
      return typeof value === "object" ? fill(template || "", value) : String(value);
    default: return typeof value === "object" ? JSON.stringify(value) : String(value);
  }
}

function textBlock(title, text, marks) {
  if (!present(text)) return null;
  return h("div", { class: "evidence-block" }, h("div", { class: "eb-title" }, title), h("pre", { class: "excerpt" }, highlight(text, marks)));
}

function diffView(diff) {
  return h(
    "pre",
    { class: "diff" },
    String(diff).split("\n").map((line) => {
      let cls = "ctx";
      if (line.startsWith("+++") || line.startsWith("---")) cls = "file";
      else if (line.startsWith("@@")) cls = "hunk";
      else if (line.startsWith("+")) cls = "add";
      else if (line.startsWith("-")) cls = "del";
      return h("span", { class: `dl dl-${cls}` }, `${line}\n`);
    }),
  );
}

function roundValue(v) {
  return typeof v === "number" && !Number.isInteger(v) ? Number(v.toPrecision(4)).toString() : String(v);
}

const WIDGETS = {
  text(b, ev) {
    if (b.unless && present(ev[b.unless])) return null;
    const text = present(ev[b.field]) ? ev[b.field] : b.fallback ? ev[b.fallback] : undefined;
    return textBlock(b.title, text, needles(b, ev));
  },
  diff(b, ev) {
    if (!present(ev[b.field])) return null;
    return h("div", { class: "evidence-block" }, h("div", { class: "eb-title" }, b.title), diffView(ev[b.field]));
  },
  note(b, ev) {
    const expected = b.equals === undefined ? true : b.equals;
    return ev[b.when] === expected ? h("p", { class: "muted" }, b.text) : null;
  },
  kv(b, ev) {
    return kv((b.rows || []).map((r) => [r.label, formatted(ev[r.field], r.format, r.template)]));
  },
  table(b, ev) {
    const items = Array.isArray(ev[b.field]) ? ev[b.field] : [];
    if (!items.length) return null;
    const columns = (b.columns || []).map((c) => ({
      label: c.label,
      cls: c.format === "code" ? "nowrap" : undefined,
      cell: (item) => {
        const value = item ? item[c.field] : undefined;
        if (c.highlight && c.highlight.length) {
          const marks = needles({ highlight: c.highlight }, ev);
          const text = highlight(value || "", marks);
          return c.format === "clamp" ? h("div", { class: "clamp" }, text) : text;
        }
        const out = formatted(value, c.format);
        // A trace id of a call with a known span opens that call (the calls explorer keeps recent calls).
        if (out !== null && c.field === "trace_id" && item && item.span_id) return link(callPath(item), out);
        if (out !== null) return out;
        return c.format === "code" || c.format === "code-small" ? h("code", { class: c.format === "code-small" ? "small" : undefined }, "—") : "";
      },
    }));
    const title = String(b.title).replace("{count}", String(items.length));
    return h("div", { class: "evidence-block" }, h("div", { class: "eb-title" }, title), table(columns, items));
  },
  chips(b, ev) {
    const items = Array.isArray(ev[b.field]) ? ev[b.field] : [];
    if (!items.length) return null;
    const chips = b.style === "id"
      ? h("div", { class: "chips" }, items.map((e) => h("code", { class: "id-chip" }, typeof e === "object" ? JSON.stringify(e) : String(e))))
      : h("div", { class: "chips" }, items.map((m) => (typeof m === "object" && m !== null
        ? h("span", { class: "tag tag-hot" }, `${m[b.label]}: `, h("code", {}, String(m[b.value] ?? "")))
        : h("span", { class: "tag tag-hot" }, String(m)))));
    return b.title ? h("div", { class: "evidence-block" }, h("div", { class: "eb-title" }, b.title), chips) : chips;
  },
  band(b, ev) {
    if (!Array.isArray(ev[b.band]) || ev[b.observed] === undefined || ev[b.baseline] === undefined) return null;
    const units = b.units || {};
    const unit = b.unit_field ? units[ev[b.unit_field]] || "" : "";
    return h("div", { class: "evidence-block" }, h("div", { class: "eb-title" }, fill(b.title, ev, b.defaults)),
      bandChart({ band: ev[b.band], baseline: ev[b.baseline], observed: ev[b.observed], unit }));
  },
  compare(b, ev) {
    if (ev[b.observed] === undefined || ev[b.baseline] === undefined) return null;
    const opts = { baseline: ev[b.baseline], observed: ev[b.observed], percent: !!b.percent };
    if (b.unit) opts.unit = b.unit;
    if (b.labels) opts.labels = b.labels;
    return h("div", { class: "evidence-block" }, h("div", { class: "eb-title" }, fill(b.title, ev, b.defaults)), compareBars(opts));
  },
  rest(b, ev) {
    const skip = new Set(b.skip || ["trace_id", "span_id", "excerpt"]);
    const rest = Object.entries(ev).filter(([k]) => !skip.has(k));
    if (b.style === "json") {
      return rest.length
        ? kv(rest.map(([k, v]) => [k, typeof v === "object" ? h("pre", { class: "json" }, JSON.stringify(v, null, 2)) : String(v)]))
        : null;
    }
    return kv(rest.map(([k, v]) => [k, typeof v === "object" && v !== null ? JSON.stringify(v) : roundValue(v)]));
  },
};

function ids(ev) {
  const out = [];
  if (ev.trace_id && ev.span_id) {
    out.push(link(callPath(ev), h("span", { class: "id-chip", title: "open the call" }, h("b", {}, "trace "), h("code", {}, ev.trace_id))));
  } else if (ev.trace_id) out.push(h("span", { class: "id-chip", title: "trace id" }, h("b", {}, "trace "), h("code", {}, ev.trace_id)));
  if (ev.span_id) out.push(h("span", { class: "id-chip", title: "span id" }, h("b", {}, "span "), h("code", {}, ev.span_id)));
  return out.length ? h("div", { class: "ids" }, out) : null;
}

/** The evidence of one finding, laid out by `schema` (its detector's evidence_schema; null: unknown detector). */
export function renderEvidence(finding, schema) {
  const ev = finding.evidence || {};
  const layout = schema && Array.isArray(schema["x-layout"]) ? schema["x-layout"] : FALLBACK_LAYOUT;
  const blocks = layout.map((block) => {
    const widget = WIDGETS[block.widget];
    return widget ? widget(block, ev) : null;
  });
  return h("div", { class: "evidence" }, ids(ev), blocks);
}
