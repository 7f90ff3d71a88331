"""The history routes (manual 5.4, "Energy"): a value's 5-minute series and daily energy, as JSON
or CSV, and GET/PUT /api/settings/history (its share of the flash). Behind the session check like
every /api/ route (``webapi.register``'s guard).

- ``GET /api/history?channel=&address=&point=[&from=&to=][&format=csv]``: ``from``/``to`` in Unix
  seconds (default: the last 24 hours), at most 31 days; ``{"channel", "address", "point", "unit",
  "from", "to", "points": [[unix_s, value], ...]}``.
- ``GET /api/history/plant?figure=pv_kw|battery_kw|grid_kw|load_kw|battery_soc[&from=&to=][&format=csv]``:
  the plant's figure summed over its devices per 5-minute slot (``firmware/plant.py``), at most
  two days; ``{"figure", "label", "unit", "from", "to", "points"}``.
- ``GET /api/energy[?channel=&address=][&from=&to=][&format=csv]``: ``from``/``to`` as dates
  (``YYYY-MM-DD``, default: the last 30 days, at most 400); ``{"from", "to", "days": [{"day",
  "channel", "address", "energy": {counter: kWh}}], "plant": [{"day", "energy": {counter: kWh}}]}``.
"""

import json

from microdot import Response

from firmware import plant
from firmware.api.common import ApiError
from firmware.api.settings import section_routes
from firmware.clock import iso
from firmware.devicemap import json_value
from firmware.history import DAY_S
from firmware.settings import apply

MAX_SERIES_S = 31 * DAY_S
MAX_ENERGY_DAYS = 400


def _digits(text, most=10):
    """Whether ``text`` is 1 to ``most`` ASCII digits (str.isdigit also takes '²' and the like)."""
    return 0 < len(text) <= most and all("0" <= c <= "9" for c in text)


def _int(args, name, low, high, default=None, what=None):
    text = args.get(name)
    if text is None:
        if default is None:
            raise ApiError(400, "Give the %s" % (what or name), name)
        return default
    if not _digits(text) or not low <= int(text) <= high:
        raise ApiError(400, "The %s must be a whole number from %d to %d" % (what or name, low, high), name)
    return int(text)


def _day(args, name, default):
    """Days since 1970 of a YYYY-MM-DD argument."""
    text = args.get(name)
    if text is None:
        return default
    parts = text.split("-")
    if len(parts) == 3 and all(_digits(p, 4) for p in parts):
        day = days_from_civil(int(parts[0]), int(parts[1]), int(parts[2]))
        if 0 <= day < 65536 and _date(day) == "%04d-%02d-%02d" % tuple(int(p) for p in parts):
            return day  # a real date (not 2030-02-31), between 1970 and 2149
    raise ApiError(400, "The date '%s' must be a real date written YYYY-MM-DD" % name, name)


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a date (proleptic Gregorian calendar)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _date(day):
    return iso(day * DAY_S)[:10]


def _csv(name, head, rows):
    """A CSV download, sent a row at a time."""
    def body():
        yield head
        for row in rows:
            yield row

    return Response(body=body(), headers={"Content-Type": "text/csv; charset=utf-8",
                                          "Content-Disposition": 'attachment; filename="%s.csv"' % name})


def _points_json(head, points):
    """The series as JSON (values already JSON text), sent in pieces of 32 points."""
    def body():
        yield head[:-1] + ', "points": ['
        sep, piece = "", []
        for t, v in points:
            piece.append("%s[%d,%s]" % (sep, t, v))
            sep = ","
            if len(piece) == 32:
                yield "".join(piece)
                piece = []
        yield "".join(piece) + "]}"

    return Response(body=body(), headers={"Content-Type": "application/json"})


def routes(app, logger):
    """``logger``: ``history``, ``clock`` and ``monitor`` (read when asked). A bad argument raises
    ApiError (400)."""

    def now():
        return logger.clock.time()

    def share_check(body):
        """A bigger history share must not cost records still waiting for the server."""
        new = apply("history", logger.settings.get("history"), body)  # the settings' own rules first (400)
        said = logger.storage.share_refusal("history", new["share_percent"])
        if said:
            raise ApiError(409, said[0].upper() + said[1:], "share_percent")

    section_routes(app, logger.settings, "history", check=share_check)  # the history's share of the flash

    @app.get("/api/history")
    async def series(request):
        args = request.args
        ch, addr, pt = _point(args, logger.monitor.all_devices())
        t = now()
        t1 = _int(args, "to", 0, 0xFFFFFFFF, t if t is not None else 0, "end time")
        t0 = _int(args, "from", 0, 0xFFFFFFFF, max(0, t1 - DAY_S), "start time")
        if t0 > t1 or t1 - t0 > MAX_SERIES_S:
            raise ApiError(400, "The start must come before the end, at most 31 days earlier", "from")
        points = ((t, json_value(pt, v)) for t, v in logger.history.series(ch, addr, pt.name, t0, t1))
        if args.get("format") == "csv":
            return _csv("RS485-%d-%d-%s" % (ch, addr, pt.name), "time (UTC),%s (%s)\n" % (pt.name, pt.unit),
                        ("%s,%s\n" % (iso(t), v) for t, v in points))
        return _points_json(json.dumps({"channel": ch, "address": addr, "point": pt.name, "unit": pt.unit,
                                        "from": t0, "to": t1}), points)

    @app.get("/api/history/plant")
    async def plant_series(request):
        """A plant figure (PV, battery, grid, load power, battery SOC) over at most two days."""
        args = request.args
        figure = args.get("figure")
        if figure not in plant.FIGURE_WORDS:
            raise ApiError(400, "The figure must be one of %s" % ", ".join(sorted(plant.FIGURE_WORDS)), "figure")
        t = now()
        t1 = _int(args, "to", 0, 0xFFFFFFFF, t if t is not None else 0, "end time")
        t0 = _int(args, "from", 0, 0xFFFFFFFF, max(0, t1 - DAY_S), "start time")
        if t0 > t1 or t1 - t0 > plant.MAX_SERIES_S:
            raise ApiError(400, "The start must come before the end, at most 2 days earlier", "from")
        words, unit = plant.FIGURE_WORDS[figure]
        points = plant.series(logger.history, logger.monitor.all_devices(), figure, t0, t1)
        if args.get("format") == "csv":
            return _csv("plant-" + figure, "time (UTC),%s (%s)\n" % (words, unit),
                        ("%s,%s\n" % (iso(t), v) for t, v in points))
        return _points_json(json.dumps({"figure": figure, "label": words, "unit": unit, "from": t0, "to": t1}),
                            points)

    @app.get("/api/energy")
    async def energy(request):
        args = request.args
        ch = _int(args, "channel", 1, 3, 0, "RS485 channel") or None
        addr = _int(args, "address", 1, 247, 0, "device address") or None
        t = now()
        d1 = _day(args, "to", (t if t is not None else 0) // DAY_S)
        d0 = _day(args, "from", d1 - 29)
        if d0 > d1 or d1 - d0 >= MAX_ENERGY_DAYS:
            raise ApiError(400, "The first day must come before the last, at most %d days earlier"
                           % MAX_ENERGY_DAYS, "from")
        rows = lambda: logger.history.energy(d0, d1, ch, addr)  # noqa: E731 - read twice, never held whole
        if args.get("format") == "csv":
            return _csv("energy", "day,channel,address,counter,kWh\n",
                        ("%s,%d,%d,%s,%s\n" % (_date(day), c, a, k, _kwh(v))
                         for day, c, a, counters in rows() for k, v in counters.items()))
        return _energy_json(d0, d1, rows)


def _point(args, devices):
    """(channel, address, point) the arguments name: a configured device and one of its main values."""
    ch = _int(args, "channel", 1, 3, what="RS485 channel")
    addr = _int(args, "address", 1, 247, what="device address")
    dev = [d for d in devices if d.channel == ch and d.address == addr]
    if not dev:
        raise ApiError(400, "No device is configured at RS485-%d address %d" % (ch, addr), "address")
    pt = dev[0].map.point(args.get("point") or "") if dev[0].map else None
    if pt is None or not pt.main:
        raise ApiError(400, "The device at RS485-%d address %d keeps no history of that value" % (ch, addr), "point")
    return ch, addr, pt


def _kwh(v):
    return "null" if v != v or v in (float("inf"), float("-inf")) else repr(round(v, 3))


def _counters(counters):
    return "{%s}" % ", ".join("%s: %s" % (json.dumps(k), _kwh(v)) for k, v in counters.items())


def _energy_json(d0, d1, rows):
    """The energy answer, sent a day row at a time; the plant's totals (a few numbers a day) from
    a second read of the files."""
    def body():
        yield '{"from": "%s", "to": "%s", "days": [' % (_date(d0), _date(d1))
        sep = ""
        for day, c, a, counters in rows():
            yield '%s{"day": "%s", "channel": %d, "address": %d, "energy": %s}' % (
                sep, _date(day), c, a, _counters(counters))
            sep = ", "
        plant = {}
        for day, _, _, counters in rows():
            total = plant.setdefault(day, {})
            for k, v in counters.items():
                total[k] = total.get(k, 0) + v
        yield '], "plant": ['
        yield ", ".join('{"day": "%s", "energy": %s}' % (_date(day), _counters(plant[day])) for day in sorted(plant))
        yield "]}"

    return Response(body=body(), headers={"Content-Type": "application/json"})
