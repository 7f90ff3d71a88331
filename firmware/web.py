"""The logger's web server (microdot): the JSON API under /api/ and the configuration pages."""

from microdot import Microdot

from firmware.log import DEBUG, ERROR, INFO, WARNING

_LEVELS = {DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARNING", ERROR: "ERROR"}
LOG_DEFAULT = 50  # entries /api/log sends without ?n=

_INDEX = """<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>EnerLog</title></head>
<body><h1>EnerLog</h1><p>Datalogger status: <a href="/api/status">/api/status</a></p></body></html>
"""


def create(logger):
    """The microdot app for ``logger`` (anything with a ``status()`` dict and a ``log``)."""
    app = Microdot()

    @app.get("/")
    async def index(request):
        return _INDEX, 200, {"Content-Type": "text/html; charset=utf-8"}

    @app.get("/api/status")
    async def status(request):
        return logger.status()

    # TODO(web issue): behind the login like the rest of /api/.
    @app.get("/api/devices")
    async def devices(request):
        return {"devices": logger.monitor.status()}

    # TODO(web issue): behind the login like the rest of /api/, once authentication exists.
    @app.get("/api/log")
    async def recent_log(request):
        """The newest ``n`` (default 50, at most the ring's size) events, oldest first."""
        log = logger.log
        n = request.args.get("n", str(LOG_DEFAULT))
        if not n.isdigit() or int(n) > log.size:
            return {"error": "n: must be a whole number from 0 to %d" % log.size}, 400
        entries = log.recent(int(n)) if int(n) else []
        return {
            "total": log.count,  # events logged since the start; the ring keeps the last `size`
            "size": log.size,
            "entries": [{"uptime_ms": ms, "level": _LEVELS.get(level, str(level)), "message": msg}
                        for ms, level, msg in entries],
        }

    return app


async def serve(app, host, port):
    await app.start_server(host=host, port=port)
