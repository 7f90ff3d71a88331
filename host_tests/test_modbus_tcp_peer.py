"""Modbus TCP framing against an independent implementation: pymodbus builds the requests the
gateway reads, and reads the answers the gateway builds."""

from pymodbus.framer import FramerSocket
from pymodbus.pdu import DecodePDU
from pymodbus.pdu.bit_message import ReadCoilsRequest, WriteMultipleCoilsRequest, WriteSingleCoilRequest
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadInputRegistersRequest,
    WriteMultipleRegistersRequest,
    WriteSingleRegisterRequest,
)

from firmware.modbus import tcp


def _ours(adu):
    tid, length, unit = tcp.header(adu[:7])
    assert length == len(adu) - 6
    return tid, unit, tcp.request(adu[7:])


def test_pymodbus_requests_read_as_pymodbus_meant_them():
    client = FramerSocket(DecodePDU(False))
    bits = [True, False, True, True, False, False, True, True, True, False, True]
    cases = [
        (ReadHoldingRegistersRequest(address=107, count=125, dev_id=17, transaction_id=5), (3, 107, 125, None)),
        (ReadInputRegistersRequest(address=0, count=1, dev_id=247, transaction_id=65535), (4, 0, 1, None)),
        (ReadCoilsRequest(address=19, count=2000, dev_id=1, transaction_id=1), (1, 19, 2000, None)),
        (WriteSingleCoilRequest(address=172, bits=[True], dev_id=3, transaction_id=2), (5, 172, True, None)),
        (WriteSingleRegisterRequest(address=47, registers=[15], dev_id=1, transaction_id=3), (6, 47, 15, None)),
        (WriteMultipleCoilsRequest(address=19, bits=bits, dev_id=1, transaction_id=4), (15, 19, 11, bits)),
        (WriteMultipleRegistersRequest(address=1, registers=[10, 258, 65535], dev_id=9, transaction_id=7),
         (16, 1, 3, [10, 258, 65535])),
    ]
    for req, want in cases:
        tid, unit, got = _ours(client.buildFrame(req))
        assert (tid, unit, got) == (req.transaction_id, req.dev_id, want), (req, got)


def test_our_answers_read_by_pymodbus():
    client = FramerSocket(DecodePDU(False))
    out = bytearray(tcp.MAX_ADU)
    regs = list(range(1, 126))
    pdu = bytes([3, 250]) + b"".join(bytes([r >> 8, r & 0xFF]) for r in regs)
    n = tcp.answer(out, 4242, 17, pdu)
    used, reply = client.handleFrame(bytes(out[:n]), 0, 0)
    assert used == n and reply.registers == regs and reply.dev_id == 17 and reply.transaction_id == 4242
    n = tcp.exception(out, 9, 30, 4, tcp.TARGET_FAILED)
    used, reply = client.handleFrame(bytes(out[:n]), 0, 0)
    assert used == n and reply.exception_code == 11 and reply.dev_id == 30 and reply.transaction_id == 9
