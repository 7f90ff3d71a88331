"""The dashboard's figures (firmware/plant.py): summed by the maps' roles, signs as the contract
says, the best-ranked type counted once (a meter's grid figures over an inverter's), None where no
live device reports a figure."""

import struct

from firmware import devicemap, plant
from firmware.poller import Device

MAPS = devicemap.load_all()


def _device(dtype, channel, address, model=None, values=None):
    """A device that answered, its points ``values`` {name: value in the point's unit} as raw registers."""
    m = MAPS[dtype]
    d = Device({"type": dtype, "channel": channel, "address": address}, m)
    d.model = model
    for name, v in (values or {}).items():
        _set(d, name, v)
    d.online, d.good_polls = True, 1
    from firmware.compat import ticks_ms
    d.last_seen_ms = ticks_ms()
    return d


def test_powers_sum_by_role_with_the_contracts_signs():
    hps = _device("atess_inverter", 1, 1, "HPS", {"pv1_power": 3.2, "battery_power": -1.1, "battery_soc": 80,
                                                   "load_active_power": 2.1})
    pbd = _device("atess_inverter", 1, 2, "PBD", {"pv1_power": 1.0, "battery_power": 0.5, "battery_soc": 90})
    meter = _device("chint_dtsu666", 3, 21, values={"active_power": -400.0})  # W: exporting 0.4 kW
    bcu = _device("bcu_battery", 2, 11, values={"soc": 10})
    out, quality = plant.powers([hps, pbd, meter, bcu])
    assert out == {"pv_kw": 4.2, "battery_kw": -0.6, "grid_kw": -0.4, "load_kw": 2.1, "battery_soc": 85.0}, out
    assert quality == "live"
    # the inverters' SOC counts (rank 2) over the battery board's (rank 3); without them, the board's
    assert plant.powers([bcu])[0]["battery_soc"] == 10
    meter.online = False  # an offline device counts for nothing
    out, _ = plant.powers([meter, bcu])
    assert out["grid_kw"] is None and out["pv_kw"] is None
    assert plant.powers([]) == ({"pv_kw": None, "battery_kw": None, "grid_kw": None, "load_kw": None,
                                 "battery_soc": None}, "none")


def test_energy_today_from_the_history_by_role_never_twice():
    hps = _device("atess_inverter", 1, 1, "HPS")
    meter = _device("eastron_sdm630", 3, 40)
    today = [(20000, 1, 1, {"pv_energy_total": 12.5, "grid_import_energy_total": 3.0, "grid_export_energy_total": 1.0,
                            "battery_charge_energy_total": 4.0, "battery_discharge_energy_total": 2.5,
                            "load_energy_total": 9.0}),
             (20000, 3, 40, {"import_energy_total": 2.75, "export_energy_total": 0.5}),
             (20000, 2, 99, {"soc": 5.0})]  # a device no longer configured: left out
    assert plant.energy([hps, meter], today) == {
        "pv_kwh": 12.5, "load_kwh": 9.0, "grid_import_kwh": 2.75, "grid_export_kwh": 0.5,
        "battery_charge_kwh": 4.0, "battery_discharge_kwh": 2.5}  # the grid's from the meter, not the inverter
    assert plant.energy([hps], today[:1])["grid_import_kwh"] == 3.0  # no meter: the inverter's
    assert set(plant.energy([], []).values()) == {None}


def test_a_plant_figure_over_a_day_from_the_history():
    from support import tmpdir

    from firmware.history import History
    from firmware.log import Log

    h = History(tmpdir(), MAPS, Log(echo=False))
    t0 = 20000 * 86400 + 8 * 3600  # 08:00 of a day
    hps = _device("atess_inverter", 1, 1, "HPS")
    pbd = _device("atess_inverter", 1, 2, "PBD")
    meter = _device("chint_dtsu666", 3, 21)
    for k in range(4):  # four slots; the PBD misses the third
        for d, name, v in ((hps, "pv1_power", 3.0 + k), (pbd, "pv1_power", 1.0), (meter, "active_power", -400.0),
                           (hps, "battery_soc", 80), (pbd, "battery_soc", 90)):
            _set(d, name, v)
        h.record(t0 + k * 300, [hps, meter] + ([] if k == 2 else [pbd]))
    pv = list(plant.series(h, [hps, pbd, meter], "pv_kw", t0, t0 + 3600))
    assert pv == [(t0, 4.0), (t0 + 300, 5.0), (t0 + 600, 5.0), (t0 + 900, 7.0)], pv  # 08:10: the HPS alone
    assert list(plant.series(h, [hps, pbd, meter], "grid_kw", t0, t0 + 3600))[0] == (t0, -0.4)  # W made kW
    assert list(plant.series(h, [hps, pbd, meter], "battery_soc", t0, t0 + 3600))[0] == (t0, 85.0)  # the mean
    assert list(plant.series(h, [hps, pbd, meter], "load_kw", t0, t0 + 3600)) == [(t0 + k * 300, 0.0) for k in range(4)]
    assert list(plant.series(h, [meter], "pv_kw", t0, t0 + 3600)) == []  # no device has the role
    assert list(plant.series(h, [hps], "pv_kw", t0 + 301, t0 + 899)) == [(t0 + 600, 5.0)]  # within the span only


def _set(d, name, v):
    """Point ``name`` of ``d`` holds ``v`` (in its unit), as raw registers, as a poll leaves it."""
    pt = d.map.point(name)
    at = d.map.offset(pt)
    if pt.type == "f32":
        raw = struct.pack(">f", v / pt.scale)
    else:
        fmt = {"i16": ">h", "u32": ">I", "i32": ">i"}.get(pt.type, ">H")
        raw = struct.pack(fmt, int(round(v / pt.scale)))
    d.raw[at : at + len(raw)] = raw


def test_device_states_count_each_kind_and_name_the_ones_needing_attention():
    running = _device("atess_inverter", 1, 1, "HPS", {"running_state": 2})
    faulted = _device("atess_inverter", 1, 2, "HPS", {"running_state": 3, "fault_word_3": 0x0100})
    meter = _device("chint_dtsu666", 3, 21)  # no running state in its map
    gone = _device("bcu_battery", 2, 11)
    gone.online, gone.good_polls, gone.polls, gone.last_error = False, 0, 3, "unit 11: no reply in 500 ms"
    got = plant.device_states([running, faulted, meter, gone], None)
    assert {k: got[k] for k in plant.KINDS} == {"running": 1, "waiting": 0, "fault": 1, "offline": 1, "unknown": 1}, got
    assert got["attention"] == [
        {"channel": 1, "address": 2, "name": "ATESS Inverter HPS, RS485-1 address 2", "kind": "fault",
         "text": "Fault", "faults": ["AC no utility fault"]},
        {"channel": 2, "address": 11, "name": "BCU Battery, RS485-2 address 11", "kind": "offline",
         "text": "Never answered (timeout)", "faults": []}], got["attention"]
    many = [_device("atess_inverter", 1, a, "HPS", {"running_state": 3}) for a in range(1, 16)]
    got = plant.device_states(many, None)
    assert got["fault"] == 15 and len(got["attention"]) == plant.MAX_ATTENTION  # counted, not all named


def test_totals_sum_the_counters_by_role_an_offline_devices_last_reading_too():
    hps = _device("atess_inverter", 1, 1, "HPS", {"pv_energy_total": 1200.5, "grid_import_energy_total": 300.0})
    pbd = _device("atess_inverter", 1, 2, "PBD", {"pv_energy_total": 800.0})
    pbd.online = False  # offline: its counter's last reading still counts (a total only rises)
    meter = _device("chint_dtsu666", 3, 21, values={"import_energy_total": 900.25})
    never = _device("atess_inverter", 1, 3, "PBD", {"pv_energy_total": 50.0})
    never.good_polls = 0  # never read: its buffer holds nothing of the device
    got = plant.totals([hps, pbd, meter, never])
    assert got["pv_kwh"] == 2000.5, got
    assert got["grid_import_kwh"] == 900.2, got  # the meter's (rank 1), not the inverter's as well
    assert got["battery_charge_kwh"] == 0.0 and plant.totals([])["pv_kwh"] is None, got
