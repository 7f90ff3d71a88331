# Starts the datalogger. On a PC: micropython main.py [board-profile] (default: pc).
# Unchanging start-up: bootslots picks the firmware slot; an upgrade never replaces this file.
import sys

import bootslots

bootslots.start()
try:
    from firmware import app

    app.run(sys.argv[1] if len(sys.argv) > 1 else None)
except Exception as exc:
    if not bootslots.on_trial:
        raise
    # A trial that cannot start: record why, reset; the third failed start rolls back.
    if hasattr(sys, "print_exception"):
        sys.print_exception(exc)
    bootslots.crashed("", exc)
    if sys.platform in ("linux", "darwin"):
        sys.exit(75)  # the PC's reset (tools/sim/run.py starts the process again)
    import machine

    machine.reset()
