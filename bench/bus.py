"""The RS485 bus as a managed resource (issue 17): the dead-device tax, and a scan.

Dead-device tax: 16 ATESS inverters on RS485-1 at 9600 baud (the simulated plant, pymodbus
slaves, wire-time model), polled at their map's interval by the firmware under the unix port;
then the same with 4 bad units configured too: one dead (nobody answers), one answering with a bad
CRC, one truncated, one as the wrong unit. Figure: the worst good device's good-poll rate with the
bad units / without, over 60 s (goal >= 0.95).

Scan: 247 addresses on one channel at 9600 baud with 5 devices present; the time and the types
found; then three channels at once.

Run: ``make bench`` (or ``python -m bench.bus``). Figures are printed, nothing is asserted.
"""

import json
import os
import subprocess
import sys
import tempfile

from tools.sim import ptys
from tools.sim.plant import Plant
from tools.venvtool import find

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BAD = {17: None, 18: "crc", 19: "truncated", 20: "wrong_unit"}  # None: dead, nothing at that address


def mp_env():
    return dict(os.environ, MICROPYPATH=":".join([ROOT, os.path.join(ROOT, "lib"), ".frozen"]))


def run_mp(script, cfg, folder, timeout=900):
    path = os.path.join(folder, "cfg.json")
    cfg["out"] = os.path.join(folder, "out.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    mode = [cfg.pop("mode", "tax")] if script.endswith("mp_bus.py") else []
    res = subprocess.run([find("micropython"), script] + mode + [path],
                         cwd=ROOT, env=mp_env(), capture_output=True, text=True, timeout=timeout)
    if res.returncode:
        raise RuntimeError(res.stdout + res.stderr)
    with open(cfg["out"]) as f:
        return json.load(f)


def tax(folder, good=16, window_ms=60000, interval_ms=None, backoff_ms=30000, backoff_max_ms=600000, baud=9600,
        probe_timeout_ms=None):
    """Runs the dead-device tax on a plant of ``good`` inverters plus the 4 bad units; the figures."""
    a, b = os.path.join(folder, "m"), os.path.join(folder, "s")
    socat = ptys.pair(a, b)
    models = ("PCS", "HPS", "PBD")
    layout = [(1, i, "atess_inverter", models[i % 3]) for i in range(1, good + 1)]
    bad = {good + 1 + k: f for k, f in enumerate(BAD.values())}
    layout += [(1, addr, "atess_inverter", "HPS") for addr, f in bad.items() if f]
    plant = Plant({1: b}, layout, baud, faults={(1, addr): f for addr, f in bad.items() if f})
    try:
        r = run_mp(os.path.join(ROOT, "bench", "mp_bus.py"),
                   {"pty": a, "baud": baud, "good": [[i, "atess_inverter"] for i in range(1, good + 1)],
                    "bad": [[addr, "atess_inverter"] for addr in bad], "window_ms": window_ms,
                    "interval_ms": interval_ms, "backoff_ms": backoff_ms, "backoff_max_ms": backoff_max_ms,
                    **({"probe_timeout_ms": probe_timeout_ms} if probe_timeout_ms else {})},
                   folder)
    finally:
        plant.stop()
        socat.terminate()
        socat.wait()
    alone, with_bad = r["alone"], r["with_bad"]
    ratios = {k: (with_bad["rates"][k] / alone["rates"][k] if alone["rates"][k] else 0.0) for k in alone["rates"]}
    r["ratios"] = ratios
    r["worst"] = min(ratios.values())
    r["bad_units"] = {str(addr): f or "dead" for addr, f in bad.items()}
    return r


def print_tax(r, window_ms):
    alone, with_bad = r["alone"], r["with_bad"]
    worst_dev = min(r["ratios"], key=r["ratios"].get)
    print("Dead-device tax: 16 inverters on RS485-1 at 9600 baud, map interval, %d s each:" % (window_ms // 1000))
    print("  alone:      good polls per device %d-%d, rate %.4f-%.4f /s"
          % (min(alone["counts"].values()), max(alone["counts"].values()),
             min(alone["rates"].values()), max(alone["rates"].values())))
    print("  with 4 bad: good polls per device %d-%d, rate %.4f-%.4f /s; %d tries of the bad units, "
          "probe share of the bus %.3f"
          % (min(with_bad["counts"].values()), max(with_bad["counts"].values()),
             min(with_bad["rates"].values()), max(with_bad["rates"].values()), with_bad["probes"],
             with_bad["probe_share"]))
    print("  worst good device's rate with / without: %.3f (device %s; goal >= 0.95)" % (r["worst"], worst_dev))
    u = sorted(alone["user_ms"] + with_bad["user_ms"])
    print("  a user's request (1 register) on the saturated bus, once a second: %d, median %d ms, longest %d ms "
          "(it waits for the transaction on the wire, at most one 125-register read: ~280 ms)"
          % (len(u), u[len(u) // 2], u[-1]))
    for addr, b in sorted(with_bad["bad"].items()):
        print("  bad unit %s (%s): %d tries, online %s, next try in %s s, last error: %s"
              % (addr, r["bad_units"][addr], b["polls"], b["online"], b["next_try_s"], b["last_error"]))


# The 5 devices a scanned channel holds, and which of them are configured (polled meanwhile).
SCAN_LAYOUT = [(3, "atess_inverter", "PCS"), (47, "atess_inverter", "HPS"), (120, "chint_dtsu666", None),
               (200, "eastron_sdm630", None), (247, "bcu_battery", None)]
SCAN_CONFIGURED = (47, 200)


def scan(folder, channels=(1,), first=1, last=247, baud=9600):
    """Scans ``channels`` (each holding SCAN_LAYOUT) at once; per channel the figures."""
    procs, paths, slaves = [], [], {}
    for ch in (1, 2, 3):
        a, b = os.path.join(folder, "m%d" % ch), os.path.join(folder, "s%d" % ch)
        procs.append(ptys.pair(a, b))
        paths.append(a)
        slaves[ch] = b
    plant = Plant(slaves, [(ch, a, t, m) for ch in (1, 2, 3) for a, t, m in SCAN_LAYOUT], baud)
    try:
        return run_mp(os.path.join(ROOT, "bench", "mp_scan.py"),
                      {"ptys": paths, "baud": baud, "first": first, "last": last, "scan": list(channels),
                       "configured": [{"type": t, "channel": ch, "address": a} for ch in (1, 2, 3)
                                      for a, t, _ in SCAN_LAYOUT if a in SCAN_CONFIGURED]}, folder)
    finally:
        plant.stop()
        for p in procs:
            p.terminate()
            p.wait()


def scan_right(found):
    """(all 5 found with the right type and model, no false one)."""
    want = {a: (t, m) for a, t, m in SCAN_LAYOUT}
    got = {f["address"]: (f["type"], f["model"]) for f in found}
    return got == want


def print_scan(one, three):
    r = one["1"]
    print("Scan: addresses 1-247 on RS485-1 at 9600 baud, 5 devices (2 configured, polled meanwhile):")
    print("  %.1f s (goal < 45 s); found %s; right types, nothing false: %s; %d good polls meanwhile"
          % (r["ms"] / 1000, ", ".join("%d %s%s" % (f["address"], f["type"], " " + f["model"] if f["model"] else "")
                                      for f in r["found"]), scan_right(r["found"]), r["good_polls_during"]))
    print("  three channels at once: %s s (slowest / one alone = %.2f); all right: %s"
          % (", ".join("%.1f" % (three[k]["ms"] / 1000) for k in sorted(three)),
             max(x["ms"] for x in three.values()) / r["ms"], all(scan_right(x["found"]) for x in three.values())))


def main():
    window = int(os.environ.get("BUS_WINDOW_MS", "60000"))
    with tempfile.TemporaryDirectory() as d:
        r = tax(d, window_ms=window)
    print_tax(r, window)
    with tempfile.TemporaryDirectory() as d:
        one = scan(d)
    with tempfile.TemporaryDirectory() as d:
        three = scan(d, (1, 2, 3))
    print_scan(one, three)


if __name__ == "__main__":
    sys.exit(main())
