# The Modbus TCP gateway over one RS485 line with its poller, under the unix port (or CPython):
#   micropython gateway_run.py <pty> <config.json>
# config: the gateway settings ({"enabled", "port", "writes", "clients", "max_clients"}) with
# "idle_ms" and "layout": [[channel, address, type], ...]
# Prints READY once every device is online, then the gateway's counters as JSON each second.
import asyncio
import json
import sys

from firmware import devicemap
from firmware.compat import sleep_ms
from firmware.gateway import Gateway
from firmware.hw.pc import Rs485
from firmware.log import Log
from firmware.modbus.channel import Channel
from firmware.poller import Poller


async def main(path, config):
    log = Log()
    channel = Channel(Rs485(path), 1, 9600)
    poller = Poller(channel, log, devicemap.load_all())
    poller.set_devices([{"type": t, "channel": c, "address": a} for c, a, t in config["layout"]])

    def route(unit):
        for d in poller.devices:
            if d.address == unit:
                return channel, d
        return None, None

    gw = Gateway(config, route, log)
    gw.idle_ms = config["idle_ms"]
    asyncio.create_task(poller.run())
    asyncio.create_task(gw.run("127.0.0.1"))
    while not all(d.online for d in poller.devices):
        await sleep_ms(50)
    print("READY")
    while True:
        await sleep_ms(500)
        polls = sum(d.good_polls for d in poller.devices)
        print(json.dumps(dict(gw.stats, good_polls=polls, clients=gw.clients)))


with open(sys.argv[2]) as f:
    asyncio.run(main(sys.argv[1], json.load(f)))
