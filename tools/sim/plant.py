"""The simulated plant: ATESS PCS, HPS and PBD inverters, BCU and MBMS batteries and meters as
pymodbus RTU slaves on the three RS485 lines.

What they report is one plant (tools/sim/powers.py): PV by daylight, load by the time of day,
batteries within the cut-off SOCs the inverters hold, the grid the rest, balancing, with a
counter per role; each read fills the unit's registers from it at the plant's clock (the PC's,
or ``--time``). The inverters hold settings with factory values (SETTINGS) until written. A fault
word sets and clears every two minutes. Register layouts follow shared/design/register-maps.md
(the published tables), not the firmware's map files, so a map mistake shows up as a wrong value
instead of agreeing with itself.

    python -m tools.sim.plant --run-dir run [--devices N] [--time UNIX_S]

run/plant-state.json, when there (bench/history.py's ``seed`` leaves it), is the plant's state
at the end of a seeded history: counters and SOC go on from there.

serves run/plant-1..3 (the far ends of the sim's ptys). A file run/plant-silent with one address
per line silences those devices (they stop answering) until the line is removed; run/plant-fault
puts the inverters it lists in fault the same way (running state 3, fault word 3 bit 0). A file
run/plant-serial, read at the start, gives inverters other serial numbers: "address serial" a line
(an illegal one, for the manual 6.2 case, as a test writes before the sim starts). Every write a
unit takes is appended to run/plant-writes.jsonl (channel, address, register, values): what the
slave holds, for a test to check a write against the device and not against the master's word.
``Plant(..., faults=...)`` makes units answer with a bad CRC, truncated, or as the wrong unit
(tools.sim.line.FAULTS).
"""

import argparse
import json
import math
import os
import signal
import struct
import threading
import time

from pymodbus.simulator import DataType, SimData, SimDevice

from tools.sim.line import Line
from tools.sim.powers import Site, daylight, pv_volts

MODEL_CODES = {"PCS": 21020, "HPS": 22005, "PBD": 23002}
# The inverters' settings (holding registers, firmware/maps/atess_inverter.json) until written:
# on, work mode 0 (load first), EMS off, discharge cut-off 10 %, output power limit 100 %, charge
# cut-off 95 %. The cut-offs bound the battery (tools/sim/powers.py).
STATE_FILE = "plant-state.json"  # in the run folder: where a seeded history left the plant
SETTINGS = {0: 1, 26: 0, 32: 0, 47: 10, 58: 100, 178: 95}
T0 = time.monotonic()


def _f32(value):
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [hi, lo]


def _ascii(text, count):
    raw = text.encode().ljust(2 * count, b"\x00")[: 2 * count]
    return [(raw[i] << 8) | raw[i + 1] for i in range(0, 2 * count, 2)]


def _u16(v):
    return int(round(v)) & 0xFFFF


class Unit:
    """One simulated device: its register lists, filled from the plant's state (tools/sim/powers.py)
    whenever it is read."""

    def __init__(self, channel, address, kind, model=None, serial=None, site=None, clock=time.time):
        self.channel, self.address, self.kind, self.model = channel, address, kind, model
        self.serial = serial or "ATS%d%06d" % (channel, address)
        self.hr = [0] * 9000 if kind in ("bcu_battery", "mbms_battery", "chint_dtsu666") else [0] * 400
        self.ir = [0] * 400
        self.clock = clock  # Unix seconds: the plant's time of day
        self.on_write = None  # called with (unit, register, values) after a write
        self.requests = 0  # requests the unit answered: a test sees what touched the bus
        self.forced_fault = False  # in fault now, whatever the schedule (Plant's fault_control)
        if kind == "atess_inverter":
            self.hr[43] = MODEL_CODES[model]
            self.hr[180:185] = _ascii(self.serial, 5)
            self.ir[270:280] = _ascii("V3.22-%s" % model, 10)
            for reg, value in SETTINGS.items():
                self.hr[reg] = value
        self.site = site
        if site is None:  # on its own: a plant of one
            self.site = Site([(channel, address, kind, model)], {(channel, address): self.hr})
            self.site.start(clock())
            self.update()
        elif kind == "atess_inverter":
            site.inverters[(channel, address)].hr = self.hr  # its settings bound its battery

    def fault(self, t):
        # set for 20 s every 2 minutes, or while a test (run/plant-fault) says so
        return self.forced_fault or int(t // 60) % 2 == 1 and (t % 60) < 20

    def update(self, now=None):
        """The registers at plant time ``now`` (default: the clock's)."""
        now = self.clock() if now is None else now
        place = (self.channel, self.address)
        with self.site.lock:
            self.site.advance(now)
            if self.kind == "atess_inverter":
                self._inverter(self.site.inverters[place], now)
            elif self.kind in ("bcu_battery", "mbms_battery"):
                self._battery(self.site.boards[place], now)
            elif self.kind == "chint_dtsu666":
                self._chint(self.site.meters[place], now)
            elif self.kind == "eastron_sdm630":
                self._sdm(self.site.meters[place], now)

    def _inverter(self, inv, now):
        ir, bat, pbd = self.ir, inv.battery, self.model == "PBD"
        t = time.monotonic() - T0 + self.address * 7  # the fault schedule's time
        vbat = bat.voltage()
        vpv = pv_volts(now) if self.model != "PCS" else 0
        ir[0] = _u16(vpv * 10)  # PV1 voltage, 0.1 V
        ir[1] = ir[164] = _u16(vbat * 10)  # battery voltage, 0.1 V
        ir[2] = ir[165] = _u16(inv.battery_kw * 10000 / vbat)  # battery current, 0.1 A, < 0 charging
        ir[3] = _u16(inv.pv * 1e4 / vpv if vpv > 1 else 0)  # PV1 current, 0.1 A
        if not pbd:
            ir[4] = ir[5] = ir[6] = _u16(4000 + 5 * math.sin(now / 10))  # 400.0 V line voltage
            ir[16] = ir[21] = _u16(5000 + 2 * math.sin(now / 5))  # 50.00 Hz
            ir[18], ir[19], ir[20] = _u16(abs(inv.grid) * 10.2), _u16(inv.grid * 10), _u16(inv.grid * 2)
            ir[48], ir[49], ir[50] = _u16(inv.load * 10.2), _u16(inv.load * 10), _u16(inv.load * 2)
            ir[52] = 980  # load PF 0.98
        ir[17] = _u16(inv.battery_kw * 10)  # battery power, 0.1 kW, > 0 discharging
        ir[35] = _u16(400 + 2 * (inv.load + abs(inv.battery_kw)))  # transformer, 0.1 C: warmer under load
        ir[36] = _u16(250 + 80 * daylight(now) + 5 * math.sin(now / 100))  # ambient, 0.1 C
        ir[47] = _u16(bat.soc)
        ir[51] = _u16(inv.pv * 10)
        for base, role in ((62, "pv"), (82, "load"), (88, "grid_import"), (94, "grid_export")):
            ir[base] = _u16(min(inv.today[role] * 10, 0xFFFF))  # today, 0.1 kWh
        for base, role in ((64, "pv"), (68, "battery_discharge"), (72, "battery_charge"), (84, "load"),
                           (90, "grid_import"), (96, "grid_export")):
            total = int(inv.total[role] * 10)  # 0.1 kWh, u32
            ir[base], ir[base + 1] = total >> 16 & 0xFFFF, total & 0xFFFF
        ir[100] = ir[101] = _u16(bat.max_kw * 10000 / vbat)  # BMS charge / discharge limit, 0.1 A
        if pbd:
            ir[108] = ir[51]  # PV total power
            ir[109], ir[110], ir[113] = _u16(vbat * 10), _u16(inv.output * 10000 / vbat), _u16(inv.output * 10)
        ir[171] = (33 << 8) | 25  # BMS max 33 C, min 25 C
        ir[174], ir[175] = 3436, 3326
        faulted = self.fault(t)
        ir[180] = 3 if faulted else 2  # running state: fault / on-grid
        # fault word 3 (register 183), bit 0 "AC no utility" as the vendor numbers its bits: after
        # swapping the register's two bytes (register-maps.md), so it travels as 0x0100
        ir[183] = 0x0100 if faulted else 0
        ir[192] = 1
        ir[206] = 3 if faulted else 2

    def _battery(self, bat, now):
        hr = self.hr
        volts = bat.voltage()
        current = bat.kw * 10000 / volts  # 0.1 A, < 0 charging, as the inverters' battery power
        hr[0x2100] = _u16(volts * 10)
        hr[0x2101] = _u16(current)
        hr[0x2102] = 2 if current <= -1 else 1 if current >= 1 else 0  # charge indication
        hr[0x2103], hr[0x2104] = _u16(bat.soc), 98
        hr[0x2105], hr[0x2106], hr[0x2107], hr[0x2108] = 7, _u16(3300 + 1.5 * bat.soc), 12, _u16(3290 + 1.4 * bat.soc)
        hr[0x2109], hr[0x210A], hr[0x210B], hr[0x210C] = 3, _u16(280 + 30 * abs(bat.kw) / bat.max_kw), 9, 250
        hr[0x210F] = hr[0x2110] = _u16(bat.max_kw * 10000 / volts)
        hr[0x2113] = 1 if bat.soc >= 100 else 2 if bat.soc <= 0 else 0  # run state: full / empty / normal

    def _chint(self, m, now):
        hr, w = self.hr, m.grid * 1000  # W, > 0 importing
        for i, v in enumerate([4000, 4000, 4000, 2300 + 5 * math.sin(now / 10), 2301, 2302]):
            hr[0x2000 + 2 * i : 0x2002 + 2 * i] = _f32(v)  # 0.1 V
        for i in range(3):
            hr[0x200C + 2 * i : 0x200E + 2 * i] = _f32(abs(w) / 3 / 230 * 1000)  # 0.001 A
            hr[0x2014 + 2 * i : 0x2016 + 2 * i] = _f32(w * 10 / 3)
        hr[0x2012:0x2014] = _f32(w * 10)  # 0.1 W
        hr[0x201A:0x201C] = _f32(w * 2)  # 0.1 var
        hr[0x202A:0x202C] = _f32(980)  # 0.001
        hr[0x2044:0x2046] = _f32(5000)  # 0.01 Hz
        hr[0x101E:0x1020] = _f32(m.total["grid_import"])
        hr[0x1028:0x102A] = _f32(m.total["grid_export"])

    def _sdm(self, m, now):
        ir, w = self.ir, m.grid * 1000
        amps = abs(w) / 3 / 230
        for i, v in enumerate([230.1, 230.2, 230.3, amps, amps, amps, w / 3, w / 3, w / 3]):
            ir[2 * i : 2 * i + 2] = _f32(v)
        ir[0x34:0x36] = _f32(w)
        ir[0x46:0x48] = _f32(50.0)
        ir[0x48:0x4A] = _f32(m.total["grid_import"])
        ir[0x4A:0x4C] = _f32(m.total["grid_export"])
        ir[0x156:0x158] = _f32(m.total["grid_import"] + m.total["grid_export"])

    async def action(self, function_code, start_address, address, count, registers, set_values):
        """pymodbus calls this before each access: refresh the moving values in place."""
        self.requests += 1
        self.update()
        src = self.ir if function_code == 4 else self.hr
        if function_code in (3, 4) and not set_values:
            registers[address - start_address : address - start_address + count] = src[address : address + count]
        elif set_values and function_code in (6, 16):
            self.hr[address : address + len(set_values)] = list(set_values)
            if self.on_write:
                self.on_write(self, address, list(set_values))
        return None

    def device(self):
        regs = lambda n: [SimData(0, values=[0] * n, datatype=DataType.REGISTERS)]  # noqa: E731
        bits = [SimData(0, values=[False] * 16, datatype=DataType.BITS)]
        return SimDevice(id=self.address, simdata=(bits, bits, regs(len(self.hr)), regs(len(self.ir))),
                         action=self.action)


def default_layout():
    """The few devices `make sim` starts with: one of each kind the manual names."""
    return [
        (1, 1, "atess_inverter", "PCS"), (1, 2, "atess_inverter", "HPS"), (1, 3, "atess_inverter", "PBD"),
        (2, 11, "bcu_battery", None), (2, 12, "mbms_battery", None),
        (3, 21, "chint_dtsu666", None),
    ]


def wire_bound_ms(layout, baud=9600):
    """Per channel (1-3), the least time one pass over ``layout``'s devices takes on the wire:
    each block read is 8 request + 5 + 2 per register reply bytes, plus t3.5 between transactions."""
    from firmware import devicemap, wire

    maps = devicemap.load_all()
    return [sum((wire.frame_us(13 + 2 * b[2], baud) + wire.t35_us(baud)) / 1000
                for t in layout if t[0] == ch for b in maps[t[2]].blocks) for ch in (1, 2, 3)]


def full_layout(n):
    """``n`` devices (up to 60), 20 per channel, addresses 1..n unique across channels."""
    kinds = {1: [("atess_inverter", "PCS"), ("atess_inverter", "HPS"), ("atess_inverter", "PBD")],
             2: [("bcu_battery", None), ("mbms_battery", None), ("atess_inverter", "HPS")],
             3: [("chint_dtsu666", None), ("eastron_sdm630", None)]}
    out = []
    for i in range(min(n, 60)):
        ch = i // 20 + 1
        kind, model = kinds[ch][i % len(kinds[ch])]
        out.append((ch, i + 1, kind, model))
    return out


class Plant:
    """Serves ``layout`` [(channel, address, type, model[, serial])] on the ptys {channel: path}.

    ``control``: a file listing addresses to silence, one per line, re-read every 50 ms, so a test
    (or a person) in another process can make devices go quiet and come back. ``fault_control``:
    the same for inverters in fault (running state fault, "AC no utility") until taken off the list.
    """

    def __init__(self, paths, layout, baud=9600, control=None, writes=None, faults=None, fault_control=None,
                 clock=time.time, state=None):
        self.site = Site(layout)
        self.units = [Unit(*spec[:5], site=self.site, clock=clock) for spec in layout]
        self.site.start(clock(), state)
        self._writes = writes
        for u in self.units:
            u.on_write = self._written
            u.update()
        self.lines = {}
        for ch, path in sorted(paths.items()):
            units = [u for u in self.units if u.channel == ch]
            self.lines[ch] = Line(path, [u.address for u in units], baud, devices=[u.device() for u in units])
            # ``faults`` {(channel, address): "crc" | "truncated" | "wrong_unit"}: units that answer badly
            self.lines[ch].faults = {a: f for (c, a), f in (faults or {}).items() if c == ch}
        self._control = control
        self._fault_control = fault_control
        self._stop = False
        if control or fault_control:
            self._watcher = threading.Thread(target=self._watch, daemon=True)
            self._watcher.start()

    def _written(self, unit, register, values):
        if self._writes:
            with open(self._writes, "a") as f:
                f.write(json.dumps({"channel": unit.channel, "address": unit.address, "register": register,
                                    "values": values}) + "\n")

    def silence(self, addresses):
        """Only ``addresses`` stay quiet from now on."""
        for line in self.lines.values():
            line.silent = set(addresses)  # one assignment: the server thread never sees it half done

    def _watch(self):
        while not self._stop:
            if self._control:
                self.silence(_addresses(self._control))
            if self._fault_control:
                faulted = _addresses(self._fault_control)
                for u in self.units:
                    u.forced_fault = u.address in faulted
            time.sleep(0.05)

    def stop(self):
        self._stop = True
        for line in self.lines.values():
            line.stop()


def _addresses(path):
    """The addresses a control file lists (none when it is missing or half written)."""
    try:
        with open(path) as f:
            return {int(x) for x in f.read().split()}
    except (OSError, ValueError):
        return set()


def _serials(path):
    """{address: serial number} a plant-serial file gives (none when it is missing)."""
    try:
        with open(path) as f:
            return {int(a): sn.strip() for a, sn in (line.split(None, 1) for line in f if line.strip())}
    except OSError:
        return {}


def _state(path):
    """The plant's state a seeded history left (bench/history.py), or None."""
    try:
        with open(path) as f:
            return json.load(f)
    except OSError:
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", default="run")
    ap.add_argument("--devices", type=int, default=0, help="size up to 60 (default: one of each kind)")
    ap.add_argument("--time", type=int, help="the plant's time at its start, in Unix seconds (default: the "
                    "PC's clock); it runs on from there")
    args = ap.parse_args(argv)
    clock = time.time
    if args.time:
        m0 = time.monotonic()
        clock = lambda: args.time + time.monotonic() - m0  # noqa: E731
    layout = full_layout(args.devices) if args.devices else default_layout()
    serials = _serials(os.path.join(args.run_dir, "plant-serial"))
    layout = [spec + (serials[spec[1]],) if spec[1] in serials else spec for spec in layout]
    paths = {ch: os.path.join(args.run_dir, "plant-%d" % ch) for ch in (1, 2, 3)}
    plant = Plant(paths, layout, control=os.path.join(args.run_dir, "plant-silent"),
                  writes=os.path.join(args.run_dir, "plant-writes.jsonl"),
                  fault_control=os.path.join(args.run_dir, "plant-fault"), clock=clock,
                  state=_state(os.path.join(args.run_dir, STATE_FILE)))
    print("plant: %d devices on %s" % (len(layout), ", ".join(sorted(paths.values()))), flush=True)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM, signal.SIGINT])  # sigwait gets them
    signal.sigwait([signal.SIGTERM, signal.SIGINT])
    plant.stop()


if __name__ == "__main__":
    main()
