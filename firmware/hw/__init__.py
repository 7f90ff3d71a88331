"""Hardware adapters: the only code that touches the board.

Two implementations share one small interface; pure logic receives these objects and never
imports ``machine``, ``network`` or ``esp32``:

- ``esp32``: the real board (``machine``, ``network``, ``esp32``).
- ``pc``: the MicroPython unix port (and CPython) on a PC: RS485 channels are ptys with a wire-time
  model, LEDs and the button are state a test can read and set, the flash is a folder.

A board (``Board`` in each module) has:

- ``name``; ``profile`` (the board profile dict)
- ``rs485``: list of three ``Rs485`` ports (RS485-1..3), each with
  ``configure(baud, parity=None, stop=1)``, ``char_us``,
  ``async send(buf)`` (driver enable high, write, wait until the last bit left the wire, release),
  ``async recv(buf, timeout_ms)`` (bytes received into ``buf``, at least 1, or 0 at the timeout),
  ``discard()`` (drop what was received and not read; returns the count);
- ``leds``: dict of ``Led`` by name (power, network, status, rs485_1..3): ``value(on=None)``;
- ``button``: ``Button`` with ``pressed()``;
- ``ethernet``: ``Ethernet`` with ``start(hostname)`` (the DHCP host name, set before the interface
  comes up), ``dhcp()`` (start asking for a lease; True if one is held), ``bound()`` (a DHCP lease
  is held), ``static(ip, mask, gw, dns)`` (also stops DHCP), ``link()``, ``ifconfig()`` ->
  (ip, mask, gateway, dns) and ``mac()``; the state machine is ``firmware.ethernet``;
- ``watchdog``: ``Watchdog`` with ``start(timeout_ms)`` and ``feed()``; fed by ``firmware.watchdog``;
- ``clock``: ``Clock`` with ``time()`` (Unix seconds) and ``set_time(seconds)``; ``ntp_port`` (123;
  on the PC ``ENERLOG_NTP_PORT`` points it at a test's responder);
- ``flash``: ``Flash`` with ``root`` (the folder settings and queues live in) and ``free()``;
- ``reset(cause)``: record why, then restart; ``reset_cause()``: why the last start happened.
"""

from firmware.rs485 import SECTIONS

LED_NAMES = ("power", "network", "status") + SECTIONS  # an RS485 LED is named like its channel's settings
RESET_CAUSES = ("power-on", "requested", "watchdog", "crash")
