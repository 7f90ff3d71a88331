"""PC adapter: runs the firmware on the MicroPython unix port (or CPython) without the board.

RS485 channels are pseudo-terminals. A pty moves bytes instantly, so this adapter models the wire:
each character takes ``char_us`` (10 bits at 8N1) in both directions. A frame sent is written byte
by byte as each one would finish on the wire, and received bytes are handed on no faster than the
line could have carried them. Bus timing measured on the PC is therefore the board's.
"""

import asyncio
import json
import os
import sys

from firmware import wire
from firmware.compat import MICROPYTHON, sleep_ms, ticks_add, ticks_diff, ticks_us, wait_for_ms
from firmware.store import in_blocks, makedirs

try:
    import termios

    _TCSANOW = termios.TCSANOW
except ImportError:  # pragma: no cover - every PC runtime has termios
    termios = None

_VTIME = 5  # indices into the termios cc list (Linux)
_VMIN = 6
_RX_SIZE = 1024


def _raw_nonblocking(f):
    """Raw mode, and a read that returns at once with what is there (VMIN=0, VTIME=0)."""
    fd = f.fileno()
    if hasattr(termios, "setraw"):
        termios.setraw(fd)
    else:  # CPython keeps setraw in tty
        import tty

        tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    attrs[6][_VMIN] = 0
    attrs[6][_VTIME] = 0
    termios.tcsetattr(fd, _TCSANOW, attrs)


if MICROPYTHON:

    def _reader(f):
        return asyncio.StreamReader(f)

    async def _readable_into(reader, f, mv):
        return await reader.readinto(mv)

else:

    def _reader(f):
        return None

    async def _readable_into(reader, f, mv):
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        fd = f.fileno()

        def ready():
            if not fut.done():
                fut.set_result(None)

        loop.add_reader(fd, ready)
        try:
            await fut
        finally:
            loop.remove_reader(fd)
        return f.readinto(mv) or 0


class Rs485:
    """One RS485 channel on a pty, with wire time modelled in both directions."""

    def __init__(self, path, baud=9600, parity=None, stop=1):
        self.path = path
        self._f = open(path, "r+b", buffering=0)
        _raw_nonblocking(self._f)
        self._reader = _reader(self._f)
        self._rx = bytearray(_RX_SIZE)
        self._rx_mv = memoryview(self._rx)
        self._rx_len = 0  # bytes taken from the pty, not yet handed on
        self._wire_end = ticks_us()  # when the last of those finishes arriving
        self.de = 0  # driver enable, high only while sending
        self.configure(baud, parity, stop)

    def configure(self, baud, parity=None, stop=1):
        self.baud = baud
        self.parity = parity
        self.stop = stop
        self.char_us = wire.char_us(baud, parity, stop)

    def close(self):
        self._f.close()

    async def send(self, buf):
        """Sends ``buf``; returns once its last bit would have left the wire."""
        mv = memoryview(buf)
        n = len(buf)
        c = self.char_us
        self.de = 1
        t0 = ticks_us()
        sent = 0
        while sent < n:
            elapsed = ticks_diff(ticks_us(), t0)
            due = min(n, elapsed // c)  # characters whose last bit has passed
            if due > sent:
                self._f.write(mv[sent:due])
                sent = due
                continue
            wait = (sent + 1) * c - elapsed
            # asyncio sleeps in whole ms: sleep long waits, yield-spin the last stretch.
            await sleep_ms((wait - 600) // 1000 if wait > 1600 else 0)
        self.de = 0

    def _pull(self, now):
        """Moves bytes from the pty into the model; they arrive one character time apart."""
        if self._rx_len >= _RX_SIZE:
            return
        self._arrived(self._f.readinto(self._rx_mv[self._rx_len :]) or 0, now)

    def _arrived(self, got, now):
        if got:
            self._rx_len += got
            start = self._wire_end if ticks_diff(self._wire_end, now) > 0 else now
            self._wire_end = ticks_add(start, got * self.char_us)

    def _released(self, now):
        """How many modelled bytes have fully arrived by ``now``."""
        late = ticks_diff(self._wire_end, now)
        if late <= 0:
            return self._rx_len
        pending = (late + self.char_us - 1) // self.char_us
        return self._rx_len - pending if pending < self._rx_len else 0

    async def recv(self, buf, timeout_ms):
        """Waits up to ``timeout_ms`` for received bytes; returns how many went into ``buf``."""
        start = ticks_us()
        limit = timeout_ms * 1000
        while True:
            now = ticks_us()
            self._pull(now)
            ready = self._released(now)
            if ready:
                n = min(ready, len(buf))
                buf[:n] = self._rx_mv[:n]
                self._rx_mv[: self._rx_len - n] = self._rx_mv[n : self._rx_len]
                self._rx_len -= n
                return n
            left = limit - ticks_diff(now, start)
            if left <= 0:
                return 0
            if self._rx_len:
                wait = ticks_diff(self._wire_end, now) - (self._rx_len - 1) * self.char_us
                await sleep_ms((min(wait, left) - 600) // 1000 if wait > 1600 else 0)
                continue
            try:
                got = await wait_for_ms(
                    _readable_into(self._reader, self._f, self._rx_mv[self._rx_len :]),
                    (left + 999) // 1000,
                )
            except asyncio.TimeoutError:
                return 0
            self._arrived(got, ticks_us())

    def discard(self):
        """Drops what has arrived and not been read; returns how many bytes that was.

        Bytes still on their way (modelled wire time) stay: they have not arrived yet.
        """
        now = ticks_us()
        self._pull(now)
        n = self._released(now)
        if n:
            self._rx_mv[: self._rx_len - n] = self._rx_mv[n : self._rx_len]
            self._rx_len -= n
        return n


class Led:
    """An LED whose state tests read (``on``); ``board`` mirrors it to a file for other processes."""

    def __init__(self, name, board=None):
        self.name = name
        self.on = False
        self._board = board

    def value(self, on=None):
        if on is None:
            return self.on
        on = bool(on)
        if on != self.on:
            self.on = on
            if self._board:
                self._board.leds_changed()
        return on


class Button:
    """The reset button: ``pressed`` is set by tests, or by a file ``button`` in the run folder."""

    def __init__(self, path=None):
        self.held = False
        self._path = path

    def pressed(self):
        if self._path:
            try:
                os.stat(self._path)
                return True
            except OSError:
                return self.held
        return self.held


class Ethernet:
    """A network interface that is always there on a PC; tests switch the link and DHCP.

    Nothing is contacted: the configuration the firmware sets is recorded (``mode``,
    ``ifconfig()``, ``history``) and checked by tests, while the process keeps serving on loopback.
    """

    def __init__(self, mac="02:45:4c:00:00:01", lease=("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")):
        self._mac = mac
        self.lease = lease  # what a DHCP server would give; None: no server answers
        self.link_up = True
        self.hostname = None
        self.mode = None
        self.dhcp_requests = 0
        self.history = []  # every configuration set: ("dhcp", None) or ("static", (ip, mask, gw, dns))
        self._config = ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")

    def start(self, hostname):
        self.hostname = hostname

    def link(self):
        return self.link_up

    def dhcp(self):
        """Starts asking for a lease (the address is cleared meanwhile); True once one is held."""
        self.mode = "dhcp"
        self.dhcp_requests += 1
        self.history.append(("dhcp", None))
        self._config = ("0.0.0.0",) * 4
        return self.bound()

    def bound(self):
        """True while DHCP holds a lease: a server answers and the link is up."""
        if self.mode == "dhcp" and self.link_up and self.lease:
            self._config = tuple(self.lease)
            return True
        return False

    def static(self, ip, mask, gateway, dns):
        self.mode = "static"
        self._config = (ip, mask, gateway, dns)
        self.history.append(("static", self._config))

    def ifconfig(self):
        return self._config

    def mac(self):
        return self._mac


def _pid():
    try:
        return os.getpid()  # type: ignore[attr-defined]
    except AttributeError:  # the unix port's os has no getpid
        with open("/proc/self/stat") as f:
            return int(f.read().split()[0])


class Watchdog:
    """Kills the process (the PC's hard reset) when not fed in time, even if the loop hangs."""

    def __init__(self, board):
        self._board = board
        self.timeout_ms = 0
        self._last = 0

    def start(self, timeout_ms):
        import _thread

        self.timeout_ms = timeout_ms
        self._last = ticks_us()
        _thread.start_new_thread(self._guard, ())

    def feed(self):
        self._last = ticks_us()

    def _guard(self):
        import time

        while True:
            time.sleep(0.05)
            if ticks_diff(ticks_us(), self._last) > self.timeout_ms * 1000:
                self._board.record_cause("watchdog")
                os.system("kill -9 %d" % _pid())
                return


class Clock:
    """Wall clock: the host's, shifted by whatever the firmware set it to."""

    def __init__(self):
        self.offset = 0

    def time(self):
        import time

        return int(time.time()) + self.offset

    def set_time(self, seconds):
        import time

        self.offset = int(seconds) - int(time.time())


_BLOCK = 4096  # the ESP32's flash erase block, LittleFS's block there


def _du(path):
    """Bytes of the files below ``path``, each rounded up to whole blocks as LittleFS stores them."""
    n = 0
    for name in os.listdir(path):
        st = os.stat(path + "/" + name)
        if st[0] & 0x4000:  # S_IFDIR
            n += _du(path + "/" + name)
        else:
            n += in_blocks(st[6], _BLOCK)
    return n


class Flash:
    """A folder that plays the board's flash; ``capacity`` bytes (None: the host disk's space)."""

    def __init__(self, root, capacity=None):
        self.root = root
        self.capacity = capacity
        makedirs(root)

    def statvfs(self):
        """``os.statvfs`` of the flash: a filesystem of ``capacity`` bytes when one is set."""
        if not self.capacity:
            return os.statvfs(self.root)
        blocks = self.capacity // _BLOCK
        free = max(0, blocks - _du(self.root) // _BLOCK)
        return (_BLOCK, _BLOCK, blocks, free, free, 0, 0, 0, 0, 255)

    def free(self):
        st = self.statvfs()
        return st[1] * st[4]


_EXIT_RESET = 75  # the process exits with this when the firmware asks for a restart


def power_switch():
    """Makes Ctrl-C (SIGINT) the PC's power switch: the process ends at once, as a board does when
    its power is cut, which the firmware survives at any byte (settings, upload queue, slots).

    Left alone, MicroPython turns Ctrl-C into a KeyboardInterrupt raised inside whichever task runs,
    and its asyncio cannot always unwind from there: with dead devices on the bus the loop hung in 4
    of 6 stops (wait_for's runner swallows the interrupt when its waiter is already woken), or a
    print met a locked heap. The board keeps Ctrl-C: on USB it is the way to the REPL."""
    if MICROPYTHON:
        import micropython

        micropython.kbd_intr(-1)  # the unix port then restores SIGINT's default: end the process
    else:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_DFL)


class Board:
    """The PC board: everything lives under the run folder ``run_dir``."""

    def __init__(self, profile, run_dir=None):
        self.profile = profile
        self.name = profile["name"]
        self.run_dir = run_dir or os.getenv("ENERLOG_RUN") or "run"
        port = os.getenv("ENERLOG_HTTP_PORT")  # lets tests run beside a `make sim` on 8080
        if port:
            profile["http"]["port"] = int(port)
        # The SNTP port: tests point the clock at a responder of their own on loopback.
        self.ntp_port = int(os.getenv("ENERLOG_NTP_PORT") or 123)
        if os.getenv("ENERLOG_SPOOL_BYTES"):  # a small upload queue, to see it fill up
            profile["spool_bytes"] = int(os.getenv("ENERLOG_SPOOL_BYTES"))
        makedirs(self.run_dir)
        # The flash's size: the profile's (the board's filesystem), or ENERLOG_FLASH_BYTES.
        capacity = int(os.getenv("ENERLOG_FLASH_BYTES") or profile.get("flash_bytes") or 0)
        self.flash = Flash(self._path(profile.get("flash", "flash")), capacity)
        self.rs485 = [Rs485(self._path(ch["path"])) for ch in profile["rs485"]]
        self.leds = {}
        for name in profile["leds"]:
            self.leds[name] = Led(name, self)
        self.button = Button(self._path(profile["button"]["path"]))
        self.ethernet = Ethernet()
        self.watchdog = Watchdog(self)
        self.clock = Clock()
        self._cause = self._take_cause()

    def _path(self, rel):
        return rel if rel.startswith("/") else self.run_dir + "/" + rel

    def running(self):
        """The firmware runs (``app.run``): Ctrl-C becomes the power switch (not for tests that
        only build a board in their own process)."""
        power_switch()

    def leds_changed(self):
        """Mirrors LED states to ``leds.json`` so a test in another process can see them."""
        tmp = self._path("leds.json.tmp")
        with open(tmp, "w") as f:
            f.write(json.dumps({n: led.on for n, led in self.leds.items()}))
        os.rename(tmp, self._path("leds.json"))

    def record_cause(self, cause):
        with open(self.flash.root + "/.reset_cause", "w") as f:
            f.write(cause)

    def reset_cause(self):
        """Why this start happened."""
        return self._cause

    def _take_cause(self):
        # A start with no recorded intent is a power-on.
        path = self.flash.root + "/.reset_cause"
        try:
            with open(path) as f:
                cause = f.read().strip()
            os.remove(path)
            return cause
        except OSError:
            return "power-on"

    def memory(self):
        """No PSRAM on a PC; the unix port does not tell its largest free block."""
        return {"largest_free": None, "psram": 0}

    def reset(self, cause="requested"):
        """The PC's power cycle: record the cause and end the process non-zero."""
        self.record_cause(cause)
        sys.exit(_EXIT_RESET)
