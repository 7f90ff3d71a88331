"use strict";
// The Settings view: the datalogger's settings (manual 4): devices, scan, baud rate, network,
// server, Modbus TCP gateway, clock, history share, password, upgrade, restart and factory reset.

V.settings = {
  async show() {
    for (const f of document.querySelectorAll("#v-settings form")) formSay(f, "");
    try {
      const types = $("#dev [name=type]"), chs = $("#dev [name=channel]");
      types.textContent = ""; chs.textContent = "";
      for (const t of meta.types) option(types, t, typeName(t) || t.replace(/_/g, " "));
      for (const c of meta.channels) option(chs, c.number, c.label);
      const ser = await api("GET", "/api/settings/serial"), ports = $("#ports");
      ports.textContent = "";
      for (const c of meta.channels) {
        const l = h("label", c.label + " "), s = h("select");
        s.name = c.section;
        for (const b of meta.limits[c.section].baud.choices) option(s, b, b);
        s.value = ser[c.section].baud; l.append(s); ports.append(l);
      }
      fill($("#net"), await api("GET", "/api/settings/network"));
      netMode();
      fill($("#srv"), Object.assign({}, await api("GET", "/api/settings/server"), { password: "" }));
      fill($("#gw"), await api("GET", "/api/settings/gateway"));
      fill($("#clk"), await api("GET", "/api/settings/clock"));
      this.tick();
    } catch (e) { fail(e); }
    try { fill($("#hist"), await api("GET", "/api/settings/history")); $("#hist").hidden = false; }
    catch (e) { $("#hist").hidden = true; } // a firmware without the setting
  },
  async tick() {
    try {
      const st = await api("GET", "/api/status"), u = st.upgrade || {}, ck = st.clock || {}, hs = (st.storage || {}).history;
      $("#upinfo").textContent = "Running version " + st.firmware_version +
        (u.on_trial ? " (on trial: kept once healthy)" : "") + (st.last_rollback ? ". Last rollback: " + words(st.last_rollback) : "");
      $("#clk-now").textContent = "The logger's time: " + (ck.time ? when(ck.time) + (ck.synced ? ", set by the time server" : ", not synced") : "not set");
      $("#net-now").textContent = netNow(st.network || {});
      if (hs) $("#hist-now").textContent = "Used " + Math.round(hs.used / 1024) + " KB of " + Math.round(hs.budget / 1024) + " KB.";
    } catch (e) { fail(e); }
  },
};

onForm("dev", async (f, btn) => {
  const body = { type: f.type.value, channel: +f.channel.value, address: +f.address.value };
  if (btn.value === "del") {
    if (!confirm("Delete the device at " + chLabel(body.channel) + " address " + body.address + "? The logger stops reading it.")) return "";
    await api("DELETE", "/api/devices", body);
    return "Device deleted";
  }
  await api("POST", "/api/devices", body);
  return "Device added";
});
onForm("serial", async (f) => {
  const body = {};
  for (const c of meta.channels) body[c.section] = { baud: +f.elements[c.section].value };
  await api("PUT", "/api/settings/serial", body);
  return "Saved";
});
// The address the logger holds now, and how it got it (the network's state, manual 4.1-4.2).
function netNow(n) {
  const how = { dhcp: " (from the router, DHCP)", static: " (static)", setup: " (the setup address of the first minutes after a start)",
    fallback: " (the router gives no address: the fallback address meanwhile)", requesting: " (asking the router for an address)" }[n.state];
  if (n.state === "no-link") return "No network cable (no link).";
  return !n.ip || n.ip === "0.0.0.0" ? "No address yet" + (how || "") + "." : "Address in use: " + n.ip + (how || "") + ".";
}
// With DHCP the router gives the address: the static fields are kept for later but not edited.
function netMode() {
  const f = $("#net"), dhcp = f.dhcp.value === "1";
  for (const k of ["ip", "mask", "gateway", "dns"]) f.elements[k].disabled = dhcp;
}
$("#net [name=dhcp]").addEventListener("change", netMode);
onForm("net", async (f) => {
  await api("PUT", "/api/settings/network", { dhcp: f.dhcp.value === "1", ip: f.ip.value, mask: f.mask.value, gateway: f.gateway.value, dns: f.dns.value });
  return "Saved";
});
onForm("srv", async (f) => {
  const body = { host: f.host.value, port: +f.port.value, tls: f.tls.checked, username: f.username.value,
    upload_interval_s: +f.upload_interval_s.value, topic_prefix: f.topic_prefix.value, keepalive_s: +f.keepalive_s.value,
    tls_ca: f.tls_ca.value, discovery: f.discovery.checked, discovery_prefix: f.discovery_prefix.value, remote_settings: f.remote_settings.checked };
  if (f.password.value) body.password = f.password.value;
  await api("PUT", "/api/settings/server", body);
  f.password.value = "";
  return "Saved";
});
onForm("gw", async (f) => {
  await api("PUT", "/api/settings/gateway", { enabled: f.enabled.checked, port: +f.port.value, writes: f.writes.checked,
    max_clients: +f.max_clients.value, clients: f.clients.value });
  return "Saved";
});
onForm("clk", async (f) => { await api("PUT", "/api/settings/clock", { ntp_server: f.ntp_server.value }); V.settings.tick(); return "Saved"; });
onForm("hist", async (f) => { await api("PUT", "/api/settings/history", { share_percent: +f.share_percent.value }); V.settings.tick(); return "Saved"; });
onForm("pw", async (f) => { await api("POST", "/api/password", { old: f.old.value, new: f.new.value }); f.reset(); return "Password changed"; });
onForm("upg", async (f) => {
  const file = f.bundle.files[0];
  const r = await api("POST", "/api/upgrade", undefined, file);
  f.reset();
  awaitRestart("Restarting with version " + r.version + ", wait...", "The logger restarted to try version " + r.version + ". Log in again.");
});

async function reset(btn, path, question, title, after) {
  if (!confirm(question)) return;
  const f = $("#sys");
  busy(f, btn, async () => { await api("POST", path, { confirm: true }); awaitRestart(title, after); });
}
$("#restart").addEventListener("click", (ev) => reset(ev.target, "/api/restart", "Restart the datalogger?",
  "Restarting, wait...", "The logger restarted. Log in again."));
$("#factory").addEventListener("click", (ev) => reset(ev.target, "/api/factory-reset",
  "Restore the factory settings? Devices, network, server, password and all data are reset.",
  "Factory reset: restarting, wait...", "The logger was reset to the factory settings. Log in with the factory password (admin / admin)."));

// --- scan a channel: progress, and an Add button per device found ---
const scanning = {};
async function scanShow(ch) {
  const box = $("#scan" + ch);
  try {
    const s = await api("GET", "/api/scan?channel=" + ch), state = { running: "scanning", done: "done", idle: "not scanned" }[s.state] || s.state;
    box.textContent = "";
    box.append(h("p", chLabel(ch) + ": " + state + (s.state === "idle" ? "" : ", " + Math.round(100 * s.progress) + " %") +
      (s.reason ? " (" + words(s.reason) + ")" : "") + (s.found.length ? ", found:" : "")));
    for (const f of s.found) {
      const line = h("div", "Address " + f.address + ": " + (typeName(f.type) || (f.type ? f.type.replace(/_/g, " ") : "unknown type")) + (f.model ? " " + f.model : "") +
        (f.serial ? ", serial number " + f.serial : "") + (f.problem ? ", " + f.problem : "") + (f.configured ? ", already added" : " "), "found");
      if (!f.configured && f.type) {
        const add = h("button", "Add");
        add.type = "button";
        add.addEventListener("click", async () => {
          add.disabled = true;
          try { await api("POST", "/api/devices", { type: f.type, channel: ch, address: f.address }); add.replaceWith("added"); }
          catch (e) { add.disabled = false; add.after(h("span", " " + e.message, "ferr")); }
        });
        line.append(add);
      }
      box.append(line);
    }
    if (s.state !== "running") { clearInterval(scanning[ch]); delete scanning[ch]; }
  } catch (e) { fail(e); clearInterval(scanning[ch]); delete scanning[ch]; }
}
for (const b of document.querySelectorAll("#scan button[data-ch]")) {
  b.addEventListener("click", async () => {
    const ch = +b.dataset.ch;
    try {
      await api("POST", "/api/scan", { channel: ch, first: 1, last: 247 });
      if (!scanning[ch]) scanning[ch] = setInterval(() => scanShow(ch), 1000);
      scanShow(ch);
    } catch (e) { formSay($("#scan"), e.message, true); }
  });
}
