"""Recording stand-in for the ESP32's ``machine`` (MicroPython 1.29): only the names the adapter
uses, each one present in micropython-esp32-stubs 1.29.0 with the same constant values
(host_tests/test_esp32_adapter.py checks both). Not the hardware: a stand-in says nothing about
timing, pins or the chip's behaviour.
"""

import io

from standin import Recorded, record

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

STATE = {"reset_cause": PWRON_RESET, "rtc_memory": b"", "inputs": {}}


def reset_cause(*args, **kwargs):
    record("machine.reset_cause", args, kwargs)
    return STATE["reset_cause"]


class ResetCalled(Exception):
    pass


def reset(*args, **kwargs):
    record("machine.reset", args, kwargs)
    raise ResetCalled()


class Pin(Recorded):
    _name = "machine.Pin"
    IN = 1
    OUT = 3
    PULL_UP = 2
    PULL_DOWN = 1

    def __init__(self, *args, **kwargs):
        record("machine.Pin", args, kwargs)
        self.id = args[0]
        self.level = kwargs.get("value")

    def value(self, *args, **kwargs):
        self._rec("value", args, kwargs)
        if args:
            self.level = args[0]
            return None
        return STATE["inputs"].get(self.id, 1)

    def __call__(self, *args, **kwargs):
        self._rec("__call__", args, kwargs)
        if args:
            self.level = args[0]
            return None
        return self.level


class UART(io.IOBase, Recorded):
    """A UART whose received bytes the test puts in ``rx``; written bytes go to ``tx``."""

    _name = "machine.UART"

    def __init__(self, *args, **kwargs):
        record("machine.UART", args, kwargs)
        self.rx = bytearray()
        self.tx = bytearray()

    def init(self, *args, **kwargs):
        self._rec("init", args, kwargs)

    def write(self, *args, **kwargs):
        self._rec("write", args, kwargs)
        self.tx += args[0]
        return len(args[0])

    def flush(self, *args, **kwargs):
        self._rec("flush", args, kwargs)

    def any(self, *args, **kwargs):
        self._rec("any", args, kwargs)
        return len(self.rx)

    def read(self, *args, **kwargs):
        self._rec("read", args, kwargs)
        n = args[0] if args else len(self.rx)
        out = bytes(self.rx[:n])
        self.rx = self.rx[n:]
        return out or None

    def readinto(self, *args, **kwargs):
        # asyncio.StreamReader(uart).readinto polls, then calls this.
        self._rec("readinto", args, kwargs)
        buf = args[0]
        n = min(len(buf), len(self.rx))
        buf[:n] = self.rx[:n]
        self.rx = self.rx[n:]
        return n or None

    def ioctl(self, req, arg):
        # The stream protocol asyncio.StreamReader polls through (the real UART is a C stream).
        # No file descriptor (MP_STREAM_GET_FILENO = 10): the unix port's poll then asks
        # MP_STREAM_POLL (3), answered readable (1) when bytes wait.
        if req == 10:
            return -1
        if req == 3:
            return arg & 1 if self.rx else 0
        return 0


class SPI(Recorded):
    _name = "machine.SPI"

    def __init__(self, *args, **kwargs):
        record("machine.SPI", args, kwargs)


class WDT(Recorded):
    _name = "machine.WDT"

    def __init__(self, *args, **kwargs):
        record("machine.WDT", args, kwargs)

    def feed(self, *args, **kwargs):
        self._rec("feed", args, kwargs)


class RTC(Recorded):
    _name = "machine.RTC"

    def __init__(self, *args, **kwargs):
        record("machine.RTC", args, kwargs)

    def memory(self, *args, **kwargs):
        self._rec("memory", args, kwargs)
        if args:
            STATE["rtc_memory"] = bytes(args[0])
            return None
        return STATE["rtc_memory"]

    def datetime(self, *args, **kwargs):
        self._rec("datetime", args, kwargs)
        return (2026, 1, 1, 3, 0, 0, 0, 0)
