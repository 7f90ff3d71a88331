"""Register maps decode to the numbers worked out by hand from the published register tables.

The addresses and raw values here come from shared/design/register-maps.md, not from the map
files: a wrong address, type, scale or word order in a map fails these tests.
"""

import struct

from support import raises, tmpdir

from firmware import devicemap
from firmware.devicemap import MapError
from firmware.log import Log

MAPS = devicemap.load_all()


def regs_to_bytes(regs):
    out = bytearray()
    for r in regs:
        out += bytes([(r >> 8) & 0xFF, r & 0xFF])
    return out


def f32_regs(v):
    hi, lo = struct.unpack(">HH", struct.pack(">f", v))
    return [hi, lo]


def value(dmap, name, registers_by_address, model=None):
    """Decodes point ``name`` after placing raw registers where the register table says they are."""
    pt = dmap.point(name)
    assert pt is not None, name
    if model:
        assert not pt.models or model in pt.models, (name, model)
    i = dmap.block_of(pt)
    fn, start, count = dmap.blocks[i]
    regs = [0] * count
    for addr, v in registers_by_address.items():
        regs[addr - start] = v
    # As the poller does: the block's reply, of which the device keeps the mapped registers.
    raw = bytearray(dmap.raw_size)
    dmap.keep(i, memoryview(regs_to_bytes(regs)), raw)
    return devicemap.decode(pt, raw, dmap.offset(pt))


def test_every_shipped_map_loads():
    assert sorted(MAPS) == ["atess_inverter", "bcu_battery", "chint_dtsu666", "eastron_sdm630", "mbms_battery"]
    for m in MAPS.values():
        for block in m.blocks:
            assert block[2] <= 125


def test_a_device_keeps_exactly_the_registers_its_points_use():
    for m in MAPS.values():
        raw = bytearray(m.raw_size)
        replies = []
        for i, (_, addr, count) in enumerate(m.blocks):  # every register of every block different
            reply = regs_to_bytes([(addr + k) * 7 + i for k in range(count)])
            replies.append(reply)
            m.keep(i, memoryview(reply), raw)
        used = set()
        for pt in m.polled():
            i = m.block_of(pt)
            at, off = 2 * (pt.address - m.blocks[i][1]), m.offset(pt)
            assert raw[off : off + 2 * pt.regs] == replies[i][at : at + 2 * pt.regs], (m.type, pt.name)
            used.update(range(off, off + 2 * pt.regs))
        # Nothing but runs of mapped registers, gaps under 4 registers closed up.
        assert len(used) <= m.raw_size <= len(used) + 6 * len(m.polled()), m.type
    inv = MAPS["atess_inverter"]
    # its 8 fault words and the PBD's 6 (issue 19) made it 154 bytes
    assert sum(2 * b[2] for b in inv.blocks) == 560 and inv.raw_size <= 160, inv.raw_size


def test_atess_inverter_by_hand():
    m = MAPS["atess_inverter"]
    # input register 1: battery voltage, i16, 0.1 V: 5123 -> 512.3 V
    assert value(m, "battery_voltage", {1: 5123}) == 512.3
    # input register 2: battery current, i16, 0.1 A: 0xFF38 = -200 -> -20.0 A
    assert value(m, "battery_current", {2: 0xFF38}) == -20.0
    # 16: output frequency, u16, 0.01 Hz: 5002 -> 50.02 Hz (the captured HPS100 upload)
    assert value(m, "output_frequency", {16: 5002}, "HPS") == 50.02
    # 47: SOC %, u16: 99
    assert value(m, "battery_soc", {47: 99}) == 99
    # 51: PV1 power observed negative: signed; 0xFFF6 = -10 -> -1.0 kW
    assert value(m, "pv1_power", {51: 0xFFF6}, "HPS") == -1.0
    # 64-65: PV energy total, u32 high word first, 0.1 kWh: 0x0001 0x86A0 = 100000 -> 10000.0 kWh
    assert value(m, "pv_energy_total", {64: 0x0001, 65: 0x86A0}, "PBD") == 10000.0
    # 36: ambient temperature, i16, 0.1 C: 330 -> 33.0 C
    assert value(m, "ambient_temperature", {36: 330}) == 33.0
    # 171: BMS max temp in the high byte, min in the low byte, signed: 0x21F6 -> 33 C and -10 C
    assert value(m, "bms_max_temperature", {171: 0x21F6}) == 33
    assert value(m, "bms_min_temperature", {171: 0x21F6}) == -10
    # 174/175: cell voltages in mV (the capture: 3436 / 3326)
    assert value(m, "max_cell_voltage", {174: 3436}) == 3436
    # 270-279: hardware version, ASCII
    assert value(m, "hardware_version", {270: 0x5633, 271: 0x2E32, 272: 0x3200}) == "V3.22"
    # models by holding register 43
    assert (m.model_of(22001), m.model_of(22017), m.model_of(21016), m.model_of(23003)) == ("HPS", "HPS", "PCS", "PBD")
    assert m.model_of(22018) is None
    assert m.serial["address"] == 180 and m.serial.get("function", 3) == 3
    # PCS has no PV; PBD has no output line voltage
    assert "pv1_power" not in [p.name for p in m.polled("PCS")]
    assert "output_voltage_uv" not in [p.name for p in m.polled("PBD")]
    writable = sorted(p.name for p in m.points if p.writable)
    assert writable == ["charge_cutoff_soc", "discharge_cutoff_soc", "ems_enable", "on_off", "output_power_limit",
                        "work_mode"], writable
    assert m.point("on_off").address == 0 and m.point("work_mode").address == 26


def test_rack_bms_starting_point_by_hand():
    for name, prefix in (("bcu_battery", "rack"), ("mbms_battery", "system")):
        m = MAPS[name]
        # 0x2100 rack voltage 0.1 V; 0x2101 current 0.1 A signed; 0x2103 SOC %; 0x210A max temp 0.1 C signed
        assert value(m, prefix + "_voltage", {0x2100: 5120}) == 512.0
        assert value(m, prefix + "_current", {0x2101: 0xFF9C}) == -10.0
        assert value(m, "soc", {0x2103: 87}) == 87
        assert value(m, "max_temperature", {0x210A: 0xFFF6}) == -1.0
        assert value(m, "discharge_current_limit", {0x2110: 1200}) == 120.0


def test_meters_by_hand():
    m = MAPS["chint_dtsu666"]
    # DTSU666: float32 high word first, raw x0.1 V at 0x2006 (Ua), x0.001 A at 0x200C, x0.1 W at 0x2012
    assert value(m, "voltage_a", dict(zip((0x2006, 0x2007), f32_regs(2301.0)))) == 230.1
    assert value(m, "current_a", dict(zip((0x200C, 0x200D), f32_regs(4350.0)))) == 4.35
    assert value(m, "active_power", dict(zip((0x2012, 0x2013), f32_regs(-15000.0)))) == -1500.0
    assert value(m, "frequency", dict(zip((0x2044, 0x2045), f32_regs(4998.0)))) == 49.98
    assert value(m, "import_energy_total", dict(zip((0x101E, 0x101F), f32_regs(1234.5)))) == 1234.5
    assert value(m, "export_energy_total", dict(zip((0x1028, 0x1029), f32_regs(12.25)))) == 12.25
    s = MAPS["eastron_sdm630"]
    # SDM630: function 4, float32 in engineering units
    assert s.point("voltage_l1").function == 4
    assert value(s, "voltage_l1", dict(zip((0, 1), f32_regs(230.5)))) == 230.5
    assert value(s, "total_power", dict(zip((0x34, 0x35), f32_regs(4200.0)))) == 4200.0
    assert value(s, "frequency", dict(zip((0x46, 0x47), f32_regs(50.0)))) == 50.0
    assert value(s, "import_energy_total", dict(zip((0x48, 0x49), f32_regs(77.25)))) == 77.25
    assert value(s, "total_energy", dict(zip((0x156, 0x157), f32_regs(99.5)))) == 99.5


def test_ascii_with_bytes_that_are_not_text():
    pt = devicemap.point("serial", "ascii", count=3)
    assert devicemap.decode(pt, b"A\xffB\x00\x00\x00", 0) == "A?B"


def test_word_order_and_signed_32():
    pt = devicemap.point("energy", "i32", order="little")
    assert devicemap.decode(pt, regs_to_bytes([0xFFFE, 0xFFFF]), 0) == -2  # low word first
    pt = devicemap.point("energy", "i32")
    assert devicemap.decode(pt, regs_to_bytes([0x0001, 0x0000]), 0) == 65536


def _write(folder, name, text):
    with open(folder + "/" + name, "w") as f:
        f.write(text)


def test_malformed_maps_are_refused_with_a_clear_message():
    d = tmpdir()
    good = '{"type": "%s", "blocks": [{"function": 4, "address": 0, "count": 10}], "points": [%s]}'
    pt = '{"name": "v", "function": 4, "address": 1, "type": "u16"}'
    cases = [
        ("a.json", "{not json", "a.json: not valid JSON"),
        ("b.json", good % ("b", pt.replace("u16", "u17")), "b.json: points[0].type: 'u17' is not one of"),
        ("c.json", good % ("c", pt.replace('"address": 1', '"address": 10')),
         "register 10 (function 4) is in no block"),
        ("d.json", good % ("d", pt + "," + pt), "points[1].name: 'v' is used twice"),
        ("e.json", good.replace('"count": 10', '"count": 126') % ("e", pt), "blocks[0]: 1-125 registers"),
        ("f.json", good % ("g", pt), "type 'g' must match the file name"),
        ("h.json", good % ("h", pt.replace('"type": "u16"', '"type": "u16", "writable": true').replace(
            '"function": 4', '"function": 4')), "only single holding registers"),
        ("i.json", '{"type": "i", "points": []}', "i.json: blocks is missing"),
        ("j.json", good % ("j", pt.replace('"type": "u16"', '"type": "u16", "scale": 0')), "scale: must be a non-zero"),
        ("k.json", good.replace('"points"', '"serial": {"address": 0, "count": "5"}, "points"') % ("k", pt),
         "serial: function 3 or 4, count 1-16"),
        ("l.json", good.replace('"points"', '"model": {"address": 43, "ranges": [["A", "1", "9"]]}, "points"')
         % ("l", pt), "model.ranges: each is [name, first code, last code]"),
        ("m.json", good % ("m", pt.replace('"type": "u16"', '"type": "ascii", "count": "3"')), "count: a whole number"),
        ("n.json", good % ("n", pt.replace('"type": "u16"', '"type": "u16", "models": "HPS"')), "models: a list"),
    ]
    for name, text, words in cases:
        _write(d, name, text)
        exc = raises(MapError, devicemap.load, d + "/" + name)
        assert words in str(exc), (name, str(exc))
    _write(d, "ok.json", good % ("ok", pt))
    log = Log(echo=False)
    maps = devicemap.load_all(d, log)
    assert list(maps) == ["ok"], list(maps)  # a malformed file is left out, the rest load
    logged = [e[2] for e in log.recent()]
    assert len(logged) == len(cases) and all("register map refused" in m for m in logged), logged
