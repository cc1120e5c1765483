// roomtemp dashboard shell: routing, the token panel, the unit, errors and auto-refresh. The views
// live in overview.js (buildings, rooms) and room.js (one room); data comes from lib.js's api().
// Auto-refresh: the building and room views follow the live stream (live.js) and redraw when a
// capture changes what they show; without a stream (the overview, or it failed) they poll.
// Reads only the public /v1 API; no framework, no build step, no inline code (strict CSP).
import { $, ApiError, TEMPERATURE, enc, h, storeToken, storedToken } from "./lib.js";
import { follow } from "./live.js";
import { buildingView, overview } from "./overview.js";
import { roomView } from "./room.js";

const UNIT_KEY = "roomtemp.unit";
const REFRESH_MS = 60_000;

const unit = () => document.querySelector('input[name="unit"]:checked').value;

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

// ---- live updates ----------------------------------------------------------------------

let live = null; // { path, close() } of the stream followed, if any
let liveState = "off"; // "off" | "connecting" | "live" | "polling"
let redraw = null;
let shown = null; // the route of the view on screen
const LIVE_WORDS = { live: "● Live", connecting: "Connecting…", polling: "Polling every 60 s" };

function setLiveState(state) {
  liveState = state;
  const badge = $("#live");
  badge.dataset.state = state;
  badge.hidden = state === "off";
  badge.textContent = LIVE_WORDS[state] || "";
  badge.title = state === "live" ? "Updates arrive as captures are stored" : "";
}

// Bursts of events (a batch touching many rooms) become one redraw.
function scheduleRedraw() {
  clearTimeout(redraw);
  redraw = setTimeout(() => render(), 300);
}

function followRoute(name, parts) {
  const path = !$("#autorefresh").checked ? null
    : name === "room" ? `/v1/buildings/${enc(parts[1])}/rooms/${enc(parts[2])}/live`
    : name === "building" ? `/v1/buildings/${enc(parts[1])}/live?sensor_type=temperature` : null;
  if (live && live.path === path) return;
  live?.close();
  live = null;
  if (!path) {
    setLiveState("off");
    return;
  }
  let connected = false;
  live = follow(path, {
    state: setLiveState,
    event(name) {
      // The first reset is what is on screen already; a later one follows a gap: redraw.
      if (name === "reset" && !connected) connected = true;
      else if (name === "average" || name === "capture" || name === "reset") scheduleRedraw();
    },
  });
}

// What the views need from the shell (they never reach into it otherwise).
const ui = { unit, explain, showAlert, rerender: () => render() };

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
    const q = new URLSearchParams(query);
    const name = parts[0] === "room" && parts.length === 3 ? "room"
      : parts[0] === "building" && parts.length === 2 ? "building" : "overview";
    if (name === "room") {
      ({ view, draw } = await roomView(ui, parts[1], parts[2], q));
      document.title = `${parts[1]} / ${parts[2]} · roomtemp`;
    } else if (name === "building") {
      view = await buildingView(ui, parts[1], q);
      document.title = `${parts[1]} · roomtemp`;
    } else {
      view = await overview(ui, q);
      document.title = "roomtemp";
    }
    if (mine !== generation) return; // a newer render won
    // A refresh keeps what the reader had open or focused (per sensor type).
    const openTypes = [...main.querySelectorAll("details.data[open]")].map((d) => d.closest("section.type")?.dataset.type);
    const focusedType = document.activeElement?.classList?.contains("chart")
      ? document.activeElement.closest("section.type")?.dataset.type : null;
    main.replaceChildren(view);
    draw?.();
    if (!focus) {
      for (const d of main.querySelectorAll("details.data")) {
        if (openTypes.includes(d.closest("section.type")?.dataset.type)) d.open = true;
      }
      if (focusedType) main.querySelector(`section.type[data-type="${CSS.escape(focusedType)}"] svg.chart`)?.focus();
    }
    showAlert("");
    $("#updated").textContent = `Updated ${new Date().toLocaleTimeString()} · `;
    document.body.dataset.view = name;
    document.body.dataset.state = "ready";
    shown = { name, parts };
    followRoute(name, parts);
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
  if (saved && TEMPERATURE.has(saved)) document.querySelector(`input[name="unit"][value="${saved}"]`).checked = true;
  $("#controls").addEventListener("change", (ev) => {
    if (ev.target.name === "unit") {
      localStorage.setItem(UNIT_KEY, unit());
      render();
    }
    if (ev.target.id === "autorefresh" && shown) followRoute(shown.name, shown.parts);
  });
  $("#controls").addEventListener("submit", (ev) => ev.preventDefault());
  $("#token-toggle").addEventListener("click", () => openTokenPanel($("#token-panel").hidden));
  $("#token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    storeToken($("#token-input").value.trim());
    $("#token-input").value = "";
    followRoute(null, []); // the stream reconnects with the new token on the next render
    openTokenPanel(false);
    render();
  });
  $("#token-clear").addEventListener("click", () => {
    storeToken("");
    followRoute(null, []);
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
    if ($("#autorefresh").checked && !document.hidden && liveState !== "live") render();
  }, REFRESH_MS);
  render();
}

init();
