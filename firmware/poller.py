"""Polls the devices of one RS485 channel: reads their blocks, tracks online/offline.

A device is online after a good poll and offline after ``OFFLINE_AFTER`` failed polls in a row.
Online devices are polled at their interval, the most overdue first (on a saturated bus every
one gets the same share). Offline and never-seen devices are only probed, by a second loop at
the bus's probe priority (modbus.scheduler: a bounded share when polls keep the bus busy): one
short try of the map's probe register without retry, at growing intervals (``backoff_ms``
doubling to ``backoff_max_ms``; a device never seen since the start first gets ``START_TRIES``
tries ``START_RETRY_MS`` apart); an answer brings a full poll at once, and a good one puts the
device back at its normal interval. So a dead device costs the others next to nothing.

At first contact (and after each return) the device's model and serial number are read where its
map says; an illegal serial number (manual 6.2: 10 letters or digits) is flagged, not fatal, and
only judged once one was read. Raw bytes of the mapped registers are kept per device (one buffer)
and decoded only when someone asks for values; ``quality`` says how old they are.
"""

import asyncio

from micropython import const

from firmware import devicemap
from firmware.compat import sleep_ms, ticks_add, ticks_diff, ticks_ms
from firmware.modbus.errors import ExceptionReply, ModbusError
from firmware.modbus.scheduler import POLL, PROBE

OFFLINE_AFTER = const(3)
# A device never seen since the start gets this many quick tries, START_RETRY_MS apart, before the
# back-off: a first reply lost to noise or a device still booting must not keep it away for 30 s.
START_TRIES = const(3)
START_RETRY_MS = const(2000)
_IDLE_MS = const(1000)  # longest nap, so device list changes are noticed quickly
LIVE, STALE, OFFLINE = "live", "stale", "offline"
# One block's reply, for the pollers of all three channels: a reply is copied in at the end of its
# request and its mapped registers out to the device before the poller awaits anything again, so
# no two polls ever use it at once (one buffer instead of one per channel).
_BLOCK = bytearray(2 * 125)
_BLOCK_MV = memoryview(_BLOCK)


def serial_problem(serial):
    """None for a legal device serial number, else why not (manual 6.2)."""
    if len(serial) != 10:
        return "must be 10 characters, has %d" % len(serial)
    for c in serial:
        if not ("0" <= c <= "9" or "A" <= c <= "Z" or "a" <= c <= "z"):
            return "may hold only letters and digits"
    return None


class Device:
    """The polled state of one configured device."""

    # 17 attributes: an instance's table holds 17 entries in 272 bytes, an 18th makes it 368.
    # (The back-off is reckoned from ``fails``, its next try kept in ``next_due``.)

    def __init__(self, entry, dmap):
        self.type = entry["type"]
        self.channel = entry["channel"]
        self.address = entry["address"]
        self.map = dmap
        self.raw = bytearray(dmap.raw_size) if dmap else b""  # the mapped registers (DeviceMap.runs)
        self.online = False
        self.fails = 0  # failed polls and tries in a row
        self.polls = 0
        self.good_polls = 0
        self.last_seen_ms = None  # when its values were read
        self.poll_ms = None  # how long its last good poll took
        self.last_error = None if dmap else "no register map for type %r" % self.type
        self.identified = False
        self.model = None
        self.serial = None
        self.serial_problem = None
        self.next_due = ticks_ms()  # its next poll, or while offline its next try

    def key(self):
        return (self.type, self.channel, self.address)

    def interval_ms(self, override=None):
        return override if override is not None else self.map.interval_s * 1000 if self.map else 10000

    def quality(self, now_ms=None, interval_ms=None):
        """live, stale (read more than two intervals ago) or offline: how far to trust its values."""
        if not self.online or self.last_seen_ms is None:
            return OFFLINE
        now_ms = ticks_ms() if now_ms is None else now_ms
        age = ticks_diff(now_ms, self.last_seen_ms)
        return STALE if age > 2 * max(self.interval_ms(interval_ms), 1000) else LIVE

    def values(self, main_only=False):
        """{name: (value, unit)} decoded from the last good poll; {} before one."""
        if not self.good_polls:
            return {}
        out = {}
        for pt in self.map.polled(self.model):
            if main_only and not pt.main:
                continue
            out[pt.name] = (devicemap.decode(pt, self.raw, self.map.offset(pt)), pt.unit)
        return out

    def as_dict(self, now_ms=None, interval_ms=None):
        now_ms = ticks_ms() if now_ms is None else now_ms
        seen = self.last_seen_ms
        return {
            "type": self.type, "channel": self.channel, "address": self.address, "model": self.model,
            "serial": self.serial, "serial_ok": self.serial_problem is None if self.serial is not None else None,
            "serial_problem": self.serial_problem, "online": self.online,
            "quality": self.quality(now_ms, interval_ms),
            "last_seen_s": None if seen is None else ticks_diff(now_ms, seen) // 1000,
            "read_ms_ago": None if seen is None else ticks_diff(now_ms, seen),
            "next_try_s": None if self.online or not self.map
            else max(0, ticks_diff(self.next_due, now_ms) + 999) // 1000,
            "polls": self.polls, "good_polls": self.good_polls, "fails": self.fails, "last_error": self.last_error,
        }


class Poller:
    """The poll loop of one channel (a modbus.Channel); ``devices`` are its Device objects."""

    backoff_ms = 30000  # an offline device's first try after it went quiet; doubles each miss...
    backoff_max_ms = 600000  # ...up to this
    probe_timeout_ms = 150  # a try waits this long for the first byte (a real device: ~100 ms)

    def __init__(self, channel, log, maps, alive=None):
        self.channel = channel
        self.log = log
        self.maps = maps
        self.devices = []
        self.sweeps = 0
        self.sweep_ms = None  # how long the last pass over the due devices took
        self.probes = 0  # tries of offline and never-seen devices
        self.alive = alive  # called after each poll and each nap: the watchdog's sign of progress
        self.on_change = None  # on_change(device, fields): went online or offline (the uplink's events)
        self.on_poll = None  # on_poll(device): after each good poll
        self.interval_ms = None  # every device's poll interval when set (tests), else its map's

    def set_devices(self, entries, interval_ms=None):
        """Takes the configured entries of this channel; unchanged devices keep their state.
        ``interval_ms`` overrides the maps' poll intervals from now on."""
        if interval_ms is not None:
            self.interval_ms = interval_ms
        old = {d.key(): d for d in self.devices}
        new = []
        for e in entries:
            if e["channel"] != self.channel.number:
                continue
            k = (e["type"], e["channel"], e["address"])
            new.append(old.get(k) or Device(e, self.maps.get(e["type"])))
        self.devices = new

    def read_all_ms(self):
        """How long reading every device once takes, back to back: the sum of their last good
        polls (None until each has had one). ``sweep_ms`` covers only the devices that were due,
        which is fewer than all when the poll intervals are longer than that."""
        total = 0
        for d in self.devices:
            if d.map:
                if d.poll_ms is None:
                    return None
                total += d.poll_ms
        return total

    def communicating(self):
        """Devices answering right now (the RS485 LED flashes this many times)."""
        return sum(1 for d in self.devices if d.online)

    def backoff(self, d):
        """How long after a failed try ``d`` waits for its next one: a never-seen device's first
        tries START_RETRY_MS apart, then doubling with each miss."""
        if not d.good_polls and d.fails < START_TRIES:
            return min(START_RETRY_MS, self.backoff_ms)
        shift = d.fails - (OFFLINE_AFTER if d.good_polls else START_TRIES)
        return min(self.backoff_max_ms, self.backoff_ms << max(0, min(shift, 16)))

    def _due(self, now, online):
        """The devices due now (online ones, or the others), the most overdue first; and how long
        until the next one is due (at most _IDLE_MS)."""
        due = []
        wait = _IDLE_MS
        for d in self.devices:
            if d.map and d.online == online:
                late = ticks_diff(now, d.next_due)
                if late >= 0:
                    due.append((-late, len(due), d))
                else:
                    wait = min(wait, -late)
        due.sort()
        return [x[2] for x in due], wait

    async def run(self):
        probing = asyncio.create_task(self._probe_loop())
        try:
            await self._poll_loop(probing)
        finally:
            probing.cancel()

    async def _poll_loop(self, probing):
        while True:
            due, wait = self._due(ticks_ms(), True)
            if not due:
                await sleep_ms(wait)
                if probing.done():  # the probe loop failed: its error ends run(); the supervisor restarts it
                    await probing
                if self.alive:
                    self.alive()
                continue
            begin = ticks_ms()
            for d in due:
                if d in self.devices and d.online:  # may have been deleted or gone offline meanwhile
                    start = ticks_ms()
                    if await self.poll(d):
                        d.poll_ms = ticks_diff(ticks_ms(), start)
                    if d.online:
                        d.next_due = ticks_add(start, d.interval_ms(self.interval_ms))
                    if self.alive:
                        self.alive()
            self.sweep_ms = ticks_diff(ticks_ms(), begin)
            self.sweeps += 1
            if probing.done():
                await probing

    async def _probe_loop(self):
        while True:
            due, wait = self._due(ticks_ms(), False)
            if not due:
                await sleep_ms(wait)
                continue
            for d in due:
                if d in self.devices and not d.online:
                    await self.probe(d)

    async def probe(self, d):
        """One short try of an offline or never-seen device (its map's probe register, no retry, at
        the probe priority); if anything answers, a full poll at once. True if the device is back."""
        self.probes += 1
        fn, addr, count = d.map.probe_request()
        try:
            await self.channel.request(d.address, fn, addr, count, out=_BLOCK, priority=PROBE,
                                       timeout_ms=self.probe_timeout_ms, retries=0)
        except ExceptionReply:
            pass  # something answers there: its poll will tell
        except ModbusError as exc:
            d.polls += 1
            self._failed(d, exc)
            return False
        start = ticks_ms()
        if await self.poll(d):  # it answers: a poll like any other, no longer a probe
            d.poll_ms = ticks_diff(ticks_ms(), start)
            d.next_due = ticks_add(start, d.interval_ms(self.interval_ms))
            return True
        return False

    def _failed(self, d, exc):
        d.fails += 1
        d.last_error = str(exc)
        if d.online and d.fails >= OFFLINE_AFTER:
            d.online = False
            d.identified = False  # read model and serial again when it is back
            self.log.warning("%s offline: %s" % (self._name(d), exc))
            if self.on_change:
                self.on_change(d, {"event": "offline", "reason": str(exc)})
        if not d.online:
            d.next_due = ticks_add(ticks_ms(), self.backoff(d))

    async def _identify(self, d, priority):
        m = d.map
        ch = self.channel
        if m.model:
            try:
                code = (await ch.request(d.address, m.model.get("function", 3), m.model["address"], 1,
                                         priority=priority))[0]
                d.model = m.model_of(code)
                if d.model is None:
                    self.log.warning("%s: unknown model code %d" % (self._name(d), code))
            except ExceptionReply:
                d.model = None
        if m.serial:
            count = m.serial.get("count", 5)
            buf = bytearray(2 * count)
            try:
                await ch.request(d.address, m.serial.get("function", 3), m.serial["address"], count, out=buf,
                                 priority=priority)
                d.serial = devicemap.text(buf) or None  # blank registers: no serial number to judge
                d.serial_problem = serial_problem(d.serial) if d.serial else None
            except ExceptionReply:  # none to read: nothing to judge
                d.serial = d.serial_problem = None
            if d.serial_problem:
                self.log.warning("%s: illegal serial number %r: %s" % (self._name(d), d.serial, d.serial_problem))
        d.identified = True

    def _name(self, d):
        return "%s at RS485-%d address %d" % (d.type, d.channel, d.address)

    async def poll(self, d, priority=POLL):
        """One poll of ``d``: identify if needed, then every block. True if all of it worked."""
        d.polls += 1
        try:
            if not d.identified:
                await self._identify(d, priority)
            for i, (fn, addr, count) in enumerate(d.map.blocks):
                await self.channel.request(d.address, fn, addr, count, out=_BLOCK, priority=priority)
                d.map.keep(i, _BLOCK_MV, d.raw)
        except ModbusError as exc:
            self._failed(d, exc)
            return False
        d.fails = 0
        d.good_polls += 1
        d.last_seen_ms = ticks_ms()
        d.last_error = None
        if not d.online:
            d.online = True
            self.log.info("%s online%s" % (self._name(d), " (%s)" % d.model if d.model else ""))
            if self.on_change:
                self.on_change(d, {"event": "online", "serial": d.serial})
        if self.on_poll:
            self.on_poll(d)
        return True
