# The progress supervisor: it feeds the hardware watchdog only while every key task reports.
# The reset itself (the PC adapter kills the process) is tested end to end in test_runtime.py.
import asyncio

from firmware import watchdog
from firmware.compat import sleep_ms, ticks_add, ticks_ms
from firmware.log import Log

T0 = ticks_add(0, -2500)


class Hw:
    def __init__(self):
        self.timeout = None
        self.feeds = []

    def start(self, timeout_ms):
        self.timeout = timeout_ms

    def feed(self):
        self.feeds.append(1)


def _wd():
    return watchdog.Watchdog(Hw(), Log(size=16, echo=False), timeout_ms=5000)


def test_feeds_only_while_every_key_task_is_on_time():
    wd = _wd()
    wd.register("pollers", 3000, T0)
    wd.register("uplink", 10000, T0)
    fed = []
    for s in range(0, 20):
        now = ticks_add(T0, s * 1000)
        if s < 6 or s >= 12:
            wd.alive("pollers", now)  # pollers hang from 6 s to 12 s
        wd.alive("uplink", now)
        n = len(wd.hw.feeds)
        late = wd.check(now)
        fed.append(len(wd.hw.feeds) > n)
        if s == 10:
            assert late == ["pollers"]
    # last report at 5 s, limit 3 s: late from 9 s (more than 3 s) until it reports again at 12 s
    assert fed == [True] * 9 + [False] * 3 + [True] * 8, fed
    msgs = [e[2] for e in wd.log.recent()]
    assert "watchdog: no progress from pollers; not feeding, the board resets within 5 s" in msgs, msgs
    assert "watchdog: pollers made progress again" in msgs
    assert msgs.count("watchdog: no progress from pollers; not feeding, the board resets within 5 s") == 1


def test_a_task_that_never_reports_counts_from_its_registration():
    wd = _wd()
    wd.register("uplink", 2000, T0)
    assert wd.check(ticks_add(T0, 2000)) == []
    assert wd.check(ticks_add(T0, 2001)) == ["uplink"]
    st = wd.status(ticks_add(T0, 4000))
    assert st == {"timeout_s": 5, "late": ["uplink"], "tasks": {"uplink": {"limit_s": 2, "last_s_ago": 4}}}, st


async def test_feeder_task_starts_the_hardware_and_stops_feeding_when_a_task_stalls():
    wd = _wd()
    wd.feed_ms = 10
    wd.register("pollers", 60)

    async def poller(stall_after):
        n = 0
        while True:
            if n < stall_after:
                wd.alive("pollers")
            n += 1
            await sleep_ms(10)

    tasks = [asyncio.create_task(wd.run()), asyncio.create_task(poller(10))]
    await sleep_ms(80)
    fed_early = len(wd.hw.feeds)
    await sleep_ms(150)  # the poller stopped reporting at ~100 ms; late from ~160 ms
    fed_mid = len(wd.hw.feeds)
    await sleep_ms(100)
    for t in tasks:
        t.cancel()
    assert wd.hw.timeout == 5000
    assert fed_early >= 4, fed_early
    assert len(wd.hw.feeds) == fed_mid, (fed_mid, len(wd.hw.feeds))  # no feeding once late
    assert wd.starving == ["pollers"]


async def test_a_loop_that_does_not_yield_stops_the_feeding():
    wd = _wd()
    wd.feed_ms = 10
    feeder = asyncio.create_task(wd.run())
    await sleep_ms(50)
    before = len(wd.hw.feeds)
    t0 = ticks_ms()
    while ticks_ms() - t0 < 100:  # a task stuck without yielding for 100 ms
        pass
    assert len(wd.hw.feeds) == before
    await sleep_ms(30)
    feeder.cancel()
    assert len(wd.hw.feeds) > before


async def test_http_probe_makes_web_a_key_task_at_its_first_answer():
    answers = []

    async def handle(reader, writer):
        await reader.readline()
        answers.append(1)
        writer.write(b"HTTP/1.0 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = None
    for port in range(18600, 18700):
        try:
            server = await asyncio.start_server(handle, "127.0.0.1", port)
            break
        except OSError:
            continue
    wd = _wd()
    probe = asyncio.create_task(watchdog.probe_http(wd, "web", "127.0.0.1", port, 5000, every_ms=20))
    await sleep_ms(100)
    assert wd.registered("web") and wd.late(ticks_ms()) == []
    assert len(answers) >= 2, answers
    server.close()
    await server.wait_closed()
    await sleep_ms(60)  # a probe already answered may still be on its way
    seen = wd._seen["web"]
    await sleep_ms(100)
    probe.cancel()
    assert wd._seen["web"] == seen  # no answer, no progress
    # a probe that never gets an answer does not register the task
    wd2 = _wd()
    probe = asyncio.create_task(watchdog.probe_http(wd2, "web", "127.0.0.1", port, 5000, every_ms=20))
    await sleep_ms(60)
    probe.cancel()
    assert not wd2.registered("web")
