// The REST API client: JSON in, JSON out, errors carry the API's reason so the UI can show it verbatim.

const TOKEN_KEY = "watchkeeper.token";

// The API sends times as ISO 8601 strings (UTC); the pages compute with unix seconds. One rule, the
// server's: fields named `time`, `first_seen`, `last_seen`, ... or ending in `_at`; payloads left alone.
const TIME_FIELDS = new Set(["time", "first_seen", "last_seen", "last_received_at", "feedback_time", "suppress_until"]);
const OPAQUE_FIELDS = new Set(["evidence", "labels", "annotations", "payload", "request_params", "data"]);

export function reviveTimes(value) {
  if (Array.isArray(value)) return value.map(reviveTimes);
  if (value === null || typeof value !== "object") return value;
  const out = {};
  for (const [key, item] of Object.entries(value)) {
    if (OPAQUE_FIELDS.has(key)) out[key] = item;
    else if ((TIME_FIELDS.has(key) || key.endsWith("_at")) && typeof item === "string") {
      const ms = Date.parse(item);
      out[key] = Number.isNaN(ms) ? item : ms / 1000;
    } else out[key] = reviveTimes(item);
  }
  return out;
}

export class ApiError extends Error {
  constructor(status, error, reason) {
    super(reason || error || `HTTP ${status}`);
    this.status = status;
    this.error = error;
    this.reason = reason;
  }
}

export function setToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

function headers(extra) {
  const out = { Accept: "application/json", ...extra };
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) out.Authorization = `Bearer ${token}`;
  return out;
}

/** GET/POST/DELETE path (with query object); resolves to {data, total, next}. */
export async function api(path, { method = "GET", query, body } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const init = { method, headers: headers(body ? { "Content-Type": "application/json" } : {}) };
  if (body) init.body = JSON.stringify(body);
  let resp;
  try {
    resp = await fetch(url, init);
  } catch (exc) {
    throw new ApiError(0, "network", "the daemon is not reachable; is it running?");
  }
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) {
    throw new ApiError(resp.status, data && data.error, data && data.reason);
  }
  const total = resp.headers.get("X-Total-Count");
  return {
    data: reviveTimes(data),
    total: total === null ? null : Number(total),
    next: resp.headers.get("Link"),
  };
}

export const get = (path, query) => api(path, { query }).then((r) => r);
export const post = (path, body) => api(path, { method: "POST", body });
export const del = (path) => api(path, { method: "DELETE" });
