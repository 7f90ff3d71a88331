# Starts the datalogger. On a PC: micropython main.py [board-profile] (default: pc).
import sys

from firmware import app

app.run(sys.argv[1] if len(sys.argv) > 1 else None)
