# Runs under the MicroPython unix port: Modbus master timings on the PC wire-time model.
#   micropython bench/mp_modbus.py sweep <baud> <units> <rounds> <pty> [<pty> ...]
#       one 125-register read of every unit 1..units, on each pty concurrently; prints JSON:
#       per channel the sweep times (ms) and the wire lower bound (ms); all channels' total.
#   micropython bench/mp_modbus.py cpu <n>
#       CPU time per transaction (build request, CRC, check a 125-register reply), both CRCs.
#   micropython bench/mp_modbus.py dead <baud> <units> <dead-pty> <pty> [<pty> ...]
#       the sweep on the live ptys alone, then again while the dead pty's channel polls a
#       device that never answers; prints both.
import asyncio
import json
import sys

from firmware import wire
from firmware.compat import ticks_diff, ticks_ms, ticks_us
from firmware.hw.pc import Rs485
from firmware.modbus import crc, frame
from firmware.modbus.channel import Channel


def bound_ms(baud, units):
    per = wire.frame_us(8 + 255, baud) + wire.t35_us(baud)
    return units * per / 1000


async def sweep(ch, units):
    t0 = ticks_ms()
    out = bytearray(250)
    for unit in range(1, units + 1):
        await ch.request(unit, 3, 0, 125, out=out)
    return ticks_diff(ticks_ms(), t0)


async def sweeps(channels, units, rounds):
    times = [[] for _ in channels]
    t0 = ticks_ms()

    async def run(i, ch):
        for _ in range(rounds):
            times[i].append(await sweep(ch, units))

    await asyncio.gather(*[run(i, ch) for i, ch in enumerate(channels)])
    return times, ticks_diff(ticks_ms(), t0)


async def main():
    mode = sys.argv[1]
    if mode == "cpu":
        n = int(sys.argv[2])
        req, rep = bytearray(260), bytearray(260)
        rep[0], rep[1], rep[2] = 1, 3, 250
        result = {}
        for name, fn in (("plain", crc.crc16_table), ("viper", crc.crc16)):
            frame.crc16 = fn
            c = fn(rep, 253)
            rep[253], rep[254] = c & 0xFF, c >> 8
            t0 = ticks_us()
            for _ in range(n):
                frame.build(req, 1, 3, 0, 125)
                frame.check(rep, 255, req)
            result[name + "_us"] = ticks_diff(ticks_us(), t0) / n
        result["native"] = crc.NATIVE
        print(json.dumps(result))
        return
    baud, units = int(sys.argv[2]), int(sys.argv[3])
    if mode == "sweep":
        rounds = int(sys.argv[4])
        channels = [Channel(Rs485(p), i + 1, baud) for i, p in enumerate(sys.argv[5:])]
        times, total = await sweeps(channels, units, rounds)
        print(json.dumps({"sweeps_ms": times, "total_ms": total, "bound_ms": bound_ms(baud, units)}))
        return
    dead = Channel(Rs485(sys.argv[4]), 1, baud)
    dead.response_timeout_ms = 200
    live = [Channel(Rs485(p), i + 2, baud) for i, p in enumerate(sys.argv[5:])]
    alone, _ = await sweeps(live, units, 2)
    stop = []
    failures = [0]

    async def hammer():
        while not stop:
            try:
                await dead.request(5, 3, 0, 10)
            except Exception:
                failures[0] += 1

    task = asyncio.create_task(hammer())
    together, _ = await sweeps(live, units, 2)
    stop.append(1)
    await task
    print(json.dumps({"alone_ms": alone, "with_dead_ms": together, "dead_failures": failures[0],
                      "bound_ms": bound_ms(baud, units)}))


asyncio.run(main())
