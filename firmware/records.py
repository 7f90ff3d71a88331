"""Upload records: the compact bytes the spool keeps, and the JSON the broker gets.

On flash a record is a header and a body::

    kind u8 (1 state, 2 event; bit 7 set: wall time known; bit 6 set: read age follows),
    channel u8, address u8, type (u8 length + text), model (u8 length + text),
    wall time known: unix ms u64 | else: boot id u32 + uptime ms u64,
    read age: how long before the record its values were read, ms u32, and their quality u8
    (0 live, 1 stale: read more than two poll intervals ago; 2 from an offline device),
    body: state: the registers of the points the device's map polls for its model, in map order
          event: JSON text

A state record keeps registers, not decoded values: an ATESS inverter's 39 points cost 96 bytes,
their JSON three times that. They are decoded with the device's map when published, to
``<prefix>/<SN>/<channel>/<address>/state``; events go to ``<prefix>/<SN>/events``. Every
published object carries ``seq`` (the spool's sequence number, per logger) and ``ts`` (Unix ms;
null when the time is unknown, then ``boot`` and ``uptime_ms`` say when it was taken); a state
also ``age_ms`` and ``quality`` (live, stale or offline) and, with the time known, ``read_ts``:
when its values were read.
"""

import json
import struct

from micropython import const

from firmware import devicemap
from firmware.compat import ticks_diff, ticks_ms

STATE = const(1)
EVENT = const(2)
_TIMED = const(0x80)
_READ = const(0x40)
QUALITIES = ("live", "stale", "offline")


def encode(kind, channel, address, dtype, model, stamp, body, read=None):
    """A record's bytes; ``stamp`` is ``clock.stamp()``; ``read`` (age ms, quality index) or None."""
    t, m = dtype.encode(), (model or "").encode()
    unix_ms, boot, up = stamp
    if unix_ms is not None:
        kind |= _TIMED
        when = struct.pack(">Q", unix_ms)
    else:
        when = struct.pack(">IQ", boot, up)
    if read is not None:
        kind |= _READ
        when += struct.pack(">IB", min(read[0], 0xFFFFFFFF), read[1])
    return (struct.pack(">BBBB", kind, channel, address, len(t)) + t + struct.pack(">B", len(m)) + m
            + when + body)


def parse(rec):
    """(kind, channel, address, type, model, stamp, read, body) of a record's bytes; ``read`` is
    (age ms, quality index) or None (events, and states stored before it was recorded)."""
    kind, channel, address, n = struct.unpack_from(">BBBB", rec, 0)
    i = 4 + n
    dtype = str(rec[4:i], "utf-8")
    n = rec[i]
    model = str(rec[i + 1 : i + 1 + n], "utf-8") or None
    i += 1 + n
    if kind & _TIMED:
        stamp = [struct.unpack_from(">Q", rec, i)[0], None, None]
        i += 8
    else:
        boot, up = struct.unpack_from(">IQ", rec, i)
        stamp = [None, boot, up]
        i += 12
    read = None
    if kind & _READ:
        read = struct.unpack_from(">IB", rec, i)
        i += 5
    return kind & 0x3F, channel, address, dtype, model, stamp, read, rec[i:]


def state(device, stamp, interval_ms=None):
    """The state record of ``device`` (a poller Device with a good poll) taken at ``stamp``, with
    how old its values are (``interval_ms``: the poll interval in force when not the map's)."""
    m = device.map
    pts = m.polled(device.model)
    body = bytearray(2 * sum(pt.regs for pt in pts))
    at = 0
    for pt in pts:
        off = m.offset(pt)
        n = 2 * pt.regs
        body[at : at + n] = device.raw[off : off + n]
        at += n
    read = None
    if device.last_seen_ms is not None:
        now = ticks_ms()
        read = (max(0, ticks_diff(now, device.last_seen_ms)), QUALITIES.index(device.quality(now, interval_ms)))
    return encode(STATE, device.channel, device.address, device.type, device.model, stamp, body, read)


def event(device, stamp, fields):
    """An event record about ``device``: ``fields`` is a dict, e.g. {"event": "offline"}."""
    return encode(EVENT, device.channel, device.address, device.type, device.model, stamp,
                  json.dumps(fields).encode())


def values_json(dmap, model, body):
    """The JSON object text of a state record's values, in pieces (a list: the uplink sends them
    one after the other, never joined); None if the body does not fit the map (the map changed
    since the record was stored)."""
    pts = dmap.polled(model)
    if 2 * sum(pt.regs for pt in pts) != len(body):
        return None
    parts = ["{"]
    at = 0
    for pt in pts:
        v = devicemap.json_value(pt, devicemap.decode(pt, body, at))
        parts.append('%s"%s":%s' % ("," if at else "", pt.name, v))
        at += 2 * pt.regs
    parts.append("}")
    return parts


class Renderer:
    """``render(seq, record) -> (topic, payload)`` for the uplink, or None while the record waits
    for the clock (see ``hold``); ``base`` is ``<prefix>/<SN>/``."""

    def __init__(self, base, maps, resolve, hold=None):
        self.base = base
        self.maps = maps
        self.resolve = resolve  # clock.resolve: a stamp taken before the clock was set, made true
        self.hold = hold  # hold(stamp): True while a time-less record should wait for the clock

    def __call__(self, seq, rec):
        try:
            kind, channel, address, dtype, model, stamp, read, body = parse(rec)
        except Exception as exc:  # garbled or from another version (CPython's struct.error is no ValueError)
            return self.base + "events", json.dumps({"seq": seq, "event": "unreadable record",
                                                     "error": str(exc)})
        ts = self.resolve(stamp)
        if ts is None and self.hold and self.hold(stamp):
            return None
        out = {"seq": seq, "ts": ts, "channel": channel, "address": address, "type": dtype}
        if model:
            out["model"] = model
        if ts is None and stamp[1] is not None:
            out["boot"], out["uptime_ms"] = stamp[1], stamp[2]
        if kind == EVENT:
            try:
                out.update(json.loads(body))
            except ValueError:
                out["event"] = "unreadable"
            return self.base + "events", json.dumps(out)
        dmap = self.maps.get(dtype)
        vals = values_json(dmap, model, body) if dmap else None
        age = ""  # how old the values are: a piece of its own (the pieces stay short)
        if read is not None:
            age = ',"age_ms":%d,"quality":"%s"' % (read[0], QUALITIES[read[1]] if read[1] < 3 else "?")
            if ts is not None:
                age += ',"read_ts":%d' % (ts - read[0])
        if vals is None:
            out["raw"] = "".join("%02x" % b for b in body)  # kept rather than lost
            text = json.dumps(out)[:-1] + age + "}"
        else:
            text = [json.dumps(out)[:-1], age + ',"values":'] + vals + ["}"]
        return "%s%d/%d/state" % (self.base, channel, address), text
