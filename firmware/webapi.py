"""The JSON API under /api/ with its security model (route handlers for firmware/web.py).

- ``POST /api/login`` opens a session: cookie ``session`` (HttpOnly, SameSite=Strict, Path=/).
  Wrong passwords are throttled (``auth.Throttle``): 429 with Retry-After while locked.
- A session opened while ``login.must_change`` is set (the factory admin/admin) may only set a
  new password (``POST /api/password``), ask ``GET /api/session`` and log out: anything else 403.
- Every other route needs a session (401), but ``GET /api/health``: liveness only, nothing about
  the plant, for the watchdog's probe of the web server.
- Every POST/PUT/DELETE passes a cross-site check (403): ``Sec-Fetch-Site`` present and not
  ``same-origin``/``none``, or ``Origin`` present whose host:port is not the ``Host`` header.
- Errors are ``{"error": message, "field": field}``; bodies are JSON objects of at most
  ``MAX_BODY`` bytes (413); a wrong type or value is 400 and stores nothing.
"""

import asyncio
import json

from microdot import Request, Response

from firmware.auth import Sessions, Throttle
from firmware.compat import sleep_ms
from firmware.devices import DeviceError
from firmware.log import DEBUG, ERROR, INFO, WARNING
from firmware.settings import SettingsError, apply, describe
from firmware.upgrade import MAX_BUNDLE, UpgradeError
from firmware.upgrade import receive as receive_upgrade

MAX_BODY = 2048
# Larger bodies: 413 before any handler runs. Only the upgrade may send more (streamed, never
# read whole: bodies over MAX_BODY are left in request.stream and ``guard`` refuses them elsewhere).
UPGRADE_PATH = "/api/upgrade"
Request.max_content_length = MAX_BUNDLE
Request.max_body_length = MAX_BODY

_LEVELS = {DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARNING", ERROR: "ERROR"}

_PUBLIC = ("/api/login", "/api/logout", "/api/health")
_MUST_CHANGE_OK = ("/api/password", "/api/logout", "/api/session")
_CHANGES = ("POST", "PUT", "DELETE", "PATCH")
_SERIAL = ("rs485_1", "rs485_2", "rs485_3")
RESET_DELAY_MS = 500  # restart / factory reset wait this long so that the reply gets out


class ApiError(Exception):
    def __init__(self, status, message, field=None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers or {}


def error(status, message, field=None, headers=None):
    h = {"Cache-Control": "no-store"}
    h.update(headers or {})
    return {"error": message, "field": field}, status, h


def _host_port(text, default_port):
    """'host[:port]' -> (host, port) in lower case; None when it does not parse."""
    text = text.strip().lower()
    if text.startswith("["):  # [v6]:port
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[: end + 1], text[end + 1 :]
        port = rest[1:] if rest.startswith(":") else ""
    elif ":" in text:
        host, port = text.rsplit(":", 1)
    else:
        host, port = text, ""
    if port and not port.isdigit():
        return None
    return host, int(port) if port else default_port


def cross_site(request):
    """A reason to refuse a state-changing request from another site, or None."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return "cross-site request refused (Sec-Fetch-Site: %s)" % site
    origin = request.headers.get("Origin")
    if origin is not None:
        host = request.headers.get("Host")
        if origin == "null" or "://" not in origin or not host:
            return "cross-site request refused (Origin: %s)" % origin
        scheme, rest = origin.split("://", 1)
        a = _host_port(rest.split("/", 1)[0], 443 if scheme == "https" else 80)
        b = _host_port(host, 443 if scheme == "https" else 80)
        if a is None or a != b:
            return "cross-site request refused (Origin %s is not this logger)" % origin
    return None


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


def _text(data, name, field=None):
    v = data.get(name)
    if not isinstance(v, str):
        raise ApiError(400, "must be a string", field or name)
    return v


def _int(data, name):
    v = data.get(name)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ApiError(400, "must be a whole number", name)
    return v


def _confirmed(data):
    if data.get("confirm") is not True:
        raise ApiError(400, 'send {"confirm": true} to do this', "confirm")


def _only_keys(data, allowed):
    for k in data:
        if k not in allowed:
            raise ApiError(400, "unknown field", k)


def _cookie(value, max_age):
    return "session=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict" % (value, max_age)


def _server_view(server):
    out = dict(server)
    out["password_set"] = bool(out.pop("password", ""))
    return out


def _later(ms, func):
    async def run():
        await sleep_ms(ms)
        func()

    asyncio.create_task(run())


def register(app, logger):
    """Adds the /api/ routes for ``logger`` to the microdot ``app``."""
    sessions = Sessions()
    throttle = Throttle()
    settings = logger.settings
    app.sessions = sessions  # for tests and the pages' module
    app.throttle = throttle

    @app.before_request
    async def guard(request):
        path = request.path
        request.g.session = None
        if request.content_length > MAX_BODY and path != UPGRADE_PATH:
            return error(413, "the request body is larger than %d bytes" % MAX_BODY, "body")
        if not path.startswith("/api/"):
            return None
        if request.method in _CHANGES:
            why = cross_site(request)
            if why:
                return error(403, why, "origin")
        if path in _PUBLIC:
            return None
        s = sessions.check(request.cookies.get("session"))
        if s is None:
            return error(401, "log in first", "session")
        if s.must_change and path not in _MUST_CHANGE_OK:
            return error(403, "set a new password first", "password")
        request.g.session = s
        return None

    def handle(func):
        """Wraps a handler: ApiError, SettingsError and DeviceError become JSON error replies."""
        async def wrapper(request, *args):
            try:
                return await func(request, *args)
            except ApiError as e:
                return error(e.status, e.message, e.field, e.headers)
            except SettingsError as e:
                return error(400, e.message, e.field)
            except DeviceError as e:
                status = 409 if "already used" in e.message or "already has" in e.message \
                    or "already monitors" in e.message else 400
                return error(status, e.message, e.field)
        return wrapper

    @app.errorhandler(413)
    async def too_large(request):
        limit = MAX_BUNDLE if request and request.path == UPGRADE_PATH else MAX_BODY
        return error(413, "the request body is larger than %d bytes" % limit, "body")

    @app.errorhandler(404)
    async def not_found(request):
        return error(404, "not found", None)

    @app.errorhandler(405)
    async def not_allowed(request):
        return error(405, "method not allowed", None)

    # --- login ------------------------------------------------------------------------------

    async def throttled_check(user, password, field):
        """The password check behind the throttle: 429 while locked; a wrong one counts."""
        wait = throttle.wait_s()
        if wait:
            raise ApiError(429, "too many wrong passwords: try again in %d s" % wait, field,
                           {"Retry-After": str(wait)})
        if not await settings.check_password_async(user, password):
            throttle.failed()
            return False
        throttle.succeeded()
        return True

    @app.post("/api/login")
    @handle
    async def login(request):
        data = body_object(request)
        user = _text(data, "user")
        password = _text(data, "password")
        if not await throttled_check(user, password, "password"):
            logger.log.warning("web: wrong password for %r" % user[:30])
            raise ApiError(401, "wrong user name or password", "password")
        must_change = settings.get("login")["must_change"]
        cookie = sessions.open(user, must_change)
        logger.log.info("web: %s logged in" % user)
        return ({"user": user, "must_change": must_change}, 200,
                {"Set-Cookie": _cookie(cookie, sessions.idle_s), "Cache-Control": "no-store"})

    @app.post("/api/logout")
    async def logout(request):
        sessions.close(request.cookies.get("session"))
        return {"ok": True}, 200, {"Set-Cookie": _cookie("", 0)}

    @app.get("/api/session")
    async def session(request):
        s = request.g.session
        return {"user": s.user, "must_change": s.must_change}

    @app.post("/api/password")
    @handle
    async def password(request):
        data = body_object(request)
        _only_keys(data, ("old", "new"))
        old = _text(data, "old")
        new = _text(data, "new")
        if not await throttled_check(settings.get("login")["user"], old, "old"):
            raise ApiError(400, "does not match the current password", "old")
        try:
            settings.set_password(new, old)
        except SettingsError as e:
            raise ApiError(400, e.message, "new" if e.field == "login.password" else e.field)
        s = request.g.session
        s.must_change = False
        sessions.close_all(keep=s)  # every other session ends with the old password
        return {"ok": True}

    # --- reading ----------------------------------------------------------------------------

    @app.get("/api/health")
    async def health(request):
        """Liveness only, without a session (the watchdog's probe): nothing about the plant."""
        return {"ok": True}

    @app.get("/api/status")
    async def status(request):
        # One top-level entry at a time: the whole of it (~1.8 KB) could not be had in one piece
        # of a small, busy heap (480 KB on the 64-bit port).
        def chunks(st):
            sep = "{"
            for k in st:
                yield "%s%s:%s" % (sep, json.dumps(k), json.dumps(st[k]))
                sep = ","
            yield "}"

        return Response(body=chunks(logger.status()), headers={"Content-Type": "application/json"})

    @app.get("/api/devices")
    async def devices(request):
        # Sent one device at a time: 60 devices make ~37 KB of JSON, too much to build at once
        # on a small heap.
        def chunks():
            yield '{"devices":['
            sep = ""
            for entry in logger.monitor.status_iter():
                yield sep + json.dumps(entry)
                sep = ","
            yield "]}"

        return Response(body=chunks(), headers={"Content-Type": "application/json"})

    @app.get("/api/meta")
    async def meta(request):
        """What the pages need to build their forms: device types and the settings' limits."""
        limits = describe()
        limits.pop("login", None)
        return {"types": sorted(logger.monitor.maps), "limits": limits}

    @app.get("/api/log")
    async def recent_log(request):
        """The newest ``n`` (default and at most: the ring's size) events, oldest first."""
        log = logger.log
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

    # --- devices ----------------------------------------------------------------------------

    def _device_args(request):
        data = body_object(request)
        _only_keys(data, ("type", "channel", "address"))
        return _text(data, "type"), _int(data, "channel"), _int(data, "address")

    @app.post("/api/devices")
    @handle
    async def add_device(request):
        entry = logger.monitor.devices.add(*_device_args(request))
        logger.log.info("web: added %s at %d on RS485-%d" % (entry["type"], entry["address"], entry["channel"]))
        return {"device": entry}, 201

    @app.delete("/api/devices")
    @handle
    async def delete_device(request):
        entry = logger.monitor.devices.delete(*_device_args(request))
        logger.log.info("web: deleted %s at %d on RS485-%d" % (entry["type"], entry["address"], entry["channel"]))
        return {"device": entry}

    # --- settings ---------------------------------------------------------------------------

    @app.get("/api/settings/serial")
    async def get_serial(request):
        return {name: settings.get(name) for name in _SERIAL}

    @app.put("/api/settings/serial")
    @handle
    async def put_serial(request):
        data = body_object(request)
        _only_keys(data, _SERIAL)
        for name in data:  # all checked before anything is saved
            settings_apply(name, data[name])
        for name in data:
            settings.update(name, data[name])
        return {name: settings.get(name) for name in _SERIAL}

    def settings_apply(section, changes):
        apply(section, settings.get(section), changes)

    @app.get("/api/settings/network")
    async def get_network(request):
        return settings.get("network")

    @app.put("/api/settings/network")
    @handle
    async def put_network(request):
        settings.update("network", body_object(request))
        return settings.get("network")

    @app.get("/api/settings/server")
    async def get_server(request):
        return _server_view(settings.get("server"))

    @app.put("/api/settings/server")
    @handle
    async def put_server(request):
        settings.update("server", body_object(request))
        return _server_view(settings.get("server"))

    # --- restart and factory reset ------------------------------------------------------------

    def confirmed_reset(request, what, action):
        # Reply first: the reset comes RESET_DELAY_MS later, once the answer is out.
        _confirmed(body_object(request))
        logger.log.warning("web: %s requested" % what)
        _later(RESET_DELAY_MS, action)
        return {"ok": True, "restarting_in_ms": RESET_DELAY_MS}

    @app.post("/api/restart")
    @handle
    async def restart(request):
        return confirmed_reset(request, "restart", logger.restart)

    @app.post("/api/factory-reset")
    @handle
    async def factory_reset(request):
        return confirmed_reset(request, "factory reset", logger.factory_reset)

    # --- upgrade ----------------------------------------------------------------------------

    @app.post(UPGRADE_PATH)
    async def upgrade(request):
        """A bundle as the raw body: written to the inactive slot as it arrives, verified, then
        tried (the board restarts after the reply). 400 names what is wrong with a bad bundle."""
        try:
            reply, _ = await receive_upgrade(logger, request)
        except UpgradeError as e:
            return error(e.status, e.message, "bundle")
        _later(RESET_DELAY_MS, lambda: logger.board.reset("upgrade"))
        reply["restarting_in_ms"] = RESET_DELAY_MS
        return reply
