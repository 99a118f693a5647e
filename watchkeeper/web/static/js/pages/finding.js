// /findings/{id}: a finding opens the call it judged (or its incident when the call is no longer kept).

import { ApiError, get } from "../api.js";
import { h, replace } from "../dom.js";

export function mount(root, params, ctx) {
  const id = params[0];
  const body = h("div", { class: "empty big" }, "Opening finding…");
  root.append(body);
  let done = false;

  async function refresh() {
    if (done) return;
    try {
      const { data } = await get(`/api/v1/findings/${encodeURIComponent(id)}`);
      done = true;
      if (data.call_id) {
        try {
          await get(`/api/v1/calls/${encodeURIComponent(data.call_id)}`);
          ctx.navigate(`/calls/${encodeURIComponent(data.call_id)}`, { replaceState: true });
          return;
        } catch (exc) {
          if (!(exc instanceof ApiError) || exc.status !== 404) throw exc;
        }
      }
      if (data.incident_id) ctx.navigate(`/incidents/${encodeURIComponent(data.incident_id)}`, { replaceState: true });
      else replace(body, `Finding ${id}: ${data.summary} (its call is no longer kept).`);
    } catch (exc) {
      if (exc instanceof ApiError && exc.status === 404) {
        done = true;
        replace(body, exc.message);
        return;
      }
      throw exc;
    }
  }

  return { refresh };
}
