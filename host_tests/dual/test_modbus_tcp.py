"""Modbus TCP framing (MBAP), checked against the examples of the Modbus Application Protocol
v1.1b3 and Messaging on TCP/IP v1.0b (both runtimes)."""

from support import raises

from firmware.modbus import tcp


def test_header_of_the_specs_example_and_refused_framing():
    # Messaging on TCP/IP, 3.1.3: transaction 1, protocol 0, length 6, unit 0x11
    assert tcp.header(bytes([0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x11])) == (1, 6, 0x11)
    assert tcp.header(bytes([0xFF, 0xFE, 0, 0, 0, 254, 0])) == (0xFFFE, 254, 0)
    for bad, why in ((bytes([0, 1, 0, 1, 0, 6, 1]), "protocol id 1"),
                     (bytes([0, 1, 0, 0, 0, 1, 1]), "length 1"),
                     (bytes([0, 1, 0, 0, 0, 255, 1]), "length 255"),
                     (bytes([0, 1, 0, 0, 1, 5, 1]), "length 261"),
                     (bytes([0, 1, 0, 0, 0]), "7 bytes")):
        assert why in str(raises(tcp.StreamError, tcp.header, bad)), why


def test_requests_of_the_specs_examples():
    # Application Protocol 6.1-6.12: read coils 20-38, read holding 108-110, write coil 173 on,
    # write register 2 = 3, write coils 20-29, write registers 2-3
    assert tcp.request(bytes([0x01, 0x00, 0x13, 0x00, 0x13])) == (1, 19, 19, None)
    assert tcp.request(bytes([0x03, 0x00, 0x6B, 0x00, 0x03])) == (3, 107, 3, None)
    assert tcp.request(bytes([0x04, 0x00, 0x08, 0x00, 0x01])) == (4, 8, 1, None)
    assert tcp.request(bytes([0x05, 0x00, 0xAC, 0xFF, 0x00])) == (5, 172, True, None)
    assert tcp.request(bytes([0x05, 0x00, 0xAC, 0x00, 0x00])) == (5, 172, False, None)
    assert tcp.request(bytes([0x06, 0x00, 0x01, 0x00, 0x03])) == (6, 1, 3, None)
    fn, address, q, values = tcp.request(bytes([0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01]))
    assert (fn, address, q) == (15, 19, 10)
    assert values == [True, False, True, True, False, False, True, True, True, False]
    assert tcp.request(bytes([0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02])) == (16, 1, 2, [10, 258])
    assert tcp.request(bytes([0x03, 0xFF, 0x83, 0x00, 0x7D]))[2] == 125  # 125 registers up to 65535


def test_refused_requests_carry_the_right_exception_code():
    cases = [
        (b"", 1), (bytes([0x07]), 1), (bytes([0x2B, 0x0E, 0x01, 0x00]), 1),  # unsupported functions
        (bytes([0x03, 0x00, 0x00, 0x00, 0x7E]), 3),  # 126 registers
        (bytes([0x03, 0x00, 0x00, 0x00, 0x00]), 3),  # none
        (bytes([0x01, 0x00, 0x00, 0x07, 0xD1]), 3),  # 2001 coils
        (bytes([0x03, 0xFF, 0xFF, 0x00, 0x02]), 2),  # runs past 65535
        (bytes([0x03, 0x00, 0x00]), 3), (bytes([0x03, 0x00, 0x00, 0x00, 0x01, 0x00]), 3),  # short, long
        (bytes([0x05, 0x00, 0x01, 0x12, 0x34]), 3),  # a coil is 0x0000 or 0xFF00
        (bytes([0x06, 0x00, 0x01, 0x00]), 3),
        (bytes([0x10, 0x00, 0x01, 0x00, 0x02, 0x03, 0x00, 0x0A, 0x01]), 3),  # byte count 3 for 2 registers
        (bytes([0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A]), 3),  # values cut short
        (bytes([0x10, 0x00, 0x01, 0x00, 0x7C]) + bytes([0xF8]) + bytes(248), 3),  # 124 registers
        (bytes([0x0F, 0x00, 0x13, 0x00, 0x0A, 0x01, 0xCD]), 3),  # 10 coils need 2 bytes
    ]
    for pdu, code in cases:
        exc = raises(tcp.PduError, tcp.request, pdu)
        assert exc.code == code, (pdu, exc.code, str(exc))
        assert str(exc), pdu


def test_answers_are_the_specs_bytes():
    out = bytearray(tcp.MAX_ADU)
    n = tcp.answer(out, 0x1234, 0x11, bytes([0x03, 0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64]))
    assert bytes(out[:n]) == bytes([0x12, 0x34, 0, 0, 0, 9, 0x11, 0x03, 0x06, 0x02, 0x2B, 0, 0, 0, 0x64])
    n = tcp.exception(out, 7, 30, 3, tcp.TARGET_FAILED)
    assert bytes(out[:n]) == bytes([0, 7, 0, 0, 0, 3, 30, 0x83, 0x0B])
    n = tcp.answer(out, 1, 1, bytes([0x03, 250]) + bytes(250))  # the largest read answer
    assert n == tcp.MAX_ADU - 1 and out[4:6] == bytes([0, 253])
    raises(ValueError, tcp.answer, out, 1, 1, b"")
    raises(ValueError, tcp.answer, out, 1, 1, bytes(254))
