"""Puts what the pollers measure into the spool: a state record per device each upload interval,
and an event record at once when a device goes online or offline or an ``event`` point (fault
word, running state) changes.

Everything goes to flash first; the uplink only ever sends from the spool, so an outage or a
restart loses nothing. A full flash drops the oldest segment to make room (counted as evicted).
"""

from firmware import devicemap, records
from firmware.compat import sleep_ms, ticks_diff, ticks_ms


class Recorder:
    def __init__(self, monitor, spool, clock, log, interval_s, kick=None, on_online=None):
        self.monitor = monitor
        self.spool = spool
        self.clock = clock
        self.log = log
        self.interval_ms = interval_s * 1000
        self.kick = kick or (lambda: None)
        self.on_online = on_online  # a device is back (its model is known now: discovery again)
        self.produced = 0  # records stored
        self.lost = 0  # records the flash could not take
        self.last_sample_ms = None
        self._seen = {}  # device key: good_polls at its last sample
        self._watch = {}  # device key: (model, [(point, last value)]) of its event points
        for p in monitor.pollers:
            p.on_change = self.changed
            p.on_poll = self.polled

    def configure(self, interval_s):
        self.interval_ms = interval_s * 1000

    def store(self, rec):
        """Appends ``rec``; when the flash is full, gives up the oldest segment and tries again."""
        for _ in range(3):
            try:
                self.spool.append(rec)
                self.produced += 1
                self.kick()
                return True
            except OSError as exc:
                self.log.warning("spool: %s; dropping the oldest records" % exc)
                if not self.spool.evict_oldest():
                    break
        self.lost += 1
        self.log.error("spool: flash full, a record is lost (%d so far)" % self.lost)
        return False

    def changed(self, device, fields):
        self.store(records.event(device, self.clock.stamp(), fields))
        if fields["event"] == "online" and self.on_online:
            self.on_online()

    def polled(self, device):
        key = device.key()
        w = self._watch.get(key)
        if w is None or w[0] != device.model:
            pts = [pt for pt in device.map.polled(device.model) if pt.event]
            w = self._watch[key] = (device.model, [[pt, None] for pt in pts])
        for item in w[1]:
            pt = item[0]
            i, off = device.map.offset(pt)
            v = devicemap.decode(pt, device.raw[i], off)
            if item[1] is not None and v != item[1]:
                self.store(records.event(device, self.clock.stamp(),
                                         {"event": "change", "point": pt.name, "value": v, "previous": item[1]}))
            item[1] = v

    def sample(self):
        """A state record for each device polled successfully since its last sample."""
        stamp = self.clock.stamp()
        keys = set()
        for d in self.monitor.all_devices():
            key = d.key()
            keys.add(key)
            if d.online and d.good_polls and self._seen.get(key) != d.good_polls:
                self._seen[key] = d.good_polls
                self.store(records.state(d, stamp))
        for key in [k for k in self._seen if k not in keys]:  # deleted devices
            del self._seen[key]
            self._watch.pop(key, None)
        self.last_sample_ms = ticks_ms()

    async def run(self):
        while True:
            start = ticks_ms()
            while ticks_diff(ticks_ms(), start) < self.interval_ms:  # a changed interval counts at once
                await sleep_ms(min(1000, max(1, self.interval_ms - ticks_diff(ticks_ms(), start))))
            self.sample()

    def status(self):
        return {"produced": self.produced, "lost": self.lost, "interval_s": self.interval_ms // 1000}
