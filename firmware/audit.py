"""The audit log of writes to devices (manual 2.3, "set slave devices"): every attempt, who made
it, what it asked, the old and new value and the result, on flash, newest first at ``GET
/api/writes``.

Files ``<root>/audit/w<n>.log``, kept by ``firmware/framelog.py`` (framed, append-only, repaired
after a power cut, within the log's storage share). A payload is one entry as a JSON list in
``FIELDS`` order (its message shortened to fit a frame).
"""

import json

from firmware.framelog import MAX_PAYLOAD, FrameLog

# An entry: time (Unix s, None before the clock is set), who (page user, MQTT, TCP client
# address), channel, address, point, register, old value, value asked, value read back, result
# ("written", "unchanged", or a refusal's code), message.
FIELDS = ("time", "who", "channel", "address", "point", "register", "old", "new", "read_back", "result", "message")


class Audit(FrameLog):
    """The audit log in ``<root>/audit``."""

    def __init__(self, root, block=4096):
        super().__init__(root + "/audit", "w", block)
        self.on_entry = None  # on_entry(entry): after each entry is stored (the Log takes the writes)

    def append(self, entry):
        """Appends ``entry`` (a dict with the ``FIELDS``); one write of one frame."""
        row = [entry.get(k) for k in FIELDS]
        for i in range(len(row) - 1):  # a client's text (a point's name) is kept short
            if isinstance(row[i], str) and len(row[i]) > 40:
                row[i] = row[i][:40]
            elif not isinstance(row[i], (str, int, float)):
                row[i] = None
        payload = json.dumps(row).encode()
        if len(payload) > MAX_PAYLOAD:  # only the message is long: shorten it
            cut = len(payload) - MAX_PAYLOAD + 3
            row[-1] = (row[-1] or "")[: max(0, len(row[-1] or "") - cut)] + "..."
            payload = json.dumps(row).encode()[:MAX_PAYLOAD]
        super().append(payload)
        if self.on_entry is not None:
            self.on_entry(entry)

    def newest(self, n):
        """Yields up to ``n`` entries (dicts), newest first."""
        if n <= 0:
            return
        for p in super().newest():
            try:
                row = json.loads(p)
            except ValueError:
                continue  # a frame whose CRC held but whose text did not parse: never written so
            yield dict(zip(FIELDS, row))
            n -= 1
            if n <= 0:
                return
