"""Power cuts during multi-section settings changes, in the running firmware (MicroPython unix port,
PC board): the firmware process is killed (SIGKILL, nothing flushed, no clean-up) at random moments
while it answers PUT /api/settings/serial changes of all three RS485 lines; after every cut the
settings load as the whole old change or the whole new one, never a mix."""

import http.client
import json
import os
import random
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

from conftest import ROOT, TEST_PASSWORD, free_port, mp_env, require_tool
from test_runtime import run_dir  # noqa: F401 - the fixture: three socat lines and a flash folder

from firmware.log import Log
from firmware.settings import Settings

CUTS = int(os.environ.get("ENERLOG_POWER_CUTS", "24"))
OLD = {"rs485_1": {"baud": 9600, "parity": "N", "stop": 1}, "rs485_2": {"baud": 9600, "parity": "N", "stop": 1},
       "rs485_3": {"baud": 9600, "parity": "N", "stop": 1}}
NEW = {"rs485_1": {"baud": 19200, "parity": "E", "stop": 1}, "rs485_2": {"baud": 38400, "parity": "O", "stop": 2},
       "rs485_3": {"baud": 4800, "parity": "E", "stop": 2}}


def _load(flash):
    s = Settings(flash, log=Log(size=16, echo=False))
    return s, {name: s.get(name) for name in OLD}


def _call(port, method, path, body=None, cookie=None, timeout=5.0):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    if cookie:
        req.add_header("Cookie", "session=" + cookie)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.headers, json.loads(r.read())


def _login(port):
    deadline = time.monotonic() + 30
    while True:
        try:
            _, headers, _ = _call(port, "POST", "/api/login", {"user": "admin", "password": TEST_PASSWORD})
            return headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
        except OSError:  # not listening yet (URLError is an OSError)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _changes(port, cookie, first, answered, wrong, stop):
    """PUTs the whole ``first`` change, then the other one, and so on, until the firmware dies;
    an answer that is not the change is put in ``wrong``."""
    change = first
    while not stop.is_set():
        try:
            status, _, reply = _call(port, "PUT", "/api/settings/serial", change, cookie)
        except urllib.error.HTTPError as exc:  # an answer, but a refusal (an OSError too)
            status, reply = exc.code, exc.reason
        except (OSError, ValueError, http.client.HTTPException):
            return  # killed under the request (refused, reset, cut short)
        if status != 200 or reply != change:
            wrong.append((status, reply))
        answered.append(change)
        change = OLD if change is NEW else NEW


def test_sigkill_during_multi_section_changes_loads_the_whole_old_or_the_whole_new(run_dir):  # noqa: F811
    mp = require_tool("micropython")
    flash = str(run_dir / "flash")
    s = Settings(flash, log=Log(size=16, echo=False))
    s.update_many({"clock": {"ntp_server": ""}, "network": {"startup_static_s": 0}})
    s.set_password(TEST_PASSWORD, "admin")
    before = {k: v for k, v in s.data.items() if k not in OLD}
    seed = int(os.environ.get("ENERLOG_POWER_CUT_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    port = free_port()
    env = mp_env(ENERLOG_RUN=str(run_dir), ENERLOG_HTTP_PORT=str(port))
    seen = {"old": 0, "new": 0}
    answered_total = 0
    for cut in range(CUTS):
        proc = subprocess.Popen([mp, "main.py", "pc"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.STDOUT)
        stop, answered, wrong = threading.Event(), [], []
        try:
            cookie = _login(port)
            _, stored = _load(flash)
            first = NEW if stored == OLD else OLD
            worker = threading.Thread(target=_changes, args=(port, cookie, first, answered, wrong, stop), daemon=True)
            worker.start()
            time.sleep(rng.uniform(0.0, 0.3))  # a random moment into the stream of changes
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            stop.set()
        worker.join(10)
        assert proc.returncode == -9
        assert not wrong, wrong
        loaded, state = _load(flash)
        assert state in (OLD, NEW), "cut %d (seed %d): a change half applied: %r" % (cut, seed, state)
        assert not loaded.defaults_restored and loaded.status in ("ok", "previous copy"), loaded.status
        assert {k: v for k, v in loaded.data.items() if k not in OLD} == before, "cut %d: other sections" % cut
        seen["old" if state == OLD else "new"] += 1
        answered_total += len(answered)
    print("%d cuts (seed %d): %d loaded the old change, %d the new; %d changes answered in all"
          % (CUTS, seed, seen["old"], seen["new"], answered_total))
    # The cuts fell inside the stream of changes, not only before the first one was saved.
    assert answered_total >= CUTS // 2 and seen["new"] >= 1, (seen, answered_total)
