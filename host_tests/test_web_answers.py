"""Every answer is valid UTF-8 JSON, whatever bytes came in (issue 21's two faults, found by an abuse
run and by schemathesis): the firmware under the unix port with the sim's plant."""

import http.client
import json
import os

import pytest
from test_web_api import Sim, _logged_in


@pytest.fixture
def sim(tmp_path):
    s = Sim(tmp_path)
    yield s
    s.stop()


def _raw(sim, method, path, body, cookie, headers=None):
    """(status, answer bytes) of one request with a raw body, same origin, logged in."""
    h = {"Host": "127.0.0.1:%d" % sim.port, "Content-Type": "application/json",
         "Origin": "http://127.0.0.1:%d" % sim.port, "Sec-Fetch-Site": "same-origin"}
    if cookie:
        h["Cookie"] = "session=" + cookie
    h.update(headers or {})
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=20)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in h.items():
            conn.putheader(k, v)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def _reply(raw):
    """The answer parsed, after a strict UTF-8 decode (which fails on an echoed lone surrogate)."""
    return json.loads(raw.decode("utf-8", "strict"))


def test_a_bundle_that_is_not_text_is_refused_400(sim):
    cookie = _logged_in(sim)
    for body in (b"\xff\xfe" + os.urandom(200), b"\xff\xfe", b"ENERLOG-BUNDLE 1 \xff\xfe\n" + b"x" * 50):
        status, raw = _raw(sim, "POST", "/api/upgrade", body, cookie, {"Content-Type": "application/octet-stream"})
        reply = _reply(raw)
        assert status == 400, (body[:20], status, raw)
        assert reply["field"] == "bundle" and "not an EnerLog bundle" in reply["error"], reply
    status, _, st = sim.req("GET", "/api/status", cookie=cookie)
    assert status == 200 and st["upgrade"]["receiving"] is False, st["upgrade"]
    assert not st["problems"], st["problems"]  # no task failed on the way


SURROGATE_BODIES = [
    ("POST", "/api/devices", b'{"type": "bcu_battery", "channel": 2, "address": 30, "\\ud800x": 1}', "\\ud800x"),
    ("DELETE", "/api/devices", b'{"\\udfff": 1, "type": "bcu_battery", "channel": 2, "address": 11}', "\\udfff"),
    ("PUT", "/api/settings/network", b'{"\\udc80\\udc81": true}', "network.\\udc80\\udc81"),
    ("PUT", "/api/settings/serial", b'{"rs485_1": {"\\ud83d\\ude00": 9600}}', "rs485_1."),
    ("PUT", "/api/settings/serial", b'{"rs485_\\ud800": {"baud": 9600}}', "rs485_\\ud800"),
    ("POST", "/api/devices", b'{"type": "\\ud800", "channel": 2, "address": 30}', "type"),
    ("PUT", "/api/settings/server", b'{"host": "a\\udbff.example"}', "server.host"),
]


def test_an_unknown_key_in_surrogate_escapes_is_echoed_as_valid_utf8(sim):
    cookie = _logged_in(sim)
    before = sim.settings_bytes()
    for method, path, body, field in SURROGATE_BODIES:
        status, raw = _raw(sim, method, path, body, cookie)
        reply = _reply(raw)  # strict UTF-8: ED A0 80 (an echoed surrogate) would fail here
        assert status == 400, (path, body, status, raw)
        assert reply["field"].startswith(field), (path, body, reply)
        assert isinstance(reply["error"], str) and reply["error"], reply
        assert sim.settings_bytes() == before, (path, body)
    # raw surrogate bytes in a header (MicroPython decodes them) are not echoed raw either
    status, raw = _raw(sim, "PUT", "/api/settings/network", b"{}", cookie,
                       {"Origin": b"http://\xed\xa0\x80.example", "Sec-Fetch-Site": "same-origin"})
    assert status == 403 and "\\ud800" in _reply(raw)["error"], raw
    # the logger still answers and nothing was stored
    status, _, devices = sim.req("GET", "/api/devices", cookie=cookie)
    assert status == 200 and len(devices["devices"]) == 6
    assert sim.settings_bytes() == before
