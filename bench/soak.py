"""``make soak``: the whole logger on a small heap (issue 10), measured.

The ``.mpy`` build (``tools/build.py --march x64``) runs under the MicroPython unix port with
``-X heapsize`` (or, with ``--micropython``, a unix port with the firmware frozen in, as the
board image has it, runs a ``--frozen`` build: the code then takes no heap), against the
simulated plant with 60 devices (20 per channel, 9600 baud, wire-time model), uploading to a
local mosquitto, while a client logs in and reads ``/api/status`` and ``/api/devices`` every few
seconds. The broker is stopped for ``--outage`` seconds in the middle.
An independent subscriber (paho) counts what reaches the broker.

    python -m bench.soak [--duration 3600] [--heap 704k] [--outage 300] [--interval 60]
    python -m bench.soak --search 128wk 320wk --duration 120      # the smallest heap that passes
    python -m bench.soak --micropython ~/micropython/ports/unix/build-32/micropython   # 192k

A unix port with the firmware frozen in is built from a MicroPython checkout with
``firmware/boards/UNIX/manifest.py`` (docs/heap.md); 32-bit (``-m32``) it has the board's word
size, so its heap holds what the ESP32-S3's would.

Heap sizes are written as ``-X heapsize`` takes them and passed on unchanged: ``192k`` is
192 KB; ``192wk`` is 192 KB counted in 32-bit words, which the unix port scales by its word size
(384 KB on a 64-bit PC): a rough stand-in for the board's 192 KB, its objects being about twice
as big here. The 32-bit build with the firmware frozen in is the faithful one.

Prints the figures and a verdict; exit status 0 when the run passed.
"""

import argparse
import functools
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
from firmware.log import Log  # noqa: E402
from firmware.rs485 import SECTIONS  # noqa: E402
from firmware.settings import Settings  # noqa: E402
from tools.sim.broker import Broker, free_port  # noqa: E402
from tools.sim.client import Client  # noqa: E402
from tools.sim.plant import full_layout, wire_bound_ms  # noqa: E402
from tools.sim.run import seed_settings  # noqa: E402
from tools.venvtool import find  # noqa: E402

SN, CHECK, PASSWORD = "SOAK000001", "K7W3E", "soak-password-1"
CHANNELS = SECTIONS  # the status' per_channel keys
SWEEP_LIMIT = 1.05  # the sweep may take at most 5 % more than the wire needs
LEAK_SLACK = 0.01  # free heap at the end may be this share of the heap below the 5-minute level
DRAIN_S = 20  # at the end, how long the queue may take to empty


INTERPRETER = []  # --micropython: another unix port than the venv's (one with the firmware frozen in)


def interpreter():
    return (INTERPRETER or [find("micropython") or sys.exit("soak: micropython is missing (make deps installs it)")])[0]


@functools.cache
def port_word_bytes():
    """The unix port's word size in bytes (8 on a 64-bit PC), asked of the interpreter itself."""
    mp = interpreter()
    out = subprocess.run([mp, "-c", "import sys; print(len(bin(sys.maxsize)) - 1)"],
                         capture_output=True, text=True, check=True).stdout
    return int(out) // 8  # bin(2**63 - 1) is "0b" and 63 ones


class Heap:
    """A heap size as ``-X heapsize`` takes it: a number, ``w`` right after it to count it in 32-bit
    words (scaled by the port's word size / 4, as ports/unix/main.c does), then ``k`` or ``m``."""

    def __init__(self, text):
        m = re.fullmatch(r"(\d+)(w?)([km]?)", text.lower())
        if not m:
            raise argparse.ArgumentTypeError("not a heap size: %r (e.g. 192k, 192wk, 262144)" % text)
        self.text = text
        self.words = bool(m.group(2))
        self.kb = int(m.group(1)) * {"": 1 / 1024, "k": 1, "m": 1024}[m.group(3)]
        self.bytes = int(self.kb * 1024 * (port_word_bytes() / 4 if self.words else 1))

    @classmethod
    def of_kb(cls, kb, words):
        return cls("%d%sk" % (kb, "w" if words else ""))

    def __str__(self):
        kb = "%g KB" % self.kb
        if not self.words:
            return kb
        return "%s in 32-bit words = %g KB on this %d-bit port" % (kb, self.bytes / 1024, 8 * port_word_bytes())


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
    """The .mpy build; for an interpreter with the firmware frozen in, only the start-up files and data."""
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "build.py"), "--out", out, "--march", "x64"]
                   + (["--frozen"] if INTERPRETER else []), check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def soak(heap, duration, outage, interval, every=5.0, code=None, quiet=False, sweep_limit=SWEEP_LIMIT):
    """One run at ``heap`` (a Heap); returns its figures (a dict). ``sweep_limit``: the most a
    channel's sweep may take over its wire bound (the suite, on a loaded machine, allows more)."""
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
        Settings(flash, Log(echo=False)).update("server", {"upload_interval_s": interval})
        sub = Subscriber(broker.port)
        port = free_port()
        log_path = os.path.join(d, "firmware.log")
        log = open(log_path, "wb")
        # In its own process group (start_new_session): killed whole if need be.
        sim = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "sim", "run.py"), "--run-dir", run_dir,
                                "--http-port", str(port), "--devices", "60", "--firmware", code,
                                "--heapsize", heap.text, "--micropython", interpreter(),
                                # the history's first 5-minute mark 10 s after the clock is set: its
                                # one-time state is made at the start, not in the leak check's window
                                "--time", str((int(time.time()) // 300 + 1) * 300 - 10)], cwd=ROOT, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
        client = Client(port, PASSWORD)
        seen = {"samples": [],  # (t, status, status_ms, devices_ms)
                "failed": [],  # requests answered with an error
                "final": None, "devices": None,  # the last replies
                "drain_s": None,  # how long the queue took to empty after the run (None: not within DRAIN_S)
                "error": None}
        samples, failed = seen["samples"], seen["failed"]
        t0 = time.monotonic()
        down_at = t0 + (duration - outage) / 2
        up_at = down_at + outage
        broker_down = False

        def ask(path):
            """GETs ``path``: (reply, ms), or (None, None) after an error reply (a 500 after a
            MemoryError) or a reply cut short (a MemoryError while it was being sent), which is
            counted and the run goes on."""
            try:
                return client.req("GET", path)
            except (RuntimeError, ValueError, http.client.HTTPException) as exc:
                failed.append("%.0f s: %s" % (time.monotonic() - t0, exc))
                say("  %4.0f s: %s" % (time.monotonic() - t0, exc))
                return None, None

        try:
            client.wait_up(60, sim)
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
                st, st_ms = ask("/api/status")
                dv, dv_ms = ask("/api/devices")
                seen["devices"] = dv or seen["devices"]
                if st and dv:
                    samples.append((now - t0, st, st_ms, dv_ms))
                    if len(samples) % max(1, int(60 / every)) == 0:
                        say("  %4.0f s: heap free %s, devices %d/60, backlog %d, sent %d"
                            % (now - t0, st["heap"]["free"] if st["heap"] else "?", st["devices"]["communicating"],
                               st["uplink"]["backlog"], st["uplink"]["sent"]))
                if sim.poll() is not None:
                    raise RuntimeError("the simulator stopped")
                time.sleep(max(0, every - (time.monotonic() - now)))
            if broker_down:
                broker.start()
            end = time.monotonic()
            while time.monotonic() - end < DRAIN_S:  # the last samples go out
                st, _ = ask("/api/status")
                if st and st["uplink"]["backlog"] == 0 and st["uplink"]["connected"]:
                    seen["drain_s"] = time.monotonic() - end
                    break
                time.sleep(1)
            time.sleep(2)
            seen["final"] = ask("/api/status")[0]
            seen["devices"] = ask("/api/devices")[0] or seen["devices"]
        except (OSError, RuntimeError) as exc:
            seen["error"] = "%s: %s" % (type(exc).__name__, exc)
        finally:
            stop_at = os.fstat(log.fileno()).st_size  # what the firmware says once told to stop is not the run
            if sim.poll() is None:
                sim.send_signal(signal.SIGINT)
            try:
                sim.wait(15)
            except subprocess.TimeoutExpired:  # it ignores SIGINT when started from a background job
                os.killpg(sim.pid, signal.SIGKILL)
                sim.wait()
            log.close()
            sub.close()
            broker.close()
        with open(log_path, "rb") as f:
            out = f.read()
    run_log, out = out[:stop_at].decode(errors="replace"), out.decode(errors="replace")
    return figures(heap, duration, outage, interval, layout, seen, sub, out, run_log, sweep_limit)


def _window(samples, lo, hi):
    """The largest free heap among the samples taken from ``lo`` to ``hi`` s: a request in flight
    holds memory, so the largest is the level of live data."""
    free = [st["heap"]["free"] for t, st, _, _ in samples if lo <= t <= hi and st["heap"]]
    return max(free) if free else None


def _heap_figures(samples, duration):
    """Free heap at the start, at 5 minutes (the middle of a run under 10 minutes) and at the end,
    each the largest in a window (60 s; 20 s under 10 minutes) there; the smallest seen."""
    w = 60 if duration >= 600 else 20
    mid, label = (300, "5 min") if duration >= 600 else (duration / 2, "middle (%d s)" % (duration // 2))
    r = {"window_s": w, "mid_label": label, "free_start": None, "free_mid": None, "free_end": None,
         "free_min": None, "heap_total": None, "leak_slack": None, "heap_series": []}
    heaps = [st["heap"] for _, st, _, _ in samples if st["heap"]]
    if heaps:
        first, last = samples[0][0], samples[-1][0]
        total = heaps[0]["free"] + heaps[0]["used"]
        r.update(free_start=_window(samples, first, first + w), free_mid=_window(samples, mid - w / 2, mid + w / 2),
                 free_end=_window(samples, last - w, last), free_min=min(h["free"] for h in heaps),
                 heap_total=total, leak_slack=round(LEAK_SLACK * total),
                 heap_series=[[round(t), st["heap"]["free"]] for t, st, _, _ in samples if st["heap"]])
    return r


def _sweep_figures(samples, layout):
    """Per channel, the median of read_all_ms (the time to read every device once, back to back)
    from the first sample with every device online, against the wire-time bound."""
    bound = wire_bound_ms(layout)
    online = next((i for i, s in enumerate(samples)
                   if s[1]["devices"]["communicating"] == s[1]["devices"]["configured"]), len(samples))
    reads = [[s[1]["devices"]["per_channel"][ch]["read_all_ms"] for s in samples[online:]] for ch in CHANNELS]
    med = [statistics.median(x for x in r if x is not None) if any(x is not None for x in r) else None
           for r in reads]
    ratio = [m / b if m is not None else None for m, b in zip(med, bound)]
    return {"all_online_s": samples[online][0] if online < len(samples) else None,
            "read_all_samples": [sum(x is not None for x in r) for r in reads],
            "read_all_ms": med, "bound_ms": [round(b, 1) for b in bound], "sweep_ratio": ratio,
            "sweep_60_ms": max(med) if None not in med else None, "bound_60_ms": round(max(bound), 1)}


def _pct(values, p):
    values = sorted(values)
    return values[int(p * (len(values) - 1))] if values else None


def memory_errors(log):
    """MemoryErrors in the firmware's log: each line naming one, except a task's failure line that
    its traceback (ending in another such line) follows."""
    lines = log.splitlines()
    return sum("MemoryError" in line and (line.startswith("MemoryError")
                                          or lines[i + 1:i + 2] != ["Traceback (most recent call last):"])
               for i, line in enumerate(lines))


def figures(heap, duration, outage, interval, layout, seen, sub, out, run_log, sweep_limit=SWEEP_LIMIT):
    """The figures and the verdict; ``out`` is the sim's whole output, ``run_log`` the part before
    it was told to stop."""
    samples, failed, final, error = seen["samples"], seen["failed"], seen["final"], seen["error"]
    statuses = [s[1] for s in samples] + ([final] if final else [])
    restarts = max((sum(t["restarts"] for t in st["tasks"].values()) for st in statuses), default=None)
    polls = good = 0
    for dv in (seen["devices"] or {}).get("devices", []):
        polls += dv["polls"]
        good += dv["good_polls"]
    last = final or (samples[-1][1] if samples else None)
    produced = last["uplink"]["produced"] if last else 0
    received = len(sub.seqs)  # distinct sequence numbers: 1, 2, ... from a fresh flash
    missing = sorted(set(range(1, max(sub.seqs | {produced}) + 1)) - sub.seqs)
    r = {
        "heap": heap.text, "heap_kb": heap.kb, "heap_words": heap.words, "heap_bytes": heap.bytes,
        "heap_desc": str(heap), "interpreter": interpreter(),
        "code": "frozen into the interpreter" if INTERPRETER else ".mpy, loaded into the heap",
        "duration_s": duration, "outage_s": outage, "interval_s": interval,
        **_heap_figures(samples, duration), **_sweep_figures(samples, layout),
        "polls": polls, "good_polls": good, "poll_share": good / polls if polls else None,
        "status_p50_ms": _pct([s[2] for s in samples], 0.5), "status_p95_ms": _pct([s[2] for s in samples], 0.95),
        "devices_p50_ms": _pct([s[3] for s in samples], 0.5), "requests_failed": len(failed), "failed": failed[:10],
        "produced": produced, "produced_final": final is not None, "received": received, "deliveries": sub.deliveries,
        "missing_count": len(missing), "missing": missing[:20],
        "evicted": last["uplink"]["evicted"] if last else None,
        "memory_errors": memory_errors(run_log), "tracebacks": run_log.count("Traceback"),
        "tracebacks_at_stop": out.count("Traceback") - run_log.count("Traceback"),
        "last_exception": (re.findall(r"^\w+(?:Error|Exception)\b.*$", run_log, re.M) or [None])[-1],
        "task_restarts": restarts,
        "firmware_resets": run_log.count("sim: firmware reset"),
        "firmware_exit": (re.findall(r"sim: firmware exited with (-?\d+)", run_log) or [None])[0],
        "drain_s": seen["drain_s"], "error": error, "sweep_limit": sweep_limit,
    }
    ratios = r["sweep_ratio"]
    r["checks"] = {
        "ran to the end": not error,
        "every request answered": not failed,
        "no MemoryError": r["memory_errors"] == 0,
        "no traceback": r["tracebacks"] == 0,
        "no task restart": restarts == 0,
        "no firmware reset or exit": r["firmware_resets"] == 0 and r["firmware_exit"] is None,
        "every sample received": final is not None and bool(produced) and not missing and not r["evicted"],
        "sweep within %.2f x the wire bound" % sweep_limit:
            None not in ratios and all(1.0 <= x <= sweep_limit for x in ratios),
        "no leak": None not in (r["free_end"], r["free_mid"]) and r["free_end"] >= r["free_mid"] - r["leak_slack"],
    }
    r["passed"] = all(r["checks"].values())
    r["log_tail"] = out[-3000:] if not r["passed"] else ""
    r["stop_log"] = out[len(run_log):][-3000:] if r["tracebacks_at_stop"] else ""  # in --json only
    return r


def _n(x, fmt="%d"):
    return "-" if x is None else fmt % x


def report(r):
    print("Soak: %d s, heap %s (-X heapsize=%s), broker down %d s, a sample per device every %d s"
          % (r["duration_s"], r["heap_desc"], r["heap"], r["outage_s"], r["interval_s"]))
    print("  interpreter %s, code %s" % (r["interpreter"], r["code"]))
    print("  free heap after a collection (largest in a %s s window): start %s, %s %s, end %s of %s bytes; "
          "smallest seen %s" % (_n(r["window_s"]), _n(r["free_start"]), r["mid_label"], _n(r["free_mid"]),
                                _n(r["free_end"]), _n(r["heap_total"]), _n(r["free_min"])))
    if r["free_mid"] is not None and r["free_end"] is not None:
        print("  leak check: end %d >= %s %d - slack %d (1 %% of the heap) = %d: %s"
              % (r["free_end"], r["mid_label"], r["free_mid"], r["leak_slack"], r["free_mid"] - r["leak_slack"],
                 "yes" if r["checks"]["no leak"] else "NO"))
    print("  read every device once (median read_all_ms from %s s, all online), against the wire bound:"
          % _n(r["all_online_s"], "%.0f"))
    for i, ch in enumerate(CHANNELS):
        ratio = r["sweep_ratio"][i]
        note = "" if ratio is None or ratio >= 1.0 else "  SUSPICIOUS: faster than the wire"
        print("    %s: %s ms / %s ms = %s (%d samples)%s" % (ch, _n(r["read_all_ms"][i], "%.0f"), r["bound_ms"][i],
                                                        _n(ratio, "%.3f"), r["read_all_samples"][i], note))
    print("  60-device sweep (channels in parallel): %s ms against a wire bound of %s ms"
          % (_n(r["sweep_60_ms"], "%.0f"), r["bound_60_ms"]))
    print("  polls: %d, %s %% good" % (r["polls"], _n(r["poll_share"] and 100 * r["poll_share"], "%.2f")))
    print("  /api/status p50 %s ms, p95 %s ms; /api/devices p50 %s ms; requests failed: %d%s"
          % (_n(r["status_p50_ms"], "%.1f"), _n(r["status_p95_ms"], "%.1f"), _n(r["devices_p50_ms"], "%.1f"),
             r["requests_failed"], " (%s)" % "; ".join(r["failed"][:3]) if r["failed"] else ""))
    print("  samples produced %d%s, received by the broker %d (%d deliveries incl. duplicates), missing %s, "
          "evicted %s%s" % (r["produced"], "" if r["produced_final"] else " (by the last status answered)",
                            r["received"], r["deliveries"],
                            "%d %s" % (r["missing_count"], r["missing"]) if r["missing"] else "none", r["evicted"],
                            "" if r["error"] else "; queue still not empty %d s after the run" % DRAIN_S
                            if r["drain_s"] is None else "; queue empty %.0f s after the run" % r["drain_s"]))
    print("  MemoryError: %d, tracebacks: %d%s%s, task restarts: %s, firmware resets: %d, firmware exit: %s%s"
          % (r["memory_errors"], r["tracebacks"], " (last: %s)" % r["last_exception"] if r["last_exception"] else "",
             " (and %d once stopped)" % r["tracebacks_at_stop"] if r["tracebacks_at_stop"] else "",
             _n(r["task_restarts"]), r["firmware_resets"], r["firmware_exit"] or "no",
             ", error: " + r["error"] if r["error"] else ""))
    failed = [name for name, ok in r["checks"].items() if not ok]
    print("  %s" % ("PASSED" if r["passed"] else "FAILED: " + ", ".join(failed)))
    if r["log_tail"]:
        print(r["log_tail"])


def search(lo, hi, duration, outage, interval):
    """Bisects heap sizes (``lo``, ``hi``: Heaps in the same form; KB, multiples of 8) for the
    smallest that passes; returns (that Heap or None, its figures)."""
    words, lo, hi = lo.words, int(lo.kb) // 8 * 8, -(-int(hi.kb) // 8) * 8
    with tempfile.TemporaryDirectory() as d:
        code = os.path.join(d, "build")
        build(code)

        def attempt(kb):
            r = soak(Heap.of_kb(kb, words), duration, outage, interval, code=code, quiet=True)
            print("  %s: %s" % (Heap.of_kb(kb, words), "passed" if r["passed"] else "failed: %s (last: %s)" % (
                ", ".join(name for name, ok in r["checks"].items() if not ok), r["last_exception"])), flush=True)
            return r

        best = None
        while hi - lo > 8:
            mid = (lo + hi) // 2 // 8 * 8
            r = attempt(mid)
            if r["passed"]:
                hi, best = mid, r
            else:
                lo = mid
        if best is None:  # the top was never tried: it must pass too
            best = attempt(hi)
        return (Heap.of_kb(hi, words) if best["passed"] else None), best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=3600, help="seconds (default 3600)")
    ap.add_argument("--heap", type=Heap,
                    help="as -X heapsize takes it: 640k, or 192wk for 192 KB in 32-bit words (default 704k: the "
                         "suite's minute passes there with the .mpy code in the heap; 192k with --micropython)")
    ap.add_argument("--outage", type=int, help="seconds the broker is down (default 300, or a quarter of a short run)")
    ap.add_argument("--interval", type=int, default=60, help="upload interval, s (default 60)")
    ap.add_argument("--search", nargs=2, type=Heap, metavar=("LOW", "HIGH"),
                    help="find the smallest heap that passes (both in the same form, e.g. 128wk 320wk)")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--micropython", help="a unix port with the firmware frozen in, as the board image has it "
                    "(docs/heap.md); default: the venv's, which loads the .mpy build into the heap")
    args = ap.parse_args(argv)
    if args.micropython:
        INTERPRETER.append(os.path.abspath(args.micropython))
    if args.heap is None:
        args.heap = Heap("192k" if args.micropython else "704k")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stops the sim and the broker on the way out
    outage = args.outage if args.outage is not None else min(300, args.duration // 4)
    if args.search:
        lo, hi = args.search
        if lo.words != hi.words:
            ap.error("--search: give both ends in the same form (both in words, e.g. 128wk 320wk, or neither)")
        print("Smallest heap: bisecting %s .. %s with %d s runs" % (lo, hi, args.duration), flush=True)
        heap, r = search(lo, hi, args.duration, outage, args.interval)
        print("Smallest heap that passed: %s" % (heap or "none up to %s" % hi))
    else:
        r = soak(args.heap, args.duration, outage, args.interval)
    report(r)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=1)
    return 0 if r["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
