"""Setting slave devices from the page (manual 2.3), through the write governor
(``firmware/writes.py``):

- ``GET /api/devices/settings?channel=&address=``: the device's writable settings with their
  values now (read from the device), units and limits;
- ``PUT /api/devices/settings`` with ``{channel, address, point, value}``: one value written,
  answered with the value read back from the device (refusals: ``WriteError``, its code picks
  the status);
- ``GET /api/writes?n=``: the audit log of writes, newest first (default 50, at most 500), each
  entry with its setting's ``label`` in words.
"""

import json

from microdot import Response

from firmware.api.common import ApiError, body_object, only_keys, sendable, text, whole
from firmware.devicemap import words

_MAX_N = 500


def _arg(request, name):
    v = request.args.get(name, "")
    if not (0 < len(v) <= 3 and all("0" <= c <= "9" for c in v)):  # ASCII digits ('²'.isdigit() too)
        raise ApiError(400, "must be a whole number", name)
    return int(v)


def _label(maps, entry):
    """The setting's name in words: from the map of the device at that place now, else its type's
    words for the name; None when the entry names no point (a register no map has)."""
    name = entry.get("point")
    if not isinstance(name, str):
        return None
    dmap = maps.get((entry.get("channel"), entry.get("address")))
    pt = dmap.point(name) if dmap else None
    return dmap.label_of(pt) if pt else sendable(words(name))  # a name a client sent is its own text


def _chunks(audit, n, unrecorded, maps):
    # One entry at a time: 500 entries are ~100 KB of JSON, too much to build at once on a small heap.
    yield '{"unrecorded_refusals":%d,"entries":[' % unrecorded
    sep = ""
    for entry in audit.newest(n):  # what a client asked to write is its own text: made sendable
        out = {k: sendable(v) for k, v in entry.items()}
        out["label"] = _label(maps, entry)
        yield sep + json.dumps(out)
        sep = ","
    yield "]}"


def routes(app, logger):
    """``logger``: ``governor`` (writes.Governor) and ``audit`` (audit.Audit), read when asked."""

    @app.get("/api/devices/settings")
    async def device_settings(request):
        return await logger.governor.settings(_arg(request, "channel"), _arg(request, "address"))

    @app.put("/api/devices/settings")
    async def set_device_setting(request):
        data = body_object(request)
        only_keys(data, ("channel", "address", "point", "value"))
        value = data.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ApiError(400, "must be a number", "value")
        s = request.g.session
        who = "page " + (s.user if s else "?")
        channel, address, point = whole(data, "channel"), whole(data, "address"), text(data, "point")
        return await logger.governor.set(channel, address, point, value, who)

    @app.get("/api/writes")
    async def writes(request):
        n = _arg(request, "n") if "n" in request.args else 50
        if n > _MAX_N:
            raise ApiError(400, "at most %d" % _MAX_N, "n")
        maps = {(d.channel, d.address): d.map for d in logger.monitor.all_devices() if d.map}
        return Response(body=_chunks(logger.audit, n, logger.governor.unrecorded, maps),
                        headers={"Content-Type": "application/json"})
