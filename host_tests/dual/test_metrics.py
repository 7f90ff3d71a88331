"""/metrics' text (Prometheus 0.0.4) and its access rule, from real pollers' devices and bus counts
(the channel under them is a stand-in holding only its number and per-unit DeviceStats)."""

from firmware import devicemap
from firmware.compat import ticks_add, ticks_ms
from firmware.log import Log
from firmware.metrics import CHUNK, escape, number, refusal, render
from firmware.modbus.channel import DeviceStats
from firmware.poller import Poller

MAPS = devicemap.load_all()
TOKEN = "s3cret-Token_0123456789"


class _Channel:
    def __init__(self, number):
        self.number = number
        self.stats = {}


def _plant(now):
    """Channel 2: a BCU at 11 read 2.5 s ago with known registers, an MBMS at 12 never seen."""
    pollers = [Poller(_Channel(n), Log(echo=False), MAPS) for n in (1, 2, 3)]
    entries = [{"type": "bcu_battery", "channel": 2, "address": 11},
               {"type": "mbms_battery", "channel": 2, "address": 12}]
    for p in pollers:
        p.set_devices(entries)
    p = pollers[1]
    bcu, mbms = p.devices
    m = MAPS["bcu_battery"]
    regs = [0] * m.blocks[0][2]
    regs[0], regs[1], regs[3], regs[10] = 523, 0x10000 - 15, 87, 251  # 52.3 V, -1.5 A, 87 %, 25.1 °C
    m.keep(0, memoryview(bytes(b for r in regs for b in (r >> 8, r & 255))), bcu.raw)
    bcu.online, bcu.polls, bcu.good_polls, bcu.last_seen_ms = True, 5, 3, ticks_add(now, -2500)
    mbms.polls = 4
    st = p.channel.stats.setdefault(11, DeviceStats())
    for ms in (100, 120, 140, 400):
        st.requests += 1
        st.answered(ms)
    st.requests += 3
    st.timeouts, st.crc_errors = 2, 1
    silent = p.channel.stats.setdefault(12, DeviceStats())
    silent.requests, silent.timeouts = 4, 4
    p.sweeps, p.sweep_ms, p.probes = 7, 1234, 4
    return pollers


INFO = {"version": "1.2.3", "board": "pc", "uptime_s": 42, "heap": {"free": 1000, "used": 2000, "largest_free": None},
        "storage": {"total": 4096000, "free": 1024000, "reserve": 10,
                    "upload_queue": {"budget": 50000, "used": 123}, "history": {"budget": 30000, "used": None}}}
UPLINK = {"connected": False, "backlog": 9, "backlog_bytes": 900, "sent": 0, "evicted": 2, "enabled": False}


def _samples(text):
    """{'name{labels}': value} after checking the format's grouping: HELP and TYPE before each
    family's samples, each family in one piece, counters ending in _total."""
    out, seen, current, kind = {}, [], None, None
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert name not in seen, name  # one group per family
            seen.append(name)
            current = name
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name == current and kind in ("gauge", "counter"), line
            assert name.endswith("_total") == (kind == "counter"), line
        else:
            key, value = line.rsplit(" ", 1)
            assert key.split("{")[0] == current, (line, current)
            assert key not in out, key
            out[key] = float(value)
    assert text.endswith("\n")
    return out


def test_the_text_holds_each_figure_with_its_labels():
    now = ticks_ms()
    text = "".join(render(INFO, _plant(now), UPLINK, now))
    s = _samples(text)
    bcu = 'channel="2",address="11",type="bcu_battery"'
    mbms = 'channel="2",address="12",type="mbms_battery"'
    assert s['enerlog_value{%s,point="rack_voltage",unit="V"}' % bcu] == 52.3
    assert s['enerlog_value{%s,point="rack_current",unit="A"}' % bcu] == -1.5
    assert s['enerlog_value{%s,point="soc",unit="%%"}' % bcu] == 87
    assert s['enerlog_value{%s,point="max_temperature",unit="\u00b0C"}' % bcu] == 25.1
    assert not [k for k in s if k.startswith("enerlog_value{") and mbms in k]  # never seen: no values
    assert s["enerlog_device_online{%s}" % bcu] == 1 and s["enerlog_device_online{%s}" % mbms] == 0
    assert s["enerlog_device_last_poll_age_seconds{%s}" % bcu] == 2.5
    assert "enerlog_device_last_poll_age_seconds{%s}" % mbms not in s
    assert s["enerlog_device_good_polls_total{%s}" % bcu] == 3 and s["enerlog_device_failed_polls_total{%s}" % bcu] == 2
    assert s["enerlog_device_failed_polls_total{%s}" % mbms] == 4
    assert s["enerlog_bus_requests_total{%s}" % bcu] == 7 and s["enerlog_bus_answers_total{%s}" % bcu] == 4
    assert s['enerlog_bus_errors_total{%s,kind="timeout"}' % bcu] == 2
    assert s['enerlog_bus_errors_total{%s,kind="crc"}' % bcu] == 1
    assert s["enerlog_bus_response_p50_seconds{%s}" % bcu] == 0.12
    assert s["enerlog_bus_response_p95_seconds{%s}" % bcu] == 0.4
    assert "enerlog_bus_response_p50_seconds{%s}" % mbms not in s  # no answer: no response time
    assert s['enerlog_channel_errors_total{channel="2",kind="timeout"}'] == 6
    assert s['enerlog_channel_errors_total{channel="1",kind="timeout"}'] == 0
    assert s['enerlog_channel_sweeps_total{channel="2"}'] == 7
    assert s['enerlog_channel_sweep_seconds{channel="2"}'] == 1.234
    assert 'enerlog_channel_sweep_seconds{channel="1"}' not in s  # no pass yet
    assert s['enerlog_channel_devices{channel="2"}'] == 2
    assert s['enerlog_channel_devices_communicating{channel="2"}'] == 1
    assert s['enerlog_info{version="1.2.3",board="pc"}'] == 1 and s["enerlog_uptime_seconds"] == 42
    assert s["enerlog_heap_free_bytes"] == 1000 and "enerlog_heap_largest_free_bytes" not in text
    assert s['enerlog_storage_used_bytes{store="upload_queue"}'] == 123
    assert 'enerlog_storage_used_bytes{store="history"}' not in s
    assert s["enerlog_uplink_backlog_records"] == 9 and s["enerlog_uplink_evicted_total"] == 2
    assert s["enerlog_uplink_connected"] == 0 and s["enerlog_uplink_sent_total"] == 0


def test_pieces_are_small_and_make_the_whole():
    now = ticks_ms()
    pieces = list(render(INFO, _plant(now), UPLINK, now))
    longest = max(len(line) + 1 for line in "".join(pieces).split("\n"))
    assert len(pieces) > 3
    for piece in pieces:
        assert piece.endswith("\n") and len(piece) < CHUNK + longest, len(piece)
    assert "".join(pieces) == "".join(render(INFO, _plant(now), UPLINK, now))


def test_labels_and_numbers_as_the_format_writes_them():
    assert escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert escape("\u00b0C") == "\u00b0C"
    assert number(True) == "1" and number(False) == "0" and number(-7) == "-7"
    assert number(float("nan")) == "NaN" and number(float("inf")) == "+Inf" and number(float("-inf")) == "-Inf"
    assert float(number(52.3)) == 52.3 and float(number(1e20)) == 1e20


def test_off_is_404_and_a_set_token_is_required():
    off = {"enabled": False, "token": TOKEN}
    assert refusal(off, "Bearer " + TOKEN) == 404 and refusal(off, None) == 404
    open_ = {"enabled": True, "token": ""}
    assert refusal(open_, None) is None and refusal(open_, "Bearer anything") is None
    locked = {"enabled": True, "token": TOKEN}
    assert refusal(locked, "Bearer " + TOKEN) is None and refusal(locked, "bearer  " + TOKEN) is None
    for wrong in (None, "", "Bearer", "Bearer ", "Bearer " + TOKEN[:-1], "Bearer " + TOKEN + "x",
                  "Basic " + TOKEN, TOKEN, "Bearer " + TOKEN.upper(), "Bearer " + "x" * len(TOKEN)):
        assert refusal(locked, wrong) == 401, wrong


def test_the_metrics_settings_off_from_the_factory_and_the_token_rule():
    from support import raises, tmpdir

    from firmware.settings import Settings, SettingsError

    s = Settings(tmpdir(), Log(echo=False))
    assert s.get("metrics") == {"enabled": False, "token": ""}
    for bad in ("x" * 15, "x" * 129, "has a space 0123456", "\u00e9" * 20, 12345678901234567):
        e = raises(SettingsError, s.update, "metrics", {"token": bad})
        assert e.field == "metrics.token", e.field
    assert raises(SettingsError, s.update, "metrics", {"enabled": 1}).field == "metrics.enabled"
    assert s.get("metrics") == {"enabled": False, "token": ""}  # nothing stored
    s.update("metrics", {"enabled": True, "token": TOKEN})
    assert s.get("metrics") == {"enabled": True, "token": TOKEN}
    s.update("metrics", {"token": ""})  # back to open on the LAN
    assert s.get("metrics")["token"] == ""
