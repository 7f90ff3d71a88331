"""Writes to devices through the one write governor, in the running firmware (unix port, the sim's
plant of pymodbus slaves): from the page's API, from a Modbus TCP client through the gateway
(pymodbus's client and mbpoll); refusals; the audit log across a restart and a power cut. What a
device holds is read from the slave's own record of the writes it took (run/plant-writes.jsonl),
never from the firmware's answer. From MQTT (mosquitto, paho): test_uplink_live's remote
settings, on the broker and logger that test runs anyway."""

import json
import os
import random
import re
import subprocess
import sys
import time

from conftest import HERE, ROOT, api_login, free_port, http_json, mp_env, power_cut, require_tool
from pymodbus.client import ModbusTcpClient
from test_web_api import Sim

from firmware.audit import Audit
from firmware.history import scan


class Firmware(Sim):
    """The sim (tools/sim/run.py) that can also lose its power and start again."""

    def start(self):
        args = [sys.executable, os.path.join(ROOT, "tools", "sim", "run.py"), "--run-dir", str(self.run_dir),
                "--http-port", str(self.port)]
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        http_json(self.url("/api/health"), timeout=30)

    def power_cut(self):
        power_cut(self.proc)

    def cookie(self):
        return api_login(self.url(""))

    def plant_writes(self):
        path = os.path.join(str(self.run_dir), "plant-writes.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f]

    def wait_models(self, cookie, want, timeout=40):
        """Until the devices at these addresses are online with their model read: {address: model}."""
        deadline = time.monotonic() + timeout
        while True:
            devs = {d["address"]: d for d in self.req("GET", "/api/devices", cookie=cookie)[2]["devices"]}
            if all(devs.get(a, {}).get("model") == m and devs[a]["online"] for a, m in want.items()):
                return
            assert time.monotonic() < deadline, devs
            time.sleep(0.3)


def _put(fw, cookie, point, value, address=2):
    return fw.req("PUT", "/api/devices/settings", {"channel": 1, "address": address, "point": point, "value": value},
                  cookie=cookie)


def test_page_writes_refusals_and_the_audit_log_after_a_restart_and_a_power_cut(tmp_path):
    fw = Firmware(tmp_path)
    try:
        cookie = fw.cookie()
        fw.wait_models(cookie, {2: "HPS", 3: "PBD"})
        # the device's writable settings, read from it now, with units and limits
        status, _, got = fw.req("GET", "/api/devices/settings?channel=1&address=2", cookie=cookie)
        assert status == 200 and got["type"] == "atess_inverter" and got["model"] == "HPS", got
        by = {s["point"]: s for s in got["settings"]}
        assert set(by) == {"on_off", "work_mode", "ems_enable", "discharge_cutoff_soc", "output_power_limit",
                           "charge_cutoff_soc"}, by
        soc = by["discharge_cutoff_soc"]
        # the sim's inverters hold a discharge cut-off of 10 % until written (tools/sim/plant.py SETTINGS)
        assert (soc["value"], soc["unit"], soc["min"], soc["max"], soc["writable"]) == (10, "%", 0, 100, True), soc
        assert by["on_off"]["writable"] is False and "no limits" in by["on_off"]["error"]
        pbd = fw.req("GET", "/api/devices/settings?channel=1&address=3", cookie=cookie)[2]
        assert "discharge_cutoff_soc" not in {s["point"] for s in pbd["settings"]}  # HPS/PCS only
        assert fw.req("GET", "/api/devices/settings?channel=1&address=99", cookie=cookie)[0] == 404
        assert fw.req("GET", "/api/devices/settings?channel=x&address=2", cookie=cookie)[0] == 400

        # a write: answered with the value read back, and the slave took exactly it
        status, _, got = _put(fw, cookie, "discharge_cutoff_soc", 15)
        assert status == 200 and (got["old"], got["value"], got["written"]) == (10, 15, True), got
        assert fw.plant_writes() == [{"channel": 1, "address": 2, "register": 47, "values": [15]}]

        # refusals, in words, with their status; none reaches the slave
        for point, value, want, words in (("discharge_cutoff_soc", 150, 400, "outside 0-100 %"),
                                          ("battery_soc", 50, 403, "not a setting the ATESS Inverter lets"),
                                          ("on_off", 1, 403, "no limits"),
                                          ("discharge_cutoff_soc", 20, 429, "try again in")):
            status, _, got = _put(fw, cookie, point, value)
            assert status == want and words in got["error"], (point, value, status, got)
        status, _, got = _put(fw, cookie, "discharge_cutoff_soc", 20, address=3)  # PBD: not on this model
        assert status == 403 and got["error"] == "the ATESS Inverter PBD has no setting Discharge cut-off SOC", got
        status, _, got = _put(fw, cookie, "discharge_cutoff_soc", "x")
        assert status == 400 and got["field"] == "value", got
        # the value it holds already: read, not written
        status, _, got = _put(fw, cookie, "work_mode", 0)
        assert status == 200 and got["written"] is False and got["value"] == 0, got
        assert len(fw.plant_writes()) == 1, fw.plant_writes()

        # a shorter interval (the writes setting) lets the register be written again
        status, _, got = fw.req("PUT", "/api/settings/writes", {"min_interval_s": 1}, cookie=cookie)
        assert status == 200 and got == {"min_interval_s": 1}, got
        time.sleep(1.1)
        status, _, got = _put(fw, cookie, "discharge_cutoff_soc", 20)
        assert status == 200 and got["value"] == 20, got
        assert fw.plant_writes()[-1] == {"channel": 1, "address": 2, "register": 47, "values": [20]}

        status, _, log = fw.req("GET", "/api/writes", cookie=cookie)
        assert status == 200, log
        results = [(e["point"], e["result"]) for e in log["entries"]]
        assert results == [("discharge_cutoff_soc", "written"), ("work_mode", "unchanged"),
                           ("discharge_cutoff_soc", "not_writable"), ("discharge_cutoff_soc", "too_soon"),
                           ("on_off", "no_limits"), ("battery_soc", "not_writable"),
                           ("discharge_cutoff_soc", "range"), ("discharge_cutoff_soc", "written")], results
        first = log["entries"][-1]
        assert first["who"] == "page admin" and (first["old"], first["new"], first["read_back"]) == (10, 15, 15)
        assert isinstance(first["time"], int) and abs(first["time"] - time.time()) < 120, first  # the sim's NTP
        assert fw.req("GET", "/api/writes?n=2", cookie=cookie)[2]["entries"] == log["entries"][:2]
        assert fw.req("GET", "/api/writes?n=501", cookie=cookie)[0] == 400

        # a restart, then a power cut: the log is the same
        assert fw.req("POST", "/api/restart", {"confirm": True}, cookie=cookie)[0] == 200
        deadline = time.monotonic() + 30
        while True:  # until the session is gone with the process that had it
            try:
                if fw.req("GET", "/api/session", cookie=cookie)[0] == 401:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "no restart"
            time.sleep(0.2)
        http_json(fw.url("/api/health"), timeout=30)
        cookie = fw.cookie()
        assert fw.req("GET", "/api/writes", cookie=cookie)[2]["entries"] == log["entries"]
        fw.power_cut()
        fw.start()
        cookie = fw.cookie()
        assert fw.req("GET", "/api/writes", cookie=cookie)[2]["entries"] == log["entries"]
    finally:
        out = fw.stop()
    assert "Traceback" not in out, out


def _gateway_client(port, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        c = ModbusTcpClient("127.0.0.1", port=port, timeout=3, retries=0)
        if c.connect():
            r = c.read_input_registers(174, count=2, device_id=2)
            if not r.isError():
                return c
        c.close()
        assert time.monotonic() < deadline, "the gateway does not answer"
        time.sleep(0.3)


def test_gateway_writes_refused_when_off_and_governed_when_on(tmp_path):
    mbpoll = require_tool("mbpoll")
    fw = Firmware(tmp_path)
    try:
        cookie = fw.cookie()
        fw.wait_models(cookie, {1: "PCS", 2: "HPS", 3: "PBD"})
        port = free_port()
        settings = {"enabled": True, "port": port, "clients": "127.0.0.0/8"}
        assert fw.req("PUT", "/api/settings/gateway", settings, cookie=cookie)[0] == 200
        c = _gateway_client(port)
        try:
            assert c.write_register(58, 110, device_id=1).exception_code == 1  # writes off: illegal function
            assert c.write_registers(58, [110], device_id=1).exception_code == 1
        finally:
            c.close()
        assert fw.plant_writes() == []
        assert fw.req("PUT", "/api/settings/gateway", {"writes": True}, cookie=cookie)[0] == 200
        time.sleep(0.5)
        c = _gateway_client(port)
        try:
            r = c.write_register(58, 110, device_id=1)
            assert not r.isError(), r
            assert fw.plant_writes() == [{"channel": 1, "address": 1, "register": 58, "values": [110]}]
            assert c.read_holding_registers(58, count=1, device_id=1).registers == [110]
            # refusals: the spec's exceptions, nothing reaches a slave
            assert c.write_register(47, 150, device_id=1).exception_code == 3  # outside 0-100 %
            assert c.write_register(100, 1, device_id=1).exception_code == 2  # not a writable point
            assert c.write_register(0, 1, device_id=1).exception_code == 2  # on/off: no limits in the map
            assert c.write_registers(26, [1, 1], device_id=1).exception_code == 2  # 27 is not writable
            assert c.write_coil(0, True, device_id=1).exception_code == 2  # no coil is writable
            assert c.write_register(47, 10, device_id=3).exception_code == 2  # the PBD has no such setting
            assert c.write_register(58, 100, device_id=1).exception_code == 6  # written a moment ago: busy
            assert c.write_register(58, 100, device_id=99).exception_code == 10  # no such device
            assert len(fw.plant_writes()) == 1, fw.plant_writes()
            r = c.write_registers(47, [30], device_id=2)
            assert not r.isError(), r
            with open(os.path.join(str(fw.run_dir), "plant-silent"), "w") as f:
                f.write("3\n")  # the PBD stops answering
            time.sleep(0.3)
            assert c.write_register(58, 100, device_id=3).exception_code == 11  # target failed to respond
            os.remove(os.path.join(str(fw.run_dir), "plant-silent"))
        finally:
            c.close()
        assert fw.plant_writes()[-1] == {"channel": 1, "address": 2, "register": 47, "values": [30]}
        # mbpoll, another master written by others: holding register 26 (0-based) of unit 2 set to 5
        out = subprocess.run([mbpoll, "-m", "tcp", "-p", str(port), "-a", "2", "-r", "26", "-t", "4", "-0", "-1",
                              "127.0.0.1", "5"], capture_output=True, text=True, timeout=20)
        assert out.returncode == 0 and re.search(r"Written 1 references", out.stdout), out.stdout + out.stderr
        assert fw.plant_writes()[-1] == {"channel": 1, "address": 2, "register": 26, "values": [5]}
        entries = fw.req("GET", "/api/writes", cookie=cookie)[2]["entries"]
        assert [(e["point"], e["result"]) for e in entries[:3]] == [
            ("work_mode", "written"), ("output_power_limit", "no_answer"), ("discharge_cutoff_soc", "written")], entries
        assert {e["who"] for e in entries} == {"TCP 127.0.0.1"}, entries
        assert {"too_soon", "range", "no_answer", "not_writable", "no_limits"} <= {e["result"] for e in entries}
        off = [e for e in entries if e["result"] == "path_off"]  # the two tried while writes were off
        assert [(e["register"], e["new"], e["message"]) for e in off] == [
            (58, None, "writes are off (gateway.writes)"), (58, 110, "writes are off (gateway.writes)")], off
    finally:
        out = fw.stop()
    assert "Traceback" not in out, out


def test_sigkill_in_the_middle_of_audit_appends_leaves_a_readable_log(tmp_path):
    """The unix port appends entries as fast as it can and is killed at random moments, 12 times:
    after each cut the log reads as every entry appended before it, in order, and the next start
    appends after them."""
    mp = require_tool("micropython")
    root = str(tmp_path)
    rnd = random.Random(18)
    expected = 0
    for _ in range(12):
        p = subprocess.Popen([mp, os.path.join(HERE, "mp_scripts", "audit_appends.py"), root, str(expected)],
                             cwd=ROOT, env=mp_env(), stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "READY"
        time.sleep(rnd.uniform(0.1, 0.4))
        p.kill()
        p.wait()
        times = [e["time"] for e in Audit(root).newest(10 ** 6)]
        assert times and times == list(range(times[0], -1, -1)), (expected, times[:5], times[-5:])
        assert times[0] >= expected  # the process got some appends in before the cut
        expected = times[0] + 1
    # every file is whole frames up to at most a torn tail, and the entries fill many files
    names = sorted(os.listdir(os.path.join(root, "audit")))
    assert len(names) > 3 and not [n for n in names if n.endswith(".tmp")], names
    for n in names[:-1]:
        path = os.path.join(root, "audit", n)
        ends = [end for _, end in scan(path)]
        assert ends[-1] == os.path.getsize(path), n
    print("audit log: %d entries in %d files over 12 cuts" % (expected, len(names)))
