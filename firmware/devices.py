"""The device list and the manual's rules for it (manual 3.3.1, 4.4): the one home of these rules,
used by the settings' validation of a stored or sent list and by adding and deleting alike.

- type: a register map's name; address 1 to 247; channel RS485-1, 2 or 3;
- at most 20 devices per channel and 60 in all;
- "the 485 communication address of all connected devices cannot be repeated": an address is
  taken whichever channel it is on, and adding on an occupied address never overwrites;
- deleting needs the same type, channel and address as when the device was added.

A broken rule raises ``DeviceError`` with a code: "duplicate" and "full" (the list is in the way:
HTTP 409), "mismatch" and "not_found" (a delete that names no device), or a value's code.
The list itself lives in the settings (``devices`` section), so it survives power cuts.
"""

from firmware.errors import DeviceError
from firmware.fields import check
from firmware.rs485 import CHANNELS, label

MAX_DEVICES_PER_CHANNEL = 20  # manual 3.3.1: 60 devices, 20 per channel
MAX_DEVICES = 60
FIELDS = {
    # A register map's name (firmware/maps/<type>.json): adding a map file adds a type, so the
    # list is not fixed here; adding refuses types with no map.
    "type": ("name", None, 1, 32),
    "channel": ("choice", None, CHANNELS, None),
    "address": ("int", None, 1, 247),  # Modbus unicast addresses
}
_SOME = ", ".join(str(c) for c in CHANNELS[:-1])
_CHANNEL_WORDS = "must be RS485-%s or %d (%s or %d)" % (_SOME, CHANNELS[-1], _SOME, CHANNELS[-1])

__all__ = ["DeviceError", "Devices", "check_list", "check_room"]


def _field(prefix, name, value):
    bad = check(FIELDS[name], value)
    if bad:
        raise DeviceError(prefix + name, _CHANNEL_WORDS if name == "channel" else bad[1], bad[0])


def check_room(devices, entry, prefix="", name=str):
    """DeviceError unless ``entry`` may join the validated list ``devices``; ``name(type)``: a
    device type in words."""
    ch, addr = entry["channel"], entry["address"]
    for d in devices:
        if d["address"] == addr:
            raise DeviceError(prefix + "address", "address %d is already used by the %s on %s; delete that "
                              "device first" % (addr, name(d["type"]), label(d["channel"])), "duplicate")
    if sum(1 for d in devices if d["channel"] == ch) >= MAX_DEVICES_PER_CHANNEL:
        raise DeviceError(prefix + "channel", "%s already has %d devices" % (label(ch), MAX_DEVICES_PER_CHANNEL),
                          "full")
    if len(devices) >= MAX_DEVICES:  # unreachable with 3 x 20, kept as the manual's own limit
        raise DeviceError(prefix + "address", "the logger already monitors %d devices" % MAX_DEVICES, "full")


def check_list(devices):
    """A validated copy of a device list ``[{type, channel, address}]``; DeviceError if not."""
    if not isinstance(devices, list):
        raise DeviceError("devices", "must be a list", "type")
    out = []
    types = {}  # one copy of each type's name for the list (60 entries made ~2 KB of copies)
    for i, d in enumerate(devices):
        where = "devices[%d]" % i
        if not isinstance(d, dict):
            raise DeviceError(where, "must be an object with type, channel and address", "type")
        for k in sorted(d):
            if k not in FIELDS:
                raise DeviceError("%s.%s" % (where, k), "unknown setting", "unknown")
        for k in ("type", "channel", "address"):
            if k not in d:
                raise DeviceError("%s.%s" % (where, k), "is missing", "missing")
            _field(where + ".", k, d[k])
        entry = {"type": types.setdefault(d["type"], d["type"]), "channel": d["channel"], "address": d["address"]}
        check_room(out, entry, where + ".")
        out.append(entry)
    return out


class Devices:
    """Adding and deleting on the list in ``settings`` (``get``/``replace_devices``); ``maps``: the
    known device types."""

    def __init__(self, settings, maps):
        self.settings = settings
        self.maps = maps

    def list(self):
        return self.settings.get("devices")

    def name(self, type_):
        """A device type in the manual's words ("BCU Battery"), its id when no map knows it."""
        dmap = self.maps.get(type_)
        return dmap.label if dmap else type_

    def _entry(self, type_, channel, address, known_type=True):
        _field("", "type", type_)
        if known_type and type_ not in self.maps:
            raise DeviceError("type", "unknown device type %r; known: %s" % (type_, ", ".join(sorted(self.maps))),
                              "unknown_type")
        _field("", "channel", channel)
        _field("", "address", address)
        return {"type": type_, "channel": channel, "address": address}

    def add(self, type_, channel, address):
        """Adds a device; DeviceError if a rule forbids it. Returns the new entry."""
        entry = self._entry(type_, channel, address)
        devices = self.list()
        check_room(devices, entry, name=self.name)
        self.settings.replace_devices(devices + [entry])
        return entry

    def delete(self, type_, channel, address):
        """Deletes the device added with exactly this type, channel and address."""
        # The type need not have a map any more: a device whose map was removed must stay deletable.
        self._entry(type_, channel, address, known_type=False)
        devices = self.list()
        for i, d in enumerate(devices):
            if d["address"] != address:
                continue
            if d["type"] != type_ or d["channel"] != channel:
                raise DeviceError("address", "address %d holds the %s on %s; deleting needs the same type, channel "
                                  "and address as when it was added" % (address, self.name(d["type"]),
                                                                         label(d["channel"])),
                                  "mismatch")
            self.settings.replace_devices(devices[:i] + devices[i + 1 :])
            return d
        raise DeviceError("address", "no device at address %d" % address, "not_found")
