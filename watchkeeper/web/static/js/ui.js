// Shared widgets: toasts, modal dialogs, the ack/resolve/silence forms, panels and tables.

import { h, replace } from "./dom.js";
import { post } from "./api.js";

const AUTHOR_KEY = "watchkeeper.author";

export function toast(message, kind = "ok") {
  const host = document.getElementById("toasts");
  const el = h("div", { class: `toast toast-${kind}`, role: "status" }, message);
  host.appendChild(el);
  setTimeout(() => el.classList.add("leaving"), 3600);
  setTimeout(() => el.remove(), 4000);
}

export function panel(title, body, { actions, cls } = {}) {
  return h(
    "section",
    { class: `panel ${cls || ""}` },
    title ? h("header", { class: "panel-head" }, h("h2", {}, title), actions || null) : null,
    h("div", { class: "panel-body" }, body),
  );
}

export function stat(label, value, { tone, hint, id } = {}) {
  return h(
    "div",
    { class: `stat ${tone ? `tone-${tone}` : ""}`, "data-stat": id || label },
    h("div", { class: "stat-label" }, label),
    h("div", { class: "stat-value" }, value),
    hint ? h("div", { class: "stat-hint" }, hint) : null,
  );
}

/** A table from column specs: {label, cell(row) -> node|string, cls}. */
// A table scrolls sideways inside its own host, so a wide one (many outcome columns, long ids) never widens the page.
export function table(columns, rows, { empty = "Nothing here", rowAttrs } = {}) {
  if (!rows.length) return h("div", { class: "empty" }, empty);
  return h("div", { class: "table-host" }, h(
    "table",
    { class: "grid-table rtable" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.cls || "" }, c.label)))),
    h(
      "tbody",
      {},
      rows.map((row) =>
        h("tr", rowAttrs ? rowAttrs(row) : {}, columns.map((c) => h("td", { class: c.cls || "", "data-label": c.label }, c.cell(row)))),
      ),
    ),
  ));
}

export function kv(pairs) {
  return h(
    "dl",
    { class: "kv" },
    pairs
      .filter(([, v]) => v !== null && v !== undefined && v !== "")
      .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
  );
}

// -- modal -------------------------------------------------------------------------------------------------

let openModal = null;

export function closeModal() {
  if (openModal) {
    openModal.remove();
    openModal = null;
  }
}

/** A modal form; onSubmit(form) returns a promise; errors are shown in the dialog, not swallowed. */
export function modal(title, fields, { submitLabel, onSubmit, danger } = {}) {
  closeModal();
  const error = h("div", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: `btn ${danger ? "btn-danger" : "btn-primary"}` }, submitLabel);
  const form = h(
    "form",
    { class: "modal", "aria-label": title },
    h("header", { class: "modal-head" }, h("h2", {}, title)),
    h("div", { class: "modal-body" }, fields, error),
    h(
      "footer",
      { class: "modal-foot" },
      h("button", { type: "button", class: "btn", onclick: closeModal }, "Cancel"),
      submit,
    ),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    replace(error);
    try {
      await onSubmit(form);
      closeModal();
    } catch (exc) {
      replace(error, exc.message || String(exc));
      submit.disabled = false;
    }
  });
  const backdrop = h("div", { class: "backdrop", onclick: (ev) => ev.target === backdrop && closeModal() }, form);
  document.body.appendChild(backdrop);
  openModal = backdrop;
  const first = form.querySelector("textarea, input, select");
  if (first) first.focus();
  return form;
}

document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape") closeModal();
});

export function field(label, control, hint) {
  return h("label", { class: "field" }, h("span", { class: "field-label" }, label), control, hint ? h("span", { class: "field-hint" }, hint) : null);
}

function authorInput() {
  return h("input", { name: "author", required: true, value: localStorage.getItem(AUTHOR_KEY) || "", placeholder: "your name", autocomplete: "name" });
}

function rememberAuthor(value) {
  if (value) localStorage.setItem(AUTHOR_KEY, value);
}

/** Acknowledge or resolve an incident, with who and why. */
export function transitionDialog(incident, action, done) {
  const verb = action === "ack" ? "Acknowledge" : "Resolve";
  const comment = h("textarea", { name: "comment", rows: 3, placeholder: action === "ack" ? "Looking into it" : "What fixed it" });
  const author = authorInput();
  modal(`${verb} incident`, [
    h("p", { class: "modal-subject" }, incident.title),
    field("Comment", comment),
    field("Author", author),
  ], {
    submitLabel: verb,
    onSubmit: async () => {
      rememberAuthor(author.value.trim());
      await post(`/api/v1/incidents/${encodeURIComponent(incident.id)}/${action}`, {
        by: author.value.trim(),
        comment: comment.value.trim(),
      });
      toast(`${verb}d: ${incident.title}`);
      done();
    },
  });
}

const SILENCE_LABELS = ["app", "env", "detector", "category", "theme", "narrative"];
const DURATIONS = [["1h", 3600], ["4h", 14400], ["12h", 43200], ["24h", 86400], ["7d", 604800]];

function matcherRow(name = "", op = "=", value = "") {
  const row = h(
    "div",
    { class: "matcher-row" },
    h("input", { class: "m-name", value: name, placeholder: "label", "aria-label": "label name" }),
    h("select", { class: "m-op", "aria-label": "operator" }, ["=", "!=", "=~", "!~"].map((o) => h("option", { value: o, selected: o === op }, o))),
    h("input", { class: "m-value", value, placeholder: "value", "aria-label": "label value" }),
    h("button", { type: "button", class: "btn btn-icon", title: "remove matcher", onclick: () => row.remove() }, "×"),
  );
  return row;
}

/** Create a silence; matchers start from the incident's labels (when there is one). */
export function silenceDialog(incident, done) {
  const labels = (incident && incident.labels) || {};
  const rows = h(
    "div",
    { class: "matchers" },
    SILENCE_LABELS.filter((k) => labels[k]).map((k) => matcherRow(k, "=", labels[k])),
  );
  if (!rows.children.length) rows.appendChild(matcherRow());
  const duration = h("select", { name: "duration" }, DURATIONS.map(([label, s]) => h("option", { value: s, selected: s === 14400 }, label)));
  const comment = h("textarea", { name: "comment", rows: 2, required: true, placeholder: "Why is this silenced?" });
  const author = authorInput();
  const preview = h("div", { class: "silence-preview", "aria-live": "polite", "data-section": "preview" });
  const currentMatchers = () => [...rows.querySelectorAll(".matcher-row")]
    .map((r) => [r.querySelector(".m-name").value.trim(), r.querySelector(".m-op").value, r.querySelector(".m-value").value])
    .filter(([name]) => name)
    .map(([name, op, value]) => `${name}${op}${JSON.stringify(value)}`);
  let previewTimer = null;
  const refreshPreview = () => {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(async () => {
      const matchers = currentMatchers();
      if (!matchers.length) {
        replace(preview, h("span", { class: "muted" }, "Add a matcher to see what it would mute."));
        return;
      }
      try {
        const { data } = await post("/api/v1/silences/preview", { matchers });
        replace(preview,
          h("div", { class: "preview-head" }, data.count ? `Would mute ${data.count} open incident${data.count === 1 ? "" : "s"}:` : "Would mute no open incident right now."),
          h("ul", { class: "preview-list" }, data.incidents.slice(0, 8).map((i) => h("li", {}, h("span", { class: `pill sev-${i.severity}` }, i.severity), " ", i.title))),
          data.count > 8 ? h("span", { class: "muted small" }, `and ${data.count - 8} more`) : null);
      } catch (exc) {
        replace(preview, h("span", { class: "err-text" }, exc.message));
      }
    }, 250);
  };
  rows.addEventListener("input", refreshPreview);
  rows.addEventListener("change", refreshPreview);
  modal("New silence", [
    incident ? h("p", { class: "modal-subject" }, `From incident: ${incident.title}`) : null,
    field("Matchers", [rows, h("button", { type: "button", class: "btn btn-small", onclick: () => { rows.appendChild(matcherRow()); refreshPreview(); } }, "+ Add matcher")], "Notifications for incidents whose labels match all of these are muted; incidents are still recorded."),
    preview,
    h("div", { class: "field-row" }, field("Duration", duration), field("Author", author)),
    field("Comment", comment),
  ], {
    submitLabel: "Create silence",
    onSubmit: async () => {
      const matchers = currentMatchers();
      rememberAuthor(author.value.trim());
      const now = Date.now() / 1000;
      await post("/api/v1/silences", {
        matchers,
        starts_at: now,
        ends_at: now + Number(duration.value),
        created_by: author.value.trim(),
        comment: comment.value.trim(),
      });
      toast("Silence created");
      done();
    },
  });
  refreshPreview();
}
