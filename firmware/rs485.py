"""The RS485 serial lines (manual 4.5): the channels and what a line can be set to.

The one home of these facts: the settings' schema, the Modbus channel, the status and the pages'
forms (through ``/api/meta``) all read them here.
"""

CHANNELS = (1, 2, 3)
BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
PARITIES = ("N", "E", "O")
STOP_BITS = (1, 2)
DEFAULT_BAUD = 9600  # manual 4.5: 9600, like every ATESS device
UART_PARITY = {"N": None, "E": 0, "O": 1}  # machine.UART's parity values
SECTIONS = tuple("rs485_%d" % n for n in CHANNELS)  # a channel's settings section and LED


def section(n):
    """The settings section (and LED name) of channel ``n``: "rs485_1"."""
    return SECTIONS[n - 1]


def label(n):
    """The manual's name of channel ``n``: "RS485-1"."""
    return "RS485-%d" % n
