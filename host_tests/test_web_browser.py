"""The page (docs/page.md) in Chromium (Playwright) against the real firmware under the unix port
and the sim's plant, at a phone's width (390 x 844) and a desktop's (1280 x 800): the log-in with
a wrong password, every view without sideways scrolling, errors beside their field, the dashboard's
kW, a chart drawn from history, an offline device's values marked stale and its event in the Log,
a fault in words, restart and factory reset back to the log-in (the upgrade's flow: test_upgrade.py,
on a board built with slots).

One sim and one browser for the file. The history is written before the sim starts, by the
firmware's own History (bench/history.py's way): two days and today of 5-minute points, so a day's
curve and daily energy are there at once; the sim's time server gives the PC's time.
Screenshots: artifacts/page/<view>-<width>.png.
"""

import os
import re
import time
from contextlib import contextmanager

import pytest
from conftest import ROOT, free_port, require_module, require_tool
from test_web_api import NEW_PASSWORD, Sim, _logged_in

from bench.history import seed

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = os.path.join(ROOT, "artifacts", "page")
SIZES = ((390, 844), (1280, 800))
VIEWS = ("dashboard", "devices", "device/1/2", "energy", "log", "settings")


@contextmanager
def browser_on_sim(tmp_path):
    """A sim in ``tmp_path``, a session on it and one Chromium: (sim, browser, cookie); at the end
    the firmware printed no traceback and no page had a script error."""
    require_tool("chromium")
    sim = Sim(tmp_path)
    br = None
    try:
        cookie = _logged_in(sim)
        br = Browser(sim)
        yield sim, br, cookie
    finally:
        if br:
            br.close()
        out = sim.stop()
    assert "Traceback" not in out, out
    assert not br.errors, br.errors


class Browser:
    """One Chromium for the file; ``page(width, height, cookie)`` a logged-in tab."""

    def __init__(self, sim):
        self.sync_api = require_module("playwright.sync_api")
        self.pw = self.sync_api.sync_playwright().start()
        self.browser = self.pw.chromium.launch(executable_path=require_tool("chromium"), args=CHROMIUM_ARGS)
        self.sim = sim
        self.errors = []

    def page(self, width, height, cookie=None):
        ctx = self.browser.new_context(viewport={"width": width, "height": height})
        if cookie:
            ctx.add_cookies([{"name": "session", "value": cookie, "url": self.sim.url("/")}])
        page = ctx.new_page()
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        return page

    def close(self):
        self.browser.close()
        self.pw.stop()


def no_sideways_scroll(page):
    sw, cw = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert sw <= cw, (page.url, sw, cw)


def in_viewport(locator):
    box, vp = locator.bounding_box(), locator.page.viewport_size
    assert box and 0 <= box["y"] and box["y"] + box["height"] <= vp["height"] + 1, box  # 1: sub-pixel scrolling
    assert box["x"] + box["width"] <= vp["width"], box


def shot(page, name):
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SHOTS, "%s-%d.png" % (name, page.viewport_size["width"])), full_page=True)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    require_tool("chromium")
    require_module("playwright.sync_api")
    run = tmp_path_factory.mktemp("page")
    now = int(time.time())
    os.makedirs(str(run / "flash"))
    seed(str(run / "flash"), now, days=3)  # two whole days and today
    (run / "plant-serial").write_text("3 ATS-01 BAD\n")  # the PBD's serial number is not legal (manual 6.2)
    sim = Sim(run, args=["--time", str(now)])
    br = Browser(sim)
    try:
        yield sim, br
    finally:
        br.close()
        out = sim.stop()
        assert "Traceback" not in out, out
        assert not br.errors, br.errors  # no script error on any page


def test_wrong_password_says_so_then_the_factory_login_asks_a_new_one(env):
    sim, br = env
    expect = br.sync_api.expect
    page = br.page(390, 844)
    page.goto(sim.url("/"))
    page.fill("#login [name=user]", "admin")
    page.fill("#login [name=password]", "wrong-one")
    page.click("#login button")
    err = page.locator("#login .ferr")
    expect(err).to_have_text("Wrong user name or password")
    in_viewport(err)
    assert "Session" not in page.inner_text("body")
    shot(page, "login")
    first_login(page, NEW_PASSWORD)
    expect(page.locator("#tabs a.on")).to_have_text("Dashboard")
    assert page.url.endswith("/") or page.url.endswith("#dashboard")


def test_every_view_at_phone_and_desktop_width(env):
    sim, br = env
    expect = br.sync_api.expect
    cookie = _session(sim)
    for w, h in SIZES:
        page = br.page(w, h, cookie)
        page.goto(sim.url("/#dashboard"))
        # the devices per channel, the server in words
        expect(page.locator("#chans")).to_contain_text("3 of 3 communicating", timeout=20000)
        expect(page.locator("#health")).to_contain_text("No server set (uploads off)")
        for view in VIEWS:
            page.goto(sim.url("/#" + view))
            page.wait_for_timeout(200)
            if view == "devices":
                expect(page.locator("#cards .card")).to_have_count(6, timeout=10000)
                expect(page.locator("#cards .card[data-address='2'] dl")).to_contain_text("kW")
                expect(page.locator("#cards .card[data-address='3'] p.err")).to_have_text(
                    "Serial number ATS-01 BAD is not valid (may hold only letters and digits): "
                    "the server may not show this device")
            elif view == "device/1/2":
                expect(page.locator("#d-values td").first).not_to_be_empty(timeout=10000)
                expect(page.locator("#d-settings form").first).to_be_visible(timeout=15000)
            elif view == "energy":
                expect(page.locator("#e-day-chart path.line")).to_have_count(1, timeout=10000)
            elif view == "settings":
                expect(page.locator("#net [name=ip]")).not_to_have_value("", timeout=10000)
            no_sideways_scroll(page)
            text = page.inner_text("body")
            for internal in ("undefined", "null", "NaN", "[object"):
                assert internal not in text, (view, w, internal)
            assert not re.findall(r"\b[a-z0-9]+_[a-z0-9_]+\b", text), (view, w)  # no internal name
            shot(page, view.split("/")[0])
        # a reload keeps the view
        page.reload()
        expect(page.locator("#tabs a.on")).to_have_text("Settings")
        page.close()


def test_the_dashboard_shows_the_plant_in_kw(env):
    sim, br = env
    expect = br.sync_api.expect
    page = br.page(390, 844, _session(sim))
    page.goto(sim.url("/"))
    flows = page.locator("#flows .flow")
    expect(flows).to_have_count(4, timeout=10000)
    for i, name in enumerate(("PV", "Battery", "Grid", "Load")):
        expect(flows.nth(i).locator("h2")).to_have_text(name)
        expect(flows.nth(i).locator(".big")).to_have_text(re.compile(r"^-?\d+(\.\d+)? kW$"), timeout=20000)
    # the sim's plant charges its batteries from PV: the words say which way the power flows
    expect(flows.nth(1)).to_contain_text(re.compile("charging|discharging|idle"))
    expect(flows.nth(1)).to_contain_text(re.compile(r"SOC \d+ %"))
    # energy today: kWh, or "-" while the logger has no figure (never an id or "null")
    # and in all (the counters' totals): a row per flow, "-" where no device counts it
    rows = page.locator("#today tbody tr")
    expect(rows).to_have_count(6)
    for row in rows.all():
        label, today, total = row.locator("td").all_inner_texts()
        assert today == "-" or re.match(r"^\d+\.\d\skWh$", today), (label, today)
        assert total == "-" or re.match(r"^\d+\.\d\s(k|M)Wh$", total), (label, total)
    expect(rows.first.locator("td").nth(2)).to_have_text(re.compile(r"Wh$"))  # PV counted by the inverters
    # the devices' status (the sim's inverters go into fault for 20 s every 2 minutes) and the day's curves
    expect(page.locator("#dev-sum")).to_have_text(re.compile(r"^6 devices: \d+ running, 1 communicating"))
    expect(page.locator("#today-chart path.line")).to_have_count(2, timeout=10000)
    expect(page.locator("#today-chart text", has_text="Load")).to_have_count(1)
    page.close()


def test_errors_show_beside_their_field_in_view(env):
    sim, br = env
    expect = br.sync_api.expect
    cookie = _session(sim)
    held = []

    def hold(route):
        held.append(route)

    for w, h in SIZES:
        page = br.page(w, h, cookie)
        page.goto(sim.url("/#settings"))
        expect(page.locator("#net [name=ip]")).not_to_have_value("", timeout=10000)
        page.select_option("#net [name=dhcp]", "0")
        page.fill("#net [name=ip]", "192.168.1")
        held.clear()  # the request held back: the button shows it is busy meanwhile
        page.route("**/api/settings/network", hold)
        page.click("#net button")
        expect(page.locator("#net button")).to_be_disabled()
        expect(page.locator("#net button")).to_have_text("Save...")
        held[0].continue_()
        page.unroute("**/api/settings/network")
        expect(page.locator("#net button")).to_be_enabled()
        err = page.locator("#net .ferr")
        expect(err).to_have_text("Must be an IPv4 address such as 192.168.1.20")
        # right under the IP address input, in the viewport
        assert page.locator("#net label:has([name=ip]) + .ferr").count() == 1
        in_viewport(err)
        # a device address already used: under the address
        page.select_option("#dev [name=channel]", "3")
        page.fill("#dev [name=address]", "11")
        page.click("#dev button[value=add]")
        err = page.locator("#dev label:has([name=address]) + .ferr")
        expect(err).to_contain_text("already used")
        in_viewport(err)
        # a field in the server's folded Advanced part: the part opens to show the error under it
        page.click("#srv summary")
        page.fill("#srv [name=topic_prefix]", "site/#")
        page.click("#srv summary")  # folded again before saving
        page.click("#srv button")
        err = page.locator("#srv label:has([name=topic_prefix]) + .ferr")
        expect(err).to_contain_text("Must be 1 to 64 letters, digits")
        expect(page.locator("#srv details")).to_have_attribute("open", "")
        in_viewport(err)
        # a wrong current password: under it
        page.fill("#pw [name=old]", "not-the-password")
        page.fill("#pw [name=new]", "another-password-1")
        page.click("#pw button")
        err = page.locator("#pw label:has([name=old]) + .ferr")
        expect(err).to_have_text("Does not match the current password")
        in_viewport(err)
        no_sideways_scroll(page)
        shot(page, "settings-error")
        page.close()
    serial = sim.req("GET", "/api/settings/network", cookie=cookie)[2]
    assert serial["dhcp"] is True  # nothing refused was stored


def test_day_chart_and_daily_energy_drawn_with_csv(env):
    sim, br = env
    expect = br.sync_api.expect
    cookie = _session(sim)
    page = br.page(1280, 800, cookie)
    page.goto(sim.url("/#energy"))
    line = page.locator("#e-day-chart path.line")
    expect(line).to_have_count(1, timeout=10000)
    # the plant first: its PV power summed over the inverters, as the dashboard counts it
    assert page.locator("#e-dev option:checked").text_content() == "The plant"
    assert page.locator("#e-pt option:checked").text_content() == "PV power (kW)"
    # today's points: a vertex per 5 minutes since midnight (local time = the PC's, as the sim's clock)
    vertices = line.get_attribute("d").count("L") + line.get_attribute("d").count("M")
    lt = time.localtime()
    assert vertices >= (lt.tm_hour * 60 + lt.tm_min) // 5 - 3, vertices
    # a tap on the chart reads the value there (a phone has no hover)
    plot = page.locator("#e-day-chart svg").bounding_box()
    page.mouse.click(plot["x"] + 60, plot["y"] + plot["height"] / 2)
    expect(page.locator("#e-day-chart text.readout")).to_have_text(re.compile(r"^\d\d:\d\d\s+-?\d+\.\d\skW$"))
    shot(page, "energy-readout")
    bars = page.locator("#e-bar-chart rect.bar")
    expect(bars).to_have_count(3, timeout=10000)  # two whole days seeded, and today so far
    expect(page.locator("#e-bar-chart rect.bar.part")).to_have_count(1)  # today's, lighter
    assert page.locator("#e-bar-chart rect.bar").last.locator("title").text_content().endswith("kWh so far")
    csv = page.evaluate("() => fetch(document.getElementById('e-day-csv').href).then(r => r.text())")
    assert csv.startswith("time (UTC),") and csv.count("\n") >= vertices, csv[:200]
    csv = page.evaluate("() => fetch(document.getElementById('e-bar-csv').href).then(r => r.text())")
    assert csv.startswith("day,channel,address,counter,kWh"), csv[:200]
    plant_line = line.get_attribute("d")
    # a quicker later choice wins: a device's day held back, the plant chosen again meanwhile, then
    # the device's answer arrives late: the chart stays the plant's
    held = []
    page.route("**/api/history?channel=1&address=2**", lambda route: held.append(route))
    page.select_option("#e-dev", "1/2")
    expect(page.locator("#e-pt option:checked")).to_have_text("Battery voltage (V)")
    page.select_option("#e-dev", "plant")
    expect(line).to_have_attribute("d", plant_line)
    for route in held:
        route.continue_()
    page.unroute("**/api/history?channel=1&address=2**")
    page.wait_for_timeout(500)
    expect(line).to_have_attribute("d", plant_line)
    assert held, "the device's request was not held"
    page.select_option("#e-dev", "1/2")  # and one device's value over the day
    expect(page.locator("#e-pt option:checked")).to_have_text("Battery voltage (V)")
    expect(line).not_to_have_attribute("d", plant_line)
    assert "channel=1&address=2&point=battery_voltage" in page.locator("#e-day-csv").get_attribute("href")
    today_line = line.get_attribute("d")
    page.click("#e-prev")  # yesterday, seeded whole: a point every 5 minutes of the day
    expect(page.locator("#e-day")).to_have_value(time.strftime("%Y-%m-%d", time.localtime(time.time() - 86400)))
    expect(line).not_to_have_attribute("d", today_line)
    d = line.get_attribute("d")
    assert d.count("L") + d.count("M") >= 270, d[:200]  # 276 on a 23-hour day
    page.close()


def test_an_offline_device_is_marked_stale_and_logged(env):
    sim, br = env
    expect = br.sync_api.expect
    cookie = _session(sim)
    with open(os.path.join(str(sim.run_dir), "plant-silent"), "w") as f:
        f.write("21\n")
    try:
        for w, h in SIZES:
            page = br.page(w, h, cookie)
            page.goto(sim.url("/#devices"))
            card = page.locator("#cards .card[data-address='21']")
            expect(card.locator(".state")).to_contain_text("Offline", timeout=40000)
            expect(card).to_have_class(re.compile(r"\bstale\b"))
            expect(card.locator(".age")).to_contain_text("Not live: last read")
            assert card.locator("dd:not(.stale)").count() == 0  # no value of it shown as live
            shot(page, "devices-offline")
            page.goto(sim.url("/#dashboard"))
            expect(page.locator("#attention li", has_text="CHINT DTSU666 Meter, RS485-3 address 21")).to_contain_text(
                "Offline: No answer since", timeout=10000)
            expect(page.locator("#dev-sum")).to_contain_text("1 offline")
            # red: offline (or fault, which goes first: the sim's inverters fault 20 s every 2 minutes)
            expect(page.locator("#dev-sum")).to_have_class(re.compile(r"\b(offline|fault)\b"))
            page.goto(sim.url("/#log"))
            first = page.locator("#events tr", has_text="RS485-3 address 21").first
            expect(first).to_contain_text("Went offline", timeout=10000)
            no_sideways_scroll(page)
            shot(page, "log")
            page.close()
    finally:
        os.remove(os.path.join(str(sim.run_dir), "plant-silent"))


def test_a_tap_on_a_card_held_across_a_refresh_opens_the_device(env):
    """The cards are refreshed every 3 s: a finger down before a refresh and up after it still
    opens the device (the card is kept and filled anew, not replaced)."""
    sim, br = env
    expect = br.sync_api.expect
    page = br.page(390, 844, _session(sim))
    page.goto(sim.url("/#devices"))
    card = page.locator("#cards .card[data-address='2']")
    expect(card.locator(".age")).to_contain_text("Read", timeout=10000)
    box = card.locator("h2").bounding_box()
    page.mouse.move(box["x"] + 10, box["y"] + 5)
    page.mouse.down()
    age = card.locator(".age").inner_text()
    expect(card.locator(".age")).not_to_have_text(age, timeout=8000)  # a refresh came meanwhile
    page.mouse.up()
    expect(page.locator("#d-name")).to_have_text("ATESS Inverter HPS, RS485-1 address 2")
    page.close()


def test_the_loggers_utc_times_show_in_the_browsers_time_zone(env):
    """The logger's clock is UTC ("No answer since 05:55 UTC"); every time on the page is local."""
    sim, br = env
    ctx = br.browser.new_context(timezone_id="Asia/Kolkata")  # UTC+5:30, no daylight saving
    page = ctx.new_page()
    page.goto(sim.url("/"))
    page.wait_for_function("typeof localTimes === 'function'")
    assert page.evaluate("localTimes('No answer since 05:55 UTC (timeout)')") == "No answer since 11:25 (timeout)"
    assert page.evaluate("localTimes('Never answered (timeout)')") == "Never answered (timeout)"
    ctx.close()


def test_the_logs_filter_is_not_undone_by_an_earlier_refresh(env):
    """A refresh of everything asked before the filter changed, answered after the filtered page:
    the table stays filtered (the latest request wins)."""
    sim, br = env
    expect = br.sync_api.expect
    page = br.page(390, 844, _session(sim))
    page.goto(sim.url("/#log"))
    expect(page.locator("#events tr").first).to_be_visible(timeout=10000)
    held = []
    page.route(re.compile(r".*/api/events\?n=50$"), lambda route: held.append(route))
    page.evaluate("() => { V.log.more(true); }")  # a refresh of everything, held back (not awaited)
    page.select_option("#ev-level", "warning,fault")
    others = page.locator("#events tr:not(.fault):not(.warning)")
    expect(others).to_have_count(0, timeout=10000)  # the filtered page is shown (rows or "none logged")
    assert held, "the refresh was not held"
    for route in held:
        route.continue_()
    page.wait_for_timeout(500)
    expect(others).to_have_count(0)
    page.close()


def test_the_log_pages_back_with_older(env):
    sim, br = env
    expect = br.sync_api.expect
    cookie = _session(sim)
    for i in range(50):  # 50 settings saved: 50 events more than the first page holds
        assert sim.req("PUT", "/api/settings/writes", {"min_interval_s": 60 + i}, cookie=cookie)[0] == 200
    page = br.page(390, 844, cookie)
    page.goto(sim.url("/#log"))
    rows = page.locator("#events tr")
    expect(rows).to_have_count(50, timeout=10000)
    assert "Settings changed from the web page: device settings interval" in page.inner_text("#events")
    page.click("#older")
    expect(rows).not_to_have_count(50, timeout=10000)
    assert "Logger started" in page.inner_text("#events")  # the oldest, at the end
    times = [t for t in rows.locator("td.t").all_inner_texts()]
    assert times == sorted(times, reverse=True), times  # newest first throughout
    page.close()


def test_a_401_on_a_logged_in_view_means_the_session_ended(env):
    sim, br = env
    expect = br.sync_api.expect
    page = br.page(390, 844, _session(sim))
    page.goto(sim.url("/#devices"))
    expect(page.locator("#cards .card")).to_have_count(6, timeout=10000)
    page.evaluate("() => fetch('/api/logout', {method: 'POST'})")  # the session ends under the page
    expect(page.locator("#login .fok")).to_have_text("Your session ended: log in again.", timeout=8000)
    page.close()


def test_an_answer_cut_short_says_the_logger_is_gone_without_a_script_error(env):
    """A restart can cut an answer short: a 200 whose JSON ends mid-way (CI caught the dashboard
    reading a field of it). Chromium gets such an answer from the route, as a logger dying
    mid-answer would send it; the page says the logger does not answer."""
    sim, br = env
    expect = br.sync_api.expect
    errors = len(br.errors)
    page = br.page(390, 844, _session(sim))
    page.route("**/api/status", lambda route: route.fulfill(
        status=200, content_type="application/json", body='{"uplink": {"serv'))
    page.goto(sim.url("/#dashboard"))
    expect(page.locator("#msg")).to_have_text("The logger does not answer: check its network connection.",
                                              timeout=10000)
    assert br.errors[errors:] == []
    page.close()


def test_the_server_is_never_shown_before_it_is_known(env):
    """Issue 19: "Server: none (uploads off)" showed until the settings loaded. Every text the
    dashboard's server line ever had is recorded from the first render on."""
    sim, br = env
    expect = br.sync_api.expect
    cookie = _session(sim)
    port = free_port()  # nothing listens there: the logger cannot connect
    assert sim.req("PUT", "/api/settings/server", {"host": "127.0.0.1", "port": port}, cookie=cookie)[0] == 200
    page = br.page(1280, 800, cookie)
    page.add_init_script("""window.seen = [];
        new MutationObserver(() => { const h = document.getElementById('health');
          if (h && h.children.length) window.seen.push(h.children[3].textContent); })
        .observe(document, {subtree: true, childList: true, characterData: true});""")
    t0 = time.monotonic()
    page.goto(sim.url("/"))
    server = page.locator("#health dd").nth(1)
    expect(server).to_contain_text("Disconnected (127.0.0.1:%d)" % port, timeout=10000)
    print("\ndashboard's first full render (unix-port logger, 6 devices): %.0f ms" % (1000 * (time.monotonic() - t0)))
    seen = page.evaluate("window.seen")
    assert seen and all(s.startswith("Disconnected (127.0.0.1:") for s in seen), seen
    assert "err" in server.get_attribute("class")
    # manual 6.2: the System status says disconnected, and why, in words
    expect(page.locator("#health dd").nth(0)).to_have_text(
        "Disconnected: connection refused: is the server running on that port?", timeout=10000)
    page.close()


def test_a_fault_is_shown_in_words_and_logged(env):
    """run/plant-fault puts the sim's HPS (RS485-1 address 2) in fault: running state 3, fault word
    3 bit 0 ("AC no utility")."""
    sim, br = env
    expect = br.sync_api.expect
    cookie = _session(sim)
    # the sim's own schedule faults it 20 s every 2 minutes: wait until the logger has read it
    # running, so that the fault begins under its eyes (a fault it found at its first read is no event)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        hps = [d for d in sim.req("GET", "/api/devices", cookie=cookie)[2]["devices"] if d["address"] == 2][0]
        if hps["online"] and hps["state"]["kind"] == "running":
            break
        time.sleep(0.5)
    control = os.path.join(str(sim.run_dir), "plant-fault")
    with open(control, "w") as f:
        f.write("2\n")
    try:
        page = br.page(390, 844, cookie)
        page.goto(sim.url("/#devices"))
        card = page.locator("#cards .card[data-address='2']")
        expect(card.locator(".state")).to_have_text("Fault", timeout=20000)
        expect(card.locator(".state")).to_have_class(re.compile(r"\bfault\b"))
        expect(card.locator("p.err")).to_have_text("AC no utility fault")
        shot(page, "devices-fault")
        page.goto(sim.url("/#dashboard"))
        expect(page.locator("#attention li", has_text="ATESS Inverter HPS, RS485-1 address 2")).to_have_text(
            "ATESS Inverter HPS, RS485-1 address 2: Fault: AC no utility fault", timeout=10000)
        shot(page, "dashboard-fault")
        page.locator("#attention a[href='#device/1/2']").click()
        expect(page.locator("#d-name")).to_have_text("ATESS Inverter HPS, RS485-1 address 2")
        page.goto(sim.url("/#log"))
        # the manual's fault history alone: the fault may have begun on the sim's schedule before
        # the control file, 50 events back among the other tests' settings changes
        page.select_option("#ev-level", "warning,fault")
        expect(page.locator("#events tr.fault", has_text="RS485-1 address 2").filter(
            has_text="Fault: AC no utility fault").first).to_be_visible(timeout=10000)
        expect(page.locator("#events tr").first).to_have_class(re.compile(r"\b(fault|warning)\b"), timeout=10000)
        expect(page.locator("#events tr:not(.fault):not(.warning)")).to_have_count(0)
        shot(page, "log-faults")
        page.close()
    finally:
        os.remove(control)


def test_restart_back_to_the_login(env):
    """The sim starts the firmware again when it resets, as a board reboots; the plant runs on.
    After the fault test: a fault that began while the firmware was down is no change it saw."""
    sim, br = env
    expect = br.sync_api.expect
    page, dialogs = _clicked_in_settings(env, (390, 844), "#restart", "Restarting, wait...")
    expect(page.locator("#wait-bar")).to_be_visible()
    no_sideways_scroll(page)
    shot(page, "restarting")
    note = page.locator("#login .fok")
    expect(note).to_have_text("The logger restarted. Log in again.", timeout=40000)
    in_viewport(note)
    shot(page, "login-after-restart")
    _log_in(page, NEW_PASSWORD)
    expect(page.locator("#tabs a.on")).to_have_text("Settings", timeout=10000)  # back where it was
    assert dialogs == ["Restart the datalogger?"], dialogs
    page.close()


def test_factory_reset_back_to_the_login_with_the_factory_password(env):
    """Last in the file: the reset clears the settings (the plant's devices too) and the data."""
    sim, br = env
    expect = br.sync_api.expect
    page, dialogs = _clicked_in_settings(env, (1280, 800), "#factory", "Factory reset: restarting, wait...")
    note = page.locator("#login .fok")
    expect(note).to_have_text("The logger was reset to the factory settings. Log in with the factory password "
                              "(admin / admin).", timeout=40000)
    assert dialogs[0].startswith("Restore the factory settings?"), dialogs
    shot(page, "login-after-factory-reset")
    _log_in(page, NEW_PASSWORD)  # the old password is gone
    expect(page.locator("#login .ferr")).to_have_text("Wrong user name or password")
    _log_in(page, "admin")
    page.locator("#newpw").wait_for(timeout=10000)
    page.close()


def _clicked_in_settings(env, size, button, title):
    """A logged-in Settings view at ``size`` with ``button`` clicked, its confirm accepted, and the
    wait screen showing ``title``: (page, the confirms' texts)."""
    sim, br = env
    dialogs = []
    page = br.page(size[0], size[1], _session(sim))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.goto(sim.url("/#settings"))
    br.sync_api.expect(page.locator("#upinfo")).to_contain_text("Running version", timeout=10000)
    page.click(button)
    br.sync_api.expect(page.locator("#wait-title")).to_have_text(title)
    return page, dialogs


def _log_in(page, password):
    page.fill("#login [name=user]", "admin")
    page.fill("#login [name=password]", password)
    page.click("#login button")


def first_login(page, new_password):
    """The factory login (admin / admin) on the page, then the new password it asks for."""
    _log_in(page, "admin")
    page.locator("#newpw").wait_for()
    page.fill("#newpw [name=old]", "admin")
    page.fill("#newpw [name=new]", new_password)
    page.click("#newpw button")


def _session(sim):
    """A session with the new password (set by the first test, or here when it ran alone)."""
    status, headers, _ = sim.req("POST", "/api/login", {"user": "admin", "password": NEW_PASSWORD})
    return headers["Set-Cookie"].split(";")[0].split("=", 1)[1] if status == 200 else _logged_in(sim)


__all__ = ["Browser", "CHROMIUM_ARGS", "SHOTS", "SIZES", "browser_on_sim", "first_login", "in_viewport",
           "no_sideways_scroll", "shot", "_logged_in"]
