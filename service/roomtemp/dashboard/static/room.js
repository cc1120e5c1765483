// roomtemp dashboard: one room, each sensor type in its own unit. Steps up to the 15-minute
// window read rolling averages, longer ones buckets [t, t + step) in the building's zone.
import { roomAlerts } from "./alerts.js";
import { renderChart, when } from "./chart.js";
import {
  ApiError, api, comfort, comfortBand, enc, fmt, h, listAll, localTime, sensorTypes, symbol, unitFor,
} from "./lib.js";

export const RANGES = {
  "6h": 6 * 3600e3, "24h": 24 * 3600e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3, "1y": 365 * 86400e3,
};
// The API's bucket ladder (minutes); the first step giving at most MAX_POINTS points is used.
const STEPS = [["1m", 1], ["2m", 2], ["5m", 5], ["10m", 10], ["15m", 15], ["20m", 20], ["30m", 30],
  ["1h", 60], ["2h", 120], ["3h", 180], ["4h", 240], ["6h", 360], ["8h", 480], ["12h", 720],
  ["1d", 1440], ["1w", 10080], ["1M", 43800], ["1y", 525600]];
const WINDOW = "15m";
const WINDOW_MINUTES = 15;
const MAX_POINTS = 400;
const RAW_UP_TO_MS = 6 * 3600e3; // zoomed in this far: also show per-minute capture means
const PERIOD_WORDS = { "1h": "hourly", "1d": "daily", "1w": "weekly", "1M": "monthly", "1y": "yearly" };

/** The step for a range, and whether it asks for buckets (a step longer than the window). */
export function chooseStep(rangeMs) {
  const [step, minutes] = STEPS.find(([, m]) => rangeMs / (m * 60e3) <= MAX_POINTS) || STEPS.at(-1);
  return { step, buckets: minutes > WINDOW_MINUTES };
}

const spanWords = (d) => d.replace(/^(\d+)m$/, "$1-min").replace(/^(\d+)h$/, "$1-hour").replace(/^(\d+)d$/, "$1-day");

/** What one point of the series is, in words (the chart's legend and title). */
export function meaning(series) {
  if (series.mode === "buckets") {
    return `${PERIOD_WORDS[series.step] || spanWords(series.step)} mean over all captures, ${series.time_zone}`;
  }
  return `${spanWords(series.window)} rolling average`;
}

function roomRange(q) {
  if (q.get("from") && q.get("to")) {
    const from = Date.parse(q.get("from"));
    const to = Date.parse(q.get("to"));
    if (Number.isFinite(from) && Number.isFinite(to) && to > from) return { key: "custom", from, to };
  }
  const key = RANGES[q.get("range")] ? q.get("range") : "24h";
  const to = Date.now();
  return { key, from: to - RANGES[key], to };
}

const isoMinute = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
function toLocalInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60e3);
  return d.toISOString().slice(0, 16);
}

const refused = (e) => e instanceof ApiError && e.status === 422;

// On 422: mode=auto (rollups where raw is gone), then rolling windows.
async function series(base, params, choice) {
  const tries = [{ window: WINDOW, mode: "auto" }, { window: WINDOW }];
  tries.unshift(choice.buckets ? { mode: "buckets" } : tries.pop());
  for (const [i, x] of tries.entries()) {
    try {
      return await api(`${base}/averages`, { ...params, step: choice.step, ...x });
    } catch (err) {
      if (!refused(err) || i === tries.length - 1) throw err;
    }
  }
}

// The room's sensor types: those of its sensors, temperature first.
async function roomTypes(building, room) {
  const sensors = await listAll("/v1/sensors", { building, room });
  const keys = [...new Set(sensors.map((s) => s.sensor_type))];
  if (!keys.length) keys.push("temperature");
  return keys.sort((a, b) => (a === "temperature" ? -1 : b === "temperature" ? 1 : a < b ? -1 : 1));
}

async function loadType(building, room, type, chosenUnit, range, choice, zoomed) {
  const base = `/v1/buildings/${enc(building)}/rooms/${enc(room)}`;
  const unit = unitFor(type, chosenUnit);
  const common = { sensor_type: type.key, unit };
  const span = { ...common, from: isoMinute(range.from), to: isoMinute(range.to) };
  const [latest, s, raw, band] = await Promise.all([
    api(`${base}/average`, common),
    series(base, span, choice),
    zoomed ? api(`${base}/averages`, { ...span, step: "1m", window: "1m" })
      .catch((e) => (refused(e) ? null : Promise.reject(e))) : null,
    comfortBand(building, type.key, unit),
  ]);
  return { type, latest, series: s, raw, band };
}

export async function roomView(ui, building, room, q) {
  const u = ui.unit();
  const range = roomRange(q);
  const choice = chooseStep(range.to - range.from);
  const zoomed = range.to - range.from <= RAW_UP_TO_MS;
  const [types, keys, alerts] = await Promise.all([
    sensorTypes(), roomTypes(building, room), roomAlerts(building, room)]);
  const loaded = await Promise.all(keys.map((k) =>
    loadType(building, room, types.get(k) || { key: k, unit: null }, u, range, choice, zoomed)));
  const roomHash = `#/room/${enc(building)}/${enc(room)}`;
  const rangeLinks = Object.keys(RANGES).map((k) =>
    h("a", { href: `${roomHash}?range=${k}`, class: "range", "aria-current": range.key === k ? "true" : null, text: `Last ${k}` }));
  const custom = h("form", { class: "custom", id: "custom-range" },
    h("label", {}, "From ", h("input", { type: "datetime-local", name: "from", value: toLocalInput(range.from), required: true })),
    h("label", {}, "To ", h("input", { type: "datetime-local", name: "to", value: toLocalInput(range.to), required: true })),
    h("button", { type: "submit", text: "Show range" }));
  custom.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const data = new FormData(custom);
    const from = new Date(data.get("from")).getTime();
    const to = new Date(data.get("to")).getTime();
    if (!(to > from)) return ui.showAlert("The end of the range must be after its start.");
    location.hash = `${roomHash}?from=${isoMinute(from)}&to=${isoMinute(to)}`;
  });
  const sections = loaded.map((d) => typeSection(d, range, zoomed));
  const view = h("div", { class: "room-view", "data-building": building, "data-room": room },
    h("p", {}, h("a", { href: "#/", text: "← All rooms" }), " · ",
      h("a", { href: `#/building/${enc(building)}`, text: `All rooms of ${building}` })),
    h("h2", { text: `${building} / ${room}` }),
    h("p", { class: "muted types", text: `Sensor types: ${keys.join(", ")}` }),
    alerts,
    h("nav", { class: "ranges", "aria-label": "Time range" }, rangeLinks),
    custom,
    sections.map((s) => s.el));
  return { view, draw: () => sections.map((s) => s.draw()) };
}

function typeSection({ type, latest, series: s, raw, band }, range, zoomed) {
  const sym = symbol(latest.unit);
  const temperature = type.unit === null || ["celsius", "kelvin", "fahrenheit"].includes(type.unit);
  const c = comfort(latest.mean, band, temperature);
  const buckets = s.mode === "buckets";
  const tz = buckets ? s.time_zone : undefined;
  const what = meaning(s);
  const readout = h("p", { class: "readout", "aria-live": "polite", text: "Point at the chart or focus it and use the arrow keys." });
  const chartHost = h("div", { class: "chart-host" });
  const withData = s.points.filter((p) => p.count > 0).length;
  const captures = s.points.reduce((n, p) => n + p.count, 0);
  const rawCount = raw ? raw.points.filter((p) => p.count > 0).length : 0;
  const name = type.description || type.key;
  const el = h("section", { class: "type", "data-type": type.key, "aria-labelledby": `type-${type.key}` },
    h("h3", { id: `type-${type.key}`, text: `${name} (${sym})` }),
    h("dl", { class: "latest" },
      h("div", {}, h("dt", { text: `Mean (15 min to ${localTime(latest.window_end)})` }),
        h("dd", { class: `mean ${c.cls}`, "data-value": latest.mean ?? "", text: `${fmt(latest.mean)} ${sym}` })),
      h("div", {}, h("dt", { text: "Min – max" }), h("dd", { text: `${fmt(latest.min)} – ${fmt(latest.max)} ${sym}` })),
      h("div", {}, h("dt", { text: "Time-weighted" }), h("dd", { text: `${fmt(latest.time_weighted_mean)} ${sym}` })),
      h("div", {}, h("dt", { text: "Captures" }), h("dd", { class: "count", text: String(latest.count) })),
      h("div", {}, h("dt", { text: "Sensors" }), h("dd", { class: "sensors", text: String(latest.sensors ?? "–") })),
      h("div", {}, h("dt", { text: band ? `Comfort ${fmt(band.low)}–${fmt(band.high)} ${sym}` : "Comfort" }),
        h("dd", { class: "comfort" }, h("span", { class: `badge ${c.cls}`, text: c.text })))),
    h("figure", { "data-from": buckets ? s.from : null, "data-to": buckets ? s.to : null },
      chartHost,
      h("figcaption", { class: "muted" },
        h("span", { class: "legend-mean meaning", text: what }), " with ",
        h("span", { class: "legend-band", text: "min–max band" }),
        zoomed ? [", ", h("span", { class: "legend-capture", text: "captures (per-minute means)" })] : null,
        h("span", { class: "summary", text:
          ` · step ${s.step} · ${s.points.length} points, ${withData} with data` +
          (buckets ? ` · ${captures} captures` : "") +
          (/\d/.test(s.resolution) ? ` · from ${s.resolution} rollups` : "") +
          (zoomed ? ` · ${rawCount} capture minutes` : "") }))),
    readout,
    dataTable(s, sym, tz));
  const from = buckets && s.from ? Date.parse(s.from) : range.from;
  const to = buckets && s.to ? Date.parse(s.to) : range.to;
  return { el, draw: () => renderChart(chartHost, s, {
    from, to, raw: raw && raw.points, symbol: sym, readout, id: type.key, meaning: what, timeZone: tz }) };
}

function dataTable(s, sym, tz) {
  const buckets = s.mode === "buckets";
  const rows = s.points.slice().reverse().map((p) => h("tr", {},
    h("td", { text: when(Date.parse(p.t), tz) }),
    h("td", { class: "num", text: fmt(p.mean, 2) }), h("td", { class: "num", text: fmt(p.min, 2) }),
    h("td", { class: "num", text: fmt(p.max, 2) }), h("td", { class: "num", text: String(p.count) }),
    h("td", { class: "num", text: String(p.sensors ?? "–") })));
  return h("details", { class: "data" },
    h("summary", { text: "Data table" }),
    h("div", { class: "scroll" }, h("table", {},
      h("thead", {}, h("tr", {}, [buckets ? `Bucket start (${tz})` : "Window end", `Mean ${sym}`, "Min", "Max", "Captures", "Sensors"]
        .map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, rows))));
}
