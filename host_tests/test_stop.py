"""Ctrl-C stops the firmware at once, on both runtimes, whatever the bus is doing.

The PC adapter makes SIGINT the power switch (``firmware/hw/pc.power_switch``): the process ends
as a board does when its power is cut. The firmware is started here with 20 inverters talking on
RS485-1 (the bus always busy), three of them silenced (dead, timing out) and three configured
addresses on RS485-2 that nothing serves (never seen), and stopped at random moments.
"""

import os
import random
import signal
import subprocess
import sys
import time

from conftest import ROOT, SHIMS, free_port, http_json, mp_env, require_tool

from tools.sim.plant import Plant, full_layout
from tools.sim.run import seed_settings

STOP_LIMIT_S = 2.0
DEAD = (5, 6, 7)  # silenced inverters on RS485-1
NEVER_SEEN = [(2, 30, "bcu_battery", None), (2, 31, "mbms_battery", None), (2, 32, "bcu_battery", None)]


def _command(runtime):
    if runtime == "micropython":
        return [require_tool("micropython"), "main.py", "pc"], mp_env()
    env = dict(os.environ, PYTHONPATH=":".join([SHIMS, ROOT, os.path.join(ROOT, "lib")]))
    return [sys.executable, "main.py", "pc"], env


def _stop_at_random(runtime, run_dir, delay_s):
    cmd, env = _command(runtime)
    port = free_port()
    env = dict(env, ENERLOG_RUN=str(run_dir), ENERLOG_HTTP_PORT=str(port))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        http_json("http://127.0.0.1:%d/api/health" % port, timeout=20)
        time.sleep(delay_s)
        assert proc.poll() is None, "the firmware ended before it was stopped"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
        return time.monotonic() - t0, proc.returncode, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_ctrl_c_stops_within_2_s_without_a_traceback_on_both_runtimes(tmp_path, pty_pair):
    require_tool("socat")
    layout = full_layout(20)  # RS485-1: 20 ATESS inverters
    paths = {}
    for ch in (1, 2, 3):
        paths[ch] = pty_pair(a=tmp_path / ("rs485-%d" % ch), b=tmp_path / ("plant-%d" % ch))[1]
    assert seed_settings(str(tmp_path), layout + NEVER_SEEN)
    plant = Plant(paths, layout)
    plant.silence(DEAD)
    rnd = random.Random(16)
    times = []
    try:
        for runtime in ("micropython", "cpython"):
            for _ in range(3):
                delay = rnd.uniform(0.2, 3.0)
                took, rc, out = _stop_at_random(runtime, tmp_path, delay)
                times.append((runtime, round(delay, 2), round(took, 3)))
                assert "settings: ok" in out, out  # the stop before left the flash whole
                assert took <= STOP_LIMIT_S, (runtime, delay, took, out[-2000:])
                assert rc == -signal.SIGINT, (runtime, rc, out[-2000:])
                for bad in ("Traceback", "Task exception", "Error"):
                    assert bad not in out, (runtime, delay, out[-3000:])
    finally:
        plant.stop()
    print("\nCtrl-C to exit (runtime, seconds after start-up, seconds to stop): %s" % times)
