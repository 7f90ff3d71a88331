"""firmware/hw/esp32.py, run under the MicroPython unix port against recording stand-ins.

No board runs here: ``machine``, ``network`` and ``esp32`` are stand-ins (host_tests/esp32_standins)
that record every call. What this shows: the calls the adapter makes (UART settings for every
baud/parity/stop choice, the driver-enable pin around a frame, the W5500 ``network.LAN`` arguments,
the host name before ``active(True)``, netmask to prefix, static and DHCP, the reset-cause mapping,
the watchdog, the button and LEDs, the heap report) and that each call is one the pinned
micropython-esp32-stubs accept. The stand-ins cannot drift from the stubs: every name they offer
exists there with the same constant values, and every recorded call binds to a stub signature.
What only a board can show: timing on the wire, the transceiver, the W5500 and PSRAM themselves
(docs/board.md, bring-up checklist).
"""

import ast
import importlib
import inspect
import json
import os
import subprocess
import sys

import pytest
from conftest import HERE, ROOT, _missing, require_tool

from firmware.rs485 import BAUD_RATES
from firmware.rs485 import UART_PARITY as PARITIES  # letter -> machine.UART parity
from firmware.wire import char_us

STUBS = os.path.join(ROOT, ".venv", "stubs-esp32")
STANDINS = os.path.join(HERE, "esp32_standins")
MODULES = ("machine", "network", "esp32")
# Methods of the UART stand-in that MicroPython's stream protocol calls, not the adapter: asyncio's
# StreamReader polls through ioctl (a C-level method of the real UART, not in its Python API).
STREAM_PROTOCOL = {"ioctl"}


@pytest.fixture(scope="module")
def run():
    exe = require_tool("micropython")
    env = dict(os.environ, MICROPYPATH=":".join([STANDINS, ROOT, os.path.join(ROOT, "lib"), ".frozen"]))
    proc = subprocess.run([exe, os.path.join(HERE, "mp_scripts", "esp32_adapter.py")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = {}
    for line in proc.stdout.splitlines():
        rec = json.loads(line)
        out[rec["scenario"]] = rec
    return out


def _names(calls):
    return [c[0] for c in calls]


# --- the stubs ---------------------------------------------------------------------------------------


def _stub_tree(module):
    if module == "network":
        # network.LAN's constructor as tools/typecheck.py corrects it (the stub has RMII PHYs only).
        if ROOT not in sys.path:
            sys.path.insert(0, ROOT)
        from tools import typecheck

        path = os.path.join(typecheck.make_overlay().rsplit(os.sep, 1)[0], "network.pyi")
    else:
        path = os.path.join(STUBS, module + ".pyi")
    if not os.path.exists(path):
        _missing("the ESP32 stubs are not installed (make setup installs them)")
    with open(path) as f:
        return ast.parse(f.read())


def _stubs():
    """{module: {name: node}}, classes as {name: (ClassDef, {method: [overloads]})}."""
    out = {}
    for module in MODULES:
        names = {}
        for node in _stub_tree(module).body:
            if isinstance(node, ast.ClassDef):
                # A class the stub defines twice (network.LAN) has the methods of both.
                methods = names[node.name][1] if node.name in names else {}
                for f in node.body:
                    if isinstance(f, ast.FunctionDef):
                        methods.setdefault(f.name, []).append(f)
                    elif isinstance(f, (ast.AnnAssign, ast.Assign)):
                        t = f.target if isinstance(f, ast.AnnAssign) else f.targets[0]
                        methods.setdefault(getattr(t, "id", ""), []).append(f)
                names[node.name] = (node, methods)
            elif isinstance(node, ast.FunctionDef):
                names.setdefault(node.name, []).append(node)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names[node.target.id] = node
            elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                names[node.targets[0].id] = node
        out[module] = names
    # network.LAN.ipconfig is missing from the stub; ports/esp32/network_lan.c (1c3c201149, line
    # 546) maps it to esp_nic_ipconfig_obj, the function network_wlan.c gives WLAN.ipconfig.
    lan = out["network"]["LAN"][1]
    assert "ipconfig" not in lan, "the stub now has LAN.ipconfig: drop this correction"
    lan["ipconfig"] = out["network"]["WLAN"][1]["ipconfig"]
    return out


STUB = {}


def stubs():
    if not STUB:
        STUB.update(_stubs())
    return STUB


def _signature(f, method):
    a = f.args
    params = []
    positional = [(p, inspect.Parameter.POSITIONAL_ONLY) for p in a.posonlyargs] + \
                 [(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in a.args]
    first_default = len(positional) - len(a.defaults)
    for i, (p, kind) in enumerate(positional):
        params.append(inspect.Parameter(p.arg, kind, default=None if i >= first_default else inspect.Parameter.empty))
    if a.vararg:
        params.append(inspect.Parameter(a.vararg.arg, inspect.Parameter.VAR_POSITIONAL))
    for p, d in zip(a.kwonlyargs, a.kw_defaults):
        params.append(inspect.Parameter(p.arg, inspect.Parameter.KEYWORD_ONLY,
                                        default=inspect.Parameter.empty if d is None else None))
    if a.kwarg:
        params.append(inspect.Parameter(a.kwarg.arg, inspect.Parameter.VAR_KEYWORD))
    if method:
        params = params[1:]  # self
    return inspect.Signature(params)


def _overloads(name):
    """The stub's overloads of a call name: machine.Pin (constructor), machine.Pin.value, machine.reset."""
    parts = name.split(".")
    entry = stubs()[parts[0]].get(parts[1])
    assert entry is not None, "%s is not in the pinned stubs" % name
    if isinstance(entry, tuple):
        methods = entry[1]
        fs = methods.get("__init__" if len(parts) == 2 else parts[2])
        assert fs, "%s is not in the pinned stubs" % name
        return [_signature(f, True) for f in fs if isinstance(f, ast.FunctionDef)]
    assert len(parts) == 2 and isinstance(entry, list), name
    return [_signature(f, False) for f in entry]


def _binds(name, args, kwargs):
    errors = []
    for sig in _overloads(name):
        try:
            sig.bind(*args, **kwargs)
            return None
        except TypeError as e:
            errors.append("%s%s: %s" % (name, sig, e))
    return errors


def test_every_call_the_adapter_makes_binds_to_the_pinned_stubs(run):
    seen = set()
    bad = []
    for rec in run.values():
        for name, args, kwargs in rec["calls"]:
            seen.add(name)
            errors = _binds(name, args, kwargs)
            if errors:
                bad.append((name, args, kwargs, errors))
    assert not bad, bad
    # The check saw the calls that matter (and can fail: a call the stubs refuse).
    assert {"machine.UART", "machine.UART.init", "network.LAN", "network.hostname", "machine.WDT",
            "esp32.idf_heap_info"} <= seen
    assert _binds("machine.UART.init", [], {"baudrate": 9600, "parity": "E"}) is None  # types are mypy's
    assert _binds("machine.UART.init", [], {"baud": 9600})  # a wrong keyword is refused
    assert _binds("network.LAN", [], {"spi": 1, "phy_type": 102, "phy_addr": 0, "cs": 14, "irq": 10})
    assert _binds("network.LAN", [], {"spi": 1, "phy_type": 102, "cs": 14, "int": 10})  # phy_addr is required
    assert _binds("machine.WDT", [8000], {})  # keyword only


def _standin_modules():
    sys.path.insert(0, STANDINS)
    try:
        mods = {m: importlib.import_module(m) for m in MODULES}
    finally:
        sys.path.remove(STANDINS)
    for m in MODULES + ("standin",):
        sys.modules.pop(m, None)  # CPython has no machine module: nothing else may see these
    return mods


def _const(node):
    return ast.literal_eval(node.value) if getattr(node, "value", None) is not None else None


def test_the_standins_offer_only_what_the_stubs_have():
    checked = 0
    for module, mod in _standin_modules().items():
        stub = stubs()[module]
        for name, value in vars(mod).items():
            if name.startswith("_") or name in ("STATE", "record", "Recorded", "io", "ResetCalled", "CALLS"):
                continue
            assert name in stub, "%s.%s is not in the pinned stubs" % (module, name)
            checked += 1
            if isinstance(value, int):
                assert _const(stub[name]) == value, "%s.%s: stub says %s" % (module, name, _const(stub[name]))
            elif inspect.isclass(value):
                methods = stub[name][1]
                for attr, v in vars(value).items():
                    if attr.startswith("_") and attr not in ("__init__", "__call__") or attr in STREAM_PROTOCOL:
                        continue
                    assert attr in methods, "%s.%s.%s is not in the pinned stubs" % (module, name, attr)
                    if isinstance(v, int):
                        assert _const(methods[attr][0]) == v, "%s.%s.%s" % (module, name, attr)
                    checked += 1
    assert checked > 30


# --- what the adapter does ------------------------------------------------------------------------


def _calls(run, scenario, name):
    return [c for c in run[scenario]["calls"] if c[0] == name]


@pytest.mark.parametrize("profile", ["waveshare-esp32-s3-eth", "lilygo-t-eth-lite-s3"])
def test_board_start_sets_up_each_channel_led_and_the_button(run, profile):
    with open(os.path.join(ROOT, "firmware", "boards", profile + ".json")) as f:
        p = json.load(f)
    rec = run["board " + profile]
    uarts = _calls(run, "board " + profile, "machine.UART")
    assert [u[1] for u in uarts] == [[ch["uart"]] for ch in p["rs485"]]
    for u, ch in zip(uarts, p["rs485"]):
        assert u[2] == {"baudrate": 9600, "bits": 8, "parity": None, "stop": 1, "tx": ch["tx"], "rx": ch["rx"],
                        "rxbuf": 1024, "timeout": 0, "timeout_char": 0}
    pins = {c[1][0]: c for c in _calls(run, "board " + profile, "machine.Pin") if c[1]}
    for ch in p["rs485"]:  # DE: an output, low (receive) from the start
        assert pins[ch["de"]][1][1] == 3 and pins[ch["de"]][2] == {"value": 0}, pins[ch["de"]]
    for pin in p["leds"].values():
        assert pins[pin][1][1] == 3 and pins[pin][2] == {"value": 0}
    assert pins[p["button"]["pin"]][1] == [p["button"]["pin"], 1, 2]  # IN, PULL_UP (active low)
    spi = _calls(run, "board " + profile, "machine.SPI")
    eth = p["ethernet"]
    assert spi == [["machine.SPI", [eth["spi"]], {"sck": {"pin": eth["sck"]}, "mosi": {"pin": eth["mosi"]},
                                                  "miso": {"pin": eth["miso"]}}]]
    assert rec["result"] == {"name": p["name"], "cause": "power-on"}


def test_uart_settings_for_every_baud_parity_and_stop_choice(run):
    inits = _calls(run, "uart settings", "machine.UART.init")
    result = run["uart settings"]["result"]
    assert len(inits) == len(result) == len(BAUD_RATES) * 3 * 2
    for (baud, parity, stop, us), call in zip(result, inits):
        assert call[2] == {"baudrate": baud, "bits": 8, "parity": PARITIES[parity], "stop": stop}, call
        assert us == char_us(baud, PARITIES[parity], stop)  # the adapter's timing follows the line
    assert {c[2]["parity"] for c in inits} == {None, 0, 1}


def test_driver_enable_is_high_only_while_a_frame_goes_out(run):
    calls = run["send"]["calls"]
    assert _names(calls) == ["machine.Pin.__call__", "machine.UART.write", "machine.UART.flush",
                             "machine.Pin.__call__"]
    assert calls[0][1] == [1] and calls[3][1] == [0]
    assert run["send"]["result"]["tx"] == {"bytes": bytes(range(1, 41)).hex()}
    # 40 bytes at 9600 8N1 take 41.7 ms: the adapter sleeps most of it before the blocking flush().
    assert 35 <= run["send"]["result"]["ms"] < 1000, run["send"]["result"]


def test_receive_timeout_and_discard(run):
    assert run["recv"]["result"] == {"n": 7, "got": {"bytes": "010302002a385b"}}
    t = run["recv timeout"]["result"]
    assert t["n"] == 0 and 100 <= t["ms"] < 2000, t
    assert run["discard"]["result"] == {"n": 5, "left": 0}


def test_w5500_lan_arguments_and_host_name_before_active(run):
    calls = run["ethernet start"]["calls"]
    lan = [c for c in calls if c[0] == "network.LAN"]
    assert lan == [["network.LAN", [], {"spi": {"obj": "machine.SPI"}, "phy_type": 102, "phy_addr": 0,
                                       "cs": {"pin": 14}, "int": {"pin": 10}, "reset": {"pin": 9}}]]
    names = _names(calls)
    assert names.index("network.hostname") < names.index("network.LAN.active")
    host = calls[names.index("network.hostname")][1][0]
    assert len(host) == 32 and host.startswith("EnerLog-")  # at most 32 characters
    assert calls[names.index("network.LAN.active")][1] == [True]
    assert run["ethernet link"]["result"] == [True, False]


def test_dhcp_clears_the_address_then_starts_the_client(run):
    calls = run["ethernet dhcp"]["calls"]
    assert calls[0] == ["network.LAN.ipconfig", [], {"addr4": ["0.0.0.0", "0.0.0.0"], "gw4": "0.0.0.0"}]
    assert calls[1] == ["network.LAN.ipconfig", [], {"dhcp4": True}]
    bound_at_once, bound_later, ifconfig = run["ethernet dhcp"]["result"]
    assert not bound_at_once and bound_later and ifconfig[0] == "192.168.1.77"


def test_static_address_with_the_netmask_as_a_prefix_and_global_dns(run):
    calls = run["ethernet static"]["calls"]
    assert calls[:6] == [
        ["network.LAN.ipconfig", [], {"addr4": "192.168.0.254/24", "gw4": "192.168.0.1"}],
        ["network.ipconfig", [], {"dns": "192.168.0.2"}],
        ["network.LAN.ipconfig", [], {"addr4": "10.1.2.3/16", "gw4": "10.1.0.1"}],
        ["network.ipconfig", [], {"dns": "10.1.0.1"}],
        ["network.LAN.ipconfig", [], {"addr4": "172.16.5.9/25", "gw4": "172.16.5.1"}],
        ["network.ipconfig", [], {"dns": "1.1.1.1"}],
    ]
    assert run["ethernet static"]["result"] is False  # a static address is not a DHCP lease
    assert run["ethernet mac"]["result"] == "02:45:4c:00:00:01"


def test_reset_cause_mapping(run):
    table = {(chip, mem): (cause, left) for chip, mem, cause, left in run["reset causes"]["result"]}
    assert table[("PWRON_RESET", "")][0] == "power-on"
    assert table[("HARD_RESET", "")][0] == "power-on"
    assert table[("DEEPSLEEP_RESET", "")][0] == "power-on"
    assert table[("SOFT_RESET", "")][0] == "requested"
    assert table[("unknown", "")][0] == "power-on"
    for chip in ("PWRON_RESET", "HARD_RESET", "SOFT_RESET", "DEEPSLEEP_RESET", "unknown"):
        assert table[(chip, "EL:crash")][0] == "crash" and table[(chip, "EL:upgrade")][0] == "upgrade"
    for mem in ("", "EL:crash", "EL:upgrade"):  # the chip's watchdog wins over a recorded intent
        assert table[("WDT_RESET", mem)][0] == "watchdog"
    assert all(left == "" for _, left in table.values())  # the intent is read once, then cleared
    done, memory = run["reset"]["result"]
    assert done and memory == "EL:upgrade"
    assert _names(run["reset"]["calls"])[-2:] == ["machine.RTC.memory", "machine.reset"]


def test_watchdog_button_and_leds(run):
    assert run["watchdog"]["calls"] == [["machine.WDT", [], {"timeout": 8000}], ["machine.WDT.feed", [], {}]]
    assert run["button"]["result"] == [True, False]  # active low: pressed reads 0
    assert run["led"]["result"] == [True, True, False, False]
    assert run["led active low"]["result"] == [1, True, False]  # off is high, on drives it low


def test_heap_report_reads_psram_from_esp_idf(run):
    with_psram, without = run["memory"]["result"]
    assert with_psram == {"largest_free": 7900000, "psram": 8388608}
    assert without == {"largest_free": 110000, "psram": 0}
    caps = [c[1][0] for c in run["memory"]["calls"]]
    assert caps == [4, 1 << 10, 4, 1 << 10]  # HEAP_DATA, then MALLOC_CAP_SPIRAM
