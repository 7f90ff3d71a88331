"use strict";
const $ = (s) => document.querySelector(s);
let timer = null;

function say(text, bad) { const m = $("#msg"); m.textContent = text || ""; m.className = bad ? "err" : ""; }

async function api(method, path, body) {
  const opt = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
  const r = await fetch(path, opt);
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) {
    const err = new Error((data && data.error ? (data.field ? data.field + ": " : "") + data.error : "HTTP " + r.status));
    err.status = r.status;
    throw err;
  }
  return data;
}

async function notice(view) {
  // A fall back to the factory defaults is said on every screen, the login first, until acknowledged.
  try {
    const n = (await api("GET", "/api/notice")).notice;
    $("#notice").hidden = !n; $("#notice span").textContent = n || "";
    $("#ack").hidden = view !== "app";
  } catch (e) { /* said again at the next screen */ }
}

function show(view) {
  notice(view);
  $("#login").hidden = view !== "login";
  $("#newpw").hidden = view !== "newpw";
  $("#app").hidden = view !== "app";
  $("#logout").hidden = view === "login";
  if (timer) { clearInterval(timer); timer = null; }
  if (view === "app") { load(); refresh(); timer = setInterval(refresh, 3000); }
}

async function start() {
  try {
    const s = await api("GET", "/api/session");
    $("#who").textContent = s.user;
    show(s.must_change ? "newpw" : "app");
  } catch (e) { show("login"); }
}

function fail(e) { if (e.status === 401) { say("Session ended: log in again", true); show("login"); } else say(e.message, true); }

function fmtS(s) {
  if (s === null || s === undefined) return "-";
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return (d ? d + " d " : "") + (d || h ? h + " h " : "") + m + " min " + (s % 60) + " s";
}

function cell(tr, text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); }

let server = "", channels = [];

// Bus health of one device: a short summary, the figures when opened (the device detail).
function busCell(tr, b) {
  const td = document.createElement("td");
  if (b.requests === undefined) { td.textContent = "-"; tr.appendChild(td); return; }
  const det = document.createElement("details"), sum = document.createElement("summary"), p = document.createElement("p");
  sum.textContent = b.successes + "/" + b.requests + (b.clash_likely ? " - two devices on one address?" : "");
  p.textContent = "Response time p50 " + (b.p50_ms == null ? "-" : b.p50_ms + " ms") + ", p95 " + (b.p95_ms == null ? "-" : b.p95_ms + " ms") +
    "; timeouts " + b.timeouts + ", CRC errors " + b.crc_errors + ", frame errors " + b.frame_errors + ", exception replies " + b.exceptions +
    (b.clash_likely ? ". Garbled replies among good ones: likely two devices answer on this address; give one another address." : "");
  det.append(sum, p); td.appendChild(det);
  if (b.clash_likely) td.className = "off";
  tr.appendChild(td);
}

// --- scan a channel: progress, and an Add button per device found ---
const scanning = {};
async function scanShow(ch) {
  const box = $("#scan" + ch);
  try {
    const s = await api("GET", "/api/scan?channel=" + ch);
    box.textContent = "";
    const p = document.createElement("p");
    p.textContent = "RS485-" + ch + ": " + (s.state === "idle" ? "not scanned" : s.state + ", " + Math.round(100 * s.progress) + " %") +
      (s.reason ? " (" + s.reason + ")" : "") + (s.found.length ? ", found:" : "");
    box.appendChild(p);
    for (const f of s.found) {
      const line = document.createElement("div");
      line.textContent = "Address " + f.address + ": " + (f.type || "unknown type") + (f.model ? " (" + f.model + ")" : "") +
        (f.serial ? ", serial " + f.serial : "") + (f.problem ? ", " + f.problem : "") + (f.configured ? ", configured " : " ");
      if (!f.configured && f.type) {
        const add = document.createElement("button");
        add.textContent = "Add"; add.type = "button";
        add.addEventListener("click", async () => {
          try { await api("POST", "/api/devices", { type: f.type, channel: ch, address: f.address }); say("Device added"); refresh(); scanShow(ch); } catch (e) { fail(e); }
        });
        line.appendChild(add);
      }
      box.appendChild(line);
    }
    if (s.state !== "running") { clearInterval(scanning[ch]); delete scanning[ch]; }
  } catch (e) { fail(e); clearInterval(scanning[ch]); delete scanning[ch]; }
}
for (const ch of [1, 2, 3]) {
  $("#scanbtn" + ch).addEventListener("click", async () => {
    try {
      await api("POST", "/api/scan", { channel: ch, first: 1, last: 247 });
      if (!scanning[ch]) scanning[ch] = setInterval(() => scanShow(ch), 1000);
      scanShow(ch);
    } catch (e) { fail(e); }
  });
}

async function refresh() {
  try {
    const st = await api("GET", "/api/status"), n = st.network, dv = st.devices;
    const up = st.uplink || {};
    const rows = [
      ["System status", st.problems.length ? "Abnormal: " + st.problems.join("; ") : "Normal"],
      ["Serial number", st.serial_number || "not provisioned"],
      ["Firmware version", st.firmware_version],
      ["Uptime", fmtS(st.uptime_s)],
      ["Server", server ? server + (up.connected ? " (connected)" : " (not connected" + (up.last_error ? ": " + up.last_error : "") + ")") : "none (uploads off)"],
      ["Upload backlog", (up.backlog || 0) + " records" + (up.evicted ? ", " + up.evicted + " evicted (queue full)" : "")],
      ["Last upload", up.last_upload_s_ago == null ? "never" : fmtS(up.last_upload_s_ago) + " ago"],
      ["Devices configured / communicating", dv.configured + " / " + dv.communicating],
      ["IP address", n.ip], ["MAC", n.mac], ["Address mode", n.dhcp ? "DHCP" : "Static"],
      ["Network", n.state + (n.connected ? ", connected" : ", not connected")],
      ["Last reset cause", st.last_reset_cause], ["Settings", st.settings],
    ];
    const dl = $("#dl"); dl.textContent = "";
    for (const [k, v] of rows) {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = k; dd.textContent = v; dl.append(dt, dd);
    }
    const devs = (await api("GET", "/api/devices")).devices, tb = $("#devs tbody");
    tb.textContent = "";
    for (const d of devs) {
      const tr = document.createElement("tr"), b = d.bus || {};
      tr.dataset.address = d.address;
      cell(tr, d.type + (d.model ? " (" + d.model + ")" : ""));
      cell(tr, (channels.find((c) => c.number === d.channel) || { label: d.channel }).label); cell(tr, d.address);
      cell(tr, (d.serial || "-") + (d.serial_ok === false ? " (invalid)" : ""));
      cell(tr, d.online ? "online" : "offline" + (d.next_try_s == null ? "" : ", next try in " + fmtS(d.next_try_s)), d.online ? "on" : "off");
      cell(tr, (d.last_seen_s === null ? "never" : d.last_seen_s + " s ago") + (d.quality === "stale" ? " (stale)" : ""));
      const vals = Object.entries(d.values || {}).map(([k, v]) => k + " " + v.value + (v.unit ? " " + v.unit : "")).join(", ");
      // Old values are never shown as live: marked, and greyed by their class.
      cell(tr, vals && d.quality !== "live" ? "[" + d.quality + ", read " + d.last_seen_s + " s ago] " + vals : vals, d.quality === "live" ? "" : d.quality);
      busCell(tr, b);
      tb.appendChild(tr);
    }
  } catch (e) { fail(e); }
}

function fill(form, values) {
  for (const [k, v] of Object.entries(values)) {
    const el = form.elements[k];
    if (!el) continue;
    if (el.type === "checkbox") el.checked = !!v; else if (k === "dhcp") el.value = v ? "1" : "0"; else el.value = v;
  }
}

async function load() {
  try {
    const meta = await api("GET", "/api/meta"), types = $("#types");
    types.textContent = "";
    for (const t of meta.types) { const o = document.createElement("option"); o.value = o.textContent = t; types.appendChild(o); }
    const ser = await api("GET", "/api/settings/serial"), ports = $("#ports");
    ports.textContent = "";
    channels = meta.channels;
    const chs = $("#channels");
    chs.textContent = "";
    for (const ch of channels) { const o = document.createElement("option"); o.value = ch.number; o.textContent = ch.label; chs.appendChild(o); }
    for (const ch of channels) {
      const l = document.createElement("label"), s = document.createElement("select");
      l.textContent = ch.label + " "; s.name = ch.section;
      for (const b of meta.limits[ch.section].baud.choices) { const o = document.createElement("option"); o.value = o.textContent = b; s.appendChild(o); }
      s.value = ser[ch.section].baud; l.appendChild(s); ports.appendChild(l);
    }
    fill($("#net"), await api("GET", "/api/settings/network"));
    const srv = await api("GET", "/api/settings/server");
    server = srv.host ? srv.host + ":" + srv.port : "";
    fill($("#srv"), Object.assign({}, srv, { password: "" }));
    fill($("#gw"), await api("GET", "/api/settings/gateway"));
  } catch (e) { fail(e); }
}

function on(sel, fn) {
  $(sel).addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { await fn(ev.target, ev.submitter); } catch (e) { fail(e); }
  });
}

on("#login", async (f) => {
  const r = await api("POST", "/api/login", { user: f.user.value, password: f.password.value });
  f.password.value = ""; say(""); $("#who").textContent = r.user;
  show(r.must_change ? "newpw" : "app");
});
on("#newpw", async (f) => {
  await api("POST", "/api/password", { old: f.old.value, new: f.new.value });
  f.reset(); say("Password set"); show("app");
});
on("#pw", async (f) => {
  await api("POST", "/api/password", { old: f.old.value, new: f.new.value });
  f.reset(); say("Password changed");
});
on("#dev", async (f, btn) => {
  const body = { type: f.type.value, channel: +f.channel.value, address: +f.address.value };
  if (btn && btn.value === "del") { await api("DELETE", "/api/devices", body); say("Device deleted"); }
  else { await api("POST", "/api/devices", body); say("Device added"); }
  refresh();
});
on("#serial", async (f) => {
  const body = {};
  for (const ch of channels) body[ch.section] = { baud: +f.elements[ch.section].value };
  await api("PUT", "/api/settings/serial", body); say("Baud rates saved");
});
on("#net", async (f) => {
  await api("PUT", "/api/settings/network", { dhcp: f.dhcp.value === "1", ip: f.ip.value, mask: f.mask.value, gateway: f.gateway.value, dns: f.dns.value });
  say("Network settings saved");
});
on("#srv", async (f) => {
  const body = { host: f.host.value, port: +f.port.value, tls: f.tls.checked, username: f.username.value,
    upload_interval_s: +f.upload_interval_s.value, topic_prefix: f.topic_prefix.value, keepalive_s: +f.keepalive_s.value,
    tls_ca: f.tls_ca.value, discovery: f.discovery.checked, discovery_prefix: f.discovery_prefix.value,
    remote_settings: f.remote_settings.checked };
  if (f.password.value) body.password = f.password.value;
  const r = await api("PUT", "/api/settings/server", body);
  server = r.host ? r.host + ":" + r.port : ""; f.password.value = ""; say("Server settings saved");
});
on("#gw", async (f) => {
  await api("PUT", "/api/settings/gateway", { enabled: f.enabled.checked, port: +f.port.value, writes: f.writes.checked,
    max_clients: +f.max_clients.value, clients: f.clients.value });
  say("Gateway settings saved");
});
$("#ack").addEventListener("click", async () => {
  try { await api("POST", "/api/settings/acknowledge-defaults", { confirm: true }); say("Acknowledged"); notice("app"); refresh(); }
  catch (e) { fail(e); }
});
$("#logout").addEventListener("click", async () => { try { await api("POST", "/api/logout"); } catch (e) { /* gone anyway */ } say("Logged out"); show("login"); });
$("#restart").addEventListener("click", async () => {
  if (!confirm("Restart the datalogger?")) return;
  try { await api("POST", "/api/restart", { confirm: true }); say("Restarting..."); } catch (e) { fail(e); }
});
$("#factory").addEventListener("click", async () => {
  if (!confirm("Restore the factory settings? Devices, network, server and password are all reset.")) return;
  try { await api("POST", "/api/factory-reset", { confirm: true }); say("Factory reset: restarting..."); } catch (e) { fail(e); }
});
start();
$("#devsetbtn").onclick = (e) => { const s = document.createElement("script"); s.src = "/writes.js"; document.body.append(s); e.target.remove(); };

// --- firmware upgrade: the bundle goes up as the raw body; the logger restarts to try it ---
async function upgradeInfo() {
  if ($("#app").hidden) return;
  try {
    const st = await api("GET", "/api/status"), u = st.upgrade || {};
    $("#upinfo").textContent = "Running " + st.firmware_version + " from " +
      (st.firmware_slot === "a" || st.firmware_slot === "b" ? "slot " + st.firmware_slot : "the flashed install") +
      (u.on_trial ? " (on trial: committed once healthy)" : "") +
      (st.last_rollback ? ". Last rollback: " + st.last_rollback : "");
  } catch (e) { /* the status section reports errors */ }
}
on("#upg", async (f) => {
  const file = f.bundle.files[0];
  say("Uploading " + file.name + " (" + Math.round(file.size / 1024) + " KB)...");
  const r = await fetch("/api/upgrade", { method: "POST", body: file, credentials: "same-origin",
    headers: { "Content-Type": "application/octet-stream" } });
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) {
    const err = new Error("Upgrade refused: " + (data && data.error ? data.error : "HTTP " + r.status));
    err.status = r.status;
    throw err;
  }
  f.reset();
  say("Version " + data.version + " verified in slot " + data.slot + ": the logger restarts to try it.");
  setTimeout(upgradeInfo, 15000);
});
setInterval(upgradeInfo, 5000);
