"""The six LEDs (manual table 2-2) as pure functions of state and time, and the task that shows them.

- POWER: steady on while the firmware runs.
- NETWORK: steady on when connected (``ethernet.Network.connected``), off otherwise.
- STATUS: ``normal``: a 100 ms flash every second ("interval flashing"); ``upgrade``: fast
  flashing at 4 Hz; ``fault``: off.
- STATUS while the reset button is held: ``hold``: off (a release fires nothing yet); ``restart``:
  steady on (a release restarts); ``factory``: flickering at 10 Hz (a release restores the
  factory settings).
- RS485-1..3: as many 200 ms flashes, 500 ms apart, as devices communicate on the channel, then
  2 s dark; dark throughout with none.

What counts as a fault is the wiring's call (``app.Logger.problems``); the LEDs only show it.
A flash sequence is never cut short: the device count is read at the start of each sequence.
"""

from firmware.compat import sleep_ms, ticks_add, ticks_diff, ticks_ms
from firmware.rs485 import SECTIONS

# STATUS patterns: (on_ms, period_ms). on_ms == period_ms is steady on, 0 is off.
STATUS = {
    "normal": (100, 1000),  # "interval flashing: normal operation"
    "upgrade": (125, 250),  # "fast flashing: program upgrade"
    "fault": (0, 1000),  # "LED off: abnormal operation"
    "hold": (0, 1000),  # button held, a release fires nothing yet
    "restart": (1000, 1000),  # button held past the restart time
    "factory": (50, 100),  # button held past the factory-reset time
}
FLASH_ON_MS = 200
FLASH_MS = 500  # one flash: 200 ms on, 300 ms off
PAUSE_MS = 2000


def blink(pattern, t):
    """STATUS for ``pattern`` at ``t`` ms into it."""
    on_ms, period = STATUS[pattern]
    return t % period < on_ms


def flashes_ms(count):
    """Length of one RS485 sequence: ``count`` flashes and the pause (the pause alone for 0)."""
    return count * FLASH_MS + PAUSE_MS


def flash(count, t):
    """An RS485 LED at ``t`` ms into a sequence of ``count`` flashes."""
    return t < count * FLASH_MS and t % FLASH_MS < FLASH_ON_MS


class Leds:
    """Pure state of the patterns: when each one started. ``frame()`` gives the six LED values."""

    def __init__(self, now):
        self._status = None
        self._status_t0 = now
        self._seq = [[now, 0] for _ in SECTIONS]  # per channel: sequence start, its count
        self._first = True

    def frame(self, now, connected, status, communicating):
        """{led name: on} at ``now``; ``communicating(channel)`` -> devices talking on RS485-channel."""
        if status != self._status:  # a new pattern starts at once (button feedback)
            self._status, self._status_t0 = status, now
        t = ticks_diff(now, self._status_t0)
        period = STATUS[status][1]
        if t >= period:  # keep t small: rebase by whole periods
            self._status_t0 = ticks_add(self._status_t0, t - t % period)
            t %= period
        out = {"power": True, "network": bool(connected), "status": blink(status, t)}
        for i in range(len(SECTIONS)):
            seq = self._seq[i]
            t = ticks_diff(now, seq[0])
            if self._first or t >= flashes_ms(seq[1]):
                seq[0], seq[1], t = now, max(0, int(communicating(i + 1))), 0
            out[SECTIONS[i]] = flash(seq[1], t)
        self._first = False
        return out


class LedTask:
    """Polls the state every ``poll_ms`` and sets the board's LEDs (only on a change)."""

    poll_ms = 50

    def __init__(self, leds, connected, status, communicating=None):
        """``connected()`` -> bool; ``status()`` -> a ``STATUS`` key; ``communicating(ch)`` -> int."""
        self.board_leds = leds
        self.connected = connected
        self.status = status
        self.communicating = communicating or (lambda channel: 0)
        self.logic = None

    def show(self, now):
        if self.logic is None:
            self.logic = Leds(now)
        values = self.logic.frame(now, self.connected(), self.status(), self.communicating)
        for name, on in values.items():
            led = self.board_leds[name]
            if led.value() != on:
                led.value(on)
        return values

    async def run(self):
        try:
            while True:
                self.show(ticks_ms())
                await sleep_ms(self.poll_ms)
        finally:
            self.board_leds["status"].value(0)
