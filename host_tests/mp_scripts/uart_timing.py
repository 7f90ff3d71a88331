# Runs under the MicroPython unix port: times the PC RS485 adapter through a real pty pair.
#   micropython uart_timing.py <adapter-end> <peer-end> <baud> <nbytes> <rounds>
# Prints one JSON line per round: send (adapter -> peer) and recv (peer -> adapter) timings in us.
import asyncio
import json
import sys

from firmware.compat import ticks_diff, ticks_us
from firmware.hw.pc import Rs485, _raw_nonblocking

a_path, b_path, baud, n, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
port = Rs485(a_path, baud)
peer = open(b_path, "r+b")
_raw_nonblocking(peer)
peer_reader = asyncio.StreamReader(peer)
frame = bytes((i * 7 + 3) & 0xFF for i in range(n))


async def collect(count):
    got = bytearray()
    buf = bytearray(256)
    while len(got) < count:
        k = await peer_reader.readinto(buf)
        got += buf[:k]
    return got, ticks_us()


async def one_round():
    # adapter -> peer: the peer sees the last byte one frame time after send() starts
    rx = asyncio.create_task(collect(n))
    await asyncio.sleep_ms(5)
    t0 = ticks_us()
    await port.send(frame)
    t_sent = ticks_us()
    got, t_last = await rx
    # peer -> adapter: the peer writes all at once, the adapter hands bytes on at wire speed
    buf = bytearray(n)
    have = 0
    t1 = ticks_us()
    peer.write(frame)
    while have < n:
        k = await port.recv(memoryview(buf)[have:], 1000)
        assert k, "timeout"
        have += k
    t_recv = ticks_us()
    return {
        "delivered_us": ticks_diff(t_last, t0),
        "send_returned_us": ticks_diff(t_sent, t0),
        "sent_ok": bytes(got) == frame,
        "received_us": ticks_diff(t_recv, t1),
        "received_ok": bytes(buf) == frame,
        "de_after": port.de,
    }


async def main():
    for _ in range(rounds):
        print(json.dumps(await one_round()))
        await asyncio.sleep_ms(10)


asyncio.run(main())
