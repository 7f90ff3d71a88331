"""A wire tap between the master and pymodbus slaves that damages replies on purpose (CPython).

Faults are chosen by unit id, so a test picks one by addressing that unit. The slaves stay the
independent pymodbus ones; only the bytes on the wire are changed, as noise or a faulty device
would change them.
"""

import os
import select
import threading
import time


def crc16(data):
    """Bitwise CRC-16/MODBUS, written apart from the firmware's table and viper versions."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(body):
    c = crc16(body)
    return bytes(body) + bytes([c & 0xFF, c >> 8])


FAULTS = {
    11: "silent",  # the request is lost on the way: the device never answers
    12: "bad_crc",  # last byte flipped
    13: "truncated",  # first half of the reply, then silence
    14: "extra",  # three bytes after a correct reply
    15: "wrong_unit",  # a correct frame, but from another unit
    16: "wrong_function",  # a correct frame, but for another function
    17: "noise",  # a correct reply, then garbage on the line between frames
    18: "slow",  # a correct reply after 300 ms
}


def _request_length(buf):
    if len(buf) < 7:
        return 8
    return 9 + buf[6] if buf[1] in (15, 16) else 8


def _reply_length(buf):
    if len(buf) < 3:
        return 5
    if buf[1] & 0x80:
        return 5
    return 5 + buf[2] if buf[1] in (1, 2, 3, 4) else 8


class Relay:
    """Copies requests from ``master_fd`` to ``slave_fd`` and replies back, applying FAULTS."""

    def __init__(self, master_path, slave_path, baud=9600):
        self.baud = baud
        self._m = os.open(master_path, os.O_RDWR | os.O_NOCTTY)
        self._s = os.open(slave_path, os.O_RDWR | os.O_NOCTTY)
        self.seen = []  # (unit, fault) per request, for tests to check what went by
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self):
        self._stop = True
        self._thread.join(5)
        os.close(self._m)
        os.close(self._s)

    def _read_frame(self, fd, length_of, first_timeout):
        buf = b""
        deadline = time.monotonic() + first_timeout
        while len(buf) < length_of(buf):
            left = deadline - time.monotonic()
            if left <= 0 or self._stop:
                return buf
            r, _, _ = select.select([fd], [], [], min(left, 0.05))
            if r:
                buf += os.read(fd, 512)
                deadline = time.monotonic() + 0.05  # gap limit inside a frame
        return buf

    def _run(self):
        while not self._stop:
            req = self._read_frame(self._m, _request_length, 0.2)
            if len(req) < 8:
                continue
            unit = req[0]
            fault = FAULTS.get(unit)
            self.seen.append((unit, fault))
            if fault == "silent":
                continue
            os.write(self._s, req)
            reply = self._read_frame(self._s, _reply_length, 1.0)
            if not reply:
                continue
            if fault == "bad_crc":
                reply = reply[:-1] + bytes([reply[-1] ^ 0xFF])
            elif fault == "truncated":
                reply = reply[: len(reply) // 2]
            elif fault == "extra":
                reply = reply + b"\x00\x01\x02"
            elif fault == "wrong_unit":
                reply = with_crc(bytes([reply[0] + 100]) + reply[1:-2])
            elif fault == "wrong_function":
                reply = with_crc(reply[:1] + bytes([4 if reply[1] == 3 else 3]) + reply[2:-2])
            elif fault == "slow":
                time.sleep(0.3)
            os.write(self._m, reply)
            if fault == "noise":
                # The master models wire time: the reply is still on the wire for 10 bits a byte.
                # Noise *between* frames starts once it has passed, plus a gap past t3.5: 100 ms,
                # as a master on a loaded machine may read the reply's end late (10 ms: the noise
                # was read with it, "reply of 26 bytes"); the scenario waits 0.3 s for the noise.
                time.sleep(len(reply) * 10 / self.baud + 0.100)
                os.write(self._m, b"\xff\x03\x02\x00\x2a\x55")
