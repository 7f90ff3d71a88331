"""The Log (manual 5.4, "the historical fault information of all devices"): devices going online
and offline, faults appearing and clearing, running-state changes, settings changes, the logger's
starts and factory resets, in words, newest first at ``GET /api/events``.

Files ``<root>/events/e<n>.log``, kept by ``firmware/framelog.py`` (framed, append-only, repaired
after a power cut, within the ``event_log`` storage share, oldest files deleted first). A payload
is one event as a JSON list ``[seq, stamp, kind, level, channel, address, device name, text]``:
``seq`` counts on across restarts (the newest stored + 1), ``stamp`` is the clock's
``[unix ms or None, boot, uptime ms]``, so an event of this start that came before the clock was
set gets its time once it is (``Clock.resolve``); one from an earlier start without a time stays
without.
"""

import json

from firmware.clock import iso
from firmware.framelog import MAX_PAYLOAD, FrameLog

KINDS = ("online", "offline", "fault", "fault_cleared", "state", "settings", "write", "start")
LEVELS = ("info", "warning", "fault")


class EventLog(FrameLog):
    """The event log in ``<root>/events``; ``clock``: ``stamp()`` and ``resolve(stamp)``."""

    def __init__(self, root, clock, block=4096):
        super().__init__(root + "/events", "e", block)
        self.clock = clock
        self.lost = 0  # events the flash could not take
        self.seq = 0
        last = self.last()
        if last is not None:
            try:
                self.seq = json.loads(last)[0]
            except (ValueError, IndexError, TypeError):
                pass

    def add(self, kind, level, text, channel=None, address=None, name=None):
        """Stores one event; never raises for a full or failing flash (counted in ``lost``)."""
        self.seq += 1
        row = [self.seq, self.clock.stamp(), kind, level, channel, address, name, text]
        payload = json.dumps(row).encode()
        if len(payload) > MAX_PAYLOAD:  # only the text is long: shorten it
            row[-1] = text[: max(0, len(text) - (len(payload) - MAX_PAYLOAD) - 3)] + "..."
            payload = json.dumps(row).encode()[:MAX_PAYLOAD]
        try:
            self.append(payload)
        except OSError:
            self.lost += 1

    def _event(self, row):
        seq, stamp, kind, level, channel, address, name, text = row
        t = self.clock.resolve(stamp)
        return {"seq": seq, "time": None if t is None else iso(t // 1000).replace(" ", "T") + "Z",
                "kind": kind, "level": level,
                "device": None if channel is None else {"channel": channel, "address": address, "name": name},
                "text": text}

    def page(self, n, before=None, levels=None):
        """(up to ``n`` events newest first, older than ``seq`` ``before`` when given, of the
        ``levels`` given (None: all); whether there are more before the last one)."""
        out = []
        # a level's quoted word must be in the row's bytes: the rows of other levels are skipped
        # without decoding them (the filter reads back through a log of thousands of rows)
        needles = None if levels is None else [b'"' + v.encode() + b'"' for v in levels]
        for p in self.newest():
            if needles is not None and not any(n in p for n in needles):
                continue
            try:
                row = json.loads(p)
            except ValueError:
                continue  # a frame whose CRC held but whose text did not parse: never written so
            if (before is not None and row[0] >= before) or (levels is not None and row[3] not in levels):
                continue
            if len(out) == n:
                return out, True
            out.append(self._event(row))
        return out, False
