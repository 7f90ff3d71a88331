"""``make upgrade``: installs build/ into the device's inactive slot over USB, has the device
verify it, makes it the trial and resets.

    python tools/upgrade.py --port /dev/ttyACM0
    python tools/upgrade.py --port socket://127.0.0.1:7788    # a unix-port board behind socat

Steps, each printed: read the device's slot state (and the version it runs), empty the inactive
slot (marked invalid until the end), copy the slot files (the manifest's files without the
start-up files) into it, let the device compute every file's SHA-256 and compare it with the
manifest, mark the slot as the trial, reset. The device's own ``bootslots`` module (part of the
unchanging start-up, see bootslots.py) does the state changes and the check.

The copy runs on mpremote's transport (its raw REPL): a small receiver on the device reads the
files from the console in 256-byte blocks and acknowledges each one, which keeps the board's USB
buffers from overflowing and is about 100 times faster than ``mpremote cp`` (that sends every
block as a Python literal in its own command).

A socket:// peer is a process, not a board: there is no reset; restart its process (its power
cycle). Exit codes: 0 done, 1 refused by the device (the slot stays marked invalid, the running
firmware is untouched), 2 usage, 3 no answer or a transport failure.
"""

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = 256
_ACK = b"\x06"

# Runs on the device: receives FILES (path, size) into folder D from the console.
_RECEIVER = """
import os, sys, micropython
def _md(p):
    try:
        os.mkdir(p)
    except OSError:
        pass
def _rx(D, FILES, B):
    inp = sys.stdin.buffer
    out = sys.stdout.buffer if hasattr(sys.stdout, 'buffer') else sys.stdout
    buf = bytearray(B)
    mv = memoryview(buf)
    micropython.kbd_intr(-1)
    try:
        for p, size in FILES:
            parts = p.split('/')
            for i in range(1, len(parts)):
                _md(D + '/' + '/'.join(parts[:i]))
            with open(D + '/' + p, 'wb') as f:
                left = size
                while left:
                    n = min(left, B)
                    got = 0
                    while got < n:
                        k = inp.readinto(mv[got:n])
                        if not k:
                            raise OSError('console closed')
                        got += k
                    f.write(mv[:n])
                    left -= n
                    out.write(b'\\x06')
    finally:
        micropython.kbd_intr(3)
    print('@@RECEIVED')
"""


class Failed(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def step(text):
    print(text, flush=True)


def describe(info, slot):
    v = info["versions"].get(slot or "flat")
    return "%s (%s)" % ("slot " + slot if slot else "the flat install", v or "version unknown")


class Device:
    """The device's raw REPL through mpremote's transport."""

    def __init__(self, port):
        try:
            from mpremote.transport_serial import SerialTransport
        except ImportError:
            raise Failed(3, "mpremote is not installed (make deps)")
        self.port = port
        self.socket = port.startswith("socket://")
        try:
            self.t = SerialTransport(port)
            self.t.serial.timeout = 10
            # A socket peer is a unix-port process: a soft reset (Ctrl-D) would end it.
            self.t.enter_raw_repl(soft_reset=not self.socket)
        except Exception as exc:
            raise Failed(3, "cannot reach the device at %s: %s" % (port, exc))

    def run(self, code):
        from mpremote.transport import TransportExecError

        try:
            return self.t.exec(code).decode()
        except TransportExecError as exc:
            raise Failed(1, "the device raised: %s" % exc.error_output.strip().splitlines()[-1])
        except Exception as exc:
            raise Failed(3, "no answer from the device: %s" % exc)

    def value(self, code, expr):
        out = self.run(code + "\nimport json\nprint('@@' + json.dumps(%s))" % expr)
        for line in out.splitlines():
            if line.startswith("@@"):
                return json.loads(line[2:])
        raise Failed(3, "the device answered nothing we understand: %r" % out)

    def send_files(self, folder, files, slot_dir):
        """Streams ``files`` (manifest entries) from ``folder`` into ``slot_dir`` on the device."""
        listing = [(f["path"], f["size"]) for f in files]
        try:
            self.t.exec_raw_no_follow(_RECEIVER + "_rx(%r, %r, %d)\n" % (slot_dir, listing, BLOCK))
            for f in files:
                with open(os.path.join(folder, f["path"]), "rb") as src:
                    data = src.read()
                if len(data) != f["size"]:
                    raise Failed(2, "%s: %d bytes in build/, the manifest says %d" % (f["path"], len(data), f["size"]))
                for i in range(0, len(data), BLOCK):
                    self.t.serial.write(data[i : i + BLOCK])
                    ack = self.t.serial.read(1)
                    if ack != _ACK:
                        raise Failed(3, "copy of %s stopped: the device answered %r" % (f["path"], ack))
            out, err = self.t.follow(30)
        except Failed:
            raise
        except Exception as exc:
            raise Failed(3, "copy failed: %s" % exc)
        if err or b"@@RECEIVED" not in out:
            raise Failed(3, "copy failed on the device: %s" % (err or out).decode(errors="replace").strip())

    def reset(self):
        try:
            self.t.exec_raw_no_follow("import machine\nmachine.reset()")
        except Exception:
            pass  # the board went away while resetting

    def close(self):
        try:
            self.t.exit_raw_repl()
            self.t.close()
        except Exception:
            pass


def upgrade(port, build, reset=True):
    with open(os.path.join(build, "manifest.json")) as f:
        manifest = json.load(f)
    boot = manifest.get("bootstrap")
    if boot is None:
        raise Failed(2, "%s was built without slot support (no 'bootstrap' in manifest.json): make build" % build)
    files = [f for f in manifest["files"] if f["path"] not in boot]
    size = sum(f["size"] for f in files) + os.path.getsize(os.path.join(build, "manifest.json"))
    step("bundle: %s (%s), %d files, %d bytes" % (manifest["version"], manifest.get("march"), len(files), size))

    dev = Device(port)
    try:
        info = dev.value("try:\n import bootslots\nexcept ImportError:\n bootslots = None",
                         "bootslots and bootslots.info('')")
        if info is None:
            raise Failed(1, "the device's start-up predates slots (no bootslots module): run make flash once")
        running = info["trial"] or info["active"]
        before = describe(info, running)
        step("device: runs %s%s" % (before, ", on trial" if info["trial"] else ""))
        if info["rollback"]:
            step("device: last rollback: %s" % info["rollback"])
        slot = "b" if info["active"] == "a" else "a"
        folder = "slot_" + slot
        step("1/4 empty slot %s (marked invalid until verified)" % slot)
        dev.value("import bootslots", "bootslots.begin('', %r)" % slot)
        step("2/4 copy %d files, %d bytes into %s" % (len(files), size, folder))
        t0 = time.monotonic()
        dev.send_files(build, files + [{"path": "manifest.json", "size": os.path.getsize(
            os.path.join(build, "manifest.json"))}], folder)
        took = time.monotonic() - t0
        step("    copied in %.2f s (%.0f KB/s)" % (took, size / 1024 / max(took, 1e-6)))
        step("3/4 verify on the device (size and SHA-256 of every file)")
        t0 = time.monotonic()
        err = dev.value("import bootslots", "bootslots.finish('', %r)" % slot)
        if err:
            raise Failed(1, "refused by the device: %s; %s keeps running, slot %s is marked invalid"
                         % (err, before, slot))
        step("    verified in %.2f s" % (time.monotonic() - t0))
        after = "slot %s (%s)" % (slot, manifest["version"])
        step("4/4 slot %s is the trial: it starts next, is committed once healthy, and after %d failed starts "
             "the device goes back to %s" % (slot, 3, before))
        if dev.socket:
            step("    socket peer: no reset; restart its process (a power cycle) to start it")
        elif reset:
            step("    resetting the board")
            dev.reset()
        step("before: %s; after: %s" % (before, after))
    finally:
        dev.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0].strip("`"))
    ap.add_argument("--port", required=True, help="/dev/ttyACM0, or socket://127.0.0.1:7788")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--no-reset", action="store_true", help="leave the reset to you")
    args = ap.parse_args(argv)
    try:
        upgrade(args.port, args.build, reset=not args.no_reset)
    except Failed as exc:
        print("upgrade: %s" % exc, file=sys.stderr)
        sys.exit(exc.code)


if __name__ == "__main__":
    main()
