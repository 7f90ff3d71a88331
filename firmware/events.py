"""What goes into the Log (firmware/eventlog.py), in words: the recorder's device changes (online,
offline with the reason, running-state changes, faults appearing and clearing, decoded with the
device's map), settings saved (which section, from where), the logger's start (with the reset
cause) and a factory reset."""

from firmware import devicetext
from firmware.rs485 import CHANNELS, label, section

# A settings section in words (the page's names for its forms).
SECTION_WORDS = {"devices": "device list", "network": "network", "server": "server", "clock": "time server",
                 "gateway": "Modbus TCP gateway", "writes": "device settings interval", "metrics": "metrics",
                 "button": "reset button", "login": "password", "history": "history's share of the flash"}
for _n in CHANNELS:
    SECTION_WORDS[section(_n)] = label(_n) + " line"

RESET_WORDS = {"power-on": "after power-on or a power cut", "requested": "after a restart that was asked for",
               "watchdog": "after the watchdog restarted it (a task stopped making progress)",
               "crash": "after an unrecoverable error restarted it"}


def _place(key):
    return "%s address %d" % (label(key >> 8), key & 0xFF)


def _value(d, pt, v):
    """A written value in words: an enum's name, else the number and unit."""
    if v is None:
        return "?"
    t = devicetext.value_text(d.map, pt, v) if pt is not None and isinstance(v, int) else None
    return t or ("%s %s" % (v, pt.unit if pt else "")).strip()


def _who(who):
    """Who wrote, in words: the audit log's "page admin", "MQTT", "TCP 192.168.0.9:50512"."""
    who = who or "?"
    if who.startswith("page "):
        return "the web page (user %s)" % who[5:]
    if who == "MQTT":
        return "the server (MQTT)"
    if who.startswith("TCP "):
        return "a Modbus TCP client (%s)" % who[4:]
    return who


class Events:
    """Makes the Log's events; ``store``: an EventLog (``add``)."""

    def __init__(self, store, maps=None, by="the web page"):
        self.store = store
        self.maps = maps or {}
        self.by = by  # where settings changes come from: only the web page saves settings
        self._places = None  # channel << 8 | address of each configured device (small ints: cheap)

    def _device(self, d, kind, level, text):
        self.store.add(kind, level, text, d.channel, d.address, devicetext.name(d))

    # -- from the recorder ---------------------------------------------------------------------

    def changed(self, d, fields):
        """A device went online or offline (the poller's ``on_change``)."""
        if fields["event"] == "online":
            serial = fields.get("serial")
            bad = serial and d.serial_problem  # the poller judged it when it read it
            text = "Came online" + (", serial number %s" % serial if serial else "")
            if bad:  # manual 6.2: the server does not take a device with an illegal serial number
                text += " (not valid: %s; the server may not show this device)" % bad
            self._device(d, "online", "warning" if bad else "info", text)
        else:
            what, why = devicetext.reason(fields.get("reason"))
            text = "Went offline: %s" % what.lower() + (" (%s)" % why if why else "")
            self._device(d, "offline", "warning", text)

    def point_changed(self, d, pt, old, new):
        """An ``event`` point changed from ``old`` to ``new``: faults set and cleared, a new state."""
        m = d.map
        t = m.texts.get(pt.name)
        if t is not None and t[0]:
            was = devicetext.bit_names(m, pt, old)
            now = devicetext.bit_names(m, pt, new)
            for name in now:
                if name not in was:
                    self._device(d, "fault", "fault", "Fault: " + name)
            for name in was:
                if name not in now:
                    self._device(d, "fault_cleared", "info", "Fault cleared: " + name)
            return
        text = devicetext.value_text(m, pt, new)
        before = devicetext.value_text(m, pt, old)
        if text is None:
            text, before = str(new), str(old)
        level = "fault" if m.kinds.get(pt.name, {}).get(new) == "fault" else "info"
        self._device(d, "state", level, "%s: %s (was %s)" % (m.label_of(pt), text, before))

    def written(self, entry, device):
        """A device setting written (an audit log entry whose result is "written"; ``device``: the
        Device at its channel and address, or None)."""
        if entry.get("result") != "written":
            return
        pt = device.map.point(entry.get("point") or "") if device is not None and device.map else None
        what = device.map.label_of(pt) if pt else "Register %s" % entry.get("register")
        new = entry.get("read_back")
        text = "%s set to %s (was %s) by %s" % (what, _value(device, pt, entry.get("new") if new is None else new),
                                                _value(device, pt, entry.get("old")), _who(entry.get("who")))
        if device is not None:
            self._device(device, "write", "info", text)
        else:
            self.store.add("write", "info", text, entry.get("channel"), entry.get("address"), None)

    # -- the logger ----------------------------------------------------------------------------

    def settings_saved(self, sections, devices=None):
        """A settings watcher: ``sections`` saved (None: all, a factory reset, which says so itself).
        ``devices``: the device list now, to tell which devices were added or deleted."""
        if sections is None:
            return
        for s in sections:
            if s == "devices" and devices is not None:
                self._devices_changed(devices)
            else:
                self.store.add("settings", "info", "Settings changed from %s: %s" % (self.by, SECTION_WORDS.get(s, s)))

    def know_devices(self, devices):
        """The configured devices at the start (to tell additions and deletions later)."""
        self._places = set(e["channel"] << 8 | e["address"] for e in devices)

    def _devices_changed(self, devices):
        now = set(e["channel"] << 8 | e["address"] for e in devices)
        was = self._places if self._places is not None else now
        for e in devices:
            key = e["channel"] << 8 | e["address"]
            if key not in was:
                m = self.maps.get(e["type"])
                name = "%s, %s" % (m.label if m else e["type"], _place(key))
                self.store.add("settings", "info", "Device added from %s: %s" % (self.by, name),
                               e["channel"], e["address"], name)
        for key in sorted(was - now):
            self.store.add("settings", "info", "Device deleted from %s: %s" % (self.by, _place(key)),
                           key >> 8, key & 0xFF, None)
        self._places = now

    def started(self, version, cause):
        level = "warning" if cause in ("watchdog", "crash") else "info"
        self.store.add("start", level, "Logger started (EnerLog %s) %s" % (version, RESET_WORDS.get(cause, cause)))

    def factory_reset(self, by):
        self.store.add("settings", "warning", "Factory reset from %s: all data cleared, settings back to their "
                       "defaults (identity kept)" % by)
