"""Helpers for tests that run on both CPython and the MicroPython unix port."""

import os

_count = [0]


def raises(exc_type, func, *args, **kwargs):
    """Calls ``func``; returns the ``exc_type`` it raised, fails if it raised nothing."""
    try:
        func(*args, **kwargs)
    except exc_type as exc:
        return exc
    raise AssertionError("%s did not raise %s" % (getattr(func, "__name__", func), exc_type.__name__))


def tmpdir():
    """A new empty folder for this test."""
    base = os.getenv("MPTEST_TMP")
    if not base:
        import tempfile

        return tempfile.mkdtemp()
    _count[0] += 1
    path = "%s/t%d" % (base, _count[0])
    os.mkdir(path)
    return path


def read(path):
    """The bytes of file ``path``, or None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None
