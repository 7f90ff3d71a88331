"""Sessions and login throttling for the configuration pages (pure logic, no HTTP).

Sessions live in a small table on the logger; the browser holds ``<id>.<signature>`` where the
signature is an HMAC-SHA256 of the id under a key made at boot. A forged or altered cookie fails
the signature; a stolen one dies after ``idle_s`` without use, at logout, or at the next restart
(the key is new each boot). A session opened with the factory password is marked
``must_change``: the web layer then allows nothing but setting a new password.

After ``free_tries`` wrong passwords in a row, each further attempt must wait a delay that
doubles (2 s, 4 s, 8 s ... up to ``max_delay_s``); a right password resets it.
"""

import os

from micropython import const

from firmware.compat import ticks_add, ticks_diff, ticks_ms
from firmware.passwords import equal, hexstr, hmac_sha256

_ID_BYTES = const(16)


class Session:
    def __init__(self, sid, user, must_change, now):
        self.sid = sid
        self.user = user
        self.must_change = must_change
        self.last_used = now


class Sessions:
    idle_s = 1800  # 30 minutes without a request ends a session
    max_sessions = 8  # the oldest is dropped when a ninth logs in

    def __init__(self, key=None):
        self._key = key or os.urandom(32)
        self._table = []

    def _sign(self, sid):
        return hexstr(hmac_sha256(self._key, sid))

    def open(self, user, must_change):
        """A new session; returns the cookie value."""
        sid = hexstr(os.urandom(_ID_BYTES))
        if len(self._table) >= self.max_sessions:
            oldest = self._table[0]  # least recently used; among equals the first opened
            for s in self._table:
                if ticks_diff(s.last_used, oldest.last_used) < 0:
                    oldest = s
            self._table.remove(oldest)
        self._table.append(Session(sid, user, must_change, ticks_ms()))
        return sid + "." + self._sign(sid)

    def check(self, cookie):
        """The live Session for ``cookie`` (and marks it used), or None."""
        if not isinstance(cookie, str) or cookie.count(".") != 1:
            return None
        sid, sig = cookie.split(".")
        if len(sid) != 2 * _ID_BYTES or not equal(sig.encode(), self._sign(sid).encode()):
            return None
        now = ticks_ms()
        for s in self._table:
            if s.sid == sid:
                if ticks_diff(now, s.last_used) > self.idle_s * 1000:
                    self._table.remove(s)
                    return None
                s.last_used = now
                return s
        return None

    def close(self, cookie):
        """Logs the session out; True if there was one."""
        s = self.check(cookie)
        if s:
            self._table.remove(s)
        return s is not None

    def close_all(self, keep=None):
        """Ends every session but ``keep`` (after a password change)."""
        self._table = [s for s in self._table if s is keep]


class Throttle:
    free_tries = 3
    base_delay_s = 2
    max_delay_s = 300

    def __init__(self):
        self.failures = 0
        self._until = None

    def wait_s(self):
        """Seconds before the next login attempt is allowed (0: now)."""
        if self._until is None:
            return 0
        left = ticks_diff(self._until, ticks_ms())
        return (left + 999) // 1000 if left > 0 else 0

    def failed(self):
        self.failures += 1
        if self.failures >= self.free_tries:
            delay = min(self.max_delay_s, self.base_delay_s << min(20, self.failures - self.free_tries))
            self._until = ticks_add(ticks_ms(), delay * 1000)

    def succeeded(self):
        self.failures = 0
        self._until = None
