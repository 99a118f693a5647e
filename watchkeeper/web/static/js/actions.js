// Decisions an on-call engineer takes from a page: approve or revoke a system prompt, and say "not a
// problem" or "confirmed" about an incident or a finding. Each asks for a comment and confirms in a dialog.

import { post } from "./api.js";
import { h } from "./dom.js";
import { field, modal, toast } from "./ui.js";

const AUTHOR_KEY = "watchkeeper.author";

function authorField() {
  const input = h("input", { name: "author", value: localStorage.getItem(AUTHOR_KEY) || "", placeholder: "your name", autocomplete: "name" });
  return [input, field("Author", input, "Recorded as unverified unless you signed in with a personal token.")];
}

function remember(input) {
  const value = input.value.trim();
  if (value) localStorage.setItem(AUTHOR_KEY, value);
  return value;
}

/** Approve (or revoke) one system-prompt hash of an app; recorded in the audit log and the activity. */
export function approvalDialog({ app, sha256, incidentId, action = "approve" }, done) {
  const approve = action === "approve";
  const comment = h("textarea", { name: "comment", rows: 2, placeholder: approve ? "Release 4.2, ticket OPS-123" : "Why it must be flagged again" });
  const [author, authorBlock] = authorField();
  modal(approve ? "Approve this system prompt?" : "Revoke this approval?", [
    h("p", { class: "modal-subject" }, approve
      ? `Calls of ${app} that carry this system prompt will no longer be flagged. The decision is recorded in the hash-chained audit log with your name and comment.`
      : `Calls of ${app} that carry this system prompt will be flagged again.`),
    h("div", { class: "kv-inline" }, h("span", { class: "muted" }, "sha256 "), h("code", { class: "wrap", "data-sha": sha256 }, sha256)),
    field("Comment", comment),
    authorBlock,
  ], {
    submitLabel: approve ? "Approve prompt" : "Revoke approval",
    danger: !approve,
    onSubmit: async () => {
      if (!comment.value.trim()) throw new Error("Say why (a ticket, a release): the audit log keeps it.");
      const { data } = await post("/api/v1/approvals", {
        app, sha256, action, comment: comment.value.trim(), by: remember(author), incident_id: incidentId || null,
      });
      toast(`${approve ? "Approved" : "Revoked"} ${data.sha256.slice(0, 12)} for ${app} (by ${data.actor})`);
      done && done(data);
    },
  });
}

/** "Not a problem" (false_positive) or "Confirmed" on an incident or a finding. */
export function feedbackDialog({ target, id, title }, verdict, done) {
  const fp = verdict === "false_positive";
  const comment = h("textarea", { name: "comment", rows: 2, placeholder: fp ? "Why this is not a problem (e.g. sample data in our docs)" : "What was wrong" });
  const [author, authorBlock] = authorField();
  modal(fp ? "Not a problem?" : "Confirm this is a real problem?", [
    h("p", { class: "modal-subject" }, title),
    h("p", { class: "muted small" }, fp
      ? `This resolves the incident, mutes the same passage of this app for the same detector for a while, and is exported as a negative example for training.`
      : "This keeps the incident as it is and is exported as a positive example for training."),
    field("Comment", comment),
    authorBlock,
  ], {
    submitLabel: fp ? "Not a problem" : "Confirm",
    onSubmit: async () => {
      const { data } = await post(`/api/v1/${target}s/${encodeURIComponent(id)}/feedback`, { verdict, comment: comment.value.trim(), by: remember(author) });
      toast(fp ? `Marked as not a problem; incident ${data.incident_status || ""}` : "Confirmed");
      done && done(data);
    },
  });
}

/** The two feedback buttons for a target. */
export function feedbackButtons(target, id, title, done, { small = false } = {}) {
  const cls = small ? "btn btn-small" : "btn";
  return [
    h("button", { type: "button", class: cls, "data-action": "not-a-problem", onclick: (ev) => { ev.stopPropagation(); feedbackDialog({ target, id, title }, "false_positive", done); } }, "Not a problem"),
    h("button", { type: "button", class: cls, "data-action": "confirm", onclick: (ev) => { ev.stopPropagation(); feedbackDialog({ target, id, title }, "confirmed", done); } }, "Confirm"),
  ];
}
