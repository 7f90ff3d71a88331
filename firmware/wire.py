"""Serial wire timing: how long characters and Modbus silences take at a given line setting.

``parity`` follows machine.UART: None for none, 0 for even, 1 for odd.
"""


def char_bits(parity=None, stop=1):
    """Bits on the wire per 8-bit character: start + 8 data + parity + stop."""
    return 9 + (0 if parity is None else 1) + stop


def char_us(baud, parity=None, stop=1):
    """Microseconds one character occupies the line (rounded up)."""
    return (char_bits(parity, stop) * 1000000 + baud - 1) // baud


def frame_us(nbytes, baud, parity=None, stop=1):
    """Microseconds ``nbytes`` back to back occupy the line."""
    return (nbytes * char_bits(parity, stop) * 1000000 + baud - 1) // baud


def t35_us(baud, parity=None, stop=1):
    """Modbus RTU inter-frame silence: 3.5 characters, fixed at 1750 us above 19200 baud."""
    if baud > 19200:
        return 1750
    return (35 * char_bits(parity, stop) * 1000000 + 10 * baud - 1) // (10 * baud)
