"""Who gets an RS485 bus next: one scheduler per channel, every transaction asks it first.

One transaction at a time. Waiters are served by priority (a user's or a client's request, then
due polls, then probes of offline devices and scans), first come first served within one. So
that nothing starves, probes and scans still get a bounded share of the bus while polls keep it
busy: when both wait, a probe goes first if the probes' share of the recent bus time is below
``probe_share``; over it, a probe waits until the pollers pause (a single poller never waits
while it holds the bus, so the end of each of its transactions is when it is asked). Which
poll is due first (the most overdue) is the poller's business: it has one poll waiting at a time.
"""

import asyncio

from micropython import const

from firmware.compat import ticks_diff, ticks_ms

USER = const(0)  # a person's or a client's request (writes, the gateway)
POLL = const(1)  # a due poll of an online device
PROBE = const(2)  # a try of an offline or never-seen device, a scan
_WINDOW_MS = const(60000)  # the share is reckoned over roughly this much recent bus time


class Scheduler:
    """The bus of one channel as a resource: ``await acquire(priority)`` ... ``release()``."""

    def __init__(self, probe_share=0.1):
        self.probe_share = probe_share
        self.busy = False
        self._waiting = []  # [priority, sequence, event]
        self._seq = 0
        self._prio = POLL
        self._since = 0
        self._all_ms = 0  # bus time held, decayed: all transactions, and the probes' part
        self._probe_ms = 0
        self._deferred = False  # a grant to a probe is pending (release)
        self.grants = [0, 0, 0]  # per priority, since start

    def locked(self):
        return self.busy

    async def acquire(self, priority=USER):
        if not self.busy and not self._waiting:
            self._grant(priority)
            return
        self._seq += 1
        entry = [priority, self._seq, asyncio.Event()]
        self._waiting.append(entry)
        if not self.busy:  # free, a probe's grant deferred (release): the choice is made now
            self._hand(self._next())
        try:
            await entry[2].wait()
        except BaseException:  # cancelled while waiting, or just after being granted the bus
            if entry in self._waiting:
                self._waiting.remove(entry)
            else:
                self.release()
            raise

    def _grant(self, priority):
        self.busy = True
        self._prio = priority
        self._since = ticks_ms()
        self.grants[priority] += 1

    def _hand(self, entry):
        self._waiting.remove(entry)
        self._grant(entry[0])
        entry[2].set()

    def _within_share(self):
        return self.probe_share and self._probe_ms <= self.probe_share * self._all_ms

    def release(self):
        held = ticks_diff(ticks_ms(), self._since)
        self._all_ms += held
        if self._prio == PROBE:
            self._probe_ms += held
        if self._all_ms > _WINDOW_MS:  # forget the old half
            self._all_ms //= 2
            self._probe_ms //= 2
        self.busy = False
        if not self._waiting:
            return
        entry = self._next()
        if entry[0] == PROBE and self._prio == POLL and not self._within_share():
            # The probes had their share and a poll just ended: its poller may want the bus again
            # at once (the next block, the next device), before it ever waits. Let it ask first;
            # the probe gets the bus when the poller pauses (or once within its share).
            if not self._deferred:
                self._deferred = True
                asyncio.create_task(self._hand_later())
            return
        self._hand(entry)

    async def _hand_later(self):
        await asyncio.sleep(0)
        self._deferred = False
        if not self.busy and self._waiting:
            self._hand(self._next())

    def _next(self):
        best = probe = None
        for e in self._waiting:
            if best is None or (e[0], e[1]) < (best[0], best[1]):
                best = e
            if e[0] == PROBE and (probe is None or e[1] < probe[1]):
                probe = e
        if best[0] == POLL and probe is not None and self._within_share():
            return probe  # polls keep the bus busy: the probes' turn within their share
        return best

    def share(self):
        """The probes' and scans' share of the recent bus time (0..1)."""
        return self._probe_ms / self._all_ms if self._all_ms else 0.0
