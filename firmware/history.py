"""History on flash (manual 5.4, "Energy"): each device's main values every 5 minutes, and its
daily energy, for the page's curves and CSV downloads.

Files in ``<root>/history``, append-only (flash wear: nothing is rewritten in place):

- ``p<day>.h``: the 5-minute points of one UTC day (``day``: days since 1970);
- ``e<year>.h``: daily energy, one entry per device per day, for the 400 days the page charts.

A file is a run of frames ``<length u8><payload><crc32 u32 BE of the payload>``. A payload starts
with its kind: ``T`` names a device type and model once per file (``T <index> <type>/<model>``),
``P <slot u16> <channel> <address> <index> <raw>`` holds the raw registers of the type's main
values at a 5-minute slot of the day, ``E <day u16> <channel> <address> <index> <count> <f32>...``
the energy (kWh) each of its energy counters (``kWh`` main values) counted that day.

A power cut can tear only the last frame of the file being written. Readers stop at a frame whose
length or CRC is wrong; before its first append after a start the writer copies a torn file's good
frames into a new file that replaces it (a rename), so nothing is ever written after a torn frame.

The store keeps to its budget (``limit``, from ``firmware/storage.py``) by deleting whole files,
oldest first: 7/8 of the budget for the points, 1/8 for the energy. A 5-minute slot of 60 devices
is one write of at most 60 x 31 bytes.
"""

import binascii
import os
import struct
from array import array

from firmware import devicemap
from firmware.clock import iso
from firmware.compat import sleep_ms
from firmware.store import in_blocks, open_folder, remove, size_of

STEP = 64  # frames read between two yields of a whole-file read (~a slot of 60 devices)

SLOT_S = 300
DAY_S = 86400
_MAX_FRAME = 255
_SLOTS = DAY_S // SLOT_S  # 288 a day


def _deltas(counts):
    """What each energy counter counted: its last value less its first (``History._counters``)."""
    n = len(counts) // 2
    return [counts[n + i] - counts[i] for i in range(n)]


def _crc(data):
    return binascii.crc32(data) & 0xFFFFFFFF


def frame(payload):
    """One frame's bytes."""
    return bytes((len(payload),)) + payload + struct.pack(">I", _crc(payload))


def scan(path, chunk=256):
    """Yields ``(payload, end)`` for the good frames of file ``path`` in order, up to the first
    torn or damaged one (``end``: the file offset after the frame). Reads 256 bytes at a time: a
    day's file is never in RAM whole, and no piece is bigger than two frames (at the start, on a
    192 KB heap still in pieces, 1 KB reads failed)."""
    try:
        f = open(path, "rb")
    except OSError:
        return
    with f:
        buf, at, base = b"", 0, 0  # base: the file offset of buf[0]
        while True:
            if at < len(buf):
                size = buf[at]
                end = at + 1 + size + 4
            if at >= len(buf) or end > len(buf):
                more = f.read(chunk)
                if not more:
                    return
                base += at
                buf, at = buf[at:] + more, 0
                continue
            payload = buf[at + 1 : end - 4]
            if not size or struct.unpack(">I", buf[end - 4 : end])[0] != _crc(payload):
                return
            yield payload, base + end
            at = end


def payloads(path):
    """The good payloads of file ``path`` (see ``scan``)."""
    for p, _ in scan(path):
        yield p


def typed(path):
    """Yields ``(types, payload)`` for the P and E payloads of file ``path``: ``types`` maps the
    file's type indexes to "type/model" (its T payloads read so far)."""
    types = {}
    for p in payloads(path):
        if p[:1] == b"T":
            types[p[1]] = p[2:].decode()
        else:
            yield types, p


def main_points(dmap, model):
    """The points the history keeps for a device of this map and model: its main values."""
    return [pt for pt in dmap.polled(model) if pt.main]


def _counters(d, dmap, pts):
    """The energy counters (kWh) of device ``d`` among its main values ``pts``, as it holds them."""
    return [devicemap.decode(pt, d.raw, dmap.offset(pt)) for pt in pts if pt.unit == "kWh"]


def _year(day):
    return int(iso(day * DAY_S)[:4])


class _File:
    """One append-only history file: its type table, and whether it was checked this start."""

    def __init__(self, path):
        self.path = path
        self.types = None  # "type/model": index, read on the first append
        self.size = 0

    def _load(self):
        for _ in self.loading():
            pass

    def loading(self):
        """Reads the file's type table and repairs a torn tail; a generator that yields every
        STEP frames, so that a task reading a whole day's file can let the others run."""
        types, good, n = {}, 0, 0
        for p, end in scan(self.path):
            good, n = end, n + 1
            if p[:1] == b"T":
                types[p[2:].decode()] = p[1]
            if n % STEP == 0:
                yield
        self.types = types
        if size_of(self.path) > good:  # a torn tail: keep the good frames in a new file, then append
            tmp = self.path + ".tmp"
            with open(self.path, "rb") as src, open(tmp, "wb") as dst:
                left = good
                while left:
                    data = src.read(min(left, 1024))
                    dst.write(data)
                    left -= len(data)
            os.rename(tmp, self.path)
        self.size = good

    def append(self, payloads):
        """Appends ``payloads`` (a list of bytes), closed once (one commit on LittleFS)."""
        if self.types is None:
            self._load()
        try:
            with open(self.path, "ab") as f:
                for p in payloads:  # frame by frame: no slot of 60 devices in one piece of heap
                    self.size += f.write(frame(p))
        except OSError:
            self.types = None  # read the file again before the next append: its T frames may be missing
            raise

    def type_index(self, key, out):
        """The index of ``key`` ("type/model") in this file; adds its T frame to ``out`` if new."""
        if self.types is None:
            self._load()
        i = self.types.get(key)
        if i is None:
            if len(self.types) > 254:
                raise ValueError("history: more than 255 device types in %s" % self.path)
            i = self.types[key] = len(self.types)
            out.append(b"T" + bytes((i,)) + key.encode())
        return i


class History:
    """The history of ``<root>/history``; ``maps``: {type: DeviceMap}."""

    def __init__(self, root, maps, log, block=4096):
        self.dir = root + "/history"
        self.maps = maps
        self.log = log
        self.block = block
        open_folder(self.dir)  # a repair cut short by a power cut leaves nothing behind
        self.max_bytes = None
        self._open = {}  # file name: _File, for the files appended to this start
        self._day = None  # the day of the last slot recorded
        self._key = None  # day * 288 + slot of the last slot recorded: a clock set back records nothing twice
        # (channel << 8) | address: ("type/model", its energy counters at the day's start, then
        # their last values, in one array). A list of floats each for the first and the last,
        # keyed by a (channel, address) tuple, with a "type/model" string per device: 15 KB of
        # heap for the soak's 60 devices.
        self._counters = {}
        self._low = {}  # (channel << 8) | address: counter values read lower than the last, once
        self._pts = {}  # "type/model": (its map, its main points, the key itself: one copy of it)
        self.written = 0  # slots recorded this start

    # -- the storage protocol (firmware/storage.py) --------------------------------------------

    def _names(self, kind):
        return sorted((n for n in os.listdir(self.dir) if n[:1] == kind and n.endswith(".h")),
                      key=lambda n: int(n[1:-2]))

    def _bytes(self, name):
        return in_blocks(size_of(self.dir + "/" + name), self.block)

    def size(self):
        """Bytes on the flash, each file in whole blocks (and the folder's)."""
        return self.block + sum(self._bytes(n) for n in os.listdir(self.dir))

    def limit(self, budget):
        self.max_bytes = budget
        self._evict()

    def _evict(self):
        """Whole files go, oldest first, but files dated after the one being written (a clock
        that was wrong) before them; the file being written always stays."""
        if self.max_bytes is None:
            return
        for kind, share, now in (("p", self.max_bytes * 7 // 8, self._day),
                                 ("e", self.max_bytes // 8, None if self._day is None else _year(self._day))):
            names = self._names(kind)
            used = sum(self._bytes(n) for n in names)
            if now is not None:
                names = [n for n in names if int(n[1:-2]) > now] + [n for n in names if int(n[1:-2]) < now]
            else:
                names = names[:-1]
            while used > share and names:
                name = names.pop(0)
                used -= self._bytes(name)
                remove(self.dir + "/" + name)
                self._open.pop(name, None)
                self.log.info("history: %s removed to keep within %d bytes" % (name, self.max_bytes))

    def _file(self, name):
        f = self._open.get(name)
        if f is None:
            f = self._open[name] = _File(self.dir + "/" + name)
        return f

    def points_of(self, key):
        """(map, main points, key) of a "type/model" key (map None for a type no longer known); the
        key returned is the one kept, for a table that keeps it per device."""
        got = self._pts.get(key)
        if got is None:
            t, _, model = key.partition("/")
            dmap = self.maps.get(t)
            got = self._pts[key] = (dmap, main_points(dmap, model or None) if dmap else [], key)
        return got

    # -- writing -------------------------------------------------------------------------------

    def record(self, unix_s, devices):
        """Stores the 5-minute slot holding ``unix_s`` for ``devices`` (those online with a good
        poll); at the first slot of a new day, the finished day's energy first. A slot at or up
        to a day before the last one recorded (the clock set back by a re-sync) is not recorded
        again; a clock that was days ahead and is set right starts over from the true time."""
        day, slot = unix_s // DAY_S, unix_s % DAY_S // SLOT_S
        key = day * _SLOTS + slot
        if self._key is not None and 0 <= self._key - key < _SLOTS:
            return  # a re-sync set the clock back a little: those slots are kept already
        self._key = key
        self._new_day(day)
        f = self._file("p%d.h" % day)
        out = []
        for d in devices:
            if d.online and d.good_polls and d.map:
                self._entry(f, d, slot, out)
        if out:
            f.append(out)
            self.written += 1
            self._evict()

    def _entry(self, f, d, slot, out):
        dmap, pts, key = self.points_of("%s/%s" % (d.type, d.model or ""))
        raw = b"".join(bytes(d.raw[dmap.offset(pt) : dmap.offset(pt) + 2 * pt.regs]) for pt in pts)
        if 6 + len(raw) > _MAX_FRAME:  # main values over 249 bytes (the largest map's take 18)
            self.log.warning("history: %s keeps too many main values to record" % key)
            return
        out.append(b"P" + struct.pack(">HBBB", slot, d.channel, d.address, f.type_index(key, out)) + raw)
        values = _counters(d, dmap, pts)
        if values:
            self._counted((d.channel << 8) | d.address, key, values)

    def _counted(self, k, key, values, recovered=False):
        """Device ``k``'s energy counters read: its last values, and its first of the day when it
        has none yet (or, read live, another type or model; or other counters). A counter read
        lower than the last time is a glitch (an inverter restarting reads 0 once) unless the
        next mark reads it low too: then it was reset (the device replaced) and counts on from its
        first low value, the day keeping what it counted before; never a negative day."""
        got = self._counters.get(k)
        n = len(values)
        if got is None or len(got[1]) != 2 * n or (not recovered and got[0] != key):
            self._counters[k] = (key, array("d", values + values))
            self._low.pop(k, None)
            return
        counts = got[1]
        if all(values[i] >= counts[n + i] for i in range(n)):
            low = None
        else:
            low = self._low.pop(k, None)
            if low is None:
                self._low[k] = values  # once: wait for the next mark
                return
        self._low.pop(k, None)
        for i in range(n):
            if low is not None and values[i] < counts[n + i]:  # reset: on from its first low value
                counts[i] = low[i] - (counts[n + i] - counts[i])
            counts[n + i] = values[i]

    def _new_day(self, day):
        if self._day == day:
            return
        if self._day is None:  # the first slot after a start
            for _ in self._starting(day):
                pass
        else:  # midnight: the finished day's energy; its last reading is the new day's first
            self._close_day(self._day)
            for _, counts in self._counters.values():
                n = len(counts) // 2
                for i in range(n):  # the finished day's last values are the new day's first
                    counts[i] = counts[n + i]
        self._day = day

    def _starting(self, day):
        """The first slot after a start, as a generator yielding now and then (a day's file of 60
        devices is ~550 KB to read, a year's energy ~460 KB by December): a day that ended while
        the logger was off gets its energy (its file has points, the energy file no entry), then
        ``day``'s first counter values come back from its points file, and the files appended to
        next have their type tables read."""
        days = [int(n[1:-2]) for n in self._names("p")]
        days = [d for d in days if d < day]
        if days:
            yield from self._types("e%d.h" % _year(days[-1]))  # a year's energy: up to ~460 KB
            closed = yield from self._closed(days[-1])
            if not closed:
                yield from self._recover(days[-1])
                self._close_day(days[-1])
        yield from self._types("e%d.h" % _year(day))  # for midnight's append
        yield from self._recover(day)
        yield from self._types("p%d.h" % day)

    def _types(self, name):
        """Reads file ``name``'s type table for the appends, if not yet (a generator)."""
        f = self._file(name)
        if f.types is None:
            yield from f.loading()

    def _closed(self, day):
        """Whether ``day``'s energy is in its year file (a generator, its value the answer)."""
        n = 0
        for _, p in typed(self.dir + "/e%d.h" % _year(day)):
            if p[:1] == b"E" and struct.unpack(">H", p[1:3])[0] == day:
                return True
            n += 1
            if n % STEP == 0:
                yield
        return False

    def _recover(self, day):
        """A day's first and last counter values, from its points file (a generator: see _starting)."""
        self._counters, self._low = {}, {}
        n = 0
        for types, p in typed(self.dir + "/p%d.h" % day):
            got = self._decode(p, types, energy_only=True)
            if got and got[2]:  # a device with energy counters
                (ch, addr), key, values = got
                self._counted((ch << 8) | addr, key, values, True)
            n += 1
            if n % STEP == 0:
                yield

    def _close_day(self, day):
        """Appends the energy ``day`` counted, per device, to its year's file."""
        f = self._file("e%d.h" % _year(day))
        out = []
        for k, (key, counts) in sorted(self._counters.items()):
            i = f.type_index(key, out)
            deltas = _deltas(counts)
            out.append(b"E" + struct.pack(">HBBBB", day, k >> 8, k & 0xFF, i, len(deltas))
                       + b"".join(struct.pack(">f", x) for x in deltas))
        if out:
            f.append(out)

    # -- reading -------------------------------------------------------------------------------

    def _decode(self, p, types, energy_only=False):
        """(channel, address), "type/model", and the values of a P payload (all main values, or
        only the energy counters)."""
        ch, addr, i = p[3], p[4], p[5]
        key = types.get(i)
        if key is None:
            return None
        _, pts, key = self.points_of(key)
        at, values = 6, []
        for pt in pts:
            if not energy_only or pt.unit == "kWh":
                values.append(devicemap.decode(pt, p, at))
            at += 2 * pt.regs
        return (ch, addr), key, values

    def series(self, channel, address, point, t0, t1):
        """Yields (unix_s, value) of ``point`` of the device at ``channel``/``address`` from ``t0``
        to ``t1`` (unix s), at 5-minute resolution, oldest first (a month is never in RAM whole)."""
        for day in range(t0 // DAY_S, t1 // DAY_S + 1):
            for types, p in typed(self.dir + "/p%d.h" % day):
                if p[:1] != b"P" or p[3] != channel or p[4] != address:
                    continue
                t = day * DAY_S + struct.unpack(">H", p[1:3])[0] * SLOT_S
                value = self._value(p, types, point)
                if t0 <= t <= t1 and value is not None:
                    yield t, value

    def _value(self, p, types, point):
        key = types.get(p[5])
        if key is None:
            return None
        at = 6
        for pt in self.points_of(key)[1]:
            if pt.name == point:
                return devicemap.decode(pt, p, at)
            at += 2 * pt.regs
        return None

    def energy(self, day0, day1, channel=None, address=None, devices=None):
        """Yields (day, channel, address, {counter: kWh}) for the days ``day0``..``day1`` (days
        since 1970): finished days from the year files, today's so far from memory. ``devices``
        (the devices now; only while the clock is on the history's day): today's energy counts up
        to their live counters, not only to the last 5-minute mark."""
        only_today = day0 == day1 == self._day  # in memory: the year file (~460 KB by December) is not read
        for year in range(_year(day0), _year(day1) + 1) if not only_today else ():
            for types, p in typed(self.dir + "/e%d.h" % year):
                if p[:1] != b"E":
                    continue
                day, ch, addr, i, n = struct.unpack(">HBBBB", p[1:7])
                if day0 <= day <= day1 and channel in (None, ch) and address in (None, addr):
                    yield day, ch, addr, self._named(types.get(i), p[7 : 7 + 4 * n])
        if self._day is not None and day0 <= self._day <= day1:
            live = self._live(devices or ())
            for k, (key, counts) in sorted(self._counters.items()):
                if channel in (None, k >> 8) and address in (None, k & 0xFF):
                    deltas = _deltas(counts)
                    now = live.get(k)
                    if now and now[0] == key:  # a counter read lower than at the last mark waits for the next
                        n = len(deltas)
                        deltas = [max(now[1][i], counts[n + i]) - counts[i] for i in range(n)]
                    yield self._day, k >> 8, k & 0xFF, self._named(key, b"".join(struct.pack(">f", x) for x in deltas))

    def _live(self, devices):
        """{(channel << 8) | address: ("type/model", energy counters)} of the devices read now."""
        out = {}
        for d in devices:
            k = (d.channel << 8) | d.address
            if d.online and d.good_polls and d.map and k in self._counters:
                dmap, pts, key = self.points_of("%s/%s" % (d.type, d.model or ""))
                out[k] = (key, _counters(d, dmap, pts))
        return out

    def _named(self, key, packed):
        names = [pt.name for pt in self.points_of(key or "")[1] if pt.unit == "kWh"]
        values = [round(struct.unpack(">f", packed[i : i + 4])[0], 3) for i in range(0, len(packed), 4)]
        return dict(zip(names, values))

    def status(self):
        return {"budget": self.max_bytes, "used": self.size(), "slots_written": self.written,
                "days": len(self._names("p"))}

    async def today(self, now):
        """Once the clock is known after a start: today's first counter values from its file (and a
        day that ended while the logger was off closed), so today's energy is there at once, not
        only from the next 5-minute mark on. Reads the files a step at a time, letting the other
        tasks run between steps."""
        if self._day is not None:
            return
        day = now // DAY_S
        try:
            for _ in self._starting(day):
                await sleep_ms(0)
            self._day = day
        except (OSError, ValueError) as exc:
            self.log.warning("history: %s" % exc)

    async def run(self, clock, devices):
        """Records the devices' values as the clock passes each 5-minute mark, within a second of
        it, under that mark's time (nothing while the clock is not set, nor for the part of a
        slot before the start)."""
        last = tried = None
        while True:
            now = clock.time()
            if now is not None:
                slot = now // SLOT_S
                if self._day is None and slot != tried:  # after a start; a failed read again next slot
                    tried = slot
                    await self.today(now)
                if last is not None and slot != last:
                    try:
                        self.record(now, devices())
                    except (OSError, ValueError) as exc:
                        self.log.warning("history: %s" % exc)
                last = slot
            await sleep_ms(500)
