import asyncio

from support import raises

from firmware.compat import sleep_ms
from firmware.log import Log
from firmware.supervisor import Fatal, Supervisor


def _sup():
    sup = Supervisor(Log(size=32, echo=False))
    sup.backoff_ms = 1
    sup.backoff_max_ms = 2
    return sup


async def test_failing_task_is_restarted_while_others_keep_running():
    sup = _sup()
    ticks = []
    runs = []

    async def steady():
        while True:
            ticks.append(1)
            await sleep_ms(2)

    async def flaky():
        runs.append(1)
        await sleep_ms(1)
        if len(runs) < 3:
            raise RuntimeError("bus glitch %d" % len(runs))
        await sleep_ms(10000)

    sup.add("steady", steady)
    sup.add("flaky", flaky)
    runner = asyncio.create_task(sup.run())
    for _ in range(500):  # 3 runs and the steady task's pace: within 5 s even on a loaded machine
        await sleep_ms(10)
        if len(runs) >= 3 and len(ticks) > 20:
            break
    status = sup.status()
    runner.cancel()
    try:
        await runner
    except asyncio.CancelledError:
        pass
    assert len(runs) == 3, runs
    assert status["flaky"] == (True, 2), status
    assert status["steady"] == (True, 0), status
    assert len(ticks) > 20, len(ticks)  # kept its pace through the other task's failures
    logged = [e[2] for e in sup.log.recent()]
    assert any("task flaky failed (restart 1)" in m and "bus glitch 1" in m for m in logged), logged


async def test_task_failing_too_often_is_fatal():
    sup = _sup()
    sup.max_restarts = 3

    async def broken():
        raise OSError("no such device")

    sup.add("broken", broken)
    try:
        await sup.run()
    except Fatal as exc:
        assert "broken failed 4 times" in str(exc), str(exc)
    else:
        raise AssertionError("run() returned instead of raising Fatal")


async def test_run_returns_when_every_task_finishes():
    sup = _sup()
    done = []

    async def once():
        done.append(1)

    sup.add("a", once)
    sup.add("b", once)
    await sup.run()
    assert done == [1, 1]
    assert sup.status() == {"a": (False, 0), "b": (False, 0)}


def test_status_before_run():
    sup = _sup()
    sup.add("x", lambda: None)
    assert sup.status() == {"x": (False, 0)}
    assert raises(KeyError, lambda: sup.status()["y"])
