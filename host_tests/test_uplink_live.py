"""The whole uplink in the running firmware (unix port, the sim's plant) against a real mosquitto,
watched by an independent MQTT client (paho): samples, events, discovery, remote settings, broker
restarts, a power cut with a backlog, a full queue, TLS."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import ROOT, free_port, http_json, power_cut, require_tool, session_cookie

from firmware import identity
from firmware.settings import Settings
from tools.sim import powers
from tools.sim.broker import Broker
from tools.sim.plant import default_layout
from tools.sim.run import seed_settings

SN, CHECK = "AB12345678", "Q7W3E"
BASE = "enerlog/%s/" % SN


class Logger:
    """``tools/sim/run.py`` with a provisioned identity and server settings pointing at a broker."""

    def __init__(self, run_dir, broker_port, env=None, **server):
        require_tool("socat")
        require_tool("micropython")
        self.run_dir = str(run_dir)
        flash = os.path.join(self.run_dir, "flash")
        if seed_settings(self.run_dir, default_layout(), broker_port):
            identity.provision(flash, SN, CHECK)
            server.setdefault("upload_interval_s", 10)
            Settings(flash).update("server", server)
        self.port = free_port()
        self.env = dict(os.environ, **(env or {}))
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tools", "sim", "run.py"), "--run-dir", self.run_dir,
             "--http-port", str(self.port)], cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        http_json(self.url("/api/health"), timeout=30)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def uplink(self):
        return http_json(self.url("/api/status"))["uplink"]

    def wait(self, what, cond, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            st = self.uplink()
            if cond(st):
                return st
            if time.monotonic() > deadline:
                raise AssertionError("%s: not within %d s: %s" % (what, timeout, st))
            time.sleep(0.3)

    def put_server(self, changes):
        import urllib.request

        req = urllib.request.Request(self.url("/api/settings/server"), data=json.dumps(changes).encode(),
                                     method="PUT", headers={"Content-Type": "application/json",
                                                            "Cookie": "session=" + session_cookie(self.url(""))})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def power_cut(self):
        power_cut(self.proc)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.proc.communicate(timeout=20)[0]


class Subscriber:
    """paho-mqtt, a persistent session: what arrives while it reconnects after a broker restart
    was queued for it by the broker."""

    def __init__(self, port, tls_ca=None):
        import paho.mqtt.client as pm

        self.messages = []
        self.lock = threading.Lock()
        self.c = pm.Client(pm.CallbackAPIVersion.VERSION2, client_id="test-sub", clean_session=False)
        if tls_ca:
            self.c.tls_set(ca_certs=tls_ca)
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe([("enerlog/#", 1), ("homeassistant/#", 1)])
        self.c.on_message = self._on
        self.c.reconnect_delay_set(0.1, 1)
        self.c.connect("127.0.0.1", port, keepalive=5)
        self.c.loop_start()

    def _on(self, c, u, m):
        with self.lock:
            self.messages.append((m.topic, m.payload, m.retain))

    def on(self, pred):
        with self.lock:
            return [(t, p) for t, p, _ in self.messages if pred(t)]

    def records(self):
        """{seq: object} of every state and event message, and the count with duplicates."""
        got = self.on(lambda t: t.startswith(BASE) and (t.endswith("/state") or t == BASE + "events"))
        return {json.loads(p)["seq"]: json.loads(p) for _, p in got}, len(got)

    def wait(self, what, cond, timeout=30):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError("%s: not within %d s" % (what, timeout))
            time.sleep(0.2)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def _broker(path, **kw):
    return Broker(path, exe=require_tool("mosquitto"), **kw).start()


def test_samples_events_discovery_remote_settings_restarts_and_a_power_cut(tmp_path):
    broker = _broker(tmp_path / "broker")
    sub = Subscriber(broker.port)
    t_start = time.time() * 1000
    logger = Logger(tmp_path / "run", broker.port)
    try:
        # -- samples, events and discovery as they come --------------------------------------
        logger.wait("connected", lambda st: st["connected"])
        states = lambda: sub.on(lambda t: t.endswith("/state"))  # noqa: E731
        sub.wait("a state of each device", lambda: len({t for t, _ in states()}) == 6, 40)
        topic, payload = [m for m in states() if m[0] == BASE + "1/2/state"][0]
        obj = json.loads(payload)
        assert obj["type"] == "atess_inverter" and obj["model"] == "HPS" and obj["channel"] == 1
        assert t_start - 60000 < obj["ts"] < time.time() * 1000 + 1000  # the sim's SNTP: true time
        # the PV string's voltage the sim's curve gives at the record's time (tools/sim/powers.py: 0 in
        # the dark, 640-660 V by day), read at most 10 s before it: 20 V of its wiggle, 6 V of dawn's rise
        volts = powers.pv_volts(obj["ts"] / 1000)
        assert 0 <= obj["values"]["battery_soc"] <= 100 and abs(obj["values"]["pv1_voltage"] - volts) <= 30, volts
        events = [json.loads(p) for _, p in sub.on(lambda t: t == BASE + "events")]
        online = {(e["channel"], e["address"]) for e in events if e["event"] == "online"}
        assert online == {(t[0], t[1]) for t in default_layout()}, events
        assert sub.on(lambda t: t == BASE + "status")[-1][1] == b"online"

        def configs():
            latest = {}
            for t, p in sub.on(lambda t: t.startswith("homeassistant/sensor/")):
                latest[t] = p
            return {t: json.loads(p) for t, p in latest.items() if p}

        sub.wait("discovery for the identified models", lambda: any(
            c["device"]["model"] == "HPS" for c in configs().values()), 20)
        soc = configs()["homeassistant/sensor/%s_1_2/battery_soc/config" % SN]
        assert soc["state_topic"] == BASE + "1/2/state" and soc["unit_of_measurement"] == "%"
        assert soc["device"]["serial_number"] == "ATS1000002" and soc["availability_topic"] == BASE + "status"
        assert len({t.split("/")[2] for t in configs()}) == 6  # one discovery node per device

        # -- remote settings: off by default, then on ----------------------------------------
        results = lambda: [json.loads(p) for _, p in sub.on(lambda t: t == BASE + "cmd/result")]  # noqa: E731
        cmd = {"id": "a", "channel": 1, "address": 1, "point": "discharge_cutoff_soc", "value": 15}
        sub.c.publish(BASE + "cmd", json.dumps(cmd), qos=1)
        sub.wait("refusal", lambda: len(results()) == 1)
        assert results()[0] == {"id": "a", "ok": False, "error": "remote settings are off (server.remote_settings)"}
        assert logger.put_server({"remote_settings": True})["remote_settings"] is True
        logger.wait("reconnected", lambda st: st["connected"])
        # through the one write governor (test_writes_live: the page's and the gateway's paths):
        # written, then refused: not a writable point, out of range, too soon, no limits in the map
        for k, change in (("b", {}), ("c", {"point": "battery_soc"}), ("d", {"value": 120}), ("e", {"value": 90}),
                          ("f", {"point": "on_off", "value": 1})):
            sub.c.publish(BASE + "cmd", json.dumps(dict(cmd, id=k, **change)), qos=1)
        sub.wait("results", lambda: len(results()) == 6, 20)
        got = results()
        assert got[1] == {"id": "b", "ok": True, "channel": 1, "address": 1, "point": "discharge_cutoff_soc",
                          "register": 47, "raw": 15, "old": 10, "value": 15, "unit": "%", "written": True}
        assert got[2]["ok"] is False and "not a setting the ATESS Inverter lets" in got[2]["error"], got[2]
        assert got[3]["ok"] is False and got[3]["code"] == "range" and "outside 0-100 %" in got[3]["error"], got[3]
        assert got[4]["code"] == "too_soon" and got[5]["code"] == "no_limits", got
        # the slave itself holds it (the plant's record of the writes it took), and nothing else
        with open(os.path.join(logger.run_dir, "plant-writes.jsonl")) as f:
            writes = [json.loads(line) for line in f]
        assert writes == [{"channel": 1, "address": 1, "register": 47, "values": [15]}], writes
        entries = http_json(logger.url("/api/writes"))["entries"]  # the audit log, newest first
        assert [e["result"] for e in entries] == ["no_limits", "too_soon", "range", "not_writable", "written",
                                                  "path_off"], entries  # the first: tried while off
        assert entries[-1]["message"] == "remote settings are off (server.remote_settings)" and entries[-1]["new"] == 15
        assert {e["who"] for e in entries} == {"MQTT"}, entries

        # -- the broker stopped and started 3 times ------------------------------------------
        for _ in range(3):
            broker.stop()
            time.sleep(1.5)
            broker.start()
            time.sleep(2.5)

        # -- a power cut with a backlog, the broker down ---------------------------------------
        broker.stop()
        before = logger.wait("a backlog", lambda st: st["backlog"] >= 6, 30)
        assert not before["connected"] and before["evicted"] == 0
        logger.power_cut()
        logger.start()
        assert logger.uplink()["backlog"] >= before["backlog"]  # still on flash after the cut
        broker.start()
        after = logger.wait("drained", lambda st: st["connected"] and st["backlog"] == 0, 40)
        assert after["last_upload_s_ago"] is not None and after["last_upload_s_ago"] < 10
        time.sleep(1)
        got, total = sub.records()
        top = max(got)
        assert sorted(got) == list(range(1, top + 1)), sorted(set(range(1, top + 1)) - set(got))
        assert top >= 20, top  # 6 online events, then 6 states every 10 s for 40 s or more: records flowed
        by_device = {}
        for seq in sorted(got):
            o = got[seq]
            if "values" in o:
                assert o["ts"] is not None, o
                by_device.setdefault((o["channel"], o["address"]), []).append(o["ts"])
        for key, stamps in by_device.items():
            assert stamps == sorted(stamps), key  # original times, in order
        print("uplink: %d records (seq 1-%d), %d deliveries incl. duplicates, 3 broker restarts, "
              "a power cut with %d records waiting" % (len(got), top, total, before["backlog"]))
    finally:
        out = logger.stop()
        sub.close()
        broker.close()
    assert "Traceback" not in out, out


def _cert(tmp_path):
    """A test CA and a broker certificate for 127.0.0.1 signed by it: (ca pem, cert, key)."""
    openssl = require_tool("openssl")
    ca, ca_key, cert, key, csr = (str(tmp_path / n) for n in ("ca.pem", "ca.key", "b.pem", "b.key", "b.csr"))
    run = lambda *a: subprocess.run([openssl, *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2",
        "-subj", "/CN=EnerLog test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    ext = tmp_path / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "2",
        "-extfile", str(ext))
    return ca, cert, key


@pytest.fixture(scope="module", autouse=True)
def refused_tls(tmp_path_factory):
    """The TLS test's logger, started before the module's first test: with a CA that did not sign
    the broker it is refused, and meanwhile its 1500-byte queue fills and evicts, one 10 s upload
    interval after another (over 10 s of waiting), while the other tests run."""
    tmp = tmp_path_factory.mktemp("tls")
    ca, cert, key = _cert(tmp)
    broker = _broker(tmp / "broker", tls=(cert, key))
    sub = Subscriber(broker.port, tls_ca=ca)
    (tmp / "other").mkdir()
    other = _cert(tmp / "other")[0]
    logger = Logger(tmp / "run", broker.port, env={"ENERLOG_SPOOL_BYTES": "1500"}, tls=True,
                    tls_ca=open(other).read())
    yield ca, sub, logger
    logger.stop()
    sub.close()
    broker.close()


def test_tls_with_the_ca_setting_and_a_full_queue(refused_tls):
    ca, sub, logger = refused_tls
    st = logger.wait("evictions", lambda st: st["evicted"] > 0, 60)
    assert not st["connected"] and st["sent"] == 0 and st["last_error"], st
    assert st["backlog_bytes"] <= 1500 + 512, st
    logger.put_server({"tls_ca": open(ca).read()})
    st = logger.wait("drained over TLS", lambda st: st["connected"] and st["backlog"] == 0, 30)
    assert "warning" not in st
    time.sleep(1)
    got, _ = sub.records()
    lost = st["evicted"]
    assert lost > 0 and min(got) > 1  # the oldest went
    assert sorted(got) == list(range(min(got), max(got) + 1))  # nothing after them missing
    assert max(got) - lost == len(got), (max(got), lost, len(got))  # evicted = what never came
    print("TLS: refused with another CA (%s); a 1500-byte queue evicted %d records, the rest arrived"
          % (st["last_error"], lost))


def test_status_without_a_server(tmp_path):
    logger = Logger(tmp_path / "run", 0)
    try:
        st = logger.uplink()
        assert st["enabled"] is False and st["connected"] is False and st["server"] is None
        # Records are kept for a server to come (an online event may already be there): all waiting.
        assert st["backlog"] == st["produced"] and st["sent"] == 0, st
        assert st["evicted"] == 0 and st["last_upload"] is None
    finally:
        logger.stop()
