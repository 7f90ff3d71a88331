"""The uplink: drains the spool to the MQTT broker, reconnecting with back-off.

A record leaves the spool only after the broker's PUBACK (QoS 1), so a dropped link or a broker
restart costs at most a few duplicates, never a record. After an outage the backlog goes out in
order while records stored since the connection go out beside it (live data does not wait for
the backlog). Topics, for ``<prefix>/<SN>/``: ``status`` (retained "online"; the last will sets
"offline"), what ``render`` makes of each record (default ``data``), ``cmd`` (subscribed when a
handler is set, see ``handlers``) and ``cmd/result``.
"""

import asyncio

from firmware import mqtt
from firmware.compat import ticks_diff, ticks_ms, wait_for_ms
from firmware.reasons import connection_error


def frame(seq, payload):
    """The published bytes: a JSON object record gets ``"seq"`` as its first key (no flash cost)."""
    if payload[:1] == b"{":
        return b'{"seq":%d%s%s' % (seq, b"," if payload[1:2] != b"}" else b"", payload[1:])
    return payload


class Uplink:
    """``server`` is the settings' "server" section; ``serial``/``check_code`` the identity.

    ``parts(uplink)`` (optional; called again at every ``configure``, as the topics hang on the
    server's settings) gives ``(render, handlers, extras)``: ``render(seq, record) -> (topic,
    payload)`` turns a spool record into a message (None: not yet; default: the record as JSON on
    ``topic_data``); ``handlers`` maps a subscribed topic to ``fn(payload)``; ``extras(everything)``
    (or None) yields (topic, payload, retain) to publish after each connect and after ``refresh()``
    (discovery). ``online()`` says whether the network is up (the settings' address held);
    ``post`` queues a message that is not a record (command results); ``now()`` gives Unix seconds
    or None; ``alive()`` is called on each pass of the loop (the watchdog's sign of progress).
    """

    min_backoff_ms = 1000
    max_backoff_ms = 300000
    window = 16  # QoS 1 publishes in flight
    batch = 4  # messages rendered at a time: each is alive until written (heap)
    outbox_max = 16

    def __init__(self, spool, server, serial, check_code, log, now=None, online=None, parts=None, alive=None):
        self.spool = spool
        self.serial = serial
        self.check_code = check_code
        self.log = log
        self.now = now or (lambda: None)
        self.online = online or (lambda: True)
        self._parts = parts
        self.alive = alive  # called on each pass of the loop: the watchdog's sign of progress
        self._wake = asyncio.Event()
        self._buf = bytearray(1024)  # the MQTT client's packing buffer, made once (see mqtt.send_many)
        self.configure(server)
        self.connected = False
        self.sent = 0
        self.connects = 0
        self.failures = 0
        self.last_error = None
        self.last_upload = None  # Unix s of the last PUBACK of a record (None: unknown time)
        self.last_upload_ms = None
        self._outbox = []
        self._want = None  # a pass of extras asked for: True all, False what changed
        self._extras = None  # the pass under way (an iterator)
        self._extras_all = False

    @property
    def serial_name(self):
        return self.serial or "unprovisioned"

    def configure(self, server):
        """New server settings: the connection is made again with them."""
        self.server = server
        base = "%s/%s/" % (server["topic_prefix"], self.serial_name)
        self.base = base
        self.topic_data, self.topic_status, self.topic_cmd = base + "data", base + "status", base + "cmd"
        if self._parts:
            self.render, self.handlers, self.extras = self._parts(self)
        else:
            self.render, self.handlers, self.extras = (lambda seq, rec: (self.topic_data, frame(seq, rec))), {}, None
        self._changed = True
        self.kick()

    def kick(self):
        """New records are waiting: send them now rather than at the next idle check."""
        self._wake.set()

    def post(self, topic, payload, retain=False):
        """Publishes a message that is not a record, once connected (the oldest go when full)."""
        if len(self._outbox) >= self.outbox_max:
            self._outbox.pop(0)
        self._outbox.append((topic, payload, retain))
        self.kick()

    def refresh(self, everything=False):
        """Publish ``extras(everything)`` again: all of it, or only what changed since it was last
        published (a device came online, the device list changed). A pass under way starts over;
        what it already sent counts as published."""
        self._want = bool(everything or self._want or (self._extras and self._extras_all))
        self.kick()

    def client(self):
        s = self.server
        ssl = None
        if s["tls"]:
            ssl = mqtt.tls_context(mqtt.pem_to_der(s.get("tls_ca", "")) or None)
        return mqtt.MQTTClient(
            self.serial_name, s["host"], s["port"], username=s["username"] or self.serial_name,
            password=s["password"] or self.check_code, keepalive=s.get("keepalive_s", 60),
            will=(self.topic_status, b"offline", 1, True), ssl=ssl, on_message=self._message,
            max_inflight=self.window, buf=self._buf)

    def _beat(self):
        if self.alive:
            self.alive()

    async def _nap(self, ms):
        """Sleeps ``ms`` (ended early by new settings), still showing progress to the watchdog."""
        start = ticks_ms()
        while ticks_diff(ticks_ms(), start) < ms and not self._changed:
            self._beat()
            self._wake.clear()
            try:
                await wait_for_ms(self._wake.wait(), min(5000, ms - ticks_diff(ticks_ms(), start)))
            except asyncio.TimeoutError:
                pass

    async def run(self):
        """Runs for ever (a supervised task); does nothing while no server is set."""
        delay = self.min_backoff_ms
        while True:
            self._changed = False
            if not self.server["host"] or not self.online():
                await self._nap(1000)
                continue
            c = self.client()
            try:
                await c.connect()
                self.connects += 1
                await c.publish(self.topic_status, b"online", 1, True)
                for topic in self.handlers:
                    await c.subscribe(topic, 1)
                self.connected = True
                self.log.info("uplink: connected to %s:%d" % (self.server["host"], self.server["port"]))
                delay = self.min_backoff_ms
                self._extras, self._want = None, True  # a new connection: all of it
                await self._drain(c)
            except (OSError, asyncio.TimeoutError) as exc:  # MQTTError is an OSError
                self.failures += 1
                self.last_error = connection_error(exc)
                self.log.warning("uplink: %s; retry in %d ms" % (self.last_error, delay))
            finally:
                self.connected = False
                await c.close()
            if self._changed:
                delay = self.min_backoff_ms
                continue
            await self._nap(delay)
            delay = min(delay * 2, self.max_backoff_ms)

    def _next(self, room, cur):
        """Up to ``room`` messages to send: posted ones, then extras, then records (the newest
        stream first, then the backlog). ``cur`` = [backlog cursor, live cursor, live start]."""
        out = []
        while self._outbox and len(out) < room:
            t, p, r = self._outbox.pop(0)
            out.append((None, t, p, r))
        if self._want is not None and self.extras:
            self._extras, self._extras_all = iter(self.extras(self._want)), self._want
        self._want = None
        if self._extras:
            for t, p, r in self._extras:
                out.append((None, t, p, r))
                if len(out) >= room:
                    break
            else:
                self._extras = None
        self._records(out, room, cur, 1, None)
        self._records(out, room, cur, 0, cur[2])
        return out

    def _records(self, out, room, cur, i, before):
        if len(out) >= room:
            return
        for s, rec in self.spool.peek(room - len(out), cur[i], before):
            msg = self.render(s, rec)
            if msg is None:
                return  # waits for the clock: this stream goes on at the next pass
            out.append((s, msg[0], msg[1], False))
            cur[i] = s

    async def _drain(self, c):
        # A sliding window of QoS 1 publishes: stop-and-wait batches ran at ~180 records/s
        # against a broker with Nagle on (mosquitto's default), a window keeps the link busy.
        flight = []  # (seq or None, pid), oldest first
        live = self.spool.next_seq
        cur = [self.spool.acked, live - 1, live]
        while True:
            self._beat()
            if self._changed:
                raise mqtt.MQTTError("server settings changed")
            msgs = self._next(min(self.batch, self.window - len(flight)), cur)
            if msgs:
                pids = await c.send_many([m[1:] for m in msgs], 1)
                flight += zip([m[0] for m in msgs], pids)
            if flight:
                # The oldest first; then every one acknowledged meanwhile.
                while True:
                    seq, pid = flight.pop(0)
                    await c.wait_ack(pid)
                    if seq is not None:
                        self.spool.ack_one(seq)
                        self.sent += 1
                        self.last_upload_ms = ticks_ms()
                        self.last_upload = self.now()
                    if not flight or not c.acked(flight[0][1]):
                        break
                continue
            self._wake.clear()
            try:
                await wait_for_ms(self._wake.wait(), 1000)
            except asyncio.TimeoutError:
                pass
            if not c.connected:
                raise mqtt.MQTTError("connection lost")

    def _message(self, topic, payload, retain):
        fn = self.handlers.get(topic)
        if fn:
            fn(payload)

    def stats(self):
        ago = None if self.last_upload_ms is None else ticks_diff(ticks_ms(), self.last_upload_ms) // 1000
        return {"enabled": bool(self.server["host"]), "connected": self.connected,
                "server": "%s:%d" % (self.server["host"], self.server["port"]) if self.server["host"] else None,
                "sent": self.sent, "connects": self.connects, "failures": self.failures,
                "last_error": self.last_error, "last_upload": self.last_upload, "last_upload_s_ago": ago}

