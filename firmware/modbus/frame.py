"""Modbus RTU request building and reply checking, in caller-owned buffers (no allocation per byte).

Limits are the Modbus Application Protocol v1.1b3's: reads of 1-2000 coils/inputs or 1-125
registers, writes of 1-1968 coils or 1-123 registers, addresses 0-65535, unit ids 1-247.
"""

from micropython import const

from firmware.modbus.crc import crc16
from firmware.modbus.errors import CrcError, ExceptionReply, FrameError, RequestError, WrongUnit

READ_COILS = const(1)
READ_DISCRETE_INPUTS = const(2)
READ_HOLDING_REGISTERS = const(3)
READ_INPUT_REGISTERS = const(4)
WRITE_SINGLE_COIL = const(5)
WRITE_SINGLE_REGISTER = const(6)
WRITE_MULTIPLE_COILS = const(15)
WRITE_MULTIPLE_REGISTERS = const(16)
FUNCTIONS = (1, 2, 3, 4, 5, 6, 15, 16)
MAX_ADU = const(256)

# function -> largest quantity per request
LIMITS = {1: 2000, 2: 2000, 3: 125, 4: 125, 15: 1968, 16: 123}


def _put16(buf, i, v):
    buf[i] = (v >> 8) & 0xFF
    buf[i + 1] = v & 0xFF


def _get16(buf, i):
    return (buf[i] << 8) | buf[i + 1]


def _finish(buf, n):
    crc = crc16(buf, n)
    buf[n] = crc & 0xFF
    buf[n + 1] = crc >> 8
    return n + 2


def _check_quantity(function, address, quantity):
    if not 0 <= address <= 0xFFFF:
        raise RequestError("address %d outside 0-65535" % address)
    limit = LIMITS[function]
    if not 1 <= quantity <= limit:
        raise RequestError("function %d: quantity %d outside 1-%d" % (function, quantity, limit))
    if address + quantity > 0x10000:
        raise RequestError("address %d + quantity %d runs past 65535" % (address, quantity))


def build(buf, unit, function, address, quantity=1, values=None):
    """Writes the request into ``buf``; returns its length with the CRC.

    ``quantity`` is the count for reads; for function 5 the coil state (truthy), for 6 the
    register value; functions 15 and 16 take ``values`` (bools or 16-bit ints).
    """
    if not 1 <= unit <= 247:
        raise RequestError("unit id %d outside 1-247" % unit)
    buf[0] = unit
    buf[1] = function
    if function in (1, 2, 3, 4):
        _check_quantity(function, address, quantity)
        _put16(buf, 2, address)
        _put16(buf, 4, quantity)
        return _finish(buf, 6)
    if not 0 <= address <= 0xFFFF:
        raise RequestError("address %d outside 0-65535" % address)
    _put16(buf, 2, address)
    if function == WRITE_SINGLE_COIL:
        _put16(buf, 4, 0xFF00 if quantity else 0)
        return _finish(buf, 6)
    if function == WRITE_SINGLE_REGISTER:
        if not 0 <= quantity <= 0xFFFF:
            raise RequestError("register value %d outside 0-65535" % quantity)
        _put16(buf, 4, quantity)
        return _finish(buf, 6)
    if function not in (15, 16):
        raise RequestError("function %d not supported" % function)
    if values is None:
        raise RequestError("function %d needs values" % function)
    count = len(values)
    _check_quantity(function, address, count)
    _put16(buf, 4, count)
    i = 7
    if function == WRITE_MULTIPLE_COILS:
        nbytes = (count + 7) >> 3
        for k in range(nbytes):
            buf[i + k] = 0
        for k in range(count):
            if values[k]:
                buf[i + (k >> 3)] |= 1 << (k & 7)
    else:
        nbytes = count * 2
        for k in range(count):
            v = values[k]
            if not 0 <= v <= 0xFFFF:
                raise RequestError("register value %d outside 0-65535" % v)
            _put16(buf, i + 2 * k, v)
    buf[6] = nbytes
    return _finish(buf, 7 + nbytes)


def reply_length(function, quantity, head):
    """Full length of the reply whose first 3 bytes are ``head`` (0 if it cannot be known yet)."""
    if head[1] & 0x80:
        return 5
    if function in (1, 2, 3, 4):
        return 5 + head[2]
    return 8


def data_bytes(function, quantity):
    """Data bytes in a read reply for ``quantity`` items."""
    return (quantity + 7) >> 3 if function in (1, 2) else 2 * quantity


def check(buf, n, request):
    """Checks the reply in ``buf[:n]`` against the request bytes ``request``.

    Returns the number of data bytes (at ``buf[3:]``) for reads, 0 for writes. Raises
    CrcError, ExceptionReply or FrameError; never anything else, whatever the bytes.
    """
    unit = request[0]
    function = request[1]
    if n < 5:
        raise FrameError("reply truncated: %d bytes" % n)
    if n > MAX_ADU:
        raise FrameError("reply of %d bytes exceeds 256" % n)
    crc = crc16(buf, n - 2)
    if buf[n - 2] != crc & 0xFF or buf[n - 1] != crc >> 8:
        raise CrcError("reply CRC %02x%02x, computed %04x" % (buf[n - 1], buf[n - 2], crc))
    if buf[0] != unit:
        raise WrongUnit("reply from unit %d, expected %d" % (buf[0], unit))
    fn = buf[1]
    if fn == function | 0x80:
        if n != 5:
            raise FrameError("exception reply of %d bytes, expected 5" % n)
        raise ExceptionReply(unit, function, buf[2])
    if fn != function:
        raise FrameError("reply for function %d, expected %d" % (fn, function))
    if function in (1, 2, 3, 4):
        expect = data_bytes(function, _get16(request, 4))
        if buf[2] != expect or n != 5 + expect:
            raise FrameError("read reply with %d data bytes in %d, expected %d" % (buf[2], n, expect))
        return expect
    if n != 8:
        raise FrameError("write reply of %d bytes, expected 8" % n)
    for i in range(2, 6):  # 5/6 echo address and value; 15/16 echo address and quantity
        if buf[i] != request[i]:
            raise FrameError("write reply does not echo the request")
    return 0


def registers(buf, count, offset=3):
    """The ``count`` 16-bit registers of a read reply, as a new list."""
    return [_get16(buf, offset + 2 * i) for i in range(count)]


def bits(buf, count, offset=3):
    """The ``count`` coils or inputs of a read reply, as a new list of bools."""
    return [bool(buf[offset + (i >> 3)] & (1 << (i & 7))) for i in range(count)]
