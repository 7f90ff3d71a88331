# Under the unix port: the real app wiring with one task that always fails, beside the web task.
#   micropython crash_app.py <run-dir>
import sys

from firmware import app
from firmware.board import open_board

board = open_board("pc", run_dir=sys.argv[1])
logger = app.Logger(board)
logger.supervisor.backoff_ms = 5
runs = []


async def broken():
    runs.append(1)
    raise OSError("bus adapter gone")


tasks = app.tasks(logger) + [("broken", broken)]
app.supervise(logger, tasks)
print("supervise returned")  # never reached: the board resets
