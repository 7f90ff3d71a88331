"""The uplink: drains the spool to the MQTT broker, reconnecting with back-off.

A record leaves the spool only after the broker's PUBACK (QoS 1), so a dropped link or a broker
restart costs at most a few duplicates, never a record. Topics, for ``<prefix>/<SN>``:
``.../data`` (the records), ``.../status`` (retained "online"; the last will sets "offline"),
``.../cmd`` (subscribed when ``on_command`` is set).
"""

import asyncio

from firmware import mqtt
from firmware.compat import sleep_ms, wait_for_ms


def frame(seq, payload):
    """The published bytes: a JSON object record gets ``"seq"`` as its first key (no flash cost)."""
    if payload[:1] == b"{":
        return b'{"seq":%d%s%s' % (seq, b"," if payload[1:2] != b"}" else b"", payload[1:])
    return payload


class Uplink:
    """``server`` is the settings' "server" section; ``serial``/``check_code`` the identity."""

    min_backoff_ms = 1000
    max_backoff_ms = 300000
    window = 16  # QoS 1 publishes in flight

    def __init__(self, spool, server, serial, check_code, log, on_command=None):
        self.spool = spool
        self.server = server
        self.serial = serial
        self.check_code = check_code
        self.log = log
        self.on_command = on_command
        base = "%s/%s/" % (server["topic_prefix"], serial)
        self.topic_data, self.topic_status, self.topic_cmd = base + "data", base + "status", base + "cmd"
        self.connected = False
        self.sent = 0
        self.connects = 0
        self.failures = 0
        self.last_error = None
        self._wake = asyncio.Event()

    def kick(self):
        """New records are waiting: send them now rather than at the next idle check."""
        self._wake.set()

    def client(self):
        s = self.server
        return mqtt.MQTTClient(
            self.serial, s["host"], s["port"], username=s["username"] or self.serial,
            password=s["password"] or self.check_code, keepalive=s.get("keepalive_s", 60),
            will=(self.topic_status, b"offline", 1, True),
            ssl=mqtt.tls_context() if s["tls"] else None, on_message=self._message,
            max_inflight=self.window)

    async def run(self):
        """Runs for ever (a supervised task); does nothing while no server is set."""
        delay = self.min_backoff_ms
        while not self.server["host"]:
            await sleep_ms(60000)
        while True:
            c = self.client()
            try:
                await c.connect()
                self.connects += 1
                await c.publish(self.topic_status, b"online", 1, True)
                if self.on_command:
                    await c.subscribe(self.topic_cmd, 1)
                self.connected = True
                self.log.info("uplink: connected to %s:%d" % (self.server["host"], self.server["port"]))
                delay = self.min_backoff_ms
                await self._drain(c)
            except (OSError, asyncio.TimeoutError) as exc:  # MQTTError is an OSError
                self.failures += 1
                self.last_error = "%s: %s" % (type(exc).__name__, exc)
                self.log.warning("uplink: %s; retry in %d ms" % (self.last_error, delay))
            finally:
                self.connected = False
                await c.close()
            await sleep_ms(delay)
            delay = min(delay * 2, self.max_backoff_ms)

    async def _drain(self, c):
        # A sliding window of QoS 1 publishes: stop-and-wait batches ran at ~180 records/s
        # against a broker with Nagle on (mosquitto's default), a window keeps the link busy.
        flight = []  # (seq, pid), oldest first
        last = 0  # the newest seq sent on this connection
        while True:
            room = self.window - len(flight)
            recs = self.spool.peek(room, last) if room else None
            if recs:
                pids = await c.send_many(self.topic_data, [frame(s, p) for s, p in recs], 1)
                flight += zip([s for s, _ in recs], pids)
                last = recs[-1][0]
            if flight:
                # In order, so the ack position only moves forward; then all that came meanwhile.
                while True:
                    seq, pid = flight.pop(0)
                    await c.wait_ack(pid)
                    self.spool.ack(seq)
                    self.sent += 1
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
        if topic == self.topic_cmd and self.on_command:
            self.on_command(payload)

    def stats(self):
        return {"connected": self.connected, "sent": self.sent, "connects": self.connects,
                "failures": self.failures, "last_error": self.last_error}
