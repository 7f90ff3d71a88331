"""The audit log of writes to devices (manual 2.3, "set slave devices"): every attempt, who made
it, what it asked, the old and new value and the result, on flash, newest first at ``GET
/api/writes``.

Files ``<root>/audit/w<n>.log``, append-only, framed as the history's files are (``history.frame``:
``<length u8><payload><crc32>``): a power cut can tear only the last frame, a reader stops there,
and before its first append after a start the writer copies a torn file's good frames into a new
file that replaces it (a rename), so nothing is written after a torn frame. A payload is one
entry as a JSON list in ``FIELDS`` order (its message shortened to fit a frame). A file takes
``file_bytes``; then the next is started. The log keeps to its storage share (``limit``, from
``firmware/storage.py``) by deleting whole files, oldest first.
"""

import json
import os

from firmware.history import frame, scan
from firmware.store import in_blocks, open_folder, remove, size_of

# An entry: time (Unix s, None before the clock is set), who (page user, MQTT, TCP client
# address), channel, address, point, register, old value, value asked, value read back, result
# ("written", "unchanged", or a refusal's code), message.
FIELDS = ("time", "who", "channel", "address", "point", "register", "old", "new", "read_back", "result", "message")
_MAX_PAYLOAD = 255


def _number(name):
    return int(name[1:-4])


class Audit:
    """The audit log in ``<root>/audit``."""

    file_bytes = 4096  # one flash block per file: eviction frees whole blocks

    def __init__(self, root, block=4096):
        self.dir = root + "/audit"
        self.block = block
        open_folder(self.dir)  # a repair cut short by a power cut leaves nothing behind
        self.max_bytes = None
        self._checked = False  # the newest file's tail was checked this start
        self.appended = 0

    def _names(self):
        """The log's files, oldest first."""
        return sorted((n for n in os.listdir(self.dir) if n[:1] == "w" and n.endswith(".log")), key=_number)

    # -- the storage protocol (firmware/storage.py) --------------------------------------------

    def size(self):
        return self.block + sum(in_blocks(size_of(self.dir + "/" + n), self.block) for n in os.listdir(self.dir))

    def limit(self, budget):
        self.max_bytes = budget
        self._evict()

    def _evict(self):
        if self.max_bytes is None:
            return
        names = self._names()[:-1]  # the file being written stays
        while names and self.size() > self.max_bytes:
            remove(self.dir + "/" + names.pop(0))

    # -- writing -------------------------------------------------------------------------------

    def _repair(self, path):
        """Cuts a torn tail off ``path``: its good frames go to a new file that replaces it."""
        good = 0
        for _, end in scan(path):
            good = end
        if size_of(path) > good:
            tmp = path + ".tmp"
            with open(path, "rb") as src, open(tmp, "wb") as dst:
                left = good
                while left:
                    data = src.read(min(left, 1024))
                    dst.write(data)
                    left -= len(data)
            os.rename(tmp, path)

    def _current(self):
        """The path to append to: the newest file, a new one when it is full."""
        names = self._names()
        if names and not self._checked:
            self._repair(self.dir + "/" + names[-1])
        self._checked = True
        if names and size_of(self.dir + "/" + names[-1]) < self.file_bytes:
            return self.dir + "/" + names[-1]
        return "%s/w%d.log" % (self.dir, _number(names[-1]) + 1 if names else 1)

    def append(self, entry):
        """Appends ``entry`` (a dict with the ``FIELDS``); one write of one frame."""
        row = [entry.get(k) for k in FIELDS]
        for i in range(len(row) - 1):  # a client's text (a point's name) is kept short
            if isinstance(row[i], str) and len(row[i]) > 40:
                row[i] = row[i][:40]
            elif not isinstance(row[i], (str, int, float)):
                row[i] = None
        payload = json.dumps(row).encode()
        if len(payload) > _MAX_PAYLOAD:  # only the message is long: shorten it
            cut = len(payload) - _MAX_PAYLOAD + 3
            row[-1] = (row[-1] or "")[: max(0, len(row[-1] or "") - cut)] + "..."
            payload = json.dumps(row).encode()[:_MAX_PAYLOAD]
        with open(self._current(), "ab") as f:
            f.write(frame(payload))
        self.appended += 1
        self._evict()

    # -- reading -------------------------------------------------------------------------------

    def newest(self, n):
        """Yields up to ``n`` entries (dicts), newest first; a file at a time in RAM (4 KB)."""
        for name in reversed(self._names()):
            rows = []
            for p, _ in scan(self.dir + "/" + name):
                try:
                    rows.append(json.loads(p))
                except ValueError:
                    continue  # a frame whose CRC held but whose text did not parse: never written so
            for row in reversed(rows):
                if n <= 0:
                    return
                n -= 1
                yield dict(zip(FIELDS, row))
