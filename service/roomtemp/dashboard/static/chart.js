// SVG line chart of an averages series (rolling windows or buckets): mean line, min–max band,
// optional capture dots.
// Plain DOM, no library; keyboard and pointer both move a cursor whose reading goes to a live region.

const NS = "http://www.w3.org/2000/svg";
const MIN = 60e3;
const TIME_TICKS = [5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080, 20160, 43200, 129600]
  .map((m) => m * MIN);
const HEIGHT = 300;
const PAD = { left: 52, right: 14, top: 12, bottom: 34 };

function svg(tag, attrs = {}, parent = null) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (parent) parent.appendChild(el);
  return el;
}

function niceStep(span, maxTicks) {
  const raw = span / Math.max(1, maxTicks);
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

// Contiguous runs of points that have data; gaps (count 0) break the line and the band.
export function segments(points) {
  const runs = [];
  let run = [];
  for (const p of points) {
    if (p.count > 0 && p.mean !== null) run.push(p);
    else if (run.length) { runs.push(run); run = []; }
  }
  if (run.length) runs.push(run);
  return runs;
}

function fmtTime(ms, span, timeZone) {
  const d = new Date(ms);
  const day = { month: "short", day: "numeric", timeZone };
  const time = { hour: "2-digit", minute: "2-digit", timeZone };
  if (span > 60 * 86400e3) return d.toLocaleDateString(undefined, day);
  if (span > 2 * 86400e3) return d.toLocaleDateString(undefined, day) + " " + d.toLocaleTimeString(undefined, time);
  return d.toLocaleTimeString(undefined, time);
}

/** A time as the reader reads it, in `timeZone` (the building's, for buckets) or the browser's. */
export function when(ms, timeZone) {
  return new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short", timeZone });
}

/**
 * Draw `series` (the /averages answer) into `host`, replacing what was there.
 * opts: {from, to (ms), raw: points of a 1-minute series or null, symbol, readout: element,
 *        id: unique suffix of the SVG ids, meaning: what a point is, timeZone: of bucket labels}
 * A bucket point ([t, end), mode=buckets) is drawn at its middle; a rolling point at its end t.
 */
export function renderChart(host, series, opts) {
  const width = Math.max(300, Math.floor(host.clientWidth || 600));
  const plotW = width - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const buckets = series.mode === "buckets";
  const tz = opts.timeZone;
  const pts = series.points.map((p) => {
    const t = Date.parse(p.t);
    return { ...p, start: t, ms: buckets && p.end ? (t + Date.parse(p.end)) / 2 : t };
  });
  const raw = (opts.raw || []).filter((p) => p.count > 0).map((p) => ({ ...p, ms: Date.parse(p.t) }));
  const runs = segments(pts);

  const values = [];
  for (const p of pts) if (p.count > 0) values.push(p.min, p.max, p.mean);
  for (const p of raw) values.push(p.mean);
  let lo = values.length ? Math.min(...values) : 0;
  let hi = values.length ? Math.max(...values) : 1;
  if (hi - lo < 1) { const mid = (hi + lo) / 2; lo = mid - 0.5; hi = mid + 0.5; }
  const yStep = niceStep(hi - lo, 6);
  lo = Math.floor(lo / yStep) * yStep;
  hi = Math.ceil(hi / yStep) * yStep;

  const x = (ms) => PAD.left + ((ms - opts.from) / (opts.to - opts.from)) * plotW;
  const y = (v) => PAD.top + (1 - (v - lo) / (hi - lo)) * plotH;
  const xy = (ms, v) => x(ms).toFixed(1) + "," + y(v).toFixed(1);

  const root = svg("svg", {
    class: "chart", width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`,
    role: "img", tabindex: 0, "aria-labelledby": `chart-title-${opts.id} chart-desc-${opts.id}`,
    "data-points": pts.length, "data-with-data": pts.filter((p) => p.count > 0).length,
  });
  svg("title", { id: `chart-title-${opts.id}` }, root).textContent =
    `${opts.meaning}, ${series.sensor_type}, ${series.building} / ${series.room}`;
  const withData = pts.filter((p) => p.count > 0);
  const desc = withData.length
    ? `${pts.length} points every ${series.step}, ${withData.length} with data; ` +
      `lowest ${Math.min(...withData.map((p) => p.min)).toFixed(1)} ${opts.symbol}, ` +
      `highest ${Math.max(...withData.map((p) => p.max)).toFixed(1)} ${opts.symbol}. ` +
      "Use the left and right arrow keys to read values."
    : `${pts.length} points every ${series.step}; no captures in this range.`;
  svg("desc", { id: `chart-desc-${opts.id}` }, root).textContent = desc;

  const grid = svg("g", { class: "grid" }, root);
  for (let v = lo; v <= hi + yStep / 2; v += yStep) {
    svg("line", { x1: PAD.left, x2: width - PAD.right, y1: y(v), y2: y(v) }, grid);
    const label = svg("text", { x: PAD.left - 6, y: y(v) + 4, class: "ylabel" }, grid);
    label.textContent = (Math.round(v * 100) / 100).toString();
  }
  const span = opts.to - opts.from;
  const tStep = TIME_TICKS.find((s) => span / s <= Math.max(2, plotW / 90)) || TIME_TICKS.at(-1);
  const offset = new Date().getTimezoneOffset() * MIN; // ticks on local round times
  for (let t = Math.ceil((opts.from - offset) / tStep) * tStep + offset; t <= opts.to; t += tStep) {
    svg("line", { x1: x(t), x2: x(t), y1: PAD.top, y2: PAD.top + plotH, class: "vgrid" }, grid);
    const label = svg("text", { x: x(t), y: HEIGHT - PAD.bottom + 18, class: "xlabel" }, grid);
    label.textContent = fmtTime(t, span, tz);
  }
  svg("text", { x: 4, y: PAD.top + 4, class: "unit" }, grid).textContent = opts.symbol;

  for (const run of runs) {
    const upper = run.map((p) => xy(p.ms, p.max));
    const lower = run.slice().reverse().map((p) => xy(p.ms, p.min));
    svg("path", { class: "band", d: "M" + upper.concat(lower).join("L") + "Z" }, root);
  }
  const line = runs.map((run) => "M" + run.map((p) => xy(p.ms, p.mean)).join("L") +
    (run.length === 1 ? "l0,0" : "")).join("");
  svg("path", { class: "mean", d: line }, root);
  const dots = svg("g", { class: "captures" }, root);
  for (const p of raw) svg("circle", { class: "capture", cx: x(p.ms), cy: y(p.mean), r: 2.2 }, dots);

  const cursor = svg("g", { class: "cursor", visibility: "hidden" }, root);
  const cline = svg("line", { y1: PAD.top, y2: PAD.top + plotH }, cursor);
  const cdot = svg("circle", { r: 4 }, cursor);
  let index = -1;
  const show = (i) => {
    index = Math.max(0, Math.min(pts.length - 1, i));
    const p = pts[index];
    if (!p) return;
    cursor.setAttribute("visibility", "visible");
    cline.setAttribute("x1", x(p.ms)); cline.setAttribute("x2", x(p.ms));
    cdot.setAttribute("cx", x(p.ms));
    cdot.setAttribute("cy", p.count > 0 ? y(p.mean) : -10);
    const at = buckets ? `${when(p.start, tz)} – ${when(Date.parse(p.end), tz)}` : when(p.start, tz);
    opts.readout.textContent = p.count > 0
      ? `${at}: mean ${p.mean.toFixed(2)} ${opts.symbol}, min ${p.min.toFixed(2)}, ` +
        `max ${p.max.toFixed(2)}, ${p.count} capture${p.count === 1 ? "" : "s"}`
      : `${at}: no captures ${buckets ? "in this bucket" : `in the ${series.window} before`}`;
  };
  root.addEventListener("keydown", (ev) => {
    const moves = { ArrowLeft: -1, ArrowRight: 1, PageUp: -10, PageDown: 10 };
    if (ev.key in moves) show((index < 0 ? pts.length : index) + moves[ev.key]);
    else if (ev.key === "Home") show(0);
    else if (ev.key === "End") show(pts.length - 1);
    else return;
    ev.preventDefault();
  });
  root.addEventListener("pointermove", (ev) => {
    const box = root.getBoundingClientRect();
    const ms = opts.from + ((ev.clientX - box.left - PAD.left) / plotW) * (opts.to - opts.from);
    let best = 0;
    for (let i = 1; i < pts.length; i++) {
      if (Math.abs(pts[i].ms - ms) < Math.abs(pts[best].ms - ms)) best = i;
    }
    show(best);
  });
  host.replaceChildren(root);
  return root;
}
