"""Runs the firmware's long-lived tasks in one asyncio loop and restarts any that fail.

A task that raises is logged and started again after a back-off, without disturbing the others.
A task that keeps failing (more than ``max_restarts`` within ``window_ms``) is unrecoverable:
``run()`` then raises ``Fatal`` and the caller resets the board.
"""

import asyncio

from firmware.compat import sleep_ms, ticks_diff, ticks_ms


class Fatal(Exception):
    """A task failed too often; the board must restart."""


class _Entry:
    def __init__(self, name, factory):
        self.name = name
        self.factory = factory
        self.restarts = 0
        self.recent = []  # ticks_ms of failures inside the window
        self.running = False
        self.task = None


class Supervisor:
    max_restarts = 5
    window_ms = 60000
    backoff_ms = 100
    backoff_max_ms = 10000

    def __init__(self, log):
        self.log = log
        self._entries = []
        self._fatal = None
        self._done = None

    def add(self, name, factory):
        """Registers ``factory``: a callable returning a new coroutine each time it is called."""
        self._entries.append(_Entry(name, factory))

    def status(self):
        """{task name: (running, restarts)}."""
        return {e.name: (e.running, e.restarts) for e in self._entries}

    async def _keep(self, entry):
        delay = self.backoff_ms
        while True:
            entry.running = True
            try:
                await entry.factory()
                entry.running = False
                self.log.info("task %s finished" % entry.name)
                return
            except asyncio.CancelledError:
                entry.running = False
                raise
            except Exception as exc:
                entry.running = False
                entry.restarts += 1
                now = ticks_ms()
                entry.recent = [t for t in entry.recent if ticks_diff(now, t) < self.window_ms]
                entry.recent.append(now)
                self.log.exception("task %s failed (restart %d)" % (entry.name, entry.restarts), exc)
                if len(entry.recent) > self.max_restarts:
                    self._fatal = Fatal(
                        "task %s failed %d times in %d s"
                        % (entry.name, len(entry.recent), self.window_ms // 1000)
                    )
                    self._done.set()
                    return
            await sleep_ms(delay)
            delay = min(delay * 2, self.backoff_max_ms)

    async def run(self):
        """Runs every task until one becomes unrecoverable (raises Fatal) or all finish."""
        self._done = asyncio.Event()
        for e in self._entries:
            e.task = asyncio.create_task(self._keep(e))
        waiter = asyncio.create_task(self._wait_all())
        await self._done.wait()
        waiter.cancel()
        for e in self._entries:
            if e.task is not None:
                e.task.cancel()
        # Let the cancellations run before the caller resets or leaves the loop.
        await sleep_ms(0)
        if self._fatal:
            raise self._fatal

    async def _wait_all(self):
        for e in self._entries:
            try:
                await e.task
            except asyncio.CancelledError:
                pass
        self._done.set()
