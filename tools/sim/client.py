"""The configuration page's user, for benches and the soak: waits for the logger, logs in (setting
its own password at the first login), and reads the JSON API on loopback."""

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager


class Client:
    def __init__(self, port, password):
        self.port = port
        self.password = password
        self.cookie = None

    def fetch(self, method, path, body=None):
        """(body bytes, ms) of a request; logs in again on 401; RuntimeError on any other error reply."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = {"Content-Type": "application/json", "Host": "127.0.0.1:%d" % self.port}
        if self.cookie:
            h["Cookie"] = "session=" + self.cookie
        t0 = time.perf_counter()
        conn.request(method, path, json.dumps(body) if body is not None else None, h)
        r = conn.getresponse()
        data = r.read()
        ms = (time.perf_counter() - t0) * 1000
        conn.close()
        if r.status == 401 and path != "/api/login":
            self.login()
            return self.fetch(method, path, body)
        if r.status != 200:
            raise RuntimeError("%s %s: %d %s" % (method, path, r.status, data[:200]))
        if method == "POST" and path == "/api/login":
            self.cookie = r.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
        return data, ms

    def req(self, method, path, body=None):
        """(parsed JSON reply, ms)."""
        data, ms = self.fetch(method, path, body)
        return json.loads(data), ms

    def login(self):
        try:
            self.req("POST", "/api/login", {"user": "admin", "password": self.password})
        except RuntimeError:
            self.req("POST", "/api/login", {"user": "admin", "password": "admin"})
            self.req("POST", "/api/password", {"old": "admin", "new": self.password})

    def wait_up(self, timeout_s, proc=None):
        """Waits until the web server answers ``/api/health``; RuntimeError after ``timeout_s`` or
        when ``proc`` (the simulator) has ended."""
        t0 = time.monotonic()
        while True:
            try:
                self.fetch("GET", "/api/health")
                return
            except OSError:
                if time.monotonic() - t0 > timeout_s or (proc is not None and proc.poll() is not None):
                    raise RuntimeError("the firmware did not start")
                time.sleep(0.1)


@contextmanager
def logged_in_sim(run_dir, password, *args):
    """``tools/sim/run.py`` in ``run_dir`` on a free port (``args``: more of its options), and a
    Client logged in to it; stopped at the end as Ctrl-C stops it."""
    from tools.sim.broker import free_port

    client = Client(free_port(), password)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sim = subprocess.Popen([sys.executable, os.path.join(root, "tools", "sim", "run.py"), "--run-dir", run_dir,
                            "--http-port", str(client.port)] + list(args), cwd=root,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client.wait_up(30, sim)
        client.login()
        yield client
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait(20)
