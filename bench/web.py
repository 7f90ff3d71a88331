"""GET /api/status, /api/devices and /metrics latency while the firmware polls 60 simulated devices.

Run: ``python -m bench.web`` (part of ``make bench``). Starts `make sim` with --devices 60,
logs in like a user, waits until the devices are online, then times 100 requests of each.
"""

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from tools.sim.broker import free_port
from tools.sim.client import Client

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "bench-password-1"


def main():
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        sim = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "sim", "run.py"), "--run-dir", d,
                                "--http-port", str(port), "--devices", "60"], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            client = Client(port, PASSWORD)
            client.wait_up(30, sim)
            client.login()
            deadline = time.monotonic() + 120
            while True:
                st = client.req("GET", "/api/status")[0]
                if st["devices"]["communicating"] == 60 or time.monotonic() > deadline:
                    break
                time.sleep(1)
            print("60 devices configured, %d communicating" % st["devices"]["communicating"])
            client.req("PUT", "/api/settings/metrics", {"enabled": True})  # /metrics: off from the factory
            for path in ("/api/status", "/api/devices", "/metrics"):
                times, size = [], 0
                for _ in range(100):
                    body, ms = client.fetch("GET", path)
                    times.append(ms)
                    size = len(body)
                times.sort()
                print("GET %-13s p50 %.1f ms, p95 %.1f ms, %d bytes" % (path, statistics.median(times), times[94],
                                                                       size))
        finally:
            sim.send_signal(signal.SIGINT)
            sim.wait(20)


if __name__ == "__main__":
    main()
