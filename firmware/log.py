"""Levelled event log: a bounded ring of recent entries, echoed on the console.

The console is the manual's debugging channel (USB on the board, the terminal on the PC). Nothing
else in the firmware prints; on the board no print may ever reach an RS485 bus.
"""

from micropython import const

from firmware.compat import format_exception, ticks_diff, ticks_ms

DEBUG = const(10)
INFO = const(20)
WARNING = const(30)
ERROR = const(40)
_NAMES = {DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARN", ERROR: "ERROR"}


class Log:
    """Keeps the last ``size`` entries as (uptime_ms, level, message) tuples."""

    size = 32

    def __init__(self, size=None, echo=True, level=INFO):
        if size:
            self.size = size
        self.echo = echo
        self.level = level
        self._ring = [None] * self.size
        self._next = 0
        self.count = 0
        self._t0 = ticks_ms()

    def log(self, level, msg):
        if level < self.level:
            return
        entry = (ticks_diff(ticks_ms(), self._t0), level, msg)
        self._ring[self._next] = entry
        self._next = (self._next + 1) % self.size
        self.count += 1
        if self.echo:
            print(self.format(entry))

    def debug(self, msg):
        self.log(DEBUG, msg)

    def info(self, msg):
        self.log(INFO, msg)

    def warning(self, msg):
        self.log(WARNING, msg)

    def error(self, msg):
        self.log(ERROR, msg)

    def exception(self, msg, exc):
        """Logs ``msg`` with the exception's traceback."""
        self.log(ERROR, "%s: %r\n%s" % (msg, exc, format_exception(exc).rstrip()))

    def recent(self, n=None):
        """The most recent entries, oldest first."""
        kept = min(self.count, self.size)
        if n is None or n > kept:
            n = kept
        out = []
        for i in range(n):
            out.append(self._ring[(self._next - n + i) % self.size])
        return out

    @staticmethod
    def format(entry):
        ms, level, msg = entry
        return "[%8d.%03d] %-5s %s" % (ms // 1000, ms % 1000, _NAMES.get(level, level), msg)


log = Log()
