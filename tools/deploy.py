"""``make flash``: puts build/ on a board over USB (or a unix-port "board" behind socat).

PORT is a serial device (/dev/ttyACM0) or a socket URL (socket://127.0.0.1:7788) such as a
MicroPython unix port behind socat (see shared/design/host-testing.md).

This is the flat install (firmware/ at the flash root) with the start-up files. The files are
streamed on mpremote's transport in acknowledged blocks, as ``make upgrade`` does (tools/upgrade.py:
about 100 times faster than ``mpremote cp``), then the device checks every file's size and SHA-256
against the manifest. It forgets the slot state (bootslots.py), so the flashed firmware is what
starts, even after upgrades (which go into slot_a/slot_b: ``make upgrade``).
"""

import argparse
import json
import os
import sys
import time

from upgrade import Device, Failed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Run on the device after the copy: no slot state, so the flat install starts.
_FORGET_SLOTS = "import os\nfor n in ('slots.json', 'slots.bak'):\n try:\n  os.remove(n)\n except OSError:\n  pass\n"


def deploy(port, build, reset=None):
    with open(os.path.join(build, "manifest.json")) as f:
        manifest = json.load(f)
    files = manifest["files"] + [{"path": "manifest.json", "size": os.path.getsize(os.path.join(build,
                                                                                             "manifest.json"))}]
    size = sum(f["size"] for f in files)
    print("deploying %s to %s: %d files, %d bytes" % (manifest["version"], port, len(files), size), flush=True)
    dev = Device(port)
    try:
        t0 = time.monotonic()
        # The board's flash root is "/" (the receiver writes "" + "/" + path); a unix-port peer's
        # flash is its working folder.
        dev.send_files(build, files, "." if dev.socket else "")
        print("copied in %.2f s" % (time.monotonic() - t0), flush=True)
        err = dev.value("import bootslots", "bootslots.verify('', '')")
        if err:
            raise Failed(1, "the device found a damaged copy: %s (flash again)" % err)
        dev.run(_FORGET_SLOTS)
        if reset if reset is not None else not dev.socket:
            dev.reset()
    finally:
        dev.close()
    print("deployed and verified %d files" % len(files))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", required=True)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = ap.parse_args(argv)
    try:
        deploy(args.port, args.build)
    except Failed as exc:
        print("flash: %s" % exc, file=sys.stderr)
        sys.exit(exc.code)


if __name__ == "__main__":
    main()
