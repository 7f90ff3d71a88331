"use strict";
// The views a user reads (manual 5.4): Dashboard, Devices (one card each, and a device's detail
// with its settings), Log.

function rows(dl, list) {
  dl.textContent = "";
  for (const [k, v, cls] of list) { dl.append(h("dt", k), h("dd", v, cls)); }
}

function line(text) { const tr = h("tr"); tr.append(h("td", text)); return tr; }

function flowCard(title, kw, dir, extra) {
  const c = h("div", null, "card flow");
  // the size of the flow; its direction in words (a sign means little to a user)
  c.append(h("h2", title), h("p", kw === null || kw === undefined ? "-" : Math.abs(kw).toFixed(1) + " kW", "big"), h("p", dir || "\u00a0", "dir"));
  if (extra) c.append(h("p", extra, "dir"));
  return c;
}
// A lifetime total: MWh from 10,000 kWh on, so the column stays narrow.
function bigKwh(v) { return typeof v === "number" && Math.abs(v) >= 10000 ? withUnit(v / 1000, "MWh") : withUnit(v, "kWh"); }
const IDLE_KW = 0.05; // below this a flow is idle, on the dashboard and the cards alike
function direction(kw, plus, minus) {
  if (kw === null || kw === undefined) return "no live value";
  return Math.abs(kw) < IDLE_KW ? "idle" : kw > 0 ? plus : minus;
}

V.dashboard = {
  show() { this.drawn = 0; this.tick(); },
  async tick() {
    let plant = null, st;
    try { st = await api("GET", "/api/status"); } catch (e) { fail(e); return; }
    try { plant = await api("GET", "/api/plant"); } catch (e) { if (e.status === 401) { fail(e); return; } }
    this.devices(plant && plant.devices, st);
    if (Date.now() - this.drawn > 300000) this.chart(st); // a new point every 5 minutes
    const p = plant || {}, flows = $("#flows");
    flows.textContent = "";
    flows.append(
      flowCard("PV", p.pv_kw, p.pv_kw === null || p.pv_kw === undefined ? "no live value" : p.pv_kw >= IDLE_KW ? "producing" : "not producing"),
      flowCard("Battery", p.battery_kw, direction(p.battery_kw, "discharging", "charging"),
        p.battery_soc === null || p.battery_soc === undefined ? null : "SOC " + Math.round(p.battery_soc) + " %"),
      flowCard("Grid", p.grid_kw, direction(p.grid_kw, "importing from the grid", "exporting to the grid")),
      flowCard("Load", p.load_kw, direction(p.load_kw, "consuming", "consuming")));
    if (p.quality === "stale") flows.append(h("p", "Some devices are offline: figures are from their last reading.", "stale wide"));
    // energy today and in all (the manual's "accumulated"), a row per flow
    const e = p.energy_today || {}, all = p.energy_total || {}, tb = $("#today tbody");
    tb.textContent = "";
    for (const [label, k] of [["PV", "pv_kwh"], ["Load", "load_kwh"], ["From the grid", "grid_import_kwh"], ["To the grid", "grid_export_kwh"],
      ["Battery charged", "battery_charge_kwh"], ["Battery discharged", "battery_discharge_kwh"]]) {
      const tr = h("tr");
      tr.append(h("td", label), h("td", withUnit(e[k], "kWh")), h("td", bigKwh(all[k])));
      tb.append(tr);
    }
    this.health(st);
  },
  // Device status (manual 5.4): how many run, wait, are in fault or offline; the ones needing attention by name.
  devices(ds, st) {
    const sum = $("#dev-sum"), list = $("#attention");
    list.textContent = "";
    if (!ds) { sum.textContent = ""; return; }
    const n = ds.running + ds.waiting + ds.fault + ds.offline + ds.unknown;
    const parts = [[ds.running, "running"], [ds.unknown, "communicating"], [ds.waiting, "waiting"], [ds.fault, "in fault"], [ds.offline, "offline"]];
    sum.textContent = !n ? "No devices yet: add them in Settings." : plural(n, "device") + ": " + parts.filter((x) => x[0]).map((x) => x[0] + " " + x[1]).join(", ");
    sum.className = "state " + (ds.fault ? "fault" : ds.offline ? "offline" : "running");
    for (const a of ds.attention) {
      const li = h("li", null, "err"), link = h("a", a.name);
      link.href = "#device/" + a.channel + "/" + a.address;
      li.append(link, h("span", ": " + (a.faults.length ? "Fault: " + a.faults.join(", ") : cap(a.kind) + (a.text && a.text !== cap(a.kind) ? ": " + localTimes(a.text) : ""))));
      list.append(li);
    }
    const more = ds.fault + ds.offline - ds.attention.length;
    if (more > 0) list.append(h("li", "and " + plural(more, "other device") + ": see Devices", "err"));
  },
  // Today's PV and load power, every 5 minutes, from the history (as the Energy view's plant figures).
  async chart(st) {
    const t = st.clock && st.clock.time ? new Date(st.clock.time * 1000) : null, box = $("#today-chart");
    if (!t) { noData(box, "The clock is not set yet: the day's curve shows once it is."); return; }
    this.drawn = Date.now();
    const t0 = new Date(t.getFullYear(), t.getMonth(), t.getDate()).getTime() / 1000, t1 = t0 + 86400;
    const one = async (figure) => (await api("GET", "/api/history/plant?figure=" + figure + "&from=" + t0 + "&to=" + (t1 - 1))).points;
    try { lineChart(box, [["PV", await one("pv_kw")], ["Load", await one("load_kw")]], t0, t1, "kW"); }
    catch (e) { if (e.status === 401) fail(e); else noData(box, e.message); }
  },
  health(st) {
    const up = st.uplink || {}, ck = st.clock || {};
    const server = !up.server ? "No server set (uploads off)" : up.connected ? "Connected (" + up.server + ")" :
      "Disconnected (" + up.server + ")" + (up.last_error ? ": " + words(up.last_error) : "");
    rows($("#health"), [
      ["System status", words(st.system_status.text), st.system_status.state === "normal" ? "good" : "err"],
      ["Server", server, up.server && !up.connected ? "err" : ""],
      ["Upload backlog", plural(up.backlog || 0, "record") + (up.evicted ? ", " + up.evicted + " dropped (queue full)" : "") +
        (!up.server && up.backlog ? " (kept until a server is set)" : "")],
      ["Last upload", ago(up.last_upload_s_ago)],
      ["Clock", ck.time ? when(ck.time) + (ck.synced ? ", set by the time server" : ", not synced") : "Not set", ck.time ? "" : "err"],
      ["IP address", st.network ? st.network.ip : "-"],
      ["Serial number", st.serial_number || "Not set (see the label on the case)"],
      ["Firmware version", st.firmware_version]]);
    const pc = (st.devices && st.devices.per_channel) || {};
    rows($("#chans"), meta.channels.map((c) => {
      const x = pc[c.section];
      if (!x || !x.configured) return [c.label, "no devices"];
      return [c.label, x.communicating + " of " + x.configured + " communicating", x.communicating < x.configured ? "err" : "good"];
    }));
  },
};

// A device's state in words: the backend's state, else what is known without it.
function stateOf(d) {
  if (d.state && d.state.kind) {
    const k = d.state.kind, label = { running: "Running", waiting: "Waiting", fault: "Fault", offline: "Offline" }[k];
    const t = d.state.text && localTimes(d.state.text), same = t && label && (label.startsWith(t) || t.startsWith(label)); // "Running: Run" says it twice
    const text = !label ? t || "Communicating" : label + (t && !same ? ": " + t : "");
    return { cls: k === "unknown" ? "running" : k, text };
  }
  return d.online ? { cls: "running", text: "Communicating" } : { cls: "offline", text: "Offline" + (d.next_try_s == null ? "" : ", next try in " + d.next_try_s + " s") };
}

// The values of a device with their labels (a value without one is not shown: never an id):
// powers first, then state of charge, the rest, energy counters last (the map's order within each).
const RANK = { kW: 0, W: 0, "%": 1, kWh: 3 };
// A power whose sign has a meaning is its size and the direction in words, as on the dashboard.
const DIRECTIONS = { battery_power: ["discharging", "charging"], grid_power: ["importing", "exporting"] };
function valueText(v, info) {
  const dirs = info && DIRECTIONS[info.role];
  if (v.text || !dirs || typeof v.value !== "number") return v.text || withUnit(v.value, v.unit);
  const kw = v.unit === "W" ? v.value / 1000 : v.value;
  return withUnit(Math.abs(v.value), v.unit) + " " + direction(kw, dirs[0], dirs[1]);
}
function labelled(d) {
  const out = [];
  for (const [k, v] of Object.entries(d.values || {})) {
    const info = pointInfo(d.type, k), label = v.label || (info || {}).label, r = RANK[v.unit];
    if (label) out.push([label, valueText(v, info), v.quality, r === undefined ? 2 : r]);
  }
  return out.sort((a, b) => a[3] - b[3]);
}

function ageLine(d) {
  if (d.quality === "live") return "Read " + ago(d.last_seen_s);
  if (d.last_seen_s === null || d.last_seen_s === undefined) return "No values read yet";
  return "Not live: last read " + ago(d.last_seen_s);
}

// Manual 6.2: the server does not take a device whose serial number is not 10 letters or digits.
function serialWarning(d) {
  return "Serial number " + d.serial + " is not valid (" + d.serial_problem + "): the server may not show this device";
}

// A device's card: ``c`` (the card it had) filled anew. The card is kept and its insides take no
// pointer events (style.css), so a tap held across a refresh lands on the card, not on a part replaced.
function deviceCard(d, c) {
  c = c || h("a");
  c.className = "card dev " + (d.quality === "live" ? "" : "stale");
  c.href = "#device/" + d.channel + "/" + d.address;
  c.dataset.address = d.address; c.dataset.channel = d.channel;
  c.textContent = "";
  const s = stateOf(d);
  c.append(h("h2", devName(d)), h("p", s.text, "state " + s.cls));
  if (d.faults && d.faults.length) c.append(h("p", d.faults.join(", "), "err"));
  if (d.serial_ok === false) c.append(h("p", serialWarning(d), "err"));
  const dl = h("dl", null, "vals");
  for (const [k, v, q] of labelled(d)) dl.append(h("dt", k), h("dd", v, q === "live" ? "" : "stale"));
  c.append(dl, h("p", ageLine(d), "age" + (d.quality === "live" ? "" : " stale")));
  return c;
}

V.devices = {
  show() { this.tick(); },
  async tick() {
    try {
      const devs = (await api("GET", "/api/devices")).devices, box = $("#cards"), had = {}, keep = new Set();
      for (const c of box.querySelectorAll("a.card")) had[c.dataset.channel + "/" + c.dataset.address] = c;
      let prev = null;
      for (const d of devs) {  // a card stays in the page while it is refreshed: never taken out and put back
        const c = deviceCard(d, had[d.channel + "/" + d.address]), at = prev ? prev.nextSibling : box.firstChild;
        if (c !== at) box.insertBefore(c, at);
        keep.add(c); prev = c;
      }
      for (const el of [...box.children]) if (!keep.has(el)) el.remove();
      if (!devs.length) box.append(h("p", "No devices yet: add them in Settings."));
    } catch (e) { fail(e); }
  },
};

function busRows(b) {
  if (!b || b.requests === undefined) return [["Requests", "-"]];
  const ms = (v) => (v === null || v === undefined ? "-" : v + " ms");
  const bad = b.requests - b.successes, summary = !b.requests ? "Not asked yet" : !bad ? "Good: all " + b.requests + " requests answered"
    : b.successes + " of " + b.requests + " requests answered well" + (b.successes < 0.9 * b.requests ? ": check the cable, the address and the baud rate" : "");
  return [["Communication", summary, bad && b.successes < 0.9 * b.requests ? "err" : ""], ["Response time", "median " + ms(b.p50_ms) + ", 95 % within " + ms(b.p95_ms)],
    ["Timeouts", b.timeouts], ["CRC errors", b.crc_errors], ["Frame errors", b.frame_errors], ["Exception replies", b.exceptions],
    ["Address clash", b.clash_likely ? "Likely: two devices answer on this address; give one another address" : "None seen", b.clash_likely ? "err" : ""]];
}

V.device = {
  async show(a) {
    this.ch = a[0]; this.addr = a[1]; this.dev = null;  // never the device shown before (Delete acts on it)
    for (const id of ["#d-state", "#d-faults", "#d-info", "#d-bus", "#d-values tbody", "#d-writes tbody"]) $(id).textContent = "";
    $("#d-del").hidden = true;
    $("#d-name").textContent = ""; $("#d-settings").textContent = ""; $("#d-set-note").textContent = "Reading the settings from the device...";
    await this.tick();
    this.settings();
  },
  async tick() {
    let d;
    try { d = await api("GET", "/api/devices/detail?channel=" + this.ch + "&address=" + this.addr); }
    catch (e) {
      if (e.status === 401) { fail(e); return; }
      // Before the detail route: the device's entry in the list.
      try { d = (await api("GET", "/api/devices")).devices.find((x) => x.channel === this.ch && x.address === this.addr); } catch (e2) { fail(e2); return; }
      if (!d) { $("#d-name").textContent = e.status === 404 ? e.message : "No such device"; return; }
    }
    this.dev = d;
    $("#d-del").hidden = false;
    const s = stateOf(d);
    $("#d-name").textContent = devName(d);
    $("#d-state").textContent = s.text; $("#d-state").className = "state " + s.cls;
    $("#d-faults").textContent = d.faults && d.faults.length ? "Faults: " + d.faults.join(", ") : "";
    rows($("#d-info"), [["Device type", d.type_name || typeName(d.type) || "-"], ["Model", d.model || "-"],
      ["Serial number", d.serial_ok === false ? serialWarning(d) : d.serial || "-", d.serial_ok === false ? "err" : ""], ["Channel", chLabel(d.channel)], ["Address", d.address],
      ["Values", ageLine(d), d.quality === "live" ? "" : "stale"]]);
    const tb = $("#d-values tbody");
    tb.textContent = "";
    // as on the cards: powers, state of charge, the rest, energy counters; the fault words that
    // hold no fault folded into one line (eight "No fault" rows hide the values that matter)
    const all = labelled(d), quiet = all.filter((r) => r[1] === "No fault");
    const shown = all.filter((r) => r[1] !== "No fault").sort((a, b) => a[3] - b[3] || a[0].localeCompare(b[0]));
    if (quiet.length) shown.unshift([quiet.length === 1 ? quiet[0][0] : plural(quiet.length, "fault word"), "No fault", quiet[0][2]]);
    for (const [k, v, q] of shown) { const tr = h("tr", null, q === "live" ? "" : "stale"); tr.append(h("td", k), h("td", v)); tb.append(tr); }
    if (!tb.children.length) tb.append(line("No values with a name yet"));
    rows($("#d-bus"), busRows(d.bus));
  },
  async settings() {
    const ch = this.ch, addr = this.addr, box = $("#d-settings");
    let s;
    try { s = await api("GET", "/api/devices/settings?channel=" + ch + "&address=" + addr); }
    catch (e) { $("#d-set-note").textContent = e.status === 401 ? "" : e.message; if (e.status === 401) fail(e); return; }
    $("#d-set-note").textContent = s.settings.some((x) => x.writable) ? "" : "This device has no settings the logger writes.";
    box.textContent = "";
    this.units = {};  // the write log's values with their units
    for (const it of s.settings) { this.units[it.point] = it.unit; if (it.writable) box.append(this.setting(s.type, it)); }
    this.writes();
  },
  setting(type, it) {
    const f = h("form", null, "set"), info = pointInfo(type, it.point);
    f.dataset.point = it.point;
    // A setting whose values have names (a mode, a switch) is a choice of those names.
    const named = (it.choices || []).filter(([v]) => v >= it.min && v <= it.max), inp = h(named.length ? "select" : "input");
    const shown = (v) => { const c = named.find((x) => x[0] === v); return c ? c[1] : withUnit(v, it.unit); };
    const l = h("label", it.label || (info && info.label) || "Register " + it.register);
    for (const [v, t] of named) { const o = h("option", t); o.value = v; inp.append(o); }
    if (!named.length) { inp.type = "number"; inp.step = it.step; }
    inp.name = "value"; inp.value = it.value === null ? "" : it.value;
    l.append(inp);
    const now = h("span", shown(it.value), "now");
    f.append(l, h("p", (named.length ? "" : it.min + " to " + it.max + (it.unit ? " " + it.unit : "") + ", ") + "now ", "hint"));
    $(".hint", f).append(now);
    const act = h("div", null, "act"), btn = h("button", "Set");
    act.append(btn); f.append(act);
    f.addEventListener("submit", (ev) => {
      ev.preventDefault();
      busy(f, btn, async () => {
        const r = await api("PUT", "/api/devices/settings", { channel: this.ch, address: this.addr, point: it.point, value: +inp.value });
        now.textContent = shown(r.value);
        return (r.written ? "Written; read back from the device: " : "Not written: the device holds ") + shown(r.value);
      }).then(() => this.writes());
    });
    return f;
  },
  async writes() {
    try {
      const w = await api("GET", "/api/writes?n=50"), tb = $("#d-writes tbody"), type = this.dev && this.dev.type;
      tb.textContent = "";
      for (const e of w.entries.filter((x) => x.channel === this.ch && x.address === this.addr).slice(0, 10)) {
        const tr = h("tr"), label = e.label || (pointInfo(type, e.point) || {}).label || "Register " + e.register;
        const unit = (this.units || {})[e.point] || (pointInfo(type, e.point) || {}).unit;
        tr.append(h("td", when(e.time)), h("td", label + ": " + withUnit(e.old, unit) + " \u2192 " + withUnit(e.new, unit)),
          h("td", ({ written: "Written", unchanged: "Unchanged" }[e.result] || "Refused") + (e.message ? ": " + words(e.message) : ""),
            e.result === "written" || e.result === "unchanged" ? "" : "err"));
        tb.append(tr);
      }
      if (!tb.children.length) tb.append(line("No writes yet"));
    } catch (e) { fail(e); }
  },
};

onForm("d-del", async () => {
  const d = V.device.dev;
  if (!d || !confirm("Delete " + devName(d) + "? The logger stops reading it.")) return "";
  await api("DELETE", "/api/devices", { type: d.type, channel: d.channel, address: d.address });
  go("#devices", devName(d) + " deleted.");
  return "";
});

V.log = {
  show() { this.paged = false; this.more(true); },
  // the newest, until the user pages back; the faults alone every 30 s (the logger reads back far for them)
  tick() { this.ticks = (this.ticks || 0) + 1; if (!this.paged && (!$("#ev-level").value || this.ticks % 10 === 0)) this.more(true); },
  async more(fresh) {
    let r;
    if (!fresh) this.paged = true;
    const level = $("#ev-level").value;  // a refresh asked before the filter changed is not what is shown now
    try { r = await latest(this, "asked", "/api/events?n=50" + (fresh ? "" : "&before=" + this.before) + (level ? "&level=" + level : "")); }
    catch (e) { if (e.status === 401) fail(e); else { $("#ev-none").hidden = false; $("#ev-none").textContent = e.message; } return; }
    if (r === LATER) return;
    const tb = $("#events tbody");
    if (fresh) tb.textContent = "";
    for (const e of r.events) {
      const tr = h("tr", null, e.level === "info" ? "" : e.level);
      tr.append(h("td", when(e.time), "t"), h("td", e.device ? e.device.name : "Datalogger"), h("td", e.text));
      tb.append(tr);
      this.before = e.seq;
    }
    $("#ev-none").hidden = tb.children.length > 0;
    $("#ev-none").textContent = level ? "No faults or warnings logged." : "Nothing logged yet.";
    $("#older").hidden = !r.more;
  },
};
$("#older").addEventListener("click", () => V.log.more());
$("#ev-level").addEventListener("change", () => V.log.show());
