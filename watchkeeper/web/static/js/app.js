// The dashboard shell: client-side routing, the poll loop, and relative times that keep ticking.

import { ago, h, replace, zoneName } from "./dom.js";
import { ApiError, setToken } from "./api.js";
import { closeModal, modal, field } from "./ui.js";
import * as incidents from "./pages/incidents.js";
import * as incident from "./pages/incident.js";
import * as overview from "./pages/overview.js";
import * as silences from "./pages/silences.js";
import * as calls from "./pages/calls.js";
import * as call from "./pages/call.js";
import * as finding from "./pages/finding.js";

const POLL_MS = 3000;

const ROUTES = [
  [/^\/(?:incidents\/?)?$/, incidents, "incidents"],
  [/^\/incidents\/([^/]+)$/, incident, "incidents"],
  [/^\/overview\/?$/, overview, "overview"],
  [/^\/silences\/?$/, silences, "silences"],
  [/^\/calls\/?$/, calls, "calls"],
  [/^\/calls\/([^/]+)$/, call, "calls"],
  [/^\/findings\/([^/]+)$/, finding, "incidents"],
];

const root = document.getElementById("page");
const liveLabel = document.getElementById("live-label");
let current = null;
let lastOk = null;
let polling = false;

function match(path) {
  for (const [re, page, nav] of ROUTES) {
    const m = re.exec(path);
    if (m) return { page, nav, params: m.slice(1).map(decodeURIComponent) };
  }
  return null;
}

export function navigate(url, { replaceState = false } = {}) {
  if (replaceState) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  render();
}

function render() {
  closeModal();
  if (current && current.destroy) current.destroy();
  current = null;
  const found = match(window.location.pathname);
  for (const a of document.querySelectorAll("nav.side a")) {
    a.classList.toggle("active", found !== null && a.dataset.nav === found.nav);
  }
  if (!found) {
    replace(root, h("div", { class: "empty big" }, "No such page. ", h("a", { href: "/", "data-link": true }, "Back to incidents")));
    return;
  }
  root.dataset.page = found.nav;
  replace(root);
  current = found.page.mount(root, found.params, { navigate, onError: showError });
  refresh();
}

async function refresh() {
  if (!current || !current.refresh || polling) return;
  polling = true;
  try {
    await current.refresh();
    lastOk = Date.now() / 1000;
    document.body.classList.remove("offline");
    tick();
  } catch (exc) {
    showError(exc);
  } finally {
    polling = false;
  }
}

let authPrompted = false;

function showError(exc) {
  if (exc instanceof ApiError && exc.status === 401 && !authPrompted) {
    authPrompted = true;
    const token = h("input", { type: "password", name: "token", required: true, autocomplete: "off" });
    modal("Authentication required", [field("API token", token, "The daemon's web.auth_token; kept in this browser only.")], {
      submitLabel: "Sign in",
      onSubmit: async () => {
        setToken(token.value.trim());
        authPrompted = false;
        refresh();
      },
    });
  }
  if (exc instanceof ApiError && exc.status === 0) document.body.classList.add("offline");
  liveLabel.textContent = exc.message || String(exc);
  liveLabel.classList.add("error");
}

function tick() {
  for (const el of document.querySelectorAll("time.ago[data-ts]")) {
    const ts = Number(el.dataset.ts);
    if (el.dataset.ts && !Number.isNaN(ts)) el.textContent = ago(ts);
  }
  if (lastOk !== null && !document.body.classList.contains("offline")) {
    liveLabel.classList.remove("error");
    liveLabel.textContent = `Live · updated ${ago(lastOk)}`;
  }
}

document.addEventListener("click", (ev) => {
  const a = ev.target.closest("a[data-link]");
  if (!a || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.button !== 0) return;
  ev.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", render);
document.getElementById("zone").textContent = `Times in ${zoneName()}`;
setInterval(refresh, POLL_MS);
setInterval(tick, 1000);
render();
