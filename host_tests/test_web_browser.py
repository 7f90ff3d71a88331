"""The configuration page in Chromium (Playwright), against the real firmware under the unix port.

Screenshots go to artifacts/web/. Prints the page load time and /api/status latency (p50/p95 over
50 fetches from the page) measured with the sim's default plant (6 devices).
"""

import os

from conftest import ROOT, require_module, require_tool
from test_web_api import NEW_PASSWORD, Sim

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = os.path.join(ROOT, "artifacts", "web")


def _row(page, address):
    return page.locator("#devs tbody tr[data-address='%d']" % address)


def test_login_password_devices_baud_rate(tmp_path):
    exe = require_tool("chromium")
    sync_api = require_module("playwright.sync_api")
    expect = sync_api.expect
    os.makedirs(SHOTS, exist_ok=True)
    sim = Sim(tmp_path)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 412, "height": 915})  # a phone
            dialogs = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(sim.url("/"), wait_until="load")
            load_ms = page.evaluate("() => { const n = performance.getEntriesByType('navigation')[0];"
                                    " return n.loadEventEnd - n.startTime; }")
            page.locator("#login").wait_for()
            page.screenshot(path=os.path.join(SHOTS, "1-login.png"), full_page=True)

            # the factory login, then the forced new password
            page.fill("#login [name=user]", "admin")
            page.fill("#login [name=password]", "admin")
            page.click("#login button")
            page.locator("#newpw").wait_for()
            assert page.locator("#app").is_hidden()
            page.screenshot(path=os.path.join(SHOTS, "2-new-password.png"), full_page=True)
            page.fill("#newpw [name=old]", "admin")
            page.fill("#newpw [name=new]", "short")  # the browser's minlength stops it
            page.click("#newpw button")
            assert page.locator("#newpw [name=new]").evaluate("e => e.validity.tooShort")
            assert page.locator("#app").is_hidden()
            page.fill("#newpw [name=new]", NEW_PASSWORD)
            page.click("#newpw button")
            page.locator("#app").wait_for()
            expect(page.locator("#devs tbody tr")).to_have_count(6, timeout=10000)
            _row(page, 11).locator("td.on").wait_for(timeout=20000)
            assert "Datalogger status" in page.content() and "System management" in page.content()
            dl = page.inner_text("#dl")
            assert "AB12345678" in dl, dl
            # the plant answers, no task failed: "Normal" (never "Abnormal: ...")
            assert "Normal" in dl and "Abnormal" not in dl, dl
            page.screenshot(path=os.path.join(SHOTS, "3-status.png"), full_page=True)

            # the status refreshes itself (polling, no reload)
            uptime = page.locator("#dl dd").nth(3).inner_text()
            expect(page.locator("#dl dd").nth(3)).not_to_have_text(uptime, timeout=8000)

            # delete the plant's BCU on RS485-2, add it back, see it online, then delete it again
            page.select_option("#dev [name=type]", "bcu_battery")
            page.select_option("#dev [name=channel]", "2")
            page.fill("#dev [name=address]", "11")
            page.click("#dev button[value=del]")
            expect(page.locator("#msg")).to_have_text("Device deleted")
            _row(page, 11).wait_for(state="detached", timeout=8000)
            page.click("#dev button[value=add]")
            expect(page.locator("#msg")).to_have_text("Device added")
            _row(page, 11).locator("td.on").wait_for(timeout=20000)
            page.screenshot(path=os.path.join(SHOTS, "4-device-added.png"), full_page=True)

            # a refused add shows the rule
            page.select_option("#dev [name=channel]", "3")
            page.click("#dev button[value=add]")
            expect(page.locator("#msg")).to_contain_text("already used")

            # baud rate of RS485-3
            page.select_option("#serial [name=rs485_3]", "19200")
            page.click("#serial button")
            expect(page.locator("#msg")).to_have_text("Baud rates saved")
            serial = page.evaluate("() => fetch('/api/settings/serial').then(r => r.json())")
            assert serial["rs485_3"]["baud"] == 19200 and serial["rs485_1"]["baud"] == 9600

            page.select_option("#dev [name=channel]", "2")
            page.click("#dev button[value=del]")
            expect(page.locator("#msg")).to_have_text("Device deleted")
            _row(page, 11).wait_for(state="detached", timeout=8000)
            devices = page.evaluate("() => fetch('/api/devices').then(r => r.json())")["devices"]
            assert 11 not in [d["address"] for d in devices] and len(devices) == 5

            # restart behind a confirm(): dismissed, nothing happens
            page.click("#restart")
            assert dialogs == ["Restart the datalogger?"]
            page.screenshot(path=os.path.join(SHOTS, "5-after-changes.png"), full_page=True)

            times = page.evaluate("""async () => { const t = [];
                for (let i = 0; i < 50; i++) { const a = performance.now();
                  const r = await fetch('/api/status'); await r.json(); t.push(performance.now() - a); }
                return t; }""")
            times.sort()
            p50, p95 = times[len(times) // 2], times[int(len(times) * 0.95) - 1]
            weight = sum(os.path.getsize(os.path.join(ROOT, "firmware", "www", n))
                         for n in ("index.html", "app.js", "style.css"))
            print("\npage weight %d bytes; page load in Chromium %.0f ms; GET /api/status over 50 fetches "
                  "(default plant, 6 devices): p50 %.1f ms, p95 %.1f ms" % (weight, load_ms, p50, p95))

            # the Modbus TCP gateway: a refused allow-list shows the rule, a good one is saved
            page.check("#gw [name=enabled]")
            page.fill("#gw [name=clients]", "300.1.1.1")
            page.click("#gw button")
            expect(page.locator("#msg")).to_contain_text("IPv4 addresses or subnets")
            page.fill("#gw [name=clients]", "127.0.0.0/8")
            page.fill("#gw [name=port]", "15020")
            page.click("#gw button")
            expect(page.locator("#msg")).to_have_text("Gateway settings saved")
            gw = page.evaluate("() => fetch('/api/settings/gateway').then(r => r.json())")
            assert gw["enabled"] is True and gw["port"] == 15020 and gw["clients"] == "127.0.0.0/8", gw
            page.locator("#gw").screenshot(path=os.path.join(SHOTS, "6-gateway.png"))

            # logging out returns to the login form
            page.click("#logout")
            page.locator("#login").wait_for()
            browser.close()
    finally:
        sim.stop()
