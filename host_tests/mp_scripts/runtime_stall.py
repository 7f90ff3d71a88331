# Under the unix port: the real app wiring plus a key task ("pollers") that stops making progress
# after a second while the loop keeps running. The watchdog must reset the board.
#   micropython runtime_stall.py <run-dir> <watchdog_timeout_ms> <limit_ms>
import asyncio
import sys
import time

from firmware import app
from firmware.board import open_board

board = open_board("pc", run_dir=sys.argv[1])
logger = app.Logger(board)
logger.watchdog.timeout_ms = int(sys.argv[2])
logger.watchdog.feed_ms = 50
logger.watchdog.register("pollers", int(sys.argv[3]))


async def pollers():
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < 1000:
        logger.watchdog.alive("pollers")
        await asyncio.sleep_ms(50)
    print("stalled")
    await asyncio.Event().wait()  # hangs forever; the other tasks go on


app.supervise(logger, app.tasks(logger) + [("pollers", pollers)])
print("supervise returned")  # never reached: the board resets
