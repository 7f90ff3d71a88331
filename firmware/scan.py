"""Scanning a channel for devices: which addresses answer, and of which device type they are.

A scan runs in the background and shares the bus with polling (modbus.scheduler's probe
priority: polls go first, the scan gets a bounded share while they keep the bus busy). Per
address: one short request (``TIMEOUT_MS``, no retry) to see whether anything answers (a reply or
an exception reply; a reply from another unit is asked again once, as a device's late reply to
an earlier request must not make an empty address look garbled); if so, each map's own
identification: its probe register (a model code in its model ranges, or a value inside its
probe range), then the model and serial number where the map says. The identifying reads get a
longer timeout and one retry (``IDENTIFY_TIMEOUT_MS``): something answered there, and one slow
or lost reply must not leave it without its type; a device that keeps quiet about a register it
lacks costs two of them per map that asks. Already-configured addresses are reported from what
the poller knows, not probed again. Nothing is stored: adding a found device is the ordinary
``POST /api/devices``.
"""

import asyncio

from micropython import const

from firmware import devicemap
from firmware.modbus.errors import CrcError, ExceptionReply, FrameError, ModbusError, WrongUnit
from firmware.modbus.scheduler import PROBE

TIMEOUT_MS = const(100)  # a real device answers well within this
IDENTIFY_TIMEOUT_MS = const(300)
FIRST, LAST = 1, 247
IDLE, RUNNING, DONE, STOPPED = "idle", "running", "done", "stopped"


class ScanError(ValueError):
    """A scan that cannot start; ``status`` is the HTTP answer, ``field`` the input at fault."""

    def __init__(self, status, message, field=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


class Scan:
    """One scan of addresses ``first``..``last`` on ``poller``'s channel."""

    def __init__(self, poller, maps, first, last):
        self.poller = poller
        self.channel = poller.channel
        self.maps = maps
        self.first, self.last = first, last
        self.state = RUNNING
        self.reason = None  # why it stopped
        self.done = 0
        self.found = []
        self._line = self._line_now()
        self._stop = False
        self._buf = bytearray(2 * 16)

    def _line_now(self):
        ch = self.channel
        return ch.baud, ch.parity, ch.stop, ch._pending

    def stop(self, reason="stopped by request"):
        if self.state == RUNNING:
            self._stop = True  # the loop ends before its next address
            self.state = STOPPED
            self.reason = reason

    def as_dict(self):
        total = self.last - self.first + 1
        return {"channel": self.channel.number, "first": self.first, "last": self.last, "state": self.state,
                "progress": round(self.done / total, 3), "found": self.found, "reason": self.reason}

    async def run(self):
        try:
            for address in range(self.first, self.last + 1):
                if self._line_now() != self._line:  # answers at another rate would mean nothing
                    self.stop("the line settings of RS485-%d changed" % self.channel.number)
                if self._stop:
                    self.state = STOPPED
                    return
                known = [d for d in self.poller.devices if d.address == address]
                if known:
                    d = known[0]
                    self.found.append({"address": address, "type": d.type, "model": d.model, "serial": d.serial,
                                       "configured": True})
                else:
                    await self._try(address)
                self.done += 1
            self.state = DONE
        except asyncio.CancelledError:
            self.state = STOPPED
            raise

    async def _ask(self, address, fn, addr, count, short=False):
        """The register bytes read (a memoryview of the scan's buffer), or the error; ``short``:
        one try of TIMEOUT_MS (is anything there?), else two of IDENTIFY_TIMEOUT_MS."""
        try:
            n = await self.channel.request(address, fn, addr, count, out=self._buf, priority=PROBE,
                                           timeout_ms=TIMEOUT_MS if short else IDENTIFY_TIMEOUT_MS,
                                           retries=0 if short else 1, track=False)
            return memoryview(self._buf)[:n]
        except ModbusError as exc:
            return exc

    async def _try(self, address):
        first = await self._ask(address, 3, 0, 1, short=True)
        if isinstance(first, WrongUnit):  # maybe another unit's late reply: ask once more
            first = await self._ask(address, 3, 0, 1, short=True)
        if isinstance(first, ModbusError) and not isinstance(first, (ExceptionReply, CrcError, FrameError)):
            return  # silence: nothing there
        entry = {"address": address, "type": None, "model": None, "serial": None, "configured": False}
        if isinstance(first, (CrcError, FrameError)):
            entry["problem"] = "answers garbled (%s)" % first
        else:
            await self._identify(address, entry)
        self.found.append(entry)

    async def _identify(self, address, entry):
        tried = {}  # one read per probe register, however many maps name it
        for name in sorted(self.maps):
            m = self.maps[name]
            req = m.probe_request()
            if req not in tried:
                got = await self._ask(address, *req)
                tried[req] = None if isinstance(got, ModbusError) else bytes(got)
            data = tried[req]
            if data is None or not m.recognise(data):
                continue
            entry["type"] = m.type
            entry["name"] = m.name
            if m.model:
                got = await self._ask(address, m.model.get("function", 3), m.model["address"], 1)
                if not isinstance(got, ModbusError):
                    entry["model"] = m.model_of((got[0] << 8) | got[1])
            if m.serial:
                got = await self._ask(address, m.serial.get("function", 3), m.serial["address"],
                                      m.serial.get("count", 5))
                if not isinstance(got, ModbusError):
                    entry["serial"] = devicemap.text(got)
            return


class Scans:
    """The scans of a logger's channels: at most one running per channel (the API's side)."""

    def __init__(self, pollers, maps):
        self.pollers = pollers  # one per channel, RS485-1 first
        self.maps = maps
        self.scans = {}  # channel number: its latest Scan
        self.latest = None
        self._tasks = {}

    def start(self, channel, first=FIRST, last=LAST):
        if isinstance(channel, bool) or not isinstance(channel, int) or not 1 <= channel <= len(self.pollers):
            raise ScanError(400, "channel must be 1-%d" % len(self.pollers), "channel")
        for name, v in (("first", first), ("last", last)):
            if isinstance(v, bool) or not isinstance(v, int) or not FIRST <= v <= LAST:
                raise ScanError(400, "an address is %d-%d" % (FIRST, LAST), name)
        if first > last:
            raise ScanError(400, "first must not be after last", "first")
        running = self.scans.get(channel)
        if running and running.state == RUNNING:
            raise ScanError(409, "RS485-%d is being scanned already" % channel, "channel")
        scan = Scan(self.pollers[channel - 1], self.maps, first, last)
        self.scans[channel] = self.latest = scan
        self._tasks[channel] = asyncio.create_task(scan.run())
        return scan

    def get(self, channel=None):
        """The scan of ``channel`` (or the latest), None if there was none."""
        if channel is None:
            return self.latest
        self._check(channel)
        return self.scans.get(channel)

    def stop(self, channel=None):
        """Stops the scan of ``channel`` (or every running one); the scans stopped."""
        if channel is not None:
            self._check(channel)
        out = []
        for n, scan in self.scans.items():
            if (channel is None or n == channel) and scan.state == RUNNING:
                scan.stop()
                out.append(scan)
        return out

    def _check(self, channel):
        if not 1 <= channel <= len(self.pollers):
            raise ScanError(400, "channel must be 1-%d" % len(self.pollers), "channel")
