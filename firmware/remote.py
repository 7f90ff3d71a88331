"""Remote settings (manual 2.3, "set slave devices"): write one writable holding register.

A command arrives on ``<prefix>/<SN>/cmd`` as JSON::

    {"id": "any text", "channel": 1, "address": 5, "point": "work_mode", "value": 2}

``point`` names a point the device's map marks ``writable``; ``value`` is in the point's unit (the
map's scale is applied). The result goes to ``<prefix>/<SN>/cmd/result``::

    {"id": ..., "ok": true, "channel": 1, "address": 5, "point": "work_mode", "register": 26, "raw": 2}
    {"id": ..., "ok": false, "error": "why"}

Off unless the ``server.remote_settings`` setting is on: a broker account must not be enough to
change a plant's settings unless the owner chose that. Commands run one at a time, in order; at
most ``queue_max`` wait.
"""

import asyncio
import json

from firmware.modbus.errors import ModbusError
from firmware.rs485 import label

_RANGES = {"u16": (0, 0xFFFF), "i16": (-0x8000, 0x7FFF)}


class CommandError(ValueError):
    pass


def _check(cmd, devices):
    """(device, point, raw register value) for a command, or CommandError saying what is wrong."""
    if not isinstance(cmd, dict):
        raise CommandError("a command is a JSON object")
    for key in ("channel", "address", "value"):
        if isinstance(cmd.get(key), bool) or not isinstance(cmd.get(key), (int, float)):
            raise CommandError("%s: a number is required" % key)
    dev = None
    for d in devices:
        if d.channel == cmd["channel"] and d.address == cmd["address"]:
            dev = d
    if dev is None or not dev.map:
        raise CommandError("no device at RS485-%s address %s" % (cmd["channel"], cmd["address"]))
    pt = dev.map.point(cmd.get("point")) if isinstance(cmd.get("point"), str) else None
    if pt is None or not pt.writable:
        names = ", ".join(p.name for p in dev.map.points if p.writable) or "none"
        raise CommandError("point: not a writable point of %s (writable: %s)" % (dev.type, names))
    raw = cmd["value"] / pt.scale
    if abs(raw - round(raw)) > 1e-6:
        raise CommandError("value: not a multiple of the point's step %s" % pt.scale)
    raw = int(round(raw))
    low, high = _RANGES[pt.type]
    if not low <= raw <= high:
        raise CommandError("value: register value %d outside %d-%d" % (raw, low, high))
    return dev, pt, raw


class Remote:
    queue_max = 8

    def __init__(self, monitor, enabled, reply, log):
        self.monitor = monitor
        self.enabled = enabled  # callable: the setting now
        self.reply = reply  # reply(payload): publishes a result
        self.log = log
        self.done = 0
        self.refused = 0
        self._queue = []
        self._wake = asyncio.Event()

    def handle(self, payload):
        """Called with a command's payload as it arrives; the work happens in ``run``."""
        if len(self._queue) >= self.queue_max:
            self._answer(None, "busy: %d commands waiting" % len(self._queue))
            return
        self._queue.append(payload)
        self._wake.set()

    def _answer(self, cid, error=None, **ok):
        out = {"id": cid, "ok": error is None}
        if error:
            out["error"] = error
            self.refused += 1
        else:
            out.update(ok)
            self.done += 1
        self.reply(json.dumps(out))

    async def run(self):
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            await self.execute(self._queue.pop(0))

    async def execute(self, payload):
        try:
            cmd = json.loads(payload)
        except ValueError:
            self._answer(None, "not JSON")
            return
        cid = cmd.get("id") if isinstance(cmd, dict) else None
        if not self.enabled():
            self._answer(cid, "remote settings are off (server.remote_settings)")
            return
        try:
            dev, pt, raw = _check(cmd, self.monitor.all_devices())
            channel = self.monitor.pollers[dev.channel - 1].channel
            await channel.request(dev.address, 6, pt.address, raw & 0xFFFF)
        except CommandError as exc:
            self._answer(cid, str(exc))
            return
        except ModbusError as exc:
            self._answer(cid, "device: %s" % exc)
            return
        self.log.info("remote setting: %s address %d %s = %d" % (label(dev.channel), dev.address, pt.name, raw))
        self._answer(cid, channel=dev.channel, address=dev.address, point=pt.name, register=pt.address, raw=raw)
