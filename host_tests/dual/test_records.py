"""Upload records (compact on flash, JSON on the wire), the recorder, discovery and remote settings."""

import json

from support import tmpdir

from firmware import devicemap, records
from firmware.discovery import Discovery
from firmware.log import Log
from firmware.poller import Device
from firmware.recorder import Recorder
from firmware.remote import CommandError, _check
from firmware.spool import Spool

MAPS = devicemap.load_all()
BASE = "enerlog/AB12345678/"


def _device(dtype, channel, address, model=None, fill=0):
    d = Device({"type": dtype, "channel": channel, "address": address}, MAPS[dtype])
    d.model = model
    for j in range(0, len(d.raw), 2):  # a different register value at every address
        v = (fill + j // 2) & 0xFFFF
        d.raw[j], d.raw[j + 1] = v >> 8, v & 0xFF
    d.good_polls, d.online = 1, True
    return d


def _text(payload):
    """A rendered payload as one text: a state record comes in pieces (never joined on the logger)."""
    if isinstance(payload, list):
        assert all(isinstance(p, str) for p in payload) and max(len(p) for p in payload) < 120, payload
        return "".join(payload)
    return payload


def _render(rec, seq=1, resolve=None, hold=None):
    topic, text = records.Renderer(BASE, MAPS, resolve or (lambda st: st[0]), hold)(seq, rec)
    return topic, json.loads(_text(text))


def test_state_record_round_trip_matches_the_poller_values():
    for dtype, model in (("atess_inverter", "HPS"), ("atess_inverter", "PBD"), ("bcu_battery", None),
                         ("chint_dtsu666", None), ("eastron_sdm630", None)):
        d = _device(dtype, 2, 17, model, fill=123)
        rec = records.state(d, [1795000000123, 7, 5000])
        topic, obj = _render(rec, seq=42)
        assert topic == BASE + "2/17/state"
        assert obj["seq"] == 42 and obj["ts"] == 1795000000123 and obj["type"] == dtype
        assert obj.get("model") == model and obj["channel"] == 2 and obj["address"] == 17
        want = d.values()
        assert sorted(obj["values"]) == sorted(want)
        for name, (v, _) in want.items():
            if isinstance(v, float):
                assert abs(obj["values"][name] - v) <= 1e-6 * max(1, abs(v)), (name, v)
            else:
                assert obj["values"][name] == v, (name, v)


def test_an_inverter_record_is_compact():
    d = _device("atess_inverter", 1, 1, "HPS")
    rec = records.state(d, [1795000000123, 7, 5000])
    _, obj = _render(rec)
    text = json.dumps(obj)
    print("inverter state record: %d bytes on flash (+6 spool framing), %d bytes of JSON"
          % (len(rec), len(text)))
    assert len(rec) + 6 < 150 and len(rec) * 2 < len(text)


def test_floats_keep_the_points_digits():
    d = _device("atess_inverter", 1, 1, "HPS")
    pt = MAPS["atess_inverter"].point("battery_current")  # i16, scale 0.1
    off = d.map.offset(pt)
    d.raw[off], d.raw[off + 1] = 0xFF, 0xAE  # -82 -> -8.2 (MicroPython prints -8.199999999999999)
    _, text = records.Renderer(BASE, MAPS, lambda st: st[0])(1, records.state(d, [1, 0, 0]))
    text = _text(text)
    assert '"battery_current":-8.2,' in text, text
    assert devicemap.json_value(pt, -0.0) == "0" and devicemap.json_value(pt, float("nan")) == "null"


def test_time_unknown_then_resolved_or_held():
    d = _device("chint_dtsu666", 3, 21)
    rec = records.state(d, [None, 99, 1234])
    _, obj = _render(rec, resolve=lambda st: None)
    assert obj["ts"] is None and obj["boot"] == 99 and obj["uptime_ms"] == 1234
    _, obj = _render(rec, resolve=lambda st: 1795000000000 + st[2] if st[1] == 99 else None)
    assert obj["ts"] == 1795000001234 and "boot" not in obj
    r = records.Renderer(BASE, MAPS, lambda st: None, hold=lambda st: st[1] == 99)
    assert r(1, rec) is None  # waits for the clock's first sync


def test_events_unreadable_records_and_changed_maps():
    d = _device("bcu_battery", 2, 11)
    topic, obj = _render(records.event(d, [5, 1, 2], {"event": "offline", "reason": "no reply"}), seq=3)
    assert topic == BASE + "events"
    assert obj == {"seq": 3, "ts": 5, "channel": 2, "address": 11, "type": "bcu_battery",
                   "event": "offline", "reason": "no reply"}
    topic, obj = _render(b"\x01\x02", seq=4)
    assert topic == BASE + "events" and obj["event"] == "unreadable record"
    short = records.encode(records.STATE, 2, 11, "bcu_battery", None, [5, 1, 2], b"\x00\x01")
    _, obj = _render(short)
    assert obj["raw"] == "0001" and "values" not in obj  # kept, not lost, when the map changed


class _Clock:
    boot = 1

    def stamp(self):
        return [1795000000000, 1, 0]


class _Monitor:
    def __init__(self, devices):
        self.devices = devices
        self.pollers = []

    def all_devices(self):
        return self.devices


def test_recorder_samples_fresh_devices_and_publishes_changes():
    inv, bcu = _device("atess_inverter", 1, 1, "HPS"), _device("bcu_battery", 2, 11)
    bcu.online = False
    mon = _Monitor([inv, bcu])
    sp = Spool(tmpdir())
    kicks = []
    rec = Recorder(mon, sp, _Clock(), Log(echo=False), 300, kick=lambda: kicks.append(1))
    rec.sample()
    assert sp.backlog()[0] == 1  # the offline one is not sampled
    rec.sample()
    assert sp.backlog()[0] == 1  # no new poll since: no new record
    inv.good_polls += 1
    rec.sample()
    assert sp.backlog()[0] == 2 and len(kicks) == 2
    pt = MAPS["atess_inverter"].point("fault_word_1")
    off = inv.map.offset(pt)
    rec.polled(inv)  # first look: remembered, not an event
    inv.raw[off + 1] ^= 0x04
    rec.polled(inv)
    rec.polled(inv)  # unchanged since: nothing more
    rec.changed(bcu, {"event": "online", "serial": None})
    recs = sp.peek(10)
    assert len(recs) == 4
    _, change = _render(recs[2][1])
    assert change["event"] == "change" and change["point"] == "fault_word_1"
    assert change["value"] ^ change["previous"] == 4
    _, online = _render(recs[3][1])
    assert online["event"] == "online" and online["address"] == 11
    mon.devices = [bcu]  # inverter deleted: forgotten
    rec.sample()
    assert list(rec._seen) == []


def test_remote_commands_are_checked():
    # The command's shape here; the write's own rules (device, writable point, limits, steps) are
    # the write governor's (test_writes.py).
    ok = _check({"channel": 1, "address": 5, "point": "discharge_cutoff_soc", "value": 20})
    assert ok == (1, 5, "discharge_cutoff_soc", 20)
    bad = [
        ({"channel": 1, "address": 5, "point": "work_mode", "value": True}, "value: a number"),
        ({"channel": "1", "address": 5, "point": "work_mode", "value": 1}, "channel: a number"),
        ({"channel": 1, "point": "work_mode", "value": 1}, "address: a number"),
        ([1, 2], "a JSON object"),
    ]
    for cmd, why in bad:
        try:
            _check(cmd)
        except CommandError as exc:
            assert why in str(exc), (cmd, str(exc))
        else:
            raise AssertionError("accepted %r" % (cmd,))


def test_discovery_configs_and_removal():
    inv, meter = _device("atess_inverter", 1, 1, "PCS"), _device("chint_dtsu666", 3, 21)
    inv.serial = "ATS1000001"
    devs = [inv, meter]
    disc = Discovery(BASE, "AB12345678", "homeassistant", lambda: devs, 900)
    msgs = list(disc.messages())
    mains = [p.name for p in MAPS["atess_inverter"].polled("PCS") if p.main]
    inv_msgs = [m for m in msgs if "/AB12345678_1_1/" in m[0]]
    assert [m[0] for m in inv_msgs] == ["homeassistant/sensor/AB12345678_1_1/%s/config" % n for n in mains]
    assert all(isinstance(p, list) and max(len(x) for x in p) < 300 for _, p, _ in msgs), msgs[0]  # in pieces
    cfg = json.loads("".join(inv_msgs[0][1]))
    assert cfg["state_topic"] == BASE + "1/1/state" and cfg["availability_topic"] == BASE + "status"
    assert cfg["value_template"] == "{{ value_json['values']['%s'] }}" % mains[0]
    assert cfg["device"]["serial_number"] == "ATS1000001" and cfg["expire_after"] == 900
    soc = [json.loads("".join(p)) for t, p, _ in inv_msgs if t.endswith("/battery_soc/config")][0]
    assert soc["unit_of_measurement"] == "%" and soc["unique_id"] == "AB12345678_1_1_battery_soc"
    assert all(m[2] is True for m in msgs)
    assert list(disc.messages(False)) == []  # nothing changed: nothing sent again
    inv.model = "HPS"  # identified as another model: its configs again, the PCS-only ones cleared
    changed = list(disc.messages(False))
    assert changed and all("/AB12345678_1_1/" in t for t, _, _ in changed)
    hps = [p.name for p in MAPS["atess_inverter"].polled("HPS") if p.main]
    assert [t.split("/")[3] for t, p, _ in changed if p] == hps
    assert {t.split("/")[3] for t, p, _ in changed if not p} == set(mains) - set(hps)
    devs.remove(meter)
    again = list(disc.messages())
    cleared = [t for t, p, _ in again if p == b""]
    assert cleared and all("/AB12345678_3_21/" in t for t in cleared)
    assert len(cleared) == len([m for m in msgs if "/AB12345678_3_21/" in m[0]])
