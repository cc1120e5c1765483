// roomtemp dashboard: what every view shares — the /v1 client, element builder, formatting,
// units and the comfort band. No state but the token in session storage and two small caches.

const TOKEN_KEY = "roomtemp.token";
export const SYMBOL = { celsius: "°C", kelvin: "K", fahrenheit: "°F", percent: "%" };
export const TEMPERATURE = new Set(["celsius", "kelvin", "fahrenheit"]);

export const $ = (sel) => document.querySelector(sel);
export const enc = encodeURIComponent;
export const symbol = (u) => SYMBOL[u] ?? u;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

export const storedToken = () => sessionStorage.getItem(TOKEN_KEY) || "";
export const storeToken = (t) => (t ? sessionStorage.setItem(TOKEN_KEY, t) : sessionStorage.removeItem(TOKEN_KEY));

export async function api(path, params = {}) {
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

export async function listAll(path, params = {}) {
  const items = [];
  let cursor = null;
  do {
    const page = await api(path, { ...params, limit: 1000, cursor });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

// At most `limit` requests in flight: a search over 100 buildings must not open 100 at once.
export async function pool(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export const fmt = (v, digits = 1) => (v === null || v === undefined ? "–" : v.toFixed(digits));

export function age(iso, now) {
  if (!iso) return { text: "never", minutes: Infinity };
  const minutes = (now - Date.parse(iso)) / 60e3;
  let text;
  if (minutes < 1) text = "just now";
  else if (minutes < 90) text = `${Math.round(minutes)} min ago`;
  else if (minutes < 48 * 60) text = `${Math.round(minutes / 60)} h ago`;
  else text = `${Math.round(minutes / 1440)} d ago`;
  return { text, minutes };
}

/** RFC 3339 in UTC without fractions (the API's timestamps). */
export const iso = (d) => new Date(d).toISOString().replace(/\.\d+Z$/, "Z");

export const localTime = (iso) =>
  new Date(iso).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });

// ---- sensor types and their comfort bands -------------------------------------------------

let typesCache = null;
/** Every sensor type by key ({key, unit, min_value, max_value, description}). */
export async function sensorTypes() {
  if (!typesCache) {
    typesCache = listAll("/v1/sensor-types")
      .then((items) => new Map(items.map((t) => [t.key, t])))
      .catch((err) => { typesCache = null; throw err; });
  }
  return typesCache;
}

/** The unit to ask for: the chosen one for temperature types, else none (the type's canonical). */
export const unitFor = (type, chosen) => (!type?.unit || TEMPERATURE.has(type.unit) ? chosen : null);

const bands = new Map();
/**
 * The comfort band {low, high} of a sensor type in `unit`, or null when the service has none.
 * The service's bounds (COMFORT_*_CELSIUS for temperature types) are not in /v1/sensor-types;
 * the period report echoes them in the unit asked, so one report over one minute tells them.
 */
export async function comfortBand(building, type, unit) {
  const key = `${type}|${unit}`;
  if (!bands.has(key)) {
    const to = new Date(Math.floor(Date.now() / 60e3) * 60e3);
    const from = new Date(to.getTime() - 60e3);
    const ask = api(`/v1/buildings/${enc(building)}/report`, {
      from: iso(from), to: iso(to), sensor_type: type, unit,
    }).then((r) => (r.comfort_low === null || r.comfort_high === null ? null
      : { low: r.comfort_low, high: r.comfort_high }))
      .catch((err) => { bands.delete(key); if (err instanceof ApiError) return null; throw err; });
    bands.set(key, ask);
  }
  return bands.get(key);
}

/** Where a mean sits against a band: {cls, text}; the text is always shown with the colour. */
export function comfort(mean, band, temperature = true) {
  if (mean === null || mean === undefined) return { cls: "nodata", text: "no data" };
  if (!band) return { cls: "noband", text: "no comfort band" };
  if (mean < band.low) return { cls: "cold", text: temperature ? "cold" : "low" };
  if (mean > band.high) return { cls: "warm", text: temperature ? "warm" : "high" };
  return { cls: "ok", text: "comfortable" };
}
