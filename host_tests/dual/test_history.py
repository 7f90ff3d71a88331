"""The history on flash: 5-minute points and daily energy, power cuts, budgets (both runtimes)."""

import os

from support import raises, tmpdir

from firmware import devicemap, history
from firmware.log import Log
from firmware.poller import Device
from firmware.storage import Storage

MAPS = devicemap.load_all()
DAY = 20000  # 2024-10-04 in days since 1970
T0 = DAY * 86400


def _device(dtype, channel, address, model=None):
    d = Device({"type": dtype, "channel": channel, "address": address}, MAPS[dtype])
    d.model = model
    d.good_polls, d.online = 1, True
    return d


def _set(d, name, raw_value):
    """Puts the register value(s) ``raw_value`` under point ``name``, as a poll would."""
    pt = d.map.point(name)
    at = d.map.offset(pt)
    for k in range(pt.regs - 1, -1, -1):
        d.raw[at + 2 * k], d.raw[at + 2 * k + 1] = (raw_value >> 8) & 0xFF, raw_value & 0xFF
        raw_value >>= 16


def _series(h, *args):
    return list(h.series(*args))


def _history(root):
    return history.History(root, MAPS, Log(echo=False))


def test_series_returns_what_the_devices_held_at_each_slot():
    h = _history(tmpdir())
    inv = _device("atess_inverter", 1, 2, "HPS")
    meter = _device("chint_dtsu666", 3, 21)
    quiet = _device("bcu_battery", 2, 11)
    quiet.online = False  # offline: never recorded
    expect = []
    for slot in range(0, 288, 7):
        _set(inv, "battery_soc", 20 + slot % 70)
        _set(inv, "battery_power", (-300 + slot) & 0xFFFF)
        h.record(T0 + slot * 300 + 17, [inv, meter, quiet])
        v = inv.values(main_only=True)
        expect.append((T0 + slot * 300, v["battery_soc"][0], v["battery_power"][0]))
    soc = _series(h, 1, 2, "battery_soc", T0, T0 + 86399)
    power = _series(h, 1, 2, "battery_power", T0, T0 + 86399)
    assert soc == [(t, s) for t, s, _ in expect], soc[:5]
    assert power == [(t, p) for t, _, p in expect] and power[0][1] < 0, power[:3]
    assert _series(h, 2, 11, "soc", T0, T0 + 86399) == []
    assert len(_series(h, 3, 21, "active_power", T0, T0 + 86399)) == len(expect)
    # a window: only the slots inside it
    assert [t for t, _ in _series(h, 1, 2, "battery_soc", T0 + 3600, T0 + 7200)] == \
        [t for t, _, _ in expect if T0 + 3600 <= t <= T0 + 7200]
    assert _series(h, 1, 2, "no_such_point", T0, T0 + 86399) == []


def _pv(entries):
    """(day, channel, address, PV kWh) of the energy entries, the other counters checked to be 0."""
    out = []
    for day, ch, addr, energy in entries:
        assert all(v == 0 for k, v in energy.items() if k != "pv_energy_total"), energy
        out.append((day, ch, addr, energy.get("pv_energy_total")))
    return out


def test_daily_energy_across_midnight_and_a_restart():
    root = tmpdir()
    h = _history(root)
    inv = _device("atess_inverter", 1, 1, "HPS")
    pcs = _device("atess_inverter", 1, 4, "PCS")  # no PV: its other counters only (battery, load, grid)
    total = 1000 * 10  # pv_energy_total, 0.1 kWh
    for slot in range(0, 288, 12):  # day 1: +0.5 kWh a slot
        _set(inv, "pv_energy_total", total)
        if slot == 144:
            h = _history(root)  # a restart at noon: the day's first value comes back from flash
        h.record(T0 + slot * 300, [inv, pcs])
        total += 5
    day1 = (total - 5 - 1000 * 10) / 10
    today = list(h.energy(DAY, DAY))
    assert _pv(today) == [(DAY, 1, 1, day1), (DAY, 1, 4, None)], today  # so far, from memory
    assert sorted(today[1][3]) == ["battery_charge_energy_total", "battery_discharge_energy_total",
                                   "grid_export_energy_total", "grid_import_energy_total", "load_energy_total"]
    _set(inv, "pv_energy_total", total)
    h.record(T0 + 86400 + 60, [inv])  # the first slot of day 2 closes day 1
    got = _pv(h.energy(DAY, DAY + 1))
    assert got[0] == (DAY, 1, 1, day1), got
    # the last reading of day 1 (23:00) is day 2's first: what was counted after it belongs to day 2
    assert (DAY + 1, 1, 1, 0.5) in got, got
    assert list(h.energy(DAY, DAY, channel=2)) == []


async def test_todays_energy_is_there_at_once_after_a_restart():
    root = tmpdir()
    h = _history(root)
    inv = _device("atess_inverter", 1, 1, "HPS")
    for k, total in enumerate((10000, 10020, 10050)):  # 1,000.0 then 1,005.0 kWh: 5 kWh so far
        _set(inv, "pv_energy_total", total)
        h.record(T0 + 8 * 3600 + k * 300, [inv])
    h = _history(root)  # a restart at 08:12, before the next 5-minute mark
    assert list(h.energy(DAY, DAY)) == []  # nothing known before the clock is
    await h.today(T0 + 8 * 3600 + 720)
    assert _pv(h.energy(DAY, DAY)) == [(DAY, 1, 1, 5.0)], list(h.energy(DAY, DAY))
    _set(inv, "pv_energy_total", 10060)
    h.record(T0 + 8 * 3600 + 900, [inv])  # the next mark counts on from the same first value
    assert _pv(h.energy(DAY, DAY)) == [(DAY, 1, 1, 6.0)]


def test_todays_energy_counts_up_to_the_live_counters_between_marks():
    h = _history(tmpdir())
    inv = _device("atess_inverter", 1, 1, "HPS")
    other = _device("atess_inverter", 1, 2, "PCS")  # read now, but never recorded today: not counted
    _set(inv, "pv_energy_total", 10000)
    h.record(T0 + 8 * 3600, [inv])
    _set(inv, "pv_energy_total", 10012)  # 1.2 kWh more at 08:03, before the next mark
    assert _pv(h.energy(DAY, DAY)) == [(DAY, 1, 1, 0.0)]  # the marks alone
    assert _pv(h.energy(DAY, DAY, devices=[inv, other])) == [(DAY, 1, 1, 1.2)]
    inv.online = False  # offline: its last mark counts, not a value it no longer reads
    assert _pv(h.energy(DAY, DAY, devices=[inv])) == [(DAY, 1, 1, 0.0)]
    inv.online, inv.model = True, "PCS"  # another model at that place now: not its counters
    assert _pv(h.energy(DAY, DAY, devices=[inv])) == [(DAY, 1, 1, 0.0)]
    inv.model = "HPS"
    h.record(T0 + 8 * 3600 + 300, [inv])  # the mark's figure is the live one it replaced
    assert _pv(h.energy(DAY, DAY)) == [(DAY, 1, 1, 1.2)]


async def test_a_counter_that_goes_back_counts_on_from_its_new_value():
    root = tmpdir()
    h = _history(root)
    inv = _device("atess_inverter", 1, 1, "HPS")
    for k, total in enumerate((10000, 10030, 50, 70)):  # 3 kWh, then the inverter replaced: 5.0, 7.0 kWh
        _set(inv, "pv_energy_total", total)
        if k == 2:
            assert _pv(h.energy(DAY, DAY, devices=[inv])) == [(DAY, 1, 1, 3.0)]  # read lower: not yet counted
        h.record(T0 + 8 * 3600 + k * 300, [inv])
    assert _pv(h.energy(DAY, DAY)) == [(DAY, 1, 1, 5.0)]  # 3 before, 2 after: never negative
    h = _history(root)  # a restart: the day's file counts the same
    await h.today(T0 + 8 * 3600 + 1200)
    assert _pv(h.energy(DAY, DAY)) == [(DAY, 1, 1, 5.0)]


def test_a_counter_read_low_once_is_a_glitch_not_a_reset():
    h = _history(tmpdir())
    inv = _device("atess_inverter", 1, 1, "HPS")
    got = []
    for k, total in enumerate((100000, 100500, 0, 100510)):  # an inverter restarting reads 0 once
        _set(inv, "pv_energy_total", total)
        h.record(T0 + 8 * 3600 + k * 300, [inv])
        got.append(_pv(h.energy(DAY, DAY))[0][3])
    assert got == [0.0, 50.0, 50.0, 51.0], got  # not 10,000 kWh and more


async def test_reading_todays_file_back_lets_the_other_tasks_run():
    """A day's file of 60 devices is ~550 KB: read back at a start in steps, never in one piece."""
    import asyncio

    root = tmpdir()
    h = _history(root)
    devices = [_device("atess_inverter", 1, a, "HPS") for a in range(1, 11)]
    for k in range(100):
        for d in devices:
            _set(d, "pv_energy_total", 10000 + k * d.address)
        h.record(T0 + k * 300, devices)
    h = _history(root)
    turns, done = [0], []

    async def other():
        while not done:
            turns[0] += 1
            await asyncio.sleep_ms(0) if hasattr(asyncio, "sleep_ms") else await asyncio.sleep(0)

    task = asyncio.create_task(other())
    await h.today(T0 + 100 * 300)
    done.append(1)
    await task
    frames = 100 * 10 * 2  # a P frame a device a slot, read twice: the counters, then the type table
    assert turns[0] >= frames // history.STEP - 2, turns
    assert _pv(h.energy(DAY, DAY)) == [(DAY, 1, a, 99 * a / 10) for a in range(1, 11)]


def test_a_day_that_ended_while_the_logger_was_off_gets_its_energy():
    root = tmpdir()
    h = _history(root)
    m = _device("eastron_sdm630", 3, 40)
    pt = m.map.point("import_energy_total")
    for k, kwh in enumerate((100.0, 101.5, 103.0)):
        _set(m, "import_energy_total", __import__("struct").unpack(">I", __import__("struct").pack(">f", kwh))[0])
        h.record(T0 + 3600 * (k + 1), [m])
    assert pt.unit == "kWh"
    h = _history(root)  # off from 03:00 until the next day
    h.record(T0 + 86400 + 3600, [m])
    got = list(h.energy(DAY, DAY))
    assert got == [(DAY, 3, 40, {"import_energy_total": 3.0, "export_energy_total": 0.0})], got


def test_a_power_cut_at_any_byte_loses_only_the_slot_being_written():
    root = tmpdir()
    h = _history(root)
    inv = _device("atess_inverter", 1, 3, "PBD")
    for slot in range(6):
        _set(inv, "battery_soc", 40 + slot)
        h.record(T0 + slot * 300, [inv])
    path = root + "/history/p%d.h" % DAY
    with open(path, "rb") as f:
        whole = f.read()
    sizes = []  # the file's length after each whole frame
    at = 0
    while at < len(whole):
        at += 1 + whole[at] + 4
        sizes.append(at)
    # frames across read boundaries: the same payloads whatever the piece size
    assert [p for p, _ in history.scan(path, chunk=7)] == list(history.payloads(path))
    assert [e for _, e in history.scan(path, chunk=3)] == sizes
    for cut in range(len(whole) + 1):
        with open(path, "wb") as f:
            f.write(whole[:cut])
        h = _history(root)
        _set(inv, "battery_soc", 99)
        h.record(T0 + 3000, [inv])  # the next slot after the cut
        got = _series(h, 1, 3, "battery_soc", T0, T0 + 86399)
        whole_slots = len([s for s in sizes[1:] if s <= cut])  # the first frame names the type
        assert got == [(T0 + k * 300, 40 + k) for k in range(whole_slots)] + [(T0 + 3000, 99)], (cut, got)
    assert not [n for n in os.listdir(root + "/history") if n.endswith(".tmp")]


def test_the_store_keeps_to_its_budget_oldest_days_first():
    h = _history(tmpdir())
    h.limit(9 * 4096)
    devices = [_device("atess_inverter", 1, a, "HPS") for a in range(1, 21)]
    for day in range(12):
        for slot in range(0, 288, 24):
            h.record(T0 + day * 86400 + slot * 300, devices)
    assert h.size() <= 9 * 4096 + 4096, h.size()
    days = sorted(int(n[1:-2]) for n in os.listdir(h.dir) if n.startswith("p"))
    assert days[-1] == DAY + 11 and days[0] > DAY, days  # the newest kept, the oldest gone
    assert _series(h, 1, 5, "battery_soc", T0 + 11 * 86400, T0 + 12 * 86400)  # today's slots are there


def test_a_week_of_60_devices_fits_the_16_mb_boards_history_share():
    """Bytes per slot for the simulated 60-device plant x 288 slots x 7 days, against the history's
    share of a 12 MB filesystem (the 16 MB boards' layout), with 400 days of energy beside it."""
    h = _history(tmpdir())
    kinds = [("atess_inverter", "PCS"), ("atess_inverter", "HPS"), ("bcu_battery", None),
             ("mbms_battery", None), ("chint_dtsu666", None), ("eastron_sdm630", None)]
    devices = [_device(kinds[i % 6][0], i // 20 + 1, i + 1, kinds[i % 6][1]) for i in range(60)]
    h.record(T0, devices)  # the first slot also names the types
    first = os.stat(h.dir + "/p%d.h" % DAY)[6]
    h.record(T0 + 300, devices)
    per_slot = os.stat(h.dir + "/p%d.h" % DAY)[6] - first
    h.record(T0 + 86400, devices)  # closes a day: one energy entry per device with counters
    energy_day = os.stat(h.dir + "/e%d.h" % history._year(DAY))[6]
    share = Storage(lambda: (4096, 4096, 3072, 3072, 3072, 0, 0, 0, 0, 255)).budgets()["history"]
    day_file = (first + per_slot * 288 + 4095) // 4096 * 4096  # in whole flash blocks
    kept = 8 * day_file  # 7 whole days and today's file, full at the day's end
    print("history: %d bytes a slot for 60 devices; a day %d bytes; 7 days and today %d; 400 days of "
          "energy about %d; share on a 12 MB filesystem %d" % (per_slot, day_file, kept, energy_day * 400, share))
    assert kept <= share * 7 // 8, (kept, share)
    assert energy_day * 400 <= share // 8, (energy_day, share)


def test_a_failed_write_loses_only_that_slot():
    root = tmpdir()
    h = _history(root)
    inv = _device("atess_inverter", 1, 2, "HPS")
    _set(inv, "battery_soc", 50)
    os.rmdir(root + "/history")  # the next append fails (as on a full flash)
    raises(OSError, h.record, T0, [inv])
    os.mkdir(root + "/history")
    _set(inv, "battery_soc", 51)
    h.record(T0 + 300, [inv])  # the type is named again in the file
    assert _series(h, 1, 2, "battery_soc", T0, T0 + 86399) == [(T0 + 300, 51)]


def test_a_clock_set_back_records_nothing_twice_and_a_wrong_date_goes_first():
    root = tmpdir()
    h = _history(root)
    inv = _device("atess_inverter", 1, 2, "HPS")
    for slot in range(10):
        _set(inv, "battery_soc", slot)
        h.record(T0 + slot * 300, [inv])
    _set(inv, "battery_soc", 99)
    h.record(T0 + 5 * 300 + 10, [inv])  # a re-sync 25 minutes back: slot 5 is kept already
    assert [v for _, v in _series(h, 1, 2, "battery_soc", T0, T0 + 86399)] == list(range(10))
    h.record(T0 + 40 * 86400, [inv])  # a clock 40 days ahead for one slot
    h.record(T0 + 11 * 300, [inv])  # set right: recording goes on from the true time
    names = sorted(os.listdir(h.dir))
    assert "p%d.h" % (DAY + 40) in names and len(_series(h, 1, 2, "battery_soc", T0, T0 + 86399)) == 11
    h.limit(2 * 4096)  # over budget: the day from the future goes, the day being written stays
    names = sorted(os.listdir(h.dir))
    assert "p%d.h" % DAY in names and "p%d.h" % (DAY + 40) not in names, names


def test_a_repair_cut_short_leaves_no_file_behind():
    root = tmpdir()
    h = _history(root)
    with open(h.dir + "/p%d.h.tmp" % DAY, "wb") as f:
        f.write(b"half a copy")
    h = _history(root)
    assert os.listdir(h.dir) == []
