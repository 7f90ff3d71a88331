"""The write governor (manual 2.3, "set slave devices"): the one path of every write to a device,
whoever asks (the page, an MQTT ``cmd``, a Modbus TCP client through the gateway).

A write passes only when:

- the device is configured and the register is a point its map marks ``writable`` (and present
  on the device's model);
- the map gives the point's ``min``/``max`` (a point without them is never written) and the value
  is inside them, a whole number of the point's steps (its scale);
- the register was not written in the last ``min_interval_s`` seconds (the ``writes`` setting);
- the device holds another value (read first: an unchanged value is not written, for the
  device's EEPROM).

Then it is written (function 6, at the bus's user priority), read back, and a different value
read back is reported (``read_back_differs``). Every attempt, refused or not, goes to the audit log
(``firmware/audit.py``) with who asked, the old, asked and read-back values and the result; only
``refusals_per_minute`` refusals a minute are kept there (a client hammering bad writes must not
wear the flash), the others counted. Writes run one at a time.

A refusal is a ``WriteError`` whose ``code`` decides the web answer's status
(``api.common.STATUS_BY_CODE``) and the gateway's Modbus exception (``gateway.EXCEPTION_BY_CODE``).
"""

import asyncio

from firmware import devicemap, devicetext
from firmware.compat import ticks_diff, ticks_ms
from firmware.errors import SettingsError
from firmware.modbus.errors import ExceptionReply, ModbusError
from firmware.modbus.scheduler import USER
from firmware.rs485 import label

NO_DEVICE = "no_device"
NOT_WRITABLE = "not_writable"
NO_LIMITS = "no_limits"
RANGE = "range"
STEP = "step"
TOO_SOON = "too_soon"
NO_ANSWER = "no_answer"
DEVICE_EXCEPTION = "device_exception"
MISMATCH = "read_back_differs"
WRITTEN = "written"
UNCHANGED = "unchanged"
PATH_OFF = "path_off"  # the way in (MQTT remote settings, the gateway's writes) is turned off


class WriteError(SettingsError):
    """A write refused or failed; ``exception``: the device's Modbus exception code, if it sent one."""

    def __init__(self, field, message, code, exception=None):
        super().__init__(field, message, code)
        self.exception = exception


def value_of(pt, raw):
    """The value (in the point's unit) of register value ``raw`` (0-65535)."""
    return devicemap.decode(pt, bytes((raw >> 8 & 0xFF, raw & 0xFF)), 0)


def raw_of(pt, value):
    """The register value (0-65535) that holds ``value`` of point ``pt``; WriteError if none does."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WriteError("value", "a number is required", RANGE)
    r = value / pt.scale
    if not -1e9 < r < 1e9:  # NaN and infinity too (JSON parsers take them)
        raise WriteError("value", "%s is outside what the register holds" % value, RANGE)
    if abs(r - round(r)) > 1e-6:
        raise WriteError("value", "%s is not a whole number of steps of %s" % (value, pt.scale), STEP)
    r = int(round(r))
    lo, hi = devicemap.RAW_RANGES[pt.type]
    if not lo <= r <= hi:
        raise WriteError("value", "%s is outside what the register holds" % value, RANGE)
    return r & 0xFFFF


def _loggable(value):
    """A value asked for, as the audit log keeps it: a finite number, else None (no NaN in its JSON)."""
    return value if isinstance(value, (int, float)) and -1e12 < value < 1e12 else None


def writable_point(dmap, model, pt):
    """Why ``pt`` cannot be written on a device of ``model`` (a WriteError), or None."""
    if pt is None or not pt.writable:
        return WriteError("point", "not a setting the %s lets the logger write" % dmap.label, NOT_WRITABLE)
    if pt.models and model not in pt.models:
        return WriteError("point", "the %s %s has no setting %s" % (dmap.label, model or "(model not read yet)",
                                                                  dmap.label_of(pt)), NOT_WRITABLE)
    if pt.name not in dmap.limits:
        return WriteError("point", "%s: the register map gives no limits, so it is not written" % dmap.label_of(pt),
                          NO_LIMITS)
    return None


class Governor:
    """``devices()``: the configured devices; ``bus(n)``: channel ``n``'s ``modbus.Channel``;
    ``audit``: an ``audit.Audit``; ``interval_s()``: the ``writes.min_interval_s`` setting now;
    ``now_s()``: Unix seconds or None."""

    refusals_per_minute = 20

    def __init__(self, devices, bus, audit, interval_s, now_s, log, ticks=ticks_ms):
        self.devices = devices
        self.bus = bus
        self.audit = audit
        self.interval_s = interval_s
        self.now_s = now_s
        self.log = log
        self.ticks = ticks
        self._last = {}  # (channel, address, register): when it was last written (ticks)
        self._lock = asyncio.Lock()
        self._refusals = [None, 0]  # [this minute's start (ticks), refusals recorded in it]
        self.unrecorded = 0  # refusals not kept in the audit log (over refusals_per_minute)

    # -- finding what to write -----------------------------------------------------------------

    def device(self, channel, address):
        for d in self.devices():
            if d.channel == channel and d.address == address and d.map:
                return d
        raise WriteError("address", "no device at %s address %s" % (label(channel), address), NO_DEVICE)

    def point(self, device, name):
        pt = device.map.point(name) if isinstance(name, str) else None
        bad = writable_point(device.map, device.model, pt)
        if bad:
            raise bad
        return pt

    def point_at(self, device, register):
        """The writable point at holding ``register`` (the gateway's view)."""
        for pt in device.map.points if device.map else ():
            if pt.writable and pt.address == register:
                return self.point(device, pt.name)
        raise WriteError("register", "register %d is not a setting the %s lets the logger write"
                         % (register, devicetext.type_name(device)), NOT_WRITABLE)

    def check(self, device, pt, raw):
        """WriteError unless ``raw`` may be written to ``pt`` of ``device`` now (limits, interval)."""
        low, high = device.map.limits[pt.name]
        v = value_of(pt, raw)
        if not low <= v <= high:
            raise WriteError("value", "%s %s is outside %s-%s %s" % (device.map.label_of(pt), v, low, high, pt.unit),
                             RANGE)
        key = (device.channel, device.address, pt.address)
        last = self._last.get(key)
        if last is None:
            return
        wait, since = self.interval_s() * 1000, ticks_diff(self.ticks(), last)
        if not 0 <= since < wait:  # long ago (a negative age: so long that the ticks wrapped)
            del self._last[key]  # forgotten before the ticks wrap round to it again
        else:
            left = (wait - since + 999) // 1000
            raise WriteError("value", "%s was written less than %d s ago: try again in %d s"
                             % (device.map.label_of(pt), self.interval_s(), left), TOO_SOON)

    # -- the bus ---------------------------------------------------------------------------------

    async def read_raw(self, device, pt):
        try:
            return (await self.bus(device.channel).request(device.address, 3, pt.address, 1, priority=USER))[0]
        except ExceptionReply as exc:
            raise WriteError("device", "the device answered: %s" % exc, DEVICE_EXCEPTION, exc.code)
        except ModbusError as exc:
            raise WriteError("device", "the device did not answer: %s" % exc, NO_ANSWER)

    async def read(self, device, pt):
        """The value ``pt`` of ``device`` holds now, read from the device."""
        return value_of(pt, await self.read_raw(device, pt))

    async def _write(self, device, pt, raw, entry):
        """Reads, writes if changed, reads back; fills ``entry``; returns its result."""
        old = await self.read_raw(device, pt)
        entry["old"] = value_of(pt, old)
        if old == raw:
            entry["read_back"] = entry["old"]
            return UNCHANGED
        now, wait = self.ticks(), self.interval_s() * 1000
        for key in [k for k, t in self._last.items() if not 0 <= ticks_diff(now, t) < wait]:
            del self._last[key]  # past the interval: forgotten before the ticks could wrap round to it
        self._last[(device.channel, device.address, pt.address)] = now
        try:
            await self.bus(device.channel).request(device.address, 6, pt.address, raw, priority=USER)
        except ExceptionReply as exc:
            raise WriteError("device", "the device refused the write: %s" % exc, DEVICE_EXCEPTION, exc.code)
        except ModbusError as exc:
            raise WriteError("device", "the write got no answer: %s" % exc, NO_ANSWER)
        back = await self.read_raw(device, pt)
        entry["read_back"] = value_of(pt, back)
        if back != raw:
            raise WriteError("value", "%s: %s written, the device holds %s"
                             % (device.map.label_of(pt), entry["new"], entry["read_back"]), MISMATCH)
        return WRITTEN

    # -- the two ways in -------------------------------------------------------------------------

    async def set(self, channel, address, name, value, who):
        """Writes ``value`` (in the point's unit) to point ``name`` of the device at
        ``channel``/``address``: ``{"old", "value" (read back), "written", "unit", ...}``."""
        entry = {"who": who, "channel": channel, "address": address, "point": name, "new": _loggable(value)}
        async with self._lock:
            try:
                device = self.device(channel, address)
                pt = self.point(device, name)
                entry["register"] = pt.address
                raw = raw_of(pt, value)
                self.check(device, pt, raw)
                result = await self._write(device, pt, raw, entry)
            except WriteError as exc:
                self._record(entry, exc.code, exc.message)
                raise
            self._record(entry, result)
        return {"channel": channel, "address": address, "point": name, "register": pt.address, "raw": raw,
                "old": entry["old"], "value": entry["read_back"], "unit": pt.unit, "written": result == WRITTEN}

    async def set_registers(self, device, register, raws, who):
        """Writes register values ``raws`` from holding ``register`` on (the gateway's 6 and 16):
        every one is checked before any is written."""
        async with self._lock:
            todo = []
            for k, raw in enumerate(raws):
                entry = {"who": who, "channel": device.channel, "address": device.address, "register": register + k}
                try:
                    pt = self.point_at(device, register + k)
                    entry["point"], entry["new"] = pt.name, value_of(pt, raw)
                    self.check(device, pt, raw)
                except WriteError as exc:
                    self._record(entry, exc.code, exc.message)
                    raise
                todo.append((pt, raw, entry))
            for pt, raw, entry in todo:
                try:
                    self._record(entry, await self._write(device, pt, raw, entry))
                except WriteError as exc:
                    self._record(entry, exc.code, exc.message)
                    raise

    def refused_off(self, who, channel, address, message, point=None, register=None, value=None):
        """A write that never reached the governor because its way in is off, kept in the audit
        log as every refusal is (at most so many a minute): who tried, and what."""
        entry = {"who": who, "channel": channel, "address": address, "point": point, "register": register,
                 "new": _loggable(value)}
        self._record(entry, PATH_OFF, message)

    def _record(self, entry, result, message=None):
        entry["time"], entry["result"], entry["message"] = self.now_s(), result, message
        if message is not None and not self._may_record_refusal():
            self.unrecorded += 1
            return
        try:
            self.audit.append(entry)
        except OSError as exc:  # a full or failing flash must not stop the write's answer
            self.log.warning("write audit log: %s" % exc)
        self.log.info("write: %s %s address %s register %s = %s: %s%s" % (
            entry["who"], label(entry["channel"]), entry["address"], entry.get("register"), entry.get("new"),
            result, ", " + message if message else ""))

    def _may_record_refusal(self):
        now = self.ticks()
        start = self._refusals[0]
        if start is None or not 0 <= ticks_diff(now, start) < 60000:
            self._refusals[:] = [now, 0]
        self._refusals[1] += 1
        return self._refusals[1] <= self.refusals_per_minute

    # -- the page --------------------------------------------------------------------------------

    async def settings(self, channel, address):
        """The device's writable settings with their values now, read from the device."""
        device = self.device(channel, address)
        out = []
        for pt in device.map.points:
            if not pt.writable or (pt.models and device.model not in pt.models):
                continue
            limits = device.map.limits.get(pt.name)
            item = {"point": pt.name, "label": device.map.label_of(pt), "register": pt.address, "unit": pt.unit,
                    "step": pt.scale,
                    "min": limits[0] if limits else None, "max": limits[1] if limits else None,
                    "choices": device.map.choices(pt), "writable": limits is not None, "value": None, "error": None}
            if not limits:
                item["error"] = "the register map gives no limits, so it is not written"
            try:
                item["value"] = await self.read(device, pt)
            except WriteError as exc:
                item["error"] = exc.message
            out.append(item)
        return {"channel": channel, "address": address, "type": device.type, "type_name": device.map.label,
                "model": device.model, "settings": out}
