from firmware import wire
from firmware.compat import ticks_add, ticks_diff, ticks_ms


def test_character_and_frame_times():
    assert wire.char_bits() == 10
    assert wire.char_bits(0) == 11  # even parity is machine.UART's 0: still a parity bit
    assert wire.char_bits(1) == 11
    assert wire.char_bits(None, 2) == 11
    assert wire.char_us(9600) == 1042  # 10 bits / 9600 baud, rounded up
    assert wire.char_us(115200) == 87
    assert wire.frame_us(100, 9600) == 104167
    assert wire.frame_us(100, 115200) == 8681


def test_t35_silence():
    assert wire.t35_us(9600) == 3646  # 3.5 x 10 bits / 9600 baud
    assert wire.t35_us(19200) == 1823
    assert wire.t35_us(38400) == 1750  # fixed above 19200
    assert wire.t35_us(115200) == 1750


def test_ticks_arithmetic_wraps():
    now = ticks_ms()
    later = ticks_add(now, 5000)
    assert ticks_diff(later, now) == 5000
    assert ticks_diff(now, later) == -5000
