"""Runs test modules under the MicroPython unix port; pytest (conftest.py) reads its report.

    micropython host_tests/mp_runner.py host_tests/dual/test_x.py [test_name ...]

For every ``test_*`` function (plain or ``async``) it prints one line
``@@MPTEST <ok|fail> <name> <ms>`` followed, on failure, by the traceback between
``@@BEGIN`` and ``@@END``. Runs on CPython too, which is how the harness itself is tested.
"""

import io
import sys

try:
    import asyncio
except ImportError:  # pragma: no cover
    asyncio = None

try:
    from time import ticks_diff, ticks_ms
except ImportError:
    import time

    def ticks_ms():
        return int(time.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b


def _trace(exc):
    buf = io.StringIO()
    if hasattr(sys, "print_exception"):
        sys.print_exception(exc, buf)
    else:
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=buf)
    return buf.getvalue()


def _load(path):
    folder, _, name = path.rpartition("/")
    if folder and folder not in sys.path:
        sys.path.insert(0, folder)
    name = name[:-3] if name.endswith(".py") else name
    return __import__(name)


def run(path, only=()):
    mod = _load(path)
    names = [n for n in dir(mod) if n.startswith("test_") and callable(getattr(mod, n))]
    failed = 0
    for name in sorted(names):
        if only and name not in only:
            continue
        t0 = ticks_ms()
        try:
            result = getattr(mod, name)()
            if hasattr(result, "send"):  # a coroutine: async def
                asyncio.run(result)
            ok, text = True, ""
        except Exception as exc:
            ok, text = False, _trace(exc)
        ms = ticks_diff(ticks_ms(), t0)
        print("@@MPTEST %s %s %d" % ("ok" if ok else "fail", name, ms))
        if not ok:
            failed += 1
            print("@@BEGIN")
            print(text)
            print("@@END")
    return failed


if __name__ == "__main__":
    sys.exit(1 if run(sys.argv[1], sys.argv[2:]) else 0)
