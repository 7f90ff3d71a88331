"""/metrics on the firmware under the unix port with the sim's plant, read by independent tools:
``promtool check metrics`` and a real Prometheus server scraping it every second."""

import http.client
import json
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
from conftest import free_port, require_tool
from test_web_api import Sim, _logged_in

TOKEN = "Prom-Token_0123456789.abc"


@pytest.fixture(scope="module", autouse=True)
def sixty(tmp_path_factory):
    """The sim's full plant (60 devices) for test_sixty_devices, started before the module's first
    test: its 20 inverters on RS485-1 take ~25 s to come online one after another, time in which
    the other tests run on their own sim."""
    s = Sim(tmp_path_factory.mktemp("sixty"), devices=60)
    yield s
    s.stop()


@pytest.fixture
def sim(tmp_path):
    s = Sim(tmp_path)
    yield s
    s.stop()


def _get(sim, path, headers=None, method="GET"):
    """(status, headers, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=20)
    try:
        conn.request(method, path, headers=dict({"Host": "127.0.0.1:%d" % sim.port}, **(headers or {})))
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


def _wait_online(sim, cookie, n, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        st = sim.req("GET", "/api/status", cookie=cookie)[2]
        if st["devices"]["communicating"] >= n:
            return st
        assert time.monotonic() < deadline, st["devices"]
        time.sleep(0.5)


def _promtool(text):
    proc = subprocess.run([require_tool("promtool"), "check", "metrics"], input=text, capture_output=True, timeout=30)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    return proc


def _values(text):
    """{(address, point): value} of the enerlog_value samples."""
    out = {}
    for line in text.decode().splitlines():
        if line.startswith("enerlog_value{"):
            labels, value = line[len("enerlog_value{"):].rsplit("} ", 1)
            d = dict(kv.split("=", 1) for kv in labels.split('",') if kv)
            out[(int(d["address"].strip('"')), d["point"].strip('"'))] = float(value)
    return out


def test_off_by_default_then_open_then_behind_a_token_on_every_path(sim):
    assert _get(sim, "/metrics")[0] == 404  # off from the factory: as if there were none
    cookie = _logged_in(sim)
    assert _get(sim, "/metrics", {"Cookie": "session=" + cookie})[0] == 404  # a session does not open it
    assert sim.req("GET", "/api/settings/metrics", cookie=cookie)[2] == {"enabled": False, "token_set": False}
    before = sim.settings_bytes()
    for bad, field in (({"token": "short"}, "metrics.token"), ({"token": "x" * 15}, "metrics.token"),
                       ({"token": "has space in it 123"}, "metrics.token"), ({"enabled": "yes"}, "metrics.enabled"),
                       ({"nope": 1}, "metrics.nope")):
        status, _, reply = sim.req("PUT", "/api/settings/metrics", bad, cookie=cookie)
        assert status == 400 and reply["field"] == field, (bad, reply)
        assert sim.settings_bytes() == before
    status, _, reply = sim.req("PUT", "/api/settings/metrics", {"enabled": True}, cookie=cookie)
    assert status == 200 and reply == {"enabled": True, "token_set": False}
    _wait_online(sim, cookie, 6)
    status, headers, body = _get(sim, "/metrics")  # open on the LAN: no session, no token
    assert status == 200 and headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8", headers
    assert b'enerlog_device_online{channel="2",address="11",type="bcu_battery"} 1' in body
    _promtool(body)

    status, _, reply = sim.req("PUT", "/api/settings/metrics", {"token": TOKEN}, cookie=cookie)
    assert status == 200 and reply == {"enabled": True, "token_set": True}
    ok = {"Authorization": "Bearer " + TOKEN}
    assert _get(sim, "/metrics", ok)[0] == 200
    assert _get(sim, "/metrics?x=1", ok)[0] == 200
    refused = [("GET", "/metrics", None), ("HEAD", "/metrics", None), ("GET", "/metrics?token=" + TOKEN, None),
               ("GET", "/metrics", {"Authorization": "Bearer " + TOKEN[:-1]}),
               ("GET", "/metrics", {"Authorization": "Basic " + TOKEN}),
               ("GET", "/metrics", {"Authorization": TOKEN}),
               ("GET", "/metrics", {"Cookie": "session=" + cookie})]  # the page's session is no token
    for method, path, h in refused:
        status, headers, body = _get(sim, path, h, method)
        assert status == 401 and headers["WWW-Authenticate"] == "Bearer", (method, path, h, status)
        assert b"enerlog_" not in body
    for path in ("/metrics/", "/Metrics", "/%6detrics", "//metrics", "/api/metrics"):
        status, _, body = _get(sim, path, ok)
        assert status in (401, 404) and b"enerlog_" not in body, (path, status)  # /api/: log in first
    assert _get(sim, "/metrics", method="POST")[0] in (401, 405)
    # off again: 404 even with the token, at once
    assert sim.req("PUT", "/api/settings/metrics", {"enabled": False}, cookie=cookie)[0] == 200
    assert _get(sim, "/metrics", ok)[0] == 404
    everything = "\n".join(sim.bodies)
    assert TOKEN not in everything  # never sent back


def _prometheus(tmp_path, target, token):
    """A Prometheus server on a loopback port scraping ``target`` every second as two jobs: one
    with the bearer token, one without. Returns (process, its base URL)."""
    port = free_port()
    cfg = tmp_path / "prometheus.yml"
    jobs = [{"job_name": "enerlog", "static_configs": [{"targets": [target]}],
             "authorization": {"credentials": token}},
            {"job_name": "anonymous", "static_configs": [{"targets": [target]}]}]
    cfg.write_text(json.dumps({"global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                               "scrape_configs": jobs}))  # JSON is YAML
    log = open(str(tmp_path / "prometheus.log"), "wb")
    proc = subprocess.Popen([require_tool("prometheus"), "--config.file=" + str(cfg),
                             "--storage.tsdb.path=" + str(tmp_path / "tsdb"),
                             "--web.listen-address=127.0.0.1:%d" % port], stdout=log, stderr=subprocess.STDOUT)
    base = "http://127.0.0.1:%d" % port
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/-/ready", timeout=2) as r:
                if r.status == 200:
                    return proc, base
        except OSError:  # not listening yet, or 503 while it starts
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.terminate()
            proc.wait(15)
            raise AssertionError((tmp_path / "prometheus.log").read_text()[-3000:])
        time.sleep(0.2)


def _query(base, q):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
    with urllib.request.urlopen(url, timeout=10) as r:
        reply = json.loads(r.read())
    assert reply["status"] == "success", reply
    return {json.dumps(x["metric"], sort_keys=True): float(x["value"][1]) for x in reply["data"]["result"]}


@pytest.mark.timeout(240)
def test_a_prometheus_server_scrapes_the_logger(sim, tmp_path):
    require_tool("prometheus")
    cookie = _logged_in(sim)
    assert sim.req("PUT", "/api/settings/metrics", {"enabled": True, "token": TOKEN}, cookie=cookie)[0] == 200
    _wait_online(sim, cookie, 6)
    proc, base = _prometheus(tmp_path, "127.0.0.1:%d" % sim.port, TOKEN)
    try:
        deadline = time.monotonic() + 60
        q = 'enerlog_value{job="enerlog",channel="2",address="11",type="bcu_battery",point="soc",unit="%"}'
        while True:
            up = _query(base, "up")
            soc = _query(base, q)
            if len(up) == 2 and soc:
                break
            assert time.monotonic() < deadline, (up, soc, (tmp_path / "prometheus.log").read_text()[-3000:])
            time.sleep(0.5)
        by_job = {json.loads(k)["job"]: v for k, v in up.items()}
        assert by_job == {"enerlog": 1.0, "anonymous": 0.0}, up
        with urllib.request.urlopen(base + "/api/v1/targets", timeout=10) as r:
            targets = json.loads(r.read())["data"]["activeTargets"]
        anon = [t for t in targets if t["labels"]["job"] == "anonymous"][0]
        assert anon["health"] == "down" and "401" in anon["lastError"], anon
        # the value Prometheus holds is the one the logger shows for that device
        (value,) = soc.values()
        devices = sim.req("GET", "/api/devices", cookie=cookie)[2]["devices"]
        shown = [d for d in devices if d["address"] == 11][0]["values"]["soc"]["value"]
        # (the plant's SOC drifts by at most 1 % in ~20 s: one step between the scrape and the read)
        assert abs(value - shown) <= 1 and 0 <= value <= 100, (value, shown)
        assert _query(base, 'enerlog_device_online{job="enerlog"}') and \
            min(_query(base, 'enerlog_device_online{job="enerlog"}').values()) == 1.0
    finally:
        proc.terminate()
        proc.wait(15)
    st = sim.req("GET", "/api/status", cookie=cookie)[2]
    assert st["devices"]["communicating"] == 6 and not st["problems"], st  # still polling, nothing failed


@pytest.mark.timeout(300)
def test_sixty_devices(sixty):
    """The size of the text for the sim's full plant (60 devices), checked by promtool."""
    sim = sixty
    cookie = _logged_in(sim)
    assert sim.req("PUT", "/api/settings/metrics", {"enabled": True}, cookie=cookie)[0] == 200
    _wait_online(sim, cookie, 60, timeout=120)
    status, _, body = _get(sim, "/metrics")
    assert status == 200
    _promtool(body)
    values = _values(body)
    assert len({a for a, _ in values}) == 60, sorted({a for a, _ in values})
    lines = body.count(b"\n")
    print("metrics for 60 devices: %d bytes, %d lines, %d main values" % (len(body), lines, len(values)))
    assert len(body) < 200000
