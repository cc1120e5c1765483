// roomtemp dashboard: every room at a glance, and one room's rolling average over time.
// Reads only the public /v1 API; no framework, no build step, no inline code (strict CSP).
import { renderChart } from "./chart.js";
import { fleetSection } from "./sensors.js";

const TOKEN_KEY = "roomtemp.token";
const UNIT_KEY = "roomtemp.unit";
const REFRESH_MS = 60_000;
const STALE_MINUTES = 30;
const COMFORT_C = [20, 24]; // comfortable room temperature, °C
const SYMBOL = { celsius: "°C", kelvin: "K", fahrenheit: "°F" };
const RANGES = { "6h": 6 * 3600e3, "24h": 24 * 3600e3, "7d": 7 * 86400e3 };
const STEP_MINUTES = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440];
const MAX_POINTS = 400;
const RAW_UP_TO_MS = 6 * 3600e3; // zoomed in this far: also show per-minute capture means

const $ = (sel) => document.querySelector(sel);
const enc = encodeURIComponent;

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
  return el;
}

// ---- API ---------------------------------------------------------------------------------

const storedToken = () => sessionStorage.getItem(TOKEN_KEY) || "";

async function api(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params)) if (v != null) url.searchParams.set(k, v);
  const headers = { Accept: "application/json" };
  const token = storedToken();
  if (token) headers.Authorization = "Bearer " + token;
  let res;
  try {
    res = await fetch(url, { headers, cache: "no-store" });
  } catch (exc) {
    throw new ApiError(0, "network", `the service cannot be reached (${exc.message})`);
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON (a proxy's error page); the status says enough
  }
  if (!res.ok) {
    const err = (body && body.error) || {};
    throw new ApiError(res.status, err.code || `http_${res.status}`, err.message || res.statusText);
  }
  return body;
}

async function listAll(path) {
  const items = [];
  let cursor = null;
  do {
    const page = await api(path, { limit: 1000, cursor });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

// ---- formatting --------------------------------------------------------------------------

const unit = () => document.querySelector('input[name="unit"]:checked').value;
const fmt = (v, digits = 1) => (v === null || v === undefined ? "–" : v.toFixed(digits));

function toCelsius(v, u) {
  if (u === "kelvin") return v - 273.15;
  if (u === "fahrenheit") return ((v - 32) * 5) / 9;
  return v;
}
function fromCelsius(v, u) {
  if (u === "kelvin") return v + 273.15;
  if (u === "fahrenheit") return (v * 9) / 5 + 32;
  return v;
}

function age(iso, now) {
  if (!iso) return { text: "never", minutes: Infinity };
  const minutes = (now - Date.parse(iso)) / 60e3;
  let text;
  if (minutes < 1) text = "just now";
  else if (minutes < 90) text = `${Math.round(minutes)} min ago`;
  else if (minutes < 48 * 60) text = `${Math.round(minutes / 60)} h ago`;
  else text = `${Math.round(minutes / 1440)} d ago`;
  return { text, minutes };
}

function comfort(mean, u) {
  if (mean === null) return { cls: "nodata", text: "no data" };
  const c = toCelsius(mean, u);
  if (c < COMFORT_C[0]) return { cls: "cold", text: "cold" };
  if (c > COMFORT_C[1]) return { cls: "warm", text: "warm" };
  return { cls: "ok", text: "comfortable" };
}

const localTime = (iso) =>
  new Date(iso).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });

// ---- views -------------------------------------------------------------------------------

async function overview() {
  const u = unit();
  const buildings = await listAll("/v1/buildings");
  const [answers, fleet] = await Promise.all([
    Promise.all(buildings.map((b) => api(`/v1/buildings/${enc(b.key)}/averages`, { unit: u }))),
    // The fleet panel failing (an older server, a token without access) leaves the rooms shown.
    fleetSection({ api, h, age, ApiError, rerender: () => render() }).catch((err) => {
      if (!(err instanceof ApiError)) throw err;
      return h("section", { class: "fleet" }, h("h2", { text: "Silent sensors" }),
        h("p", { class: "error", text: explain(err) }));
    }),
  ]);
  const now = Date.now();
  const [lo, hi] = COMFORT_C.map((c) => fmt(fromCelsius(c, u)));
  const view = h("div", { class: "overview" },
    h("h2", { text: "All rooms" }),
    h("p", { class: "legend" },
      "Latest 15-minute average. ",
      h("span", { class: "badge ok", text: "comfortable" }), ` ${lo}–${hi} ${SYMBOL[u]}, `,
      h("span", { class: "badge cold", text: "cold" }), " below, ",
      h("span", { class: "badge warm", text: "warm" }), " above; ",
      h("span", { class: "badge stale", text: "stale" }),
      ` = no capture for ${STALE_MINUTES} min. `,
      "A room with several sensors pools them: Sensors = how many sent a capture in the window."));
  if (!buildings.length) view.append(h("p", { text: "No buildings yet: post a capture to /v1/captures." }));
  buildings.forEach((b, i) => view.append(buildingSection(b, answers[i], u, now)));
  view.append(fleet);
  return view;
}

function buildingSection(b, avg, u, now) {
  const id = `b-${b.key}`;
  const title = b.name && b.name !== b.key ? `${b.name} (${b.key})` : b.key;
  const rows = avg.rooms.map((r) => {
    const c = comfort(r.mean, u);
    const a = age(r.last_ts, now);
    const stale = a.minutes > STALE_MINUTES;
    const href = `#/room/${enc(b.key)}/${enc(r.room)}`;
    const num = (v) => h("td", { class: "num", "data-value": v ?? "", text: fmt(v) });
    return h("tr", { class: `room ${c.cls}`, "data-room": r.room },
      h("th", { scope: "row" }, h("a", { href, text: r.room })),
      num(r.mean), num(r.min), num(r.max),
      h("td", { class: "num count", text: String(r.count) }),
      h("td", { class: "num sensors", text: String(r.sensors ?? "–") }),
      h("td", { class: "age", title: r.last_ts || "", text: a.text }),
      h("td", { class: "status" },
        h("span", { class: `badge ${c.cls}`, text: c.text }),
        stale ? h("span", { class: "badge stale", text: "stale" }) : null));
  });
  return h("section", { class: "building", "aria-labelledby": id, "data-building": b.key },
    h("h3", { id, text: title }),
    h("p", { class: "muted", text:
      `${avg.rooms.length} room${avg.rooms.length === 1 ? "" : "s"} · window ` +
      `${localTime(avg.window_start)}–${localTime(avg.window_end)}` }),
    h("div", { class: "scroll" },
      h("table", {},
        h("caption", { class: "sr-only", text: `Rooms of ${title}, in ${SYMBOL[u]}` }),
        h("thead", {}, h("tr", {},
          ["Room", `Mean ${SYMBOL[u]}`, "Min", "Max", "Captures", "Sensors", "Last capture", "Status"]
            .map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, rows))));
}

function chooseStep(rangeMs) {
  const minutes = STEP_MINUTES.find((m) => rangeMs / (m * 60e3) <= MAX_POINTS) || 1440;
  return minutes % 1440 === 0 ? `${minutes / 1440}d`
    : minutes % 60 === 0 ? `${minutes / 60}h` : `${minutes}m`;
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

async function roomView(building, room, q) {
  const u = unit();
  const range = roomRange(q);
  const step = chooseStep(range.to - range.from);
  const base = `/v1/buildings/${enc(building)}/rooms/${enc(room)}`;
  const span = { from: isoMinute(range.from), to: isoMinute(range.to), unit: u };
  const zoomed = range.to - range.from <= RAW_UP_TO_MS;
  const [latest, series, raw] = await Promise.all([
    api(`${base}/average`, { unit: u }),
    api(`${base}/averages`, { ...span, step, window: "15m" }),
    zoomed ? api(`${base}/averages`, { ...span, step: "1m", window: "1m" }) : null,
  ]);
  const sym = SYMBOL[u];
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
    if (!(to > from)) return showAlert("The end of the range must be after its start.");
    location.hash = `${roomHash}?from=${isoMinute(from)}&to=${isoMinute(to)}`;
  });
  const c = comfort(latest.mean, u);
  const readout = h("p", { class: "readout", "aria-live": "polite", text: "Point at the chart or focus it and use the arrow keys." });
  const chartHost = h("div", { class: "chart-host" });
  const withData = series.points.filter((p) => p.count > 0).length;
  const rawCount = raw ? raw.points.filter((p) => p.count > 0).length : 0;
  const view = h("div", { class: "room-view", "data-building": building, "data-room": room },
    h("p", {}, h("a", { href: "#/", text: "← All rooms" })),
    h("h2", { text: `${building} / ${room}` }),
    h("dl", { class: "latest" },
      h("div", {}, h("dt", { text: `Mean (15 min to ${localTime(latest.window_end)})` }),
        h("dd", { class: `mean ${c.cls}`, "data-value": latest.mean ?? "", text: `${fmt(latest.mean)} ${sym}` })),
      h("div", {}, h("dt", { text: "Min – max" }), h("dd", { text: `${fmt(latest.min)} – ${fmt(latest.max)} ${sym}` })),
      h("div", {}, h("dt", { text: "Time-weighted" }), h("dd", { text: `${fmt(latest.time_weighted_mean)} ${sym}` })),
      h("div", {}, h("dt", { text: "Captures" }), h("dd", { class: "count", text: String(latest.count) })),
      h("div", {}, h("dt", { text: "Sensors" }), h("dd", { class: "sensors", text: String(latest.sensors ?? "–") }))),
    h("nav", { class: "ranges", "aria-label": "Time range" }, rangeLinks),
    custom,
    h("figure", {},
      chartHost,
      h("figcaption", { class: "muted" },
        h("span", { class: "legend-mean", text: "15-minute rolling mean" }), " with ",
        h("span", { class: "legend-band", text: "min–max band" }),
        zoomed ? [", ", h("span", { class: "legend-capture", text: "captures (per-minute means)" })] : null,
        h("span", { class: "summary", text:
          ` · step ${series.step} · ${series.points.length} points, ${withData} with data` +
          (zoomed ? ` · ${rawCount} capture minutes` : "") }))),
    readout,
    dataTable(series, sym));
  return { view, draw: () => renderChart(chartHost, series, {
    from: range.from, to: range.to, raw: raw && raw.points, symbol: sym, readout }) };
}

function dataTable(series, sym) {
  const rows = series.points.slice().reverse().map((p) => h("tr", {},
    h("td", { text: new Date(p.t).toLocaleString() }),
    h("td", { class: "num", text: fmt(p.mean, 2) }), h("td", { class: "num", text: fmt(p.min, 2) }),
    h("td", { class: "num", text: fmt(p.max, 2) }), h("td", { class: "num", text: String(p.count) }),
    h("td", { class: "num", text: String(p.sensors ?? "–") })));
  return h("details", { class: "data" },
    h("summary", { text: "Data table" }),
    h("div", { class: "scroll" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Window end", `Mean ${sym}`, "Min", "Max", "Captures", "Sensors"]
        .map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, rows))));
}

// ---- shell: routing, errors, token, refresh ----------------------------------------------

function showAlert(message) {
  const box = $("#alert");
  box.textContent = message;
  box.hidden = !message;
}

function explain(err) {
  if (err.status === 401) {
    return storedToken()
      ? `The API token was refused (401 unauthorized: ${err.message}). Enter a valid token under “API token”.`
      : `This service needs an API token (401 unauthorized: ${err.message}). Enter it under “API token”.`;
  }
  if (err.status === 403) {
    return `This API token may not read this data (403 forbidden: ${err.message}). Use a token with read access.`;
  }
  if (err.status === 404) return `Not found: ${err.message}.`;
  if (err.status === 0) return `Could not load data: ${err.message}.`;
  return `Could not load data (HTTP ${err.status} ${err.code}): ${err.message}.`;
}

function openTokenPanel(open) {
  $("#token-panel").hidden = !open;
  $("#token-toggle").setAttribute("aria-expanded", String(open));
  $("#token-state").textContent = storedToken()
    ? "A token is stored for this tab." : "No token stored.";
}

let generation = 0;
async function render({ focus = false } = {}) {
  const mine = ++generation;
  const main = $("#main");
  // Counts renders started, so a test can tell a refresh happened even when it finished at once.
  document.body.dataset.renders = String(mine);
  document.body.dataset.state = "loading";
  main.setAttribute("aria-busy", "true");
  const route = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = route.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  try {
    let view;
    let draw = null;
    const name = parts[0] === "room" && parts.length === 3 ? "room" : "overview";
    if (name === "room") {
      ({ view, draw } = await roomView(parts[1], parts[2], new URLSearchParams(query)));
      document.title = `${parts[1]} / ${parts[2]} · roomtemp`;
    } else {
      view = await overview();
      document.title = "roomtemp";
    }
    if (mine !== generation) return; // a newer render won
    // A refresh keeps what the reader had open or focused.
    const dataOpen = main.querySelector("details.data")?.open;
    const chartFocused = document.activeElement?.classList?.contains("chart");
    main.replaceChildren(view);
    const chart = draw ? draw() : null;
    if (dataOpen && !focus) main.querySelector("details.data").open = true;
    if (chartFocused && chart && !focus) chart.focus();
    showAlert("");
    $("#updated").textContent = `Updated ${new Date().toLocaleTimeString()} · `;
    document.body.dataset.view = name;
    document.body.dataset.state = "ready";
    performance.mark(`roomtemp:${name}-ready`);
  } catch (err) {
    if (mine !== generation) return;
    if (!(err instanceof ApiError)) throw err;
    const message = explain(err);
    showAlert(message);
    main.replaceChildren(h("p", { class: "error", text: "No data to show: see the message above." }));
    document.body.dataset.state = "error";
    if (err.status === 401 || err.status === 403) openTokenPanel(true);
  } finally {
    if (mine === generation) main.removeAttribute("aria-busy");
  }
  if (focus) main.focus();
}

function init() {
  const saved = localStorage.getItem(UNIT_KEY);
  if (saved && SYMBOL[saved]) document.querySelector(`input[name="unit"][value="${saved}"]`).checked = true;
  $("#controls").addEventListener("change", (ev) => {
    if (ev.target.name === "unit") {
      localStorage.setItem(UNIT_KEY, unit());
      render();
    }
  });
  $("#controls").addEventListener("submit", (ev) => ev.preventDefault());
  $("#token-toggle").addEventListener("click", () => openTokenPanel($("#token-panel").hidden));
  $("#token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("#token-input").value.trim());
    $("#token-input").value = "";
    openTokenPanel(false);
    render();
  });
  $("#token-clear").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    openTokenPanel(true);
    render();
  });
  window.addEventListener("hashchange", () => render({ focus: true }));
  let resize = null;
  window.addEventListener("resize", () => {
    clearTimeout(resize);
    resize = setTimeout(() => { if (document.querySelector(".chart")) render(); }, 250);
  });
  setInterval(() => {
    if ($("#autorefresh").checked && !document.hidden) render();
  }, REFRESH_MS);
  render();
}

init();
