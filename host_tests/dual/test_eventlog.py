"""The Log on flash (firmware/eventlog.py on firmware/framelog.py) and the events in words
(firmware/events.py): paging newest first, kept across a restart, a power cut at every byte of the
last frame, eviction within the budget; on both runtimes."""

import os

from support import tmpdir

from firmware import devicemap
from firmware.eventlog import EventLog
from firmware.events import Events
from firmware.poller import Device, serial_problem

MAPS = devicemap.load_all()


class _Clock:
    """Set (``unix_ms``) or not yet (None), in start ``boot``."""

    def __init__(self, unix_ms=None, boot=7):
        self.unix_ms, self.boot, self.up = unix_ms, boot, 0
        self.offset_ms = None if unix_ms is None else unix_ms

    def stamp(self):
        self.up += 1000
        return [None if self.offset_ms is None else self.offset_ms + self.up, self.boot, self.up]

    def resolve(self, stamp):
        if stamp[0] is not None:
            return stamp[0]
        return None if stamp[1] != self.boot or self.offset_ms is None else self.offset_ms + stamp[2]


def _texts(log, n=100, before=None):
    return [e["text"] for e in log.page(n, before)[0]]


def test_events_come_back_newest_first_in_pages_and_after_a_restart():
    root = tmpdir()
    clock = _Clock()  # not set yet: the first events wait for it
    log = EventLog(root, clock)
    for i in range(1, 8):
        log.add("settings", "info", "event %d" % i)
    first, more = log.page(3)
    assert [e["seq"] for e in first] == [7, 6, 5] and more
    assert first[0]["time"] is None and first[0]["device"] is None and first[0]["kind"] == "settings"
    second, more = log.page(3, before=first[-1]["seq"])
    assert [e["text"] for e in second] == ["event 4", "event 3", "event 2"] and more
    assert log.page(3, before=2) == ([log.page(1, before=2)[0][0]], False)
    clock.offset_ms = 1796212800000  # the clock is set: this start's events get their time
    assert log.page(1)[0][0]["time"] == "2026-12-02T12:00:07Z", log.page(1)
    log.add("offline", "warning", "Went offline: no answer (timeout)", 1, 5, "BCU Battery, RS485-1 address 5")
    again = EventLog(root, _Clock(boot=8))  # a restart: the numbering goes on, the events are there
    assert again.seq == 8
    e = again.page(1)[0][0]
    assert e["device"] == {"channel": 1, "address": 5, "name": "BCU Battery, RS485-1 address 5"}
    assert e["time"] == "2026-12-02T12:00:08Z"  # had its time when written
    assert again.page(1, before=8)[0][0]["time"] is None  # an earlier start's untimed event stays so
    again.add("start", "info", "Logger started")
    assert _texts(again, 2) == ["Logger started", "Went offline: no answer (timeout)"]
    assert again.page(100)[0][-1]["seq"] == 1 and len(again.page(100)[0]) == 9
    # only the faults and warnings (the Log's "Faults and warnings"), paged the same way
    again.add("fault", "fault", "Fault: AC no utility fault", 1, 2, "ATESS Inverter HPS, RS485-1 address 2")
    problems, more = again.page(1, levels=["warning", "fault"])
    assert [e["text"] for e in problems] == ["Fault: AC no utility fault"] and more
    problems, more = again.page(5, before=problems[0]["seq"], levels=["warning", "fault"])
    assert [e["text"] for e in problems] == ["Went offline: no answer (timeout)"] and not more


def test_a_power_cut_at_every_byte_of_the_last_frame_loses_only_that_event():
    root = tmpdir()
    log = EventLog(root, _Clock(1796212800000))
    for i in range(3):
        log.add("state", "info", "state %d" % i)
    path = log.dir + "/" + log.names()[-1]
    with open(path, "rb") as f:
        whole = f.read()
    # the last frame starts where a log of only the first two events ends
    two = EventLog(tmpdir(), _Clock(1796212800000))
    for i in range(2):
        two.add("state", "info", "state %d" % i)
    with open(two.dir + "/" + two.names()[-1], "rb") as f:
        start = len(f.read())
    assert 0 < start < len(whole)
    for cut in range(start, len(whole)):
        with open(path, "wb") as f:
            f.write(whole[:cut])
        back = EventLog(root, _Clock(1796212800000))
        assert _texts(back) == ["state 1", "state 0"], (cut, _texts(back))
        assert back.seq == 2
        back.add("state", "info", "after the cut")  # the torn tail is cut off first
        assert _texts(back) == ["after the cut", "state 1", "state 0"], cut
        assert [e["seq"] for e in back.page(5)[0]] == [3, 2, 1]
    assert not [n for n in os.listdir(log.dir) if n.endswith(".tmp")]


def test_the_log_keeps_within_its_budget_dropping_the_oldest():
    root = tmpdir()
    log = EventLog(root, _Clock(1796212800000), block=512)
    log.file_bytes = 512
    log.limit(4 * 512)
    for i in range(200):
        log.add("fault", "fault", "Fault: number %d with some words to fill the file" % i)
        assert log.size() <= 4 * 512, (i, log.size())
    texts = _texts(log, 200)
    assert texts[0].endswith("199 with some words to fill the file") and len(texts) < 50, len(texts)
    seqs = [e["seq"] for e in log.page(200)[0]]
    assert seqs == list(range(200, 200 - len(seqs), -1))  # the newest, none missing between
    long = "x" * 400
    log.add("settings", "info", long)
    assert _texts(log, 1)[0].endswith("...") and len(_texts(log, 1)[0]) < 255


class _Store:
    def __init__(self):
        self.got = []

    def add(self, kind, level, text, channel=None, address=None, name=None):
        self.got.append((kind, level, text, name))


def _inverter(model="PCS"):
    d = Device({"type": "atess_inverter", "channel": 1, "address": 1}, MAPS["atess_inverter"])
    d.model = model
    return d


def test_device_changes_in_words():
    store = _Store()
    ev = Events(store, MAPS)
    inv = _inverter()
    name = "ATESS Inverter PCS, RS485-1 address 1"
    ev.changed(inv, {"event": "online", "serial": "ATS1000001"})
    ev.changed(inv, {"event": "offline", "reason": "unit 1: no reply in 500 ms"})
    m = inv.map
    ev.point_changed(inv, m.point("fault_word_3"), 0, 0x0100)
    ev.point_changed(inv, m.point("fault_word_3"), 0x0100, 0x0001)
    ev.point_changed(inv, m.point("running_state"), 2, 3)
    ev.point_changed(inv, m.point("running_state"), 3, 42)
    inv.serial, inv.serial_problem = "ATS-1", serial_problem("ATS-1")  # as the poller leaves them
    ev.changed(inv, {"event": "online", "serial": "ATS-1"})
    assert store.got == [
        ("online", "info", "Came online, serial number ATS1000001", name),
        ("offline", "warning", "Went offline: no answer (timeout)", name),
        ("fault", "fault", "Fault: AC no utility fault", name),
        ("fault", "fault", "Fault: AC WU over-voltage fault", name),
        ("fault_cleared", "info", "Fault cleared: AC no utility fault", name),
        ("state", "fault", "Running state: Fault (was On-grid)", name),
        ("state", "info", "Running state: Running state 42 (not in the register list) (was Fault)", name),
        ("online", "warning", "Came online, serial number ATS-1 (not valid: must be 10 characters, has 5; "
                              "the server may not show this device)", name),
    ], store.got


def test_settings_starts_and_resets_in_words():
    store = _Store()
    ev = Events(store, MAPS)
    ev.know_devices([{"type": "bcu_battery", "channel": 2, "address": 11}])
    ev.settings_saved(("network", "rs485_2"))
    ev.settings_saved(("devices",), [{"type": "mbms_battery", "channel": 2, "address": 12}])
    ev.settings_saved(None)  # a factory reset: it says so itself
    ev.started("1.2.3", "watchdog")
    ev.factory_reset("the reset button")
    texts = [(k, level, t) for k, level, t, _ in store.got]
    assert texts == [
        ("settings", "info", "Settings changed from the web page: network"),
        ("settings", "info", "Settings changed from the web page: RS485-2 line"),
        ("settings", "info", "Device added from the web page: MBMS Battery, RS485-2 address 12"),
        ("settings", "info", "Device deleted from the web page: RS485-2 address 11"),
        ("start", "warning", "Logger started (EnerLog 1.2.3) after the watchdog restarted it (a task stopped "
                             "making progress)"),
        ("settings", "warning", "Factory reset from the reset button: all data cleared, settings back to their "
                                "defaults (identity kept)"),
    ], texts


def test_device_settings_written_in_words():
    store = _Store()
    ev = Events(store, MAPS)
    inv = _inverter("HPS")
    ev.written({"result": "written", "who": "page admin", "channel": 1, "address": 1, "point": "work_mode",
                "old": 0, "new": 12, "read_back": 12}, inv)
    ev.written({"result": "written", "who": "MQTT", "channel": 1, "address": 1, "point": "charge_cutoff_soc",
                "old": 90, "new": 95, "read_back": 95}, inv)
    ev.written({"result": "written", "who": "TCP 127.0.0.1:5000", "channel": 1, "address": 9, "register": 26,
                "old": 1, "new": 2, "read_back": 2}, None)
    ev.written({"result": "too_soon", "who": "MQTT", "channel": 1, "address": 1, "point": "work_mode"}, inv)
    assert [(k, t) for k, _, t, _ in store.got] == [
        ("write", "Work mode set to Grid access control (was Load first) by the web page (user admin)"),
        ("write", "Charge cut-off SOC set to 95 % (was 90 %) by the server (MQTT)"),
        ("write", "Register 26 set to 2 (was 1) by a Modbus TCP client (127.0.0.1:5000)"),
    ], store.got


def test_the_recorder_tells_the_log_in_words():
    from firmware.log import Log
    from firmware.recorder import Recorder
    from firmware.spool import Spool

    class _Monitor:
        pollers = []

        def all_devices(self):
            return [inv]

    inv = _inverter("HPS")
    inv.good_polls, inv.online = 1, True
    store = _Store()
    rec = Recorder(_Monitor(), Spool(tmpdir()), _Clock(1796212800000), Log(echo=False), 300,
                   events=Events(store, MAPS))
    m = inv.map
    at = m.offset(m.point("fault_word_3"))
    rec.polled(inv)  # the first look: remembered, nothing logged
    inv.raw[at] = 0x01  # 0x0100: bit 0 once the bytes are swapped
    rec.polled(inv)
    inv.raw[at] = 0
    rec.polled(inv)
    rec.changed(inv, {"event": "offline", "reason": "reply CRC 1234, computed 5678"})
    assert [(k, t) for k, _, t, _ in store.got] == [
        ("fault", "Fault: AC no utility fault"), ("fault_cleared", "Fault cleared: AC no utility fault"),
        ("offline", "Went offline: garbled answers (wrong check code)")], store.got
    rec.events = Events(None)  # a Log that fails: the recorder and the poll go on
    rec.changed(inv, {"event": "online", "serial": None})
