"""Setting a slave device from the page (manual 2.3) in Chromium (Playwright), against the real
firmware under the unix port and the sim's plant: the device's writable settings with their values
and units, a refused value in words next to its field, a written one with the value read back;
what the slave took is read from its own record (run/plant-writes.jsonl)."""

import json
import os

from conftest import ROOT, require_module, require_tool
from test_web_api import NEW_PASSWORD, Sim
from test_web_browser import CHROMIUM_ARGS

SHOTS = os.path.join(ROOT, "artifacts", "web")


def test_a_devices_settings_shown_refused_and_written_on_the_page(tmp_path):
    exe = require_tool("chromium")
    sync_api = require_module("playwright.sync_api")
    expect = sync_api.expect
    os.makedirs(SHOTS, exist_ok=True)
    sim = Sim(tmp_path)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1000, "height": 1200})
            page.goto(sim.url("/"), wait_until="load")
            page.fill("#login [name=user]", "admin")
            page.fill("#login [name=password]", "admin")
            page.click("#login button")
            page.fill("#newpw [name=old]", "admin")
            page.fill("#newpw [name=new]", NEW_PASSWORD)
            page.click("#newpw button")
            row = page.locator("#devs tbody tr[data-address='2']")
            expect(row).to_contain_text("(HPS)", timeout=30000)  # online, its model read
            page.click("#devsetbtn")  # loads the section's script
            page.select_option("#devsel", "1/2")
            soc = page.locator("#devset-table tr[data-point='discharge_cutoff_soc']")
            expect(soc).to_contain_text("0 %", timeout=10000)  # the value now, read from the device
            expect(soc).to_contain_text("0 to 100 %")
            expect(page.locator("#devset-title")).to_contain_text("atess_inverter (HPS), RS485-1 address 2")
            expect(page.locator("#devset-table tr[data-point='on_off']")).to_contain_text("not written")

            soc.locator("input").fill("150")
            soc.locator("button").click()
            refusal = "Refused: value: discharge_cutoff_soc 150 is outside 0-100 %"
            expect(soc.locator(".result")).to_contain_text(refusal)
            soc.locator("input").fill("15")
            soc.locator("button").click()
            expect(soc.locator(".result")).to_have_text("Written; read back from the device: 15 %")
            expect(soc.locator("td.now")).to_have_text("15 %")
            with open(os.path.join(str(tmp_path), "plant-writes.jsonl")) as f:
                assert [json.loads(x) for x in f] == [{"channel": 1, "address": 2, "register": 47, "values": [15]}]
            log = page.locator("#writes tbody tr")
            expect(log.first).to_contain_text("written")
            expect(log.first).to_contain_text("page admin")
            expect(log.nth(1)).to_contain_text("range")
            page.screenshot(path=os.path.join(SHOTS, "writes-settings.png"), full_page=True)
            browser.close()
    finally:
        out = sim.stop()
    assert "Traceback" not in out, out
