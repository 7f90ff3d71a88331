"use strict";
// The Energy view (manual 5.4): a chosen value of a device over a day (its 5-minute points from
// /api/history) and daily energy over 30 days (/api/energy), for the plant or a device, as small
// SVG charts drawn here (no library: see docs/page.md), with CSV downloads.

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}

// About n round steps from below lo to above hi.
function ticks(lo, hi, n) {
  const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const out = [];
  for (let v = Math.floor(lo / step) * step; v < hi + step - step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

// A frame with a y axis for lo..hi; returns {el, x0, x1, y(v)} to draw in.
function frame(box, lo, hi, unit) {
  if (lo === hi) { lo -= 1; hi += 1; }
  const ys = ticks(lo, hi, 4);
  lo = Math.min(lo, ys[0]); hi = Math.max(hi, ys[ys.length - 1]);
  const W = Math.max(box.clientWidth, 280), H = 236, L = 52, B = 22, T = 24;
  const el = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img" });
  const y = (v) => T + (H - T - B) * (hi - v) / (hi - lo);
  for (const v of ys) {
    el.append(svg("line", { x1: L, x2: W - 6, y1: y(v), y2: y(v), class: "grid" }),
      svg("text", { x: L - 5, y: y(v) + 4, "text-anchor": "end" }, num(v)));
  }
  el.append(svg("text", { x: L - 5, y: 11, "text-anchor": "end" }, unit || ""));  // above the axis' numbers
  return { el, x0: L, x1: W - 8, y, base: H - B, H, W };
}

function noData(box, text) { box.textContent = ""; box.append(h("p", text, "hint nodata")); }

// Lines over a day: ``lines`` [[name or null, [[unix_s, value], ...]], ...]; names make a legend.
function lineChart(box, lines, t0, t1, unit) {
  const vs = [];
  for (const [, pts] of lines) for (const p of pts) if (typeof p[1] === "number") vs.push(p[1]);
  if (!vs.length) { noData(box, "No values recorded on this day."); return; }
  const f = frame(box, Math.min.apply(null, vs), Math.max.apply(null, vs), unit);
  const x = (t) => f.x0 + (f.x1 - f.x0) * (t - t0) / (t1 - t0);
  const every = (f.W < 500 ? 6 : 3) * 3600;
  for (let t = t0; t <= t1; t += every) {
    f.el.append(svg("text", { x: Math.min(Math.max(x(t), f.x0 + 14), f.x1 - 14), y: f.H - 5, "text-anchor": "middle" }, when(t, false)));
  }
  let key = f.x0 + 4;
  const drawn = [];
  lines.forEach(([name, pts], i) => {
    const vals = pts.filter((p) => typeof p[1] === "number"), cls = "line s" + i;
    let d = "", last = null;
    for (const [t, v] of vals) {
      d += (last === null || t - last > 900 ? "M" : "L") + x(t).toFixed(1) + " " + f.y(v).toFixed(1);
      last = t;
    }
    f.el.append(svg("path", { d, class: cls }));
    drawn.push([name, vals]);
    if (vals.length < 3) for (const [t, v] of vals) f.el.append(svg("circle", { cx: x(t), cy: f.y(v), r: 3, class: "dot s" + i }));
    if (name && lines.length > 1) {  // a legend above the plot: a short stroke and the name
      f.el.append(svg("line", { x1: key, x2: key + 14, y1: 8, y2: 8, class: cls }), svg("text", { x: key + 18, y: 12 }, name));
      key += 26 + 7 * name.length;
    }
  });
  readout(f, drawn, (px) => t0 + (t1 - t0) * (px - f.x0) / (f.x1 - f.x0), x, unit);
  box.textContent = ""; box.append(f.el);
}

// A tap or a pointer over a chart reads its values there: a line at the nearest 5-minute point
// and "14:35  PV 5.2 kW, Load 3.1 kW" above the plot (a phone has no hover for a tooltip).
function readout(f, lines, timeAt, x, unit) {
  const mark = svg("line", { y1: 24, y2: f.base, class: "mark", visibility: "hidden" });
  const text = svg("text", { x: f.x1, y: 12, "text-anchor": "end", class: "readout" });
  const pad = svg("rect", { x: f.x0, y: 0, width: f.x1 - f.x0, height: f.base, fill: "transparent" });
  f.el.append(mark, text, pad);
  const show = (ev) => {
    const r = f.el.getBoundingClientRect(), t = timeAt((ev.clientX - r.left) * f.W / r.width);
    const near = (vals) => vals.reduce((b, p) => (!b || Math.abs(p[0] - t) < Math.abs(b[0] - t) ? p : b), null);
    const got = lines.map(([name, vals]) => [name, near(vals)]).filter((g) => g[1] && Math.abs(g[1][0] - t) <= 600);
    if (!got.length) { mark.setAttribute("visibility", "hidden"); text.textContent = ""; return; }
    const at = got[0][1][0];
    mark.setAttribute("x1", x(at)); mark.setAttribute("x2", x(at)); mark.setAttribute("visibility", "visible");
    text.textContent = when(at, false) + "  " + got.map(([name, p]) => (name ? name + " " : "") + withUnit(p[1], unit)).join(", ");
  };
  pad.addEventListener("pointerdown", show);
  pad.addEventListener("pointermove", show);
}

// Bars of daily energy: ``days`` [[YYYY-MM-DD, kWh or null]]; ``today``'s bar (the day so far) lighter.
function barChart(box, days, unit, today) {
  if (!days.length) { noData(box, "No daily energy recorded yet."); return; }
  const vs = days.map((d) => d[1]).filter((v) => v !== null);
  const f = frame(box, Math.min(0, Math.min.apply(null, vs)), Math.max(0, Math.max.apply(null, vs)), unit);
  const n = days.length, w = (f.x1 - f.x0) / n, label = Math.ceil(n / Math.max(1, Math.floor((f.x1 - f.x0) / 48)));
  days.forEach(([day, v], i) => {
    if ((n - 1 - i) % label === 0) f.el.append(svg("text", { x: Math.min(f.x0 + (i + 0.5) * w, f.W - 18), y: f.H - 5, "text-anchor": "middle" }, day.slice(5)));
    if (v === null) return;
    const y0 = f.y(0), y1 = f.y(v);
    const r = svg("rect", { x: f.x0 + i * w + w * 0.15, width: Math.max(1, w * 0.7), y: Math.min(y0, y1), height: Math.max(1, Math.abs(y1 - y0)), class: day === today ? "bar part" : "bar" });
    r.append(svg("title", {}, day + ": " + withUnit(v, unit) + (day === today ? " so far" : "")));
    f.el.append(r);
  });
  box.textContent = ""; box.append(f.el);
}

// A local day (YYYY-MM-DD) as Unix seconds [start, end).
function dayRange(text) {
  const [y, m, d] = text.split("-").map(Number), a = new Date(y, m - 1, d).getTime() / 1000;
  return [a, new Date(y, m - 1, d + 1).getTime() / 1000];
}
// The plant's figures over a day (/api/history/plant): as the dashboard counts them.
const PLANT_FIGURES = [["pv_kw", "PV power (kW)"], ["battery_kw", "Battery power (kW, + discharging)"],
  ["grid_kw", "Grid power (kW, + importing)"], ["load_kw", "Load power (kW)"], ["battery_soc", "Battery SOC (%)"]];
function option(sel, value, text) { const o = h("option", text); o.value = value; sel.append(o); }
function counterLabel(name) {
  // a day's energy of a counter: "Battery charge energy, total" is that day's "Battery charge energy"
  for (const t in (meta && meta.points) || {}) if (meta.points[t][name]) return meta.points[t][name].label.replace(/, total$/, "");
  return null;
}

V.energy = {
  async show() {
    let devs, st;
    try { devs = (await api("GET", "/api/devices")).devices; st = await api("GET", "/api/status"); } catch (e) { fail(e); return; }
    this.devs = devs;
    const dev = $("#e-dev"), of = $("#e-of"), keep = dev.value, keepOf = of.value;
    dev.textContent = ""; of.textContent = "";
    option(dev, "plant", "The plant"); option(of, "", "The plant");
    for (const d of devs) {
      const charted = Object.entries((meta.points || {})[d.type] || {}).some(([, p]) => p.history);
      if (charted) option(dev, d.channel + "/" + d.address, devName(d));
      option(of, d.channel + "/" + d.address, devName(d));
    }
    if (keep && [...dev.options].some((o) => o.value === keep)) dev.value = keep;
    if (keepOf) of.value = keepOf;
    const t = st.clock && st.clock.time ? new Date(st.clock.time * 1000) : new Date();
    if (!$("#e-day").value) $("#e-day").value = t.getFullYear() + "-" + pad(t.getMonth() + 1) + "-" + pad(t.getDate());
    this.points();
    this.energy();
  },
  points() {
    const sel = $("#e-pt"), keep = sel.value, d = this.dev();
    sel.textContent = "";
    if (this.plant()) for (const [k, t] of PLANT_FIGURES) option(sel, k, t);
    else if (!d) { noData($("#e-day-chart"), "No device keeps values for charts."); $("#e-day-csv").hidden = true; return; }
    else for (const [k, p] of Object.entries(meta.points[d.type])) if (p.history) option(sel, k, p.label + (p.unit ? " (" + p.unit + ")" : ""));
    if (keep && [...sel.options].some((o) => o.value === keep)) sel.value = keep;
    this.day();
  },
  plant() { return $("#e-dev").value === "plant"; },
  dev() {
    const [ch, a] = ($("#e-dev").value || "/").split("/").map(Number);
    return (this.devs || []).find((d) => d.channel === ch && d.address === a);
  },
  async day() {
    const d = this.dev(), pt = $("#e-pt").value, box = $("#e-day-chart"), whole = this.plant();
    if (!(d || whole) || !pt || !$("#e-day").value) return;
    const [t0, t1] = dayRange($("#e-day").value), span = "&from=" + t0 + "&to=" + (t1 - 1);
    const q = whole ? "/api/history/plant?figure=" + pt + span
      : "/api/history?channel=" + d.channel + "&address=" + d.address + "&point=" + pt + span;
    $("#e-day-csv").href = q + "&format=csv"; $("#e-day-csv").hidden = false;
    try {
      const r = await latest(this, "asked", q);
      if (r === LATER) return;
      this.last = () => lineChart(box, [[null, r.points]], t0, t1, r.unit || (d && pointInfo(d.type, pt) || {}).unit);
      $("#e-day-csv").hidden = !r.points.length;
      this.last();
    } catch (e) { if (e.status === 401) fail(e); else noData(box, e.message); }
  },
  async energy() {
    const [ch, a] = ($("#e-of").value || "/").split("/").map(Number), q = "/api/energy" + (a ? "?channel=" + ch + "&address=" + a : "");
    $("#e-bar-csv").href = q + (a ? "&" : "?") + "format=csv";
    let got;
    try { got = await latest(this, "barsAsked", q); } catch (e) { if (e.status === 401) fail(e); else noData($("#e-bar-chart"), e.message); return; }
    if (got === LATER) return;
    this.e = got;
    const rows = a ? this.e.days : this.e.plant, sel = $("#e-ctr"), keep = sel.value, names = new Set();
    for (const r of rows) for (const k in r.energy) if (counterLabel(k)) names.add(k);
    sel.textContent = "";
    for (const k of names) option(sel, k, counterLabel(k));
    if (keep && names.has(keep)) sel.value = keep;
    else if (names.has("pv_energy_total")) sel.value = "pv_energy_total";  // what a plant's owner asks first
    this.bars();
  },
  bars() {
    const a = $("#e-of").value, rows = a ? this.e.days : this.e.plant, k = $("#e-ctr").value;
    const got = {};
    for (const r of rows) if (typeof r.energy[k] === "number") got[r.day] = r.energy[k];
    // every day of the answer's span on the axis, a day without a figure left empty
    const days = [], end = Date.parse(this.e.to + "T00:00:00Z");
    for (let t = Date.parse(this.e.from + "T00:00:00Z"); t <= end; t += 86400000) {
      const day = new Date(t).toISOString().slice(0, 10);
      days.push([day, got[day] === undefined ? null : got[day]]);
    }
    barChart($("#e-bar-chart"), k && Object.keys(got).length ? days : [], "kWh", this.e.to);
  },
};
$("#e-dev").addEventListener("change", () => V.energy.points());
$("#e-pt").addEventListener("change", () => V.energy.day());
$("#e-day").addEventListener("change", () => V.energy.day());
// A day before or after the one shown (a phone's date picker is slow for that).
function stepDay(n) {
  if (!$("#e-day").value) return;
  const [y, m, d] = $("#e-day").value.split("-").map(Number), t = new Date(y, m - 1, d + n);
  $("#e-day").value = t.getFullYear() + "-" + pad(t.getMonth() + 1) + "-" + pad(t.getDate());
  V.energy.day();
}
$("#e-prev").addEventListener("click", () => stepDay(-1));
$("#e-next").addEventListener("click", () => stepDay(1));
$("#e-of").addEventListener("change", () => V.energy.energy());
$("#e-ctr").addEventListener("change", () => V.energy.bars());
let resized = null;
window.addEventListener("resize", () => {
  clearTimeout(resized);
  resized = setTimeout(() => { if (viewName() === "energy") { if (V.energy.last) V.energy.last(); if (V.energy.e) V.energy.bars(); } }, 200);
});
