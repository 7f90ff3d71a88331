# Runs under the MicroPython unix port: scans of channels against the simulated plant.
#   micropython bench/mp_scan.py <config.json>
# config: ptys [path per channel], baud, configured [{type, channel, address}], first, last,
#   scan [channel numbers scanned at once], out. Polls the configured devices meanwhile (their
#   map intervals); writes per channel the scan time, what was found, and the good polls made
#   during the scan.
import asyncio
import json
import sys

from firmware import devicemap
from firmware.compat import sleep_ms, ticks_diff, ticks_ms
from firmware.hw.pc import Rs485
from firmware.log import Log
from firmware.modbus.channel import Channel
from firmware.poller import Poller
from firmware.scan import RUNNING, Scans

MAPS = devicemap.load_all()


async def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    log = Log(echo=False)
    pollers = [Poller(Channel(Rs485(p), i + 1, cfg["baud"]), log, MAPS) for i, p in enumerate(cfg["ptys"])]
    tasks = []
    for p in pollers:
        p.set_devices(cfg["configured"])
        tasks.append(asyncio.create_task(p.run()))
    t0 = ticks_ms()
    while not all(d.online for p in pollers for d in p.devices) and ticks_diff(ticks_ms(), t0) < 30000:
        await sleep_ms(50)
    polls0 = {p.channel.number: sum(d.good_polls for d in p.devices) for p in pollers}
    scans = Scans(pollers, MAPS)
    t0 = ticks_ms()
    started = [scans.start(n, cfg["first"], cfg["last"]) for n in cfg["scan"]]
    took = {}
    while len(took) < len(started):
        for s in started:
            if s.state != RUNNING and s.channel.number not in took:
                took[s.channel.number] = ticks_diff(ticks_ms(), t0)
        await sleep_ms(20)
    out = {}
    for s in started:
        n = s.channel.number
        p = pollers[n - 1]
        out[n] = {"ms": took[n], "state": s.state, "found": s.found,
                  "good_polls_during": sum(d.good_polls for d in p.devices) - polls0[n],
                  "devices": len(p.devices), "stats_entries": len(p.channel.stats)}
    for t in tasks:
        t.cancel()
    with open(cfg["out"], "w") as f:
        f.write(json.dumps(out))
    print("done")


asyncio.run(main())
