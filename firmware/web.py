"""The logger's web server (microdot): the JSON API under /api/ (firmware/webapi.py) and the page
(firmware/www/: one HTML page, its scripts and style sheet; docs/page.md).

``make build`` writes ``<file>.gz`` beside each page file; a browser that accepts gzip gets that,
sent as it is with ``Content-Encoding: gzip`` (nothing is compressed on the board). The source tree
(the PC, the sim) has no .gz files: the plain file goes out, which over loopback costs nothing."""

from microdot import Microdot, Response

from firmware import webapi

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
# Next to this module; a frozen web.py (board image) finds the files ``make flash`` copied.
WWW_DIRS = (_HERE + "/www", "/firmware/www")
# The only files served, with their types: nothing else under www/ (or elsewhere) is reachable.
STATIC = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "views.js": "text/javascript; charset=utf-8",  # Dashboard, Devices, a device's detail, Log
    "energy.js": "text/javascript; charset=utf-8",  # Energy: its SVG charts
    "settings.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
}
Response.send_file_buffer_size = 512  # the page goes out in small chunks: little heap


def create(logger):
    """The microdot app for ``logger`` (settings, monitor, status(), log, restart(), factory_reset())."""
    app = Microdot()
    webapi.register(app, logger)

    def page(request, name):
        gz = "gzip" in request.headers.get("Accept-Encoding", "")
        for folder in WWW_DIRS:
            for ext in (".gz", "") if gz else ("",):
                try:
                    r = Response.send_file(folder + "/" + name, content_type=STATIC[name], max_age=0,
                                           compressed=bool(ext), file_extension=ext)
                except OSError:
                    continue
                r.headers["Vary"] = "Accept-Encoding"
                return r
        return webapi.error(404, "not found")

    @app.get("/")
    async def index(request):
        return page(request, "index.html")

    @app.get("/<name>")
    async def static(request, name):
        if name not in STATIC:
            return webapi.error(404, "not found")
        return page(request, name)

    @app.after_request
    async def headers(request, response):
        for k, v in _SECURITY_HEADERS.items():
            response.headers[k] = v
        return response

    return app


async def serve(app, host, port):
    await app.start_server(host=host, port=port)
