"""One Modbus RTU transaction engine per RS485 channel.

One request in flight per bus; t3.5 of silence before each request; stale bytes discarded; the
driver enable is the port's business (high only while sending). A reply is read until the length
its header announces, with a timeout for the first byte and an inter-character gap limit after it,
then checked completely: a reply from the wrong unit or for the wrong function is an error, never
accepted. Timeouts, CRC and frame errors are retried (``retries``, default 1); an exception reply
is the device's answer and is not.

Counts per device feed the status page.
"""

from micropython import const

from firmware import wire
from firmware.compat import sleep_ms, ticks_diff, ticks_ms, ticks_us
from firmware.modbus import frame
from firmware.modbus.errors import CrcError, ExceptionReply, FrameError, ModbusError, ReplyTimeout, RequestError
from firmware.modbus.scheduler import USER, Scheduler
from firmware.rs485 import BAUD_RATES, PARITIES, STOP_BITS, UART_PARITY

_BUF = const(260)
_LATENCIES = const(32)  # response times kept per device for p50/p95


class DeviceStats:
    """Bus health of one device (unit id) on a channel."""

    def __init__(self):
        self.requests = 0
        self.successes = 0
        self.timeouts = 0
        self.crc_errors = 0
        self.frame_errors = 0
        self.exceptions = 0
        # The last response times (ms, u16 each), a ring; the latest is the last written. (8
        # attributes: a 9th doubles an instance's attribute table.)
        self._lat = bytearray(2 * _LATENCIES)
        self._lat_n = 0

    @property
    def last_latency_ms(self):
        if not self._lat_n:
            return None
        i = 2 * ((self._lat_n - 1) % _LATENCIES)
        return (self._lat[i] << 8) | self._lat[i + 1]

    def answered(self, ms):
        self.successes += 1
        i = 2 * (self._lat_n % _LATENCIES)
        ms = min(ms, 0xFFFF)
        self._lat[i] = ms >> 8
        self._lat[i + 1] = ms & 0xFF
        self._lat_n += 1

    def percentiles(self):
        """(p50, p95) of the kept response times in ms, or (None, None) before any."""
        n = min(self._lat_n, _LATENCIES)
        if not n:
            return None, None
        lat = sorted((self._lat[2 * i] << 8) | self._lat[2 * i + 1] for i in range(n))
        return lat[(n - 1) // 2], lat[min(n - 1, (95 * n + 99) // 100 - 1)]

    def clash_likely(self):
        """True when the errors look like two devices answering on this one address: garbled
        replies (CRC and frame errors) mixed with good ones, rather than silence."""
        bad = self.crc_errors + self.frame_errors
        return self.successes > 0 and bad >= 5 and 10 * bad >= self.requests and bad > self.timeouts

    def as_dict(self):
        p50, p95 = self.percentiles()
        return {"requests": self.requests, "successes": self.successes, "timeouts": self.timeouts,
                "crc_errors": self.crc_errors, "frame_errors": self.frame_errors,
                "exceptions": self.exceptions, "last_latency_ms": self.last_latency_ms,
                "p50_ms": p50, "p95_ms": p95, "clash_likely": self.clash_likely()}


class Channel:
    """The master on one RS485 channel (``number`` 1-3) over an adapter ``port``."""

    response_timeout_ms = 500  # until the first byte of the reply
    retries = 1

    def __init__(self, port, number, baud=9600, parity="N", stop=1):
        self.port = port
        self.number = number
        self._tx = bytearray(_BUF)
        self._rx = bytearray(_BUF)
        self._rx_mv = memoryview(self._rx)
        self.bus = Scheduler()  # every transaction on this channel asks it for the bus
        self._last = ticks_us()  # end of the last bus activity we saw
        self.stats = {}
        self._untracked = DeviceStats()  # counts of the requests made with track=False (scans)
        self._pending = None
        self.configure(baud, parity, stop)

    def configure(self, baud, parity="N", stop=1):
        """Sets the line: 8 data bits, parity N, E or O, 1 or 2 stop bits.

        Checked at once; applied at once when the bus is idle, else just before the next
        transaction, so a change never cuts through a request and its reply.
        """
        if baud not in BAUD_RATES:
            raise RequestError("baud rate %r not one of %s" % (baud, ", ".join(str(b) for b in BAUD_RATES)))
        if parity not in PARITIES:
            raise RequestError("parity %r not one of %s" % (parity, ", ".join(PARITIES)))
        if stop not in STOP_BITS:
            raise RequestError("stop bits %r not one of %s" % (stop, ", ".join(str(s) for s in STOP_BITS)))
        self._pending = (baud, parity, stop)
        if not self.bus.busy:
            self._apply_line()

    def _apply_line(self):
        baud, parity, stop = self._pending
        self._pending = None
        self.baud = baud
        self.parity = parity
        self.stop = stop
        self.port.configure(baud, UART_PARITY[parity], stop)
        self._t35 = wire.t35_us(baud, UART_PARITY[parity], stop)
        # Gap allowed between two characters of one reply. The spec's t1.5 is below the board's
        # 10 ms scheduler tick at most rates, so a reply is cut only by a silence past t3.5 plus
        # the tick: a late byte then starts no new frame, it is a broken one.
        self.gap_ms = self._t35 // 1000 + 12

    def device(self, unit):
        st = self.stats.get(unit)
        if st is None:
            st = self.stats[unit] = DeviceStats()
        return st

    async def request(self, unit, function, address, quantity=1, values=None, out=None, priority=USER,
                      timeout_ms=None, retries=None, track=True):
        """Runs one transaction; returns the read values (a list, or bytes copied into ``out``).

        Reads return registers as ints, coils/inputs as bools; with ``out`` (a bytearray) the raw
        data bytes are copied there instead and their count returned. Writes return None.
        ``priority`` (modbus.scheduler) says who goes first when the bus is wanted by several;
        ``timeout_ms`` and ``retries`` override the channel's for this one (a probe's short try);
        ``track=False`` keeps no per-unit counts (a scan's addresses that may hold nothing).
        """
        await self.bus.acquire(priority)
        try:
            # Built holding the bus: _tx is shared, and another request may be waiting for it.
            if self._pending:
                self._apply_line()
            n = frame.build(self._tx, unit, function, address, quantity, values)
            st = self.device(unit) if track else self.stats.get(unit) or self._untracked
            attempt = 0
            retries = self.retries if retries is None else retries
            while True:
                st.requests += 1
                t0 = ticks_ms()
                try:
                    size = await self._transact(n, function, quantity, timeout_ms)
                except ExceptionReply:
                    st.exceptions += 1
                    raise
                except ModbusError as exc:
                    if isinstance(exc, ReplyTimeout):
                        st.timeouts += 1
                    elif isinstance(exc, CrcError):
                        st.crc_errors += 1
                    else:
                        st.frame_errors += 1
                    if attempt >= retries:
                        raise
                    attempt += 1
                    continue
                st.answered(ticks_diff(ticks_ms(), t0))
                break
            if function in (1, 2, 3, 4):
                if out is not None:
                    out[:size] = self._rx_mv[3 : 3 + size]
                    return size
                if function in (3, 4):
                    return frame.registers(self._rx, quantity)
                return frame.bits(self._rx, quantity)
            return None
        finally:
            self.bus.release()

    async def _quiet(self):
        """Waits for t3.5 of silence on the line, dropping whatever arrives meanwhile."""
        deadline = ticks_ms()
        while True:
            if self.port.discard():
                self._last = ticks_us()
            since = ticks_diff(ticks_us(), self._last)
            # Negative: the last activity is so old the tick counter wrapped (about 9 minutes of
            # ticks_us on the board): the line has long been quiet.
            if since < 0 or since >= self._t35:
                return
            wait = self._t35 - since
            if ticks_diff(ticks_ms(), deadline) > self.response_timeout_ms:
                raise ReplyTimeout("channel %d: line never quiet" % self.number)
            await sleep_ms((wait + 999) // 1000)

    async def _transact(self, n, function, quantity, timeout_ms=None):
        await self._quiet()
        await self.port.send(memoryview(self._tx)[:n])
        # Half duplex: whatever came in while we were talking is not the reply.
        self.port.discard()
        self._last = ticks_us()
        rx = self._rx_mv
        got = 0
        expect = _BUF
        timeout = timeout_ms or self.response_timeout_ms
        while got < expect:
            k = await self.port.recv(rx[got:], timeout)
            if not k:
                self._last = ticks_us()
                if not got:
                    raise ReplyTimeout("unit %d: no reply in %d ms" % (self._tx[0], timeout))
                raise FrameError("reply truncated: %d of %s bytes, then silence"
                                 % (got, expect if expect < _BUF else "?"))
            got += k
            last_byte = ticks_us()
            timeout = self.gap_ms
            if expect == _BUF and got >= 3:
                expect = frame.reply_length(function, quantity, self._rx)
        if got == expect:
            # A frame ends with t3.5 of silence; bytes before that belong to it. Waiting here costs
            # nothing: the next request has to wait for that silence anyway, counted from the
            # reply's last byte (below), so it is not waited twice.
            more = await self.port.recv(rx[got:], (self._t35 + 999) // 1000)
            if more:
                got += more
                last_byte = ticks_us()
        self._last = last_byte
        if got > expect:
            raise FrameError("reply of %d bytes, %d expected" % (got, expect))
        return frame.check(self._rx, got, self._tx)
