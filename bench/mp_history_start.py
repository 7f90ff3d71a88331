# Runs under the MicroPython unix port: History.today on a seeded flash folder while another task
# counts its turns.   micropython bench/mp_history_start.py <flash folder> <unix time>
import asyncio
import sys
import time

from firmware import devicemap
from firmware.history import History
from firmware.log import Log

gaps, done = [], []


async def other():
    last = time.ticks_us()
    while not done:
        await asyncio.sleep_ms(0)
        now = time.ticks_us()
        gaps.append(time.ticks_diff(now, last))
        last = now


async def main(flash, now):
    h = History(flash, devicemap.load_all(), Log(echo=False))
    task = asyncio.create_task(other())
    t0 = time.ticks_ms()
    await h.today(now)
    spent = time.ticks_diff(time.ticks_ms(), t0)
    done.append(1)
    await task
    gaps.sort()
    print("%d ms in all, %d devices counted; another task ran %d times, longest gap %.1f ms, median %.2f ms"
          % (spent, len(h._counters), len(gaps), gaps[-1] / 1000, gaps[len(gaps) // 2] / 1000))


asyncio.run(main(sys.argv[1], int(sys.argv[2])))
