"""Writes a logger's serial number and check code, once, on the device, over mpremote.

    python tools/provision.py --port /dev/ttyACM0 --serial BAKFB02000 --check-code A1B2C
    python tools/provision.py --port socket://127.0.0.1:7788 --read

The values are checked here first, then ``firmware.identity.provision`` runs on the device, so
the device's own rules decide (and it refuses a second provisioning). PORT is a serial device or
a socket URL (a unix-port "board" behind socat; see shared/design/host-testing.md). ``--root`` is
the device's flash folder (``/data`` on the board). Exit codes: 0 done, 1 refused by the device,
2 invalid values or usage, 3 mpremote failed or the device answered nothing we understand.
"""

import argparse
import os
import subprocess
import sys
import types

from venvtool import find

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
try:
    import micropython  # noqa: F401
except ImportError:  # CPython: firmware modules only need const()
    sys.modules["micropython"] = types.ModuleType("micropython")
    sys.modules["micropython"].const = lambda v: v  # type: ignore[attr-defined]

from firmware import identity  # noqa: E402

_PROVISION = """
from firmware import identity
try:
    r = identity.provision(%r, %r, %r)
    print('@@OK', r['serial'], r['check_code'])
except identity.IdentityError as e:
    print('@@REFUSED', e)
"""

_READ = """
from firmware import identity
r = identity.load(%r)
print('@@STATE', identity.state(%r))
if r:
    print('@@OK', r['serial'], r['check_code'])
"""


def mpremote():
    return find("mpremote")


def run_on_device(port, code, timeout=60):
    """Runs ``code`` on the device; returns (mpremote exit code, output)."""
    exe = mpremote()
    if not exe:
        return 127, "mpremote is not installed"
    cmd = [exe, "connect", port]
    if port.startswith("socket://"):
        cmd.append("resume")  # a unix-port peer: a soft reset (Ctrl-D) would end the process
    cmd += ["exec", code]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, "mpremote timed out"
    return res.returncode, res.stdout + res.stderr


def _marked(out, mark):
    for line in out.splitlines():
        if line.startswith(mark + " "):
            return line[len(mark) + 1 :].strip()
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", required=True, help="/dev/ttyACM0 or socket://HOST:PORT")
    ap.add_argument("--serial", help="serial number (SN) from the label")
    ap.add_argument("--check-code", help="5-character check code (CC) from the label")
    ap.add_argument("--root", default="/data", help="the device's flash folder (default /data)")
    ap.add_argument("--read", action="store_true", help="only show the identity stored on the device")
    ap.add_argument("--no-reset", action="store_true", help="do not restart a serial-port board afterwards")
    args = ap.parse_args(argv)

    if args.read:
        rc, out = run_on_device(args.port, _READ % (args.root, args.root))
        state = _marked(out, "@@STATE")
        if rc or state is None:
            print(out.rstrip(), file=sys.stderr)
            print("provision: no answer from the device on %s" % args.port, file=sys.stderr)
            return 3
        ident = _marked(out, "@@OK")
        print("%s%s" % (state, (": serial %s, check code %s" % tuple(ident.split())) if ident else ""))
        return 0

    if args.serial is None or args.check_code is None:
        ap.error("--serial and --check-code are required (or --read)")
    try:
        serial, check_code = identity.validate(args.serial, args.check_code)
    except identity.IdentityError as exc:
        print("provision: %s" % exc, file=sys.stderr)
        return 2
    rc, out = run_on_device(args.port, _PROVISION % (args.root, serial, check_code))
    done, refused = _marked(out, "@@OK"), _marked(out, "@@REFUSED")
    if refused is not None:
        print("provision: refused by the device: %s" % refused, file=sys.stderr)
        return 1
    if rc or done is None:
        print(out.rstrip(), file=sys.stderr)
        print("provision: mpremote failed on %s (exit %d)" % (args.port, rc), file=sys.stderr)
        return 3
    print("provisioned: serial %s, check code %s" % tuple(done.split()))
    if not args.port.startswith("socket://") and not args.no_reset:
        subprocess.run([mpremote(), "connect", args.port, "reset"], capture_output=True, timeout=30)
        print("board restarted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
