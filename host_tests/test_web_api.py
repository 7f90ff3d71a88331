"""The web API's security model, against the real firmware under the unix port with the sim's plant."""

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, firmware_app, free_port, http_json, require_tool

SERIAL, CHECK_CODE = "AB12345678", "Q7W3E"
NEW_PASSWORD = "n3w-Passw0rd"
SERVER_SECRET = "Srv-Secret-42"


class Sim:
    """``tools/sim/run.py`` in ``run_dir`` on a free port; every response body is kept in ``bodies``."""

    def __init__(self, run_dir, devices=0, args=()):
        require_tool("socat")
        require_tool("micropython")
        from firmware import identity

        self.run_dir = run_dir
        self.flash = os.path.join(str(run_dir), "flash")
        os.makedirs(self.flash, exist_ok=True)
        identity.provision(self.flash, SERIAL, CHECK_CODE)
        self.port = free_port()
        self.bodies = []
        args = [sys.executable, os.path.join(ROOT, "tools", "sim", "run.py"), "--run-dir", str(run_dir),
                "--http-port", str(self.port)] + (["--devices", str(devices)] if devices else []) + list(args)
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        http_json(self.url("/api/health"), timeout=20)  # the server answers (no login needed there)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def req(self, method, path, body=None, cookie=None, headers=None, raw=None):
        """(status, headers, parsed JSON or text) of one request."""
        h = {"Host": "127.0.0.1:%d" % self.port}
        if cookie:
            h["Cookie"] = "session=" + cookie
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            text = r.read().decode()
            self.bodies.append(text)
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = text
            return r.status, r.headers, parsed
        finally:
            conn.close()

    def login(self, user="admin", password="admin"):
        status, headers, body = self.req("POST", "/api/login", {"user": user, "password": password})
        assert status == 200, body
        return headers["Set-Cookie"].split(";")[0].split("=", 1)[1], body

    def settings_bytes(self):
        with open(os.path.join(self.flash, "settings.json"), "rb") as f:
            return f.read()

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=15)
        return out


@pytest.fixture
def sim(tmp_path):
    s = Sim(tmp_path)
    yield s
    s.stop()


READS = ["/api/status", "/api/devices", "/api/log"]
# The only routes open without a session, and the only ones a session that must first set a new
# password may use. Every other route the app registers must refuse both: a new route is checked
# by being registered, never by being added to a list here.
PUBLIC = {"/api/login", "/api/logout", "/api/health", "/api/notice"}  # notice: the login screen says why
MUST_CHANGE_OK = {"/api/password", "/api/logout", "/api/session"}
FORGED = "0" * 32 + "." + "0" * 64


def app_routes(run_dir, pty_pair):
    """(method, path) of every /api/ route the firmware's web app registers, read from microdot's
    ``url_map`` of the real app built on CPython with the PC board (``<name>`` parts filled in)."""
    app = firmware_app(run_dir, pty_pair)
    out = set()
    for methods, pattern, *_ in app.url_map:
        path = re.sub(r"<[^>]*>", "1", pattern.url_pattern)
        out.update((m, path) for m in methods if path.startswith("/api/"))
    assert ("POST", "/api/upgrade") in out and ("POST", "/api/restart") in out, out
    return sorted(out)


def test_every_route_needs_a_session_and_cookie_flags(sim, tmp_path, pty_pair):
    before = sim.settings_bytes()
    guarded = [r for r in app_routes(tmp_path / "routes", pty_pair) if r[1] not in PUBLIC]
    for method, path in guarded:
        for cookie in (None, FORGED):  # no session, and a forged cookie is none either
            status, _, reply = sim.req(method, path, {}, cookie=cookie)
            assert status == 401, (method, path, reply)
            assert reply == {"error": "log in first", "field": "session"}
    for path in READS:  # reading needs a session from any client, same-origin or not
        assert sim.req("GET", path, headers={"Sec-Fetch-Site": "same-origin"})[0] == 401, path
    status, _, reply = sim.req("GET", "/api/health")
    assert status == 200 and reply == {"ok": True}
    assert sim.settings_bytes() == before

    status, headers, body = sim.req("POST", "/api/login", {"user": "admin", "password": "admin"})
    assert status == 200 and body == {"user": "admin", "must_change": True}
    cookie = headers["Set-Cookie"]
    flags = [p.strip() for p in cookie.split(";")]
    assert "HttpOnly" in flags and "SameSite=Strict" in flags and "Path=/" in flags
    assert "Max-Age=1800" in flags
    assert len(flags[0].split("=", 1)[1]) == 32 + 1 + 64


def test_first_login_forces_a_new_password(sim, tmp_path, pty_pair):
    cookie, body = sim.login()
    assert body["must_change"] is True
    before = sim.settings_bytes()
    routes = app_routes(tmp_path / "routes", pty_pair)
    # upgrade, restart and factory reset among them: refused, and the firmware keeps running
    for method, path in [r for r in routes if r[1] not in PUBLIC | MUST_CHANGE_OK]:
        status, _, reply = sim.req(method, path, {"confirm": True}, cookie=cookie)
        assert status == 403 and reply["error"] == "set a new password first", (method, path, reply)
    assert sim.settings_bytes() == before
    assert sim.req("GET", "/api/session", cookie=cookie)[2] == {"user": "admin", "must_change": True}
    other, _ = sim.login()  # a second session with the factory password
    # a weak new password is refused, naming the field
    status, _, reply = sim.req("POST", "/api/password", {"old": "admin", "new": "short"}, cookie=cookie)
    assert status == 400 and reply["field"] == "new" and "8" in reply["error"]
    status, _, reply = sim.req("POST", "/api/password", {"old": "admin", "new": NEW_PASSWORD}, cookie=cookie)
    assert status == 200, reply
    assert sim.req("GET", "/api/status", cookie=cookie)[0] == 200
    assert sim.req("GET", "/api/session", cookie=other)[0] == 401  # the other session ended
    assert sim.req("POST", "/api/login", {"user": "admin", "password": "admin"})[0] == 401
    cookie2, body = sim.login(password=NEW_PASSWORD)
    assert body["must_change"] is False
    # logout ends the session
    status, headers, _ = sim.req("POST", "/api/logout", cookie=cookie2)
    assert status == 200 and "Max-Age=0" in headers["Set-Cookie"]
    assert sim.req("GET", "/api/devices", cookie=cookie2)[0] == 401


def _logged_in(sim):
    cookie, _ = sim.login()
    assert sim.req("POST", "/api/password", {"old": "admin", "new": NEW_PASSWORD}, cookie=cookie)[0] == 200
    return cookie


def test_cross_site_requests_are_refused(sim, tmp_path, pty_pair):
    changes = [r for r in app_routes(tmp_path / "routes", pty_pair) if r[0] in ("POST", "PUT", "DELETE")]
    cookie = _logged_in(sim)
    before = sim.settings_bytes()
    evil = [{"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"}, {"Origin": "null"},
            {"Origin": "http://127.0.0.1:%d" % (sim.port + 1)}]
    for method, path in changes:  # login and logout too: every change, whatever its body
        for h in evil:
            status, _, reply = sim.req(method, path, {"confirm": True}, cookie=cookie, headers=h)
            assert status == 403 and reply["field"] == "origin", (path, h, reply)
    assert sim.settings_bytes() == before
    assert sim.req("GET", "/api/session", cookie=cookie)[0] == 200  # logout was refused too
    # the same origin passes
    same = {"Origin": "http://127.0.0.1:%d" % sim.port, "Sec-Fetch-Site": "same-origin"}
    status, _, reply = sim.req("PUT", "/api/settings/serial", {"rs485_3": {"baud": 19200}}, cookie=cookie,
                               headers=same)
    assert status == 200 and reply["rs485_3"]["baud"] == 19200


def test_invalid_input_is_400_naming_the_field_and_stores_nothing(sim):
    cookie = _logged_in(sim)
    before = sim.settings_bytes()
    bad = [
        ("POST", "/api/devices", b"not json", "body"),
        ("POST", "/api/devices", b"[1, 2]", "body"),
        ("POST", "/api/devices", b"", "body"),
        ("POST", "/api/devices", b"\xff\xfe", "body"),
        ("POST", "/api/devices", {"type": "bcu_battery", "channel": "2", "address": 30}, "channel"),
        ("POST", "/api/devices", {"type": "bcu_battery", "channel": 2, "address": 30.5}, "address"),
        ("POST", "/api/devices", {"type": "bcu_battery", "channel": 2, "address": True}, "address"),
        ("POST", "/api/devices", {"type": "bcu_battery", "channel": 4, "address": 30}, "channel"),
        ("POST", "/api/devices", {"type": "bcu_battery", "channel": 2, "address": 0}, "address"),
        ("POST", "/api/devices", {"type": "bcu_battery", "channel": 2, "address": 248}, "address"),
        ("POST", "/api/devices", {"type": "no_such_map", "channel": 2, "address": 30}, "type"),
        ("POST", "/api/devices", {"type": 5, "channel": 2, "address": 30}, "type"),
        ("POST", "/api/devices", {"type": "bcu_battery", "channel": 2, "address": 30, "x": 1}, "x"),
        ("DELETE", "/api/devices", {"type": "mbms_battery", "channel": 2, "address": 11}, "address"),
        ("DELETE", "/api/devices", {"type": "bcu_battery", "channel": 2, "address": 99}, "address"),
        ("PUT", "/api/settings/serial", {"rs485_1": {"baud": 1234}}, "baud"),
        ("PUT", "/api/settings/serial", {"rs485_1": {"baud": 19200}, "rs485_2": {"parity": "X"}}, "parity"),
        ("PUT", "/api/settings/serial", {"rs485_9": {"baud": 9600}}, "rs485_9"),
        ("PUT", "/api/settings/serial", {"rs485_1": "fast"}, "rs485_1"),
        ("PUT", "/api/settings/network", {"ip": "300.1.1.1"}, "ip"),
        ("PUT", "/api/settings/network", {"dhcp": "yes"}, "dhcp"),
        ("PUT", "/api/settings/network", {"nope": 1}, "nope"),
        ("PUT", "/api/settings/network", b"[]", "body"),
        ("PUT", "/api/settings/server", {"port": "1883"}, "port"),
        ("PUT", "/api/settings/server", {"port": 70000}, "port"),
        ("PUT", "/api/settings/server", {"host": "bad host!"}, "host"),
        ("PUT", "/api/settings/clock", {"ntp_server": "bad host!"}, "ntp_server"),
        ("PUT", "/api/settings/clock", {"ntp": "x"}, "ntp"),
        ("POST", "/api/password", {"old": NEW_PASSWORD, "new": 12345678}, "new"),
        ("POST", "/api/password", {"old": "wrong-one", "new": "another-pass"}, "old"),
        ("POST", "/api/restart", {"confirm": "yes"}, "confirm"),
        ("POST", "/api/factory-reset", {}, "confirm"),
        ("POST", "/api/login", {"user": "admin"}, "password"),
        ("POST", "/api/login", b"{", "body"),
    ]
    for method, path, body, field in bad:
        if isinstance(body, bytes):
            status, _, reply = sim.req(method, path, raw=body, cookie=cookie,
                                       headers={"Content-Type": "application/json"})
        else:
            status, _, reply = sim.req(method, path, body, cookie=cookie)
        assert status == 400, (path, body, status, reply)
        assert isinstance(reply["error"], str) and reply["error"], reply
        assert field in reply["field"], (path, body, reply)
        assert sim.settings_bytes() == before, (path, body)
    # an occupied address (RS485-2 address 11 is the plant's BCU) is a conflict, never an overwrite
    status, _, reply = sim.req("POST", "/api/devices", {"type": "mbms_battery", "channel": 3, "address": 11},
                               cookie=cookie)
    assert status == 409 and reply["field"] == "address" and "already used" in reply["error"]
    # too large a body
    status, _, reply = sim.req("PUT", "/api/settings/server", raw=b"{" + b" " * 5000 + b"}", cookie=cookie,
                               headers={"Content-Type": "application/json"})
    assert status == 413 and reply["field"] == "body"
    assert sim.req("GET", "/api/nothing", cookie=cookie)[0] == 404
    assert sim.req("GET", "/api/log?n=33", cookie=cookie)[0] == 400  # the ring keeps 32
    assert sim.settings_bytes() == before


def test_changes_apply_and_secrets_never_leave(sim):
    cookie = _logged_in(sim)
    status, _, reply = sim.req("PUT", "/api/settings/server", {"host": "broker.example", "password": SERVER_SECRET},
                               cookie=cookie)
    assert status == 200 and reply["password_set"] is True and "password" not in reply
    reply = sim.req("GET", "/api/settings/server", cookie=cookie)[2]
    assert reply["host"] == "broker.example" and reply["password_set"] is True and "password" not in reply
    status, _, reply = sim.req("DELETE", "/api/devices", {"type": "bcu_battery", "channel": 2, "address": 11},
                               cookie=cookie)
    assert status == 200, reply
    status, _, reply = sim.req("POST", "/api/devices", {"type": "bcu_battery", "channel": 2, "address": 11},
                               cookie=cookie)
    assert status == 201, reply
    status, _, reply = sim.req("PUT", "/api/settings/serial", {"rs485_1": {"baud": 19200, "parity": "E"}},
                               cookie=cookie)
    assert status == 200 and reply["rs485_1"] == {"baud": 19200, "parity": "E", "stop": 1}
    status, _, reply = sim.req("PUT", "/api/settings/network", {"dhcp": False, "ip": "192.168.0.50"},
                               cookie=cookie)
    assert status == 200 and reply["dhcp"] is False and reply["ip"] == "192.168.0.50"
    status, _, reply = sim.req("PUT", "/api/settings/clock", {"ntp_server": "127.0.0.1"}, cookie=cookie)
    assert status == 200 and reply == {"ntp_server": "127.0.0.1"}, reply
    before = sim.req("GET", "/api/status", cookie=cookie)[2]["storage"]
    status, _, reply = sim.req("PUT", "/api/settings/history", {"share_percent": 90}, cookie=cookie)
    assert status == 400 and reply["field"] == "history.share_percent", reply
    status, _, reply = sim.req("PUT", "/api/settings/history", {"share_percent": 50}, cookie=cookie)
    assert status == 200 and reply == {"share_percent": 50}, reply
    after = sim.req("GET", "/api/status", cookie=cookie)[2]["storage"]
    assert before["history"]["percent"] == 40 and after["history"]["percent"] == 50  # from the factory: 40 %
    assert after["history"]["budget"] > before["history"]["budget"] > 0
    assert after["upload_queue"]["percent"] == before["upload_queue"]["percent"] - 10
    for path in ["/api/status", "/api/devices", "/api/log?n=32", "/api/meta", "/api/settings/serial",
                 "/api/settings/network", "/api/settings/server", "/api/session"]:
        assert sim.req("GET", path, cookie=cookie)[0] == 200, path
    for path in ["/", "/app.js", "/style.css"]:
        assert sim.req("GET", path)[0] == 200
    stored = json.loads(sim.settings_bytes().split(b"\n", 1)[1])
    record = stored["login"]["password"]
    assert stored["server"]["password"] == SERVER_SECRET  # stored, but never sent
    secrets = [CHECK_CODE, SERVER_SECRET, record] + record.split("$")[2:]
    everything = "\n".join(sim.bodies)
    assert SERIAL in everything  # the status does carry the serial number
    for secret in secrets:
        assert secret not in everything, secret


def test_an_unreachable_server_shows_disconnected_in_words(sim):
    """Manual 6.2: the status shows "disconnected" while the server cannot be reached, and why."""
    cookie = _logged_in(sim)
    st = sim.req("GET", "/api/status", cookie=cookie)[2]
    assert st["system_status"] == {"state": "normal", "text": "Normal"}, st["system_status"]
    port = free_port()  # nothing listens there
    assert sim.req("PUT", "/api/settings/server", {"host": "127.0.0.1", "port": port}, cookie=cookie)[0] == 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        st = sim.req("GET", "/api/status", cookie=cookie)[2]
        if "refused" in st["system_status"]["text"]:
            break
        # before the network is up (a DHCP lease on the PC board), it is said instead
        assert st["system_status"]["state"] == "disconnected" or st["uplink"]["failures"] == 0, st["system_status"]
        time.sleep(0.3)
    said = "connection refused: is the server running on that port?"
    assert st["system_status"] == {"state": "disconnected", "text": "Disconnected: " + said}, st["system_status"]
    assert st["uplink"]["last_error"] == said


def test_static_files_types_and_headers(sim):
    types = {"/": "text/html", "/index.html": "text/html", "/app.js": "text/javascript", "/style.css": "text/css"}
    for path, kind in types.items():
        status, headers, _ = sim.req("GET", path)
        assert status == 200 and headers["Content-Type"].startswith(kind), (path, headers)
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'self'" in headers["Content-Security-Policy"]
    for path in ["/settings.json", "/web.py", "/..%2Fsettings.py", "/www"]:
        assert sim.req("GET", path)[0] == 404, path
    import gzip

    from firmware.web import STATIC

    # every file served, counted: raw, and gzipped as make build writes them (issue 19's bar: 80 KB)
    files = [os.path.join(ROOT, "firmware", "www", n) for n in STATIC]
    assert sorted(STATIC) == sorted(n for n in os.listdir(os.path.join(ROOT, "firmware", "www"))), STATIC
    weight = sum(os.path.getsize(f) for f in files)
    packed = sum(len(gzip.compress(open(f, "rb").read(), compresslevel=9)) for f in files)
    print("page weight: %d bytes, %d gzipped (%s)" % (weight, packed, ", ".join(STATIC)))
    assert packed < 80000, (weight, packed)
    for name in STATIC:  # the source tree has no .gz: the plain file, whatever the browser takes
        status, headers, body = sim.req("GET", "/" + name, headers={"Accept-Encoding": "gzip, deflate"})
        assert status == 200 and "Content-Encoding" not in headers, (name, headers)


def _restarted(sim, cookie):
    """Waits until the firmware has restarted (the sim starts it again, as a board reboots): the
    old session is gone and the server answers again."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if sim.req("GET", "/api/session", cookie=cookie)[0] == 401:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("the firmware did not restart")


def test_restart_replies_first(sim):
    cookie = _logged_in(sim)
    status, _, reply = sim.req("POST", "/api/restart", {"confirm": True}, cookie=cookie)
    assert status == 200 and reply["ok"] is True
    _restarted(sim, cookie)
    cookie, body = sim.login(password=NEW_PASSWORD)  # the new password survived the restart
    assert body["must_change"] is False
    assert sim.req("GET", "/api/status", cookie=cookie)[2]["last_reset_cause"] == "requested"


def test_factory_reset_replies_first_and_restores_admin(sim):
    cookie = _logged_in(sim)
    # data to clear: the devices' online events wait in the upload queue (no server is set), and
    # a day of history
    deadline = time.monotonic() + 20
    while sim.req("GET", "/api/status", cookie=cookie)[2]["uplink"]["backlog"] == 0:
        assert time.monotonic() < deadline, "no record queued"
        time.sleep(0.3)
    history = os.path.join(sim.flash, "history")
    with open(os.path.join(history, "p20000.h"), "wb") as f:
        f.write(b"\x05Tx")
    status, _, reply = sim.req("POST", "/api/factory-reset", {"confirm": True}, cookie=cookie)
    assert status == 200 and reply["ok"] is True
    _restarted(sim, cookie)
    assert sim.req("POST", "/api/login", {"user": "admin", "password": NEW_PASSWORD})[0] == 401
    cookie, body = sim.login()  # admin/admin again, and it must be changed
    assert body["must_change"] is True
    assert sim.req("POST", "/api/password", {"old": "admin", "new": NEW_PASSWORD}, cookie=cookie)[0] == 200
    status = sim.req("GET", "/api/status", cookie=cookie)[2]
    assert status["last_reset_cause"] == "requested" and status["devices"]["configured"] == 0, status
    # all data cleared (manual: the identity stays): nothing from before waits for a new server
    assert status["uplink"]["backlog"] == 0 and status["uplink"]["produced"] == 0, status["uplink"]
    assert os.listdir(history) == [] and status["serial_number"] == SERIAL


def test_wrong_passwords_are_throttled(sim):
    for _ in range(3):
        status, _, reply = sim.req("POST", "/api/login", {"user": "admin", "password": "wrong"})
        assert status == 401 and reply["field"] == "password" and reply["error"]
    status, headers, reply = sim.req("POST", "/api/login", {"user": "admin", "password": "admin"})
    assert status == 429, reply  # even the right password waits
    assert "try again in" in reply["error"] and int(headers["Retry-After"]) >= 1
    time.sleep(int(headers["Retry-After"]) + 0.2)
    status, _, reply = sim.req("POST", "/api/login", {"user": "admin", "password": "wrong"})
    assert status == 401
    status, headers, reply = sim.req("POST", "/api/login", {"user": "admin", "password": "admin"})
    assert status == 429 and int(headers["Retry-After"]) >= 3  # the delay doubled
