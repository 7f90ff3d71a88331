"""``make flash``: puts build/ on a board with mpremote.

PORT is a serial device (/dev/ttyACM0) or a socket URL (socket://127.0.0.1:7788) such as a
MicroPython unix port behind socat (see shared/design/host-testing.md). mpremote skips files whose
SHA-256 already matches, so a second flash only sends what changed.

This is the flat install (firmware/ at the flash root) with the start-up files. It forgets the
slot state (bootslots.py), so the flashed firmware is what starts, even after upgrades (which go
into slot_a/slot_b: ``make upgrade``).
"""

import argparse
import json
import os
import subprocess
import sys

from venvtool import find

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Run on the device after the copy: no slot state, so the flat install starts.
_FORGET_SLOTS = "import os\nfor n in ('slots.json', 'slots.bak'):\n try:\n  os.remove(n)\n except OSError:\n  pass\n"


def mpremote():
    return find("mpremote") or sys.exit("deploy: mpremote missing")


def deploy(port, build, reset=None):
    with open(os.path.join(build, "manifest.json")) as f:
        manifest = json.load(f)
    socket = port.startswith("socket://")
    # A socket peer is a unix-port process: `resume` avoids the soft reset (Ctrl-D would end it),
    # and there is no board to reset afterwards.
    cmd = [mpremote(), "connect", port]
    if socket:
        cmd.append("resume")
    tops = sorted({f["path"].split("/")[0] for f in manifest["files"]}) + ["manifest.json"]
    # The board's flash root is "/"; a unix-port peer's flash is its working folder.
    cmd += ["cp", "-r"] + tops + [":./" if socket else ":/"]
    cmd += ["+", "exec", _FORGET_SLOTS]
    if reset if reset is not None else not socket:
        cmd += ["+", "reset"]
    print("deploying %s to %s: %s" % (manifest["version"], port, " ".join(tops)))
    res = subprocess.run(cmd, cwd=build)
    if res.returncode:
        sys.exit("deploy: mpremote failed (%d)" % res.returncode)
    print("deployed %d files" % len(manifest["files"]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", required=True)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = ap.parse_args(argv)
    deploy(args.port, args.build)


if __name__ == "__main__":
    main()
