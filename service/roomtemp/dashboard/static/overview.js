// roomtemp dashboard: all buildings (searchable, paged, rooms that need attention first) and one
// building's rooms (paged). A fleet of 100 buildings x 500 rooms stays a page of bounded height:
// the overview reads the averages of the buildings on its page only and shows a few rooms each.
import {
  ApiError, age, api, comfort, comfortBand, enc, fmt, h, listAll, localTime, pool, symbol,
} from "./lib.js";
import { alertBanner, buildingBadge, firingAlerts, roomBadge } from "./alerts.js";
import { fleetSection, silentMinutes } from "./sensors.js";

const BUILDINGS_PER_PAGE = 10;
const ROOMS_SHOWN = 5; // per building on the overview; "all rooms" opens the building view
const ROOMS_PER_PAGE = 50; // building view
const PARALLEL = 4; // requests in flight while loading several buildings
const NAMES_TTL_MS = 5 * 60e3;

// Room names for the search (the averages carry keys only); kept a few minutes per building.
const roomNames = new Map();
async function roomsOf(building) {
  const hit = roomNames.get(building);
  if (hit && Date.now() - hit.at < NAMES_TTL_MS) return hit.rooms;
  const rooms = await listAll(`/v1/buildings/${enc(building)}/rooms`);
  roomNames.set(building, { at: Date.now(), rooms });
  return rooms;
}

const norm = (s) => (s || "").toLocaleLowerCase();
const hits = (q, ...texts) => texts.some((t) => norm(t).includes(q));
const title = (b) => (b.name && b.name !== b.key ? `${b.name} (${b.key})` : b.key);

function hashOf(base, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `${base}?${s}` : base;
}

/** A room's state for the table: comfort against the band, silence, firing alerts. */
function roomState(r, band, now, silentFor, firing, building) {
  const c = comfort(r.mean, band);
  const a = age(r.last_ts, now);
  const silent = a.minutes > silentFor;
  const alerting = firing?.byRoom.has(`${building}/${r.room}`);
  return { r, c, a, silent, attention: alerting || silent || c.cls === "cold" || c.cls === "warm" };
}

// Rooms that need attention first (silent, then out of comfort), then the rest by key.
const byAttention = (x, y) =>
  (y.attention - x.attention) || (y.silent - x.silent) || (x.r.room < y.r.room ? -1 : 1);

function counts(states) {
  const n = { silent: 0, cold: 0, warm: 0, ok: 0, nodata: 0 };
  for (const s of states) {
    if (s.silent) n.silent++;
    if (s.c.cls in n) n[s.c.cls]++;
  }
  return n;
}

function summaryLine(states, what) {
  const n = counts(states);
  const parts = [
    ["silent", n.silent, "silent"], ["cold", n.cold, "cold"], ["warm", n.warm, "warm"],
    ["ok", n.ok, "comfortable"], ["nodata", n.nodata, "no data"],
  ].filter(([, k]) => k > 0);
  return h("p", { class: "summary", "data-silent": n.silent, "data-cold": n.cold, "data-warm": n.warm },
    `${states.length} ${what}${states.length === 1 ? "" : "s"}`,
    parts.map(([cls, k, label]) => [" · ", h("span", { class: `badge ${cls}`, text: `${k} ${label}` })]));
}

function legend(band, u, silentFor, avg) {
  const sym = symbol(u);
  return h("p", { class: "legend" },
    "Latest 15-minute average",
    avg ? ` (${localTime(avg.window_start)}–${localTime(avg.window_end)})` : "", ". ",
    band ? [h("span", { class: "badge ok", text: "comfortable" }),
      ` ${fmt(band.low)}–${fmt(band.high)} ${sym}, `,
      h("span", { class: "badge cold", text: "cold" }), " below, ",
      h("span", { class: "badge warm", text: "warm" }), " above; "] : "No comfort band is set; ",
    h("span", { class: "badge silent", text: "silent" }),
    ` = no capture for more than ${silentFor} min (set under Silent sensors). `,
    "Sensors = how many sent a capture in the window.");
}

function roomsTable(caption, building, states, u, firing) {
  const sym = symbol(u);
  const labels = ["Room", `Mean ${sym}`, "Min", "Max", "Captures", "Sensors", "Last capture", "Status"];
  const rows = states.map(({ r, c, a, silent }) => {
    const href = `#/room/${enc(building)}/${enc(r.room)}`;
    const num = (v, i) => h("td", { class: "num", "data-label": labels[i], "data-value": v ?? "", text: fmt(v) });
    return h("tr", { class: `room ${c.cls}${silent ? " silent" : ""}`, "data-room": r.room },
      h("th", { scope: "row" }, h("a", { href, text: r.room })),
      num(r.mean, 1), num(r.min, 2), num(r.max, 3),
      h("td", { class: "num count", "data-label": labels[4], text: String(r.count) }),
      h("td", { class: "num sensors", "data-label": labels[5], text: String(r.sensors ?? "–") }),
      h("td", { class: "age", "data-label": labels[6], title: r.last_ts || "", text: a.text }),
      h("td", { class: "status", "data-label": labels[7] },
        h("span", { class: `badge ${c.cls}`, text: c.text }),
        silent ? [" ", h("span", { class: "badge silent", text: "silent" })] : null,
        roomBadge(firing, building, r.room)));
  });
  return h("div", { class: "scroll" },
    h("table", { class: "rooms" },
      h("caption", { class: "sr-only", text: caption }),
      h("thead", {}, h("tr", {}, labels.map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, rows)));
}

function searchForm(base, q, attention, what) {
  const form = h("form", { class: "search", role: "search", id: "search" },
    h("label", {}, `Search ${what} `,
      h("input", { type: "search", name: "q", id: "search-q", value: q, autocomplete: "off",
        placeholder: "key or name" })),
    h("label", {}, h("input", { type: "checkbox", name: "attention", id: "attention", checked: attention }),
      " Only rooms that need attention"),
    h("button", { type: "submit", text: "Search" }));
  const go = () => {
    const data = new FormData(form);
    location.hash = hashOf(base, { q: String(data.get("q") || "").trim(), attention: data.get("attention") ? "1" : "" });
  };
  form.addEventListener("submit", (ev) => { ev.preventDefault(); go(); });
  form.querySelector("#attention").addEventListener("change", go);
  return form;
}

function pager(base, params, page, pages, what) {
  if (pages <= 1) return null;
  const link = (p, text, rel) => h("a", { href: hashOf(base, { ...params, page: p > 1 ? String(p) : "" }), rel, text });
  return h("nav", { class: "pager", "aria-label": `${what} pages` },
    page > 1 ? link(page - 1, "← Previous", "prev") : null,
    h("span", { class: "page-of", text: `Page ${page} of ${pages}` }),
    page < pages ? link(page + 1, "Next →", "next") : null);
}

const pageOf = (q) => Math.max(1, Number.parseInt(q.get("page") || "1", 10) || 1);

/** `#/?q=&attention=1&page=`: the buildings of one page, each with its rooms that need attention. */
export async function overview(ui, q) {
  const u = ui.unit();
  const text = norm(q.get("q")).trim();
  const attention = q.get("attention") === "1";
  const buildings = await listAll("/v1/buildings");
  let matches = buildings.map((b) => ({ b, rooms: null }));
  if (text) {
    // A building that matches shows all its rooms; otherwise only its rooms that match.
    const names = await pool(buildings, PARALLEL, (b) => (hits(text, b.key, b.name) ? null : roomsOf(b.key)));
    matches = buildings.map((b, i) => ({
      b, rooms: names[i] && new Set(names[i].filter((r) => hits(text, r.key, r.name)).map((r) => r.key)),
    })).filter((m) => m.rooms === null || m.rooms.size > 0);
  }
  const pages = Math.max(1, Math.ceil(matches.length / BUILDINGS_PER_PAGE));
  const page = Math.min(pageOf(q), pages);
  const shown = matches.slice((page - 1) * BUILDINGS_PER_PAGE, page * BUILDINGS_PER_PAGE);
  const silentFor = silentMinutes();
  const [answers, band, fleet, firing] = await Promise.all([
    pool(shown, PARALLEL, (m) => api(`/v1/buildings/${enc(m.b.key)}/averages`, { unit: u })),
    buildings.length ? comfortBand(buildings[0].key, "temperature", u) : null,
    // The fleet panel failing (an older server, a token without access) leaves the rooms shown.
    fleetSection(ui).catch((err) => {
      if (!(err instanceof ApiError)) throw err;
      return h("section", { class: "fleet" }, h("h2", { text: "Silent sensors" }),
        h("p", { class: "error", text: ui.explain(err) }));
    }),
    firingAlerts(),
  ]);
  const now = Date.now();
  const params = { q: q.get("q") || "", attention: attention ? "1" : "" };
  const view = h("div", { class: "overview" },
    h("h2", { text: "All rooms" }),
    alertBanner(firing),
    searchForm("#/", params.q, attention, "buildings and rooms"),
    h("p", { class: "muted found", text: text
      ? `${matches.length} of ${buildings.length} building${buildings.length === 1 ? "" : "s"} match “${q.get("q")}”.`
      : `${buildings.length} building${buildings.length === 1 ? "" : "s"}, ${BUILDINGS_PER_PAGE} per page; ` +
        `rooms that need attention first.` }),
    legend(band, u, silentFor, answers[0]));
  if (!buildings.length) view.append(h("p", { text: "No buildings yet: post a capture to /v1/captures." }));
  shown.forEach((m, i) => {
    const all = answers[i].rooms.map((r) => roomState(r, band, now, silentFor, firing, m.b.key));
    let rooms = m.rooms ? all.filter((s) => m.rooms.has(s.r.room)) : all;
    if (attention) rooms = rooms.filter((s) => s.attention);
    view.append(buildingSection(m.b, all, rooms.sort(byAttention), u, params, firing));
  });
  view.append(...[pager("#/", params, page, pages, "Building"), fleet].filter(Boolean));
  return view;
}

function buildingSection(b, all, rooms, u, params, firing) {
  const id = `b-${b.key}`;
  const more = rooms.length - ROOMS_SHOWN;
  const filtered = params.q || params.attention;
  return h("section", { class: "building", "aria-labelledby": id, "data-building": b.key },
    h("h3", { id }, h("a", { href: `#/building/${enc(b.key)}`, text: title(b) }),
      buildingBadge(firing, b.key)),
    summaryLine(all, "room"),
    rooms.length ? roomsTable(`Rooms of ${title(b)}, in ${symbol(u)}`, b.key, rooms.slice(0, ROOMS_SHOWN), u, firing)
      : h("p", { class: "none", text: params.attention ? "No room needs attention." : "No room matches." }),
    more > 0 ? h("p", { class: "more" }, h("a", {
      href: hashOf(`#/building/${enc(b.key)}`, params),
      text: `All ${rooms.length} ${filtered ? "matching " : ""}rooms of ${title(b)} →`,
    })) : null);
}

/** `#/building/{b}?q=&attention=1&page=`: one building's rooms, paged. */
export async function buildingView(ui, building, q) {
  const u = ui.unit();
  const text = norm(q.get("q")).trim();
  const attention = q.get("attention") === "1";
  const [b, avg, band, names, firing] = await Promise.all([
    api(`/v1/buildings/${enc(building)}`),
    api(`/v1/buildings/${enc(building)}/averages`, { unit: u }),
    comfortBand(building, "temperature", u),
    text ? roomsOf(building) : null,
    firingAlerts(),
  ]);
  const silentFor = silentMinutes();
  const now = Date.now();
  const all = avg.rooms.map((r) => roomState(r, band, now, silentFor, firing, building));
  let rooms = all;
  if (names) {
    const keep = new Set(names.filter((r) => hits(text, r.key, r.name)).map((r) => r.key));
    rooms = rooms.filter((s) => keep.has(s.r.room));
  }
  if (attention) rooms = rooms.filter((s) => s.attention);
  rooms.sort(byAttention);
  const pages = Math.max(1, Math.ceil(rooms.length / ROOMS_PER_PAGE));
  const page = Math.min(pageOf(q), pages);
  const base = `#/building/${enc(building)}`;
  const params = { q: q.get("q") || "", attention: attention ? "1" : "" };
  return h("div", { class: "building-view", "data-building": building },
    h("p", {}, h("a", { href: "#/", text: "← All buildings" })),
    h("h2", {}, title(b), buildingBadge(firing, building)),
    summaryLine(all, "room"),
    searchForm(base, params.q, attention, "rooms"),
    legend(band, u, silentFor, avg),
    h("p", { class: "muted found", text: `${rooms.length} room${rooms.length === 1 ? "" : "s"} shown, ` +
      `${ROOMS_PER_PAGE} per page.` }),
    rooms.length
      ? roomsTable(`Rooms of ${title(b)}, in ${symbol(u)}`, building,
        rooms.slice((page - 1) * ROOMS_PER_PAGE, page * ROOMS_PER_PAGE), u, firing)
      : h("p", { class: "none", text: "No room to show." }),
    pager(base, params, page, pages, "Room"));
}
