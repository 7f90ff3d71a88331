"""Store-and-forward queue on flash: what was measured waits here until the broker has it.

Files in ``<root>``: segment files ``<first seq, 10 digits>.seg`` and ``ack`` (text: ``<acked seq>
<evicted count>``, replaced atomically with ``ack.tmp`` + rename). A segment is append-only; each
record is ``<length u16 BE><crc32 u32 BE of the payload><payload>``, 6 bytes of overhead. A
record's sequence number is its segment's first seq plus its index, so it costs no bytes.

Power cut: a torn last record fails its length or CRC and the rest of that segment is ignored;
after a restart new records go to a new segment, never after a torn tail. The ack position is
written every ``ack_every`` acks, and always before a segment file is deleted, so a restart may
resend a few acked records (at-least-once) but never loses or renumbers one.

Flash wear: records are only appended; whole segments are deleted once acked, or evicted
(oldest first, counted in ``evicted``) when the spool exceeds ``max_bytes``.
"""

import binascii
import os
import struct

from firmware.store import in_blocks, makedirs, remove

_HEAD = 6  # u16 length + u32 CRC


def _crc(data):
    return binascii.crc32(data) & 0xFFFFFFFF


class Spool:
    """A queue of byte records in folder ``root`` (see the module docstring)."""

    block = 4096  # the flash filesystem's block (LittleFS on the ESP32's 4 KB erase blocks)

    def __init__(self, root, max_bytes=2 * 1024 * 1024, segment_bytes=32 * 1024, ack_every=16):
        self.root = root.rstrip("/")
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.ack_every = ack_every
        self.acked = 0  # every seq <= acked has been sent
        self.evicted = 0
        self.ack_writes = 0
        self._dirty = 0  # acks since the ack file was written
        self._segs = []  # [first seq, record count, bytes], oldest first
        self._open = None  # the segment being appended to (index -1 of _segs) or None
        self._ahead = set()  # seqs sent out of order (live data beside a backlog), > acked + 1
        self._pos = []  # [(seq, segment, offset after it)]: where the last few peeks stopped
        makedirs(self.root)
        self._load()

    # -- start-up ------------------------------------------------------------------------------

    def _load(self):
        try:
            with open(self.root + "/ack") as f:
                parts = f.read().split()
            self.acked, self.evicted = int(parts[0]), int(parts[1])
        except (OSError, ValueError, IndexError):
            pass  # no ack file yet (or unreadable): everything on flash is unsent
        names = sorted(n for n in os.listdir(self.root) if n.endswith(".seg"))
        for name in names:
            first = int(name[:-4])
            count, good = self._scan(self._path(first))
            if count:
                self._segs.append([first, count, good])
            else:
                remove(self._path(first))  # torn first record: its name may be reused
        remove(self.root + "/ack.tmp")

    def _scan(self, path):
        """(records, bytes) of the intact prefix of a segment file."""
        count = good = 0
        with open(path, "rb") as f:
            while True:
                head = f.read(_HEAD)
                if len(head) < _HEAD:
                    break
                n, crc = struct.unpack(">HI", head)
                data = f.read(n)
                if len(data) < n or _crc(data) != crc:
                    break
                count += 1
                good += _HEAD + n
        return count, good

    def _path(self, first):
        return "%s/%010d.seg" % (self.root, first)

    # -- the queue -----------------------------------------------------------------------------

    @property
    def next_seq(self):
        last = self._segs[-1][0] + self._segs[-1][1] if self._segs else 1
        return max(last, self.acked + 1)

    def append(self, payload):
        """Stores ``payload`` (bytes, < 64 KiB) on flash; returns its sequence number."""
        if len(payload) > 0xFFFF:
            raise ValueError("record too long")
        seq = self.next_seq
        seg = self._segs[-1] if self._open is not None else None
        # A segment ends before a record would take it past ``segment_bytes`` (whole flash blocks).
        if seg is None or (seg[1] and seg[2] + _HEAD + len(payload) > self.segment_bytes):
            if seg is not None and self._dirty:
                self._write_ack()  # rollover: a cheap moment to save the ack position
            seg = [seq, 0, 0]
            self._segs.append(seg)
            self._open = seq
        rec = struct.pack(">HI", len(payload), _crc(payload)) + payload
        try:
            # A new segment's file may hold a torn first record of an earlier try: start it afresh.
            with open(self._path(seg[0]), "ab" if seg[1] else "wb") as f:
                f.write(rec)
                f.flush()
        except OSError:
            # Full flash or a write error: whatever part of the record landed is a torn tail, so
            # the next record starts a new segment (a scan stops at a tear, it must be the end).
            self._open = None
            if not seg[1]:
                self._segs.pop()
                remove(self._path(seg[0]))
            raise
        seg[1] += 1
        seg[2] += len(rec)
        self._evict()
        return seq

    def peek(self, n=8, after=0, before=None):
        """Up to ``n`` oldest unacknowledged records after seq ``after`` (and before seq
        ``before``), in order: [(seq, payload)]. Records acknowledged out of order are skipped.

        ``after`` lets a sender keep records in flight: it asks for those after the last it sent;
        ``before`` lets it send a backlog and the newest records as two streams.
        """
        out = []
        want = max(self.acked, after) + 1
        for first, count, _ in self._segs:
            if first + count <= want:
                continue
            if before is not None and first >= before:
                break
            cur = (first, 0)
            for p in self._pos:  # where an earlier peek stopped: no rescan from the start
                if p[0] == want - 1 and p[1] == first:
                    cur = (first, p[2])
            end = first + count if before is None else min(first + count, before)
            with open(self._path(first), "rb") as f:
                f.seek(cur[1])
                off, seq = cur[1], first if cur[1] == 0 else want
                while seq < end and len(out) < n:
                    ln = struct.unpack(">H", f.read(_HEAD)[:2])[0]
                    if seq >= want and seq not in self._ahead:
                        out.append((seq, f.read(ln)))
                    else:
                        f.seek(ln, 1)
                    off += _HEAD + ln
                    last = (seq, first, off)
                    seq += 1
            if seq > want:
                self._pos = [p for p in self._pos if p[1] >= self._segs[0][0]][-3:] + [last]
            if len(out) >= n:
                break
            want = max(want, end)
        return out

    def ack(self, seq):
        """Marks every record up to ``seq`` as sent; deletes segments that are all sent."""
        if seq <= self.acked:
            return
        self.acked = seq
        self._ahead = set(s for s in self._ahead if s > seq)
        self._advance()

    def ack_one(self, seq):
        """Marks record ``seq`` alone as sent (acknowledgements may come out of order)."""
        if seq <= self.acked:
            return
        if seq != self.acked + 1:
            self._ahead.add(seq)  # kept in RAM only: after a restart it is sent again
            return
        self.acked = seq
        while self.acked + 1 in self._ahead:
            self.acked += 1
            self._ahead.discard(self.acked)
        self._advance()

    def _advance(self):
        self._dirty += 1
        seq = self.acked
        done = [s for s in self._segs if s[0] + s[1] - 1 <= seq and s[0] != self._open]
        if done or self._dirty >= self.ack_every:
            self._write_ack()  # before deleting: the next seq must never go back
        for s in done:
            self._drop(s)

    def backlog(self):
        """(records, bytes) not yet acknowledged; bytes are pro rata within a segment."""
        recs = size = 0
        for first, count, nbytes in self._segs:
            left = min(count, first + count - 1 - self.acked)
            if left > 0:
                recs += left
                size += nbytes * left // count
        recs -= len(self._ahead)
        return recs, size

    def flush(self):
        """Saves the ack position now (e.g. before a planned restart)."""
        if self._dirty:
            self._write_ack()

    def size(self):
        """Bytes the spool takes on the flash: its segments in whole blocks (sent records of a live
        segment too) and its folder's metadata pair (LittleFS)."""
        b = self.block
        n = 2 * b
        for s in self._segs:
            n += in_blocks(s[2], b)
        return n

    def limit(self, budget):
        """Keeps the spool within ``budget`` bytes of flash (its storage budget, counted as ``size``
        counts): evicts the oldest now if over. Eviction gives up a whole segment, so a segment is
        at most 1/8 of the budget, in whole blocks; the records may fill the budget less the
        folder, the live segment's last block and the partly filled ends of segments (1/32)."""
        b = self.block
        seg = min(32768, max(512, budget // 8))
        self.segment_bytes = seg // b * b if seg >= b else seg
        self.max_bytes = max(budget // 2, budget - 3 * b - budget // 32)
        self._evict()

    def stats(self):
        recs, size = self.backlog()
        return {"backlog": recs, "backlog_bytes": size, "evicted": self.evicted,
                "next_seq": self.next_seq, "acked": self.acked, "segments": len(self._segs)}

    # -- housekeeping --------------------------------------------------------------------------

    def _evict(self):
        total = sum(s[2] for s in self._segs)
        while total > self.max_bytes and len(self._segs) > 1:
            total -= self.evict_oldest()

    def evict_oldest(self):
        """Drops the oldest segment (sent or not: unsent records count as ``evicted``) to make
        room, e.g. when the flash is full; returns the bytes freed (0 if nothing may go)."""
        if len(self._segs) < 2 and self._open is not None:
            return 0  # only the segment being written: nothing old to give up
        first, count, nbytes = self._segs[0]
        last = first + count - 1
        if last > self.acked:
            self.evicted += last - self.acked - sum(1 for s in self._ahead if s <= last)
            self.acked = last
            self._ahead = set(s for s in self._ahead if s > last)
            while self.acked + 1 in self._ahead:
                self.acked += 1
                self._ahead.discard(self.acked)
        self._write_ack()
        self._drop(self._segs[0])
        return nbytes

    def _drop(self, seg):
        self._segs.remove(seg)
        remove(self._path(seg[0]))

    def _write_ack(self):
        tmp = self.root + "/ack.tmp"
        with open(tmp, "w") as f:
            f.write("%d %d\n" % (self.acked, self.evicted))
            f.flush()
        os.rename(tmp, self.root + "/ack")
        self._dirty = 0
        self.ack_writes += 1
