from support import raises

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
