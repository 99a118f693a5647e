// One incident: what happened in plain words, its findings with evidence, notifications, and the actions.

import { ApiError, get } from "../api.js";
import { bandChart, bucketTimes, compareBars, stackedBars } from "../charts.js";
import {
  fmtDuration, fmtNumber, fmtTime, h, highlight, link, replace, safeUrl, severityPill, statusPill, timeAgo,
} from "../dom.js";
import { kv, panel, silenceDialog, table, transitionDialog } from "../ui.js";

const DETECTOR_WORDS = {
  integrity: "an unapproved system-prompt change",
  topic_injection: "a recurring off-topic passage in unrelated answers",
  leakage: "secrets or personal data in model answers",
  operational: "abnormal latency, token use or error rates",
  drift: "a shift in the model's behaviour",
  content_safety: "unsafe or controversial content",
};

const SHOWN = 8; // findings listed before "show more"

function plural(n, word) {
  return `${fmtNumber(n)} ${word}${n === 1 ? "" : "s"}`;
}

/** One or two sentences an on-call engineer can read at 3 a.m. */
export function plainWords(inc) {
  const l = inc.labels || {};
  const what = DETECTOR_WORDS[l.detector] || `${l.detector || "a detector"} / ${l.category || "finding"}`;
  const where = [l.app && `app ${l.app}`, l.env && `(${l.env})`, l.model && `on ${l.model}`].filter(Boolean).join(" ");
  const span = inc.last_seen - inc.first_seen;
  const when = span > 1
    ? `between ${fmtTime(inc.first_seen)} and ${fmtTime(inc.last_seen)} (${fmtDuration(span)})`
    : `at ${fmtTime(inc.first_seen)}`;
  return `Watchkeeper saw ${what} in ${where || "your traffic"}: ${plural(inc.finding_count, "finding")} ${when}.`;
}

function ids(ev) {
  const out = [];
  if (ev.trace_id) out.push(h("span", { class: "id-chip", title: "trace id" }, h("b", {}, "trace "), h("code", {}, ev.trace_id)));
  if (ev.span_id) out.push(h("span", { class: "id-chip", title: "span id" }, h("b", {}, "span "), h("code", {}, ev.span_id)));
  return out.length ? h("div", { class: "ids" }, out) : null;
}

function textBlock(title, text, needles) {
  if (!text) return null;
  return h("div", { class: "evidence-block" }, h("div", { class: "eb-title" }, title), h("pre", { class: "excerpt" }, highlight(text, needles)));
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

function integrityEvidence(ev) {
  return [
    ev.diff ? h("div", { class: "evidence-block" }, h("div", { class: "eb-title" }, "System prompt diff (approved → observed)"), diffView(ev.diff))
      : textBlock("Excerpt", ev.excerpt),
    ev.text_captured === false ? h("p", { class: "muted" }, "The prompt text was not captured by the app; only its hash changed.") : null,
    kv([
      ["Approved sha256", ev.old_sha256 ? h("code", {}, ev.old_sha256) : null],
      ["Observed sha256", ev.new_sha256 ? h("code", {}, ev.new_sha256) : null],
    ]),
  ];
}

function topicEvidence(ev) {
  const passage = ev.passage || ev.excerpt;
  const examples = Array.isArray(ev.examples) ? ev.examples : [];
  return [
    textBlock("Recurring passage", passage, [passage]),
    ev.prompt ? textBlock("Prompt of this call (unrelated to the passage)", ev.prompt) : null,
    kv([
      ["Theme", ev.theme],
      ["Conversations", ev.conversations !== undefined ? fmtNumber(ev.conversations) : null],
      ["Window", ev.window_seconds ? fmtDuration(ev.window_seconds) : null],
      ["Watchlist narrative", ev.narrative ? `${ev.narrative.title} — ${ev.narrative.description || ""}` : null],
    ]),
    examples.length
      ? h("div", { class: "evidence-block" }, h("div", { class: "eb-title" }, `Sample conversations (${examples.length})`),
        table(
          [
            { label: "Conversation", cell: (e) => h("code", {}, e.conversation_id || "—"), cls: "nowrap" },
            { label: "User asked", cell: (e) => h("div", { class: "clamp" }, e.prompt || "") },
            { label: "Answer contained", cell: (e) => h("div", { class: "clamp" }, highlight(e.passage || "", [passage])) },
            { label: "Trace", cell: (e) => h("code", { class: "small" }, e.trace_id || "—") },
          ],
          examples,
        ))
      : null,
  ];
}

function leakageEvidence(ev) {
  const matches = Array.isArray(ev.matches) ? ev.matches : [];
  return [
    textBlock("Answer excerpt (values masked)", ev.excerpt, matches.map((m) => m.masked)),
    matches.length
      ? h("div", { class: "chips" }, matches.map((m) => h("span", { class: "tag tag-hot" }, `${m.category}: `, h("code", {}, m.masked))))
      : null,
  ];
}

function metricEvidence(ev) {
  const out = [];
  if (Array.isArray(ev.band) && ev.window_median !== undefined && ev.baseline_median !== undefined) {
    out.push(h("div", { class: "evidence-block" }, h("div", { class: "eb-title" }, `${ev.metric || "metric"} around the anomaly`),
      bandChart({ band: ev.band, baseline: ev.baseline_median, observed: ev.window_median, unit: ev.unit === "ms" ? " ms" : "" })));
  }
  const compare = (title, baseline, observed, opts) => out.push(h("div", { class: "evidence-block" },
    h("div", { class: "eb-title" }, title), compareBars({ baseline, observed, ...opts })));
  if (ev.rate !== undefined && ev.baseline_rate !== undefined) {
    compare(`${ev.metric || "rate"} vs baseline`, ev.baseline_rate, ev.rate, { percent: true });
  }
  if (ev.recent_rate !== undefined && ev.reference_rate !== undefined) {
    compare("rate: reference vs recent", ev.reference_rate, ev.recent_rate, { percent: true, labels: ["reference", "recent"] });
  }
  if (ev.recent_median_chars !== undefined && ev.reference_median_chars !== undefined) {
    compare("median answer length", ev.reference_median_chars, ev.recent_median_chars, { unit: " chars", labels: ["reference", "recent"] });
  }
  const skip = new Set(["trace_id", "span_id", "excerpt", "examples", "band", "matches"]);
  const fmt = (v) => (typeof v === "number" && !Number.isInteger(v) ? Number(v.toPrecision(4)).toString() : String(v));
  out.push(kv(Object.entries(ev).filter(([k]) => !skip.has(k)).map(([k, v]) => [k, typeof v === "object" && v !== null ? JSON.stringify(v) : fmt(v)])));
  if (Array.isArray(ev.examples) && ev.examples.length) {
    out.push(h("div", { class: "evidence-block" }, h("div", { class: "eb-title" }, "Example calls"),
      h("div", { class: "chips" }, ev.examples.map((e) => h("code", { class: "id-chip" }, typeof e === "object" ? JSON.stringify(e) : String(e))))));
  }
  return out;
}

function genericEvidence(ev) {
  const skip = new Set(["trace_id", "span_id", "excerpt"]);
  const rest = Object.entries(ev).filter(([k]) => !skip.has(k));
  return [
    textBlock("Excerpt", ev.excerpt, ev.highlight ? [ev.highlight] : []),
    rest.length ? kv(rest.map(([k, v]) => [k, typeof v === "object" ? h("pre", { class: "json" }, JSON.stringify(v, null, 2)) : String(v)])) : null,
  ];
}

export function evidence(finding) {
  const ev = finding.evidence || {};
  const kind = finding.detector;
  let body;
  if (kind === "integrity") body = integrityEvidence(ev);
  else if (kind === "topic_injection") body = topicEvidence(ev);
  else if (kind === "leakage") body = leakageEvidence(ev);
  else if (kind === "operational" || kind === "drift") body = metricEvidence(ev);
  else body = genericEvidence(ev);
  return h("div", { class: "evidence" }, ids(ev), body);
}

function findingItem(f, open) {
  const details = h(
    "details",
    { class: `finding sev-border-${f.severity}`, open, "data-finding-id": f.id },
    h(
      "summary",
      {},
      h("span", { class: "tl-dot" }),
      h("span", { class: "tl-time", title: fmtTime(f.time) }, fmtTime(f.time)),
      severityPill(f.severity),
      h("span", { class: "tag" }, f.category),
      h("span", { class: "tl-summary" }, f.summary),
    ),
    evidence(f),
  );
  return details;
}

function notificationsTable(rows) {
  return table(
    [
      { label: "When", cell: (n) => h("span", { class: "nowrap", title: fmtTime(n.sent_at || n.updated_at) }, fmtTime(n.sent_at || n.created_at)) },
      { label: "Receiver", cell: (n) => n.receiver },
      { label: "Channel", cell: (n) => h("span", { class: "tag" }, n.channel) },
      { label: "Event", cell: (n) => `${n.event}${n.repeat ? " (repeat)" : ""}` },
      { label: "Status", cell: (n) => h("span", { class: `pill nt-${n.status}` }, n.status) },
      { label: "Attempts", cell: (n) => fmtNumber(n.attempts), cls: "num" },
      {
        label: "Detail",
        cell: (n) => n.last_error
          ? h("span", { class: "err-text" }, `${n.last_status ? `HTTP ${n.last_status}: ` : ""}${n.last_error}`)
          : h("span", { class: "muted" }, n.reason || (n.next_attempt_at ? `next attempt ${fmtTime(n.next_attempt_at)}` : "")),
      },
    ],
    rows,
    { empty: "No notification yet (the group may still be waiting, or no receiver matched)." },
  );
}

function annotationsBlock(inc) {
  const ann = { ...(inc.annotations || {}) };
  const items = [];
  const runbook = inc.runbook_url || ann.runbook_url;
  delete ann.runbook_url;
  if (runbook) {
    const url = safeUrl(runbook);
    items.push(["Runbook", url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer", class: "runbook" }, runbook) : h("span", { class: "muted", title: "not an http(s) link" }, runbook)]);
  }
  for (const [k, v] of Object.entries(ann)) {
    const url = /_url$/.test(k) ? safeUrl(v) : null;
    items.push([k, url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, v) : h("code", { class: "wrap" }, v)]);
  }
  return items;
}

export function mount(root, params, ctx) {
  const id = params[0];
  const head = h("div", { class: "page-head" });
  const body = h("div", { class: "incident-grid" }, h("div", { class: "empty" }, "Loading incident…"));
  root.append(h("div", { class: "crumbs" }, link("/", "Incidents"), h("span", {}, " / "), h("code", {}, id)), head, body);
  let incident = null;
  let openIds = null;
  let showAll = false;

  function reload() {
    refresh().catch(ctx.onError);
  }

  function actions(inc) {
    const closed = inc.status === "resolved";
    return h(
      "div",
      { class: "actions" },
      h("button", { type: "button", class: "btn", "data-action": "ack", disabled: inc.status !== "triggered", onclick: () => transitionDialog(inc, "ack", reload) }, "Acknowledge"),
      h("button", { type: "button", class: "btn btn-primary", "data-action": "resolve", disabled: closed, onclick: () => transitionDialog(inc, "resolve", reload) }, "Resolve"),
      h("button", { type: "button", class: "btn", "data-action": "silence", onclick: () => silenceDialog(inc, reload) }, "Silence…"),
    );
  }

  function render(inc) {
    const labels = inc.labels || {};
    replace(
      head,
      h(
        "div",
        { class: "title-block" },
        h("div", { class: "title-line" }, severityPill(inc.severity), statusPill(inc.status), h("span", { class: "muted small" }, `opened `, timeAgo(inc.first_seen))),
        h("h1", { class: "incident-title" }, inc.title),
      ),
      actions(inc),
    );
    const findings = Array.isArray(inc.findings) ? inc.findings : [];
    if (openIds === null) openIds = new Set(findings.slice(0, 1).map((f) => f.id));
    const times = findings.map((f) => f.time);
    const tl = bucketTimes(times);
    const bySeverity = {};
    for (const f of findings) {
      const i = Math.min(tl.counts.length - 1, Math.floor((f.time - tl.buckets[0]) / tl.bucketS));
      (bySeverity[f.severity] ||= new Array(tl.counts.length).fill(0))[i] += 1;
    }
    const shown = findings.length < inc.finding_count ? ` (latest ${findings.length} of ${fmtNumber(inc.finding_count)})` : "";
    const main = h(
      "div",
      { class: "col-main" },
      panel("What happened", [
        h("p", { class: "plain" }, plainWords(inc)),
        h("p", { class: "summary-text" }, inc.summary),
      ]),
      panel(`Findings timeline${shown}`, [
        findings.length > 1 ? stackedBars({ buckets: tl.buckets, series: bySeverity, bucketS: tl.bucketS, height: 110, width: 900 }) : null,
        h("div", { class: "timeline" }, (showAll ? findings : findings.slice(0, SHOWN)).map((f) => {
          const item = findingItem(f, openIds.has(f.id));
          item.addEventListener("toggle", () => (item.open ? openIds.add(f.id) : openIds.delete(f.id)));
          return item;
        }), !showAll && findings.length > SHOWN
          ? h("button", { type: "button", class: "btn btn-small more", onclick: () => { showAll = true; render(incident); } },
            `Show ${findings.length - SHOWN} more findings`)
          : null),
      ]),
      panel("Notifications", notificationsTable(Array.isArray(inc.notifications) ? inc.notifications : [])),
    );
    const side = h(
      "aside",
      { class: "col-side" },
      panel("Details", kv([
        ["Incident id", h("code", {}, inc.id)],
        ["Status", statusPill(inc.status)],
        ["First seen", fmtTime(inc.first_seen)],
        ["Last seen", fmtTime(inc.last_seen)],
        ["Findings", fmtNumber(inc.finding_count)],
        ["Acknowledged", inc.acknowledged_by ? `${inc.acknowledged_by} · ${fmtTime(inc.acknowledged_at)}` : null],
        ["Resolved", inc.resolved_at ? `${inc.resolved_by || "auto"} · ${fmtTime(inc.resolved_at)}` : null],
        ["Comment", inc.comment],
        ["Route", inc.route],
      ])),
      panel("Labels", h("div", { class: "chips" }, Object.entries(labels).map(([k, v]) => h("span", { class: "label-chip" }, h("b", {}, k), "=", v)))),
      annotationsBlock(inc).length ? panel("Runbook & annotations", kv(annotationsBlock(inc))) : null,
      Array.isArray(inc.receivers) && inc.receivers.length
        ? panel("Receivers", table(
          [
            { label: "Receiver", cell: (r) => r.receiver },
            { label: "Announced", cell: (r) => (r.announced ? "yes" : "not yet") },
            { label: "Last sent", cell: (r) => (r.last_notified_at ? timeAgo(r.last_notified_at) : "—") },
          ],
          inc.receivers,
        ))
        : null,
    );
    replace(body, main, side);
  }

  async function refresh() {
    try {
      const { data } = await get(`/api/v1/incidents/${encodeURIComponent(id)}`);
      const changed = !incident || data.updated_at !== incident.updated_at || data.status !== incident.status
        || (data.notifications || []).length !== (incident.notifications || []).length
        || JSON.stringify(data.notifications) !== JSON.stringify(incident.notifications);
      incident = data;
      document.title = `${data.title} · Watchkeeper`;
      if (changed) render(data);
    } catch (exc) {
      if (exc instanceof ApiError && exc.status === 404) {
        replace(body, h("div", { class: "empty big" }, exc.message));
        return;
      }
      throw exc;
    }
  }

  return { refresh, destroy: () => { document.title = "Watchkeeper"; } };
}
