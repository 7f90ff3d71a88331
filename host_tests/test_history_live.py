"""The history in the running firmware (unix port, the sim's plant): 5-minute points of what the
plant produced, kept across a restart, as JSON and CSV; daily energy; bad requests refused.

The time comes from an SNTP responder set a few seconds before a 5-minute mark, so a slot is
recorded within seconds rather than minutes."""

import os
import signal
import subprocess
import time

from conftest import ROOT, free_port, http_json, mp_env, require_tool, session_cookie

from tools.sim.plant import Plant, default_layout
from tools.sim.run import seed_settings
from tools.sim.sntp import SntpResponder

MARK = 1893456300  # 2030-01-01 00:05:00 UTC, a 5-minute mark


def _start(run_dir, port, ntp):
    env = mp_env(ENERLOG_RUN=str(run_dir), ENERLOG_HTTP_PORT=str(port), ENERLOG_NTP_PORT=str(ntp.port))
    proc = subprocess.Popen([require_tool("micropython"), "main.py", "pc"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    http_json("http://127.0.0.1:%d/api/health" % port, timeout=20)
    return proc


def _get(base, path):
    return http_json(base + path)  # logs in again after a restart


def _raw(base, path):
    import urllib.error
    import urllib.request

    req = urllib.request.Request(base + path, headers={"Cookie": "session=" + session_cookie(base)})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read().decode()


def _wait_points(base, n, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        got = _get(base, "/api/history?channel=1&address=2&point=battery_soc&from=%d&to=%d"
                   % (MARK - 600, MARK + 900))
        if len(got["points"]) >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def test_history_of_the_running_logger_across_a_restart(tmp_path, pty_pair):
    require_tool("socat")
    paths = {ch: pty_pair(a=tmp_path / ("rs485-%d" % ch), b=tmp_path / ("plant-%d" % ch))[1] for ch in (1, 2, 3)}
    assert seed_settings(str(tmp_path), default_layout())
    plant = Plant(paths, default_layout())
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    ntp = SntpResponder(MARK - 8)
    proc = _start(tmp_path, port, ntp)
    try:
        # the slot at 00:05:00, once the plant's devices are online
        got = _wait_points(base, 1)
        soc_now = [d for d in _get(base, "/api/devices")["devices"] if d["address"] == 2][0]["values"]
        assert got["unit"] == "%" and got["points"], got
        t, soc = got["points"][-1]
        assert t == MARK, got
        # the plant's SOC moves slowly (40 % over 15 minutes at most): within 1 % of the value now
        assert abs(soc - soc_now["battery_soc"]["value"]) <= 1.0, (soc, soc_now)
        status, headers, text = _raw(base, "/api/history?channel=1&address=2&point=battery_soc&format=csv"
                                           "&from=%d&to=%d" % (MARK - 600, MARK + 900))
        assert status == 200 and headers["Content-Type"].startswith("text/csv"), (status, text)
        assert text.splitlines()[0] == "time (UTC),battery_soc (%)"
        assert text.splitlines()[-1].startswith("2030-01-01 00:05:00,"), text
        energy = _get(base, "/api/energy?from=2030-01-01&to=2030-01-01")
        hps = [d for d in energy["days"] if d["address"] == 2]
        assert hps and hps[0]["day"] == "2030-01-01" and "pv_energy_total" in hps[0]["energy"], energy
        assert energy["plant"][0]["day"] == "2030-01-01", energy
        # bad requests: a clear 400 naming the field, nothing else
        for query, field in (("channel=4&address=2&point=battery_soc", "channel"),
                             ("channel=1&address=0&point=battery_soc", "address"),
                             ("channel=1&address=99&point=battery_soc", "address"),
                             ("channel=1&address=2&point=serial", "point"),
                             ("channel=1&address=2&point=battery_soc&from=10&to=5", "from"),
                             ("channel=1&address=2&point=battery_soc&from=0&to=99999999", "from"),
                             ("channel=1&address=2&point=battery_soc&to=x", "to")):
            status, _, text = _raw(base, "/api/history?" + query)
            assert status == 400 and ('"field": "%s"' % field) in text, (query, status, text)
        status, _, text = _raw(base, "/api/energy?from=2030-13-01")
        assert status == 400 and '"field": "from"' in text, text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
        ntp.close()
    # five minutes later (the next start), the slot at 00:10:00 joins the one before the restart
    ntp = SntpResponder(MARK + 300 - 8)
    proc = _start(tmp_path, port, ntp)
    try:
        got = _wait_points(base, 2)
        assert [p[0] for p in got["points"]] == [MARK, MARK + 300], got
        assert os.path.exists(str(tmp_path / "flash" / "history" / ("p%d.h" % (MARK // 86400))))
        storage = _get(base, "/api/status")["storage"]
        assert 0 < storage["history"]["used"] <= storage["history"]["budget"], storage
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
        ntp.close()
        plant.stop()
