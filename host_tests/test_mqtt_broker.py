"""The MQTT client, spool and uplink against a real mosquitto, on both runtimes.

The uplink runs in a separate process (host_tests/mp_scripts/mqtt_uplink.py, under the unix port
or CPython); the test subscribes with the firmware's own client on CPython (no paho here).
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import HERE, ROOT, SHIMS, mp_env, require_tool

from firmware import mqtt
from tools.sim.broker import Broker

SN = "EL2A00012345"
RUNTIMES = ["micropython", "cpython"]


def _broker(tmp_path, **kw):
    return Broker(tmp_path, exe=require_tool("mosquitto"), **kw).start()


@pytest.fixture
def broker(tmp_path):
    b = _broker(tmp_path)
    yield b
    b.close()


class Subscriber:
    """Collects every message under enerlog/<SN>/#; a persistent session that reconnects."""

    def __init__(self, port):
        self.port = port
        self.messages = []
        self.task = None

    async def start(self):
        await self._connect()
        self.task = asyncio.create_task(self._keep())

    async def _connect(self):
        self.c = mqtt.MQTTClient("test-sub", "127.0.0.1", self.port, keepalive=5, clean=False,
                                 on_message=lambda t, p, r: self.messages.append((t, p, r)))
        await self.c.connect()
        await self.c.subscribe("enerlog/%s/#" % SN, 1)

    async def _keep(self):
        while True:
            await asyncio.sleep(0.05)
            if not self.c.connected:
                try:
                    await self._connect()
                except OSError:
                    await asyncio.sleep(0.1)

    async def stop(self):
        self.task.cancel()
        await self.c.disconnect()

    def on(self, leaf):
        return [p for t, p, _ in self.messages if t == "enerlog/%s/%s" % (SN, leaf)]


def _start(runtime, tmp_path, **cfg):
    cfg.setdefault("count", 0)
    cfg.setdefault("interval_ms", 0)
    cfg.update(serial=SN, root=str(tmp_path / "spool"), out=str(tmp_path / "out.json"))
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    script = os.path.join(HERE, "mp_scripts", "mqtt_uplink.py")
    if runtime == "micropython":
        cmd, env = [require_tool("micropython"), script, str(path)], mp_env()
    else:
        cmd, env = [sys.executable, script, str(path)], dict(os.environ, PYTHONPATH=ROOT + ":" + SHIMS)
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


async def _result(proc, out, want, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(out):
            res = json.loads(open(out).read())
            if res["state"] == want:
                return res
        if proc.poll() is not None:
            break
        await asyncio.sleep(0.05)
    proc.kill()
    raise AssertionError("no %r from the uplink process:\n%s" % (want, proc.communicate()[0].decode()))


def _seqs(payloads):
    return [json.loads(p)["seq"] for p in payloads]


async def _run_to_done(runtime, broker, tmp_path, mode, n):
    """The uplink process in ``mode`` with ``n`` records, watched to the end: (subscriber, result)."""
    sub = Subscriber(broker.port)
    await sub.start()
    proc = _start(runtime, tmp_path, port=broker.port, mode=mode, count=n)
    res = await _result(proc, str(tmp_path / "out.json"), "done")
    await asyncio.sleep(0.3)
    proc.wait(10)
    await sub.stop()
    return sub, res


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_spool_drains_in_order_with_qos1(runtime, broker, tmp_path):
    n = 2000
    sub, res = await _run_to_done(runtime, broker, tmp_path, "drain", n)
    data = sub.on("data")
    assert _seqs(data) == list(range(1, n + 1))
    first = json.loads(data[0])
    assert first["dev"] == "PCS-0" and first["v"]["soc"] == 87.0 and first["t"] == 1795000000
    assert b"online" in sub.on("status")
    assert res["stats"]["backlog"] == 0 and res["failures"] == 0, res
    print("%s: drained %d records in %d ms = %.0f records/s"
          % (runtime, n, res["ms"], n * 1000.0 / max(res["ms"], 1)))


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_live_data_goes_out_beside_a_backlog(runtime, broker, tmp_path):
    n = 3000
    sub, res = await _run_to_done(runtime, broker, tmp_path, "live", n)
    seqs = _seqs(sub.on("data"))
    assert sorted(seqs) == list(range(1, n + 2)) and res["live_seq"] == n + 1, (len(seqs), len(set(seqs)), res)
    at = seqs.index(n + 1)
    assert seqs[:at] == list(range(1, at + 1))  # the backlog itself in order
    assert at < n // 2, at  # the live sample did not wait for the backlog
    print("%s: a live sample arrived after %d of %d backlog records" % (runtime, at, n))


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_last_will_when_the_connection_dies(runtime, broker, tmp_path):
    sub = Subscriber(broker.port)
    await sub.start()
    proc = _start(runtime, tmp_path, port=broker.port, mode="hold")
    await _result(proc, str(tmp_path / "out.json"), "ready")
    deadline = time.monotonic() + 5
    while sub.on("status")[-1:] != [b"online"] and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert sub.on("status")[-1:] == [b"online"]
    proc.send_signal(signal.SIGKILL)  # no DISCONNECT: the broker must publish the will
    proc.wait(10)
    deadline = time.monotonic() + 10
    while sub.on("status")[-1:] != [b"offline"] and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert sub.on("status")[-1:] == [b"offline"], sub.messages
    # Retained: a newcomer learns the state too.
    late = []
    c = mqtt.MQTTClient("late", "127.0.0.1", broker.port,
                        on_message=lambda t, p, r: late.append((t, p, r)))
    await c.connect()
    await c.subscribe("enerlog/%s/status" % SN, 1)
    await asyncio.sleep(0.3)
    await c.disconnect()
    await sub.stop()
    assert late == [("enerlog/%s/status" % SN, b"offline", True)], late


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_broker_restart_loses_no_record(runtime, broker, tmp_path):
    sub = Subscriber(broker.port)
    await sub.start()
    n = 200
    proc = _start(runtime, tmp_path, port=broker.port, mode="stream", count=n, interval_ms=15)
    out = str(tmp_path / "out.json")
    await asyncio.sleep(1.0)
    broker.stop()
    await asyncio.sleep(1.5)  # records keep going to the spool meanwhile
    broker.start()
    res = await _result(proc, out, "done")
    deadline = time.monotonic() + 10
    while len(set(_seqs(sub.on("data")))) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    proc.wait(10)
    await sub.stop()
    seqs = _seqs(sub.on("data"))
    assert sorted(set(seqs)) == list(range(1, n + 1)), (len(set(seqs)), res)
    assert res["connects"] >= 2 and res["failures"] >= 1, res
    print("%s: %d records over a broker restart, %d duplicates, %d connects"
          % (runtime, n, len(seqs) - n, res["connects"]))


def _cert(tmp_path, name):
    """A self-signed certificate for 127.0.0.1: (cert PEM, key PEM, cert DER) paths."""
    openssl = require_tool("openssl")
    pem, key, der = (str(tmp_path / (name + ext)) for ext in (".pem", ".key", ".der"))
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", pem, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    subprocess.run([openssl, "x509", "-in", pem, "-outform", "DER", "-out", der], check=True)
    return pem, key, der


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_tls_verifies_the_broker(runtime, tmp_path):
    pem, key, der = _cert(tmp_path, "broker")
    other = _cert(tmp_path, "other")[2]
    b = _broker(tmp_path, tls=(pem, key))
    try:
        cfg = tmp_path / "tls.json"
        out = tmp_path / "tls-out.json"
        cfg.write_text(json.dumps({"port": b.port, "ca": der, "wrong": other, "out": str(out)}))
        script = os.path.join(HERE, "mp_scripts", "mqtt_tls.py")
        if runtime == "micropython":
            cmd, env = [require_tool("micropython"), script, str(cfg)], mp_env()
        else:
            cmd, env = [sys.executable, script, str(cfg)], dict(os.environ, PYTHONPATH=ROOT + ":" + SHIMS)
        proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
        res = json.loads(out.read_text()) if out.exists() else proc.stdout + proc.stderr
    finally:
        b.close()
    assert res["ca"] == "ok", res  # verified against its CA
    assert res["wrong"].startswith("failed"), res  # another CA: refused
    print("%s: wrong CA -> %s" % (runtime, res["wrong"]))
    assert res["none"] == "ok", res  # no CA configured: encrypted, not authenticated


async def test_refused_login_names_the_reason(tmp_path):
    b = _broker(tmp_path, anonymous=False)
    try:
        c = mqtt.MQTTClient("x", "127.0.0.1", b.port, username="EL2A00012345", password="wrong")
        with pytest.raises(mqtt.MQTTError, match=r"refused \(5\): not authorized"):
            await c.connect()
        assert not c.connected
    finally:
        b.close()
