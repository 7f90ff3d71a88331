"""The logger's identity: serial number (SN) and check code (CC), manual 2.2.2.

Both are printed on the case; the server pairs a logger by the two (manual 5.3), the uplink logs
in with them by default, and DHCP names the logger by its SN (manual 4.1.1). They live in
``<root>/identity.json`` (a ``store.Store`` record: checksummed, written atomically), apart from
the settings, so a factory reset never touches them. ``tools/provision.py`` writes them once over
mpremote; the firmware only reads them, and a second ``provision`` is refused.

Rules: the SN is 6 to 20 letters and digits, stored in upper case (labels print it so, and a
host name ignores case anyway); the CC is exactly 5 letters and digits, kept as given because it
is a credential the server may compare case by case.
"""

from firmware.store import Store

SERIAL_MIN = 6
SERIAL_MAX = 20
CHECK_CODE_LEN = 5
_VERSION = 1
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class IdentityError(ValueError):
    """A refused identity: ``field`` ("serial", "check_code" or "identity") and ``message``."""

    def __init__(self, field, message):
        super().__init__("%s: %s" % (field, message))
        self.field = field
        self.message = message


def _alnum(text):
    for c in text:
        if c not in _ALNUM:
            return False
    return True


def validate(serial, check_code):
    """``(serial, check_code)`` normalised; IdentityError naming the field if either is invalid."""
    if not isinstance(serial, str) or not SERIAL_MIN <= len(serial) <= SERIAL_MAX or not _alnum(serial):
        raise IdentityError("serial", "must be %d to %d letters and digits" % (SERIAL_MIN, SERIAL_MAX))
    if not isinstance(check_code, str) or len(check_code) != CHECK_CODE_LEN or not _alnum(check_code):
        raise IdentityError("check_code", "must be exactly %d letters and digits" % CHECK_CODE_LEN)
    return serial.upper(), check_code


def _accept(version, data):
    if version != _VERSION or not isinstance(data, dict):
        raise IdentityError("identity", "unknown format")
    serial, check_code = validate(data.get("serial"), data.get("check_code"))
    return {"serial": serial, "check_code": check_code}


def state(root):
    """ "provisioned", "not provisioned" or "unreadable" (a file is there but damaged)."""
    source = Store(root, "identity").load(_accept)[0]
    return {"current": "provisioned", "previous": "provisioned", "missing": "not provisioned"}.get(
        source, "unreadable")


def load(root):
    """``{"serial", "check_code"}``, or None when not provisioned (or the file is damaged)."""
    return Store(root, "identity").load(_accept)[2]


def provision(root, serial, check_code):
    """Writes the identity once; returns it. IdentityError if invalid or already provisioned."""
    serial, check_code = validate(serial, check_code)
    store = Store(root, "identity")
    source, _, old = store.load(_accept)
    if old is not None:
        raise IdentityError("identity", "already provisioned as %s; the identity is read-only" % old["serial"])
    if source != "missing":
        raise IdentityError("identity", "an identity file exists but is damaged; not overwriting it")
    data = {"serial": serial, "check_code": check_code}
    store.save(_VERSION, data)
    return data
