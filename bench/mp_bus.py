# Runs under the MicroPython unix port: the bus scheduler's figures against the simulated plant.
#   micropython bench/mp_bus.py tax <config.json>
#   micropython bench/mp_bus.py look <config.json>
#       (pty, baud, devices [[address, type], ...], wait_ms, out): polls for wait_ms, then writes
#       what /api/devices would say of each device.
# config: pty, baud, good [[address, type], ...], bad [[address, type], ...], window_ms,
#   interval_ms (null: the maps'), backoff_ms, backoff_max_ms, out (where the JSON figures go).
# Twice, with a fresh poller on one channel: the good devices alone, then with the bad ones
# configured too; each time, once every good device is online, the good polls of each during
# window_ms. A device's rate is its good polls less one over the time from its first to its last
# good poll in the window (finer than a count of a few polls). Meanwhile, once a second, a user's
# request (one register of the first good device, USER priority): how long each took.
import asyncio
import json
import sys

from firmware import devicemap
from firmware.compat import sleep_ms, ticks_diff, ticks_ms
from firmware.hw.pc import Rs485
from firmware.log import Log
from firmware.modbus.channel import Channel
from firmware.poller import Poller

MAPS = devicemap.load_all()


def entries(pairs):
    return [{"type": t, "channel": 1, "address": a} for a, t in pairs]


async def phase(ch, cfg, pairs, good):
    log = Log(echo=False)
    p = Poller(ch, log, MAPS)
    p.backoff_ms = cfg["backoff_ms"]
    p.backoff_max_ms = cfg["backoff_max_ms"]
    p.probe_timeout_ms = cfg.get("probe_timeout_ms", p.probe_timeout_ms)
    ch.stats = {}
    p.set_devices(entries(pairs), interval_ms=cfg["interval_ms"])
    polls = {}
    recording = []

    def polled(d):
        if recording:
            polls.setdefault(d.address, []).append(ticks_ms())

    p.on_poll = polled
    task = asyncio.create_task(p.run())
    t0 = ticks_ms()
    dev = {d.address: d for d in p.devices}
    while not all(dev[a].online for a in good) and ticks_diff(ticks_ms(), t0) < 120000:
        await sleep_ms(50)
    warmup = ticks_diff(ticks_ms(), t0)
    probes0 = p.probes
    grants0 = list(ch.bus.grants)
    recording.append(1)
    user_ms = []

    async def user():
        while recording:
            t = ticks_ms()
            try:
                await ch.request(good[0], 3, 0, 1)  # the default priority: a user's
                user_ms.append(ticks_diff(ticks_ms(), t))
            except Exception:
                user_ms.append(-1)
            await sleep_ms(1000)

    asking = asyncio.create_task(user())
    await sleep_ms(cfg["window_ms"])
    recording.clear()
    await asking
    task.cancel()
    await sleep_ms(50)
    rates, counts = {}, {}
    for a in good:
        ts = polls.get(a, [])
        counts[a] = len(ts)
        rates[a] = (len(ts) - 1) * 1000 / ticks_diff(ts[-1], ts[0]) if len(ts) > 1 else 0.0
    return {"warmup_ms": warmup, "rates": rates, "user_ms": user_ms, "counts": counts, "probes": p.probes - probes0,
            "grants": [g - g0 for g, g0 in zip(ch.bus.grants, grants0)], "probe_share": ch.bus.share(),
            "online": [d.address for d in p.devices if d.online],
            "bad": {d.address: {"polls": d.polls, "online": d.online, "next_try_s": d.as_dict()["next_try_s"],
                                "bus": ch.stats[d.address].as_dict() if d.address in ch.stats else None,
                                "last_error": d.last_error}
                    for d in p.devices if d.address not in good},
            "health": {a: ch.stats[a].as_dict() for a in good if a in ch.stats}}


async def look(cfg):
    ch = Channel(Rs485(cfg["pty"]), 1, cfg["baud"])
    p = Poller(ch, Log(echo=False), MAPS)
    p.set_devices(entries(cfg["devices"]))
    task = asyncio.create_task(p.run())
    await sleep_ms(cfg["wait_ms"])
    task.cancel()
    return {d.address: d.as_dict() for d in p.devices}


async def main():
    with open(sys.argv[2]) as f:
        cfg = json.load(f)
    if sys.argv[1] == "look":
        with open(cfg["out"], "w") as f:
            f.write(json.dumps(await look(cfg)))
        print("done")
        return
    ch = Channel(Rs485(cfg["pty"]), 1, cfg["baud"])
    good = [a for a, _ in cfg["good"]]
    alone = await phase(ch, cfg, cfg["good"], good)
    together = await phase(ch, cfg, cfg["good"] + cfg["bad"], good)
    with open(cfg["out"], "w") as f:
        f.write(json.dumps({"alone": alone, "with_bad": together}))
    print("done")


asyncio.run(main())
