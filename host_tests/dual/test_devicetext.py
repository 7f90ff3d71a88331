"""Maps carry human text: every point a label, every type its manual name, enum values and fault
bits in words; a device's name, state, faults and offline reason come out in words, and a value the
map does not name is said so (never an internal id, never an exception's text)."""

from firmware import devicemap, devicetext
from firmware.devicemap import MapError
from firmware.poller import Device

MAPS = devicemap.load_all()
TYPE_NAMES = {"atess_inverter": "ATESS Inverter", "bcu_battery": "BCU Battery", "mbms_battery": "MBMS Battery",
              "chint_dtsu666": "CHINT DTSU666 Meter", "eastron_sdm630": "Eastron SDM630 Meter"}


def _device(dtype, model=None, regs=None, channel=1, address=1):
    """A device that answered once, its registers zero but ``regs`` {point name: raw u16}."""
    m = MAPS[dtype]
    d = Device({"type": dtype, "channel": channel, "address": address}, m)
    d.model = model
    for name, v in (regs or {}).items():
        at = m.offset(m.point(name))
        d.raw[at], d.raw[at + 1] = v >> 8, v & 0xFF
    d.good_polls = d.polls = 1
    d.online = True
    return d


def test_every_type_and_point_has_words():
    assert {t: m.label for t, m in MAPS.items()} == TYPE_NAMES
    for t, m in MAPS.items():
        for pt in m.points:
            label = m.label_of(pt)
            assert label and "_" not in label and label[0].isupper(), (t, pt.name, label)
            assert label != pt.name
    # the roles the plant's summary needs are there, and the energy counters are kept by the history
    roles = {pt.role for m in MAPS.values() for pt in m.points if pt.role}
    assert roles == set(devicemap.ROLES), roles
    for m in MAPS.values():
        for pt in m.points:
            if pt.role and pt.role.endswith("_energy"):
                assert pt.main and pt.unit == "kWh", pt.name


def test_enum_values_and_fault_bits_in_words():
    inv = MAPS["atess_inverter"]
    rs = inv.point("running_state")
    assert [inv.text_of(rs, v) for v in (0, 2, 3, 5)] == ["Waiting", "On-grid", "Fault", "Off-grid"]
    assert inv.text_of(rs, 9) is None
    assert devicetext.value_text(inv, rs, 9) == "Running state 9 (not in the register list)"
    assert devicetext.value_text(inv, inv.point("work_mode"), 12) == "Grid access control"
    assert devicetext.value_text(inv, inv.point("operation_mode"), 17) == "Grid access control"
    # fault words: the vendor numbers the bits after swapping the register's bytes
    fw3 = inv.point("fault_word_3")
    assert devicetext.bit_names(inv, fw3, 0x0100) == ["AC no utility fault"]
    assert devicetext.bit_names(inv, fw3, 0x0001) == ["AC WU over-voltage fault"]  # bit 8 once swapped
    assert devicetext.bit_names(inv, fw3, 0x0020) == ["AC UV under-voltage fault"]  # bit 13
    assert devicetext.bit_names(inv, fw3, 0x0200) == ["AC grid phase sequence fault"]  # bit 1
    assert devicetext.bit_names(inv, fw3, 0x2000) == ["Fault bit 5 of fault word 3"]  # the list names none
    assert devicetext.bit_names(inv, inv.point("fault_word_1"), 0x0004) == ["Fault bit 10 of fault word 1"]
    assert devicetext.value_text(inv, fw3, 0) == "No fault"
    bcu = MAPS["bcu_battery"]
    assert devicetext.value_text(bcu, bcu.point("charge_indication"), 2) == "Charging"


def test_a_device_in_words():
    d = _device("atess_inverter", "HPS", {"running_state": 2})
    assert devicetext.name(d) == "ATESS Inverter HPS, RS485-1 address 1"
    assert devicetext.state(d) == {"kind": "running", "text": "On-grid"}
    assert devicetext.faults(d) == []
    d = _device("atess_inverter", "PCS", {"running_state": 3, "fault_word_3": 0x0100, "fault_word_6": 0x0010})
    assert devicetext.state(d) == {"kind": "fault", "text": "Fault"}
    assert devicetext.faults(d) == ["AC no utility fault", "Battery over-voltage fault"]
    assert devicetext.state(_device("atess_inverter", "HPS", {"running_state": 0}))["kind"] == "waiting"
    assert devicetext.state(_device("atess_inverter", "HPS", {"running_state": 77})) == \
        {"kind": "unknown", "text": "Running state 77 (not in the register list)"}
    pbd = _device("atess_inverter", "PBD", {"pbd_running_state": 2, "running_state": 3, "fault_word_1": 0x0100})
    assert devicetext.state(pbd) == {"kind": "running", "text": "Run"}  # the PBD's own registers
    assert devicetext.faults(pbd) == []  # HPS/PCS fault words are not a PBD's
    meter = _device("chint_dtsu666", channel=3, address=21)
    assert devicetext.name(meter) == "CHINT DTSU666 Meter, RS485-3 address 21"
    assert devicetext.state(meter) == {"kind": "unknown", "text": "Communicating"}
    e = devicetext.value_entry(MAPS["atess_inverter"], MAPS["atess_inverter"].point("running_state"), 5, "live")
    assert e == {"value": 5, "unit": "", "quality": "live", "label": "Running state", "text": "Off-grid"}


class _Clock:
    def time(self):
        return 1796212980  # 2026-12-02 12:03:00 UTC


def test_offline_reasons_in_words_never_exception_text():
    d = _device("bcu_battery", channel=2, address=11)
    d.online = False
    d.last_error = "unit 11: no reply in 500 ms"
    d.last_seen_ms = None
    assert devicetext.state(d) == {"kind": "offline", "text": "No answer (timeout)"}
    from firmware.compat import ticks_add, ticks_ms
    now = ticks_ms()
    d.last_seen_ms = ticks_add(now, -120000)  # two minutes ago
    assert devicetext.state(d, _Clock(), now)["text"] == "No answer since 12:01 UTC (timeout)"
    d.last_error = "reply CRC 1234, computed 5678"
    assert devicetext.offline_text(d, None) == "Garbled answers (wrong check code)"
    d.last_error = "unit 11 function 3: exception 2 (illegal data address)"
    assert devicetext.offline_text(d) == "Refused the read (illegal data address)"
    d.good_polls = 0
    d.last_error = "unit 11: no reply in 150 ms"
    assert devicetext.offline_text(d) == "Never answered (timeout)"
    fresh = Device({"type": "bcu_battery", "channel": 2, "address": 12}, MAPS["bcu_battery"])
    assert devicetext.offline_text(fresh) == "Not read yet"
    for text in ("No answer", "Garbled", "Refused", "Never", "Not read"):
        assert "Error" not in text and "errno" not in text.lower()


def test_a_map_with_bad_words_is_refused_naming_the_field():
    base = {"type": "x", "blocks": [{"function": 3, "address": 0, "count": 2}]}

    def load(pt):
        return devicemap.DeviceMap(dict(base, points=[dict({"name": "a", "function": 3, "address": 0,
                                                            "type": "u16"}, **pt)]), "x.json")

    for bad in ({"enum": {"zero": "Off"}}, {"bits": ["a"]}, {"role": "pv"}, {"label": 5},
                {"enum": {"0": "a"}, "kinds": {"broken": [0]}}):
        try:
            load(bad)
        except MapError as exc:
            assert "x.json: points[0]" in str(exc), exc
        else:
            raise AssertionError("accepted %r" % (bad,))
    m = load({})
    assert m.label_of(m.points[0]) == "A"  # a user's map without labels: the name in words, not an id with _
