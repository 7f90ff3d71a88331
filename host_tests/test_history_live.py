"""The history in the running firmware (unix port, the sim's plant): 5-minute points of what the
plant produced, kept across a restart, as JSON and CSV; daily energy; bad requests refused.

The time comes from an SNTP responder set a few seconds before a 5-minute mark, so a slot is
recorded within seconds rather than minutes."""

import os
import signal
import subprocess
import time

from conftest import ROOT, free_port, http_json, mp_env, require_module, require_tool, session_cookie

from tools.sim.plant import Plant, default_layout
from tools.sim.run import seed_settings
from tools.sim.sntp import SntpResponder

MARK = 1893456300  # 2030-01-01 00:05:00 UTC, a 5-minute mark
# The clock is set this long before the mark: the HPS must be online by then. It is online about
# 0.5 s after the clock is set (measured: 0.48-0.51 s; the sim's plant answers at once), so 5 s
# leaves ten times that for a loaded machine, and each start waits 5 s less than with 10.
LEAD_S = 5


def _start(run_dir, port, ntp):
    env = mp_env(ENERLOG_RUN=str(run_dir), ENERLOG_HTTP_PORT=str(port), ENERLOG_NTP_PORT=str(ntp.port))
    proc = subprocess.Popen([require_tool("micropython"), "main.py", "pc"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    http_json("http://127.0.0.1:%d/api/health" % port, timeout=20)
    return proc


def _get(base, path):
    return http_json(base + path)  # logs in again after a restart


def _raw(base, path):
    import urllib.error
    import urllib.request

    req = urllib.request.Request(base + path, headers={"Cookie": "session=" + session_cookie(base)})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read().decode()


def _wait_points(base, n, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        got = _get(base, "/api/history?channel=1&address=2&point=battery_soc&from=%d&to=%d"
                   % (MARK - 600, MARK + 900))
        if len(got["points"]) >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def test_history_of_the_running_logger_across_a_restart(tmp_path, pty_pair):
    require_tool("socat")
    paths = {ch: pty_pair(a=tmp_path / ("rs485-%d" % ch), b=tmp_path / ("plant-%d" % ch))[1] for ch in (1, 2, 3)}
    assert seed_settings(str(tmp_path), default_layout())
    plant = Plant(paths, default_layout())
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    ntp = SntpResponder(MARK - LEAD_S, from_first_request=True)  # the mark LEAD_S after the clock is set
    proc = _start(tmp_path, port, ntp)
    try:
        # the slot at 00:05:00, once the plant's devices are online
        got = _wait_points(base, 1)
        hps = [u for u in plant.units if u.address == 2][0]
        hps.update()
        plant_soc = hps.ir[47]  # the plant's own value now (tools/sim/powers.py: its battery's SOC)
        assert got["unit"] == "%" and got["points"], got
        t, soc = got["points"][-1]
        assert t == MARK, got
        # the SOC moves at most 50 kW / 200 kWh = 0.007 % a second (powers.MODELS, HPS), and a few
        # seconds passed since the mark
        assert abs(soc - plant_soc) <= 1, (soc, plant_soc)
        status, headers, text = _raw(base, "/api/history?channel=1&address=2&point=battery_soc&format=csv"
                                           "&from=%d&to=%d" % (MARK - 600, MARK + 900))
        assert status == 200 and headers["Content-Type"].startswith("text/csv"), (status, text)
        assert text.splitlines()[0] == "time (UTC),battery_soc (%)"
        assert text.splitlines()[-1].startswith("2030-01-01 00:05:00,"), text
        energy = _get(base, "/api/energy?from=2030-01-01&to=2030-01-01")
        row = [d for d in energy["days"] if d["address"] == 2]
        # one slot so far today: the day's first reading is its last, nothing counted yet
        # (an HPS counts PV, battery, load and grid energy: the plant summary's roles, issue 19)
        assert [(r["day"], r["channel"], r["address"]) for r in row] == [("2030-01-01", 1, 2)], energy
        assert row[0]["energy"]["pv_energy_total"] == 0.0 and set(row[0]["energy"].values()) == {0.0}, energy
        assert "battery_charge_energy_total" in row[0]["energy"], energy
        assert energy["plant"][0]["day"] == "2030-01-01", energy
        # bad requests: a clear 400 naming the field, nothing else
        for query, field in (("channel=4&address=2&point=battery_soc", "channel"),
                             ("channel=1&address=0&point=battery_soc", "address"),
                             ("channel=1&address=99&point=battery_soc", "address"),
                             ("channel=1&address=2&point=serial", "point"),
                             ("channel=1&address=2&point=battery_soc&from=10&to=5", "from"),
                             ("channel=1&address=2&point=battery_soc&from=0&to=99999999", "from"),
                             ("channel=1&address=2&point=battery_soc&to=x", "to"),
                             ("channel=%C2%B2&address=2&point=battery_soc", "channel"),
                             ("channel=1&address=2&point=battery_soc&to=" + "9" * 40, "to")):
            status, _, text = _raw(base, "/api/history?" + query)
            assert status == 400 and ('"field": "%s"' % field) in text, (query, status, text)
        for query in ("from=2030-13-01", "from=2030-02-31", "from=1969-12-31", "from=%C2%B2030-01-01"):
            status, _, text = _raw(base, "/api/energy?" + query)
            assert status == 400 and '"field": "from"' in text, (query, text)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
        ntp.close()
    # five minutes later (the next start), the slot at 00:10:00 joins the one before the restart
    ntp = SntpResponder(MARK + 300 - LEAD_S, from_first_request=True)
    proc = _start(tmp_path, port, ntp)
    try:
        got = _wait_points(base, 2)
        assert [p[0] for p in got["points"]] == [MARK, MARK + 300], got
        # the energy of the day: what the HPS's counter rose between the two slots
        total = _get(base, "/api/history?channel=1&address=2&point=pv_energy_total&from=%d&to=%d"
                     % (MARK, MARK + 300))["points"]
        energy = _get(base, "/api/energy?channel=1&address=2&from=2030-01-01&to=2030-01-01")["days"]
        assert energy[0]["energy"]["pv_energy_total"] == round(total[1][1] - total[0][1], 3), (energy, total)
        assert os.path.exists(str(tmp_path / "flash" / "history" / ("p%d.h" % (MARK // 86400))))
        storage = _get(base, "/api/status")["storage"]
        assert 0 < storage["history"]["used"] <= storage["history"]["budget"], storage
        _the_page_charts_the_live_slots(base, got["points"])
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
        ntp.close()
        plant.stop()


def _the_page_charts_the_live_slots(base, points):
    """The Energy view in Chromium draws the two slots the running logger recorded from the plant
    (not a seeded history): a dot each, and a tap on one reads its value."""
    from test_web_browser import CHROMIUM_ARGS

    sync_api = require_module("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=require_tool("chromium"), args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport={"width": 390, "height": 844})
        ctx.add_cookies([{"name": "session", "value": session_cookie(base), "url": base + "/"}])
        page = ctx.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base + "/#energy")
        page.select_option("#e-dev", "1/2")
        page.select_option("#e-pt", "battery_soc")
        dots = page.locator("#e-day-chart circle.dot")
        sync_api.expect(dots).to_have_count(2, timeout=10000)  # the day is the logger's: 2030-01-01
        # at the second dot's place (the svg's units are CSS pixels; the locator is found afresh)
        x, y = float(dots.nth(1).get_attribute("cx")), float(dots.nth(1).get_attribute("cy"))
        page.locator("#e-day-chart svg").click(position={"x": x, "y": y})
        sync_api.expect(page.locator("#e-day-chart text.readout")).to_contain_text("%d\u00a0%%" % round(points[1][1]))
        browser.close()
    assert not errors, errors

