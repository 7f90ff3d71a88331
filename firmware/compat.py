"""The few differences between MicroPython and CPython that pure logic needs, in one place.

MicroPython has tick counters that wrap and ``asyncio.sleep_ms``; CPython has neither. Everything
else in the firmware imports these names from here instead of testing the runtime itself.
"""

import asyncio
import sys

try:
    from time import ticks_add, ticks_diff, ticks_ms, ticks_us  # type: ignore[attr-defined]

    MICROPYTHON = True
except ImportError:  # CPython: same semantics, period 2**30 like a 32-bit MicroPython port
    import time as _time

    MICROPYTHON = False
    _PERIOD = 1 << 30
    _MASK = _PERIOD - 1
    _HALF = _PERIOD >> 1

    def ticks_ms():
        return int(_time.monotonic() * 1000) & _MASK

    def ticks_us():
        return int(_time.monotonic() * 1000000) & _MASK

    def ticks_add(ticks, delta):
        return (ticks + delta) & _MASK

    def ticks_diff(end, start):
        return ((end - start + _HALF) & _MASK) - _HALF


if hasattr(asyncio, "sleep_ms"):
    sleep_ms = asyncio.sleep_ms
    wait_for_ms = asyncio.wait_for_ms
else:

    def sleep_ms(ms):
        return asyncio.sleep(ms / 1000)

    def wait_for_ms(aw, ms):
        return asyncio.wait_for(aw, ms / 1000)


def format_exception(exc):
    """The traceback of ``exc`` as text, on either runtime."""
    if hasattr(sys, "print_exception"):
        import io

        buf = io.StringIO()
        sys.print_exception(exc, buf)  # type: ignore[attr-defined]
        return buf.getvalue()
    import traceback

    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
