"""The device list and the manual's rules for adding and deleting (manual 4.4).

- address 1 to 247; at most 20 devices per channel and 60 in all;
- "the 485 communication address of all connected devices cannot be repeated": an address is
  taken whichever channel it is on, and adding on an occupied address never overwrites;
- deleting needs the same type, channel and address as when the device was added.

The list itself lives in the settings (``devices`` section), so it survives power cuts.
"""

from firmware.settings import CHANNELS, MAX_DEVICES, MAX_DEVICES_PER_CHANNEL


class DeviceError(ValueError):
    """A refused add or delete; ``field`` names what was wrong."""

    def __init__(self, field, message):
        self.field = field
        self.message = message
        super().__init__("%s: %s" % (field, message))


class Devices:
    def __init__(self, settings, maps):
        self.settings = settings
        self.maps = maps

    def list(self):
        return self.settings.get("devices")

    def _check(self, type_, channel, address, known_type=True):
        if known_type and type_ not in self.maps:
            raise DeviceError("type", "unknown device type %r; known: %s" % (type_, ", ".join(sorted(self.maps))))
        if isinstance(channel, bool) or channel not in CHANNELS:
            raise DeviceError("channel", "must be RS485-1, 2 or 3 (1, 2 or 3)")
        if isinstance(address, bool) or not isinstance(address, int) or not 1 <= address <= 247:
            raise DeviceError("address", "must be a whole number from 1 to 247")

    def add(self, type_, channel, address):
        """Adds a device; DeviceError if a rule forbids it. Returns the new entry."""
        self._check(type_, channel, address)
        devices = self.list()
        for d in devices:
            if d["address"] == address:
                raise DeviceError("address", "address %d is already used by the %s on RS485-%d; delete that "
                                  "device first" % (address, d["type"], d["channel"]))
        if sum(1 for d in devices if d["channel"] == channel) >= MAX_DEVICES_PER_CHANNEL:
            raise DeviceError("channel", "RS485-%d already has %d devices" % (channel, MAX_DEVICES_PER_CHANNEL))
        if len(devices) >= MAX_DEVICES:
            raise DeviceError("address", "the logger already monitors %d devices" % MAX_DEVICES)
        entry = {"type": type_, "channel": channel, "address": address}
        self.settings.replace_devices(devices + [entry])
        return entry

    def delete(self, type_, channel, address):
        """Deletes the device added with exactly this type, channel and address."""
        # The type need not have a map any more: a device whose map was removed must stay deletable.
        self._check(type_, channel, address, known_type=False)
        devices = self.list()
        for i, d in enumerate(devices):
            if d["address"] != address:
                continue
            if d["type"] != type_ or d["channel"] != channel:
                raise DeviceError("address", "address %d holds the %s on RS485-%d; deleting needs the same type, "
                                  "channel and address as when it was added" % (address, d["type"], d["channel"]))
            self.settings.replace_devices(devices[:i] + devices[i + 1 :])
            return d
        raise DeviceError("address", "no device at address %d" % address)
