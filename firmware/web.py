"""The logger's web server (microdot): the JSON API under /api/ (firmware/webapi.py) and the
configuration page (firmware/www/: one HTML page, a small script, a style sheet, and the script of
setting slave devices, loaded when first wanted)."""

from microdot import Microdot, Response

from firmware import webapi

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
# Next to this module; a frozen web.py (board image) finds the files ``make flash`` copied.
WWW_DIRS = (_HERE + "/www", "/firmware/www")
# The only files served, with their types: nothing else under www/ (or elsewhere) is reachable.
STATIC = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "writes.js": "text/javascript; charset=utf-8",  # setting slave devices: loaded when first wanted
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

    def page(name):
        for folder in WWW_DIRS:
            try:
                return Response.send_file(folder + "/" + name, content_type=STATIC[name], max_age=0)
            except OSError:
                pass
        return webapi.error(404, "not found")

    @app.get("/")
    async def index(request):
        return page("index.html")

    @app.get("/<name>")
    async def static(request, name):
        if name not in STATIC:
            return webapi.error(404, "not found")
        return page(name)

    @app.after_request
    async def headers(request, response):
        for k, v in _SECURITY_HEADERS.items():
            response.headers[k] = v
        return response

    return app


async def serve(app, host, port):
    await app.start_server(host=host, port=port)
