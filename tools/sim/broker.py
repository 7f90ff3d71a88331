"""A mosquitto broker on a loopback port for the simulator, the tests and the soak run.

Persistence on, so a restart keeps what it had queued for persistent subscribers. With ``tls``
(a (certificate, key) pair of PEM file paths) it listens with TLS instead; ``extra`` are more
configuration lines.
"""

import os
import shutil
import socket
import subprocess
import time


def find_mosquitto():
    return shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self, folder, port=None, tls=None, anonymous=True, extra=(), exe=None):
        self.exe = exe or find_mosquitto()
        if not self.exe:
            raise RuntimeError("mosquitto is missing (make setup installs it)")
        self.port = port or free_port()
        self.folder = str(folder)
        os.makedirs(self.folder, exist_ok=True)
        self.conf = os.path.join(self.folder, "mosquitto.conf")
        lines = ["listener %d 127.0.0.1" % self.port, "allow_anonymous %s" % ("true" if anonymous else "false"),
                 "persistence true", "persistence_location %s/" % self.folder, "log_dest stderr",
                 "max_queued_messages 100000"]
        if os.geteuid() == 0:
            lines.append("user root")  # mosquitto drops root for "mosquitto" otherwise: the files are ours
        if tls:
            lines += ["certfile %s" % tls[0], "keyfile %s" % tls[1]]
        lines += list(extra)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log = open(os.path.join(self.folder, "mosquitto.log"), "ab")
        self.proc = None
        self._hold = None

    def start(self):
        if self._hold:  # give the port back to mosquitto
            self._hold.close()
            self._hold = None
        self.proc = subprocess.Popen([self.exe, "-c", self.conf], stderr=self.log, stdout=self.log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start (see %s/mosquitto.log)" % self.folder)

    def stop(self, hold=True):
        """Stops mosquitto. With ``hold`` its port stays bound (not listening: connections are
        refused) until ``start``, so that no other program on this machine takes it meanwhile: a
        soak run lost its broker that way, a 5-minute outage into a one-hour run."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: mosquitto saves its persistence file
            self.proc.wait(10)
        if hold and not self._hold:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", self.port))
                self._hold = s
            except OSError:
                s.close()

    def close(self):
        self.stop(hold=False)
        if self._hold:
            self._hold.close()
            self._hold = None
        self.log.close()
