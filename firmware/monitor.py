"""The monitoring side of the logger: the three RS485 channels, their pollers, and the device list.

Built from the settings and kept in step with them: a saved device list or line setting takes
effect at once, without a restart.
"""

from firmware import devicemap, devicetext
from firmware.compat import ticks_ms
from firmware.devices import Devices
from firmware.modbus.channel import Channel
from firmware.poller import Poller
from firmware.rs485 import CHANNELS, label, section
from firmware.settings import touches


def task_name(n):
    """The supervisor's and the watchdog's name of channel ``n``'s poll loop."""
    return "poller-%d" % n


class Monitor:
    """``alive(name)``, if given: the callable that tells the watchdog the poll loop ``name`` made
    progress."""

    def __init__(self, board, settings, log, maps=None, alive=None):
        self.settings = settings
        self.log = log
        self.clock = None  # the logger's clock, once it has one: when an offline device last answered
        self.maps = maps if maps is not None else devicemap.load_all(log=log)
        self.devices = Devices(settings, self.maps)
        self.pollers = []
        for n in CHANNELS:
            line = settings.get(section(n))
            ch = Channel(board.rs485[n - 1], n, line["baud"], line["parity"], line.get("stop", 1))
            p = Poller(ch, log, self.maps, alive(task_name(n)) if alive else None)
            # A board may give its own probe timeout: the PC's simulated plant (pymodbus in a Python
            # thread) can take longer to answer than a device on a loaded machine.
            p.probe_timeout_ms = board.profile.get("probe_timeout_ms", p.probe_timeout_ms)
            self.pollers.append(p)
        self._apply(None)
        settings.watch(self._apply)

    def _apply(self, sections):
        """The watcher of the settings: a saved device list or line takes effect at once."""
        if touches(sections, "devices"):
            entries = self.settings.get("devices")
            for p in self.pollers:
                p.set_devices(entries)
        for p in self.pollers:
            name = section(p.channel.number)
            if touches(sections, name):
                line = self.settings.get(name)
                want = (line["baud"], line["parity"], line.get("stop", 1))
                if want != (p.channel.baud, p.channel.parity, p.channel.stop):
                    p.channel.configure(*want)
                    self.log.info("%s set to %d baud, parity %s, %d stop bit(s)" % ((label(p.channel.number),) + want))

    def communicating(self, channel):
        """Devices answering on RS485-``channel`` (1-3): what its LED flashes."""
        return self.pollers[channel - 1].communicating()

    def all_devices(self):
        return [d for p in self.pollers for d in p.devices]

    def route(self, address):
        """``(channel, device)`` of the device at RS485 ``address`` (unique across the channels,
        manual 4.4), or ``(None, None)``: the gateway's unit ids."""
        for p in self.pollers:
            for d in p.devices:
                if d.address == address:
                    return p.channel, d
        return None, None

    def status(self):
        """Per-device status with main values (with their quality: live, stale or offline, and
        when read) and bus health, for the Device status page."""
        return list(self.status_iter())

    def status_iter(self):
        """``status()`` one device at a time."""
        for p in self.pollers:
            for d in list(p.devices):
                yield self.entry(p, d, True)

    def entry(self, p, d, main_only):
        """Device ``d`` of poller ``p`` as the pages see it: its status, its name, state and faults in
        words, its values (the main ones, or all it polls) with labels, and its bus health."""
        now = ticks_ms()
        entry = d.as_dict(now, p.interval_ms)
        q = entry["quality"]  # one read: its values share its age and quality
        entry["type_name"] = devicetext.type_name(d)
        entry["name"] = devicetext.name(d)
        entry["state"] = devicetext.state(d, self.clock, now)
        entry["faults"] = devicetext.faults(d)
        values = {}
        if d.good_polls:
            for pt in d.map.polled(d.model):
                if pt.main or not main_only:
                    v = devicemap.decode(pt, d.raw, d.map.offset(pt))
                    values[pt.name] = devicetext.value_entry(d.map, pt, v, q)
        entry["values"] = values
        st = p.channel.stats.get(d.address)
        entry["bus"] = st.as_dict() if st else None
        return entry

    def find(self, channel, address):
        """(poller, device) at ``channel``/``address``, or (None, None)."""
        if channel in CHANNELS:
            p = self.pollers[channel - 1]
            for d in p.devices:
                if d.address == address:
                    return p, d
        return None, None

    def tasks(self):
        """(name, factory) of each channel's poll loop, for the supervisor."""
        return [(task_name(p.channel.number), p.run) for p in self.pollers]
