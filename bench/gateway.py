"""The Modbus TCP gateway (issue 18): what it costs a client and what it costs the pollers.

16 ATESS inverters on RS485-1 at 9600 baud (the simulated plant, pymodbus slaves, wire-time
model), the gateway and the poller under the unix port (bench/mp_gateway.py), read by plain
Modbus TCP clients (raw MBAP frames, each answer checked: transaction id, function, byte count,
and the registers where the plant's values are fixed) in a process of their own, so that neither
their work nor the plant's shares an interpreter lock with the other.

- A forwarded read's time over its wire time: the poller not running, so the bus is idle and
  every read goes to the device; one client, one read after the other, of 1, 5 and 125
  registers. Wire time as tools.sim.plant.wire_bound_ms counts it: request and reply bytes at
  the line's character time, plus t3.5 (goal: under 15 ms added).
- Cached read latency: the poller polling all 16 at their map's interval (a pass takes longer
  than the interval: the bus never rests), one client reading registers the poll keeps (input
  174-175), one read after the other (goal p95 under 5 ms).
- The pollers' good-poll rate with 4 clients reading as fast as they can, over the rate with no
  client (goal >= 0.90): the clients reading registers the poll keeps; then (a figure without a
  goal) registers no poll keeps (the serial number), every read on the bus.

Run: ``make bench`` (or ``python -m bench.gateway``; ``GATEWAY_WINDOW_S`` sets each rate
window, 30 s by default). Figures are printed, nothing is asserted.
"""

import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from firmware import wire
from tools.sim import ptys
from tools.sim.plant import MODEL_CODES, Plant, _ascii
from tools.venvtool import find

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BAUD = 9600
UNITS = range(1, 17)
MODELS = ("PCS", "HPS", "PBD")


def _hex(regs):
    return "".join("%04x" % r for r in regs)


def model(unit):
    return MODELS[unit % 3]


CACHED = [[u, 4, 174, 2, _hex([3436, 3326])] for u in UNITS]  # BMS cell voltages: the poll keeps them
SERIAL = [[u, 3, 180, 5, _hex(_ascii("ATS1%06d" % u, 5))] for u in UNITS]  # no poll reads them
FORWARDED = {1: [[u, 3, 43, 1, _hex([MODEL_CODES[model(u)]])] for u in UNITS], 5: SERIAL,
             125: [[u, 4, 0, 125, None] for u in UNITS]}


def wire_ms(quantity, baud=BAUD):
    """A read of ``quantity`` registers on the wire: 8 request + 5 + 2 per register reply bytes, t3.5."""
    return (wire.frame_us(13 + 2 * quantity, baud) + wire.t35_us(baud)) / 1000


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, (p * len(xs) + 99) // 100 - 1)] if xs else float("nan")


# --- the clients (their own process: python -m bench.gateway clients <json>) ---

def _recv(s, n):
    buf = b""
    while len(buf) < n:
        got = s.recv(n - len(buf))
        if not got:
            raise OSError("closed by the gateway")
        buf += got
    return buf


def _read(s, tid, unit, fn, addr, q, want):
    """One read; None, or what was wrong with its answer."""
    s.sendall(struct.pack(">HHHBBHH", tid, 0, 6, unit, fn, addr, q))
    head = _recv(s, 7)
    body = _recv(s, struct.unpack(">H", head[4:6])[0] - 1)
    if struct.unpack(">H", head[:2])[0] != tid or head[6] != unit:
        return "answer for transaction %d unit %d" % (struct.unpack(">H", head[:2])[0], head[6])
    if body[0] != fn or body[1] != 2 * q:
        return "unit %d: exception or wrong size: %s" % (unit, body.hex())
    if want and body[2:].hex() != want:
        return "unit %d: %s, the plant holds %s" % (unit, body[2:].hex(), want)
    return None


def _client(port, reads, k, stop, count, out):
    lat = [[] for _ in reads]
    errors = []
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    n = 0
    while not stop.is_set() and (count is None or n < count):
        i = (k + n) % len(reads)
        t = time.perf_counter()
        err = _read(s, n & 0xFFFF, *reads[i])
        lat[i].append((time.perf_counter() - t) * 1000)
        if err:
            errors.append(err)
        n += 1
    s.close()
    out[k] = {"lat": lat, "errors": errors}


def clients(spec):
    """``spec``: port, n (clients), seconds (or count per client), reads [[unit, fn, addr, count,
    hex or None]]; client k starts at read 4k. Prints GO as they start, then their times and errors (JSON)."""
    stop = threading.Event()
    out = {}
    threads = [threading.Thread(target=_client, args=(spec["port"], spec["reads"], k * 4, stop, spec.get("count"),
                                                      out)) for k in range(spec["n"])]
    for t in threads:
        t.start()
    print("GO", flush=True)
    if spec.get("seconds"):
        time.sleep(spec["seconds"])
        stop.set()
    for t in threads:
        t.join()
    lat = [x for r in out.values() for per in r["lat"] for x in per]
    errors = [e for r in out.values() for e in r["errors"]]
    print(json.dumps({"lat": lat, "errors": errors[:5], "error_count": len(errors)}), flush=True)


# --- the firmware under the unix port ---

class Firmware:
    """bench/mp_gateway.py in a micropython process; its lines timestamped as they arrive."""

    def __init__(self, folder, pty, poll):
        self.port = _free_port()
        path = os.path.join(folder, "gw.json")
        with open(path, "w") as f:
            json.dump({"pty": pty, "baud": BAUD, "port": self.port, "poll": poll,
                       "units": [[u, "atess_inverter"] for u in UNITS]}, f)
        env = dict(os.environ, MICROPYPATH=":".join([ROOT, os.path.join(ROOT, "lib"), ".frozen"]))
        self.proc = subprocess.Popen([find("micropython"), os.path.join(ROOT, "bench", "mp_gateway.py"), path],
                                     cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.polls, self.stats, self.lines = [], [], []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(180):
            self.stop()
            raise RuntimeError("the gateway never got ready:\n" + "\n".join(self.lines[-20:]))

    def _read(self):
        for line in self.proc.stdout:
            t = time.monotonic()
            if line.startswith("P "):
                self.polls.append((t, int(line[2:])))
            elif line.startswith("S "):
                self.stats.append((t, json.loads(line[2:])))
            else:
                self.lines.append(line.rstrip())
                if line.startswith("READY"):
                    self.ready.set()

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_clients(fw, n, reads, seconds=None, count=None):
    """The clients against ``fw``; (their result, the window they ran in on this clock)."""
    spec = json.dumps({"port": fw.port, "n": n, "reads": reads, "seconds": seconds, "count": count})
    p = subprocess.Popen([sys.executable, "-m", "bench.gateway", "clients", spec], cwd=ROOT,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "GO"
    t0 = time.monotonic()
    res = json.loads(p.stdout.readline())
    t1 = time.monotonic()
    p.wait()
    return res, (t0, t1)


def window(fw, t0, t1):
    """What the firmware did between t0 and t1: the good-poll rate, polls per device, its counters."""
    polls = [p for p in fw.polls if t0 <= p[0] <= t1]
    rate = (len(polls) - 1) / (polls[-1][0] - polls[0][0]) if len(polls) > 1 else 0.0
    per = {u: sum(1 for p in polls if p[1] == u) for u in UNITS}
    stats = [s for t, s in fw.stats if t0 <= t <= t1 + 1.1]
    before = [s for t, s in fw.stats if t < t0] or [stats[0]]
    delta = {k: stats[-1][k] - before[-1][k] for k in ("requests", "cached", "forwarded", "exceptions")}
    tx = [sum(s["polls"][i] for s in stats) for i in range(3)]
    return {"rate": rate, "polls": len(polls), "per_device": (min(per.values()), max(per.values())),
            "tx": tx, "late_ms_all": [s["late_ms"] for s in stats],
            "late_ms": max(s["late_ms"] for s in stats), "user_ms": [x / 1000 for s in stats for x in s["user_us"]],
            **delta}


def with_plant(folder, poll, body):
    a, b = os.path.join(folder, "m"), os.path.join(folder, "s")
    socat = ptys.pair(a, b)
    plant = Plant({1: b}, [(1, u, "atess_inverter", model(u)) for u in UNITS], BAUD)
    fw = None
    try:
        fw = Firmware(folder, a, poll)
        return body(fw)
    finally:
        if fw:
            fw.stop()
        plant.stop()
        socat.terminate()
        socat.wait()


def forwarded(fw):
    """One client, one read after the other, on the idle bus: per size, its times and the channel's."""
    out = {}
    for q, reads in FORWARDED.items():
        res, (t0, t1) = run_clients(fw, 1, reads, count=15 if q > 100 else 60)
        time.sleep(1.3)  # the firmware's next counters line
        w = window(fw, t0, t1)
        out[q] = dict(res, channel_ms=w["user_ms"], late_ms=w["late_ms"])
    return out


def alone(fw, seconds):
    t0 = time.monotonic()
    time.sleep(seconds)
    return window(fw, t0, time.monotonic())


def saturated(fw, seconds):
    """No client, the clients' phases, no client again (the machine's other load moves the rate)."""
    time.sleep(2)
    out = {"alone": alone(fw, seconds)}
    phases = (("latency", 1, CACHED, 10), ("cached", 4, CACHED, seconds), ("serial", 4, SERIAL, seconds))
    for name, n, reads, s in phases:
        res, (t0, t1) = run_clients(fw, n, reads, seconds=s)
        time.sleep(1.3)
        out[name] = dict(window(fw, t0, t1), **res, seconds=t1 - t0)
    out["alone_after"] = alone(fw, seconds)
    return out


def _errors(r):
    return "" if not r["error_count"] else "; %d WRONG ANSWERS, e.g. %s" % (r["error_count"], r["errors"][0])


def print_forwarded(fwd):
    print("Modbus TCP gateway, a forwarded read (16 inverters on RS485-1 at 9600 baud, the bus otherwise idle, "
          "one client):")
    for q, r in fwd.items():
        w = wire_ms(q)
        lat, ch = r["lat"], r["channel_ms"]
        print("  %3d registers: %d reads, p50 %.1f ms, p95 %.1f ms; wire %.1f ms; added p50 %.1f ms, p95 %.1f ms "
              "(goal < 15 ms); of which the channel (adapter, slave) p50 %.1f, p95 %.1f ms, TCP and gateway p50 %.1f, "
              "p95 %.1f ms; event loop late by %d ms at worst%s"
              % (q, len(lat), pct(lat, 50), pct(lat, 95), w, pct(lat, 50) - w, pct(lat, 95) - w,
                 pct(ch, 50) - w, pct(ch, 95) - w, pct(lat, 50) - pct(ch, 50), pct(lat, 95) - pct(ch, 95),
                 r["late_ms"], _errors(r)))


def print_saturated(r):
    a, lat, c, s = r["alone"], r["latency"], r["cached"], r["serial"]
    print("Modbus TCP gateway on a saturated bus (16 inverters polled at 10 s, a pass takes longer):")
    # A forwarded read takes at least its wire time (27.6 ms): the fastest are the cached ones.
    hits = sorted(lat["lat"])[: len(lat["lat"]) - lat["forwarded"]]
    print("  a read of registers the poll keeps, one client, one after the other: %d reads in %.0f s, p50 %.2f ms, "
          "p95 %.2f ms, max %.1f ms; %d of them forwarded (the poll data no longer live); the %d "
          "answered from the poll data: p50 %.2f ms, p95 %.2f ms, max %.2f ms (goal p95 < 5 ms)%s"
          % (len(lat["lat"]), lat["seconds"], pct(lat["lat"], 50), pct(lat["lat"], 95), max(lat["lat"]),
             lat["forwarded"], len(hits), pct(hits, 50), pct(hits, 95), max(hits), _errors(lat)))
    base = (a["rate"] + r["alone_after"]["rate"]) / 2
    for name, x in (("no client", a), ("4 clients reading registers the poll keeps as fast as they can", c),
                    ("4 clients reading the serial number (no poll keeps it) as fast as they can", s),
                    ("no client again", r["alone_after"])):
        load = ""
        if "lat" in x:
            goal = " (goal >= 0.90)" if x is c else ""
            load = "%d reads/s (p50 %.1f ms, p95 %.1f ms, %d forwarded%s); with / without %.3f%s; " % (
                len(x["lat"]) / x["seconds"], pct(x["lat"], 50), pct(x["lat"], 95), x["forwarded"], _errors(x),
                x["rate"] / base, goal)
        n, us, wire_us = x["tx"]
        print("  %s: %sgood polls %.3f /s (%d-%d per device); a poll's request %.1f ms over its wire time; "
              "event loop late by %d ms at worst" % (name, load, x["rate"], x["per_device"][0], x["per_device"][1],
                                                      (us - wire_us) / 1000 / n if n else 0, x["late_ms"]))


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "clients":
        return clients(json.loads(sys.argv[2]))
    seconds = int(os.environ.get("GATEWAY_WINDOW_S", "30"))
    with tempfile.TemporaryDirectory() as d:
        fwd = with_plant(d, False, forwarded)
    print_forwarded(fwd)
    with tempfile.TemporaryDirectory() as d:
        sat = with_plant(d, True, lambda fw: saturated(fw, seconds))
    print_saturated(sat)
    if os.environ.get("GATEWAY_JSON"):  # every sample, for a closer look
        with open(os.environ["GATEWAY_JSON"], "w") as f:
            json.dump({"forwarded": fwd, "saturated": sat}, f)


if __name__ == "__main__":
    sys.exit(main())
