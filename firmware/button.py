"""The reset button (manual table 2-1 and 6.1): hold it past ``button.restart_s`` to restart, past
``button.factory_s`` to restore the factory settings. The action fires on release, so the STATUS
LED can show beforehand what a release would do (``ResetButton.pending``).

The manual gives two pairs of hold times: 4 s / 10 s (table 2-1) and 1 s / 5 s (section 6.1). The
settings default to 4 s / 10 s: a brush against the button must not restart the logger, and a
factory reset clears everything. Both are settings (``button`` section), restart < factory.

Debounced: the pin must read the same for ``debounce_ms`` before a press or a release counts, and
a hold is timed between those two moments, so contact bounce neither fires nor shortens anything.
A press already under way at start-up is ignored until released (it was not timed).
"""

from firmware.compat import sleep_ms, ticks_diff, ticks_ms

RESTART = "restart"
FACTORY = "factory"


class ResetButton:
    """Pure logic: ``update(now, raw)`` -> ``"restart"``, ``"factory"`` or None on each sample."""

    debounce_ms = 50

    def __init__(self, restart_s, factory_s):
        self.configure(restart_s, factory_s)
        self._raw = None  # last sample
        self._raw_since = 0  # when the pin last changed
        self._stable = None  # debounced state (None until the first stable reading)
        self._pressed_at = None  # when the counted press began; None if not pressed / not counted

    def configure(self, restart_s, factory_s):
        self.restart_ms = restart_s * 1000
        self.factory_ms = factory_s * 1000

    def update(self, now, raw):
        raw = bool(raw)
        if raw != self._raw:
            self._raw, self._raw_since = raw, now
            return None
        if raw == self._stable or ticks_diff(now, self._raw_since) < self.debounce_ms:
            return None
        first = self._stable is None
        self._stable = raw
        if raw:
            # A press seen at the very first stable reading began before we looked: not timed.
            self._pressed_at = None if first else self._raw_since
            return None
        began, self._pressed_at = self._pressed_at, None
        if began is None:
            return None
        return self.action(ticks_diff(self._raw_since, began))

    def action(self, held_ms):
        """What a hold of ``held_ms`` fires."""
        if held_ms >= self.factory_ms:
            return FACTORY
        if held_ms >= self.restart_ms:
            return RESTART
        return None

    def pending(self, now):
        """While the button is held: ``"hold"``, ``"restart"`` or ``"factory"`` (what a release
        would fire now); None when it is not held."""
        if self._pressed_at is None or not self._stable:
            return None
        return self.action(ticks_diff(now, self._pressed_at)) or "hold"


class ButtonTask:
    """Samples the button every ``poll_ms`` and calls ``on_restart()`` / ``on_factory()``."""

    poll_ms = 20

    def __init__(self, button, logic, on_restart, on_factory, log):
        self.button = button
        self.logic = logic
        self.on_restart = on_restart
        self.on_factory = on_factory
        self.log = log
        self._shown = None

    def sample(self, now):
        fired = self.logic.update(now, self.button.pressed())
        pending = self.logic.pending(now)
        if pending != self._shown:
            if pending in (RESTART, FACTORY):
                self.log.info("button: held past the %s time; release now to %s"
                              % (pending, "restart" if pending == RESTART else "restore the factory settings"))
            self._shown = pending
        if fired == RESTART:
            self.log.warning("button: restart requested")
            self.on_restart()
        elif fired == FACTORY:
            self.log.warning("button: factory reset requested")
            self.on_factory()
        return fired

    async def run(self):
        while True:
            self.sample(ticks_ms())
            await sleep_ms(self.poll_ms)
