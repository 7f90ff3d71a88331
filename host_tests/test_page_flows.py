"""Restart and factory reset from the page, in Chromium against the sim (which starts the firmware
again when it resets, as a board reboots): the page says "Restarting, wait...", waits for the
logger to go away and answer again, then shows the log-in saying what happened; after a factory
reset the factory password works again. (The upgrade's flow: test_upgrade.py, on a board built
with slots.) Screenshots: artifacts/page/."""

import pytest
from conftest import require_module, require_tool
from test_web_api import NEW_PASSWORD, Sim
from test_web_browser import Browser, in_viewport, no_sideways_scroll, shot


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    require_tool("chromium")
    require_module("playwright.sync_api")
    sim = Sim(tmp_path_factory.mktemp("flows"))
    br = Browser(sim)
    try:
        yield sim, br
    finally:
        br.close()
        out = sim.stop()
        assert "Traceback" not in out, out
        assert not br.errors, br.errors


def _log_in(page, expect, password):
    page.fill("#login [name=user]", "admin")
    page.fill("#login [name=password]", password)
    page.click("#login button")


def test_restart_then_factory_reset_back_to_the_login(env):
    sim, br = env
    expect = br.sync_api.expect
    cookie, _ = sim.login()
    assert sim.req("POST", "/api/password", {"old": "admin", "new": NEW_PASSWORD}, cookie=cookie)[0] == 200
    dialogs = []
    page = br.page(390, 844, cookie)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.goto(sim.url("/#settings"))
    expect(page.locator("#upinfo")).to_contain_text("Running version", timeout=10000)

    page.click("#restart")
    expect(page.locator("#wait-title")).to_have_text("Restarting, wait...")
    expect(page.locator("#wait-bar")).to_be_visible()
    no_sideways_scroll(page)
    shot(page, "restarting")
    note = page.locator("#login .fok")
    expect(note).to_have_text("The logger restarted. Log in again.", timeout=40000)
    in_viewport(note)
    shot(page, "login-after-restart")
    _log_in(page, expect, NEW_PASSWORD)
    expect(page.locator("#tabs a.on")).to_have_text("Settings", timeout=10000)  # back where it was

    page.set_viewport_size({"width": 1280, "height": 800})
    page.click("#factory")
    assert dialogs[0] == "Restart the datalogger?" and dialogs[1].startswith("Restore the factory settings?"), dialogs
    expect(page.locator("#wait-title")).to_have_text("Factory reset: restarting, wait...")
    expect(note).to_have_text("The logger was reset to the factory settings. Log in with the factory password "
                              "(admin / admin).", timeout=40000)
    shot(page, "login-after-factory-reset")
    _log_in(page, expect, NEW_PASSWORD)  # the old password is gone
    expect(page.locator("#login .ferr")).to_have_text("Wrong user name or password")
    _log_in(page, expect, "admin")
    page.locator("#newpw").wait_for(timeout=10000)
    page.close()
