"""Progress supervisor for the hardware watchdog.

The board's watchdog (``machine.WDT`` on the ESP32; a guard thread on the PC that kills the
process) resets the board unless it is fed within ``timeout_ms``. This module feeds it only while
the firmware makes progress:

- the loop runs: the feeder is an asyncio task, so a task that never yields starves it;
- every key task reported within its own limit: a task calls ``watchdog.alive(name)`` each time
  round its loop, after ``watchdog.register(name, limit_ms)``. A task that hangs (awaits forever,
  or its loop stops) or is dead (failed, waiting for its restart) stops the feeding.

So a hung loop resets the board within ``timeout_ms``, and a stalled key task within its limit
plus ``timeout_ms``. When it stops feeding it logs which task stalled; the reset's cause,
"watchdog", comes from the chip on the ESP32 and from the guard thread on the PC. A task that
recovers before the hardware fires resumes the feeding.

Key tasks: ``web`` (``probe_http`` asks the server for a page over loopback, which proves the
server answers; it becomes a key task at its first answer, so a board whose loopback did not work
would lose this check rather than reset over and over) and, as they arrive, ``pollers`` and
``uplink``. ``status()`` goes into /api/status.
"""

import asyncio

from firmware.compat import sleep_ms, ticks_diff, ticks_ms, wait_for_ms


class Watchdog:
    timeout_ms = 30000  # hardware timeout: above the longest blocking call (DNS, TLS handshake)
    feed_ms = 1000

    def __init__(self, hw, log, timeout_ms=None):
        self.hw = hw
        self.log = log
        if timeout_ms:
            self.timeout_ms = timeout_ms
        self._limits = {}
        self._seen = {}
        self.starving = []  # the key tasks that stopped the feeding
        self.started = False

    def register(self, name, limit_ms, now=None):
        """Makes ``name`` a key task: it must call ``alive(name)`` at least every ``limit_ms``."""
        self._limits[name] = limit_ms
        self._seen[name] = ticks_ms() if now is None else now

    def registered(self, name):
        return name in self._limits

    def alive(self, name, now=None):
        """``name`` made progress."""
        self._seen[name] = ticks_ms() if now is None else now

    def late(self, now):
        """The key tasks that have not reported within their limits."""
        return [n for n, limit in self._limits.items() if ticks_diff(now, self._seen[n]) > limit]

    def check(self, now):
        """Feeds the hardware if every key task is on time; returns the late ones."""
        late = self.late(now)
        if not late:
            self.hw.feed()
            if self.starving:
                self.log.warning("watchdog: %s made progress again" % ", ".join(self.starving))
        elif late != self.starving:
            self.log.error("watchdog: no progress from %s; not feeding, the board resets within %d s"
                           % (", ".join(late), self.timeout_ms // 1000))
        self.starving = late
        return late

    async def run(self):
        """The feeder. Starts the hardware watchdog (it cannot be stopped afterwards)."""
        if not self.started:
            self.hw.start(self.timeout_ms)
            self.started = True
            self.log.info("watchdog: %d s, key tasks: %s"
                          % (self.timeout_ms // 1000, ", ".join(self._limits) or "none yet"))
        while True:
            self.check(ticks_ms())
            await sleep_ms(self.feed_ms)

    def status(self, now=None):
        now = ticks_ms() if now is None else now
        return {
            "timeout_s": self.timeout_ms // 1000,
            "late": self.late(now),
            "tasks": {n: {"limit_s": lim // 1000, "last_s_ago": ticks_diff(now, self._seen[n]) // 1000}
                      for n, lim in self._limits.items()},
        }


async def probe_http(watchdog, name, host, port, limit_ms=60000, every_ms=10000, timeout_ms=5000,
                     path="/api/health"):
    """Reports ``name`` alive each time the HTTP server on ``host:port`` answers a request; the
    first answer registers ``name`` as a key task with ``limit_ms``.

    Any HTTP status line counts (a 401 once the pages need a login is an answer too).
    """
    while True:
        try:
            if await wait_for_ms(_ask(host, port, path), timeout_ms):
                if watchdog.registered(name):
                    watchdog.alive(name)
                else:
                    watchdog.register(name, limit_ms)
                    watchdog.log.info("watchdog: %s answers; it must keep answering within %d s"
                                      % (name, limit_ms // 1000))
        except (OSError, asyncio.TimeoutError):
            pass  # not alive this time; the limit decides
        await sleep_ms(every_ms)


async def _ask(host, port, path):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, host)).encode())
        await writer.drain()
        line = await reader.readline()
        try:
            await reader.read(-1)  # the whole answer, so the server never writes to a closed socket
        except OSError:
            pass  # the status line was the answer
        return line.startswith(b"HTTP/1.")
    finally:
        writer.close()
        await writer.wait_closed()
