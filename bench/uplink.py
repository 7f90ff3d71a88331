"""Uplink figures (issue 7): bytes per stored record, hours of backlog in the 2 MB queue for 60
devices sampled every 5 minutes, and the backlog's drain rate to a local mosquitto.

Run: ``python -m bench.uplink`` (part of ``make bench``). The records are the firmware's own
(``firmware/records.py``) for the 60-device plant layout of ``make sim --devices 60``; the drain
runs the firmware's uplink under the MicroPython unix port, decoding and rendering every record.
"""

import json
import os
import subprocess
import sys
import tempfile

from bench.plant import micropython
from tools.sim.broker import Broker
from tools.sim.plant import full_layout

QUEUE = 2 * 1024 * 1024
INTERVAL_MIN = 5


def run(runtime, d, port, rounds):
    out = os.path.join(d, "out-%s.json" % runtime)
    spool = os.path.join(d, "spool-" + runtime)
    cfg = os.path.join(d, "cfg-%s.json" % runtime)
    with open(cfg, "w") as f:
        json.dump({"layout": [list(t[:4]) for t in full_layout(60)], "rounds": rounds, "spool": spool,
                   "port": port, "out": out}, f)
    if runtime == "micropython":
        micropython(["bench/mp_uplink.py", cfg])
    else:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, PYTHONPATH=root + ":" + os.path.join(root, "tools", "shims"))
        subprocess.run([sys.executable, "bench/mp_uplink.py", cfg], check=True, env=env, cwd=root, timeout=600)
    with open(out) as f:
        return json.load(f)


def main(rounds=144):
    with tempfile.TemporaryDirectory() as d:
        broker = Broker(os.path.join(d, "broker")).start()
        try:
            res = {rt: run(rt, d, broker.port, rounds) for rt in ("micropython", "cpython")}
        finally:
            broker.close()
    r = res["micropython"]
    per = r["bytes"] / r["records"]
    per_hour = 60 * (60 / INTERVAL_MIN) * per
    print("Uplink queue (60 devices: %s):" % ", ".join("%s %d B" % kv for kv in sorted(r["per_type"].items())))
    print("  %d records stored, %.1f bytes per record on flash (6 of them spool framing)" % (r["records"], per))
    print("  2 MB holds %.1f hours of backlog at one sample per device every %d minutes"
          % (QUEUE / per_hour, INTERVAL_MIN))
    for rt, x in res.items():
        print("  %-11s store %.0f records/s, drain to a local mosquitto %.0f records/s (%d records, %.2f s)"
              % (rt, x["records"] * 1000 / max(1, x["store_ms"]), x["records"] * 1000 / max(1, x["drain_ms"]),
                 x["sent"], x["drain_ms"] / 1000))


if __name__ == "__main__":
    main()
