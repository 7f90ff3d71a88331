"""The web server's own parts (firmware/web.py): route patterns matched without microdot's regular
expressions, and a connection closed when an answer fails on the way out (microdot catches only
OSError there)."""

import asyncio
import json
import random

from microdot import Response
from microdot.microdot import URLPattern

from firmware import web


def test_a_path_matches_as_microdots_own_pattern():
    cases = [("/", "/"), ("/", ""), ("/", "/x"), ("/api/devices", "/api/devices"), ("/api/devices", "/api/devices/"),
             ("/api/devices", "/api/device"), ("/api/devices", "/api/devicesx"), ("/<name>", "/app.js"),
             ("/<name>", "/"), ("/<name>", "/a/b"), ("/<name>", "app.js"), ("/api/x/<id>/y", "/api/x/7/y"),
             ("/api/x/<id>/y", "/api/x//y"), ("/api/x/<id>/y", "/api/x/7/z")]
    for pat, path in cases:
        assert web.Path(pat).match(path) == URLPattern(pat).match(path), (pat, path)
    assert web.Path("/<name>").match("/index.html") == {"name": "index.html"}
    assert web.Path.takes("/api/settings/network") and web.Path.takes("/<name>")
    assert not web.Path.takes("/api/x/<int:n>") and not web.Path.takes("/<path:rest>")


def test_lean_keeps_every_route_and_shares_the_method_lists():
    app = web.App()

    @app.get("/a")
    async def a(request):
        return "a"

    @app.get("/n/<int:n>")
    async def n(request, n):
        return str(n)

    @app.post("/b")
    async def b(request):
        return "b"

    @app.get("/c")
    async def c(request):
        return "c"

    @app.put("/a")
    async def put_a(request):
        return "a"

    before = [(tuple(m), p.url_pattern, h) for m, p, h, _, _ in app.url_map]
    app.url_map = web.lean(app.url_map)
    assert [(m, p.url_pattern, h) for m, p, h, _, _ in app.url_map] == before
    assert app.url_map[0][0] is app.url_map[3][0]  # ("GET",) once
    assert app.url_map[0][1] is app.url_map[4][1]  # "/a" once, for its GET and its PUT
    assert isinstance(app.url_map[0][1], web.Path) and not isinstance(app.url_map[1][1], web.Path)
    assert app.url_map[1][1].match("/n/12") == {"n": 12}  # microdot's own pattern, as before


async def _read_to_end(reader):
    out = b""
    while True:
        piece = await reader.read(512)
        if not piece:
            return out
        out += piece


async def _get(port, path):
    """The raw answer to GET ``path``, read until the server closes the connection (5 s at most)."""
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"GET " + path + b" HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    await w.drain()
    try:
        return await asyncio.wait_for(_read_to_end(r), 5)
    finally:
        w.close()


async def _serving(app):
    """Starts ``app`` on a free loopback port (MicroPython's server does not tell its port)."""
    for _ in range(50):
        port = 20000 + random.getrandbits(14)
        task = asyncio.create_task(app.start_server(host="127.0.0.1", port=port))
        for _ in range(50):
            await asyncio.sleep(0.01)
            if app.server is not None or task.done():
                break
        if app.server is not None:
            return task, port
        try:
            await task
        except OSError:
            pass
    raise OSError("no free port")


async def test_an_answer_failing_on_the_way_out_closes_the_connection():
    app = web.App()

    @app.get("/big")
    async def big(request):
        def body():
            yield '{"devices": ['
            raise MemoryError("memory allocation failed, allocating 1908 bytes")
        return Response(body=body(), headers={"Content-Type": "application/json"})

    @app.get("/small")
    async def small(request):
        return {"ok": True}

    task, port = await _serving(app)
    try:
        raw = await _get(port, b"/big")  # a timeout here: the connection was left open
        assert raw.startswith(b"HTTP/1.0 200"), raw
        assert raw.endswith(b'\r\n\r\n{"devices": ['), raw  # cut short where the body failed
        raw = await _get(port, b"/small")  # and the server goes on
        assert raw.startswith(b"HTTP/1.0 200") and raw.endswith(b'{"ok": true}'), raw
    finally:
        app.shutdown()
        await asyncio.wait_for(task, 5)


def test_a_devices_json_goes_out_in_small_pieces():
    from firmware.api.reading import entry_chunks

    entry = {"type": "atess_inverter", "channel": 1, "address": 7, "name": "ATESS Inverter PCS, RS485-1 address 7",
             "state": {"kind": "running", "text": "On-grid"}, "faults": ["Fault bit %d of the fault word" % i
                                                                        for i in range(6)],
             "bus": {"requests": 15, "successes": 15, "timeouts": 0, "p50_ms": 84, "p95_ms": 99},
             "values": {"pv_power_%d" % i: {"value": 1.5 * i, "unit": "kW", "quality": "live",
                                            "label": "PV power %d" % i} for i in range(30)}}
    want = dict(entry)
    pieces = list(entry_chunks(entry))
    assert json.loads("".join(pieces)) == want
    assert len("".join(pieces)) > 2000 and max(len(p) for p in pieces) < 300, max(len(p) for p in pieces)


def test_a_json_object_goes_out_an_entry_at_a_time_inner_objects_too():
    from firmware.api.common import json_chunks

    status = {"firmware_version": "0.1.0",
              "tasks": {"task-%d" % i: {"running": True, "restarts": i} for i in range(17)},
              "devices": {"configured": 60, "per_channel": {"rs485_1": {"configured": 20, "sweep_ms": 12838}}},
              "problems": [], "empty": {}, "heap": None}
    pieces = list(json_chunks(status.items()))
    assert json.loads("".join(pieces)) == status
    assert all(pieces) and max(len(p) for p in pieces) < 60, max(pieces, key=len)
    assert list(json_chunks([])) == ["{}"]


def test_pieces_are_packed_into_runs_of_about_256_characters():
    from firmware.api.common import packed

    pieces = ["x" * (i % 40 + 1) for i in range(300)]
    runs = list(packed(pieces))
    assert "".join(runs) == "".join(pieces) and len(runs) < len(pieces) // 8
    assert all(256 <= len(r) < 256 + 40 for r in runs[:-1]) and 0 < len(runs[-1]) < 256 + 40
    assert list(packed([])) == [] and list(packed(["{}"])) == ["{}"]
