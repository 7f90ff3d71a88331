"""Reading today's history back at a start: a whole day of 60 devices (~550 KB) and the year's
daily energy up to October (~480 KB), read by ``History.today`` in steps while another task
runs, under the MicroPython unix port.

Run: ``python -m bench.history_start`` (part of ``make bench``). Prints the time in all, the turns
the other task got, and the longest and median gap between them (what a poll or a web request
waits at most). PC figures: an ESP32-S3 at 240 MHz takes a multiple of these.
"""

import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "shims"))  # micropython.const on CPython

from firmware import devicemap  # noqa: E402 - needs the shims
from firmware.history import DAY_S, SLOT_S, History, main_points  # noqa: E402
from firmware.log import Log  # noqa: E402
from firmware.poller import Device  # noqa: E402
from tools.sim.plant import full_layout  # noqa: E402

DAY = 20000  # 2024-10-04
YEAR_START = 19723  # 2024-01-01


def _put(d, pt, value):
    at = d.map.offset(pt)
    for k in range(pt.regs - 1, -1, -1):
        d.raw[at + 2 * k], d.raw[at + 2 * k + 1] = (value >> 8) & 0xFF, value & 0xFF
        value >>= 16


def seed(flash, devices=60):
    """All but the last slot of day DAY for ``devices`` devices of the sim's full plant."""
    maps = devicemap.load_all()
    hist = History(flash, maps, Log(echo=False))
    devs = []
    for ch, addr, dtype, model in full_layout(devices):
        d = Device({"type": dtype, "channel": ch, "address": addr}, maps[dtype])
        d.model, d.good_polls, d.online = model, 1, True
        devs.append(d)
    for k in range(DAY_S // SLOT_S - 1):
        for d in devs:
            for pt in main_points(d.map, d.model):
                _put(d, pt, k if pt.unit == "kWh" else (k * 7 + d.address) % 500)
        hist.record(DAY * DAY_S + k * SLOT_S, devs)
    # the year's energy so far (from 1 January), as each midnight appends it: read at the start too
    for day in range(YEAR_START, DAY):
        for _, counts in hist._counters.values():  # 10 kWh a counter a day
            n = len(counts) // 2
            for i in range(n):
                counts[i] = counts[n + i] - 10.0
        hist._close_day(day)
    return sum(os.path.getsize(os.path.join(flash, "history", n)) for n in os.listdir(os.path.join(flash, "history")))


def main():
    with tempfile.TemporaryDirectory() as flash:
        size = seed(flash)
        exe = os.path.join(os.path.dirname(sys.executable), "micropython")
        env = dict(os.environ, MICROPYPATH=":".join([ROOT, os.path.join(ROOT, "lib"), ".frozen"]))
        out = subprocess.run([exe if os.path.exists(exe) else "micropython", "bench/mp_history_start.py", flash,
                              str(DAY * DAY_S + DAY_S - 60)], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=120)
        print("history read back at a start, a day of 60 devices and 277 days of their energy (%d bytes), "
              "unix port: %s"
              % (size, (out.stdout or out.stderr).strip()))


if __name__ == "__main__":
    main()
