// An incident's activity log: the pipeline's steps and people's decisions in one timeline, oldest first.

import { fmtTime, h, link } from "./dom.js";
import { panel } from "./ui.js";

const LABELS = {
  opened: "Opened",
  finding: "Finding",
  findings: "Findings",
  notification: "Notification",
  acknowledged: "Acknowledged",
  resolved: "Resolved",
  feedback: "Feedback",
  approval: "Approval",
  silence: "Silenced",
  comment: "Comment",
  note: "Note",
};

function detail(a) {
  const d = a.data || {};
  switch (a.kind) {
    case "opened":
      return `severity ${d.severity}, route ${d.route}`;
    case "finding":
      return [h("span", { class: `pill sev-${d.severity}` }, d.severity), " ", link(`/findings/${encodeURIComponent(d.finding_id)}`, h("span", { class: "clamp" }, a.comment))];
    case "notification":
      return `${d.event} to ${d.receiver} (${d.channel}): ${d.status}${d.attempts > 1 ? `, ${d.attempts} attempts` : ""}${a.comment ? ` · ${a.comment}` : ""}`;
    case "feedback":
      return `${d.verdict === "false_positive" ? "not a problem" : "confirmed"} (${d.target} ${d.target_id})${a.comment ? `: ${a.comment}` : ""}${d.suppress_until ? " · near-duplicates muted" : ""}`;
    case "approval":
      return [`${d.action}d system prompt `, h("code", {}, String(d.sha256 || "").slice(0, 12)), ` for ${d.app}${a.comment ? `: ${a.comment}` : ""}`];
    case "silence":
      return [`silence ${(d.matchers || []).join(", ")}`, a.comment ? `: ${a.comment}` : ""];
    default:
      return a.comment || "";
  }
}

/** Consecutive findings read as one line ("12 findings, critical, 13:09:12 to 13:09:13"). */
function grouped(entries) {
  const out = [];
  for (const a of entries) {
    const last = out[out.length - 1];
    if (a.kind === "finding" && last && last.kind === "findings") {
      last.items.push(a);
      continue;
    }
    if (a.kind === "finding") out.push({ kind: "findings", time: a.time, actor: a.actor, verified: true, items: [a] });
    else out.push(a);
  }
  return out.map((a) => (a.kind === "findings" && a.items.length === 1 ? a.items[0] : a));
}

function findingsDetail(a) {
  const severities = [...new Set(a.items.map((f) => f.data.severity))];
  const last = a.items[a.items.length - 1];
  return h("details", { class: "act-group" },
    h("summary", {}, `${a.items.length} findings (${severities.join(", ")}) until ${fmtTime(last.time)}`),
    h("ul", {}, a.items.map((f) => h("li", {}, h("span", { class: "act-time" }, fmtTime(f.time)), " ", link(`/findings/${encodeURIComponent(f.data.finding_id)}`, f.comment)))));
}

export function activityPanel(entries) {
  const people = entries.filter((a) => !["finding", "notification", "opened", "note"].includes(a.kind)).length;
  return panel(`Activity (${people} by people)`, h("ol", { class: "activity" }, grouped(entries).map((a) => h("li", { class: `act act-${a.kind}`, "data-kind": a.kind },
    h("span", { class: "act-time" }, a.time ? fmtTime(a.time) : ""),
    h("span", { class: "act-kind" }, LABELS[a.kind] || a.kind),
    h("span", { class: "act-who" }, a.actor, a.verified ? null : h("span", { class: "tag tag-muted", title: "the daemon did not authenticate this name" }, "unverified")),
    h("span", { class: "act-detail" }, a.kind === "findings" ? findingsDetail(a) : detail(a))))));
}
