"""CRC-16/MODBUS compiled by MicroPython's viper emitter (machine code, about 20x the plain loop).

crc.py uses it only on MicroPython (on CPython the stand-in decorator leaves plain Python that
cannot run: ``ptr8`` exists only inside viper code).
"""

import micropython

from firmware.modbus.crc_table import TABLE


@micropython.viper
def crc16_viper(buf, n: int) -> int:
    p = ptr8(buf)  # noqa: F821 - viper built-in
    t = ptr16(TABLE)  # noqa: F821 - viper built-in
    crc = 0xFFFF
    i = 0
    while i < n:
        crc = (crc >> 8) ^ t[(crc ^ p[i]) & 0xFF]
        i += 1
    return crc
