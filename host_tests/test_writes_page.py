"""Setting a slave device from its detail view (manual 2.3) in Chromium (Playwright), against the
real firmware under the unix port and the sim's plant: the device's writable settings with their
values, limits and units, a refused value in words beside its field, a written one with the value
read back; what the slave took is read from its own record (run/plant-writes.jsonl)."""

import json
import os

from conftest import require_module
from test_web_browser import browser_on_sim, in_viewport, no_sideways_scroll, shot


def test_a_devices_settings_shown_refused_and_written_in_its_detail_view(tmp_path):
    expect = require_module("playwright.sync_api").expect
    with browser_on_sim(tmp_path) as (sim, br, cookie):
        page = br.page(390, 844, cookie)
        page.goto(sim.url("/#devices"))
        card = page.locator("#cards .card[data-address='2']")
        expect(card.locator("h2")).to_contain_text("HPS", timeout=30000)  # online, its model read
        card.click()
        assert page.url.endswith("#device/1/2")
        soc = page.locator("#d-settings form[data-point='discharge_cutoff_soc']")
        expect(soc).to_contain_text("0 to 100 %, now 10 %", timeout=15000)  # read from the device
        assert page.locator("#d-settings form[data-point='on_off']").count() == 0  # not written: not offered
        soc.locator("input").fill("150")
        soc.locator("button").click()
        err = soc.locator("label + .ferr")  # beside the value's input
        expect(err).to_contain_text("is outside 0-100 %")
        in_viewport(err)
        soc.locator("input").fill("15")
        soc.locator("button").click()
        expect(soc.locator(".fok")).to_have_text("Written; read back from the device: 15 %")
        expect(soc.locator(".now")).to_have_text("15 %")
        with open(os.path.join(str(tmp_path), "plant-writes.jsonl")) as f:
            assert [json.loads(x) for x in f] == [{"channel": 1, "address": 2, "register": 47, "values": [15]}]
        log = page.locator("#d-writes tr")
        expect(log.first).to_contain_text("Written")
        expect(log.nth(1)).to_contain_text("Refused: ")
        assert "discharge_cutoff_soc" not in page.inner_text("#d-settings")
        no_sideways_scroll(page)
        shot(page, "device-settings")
