"""The CRC-16/MODBUS lookup table (poly 0xA001 reflected), made once at import: shared by the plain
Python CRC (crc.py) and the viper one (crc_viper.py), which import it and not each other."""

from array import array


def _make_table():
    table = array("H", [0] * 256)
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table[i] = crc
    return table


TABLE = _make_table()
