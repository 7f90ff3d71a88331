"""A fall back to the factory defaults (settings.json and settings.bak both damaged) is said on the
login screen, in /api/status problems and in the log until the user acknowledges it; the real
firmware under the unix port with the sim's plant."""

import os

import pytest
from conftest import require_tool
from test_web_api import NEW_PASSWORD, Sim
from test_web_browser import CHROMIUM_ARGS

from firmware.settings import DEFAULTS_RESTORED


def _damaged(tmp_path):
    """A sim whose settings.json and settings.bak are both unreadable."""
    flash = tmp_path / "flash"
    flash.mkdir()
    for name in ("settings.json", "settings.bak"):
        (flash / name).write_bytes(b"\x00 damaged by the test")
    return flash, Sim(tmp_path)


def test_the_fall_back_to_the_defaults_is_said_until_acknowledged(tmp_path):
    flash, sim = _damaged(tmp_path)
    try:
        status, _, reply = sim.req("GET", "/api/notice")  # the login screen asks before any login
        assert status == 200 and reply == {"notice": DEFAULTS_RESTORED}, reply
        cookie, body = sim.login()
        assert body["must_change"] is True  # the defaults' admin/admin
        status, _, reply = sim.req("POST", "/api/password", {"old": "admin", "new": NEW_PASSWORD}, cookie=cookie)
        assert status == 200, reply
        assert sim.req("GET", "/api/notice")[2] == {"notice": DEFAULTS_RESTORED}  # a save does not hide it
        status, _, st = sim.req("GET", "/api/status", cookie=cookie)
        assert status == 200 and DEFAULTS_RESTORED in st["problems"], st["problems"]
        assert st["settings"] == "ok"  # saved since: the file is good again, the notice is not gone
        log = [e["message"] for e in sim.req("GET", "/api/log", cookie=cookie)[2]["entries"]]
        assert any(DEFAULTS_RESTORED + " until acknowledged" in m for m in log), log

        url = "/api/settings/acknowledge-defaults"
        status, _, reply = sim.req("POST", url, {}, cookie=cookie)
        assert status == 400 and reply["field"] == "confirm", reply
        status, _, reply = sim.req("POST", url, {"confirm": True}, cookie=cookie)
        assert status == 200 and reply == {"ok": True}, reply
        assert sim.req("GET", "/api/notice")[2] == {"notice": None}
        assert DEFAULTS_RESTORED not in sim.req("GET", "/api/status", cookie=cookie)[2]["problems"]
        status, _, reply = sim.req("POST", url, {"confirm": True}, cookie=cookie)
        assert status == 409 and reply["field"] == "confirm", reply
        assert b"defaults_restored" in sim.settings_bytes() and os.path.exists(flash / "settings.json")
    finally:
        out = sim.stop()
    assert "the fall back to the factory defaults was acknowledged" in out, out[-2000:]


def test_the_page_says_it_on_the_login_screen_and_takes_the_acknowledgement(tmp_path):
    exe = require_tool("chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    _, sim = _damaged(tmp_path)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(sim.url("/"), wait_until="load")
            page.locator("#login").wait_for()
            expect(page.locator("#notice")).to_have_text(DEFAULTS_RESTORED + " I have seen this", timeout=5000)
            assert page.locator("#ack").is_hidden()  # nobody logged in yet
            page.fill("#login [name=user]", "admin")
            page.fill("#login [name=password]", "admin")
            page.click("#login button")
            page.locator("#newpw").wait_for()
            assert page.locator("#notice").is_visible()  # before the forced password change too
            page.fill("#newpw [name=old]", "admin")
            page.fill("#newpw [name=new]", NEW_PASSWORD)
            page.click("#newpw button")
            page.locator("#app").wait_for()
            # the dashboard's System status
            expect(page.locator("#health")).to_contain_text("Abnormal: " + DEFAULTS_RESTORED, timeout=5000)
            page.click("#ack")
            expect(page.locator("#notice")).to_be_hidden()
            expect(page.locator("#health")).not_to_contain_text(DEFAULTS_RESTORED, timeout=5000)
            expect(page.locator("#health")).to_contain_text("System statusNormal")
            browser.close()
    finally:
        sim.stop()
