"""Issue 19's backend against the real firmware (unix port) and the simulated plant, one sim for
the file: the maps' words in /api/meta and /api/devices, a device's detail view, the plant's
summary and the Log (an offline device's event, kept across a restart)."""

import time

import pytest
from test_web_api import Sim, _logged_in

from tools.sim import powers

TYPE_NAMES = {"atess_inverter": "ATESS Inverter", "bcu_battery": "BCU Battery", "mbms_battery": "MBMS Battery",
              "chint_dtsu666": "CHINT DTSU666 Meter", "eastron_sdm630": "Eastron SDM630 Meter"}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = Sim(tmp_path_factory.mktemp("words"))
    s.cookie = _logged_in(s)
    yield s
    s.stop()


def _get(sim, path, status=200):
    got, _, body = sim.req("GET", path, cookie=sim.cookie)
    assert got == status, (path, got, body)
    return body


def _until(what, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        got = what()
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError("not within %d s" % timeout)


def test_meta_names_the_types_and_every_point(sim):
    meta = _get(sim, "/api/meta")
    assert meta["type_names"] == TYPE_NAMES and meta["types"] == sorted(TYPE_NAMES)
    inv = meta["points"]["atess_inverter"]
    assert inv["battery_soc"] == {"label": "Battery SOC", "unit": "%", "history": True}
    assert inv["battery_power"]["role"] == "battery_power"  # its sign said in words on the page
    assert inv["running_state"] == {"label": "Running state", "unit": "", "history": False}
    assert "work_mode" not in inv  # written, not polled
    for points in meta["points"].values():
        for name, p in points.items():
            assert p["label"] and "_" not in p["label"], (name, p)


def test_devices_carry_names_states_and_words(sim):
    def ready():
        devs = _get(sim, "/api/devices")["devices"]
        return devs if all(d["online"] for d in devs) else None

    devs = {(d["channel"], d["address"]): d for d in _until(ready)}
    pcs = devs[(1, 1)]
    assert pcs["type_name"] == "ATESS Inverter" and pcs["name"] == "ATESS Inverter PCS, RS485-1 address 1"
    # the sim's inverters run on-grid, with a fault (fault word 3, "AC no utility") 20 s in every 2 minutes
    assert pcs["state"] in ({"kind": "running", "text": "On-grid"}, {"kind": "fault", "text": "Fault"}), pcs
    assert pcs["faults"] in ([], ["AC no utility fault"]), pcs
    soc = pcs["values"]["battery_soc"]
    assert soc["label"] == "Battery SOC" and soc["unit"] == "%" and soc["quality"] == "live", soc
    bcu = devs[(2, 11)]
    assert bcu["name"] == "BCU Battery, RS485-2 address 11" and bcu["state"] == {"kind": "running", "text": "Normal"}
    assert devs[(3, 21)]["state"] == {"kind": "unknown", "text": "Communicating"}  # a meter has no running state
    assert "running_state" not in pcs["values"]  # /api/devices: the main values only


def test_detail_has_every_value_in_words_and_404_in_words(sim):
    d = _get(sim, "/api/devices/detail?channel=1&address=2")
    assert d["name"] == "ATESS Inverter HPS, RS485-1 address 2" and d["bus"]["requests"] > 0, d
    rs = d["values"]["running_state"]
    assert rs["label"] == "Running state" and rs["text"] in ("On-grid", "Fault"), rs
    assert d["values"]["fault_word_1"]["text"] == "No fault"
    assert len(d["values"]) > 30 and all(v["label"] for v in d["values"].values())
    assert _get(sim, "/api/devices/detail?channel=1&address=9", 404) == \
        {"error": "No device at RS485-1 address 9", "field": None}
    assert _get(sim, "/api/devices/detail?channel=4&address=1", 400)["field"] == "channel"
    assert _get(sim, "/api/devices/detail?channel=1", 400)["field"] == "address"


def _span(f, t0, t1):
    """(least, most) of the sim's curve ``f`` over the seconds ``t0``..``t1``."""
    got = [f(t) for t in range(int(t0), int(t1) + 2)]
    return min(got), max(got)


def test_plant_sums_the_live_devices(sim):
    figures = ("pv_kw", "battery_kw", "battery_soc", "grid_kw", "load_kw")
    deadline = time.monotonic() + 20  # on a loaded machine a device can be between two reads
    while True:
        p = _get(sim, "/api/plant")
        if all(p[k] is not None for k in figures) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    t1 = time.time()
    assert p["quality"] in ("live", "stale"), p
    # the sim's plant (tools/sim/powers.py) on the PC's clock: PV from the HPS (2) and the PBD (3) by
    # daylight, the load of the HPS and the PCS (1) by the time of day, each read within the last
    # two polls (20 s) when live; "stale" is allowed on a loaded machine, so the curve is taken over
    # the last 60 s; registers hold 0.1 kW, so each figure is within 0.05 kW per inverter of it
    peak, base = powers.MODELS["HPS"][:2]
    pv = _span(lambda t: powers.pv_kw(peak, t, 2) + powers.pv_kw(powers.MODELS["PBD"][0], t, 3), t1 - 60, t1)
    load = _span(lambda t: powers.load_kw(base, t, 2) + powers.load_kw(powers.MODELS["PCS"][1], t, 1), t1 - 60, t1)
    assert pv[0] - 0.1 <= p["pv_kw"] <= pv[1] + 0.1, (p, pv)
    assert load[0] - 0.1 <= p["load_kw"] <= load[1] + 0.1, (p, load)
    # the powers balance: PV + battery (> 0 discharging) + grid (the CHINT meter, > 0 importing) = load,
    # up to the registers' rounding (7 values of 0.1 kW) and how far the inverters' grid could move
    # between their reads and the meter's (no more than PV - load did in that time)
    moved = (pv[1] - pv[0]) + (load[1] - load[0])
    gap = p["pv_kw"] + p["battery_kw"] + p["grid_kw"] - p["load_kw"]
    assert abs(gap) <= 0.35 + moved, (p, gap, moved)
    assert 9.5 <= p["battery_soc"] <= 95.5, p  # the cut-off SOCs the inverters hold
    assert set(p["energy_today"]) == {"pv_kwh", "load_kwh", "grid_import_kwh", "grid_export_kwh",
                                      "battery_charge_kwh", "battery_discharge_kwh"}


def test_the_log_says_why_a_device_went_offline_and_keeps_it_across_a_restart(sim):
    from test_web_api import NEW_PASSWORD, _restarted

    first = _get(sim, "/api/events?n=5")["events"]
    assert first and first[-1]["kind"] in ("start", "settings", "online"), first
    quiet = sim.run_dir / "plant-silent"
    quiet.write_text("21\n")  # the CHINT meter (polled every 5 s) stops answering
    try:
        def offline():
            got = [e for e in _get(sim, "/api/events?n=50")["events"] if e["kind"] == "offline"]
            return got[0] if got else None

        e = _until(offline, 60)
        assert e["text"] == "Went offline: no answer (timeout)" and e["level"] == "warning", e
        assert e["device"] == {"channel": 3, "address": 21, "name": "CHINT DTSU666 Meter, RS485-3 address 21"}
        dev = [d for d in _get(sim, "/api/devices")["devices"] if d["address"] == 21][0]
        assert dev["state"]["kind"] == "offline" and dev["state"]["text"].startswith("No answer"), dev
        assert "Errno" not in dev["state"]["text"] and dev["state"]["text"].endswith("(timeout)"), dev
    finally:
        quiet.write_text("")
    assert sim.req("POST", "/api/restart", {"confirm": True}, cookie=sim.cookie)[0] == 200
    _restarted(sim, sim.cookie)
    sim.cookie, _ = sim.login(password=NEW_PASSWORD)
    log = _get(sim, "/api/events?n=200")
    seqs = [x["seq"] for x in log["events"]]
    assert seqs == sorted(seqs, reverse=True) and not log["more"], seqs
    kept = [x for x in log["events"] if x["seq"] == e["seq"]]
    assert kept == [e], kept  # the same event, from the flash
    start = [x for x in log["events"] if x["kind"] == "start"][0]
    assert "after a restart that was asked for" in start["text"] and start["seq"] > e["seq"], start
    older = _get(sim, "/api/events?n=1&before=%d" % e["seq"])
    assert older["events"][0]["seq"] < e["seq"]
    assert _get(sim, "/api/events?n=0", 400)["field"] == "n"
    problems = _get(sim, "/api/events?n=200&level=warning,fault")["events"]
    assert e in problems and all(x["level"] in ("warning", "fault") for x in problems), problems
    assert _get(sim, "/api/events?level=bad", 400)["error"] == \
        "The level must be one or more of info, warning, fault, separated by commas"


def test_a_factory_reset_clears_the_log_and_is_its_first_event(sim):
    from test_web_api import _restarted

    before = _get(sim, "/api/events?n=1")["events"][0]["seq"]
    assert sim.req("POST", "/api/factory-reset", {"confirm": True}, cookie=sim.cookie)[0] == 200
    _restarted(sim, sim.cookie)
    sim.cookie = _logged_in(sim)  # the factory password again, then a new one
    events = _get(sim, "/api/events?n=200")["events"]
    oldest = events[-1]
    assert oldest["text"].startswith("Factory reset from the web page: all data cleared"), events
    assert oldest["seq"] > before and oldest["kind"] == "settings" and oldest["level"] == "warning"
    assert not [e for e in events if e["kind"] == "offline"], events  # the earlier events are gone
    assert any(e["kind"] == "start" for e in events), events


def test_the_plants_series_names_its_figure_and_refuses_bad_arguments_in_words(sim):
    got = _get(sim, "/api/history/plant?figure=pv_kw")
    assert (got["figure"], got["label"], got["unit"]) == ("pv_kw", "PV power", "kW"), got
    assert all(len(p) == 2 and p[0] % 300 == 0 for p in got["points"]), got  # 5-minute slots (none before a mark)
    now = int(time.time())  # the sim's time server gives the PC's time
    figures = "The figure must be one of battery_kw, battery_soc, grid_kw, load_kw, pv_kw"
    span = "The start must come before the end, at most 2 days earlier"
    for path, field, words in (
            ("/api/history/plant", "figure", figures),
            ("/api/history/plant?figure=pv_power", "figure", figures),
            ("/api/history/plant?figure=pv_kw&from=x", "from", "The start time must be a whole number from 0 to"),
            ("/api/history/plant?figure=pv_kw&from=%d&to=%d" % (now - 3 * 86400, now), "from", span),
            ("/api/history/plant?figure=pv_kw&from=%d&to=%d" % (now, now - 60), "from", span)):
        body = _get(sim, path, 400)
        assert body["field"] == field and body["error"].startswith(words), (path, body)
