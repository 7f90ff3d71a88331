"""GET /api/status, /api/devices and /metrics latency while the firmware polls 60 simulated devices.

Run: ``python -m bench.web`` (part of ``make bench``). Starts `make sim` with --devices 60,
logs in like a user, waits until the devices are online, then times 100 requests of each.
"""

import statistics
import tempfile
import time

from tools.sim.client import logged_in_sim

PASSWORD = "bench-password-1"


def main():
    with tempfile.TemporaryDirectory() as d, logged_in_sim(d, PASSWORD, "--devices", "60") as client:
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

if __name__ == "__main__":
    main()
