"""Wall-clock time: an asyncio SNTP client (RFC 4330), synced once the network is connected and
again every day, and timestamps for samples taken before the first sync.

Timestamps for the uplink (and anything that records data):

- ``clock.stamp()`` -> ``[unix_ms, boot, uptime_ms]``: a JSON-friendly list. ``unix_ms`` is None
  until the clock has been synced since this start; ``boot`` is a random id of this start;
  ``uptime_ms`` is monotonic time since the start (never wraps, never steps).
- ``clock.resolve(stamp)`` -> Unix time in ms, or None while still unknown. A stamp taken before
  the sync resolves, once the clock is synced, to the sync's time minus the uptime between the
  sample and the sync. A stamp from an earlier start that never got synced stays None (its
  uptime has no anchor): the uplink must keep such records with their uptime, or drop them.
- ``clock.time()`` -> Unix seconds now, or None before the first sync.

Only a sync in this start counts: the RTC survives a reset on the board but its time may be
unset or old. Times are integers throughout (the ESP32's floats are single precision).

The server is the ``clock.ntp_server`` setting (empty: no sync). Retries after a failure wait
``retry_ms``, doubling up to ``retry_max_ms``. Name resolution (``getaddrinfo``) blocks the loop
on the board; a server given as an address avoids it.
"""

import os
import socket
import struct

from firmware.compat import sleep_ms, ticks_diff, ticks_ms

NTP_PORT = 123
_NTP_UNIX = 2208988800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01
_EAGAIN = (11, 35)  # EAGAIN/EWOULDBLOCK on Linux and the ESP32 (11), BSD/macOS (35)


class SntpError(OSError):
    """No usable answer from the time server."""


class NotOurs(SntpError):
    """A packet that does not answer our request (stray or spoofed): ignored."""


def request(nonce):
    """A client request (LI 0, version 4, mode 3) carrying ``nonce`` (8 bytes) as its transmit time."""
    pkt = bytearray(48)
    pkt[0] = 0x23
    pkt[40:48] = nonce
    return pkt


def _ms(data, at):
    """The NTP timestamp at byte ``at`` of ``data`` as Unix ms (era 1, from 2036, when bit 31 is 0)."""
    sec, frac = struct.unpack_from("!II", data, at)
    if not sec & 0x80000000:
        sec += 1 << 32
    return (sec - _NTP_UNIX) * 1000 + ((frac * 1000 + (1 << 31)) >> 32)  # rounded to the ms


def parse(data, nonce):
    """(receive_ms, transmit_ms) of a server reply to the request carrying ``nonce``.

    Raises SntpError for a reply that is not one: wrong mode or length, unsynchronised or
    kiss-of-death server, or an origin time that is not our nonce (a stray or spoofed packet).
    """
    if len(data) < 48:
        raise SntpError("short reply (%d bytes)" % len(data))
    if data[0] & 7 != 4:
        raise SntpError("not a server reply (mode %d)" % (data[0] & 7))
    if data[0] >> 6 == 3 or not 1 <= data[1] <= 15:
        raise SntpError("server not synchronised (stratum %d)" % data[1])
    if bytes(data[24:32]) != bytes(nonce):
        raise NotOurs("reply to another request")
    if data[40:48] == b"\x00" * 8:
        raise SntpError("no transmit time")
    return _ms(data, 32), _ms(data, 40)


async def query(host, port=NTP_PORT, timeout_ms=3000, ticks=ticks_ms):
    """Asks ``host`` the time; returns ``(unix_ms, at)``: the time at the moment ``ticks()`` read
    ``at`` (the reply's arrival), half the round trip less the server's own delay added.

    A non-blocking UDP socket polled every 10 ms (MicroPython's asyncio has no datagram API).
    """
    addr = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0][-1]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        nonce = os.urandom(8)
        t0 = ticks()
        sock.sendto(request(nonce), addr)
        while True:
            try:
                data = sock.recvfrom(64)[0]
            except OSError as exc:
                if exc.errno not in _EAGAIN:
                    raise
                data = None
            if data is not None:
                at = ticks()
                try:
                    t2, t3 = parse(data, nonce)
                except NotOurs:
                    pass  # keep waiting for our answer
                else:
                    rtt = ticks_diff(at, t0)
                    server = t3 - t2
                    return t3 + (rtt - server if 0 <= server <= rtt else rtt) // 2, at
            if ticks_diff(ticks(), t0) >= timeout_ms:
                raise SntpError("no answer from %s:%d in %d ms" % (host, port, timeout_ms))
            await sleep_ms(10)
    finally:
        sock.close()


def iso(unix_s):
    """``YYYY-MM-DD hh:mm:ss`` (UTC) of Unix seconds, the same on every port and epoch."""
    days, s = divmod(int(unix_s), 86400)
    # civil-from-days (H. Hinnant), proleptic Gregorian
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (m <= 2)
    return "%04d-%02d-%02d %02d:%02d:%02d" % (y, m, d, s // 3600, s // 60 % 60, s % 60)


class Clock:
    """Uptime, sync state and timestamps; ``run()`` keeps it synced. ``rtc``: the board's Clock."""

    resync_ms = 24 * 3600 * 1000
    retry_ms = 30000
    retry_max_ms = 3600 * 1000
    timeout_ms = 3000
    poll_ms = 1000

    def __init__(self, rtc, server, log, port=NTP_PORT, online=None, ticks=ticks_ms):
        self.rtc = rtc
        self.server = server
        self.port = port
        self.log = log
        self.online = online or (lambda: True)
        self._ticks = ticks
        self._last = ticks()
        self._up = 0
        self.boot = struct.unpack("!I", os.urandom(4))[0] >> 2  # a small int on every port
        self.offset_ms = None  # Unix ms at uptime 0, once synced
        self.synced_at = None  # uptime ms of the last sync
        self.failures = 0
        self.next_ms = 0  # uptime ms of the next attempt

    def uptime_ms(self):
        """Monotonic ms since the start (called at least every few days: the loop does)."""
        t = self._ticks()
        self._up += ticks_diff(t, self._last)
        self._last = t
        return self._up

    def _uptime_at(self, ticks):
        up = self.uptime_ms()
        return up - ticks_diff(self._last, ticks)

    @property
    def synced(self):
        return self.offset_ms is not None

    def stamp(self):
        up = self.uptime_ms()
        return [None if self.offset_ms is None else self.offset_ms + up, self.boot, up]

    def resolve(self, stamp):
        unix_ms, boot, up = stamp
        if unix_ms is not None:
            return unix_ms
        if boot != self.boot or self.offset_ms is None:
            return None
        return self.offset_ms + up

    def now_ms(self):
        return None if self.offset_ms is None else self.offset_ms + self.uptime_ms()

    def time(self):
        ms = self.now_ms()
        return None if ms is None else ms // 1000

    def set(self, unix_ms, at=None):
        """The time was ``unix_ms`` when ``ticks()`` read ``at`` (default: now)."""
        up = self.uptime_ms() if at is None else self._uptime_at(at)
        old = self.offset_ms
        self.offset_ms = unix_ms - up
        self.synced_at = up
        self.rtc.set_time((self.offset_ms + self.uptime_ms()) // 1000)
        if old is None:
            self.log.info("clock: synced to %s UTC (%s)" % (iso(unix_ms // 1000), self.server))
        else:
            self.log.info("clock: re-synced, corrected by %d ms" % (self.offset_ms - old))

    def configure(self, server):
        """A new server setting: try it at once."""
        if server != self.server:
            self.server = server
            self.failures = 0
            self.next_ms = self.uptime_ms()

    def due(self):
        return bool(self.server) and self.uptime_ms() >= self.next_ms

    async def sync(self):
        """One attempt; True on success. Schedules the next one either way."""
        try:
            unix_ms, at = await query(self.server, self.port, self.timeout_ms, self._ticks)
        except (OSError, ValueError, IndexError) as exc:
            self.failures += 1
            wait = min(self.retry_ms << min(self.failures - 1, 16), self.retry_max_ms)
            self.next_ms = self.uptime_ms() + wait
            self.log.warning("clock: no time from %s (%s); next try in %d s" % (self.server, exc, wait // 1000))
            return False
        self.set(unix_ms, at)
        self.failures = 0
        self.next_ms = self.synced_at + self.resync_ms
        return True

    async def run(self):
        while True:
            if self.online() and self.due():
                await self.sync()
            await sleep_ms(self.poll_ms)

    def status(self):
        up = self.uptime_ms()
        return {
            "synced": self.synced,
            "time": self.time(),
            "server": self.server,
            "last_sync_s_ago": None if self.synced_at is None else (up - self.synced_at) // 1000,
        }
