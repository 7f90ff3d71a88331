# The SNTP client against a responder on loopback that the test starts, and the clock's stamps.
import asyncio
import os
import socket
import struct

from support import raises

from firmware import clock
from firmware.compat import sleep_ms, ticks_add, ticks_ms
from firmware.log import Log

SERVER_TIME = 1893456000  # 2030-01-01 00:00:00 UTC: far from the host's clock, so a sync shows


def _ntp(unix_ms):
    sec = unix_ms // 1000 + 2208988800
    return struct.pack("!II", sec & 0xFFFFFFFF, ((unix_ms % 1000) << 32) // 1000)


def _reply(request, unix_ms, stratum=2, mode=4, origin=None):
    out = bytearray(48)
    out[0] = (4 << 3) | mode
    out[1] = stratum
    out[24:32] = request[40:48] if origin is None else origin
    out[32:40] = _ntp(unix_ms)
    out[40:48] = _ntp(unix_ms)
    return out


class Responder:
    """A minimal SNTP server on 127.0.0.1 (a task of the test's loop): answers every request with
    ``unix_ms``; ``stray`` first sends a packet answering someone else's request."""

    def __init__(self, unix_ms=SERVER_TIME * 1000, stratum=2, stray=False):
        self.unix_ms = unix_ms
        self.stratum = stratum
        self.stray = stray
        self.requests = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(50):  # the unix port has no getsockname(): pick a free port ourselves
            self.port = 20000 + struct.unpack("!H", os.urandom(2))[0] % 40000
            try:
                self.sock.bind(socket.getaddrinfo("127.0.0.1", self.port)[0][-1])
                break
            except OSError:
                continue
        self.sock.setblocking(False)
        self.task = asyncio.create_task(self._serve())

    async def _serve(self):
        while True:
            try:
                data, addr = self.sock.recvfrom(64)
            except OSError:
                await sleep_ms(2)
                continue
            self.requests += 1
            if self.stray:
                self.sock.sendto(_reply(data, 0, origin=b"12345678"), addr)
            self.sock.sendto(_reply(data, self.unix_ms, self.stratum), addr)

    def close(self):
        self.task.cancel()
        self.sock.close()


class Rtc:
    def __init__(self):
        self.set = None

    def set_time(self, seconds):
        self.set = seconds


class Ticks:
    """Simulated ticks_ms, starting just before the counter wraps."""

    def __init__(self):
        self.now = ticks_add(0, -1000)

    def __call__(self):
        return self.now

    def advance(self, ms):
        self.now = ticks_add(self.now, ms)


def test_packet_rules():
    nonce = b"ABCDEFGH"
    req = clock.request(nonce)
    assert len(req) == 48 and req[0] == 0x23 and bytes(req[40:48]) == nonce
    t2, t3 = clock.parse(_reply(req, 1893456000123), nonce)
    assert t2 == t3 == 1893456000123
    # NTP era 1 (from 2036-02-07): a timestamp with bit 31 clear
    assert clock.parse(_reply(req, 2085978496000 + 5000), nonce)[1] == 2085978496000 + 5000
    assert isinstance(raises(clock.NotOurs, clock.parse, _reply(req, 0, origin=b"x" * 8), nonce), clock.SntpError)
    assert "stratum 0" in str(raises(clock.SntpError, clock.parse, _reply(req, 1000, stratum=0), nonce))
    assert "mode 3" in str(raises(clock.SntpError, clock.parse, _reply(req, 1000, mode=3), nonce))
    assert "short" in str(raises(clock.SntpError, clock.parse, b"\x24" * 20, nonce))


def test_iso_dates():
    assert clock.iso(0) == "1970-01-01 00:00:00"
    assert clock.iso(SERVER_TIME + 3723) == "2030-01-01 01:02:03"
    assert clock.iso(951782400) == "2000-02-29 00:00:00"
    assert clock.iso(4107542399) == "2100-02-28 23:59:59"


async def test_query_a_responder_on_loopback():
    srv = Responder(stray=True)
    try:
        unix_ms, at = await clock.query("127.0.0.1", srv.port, 2000)
        late = ticks_ms() - at
        assert SERVER_TIME * 1000 <= unix_ms <= SERVER_TIME * 1000 + 100 + late, unix_ms
        assert srv.requests == 1
    finally:
        srv.close()


async def test_query_times_out_and_refuses_an_unsynchronised_server():
    srv = Responder(stratum=0)
    try:
        err = None
        try:
            await clock.query("127.0.0.1", srv.port, 1000)
        except clock.SntpError as exc:
            err = exc
        assert err is not None and "stratum 0" in str(err), err
        srv.close()
        t0 = ticks_ms()
        try:
            await clock.query("127.0.0.1", srv.port, 200)  # nobody listens any more
        except OSError as exc:
            err = exc
        assert "no answer" in str(err), err
        assert 200 <= ticks_ms() - t0 < 1000
    finally:
        srv.close()


async def test_samples_before_the_sync_get_corrected_timestamps():
    srv = Responder()
    rtc = Rtc()
    log = Log(size=16, echo=False)
    clk = clock.Clock(rtc, "127.0.0.1", log, port=srv.port)
    try:
        assert not clk.synced and clk.time() is None
        before = clk.stamp()
        assert before[0] is None and clk.resolve(before) is None
        await sleep_ms(300)
        assert await clk.sync() is True
        assert clk.synced and clk.failures == 0
        after = clk.stamp()
        got = clk.resolve(before)
        # the sample was taken 300 ms (plus the query) before the server's time
        assert SERVER_TIME * 1000 - 400 <= got <= SERVER_TIME * 1000 - 290, got - SERVER_TIME * 1000
        assert after[0] is not None and clk.resolve(after) == after[0]
        assert after[0] - got >= 290
        assert abs(rtc.set - SERVER_TIME) <= 1
        assert abs(clk.time() - SERVER_TIME) <= 1
        # a stamp of another start (or one lost in the uplink's queue with no anchor) stays unknown
        assert clk.resolve([None, clk.boot ^ 1, before[2]]) is None
        assert clk.status()["synced"] is True and clk.status()["last_sync_s_ago"] == 0
        assert any(e[2] == "clock: synced to 2030-01-01 00:00:00 UTC (127.0.0.1)" for e in log.recent())
    finally:
        srv.close()


def test_stamps_resolve_in_simulated_time():
    ticks = Ticks()
    clk = clock.Clock(Rtc(), "ntp.example", Log(size=8, echo=False), ticks=ticks)
    early = clk.stamp()
    ticks.advance(90 * 60 * 1000)  # 1.5 h unsynced, across the tick wrap
    mid = clk.stamp()
    clk.set(SERVER_TIME * 1000)
    assert clk.resolve(early) == SERVER_TIME * 1000 - 90 * 60 * 1000
    assert clk.resolve(mid) == SERVER_TIME * 1000
    ticks.advance(1234)
    assert clk.stamp()[0] == SERVER_TIME * 1000 + 1234
    # the time the reply arrived is what counts, not when it was processed
    at = ticks()
    ticks.advance(500)
    clk.set(SERVER_TIME * 1000 + 10000, at)
    assert clk.now_ms() == SERVER_TIME * 1000 + 10500


async def test_sync_schedule_daily_and_backoff_on_failure():
    ticks = Ticks()
    log = Log(size=32, echo=False)
    clk = clock.Clock(Rtc(), "127.0.0.1", log, port=9, ticks=ticks)  # port 9 (discard): no answer
    clk.timeout_ms = 0
    assert clk.due()
    waits = []
    for _ in range(9):
        assert await clk.sync() is False
        waits.append(clk.next_ms - clk.uptime_ms())
        ticks.advance(waits[-1])
        assert clk.due()
    assert waits == [30000, 60000, 120000, 240000, 480000, 960000, 1920000, 3600000, 3600000], waits
    assert "next try in 30 s" in log.recent()[0][2], log.recent()[0][2]
    # a sync puts the next one a day later
    srv = Responder()
    clk = clock.Clock(Rtc(), "127.0.0.1", log, port=srv.port)
    try:
        assert await clk.sync() is True
        assert not clk.due()
        assert clk.next_ms - clk.synced_at == 24 * 3600 * 1000
    finally:
        srv.close()
    # a new server is tried at once; no server, no sync
    clk.configure("pool.ntp.org")
    assert clk.due() and clk.failures == 0
    clk.configure("")
    assert not clk.due()
