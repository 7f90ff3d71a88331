"""Test harness: one suite, two interpreters.

- Modules in ``host_tests/dual/`` hold pure-logic tests written for both runtimes (plain asserts,
  no fixtures). pytest runs them on CPython as usual, and this plugin runs each module once more
  under the MicroPython unix port (``mp_runner.py``), reporting every test as ``name[micropython]``.
- Other modules are CPython-only; they may drive ``micropython`` processes, ptys, a broker, a browser.
"""

import asyncio
import inspect
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(ROOT, "host_tests")
DUAL = os.path.join(HERE, "dual")
SHIMS = os.path.join(ROOT, "tools", "shims")

for p in (SHIMS, ROOT, DUAL):
    if p not in sys.path:
        sys.path.insert(0, p)

from tools.sim import ptys  # noqa: E402 - needs ROOT on the path
from tools.sim.broker import free_port  # noqa: E402, F401 - the tests' free loopback port

# Any CI value but empty, "false" or "0" is CI: there a missing tool fails, never skips.
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "false", "0")


def micropython_path():
    """The unix-port interpreter: next to this Python (the venv) or on PATH."""
    exe = os.path.join(os.path.dirname(sys.executable), "micropython")
    return exe if os.path.exists(exe) else shutil.which("micropython")


def mp_env(**extra):
    """Environment for a micropython process that imports firmware, lib and the dual tests."""
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join([ROOT, os.path.join(ROOT, "lib"), DUAL, ".frozen"])
    env.update(extra)
    return env


def require_tool(name):
    """The path of a command the test needs; missing is a skip, but a failure under CI=true."""
    path = micropython_path() if name == "micropython" else shutil.which(name)
    if not path:
        _missing("%s is not installed (make test installs it)" % name)
    return path


# The longest test files, longest first: with two workers taking a file at a time, starting them
# first keeps one long file from running alone at the end (make test's time). Seconds per file in a
# whole make test on a busy 2-core machine (round 3, after the page's rebuild): soak 70,
# web_browser 55, bus_live 50, uplink_live 40, scan_live 35, upgrade 30, metrics_live 25,
# gateway_live 22, api_fuzz 21, device_words_live 20, modbus_fuzz 18, mqtt_broker 18,
# poller_live 16, writes_live 15, web_api 15, history_live 13, store 13, runtime 11,
# modbus_live 11, scan_page 10, stop 10, power_cut 10; the rest take a few seconds each.
SLOW_FIRST = ("test_soak.py", "test_web_browser.py", "test_bus_live.py", "test_uplink_live.py", "test_scan_live.py",
              "test_upgrade.py", "test_metrics_live.py", "test_gateway_live.py", "test_api_fuzz.py",
              "test_device_words_live.py", "test_modbus_fuzz.py", "test_mqtt_broker.py", "test_poller_live.py",
              "test_writes_live.py", "test_web_api.py", "test_history_live.py", "test_store.py", "test_runtime.py",
              "test_modbus_live.py", "test_scan_page.py", "test_stop.py", "test_power_cut.py", "test_writes_page.py",
              "test_web_fallback.py")


def pytest_configure(config):
    # xdist's --dist loadfile sorts the files by their number of tests, most first, unless told not
    # to: that put the one-test files (the soak, the scans, the fuzzing, the history) last, where one
    # worker ran them while the other had nothing left (21 s apart at the end of a make test).
    # SLOW_FIRST's order is the one to keep.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))  # stable: the rest in order


def _missing(msg):
    """Skips the test, or fails it under CI: a missing tool is never silent there."""
    if IN_CI:
        pytest.fail(msg)
    pytest.skip(msg)


def require_module(name):
    """Imports the Python module a test needs; missing is a skip, but a failure under CI."""
    try:
        return __import__("importlib").import_module(name)
    except ImportError as exc:
        _missing("%s cannot be imported (make test installs it): %s" % (name, exc))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Runs ``async def`` tests in a fresh event loop (no plugin needed)."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        sig = inspect.signature(pyfuncitem.obj)
        kwargs = {k: pyfuncitem.funcargs[k] for k in sig.parameters}
        asyncio.run(pyfuncitem.obj(**kwargs))
        return True
    return None


_TEST_DEF = re.compile(r"^(?:async\s+)?def\s+(test_\w+)\s*\(", re.M)


def pytest_collect_file(file_path, parent):
    if file_path.parent == __import__("pathlib").Path(DUAL) and file_path.name.startswith("test_"):
        return MicroPythonFile.from_parent(parent, path=file_path)
    return None


class MicroPythonFile(pytest.File):
    """A dual test module, run under the unix port once; one item per test function."""

    _report = None

    def collect(self):
        for name in _TEST_DEF.findall(self.path.read_text()):
            yield MicroPythonItem.from_parent(self, name=name + "[micropython]", test=name)

    def report(self):
        if self._report is None:
            exe = require_tool("micropython")
            tmp = self.config._tmp_path_factory.mktemp("mp-" + self.path.stem)
            proc = subprocess.run(
                [exe, os.path.join(HERE, "mp_runner.py"), str(self.path)],
                capture_output=True, text=True, timeout=300, cwd=ROOT,
                env=mp_env(MPTEST_TMP=str(tmp)),
            )
            self._report = _parse(proc)
        return self._report


def _parse(proc):
    results, current, lines = {}, None, None
    for line in proc.stdout.splitlines():
        if line.startswith("@@MPTEST "):
            _, status, name, ms = line.split(" ")
            results[name] = [status, ""]
            current = name
        elif line == "@@BEGIN":
            lines = []
        elif line == "@@END":
            results[current][1] = "\n".join(lines)
            lines = None
        elif lines is not None:
            lines.append(line)
    results["__output__"] = proc.stdout[-4000:] + proc.stderr[-4000:]
    results["__rc__"] = proc.returncode
    return results


class MicroPythonFailure(Exception):
    pass


class MicroPythonItem(pytest.Item):
    def __init__(self, *, test, **kwargs):
        super().__init__(**kwargs)
        self.test = test

    def runtest(self):
        report = self.parent.report()
        if self.test not in report:
            raise MicroPythonFailure(
                "%s did not run under MicroPython (exit %s):\n%s"
                % (self.test, report["__rc__"], report["__output__"])
            )
        status, text = report[self.test]
        if status != "ok":
            raise MicroPythonFailure(text)
        # mp_runner exits 1 when a test failed, 0 when none did: anything else is a crash, also
        # one after the last test (a module's leftovers, the interpreter's shutdown).
        failed = any(v[0] != "ok" for k, v in report.items() if not k.startswith("__"))
        if report["__rc__"] != (1 if failed else 0):
            raise MicroPythonFailure("the interpreter exited with %s after the tests:\n%s"
                                     % (report["__rc__"], report["__output__"]))

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MicroPythonFailure):
            return "MicroPython unix port:\n" + str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, "%s [micropython]" % self.test


@pytest.fixture
def pty_pair(tmp_path):
    """Makes linked pseudo-terminals (socat) and returns a function ``(name) -> (end_a, end_b)``."""
    procs = []

    def make(name="line", a=None, b=None):
        require_tool("socat")
        a = str(a or tmp_path / (name + "-a"))
        b = str(b or tmp_path / (name + "-b"))
        procs.append(ptys.pair(a, b))
        return a, b

    yield make
    for p in procs:
        p.terminate()
        p.wait()


TEST_PASSWORD = "host-tests-pw-1"
_cookies = {}


def _request(url, body=None, cookie=None, timeout=10.0):
    import json
    import urllib.request

    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"} if body is not None else {})
    if cookie:
        req.add_header("Cookie", "session=" + cookie)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read()), r.headers


def api_login(base):
    """A session cookie for the firmware at ``base``, got as a user gets one: the factory login
    (which then must set a new password, TEST_PASSWORD), or TEST_PASSWORD once it is set."""
    import urllib.error

    for password in ("admin", TEST_PASSWORD):
        try:
            reply, headers = _request(base + "/api/login", {"user": "admin", "password": password})
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                continue
            raise
        cookie = headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
        if reply.get("must_change"):
            _request(base + "/api/password", {"old": password, "new": TEST_PASSWORD}, cookie)
        return cookie
    raise AssertionError("cannot log in to %s" % base)


def session_cookie(base):
    """The cached session cookie for the firmware at ``base`` (logging in when there is none)."""
    if base not in _cookies:
        _cookies[base] = api_login(base)
    return _cookies[base]


def http_json(url, timeout=10.0):
    """GETs ``url`` until it answers (the server may still be starting); returns the JSON.

    Logs in first where the route needs a session (and again after a restart of the firmware).
    """
    import time
    import urllib.error

    base = url.split("/api/", 1)[0]
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _request(url, cookie=_cookies.get(base), timeout=2)[0]
        except urllib.error.HTTPError as exc:
            if exc.code != 401 or time.monotonic() > deadline:
                raise
            _cookies[base] = api_login(base)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def socket_board(flash, env=None):
    """A MicroPython unix port as a board over USB, for mpremote: ``(socket URL, socat process)``.

    socat forks one ``micropython -i`` per connection, its working folder ``flash`` playing the
    board's flash (shared/design/host-testing.md). Stop it with ``proc.terminate()``.
    """
    socat, mp = require_tool("socat"), require_tool("micropython")
    port = free_port()
    proc = subprocess.Popen([socat, "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork" % port,
                             "EXEC:%s -i,pty,raw,echo=0,stderr,setsid,ctty" % mp], cwd=str(flash), env=env,
                            stderr=subprocess.DEVNULL)
    __import__("time").sleep(0.3)
    return "socket://127.0.0.1:%d" % port, proc


def firmware_app(run_dir, pty_pair):
    """The firmware's real microdot app, built on CPython with the PC board in ``run_dir`` (ptys
    for its three channels): for tests that read its routes from ``url_map``."""
    from firmware import web
    from firmware.app import Logger
    from firmware.board import open_board

    os.makedirs(str(run_dir), exist_ok=True)
    for ch in (1, 2, 3):
        pty_pair(a=run_dir / ("rs485-%d" % ch), b=run_dir / ("plant-%d" % ch))
    return web.create(Logger(open_board("pc", run_dir=str(run_dir))))


def power_cut(sim):
    """SIGKILL to the firmware that ``sim`` (a tools/sim/run.py process) runs: nothing flushed,
    nothing said goodbye. The sim stops when its firmware dies unasked."""
    import signal

    out = subprocess.run(["ps", "--ppid", str(sim.pid), "-o", "pid=,comm="], capture_output=True, text=True).stdout
    pid = [int(line.split()[0]) for line in out.splitlines() if line.split()[1] == "micropython"][0]
    os.kill(pid, signal.SIGKILL)
    sim.communicate(timeout=20)
