"""Start-up and failure handling of the whole firmware under the MicroPython unix port."""

import json
import os
import signal
import subprocess
import sys
import time

from conftest import HERE, ROOT, free_port, http_json, mp_env, require_tool


def test_make_sim_starts_serves_and_stops_cleanly(tmp_path):
    require_tool("socat")
    port = free_port()
    sim = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tools", "sim", "run.py"), "--run-dir", str(tmp_path),
         "--http-port", str(port)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)  # its own process group, as in a terminal
    try:
        status = http_json("http://127.0.0.1:%d/api/status" % port)
        assert status["firmware_version"] == __import__("firmware").VERSION
        assert status["last_reset_cause"] == "power-on"
        assert status["serial_number"] is None  # not provisioned
        assert status["settings"] == "ok"  # the sim's first start stores the plant's devices
        assert status["devices"]["configured"] == 6
        # the plant's devices come online: the poller runs inside the firmware
        deadline = time.monotonic() + 20
        while status["devices"]["communicating"] < 6 and time.monotonic() < deadline:
            time.sleep(0.5)
            status = http_json("http://127.0.0.1:%d/api/status" % port)
        assert status["devices"]["communicating"] == 6, status["devices"]
        devices = http_json("http://127.0.0.1:%d/api/devices" % port)["devices"]
        pcs = [d for d in devices if d["address"] == 1][0]
        assert pcs["model"] == "PCS" and pcs["online"] and pcs["serial"] == "ATS1000001", pcs
        assert 0 <= pcs["values"]["battery_soc"]["value"] <= 100 and pcs["bus"]["successes"] >= 1
        leds = __import__("json").loads((tmp_path / "leds.json").read_text())
        assert leds["power"] is True
        assert status["tasks"]["web"] == {"running": True, "restarts": 0}
        # POWER is on and STATUS flashes "normal" (100 ms in every 1000), seen through the PC board's
        # LED file sampled for 3 s: STATUS both on and off, on for a small share of the samples.
        samples = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            samples.append(json.loads((tmp_path / "leds.json").read_text()))
            time.sleep(0.01)
        assert all(s["power"] is True for s in samples)
        on = sum(s["status"] is True for s in samples)
        assert 0 < on < len(samples) * 0.3, (on, len(samples))
    finally:
        t0 = time.monotonic()
        os.killpg(sim.pid, signal.SIGINT)  # Ctrl-C in the terminal: the whole process group gets it
        out, _ = sim.communicate(timeout=15)
        took = time.monotonic() - t0
    assert sim.returncode == 0, out
    assert took < 5, took  # the firmware at once; the plant, socat and the time server after it
    assert "web page on http://127.0.0.1:%d/" % port in out
    assert "sim: stopped" in out and "Traceback" not in out, out


def test_task_failing_for_good_resets_the_board_with_cause_crash(tmp_path, pty_pair):
    mp = require_tool("micropython")
    for ch in (1, 2, 3):
        pty_pair(a=tmp_path / ("rs485-%d" % ch), b=tmp_path / ("plant-%d" % ch))
    port = free_port()
    env = mp_env(ENERLOG_HTTP_PORT=str(port))
    proc = subprocess.run([mp, os.path.join(HERE, "mp_scripts", "crash_app.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 75, out  # the PC board's reset: non-zero exit
    assert "task broken failed (restart 1)" in out and "OSError" in out, out
    assert "unrecoverable error, restarting" in out, out
    assert "supervise returned" not in out
    assert (tmp_path / "flash" / ".reset_cause").read_text() == "crash"

    # The next start (the power cycle) reports the crash as the last reset cause, once, and
    # the identity provisioned meanwhile (never the check code).
    from firmware import identity

    identity.provision(str(tmp_path / "flash"), "AB12345678", "Q7W3E")
    started = subprocess.Popen([mp, "main.py", "pc"], cwd=ROOT, env=dict(env, ENERLOG_RUN=str(tmp_path)),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        status = http_json("http://127.0.0.1:%d/api/status" % port)
        assert status["last_reset_cause"] == "crash", status
        assert status["serial_number"] == "AB12345678", status
        assert "Q7W3E" not in json.dumps(status)
    finally:
        started.send_signal(signal.SIGINT)
        out, _ = started.communicate(timeout=10)
    assert started.returncode == -signal.SIGINT, out  # Ctrl-C: the PC's power switch
    assert not (tmp_path / "flash" / ".reset_cause").exists()
