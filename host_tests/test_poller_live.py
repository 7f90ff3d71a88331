"""The poller against the simulated plant (pymodbus) over ptys."""

import asyncio
import json
import os
import subprocess

import pytest
from conftest import HERE, ROOT, mp_env, require_tool
from mp_scripts import poller_scenarios as sc

from tools.sim.plant import Plant

LAYOUT = [(1, 1, "atess_inverter", "PCS"), (1, 2, "atess_inverter", "HPS"),
          (1, 3, "atess_inverter", "PBD", "ATS-01 BAD")]  # address 3: an illegal serial (manual 6.2)


def entries(layout):
    return [{"type": t[2], "channel": t[0], "address": t[1]} for t in layout]


@pytest.fixture
def plant(tmp_path, pty_pair):
    made = []

    def make(layout):
        paths = {}
        for ch in (1, 2, 3):
            a, b = pty_pair("ch%d" % ch)
            paths[ch] = (a, b)
        p = Plant({ch: b for ch, (a, b) in paths.items()}, layout, control=str(tmp_path / "silent"))
        made.append(p)
        return {ch: a for ch, (a, b) in paths.items()}, str(tmp_path / "silent")

    yield make
    for p in made:
        p.stop()


def run_mp(args, layout, tmp, timeout):
    mp = require_tool("micropython")
    path = os.path.join(str(tmp), "layout.json")
    with open(path, "w") as f:
        json.dump(entries(layout), f)
    res = subprocess.run([mp, os.path.join(HERE, "mp_scripts", "poller_scenarios.py")] + args + [path],
                         capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=mp_env())
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_silent_device_goes_offline_in_3_polls_and_returns_at_its_first_good_reply(plant, runtime, tmp_path):
    paths, control = plant(LAYOUT)
    if runtime == "cpython":
        r = asyncio.run(sc.silent(paths[1], control, entries(LAYOUT)))
    else:
        r = run_mp(["silent", paths[1], control], LAYOUT, tmp_path, 60)
    r = json.loads(json.dumps(r))  # the same key types on both runtimes
    assert r["online_before"] == {"1": True, "2": True, "3": True}, r
    assert r["models"] == {"1": "PCS", "2": "HPS", "3": "PBD"}, r
    assert r["serials"]["1"] == ["ATS1000001", None]
    assert r["serials"]["3"][0] == "ATS-01 BAD" and "letters and digits" in r["serials"]["3"][1], r
    assert 490 < r["values"]["1"]["battery_voltage"] < 540 and 0 <= r["values"]["2"]["battery_soc"] <= 100, r
    assert "pv1_power" in r["values"]["2"] and "pv1_power" not in r["values"]["1"]  # PCS has no PV
    # offline after exactly 3 failed polls (a poll already under way when it went quiet may still succeed)
    assert r["fails_at_offline"] == 3 and r["polls_until_offline"] <= 4, r
    assert r["communicating_silent"] == 2
    for a in ("1", "3"):  # the others keep their rate (1 poll a second; counted over a few seconds,
        # so one poll more or less on a loaded machine moves it by 0.25)
        assert abs(r["rate_silent"][a] - r["rate_before"][a]) <= 0.5, r
        assert r["rate_silent"][a] >= 0.5, r
    # back at its first good reply: the first or second try after it answers again (a try may be
    # under way when the plant, which reads its control file every 50 ms, lets it answer)
    assert r["polls_until_online"] <= 2 and r["online_after"], r
    assert r["serial_after_return"] == "ATS1000002" and r["communicating_end"] == 3
    log = "\n".join(r["log"])
    assert "atess_inverter at RS485-1 address 2 offline" in log and "illegal serial number 'ATS-01 BAD'" in log, log
