"""What the API's areas share: the error answer, the typed errors' HTTP statuses, body parsing."""

import asyncio
import json

from firmware.compat import sleep_ms

MAX_BODY = 2048
RESET_DELAY_MS = 500  # restart / factory reset / upgrade wait this long so that the reply gets out
# A refusal's code -> its HTTP status (SettingsError, DeviceError, NotApplied); any other code: 400.
# "duplicate"/"full": the device list is in the way; "not_applied": saved, but the logger runs on the
# old settings until a restart (the request was good, the state is not what it asked for).
# The write governor's (firmware/writes.py): no such device 404; a point that is not written (not
# writable, no limits in its map) 403; written too recently 429; the device silent 504, refusing
# or holding another value after the write 502. Out of range, not a step: 400. (The device rules'
# "mismatch" is theirs: a delete naming another type, 400.)
STATUS_BY_CODE = {"duplicate": 409, "full": 409, "not_applied": 409,
                  "no_device": 404, "not_writable": 403, "no_limits": 403, "too_soon": 429,
                  "no_answer": 504, "device_exception": 502, "read_back_differs": 502}


class ApiError(Exception):
    """A refused request with its HTTP ``status``, the ``field`` at fault and extra ``headers``."""

    def __init__(self, status, message, field=None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers or {}


def sendable(text):
    """``text`` as it may go out in an answer: always valid UTF-8. A JSON body's ``"\\udXXX"``
    escape (or such bytes in a header) gives a string holding a lone surrogate, which MicroPython's
    ``json.dumps`` would send as the invalid UTF-8 bytes ED A0..BF xx; it is written as the escape's
    six characters instead. Other text is returned as it is."""
    if not isinstance(text, str):
        return text
    raw = text.encode("utf-8", "surrogatepass")  # the same bytes on both runtimes
    i = raw.find(b"\xed")
    while i >= 0:
        if i + 1 < len(raw) and raw[i + 1] >= 0xA0:  # ED A0..BF: U+D800..U+DFFF
            return "".join("\\u%04x" % ord(c) if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
        i = raw.find(b"\xed", i + 1)
    return text


def error(status, message, field=None, headers=None):
    """The answer to a refused request: ``{"error": message, "field": field}``. Every refusal goes
    out here, and what it names may be the client's own text (an unknown key, an Origin): made
    ``sendable``."""
    h = {"Cache-Control": "no-store"}
    h.update(headers or {})
    return {"error": sendable(message), "field": sendable(field)}, status, h


def refused(exc):
    """The answer to a SettingsError (or DeviceError, NotApplied): its code decides the status."""
    return error(STATUS_BY_CODE.get(exc.code, 400), exc.message, exc.field)


def body_object(request):
    """The request's JSON object; ApiError 400 otherwise."""
    raw = request.body
    if not raw:
        raise ApiError(400, "a JSON object is required", "body")
    try:
        data = json.loads(raw.decode())
    except (ValueError, UnicodeError):
        raise ApiError(400, "the body is not valid JSON", "body")
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object", "body")
    return data


def text(data, name, field=None):
    v = data.get(name)
    if not isinstance(v, str):
        raise ApiError(400, "must be a string", field or name)
    return v


def whole(data, name):
    v = data.get(name)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ApiError(400, "must be a whole number", name)
    return v


def confirmed(data):
    if data.get("confirm") is not True:
        raise ApiError(400, 'send {"confirm": true} to do this', "confirm")


def only_keys(data, allowed):
    for k in data:
        if k not in allowed:
            raise ApiError(400, "unknown field", k)


def later(ms, func):
    """Runs ``func()`` ``ms`` from now, once the answer is out."""
    async def run():
        await sleep_ms(ms)
        func()

    asyncio.create_task(run())


def json_chunks(items):
    """A JSON object sent one entry at a time (``items``: (key, value) pairs), an object inside it
    likewise: the whole could not be had in one piece of a small, busy heap, nor could one entry
    (/api/status's tasks are ~750 bytes of JSON, which failed at 208 KB with 28 KB free)."""
    sep = "{"
    for k, v in items:
        if isinstance(v, dict) and v:
            yield "%s%s:" % (sep, json.dumps(k))
            yield from json_chunks(v.items())
        else:
            yield "%s%s:%s" % (sep, json.dumps(k), json.dumps(v))
        sep = ","
    yield "}" if sep == "," else "{}"


def packed(pieces, size=256):
    """``pieces`` joined into runs of about ``size`` characters (at most ``size`` plus one piece):
    one socket write per run, not per piece (60 devices make ~1,500 pieces), and still no big
    string on the heap."""
    run, n = [], 0
    for p in pieces:
        run.append(p)
        n += len(p)
        if n >= size:
            yield "".join(run)
            run, n = [], 0
    if run:
        yield "".join(run)
