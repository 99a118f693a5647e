// Silences: what is muted, by whom and why, until when; create new ones and expire them early.

import { del, get } from "../api.js";
import { fmtTime, h, replace, timeAgo } from "../dom.js";
import { silenceDialog, table, toast } from "../ui.js";

const STATES = [["active", "Active"], ["pending", "Pending"], ["expired", "Expired"], ["", "All"]];

export function mount(root, _params, ctx) {
  let state = new URLSearchParams(window.location.search).get("state") ?? "active";
  let shown = null; // what the table shows: rebuilt only when it changes, so a click never lands on a stale row
  const host = h("div", { class: "table-host" }, h("div", { class: "empty" }, "Loading silences…"));
  const tabs = h(
    "div",
    { class: "segmented", "aria-label": "silence state" },
    STATES.map(([value, label]) => h("button", { type: "button", class: "seg", "data-state": value, onclick: () => setState(value) }, label)),
  );
  root.append(
    h("div", { class: "page-head" },
      h("div", {}, h("h1", {}, "Silences"), h("p", { class: "sub" }, "Muted notifications. Incidents keep being recorded while silenced.")),
      h("div", { class: "head-tools" },
        h("button", { type: "button", class: "btn btn-primary", "data-action": "new-silence", onclick: () => silenceDialog(null, reload) }, "New silence"))),
    h("section", { class: "panel" }, h("div", { class: "filters" }, tabs), host),
  );

  function reload() {
    refresh().catch(ctx.onError);
  }

  function setState(value) {
    state = value;
    history.replaceState(null, "", value === "active" ? "/silences" : `/silences?state=${value}`);
    mark();
    reload();
  }

  function mark() {
    for (const b of tabs.children) b.classList.toggle("active", b.dataset.state === state);
  }
  mark();

  async function expire(s) {
    try {
      await del(`/api/v1/silences/${encodeURIComponent(s.id)}`);
      toast("Silence expired");
      reload();
    } catch (exc) {
      toast(exc.message, "error");
    }
  }

  async function refresh() {
    const { data } = await get("/api/v1/silences", { state });
    const rows = [...data].sort((a, b) => b.created_at - a.created_at);
    const key = JSON.stringify([state, rows]);
    if (key === shown) return;
    shown = key;
    replace(
      host,
      table(
        [
          { label: "State", cell: (s) => h("span", { class: `pill si-${s.state}` }, s.state) },
          { label: "Matchers", cell: (s) => h("div", { class: "chips" }, (s.matchers_text || []).map((m) => h("code", { class: "label-chip" }, m))) },
          { label: "Comment", cell: (s) => h("div", { class: "clamp" }, s.comment || "") },
          { label: "Created by", cell: (s) => s.created_by },
          { label: "Starts", cell: (s) => h("span", { class: "nowrap", title: fmtTime(s.starts_at) }, fmtTime(s.starts_at)) },
          { label: "Ends", cell: (s) => h("span", { class: "nowrap", title: fmtTime(s.ends_at) }, timeAgo(s.ends_at)) },
          {
            label: "",
            cell: (s) => (s.state === "expired" ? null
              : h("button", { type: "button", class: "btn btn-small btn-danger", "data-action": "expire", onclick: () => expire(s) }, "Expire")),
          },
        ],
        rows,
        { empty: state === "active" ? "No active silence: every notification goes out." : "No silences here.", rowAttrs: (s) => ({ "data-silence-id": s.id }) },
      ),
    );
  }

  return { refresh };
}
