"use strict";
// Set slave devices (manual 2.3): loaded by app.js when first wanted (it uses app.js's $, api, cell,
// fail and channels). A device's writable settings, read from the device; a change goes through
// the write governor and shows the value read back, or the refusal in words, next to its field.
(function () {
  const box = $("#devset");
  box.insertAdjacentHTML("beforeend",
    '<p class="hint">Values are read from the device. A new value is checked against the limits of the device\'s register map, written, read back from the device and kept in the write log; a register is written at most once per write interval.</p>' +
    '<label>Device <select id="devsel"></select></label><h3 id="devset-title"></h3>' +
    '<div class="scroll"><table id="devset-table" hidden><thead><tr><th>Setting</th><th>Value now</th><th>Limits</th><th>New value</th></tr></thead><tbody></tbody></table></div>' +
    '<h3>Write log</h3><button type="button" id="writes-refresh">Refresh</button>' +
    '<div class="scroll"><table id="writes"><thead><tr><th>Time</th><th>Who</th><th>Device</th><th>Setting</th><th>Old</th><th>New</th><th>Read back</th><th>Result</th></tr></thead><tbody></tbody></table></div>');

  const withUnit = (v, unit) => v === null || v === undefined ? "-" : v + (unit ? " " + unit : "");
  const chLabel = (ch) => (channels.find((c) => c.number === ch) || { label: "RS485-" + ch }).label;

  function settingRow(ch, addr, it) {
    const tr = document.createElement("tr");
    tr.dataset.point = it.point;
    cell(tr, it.point);
    cell(tr, withUnit(it.value, it.unit), "now");
    cell(tr, it.writable ? it.min + " to " + it.max + (it.unit ? " " + it.unit : "") : "not written");
    const td = document.createElement("td"), out = document.createElement("span");
    out.className = "result"; out.textContent = it.error || "";
    if (it.writable) {
      const inp = document.createElement("input"), btn = document.createElement("button");
      inp.type = "number"; inp.step = it.step; inp.value = it.value === null ? "" : it.value;
      btn.type = "button"; btn.textContent = "Set";
      btn.addEventListener("click", async () => {
        out.textContent = "Writing..."; out.className = "result";
        try {
          const r = await api("PUT", "/api/devices/settings", { channel: ch, address: addr, point: it.point, value: +inp.value });
          out.textContent = (r.written ? "Written; read back from the device: " : "Not written: the device holds ") + withUnit(r.value, r.unit);
          tr.querySelector(".now").textContent = withUnit(r.value, r.unit);
        } catch (e) {
          if (e.status === 401) { fail(e); return; }
          out.textContent = "Refused: " + e.message; out.className = "result err";
        }
        writesShow();
      });
      td.append(inp, " ", btn, " ");
    }
    td.appendChild(out);
    tr.appendChild(td);
    return tr;
  }

  async function show(ch, addr) {
    const table = $("#devset-table"), tb = $("#devset-table tbody");
    $("#devset-title").textContent = "Reading the settings of " + chLabel(ch) + " address " + addr + "...";
    table.hidden = true;
    try {
      const s = await api("GET", "/api/devices/settings?channel=" + ch + "&address=" + addr);
      $("#devset-title").textContent = s.type + (s.model ? " (" + s.model + ")" : "") + ", " + chLabel(ch) + " address " + addr +
        (s.settings.length ? "" : ": no writable settings");
      tb.textContent = "";
      for (const it of s.settings) tb.appendChild(settingRow(ch, addr, it));
      table.hidden = !s.settings.length;
    } catch (e) { $("#devset-title").textContent = ""; fail(e); }
  }

  async function writesShow() {
    try {
      const w = await api("GET", "/api/writes?n=20"), tb = $("#writes tbody");
      tb.textContent = "";
      for (const e of w.entries) {
        const tr = document.createElement("tr");
        cell(tr, e.time === null ? "clock not set" : new Date(e.time * 1000).toISOString().replace("T", " ").slice(0, 19));
        cell(tr, e.who); cell(tr, chLabel(e.channel) + " address " + e.address);
        cell(tr, e.point || "register " + e.register); cell(tr, withUnit(e.old)); cell(tr, withUnit(e.new)); cell(tr, withUnit(e.read_back));
        cell(tr, e.result + (e.message ? ": " + e.message : ""), e.result === "written" || e.result === "unchanged" ? "" : "off");
        tb.appendChild(tr);
      }
    } catch (e) { fail(e); }
  }

  async function devices() {
    const sel = $("#devsel");
    try {
      for (const d of (await api("GET", "/api/devices")).devices) {
        const o = document.createElement("option");
        o.value = d.channel + "/" + d.address;
        o.textContent = d.type + (d.model ? " (" + d.model + ")" : "") + ", " + chLabel(d.channel) + " address " + d.address;
        sel.appendChild(o);
      }
    } catch (e) { fail(e); }
    const pick = () => { const [ch, a] = sel.value.split("/").map(Number); if (a) show(ch, a); };
    sel.addEventListener("change", pick);
    pick();
  }

  $("#writes-refresh").addEventListener("click", writesShow);
  devices();
  writesShow();
})();
