"""The Log (manual 5.4): ``GET /api/events?n=50[&before=<seq>][&level=warning,fault]``, the event
log newest first (firmware/eventlog.py): ``{"events": [{"seq", "time", "kind", "level", "device",
"text"}], "more"}``; ``before`` pages back (the ``seq`` of the oldest event seen); ``level`` keeps
the events of those levels (the faults and warnings: the manual's "fault information")."""

import json

from microdot import Response

from firmware.api.common import ApiError, sendable
from firmware.eventlog import LEVELS

MAX_N = 200


def _number(args, name, low, high, default):
    v = args.get(name)
    if v is None:
        return default
    if not (0 < len(v) <= 10 and all("0" <= c <= "9" for c in v)) or not low <= int(v) <= high:
        raise ApiError(400, "The %s must be a whole number from %d to %d"
                       % ("number of events" if name == "n" else "event number", low, high), name)
    return int(v)


def _levels(text):
    """The levels a ``level`` argument names (None: all); ApiError 400 for another word."""
    if text is None:
        return None
    got = text.split(",")
    if not all(x in LEVELS for x in got):
        raise ApiError(400, "The level must be one or more of %s, separated by commas" % ", ".join(LEVELS), "level")
    return got


def _chunks(events, more):
    # An event at a time: 200 events are ~40 KB of JSON, too much to build at once on a small heap.
    yield '{"events":['
    sep = ""
    for e in events:  # a device's name and a settings text are the logger's own words; made sendable all the same
        e["text"] = sendable(e["text"])
        yield sep + json.dumps(e)
        sep = ","
    yield '],"more":%s}' % ("true" if more else "false")


def routes(app, logger):
    """``logger``: ``event_log`` (eventlog.EventLog)."""

    @app.get("/api/events")
    async def events(request):
        n = _number(request.args, "n", 1, MAX_N, 50)
        before = _number(request.args, "before", 1, 0xFFFFFFFF, None)
        got, more = logger.event_log.page(n, before, _levels(request.args.get("level")))
        return Response(body=_chunks(got, more), headers={"Content-Type": "application/json"})
