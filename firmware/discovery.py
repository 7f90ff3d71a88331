"""Home Assistant MQTT discovery: one sensor per main value of each configured device.

Config topic ``<discovery prefix>/sensor/<SN>_<channel>_<address>/<point>/config`` (retained),
state from the device's state topic, availability from the logger's status topic. Published on
each connection, again when Home Assistant says it restarted (``<discovery prefix>/status``
"online"), and when the device list changes; a deleted device's sensors get an empty retained
config, which removes them. Messages are made one at a time (60 devices make ~300).
"""

import json

from firmware.rs485 import label as channel_label

_CLASSES = {"V": ("voltage", "measurement"), "mV": ("voltage", "measurement"),
            "A": ("current", "measurement"), "W": ("power", "measurement"), "kW": ("power", "measurement"),
            "Wh": ("energy", "total_increasing"), "kWh": ("energy", "total_increasing"),
            "Hz": ("frequency", "measurement"), "°C": ("temperature", "measurement"),
            "%": (None, "measurement")}


def node(serial, d):
    return "%s_%d_%d" % (serial, d.channel, d.address)


def config(base, serial, d, pt, expire_s):
    """The discovery config of point ``pt`` of device ``d``: its JSON text in pieces (a list, as
    the MQTT client packs them), one per key; ~700 bytes in one piece failed at the start on a
    small heap, where 60 devices coming online leave it in pieces."""
    n = node(serial, d)
    label = pt.name.replace("_", " ")
    cfg = {
        "name": label[:1].upper() + label[1:],  # MicroPython's str has no capitalize()
        "unique_id": "%s_%s" % (n, pt.name),
        "object_id": "enerlog_%s_%s" % (n, pt.name),
        "state_topic": "%s%d/%d/state" % (base, d.channel, d.address),
        "value_template": "{{ value_json['values']['%s'] }}" % pt.name,
        "availability_topic": base + "status",
        "expire_after": expire_s,
        "device": {"identifiers": ["enerlog_" + n],
                   "name": "%s %s #%d" % (d.map.name, channel_label(d.channel), d.address),
                   "model": d.model or d.map.name, "via_device": "enerlog_" + serial},
    }
    if d.serial:
        cfg["device"]["serial_number"] = d.serial
    if pt.unit:
        cfg["unit_of_measurement"] = pt.unit
        cls, state_class = _CLASSES.get(pt.unit, (None, None))
        if cls:
            cfg["device_class"] = cls
        if state_class:
            cfg["state_class"] = state_class
    return pieces(cfg)


def pieces(obj):
    """The JSON text of dict ``obj`` (as ``json.dumps`` writes it) as a list of pieces, one per key."""
    out, sep = [], "{"
    for k, v in obj.items():
        out.append("%s%s: %s" % (sep, json.dumps(k), json.dumps(v)))
        sep = ", "
    out.append("}" if out else "{}")
    return out


class Discovery:
    """Which configs to publish; ``messages(everything)`` yields (topic, payload, retain) for the
    uplink: every device's, or only those of devices new or changed (model, serial number) since
    their last pass, and empty configs for devices gone."""

    def __init__(self, base, serial, prefix, devices, expire_s):
        self.base, self.serial, self.prefix = base, serial, prefix
        self.devices = devices  # callable: the current Device objects
        self.expire_s = expire_s
        # node: ((model, serial), points published), to skip or clear them; the points, not their
        # topics, are kept: 300 topic strings were ~25 KB of a small heap.
        self.published = {}

    def _topic(self, n, pt):
        return "%s/sensor/%s/%s/config" % (self.prefix, n, pt.name)

    def messages(self, everything=True):
        seen = set()
        for d in self.devices():
            if not d.map:
                continue
            n = node(self.serial, d)
            seen.add(n)
            key = (d.model, d.serial)
            old = self.published.get(n, (None, ()))
            if not everything and old[0] == key:
                continue
            pts = tuple(pt for pt in d.map.polled(d.model) if pt.main)
            for pt in pts:
                yield self._topic(n, pt), config(self.base, self.serial, d, pt, self.expire_s), True
            for pt in old[1]:
                if pt not in pts:  # the model turned out to lack it
                    yield self._topic(n, pt), b"", True
            self.published[n] = (key, pts)
        for n in [n for n in self.published if n not in seen]:
            for pt in self.published.pop(n)[1]:
                yield self._topic(n, pt), b"", True
