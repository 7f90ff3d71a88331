"""Remote settings (manual 2.3, "set slave devices"): write one writable holding register.

A command arrives on ``<prefix>/<SN>/cmd`` as JSON::

    {"id": "any text", "channel": 1, "address": 5, "point": "work_mode", "value": 2}

``point`` names a point the device's map marks ``writable``; ``value`` is in the point's unit (the
map's scale is applied). The command goes through the write governor (``firmware/writes.py``):
limits, the interval per register, unchanged values not written, the read back, the audit log
(who: "MQTT"). The result goes to ``<prefix>/<SN>/cmd/result``::

    {"id": ..., "ok": true, "channel": 1, "address": 5, "point": "work_mode", "register": 26, "raw": 2,
     "old": 0, "value": 2, "unit": "", "written": true}
    {"id": ..., "ok": false, "error": "why", "code": "range"}

``value`` is the value read back from the device; ``written`` false: it held the value already.
Off unless the ``server.remote_settings`` setting is on: a broker account must not be enough to
change a plant's settings unless the owner chose that. Commands run one at a time, in order; at
most ``queue_max`` wait.
"""

import asyncio
import json

from firmware.writes import WriteError


class CommandError(ValueError):
    pass


def _check(cmd):
    """(channel, address, point, value) of a command, or CommandError saying what is wrong."""
    if not isinstance(cmd, dict):
        raise CommandError("a command is a JSON object")
    for key in ("channel", "address", "value"):
        if isinstance(cmd.get(key), bool) or not isinstance(cmd.get(key), (int, float)):
            raise CommandError("%s: a number is required" % key)
    return cmd["channel"], cmd["address"], cmd.get("point"), cmd["value"]


OFF = "remote settings are off (server.remote_settings)"


class Remote:
    queue_max = 8

    def __init__(self, governor, enabled, reply, log):
        self.governor = governor  # writes.Governor
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

    def _answer(self, cid, error=None, code=None, **ok):
        out = {"id": cid, "ok": error is None}
        if error:
            out["error"] = error
            if code:
                out["code"] = code
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

    def _off(self, cmd, cid):
        """Refused: remote settings are off. A well-formed command is kept in the audit log."""
        try:
            ch, addr, name, value = _check(cmd)
            self.governor.refused_off("MQTT", ch, addr, OFF, point=name, value=value)
        except CommandError:
            pass
        self._answer(cid, OFF)

    async def execute(self, payload):
        try:
            cmd = json.loads(payload)
        except ValueError:
            self._answer(None, "not JSON")
            return
        cid = cmd.get("id") if isinstance(cmd, dict) else None
        if not self.enabled():
            self._off(cmd, cid)
            return
        try:
            got = await self.governor.set(*_check(cmd), "MQTT")
        except CommandError as exc:
            self._answer(cid, str(exc))
            return
        except WriteError as exc:
            self._answer(cid, exc.message, exc.code)
            return
        self._answer(cid, **got)
