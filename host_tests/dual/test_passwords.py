"""PBKDF2-HMAC-SHA256 on hashlib.sha256: the standard result, salted records, checks."""

import binascii
import hashlib

from support import raises

from firmware import passwords
from firmware.compat import ticks_diff, ticks_ms


def _hex(b):
    return binascii.hexlify(b).decode()


def test_pbkdf2_gives_the_published_vectors():
    # PBKDF2-HMAC-SHA256("password", "salt", c): the widely published RFC 6070-style vectors.
    assert _hex(passwords.pbkdf2("password", b"salt", 1)) == \
        "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"
    assert _hex(passwords.pbkdf2(b"password", b"salt", 2)) == \
        "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"
    assert _hex(passwords.pbkdf2("password", b"salt", 4096)) == \
        "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
    # A key longer than the SHA-256 block (hashed first) and non-ASCII text (UTF-8).
    assert _hex(passwords.pbkdf2("p" * 100, b"saltSALTsaltSALT", 3)) == \
        "6340ac76d1da0ba79e56c1af2d880c58838d146d90f5393e83ac161a175a67e6"
    assert _hex(passwords.pbkdf2("p\u00e4ssw\u00f6rd", b"saltsalt", 5)) == \
        "3e559165dabb2d4e52344cb03f7a961dac46913888949d8dc5607004a2ab0f9d"
    raises(ValueError, passwords.pbkdf2, "x", b"salt", 0)


def test_pbkdf2_matches_cpython_hashlib_where_it_exists():
    if not hasattr(hashlib, "pbkdf2_hmac"):
        return  # MicroPython: the published vectors above are the reference
    for pw, salt, n in ((b"admin", b"0123456789abcdef", 2000), (b"", b"s" * 16, 7), (b"k" * 64, b"x" * 8, 2)):
        assert passwords.pbkdf2(pw, salt, n) == hashlib.pbkdf2_hmac("sha256", pw, salt, n), (pw, n)


def test_records_are_salted_and_never_hold_the_password():
    a = passwords.hash_password("admin")
    b = passwords.hash_password("admin")
    assert a != b, "the same salt twice"
    scheme, n, salt, digest = a.split("$")
    assert scheme == "pbkdf2-sha256" and int(n) == passwords.ITERATIONS
    assert len(salt) == 32 and len(digest) == 64
    assert "admin" not in a
    assert passwords.verify("admin", a) and passwords.verify("admin", b)
    assert not passwords.verify("Admin", a) and not passwords.verify("", a)
    fixed = passwords.hash_password("secret-1", iterations=3, salt=b"saltsalt")
    assert fixed == "pbkdf2-sha256$3$" + _hex(b"saltsalt") + "$" + _hex(passwords.pbkdf2("secret-1", b"saltsalt", 3))
    assert passwords.parse(fixed) == (3, b"saltsalt", passwords.pbkdf2("secret-1", b"saltsalt", 3))


def test_malformed_records_never_verify():
    good = passwords.hash_password("pw", iterations=2)
    for bad in ("", "admin", None, 5, "md5$2$aa$bb", "pbkdf2-sha256$x$00$00", good + "$",
                good.replace("$2$", "$0$"), good[:-2], good.replace("pbkdf2", "PBKDF2"),
                "pbkdf2-sha256$2$zz$" + "0" * 64):
        assert not passwords.verify("pw", bad), bad
        if isinstance(bad, str):
            raises(ValueError, passwords.parse, bad)


def test_equal_compares_every_byte():
    assert passwords.equal(b"abc", b"abc")
    assert not passwords.equal(b"abc", b"abd")
    assert not passwords.equal(b"abc", b"ab")
    assert passwords.equal(b"", b"")


async def test_verify_async_agrees_with_verify():
    record = passwords.hash_password("letmein!", iterations=250)
    assert await passwords.verify_async("letmein!", record, chunk=7)
    assert not await passwords.verify_async("letmein?", record, chunk=100)
    assert not await passwords.verify_async("letmein!", "garbage")


def test_default_iterations_stay_affordable():
    t0 = ticks_ms()
    passwords.hash_password("admin")
    ms = ticks_diff(ticks_ms(), t0)
    print("pbkdf2 %d iterations: %d ms" % (passwords.ITERATIONS, ms))
    assert 1000 <= passwords.ITERATIONS <= 100000
    assert ms < 2000, ms  # on a PC; the board is some 50-100 times slower
