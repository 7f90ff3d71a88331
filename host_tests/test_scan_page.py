"""The page's Scan button, Add per found device, and the marks of an offline device's values, in
Chromium against the real firmware under the unix port with the sim's plant (pymodbus)."""

import os

import pytest
from conftest import require_tool
from test_web_api import Sim, _logged_in
from test_web_browser import CHROMIUM_ARGS, SHOTS, _row


def test_scan_button_adds_a_found_device_and_offline_values_are_marked(tmp_path):
    exe = require_tool("chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    os.makedirs(SHOTS, exist_ok=True)
    sim = Sim(tmp_path)
    try:
        cookie = _logged_in(sim)
        # the plant's BCU at 11 on RS485-2 is there but not configured: the scan finds it
        assert sim.req("DELETE", "/api/devices", {"type": "bcu_battery", "channel": 2, "address": 11},
                       cookie=cookie)[0] == 200
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
            ctx = browser.new_context(viewport={"width": 1024, "height": 900})
            ctx.add_cookies([{"name": "session", "value": cookie, "url": sim.url("/")}])
            page = ctx.new_page()
            page.goto(sim.url("/"), wait_until="load")
            page.locator("#app").wait_for()
            _row(page, 12).locator("td.on").wait_for(timeout=20000)
            page.click("#scanbtn2")
            expect(page.locator("#scan2")).to_contain_text("running", timeout=5000)
            expect(page.locator("#scan2 p")).to_contain_text("done, 100 %", timeout=60000)
            found = page.inner_text("#scan2")
            assert "Address 11: bcu_battery" in found and "Address 12: mbms_battery" in found, found
            assert found.count("Address") == 2, found  # nothing false
            page.screenshot(path=os.path.join(SHOTS, "6-scan.png"), full_page=True)
            page.locator("#scan2 div", has_text="Address 11").locator("button").click()
            expect(page.locator("#msg")).to_have_text("Device added")
            _row(page, 11).locator("td.on").wait_for(timeout=20000)

            # the meter at 21 goes quiet: offline after 3 failed polls, its last values marked
            with open(os.path.join(str(tmp_path), "plant-silent"), "w") as f:
                f.write("21\n")
            row = _row(page, 21)
            expect(row.locator("td.off")).to_contain_text("next try in", timeout=40000)
            expect(row.locator("td.offline")).to_contain_text("[offline, read", timeout=5000)
            page.screenshot(path=os.path.join(SHOTS, "7-offline-marked.png"), full_page=True)
            browser.close()
    finally:
        sim.stop()
