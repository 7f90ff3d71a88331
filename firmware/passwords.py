"""Salted password hashes: PBKDF2-HMAC-SHA256 written on ``hashlib.sha256``.

MicroPython has neither ``hmac`` nor ``hashlib.pbkdf2_hmac``, so both are done here; the result is
the standard PBKDF2 (RFC 8018), checked against CPython's ``hashlib.pbkdf2_hmac`` in the tests.
A stored password is one string, ``pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>``, so a later
firmware can raise ``ITERATIONS`` and still check the old records. The plain password is never kept.

A check costs ``ITERATIONS`` x 4 SHA-256 blocks. ``verify`` blocks the caller; ``verify_async``
yields to the event loop every ``chunk`` iterations so a login never stalls the RS485 polling.
"""

import binascii
import hashlib
import os

from micropython import const

from firmware.compat import sleep_ms

# 2000 take ~5 ms on the unix port (x86-64); an ESP32-S3 runs this bytecode some 50-100 times
# slower, so ~0.25-0.5 s per login there (estimate, to be measured on a board): a guess against a
# stolen record costs that much, and the login page stays usable.
ITERATIONS = 2000
SCHEME = "pbkdf2-sha256"
_SALT_LEN = const(16)
_BLOCK = const(64)  # SHA-256 block size, the HMAC key pad length


def _pads(key):
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key + bytes(_BLOCK - len(key))
    return bytes(c ^ 0x36 for c in key), bytes(c ^ 0x5C for c in key)


def _hmac(ipad, opad, msg):
    h = hashlib.sha256(ipad)
    h.update(msg)
    inner = h.digest()
    h = hashlib.sha256(opad)
    h.update(inner)
    return h.digest()


def _bytes(text):
    return text.encode() if isinstance(text, str) else bytes(text)


def hmac_sha256(key, msg):
    """HMAC-SHA256 (RFC 2104) of ``msg`` under ``key`` (str or bytes)."""
    ipad, opad = _pads(_bytes(key))
    return _hmac(ipad, opad, _bytes(msg))


class _Pbkdf2:
    """PBKDF2-HMAC-SHA256 with a 32-byte result (one block), run in steps."""

    def __init__(self, password, salt, iterations):
        self._ipad, self._opad = _pads(_bytes(password))
        self._u = _hmac(self._ipad, self._opad, salt + b"\x00\x00\x00\x01")
        # XOR of the U_i as one big integer: a byte loop would cost 32 bytecodes per iteration.
        self._acc = int.from_bytes(self._u, "big")
        self.left = iterations - 1

    def step(self, n):
        """Runs up to ``n`` more iterations; True once all are done."""
        ipad, opad, u, acc = self._ipad, self._opad, self._u, self._acc
        n = min(n, self.left)
        for _ in range(n):
            u = _hmac(ipad, opad, u)
            acc ^= int.from_bytes(u, "big")
        self._u, self._acc = u, acc
        self.left -= n
        return self.left == 0

    def digest(self):
        return self._acc.to_bytes(32, "big")


def pbkdf2(password, salt, iterations):
    """The 32-byte PBKDF2-HMAC-SHA256 of ``password`` (str or bytes) with ``salt`` (bytes)."""
    if iterations < 1:
        raise ValueError("iterations must be at least 1")
    k = _Pbkdf2(password, salt, iterations)
    k.step(iterations)
    return k.digest()


def hash_password(password, iterations=None, salt=None):
    """A new record for ``password`` with a random 16-byte salt from ``os.urandom``."""
    iterations = iterations or ITERATIONS
    salt = salt if salt is not None else os.urandom(_SALT_LEN)
    digest = pbkdf2(password, salt, iterations)
    return "%s$%d$%s$%s" % (SCHEME, iterations, hexstr(salt), hexstr(digest))


def parse(record):
    """(iterations, salt, digest) of a record; ValueError if it is not one."""
    parts = record.split("$") if isinstance(record, str) else ()
    if len(parts) != 4 or parts[0] != SCHEME:
        raise ValueError("not a %s record" % SCHEME)
    try:
        iterations = int(parts[1])
        salt = binascii.unhexlify(parts[2])
        digest = binascii.unhexlify(parts[3])
    except (ValueError, TypeError):
        raise ValueError("malformed %s record" % SCHEME)
    if not 1 <= iterations <= 10000000 or len(digest) != 32 or not 8 <= len(salt) <= 64:
        raise ValueError("malformed %s record" % SCHEME)
    return iterations, salt, digest


def equal(a, b):
    """Compares two byte strings in a time that depends only on their length."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


def verify(password, record):
    """True if ``password`` matches ``record``; False for a wrong password or a malformed record."""
    try:
        iterations, salt, digest = parse(record)
    except ValueError:
        return False
    return equal(pbkdf2(password, salt, iterations), digest)


async def verify_async(password, record, chunk=100):
    """``verify`` that lets other tasks run every ``chunk`` iterations."""
    try:
        iterations, salt, digest = parse(record)
    except ValueError:
        return False
    k = _Pbkdf2(password, salt, iterations)
    while not k.step(chunk):
        await sleep_ms(0)
    return equal(k.digest(), digest)


def hexstr(b):
    """``b`` as lower-case hex text."""
    return binascii.hexlify(b).decode()
