"""GET /metrics (outside /api/: no session, the ``metrics`` settings decide, in ``firmware.metrics``)
and GET/PUT /api/settings/metrics (the token is never sent back: ``token_set`` says whether there is one)."""

from microdot import Response

from firmware import VERSION
from firmware.api.common import error
from firmware.api.settings import section_routes
from firmware.compat import ticks_diff, ticks_ms
from firmware.metrics import CONTENT_TYPE, refusal, render

METRICS_PATH = "/metrics"
_REFUSED = {404: ("not found", None), 401: ("a bearer token is required (settings: metrics)", "token")}


def view(setting):
    return {"enabled": setting["enabled"], "token_set": bool(setting["token"])}


def routes(app, logger):
    """``logger``: ``settings``, ``monitor``, ``board``, ``storage``, ``started``, ``uplink_status()``."""
    settings = logger.settings

    @app.get(METRICS_PATH)
    async def metrics(request):
        # Checked here, by the one handler that can give the figures out: whatever way a request
        # reaches them (HEAD, a query string), the setting of this moment decides.
        status = refusal(settings.get("metrics"), request.headers.get("Authorization"))
        if status:
            message, field = _REFUSED[status]
            return error(status, message, field, {"WWW-Authenticate": "Bearer"} if status == 401 else None)
        from firmware.app import heap  # here: app.py imports the web server, which imports this

        info = {"version": VERSION, "board": logger.board.name,
                "uptime_s": ticks_diff(ticks_ms(), logger.started) // 1000,
                "heap": heap(logger.board), "storage": logger.storage.status()}
        body = render(info, logger.monitor.pollers, logger.uplink_status())
        return Response(body=body, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})

    section_routes(app, settings, "metrics", view)  # the token never shown
