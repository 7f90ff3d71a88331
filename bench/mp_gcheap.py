# Runs under the MicroPython unix port: what one garbage collection costs with the logger's live data.
#   micropython -X heapsize=<n> bench/mp_gcheap.py <threshold bytes, 0: none> <churn rounds>
# Builds a live population like the running logger's data (the five register maps, 60 devices with
# their register buffers and values, the settings with 60 devices, the 4 KB log ring, the status
# dict), then churns garbage as the web page and the pollers do (a status reply built and encoded,
# frames copied) with gc.threshold(<threshold>). Prints one JSON line: the heap, the live bytes,
# gc.collect() times (us), the churn's time (ms) and the bytes one churn round allocates; then
# micropython.mem_info(), whose "max free sz" (blocks) is the largest free run after the churn.
import gc
import json
import sys

import micropython

from firmware import devicemap, settings
from firmware.compat import ticks_diff, ticks_us

DEVICES = 60


NAMES = tuple("p%d" % k for k in range(24))  # point names, shared like a map's


class Device:
    # The poller's per-device state: a register buffer (a device keeps only its mapped registers,
    # 116 of 560 bytes for an inverter), its identity, its event points' last values.
    def __init__(self, i, m):
        self.address = i % 20 + 1
        self.type = m
        self.raw = bytearray(116 + (i % 5) * 40)
        self.last = [None] * 8
        self.model = "model-%d" % (i % 5)
        self.serial = "SN%08d" % i


def population():
    maps = devicemap.load_all()
    names = sorted(maps)
    devs = [Device(i, names[i % len(names)]) for i in range(DEVICES)]
    data = settings.defaults()
    data["devices"] = [{"type": d.type, "channel": i // 20 + 1, "address": d.address} for i, d in enumerate(devs)]
    ring = bytearray(4096)
    return [maps, devs, data, ring]


def churn(devs, rounds):
    """Garbage as the page's status requests and the pollers make it: values decoded into a dict
    and encoded as JSON for a third of the devices, a reply frame copied for every device."""
    n = 0
    for r in range(rounds):
        for d in devs[r % 3::3]:
            vals = {}
            for k, name in enumerate(NAMES):
                vals[name] = (d.raw[k] * 256 + d.raw[k + 1]) / 10
            n += len(json.dumps({"address": d.address, "serial": d.serial, "values": vals}))
        for d in devs:
            n += len(bytes(d.raw[:64]) + b"\x00\x01")
    return n


def max_free_blocks():
    # mem_info prints; the host reads the "max free sz" line from our stdout.
    micropython.mem_info()


def main():
    threshold = int(sys.argv[1])
    rounds = int(sys.argv[2])
    live = population()
    gc.collect()
    used = gc.mem_alloc()
    heap = used + gc.mem_free()
    # Bytes one churn round allocates: with collection off, its garbage stays counted.
    gc.disable()
    churn(live[1], 1)
    per_round = gc.mem_alloc() - used
    gc.enable()
    times = []
    for _ in range(15):
        t0 = ticks_us()
        gc.collect()
        times.append(ticks_diff(ticks_us(), t0))
    times.sort()
    if threshold:
        gc.threshold(threshold)
    t0 = ticks_us()
    churn(live[1], rounds)
    churn_ms = ticks_diff(ticks_us(), t0) / 1000
    print(json.dumps({"heap": heap, "live": used, "collect_us": [times[0], times[len(times) // 2], times[-1]],
                      "threshold": threshold, "rounds": rounds, "churn_ms": churn_ms,
                      "alloc_per_round": per_round}))
    gc.collect()
    max_free_blocks()


main()
