"""Property-based fuzzing of the reply checker: whatever the bytes, only the master's own errors."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.modbus import crc, frame
from firmware.modbus.errors import ModbusError

EXAMPLES = 12000


@st.composite
def request(draw):
    buf = bytearray(260)
    fn = draw(st.sampled_from(frame.FUNCTIONS))
    unit = draw(st.integers(1, 247))
    if fn in (15, 16):
        count = draw(st.integers(1, 123 if fn == 16 else 1968))
        address = draw(st.integers(0, 0x10000 - count))
        frame.build(buf, unit, fn, address, values=[1] * count)
    elif fn in (5, 6):
        frame.build(buf, unit, fn, draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF)))
    else:
        count = draw(st.integers(1, 2000 if fn < 3 else 125))
        frame.build(buf, unit, fn, draw(st.integers(0, 0x10000 - count)), count)
    return buf


@st.composite
def reply(draw, req):
    """Raw noise, or a frame shaped like the expected reply with mutations, often with a valid CRC."""
    kind = draw(st.sampled_from(["noise", "shaped", "valid"]))
    if kind == "valid":  # the right reply, sometimes with one byte changed
        fn = req[1]
        if fn in (1, 2, 3, 4):
            nbytes = frame.data_bytes(fn, (req[4] << 8) | req[5])
            body = bytes(req[:2]) + bytes([nbytes & 0xFF]) + draw(st.binary(min_size=nbytes, max_size=nbytes))
        else:
            body = bytes(req[:6])
        if draw(st.booleans()):
            i = draw(st.integers(0, len(body) - 1))
            body = body[:i] + bytes([draw(st.integers(0, 255))]) + body[i + 1 :]
        c = crc.crc16_table(body, len(body))
        body += bytes([c & 0xFF, c >> 8])
    elif kind == "noise":
        body = draw(st.binary(min_size=0, max_size=300))
    else:
        head = bytes([draw(st.sampled_from([req[0], draw(st.integers(0, 255))])),
                      draw(st.sampled_from([req[1], req[1] | 0x80, draw(st.integers(0, 255))]))])
        body = head + draw(st.binary(min_size=0, max_size=260))
        if draw(st.booleans()) and len(body) >= 1:
            c = crc.crc16_table(body, len(body))
            body += bytes([c & 0xFF, c >> 8])
    buf = bytearray(max(len(body), 1) + 8)
    buf[: len(body)] = body
    return buf, len(body)


def test_check_raises_only_modbus_errors_and_reaches_every_outcome():
    """Whatever the reply, only ModbusErrors; an accepted reply really answers the request. The
    same run (no other test's leftovers) must hit each error kind and some accepted replies."""
    seen = {"ok": 0, "errors": {}}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.data())
    def check_one(data):
        req = data.draw(request())
        buf, n = data.draw(reply(req))
        try:
            size = frame.check(buf, n, req)
        except ModbusError as exc:
            name = type(exc).__name__
            seen["errors"][name] = seen["errors"].get(name, 0) + 1
            return
        assert buf[0] == req[0] and buf[1] == req[1]
        assert n == (5 + size if req[1] in (1, 2, 3, 4) else 8)
        seen["ok"] += 1

    check_one()
    total = seen["ok"] + sum(seen["errors"].values())
    print("fuzz cases: %d, outcomes: ok %d, %s" % (total, seen["ok"], seen["errors"]))
    assert total >= 10000, total
    assert seen["ok"] > 100, seen
    for name in ("CrcError", "FrameError", "ExceptionReply"):
        assert seen["errors"].get(name), seen
