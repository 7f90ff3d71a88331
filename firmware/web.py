"""The logger's web server (microdot): the JSON API under /api/ and the configuration pages."""

from microdot import Microdot

_INDEX = """<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>EnerLog</title></head>
<body><h1>EnerLog</h1><p>Datalogger status: <a href="/api/status">/api/status</a></p></body></html>
"""


def create(logger):
    """The microdot app for ``logger`` (anything with a ``status()`` dict)."""
    app = Microdot()

    @app.get("/")
    async def index(request):
        return _INDEX, 200, {"Content-Type": "text/html; charset=utf-8"}

    @app.get("/api/status")
    async def status(request):
        return logger.status()

    return app


async def serve(app, host, port):
    await app.start_server(host=host, port=port)
