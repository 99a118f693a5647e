// One incident: what happened in plain words, its findings with evidence, notifications, and the actions.
// Evidence is laid out by each detector's evidence schema (evidence.js); no detector has code here.

import { ApiError, get } from "../api.js";
import { bucketTimes, stackedBars } from "../charts.js";
import {
  fmtDuration, fmtNumber, fmtTime, h, inert, link, replace, safeUrl, severityPill, statusPill, timeAgo,
} from "../dom.js";
import { detectors, renderEvidence } from "../evidence.js";
import { kv, panel, silenceDialog, table, transitionDialog } from "../ui.js";
import { approvalDialog, feedbackButtons } from "../actions.js";
import { activityPanel } from "../activity.js";
import { callPath } from "./calls.js";

const SHOWN = 8; // findings listed before "show more"

function plural(n, word) {
  return `${fmtNumber(n)} ${word}${n === 1 ? "" : "s"}`;
}

/** One or two sentences an on-call engineer can read at 3 a.m.; `known` maps detector names to metadata. */
export function plainWords(inc, known = {}) {
  const l = inc.labels || {};
  const meta = known[l.detector];
  const what = (meta && meta.description) || `${l.detector || "a detector"} / ${l.category || "finding"}`;
  const where = [l.app && `app ${l.app}`, l.env && `(${l.env})`, l.model && `on ${l.model}`].filter(Boolean).join(" ");
  const span = inc.last_seen - inc.first_seen;
  const when = span > 1
    ? `between ${fmtTime(inc.first_seen)} and ${fmtTime(inc.last_seen)} (${fmtDuration(span)})`
    : `at ${fmtTime(inc.first_seen)}`;
  return `Watchkeeper saw ${what} in ${where || "your traffic"}: ${plural(inc.finding_count, "finding")} ${when}.`;
}

/** What a person can do about one finding: open its call, say it is (not) a problem, approve its prompt. */
function findingActions(f, inc, reload) {
  const ev = f.evidence || {};
  const approvable = f.detector === "integrity" && ev.new_sha256;
  return h("div", { class: "finding-foot" },
    ev.trace_id && ev.span_id ? link(callPath(ev), "Open call") : null,
    h("span", { class: "actions" },
      approvable ? h("button", { type: "button", class: "btn btn-small btn-primary", "data-action": "approve", onclick: () => approvalDialog({ app: (f.labels || {}).app || (inc.labels || {}).app, sha256: ev.new_sha256, incidentId: inc.id }, reload) }, "Approve this prompt…") : null,
      approvable ? h("button", { type: "button", class: "btn btn-small", "data-action": "revoke", onclick: () => approvalDialog({ app: (f.labels || {}).app || (inc.labels || {}).app, sha256: ev.new_sha256, incidentId: inc.id, action: "revoke" }, reload) }, "Revoke…") : null,
      feedbackButtons("finding", f.id, f.summary, reload, { small: true })));
}

function findingItem(f, open, known, inc, reload) {
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
    renderEvidence(f, (known[f.detector] || {}).evidence_schema),
    findingActions(f, inc, reload),
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
  const activityHost = h("div", { "data-section": "activity" });
  let activityKey = null;
  let showAll = false;
  let known = {}; // detector name -> metadata (description, evidence schema)

  function reload() {
    refresh().catch(ctx.onError);
  }

  function actions(inc) {
    const closed = inc.status === "resolved";
    const latest = (inc.findings || []).find((f) => f.detector === "integrity" && (f.evidence || {}).new_sha256);
    const approvable = latest ? latest.evidence.new_sha256 : null;
    return h(
      "div",
      { class: "actions" },
      h("button", { type: "button", class: "btn", "data-action": "ack", disabled: inc.status !== "triggered", onclick: () => transitionDialog(inc, "ack", reload) }, "Acknowledge"),
      h("button", { type: "button", class: "btn btn-primary", "data-action": "resolve", disabled: closed, onclick: () => transitionDialog(inc, "resolve", reload) }, "Resolve"),
      h("button", { type: "button", class: "btn", "data-action": "silence", onclick: () => silenceDialog(inc, reload) }, "Silence…"),
      approvable ? h("button", { type: "button", class: "btn", "data-action": "approve-prompt", onclick: () => approvalDialog({ app: (inc.labels || {}).app, sha256: approvable, incidentId: inc.id }, reload) }, "Approve prompt…") : null,
      feedbackButtons("incident", inc.id, inc.title, reload),
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
        h("p", { class: "plain" }, plainWords(inc, known)),
        h("p", { class: "summary-text" }, inc.summary),
      ]),
      panel(`Findings timeline${shown}`, [
        findings.length > 1 ? stackedBars({ buckets: tl.buckets, series: bySeverity, bucketS: tl.bucketS, height: 110, width: 900 }) : null,
        h("div", { class: "timeline" }, (showAll ? findings : findings.slice(0, SHOWN)).map((f) => {
          const item = findingItem(f, openIds.has(f.id), known, inc, reload);
          item.addEventListener("toggle", () => (item.open ? openIds.add(f.id) : openIds.delete(f.id)));
          return item;
        }), !showAll && findings.length > SHOWN
          ? h("button", { type: "button", class: "btn btn-small more", onclick: () => { showAll = true; render(incident); } },
            `Show ${findings.length - SHOWN} more findings`)
          : null),
      ]),
      activityHost,
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
      const [{ data }, meta] = await Promise.all([
        get(`/api/v1/incidents/${encodeURIComponent(id)}`),
        detectors().catch(() => null), // without metadata, evidence still renders (excerpt and keys)
      ]);
      const firstMeta = meta !== null && Object.keys(known).length === 0 && Object.keys(meta).length > 0;
      if (meta !== null) known = meta;
      const changed = !incident || firstMeta || data.updated_at !== incident.updated_at || data.status !== incident.status
        || (data.notifications || []).length !== (incident.notifications || []).length
        || JSON.stringify(data.notifications) !== JSON.stringify(incident.notifications);
      incident = data;
      document.title = `${inert(data.title)} · Watchkeeper`;
      if (changed) render(data);
      const activity = await get(`/api/v1/incidents/${encodeURIComponent(id)}/activity`);
      const key = JSON.stringify(activity.data);
      if (key !== activityKey) {
        activityKey = key;
        replace(activityHost, activityPanel(activity.data));
      }
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
