# Poller against the simulated plant; runs on CPython (imported) and under the unix port:
#   micropython poller_scenarios.py silent <pty-1> <control-file> <layout.json>
# Prints one JSON line with what it saw. The layout comes in a file: the unix port build dies
# ("FATAL: uncaught NLR") on a command-line argument of a few hundred characters.
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


def _poller(path, number, baud, log):
    ch = Channel(Rs485(path), number, baud)
    return Poller(ch, log, MAPS)


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


async def silent(path, control, layout):
    """Three inverters on RS485-1 every 1 s; address 2 goes quiet, then comes back."""
    log = Log(echo=False)
    p = _poller(path, 1, 115200, log)
    p.channel.response_timeout_ms = 200
    p.backoff_ms = 500  # an offline device is tried again soon (30 s on the logger)
    p.set_devices(layout, interval_ms=1000)
    _write(control, "")
    task = asyncio.create_task(p.run())
    t0 = ticks_ms()
    # until each is online with its model and serial read (3 s at most, as the fixed wait was)
    while not all(d.online and d.model and d.serial for d in p.devices) and ticks_diff(ticks_ms(), t0) < 3000:
        await sleep_ms(20)
    dev = {d.address: d for d in p.devices}
    before = {a: d.good_polls for a, d in dev.items()}
    out = {"online_before": {a: d.online for a, d in dev.items()},
           "models": {a: d.model for a, d in dev.items()},
           "serials": {a: [d.serial, d.serial_problem] for a, d in dev.items()},
           "values": {a: {k: v[0] for k, v in d.values(True).items()} for a, d in dev.items()}}
    _write(control, "2")
    t0 = ticks_ms()
    polls_at_silence = dev[2].polls
    while dev[2].online and ticks_diff(ticks_ms(), t0) < 10000:
        await sleep_ms(20)
    out["polls_until_offline"] = dev[2].polls - polls_at_silence
    out["fails_at_offline"] = dev[2].fails
    out["offline_after_ms"] = ticks_diff(ticks_ms(), t0)
    mid = {a: d.good_polls for a, d in dev.items()}
    await sleep_ms(4000)
    out["rate_before"] = {a: (mid[a] - before[a]) * 1000 / out["offline_after_ms"] for a in (1, 3)}
    out["rate_silent"] = {a: (dev[a].good_polls - mid[a]) / 4.0 for a in (1, 3)}
    out["communicating_silent"] = p.communicating()
    _write(control, "")
    polls_at_return = dev[2].polls
    t0 = ticks_ms()
    while not dev[2].online and ticks_diff(ticks_ms(), t0) < 5000:
        await sleep_ms(20)
    out["polls_until_online"] = dev[2].polls - polls_at_return
    out["online_after"] = dev[2].online
    out["serial_after_return"] = dev[2].serial
    out["communicating_end"] = p.communicating()
    out["log"] = [e[2] for e in log.recent()]
    task.cancel()
    return out


if __name__ == "__main__":
    mode = sys.argv[1]
    with open(sys.argv[-1]) as f:
        layout = json.load(f)
    result = asyncio.run(silent(sys.argv[2], sys.argv[3], layout))
    print(json.dumps(result))
