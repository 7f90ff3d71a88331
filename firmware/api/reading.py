"""Status and reading: GET /api/health (no session: the watchdog's probe), /api/status,
/api/devices, /api/meta, /api/log and /api/openapi.yaml (the API's contract, docs/openapi.yaml)."""

import json

from microdot import Response

from firmware.api.common import ApiError, error, json_chunks, packed
from firmware.log import DEBUG, ERROR, INFO, WARNING
from firmware.rs485 import CHANNELS, label, section
from firmware.settings import describe

_LEVELS = {DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARNING", ERROR: "ERROR"}
_JSON = {"Content-Type": "application/json"}
# docs/openapi.yaml beside the firmware folder: the source tree (the PC, the sim), and the bundle
# make build writes (tools/build.py SERVED_DOCS) in a flat install or a slot.
_SPEC = ("/".join(__file__.split("/")[:-3]) or ".") + "/docs/openapi.yaml"


def _device_chunks(monitor):
    # Sent one device at a time: 60 devices make ~37 KB of JSON, too much to build at once on a
    # small heap.
    yield '{"devices":['
    sep = ""
    for entry in monitor.status_iter():
        for piece in entry_chunks(entry):
            yield sep + piece  # (never an empty piece: a chunked answer would end there)
            sep = ""
        sep = ","
    yield "]}"


def entry_chunks(entry):
    """A device's JSON in pieces, a key at a time and its values one at a time: an inverter's values
    with their labels and words are ~2 KB as one string, and the rest ~700 bytes, runs of free heap
    a fragmented small heap may not have (at 208 KB, 700-byte pieces failed with 28 KB free)."""
    values = entry.pop("values")
    sep = "{"
    for k, v in entry.items():
        yield sep + json.dumps(k) + ":" + json.dumps(v)
        sep = ","
    yield sep + '"values":{'
    sep = ""
    for name, value in values.items():
        yield sep + json.dumps(name) + ":" + json.dumps(value)
        sep = ","
    yield "}}"


def _point_meta(m, pt):
    """A point of map ``m`` as the page needs it: label, unit, whether its history is kept, and a
    power's role (its sign said in words: battery > 0 discharging, grid > 0 importing)."""
    out = {"label": m.label_of(pt), "unit": pt.unit, "history": pt.main}
    if pt.role in SIGNED_ROLES:
        out["role"] = pt.role
    return out


SIGNED_ROLES = ("battery_power", "grid_power")


def _meta_chunks(head, maps):
    # The points of every map are ~8 KB of JSON: sent a type at a time.
    yield head[:-1] + ', "type_names": ' + json.dumps({t: m.label for t, m in maps.items()}) + ', "points": {'
    sep = ""
    for t in sorted(maps):
        m = maps[t]
        yield sep + json.dumps(t) + ": {" + ", ".join(
            "%s: %s" % (json.dumps(pt.name), json.dumps(_point_meta(m, pt))) for pt in m.polled()) + "}"
        sep = ", "
    yield "}}"


def _place(args):
    """(channel, address) of a query's ``channel`` and ``address``; ApiError 400 otherwise."""
    out = []
    for name, low, high, what in (("channel", 1, 3, "RS485 channel"), ("address", 1, 247, "device address")):
        text = args.get(name, "")
        if not (0 < len(text) <= 3 and all("0" <= c <= "9" for c in text)) or not low <= int(text) <= high:
            raise ApiError(400, "The %s must be a whole number from %d to %d" % (what, low, high), name)
        out.append(int(text))
    return out


def routes(app, logger):
    """``logger``: ``status()``, ``monitor`` and ``log``."""
    log = logger.log

    @app.get("/api/health")
    async def health(request):
        """Liveness only, without a session (the watchdog's probe): nothing about the plant."""
        return {"ok": True}

    @app.get("/api/status")
    async def status(request):
        return Response(body=packed(json_chunks(logger.status().items())), headers=_JSON)

    @app.get("/api/devices")
    async def devices(request):
        return Response(body=packed(_device_chunks(logger.monitor)), headers=_JSON)

    @app.get("/api/meta")
    async def meta(request):
        """What the pages need to build their forms: device types, channels, the settings' limits."""
        limits = describe()
        limits.pop("login", None)
        maps = logger.monitor.maps
        head = json.dumps({"types": sorted(maps), "limits": limits,
                           "channels": [{"number": n, "section": section(n), "label": label(n)} for n in CHANNELS]})
        return Response(body=_meta_chunks(head, maps), headers=_JSON)

    @app.get("/api/devices/detail")
    async def device_detail(request):
        """One device with every value it polls (labels, units, words) and its bus health."""
        ch, addr = _place(request.args)
        p, d = logger.monitor.find(ch, addr)
        if d is None:
            raise ApiError(404, "No device at %s address %d" % (label(ch), addr))
        return Response(body=packed(entry_chunks(logger.monitor.entry(p, d, False))), headers=_JSON)

    @app.get("/api/openapi.yaml")
    async def openapi(request):
        try:
            return Response.send_file(_SPEC, content_type="application/yaml", max_age=0)
        except OSError:
            return error(404, "the API's description is not on this logger (see docs/openapi.yaml)")

    @app.get("/api/log")
    async def recent_log(request):
        """The newest ``n`` (default and at most: the ring's size) events, oldest first."""
        n = request.args.get("n", str(log.size))
        if not n.isdigit() or int(n) > log.size:
            return error(400, "n: must be a whole number from 0 to %d" % log.size, "n")
        entries = log.recent(int(n)) if int(n) else []
        return {
            "total": log.count,  # events logged since the start; the ring keeps at most `size`
            "size": log.size,
            "entries": [{"uptime_ms": ms, "level": _LEVELS.get(level, str(level)), "message": msg}
                        for ms, level, msg in entries],
        }
