# Under the unix port: start the PC watchdog, feed it, then hang the loop without yielding.
#   micropython hang.py <run-dir> <timeout_ms>
import sys
import time

from firmware.board import open_board

board = open_board("pc", run_dir=sys.argv[1])
board.watchdog.start(int(sys.argv[2]))
for _ in range(10):
    board.watchdog.feed()
    time.sleep_ms(20)
print("hanging", time.ticks_ms())
while True:  # a task stuck in a loop: nothing feeds the watchdog any more
    pass
