"""An RS485 line of pymodbus RTU slaves on a pty, served from a background thread (CPython).

pymodbus is the independent peer: framing or CRC mistakes in the firmware's master are not
repeated here. Each unit has coils, discrete inputs, holding and input registers 0..N-1.
"""

import asyncio
import logging
import threading

from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


def register_pattern(unit, address):
    """The value unit ``unit`` holds in register ``address`` until written (tests compute it too)."""
    return (unit * 1000 + address * 7) & 0xFFFF


def device(unit, size=250, bits=2000):
    """A slave with ``bits`` coils/inputs and ``size`` registers of each kind."""
    regs = [register_pattern(unit, a) for a in range(size)]
    coils = [(a * unit) % 3 == 0 for a in range(bits)]
    return SimDevice(id=unit, simdata=(
        [SimData(0, values=coils, datatype=DataType.BITS)],
        [SimData(0, values=[not c for c in coils], datatype=DataType.BITS)],
        [SimData(0, values=list(regs), datatype=DataType.REGISTERS)],
        [SimData(0, values=[(r ^ 0xFFFF) for r in regs], datatype=DataType.REGISTERS)],
    ))


def crc16(data):
    """Modbus CRC-16, little end first (the sim's own: a fault it makes must not share the master's code)."""
    c = 0xFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
    return bytes((c & 0xFF, c >> 8))


FAULTS = ("crc", "truncated", "wrong_unit")


def spoil(fault, data):
    """A reply as a faulty unit sends it: a bad CRC, cut after half its bytes, or from another unit."""
    if fault == "crc":
        return data[:-1] + bytes(((data[-1] ^ 0x5A),))
    if fault == "truncated":
        return data[: max(1, len(data) // 2)]
    body = bytes(((data[0] % 247) + 1,)) + data[1:-2]
    return body + crc16(body)


class Line:
    """pymodbus slaves ``units`` answering on the pty ``path``; ``stop()`` ends them."""

    def __init__(self, path, units, baud=9600, devices=None):
        self.path = path
        self.devices = devices or [device(u) for u in units]
        self.units = set(units)
        self.silent = set()  # unit ids whose replies are dropped: a device that went quiet
        self.faults = {}  # unit id: one of FAULTS, how its replies are spoiled
        self._baud = baud
        self._loop = None
        self._server = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("pymodbus server did not start on %s" % path)

    def _run(self):
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except Exception:
            pass

    async def _serve(self):
        # pymodbus binds its transport to the running loop: build the server inside it.
        # A unit nobody serves stays silent, as on a real bus.
        self._server = ModbusSerialServer(self.devices, port=self.path, baudrate=self._baud,
                                          ignore_missing_devices=True, trace_packet=self._trace)
        self._loop.call_soon(self._ready.set)
        await self._server.serve_forever()

    def _trace(self, sending, data):
        # Replies of silenced units never reach the wire (b"" sends nothing); nor do pymodbus's
        # own answers for units it does not serve (exception 4, even with ignore_missing_devices):
        # on a real bus nobody answers there.
        if sending and data and (data[0] in self.silent or data[0] not in self.units):
            return b""
        if sending and data and data[0] in self.faults:
            return spoil(self.faults[data[0]], bytes(data))
        return data

    def stop(self):
        if self._loop and self._server:
            fut = asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop)
            try:
                fut.result(5)
            except Exception:
                pass
        self._thread.join(5)


def main(argv=None):
    """``python -m tools.sim.line PTY FIRST LAST``: serve units FIRST..LAST until terminated."""
    import signal
    import sys

    args = (argv or sys.argv)[1:]
    path, first, last = args[0], int(args[1]), int(args[2])
    line = Line(path, range(first, last + 1))
    print("ready", flush=True)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM, signal.SIGINT])  # sigwait gets them
    signal.sigwait([signal.SIGTERM, signal.SIGINT])
    line.stop()


if __name__ == "__main__":
    main()
