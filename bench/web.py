"""GET /api/status and /api/devices latency while the firmware polls 60 simulated devices.

Run: ``python -m bench.web`` (part of ``make bench``). Starts `make sim` with --devices 60,
logs in like a user, waits until the devices are online, then times 100 requests of each.
"""

import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from tools.sim.broker import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "bench-password-1"


def _req(port, method, path, body=None, cookie=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if cookie:
        headers["Cookie"] = "session=" + cookie
    conn.request(method, path, json.dumps(body) if body is not None else None, headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, r.headers, data


def main():
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        sim = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "sim", "run.py"), "--run-dir", d,
                                "--http-port", str(port), "--devices", "60"], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if _req(port, "GET", "/api/health")[0] == 200:
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            status, headers, _ = _req(port, "POST", "/api/login", {"user": "admin", "password": "admin"})
            cookie = headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
            _req(port, "POST", "/api/password", {"old": "admin", "new": PASSWORD}, cookie)
            deadline = time.monotonic() + 120
            while True:
                st = json.loads(_req(port, "GET", "/api/status", cookie=cookie)[2])
                if st["devices"]["communicating"] == 60 or time.monotonic() > deadline:
                    break
                time.sleep(1)
            print("60 devices configured, %d communicating" % st["devices"]["communicating"])
            for path in ("/api/status", "/api/devices"):
                times, size = [], 0
                for _ in range(100):
                    t0 = time.perf_counter()
                    code, _, body = _req(port, "GET", path, cookie=cookie)
                    times.append((time.perf_counter() - t0) * 1000)
                    size = len(body)
                    assert code == 200
                times.sort()
                print("GET %-13s p50 %.1f ms, p95 %.1f ms, %d bytes" % (path, statistics.median(times), times[94],
                                                                       size))
        finally:
            sim.send_signal(signal.SIGINT)
            sim.wait(20)


if __name__ == "__main__":
    main()
