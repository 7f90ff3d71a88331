"""A small asyncio MQTT 3.1.1 client for both runtimes (plain TCP, or TLS with an SSL context).

umqtt blocks the loop and mqtt_as is tied to WiFi (docs/platform.md), hence this one. It speaks
CONNECT (credentials, keep-alive, clean session, last will), PUBLISH QoS 0/1 with up to
``max_inflight`` unacknowledged packets, PINGREQ, SUBSCRIBE and incoming PUBLISH (QoS 0/1).
The packet functions are pure, so tests compare them with bytes worked out from the spec.
"""

import asyncio
import struct

from firmware.compat import sleep_ms, ticks_diff, ticks_ms, wait_for_ms

CONNACK_ERRORS = {1: "unacceptable protocol version", 2: "client identifier rejected",
                  3: "server unavailable", 4: "bad user name or password", 5: "not authorized"}
PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"


class MQTTError(OSError):
    """A refused connection, a lost connection or a missing acknowledgement."""


# -- packets (pure) --------------------------------------------------------------------------


def enc_len(n):
    """The remaining-length field: 7 bits a byte, least significant first, 4 bytes at most."""
    if not 0 <= n < 268435456:
        raise ValueError("length %d" % n)
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def enc_str(s):
    """A UTF-8 string (or bytes) with its u16 length."""
    b = s.encode() if isinstance(s, str) else bytes(s)
    return struct.pack(">H", len(b)) + b


def _packet(first, body):
    return bytes([first]) + enc_len(len(body)) + body


def connect_packet(client_id, keepalive=60, username=None, password=None, will=None, clean=True):
    """CONNECT; ``will`` is (topic, payload, qos, retain) or None."""
    flags = 0x02 if clean else 0
    tail = enc_str(client_id)
    if will:
        topic, msg, qos, retain = will
        flags |= 0x04 | qos << 3 | (0x20 if retain else 0)
        tail += enc_str(topic) + enc_str(msg)
    if username is not None:
        flags |= 0x80
        tail += enc_str(username)
        if password is not None:
            flags |= 0x40
            tail += enc_str(password)
    return _packet(0x10, enc_str("MQTT") + struct.pack(">BBH", 4, flags, keepalive) + tail)


def publish_head(topic, size, qos=0, retain=False, pid=0, dup=False):
    """A PUBLISH packet up to its payload, for a payload of ``size`` bytes."""
    t = enc_str(topic)
    pid = struct.pack(">H", pid) if qos else b""
    first = 0x30 | qos << 1 | (1 if retain else 0) | (8 if dup else 0)
    return bytes([first]) + enc_len(len(t) + len(pid) + size) + t + pid


def subscribe_packet(pid, topics):
    """SUBSCRIBE for [(topic filter, qos)]."""
    body = struct.pack(">H", pid) + b"".join(enc_str(t) + bytes([q]) for t, q in topics)
    return _packet(0x82, body)


def puback_packet(pid):
    return b"\x40\x02" + struct.pack(">H", pid)


def parse_publish(first, body):
    """(topic, payload, qos, retain, pid) of a PUBLISH body; pid is 0 for QoS 0."""
    n = struct.unpack(">H", body[:2])[0]
    topic = bytes(body[2 : 2 + n]).decode()
    qos = (first >> 1) & 3
    i = 2 + n
    pid = 0
    if qos:
        pid = struct.unpack(">H", body[i : i + 2])[0]
        i += 2
    return topic, bytes(body[i:]), qos, bool(first & 1), pid


# -- client ----------------------------------------------------------------------------------


class MQTTClient:
    """One connection; ``connect`` again after a failure. ``on_message(topic, payload, retain)``."""

    def __init__(self, client_id, host, port=1883, username=None, password=None, keepalive=60,
                 will=None, ssl=None, on_message=None, max_inflight=8, timeout_ms=10000,
                 clean=True, buf=None):
        self.client_id, self.host, self.port = client_id, host, port
        self.username, self.password = username, password
        self.keepalive, self.will, self.ssl = keepalive, will, ssl
        self.on_message = on_message
        self.clean = clean
        self.max_inflight = max_inflight
        self.timeout_ms = timeout_ms
        self.connected = False
        self._r = self._w = None
        self._tasks = []
        self._pid = 0
        self._waits = {}  # pid -> [Event, result]; result None until the broker answers
        self._lock = asyncio.Lock()
        self._last_rx = 0
        # Publishes are packed into this one buffer (the uplink lends it, made once at start-up):
        # joining a window of packets needed ~2.5 KB of unbroken heap each time.
        self._buf = buf if buf is not None else bytearray(1024)
        self._n = 0  # bytes packed in it, not yet written

    async def connect(self):
        self._waits = {}
        kw = {"ssl": self.ssl} if self.ssl else {}
        self._r, self._w = await wait_for_ms(
            asyncio.open_connection(self.host, self.port, **kw), self.timeout_ms)
        err = None
        try:
            await self._send(connect_packet(self.client_id, self.keepalive, self.username,
                                            self.password, self.will, self.clean))
            head = await wait_for_ms(self._r.readexactly(4), self.timeout_ms)
            if head[0] != 0x20 or head[1] != 2:
                err = "not a CONNACK: %r" % head
            elif head[3]:
                err = "connection refused (%d): %s" % (
                    head[3], CONNACK_ERRORS.get(head[3], "unknown code"))
        except ValueError as exc:  # MicroPython's TLS: a refused certificate, at the first write
            err = "TLS: %s" % (str(exc).strip() or type(exc).__name__)
        except BaseException:
            await self.close()
            raise
        if err:
            await self.close()
            raise MQTTError(err)
        self.connected = True
        self._last_rx = ticks_ms()
        self._tasks = [asyncio.create_task(self._reader()), asyncio.create_task(self._pinger())]

    async def publish(self, topic, payload, qos=0, retain=False):
        """Sends; with QoS 1 also waits for the PUBACK (MQTTError when it does not come)."""
        pid = await self.send(topic, payload, qos, retain)
        if qos:
            await self.wait_ack(pid)

    async def send(self, topic, payload, qos=0, retain=False):
        """Sends without waiting for the PUBACK; returns the packet id (0 for QoS 0)."""
        return (await self.send_many([(topic, payload, retain)], qos))[0]

    async def send_many(self, msgs, qos=1):
        """Sends ``msgs`` ((topic, payload, retain) each) in few writes (not one TCP segment per
        record), packed into the client's buffer. A payload may be a list of pieces (str or
        bytes): they are packed one after the other, so no message is ever joined whole in RAM.
        Returns their packet ids."""
        pids = []
        for topic, payload, retain in msgs:
            pid = 0
            if qos:
                while len(self._waits) >= self.max_inflight:  # QoS 1 window is full
                    await self._send()  # what is packed goes out meanwhile
                    if not self.connected:
                        raise MQTTError("not connected")
                    await sleep_ms(5)
                pid = self._new_pid()
            pids.append(pid)
            parts = payload if isinstance(payload, list) else (payload,)
            parts = [p.encode() if isinstance(p, str) else p for p in parts]
            head = publish_head(topic, sum(len(p) for p in parts), qos, retain, pid)
            async with self._lock:  # a packet is packed whole before another task may write
                await self._pack(head)
                for p in parts:
                    await self._pack(p)
        await self._send()
        return pids

    def _writer(self):
        if self._w is None:  # closed, also while a send waited for the lock or the stream
            raise MQTTError("not connected")
        return self._w

    async def _pack(self, data):
        # The lock is held. A piece bigger than the buffer goes out on its own.
        buf = self._buf
        if self._n + len(data) > len(buf):
            await self._out()
            if len(data) > len(buf):
                w = self._writer()
                w.write(data)
                await w.drain()
                return
        self._writer()
        buf[self._n : self._n + len(data)] = data
        self._n += len(data)

    async def _out(self):
        # The lock is held. The stream copies what it cannot write at once, so the buffer is free
        # again when write() returns.
        if self._n:
            n, self._n = self._n, 0
            w = self._writer()
            w.write(memoryview(self._buf)[:n])
            await w.drain()

    def acked(self, pid):
        """True when the acknowledgement of ``pid`` has come (``wait_ack`` returns at once)."""
        w = self._waits.get(pid)
        return w is not None and w[1] is not None

    async def wait_ack(self, pid, timeout_ms=None):
        """Waits for the acknowledgement of ``pid``; returns the broker's answer (SUBACK codes)."""
        w = self._waits.get(pid)
        if w is None:
            raise MQTTError("packet %d is not in flight" % pid)
        try:
            await wait_for_ms(w[0].wait(), timeout_ms or self.timeout_ms)
        except asyncio.TimeoutError:
            raise MQTTError("no acknowledgement for packet %d" % pid)
        finally:
            self._waits.pop(pid, None)
        if w[1] is None:
            raise MQTTError("connection lost")
        return w[1]

    async def subscribe(self, topic, qos=1):
        pid = self._new_pid()
        await self._send(subscribe_packet(pid, [(topic, qos)]))
        codes = await self.wait_ack(pid)
        if codes[0] == 0x80:
            raise MQTTError("subscription to %s refused" % topic)
        return codes[0]

    async def disconnect(self):
        """A clean goodbye: the broker does not publish the last will."""
        if self.connected:
            try:
                await self._send(DISCONNECT)
            except OSError:
                pass  # already gone: the broker sends the will, nothing else to do
        await self.close()

    async def close(self):
        """Drops the connection; packets waiting for an acknowledgement fail."""
        self.connected = False
        me = asyncio.current_task()
        for t in self._tasks:
            if t is not me:
                t.cancel()
        self._tasks = []
        for w in self._waits.values():
            w[0].set()
        if self._w is not None:
            w, self._w = self._w, None
            try:
                w.close()
                await w.wait_closed()
            except Exception:  # the socket may already be gone; closing must not fail
                pass

    # -- internals -----------------------------------------------------------------------------

    def _new_pid(self):
        if not self.connected:
            raise MQTTError("not connected")
        while True:
            self._pid = self._pid % 65535 + 1  # 1..65535; 0 is not a valid packet id
            if self._pid not in self._waits:
                self._waits[self._pid] = [asyncio.Event(), None]
                return self._pid

    async def _send(self, *parts):
        """Writes what is packed, then ``parts``."""
        self._writer()
        async with self._lock:  # packets from several tasks must not interleave
            await self._out()
            w = self._writer()
            for data in parts:
                w.write(data)
            await w.drain()

    async def _reader(self):
        try:
            while True:
                first = (await self._r.readexactly(1))[0]
                n = shift = 0  # the remaining length (enc_len's field), read as it arrives
                while True:
                    b = (await self._r.readexactly(1))[0]
                    n |= (b & 0x7F) << shift
                    if not b & 0x80:
                        break
                    shift += 7
                    if shift > 21:  # 4 bytes at most (spec 2.2.3)
                        raise MQTTError("bad remaining length")
                body = await self._r.readexactly(n) if n else b""
                self._last_rx = ticks_ms()
                self._dispatch(first, body)
                if first >> 4 == 3 and first & 6:  # QoS 1 from the broker: acknowledge it
                    await self._send(puback_packet(parse_publish(first, body)[4]))
        except (OSError, EOFError, ValueError, IndexError):
            pass  # connection lost (EOFError: CPython's IncompleteReadError)
        await self.close()

    def _dispatch(self, first, body):
        kind = first >> 4
        if kind in (4, 9):  # PUBACK, SUBACK
            w = self._waits.get(struct.unpack(">H", body[:2])[0])
            if w:
                w[1] = bytes(body[2:]) if kind == 9 else True
                w[0].set()
        elif kind == 3 and self.on_message:
            topic, payload, _, retain, _ = parse_publish(first, body)
            self.on_message(topic, payload, retain)

    async def _pinger(self):
        # PINGREQ at half the keep-alive; no packet at all for 1.5 keep-alives = a dead link.
        while self.keepalive:
            await sleep_ms(self.keepalive * 500)
            if ticks_diff(ticks_ms(), self._last_rx) > self.keepalive * 1500:
                break
            try:
                await self._send(PINGREQ)
            except OSError:
                break
        if self.keepalive:
            await self.close()  # the reader sees the closed socket and ends too


def tls_context(cadata=None):
    """An SSL context for ``ssl=``: verifies the server against ``cadata`` (DER) when given."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cadata:
        ctx.load_verify_locations(cadata=cadata)
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        if hasattr(ctx, "check_hostname"):
            ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # no CA configured: encrypted but not authenticated
    return ctx


def pem_to_der(pem):
    """The DER bytes of the first certificate in PEM text ("" -> b"")."""
    import binascii

    begin = pem.find("-----BEGIN CERTIFICATE-----")
    end = pem.find("-----END CERTIFICATE-----")
    if begin < 0 or end < begin:
        return b""
    body = pem[begin + 27 : end]
    return binascii.a2b_base64("".join(body.split()))
