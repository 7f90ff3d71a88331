"""The Modbus TCP gateway under the unix port, its poller on a pty to the simulated plant
(pymodbus slaves), read by independent masters: the pymodbus TCP client and mbpoll."""

import json
import os
import random
import re
import socket
import subprocess
import threading
import time

import pytest
from conftest import HERE, ROOT, free_port, mp_env, require_tool
from pymodbus.client import ModbusTcpClient

from tools.sim import ptys
from tools.sim.plant import SETTINGS, Plant, _ascii

LAYOUT = [[1, 1, "atess_inverter"], [1, 2, "atess_inverter"], [1, 3, "atess_inverter"]]
PLANT = [(1, 1, "atess_inverter", "PCS"), (1, 2, "atess_inverter", "HPS"), (1, 3, "atess_inverter", "PBD")]


class Gateway:
    """gateway_run.py in a micropython process; ``stats()`` is the gateway's last counters."""

    def __init__(self, tmp_path, pty, **config):
        self.port = free_port()
        cfg = dict({"enabled": True, "port": self.port, "writes": False, "clients": "", "max_clients": 8,
                    "idle_ms": 1000, "layout": LAYOUT}, **config)
        path = tmp_path / "gateway.json"
        path.write_text(json.dumps(cfg))
        self.lines = []
        self.proc = subprocess.Popen([require_tool("micropython"), os.path.join(HERE, "mp_scripts", "gateway_run.py"),
                                      pty, str(path)], cwd=ROOT, env=mp_env(), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 30
        while "READY" not in self.lines:
            assert self.proc.poll() is None and time.monotonic() < deadline, "\n".join(self.lines)
            time.sleep(0.05)

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def stats(self):
        time.sleep(0.6)  # the next line of counters
        return json.loads([x for x in self.lines if x.startswith("{")][-1])

    def counted(self, st=None):
        """The counters (and good polls) since the test began: the gateway serves the whole module."""
        st = st or self.stats()
        return dict(st, **{k: st[k] - self.since[k] for k in st if k != "clients"})

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """One plant and one gateway for the tests that read through it (a start takes ~2 s): each
    test counts from the gateway's counters as it finds them (``since``), never from zero."""
    require_tool("socat")
    tmp = tmp_path_factory.mktemp("gateway")
    a, b = str(tmp / "rs485-1-a"), str(tmp / "rs485-1-b")
    line = ptys.pair(a, b)
    plant = Plant({1: b}, PLANT)
    gw = Gateway(tmp, a, clients="127.0.0.1, 127.0.0.2/32")
    yield plant, gw
    gw.stop()
    plant.stop()
    line.terminate()
    line.wait()


@pytest.fixture
def setup(running):
    plant, gw = running
    assert gw.proc.poll() is None, "the gateway ended in an earlier test:\n" + "\n".join(gw.lines[-20:])
    plant.silence([])
    gw.since = gw.stats()
    return plant, gw


def _unit(plant, address):
    return [u for u in plant.units if u.address == address][0]


def _client(gw, source="127.0.0.1"):
    c = ModbusTcpClient("127.0.0.1", port=gw.port, timeout=3, retries=0, source_address=(source, 0))
    assert c.connect()
    return c


def test_reads_cached_forwarded_and_refused(setup):
    plant, gw = setup
    hps = _unit(plant, 2)
    c = _client(gw)
    try:
        # registers the poll keeps (input 171-175: BMS temperatures and cell voltages): from the poll
        # data, the bus untouched
        before = hps.requests
        for _ in range(20):
            r = c.read_input_registers(174, count=2, device_id=2)
            assert r.registers == [3436, 3326], r
        assert hps.requests - before <= 2, hps.requests - before  # at most the poller's own polls
        # a register the poll reads but does not keep, and one it never reads: through the bus
        before = hps.requests
        r = c.read_input_registers(176, count=1, device_id=2)
        assert r.registers == [hps.ir[176]] and hps.requests > before, r
        r = c.read_holding_registers(180, count=5, device_id=2)
        assert r.registers == _ascii(hps.serial, 5), r
        r = c.read_coils(0, count=10, device_id=1)
        assert r.bits[:10] == [False] * 10, r
        # refusals: the spec's exception codes
        assert c.read_holding_registers(0, count=1, device_id=99).exception_code == 10  # not configured
        assert c.write_register(47, 15, device_id=1).exception_code == 1  # writes are off
        assert hps.hr[47] == SETTINGS[47]  # and nothing reached the device: it holds its own value
        plant.silence([3])
        assert c.read_holding_registers(180, count=1, device_id=3).exception_code == 11  # no answer
        plant.silence([])
    finally:
        c.close()
    st = gw.counted()
    assert st["cached"] >= 20 and st["forwarded"] >= 4, st
    # mbpoll, another master written by others: input register 175 (0-based), one read
    out = subprocess.run([require_tool("mbpoll"), "-m", "tcp", "-p", str(gw.port), "-a", "2", "-r", "174",
                          "-c", "2", "-t", "3", "-0", "-1", "127.0.0.1"], capture_output=True, text=True, timeout=20)
    got = re.findall(r"\[(\d+)\]:\s*(-?\d+)", out.stdout)
    assert got == [("174", "3436"), ("175", "3326")], out.stdout + out.stderr


def test_clients_allow_list_max_clients_and_eight_at_once(setup):
    plant, gw = setup
    refused = socket.create_connection(("127.0.0.1", gw.port), source_address=("127.0.0.3", 0))
    refused.settimeout(3)
    assert refused.recv(1) == b""  # closed at once: not on the allow-list
    refused.close()
    errors = []

    def reader(k):
        try:
            c = _client(gw, "127.0.0.2" if k % 2 else "127.0.0.1")
            for _ in range(15):
                r = c.read_input_registers(171, count=5, device_id=1 + k % 3)
                if r.isError() or r.registers[3:] != [3436, 3326]:
                    errors.append(r)
            c.close()
        except Exception as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    st = gw.counted()
    assert st["requests"] >= 120 and st["refused_clients"] >= 1, st
    # a ninth client while eight are connected: refused
    eight = [_client(gw) for _ in range(8)]
    ninth = socket.create_connection(("127.0.0.1", gw.port))
    ninth.settimeout(3)
    assert ninth.recv(1) == b""
    for c in eight + [ninth]:
        c.close()


def test_bad_input_closes_the_connection_and_polling_goes_on(setup):
    plant, gw = setup
    polls = gw.stats()["good_polls"]

    def send(data, expect_closed=True):
        s = socket.create_connection(("127.0.0.1", gw.port))
        s.settimeout(5)
        s.sendall(data)
        try:
            got = s.recv(300)
        except socket.timeout:
            got = None
        except ConnectionResetError:  # closed with our bytes unread
            got = b""
        s.close()
        if expect_closed:
            assert got == b"", (data[:12], got)
        return got

    send(bytes([0, 1, 0, 1, 0, 6, 1, 3, 0, 0, 0, 1]))  # protocol id 1
    send(bytes([0, 1, 0, 0, 1, 5, 1]) + bytes(261))  # length 261
    send(bytes([0, 1, 0, 0]))  # a header cut short, then silence: closed after the idle time
    got = send(bytes([0, 9, 0, 0, 0, 6, 1, 3, 0, 0, 0, 126]), expect_closed=False)  # 126 registers
    assert got == bytes([0, 9, 0, 0, 0, 3, 1, 0x83, 3]), got
    got = send(bytes([0, 9, 0, 0, 0, 6, 0, 3, 0, 0, 0, 1]), expect_closed=False)  # unit 0
    assert got[7:] == bytes([0x83, 10]), got
    got = send(bytes([0, 9, 0, 0, 0, 6, 248, 3, 0, 0, 0, 1]), expect_closed=False)  # unit 248
    assert got[7:] == bytes([0x83, 10]), got
    # a client that connects and says nothing: closed after the idle time (1 s here)
    idle = socket.create_connection(("127.0.0.1", gw.port))
    idle.settimeout(5)
    t0 = time.monotonic()
    assert idle.recv(1) == b"" and time.monotonic() - t0 < 4
    idle.close()
    # 1,000 random frames, each on its own connection: raw bytes, or a random PDU behind a valid
    # header (answered with an exception, or data when it happens to be a valid read)
    rnd = random.Random(18)
    answered = 0
    for k in range(1000):
        # at least a header's 7 bytes: a shorter one waits out the idle time (tested above)
        data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(7, 40)))
        if k % 2:
            data = bytes([0, k & 0xFF, 0, 0, 0, len(data) + 1, 1]) + data
        s = socket.create_connection(("127.0.0.1", gw.port))
        s.settimeout(3)
        try:
            s.sendall(data)
            answered += bool(s.recv(300))  # an answer, or the close (b"")
        except (ConnectionResetError, socket.timeout):
            pass  # closed with bytes unread; or a random length still waiting for its bytes
        s.close()
    assert answered >= 400, answered  # the frames with a valid header
    assert gw.proc.poll() is None, "\n".join(gw.lines[-20:])
    c = _client(gw)
    assert c.read_input_registers(174, count=2, device_id=2).registers == [3436, 3326]
    c.close()
    deadline = time.monotonic() + 25  # the inverters are polled every 10 s
    while gw.stats()["good_polls"] <= polls and time.monotonic() < deadline:
        pass
    st = gw.stats()
    closed = gw.counted(st)
    assert st["good_polls"] > polls and closed["closed_bad_frames"] >= 2 and closed["closed_idle"] >= 2, closed
    assert not [x for x in gw.lines if "Traceback" in x], gw.lines[-20:]


def test_the_logger_serves_the_gateway_its_settings_say(tmp_path):
    """The whole firmware (make sim's plant): off from the factory; on through the API, on a port
    the settings give; refused settings store nothing; off again closes it."""
    from test_web_api import Sim, _logged_in

    sim = Sim(tmp_path)
    try:
        cookie = _logged_in(sim)
        assert sim.req("GET", "/api/settings/gateway", cookie=cookie)[2] == {
            "enabled": False, "port": 502, "writes": False, "clients": "", "max_clients": 4}
        before = sim.settings_bytes()
        for body, field in (({"port": 0}, "port"), ({"clients": "300.1.1.1"}, "clients"),
                            ({"max_clients": 9}, "max_clients"), ({"enabled": "yes"}, "enabled"),
                            ({"telnet": True}, "telnet")):
            status, _, reply = sim.req("PUT", "/api/settings/gateway", body, cookie=cookie)
            assert status == 400 and field in reply["field"], (body, status, reply)
        assert sim.settings_bytes() == before
        port = free_port()
        status, _, reply = sim.req("PUT", "/api/settings/gateway", {"enabled": True, "port": port,
                                                                   "clients": "127.0.0.0/8"}, cookie=cookie)
        assert status == 200 and reply["enabled"] is True, reply
        deadline = time.monotonic() + 20
        while True:  # the gateway starts with the saved settings; the plant's HPS comes online
            c = ModbusTcpClient("127.0.0.1", port=port, timeout=3, retries=0)
            r = c.read_input_registers(174, count=2, device_id=2) if c.connect() else None
            c.close()
            if r is not None and not r.isError():
                break
            assert time.monotonic() < deadline, r
            time.sleep(0.3)
        assert r.registers == [3436, 3326], r
        sim.req("PUT", "/api/settings/gateway", {"enabled": False}, cookie=cookie)
        time.sleep(0.5)
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=3).recv(1)
    finally:
        sim.stop()


def test_clients_reading_through_to_the_bus_leave_the_pollers_their_turn(setup):
    """A client's read goes before due polls: four clients forwarding reads (registers no poll
    keeps), each the moment its last answer came, still leave the pollers the bus between two."""
    plant, gw = setup
    stop = threading.Event()
    answered = []

    def reader(k):
        c = _client(gw)
        while not stop.is_set():
            r = c.read_holding_registers(180, count=5, device_id=1 + k % 3)
            answered.append(not r.isError())
        c.close()

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(1)
        polls = gw.stats()["good_polls"]
        # 3 inverters every 10 s: within 12 s, 3 or more polls; none while clients held the bus.
        # Done as soon as both bounds below hold (the same bounds, the same 12 s at most).
        deadline = time.monotonic() + 12
        while True:
            st = gw.stats()
            if st["good_polls"] - polls >= 2 and len(answered) >= 50 or time.monotonic() > deadline:
                break
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert st["good_polls"] - polls >= 2, (polls, st)
    assert len(answered) >= 50 and all(answered), (len(answered), answered.count(False))
