"""Modbus frames and CRC, checked against bytes worked out by hand from the spec (both runtimes)."""

import micropython
from support import raises

from firmware.compat import MICROPYTHON
from firmware.modbus import crc, frame
from firmware.modbus.errors import (
    EXCEPTION_NAMES,
    CrcError,
    ExceptionReply,
    FrameError,
    ModbusError,
    RequestError,
    WrongUnit,
)


def _hex(buf, n):
    return "".join("%02x" % b for b in bytes(buf[:n]))


def test_crc_known_values():
    # Modbus spec examples: 01 03 00 00 00 0A -> C5 CD on the wire; 11 03 00 6B 00 03 -> 76 87
    assert crc.crc16(b"\x01\x03\x00\x00\x00\x0a", 6) == 0xCDC5
    assert crc.crc16_table(b"\x11\x03\x00\x6b\x00\x03", 6) == 0x8776
    assert crc.crc16(b"123456789", 9) == 0x4B37  # the CRC-16/MODBUS check value


def test_viper_and_table_crc_agree():
    seed = 12345
    buf = bytearray(256)
    for n in (0, 1, 2, 7, 8, 255, 256):
        for _ in range(20):
            for i in range(n):
                seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
                buf[i] = seed >> 16 & 0xFF
            assert crc.crc16(buf, n) == crc.crc16_table(buf, n), (n, _hex(buf, n))
    if MICROPYTHON:
        assert crc.NATIVE, "the unix port has the viper emitter: crc16 must be the native one"


def test_requests_byte_for_byte():
    buf = bytearray(260)
    cases = [
        ((0x11, 3, 0x006B, 3), "1103006b00037687"),  # spec example: read holding registers
        ((1, 1, 0x0013, 0x25), "010100130025"),
        ((1, 4, 0, 125), "01040000007d"),
        ((1, 5, 0x00AC, 1), "010500acff00"),
        ((1, 5, 0x00AC, 0), "010500ac0000"),
        ((1, 6, 0x0001, 0x0003), "010600010003"),
    ]
    for args, want in cases:
        n = frame.build(buf, *args)
        assert _hex(buf, n).startswith(want), (args, _hex(buf, n))
        assert n == 8
        c = crc.crc16_table(buf, 6)
        assert buf[6] == c & 0xFF and buf[7] == c >> 8
    n = frame.build(buf, 1, 15, 0x0013, values=[1, 0, 1, 1, 0, 0, 1, 1, 1, 0])
    assert _hex(buf, n - 2) == "010f0013000a02cd01", _hex(buf, n)  # spec example coil packing
    n = frame.build(buf, 1, 16, 0x0001, values=[0x000A, 0x0102])
    assert _hex(buf, n - 2) == "01100001000204000a0102", _hex(buf, n)


def test_request_limits_at_their_edges():
    buf = bytearray(260)
    assert frame.build(buf, 1, 3, 0, 125) == 8
    assert frame.build(buf, 247, 1, 0, 2000) == 8
    assert frame.build(buf, 1, 3, 65535, 1) == 8
    assert frame.build(buf, 1, 16, 0, values=[0] * 123) == 9 + 246
    assert frame.build(buf, 1, 15, 0, values=[1] * 1968) == 9 + 246
    for args, kwargs, words in [
        ((1, 3, 0, 126), {}, "quantity 126 outside 1-125"),
        ((1, 4, 0, 0), {}, "quantity 0 outside 1-125"),
        ((1, 2, 0, 2001), {}, "outside 1-2000"),
        ((1, 3, 65535, 2), {}, "runs past 65535"),
        ((1, 3, 70000, 1), {}, "address 70000 outside"),
        ((0, 3, 0, 1), {}, "unit id 0 outside 1-247"),
        ((248, 3, 0, 1), {}, "unit id 248"),
        ((1, 16, 0), {"values": [0] * 124}, "quantity 124 outside 1-123"),
        ((1, 15, 0), {"values": [1] * 1969}, "quantity 1969 outside 1-1968"),
        ((1, 16, 0), {"values": [65536]}, "register value 65536"),
        ((1, 6, 0, -1), {}, "register value -1"),
        ((1, 16, 0), {}, "needs values"),
        ((1, 7, 0, 1), {}, "function 7 not supported"),
    ]:
        exc = raises(RequestError, frame.build, buf, *args, **kwargs)
        assert words in str(exc), (args, str(exc))


def _reply(body):
    c = crc.crc16_table(body, len(body))
    return bytearray(body + bytes([c & 0xFF, c >> 8]))


def test_read_reply_checked_and_decoded():
    req = bytearray(8)
    frame.build(req, 1, 3, 0, 2)
    r = _reply(b"\x01\x03\x04\x00\x0a\x01\x02")
    assert frame.check(r, len(r), req) == 4
    assert frame.registers(r, 2) == [10, 258]
    frame.build(req, 1, 1, 0, 10)
    r = _reply(b"\x01\x01\x02\xcd\x01")
    assert frame.check(r, len(r), req) == 2
    assert frame.bits(r, 10) == [True, False, True, True, False, False, True, True, True, False]


def test_every_exception_code_is_named():
    req = bytearray(8)
    frame.build(req, 7, 4, 0, 1)
    for code in (1, 2, 3, 4, 5, 6, 7, 8, 10, 11):
        r = _reply(bytes([7, 0x84, code]))
        exc = raises(ExceptionReply, frame.check, r, 5, req)
        assert exc.code == code and exc.unit == 7 and exc.function == 4
        assert EXCEPTION_NAMES[code] in str(exc), str(exc)


def test_bad_replies_raise_the_right_error():
    req = bytearray(8)
    frame.build(req, 1, 3, 0, 2)
    good = _reply(b"\x01\x03\x04\x00\x0a\x01\x02")
    bad_crc = bytearray(good)
    bad_crc[-1] ^= 1
    assert isinstance(raises(CrcError, frame.check, bad_crc, len(bad_crc), req), ModbusError)
    raises(FrameError, frame.check, good, 4, req)  # truncated
    wrong = raises(FrameError, frame.check, _reply(b"\x02\x03\x04\x00\x0a\x01\x02"), 9, req)
    assert "unit 2" in str(wrong) and isinstance(wrong, WrongUnit)  # a scan asks again: maybe a late reply
    assert "function 4" in str(raises(FrameError, frame.check, _reply(b"\x01\x04\x04\x00\x0a\x01\x02"), 9, req))
    raises(FrameError, frame.check, _reply(b"\x01\x03\x02\x00\x0a"), 7, req)  # 1 register, 2 asked
    frame.build(req, 1, 6, 1, 3)
    raises(FrameError, frame.check, _reply(b"\x01\x06\x00\x01\x00\x04"), 8, req)  # echo differs
    assert frame.check(_reply(b"\x01\x06\x00\x01\x00\x03"), 8, req) == 0


def test_reply_parser_never_raises_foreign_errors():
    # A small deterministic fuzz that runs on both runtimes (hypothesis does 10,000+ on CPython).
    seed = 99
    req = bytearray(260)
    buf = bytearray(260)
    outcomes = {}
    for i in range(3000):
        fn = frame.FUNCTIONS[i % 8]
        if fn in (15, 16):
            frame.build(req, 1 + i % 3, fn, i, values=[1] * (1 + i % 5))
        else:
            frame.build(req, 1 + i % 3, fn, i, 1 + i % 9)
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        n = seed % 24
        for k in range(n):
            seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
            buf[k] = (seed >> 16) & (0x03 if k < 2 and i % 2 else 0xFF)
        if n > 4 and i % 3 == 0:  # give a third of them a valid CRC so the deeper checks run
            c = crc.crc16_table(buf, n - 2)
            buf[n - 2], buf[n - 1] = c & 0xFF, c >> 8
        try:
            frame.check(buf, n, req)
            name = "ok"
        except ModbusError as exc:
            name = type(exc).__name__
        outcomes[name] = outcomes.get(name, 0) + 1
    assert outcomes.get("CrcError") and outcomes.get("FrameError"), outcomes


def test_build_and_check_allocate_nothing():
    if not MICROPYTHON:
        return  # CPython: nothing to measure
    req = bytearray(260)
    rep = bytearray(260)
    n = frame.build(req, 1, 3, 0, 125)
    rep[0], rep[1], rep[2] = 1, 3, 250
    c = crc.crc16(rep, 253)
    rep[253], rep[254] = c & 0xFF, c >> 8
    micropython.heap_lock()
    try:
        n = frame.build(req, 1, 3, 0, 125)
        size = frame.check(rep, 255, req)
    finally:
        micropython.heap_unlock()
    assert n == 8 and size == 250
