"""ESP32-S3 adapter: the real board, through ``machine``, ``network`` and ``esp32``.

Pins come from the board profile. Type-checked against micropython-esp32-stubs (tools/typecheck.py),
since no board runs in CI.
"""

import asyncio
import os
import time

import esp32
import machine
import network

from firmware import wire

# machine.reset_cause() values -> our causes. A deliberate reset and a crash both look like a
# soft/hard reset to the chip, so the firmware records its intent in RTC memory first.
_CHIP_CAUSES = {
    machine.PWRON_RESET: "power-on",
    machine.HARD_RESET: "power-on",
    machine.WDT_RESET: "watchdog",
    machine.DEEPSLEEP_RESET: "power-on",
    machine.SOFT_RESET: "requested",
}
_INTENT = b"EL:"  # RTC memory prefix of a recorded reset cause
_SPIRAM = 1 << 10  # ESP-IDF's MALLOC_CAP_SPIRAM, for esp32.idf_heap_info
_EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0  # ports with a 2000 epoch


class Rs485:
    """A UART with a transceiver whose driver-enable pin we drive by hand (no RS485 mode)."""

    def __init__(self, uart_id, tx, rx, de, baud=9600, parity=None, stop=1):
        self._de = machine.Pin(de, machine.Pin.OUT, value=0)
        self._uart = machine.UART(
            uart_id, baudrate=baud, bits=8, parity=parity, stop=stop, tx=tx, rx=rx,
            rxbuf=1024, timeout=0, timeout_char=0,
        )
        self._reader = asyncio.StreamReader(self._uart)
        self._set(baud, parity, stop)

    def _set(self, baud, parity, stop):
        self.baud = baud
        self.parity = parity
        self.stop = stop
        self.char_us = wire.char_us(baud, parity, stop)

    def configure(self, baud, parity=None, stop=1):
        self._uart.init(baudrate=baud, bits=8, parity=parity, stop=stop)
        self._set(baud, parity, stop)

    async def send(self, buf):
        """Driver enable, write, wait for the last bit to leave the wire, release."""
        self._de(1)
        self._uart.write(buf)
        # flush() blocks the loop until the wire is done: sleep through most of the frame first.
        ms = wire.frame_us(len(buf), self.baud, self.parity, self.stop) // 1000 - 2
        if ms > 0:
            await asyncio.sleep_ms(ms)
        self._uart.flush()
        self._de(0)

    async def recv(self, buf, timeout_ms):
        try:
            return await asyncio.wait_for_ms(self._reader.readinto(buf), timeout_ms)
        except asyncio.TimeoutError:
            return 0

    def discard(self):
        """Drops what has arrived and not been read; returns how many bytes that was."""
        n = 0
        while self._uart.any():
            n += len(self._uart.read() or b"")
        return n


class Led:
    def __init__(self, pin, active_low=False):
        self._invert = active_low
        self._pin = machine.Pin(pin, machine.Pin.OUT, value=1 if active_low else 0)
        self.on = False

    def value(self, on=None):
        if on is None:
            return self.on
        self.on = bool(on)
        self._pin.value(self.on != self._invert)
        return self.on


class Button:
    def __init__(self, pin, active_low=True):
        pull = machine.Pin.PULL_UP if active_low else machine.Pin.PULL_DOWN
        self._pin = machine.Pin(pin, machine.Pin.IN, pull)
        self._active = 0 if active_low else 1

    def pressed(self):
        return self._pin.value() == self._active


class Ethernet:
    """The W5500 over SPI, through network.LAN (MicroPython 1.24+: ``ipconfig``)."""

    def __init__(self, cfg):
        spi = machine.SPI(cfg["spi"], sck=machine.Pin(cfg["sck"]), mosi=machine.Pin(cfg["mosi"]),
                          miso=machine.Pin(cfg["miso"]))
        self._cfg = cfg
        self._spi = spi
        self._lan = None

    def _nic(self):
        """The LAN object, made on first use (reading the MAC needs it before ``start``)."""
        if self._lan is None:
            cfg = self._cfg
            self._lan = network.LAN(
                spi=self._spi, phy_type=network.PHY_W5500, phy_addr=cfg["phy_addr"],
                cs=machine.Pin(cfg["cs"]), int=machine.Pin(cfg["int"]), reset=machine.Pin(cfg["reset"]),
            )
        return self._lan

    def start(self, hostname):
        lan = self._nic()
        # network_lan.c hands the host name to the DHCP client in active(True): set it first
        # (at most 32 characters). With the mDNS responder built in it is also <hostname>.local.
        network.hostname(hostname[:32])
        lan.active(True)

    def link(self):
        return self._lan is not None and self._lan.status() in (network.ETH_CONNECTED, network.ETH_GOT_IP)

    def dhcp(self):
        """Starts the DHCP client from a cleared address, so ``bound()`` sees the lease arrive.

        Setting an address stops the client (network_common.c); ``dhcp4=True`` starts it only if
        it is not running.
        """
        lan = self._nic()
        lan.ipconfig(addr4=("0.0.0.0", "0.0.0.0"), gw4="0.0.0.0")
        lan.ipconfig(dhcp4=True)
        return self.bound()

    def bound(self):
        lan = self._nic()
        return bool(lan.ipconfig("dhcp4")) and lan.ifconfig()[0] != "0.0.0.0"

    def static(self, ip, mask, gateway, dns):
        prefix = sum(bin(int(x)).count("1") for x in mask.split("."))
        self._nic().ipconfig(addr4="%s/%d" % (ip, prefix), gw4=gateway)  # also stops DHCP
        network.ipconfig(dns=dns)

    def ifconfig(self):
        return self._lan.ifconfig() if self._lan else ("0.0.0.0",) * 4

    def mac(self):
        return ":".join("%02x" % b for b in self._nic().config("mac"))


class Watchdog:
    def __init__(self):
        self._wdt = None

    def start(self, timeout_ms):
        self._wdt = machine.WDT(timeout=timeout_ms)

    def feed(self):
        if self._wdt:
            self._wdt.feed()


class Clock:
    def time(self):
        return time.time() + _EPOCH_OFFSET

    def set_time(self, seconds):
        t = time.gmtime(int(seconds) - _EPOCH_OFFSET)
        machine.RTC().datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0))


class Flash:
    def __init__(self, root):
        self.root = root
        try:
            os.mkdir(root)
        except OSError:
            pass

    def statvfs(self):
        return os.statvfs(self.root)

    def free(self):
        st = os.statvfs(self.root)
        return st[1] * st[4]


class Board:
    def __init__(self, profile):
        self.profile = profile
        self.name = profile["name"]
        self.flash = Flash(profile.get("flash", "/data"))
        self.rs485 = [Rs485(ch["uart"], ch["tx"], ch["rx"], ch["de"]) for ch in profile["rs485"]]
        low = profile.get("led_active_low", False)
        self.leds = {name: Led(pin, low) for name, pin in profile["leds"].items()}
        self.button = Button(profile["button"]["pin"], profile["button"].get("active_low", True))
        self.ethernet = Ethernet(profile["ethernet"])
        self.watchdog = Watchdog()
        self.clock = Clock()
        self.ntp_port = 123
        self._cause = self._take_cause()

    def running(self):
        """The firmware runs: nothing to change. Ctrl-C on USB stays the way to the REPL."""

    def record_cause(self, cause):
        machine.RTC().memory(_INTENT + cause.encode())

    def _take_cause(self):
        mem = machine.RTC().memory()
        machine.RTC().memory(b"")
        chip = _CHIP_CAUSES.get(machine.reset_cause(), "power-on")
        if chip == "watchdog" or not mem.startswith(_INTENT):
            return chip
        return mem[len(_INTENT):].decode()

    def reset_cause(self):
        return self._cause

    def memory(self):
        """The largest block the Python heap can still add (MicroPython's ESP32 heap grows on
        demand from ESP-IDF's free memory: MICROPY_GC_SPLIT_HEAP_AUTO) and the PSRAM's size, 0 when
        none was found (a quad-PSRAM build on an octal-PSRAM chip finds none)."""
        data = esp32.idf_heap_info(esp32.HEAP_DATA)
        return {"largest_free": max([h[2] for h in data] or [0]),
                "psram": sum(h[0] for h in esp32.idf_heap_info(_SPIRAM))}

    def reset(self, cause="requested"):
        self.record_cause(cause)
        machine.reset()
