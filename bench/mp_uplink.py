# Runs under the MicroPython unix port (or CPython with the shims): the uplink's figures.
#   micropython bench/mp_uplink.py <config.json>
# config: layout [[channel, address, type, model], ...], rounds, spool (folder), port (broker), out.
# Stores `rounds` samples of every device as the recorder does, then drains them with the uplink
# and the renderer (decode + JSON per record) to the broker; writes JSON figures to `out`.
import asyncio
import json
import os
import sys

from firmware import devicemap, records
from firmware.compat import sleep_ms, ticks_diff, ticks_ms
from firmware.log import Log
from firmware.poller import Device
from firmware.spool import Spool
from firmware.uplink import Uplink

with open(sys.argv[1]) as f:
    cfg = json.load(f)
MAPS = devicemap.load_all()


def devices():
    out = []
    for ch, addr, dtype, model in cfg["layout"]:
        d = Device({"type": dtype, "channel": ch, "address": addr}, MAPS[dtype])
        d.model = model
        for j in range(len(d.raw)):
            d.raw[j] = (j * 7 + addr) & 0xFF
        d.good_polls = 1
        out.append(d)
    return out


def seg_bytes(root):
    return sum(os.stat(root + "/" + n)[6] for n in os.listdir(root) if n.endswith(".seg"))


async def main():
    devs = devices()
    sizes = {}
    for d in devs:
        sizes["%s %s" % (d.type, d.model or "")] = len(records.state(d, [1795000000000, 1, 0])) + 6
    spool = Spool(cfg["spool"], max_bytes=64 * 1024 * 1024)
    t0 = ticks_ms()
    for r in range(cfg["rounds"]):
        stamp = [1795000000000 + r * 300000, 1, 0]
        for d in devs:
            spool.append(records.state(d, stamp))
    store_ms = ticks_diff(ticks_ms(), t0)
    n = len(devs) * cfg["rounds"]
    size = seg_bytes(cfg["spool"])
    server = {"host": "127.0.0.1", "port": cfg["port"], "tls": False, "username": "", "password": "",
              "topic_prefix": "enerlog", "keepalive_s": 30}
    up = Uplink(spool, server, "AB12345678", "Q7W3E", Log(echo=False),
                parts=lambda u: (records.Renderer(u.base, MAPS, lambda st: st[0]), {}, None))
    task = asyncio.create_task(up.run())
    while not up.connected:
        await sleep_ms(5)
    t0 = ticks_ms()
    while spool.backlog()[0]:
        await sleep_ms(5)
    drain_ms = ticks_diff(ticks_ms(), t0)
    task.cancel()
    with open(cfg["out"], "w") as f:
        f.write(json.dumps({"records": n, "bytes": size, "per_type": sizes, "store_ms": store_ms,
                            "drain_ms": drain_ms, "sent": up.sent}))
    print("done")


asyncio.run(main())
