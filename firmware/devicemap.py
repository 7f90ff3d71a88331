"""Device types as data: register maps in ``firmware/maps/<type>.json``, checked at load, decoded on demand.

A map names its blocks to read (function 3 or 4, at most 125 registers each) and its points
(name, function, address, type, scale, unit, word order; ``writable`` holding registers, with
``min``/``max`` in the point's unit where the vendor gives them (``limits``); ``main``
values for status pages and uploads; ``event`` points whose changes are published as events, e.g.
fault words; ``models`` for points only some models have). Optional:
``serial`` (where the device keeps its serial number), ``model`` (a holding register whose value
tells models apart, e.g. ATESS register 43), ``probe`` (a register to try an offline device
with, and which tells the type in a scan: ``{"function", "address", "type", "range": [low, high]}``,
the raw value inside the range; without one the model register or the first block's first
register is tried, and only a model register can tell the type) and ``interval_s``. Adding a file adds a type; a
malformed file is refused with a message that names the file and the field.

Values are not stored decoded: the poller keeps the raw bytes of the registers the points use,
one buffer per device, and ``decode`` reads a point out of them when asked (fewer objects per
device on a small heap). A block is read whole, for one request on the bus, but only its mapped
registers are kept: ``runs`` says which (an inverter's 280 registers read hold 39 points).
"""

import json
import os
import struct
from collections import namedtuple

TYPES = {"u16": 1, "i16": 1, "u32": 2, "i32": 2, "f32": 2, "ascii": 0,
         "u8_high": 1, "u8_low": 1, "i8_high": 1, "i8_low": 1}
RAW_RANGES = {"u16": (0, 0xFFFF), "i16": (-0x8000, 0x7FFF)}  # what a writable point's register holds
_MAX_BLOCK = 125
_GAP = 4  # registers: mapped ones closer than this are kept as one run (fewer copies per poll)


class MapError(ValueError):
    pass


# A point (one register value of a map; ``regs``: the registers it occupies) is a named tuple,
# not an object with a dict: a third of the heap per point.
Point = namedtuple("Point", ("name", "function", "address", "type", "regs", "scale", "digits", "unit", "order",
                             "writable", "main", "event", "models", "label_at", "role"))

# What a point may be in the plant's summary (GET /api/plant): powers in kW (W converted), the SOC,
# and the energy counters whose daily energy (the history's) makes "energy today".
ROLES = ("pv_power", "battery_power", "battery_soc", "grid_power", "load_power", "pv_energy", "load_energy",
         "grid_import_energy", "grid_export_energy", "battery_charge_energy", "battery_discharge_energy")
KINDS = ("running", "waiting", "fault")  # what a running state's value says (the page's colours)


def point(name, type_="u16", function=3, address=0, count=1, scale=1, unit="", order="big", writable=False,
          main=False, event=False, models=None, label_at=0, role=None):
    """A Point; ``count`` is the register count of an ascii point (others take their type's);
    ``label_at``: where its label is in its map's ``labels`` (``DeviceMap.label_of``)."""
    return Point(name, function, address, type_, count if type_ == "ascii" else TYPES[type_], scale,
                 _digits(scale), unit, order, writable, main, event, models, label_at, role)


def words(name):
    """A point's name as words, for a user's map that gives no label: "max_cell_voltage" -> "Max cell voltage"."""
    return name[:1].upper() + name[1:].replace("_", " ")


class DeviceMap:
    """One device type: blocks, points, and where its serial number and model are."""

    def __init__(self, data, where):
        self.where = where
        self.type = _need(data, "type", str, where)
        self.name = data.get("name", self.type)
        self.label = data.get("label", self.name)  # the manual's name of the type: "ATESS Inverter"
        # Which devices the plant's summary believes when several types report a role (a meter's grid
        # power over an inverter's): the lowest rank among the live devices reporting it.
        self.plant_rank = data.get("plant_rank", 9)
        if not isinstance(self.label, str) or not _int_in(self.plant_rank, 0, 99):
            raise MapError("%s: label must be text, plant_rank 0-99" % where)
        # The words of enum values and fault bits: {point name: (bits?, bytes swapped?, where)}; where:
        # the byte offset of the point's line in the map file, read when asked (``locate``: the words
        # of all maps take ~7 KB of heap otherwise), or, for a point whose line does not hold them
        # alone, the words in one string "\n<value>\t<text>...". And a running state's kinds
        # {point name: {value: kind}}.
        self.texts = {}
        self.kinds = {}
        self.path = None
        self._table = (None, None)  # (point name, {"<value>": text}) read last from the file
        self.interval_s = data.get("interval_s", 10)
        if not isinstance(self.interval_s, int) or not 1 <= self.interval_s <= 3600:
            raise MapError("%s: interval_s must be 1-3600 seconds" % where)
        self.blocks = []
        for i, b in enumerate(_need(data, "blocks", list, where)):
            w = "%s: blocks[%d]" % (where, i)
            fn, addr, count = _need(b, "function", int, w), _need(b, "address", int, w), _need(b, "count", int, w)
            if fn not in (3, 4):
                raise MapError("%s.function: blocks read registers: 3 or 4" % w)
            if not 1 <= count <= _MAX_BLOCK or not 0 <= addr <= 0xFFFF - count + 1:
                raise MapError("%s: 1-%d registers inside 0-65535" % (w, _MAX_BLOCK))
            self.blocks.append((fn, addr, count))
        self.points = []
        self._polled = {}  # model: the points polled on it (see polled)
        # The points' labels, one after the other in one string (a string each cost ~3 KB more of
        # the heap for the five maps); a point keeps (start << 16) | length (``label_of``).
        self.labels = []
        self.limits = {}  # writable point name: (min, max) in its unit; a writable point without is not written
        names = []
        shared = {}
        for i, p in enumerate(_need(data, "points", list, where)):
            pt = self._point(p, "%s: points[%d]" % (where, i), shared)
            if pt.name in names:
                raise MapError("%s: points[%d].name: %r is used twice" % (where, i, pt.name))
            names.append(pt.name)
            self.points.append(pt)
        self.labels = "".join(self.labels)
        self.serial = data.get("serial")
        if self.serial is not None:
            _need(self.serial, "address", int, where + ": serial")
            if self.serial.get("function", 3) not in (3, 4) or not _int_in(self.serial.get("count", 5), 1, 16):
                raise MapError("%s: serial: function 3 or 4, count 1-16" % where)
        self.model = data.get("model")
        if self.model is not None:
            _need(self.model, "address", int, where + ": model")
            if self.model.get("function", 3) not in (3, 4):
                raise MapError("%s: model.function: 3 or 4" % where)
            for r in _need(self.model, "ranges", list, where + ": model"):
                if not (isinstance(r, list) and len(r) == 3 and isinstance(r[0], str)
                        and _int_in(r[1], 0, 0xFFFF) and _int_in(r[2], 0, 0xFFFF)):
                    raise MapError("%s: model.ranges: each is [name, first code, last code], codes 0-65535" % where)
        self.probe = self._probe(data.get("probe"), where + ": probe")
        self.runs, self.raw_size = self._runs()

    def _probe(self, p, where):
        """(Point, range or None) of the map's probe register, or None."""
        if p is None:
            return None
        addr = _need(p, "address", int, where)
        fn, type_ = p.get("function", 3), p.get("type", "u16")
        if fn not in (3, 4) or not _int_in(addr, 0, 0xFFFE) or type_ not in ("u16", "i16", "u32", "i32", "f32"):
            raise MapError("%s: function 3 or 4, address 0-65534, type u16, i16, u32, i32 or f32" % where)
        rng = p.get("range")
        if rng is not None and not (isinstance(rng, list) and len(rng) == 2
                                    and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in rng)):
            raise MapError("%s.range: [lowest, highest] raw value" % where)
        return point("probe", type_, fn, addr), rng

    def probe_request(self):
        """(function, address, count) of the smallest read that shows whether the device answers."""
        if self.probe:
            pt = self.probe[0]
            return pt.function, pt.address, pt.regs
        if self.model:
            return self.model.get("function", 3), self.model["address"], 1
        return self.blocks[0][0], self.blocks[0][1], 1

    def recognise(self, data):
        """Whether the reply ``data`` (register bytes) to ``probe_request()`` says this is the
        type: a model code in the model ranges or a probe value inside its range. None when this
        map cannot tell (it names neither)."""
        if self.probe and self.probe[1] is not None:
            v = decode(self.probe[0], data, 0)
            return self.probe[1][0] <= v <= self.probe[1][1]
        if self.model and (not self.probe or self.probe[0].address == self.model["address"]):
            return self.model_of((data[0] << 8) | data[1]) is not None
        return None

    def _runs(self):
        """Per block, ``(byte in the reply's data, byte in the device's raw buffer, bytes)`` of each
        run of registers the polled points (of any model) use; and the raw buffer's size."""
        runs, at = [], 0
        for i, (_, addr, _) in enumerate(self.blocks):
            regs = sorted(set(pt.address - addr + k for pt in self.points
                              if not pt.writable and self.block_of(pt) == i for k in range(pt.regs)))
            out = []
            for r in regs:
                if out and r - (out[-1][0] + out[-1][2]) // 2 < _GAP:
                    first, dst, _ = out[-1]
                    out[-1] = (first, dst, 2 * (r + 1) - first)
                else:
                    if out:
                        at += out[-1][2]
                    out.append((2 * r, at, 2))
            if out:
                at += out[-1][2]
            runs.append(tuple(out))
        return tuple(runs), at

    def _point(self, p, w, shared):
        name = _need(p, "name", str, w)
        function = _need(p, "function", int, w)
        address = _need(p, "address", int, w)
        type_ = _need(p, "type", str, w)
        if type_ not in TYPES:
            raise MapError("%s.type: %r is not one of %s" % (w, type_, ", ".join(sorted(TYPES))))
        count = p.get("count", 1)
        if not _int_in(count, 1, 125):
            raise MapError("%s.count: a whole number of registers, 1-125" % w)
        scale = p.get("scale", 1)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale == 0:
            raise MapError("%s.scale: must be a non-zero number" % w)
        unit = p.get("unit", "")
        if not isinstance(unit, str):
            raise MapError("%s.unit: must be text" % w)
        order = p.get("word_order", "big")
        if order not in ("big", "little"):
            raise MapError("%s.word_order: big or little" % w)
        models = p.get("models")
        if models is not None and not (isinstance(models, list) and all(isinstance(m, str) for m in models)):
            raise MapError("%s.models: a list of model names" % w)
        if not _int_in(address, 0, 0xFFFF):
            raise MapError("%s.address: 0-65535" % w)
        if function not in (3, 4):
            raise MapError("%s.function: points are registers: 3 or 4" % w)
        writable = bool(p.get("writable", False))
        if writable and (function != 3 or type_ not in ("u16", "i16")):
            raise MapError("%s.writable: only single holding registers (function 3, u16 or i16)" % w)
        limits = _limits(p, w, writable, type_, scale)
        if limits:
            self.limits[name] = limits
        # One copy of each repeated string (type, unit, order, model list) and scale for all the
        # points; a role is the frozen ROLES' own string, no copy on the heap.
        label, role = p.get("label", ""), p.get("role")
        if not isinstance(label, str) or role is not None and role not in ROLES:
            raise MapError("%s: label must be text; role one of %s" % (w, ", ".join(ROLES)))
        role = None if role is None else ROLES[ROLES.index(role)]
        label_at = 0  # none given, or the name in words: made when asked
        if label and label != words(name):
            label_at = (sum(len(t) for t in self.labels) << 16) | len(label)
            self.labels.append(label)
        if isinstance(scale, float):  # the dict holds no numbers but these floats: 1 == 1.0 never meets
            scale = shared.setdefault(scale, scale)
        self._texts(name, p, w)
        pt = point(name, shared.setdefault(type_, type_), function, address, count, scale,
                   shared.setdefault(unit, unit), shared.setdefault(order, order), writable,
                   bool(p.get("main", False)), bool(p.get("event", False)),
                   None if models is None else shared.setdefault(tuple(models), tuple(models)), label_at, role)
        if not writable and self.block_of(pt) is None:
            raise MapError("%s: register %d (function %d) is in no block" % (w, address, function))
        return pt

    def _texts(self, name, p, w):
        """Keeps a point's ``enum`` or ``bits`` ({"<value or bit>": text}) and ``kinds``."""
        table, bits = p.get("enum"), False
        if p.get("bits") is not None:
            table, bits = p["bits"], True
        if table is None:
            return
        if not isinstance(table, dict) or not all(k.isdigit() and isinstance(v, str) and "\n" not in v
                                                   for k, v in table.items()):
            raise MapError("%s.%s: {\"<number>\": text, ...}" % (w, "bits" if bits else "enum"))
        self.texts[name] = (bits, bool(p.get("bytes_swapped")), _packed(table))
        kinds = p.get("kinds")
        if kinds is not None:
            if not isinstance(kinds, dict) or not all(k in KINDS and isinstance(v, list) for k, v in kinds.items()):
                raise MapError("%s.kinds: {\"waiting\"|\"fault\"|\"running\": [values]}" % w)
            self.kinds[name] = {v: k for k, vs in kinds.items() for v in vs}

    def locate(self, path):
        """Leaves the words in map file ``path``: each point's line, found once now, is read again
        when its words are asked for. A point whose line does not hold its words alone (a map
        written over several lines) keeps them in memory."""
        self.path = path
        left = {name: t for name, t in self.texts.items() if isinstance(t[2], str)}
        at = 0
        with open(path, "rb") as f:
            for line in f:
                name = _line_name(line) if left else None
                if name in left:
                    table = _line_table(line)
                    if table is not None and _packed(table) == left[name][2]:
                        self.texts[name] = (left[name][0], left[name][1], at)
                        del left[name]
                at += len(line)

    def _words(self, name, at):
        """{"<value>": text} of point ``name`` from its line at byte ``at`` of the map file."""
        if self._table[0] != name:
            table = None
            try:
                with open(self.path, "rb") as f:
                    f.seek(at)
                    table = _line_table(f.readline())
            except OSError:
                pass
            self._table = (name, table or {})
        return self._table[1]

    def text_of(self, pt, key):
        """The map's words for value (or bit) ``key`` of point ``pt``, or None."""
        t = self.texts.get(pt.name)
        if t is None:
            return None
        if isinstance(t[2], int):
            return self._words(pt.name, t[2]).get(str(key))
        s = t[2]
        i = s.find("\n%d\t" % key)
        if i < 0:
            return None
        i = s.index("\t", i) + 1
        return s[i : s.index("\n", i)]

    def choices(self, pt):
        """[(value, words)] of an enum point, in value order ([] for others): a setting's choices."""
        t = self.texts.get(pt.name)
        if t is None or t[0]:  # none, or fault bits (not values to choose)
            return []
        if isinstance(t[2], int):
            words = self._words(pt.name, t[2])
        else:
            words = dict(line.split("\t", 1) for line in t[2].strip("\n").split("\n"))
        return sorted((int(k), v) for k, v in words.items())

    def label_of(self, pt):
        """Point ``pt``'s label: the map's words, else its name in words ("max_cell_voltage" -> "Max
        cell voltage")."""
        n = pt.label_at & 0xFFFF
        if not n:
            return words(pt.name)
        i = pt.label_at >> 16
        return self.labels[i : i + n]

    def block_of(self, pt):
        """Index of the block that holds all of ``pt``, or None."""
        for i, (fn, addr, count) in enumerate(self.blocks):
            if fn == pt.function and addr <= pt.address and pt.address + pt.regs <= addr + count:
                return i
        return None

    def keep(self, i, reply, raw):
        """Copies the mapped registers of block ``i`` from ``reply`` (its data bytes, a
        memoryview) into a device's ``raw`` buffer."""
        for src, dst, n in self.runs[i]:
            raw[dst : dst + n] = reply[src : src + n]

    def offset(self, pt):
        """Where polled point ``pt`` starts in a device's raw buffer (bytes)."""
        i = self.block_of(pt)
        b = 2 * (pt.address - self.blocks[i][1])
        for src, dst, n in self.runs[i]:
            if src <= b < src + n:
                return dst + b - src
        raise ValueError(pt.name)  # a polled point is always in a run (_runs)

    def point(self, name):
        for pt in self.points:
            if pt.name == name:
                return pt
        return None

    def model_of(self, code):
        """The model name whose code range holds ``code`` (None if unknown)."""
        for name, first, last in self.model["ranges"] if self.model else ():
            if first <= code <= last:
                return name
        return None

    def polled(self, model=None):
        """Points read each poll: not write-only, and present on ``model`` (a tuple kept per model:
        the pollers, the records and every dashboard request ask for it, 60 devices at a time)."""
        got = self._polled.get(model)
        if got is None:
            got = tuple(p for p in self.points
                        if not p.writable and (not p.models or model is None or model in p.models))
            if len(self._polled) < 8:  # a map's few models; never one per code a garbled reply could give
                self._polled[model] = got
        return got


def _packed(table):
    """An enum or bits table as one string: "\\n<value>\\t<text>" per entry, then "\\n"."""
    return "".join("\n%s\t%s" % (k, table[k]) for k in sorted(table, key=int)) + "\n"


def _line_name(line):
    """The point name a map file's line starts, or None."""
    i = line.find(b'{"name": "')
    if i < 0:
        return None
    j = line.find(b'"', i + 10)
    return line[i + 10 : j].decode() if j > 0 else None


def _line_table(line):
    """The enum or bits table of a point written on one line of a map file, or None."""
    text = line.strip()
    if text.endswith(b","):
        text = text[:-1]
    try:
        p = json.loads(text)
    except ValueError:
        return None
    if not isinstance(p, dict):
        return None
    t = p.get("enum") if p.get("bits") is None else p.get("bits")
    return t if isinstance(t, dict) else None


def _limits(p, w, writable, type_, scale):
    """(min, max) of a point, in its unit, or None: both or neither, only on writable points, and
    inside what the register can hold."""
    low, high = p.get("min"), p.get("max")
    if low is None and high is None:
        return None
    if not writable:
        raise MapError("%s.min/max: only writable points have limits" % w)
    for k, v in (("min", low), ("max", high)):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise MapError("%s.%s: a number is required (min and max go together)" % (w, k))
    if low > high:
        raise MapError("%s.min: %s is above max %s" % (w, low, high))
    lo, hi = RAW_RANGES[type_]
    if not lo <= low / scale <= hi or not lo <= high / scale <= hi:
        raise MapError("%s.min/max: outside what a %s register holds at scale %s" % (w, type_, scale))
    return low, high


def _need(d, key, kind, where):
    if not isinstance(d, dict) or key not in d:
        raise MapError("%s: %s is missing" % (where, key))
    v = d[key]
    if not isinstance(v, kind) or isinstance(v, bool):
        raise MapError("%s.%s: wrong type" % (where, key))
    return v


def _int_in(v, low, high):
    return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def text(raw):
    """Register bytes as text: NULs and spaces trimmed, bytes outside printable ASCII as '?'."""
    return "".join(chr(b) if 32 <= b < 127 else "?" for b in raw if b).strip()


def _digits(scale):
    d = 0
    while d < 6 and abs(scale * 10**d - round(scale * 10**d)) > 1e-9:
        d += 1
    return d


def decode(pt, raw, offset):
    """The value of point ``pt`` from register bytes ``raw`` starting at byte ``offset``."""
    t = pt.type
    if t == "ascii":
        return text(raw[offset : offset + 2 * pt.regs])
    hi = raw[offset]
    lo = raw[offset + 1]
    if t in ("u16", "i16"):
        v = (hi << 8) | lo
        if t == "i16" and v & 0x8000:
            v -= 0x10000
    elif t in ("u8_high", "i8_high", "u8_low", "i8_low"):
        v = hi if t.endswith("high") else lo
        if t[0] == "i" and v & 0x80:
            v -= 0x100
    else:
        w0 = (hi << 8) | lo
        w1 = (raw[offset + 2] << 8) | raw[offset + 3]
        v = (w0 << 16) | w1 if pt.order == "big" else (w1 << 16) | w0
        if t == "f32":
            v = struct.unpack(">f", struct.pack(">I", v))[0]
        elif t == "i32" and v & 0x80000000:
            v -= 0x100000000
    if pt.scale != 1:
        v = round(v * pt.scale, pt.digits)
    elif t == "f32":
        v = round(v, 4)
    return v


def json_value(pt, v):
    """Value ``v`` of point ``pt`` as JSON text, a float to the point's digits: MicroPython's own
    float output has 16 significant digits (-8.2 comes out as -8.199999999999999)."""
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return "null"
        t = ("%." + str(pt.digits if pt.scale != 1 else 4) + "f") % v
        if "." in t:
            t = t.rstrip("0").rstrip(".")
        return "0" if t == "-0" else t
    return json.dumps(v)


def load(path):
    """The DeviceMap in file ``path``; MapError naming the file if it is malformed."""
    where = path.rsplit("/", 1)[-1]
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError:
        raise MapError("%s: cannot be read" % where)
    except ValueError as exc:
        raise MapError("%s: not valid JSON (%s)" % (where, exc))
    m = DeviceMap(data, where)
    if m.type + ".json" != where:
        raise MapError("%s: type %r must match the file name" % (where, m.type))
    data = None  # the parsed file goes before its lines are read
    m.locate(path)
    return m


def folder():
    return __file__.rsplit("/", 1)[0] + "/maps"


def load_all(path=None, log=None):
    """{type: DeviceMap} for every map file; a malformed file is left out and reported."""
    path = path or folder()
    maps = {}
    for name in sorted(os.listdir(path)):
        if name.endswith(".json"):
            try:
                m = load(path + "/" + name)
                maps[m.type] = m
            except MapError as exc:
                if log:
                    log.error("register map refused: %s" % exc)
            except Exception as exc:  # a map must never stop the logger from starting
                if log:
                    log.error("register map refused: %s: %r" % (name, exc))
    return maps
