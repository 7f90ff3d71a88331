"""Settings: GET/PUT /api/settings/serial (the three RS485 lines, saved together in one write),
/api/settings/network, /api/settings/server, /api/settings/clock, /api/settings/gateway,
/api/settings/writes (the write governor's interval), and POST
/api/settings/acknowledge-defaults.

A PUT saves through ``Settings.update_many``: one request, one write of the flash, all or nothing.
"""

from firmware.api.common import ApiError, body_object, confirmed, only_keys
from firmware.rs485 import SECTIONS


def _server_view(server):
    out = dict(server)
    out["password_set"] = bool(out.pop("password", ""))
    return out


def routes(app, settings):
    def serial():
        return {name: settings.get(name) for name in SECTIONS}

    @app.get("/api/settings/serial")
    async def get_serial(request):
        return serial()

    @app.put("/api/settings/serial")
    async def put_serial(request):
        data = body_object(request)
        only_keys(data, SECTIONS)
        settings.update_many(data)
        return serial()

    section_routes(app, settings, "server", _server_view)  # the password never shown
    for name in ("network", "clock", "gateway", "writes"):  # sections sent and shown as they are stored
        section_routes(app, settings, name)

    @app.post("/api/settings/acknowledge-defaults")
    async def acknowledge_defaults(request):
        """The user has seen that the factory defaults replaced unreadable settings."""
        confirmed(body_object(request))
        if not settings.acknowledge_defaults():
            raise ApiError(409, "there is no fall back to the factory defaults to acknowledge", "confirm")
        return {"ok": True}


def section_routes(app, settings, name, view=None, check=None):
    """GET and PUT /api/settings/<name>: the section as stored, or as ``view`` shows it (a secret
    left out); a PUT saves through ``update_many``, after ``check(body)`` (which raises ApiError
    for a change the logger cannot take now)."""
    path = "/api/settings/" + name
    show = view or (lambda section: section)

    @app.get(path)
    async def get_section(request):
        return show(settings.get(name))

    @app.put(path)
    async def put_section(request):
        body = body_object(request)
        if check:
            check(body)
        settings.update_many({name: body})
        return show(settings.get(name))
