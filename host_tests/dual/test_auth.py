"""Sessions and login throttling (both runtimes)."""

import time

from firmware.auth import Sessions, Throttle
from firmware.passwords import hmac_sha256


def _hex(b):
    return "".join("%02x" % x for x in b)


def test_hmac_sha256_rfc4231_vectors():
    # RFC 4231 test cases 1 and 2
    assert _hex(hmac_sha256(b"\x0b" * 20, b"Hi There")) == \
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    assert _hex(hmac_sha256("Jefe", "what do ya want for nothing?")) == \
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_session_cookie_is_signed_and_closable():
    s = Sessions()
    cookie = s.open("admin", True)
    sid, sig = cookie.split(".")
    assert len(sid) == 32 and len(sig) == 64
    sess = s.check(cookie)
    assert sess.user == "admin" and sess.must_change is True
    forged = sid + "." + ("0" * 64)
    assert s.check(forged) is None
    assert s.check(sid[:-1] + ("1" if sid[-1] != "1" else "2") + "." + sig) is None
    for junk in (None, "", "abc", "a.b.c", 5):
        assert s.check(junk) is None
    assert Sessions().check(cookie) is None  # another boot, another key
    assert s.close(cookie) and s.check(cookie) is None and not s.close(cookie)


def test_sessions_expire_when_idle_and_are_bounded():
    s = Sessions()
    s.idle_s = 0
    cookie = s.open("admin", False)
    time.sleep(0.01)
    assert s.check(cookie) is None
    s = Sessions()
    cookies = [s.open("admin", False) for _ in range(s.max_sessions + 1)]
    assert s.check(cookies[0]) is None and s.check(cookies[-1]) is not None
    keep = s.check(cookies[-1])
    s.close_all(keep)
    assert s.check(cookies[1]) is None and s.check(cookies[-1]) is keep


def test_throttle_grows_and_resets():
    t = Throttle()
    t.base_delay_s = 2
    for _ in range(t.free_tries - 1):
        t.failed()
        assert t.wait_s() == 0
    t.failed()
    assert t.wait_s() == 2
    t.failed()
    assert t.wait_s() == 4
    t.failed()
    assert t.wait_s() == 8
    for _ in range(30):
        t.failed()
    assert t.wait_s() == t.max_delay_s
    t.succeeded()
    assert t.wait_s() == 0 and t.failures == 0
