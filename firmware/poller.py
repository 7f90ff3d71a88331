"""Polls the devices of one RS485 channel: reads their blocks, tracks online/offline.

A device is online after a good poll and offline after ``OFFLINE_AFTER`` failed polls in a row.
At first contact (and after each return) the device's model and serial number are read where its
map says; an illegal serial number (manual 6.2: 10 letters or digits) is flagged, not fatal. Raw
bytes of the mapped registers are kept per device (one buffer) and decoded only when someone asks
for values.
"""

from micropython import const

from firmware import devicemap
from firmware.compat import sleep_ms, ticks_add, ticks_diff, ticks_ms
from firmware.modbus.errors import ExceptionReply, ModbusError

OFFLINE_AFTER = const(3)
_IDLE_MS = const(1000)  # longest nap, so device list changes are noticed quickly


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

    def __init__(self, entry, dmap):
        self.type = entry["type"]
        self.channel = entry["channel"]
        self.address = entry["address"]
        self.map = dmap
        self.raw = bytearray(dmap.raw_size) if dmap else b""  # the mapped registers (DeviceMap.runs)
        self.online = False
        self.fails = 0
        self.polls = 0
        self.good_polls = 0
        self.last_seen_ms = None
        self.poll_ms = None  # how long its last good poll took
        self.last_error = None if dmap else "no register map for type %r" % self.type
        self.identified = False
        self.model = None
        self.serial = None
        self.serial_problem = None
        self.next_due = ticks_ms()

    def key(self):
        return (self.type, self.channel, self.address)

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

    def as_dict(self, now_ms=None):
        now_ms = ticks_ms() if now_ms is None else now_ms
        return {
            "type": self.type, "channel": self.channel, "address": self.address, "model": self.model,
            "serial": self.serial, "serial_ok": self.serial_problem is None if self.serial is not None else None,
            "serial_problem": self.serial_problem, "online": self.online,
            "last_seen_s": None if self.last_seen_ms is None else ticks_diff(now_ms, self.last_seen_ms) // 1000,
            "polls": self.polls, "good_polls": self.good_polls, "last_error": self.last_error,
        }


class Poller:
    """The poll loop of one channel (a modbus.Channel); ``devices`` are its Device objects."""

    def __init__(self, channel, log, maps, alive=None):
        self.channel = channel
        self.log = log
        self.maps = maps
        self.devices = []
        self.sweeps = 0
        self.sweep_ms = None  # how long the last pass over the due devices took
        self.alive = alive  # called after each poll and each nap: the watchdog's sign of progress
        self.on_change = None  # on_change(device, fields): went online or offline (the uplink's events)
        self.on_poll = None  # on_poll(device): after each good poll
        self.interval_ms = None  # every device's poll interval when set (tests), else its map's
        self._block = bytearray(2 * 125)  # one block's reply; its mapped registers go to the device
        self._block_mv = memoryview(self._block)

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

    async def run(self):
        while True:
            now = ticks_ms()
            due = [d for d in self.devices if d.map and ticks_diff(now, d.next_due) >= 0]
            if not due:
                wait = _IDLE_MS
                for d in self.devices:
                    if d.map:
                        wait = min(wait, max(0, ticks_diff(d.next_due, now)))
                await sleep_ms(wait)
                if self.alive:
                    self.alive()
                continue
            begin = ticks_ms()
            for d in due:
                if d in self.devices:  # may have been deleted meanwhile
                    start = ticks_ms()
                    if await self.poll(d):
                        d.poll_ms = ticks_diff(ticks_ms(), start)
                    every = self.interval_ms if self.interval_ms is not None else d.map.interval_s * 1000
                    d.next_due = ticks_add(start, every)
                    if self.alive:
                        self.alive()
            self.sweep_ms = ticks_diff(ticks_ms(), begin)
            self.sweeps += 1

    async def _identify(self, d):
        m = d.map
        ch = self.channel
        if m.model:
            try:
                code = (await ch.request(d.address, m.model.get("function", 3), m.model["address"], 1))[0]
                d.model = m.model_of(code)
                if d.model is None:
                    self.log.warning("%s: unknown model code %d" % (self._name(d), code))
            except ExceptionReply:
                d.model = None
        if m.serial:
            count = m.serial.get("count", 5)
            buf = bytearray(2 * count)
            try:
                await ch.request(d.address, m.serial.get("function", 3), m.serial["address"], count, out=buf)
                d.serial = devicemap.text(buf)
            except ExceptionReply:
                d.serial = ""
            d.serial_problem = serial_problem(d.serial)
            if d.serial_problem:
                self.log.warning("%s: illegal serial number %r: %s" % (self._name(d), d.serial, d.serial_problem))
        d.identified = True

    def _name(self, d):
        return "%s at RS485-%d address %d" % (d.type, d.channel, d.address)

    async def poll(self, d):
        """One poll of ``d``: identify if needed, then every block. True if all of it worked."""
        d.polls += 1
        try:
            if not d.identified:
                await self._identify(d)
            for i, (fn, addr, count) in enumerate(d.map.blocks):
                await self.channel.request(d.address, fn, addr, count, out=self._block)
                d.map.keep(i, self._block_mv, d.raw)
        except ModbusError as exc:
            d.fails += 1
            d.last_error = str(exc)
            if d.online and d.fails >= OFFLINE_AFTER:
                d.online = False
                d.identified = False  # read model and serial again when it is back
                self.log.warning("%s offline: %s" % (self._name(d), exc))
                if self.on_change:
                    self.on_change(d, {"event": "offline", "reason": str(exc)})
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
