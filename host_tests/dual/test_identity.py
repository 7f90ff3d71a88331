"""Identity: serial number and check code, written once, kept apart from the settings."""

import os

from support import raises, tmpdir

from firmware import identity
from firmware.log import Log
from firmware.settings import Settings
from firmware.store import encode


def _raw(path):
    with open(path, "rb") as f:
        return f.read()


def test_rules_for_serial_number_and_check_code():
    assert identity.validate("BAKFB02000", "A1b2C") == ("BAKFB02000", "A1b2C")
    assert identity.validate("bakfb02000", "12345") == ("BAKFB02000", "12345")  # SN upper case, CC as given
    assert identity.validate("ABC123", "ZZZZZ")[0] == "ABC123"
    assert identity.validate("A" * 20, "00000")[0] == "A" * 20
    for serial in ("ABC12", "A" * 21, "BAKFB-2000", "BAKFB 2000", "", None, 1234567, "BAKF\u00c902000"):
        exc = raises(identity.IdentityError, identity.validate, serial, "A1B2C")
        assert str(exc) == "serial: must be 6 to 20 letters and digits", str(exc)
        assert exc.field == "serial"
    for code in ("A1B2", "A1B2C3", "A1B2-", "A1 2C", "", None, 12345):
        exc = raises(identity.IdentityError, identity.validate, "BAKFB02000", code)
        assert str(exc) == "check_code: must be exactly 5 letters and digits", str(exc)


def test_provision_once_then_read_only():
    root = tmpdir() + "/data"
    assert identity.state(root) == "not provisioned" and identity.load(root) is None
    raises(identity.IdentityError, identity.provision, root, "BAD-SN", "A1B2C")
    assert identity.state(root) == "not provisioned"
    got = identity.provision(root, "bakfb02000", "X9y8Z")
    assert got == {"serial": "BAKFB02000", "check_code": "X9y8Z"}
    assert identity.state(root) == "provisioned" and identity.load(root) == got
    before = _raw(root + "/identity.json")
    exc = raises(identity.IdentityError, identity.provision, root, "OTHER12345", "11111")
    assert str(exc) == "identity: already provisioned as BAKFB02000; the identity is read-only", str(exc)
    exc = raises(identity.IdentityError, identity.provision, root, "BAKFB02000", "X9y8Z")  # even the same
    assert "already provisioned" in str(exc)
    assert _raw(root + "/identity.json") == before
    assert sorted(os.listdir(root)) == ["identity.json"]


def test_damaged_identity_is_not_overwritten_and_a_leftover_tmp_does_not_count():
    root = tmpdir()
    with open(root + "/identity.tmp", "wb") as f:
        f.write(encode(1, {"serial": "BAKFB02000", "check_code": "A1B2C"})[:30])  # cut while provisioning
    assert identity.state(root) == "not provisioned"
    identity.provision(root, "BAKFB02000", "A1B2C")
    assert identity.load(root)["serial"] == "BAKFB02000"
    raw = _raw(root + "/identity.json")
    with open(root + "/identity.json", "wb") as f:
        f.write(raw[:-3])
    assert identity.state(root) == "unreadable" and identity.load(root) is None
    exc = raises(identity.IdentityError, identity.provision, root, "NEWSN12345", "A1B2C")
    assert "damaged" in str(exc)
    assert _raw(root + "/identity.json") == raw[:-3]


def test_identity_file_with_bad_values_is_unreadable():
    root = tmpdir()
    with open(root + "/identity.json", "wb") as f:
        f.write(encode(1, {"serial": "BAKFB02000", "check_code": "TOOLONG"}))
    assert identity.state(root) == "unreadable"
    with open(root + "/identity.json", "wb") as f:
        f.write(encode(2, {"serial": "BAKFB02000", "check_code": "A1B2C"}))  # unknown format version
    assert identity.state(root) == "unreadable"


def test_settings_and_factory_reset_leave_identity_alone():
    root = tmpdir()
    identity.provision(root, "BAKFB02000", "A1B2C")
    before = _raw(root + "/identity.json")
    s = Settings(root, log=Log(size=8, echo=False))
    s.update("server", {"host": "broker.local"})
    s.factory_reset()
    s.factory_reset()
    assert _raw(root + "/identity.json") == before
    assert identity.load(root) == {"serial": "BAKFB02000", "check_code": "A1B2C"}
