"""The flash spool: order, restarts, torn records, acks and eviction."""

import os

from support import tmpdir

from firmware.spool import Spool
from firmware.store import dumps


def _rec(i):
    return ("record %d" % i).encode()


def _drain(sp, ack=True):
    got = []
    while True:
        batch = sp.peek(5)
        if not batch:
            return got
        got.extend(batch)
        if not ack:
            return got
        sp.ack(batch[-1][0])


def _segments(root):
    return sorted(n for n in os.listdir(root) if n.endswith(".seg"))


def test_records_come_out_in_order_across_segments():
    sp = Spool(tmpdir(), segment_bytes=100)
    seqs = [sp.append(_rec(i)) for i in range(50)]
    assert seqs == list(range(1, 51)), seqs
    assert len(sp.stats()) and sp.stats()["segments"] > 5
    got = _drain(sp)
    assert [s for s, _ in got] == seqs
    assert [p for _, p in got] == [_rec(i) for i in range(50)]
    assert sp.backlog() == (0, 0)
    assert sp.peek(5) == []


def test_peek_without_ack_returns_the_same_records():
    sp = Spool(tmpdir(), segment_bytes=64)
    for i in range(10):
        sp.append(_rec(i))
    assert sp.peek(3) == sp.peek(3)
    sp.ack(2)
    assert [s for s, _ in sp.peek(3)] == [3, 4, 5]
    sp.ack(7)  # an ack beyond what was peeked also works
    assert [s for s, _ in sp.peek(10)] == [8, 9, 10]


def test_a_restart_loses_nothing_and_keeps_numbering():
    root = tmpdir()
    sp = Spool(root, segment_bytes=80, ack_every=4)
    for i in range(20):
        sp.append(_rec(i))
    sp.ack(sp.peek(6)[-1][0])  # 6 acked, fewer than ack_every past the last write
    sp = Spool(root, segment_bytes=80, ack_every=4)  # power cut: nothing flushed by hand
    got = _drain(sp)
    seqs = [s for s, _ in got]
    # At-least-once: records 1..6 may come again, but 7..20 all do, in order, unrenumbered.
    assert seqs[-14:] == list(range(7, 21)), seqs
    assert seqs == sorted(seqs)
    for s, p in got:
        assert p == _rec(s - 1)
    assert sp.append(b"after") == 21
    sp = Spool(root, segment_bytes=80)
    assert sp.next_seq == 22


def test_ack_position_persists_and_numbering_never_goes_back():
    root = tmpdir()
    sp = Spool(root, segment_bytes=40, ack_every=1)
    for i in range(8):
        sp.append(_rec(i))
    _drain(sp)
    assert _segments(root) == ["0000000008.seg"] or len(_segments(root)) <= 1
    sp = Spool(root, segment_bytes=40)
    assert sp.backlog() == (0, 0)
    assert sp.peek(5) == []
    assert sp.append(b"x") == 9
    _drain(sp)
    for name in _segments(root):  # everything sent and deleted: the number still goes on
        os.remove(root + "/" + name)
    assert Spool(root).append(b"y") == 10


def test_a_torn_last_record_is_skipped():
    root = tmpdir()
    sp = Spool(root)
    for i in range(5):
        sp.append(_rec(i))
    path = root + "/" + _segments(root)[-1]
    with open(path, "rb") as f:
        raw = f.read()
    for cut in (1, 3, 6, 9):  # inside the header, at its end, inside the payload
        with open(path, "wb") as f:
            f.write(raw[:-cut] if cut < len(_rec(4)) + 6 else raw)
        got = Spool(root).peek(10)
        assert [s for s, _ in got] == [1, 2, 3, 4], (cut, got)
    with open(path, "wb") as f:  # a flipped bit in the last payload
        f.write(raw[:-1] + bytes([raw[-1] ^ 1]))
    sp = Spool(root)
    assert [s for s, _ in sp.peek(10)] == [1, 2, 3, 4]
    assert sp.append(b"new") == 5  # into a new segment, not after the torn tail
    assert [p for _, p in Spool(root).peek(10)][-1] == b"new"


def test_a_torn_only_record_does_not_block_its_segment_name():
    root = tmpdir()
    sp = Spool(root)
    sp.append(b"abc")
    path = root + "/" + _segments(root)[0]
    with open(path, "wb") as f:
        f.write(b"\x00\x03\x01")
    sp = Spool(root)
    assert sp.peek(5) == []
    assert sp.append(b"def") == 1
    assert Spool(root).peek(5) == [(1, b"def")]


def test_eviction_drops_oldest_segments_and_is_counted():
    root = tmpdir()
    sp = Spool(root, max_bytes=300, segment_bytes=100)
    for i in range(60):
        sp.append(_rec(i))
    recs, size = sp.backlog()
    assert sum(os.stat(root + "/" + n)[6] for n in _segments(root)) <= 300
    assert sp.evicted > 0 and recs + sp.evicted == 60, (recs, sp.evicted)
    got = _drain(sp)
    assert [s for s, _ in got] == list(range(61 - recs, 61))
    sp = Spool(root, max_bytes=300, segment_bytes=100)
    assert sp.evicted == 60 - recs


def test_ack_writes_are_rationed():
    sp = Spool(tmpdir(), segment_bytes=10000, ack_every=10)
    for i in range(40):
        sp.append(_rec(i))
    for s in range(1, 41):
        sp.ack(s)
    assert sp.ack_writes == 4, sp.ack_writes


def test_bytes_per_record():
    # A realistic sample: one device's main values with time and seq, compact JSON.
    sample = {"sn": "EL2A00012345", "dev": "PCS-1", "ch": 1, "addr": 3, "seq": 123456,
              "t": 1795000000, "v": {"p_ac": 49.8, "soc": 87.0, "u_bat": 742.3, "i_bat": -61.2,
                                     "e_day": 312.4, "e_tot": 48211.7, "t_mod": 41.5,
                                     "state": 3}}
    payload = dumps(sample).encode()
    root = tmpdir()
    sp = Spool(root)
    for _ in range(100):
        sp.append(payload)
    disk = sum(os.stat(root + "/" + n)[6] for n in _segments(root))
    per = disk // 100
    assert per == len(payload) + 6
    print("spool: %d bytes per record (%d payload + 6)" % (per, len(payload)))


def test_peek_after_keeps_records_in_flight():
    sp = Spool(tmpdir(), segment_bytes=60)
    for i in range(12):
        sp.append(_rec(i))
    a = sp.peek(4)
    b = sp.peek(4, after=a[-1][0])
    c = sp.peek(10, after=b[-1][0])
    assert [s for s, _ in a + b + c] == list(range(1, 13))
    assert [p for _, p in a + b + c] == [_rec(i) for i in range(12)]
    sp.ack(6)
    assert [s for s, _ in sp.peek(3)] == [7, 8, 9]  # after a reconnect: from the oldest unsent
    assert sp.peek(3, after=2) == sp.peek(3)  # never before what was acknowledged


def test_out_of_order_acks_skip_and_merge():
    root = tmpdir()
    sp = Spool(root, segment_bytes=60)
    for i in range(10):
        sp.append(_rec(i))
    sp.ack_one(9)  # live data sent beside the backlog
    sp.ack_one(10)
    assert sp.acked == 0 and sp.backlog()[0] == 8
    assert [s for s, _ in sp.peek(20)] == list(range(1, 9))  # the sent ones are not sent again
    assert [s for s, _ in sp.peek(3, 0, 5)] == [1, 2, 3] and [s for s, _ in sp.peek(9, 3, 5)] == [4]
    for s in range(1, 9):
        sp.ack_one(s)
    assert sp.acked == 10 and sp.backlog() == (0, 0) and sp.peek(5) == []
    # A restart forgets out-of-order acks: those records are sent again (at-least-once), none lost.
    for i in range(3):
        sp.append(_rec(i))
    sp.ack_one(13)
    sp.flush()
    assert [s for s, _ in Spool(root, segment_bytes=60).peek(10)] == [11, 12, 13]


def test_evict_oldest_for_a_full_flash_counts_unsent_records():
    root = tmpdir()
    sp = Spool(root, segment_bytes=40)
    for i in range(12):
        sp.append(_rec(i))
    sp.ack(2)
    sp.ack_one(4)
    first = sp._segs[0]
    freed = sp.evict_oldest()
    assert freed == first[2] > 0
    gone = first[0] + first[1] - 1
    assert sp.acked >= gone and sp.evicted == gone - 2 - (1 if 4 <= gone else 0)
    assert Spool(root, segment_bytes=40).evicted == sp.evicted  # counted on flash too
    while sp.evict_oldest():
        pass
    assert len(sp._segs) == 1  # the segment being written stays

