"""The Modbus master against independent pymodbus RTU slaves over ptys, on both runtimes.

Faults are injected on the wire by host_tests/modbus_relay.py, chosen by unit id.
"""

import asyncio
import os
import subprocess

import pytest
from conftest import HERE, ROOT, mp_env, require_tool
from modbus_relay import FAULTS, Relay
from mp_scripts import modbus_scenarios as sc

from tools.sim import ptys
from tools.sim.line import Line

UNITS = list(range(1, 11)) + sorted(FAULTS)


@pytest.fixture(scope="module")
def bus(tmp_path_factory):
    """master pty end -> relay -> pymodbus slaves; yields the master's path."""
    require_tool("socat")
    d = tmp_path_factory.mktemp("bus")
    procs = [ptys.pair(d / "master", d / "relay-m"), ptys.pair(d / "relay-s", d / "slaves")]
    line = Line(str(d / "slaves"), UNITS)
    relay = Relay(str(d / "relay-m"), str(d / "relay-s"))
    yield str(d / "master")
    relay.stop()
    line.stop()
    for p in procs:
        p.terminate()
        p.wait()


def run_cpython(path):
    results = {}
    asyncio.run(sc.run_all(path, lambda n, ok, detail: results.__setitem__(n, (ok, detail))))
    return results


def run_micropython(path):
    mp = require_tool("micropython")
    proc = subprocess.run([mp, os.path.join(HERE, "mp_scripts", "modbus_scenarios.py"), path],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=mp_env())
    results = {}
    for line in proc.stdout.splitlines():
        if line.startswith("@@SCENARIO "):
            _, name, status, detail = (line + " ").split(" ", 3)
            results[name] = (status == "ok", detail.strip())
    results["__output__"] = proc.stdout[-3000:] + proc.stderr[-3000:]
    return results


_cache = {}


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
@pytest.mark.parametrize("scenario", sc.NAMES)
def test_scenario(bus, runtime, scenario):
    if runtime not in _cache:
        _cache[runtime] = run_cpython(bus) if runtime == "cpython" else run_micropython(bus)
    results = _cache[runtime]
    assert scenario in results, "did not run under %s:\n%s" % (runtime, results.get("__output__", ""))
    ok, detail = results[scenario]
    assert ok, detail
