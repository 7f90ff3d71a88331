"""A log of short entries on flash, kept across restarts and power cuts, within a storage budget:
what the write audit log (firmware/audit.py) and the event log (firmware/eventlog.py) share.

Files ``<folder>/<letter><n>.log``, append-only, framed as the history's files are
(``history.frame``: ``<length u8><payload><crc32>``): a power cut can tear only the last frame, a
reader stops there, and before its first append after a start the writer copies a torn file's good
frames into a new file that replaces it (a rename), so nothing is written after a torn frame. A file
takes ``file_bytes`` (one flash block); then the next is started. The log keeps to its storage
share (``limit``, from ``firmware/storage.py``) by deleting whole files, oldest first; the file
being written always stays.
"""

import os

from firmware.history import frame, scan
from firmware.store import in_blocks, open_folder, remove, size_of

MAX_PAYLOAD = 255


class FrameLog:
    """The log in folder ``folder``, its files named ``<letter><n>.log``."""

    file_bytes = 4096  # one flash block per file: eviction frees whole blocks

    def __init__(self, folder, letter, block=4096):
        self.dir = folder
        self.letter = letter
        self.block = block
        open_folder(self.dir)  # a repair cut short by a power cut leaves nothing behind
        self.max_bytes = None
        self._checked = False  # the newest file's tail was checked this start
        self.appended = 0

    def _number(self, name):
        return int(name[1:-4])

    def names(self):
        """The log's files, oldest first."""
        return sorted((n for n in os.listdir(self.dir) if n[:1] == self.letter and n.endswith(".log")),
                      key=self._number)

    # -- the storage protocol (firmware/storage.py) --------------------------------------------

    def size(self):
        return self.block + sum(in_blocks(size_of(self.dir + "/" + n), self.block) for n in os.listdir(self.dir))

    def limit(self, budget):
        self.max_bytes = budget
        self._evict()

    def _evict(self):
        if self.max_bytes is None:
            return
        names = self.names()[:-1]  # the file being written stays
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
        names = self.names()
        if names and not self._checked:
            self._repair(self.dir + "/" + names[-1])
        self._checked = True
        if names and size_of(self.dir + "/" + names[-1]) < self.file_bytes:
            return self.dir + "/" + names[-1]
        return "%s/%s%d.log" % (self.dir, self.letter, self._number(names[-1]) + 1 if names else 1)

    def append(self, payload):
        """Appends ``payload`` (1 to 255 bytes): one write of one frame; then keeps to the budget."""
        if not 0 < len(payload) <= MAX_PAYLOAD:
            raise ValueError("an entry takes 1 to %d bytes" % MAX_PAYLOAD)
        with open(self._current(), "ab") as f:
            f.write(frame(payload))
        self.appended += 1
        self._evict()

    # -- reading -------------------------------------------------------------------------------

    def newest(self):
        """Yields the payloads, newest first; a file at a time in RAM (4 KB)."""
        for name in reversed(self.names()):
            got = [p for p, _ in scan(self.dir + "/" + name)]
            while got:
                yield got.pop()

    def last(self):
        """The newest payload, or None."""
        for p in self.newest():
            return p
        return None
