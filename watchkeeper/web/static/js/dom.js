// DOM helpers. Everything the API returns may contain model output, which is untrusted: text only ever
// enters the page through text nodes (never innerHTML), and links only through safeUrl().

const SAFE_SCHEMES = new Set(["http:", "https:", "mailto:"]);

// Bidirectional controls (embeddings and overrides U+202A-202E, isolates U+2066-2069, the direction marks)
// make text display in another order than it is stored: "exe.txt" that reads "txt.exe", an instruction
// hidden in reversed letters. Model output is shown with each one as a visible tag instead.
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Text safe to display as is: every bidirectional control replaced by a visible ⟨U+XXXX⟩ tag. */
export function inert(value) {
  return String(value ?? "").replace(
    BIDI_CONTROLS,
    (c) => `⟨U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}⟩`,
  );
}

/** A URL that is safe to put in href (http, https, mailto), or null. */
export function safeUrl(value) {
  if (typeof value !== "string" || !value.trim()) return null;
  try {
    const url = new URL(value, window.location.origin);
    return SAFE_SCHEMES.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

/**
 * h("div", {class: "x", onclick: fn}, "text", child, [more]) builds an element.
 * Strings become text nodes; href/src go through safeUrl; on* attributes must be functions.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) {
      if (typeof value === "function") el.addEventListener(key.slice(2), value);
      continue;
    }
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = inert(value);
    else if (key === "href" || key === "src") {
      const url = key === "href" && String(value).startsWith("/") ? value : safeUrl(value);
      if (url) el.setAttribute(key, url);
    } else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") Object.assign(el.style, value); // CSSOM: allowed by the page's CSP
    else if (key === "value") el.value = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, inert(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(inert(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Replace the children of el with the given nodes. */
export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

/** A link to a dashboard route, handled by the client-side router. */
export function link(path, ...children) {
  return h("a", { href: path, "data-link": true }, ...children);
}

/**
 * Text with every occurrence of each needle wrapped in <mark>; built from text nodes only.
 * Needles are plain strings (matched case-insensitively), never patterns.
 */
export function highlight(text, needles) {
  const frag = document.createDocumentFragment();
  const source = inert(text);
  const wanted = (needles || []).filter((n) => typeof n === "string" && n.trim().length >= 2);
  if (!wanted.length) {
    frag.appendChild(document.createTextNode(source));
    return frag;
  }
  const lower = source.toLowerCase();
  const ranges = [];
  for (const needle of wanted) {
    const n = needle.toLowerCase();
    let at = lower.indexOf(n);
    while (at !== -1) {
      ranges.push([at, at + n.length]);
      at = lower.indexOf(n, at + n.length);
    }
  }
  ranges.sort((a, b) => a[0] - b[0]);
  let pos = 0;
  for (const [start, end] of ranges) {
    if (start < pos) continue;
    if (start > pos) frag.appendChild(document.createTextNode(source.slice(pos, start)));
    frag.appendChild(h("mark", {}, source.slice(start, end)));
    pos = end;
  }
  if (pos < source.length) frag.appendChild(document.createTextNode(source.slice(pos)));
  return frag;
}

// -- formatting -------------------------------------------------------------------------------------------

const pad = (n) => String(n).padStart(2, "0");

/** "+01:00" for a time in this browser's zone (offsets change with daylight saving time). */
export function zoneOffset(d) {
  const minutes = -d.getTimezoneOffset();
  const sign = minutes >= 0 ? "+" : "-";
  const abs = Math.abs(minutes);
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** The browser's zone name, e.g. "Europe/Paris (UTC+01:00)". */
export function zoneName() {
  let name = "";
  try {
    name = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    name = "";
  }
  const offset = `UTC${zoneOffset(new Date())}`;
  return name ? `${name} (${offset})` : offset;
}

/** Local time with its offset, e.g. 2026-12-01 12:34:26 +01:00: never a time without a zone. */
export function fmtTime(ts) {
  if (ts === null || ts === undefined || ts === "") return "—";
  const d = new Date((typeof ts === "string" ? Date.parse(ts) / 1000 : ts) * 1000);
  if (Number.isNaN(d.getTime())) return String(ts);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${zoneOffset(d)}`
  );
}

export function fmtClock(ts, seconds = false) {
  const d = new Date(ts * 1000);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return seconds ? `${hm}:${pad(d.getSeconds())}` : hm;
}

export function fmtDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function ago(ts) {
  if (ts === null || ts === undefined) return "—";
  const delta = Date.now() / 1000 - ts;
  if (delta < 0) return `in ${fmtDuration(-delta)}`;
  if (delta < 5) return "just now";
  return `${fmtDuration(delta)} ago`;
}

/** A time element showing "3m ago" with the exact time as tooltip. */
export function timeAgo(ts) {
  return h("time", { title: fmtTime(ts), class: "ago", dataset: { ts: String(ts ?? "") } }, ago(ts));
}

export function fmtNumber(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "—";
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return Number.isInteger(n) ? n.toLocaleString("en-US") : n.toFixed(2);
}

export function pill(kind, value) {
  return h("span", { class: `pill ${kind}-${String(value).replace(/[^a-z0-9_-]/gi, "")}` }, String(value));
}

export function severityPill(severity) {
  return pill("sev", severity || "info");
}

export function statusPill(status) {
  return pill("st", status || "unknown");
}

export function icon(name) {
  return h("span", { class: `ico ico-${name}`, "aria-hidden": "true" });
}
