"""The write governor's rules and its audit log (both runtimes).

The device here is a stand-in: a register table behind ``Channel.request``'s signature (a
pymodbus slave cannot run under MicroPython). The live tests (host_tests/test_writes_live.py)
write to the simulated plant's pymodbus slaves through the real channel.
"""

import os

from support import raises, tmpdir

from firmware import devicemap
from firmware.audit import FIELDS, Audit
from firmware.modbus.errors import ExceptionReply, ReplyTimeout
from firmware.modbus.scheduler import USER
from firmware.poller import Device
from firmware.writes import Governor, WriteError

MAPS = devicemap.load_all()


class StandIn:
    """A device's holding registers behind ``Channel.request``; ``store`` changes what a write
    leaves (a device that clamps), ``fail`` makes it silent or answer an exception."""

    def __init__(self, regs=None):
        self.regs = dict(regs or {})
        self.calls = []  # (function, address, value or quantity, priority)
        self.store = None
        self.fail = None

    async def request(self, unit, function, address, quantity=1, values=None, out=None, priority=None, **kw):
        self.calls.append((function, address, quantity, priority))
        if self.fail == "silent":
            raise ReplyTimeout("unit %d: no reply in 500 ms" % unit)
        if self.fail is not None:
            raise ExceptionReply(unit, function, self.fail)
        if function == 6:
            self.regs[address] = self.store(quantity) if self.store else quantity
            return None
        return [self.regs.get(address + k, 0) for k in range(quantity)]

    def writes(self):
        return [c for c in self.calls if c[0] == 6]


class Log:
    def __init__(self):
        self.lines = []

    def info(self, msg):
        self.lines.append(msg)

    warning = info


def _setup(model="HPS", interval=60):
    dev = Device({"type": "atess_inverter", "channel": 1, "address": 2}, MAPS["atess_inverter"])
    dev.model = model
    slave = StandIn({47: 10, 58: 100, 26: 0})
    now = [1000000]
    audit = Audit(tmpdir())
    gov = Governor(lambda: [dev], lambda n: slave, audit, lambda: interval, lambda: 1700000000, Log(),
                   ticks=lambda: now[0])
    return gov, dev, slave, audit, now


def _run(coro):
    import asyncio

    return asyncio.run(coro)


def _refused(gov, *args):
    try:
        _run(gov.set(*args))
    except WriteError as exc:
        return exc
    raise AssertionError("not refused: %r" % (args,))


def test_the_maps_give_limits_and_the_loader_checks_them():
    m = MAPS["atess_inverter"]
    assert m.limits["discharge_cutoff_soc"] == (0, 100) and m.limits["output_power_limit"] == (0, 120)
    assert m.limits["work_mode"] == (0, 12) and m.limits["ems_enable"] == (0, 1)
    assert "on_off" not in m.limits  # the vendor's list gives none: never written
    base = {"type": "t", "blocks": [{"function": 3, "address": 0, "count": 2}],
            "points": [{"name": "a", "function": 3, "address": 0, "type": "u16"}]}

    def with_point(**p):
        d = dict(base)
        d["points"] = base["points"] + [dict({"name": "w", "function": 3, "address": 9, "type": "u16",
                                              "writable": True}, **p)]
        return d

    assert devicemap.DeviceMap(with_point(min=1, max=5, scale=0.1), "t.json").limits == {"w": (1, 5)}
    for bad, words in (({"min": 1}, "go together"), ({"min": 5, "max": 1}, "above max"),
                       ({"min": "0", "max": 1}, "number"), ({"min": 0, "max": 70000}, "register holds"),
                       ({"min": -1, "max": 1}, "register holds"), ({"min": 0, "max": 7000, "scale": 0.1}, "holds")):
        exc = raises(devicemap.MapError, devicemap.DeviceMap, with_point(**bad), "t.json")
        assert "points[1]" in str(exc) and words in str(exc), (bad, exc)
    d = dict(base)
    d["points"] = [{"name": "a", "function": 3, "address": 0, "type": "u16", "min": 0, "max": 1}]
    assert "only writable points" in str(raises(devicemap.MapError, devicemap.DeviceMap, d, "t.json"))


def test_a_write_reads_first_writes_once_reads_back_and_is_audited():
    gov, dev, slave, audit, now = _setup()
    got = _run(gov.set(1, 2, "discharge_cutoff_soc", 15, "page admin"))
    assert got["old"] == 10 and got["value"] == 15 and got["written"] is True and got["unit"] == "%", got
    assert slave.regs[47] == 15
    # read, write, read back; all at the user's priority
    assert [c[:3] for c in slave.calls] == [(3, 47, 1), (6, 47, 15), (3, 47, 1)], slave.calls
    assert {c[3] for c in slave.calls} == {USER}
    e = list(audit.newest(5))
    assert len(e) == 1 and e[0]["who"] == "page admin" and e[0]["result"] == "written", e
    assert (e[0]["old"], e[0]["new"], e[0]["read_back"], e[0]["register"]) == (10, 15, 15, 47)
    assert e[0]["time"] == 1700000000 and set(e[0]) == set(FIELDS)


def test_refusals_touch_no_bus_and_are_audited():
    gov, dev, slave, audit, now = _setup()
    cases = [((9, 2, "discharge_cutoff_soc", 15), "no_device"), ((1, 2, "battery_soc", 15), "not_writable"),
             ((1, 2, "nonsense", 1), "not_writable"), ((1, 2, "on_off", 1), "no_limits"),
             ((1, 2, "discharge_cutoff_soc", 101), "range"), ((1, 2, "discharge_cutoff_soc", -1), "range"),
             ((1, 2, "discharge_cutoff_soc", 10.5), "step"), ((1, 2, "discharge_cutoff_soc", True), "range"),
             ((1, 2, "output_power_limit", 121), "range"), ((1, 2, "output_power_limit", float("nan")), "range"),
             ((1, 2, "output_power_limit", float("inf")), "range")]
    for args, code in cases:
        exc = _refused(gov, *(args + ("MQTT",)))
        assert exc.code == code, (args, exc.code, exc.message)
    assert slave.calls == []
    words = [e["message"] for e in audit.newest(50)][::-1]
    assert words[0] == "no device at RS485-9 address 2", words
    assert words[1] == "not a setting the ATESS Inverter lets the logger write", words
    assert "gives no limits" in words[3] and "10.5 is not a whole number of steps of 1" == words[6], words
    results = [e["result"] for e in audit.newest(50)]
    assert results == [c for _, c in reversed(cases)], results
    assert "outside 0-120 %" in list(audit.newest(3))[2]["message"]
    assert list(audit.newest(1))[0]["new"] is None  # infinity: no such number in the log's JSON
    # a point the device's model does not have (the vendor's list: HPS/PCS only)
    gov, dev, slave, audit, now = _setup(model="PBD")
    assert _refused(gov, 1, 2, "discharge_cutoff_soc", 15, "MQTT").code == "not_writable"
    assert _run(gov.set(1, 2, "output_power_limit", 90, "MQTT"))["value"] == 90  # all models


def test_one_write_per_register_per_interval_and_unchanged_values_not_written():
    gov, dev, slave, audit, now = _setup(interval=60)
    _run(gov.set(1, 2, "discharge_cutoff_soc", 15, "page admin"))
    now[0] += 59000
    exc = _refused(gov, 1, 2, "discharge_cutoff_soc", 20, "TCP 10.0.0.9")
    assert exc.code == "too_soon" and "try again in 1 s" in exc.message, exc.message
    assert _run(gov.set(1, 2, "output_power_limit", 90, "page admin"))["written"]  # another register: free
    n = len(slave.writes())
    now[0] += 1000
    # the same value again: read, not written, and it does not count as a write
    got = _run(gov.set(1, 2, "discharge_cutoff_soc", 15, "page admin"))
    assert got["written"] is False and got["value"] == 15 and len(slave.writes()) == n
    assert _run(gov.set(1, 2, "discharge_cutoff_soc", 20, "page admin"))["written"]
    assert slave.regs[47] == 20
    results = [e["result"] for e in audit.newest(10)]
    assert results == ["written", "unchanged", "written", "too_soon", "written"], results
    # written so long ago that the tick counter wrapped round (its age reads negative): free again
    now[0] -= 70000
    assert _run(gov.set(1, 2, "discharge_cutoff_soc", 25, "page admin"))["written"]


def test_a_mismatch_a_silent_device_and_a_device_exception_are_reported():
    gov, dev, slave, audit, now = _setup()
    slave.store = lambda v: min(v, 90)  # the device keeps at most 90
    exc = _refused(gov, 1, 2, "discharge_cutoff_soc", 95, "MQTT")
    assert exc.code == "read_back_differs" and "95 written, the device holds 90" in exc.message, exc.message
    e = list(audit.newest(1))[0]
    assert (e["result"], e["old"], e["new"], e["read_back"]) == ("read_back_differs", 10, 95, 90), e
    slave.fail = "silent"
    assert _refused(gov, 1, 2, "output_power_limit", 80, "MQTT").code == "no_answer"
    slave.fail = 4
    exc = _refused(gov, 1, 2, "work_mode", 3, "MQTT")
    assert exc.code == "device_exception" and exc.exception == 4, (exc.code, exc.exception)
    assert [e["result"] for e in audit.newest(3)] == ["device_exception", "no_answer", "read_back_differs"]


def test_gateway_registers_are_checked_whole_before_any_is_written():
    gov, dev, slave, audit, now = _setup()
    # 47 is writable, 48 is not: nothing written
    exc = raises(WriteError, _run, gov.set_registers(dev, 47, [20, 1], "TCP 127.0.0.1"))
    assert exc.code == "not_writable" and slave.calls == [], exc.message
    exc = raises(WriteError, _run, gov.set_registers(dev, 58, [130], "TCP 127.0.0.1"))
    assert exc.code == "range"
    _run(gov.set_registers(dev, 58, [110], "TCP 127.0.0.1"))
    assert slave.regs[58] == 110
    e = list(audit.newest(3))
    assert [x["result"] for x in e] == ["written", "range", "not_writable"] and e[0]["who"] == "TCP 127.0.0.1"
    assert e[2]["register"] == 48 and e[0]["point"] == "output_power_limit"


def test_refusals_beyond_the_rate_are_counted_not_kept():
    gov, dev, slave, audit, now = _setup()
    for _ in range(gov.refusals_per_minute + 5):
        _refused(gov, 1, 2, "battery_soc", 1, "TCP 10.0.0.9")
    assert len(list(audit.newest(100))) == gov.refusals_per_minute and gov.unrecorded == 5
    now[0] += 60000
    _refused(gov, 1, 2, "battery_soc", 1, "TCP 10.0.0.9")
    assert len(list(audit.newest(100))) == gov.refusals_per_minute + 1


def _entry(i, message=None):
    return {"time": i, "who": "MQTT", "channel": 1, "address": 2, "point": "p", "register": 47, "old": i,
            "new": i + 1, "read_back": i + 1, "result": "written", "message": message}


def test_the_audit_log_rotates_keeps_to_its_budget_and_reads_newest_first():
    root = tmpdir()
    a = Audit(root)
    a.file_bytes = 512
    for i in range(60):
        a.append(_entry(i))
    names = sorted(os.listdir(root + "/audit"))
    assert len(names) >= 5, names
    assert [e["time"] for e in a.newest(3)] == [59, 58, 57]
    assert [e["time"] for e in a.newest(1000)] == list(range(59, -1, -1))
    a.block = 512
    a.limit(3 * 512)  # the folder's block and two files
    got = [e["time"] for e in a.newest(1000)]
    assert got[0] == 59 and len(got) < 60 and got == list(range(59, 59 - len(got), -1)), got
    assert a.size() <= 3 * 512
    # a long message is shortened to fit a frame, the entry still whole
    a.append(_entry(60, "x" * 400))
    e = list(a.newest(1))[0]
    assert e["time"] == 60 and e["message"].endswith("...") and len(e["message"]) < 250


def test_a_torn_tail_is_cut_before_the_next_append():
    root = tmpdir()
    a = Audit(root)
    for i in range(3):
        a.append(_entry(i))
    path = root + "/audit/w1.log"
    size = os.stat(path)[6]
    with open(path, "ab") as f:  # a power cut in the middle of the fourth frame
        f.write(bytes([120]) + b'[3, "MQTT"')
    assert [e["time"] for e in Audit(root).newest(10)] == [2, 1, 0]
    b = Audit(root)  # the next start
    b.append(_entry(4))
    assert [e["time"] for e in b.newest(10)] == [4, 2, 1, 0]
    assert os.stat(path)[6] < size + 120
