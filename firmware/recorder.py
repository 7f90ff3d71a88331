"""Puts what the pollers measure into the spool: a state record per device each upload interval,
and an event record at once when a device goes online or offline or an ``event`` point (fault
word, running state) changes.

Everything goes to flash first; the uplink only ever sends from the spool, so an outage or a
restart loses nothing. A full flash drops the oldest segment to make room (counted as evicted).
"""

from firmware import devicemap, records
from firmware.compat import sleep_ms, ticks_diff, ticks_ms


class Recorder:
    def __init__(self, monitor, spool, clock, log, interval_s, kick=None, on_online=None, events=None):
        self.monitor = monitor
        self.spool = spool
        self.clock = clock
        self.log = log
        self.interval_ms = interval_s * 1000
        self.kick = kick or (lambda: None)
        self.on_online = on_online  # a device is back (its model is known now: discovery again)
        self.events = events  # the Log (firmware/events.py): the same changes, in words, kept on flash
        self.produced = 0  # records stored
        self.lost = 0  # records the flash could not take
        self.last_sample_ms = None
        # Keyed by the Device object itself (the poller keeps it while the device is configured):
        # no (type, channel, address) tuple per device on the heap.
        self._seen = {}  # device: good_polls at its last sample
        # device: [its model, its event points (shared), then the last value of each of them]
        self._watch = {}
        self._events = {}  # (device type, model): its event points, shared by the devices alike
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

    def _tell(self, what, *args):
        """Passes a change to the Log; a failure there never stops the poll that saw it."""
        if self.events is not None:
            try:
                what(*args)
            except Exception as exc:
                self.log.exception("event log", exc)

    def changed(self, device, fields):
        self.store(records.event(device, self.clock.stamp(), fields))
        if self.events is not None:
            self._tell(self.events.changed, device, fields)
        if fields["event"] == "online" and self.on_online:
            self.on_online()

    def polled(self, device):
        last = self._watch.get(device)
        if last is None or last[0] != device.model:  # first poll, or the model became known
            key = (device.type, device.model)
            pts = self._events.get(key)
            if pts is None:
                pts = self._events[key] = tuple(pt for pt in device.map.polled(device.model) if pt.event)
            last = self._watch[device] = [device.model, pts] + [None] * len(pts)
        for k, pt in enumerate(last[1], 2):
            v = devicemap.decode(pt, device.raw, device.map.offset(pt))
            if last[k] is not None and v != last[k]:
                self.store(records.event(device, self.clock.stamp(),
                                         {"event": "change", "point": pt.name, "value": v, "previous": last[k]}))
                if self.events is not None:
                    self._tell(self.events.point_changed, device, pt, last[k], v)
            last[k] = v

    def sample(self):
        """A state record for each device polled successfully since its last sample."""
        stamp = self.clock.stamp()
        devices = self.monitor.all_devices()
        for d in devices:
            if d.online and d.good_polls and self._seen.get(d) != d.good_polls:
                self._seen[d] = d.good_polls
                self.store(records.state(d, stamp))
        for table in (self._seen, self._watch):  # forget deleted devices
            for d in [d for d in table if d not in devices]:
                del table[d]
        self.last_sample_ms = ticks_ms()

    async def run(self):
        while True:
            start = ticks_ms()
            while ticks_diff(ticks_ms(), start) < self.interval_ms:  # a changed interval counts at once
                await sleep_ms(min(1000, max(1, self.interval_ms - ticks_diff(ticks_ms(), start))))
            self.sample()

    def status(self):
        return {"produced": self.produced, "lost": self.lost, "interval_s": self.interval_ms // 1000}
