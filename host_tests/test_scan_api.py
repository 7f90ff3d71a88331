"""/api/scan against the real firmware under the unix port with the sim's plant (pymodbus): the
page's Scan button. The sim's plant: inverters at 1, 2, 3 on RS485-1 (configured), batteries at
11, 12 on RS485-2, a meter at 21 on RS485-3."""

import time

import pytest
from test_web_api import Sim, _logged_in


@pytest.fixture
def sim(tmp_path):
    s = Sim(tmp_path)
    yield s
    s.stop()


def _wait(sim, cookie, channel, limit_s=60):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        status, _, scan = sim.req("GET", "/api/scan?channel=%d" % channel, cookie=cookie)
        assert status == 200, scan
        if scan["state"] != "running":
            return scan
        time.sleep(0.2)
    raise AssertionError("scan of RS485-%d still running after %d s" % (channel, limit_s))


def test_scan_reports_configured_and_unconfigured_and_bad_input_is_refused(sim):
    assert sim.req("POST", "/api/scan", {"channel": 1})[0] == 401
    assert sim.req("GET", "/api/scan")[0] == 401
    cookie = _logged_in(sim)
    before = sim.settings_bytes()
    status, _, reply = sim.req("POST", "/api/scan", {"channel": 1}, cookie=cookie,
                               headers={"Origin": "http://evil.example"})
    assert status == 403 and reply["field"] == "origin"
    assert sim.req("GET", "/api/scan", cookie=cookie)[2] == {"channel": None, "state": "idle", "progress": 0,
                                                             "found": []}
    for body, field in [({"channel": 4}, "channel"), ({"channel": 0}, "channel"), ({"channel": "1"}, "channel"),
                        ({}, "channel"), ({"channel": 1, "first": 0}, "first"), ({"channel": 1, "last": 248}, "last"),
                        ({"channel": 1, "first": 9, "last": 8}, "first"), ({"channel": 1, "speed": 2}, "speed"),
                        ({"channel": True}, "channel")]:
        status, _, reply = sim.req("POST", "/api/scan", body, cookie=cookie)
        assert status == 400 and reply["field"] == field and reply["error"], (body, reply)
    assert sim.req("GET", "/api/scan?channel=4", cookie=cookie)[0] == 400

    t0 = time.monotonic()  # configured addresses are reported as the poller knows them: once identified
    while time.monotonic() - t0 < 20 and not all(d["online"] for d in sim.req("GET", "/api/devices", cookie=cookie)[2]
                                                 ["devices"] if d["channel"] == 1):
        time.sleep(0.2)
    status, _, scan = sim.req("POST", "/api/scan", {"channel": 1, "first": 1, "last": 12}, cookie=cookie)
    assert status == 202 and scan["state"] == "running" and scan["channel"] == 1, scan
    status, _, reply = sim.req("POST", "/api/scan", {"channel": 1}, cookie=cookie)
    assert status == 409 and reply["field"] == "channel" and "already" in reply["error"], reply
    # the other channels may be scanned at the same time
    status, _, scan2 = sim.req("POST", "/api/scan", {"channel": 2, "first": 10, "last": 13}, cookie=cookie)
    assert status == 202, scan2
    done = _wait(sim, cookie, 1)
    assert done["state"] == "done" and done["progress"] == 1, done
    found = {f["address"]: f for f in done["found"]}
    assert sorted(found) == [1, 2, 3], done  # nothing false at 4-12
    assert all(f["configured"] and f["type"] == "atess_inverter" for f in found.values()), done
    assert found[1]["model"] == "PCS" and found[2]["model"] == "HPS", done
    done2 = _wait(sim, cookie, 2)
    found2 = {f["address"]: f for f in done2["found"]}
    assert sorted(found2) == [11, 12] and all(f["configured"] for f in found2.values()), done2
    assert sim.settings_bytes() == before  # a scan stores nothing

    # stopped on request
    assert sim.req("POST", "/api/scan", {"channel": 3}, cookie=cookie)[0] == 202
    status, _, stopped = sim.req("DELETE", "/api/scan?channel=3", cookie=cookie)
    assert status == 200 and stopped["state"] == "stopped" and stopped["progress"] < 0.5, stopped
    assert _wait(sim, cookie, 3, 5)["state"] == "stopped"
    # the line's baud rate changes under a scan: it stops, saying why
    assert sim.req("POST", "/api/scan", {"channel": 3}, cookie=cookie)[0] == 202
    assert sim.req("PUT", "/api/settings/serial", {"rs485_3": {"baud": 19200}}, cookie=cookie)[0] == 200
    scan = _wait(sim, cookie, 3, 10)
    assert scan["state"] == "stopped" and "line settings" in scan["reason"], scan
    status, _, latest = sim.req("GET", "/api/scan", cookie=cookie)
    assert latest["channel"] == 3
