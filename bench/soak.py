"""``make soak``: the whole logger on a small heap (issue 10), measured.

The ``.mpy`` build (``tools/build.py --march x64``) runs under the MicroPython unix port with
``-X heapsize``, against the simulated plant with 60 devices (20 per channel, 9600 baud, wire-time
model), uploading to a local mosquitto, while a client logs in and reads ``/api/status`` and
``/api/devices`` every few seconds. The broker is stopped for ``--outage`` seconds in the middle.
An independent subscriber (paho) counts what reaches the broker.

    python -m bench.soak [--duration 3600] [--heap 192k] [--outage 300] [--interval 60]
    python -m bench.soak --search 64k 192k --duration 120      # the smallest heap that passes

Prints the figures and a verdict; exit status 0 when the run passed.
"""

import argparse
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tools", "shims")]

from firmware import identity  # noqa: E402
from firmware.settings import Settings  # noqa: E402
from tools.sim.broker import Broker, free_port  # noqa: E402
from tools.sim.plant import full_layout, wire_bound_ms  # noqa: E402
from tools.sim.run import seed_settings  # noqa: E402

SN, CHECK, PASSWORD = "SOAK000001", "K7W3E", "soak-password-1"


def _kb(text):
    m = re.fullmatch(r"(\d+)([kKmM]?)", text)
    return int(m.group(1)) * {"": 1, "k": 1024, "K": 1024, "m": 1 << 20, "M": 1 << 20}[m.group(2)] // 1024


class Client:
    """The page's user: logs in, reads status and devices."""

    def __init__(self, port):
        self.port = port
        self.cookie = None

    def req(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = {"Content-Type": "application/json", "Host": "127.0.0.1:%d" % self.port}
        if self.cookie:
            h["Cookie"] = "session=" + self.cookie
        t0 = time.perf_counter()
        conn.request(method, path, json.dumps(body) if body is not None else None, h)
        r = conn.getresponse()
        data = r.read()
        ms = (time.perf_counter() - t0) * 1000
        conn.close()
        if r.status == 401 and path != "/api/login":
            self.login()
            return self.req(method, path, body)
        if r.status != 200:
            raise RuntimeError("%s %s: %d %s" % (method, path, r.status, data[:200]))
        if method == "POST" and path == "/api/login":
            self.cookie = r.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
        return json.loads(data), ms

    def login(self):
        try:
            self.req("POST", "/api/login", {"user": "admin", "password": PASSWORD})
        except RuntimeError:
            self.req("POST", "/api/login", {"user": "admin", "password": "admin"})
            self.req("POST", "/api/password", {"old": "admin", "new": PASSWORD})


class Subscriber:
    def __init__(self, port):
        import paho.mqtt.client as pm

        self.seqs = set()
        self.deliveries = 0
        self.lock = threading.Lock()
        self.c = pm.Client(pm.CallbackAPIVersion.VERSION2, client_id="soak-sub", clean_session=False)
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe("enerlog/%s/#" % SN, 1)
        self.c.on_message = self._on
        self.c.reconnect_delay_set(0.1, 1)
        self.c.connect("127.0.0.1", port, keepalive=10)
        self.c.loop_start()

    def _on(self, c, u, m):
        if m.topic.endswith("/state") or m.topic.endswith("/events"):
            seq = json.loads(m.payload)["seq"]
            with self.lock:
                self.seqs.add(seq)
                self.deliveries += 1

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def build(out):
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "build.py"), "--out", out, "--march", "x64"],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def soak(heap_kb, duration, outage, interval, every=5.0, code=None, quiet=False):
    """One run; returns its figures (a dict)."""
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    with tempfile.TemporaryDirectory() as d:
        if code is None:
            code = os.path.join(d, "build")
            build(code)
        run_dir = os.path.join(d, "run")
        broker = Broker(os.path.join(d, "broker")).start()
        layout = full_layout(60)
        seed_settings(run_dir, layout, broker.port)
        flash = os.path.join(run_dir, "flash")
        identity.provision(flash, SN, CHECK)
        Settings(flash).update("server", {"upload_interval_s": interval})
        sub = Subscriber(broker.port)
        port = free_port()
        log_path = os.path.join(d, "firmware.log")
        log = open(log_path, "w")
        sim = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "sim", "run.py"), "--run-dir", run_dir,
                                "--http-port", str(port), "--devices", "60", "--firmware", code,
                                "--heapsize", "%dk" % heap_kb], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        client = Client(port)
        samples = []  # (t, status, status_ms, devices_ms)
        t0 = time.monotonic()
        down_at = t0 + (duration - outage) / 2
        up_at = down_at + outage
        broker_down = False
        error = None
        try:
            while True:
                try:
                    client.req("GET", "/api/health")
                    break
                except OSError:
                    if time.monotonic() - t0 > 60 or sim.poll() is not None:
                        raise RuntimeError("the firmware did not start")
                    time.sleep(0.2)
            client.login()
            while time.monotonic() - t0 < duration:
                now = time.monotonic()
                if not broker_down and down_at <= now < up_at:
                    broker.stop()
                    broker_down = True
                    say("  %4.0f s: broker stopped for %d s" % (now - t0, outage))
                elif broker_down and now >= up_at:
                    broker.start()
                    broker_down = False
                    say("  %4.0f s: broker started" % (now - t0))
                st, st_ms = client.req("GET", "/api/status")
                _, dv_ms = client.req("GET", "/api/devices")
                samples.append((now - t0, st, st_ms, dv_ms))
                if len(samples) % max(1, int(60 / every)) == 0:
                    say("  %4.0f s: heap free %s, devices %d/60, backlog %d, sent %d"
                        % (now - t0, st["heap"]["free"] if st["heap"] else "?", st["devices"]["communicating"],
                           st["uplink"]["backlog"], st["uplink"]["sent"]))
                if sim.poll() is not None:
                    raise RuntimeError("the firmware stopped")
                time.sleep(max(0, every - (time.monotonic() - now)))
            if broker_down:
                broker.start()
            deadline = time.monotonic() + 120
            while True:  # the backlog drains after the outage
                st, _ = client.req("GET", "/api/status")
                if st["uplink"]["backlog"] == 0 and st["uplink"]["connected"] or time.monotonic() > deadline:
                    break
                time.sleep(1)
            time.sleep(2)
            devices, _ = client.req("GET", "/api/devices")
            final = st
        except (OSError, RuntimeError) as exc:
            error = "%s: %s" % (type(exc).__name__, exc)
            final, devices = (samples[-1][1] if samples else None), None
        finally:
            if sim.poll() is None:
                sim.send_signal(signal.SIGINT)
            try:
                sim.wait(30)
            except subprocess.TimeoutExpired:
                sim.kill()
            log.close()
            sub.close()
            broker.close()
        with open(log_path) as f:
            out = f.read()
    return figures(heap_kb, duration, outage, interval, layout, samples, final, devices, sub, out, error)


def _free_near(samples, t, span=60):
    """The largest free heap seen within ``span`` s of time ``t`` (the level right after a collection)."""
    near = [s[1]["heap"]["free"] for s in samples if abs(s[0] - t) <= span / 2 and s[1]["heap"]]
    return max(near) if near else None


def figures(heap_kb, duration, outage, interval, layout, samples, final, devices, sub, out, error):
    bound = wire_bound_ms(layout)
    sweeps = [[] for _ in range(3)]
    for t, st, _, _ in samples:
        if t > 60:  # after the first sweeps (identification reads)
            for i, ch in enumerate(("rs485_1", "rs485_2", "rs485_3")):
                ms = st["devices"]["per_channel"][ch]["sweep_ms"]
                if ms:
                    sweeps[i].append(ms)
    sweep = [statistics.median(s) if s else None for s in sweeps]
    restarts = sum(t["restarts"] for t in final["tasks"].values()) if final else None
    polls = good = 0
    for dv in (devices or {}).get("devices", []):
        polls += dv["polls"]
        good += dv["good_polls"]
    produced = final["uplink"]["produced"] if final else 0
    received = len(sub.seqs)
    missing = sorted(set(range(1, max(sub.seqs or {0}) + 1)) - sub.seqs)
    r = {
        "heap_kb": heap_kb, "duration_s": duration, "outage_s": outage, "interval_s": interval,
        "free_start": _free_near(samples, 30), "free_5min": _free_near(samples, min(300, duration / 2)),
        "free_end": _free_near(samples, samples[-1][0] - 30) if samples else None,
        "sweep_ms": sweep, "bound_ms": [round(b) for b in bound],
        "sweep_ratio": max(s / b for s, b in zip(sweep, bound)) if all(sweep) else None,
        "polls": polls, "good_polls": good, "poll_share": good / polls if polls else None,
        "status_p50_ms": statistics.median(s[2] for s in samples) if samples else None,
        "status_p95_ms": sorted(s[2] for s in samples)[int(0.95 * (len(samples) - 1))] if samples else None,
        "devices_p50_ms": statistics.median(s[3] for s in samples) if samples else None,
        "produced": produced, "received": received, "deliveries": sub.deliveries, "missing": missing[:20],
        "evicted": final["uplink"]["evicted"] if final else None,
        "memory_errors": out.count("MemoryError"), "tracebacks": out.count("Traceback"), "task_restarts": restarts,
        "error": error,
    }
    r["passed"] = bool(
        not error and r["memory_errors"] == 0 and r["tracebacks"] == 0 and restarts == 0
        and produced and received == produced and not missing
        and r["free_end"] is not None and r["free_5min"] is not None and r["free_end"] >= r["free_5min"] * 0.98
    )
    r["log_tail"] = out[-3000:] if not r["passed"] else ""
    return r


def report(r):
    print("Soak: %d s, %d KB heap, broker down %d s, a sample per device every %d s"
          % (r["duration_s"], r["heap_kb"], r["outage_s"], r["interval_s"]))
    print("  free heap: start %s, 5 min %s, end %s bytes" % (r["free_start"], r["free_5min"], r["free_end"]))
    if r["sweep_ratio"]:
        print("  sweep per channel %s ms, wire bound %s ms: worst %.3f x bound"
              % ([round(s) for s in r["sweep_ms"]], r["bound_ms"], r["sweep_ratio"]))
    if r["poll_share"] is not None:
        print("  polls: %d, %.2f %% succeeded" % (r["polls"], 100 * r["poll_share"]))
    if r["status_p50_ms"] is not None:
        print("  /api/status p50 %.1f ms, p95 %.1f ms; /api/devices p50 %.1f ms"
              % (r["status_p50_ms"], r["status_p95_ms"], r["devices_p50_ms"]))
    print("  samples produced %d, received by the broker %d (%d deliveries incl. duplicates), missing %s, "
          "evicted %s" % (r["produced"], r["received"], r["deliveries"], r["missing"] or "none", r["evicted"]))
    print("  MemoryError: %d, tracebacks: %d, task restarts: %s%s"
          % (r["memory_errors"], r["tracebacks"], r["task_restarts"], ", error: " + r["error"] if r["error"] else ""))
    print("  %s" % ("PASSED" if r["passed"] else "FAILED"))
    if r["log_tail"]:
        print(r["log_tail"])


def search(lo, hi, duration, outage, interval):
    """Bisects heap sizes (KB, multiples of 8) for the smallest that passes."""
    with tempfile.TemporaryDirectory() as d:
        code = os.path.join(d, "build")
        build(code)
        best = None
        while hi - lo > 8:
            mid = (lo + hi) // 2 // 8 * 8
            r = soak(mid, duration, outage, interval, code=code, quiet=True)
            print("  %d KB: %s%s" % (mid, "passed" if r["passed"] else "failed",
                                     "" if r["passed"] else " (MemoryError %d, error %s)" % (r["memory_errors"],
                                                                                            r["error"])), flush=True)
            if r["passed"]:
                hi, best = mid, r
            else:
                lo = mid
        return hi, best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=3600, help="seconds (default 3600)")
    ap.add_argument("--heap", default="192k")
    ap.add_argument("--outage", type=int, help="seconds the broker is down (default 300, or a quarter of a short run)")
    ap.add_argument("--interval", type=int, default=60, help="upload interval, s (default 60)")
    ap.add_argument("--search", nargs=2, metavar=("LOW", "HIGH"), help="find the smallest heap that passes")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args(argv)
    outage = args.outage if args.outage is not None else min(300, args.duration // 4)
    if args.search:
        print("Smallest heap: bisecting %s-%s with %d s runs" % (args.search[0], args.search[1], args.duration))
        kb, r = search(_kb(args.search[0]), _kb(args.search[1]), args.duration, outage, args.interval)
        print("Smallest heap that passed: %d KB" % kb)
        if r:
            report(r)
        return 0
    r = soak(_kb(args.heap), args.duration, outage, args.interval)
    report(r)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=1)
    return 0 if r["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
