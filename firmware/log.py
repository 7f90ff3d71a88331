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
_HEAD = const(7)  # an entry in the ring: uptime ms (4 bytes), level, message length (2), message


class Log:
    """Keeps the last ``size`` entries, (uptime_ms, level, message) each, in one byte ring of
    ``capacity`` bytes made at start-up: a message is copied in, so no entry leaves an object on
    the heap (kept strings, placed wherever a hole was, broke a small heap into pieces). The oldest
    entries make room; a message longer than a quarter of the ring is cut there."""

    size = 32
    capacity = 4096

    def __init__(self, size=None, echo=True, level=INFO, capacity=None):
        if size:
            self.size = size
        if capacity:
            self.capacity = capacity
        if self.capacity < 64:
            raise ValueError("log ring: at least 64 bytes")
        self.echo = echo
        self.level = level
        self._buf = bytearray(self.capacity)
        self._head = 0  # where the oldest entry starts
        self._used = 0  # bytes its entries take
        self._kept = 0  # entries in the ring
        self.count = 0
        self._t0 = ticks_ms()

    def log(self, level, msg):
        if level < self.level:
            return
        ms = ticks_diff(ticks_ms(), self._t0)
        self.count += 1
        if self.echo:
            print(self.format((ms, level, msg)))
        data = msg.encode()
        cut = self.capacity // 4 - _HEAD
        if len(data) > cut:
            while cut and data[cut] & 0xC0 == 0x80:  # not inside a UTF-8 character
                cut -= 1
            data = data[:cut]
        need = _HEAD + len(data)
        while self._kept and (self._kept >= self.size or self._used + need > self.capacity):
            self._drop()
        at = (self._head + self._used) % self.capacity
        n = len(data)
        self._put(at, bytes((ms >> 24 & 0xFF, ms >> 16 & 0xFF, ms >> 8 & 0xFF, ms & 0xFF, level, n >> 8, n & 0xFF)))
        self._put((at + _HEAD) % self.capacity, data)
        self._used += need
        self._kept += 1

    def _put(self, at, data):
        first = min(len(data), self.capacity - at)
        self._buf[at : at + first] = data[:first]
        if first < len(data):
            self._buf[: len(data) - first] = data[first:]

    def _get(self, at, n):
        at %= self.capacity
        end = at + n
        if end <= self.capacity:
            return bytes(self._buf[at:end])
        return bytes(self._buf[at:]) + bytes(self._buf[: end - self.capacity])

    def _size(self, at):
        """Bytes the entry at offset ``at`` takes in the ring, its header included."""
        h = self._get(at + 5, 2)
        return _HEAD + (h[0] << 8 | h[1])

    def _entry(self, at):
        """The entry at offset ``at``."""
        h = self._get(at, _HEAD)
        ms = h[0] << 24 | h[1] << 16 | h[2] << 8 | h[3]
        if ms & 0x80000000:  # stored as 32 bits: a negative uptime (a wrapped tick) stays negative
            ms -= 0x100000000
        return ms, h[4], self._get(at + _HEAD, h[5] << 8 | h[6]).decode()

    def _drop(self):
        n = self._size(self._head)
        self._head = (self._head + n) % self.capacity
        self._used -= n
        self._kept -= 1

    def debug(self, msg):
        self.log(DEBUG, msg)

    def info(self, msg):
        self.log(INFO, msg)

    def warning(self, msg):
        self.log(WARNING, msg)

    def error(self, msg):
        self.log(ERROR, msg)

    def exception(self, msg, exc):
        """Logs ``msg`` with the exception's traceback; on a heap with no room for that, the
        message and the exception's type alone, else nothing: logging a failure never fails (the
        supervisor logs before it restarts a task; a MemoryError here ended its loop, at 208 KB)."""
        try:
            self.log(ERROR, "%s: %r\n%s" % (msg, exc, format_exception(exc).rstrip()))
            return
        except MemoryError:
            pass
        try:
            self.log(ERROR, "%s: %s (no room on the heap for its traceback)" % (msg, type(exc).__name__))
        except MemoryError:
            pass

    def recent(self, n=None):
        """The most recent entries, oldest first."""
        if n is None or n > self._kept:
            n = self._kept
        at = self._head
        for _ in range(self._kept - n):  # the older ones are skipped, not read
            at += self._size(at)
        out = []
        for _ in range(n):
            out.append(self._entry(at))
            at += self._size(at)
        return out

    @staticmethod
    def format(entry):
        ms, level, msg = entry
        return "[%8d.%03d] %-5s %s" % (ms // 1000, ms % 1000, _NAMES.get(level, level), msg)


log = Log()
