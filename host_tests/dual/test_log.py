from support import raises

from firmware.compat import ticks_add
from firmware.log import ERROR, INFO, WARNING, Log


def test_ring_keeps_the_newest_entries_in_order():
    log = Log(size=4, echo=False)
    for i in range(10):
        log.info("event %d" % i)
    msgs = [e[2] for e in log.recent()]
    assert msgs == ["event 6", "event 7", "event 8", "event 9"], msgs
    assert log.count == 10
    assert [e[2] for e in log.recent(2)] == ["event 8", "event 9"]


def test_level_filter_and_names():
    log = Log(size=8, echo=False, level=WARNING)
    log.info("hidden")
    log.warning("shown")
    log.error("also")
    assert [(e[1], e[2]) for e in log.recent()] == [(WARNING, "shown"), (ERROR, "also")]
    line = Log.format((61005, INFO, "boot"))
    assert line.endswith("INFO  boot"), line
    assert "61.005" in line, line


def test_exception_carries_the_traceback():
    log = Log(size=4, echo=False)

    def fail():
        raise ValueError("bad frame")

    exc = raises(ValueError, fail)
    log.exception("poll failed", exc)
    text = log.recent()[-1][2]
    assert text.startswith("poll failed: ValueError('bad frame'"), text
    assert "fail" in text  # the traceback names the function that raised


def test_the_ring_is_one_buffer_kept_by_bytes():
    # Messages are copied into one preallocated ring: the oldest go when the bytes run out, a
    # message over a quarter of the ring is cut (never inside a UTF-8 character), and entries
    # that wrap round the end of the buffer read back whole.
    log = Log(size=100, echo=False, capacity=256)
    for i in range(40):
        log.warning("entry %02d: %s" % (i, "°C" * (i % 5)))
    kept = log.recent()
    assert 5 < len(kept) < 40 and log.count == 40
    assert [e[2] for e in kept] == ["entry %02d: %s" % (i, "°C" * (i % 5)) for i in range(40 - len(kept), 40)]
    assert all(e[1] == WARNING for e in kept)
    assert sum(7 + len(e[2].encode()) for e in kept) <= 256
    log.error("x" + "é" * 200)
    text = log.recent()[-1][2]
    assert text.startswith("xéé") and len(text.encode()) <= 256 // 4 - 7, len(text.encode())
    assert log.recent(1)[0][2] == text and log.recent(0) == []


def test_a_wrapped_uptime_reads_back_as_it_was_logged():
    # ticks_diff goes negative past half the tick period; the ring keeps 32 bits of it.
    log = Log(size=4, echo=False, capacity=64)
    log._t0 = ticks_add(log._t0, 5000)  # five seconds "in the future": uptime -5000 ms
    log.info("early")
    ms = log.recent()[0][0]
    assert -5000 <= ms < -4000, ms  # -5000 and the time since the log was made (a loaded machine)
    assert raises(ValueError, lambda: Log(capacity=63))


class _NoRoom(Exception):
    """An exception whose text cannot be made: as a full heap refuses the traceback's string."""

    def __repr__(self):
        raise MemoryError("memory allocation failed, allocating 560 bytes")


def test_logging_a_failure_never_fails_on_a_full_heap():
    log = Log(echo=False)
    log.exception("task uplink failed (restart 1)", _NoRoom())  # raises nothing
    entry = log.recent()[-1]
    assert entry[1] == ERROR, entry
    assert entry[2] == "task uplink failed (restart 1): _NoRoom (no room on the heap for its traceback)", entry
