"""``make sim``: the firmware under the MicroPython unix port, on the PC board, beside a simulated plant.

Each RS485 channel is a pty pair made by socat: the firmware opens ``run/rs485-N``, the plant
(tools/sim/plant.py, pymodbus slaves) serves ``run/plant-N``. On a first start the firmware's
settings get the plant's devices, so pages show data at once. The firmware is restarted when it
asks for a reset (exit 75), as a board would reboot. Ctrl-C stops everything cleanly.
"""

import argparse
import os
import signal
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tools", "shims")]  # firmware code under CPython

from tools.sim import ptys  # noqa: E402 - needs the path above
from tools.venvtool import find  # noqa: E402

RESET_EXIT = 75
CHANNELS = (1, 2, 3)


def make_lines(run_dir):
    """One socat pty pair per channel: run/rs485-N (firmware) and run/plant-N (plant)."""
    if not ptys.socat():
        sys.exit("sim: socat is missing (make setup installs it)")
    return [ptys.pair(os.path.join(run_dir, "rs485-%d" % ch), os.path.join(run_dir, "plant-%d" % ch))
            for ch in CHANNELS]


def seed_settings(run_dir, layout):
    """A first start gets the plant's devices in its settings (through the firmware's own code)."""
    from firmware.log import Log
    from firmware.settings import Settings

    flash = os.path.join(run_dir, "flash")
    if os.path.exists(os.path.join(flash, "settings.json")):
        return False
    settings = Settings(flash, Log(echo=False))
    settings.replace_devices([{"type": t[2], "channel": t[0], "address": t[1]} for t in layout])
    # A PC sim never asks a public time server (the PC's own clock is right anyway).
    settings.update("clock", {"ntp_server": ""})
    return True


def start_plant(run_dir, devices):
    cmd = [sys.executable, "-m", "tools.sim.plant", "--run-dir", run_dir]
    if devices:
        cmd += ["--devices", str(devices)]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    if not line.startswith("plant:"):
        sys.exit("sim: the plant did not start")
    print("sim: " + line, flush=True)
    return p


def firmware_env(run_dir, http_port):
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join([ROOT, os.path.join(ROOT, "lib"), ".frozen"])
    env["ENERLOG_RUN"] = run_dir
    env["ENERLOG_HTTP_PORT"] = str(http_port)
    return env


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", default=os.path.join(ROOT, "run"))
    ap.add_argument("--http-port", type=int, default=8080)
    ap.add_argument("--heapsize", help="MicroPython heap, e.g. 192k (default: the port's)")
    ap.add_argument("--devices", type=int, default=0, help="plant size, up to 60 (default: one of each kind)")
    args = ap.parse_args(argv)
    run_dir = os.path.abspath(args.run_dir)
    os.makedirs(run_dir, exist_ok=True)
    mp = find("micropython") or sys.exit("sim: micropython is missing (make deps installs it)")
    cmd = [mp] + (["-X", "heapsize=" + args.heapsize] if args.heapsize else []) + ["main.py", "pc"]
    lines = make_lines(run_dir)
    from tools.sim.plant import default_layout, full_layout

    if seed_settings(run_dir, full_layout(args.devices) if args.devices else default_layout()):
        print("sim: first start, the plant's devices were added to the settings", flush=True)
    lines.append(start_plant(run_dir, args.devices))
    fw = None
    print("EnerLog simulator: web page on http://127.0.0.1:%d/ (run folder %s); Ctrl-C stops"
          % (args.http_port, run_dir), flush=True)
    try:
        while True:
            fw = subprocess.Popen(cmd, cwd=ROOT, env=firmware_env(run_dir, args.http_port))
            rc = fw.wait()
            if rc != RESET_EXIT:
                print("sim: firmware exited with %d" % rc, flush=True)
                return rc
            print("sim: firmware reset; starting it again (power cycle)", flush=True)
    except KeyboardInterrupt:
        if fw and fw.poll() is None:
            fw.send_signal(signal.SIGINT)
            try:
                fw.wait(5)
            except subprocess.TimeoutExpired:
                fw.kill()
        print("sim: stopped", flush=True)
        return 0
    finally:
        for p in reversed(lines):
            p.terminate()
            p.wait()


if __name__ == "__main__":
    sys.exit(main())
