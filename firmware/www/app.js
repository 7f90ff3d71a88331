"use strict";
// The page's core: requests, forms (errors next to their field, busy buttons), the log-in, the
// views by hash (#dashboard, #devices, #device/1/2, #energy, #log, #settings) and the wait for a
// restarting logger. views.js, energy.js and settings.js add the views to V.
const $ = (s, el) => (el || document).querySelector(s);
const V = {}; // view name: {show(args), tick()} (tick: refreshed every 3 s while shown)
let meta = null, timer = null, current = null;

function h(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}
function cap(s) { s = String(s || ""); return s.charAt(0).toUpperCase() + s.slice(1); }
// An answer's words, without a "section.field: " prefix.
function words(s) { return cap(String(s || "").replace(/^[a-z0-9_]+(\.[a-z0-9_]+)+: /, "")); }
function plural(n, one, many) { return n + " " + (n === 1 ? one : many || one + "s"); }
function num(v) {
  if (typeof v !== "number") return v === null || v === undefined ? "-" : String(v);
  return String(Math.abs(v) >= 100 ? Math.round(v * 10) / 10 : Math.round(v * 100) / 100);
}
// Decimals a unit is shown with, so values in a column line up; W from 1000 on is shown in kW.
const DECIMALS = { kW: 1, kWh: 1, MWh: 1, V: 1, A: 1, "\u00b0C": 1, "%": 0, Hz: 2, W: 0, mV: 0, var: 0, VA: 0, kvar: 1, kVA: 1 };
function withUnit(v, unit) {
  if (v === null || v === undefined) return "-";
  if (typeof v !== "number") return String(v) + (unit ? "\u00a0" + unit : "");
  if (unit === "W" && Math.abs(v) >= 1000) { v /= 1000; unit = "kW"; }
  const k = DECIMALS[unit], t = k === undefined ? num(v) : v.toFixed(k);
  return (/^-0(\.0+)?$/.test(t) ? t.slice(1) : t) + (unit ? "\u00a0" + unit : "");  // no "-0.0"; the unit never wraps alone
}
function ago(s) {
  if (s === null || s === undefined) return "never";
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor(s % 3600 / 60) + " min ago";
  return Math.floor(s / 86400) + " d ago";
}
const pad = (n) => (n < 10 ? "0" : "") + n;
// A time (Unix seconds or ISO text) in the browser's time zone.
function when(t, dateToo) {
  if (t === null || t === undefined) return "clock not set";
  const d = new Date(typeof t === "number" ? t * 1000 : t);
  const hm = pad(d.getHours()) + ":" + pad(d.getMinutes());
  return dateToo === false ? hm : d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + hm;
}
// The logger's "05:55 UTC" (its clock is UTC) as the browser's local time, like every other time shown.
function localTimes(text) {
  return String(text).replace(/\b(\d\d):(\d\d) UTC\b/g, (m, hh, mm) => {
    const d = new Date();
    d.setUTCHours(+hh, +mm, 0, 0);
    if (d.getTime() > Date.now() + 60000) d.setUTCDate(d.getUTCDate() - 1); // a time of yesterday
    return pad(d.getHours()) + ":" + pad(d.getMinutes());
  });
}
function chLabel(n) { const c = meta && meta.channels.find((x) => x.number === n); return c ? c.label : "RS485-" + n; }
function typeName(t) { return (meta && meta.type_names && meta.type_names[t]) || null; }
function pointInfo(type, p) { return (meta && meta.points && meta.points[type] && meta.points[type][p]) || null; }
function devName(d) {
  return d.name || (typeName(d.type) || "Device") + (d.model ? " " + d.model : "") + ", " + chLabel(d.channel) + " address " + d.address;
}

const LOST = "The logger does not answer: check its network connection.";
class ApiErr extends Error {
  constructor(status, message, field) { super(message); this.status = status; this.field = field; }
}

async function api(method, path, body, raw) {
  const opt = { method, headers: {}, credentials: "same-origin" };
  if (raw) { opt.body = raw; opt.headers["Content-Type"] = "application/octet-stream"; }
  else if (body !== undefined) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
  let r;
  try { r = await fetch(path, opt); } catch (e) { throw new ApiErr(0, LOST); }
  if ($("#msg").textContent === LOST) say(""); // it answers again
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  // every answer is JSON: one cut short means the logger went away mid-answer (a restart)
  if (r.ok && data === null) throw new ApiErr(0, LOST);
  if (!r.ok) throw new ApiErr(r.status, words(data && data.error ? data.error : "The logger answered " + r.status), data && data.field);
  return data;
}

// A view's GET whose answer counts only if no later one of the same ``kind`` was asked meanwhile
// (a quicker later choice, a filter changed): the answer, or LATER; its error only if it is the latest.
const LATER = {};
async function latest(view, kind, path) {
  const mine = view[kind] = (view[kind] || 0) + 1;
  try { const r = await api("GET", path); return mine === view[kind] ? r : LATER; }
  catch (e) { if (mine === view[kind]) throw e; return LATER; }
}
function say(text, bad) { const m = $("#msg"); m.textContent = text || ""; m.className = bad ? "err" : "ok"; m.hidden = !text; }

// A failure outside a form: a 401 on a logged-in view means the session ended.
function fail(e) {
  if (current === "wait") return; // a view's late answer while the logger restarts: expected
  if (e.status === 401) { ask("Your session ended: log in again."); return; }
  say(e.message, true);
}

// Shows the answer of a form: an error beside the input named by the last part of its field, or
// beside the form's buttons; in view, in words.
function formSay(form, text, bad, field) {
  for (const o of form.querySelectorAll(".ferr,.fok")) o.remove();
  if (!text) return;
  const p = h("p", text, bad ? "ferr" : "fok");
  p.setAttribute("role", bad ? "alert" : "status");
  const name = field ? String(field).split(".").pop() : null;
  const el = name && form.elements[name] && form.elements[name].closest ? form.elements[name] : null;
  if (el && !el.hidden && el.type !== "hidden") {
    if (el.closest("details")) el.closest("details").open = true;  // an error in a folded part shows it
    (el.closest("label") || el).after(p);
  }
  else $(".act", form).append(p);
  p.scrollIntoView({ block: "nearest" });
}

// Runs fn(button) with the button busy; its error goes next to the form.
async function busy(form, btn, fn) {
  const label = btn.textContent, all = form.querySelectorAll("button");
  formSay(form, "");
  all.forEach((b) => { b.disabled = true; });
  btn.classList.add("busy"); btn.textContent = label + "...";
  try {
    const ok = await fn();
    if (ok) formSay(form, ok, false);
  } catch (e) {
    if (e.status === 401 && current !== "login") ask("Your session ended: log in again.");
    else formSay(form, e.message, true, e.field);
  } finally {
    all.forEach((b) => { b.disabled = false; });
    btn.classList.remove("busy"); btn.textContent = label;
  }
}

function onForm(id, fn) {
  const f = document.getElementById(id);
  f.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const btn = ev.submitter || $("button", f);
    busy(f, btn, () => fn(f, btn));
  });
}

function fill(form, values) {
  for (const [k, v] of Object.entries(values)) {
    const el = form.elements[k];
    if (!el || el.type === "file") continue;
    if (el.type === "checkbox") el.checked = !!v; else if (k === "dhcp") el.value = v ? "1" : "0"; else el.value = v;
  }
}

async function notice(loggedIn) {
  // A fall back to the factory defaults is said on every screen, the login first, until acknowledged.
  try {
    const n = (await api("GET", "/api/notice")).notice;
    $("#notice").hidden = !n; $("#notice span").textContent = n || "";
    $("#ack").hidden = !loggedIn;
  } catch (e) { /* said again at the next screen */ }
}

function screen(name) {
  current = name;
  for (const id of ["login", "newpw", "wait", "app"]) $("#" + id).hidden = id !== name;
  $("#tabs").hidden = name !== "app";
  $("#logout").hidden = name !== "app" && name !== "newpw";
  if (timer) { clearInterval(timer); timer = null; }
  if (name !== "wait") notice(name === "app");
}

// The log-in form with a line saying why (the session ended, the logger restarted).
function ask(why) {
  screen("login");
  say(""); formSay($("#login"), why || "", false);
  const note = $("#login .fok");
  if (note) $("#login h2").after(note);  // why first, then the fields it asks for
  $("#who").textContent = "";
}

async function enter() {
  screen("app");
  if (!meta) meta = await api("GET", "/api/meta");
  route();
  timer = setInterval(() => { const v = V[viewName()]; if (v && v.tick && !document.hidden) v.tick(); }, 3000);
}

function viewName() { return (location.hash.slice(1) || "dashboard").split("/")[0]; }

function route() {
  if (current !== "app") return;
  const parts = (location.hash.slice(1) || "dashboard").split("/"), name = V[parts[0]] ? parts[0] : "dashboard";
  for (const s of document.querySelectorAll(".view")) s.hidden = s.id !== "v-" + name;
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("on", a.hash === "#" + (name === "device" ? "devices" : name));
  say(told); told = "";
  V[name].show(parts.slice(1).map(Number));
}
window.addEventListener("hashchange", route);
// Another view, saying ``text`` there (what was done here: "... deleted").
let told = "";
function go(hash, text) { told = text; location.hash = hash; }

async function start() {
  try {
    const s = await api("GET", "/api/session");
    $("#who").textContent = s.user;
    if (s.must_change) screen("newpw"); else await enter();
  } catch (e) { if (e.status === 401) ask(""); else fail(e); }
}

onForm("login", async (f) => {
  let r;
  try { r = await api("POST", "/api/login", { user: f.user.value, password: f.password.value }); }
  catch (e) { if (e.status === 401) e.message = "Wrong user name or password"; throw e; }
  f.password.value = ""; $("#who").textContent = r.user;
  if (r.must_change) screen("newpw"); else await enter();
});
onForm("newpw", async (f) => {
  await api("POST", "/api/password", { old: f.old.value, new: f.new.value });
  f.reset(); await enter();
});
$("#ack").addEventListener("click", async () => {
  try { await api("POST", "/api/settings/acknowledge-defaults", { confirm: true }); notice(true); } catch (e) { fail(e); }
});
$("#logout").addEventListener("click", async () => {
  try { await api("POST", "/api/logout"); } catch (e) { /* gone anyway */ }
  ask("You are logged out.");
});

// After a restart, factory reset or upgrade: the logger goes away, then answers again (its
// sessions gone: a quick restart may fall between two asks); then the log-in, saying what happened.
async function awaitRestart(title, after) {
  screen("wait");
  $("#wait-title").textContent = title;
  const t0 = Date.now(), bar = $("#wait-bar"), text = $("#wait-text");
  const ask1 = async (path) => {
    try {
      const c = new AbortController(), t = setTimeout(() => c.abort(), 2000);
      const r = await fetch(path, { signal: c.signal, cache: "no-store", credentials: "same-origin" });
      clearTimeout(t);
      return r.status;
    } catch (e) { return 0; }
  };
  let gone = false;
  for (;;) {
    const s = Math.round((Date.now() - t0) / 1000);
    bar.value = Math.min(95, s * 100 / 60);
    text.textContent = (gone ? "Waiting for the logger to start" : "Waiting for the logger to stop") + " (" + s + " s)";
    if ((await ask1("/api/health")) !== 200) gone = true;
    else if (gone || (await ask1("/api/session")) === 401) break;
    if (s > 180) { after = "The logger did not restart in 3 minutes: check its power and network, then log in."; break; }
    await new Promise((ok) => setTimeout(ok, 700));
  }
  bar.value = 100;
  meta = null;
  ask(after);
}

document.addEventListener("DOMContentLoaded", start);
