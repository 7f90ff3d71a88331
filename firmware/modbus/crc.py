"""CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF), low byte sent first.

``crc16`` is the fastest implementation the runtime has: a ``@micropython.viper`` loop where the
native emitter exists (the board, the unix port), else the table-driven plain Python one.
"""

from firmware.compat import MICROPYTHON
from firmware.modbus.crc_table import TABLE


def crc16_table(buf, n):
    """CRC of the first ``n`` bytes of ``buf``, table-driven plain Python."""
    crc = 0xFFFF
    t = TABLE
    for i in range(n):
        crc = (crc >> 8) ^ t[(crc ^ buf[i]) & 0xFF]
    return crc


crc16 = crc16_table
NATIVE = False
if MICROPYTHON:
    try:
        from firmware.modbus.crc_viper import crc16_viper as crc16  # type: ignore[assignment]  # noqa: F401

        NATIVE = True
    except Exception:  # a build without the native emitter keeps the table
        pass
