"""Modbus TCP framing for the gateway (Modbus Messaging on TCP/IP v1.0b, MBAP header): a
request's header and PDU checked against the spec's limits, and the answers built in a buffer the
caller owns.

An ADU is ``<transaction id u16><protocol id u16 = 0><length u16><unit id u8><PDU>``; ``length``
counts the unit id and the PDU, so an ADU is at most 260 bytes (a PDU at most 253).

Two kinds of refusal: ``StreamError`` when the bytes cannot be framed (a wrong protocol id, a
length outside 2-254): the connection can no longer be trusted and is closed; ``PduError`` when a
well-framed request is not acceptable: it is answered with its Modbus exception code (1 illegal
function, 2 illegal data address, 3 illegal data value).
"""

from micropython import const

from firmware.modbus.frame import LIMITS  # the largest quantity per function, as the RTU master keeps

HEADER = const(7)
MAX_PDU = const(253)
MAX_ADU = const(260)
ILLEGAL_FUNCTION = const(1)
ILLEGAL_ADDRESS = const(2)
ILLEGAL_VALUE = const(3)
PATH_UNAVAILABLE = const(10)
TARGET_FAILED = const(11)



class StreamError(ValueError):
    """The byte stream cannot be framed: close the connection."""


class PduError(ValueError):
    """A well-framed request the gateway answers with Modbus exception ``code``."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def _u16(b, i):
    return (b[i] << 8) | b[i + 1]


def header(buf):
    """``(transaction id, length of unit id + PDU, unit id)`` of the 7 header bytes in ``buf``."""
    if len(buf) < HEADER:
        raise StreamError("a header is 7 bytes, got %d" % len(buf))
    if _u16(buf, 2) != 0:
        raise StreamError("protocol id %d, not 0 (Modbus)" % _u16(buf, 2))
    n = _u16(buf, 4)
    if not 2 <= n <= MAX_PDU + 1:
        raise StreamError("length %d outside 2-%d" % (n, MAX_PDU + 1))
    return _u16(buf, 0), n, buf[6]


def request(pdu):
    """``(function, address, quantity, values)`` of a request PDU: ``quantity`` is the count for
    reads and multiple writes, the coil state (bool) for 5, the value for 6; ``values`` the bools
    or registers of 15 and 16 (else None)."""
    if not pdu:
        raise PduError(ILLEGAL_FUNCTION, "empty PDU")
    fn = pdu[0]
    if fn not in (1, 2, 3, 4, 5, 6, 15, 16):
        raise PduError(ILLEGAL_FUNCTION, "function %d is not supported" % fn)
    if len(pdu) < 5:
        raise PduError(ILLEGAL_VALUE, "function %d: %d bytes, at least 5" % (fn, len(pdu)))
    address, q = _u16(pdu, 1), _u16(pdu, 3)
    if fn in (5, 6):
        if len(pdu) != 5:
            raise PduError(ILLEGAL_VALUE, "function %d takes 5 bytes, got %d" % (fn, len(pdu)))
        if fn == 5 and q not in (0, 0xFF00):
            raise PduError(ILLEGAL_VALUE, "a coil is written 0x0000 or 0xFF00, not 0x%04X" % q)
        return fn, address, (q == 0xFF00 if fn == 5 else q), None
    if not 1 <= q <= LIMITS[fn]:
        raise PduError(ILLEGAL_VALUE, "function %d: quantity %d outside 1-%d" % (fn, q, LIMITS[fn]))
    if address + q > 0x10000:
        raise PduError(ILLEGAL_ADDRESS, "address %d + quantity %d runs past 65535" % (address, q))
    if fn <= 4:
        if len(pdu) != 5:
            raise PduError(ILLEGAL_VALUE, "function %d takes 5 bytes, got %d" % (fn, len(pdu)))
        return fn, address, q, None
    nbytes = (q + 7) // 8 if fn == 15 else 2 * q
    if len(pdu) != 6 + nbytes or pdu[5] != nbytes:
        raise PduError(ILLEGAL_VALUE, "function %d: %d values need a byte count of %d" % (fn, q, nbytes))
    data = pdu[6:]
    if fn == 15:
        return fn, address, q, [bool(data[i >> 3] >> (i & 7) & 1) for i in range(q)]
    return fn, address, q, [_u16(data, 2 * i) for i in range(q)]


def _head(out, tid, unit, n):
    out[0], out[1] = tid >> 8 & 0xFF, tid & 0xFF
    out[2] = out[3] = 0
    out[4], out[5] = (n + 1) >> 8, (n + 1) & 0xFF
    out[6] = unit


def answer(out, tid, unit, pdu):
    """Writes the ADU that carries ``pdu`` into ``out``; returns its length."""
    n = len(pdu)
    if not 1 <= n <= MAX_PDU:
        raise ValueError("a PDU is 1-253 bytes, got %d" % n)
    _head(out, tid, unit, n)
    out[HEADER : HEADER + n] = pdu
    return HEADER + n


def exception(out, tid, unit, function, code):
    """Writes the exception answer ``code`` to ``function`` into ``out``; returns its length."""
    _head(out, tid, unit, 2)
    out[7] = (function | 0x80) & 0xFF
    out[8] = code
    return HEADER + 2
