// One model call: the prompt, the answer, the system prompt, tokens and latency, its ids (and a link to the
// team's trace backend), what the detectors found and the incident it belongs to.

import { ApiError, get } from "../api.js";
import { feedbackButtons } from "../actions.js";
import { fmtNumber, fmtTime, h, link, replace, safeUrl, severityPill, statusPill, timeAgo } from "../dom.js";
import { kv, panel } from "../ui.js";

function textPanel(title, text, note) {
  if (text === null || text === undefined || text === "") {
    return panel(title, h("p", { class: "muted" }, note || "Not captured by the app (content capture is off)."));
  }
  return panel(title, h("pre", { class: "excerpt", "data-field": title.toLowerCase() }, text));
}

export function mount(root, params, ctx) {
  const id = params[0];
  const head = h("div", { class: "page-head" });
  const body = h("div", { class: "incident-grid" }, h("div", { class: "empty" }, "Loading call…"));
  root.append(h("div", { class: "crumbs" }, link("/calls", "Calls"), h("span", {}, " / "), h("code", { class: "wrap" }, id)), head, body);
  let shown = null;

  function render(c) {
    const traceUrl = c.trace_url ? safeUrl(c.trace_url) : null;
    replace(head,
      h("div", { class: "title-block" },
        h("div", { class: "title-line" }, c.finding_count ? severityPill(c.max_severity) : h("span", { class: "pill ok" }, "no finding"), h("span", { class: "muted small" }, fmtTime(c.time), " · ", timeAgo(c.time))),
        h("h1", { class: "incident-title" }, `${c.app} · ${c.model || "unknown model"}`)),
      h("div", { class: "actions" },
        traceUrl ? h("a", { class: "btn", href: traceUrl, target: "_blank", rel: "noopener noreferrer", "data-action": "trace" }, "Open trace ↗") : null,
        link(`/calls?app=${encodeURIComponent(c.app)}`, h("span", { class: "btn" }, "Calls of this app"))));
    const messages = (c.input_messages || []).filter((m) => m.role !== "user" || m.content !== c.prompt);
    const main = h("div", { class: "col-main" },
      textPanel("Prompt", c.prompt),
      textPanel("Answer", c.output_text),
      textPanel("System prompt", c.system_instructions, c.system_sha256 ? `Only its hash was captured: ${c.system_sha256}` : "This call had no system prompt."),
      messages.length ? panel("Other messages of the request", h("div", { class: "stack" }, messages.map((m) => h("div", { class: "evidence-block" }, h("div", { class: "eb-title" }, m.role), h("pre", { class: "excerpt" }, m.content))))) : null,
      panel(`Findings (${fmtNumber((c.findings || []).length)})`, (c.findings || []).length
        ? h("div", { class: "timeline" }, c.findings.map((f) => h("div", { class: `finding sev-border-${f.severity}`, "data-finding-id": f.id },
          h("div", { class: "finding-head" }, severityPill(f.severity), h("span", { class: "tag" }, `${f.detector} / ${f.category}`), h("span", { class: "tl-summary wrap" }, f.summary)),
          h("div", { class: "finding-foot" },
            f.incident_id ? link(`/incidents/${encodeURIComponent(f.incident_id)}`, "Open incident") : h("span", { class: "muted small" }, "muted as a near-duplicate of a false positive"),
            h("span", { class: "actions" }, feedbackButtons("finding", f.id, f.summary, () => refresh().catch(ctx.onError), { small: true }))))))
        : h("p", { class: "muted" }, "The detectors found nothing in this call.")),
    );
    const side = h("aside", { class: "col-side" },
      panel("Call", kv([
        ["Trace id", h("code", { class: "wrap" }, c.trace_id)],
        ["Span id", h("code", {}, c.span_id)],
        ["Time", fmtTime(c.time)],
        ["Latency", `${fmtNumber(Math.round(c.duration_ms))} ms`],
        ["First chunk", c.ttfc_ms !== null && c.ttfc_ms !== undefined ? `${fmtNumber(Math.round(c.ttfc_ms))} ms` : null],
        ["Tokens in", fmtNumber(c.input_tokens)],
        ["Tokens out", fmtNumber(c.output_tokens)],
        ["Finish", (c.finish_reasons || []).join(", ") || "—"],
        ["Error", c.error_type ? h("span", { class: "err-text" }, c.error_type) : null],
        ["App", link(`/calls?app=${encodeURIComponent(c.app)}`, c.app)],
        ["Environment", c.env],
        ["Provider", c.provider],
        ["Requested model", c.request_model],
        ["Served model", c.response_model],
        ["Conversation", c.conversation_id ? link(`/calls?conversation_id=${encodeURIComponent(c.conversation_id)}`, h("code", { class: "wrap" }, c.conversation_id)) : null],
        ["System prompt", c.system_sha256 ? link(`/calls?app=${encodeURIComponent(c.app)}&system_sha256=${c.system_sha256.slice(0, 12)}`, h("code", { class: "wrap" }, c.system_sha256)) : null],
        ["Parameters", Object.keys(c.request_params || {}).length ? h("code", { class: "wrap" }, JSON.stringify(c.request_params)) : null],
      ])),
      (c.incidents || []).length ? panel("Incident", h("div", { class: "stack" }, c.incidents.map((i) => h("div", { class: "inc-link" },
        severityPill(i.severity), " ", statusPill(i.status), " ", link(`/incidents/${encodeURIComponent(i.id)}`, i.title))))) : null,
    );
    replace(body, main, side);
  }

  async function refresh() {
    try {
      const { data } = await get(`/api/v1/calls/${encodeURIComponent(id)}`);
      const key = JSON.stringify([data.findings, data.incidents]);
      document.title = `${data.app} call · Watchkeeper`;
      if (key !== shown) {
        shown = key;
        render(data);
      }
    } catch (exc) {
      if (exc instanceof ApiError && (exc.status === 404 || exc.status === 400)) {
        replace(body, h("div", { class: "empty big" }, exc.message));
        return;
      }
      throw exc;
    }
  }

  return { refresh, destroy: () => { document.title = "Watchkeeper"; } };
}
