# The spool and uplink against a real broker, on either runtime (argv: too long crashes the unix
# port, so everything comes from a JSON file):   micropython mqtt_uplink.py <config.json>
# config: port, root, mode ("drain" | "live" | "stream" | "hold"), count, interval_ms, serial, out (file
# that gets "ready" / the result as JSON).
import asyncio
import json
import sys

from firmware.compat import sleep_ms, ticks_diff, ticks_ms
from firmware.log import Log
from firmware.spool import Spool
from firmware.store import dumps
from firmware.uplink import Uplink

with open(sys.argv[1]) as f:
    cfg = json.load(f)
SERVER = {"host": "127.0.0.1", "port": cfg["port"], "tls": False, "username": "", "password": "",
          "topic_prefix": "enerlog", "keepalive_s": 10}


def sample(i):
    # One device's main values and a timestamp: what the app would store per device and poll.
    return dumps({"dev": "PCS-%d" % (i % 60), "t": 1795000000 + i,
                  "v": {"p_ac": 49.8, "soc": 87.0, "u_bat": 742.3, "i_bat": -61.2,
                        "e_day": 312.4, "e_tot": 48211.7, "t_mod": 41.5, "state": 3}}).encode()


def report(obj):
    with open(cfg["out"] + ".tmp", "w") as f:
        f.write(json.dumps(obj))
    import os

    os.rename(cfg["out"] + ".tmp", cfg["out"])


async def hold():
    up = Uplink(None, SERVER, cfg["serial"], "CHECK", Log(echo=False))
    c = up.client()
    await c.connect()
    await c.publish(up.topic_status, b"online", 1, True)
    report({"state": "ready"})
    await asyncio.Event().wait()  # until the test kills the process


async def main():
    spool = Spool(cfg["root"], segment_bytes=4096)
    log = Log(echo=False)
    up = Uplink(spool, SERVER, cfg["serial"], "CHECK", log)
    up.min_backoff_ms, up.max_backoff_ms = 100, 1000
    n = cfg["count"]
    if cfg["mode"] in ("drain", "live"):
        for i in range(n):
            spool.append(sample(i))
    task = asyncio.create_task(up.run())
    live = None
    if cfg["mode"] == "live":  # a sample taken after the connection, with the backlog still there
        while not up.sent:
            await sleep_ms(1)
        live = spool.append(b'{"live":1}')
        up.kick()
        n += 1
    t0 = ticks_ms()
    appended = n if cfg["mode"] in ("drain", "live") else 0
    while appended < n or spool.backlog()[0]:
        if appended < n:
            spool.append(sample(appended))
            appended += 1
            up.kick()
            await sleep_ms(cfg["interval_ms"])
        else:
            await sleep_ms(2)
    ms = ticks_diff(ticks_ms(), t0)
    task.cancel()
    report({"state": "done", "ms": ms, "live_seq": live, "sent": up.sent,
            "connects": up.connects,
            "failures": up.failures, "evicted": spool.evicted, "stats": spool.stats(),
            "errors": [e[2] for e in log.recent()]})


asyncio.run(hold() if cfg["mode"] == "hold" else main())
