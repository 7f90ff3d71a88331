"""The gateway's pure parts: the allow-list, the clients setting, and which reads the poll data
answers (both runtimes)."""

from firmware import devicemap
from firmware.compat import ticks_add, ticks_ms
from firmware.fields import check
from firmware.gateway import allowed, cached, peer_address, rules
from firmware.poller import Device

MAPS = devicemap.load_all()


def test_allow_list_of_addresses_and_subnets():
    r = rules("192.168.1.0/24, 10.0.0.5 ,127.0.0.1")
    assert allowed("192.168.1.77", r) and allowed("10.0.0.5", r) and allowed("127.0.0.1", r)
    assert not allowed("192.168.2.1", r) and not allowed("10.0.0.6", r) and not allowed("bogus", r)
    assert allowed("8.8.8.8", rules("")) and allowed("1.2.3.4", rules("0.0.0.0/0"))
    assert not allowed("10.1.2.3", rules("10.1.2.4/32"))
    spec = ("subnets", "", 0, 200)
    assert check(spec, "") is None and check(spec, "10.0.0.0/8, 192.168.0.1") is None
    for bad in ("300.1.1.1", "10.0.0.0/33", "10.0.0.0/x", "host.example", "10.0.0.0/", "1.2.3.4, ,x"):
        assert check(spec, bad)[0] == "format", bad
    assert check(spec, ", ".join(["10.0.0.1"] * 30))[0] == "format"  # over 200 characters
    # the unix port gives the raw sockaddr_in, lwIP and CPython (host, port)
    assert peer_address(bytes([2, 0, 0x1F, 0x90, 127, 0, 0, 2]) + bytes(8)) == "127.0.0.2"
    assert peer_address(("192.168.0.9", 40000)) == "192.168.0.9"


def test_reads_the_poll_data_answers():
    d = Device({"type": "atess_inverter", "channel": 1, "address": 2}, MAPS["atess_inverter"])
    for j in range(len(d.raw)):
        d.raw[j] = j & 0xFF
    now = ticks_ms()
    assert cached(d, 4, 174, 2, now) is None  # never polled
    d.online, d.last_seen_ms = True, now
    pt = d.map.point("battery_voltage")  # input register 1, kept
    at = d.map.offset(pt)
    assert cached(d, 4, 1, 1, now) == bytes(d.raw[at : at + 2])
    assert cached(d, 4, 174, 2, now) is not None and len(cached(d, 4, 171, 5, now)) == 10
    assert cached(d, 4, 176, 1, now) is None  # read by the poll, not kept
    assert cached(d, 3, 1, 1, now) is None  # holding registers: not polled
    assert cached(d, 4, 279, 2, now) is None  # past the last block
    # live up to two poll intervals (the next poll's values come a poll's duration after it is due)
    assert cached(d, 4, 1, 1, ticks_add(now, d.map.interval_s * 1000 + 700)) is not None
    late = ticks_add(now, 2 * d.map.interval_s * 1000 + 1)
    assert cached(d, 4, 1, 1, late) is None  # stale
    d.online = False
    assert cached(d, 4, 1, 1, now) is None
