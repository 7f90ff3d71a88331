"""GET /api/history (a day of one value's 5-minute points) and GET /api/energy (30 days of the
plant's daily energy) from the unix-port logger, on a history of 30 days of `make sim`'s plant
written before it starts (by the firmware's own History, as the logger writes it).

Run: ``python -m bench.history`` (part of ``make bench``).
"""

import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "shims"))  # micropython.const on CPython

from firmware import devicemap  # noqa: E402 - needs the shims
from firmware.history import DAY_S, SLOT_S, History, main_points  # noqa: E402
from firmware.log import Log  # noqa: E402
from firmware.poller import Device  # noqa: E402
from tools.sim.client import logged_in_sim  # noqa: E402
from tools.sim.plant import STATE_FILE, Unit, default_layout  # noqa: E402
from tools.sim.powers import Site  # noqa: E402

PASSWORD = "bench-password-1"
DAYS = 31  # 30 whole days and today


def _copy(d, pt, unit):
    """Point ``pt`` of device ``d`` as the simulated ``unit`` holds it now (its registers as read)."""
    src = unit.ir if pt.function == 4 else unit.hr
    at = d.map.offset(pt)
    for k in range(pt.regs):
        v = src[pt.address + k]
        d.raw[at + 2 * k], d.raw[at + 2 * k + 1] = (v >> 8) & 0xFF, v & 0xFF


def seed(flash, now, days=DAYS):
    """``days`` - 1 whole days and today up to ``now`` of 5-minute points (and so daily energy) for
    the sim's plant, written by the firmware's History; the slots recorded. The values are the
    sim's own (tools/sim/powers.py run over those days: PV by daylight and a weather per day, the
    load's curve, batteries and counters); the plant's state at ``now`` is left beside the flash
    folder (run/plant-state.json), where `make sim` goes on from it."""
    maps = devicemap.load_all()
    hist = History(flash, maps, Log(echo=False))
    layout = default_layout()
    site = Site(layout)
    units = [Unit(*spec, site=site) for spec in layout]
    devices = []
    for ch, addr, dtype, model in layout:
        d = Device({"type": dtype, "channel": ch, "address": addr}, maps[dtype])
        d.model, d.good_polls, d.online = model, 1, True
        devices.append(d)
    start = (now // DAY_S - days + 1) * DAY_S
    site.start(start)
    slots = 0
    for t in range(start, now, SLOT_S):
        for d, u in zip(devices, units):
            u.update(t)
            for pt in main_points(d.map, d.model):
                _copy(d, pt, u)
        hist.record(t, devices)
        slots += 1
    site.advance(now)
    with open(os.path.join(os.path.dirname(os.path.abspath(flash)), STATE_FILE), "w") as f:
        json.dump(site.state(), f)
    return slots


def _times(client, path, n=20):
    times, size = [], 0
    for _ in range(n):
        body, ms = client.fetch("GET", path)
        times.append(ms)
        size = len(body)
    times.sort()
    return statistics.median(times), times[int(0.95 * (n - 1))], size


def main():
    now = int(time.time())
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "flash"))
        t0 = time.perf_counter()
        slots = seed(os.path.join(d, "flash"), now)
        print("history: %d slots of 6 devices seeded in %.1f s" % (slots, time.perf_counter() - t0))
        with logged_in_sim(d, PASSWORD, "--time", str(now)) as client:
            deadline = time.monotonic() + 30
            while client.req("GET", "/api/status")[0]["clock"].get("synced") is not True:
                if time.monotonic() > deadline:
                    raise RuntimeError("the logger's clock was not set")
                time.sleep(0.5)
            got = client.req("GET", "/api/history?channel=1&address=1&point=battery_soc&from=%d&to=%d"
                             % (now - DAY_S, now))[0]["points"]
            days = client.req("GET", "/api/energy")[0]["plant"]
            print("history answers: %d points in the last 24 h, %d days of plant energy" % (len(got), len(days)))
            day = "/api/history?channel=1&address=1&point=battery_soc&from=%d&to=%d" % (now - DAY_S, now)
            for name, path in (("a day of one value (288 points)", day),
                               ("30 days of the plant's energy", "/api/energy"),
                               ("a day of one value as CSV", day + "&format=csv"),
                               ("a day of the plant's PV power", "/api/history/plant?figure=pv_kw")):
                p50, p95, size = _times(client, path)
                print("GET %s: p50 %.1f ms, p95 %.1f ms, %d bytes" % (name, p50, p95, size))


if __name__ == "__main__":
    main()
