"""The device runtime in the running firmware (MicroPython unix port, PC board): network bring-up,
SNTP sync against a CPython responder on loopback, LEDs, the reset button, and the watchdog."""

import json
import os
import signal
import subprocess
import threading
import time

import pytest
from conftest import HERE, ROOT, free_port, http_json, mp_env, require_tool, session_cookie

from firmware import identity
from firmware.settings import Settings, defaults
from tools.sim.sntp import SntpResponder

SERVER_TIME = 1893456000  # 2030-01-01 00:00:00 UTC


@pytest.fixture
def run_dir(tmp_path, pty_pair):
    for ch in (1, 2, 3):
        pty_pair(a=tmp_path / ("rs485-%d" % ch), b=tmp_path / ("plant-%d" % ch))
    (tmp_path / "flash").mkdir()
    return tmp_path


def _settings(run_dir, **sections):
    # No test may ask a public time server: NTP off unless the test points it at its responder.
    sections.setdefault("clock", {"ntp_server": ""})
    s = Settings(str(run_dir / "flash"))
    for section, changes in sections.items():
        s.update(section, changes)


def _start(run_dir, port, **env):
    mp = require_tool("micropython")
    env = mp_env(ENERLOG_RUN=str(run_dir), ENERLOG_HTTP_PORT=str(port), **env)
    return subprocess.Popen([mp, "main.py", "pc"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=15)
    return out


def _leds(run_dir):
    return json.loads((run_dir / "leds.json").read_text())


def test_dhcp_host_name_sntp_sync_and_leds_in_the_running_firmware(run_dir):
    identity.provision(str(run_dir / "flash"), "BAKFB02000", "A1B2C")
    _settings(run_dir, network={"startup_static_s": 0}, clock={"ntp_server": "127.0.0.1"})
    ntp = SntpResponder(SERVER_TIME)
    port = free_port()
    t0 = time.monotonic()
    proc = _start(run_dir, port, ENERLOG_NTP_PORT=str(ntp.port))
    try:
        status = http_json("http://127.0.0.1:%d/api/status" % port)
        deadline = time.monotonic() + 10
        while not status["clock"]["synced"] and time.monotonic() < deadline:
            time.sleep(0.05)
            status = http_json("http://127.0.0.1:%d/api/status" % port)
        synced_after = time.monotonic() - t0
        net, clk = status["network"], status["clock"]
        assert clk["synced"] is True, status
        assert abs(clk["time"] - ntp.now()) <= 2, (clk["time"], ntp.now())
        assert clk["server"] == "127.0.0.1" and ntp.requests == 1
        assert net["state"] == "dhcp" and net["connected"] and net["link"] and net["dhcp"], net
        assert net["hostname"] == "BAKFB02000" and net["ip"] == "127.0.0.1", net
        assert status["problems"] == [] and status["last_reset_cause"] == "power-on"
        assert status["watchdog"]["timeout_s"] == 30
        time.sleep(0.3)
        leds = _leds(run_dir)
        assert leds["power"] and leds["network"], leds
        assert not leds["rs485_1"] and not leds["rs485_2"] and not leds["rs485_3"]
        log = http_json("http://127.0.0.1:%d/api/log?n=32" % port)
        msgs = [e["message"] for e in log["entries"]]
        assert any(m.startswith("clock: synced to 2030-01-01 00:00:") and m.endswith(" UTC (127.0.0.1)")
                   for m in msgs), msgs
        assert "network: asking for a DHCP lease as BAKFB02000 (attempt 1)" in msgs, msgs
        assert log["entries"][0]["level"] in ("INFO", "WARNING") and log["total"] >= len(msgs)
        few = http_json("http://127.0.0.1:%d/api/log?n=2" % port)
        assert len(few["entries"]) == 2
        print("SNTP sync %.2f s after the process started" % synced_after)
    finally:
        out = _stop(proc)
        ntp.close()
    assert proc.returncode == -signal.SIGINT, out  # Ctrl-C: the PC board's power switch
    assert "clock: synced to 2030-01-01" in out  # the console shows the log


def test_log_api_limits(run_dir):
    import urllib.error
    import urllib.request

    port = free_port()
    proc = _start(run_dir, port)
    try:
        log = http_json("http://127.0.0.1:%d/api/log" % port)
        assert 1 <= len(log["entries"]) <= 32 and log["size"] == 32
        assert set(log["entries"][0]) == {"uptime_ms", "level", "message"}
        assert http_json("http://127.0.0.1:%d/api/log?n=0" % port)["entries"] == []
        base = "http://127.0.0.1:%d" % port
        for bad in ("33", "-1", "x"):
            req = urllib.request.Request("%s/api/log?n=%s" % (base, bad))
            req.add_header("Cookie", "session=" + session_cookie(base))
            with pytest.raises(urllib.error.HTTPError) as exc:
                urllib.request.urlopen(req, timeout=5)
            assert exc.value.code == 400
            assert "n: must be a whole number from 0 to 32" in exc.value.read().decode()
        status = http_json("http://127.0.0.1:%d/api/status" % port)
        assert status["network"]["state"] == "setup" and not status["network"]["connected"]
        assert status["network"]["ip"] == "192.168.0.254" and status["network"]["setup_window_s"] > 100
        assert status["clock"] == {"synced": False, "time": None, "server": "pool.ntp.org", "last_sync_s_ago": None}
    finally:
        _stop(proc)


def test_reset_button_restarts_then_restores_the_factory_settings(run_dir):
    _settings(run_dir, button={"restart_s": 1, "factory_s": 2}, network={"dhcp": False, "ip": "10.0.0.5",
                                                                        "gateway": "10.0.0.1"})
    port = free_port()
    button = run_dir / "button"

    proc = _start(run_dir, port)
    try:
        http_json("http://127.0.0.1:%d/api/status" % port)
        time.sleep(0.3)  # a press already under way when the button task starts is ignored
        button.write_text("")
        time.sleep(1.4)
        on = [_leds(run_dir)["status"] for _ in range(4) if not time.sleep(0.1)]
        assert on == [True] * 4, on  # held past the restart time: STATUS steady on
        assert proc.poll() is None  # nothing fires while held
        button.unlink()
        out = proc.communicate(timeout=10)[0]
    finally:
        _stop(proc)
    assert proc.returncode == 75, out  # the PC board's reset
    assert "button: restart requested" in out, out
    assert (run_dir / "flash" / ".reset_cause").read_text() == "requested"
    assert Settings(str(run_dir / "flash")).get("network")["ip"] == "10.0.0.5"  # a restart keeps them

    proc = _start(run_dir, port)
    try:
        status = http_json("http://127.0.0.1:%d/api/status" % port)
        assert status["last_reset_cause"] == "requested"
        assert status["network"]["state"] == "static" and status["network"]["ip"] == "10.0.0.5"
        time.sleep(0.3)
        button.write_text("")
        time.sleep(2.4)
        button.unlink()
        out = proc.communicate(timeout=10)[0]
    finally:
        _stop(proc)
    assert proc.returncode == 75, out
    assert "button: factory reset requested" in out and "factory reset: settings back to defaults" in out, out
    after = Settings(str(run_dir / "flash"))
    assert after.get("button") == defaults()["button"] and after.get("network") == defaults()["network"]
    assert (run_dir / "flash" / ".reset_cause").read_text() == "requested"


def test_a_stalled_key_task_resets_the_board_through_the_watchdog(run_dir):
    mp = require_tool("micropython")
    port = free_port()
    env = mp_env(ENERLOG_HTTP_PORT=str(port))
    timeout_ms, limit_ms = 2000, 500
    proc = subprocess.Popen([mp, os.path.join(HERE, "mp_scripts", "runtime_stall.py"), str(run_dir),
                             str(timeout_ms), str(limit_ms)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, stalled_at = [], []

    def read():
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("stalled"):
                stalled_at.append(time.monotonic())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen_late = []
    try:
        while proc.poll() is None:
            try:
                status = http_json("http://127.0.0.1:%d/api/status" % port, timeout=0.5)
                if status["watchdog"]["late"]:
                    seen_late.append((status["watchdog"]["late"], status["problems"]))
            except (OSError, ValueError):
                pass  # no answer, or one cut off (the status is sent in pieces) by the stall or the reset
            time.sleep(0.05)
        died_at = time.monotonic()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(5)
    out = "".join(lines)
    assert proc.returncode == -9, (proc.returncode, out)  # killed: the PC's hard reset
    assert stalled_at, out
    latency = died_at - stalled_at[0]
    # stalled at t, late after the 500 ms limit, reset by the 2 s watchdog: 2.5 s, plus polling slack
    assert 2.0 <= latency <= 3.5, latency
    assert "watchdog: no progress from pollers; not feeding, the board resets within 2 s" in out, out
    assert seen_late and seen_late[-1] == (["pollers"], ["task pollers makes no progress"]), seen_late
    assert (run_dir / "flash" / ".reset_cause").read_text() == "watchdog"
    print("watchdog reset %.2f s after the task stalled (limit 0.5 s + timeout 2 s)" % latency)

    started = _start(run_dir, port)
    try:
        status = http_json("http://127.0.0.1:%d/api/status" % port)
        assert status["last_reset_cause"] == "watchdog", status
    finally:
        out = _stop(started)
    assert started.returncode == -signal.SIGINT, out
    assert "last reset: watchdog" in out
