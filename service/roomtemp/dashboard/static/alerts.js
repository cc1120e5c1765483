// Room alerts: overview banner, building count, room badge; the room page lists its latest 20.
import { ApiError, api, enc, fmt, h, localTime, symbol } from "./lib.js";

const RANK = { critical: 3, warning: 2, info: 1 };
const worst = (l) => l.reduce((w, a) => (RANK[a.severity] > RANK[w] ? a.severity : w), "info");
const plural = (n, w) => `${n} ${w}${n === 1 ? "" : "s"}`;
const push = (m, k, a) => m.set(k, [...(m.get(k) || []), a]);

// null: no alerts API, or no read access
async function read(params) {
  try {
    return await api("/v1/alerts", params);
  } catch (err) {
    if (err instanceof ApiError && [403, 404].includes(err.status)) return null;
    throw err;
  }
}

export async function firingAlerts() {
  const page = await read({ state: "firing", limit: 1000 });
  if (!page) return null;
  const f = { items: page.items, byBuilding: new Map(), byRoom: new Map() };
  for (const a of f.items) { push(f.byBuilding, a.building, a); push(f.byRoom, `${a.building}/${a.room}`, a); }
  return f;
}

export function alertBanner(f) {
  if (!f?.items.length) return null;
  return h("section", { class: "alerts-banner", role: "status" },
    h("strong", { text: plural(f.items.length, "firing alert") }), ": ",
    [...f.byBuilding].sort(([a], [b]) => (a < b ? -1 : 1)).map(([b, l], i) => [i ? ", " : "",
      h("a", { href: `#/building/${enc(b)}`, "data-building": b, text: `${b} (${l.length})` })]));
}

export function buildingBadge(f, b) {
  const l = f?.byBuilding.get(b);
  return l ? [" ", h("span", { class: `badge alert ${worst(l)}`, text: plural(l.length, "firing alert") })] : null;
}

export function roomBadge(f, b, room) {
  const l = f?.byRoom.get(`${b}/${room}`);
  return l ? [" ", h("span", { class: `badge alert ${worst(l)}`,
    title: `Firing: ${l.map((a) => `${a.rule} (${a.severity})`).join(", ")}`,
    text: l.length === 1 ? "alert" : `${l.length} alerts` })] : null;
}

const handled = (a) => [a.acked_at && `acknowledged by ${a.acked_by} at ${localTime(a.acked_at)}`,
  a.silenced && `silenced until ${localTime(a.silenced_until)}`].filter(Boolean).join("; ") || "–";

export async function roomAlerts(building, room) {
  const page = await read({ building, room, limit: 20 });
  if (!page) return null;
  const items = page.items.slice().sort((x, y) => (x.state === "resolved") - (y.state === "resolved"));
  const cols = ["Rule", "Severity", "State", "Since", "Value", "Ack / silence"];
  const since = (a) => (a.state === "resolved" ? a.resolved_at : a.fired_at || a.started_at);
  const value = (a) => (a.value === null ? "–" : `${fmt(a.value)} ${symbol(a.unit)}` +
    (a.threshold === null ? "" : ` (${a.kind} ${fmt(a.threshold)})`));
  const rows = items.map((a) => h("tr", { class: `alert-row ${a.state}`, "data-alert": a.id },
    h("th", { scope: "row", text: a.rule }),
    h("td", {}, h("span", { class: `badge alert ${a.severity}`, text: a.severity })),
    h("td", { class: "state", text: a.state }),
    h("td", { class: "since", title: since(a), text: localTime(since(a)) }),
    h("td", { class: "num value", text: value(a) }),
    h("td", { class: "ack", text: handled(a) })));
  return h("section", { class: "room-alerts" }, h("h3", { text: "Alerts" }),
    items.length ? h("div", { class: "scroll" }, h("table", {},
      h("thead", {}, h("tr", {}, cols.map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, rows))) : h("p", { class: "none muted", text: "No alert for this room." }));
}
