"""An SNTP server on loopback for the simulator and the tests (plain CPython sockets, written apart
from the firmware's client): serves ``base`` (Unix seconds; default the PC's clock) plus the time
since it started, echoing the request's transmit time as the origin time."""

import socket
import struct
import threading
import time

NTP_UNIX = 2208988800


class SntpResponder:
    def __init__(self, base=None, from_first_request=False):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.base = time.time() if base is None else base
        # from_first_request: ``base`` is the time at the first request (a test knows the time the
        # firmware is given, however long it took to start)
        self.t0 = None if from_first_request else time.monotonic()
        self.requests = 0
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def now(self):
        if self.t0 is None:
            return self.base
        return self.base + (time.monotonic() - self.t0)

    def _serve(self):
        while self.running:
            try:
                data, addr = self.sock.recvfrom(512)
            except OSError:
                continue
            if len(data) < 48 or data[0] & 7 != 3:
                continue
            self.requests += 1
            if self.t0 is None:
                self.t0 = time.monotonic()
            t = self.now() + NTP_UNIX
            stamp = struct.pack("!II", int(t), int((t % 1) * 2**32))
            reply = struct.pack("!BBbb", (4 << 3) | 4, 1, 6, -20) + bytes(8) + b"GPS\x00" + stamp + data[40:48]
            self.sock.sendto(reply + stamp + stamp, addr)

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()
