"""``make build``: compiles the firmware and lib/ to .mpy in build/ and writes build/manifest.json.

build/ is the bundle that ``make flash`` deploys: boot.py and main.py stay source (the board runs
them by name), everything else is .mpy, data files (board profiles) are copied as they are.
manifest.json lists the firmware version and every file with its size and SHA-256, and names the
start-up files (``bootstrap``: boot.py, main.py, bootslots.mpy) that an upgrade never replaces.
The page's files (firmware/www) also go in gzipped, ``<file>.gz`` beside each: the logger sends
those as they are to a browser that accepts gzip (firmware/web.py), so the board compresses nothing.
With --bundle (as ``make build`` runs it), build/enerlog-<version>.bundle is the same firmware as
one stream for the web page's upgrade (format in firmware/upgrade.py): the manifest, then the slot
files, without the start-up files.
"""

import argparse
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

from venvtool import find

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = ["firmware", "lib"]
TOP = ["boot.py", "main.py"]
BOOT_MODULES = ["bootslots.py"]  # the unchanging start-up's own module, compiled like the rest
# Served by the logger (GET /api/openapi.yaml, beside firmware/ as in the source tree); in a slot
# with the firmware, so an upgrade brings its own contract.
SERVED_DOCS = ["docs/openapi.yaml"]
DATA = (".json", ".html", ".js", ".css")  # board profiles, register maps, the web page (firmware/www)
PAGE = os.path.join("firmware", "www") + os.sep  # the page's files: also written gzipped
SKIP_DIRS = {"__pycache__", "ENERLOG_S3", "UNIX"}  # image build definitions, not firmware


_VERSION = r'VERSION = "([^"]+)"'


def version():
    with open(os.path.join(ROOT, "firmware", "__init__.py")) as f:
        return re.search(_VERSION, f.read()).group(1)


def mpy_cross():
    return find("mpy-cross") or sys.exit("build: mpy-cross missing")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def sources(frozen=False):
    """(relative path, kind) of everything that goes into the bundle; ``frozen``: for an image
    with firmware/ and lib/ frozen in (firmware/boards/*/manifest.py), so only their data files."""
    for top in TOP:
        yield top, "copy"
    for top in BOOT_MODULES:
        yield top, "mpy"
    for doc in SERVED_DOCS:
        yield doc, "copy"
    for base in SOURCES:
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, base)):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            for name in sorted(filenames):
                rel = os.path.relpath(os.path.join(dirpath, name), ROOT)
                if name.endswith(".py"):
                    if not frozen:
                        yield rel, "mpy"
                elif name.endswith(DATA):
                    yield rel, "copy"


def build(out, march, ver=None, frozen=False):
    """Builds into ``out``; ``ver`` replaces firmware.VERSION in the build (a test's other version);
    ``frozen``: leave out the code frozen into the image (see sources)."""
    if os.path.isdir(out):
        shutil.rmtree(out)
    exe = mpy_cross()
    files = []
    stamped = None
    if ver:
        with open(os.path.join(ROOT, "firmware", "__init__.py")) as f:
            text = re.sub(_VERSION, 'VERSION = "%s"' % ver, f.read())
        stamped = os.path.join(out + ".version", "__init__.py")
        os.makedirs(os.path.dirname(stamped), exist_ok=True)
        with open(stamped, "w") as f:
            f.write(text)
    for rel, kind in sources(frozen):
        src = os.path.join(ROOT, rel)
        if stamped and rel == os.path.join("firmware", "__init__.py"):
            src = stamped
        dst_rel = rel[:-3] + ".mpy" if kind == "mpy" else rel
        dst = os.path.join(out, dst_rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if kind == "mpy":
            # -s keeps the path in tracebacks short; the source name is what a user sees.
            cmd = [exe, "-o", dst, "-s", rel, src]
            if march:
                cmd.insert(1, "-march=" + march)
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode:
                sys.exit("build: mpy-cross failed on %s:\n%s" % (rel, res.stderr))
        else:
            shutil.copyfile(src, dst)
        files.append({"path": dst_rel, "size": os.path.getsize(dst), "sha256": sha256(dst)})
        if rel.startswith(PAGE):
            files.append(gzipped(dst, dst_rel))
    if stamped:
        shutil.rmtree(os.path.dirname(stamped))
    boot = TOP + [m[:-3] + ".mpy" for m in BOOT_MODULES]
    manifest = {"version": ver or version(), "march": march or "bytecode", "bootstrap": boot, "files": files}
    if frozen:
        manifest["frozen"] = SOURCES
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest


def gzipped(dst, dst_rel):
    """Writes ``dst``.gz (level 9, no name or time in the header: the same bytes every build) and
    returns its manifest entry."""
    with open(dst, "rb") as f:
        data = gzip.compress(f.read(), compresslevel=9, mtime=0)
    with open(dst + ".gz", "wb") as f:
        f.write(data)
    return {"path": dst_rel + ".gz", "size": len(data), "sha256": sha256(dst + ".gz")}


def page_weight(out):
    """(raw bytes, gzipped bytes) of the page's files in the build ``out``."""
    folder = os.path.join(out, PAGE)
    names = os.listdir(folder)
    raw = sum(os.path.getsize(os.path.join(folder, n)) for n in names if not n.endswith(".gz"))
    return raw, sum(os.path.getsize(os.path.join(folder, n)) for n in names if n.endswith(".gz"))


def write_bundle(out, manifest):
    """build/enerlog-<version>.bundle: the web upgrade's single stream (firmware/upgrade.py)."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from firmware.upgrade import pack

    with open(os.path.join(out, "manifest.json"), "rb") as f:
        raw = f.read()

    def read(rel):
        with open(os.path.join(out, rel), "rb") as f:
            return f.read()

    path = os.path.join(out, "enerlog-%s.bundle" % manifest["version"])
    with open(path, "wb") as f:
        for piece in pack(raw, read):
            f.write(piece)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "build"))
    ap.add_argument("--march", default="xtensawin",
                    help="native code target: xtensawin for the ESP32-S3, x64 for the PC unix port")
    ap.add_argument("--version", help="the version to stamp into the build (default: firmware.VERSION)")
    ap.add_argument("--bundle", action="store_true",
                    help="also write <out>/enerlog-<version>.bundle for the web page's upgrade")
    ap.add_argument("--frozen", action="store_true",
                    help="for an image with firmware/ and lib/ frozen in: only the start-up files and data")
    args = ap.parse_args(argv)
    if args.frozen and args.bundle:
        ap.error("--frozen builds no upgrade bundle: an upgrade carries the code")
    m = build(args.out, args.march, args.version, args.frozen)
    total = sum(f["size"] for f in m["files"])
    print("built %s (%s): %d files, %d bytes in %s" % (m["version"], m["march"], len(m["files"]), total, args.out))
    print("the page: %d bytes, %d gzipped" % page_weight(args.out))
    if args.bundle:
        bundle = write_bundle(args.out, m)
        print("bundle for the web upgrade: %s (%d bytes)" % (bundle, os.path.getsize(bundle)))


if __name__ == "__main__":
    main()
