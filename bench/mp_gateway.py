# Runs under the MicroPython unix port: the Modbus TCP gateway's figures (bench/gateway.py).
#   micropython bench/mp_gateway.py <config.json>
# config: pty, baud, port, units [[address, type], ...] on RS485-1, poll (true: the poller runs at
# the maps' intervals; false: it never runs, so every read is forwarded on an idle bus).
# Prints READY once every device is online (at once without the poller), then a line
# "P <address>" after each good poll, and each second "S <json>": the gateway's counters, the
# event loop's worst lateness in that second (a task asking for 10 ms sleeps), and the times (us)
# of the clients' requests through the channel (waiting for the bus + the transaction), and the
# pollers' requests [count, time, wire time (us)].
import asyncio
import json
import sys

from firmware import devicemap, wire
from firmware.compat import sleep_ms, ticks_diff, ticks_ms, ticks_us
from firmware.gateway import Gateway
from firmware.hw.pc import Rs485
from firmware.log import Log
from firmware.modbus.channel import Channel
from firmware.modbus.scheduler import USER
from firmware.poller import Poller


class Timed(Channel):
    """The channel, timing each client's request (USER priority) from the call to its answer, and
    the pollers' requests: how many, their time, their wire time (us)."""

    def __init__(self, *args):
        super().__init__(*args)
        self.user_us = []
        self.polls = [0, 0, 0]

    async def request(self, unit, function, address, quantity=1, values=None, out=None, priority=USER, **kw):
        t = ticks_us()
        try:
            return await super().request(unit, function, address, quantity, values, out, priority, **kw)
        finally:
            if priority == USER:
                self.user_us.append(ticks_diff(ticks_us(), t))
            else:
                p = self.polls
                p[0] += 1
                p[1] += ticks_diff(ticks_us(), t)
                p[2] += wire.frame_us(13 + 2 * quantity, self.baud) + self._t35


async def lateness(worst):
    """How late the event loop wakes a task that sleeps 10 ms: its worst each second."""
    while True:
        t = ticks_ms()
        await sleep_ms(10)
        worst[0] = max(worst[0], ticks_diff(ticks_ms(), t) - 10)


async def main(cfg):
    log = Log(echo=False)
    channel = Timed(Rs485(cfg["pty"]), 1, cfg["baud"])
    poller = Poller(channel, log, devicemap.load_all())
    poller.set_devices([{"type": t, "channel": 1, "address": a} for a, t in cfg["units"]])
    poller.on_poll = lambda d: print("P", d.address)
    devices = {d.address: d for d in poller.devices}

    def route(unit):
        d = devices.get(unit)
        return (channel, d) if d else (None, None)

    gw = Gateway({"enabled": True, "port": cfg["port"], "writes": False, "clients": "", "max_clients": 8},
                 route, log)
    asyncio.create_task(gw.run("127.0.0.1"))
    if cfg["poll"]:
        asyncio.create_task(poller.run())
        while not all(d.online for d in poller.devices):
            await sleep_ms(50)
    await sleep_ms(200)  # the server is listening
    print("READY")
    worst = [0]
    asyncio.create_task(lateness(worst))
    while True:
        await sleep_ms(1000)
        user, channel.user_us = channel.user_us, []
        polls, channel.polls = channel.polls, [0, 0, 0]
        print("S", json.dumps(dict(gw.stats, late_ms=worst[0], user_us=user, polls=polls)))
        worst[0] = 0


with open(sys.argv[1]) as f:
    asyncio.run(main(json.load(f)))
