"""The master's own error types: a transaction fails with one of these and nothing else."""


class ModbusError(Exception):
    """Base of every Modbus failure."""


class RequestError(ModbusError):
    """The request itself is invalid (address, quantity or value out of the spec's limits)."""


class ReplyTimeout(ModbusError):
    """No reply within the response timeout."""


class CrcError(ModbusError):
    """The reply's CRC does not match its content."""


class FrameError(ModbusError):
    """The reply is malformed: truncated, too long, wrong unit, wrong function, wrong echo."""


class WrongUnit(FrameError):
    """A well-formed reply from another unit: a device answering as the wrong one, or another
    unit's reply that came after its request had timed out."""


EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    7: "negative acknowledge",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


class ExceptionReply(ModbusError):
    """The device answered with a Modbus exception; ``code`` is its exception code."""

    def __init__(self, unit, function, code):
        self.unit = unit
        self.function = function
        self.code = code
        super().__init__("unit %d function %d: exception %d (%s)"
                         % (unit, function, code, EXCEPTION_NAMES.get(code, "unknown code")))
