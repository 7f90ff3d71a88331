"""``make sim``: the firmware under the MicroPython unix port, on the PC board, beside a simulated plant.

Each RS485 channel is a pty pair made by socat: the firmware opens ``run/rs485-N``, the plant
(tools/sim/plant.py, pymodbus slaves) serves ``run/plant-N``. On a first start the firmware's
settings get the plant's devices, so pages show data at once. The firmware is restarted when it
asks for a reset (exit 75), as a board would reboot. Ctrl-C stops everything: for the firmware it
is the power switch (it ends at once, as a board whose power is cut).
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
        sys.exit("sim: socat is missing (make sim installs it: tools/ensure_debs.sh)")
    return [ptys.pair(os.path.join(run_dir, "rs485-%d" % ch), os.path.join(run_dir, "plant-%d" % ch))
            for ch in CHANNELS]


def seed_settings(run_dir, layout, mqtt_port=0):
    """A first start gets the plant's devices in its settings (through the firmware's own code),
    the sim's time server, and the sim's broker when there is one."""
    from firmware.log import Log
    from firmware.settings import Settings

    flash = os.path.join(run_dir, "flash")
    if os.path.exists(os.path.join(flash, "settings.json")):
        return False
    settings = Settings(flash, Log(echo=False))
    settings.replace_devices([{"type": t[2], "channel": t[0], "address": t[1]} for t in layout])
    # A PC sim never asks a public time server: it has its own on loopback (ENERLOG_NTP_PORT).
    settings.update("clock", {"ntp_server": "127.0.0.1"})
    # The 2-minute setup address (manual 4.2) means nothing on a PC: connected at once.
    settings.update("network", {"startup_static_s": 0})
    if mqtt_port:
        settings.update("server", {"host": "127.0.0.1", "port": mqtt_port, "upload_interval_s": 60})
    return True


def start_broker(run_dir, port):
    """mosquitto on 127.0.0.1:``port`` for the uplink, or None (said why) when it cannot run."""
    from tools.sim.broker import Broker

    try:
        b = Broker(os.path.join(run_dir, "broker"), port=port).start()
    except (OSError, RuntimeError) as exc:
        print("sim: no MQTT broker (%s); uploads wait in the spool" % exc, flush=True)
        return None
    print("sim: MQTT broker on 127.0.0.1:%d (mosquitto_sub -p %d -t 'enerlog/#' -v)" % (port, port), flush=True)
    return b


def start_plant(run_dir, devices, at=None):
    cmd = [sys.executable, "-m", "tools.sim.plant", "--run-dir", run_dir]
    if devices:
        cmd += ["--devices", str(devices)]
    if at:  # the plant's time of day is the sim's time
        cmd += ["--time", str(at)]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    if not line.startswith("plant:"):
        sys.exit("sim: the plant did not start")
    print("sim: " + line, flush=True)
    return p


def firmware_env(run_dir, http_port, ntp_port, code=ROOT):
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join([code, os.path.join(code, "lib"), ".frozen"])
    env["ENERLOG_RUN"] = run_dir
    env["ENERLOG_HTTP_PORT"] = str(http_port)
    env["ENERLOG_NTP_PORT"] = str(ntp_port)
    return env


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", default=os.path.join(ROOT, "run"))
    ap.add_argument("--http-port", type=int, default=8080)
    ap.add_argument("--heapsize", help="MicroPython heap, e.g. 192k (default: the port's)")
    ap.add_argument("--devices", type=int, default=0, help="plant size, up to 60 (default: one of each kind)")
    ap.add_argument("--firmware", default=ROOT,
                    help="the code to run: a `tools/build.py --march x64` folder runs the .mpy build "
                         "(default: the source)")
    ap.add_argument("--micropython", help="the interpreter to run (default: the venv's unix port); one with the "
                    "firmware frozen in runs a `tools/build.py --frozen` folder")
    ap.add_argument("--time", type=int, help="the time the sim's time server gives at its first request, in "
                    "Unix seconds (default: the PC's clock); it runs on from there")
    ap.add_argument("--mqtt-port", type=int, default=0,
                    help="start mosquitto on this loopback port and upload to it (make sim: 1883)")
    args = ap.parse_args(argv)
    run_dir = os.path.abspath(args.run_dir)
    os.makedirs(run_dir, exist_ok=True)
    mp = args.micropython and os.path.abspath(args.micropython)  # the firmware runs in its own folder
    mp = mp or find("micropython") or sys.exit("sim: micropython is missing (make deps installs it)")
    cmd = [mp] + (["-X", "heapsize=" + args.heapsize] if args.heapsize else []) + ["main.py", "pc"]
    lines = make_lines(run_dir)
    from tools.sim.plant import default_layout, full_layout
    from tools.sim.sntp import SntpResponder

    if seed_settings(run_dir, full_layout(args.devices) if args.devices else default_layout(), args.mqtt_port):
        print("sim: first start, the plant's devices were added to the settings", flush=True)
    lines.append(start_plant(run_dir, args.devices, args.time))
    ntp = SntpResponder(args.time, from_first_request=True) if args.time else SntpResponder()
    broker = start_broker(run_dir, args.mqtt_port) if args.mqtt_port else None
    fw = None
    print("EnerLog simulator: web page on http://127.0.0.1:%d/ (run folder %s); Ctrl-C stops"
          % (args.http_port, run_dir), flush=True)
    try:
        while True:
            fw = subprocess.Popen(cmd, cwd=os.path.abspath(args.firmware),
                                  env=firmware_env(run_dir, args.http_port, ntp.port, os.path.abspath(args.firmware)))
            rc = fw.wait()
            if rc == -signal.SIGINT:  # Ctrl-C reached the firmware first: its power switch
                raise KeyboardInterrupt
            if rc != RESET_EXIT:
                print("sim: firmware exited with %d" % rc, flush=True)
                return rc
            print("sim: firmware reset; starting it again (power cycle)", flush=True)
    except KeyboardInterrupt:
        if fw and fw.poll() is None:
            fw.send_signal(signal.SIGINT)  # the PC board's power switch: it ends at once
            try:
                fw.wait(2)
            except subprocess.TimeoutExpired:  # an interpreter that ignores it (never seen): cut it
                fw.kill()
                fw.wait()
        print("sim: stopped", flush=True)
        return 0
    finally:
        for p in reversed(lines):
            p.terminate()
            p.wait()
        ntp.close()
        if broker:
            broker.close()


if __name__ == "__main__":
    sys.exit(main())
