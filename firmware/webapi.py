"""The JSON API under /api/: its security model, and the one place where errors become answers.
The routes live by area in ``firmware/api/`` (session, reading, devices, settings, system, upgrade,
history, scan, writes).

- ``POST /api/login`` opens a session: cookie ``session`` (HttpOnly, SameSite=Strict, Path=/).
  Wrong passwords are throttled (``auth.Throttle``): 429 with Retry-After while locked.
- A session opened while ``login.must_change`` is set (the factory admin/admin) may only set a
  new password (``POST /api/password``), ask ``GET /api/session`` and log out: anything else 403.
- ``GET /metrics`` is outside /api/ and needs no session: the ``metrics`` settings decide (off: 404;
  a token set: 401 without it), in ``firmware.metrics.refusal``.
- Every other route needs a session (401), but ``GET /api/health`` (liveness only, nothing about
  the plant, for the watchdog's probe) and ``GET /api/notice`` (what the login screen must say).
- Every POST/PUT/DELETE passes a cross-site check (403): ``Sec-Fetch-Site`` present and not
  ``same-origin``/``none``, or ``Origin`` present whose host:port is not the ``Host`` header.
- Errors are ``{"error": message, "field": field}``; bodies are JSON objects of at most
  ``MAX_BODY`` bytes (413); a wrong type or value is 400 and stores nothing. Handlers raise typed
  errors (``ApiError`` with its status; ``SettingsError``/``DeviceError``/``NotApplied``, whose
  code picks the status: ``api.common.STATUS_BY_CODE``; ``UpgradeError``); microdot's error
  handlers below turn them into answers. ``WriteError`` (the write governor's) is a SettingsError:
  its code picks the status too.
"""

import microdot.microdot as _microdot
from microdot import Request

from firmware.api import (
    devices,
    events,
    history,
    metrics,
    plant,
    reading,
    scan,
    session,
    settings,
    system,
    upgrade,
    writes,
)
from firmware.api.common import MAX_BODY, ApiError, error, refused
from firmware.auth import Sessions, Throttle
from firmware.errors import SettingsError
from firmware.scan import ScanError
from firmware.upgrade import MAX_BUNDLE, UpgradeError

__all__ = ["MAX_BODY", "ApiError", "error", "register", "cross_site"]
UPGRADE_PATH = upgrade.UPGRADE_PATH
# Larger bodies: 413 before any handler runs. Only the upgrade may send more (streamed, never
# read whole: bodies over MAX_BODY are left in request.stream and ``guard`` refuses them elsewhere).
Request.max_content_length = MAX_BUNDLE
Request.max_body_length = MAX_BODY

_PUBLIC = ("/api/login", "/api/logout", "/api/health", "/api/notice")
_MUST_CHANGE_OK = ("/api/password", "/api/logout", "/api/session")
_CHANGES = ("POST", "PUT", "DELETE", "PATCH")
_ANSWERED = (ApiError, SettingsError, UpgradeError, ScanError)  # refusals, not faults


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


def _quiet_refusals(print_exception):
    """microdot prints the traceback of every exception a handler raises; a refusal is an answer
    (a wrong value, a full channel), not a fault, and is not printed."""
    def printer(exc):
        if not isinstance(exc, _ANSWERED):
            print_exception(exc)
    return printer


_microdot.print_exception = _quiet_refusals(_microdot.print_exception)  # once: at this module's import


def register(app, logger):
    """Adds the /api/ routes for ``logger`` (settings, monitor, status(), log, restart(),
    factory_reset(), board) to the microdot ``app``."""
    sessions = Sessions()
    throttle = Throttle()
    app.sessions = sessions  # for tests and the pages' module
    app.throttle = throttle
    _guard(app, sessions)
    _answers(app)
    session.routes(app, logger.settings, sessions, throttle, logger.log)
    reading.routes(app, logger)
    devices.routes(app, logger.monitor.devices, logger.log)
    settings.routes(app, logger.settings)
    system.routes(app, logger)
    upgrade.routes(app, logger)
    history.routes(app, logger)
    scan.routes(app, logger)
    metrics.routes(app, logger)  # /metrics: outside /api/, its own access rule (settings metrics)
    writes.routes(app, logger)
    events.routes(app, logger)
    plant.routes(app, logger)


def _guard(app, sessions):
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


def _answers(app):
    """The one place where a raised error becomes an HTTP answer."""

    @app.errorhandler(ApiError)
    async def api_error(request, e):
        return error(e.status, e.message, e.field, e.headers)

    @app.errorhandler(ScanError)
    async def scan_error(request, e):
        return error(e.status, e.message, e.field)

    @app.errorhandler(SettingsError)  # and DeviceError, NotApplied: the code decides the status
    async def settings_error(request, e):
        return refused(e)

    @app.errorhandler(UpgradeError)
    async def upgrade_error(request, e):
        return error(e.status, e.message, "bundle")

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
