"""What a garbage collection costs at the board's heap sizes, and the collection threshold from it.

Run: ``python -m bench.gcheap`` (part of ``make bench``). Runs ``bench/mp_gcheap.py`` under the
MicroPython unix port at 192 KB (the ESP32-S3's internal RAM, as MicroPython gets it without
PSRAM), 2 MB and 8 MB (octal PSRAM) heaps, counted in 32-bit words (``-X heapsize=<n>wk``) so the
same objects fill them as on the board, whose words and GC blocks are half the size of this 64-bit
port's. The live data are the logger's (maps, 60 devices, settings, log ring); the churn is what
status requests and polls allocate. For each heap: one ``gc.collect()`` with that live data, the
churn's time under several thresholds (``gc.threshold``), and the largest free run after it.

These are PC figures: an ESP32-S3 at 240 MHz is slower, and PSRAM slower than its internal RAM,
so the board's times are a multiple of these; the ratios between thresholds are what choose one.
"""

import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "shims"))  # micropython.const on CPython

from firmware.app import gc_threshold  # noqa: E402 - needs the shims

HEAPS = (("192 KB", "192wk", 192 * 1024), ("2 MB", "2048wk", 2 * 1024 * 1024), ("8 MB", "8192wk", 8 * 1024 * 1024))
ROUNDS = 200
BLOCK = 32  # bytes per GC block on the 64-bit port (4 words); the board's is 16


def interpreter():
    exe = os.path.join(os.path.dirname(sys.executable), "micropython")
    return exe if os.path.exists(exe) else "micropython"


def run(heap, threshold, rounds=ROUNDS):
    env = dict(os.environ, MICROPYPATH=":".join([ROOT, os.path.join(ROOT, "lib"), ".frozen"]))
    proc = subprocess.run([interpreter(), "-X", "heapsize=" + heap, "bench/mp_gcheap.py", str(threshold),
                           str(rounds)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode:
        return None
    out = json.loads(proc.stdout.splitlines()[0])
    m = re.search(r"max free sz: (\d+)", proc.stdout)
    out["max_free"] = int(m.group(1)) * BLOCK if m else None
    return out


def main():
    print("garbage collection on the unix port (64-bit), live data of the logger, %d churn rounds" % ROUNDS)
    for label, heap, size in HEAPS:
        chosen = gc_threshold(size)
        rows = []
        for t in sorted({16384, 65536, 262144, chosen, 0}):
            runs = [run(heap, t) for _ in range(3)]  # the fastest of three: the others were disturbed
            runs = [r for r in runs if r]
            rows.append((t, min(runs, key=lambda r: r["churn_ms"]) if runs else None))
        base = [r for t, r in rows if r and t == 0]
        r0 = base[0] if base else next(r for _, r in rows if r)
        print("%s heap (%d bytes here): live %d bytes, gc.collect() min %d / median %d us, churn allocates "
              "%d KB a round" % (label, r0["heap"], r0["live"], r0["collect_us"][0], r0["collect_us"][1],
                                  r0["alloc_per_round"] // 1024))
        for t, r in rows:
            name = ("threshold %d KB" % (t // 1024) if t else "no threshold") + (" (chosen)" if t == chosen else "")
            if r is None:
                print("  %-26s MemoryError" % name)
                continue
            n = r["alloc_per_round"] * ROUNDS // t if t else 0
            print("  %-26s churn %7.1f ms, ~%5d collections, largest free run after %s bytes"
                  % (name, r["churn_ms"], n, r["max_free"]))
    print("chosen: gc.threshold(max(16 KB, heap / 12)) (firmware/app.py gc_threshold): the cost of collecting "
          "per byte allocated stays about that of 16 KB at 192 KB, where the soak validated it")


if __name__ == "__main__":
    main()
