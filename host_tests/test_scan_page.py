"""Settings' Scan button and Add per found device, in Chromium against the real firmware under
the unix port with the sim's plant (pymodbus)."""

from conftest import require_module
from test_web_browser import browser_on_sim, no_sideways_scroll, shot


def test_scan_button_adds_a_found_device(tmp_path):
    expect = require_module("playwright.sync_api").expect
    with browser_on_sim(tmp_path) as (sim, br, cookie):
        # the plant's BCU at 11 on RS485-2 is there but not configured: the scan finds it
        assert sim.req("DELETE", "/api/devices", {"type": "bcu_battery", "channel": 2, "address": 11},
                       cookie=cookie)[0] == 200
        page = br.page(1280, 800, cookie)
        page.goto(sim.url("/#settings"))
        page.click("#scan button[data-ch='2']")
        expect(page.locator("#scan2")).to_contain_text("scanning", timeout=5000)
        # Found devices show while the scan goes on (its end, ~30 s on, and that it finds nothing
        # false are test_scan_live's and test_scan_api's): 11 and 12 come within a few seconds.
        found = page.locator("#scan2 .found")
        expect(found).to_have_count(2, timeout=20000)
        assert "Address 11:" in found.nth(0).inner_text() and "Address 12:" in found.nth(1).inner_text()
        assert "scanning" in page.inner_text("#scan2 p")
        assert "bcu_battery" not in page.inner_text("#scan2")
        no_sideways_scroll(page)
        shot(page, "scan")
        found.nth(0).locator("button").click()
        expect(found.nth(0)).to_contain_text(" added", timeout=5000)
        page.goto(sim.url("/#devices"))
        expect(page.locator("#cards .card[data-address='11'] .age")).to_contain_text("Read", timeout=20000)
        # and Delete takes it off again, once the user confirms
        page.goto(sim.url("/#settings"))
        form = page.locator("#dev")
        form.locator("[name=type]").select_option("bcu_battery")
        form.locator("[name=channel]").select_option("2")
        form.locator("[name=address]").fill("11")
        asked = []
        page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
        form.locator("button[value=del]").click()
        expect(form.locator("button[value=del]")).to_be_enabled()
        assert asked == ["Delete the device at RS485-2 address 11? The logger stops reading it."], asked
        assert any(d["address"] == 11 for d in sim.req("GET", "/api/devices", cookie=cookie)[2]["devices"])
        page.once("dialog", lambda d: d.accept())
        form.locator("button[value=del]").click()
        expect(form.locator(".fok")).to_have_text("Device deleted")
        assert not any(d["address"] == 11 for d in sim.req("GET", "/api/devices", cookie=cookie)[2]["devices"])
        # or from the device's own page, which goes back to the cards saying so
        assert sim.req("POST", "/api/devices", {"type": "bcu_battery", "channel": 2, "address": 11},
                       cookie=cookie)[0] == 201
        page.goto(sim.url("/#device/2/11"))
        expect(page.locator("#d-name")).to_have_text("BCU Battery, RS485-2 address 11", timeout=10000)
        page.once("dialog", lambda d: d.accept())
        page.click("#d-del button")
        expect(page.locator("#msg")).to_have_text("BCU Battery, RS485-2 address 11 deleted.")
        assert page.url.endswith("#devices")
        expect(page.locator("#cards .card")).to_have_count(5, timeout=10000)
        expect(page.locator("#cards .card[data-address='11']")).to_have_count(0)
        # a link to it now (a bookmark, a stale dashboard line): no Delete for the device seen before
        page.goto(sim.url("/#device/1/2"))
        expect(page.locator("#d-del button")).to_be_visible(timeout=10000)
        page.goto(sim.url("/#device/2/11"))
        expect(page.locator("#d-name")).not_to_have_text("", timeout=10000)
        expect(page.locator("#d-del button")).to_be_hidden()
        assert "HPS" not in page.inner_text("#v-device"), page.inner_text("#v-device")
