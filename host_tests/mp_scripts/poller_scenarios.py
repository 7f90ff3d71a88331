# Poller against the simulated plant; runs on CPython (imported) and under the unix port:
#   micropython poller_scenarios.py silent <pty-1> <control-file> <layout.json>
#   micropython poller_scenarios.py sixty <pty-1> <pty-2> <pty-3> <layout.json>
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
    await sleep_ms(3000)
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


async def sixty(paths, layout):
    """60 devices on three channels at 9600 baud, polled back to back: the sweep time."""
    log = Log(echo=False)
    pollers = [_poller(path, i + 1, 9600, log) for i, path in enumerate(paths)]
    for p in pollers:
        p.set_devices(layout, interval_ms=0)
    tasks = [asyncio.create_task(p.run()) for p in pollers]
    pollers = [p for p in pollers if p.devices]
    # Never-seen devices are brought online (identified, first poll) one by one by the probe
    # loop; then a pass that may have started before the last one came is let go by.
    while sum(p.communicating() for p in pollers) < sum(len(p.devices) for p in pollers):
        await sleep_ms(50)
    first = [p.sweeps + 1 for p in pollers]
    while any(p.sweeps < f for p, f in zip(pollers, first)):
        await sleep_ms(10)
    polls0 = sum(d.polls for p in pollers for d in p.devices)
    good0 = sum(d.good_polls for p in pollers for d in p.devices)
    seen = [p.sweeps for p in pollers]
    passes = [[] for _ in pollers]
    while min(len(x) for x in passes) < 1:  # a whole pass per channel, timed by the poller (bench: more)
        for i, p in enumerate(pollers):
            if p.sweeps != seen[i]:
                seen[i] = p.sweeps
                passes[i].append(p.sweep_ms)
        await sleep_ms(10)
    done = [x[0] for x in passes]
    polls = sum(d.polls for p in pollers for d in p.devices) - polls0
    good = sum(d.good_polls for p in pollers for d in p.devices) - good0
    for t in tasks:
        t.cancel()
    return {"sweep_ms": done, "devices": sum(len(p.devices) for p in pollers),
            "online": sum(p.communicating() for p in pollers), "polls": polls, "good_polls": good}


if __name__ == "__main__":
    mode = sys.argv[1]
    with open(sys.argv[-1]) as f:
        layout = json.load(f)
    if mode == "silent":
        result = asyncio.run(silent(sys.argv[2], sys.argv[3], layout))
    else:
        result = asyncio.run(sixty(sys.argv[2:5], layout))
    print(json.dumps(result))
