// roomtemp dashboard: the fleet panel — sensors silent for more than N minutes, and the sensor
// keys the service refused because nobody registered them. Reads /v1/sensors only. One page of
// each list at a time (a fleet of 50,000 sensors must not become a 50,000-row table).
import { ApiError, age, api, h } from "./lib.js";

const SILENT_KEY = "roomtemp.silentMinutes";
export const SILENT_DEFAULT = 60;
const PAGE = 10;

export function silentMinutes() {
  const n = Number.parseInt(localStorage.getItem(SILENT_KEY) || "", 10);
  return Number.isFinite(n) && n > 0 ? n : SILENT_DEFAULT;
}

// `ui.rerender` redraws the page after the threshold changed; app.js owns the DOM shell.
export async function fleetSection(ui) {
  const minutes = silentMinutes();
  const [silentPage, unknownPage] = await Promise.all([
    api("/v1/sensors", { silent_for: `${minutes}m`, limit: PAGE }),
    // The unknown keys are an operator's list: a token that may not read them hides the part.
    api("/v1/sensors/unknown", { limit: PAGE }).catch((err) => {
      if (err instanceof ApiError && (err.status === 403 || err.status === 404)) return null;
      throw err;
    }),
  ]);
  const silent = silentPage.items;
  const unknown = unknownPage && unknownPage.items;
  const now = Date.now();
  const form = h("form", { class: "silent-for", id: "silent-form" },
    h("label", {}, "Silent for more than ",
      h("input", { type: "number", name: "minutes", id: "silent-minutes", min: 1, max: 100000,
        step: 1, value: minutes, required: true, inputmode: "numeric" }),
      " minutes"),
    h("button", { type: "submit", text: "Show" }));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const n = Number.parseInt(new FormData(form).get("minutes"), 10);
    if (!(n > 0)) return;
    localStorage.setItem(SILENT_KEY, String(n));
    ui.rerender();
  });
  const rows = silent.map((s) => {
    const a = age(s.last_capture_at, now);
    return h("tr", { class: "silent-sensor", "data-sensor": s.key },
      h("th", { scope: "row", class: "key", text: s.key }),
      h("td", { text: s.building }), h("td", { text: s.room }), h("td", { text: s.sensor_type }),
      h("td", { class: "age", title: s.last_capture_at || "", text: a.text }),
      h("td", { class: "num battery", "data-value": s.battery ?? "",
        text: s.battery === null || s.battery === undefined ? "–" : `${Math.round(s.battery)} %` }));
  });
  const section = h("section", { class: "fleet", "aria-labelledby": "silent-title" },
    h("h2", { id: "silent-title", text: "Silent sensors" }),
    form,
    silent.length
      ? h("div", { class: "scroll" }, h("table", { id: "silent-sensors" },
        h("caption", { class: "sr-only", text: `Sensors without a capture for more than ${minutes} minutes` }),
        h("thead", {}, h("tr", {}, ["Sensor", "Building", "Room", "Type", "Last capture", "Battery"]
          .map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, rows)))
      : h("p", { class: "muted none", id: "silent-none", text: `No sensor has been silent for more than ${minutes} minutes.` }),
    silentPage.next_cursor ? h("p", { class: "muted more", id: "silent-more",
      text: `Showing the first ${silent.length} silent sensors (by key); GET /v1/sensors?silent_for=${minutes}m lists all.` }) : null);
  if (unknown && unknown.length) {
    section.append(
      h("h3", { id: "unknown-title", text: "Unknown sensor keys" }),
      h("p", { class: "muted", text: "Captures from these keys were refused (unknown_sensor): register them under /v1/sensors." }),
      h("div", { class: "scroll" }, h("table", { id: "unknown-sensors" },
        h("thead", {}, h("tr", {}, ["Key", "First seen", "Last seen", "Refused"]
          .map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, unknown.map((u) => h("tr", { class: "unknown-sensor", "data-sensor": u.key },
          h("th", { scope: "row", class: "key", text: u.key }),
          h("td", { title: u.first_seen, text: age(u.first_seen, now).text }),
          h("td", { title: u.last_seen, text: age(u.last_seen, now).text }),
          h("td", { class: "num", text: String(u.refused) })))))));
  }
  return section;
}
