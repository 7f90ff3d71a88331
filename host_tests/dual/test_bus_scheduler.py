"""The bus scheduler (modbus/scheduler.py), a poller's back-off and a device's quality, bus health
figures and the maps' probe registers: pure logic, on both runtimes."""

import asyncio

from support import raises

from firmware import devicemap
from firmware.compat import ticks_add, ticks_ms
from firmware.log import Log
from firmware.modbus.channel import DeviceStats
from firmware.modbus.scheduler import POLL, PROBE, USER, Scheduler
from firmware.poller import OFFLINE_AFTER, Device, Poller

MAPS = devicemap.load_all()


async def _order(bus, wanted):
    """Starts a task per priority in ``wanted`` while the bus is held; the order they got it."""
    got = []

    async def user(i, prio):
        await bus.acquire(prio)
        got.append(i)
        bus.release()

    await bus.acquire(POLL)
    tasks = [asyncio.create_task(user(i, p)) for i, p in enumerate(wanted)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    bus.release()
    for t in tasks:
        await t
    return got


async def test_a_users_request_goes_first_then_polls_then_probes():
    bus = Scheduler(probe_share=0.0)
    got = await _order(bus, [PROBE, POLL, USER, POLL, PROBE])
    assert got == [2, 1, 3, 0, 4], got
    assert not bus.busy and bus.grants == [1, 3, 2]


async def test_probes_get_their_share_while_polls_keep_the_bus_busy():
    bus = Scheduler(probe_share=0.5)
    # No bus time yet: a waiting probe is within its share and goes before the polls.
    got = await _order(bus, [POLL, POLL, PROBE])
    assert got[0] == 2, got
    bus = Scheduler(probe_share=0.1)
    bus._all_ms, bus._probe_ms = 1000, 500  # probes had half the recent time: over their share
    assert (await _order(bus, [PROBE, POLL, POLL])) == [1, 2, 0]
    assert 0.49 < bus.share() < 0.51


async def _poller_and_prober(bus):
    """A poller doing 5 transactions back to back while a probe waits: the order they got the bus."""
    order = []

    async def poller():
        for _ in range(5):
            await bus.acquire(POLL)
            order.append("poll")
            await asyncio.sleep(0)  # the transaction on the wire
            bus.release()
        await asyncio.sleep(0.01)  # its pause

    async def prober():
        await bus.acquire(PROBE)
        order.append("probe")
        bus.release()

    await bus.acquire(POLL)
    tasks = [asyncio.create_task(poller()), asyncio.create_task(prober())]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    bus.release()
    for t in tasks:
        await t
    return order


async def test_a_probe_over_its_share_waits_for_the_poller_to_pause():
    bus = Scheduler(probe_share=0.1)
    bus._all_ms, bus._probe_ms = 1000, 500  # the probes had half the recent bus time
    assert (await _poller_and_prober(bus)) == ["poll"] * 5 + ["probe"]
    bus = Scheduler(probe_share=0.1)
    bus._all_ms, bus._probe_ms = 1000, 50  # within their share: at once
    order = await _poller_and_prober(bus)
    assert order[0] == "probe" and order.count("poll") == 5, order


async def test_a_cancelled_waiter_leaves_the_bus_free():
    bus = Scheduler()
    await bus.acquire(POLL)
    t = asyncio.create_task(bus.acquire(PROBE))
    await asyncio.sleep(0)
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        pass
    bus.release()
    assert not bus.busy and not bus._waiting
    await bus.acquire(USER)
    bus.release()


class _Channel:
    number = 1


def test_offline_and_never_seen_devices_back_off_doubling_to_the_most():
    p = Poller(_Channel(), Log(echo=False), MAPS)
    p.backoff_ms, p.backoff_max_ms = 30000, 600000
    d = Device({"type": "atess_inverter", "channel": 1, "address": 5}, MAPS["atess_inverter"])
    waits = []
    for fails in range(1, 10):  # never seen: three tries 2 s apart, then 30 s, doubling
        d.fails = fails
        waits.append(p.backoff(d) // 1000)
    assert waits == [2, 2, 30, 60, 120, 240, 480, 600, 600], waits
    d.good_polls = 7  # seen before: offline at the 3rd failed poll, 30 s to its first try
    d.fails = OFFLINE_AFTER
    assert p.backoff(d) == 30000
    d.fails = OFFLINE_AFTER + 1
    assert p.backoff(d) == 60000
    d.fails = 100
    assert p.backoff(d) == 600000


def test_quality_live_stale_offline_and_next_try():
    d = Device({"type": "chint_dtsu666", "channel": 3, "address": 21}, MAPS["chint_dtsu666"])
    now = ticks_ms()
    assert d.quality(now) == "offline" and d.as_dict(now)["serial_ok"] is None  # never read: not judged
    d.next_due = ticks_add(now, 29500)
    assert d.as_dict(now)["next_try_s"] == 30
    d.online, d.good_polls, d.last_seen_ms = True, 1, ticks_add(now, -9000)  # 5 s interval: read 9 s ago
    view = d.as_dict(now)
    assert view["quality"] == "live" and view["next_try_s"] is None and view["read_ms_ago"] == 9000, view
    d.last_seen_ms = ticks_add(now, -10001)  # more than two intervals ago
    assert d.quality(now) == "stale"
    assert d.quality(now, interval_ms=60000) == "live"
    d.online = False
    assert d.quality(now) == "offline"


def test_response_time_percentiles_and_a_likely_address_clash():
    st = DeviceStats()
    assert st.percentiles() == (None, None) and not st.clash_likely()
    for ms in range(1, 101):  # only the last 32 are kept: 69..100
        st.requests += 1
        st.answered(ms)
    assert st.percentiles() == (84, 99), st.percentiles()
    assert st.as_dict()["p95_ms"] == 99 and st.as_dict()["last_latency_ms"] == 100
    st.crc_errors, st.frame_errors, st.requests = 8, 4, 112  # garbled replies among good ones
    assert st.clash_likely()
    st.timeouts = 50  # mostly silence: a device going away, not two answering
    assert not st.clash_likely()


def test_every_map_names_a_probe_register_that_tells_its_type():
    for name, m in MAPS.items():
        assert m.probe is not None, name
        fn, addr, count = m.probe_request()
        assert fn in (3, 4) and count in (1, 2), (name, m.probe_request())
    inv = MAPS["atess_inverter"]
    assert inv.recognise(bytes([0x52, 0x1C])) is True  # 21020: a PCS
    assert inv.recognise(bytes([0, 0])) is False
    chint = MAPS["chint_dtsu666"]
    assert chint.recognise(bytes([0x45, 0x9C, 0x40, 0x00])) is True  # 5000.0 (0.01 Hz)
    assert chint.recognise(bytes(4)) is False
    sdm = MAPS["eastron_sdm630"]
    assert sdm.recognise(bytes([0x42, 0x48, 0, 0])) is True  # 50.0 Hz
    base = {"type": "x", "blocks": [{"function": 3, "address": 0, "count": 2}], "points": []}
    for bad in ({"address": 1, "function": 5}, {"function": 3}, {"address": 1, "type": "ascii"},
                {"address": 1, "range": [1]}, {"address": 70000}):
        data = dict(base, probe=bad)
        assert "probe" in str(raises(devicemap.MapError, devicemap.DeviceMap, data, "x.json")), bad
    m = devicemap.DeviceMap(base, "x.json")
    assert m.probe_request() == (3, 0, 1) and m.recognise(b"\x00\x01") is None  # tries, cannot tell


def test_a_state_record_tells_when_its_values_were_read_and_their_quality():
    import json

    from firmware import records

    d = Device({"type": "atess_inverter", "channel": 1, "address": 4}, MAPS["atess_inverter"])
    d.model, d.online, d.good_polls = "HPS", True, 3
    render = records.Renderer("p/SN/", MAPS, lambda st: st[0])
    got = {}
    for ago in (1200, 25000):  # 10 s interval: live, then more than two intervals old
        d.last_seen_ms = ticks_add(ticks_ms(), -ago)
        topic, pieces = render(5, records.state(d, [1795000000000, 1, 0]))
        msg = json.loads("".join(pieces))
        assert topic == "p/SN/1/4/state" and max(len(p) for p in pieces) < 120, pieces
        assert ago <= msg["age_ms"] < ago + 500 and msg["read_ts"] == 1795000000000 - msg["age_ms"], msg
        assert msg["values"]["battery_voltage"] == 0, msg
        got[ago] = msg["quality"]
    assert got == {1200: "live", 25000: "stale"}, got
    d.online = False
    msg = json.loads("".join(render(6, records.state(d, [None, 7, 99]))[1]))
    assert msg["quality"] == "offline" and "read_ts" not in msg and msg["uptime_ms"] == 99, msg


async def test_a_failing_probe_loop_ends_the_pollers_run():
    class Broken:
        number = 1

        async def request(self, *a, **k):
            raise OSError("the port is gone")

    p = Poller(Broken(), Log(echo=False), MAPS)
    p.set_devices([{"type": "bcu_battery", "channel": 1, "address": 11}])
    try:
        await asyncio.wait_for(p.run(), 5)
        raise AssertionError("run() went on")
    except OSError as exc:  # not a timeout: the probe loop's error came through, for the supervisor
        assert "port is gone" in str(exc)
