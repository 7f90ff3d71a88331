"""The logger's web server (microdot): the JSON API under /api/ (firmware/webapi.py) and the page
(firmware/www/: one HTML page, its scripts and style sheet; docs/page.md).

``make build`` writes ``<file>.gz`` beside each page file; a browser that accepts gzip gets that,
sent as it is with ``Content-Encoding: gzip`` (nothing is compressed on the board). The source tree
(the PC, the sim) has no .gz files: the plain file goes out, which over loopback costs nothing."""

from microdot import Microdot, Response

from firmware import webapi
from firmware.log import log

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


class Path:
    """A route's URL pattern, matched without microdot's regular expression: microdot compiles one
    per route at the first request that passes it, with a dict per path segment (7 KB of heap for
    our 48 routes, frozen 32-bit build). Takes static paths and ``<name>`` segments (one path
    segment, microdot's default ``string``); ``url_pattern`` as microdot's."""

    def __init__(self, url_pattern):
        self.url_pattern = url_pattern

    @staticmethod
    def takes(url_pattern):
        """Whether ``url_pattern`` has only static and plain ``<name>`` segments."""
        return all(":" not in seg for seg in url_pattern.split("<")[1:])

    def match(self, path):
        """{name: segment} when ``path`` matches, else None (as microdot's ``URLPattern.match``)."""
        pat = self.url_pattern
        if "<" not in pat:
            return {} if path == pat else None
        want, have = pat.split("/"), path.split("/")
        if len(want) != len(have):
            return None
        args = {}
        for w, h in zip(want, have):
            if w[:1] == "<":
                if not h:
                    return None
                args[w[1:-1]] = h
            elif w != h:
                return None
        return args


def lean(url_map):
    """microdot's ``url_map`` with a ``Path`` for each pattern it takes (one for a GET and a PUT of
    the same path) and one shared tuple per method list (microdot makes a list of new strings per
    route)."""
    shared = {}
    out = []
    for m, pattern, handler, prefix, subapp in url_map:
        m = shared.setdefault(tuple(m), tuple(m))
        url = pattern.url_pattern
        if Path.takes(url):
            pattern = shared.get(url) or shared.setdefault(url, Path(url))
        out.append((m, pattern, handler, prefix, subapp))
    return out


class App(Microdot):
    """microdot, closing a connection whose answer failed on the way out: microdot catches only
    OSError around writing it, so a MemoryError in a body's generator (a big device on a small
    heap) left the connection open and the page's request hanging until its timeout. The client
    sees the answer cut short; the log says which request."""

    async def handle_request(self, reader, writer):
        try:
            await super().handle_request(reader, writer)
        except Exception as exc:
            try:
                log.error("web: an answer failed on the way out, connection closed: %r" % (exc,))
            except MemoryError:
                pass
            try:
                await writer.aclose()
            except Exception:
                pass


def create(logger):
    """The microdot app for ``logger`` (settings, monitor, status(), log, restart(), factory_reset())."""
    app = App()
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

    app.url_map = lean(app.url_map)
    return app


async def serve(app, host, port):
    await app.start_server(host=host, port=port)
