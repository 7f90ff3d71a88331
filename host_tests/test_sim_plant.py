"""The simulated plant's model (tools/sim/powers.py) and its registers (tools/sim/plant.py), without
a bus: powers that balance, PV by daylight, batteries within the cut-off SOCs the inverters hold,
counters that integrate the powers; a seeded history (bench/history.py) that is a plant's days,
and a sim that goes on from where it ended. CPython only: the sim is a PC tool."""

import json
import os
import struct
import time

from bench.history import seed
from firmware import devicemap
from firmware.history import DAY_S, History
from firmware.log import Log
from tools.sim.plant import SETTINGS, Unit, default_layout
from tools.sim.powers import Site

MIDNIGHT = int(time.mktime((2030, 6, 1, 0, 0, 0, 0, 0, -1)))  # local midnight: the curves go by local time


def _plant(layout=None, at=MIDNIGHT):
    layout = layout or default_layout()
    site = Site(layout)
    units = {u.address: u for u in (Unit(*spec, site=site) for spec in layout)}
    site.start(at)
    return site, units


def _i16(v):
    return v - 0x10000 if v & 0x8000 else v


def test_every_inverter_and_the_meter_balance_through_two_days():
    site, units = _plant()
    peak_pv = 0
    for t in range(MIDNIGHT, MIDNIGHT + 2 * DAY_S, 600):
        for u in units.values():
            u.update(t)
        for inv in site.inverters.values():
            # PV + discharge + import = load + charge + export
            assert abs(inv.pv + inv.battery_kw + inv.grid - inv.load) < 1e-9, (t, inv.model)
            assert inv.pv >= 0 and inv.load >= 0
        # the registers (0.1 kW) say the same, within their rounding
        hps, pcs, pbd, meter = units[2].ir, units[1].ir, units[3].ir, units[21].hr
        grid_w = struct.unpack(">f", struct.pack(">HH", *meter[0x2012:0x2014]))[0] / 10
        pv = (_i16(hps[51]) + _i16(pbd[51])) / 10
        battery = (_i16(hps[17]) + _i16(pcs[17]) + _i16(pbd[17])) / 10
        load = (_i16(hps[49]) + _i16(pcs[49])) / 10
        assert abs(pv + battery + grid_w / 1000 - load) <= 0.35, (t, pv, battery, grid_w, load)
        assert abs(grid_w / 1000 - sum(i.grid for i in site.inverters.values())) < 0.01
        h = (t - MIDNIGHT) % DAY_S / 3600
        if h < 6 or h > 18:
            assert pv == 0, (h, pv)
        elif 11 <= h <= 13:
            assert pv > 0.5 * 70 * 0.6, (h, pv)  # near the peak, even on the dullest day
        peak_pv = max(peak_pv, pv)
        for bat in site.batteries:
            assert 10 - 0.5 <= bat.soc <= 95 + 0.5, (h, bat.soc)
    assert 40 < peak_pv <= 70, peak_pv


def test_counters_integrate_their_power_and_today_restarts_at_midnight():
    site, units = _plant()
    hps = site.inverters[(1, 2)]
    before = dict(hps.total)
    pv = load = 0.0
    for t in range(MIDNIGHT, MIDNIGHT + DAY_S, 60):  # the powers each minute, summed as the model steps
        units[2].update(t)
        pv += hps.pv / 60
        load += hps.load / 60
    assert abs((hps.total["pv"] - before["pv"]) - pv) < 0.01 * pv, (hps.total["pv"] - before["pv"], pv)
    assert abs((hps.total["load"] - before["load"]) - load) < 0.01 * load
    # the totals all differ (one counter per role, not one reported as all)
    assert len({round(v) for v in hps.total.values()}) == 6, hps.total
    assert hps.today["pv"] > 100 and units[2].ir[62] == min(int(hps.today["pv"] * 10 + 0.5), 0xFFFF)
    units[2].update(MIDNIGHT + DAY_S + 600)  # 00:10 the next day: today's counters started again
    assert hps.today["pv"] == 0 and 0 < hps.today["load"] < 5, hps.today


def test_the_cutoff_socs_the_inverter_holds_bound_its_battery_and_a_write_moves_them():
    site, units = _plant()
    hps = units[2]
    assert [hps.hr[r] for r in (0, 26, 32, 47, 58, 178)] == [1, 0, 0, 10, 100, 95] == \
        [SETTINGS[r] for r in (0, 26, 32, 47, 58, 178)]
    hps.hr[47], hps.hr[178] = 40, 60  # as a write leaves them
    socs = []
    for t in range(MIDNIGHT, MIDNIGHT + 2 * DAY_S, 300):
        hps.update(t)
        socs.append(site.inverters[(1, 2)].battery.soc)
    assert 39.5 <= min(socs[144:]) and max(socs[144:]) <= 60.5, (min(socs), max(socs))
    assert max(socs[144:]) > 57 and min(socs[144:]) < 43  # and it still used the room it had


def test_a_seeded_history_is_the_plants_days_and_the_sim_goes_on_from_its_end(tmp_path):
    flash = tmp_path / "flash"
    flash.mkdir()
    now = MIDNIGHT + 4 * DAY_S + 10 * 3600
    seed(str(flash), now, days=5)
    hist = History(str(flash), devicemap.load_all(), Log(echo=False))
    day = MIDNIGHT + DAY_S
    pv = dict(hist.series(1, 2, "pv1_power", day, day + DAY_S - 1))
    assert len(pv) == 288
    assert pv[day + 3 * 3600] == 0 and pv[day + 22 * 3600] == 0  # night
    noon = max(pv, key=pv.get)
    assert abs(noon - (day + 12 * 3600)) <= 2 * 3600 and pv[noon] > 20, (noon - day, pv[noon])
    soc = [v for _, v in hist.series(1, 2, "battery_soc", day, day + DAY_S - 1)]
    assert 10 <= min(soc) and max(soc) <= 95 and max(soc) - min(soc) > 20, soc
    days = {}
    for d, ch, addr, counters in hist.energy(MIDNIGHT // DAY_S, now // DAY_S):
        if (ch, addr) == (1, 2):
            days[d] = counters
    whole = [days[d]["pv_energy_total"] for d in sorted(days)]  # the finished days (a History just opened)
    assert len(whole) == 4 and all(150 < e < 320 for e in whole) and len(set(whole)) == 4, whole  # weather
    assert all(days[d]["load_energy_total"] != days[d]["pv_energy_total"] for d in days)
    # the state it left: the sim's plant goes on from it (counters and SOC where the history ends)
    with open(str(tmp_path / "plant-state.json")) as f:
        state = json.load(f)
    assert state["t"] == now
    site = Site(default_layout())
    unit = Unit(1, 2, "atess_inverter", "HPS", site=site)
    site.start(now + 5, state)
    unit.update(now + 5)
    last = [v for _, v in hist.series(1, 2, "pv_energy_total", now - 300, now)][-1]  # the 09:55 slot
    total = (unit.ir[64] << 16 | unit.ir[65]) / 10
    left = state["inverters"]["1/2"]["total"]["pv"]
    assert last <= left and left - 0.1 <= total <= left + 0.1, (last, left, total)  # 5 s of PV more
    assert abs(site.inverters[(1, 2)].battery.soc - state["soc"][1]) < 0.5
    assert not os.path.exists(str(flash / "plant-state.json"))  # beside the flash, not in it
