"""Everything the user configures: one schema with defaults and limits, validation, migrations,
and ``Settings``, the copy on the flash (``store.Store``: atomic, checksummed, previous copy kept).

This is the one defaults-and-limits module: the web pages read ``SCHEMA``/``describe()`` and send
changes through ``Settings.update``, so a form and the store can never disagree on a limit.

Sections (manual chapters in brackets): ``login`` [4.2], ``rs485_1``..``rs485_3`` [4.5],
``network`` [4.1, 4.6], ``server`` [5, 6.2], ``button`` [2.1.1, 6.1], ``clock``, ``devices`` [4.4].
Every value is a JSON scalar; text is printable ASCII, so the file is byte-identical on both
runtimes. A change is rejected with ``SettingsError(field, message, code)``, e.g.
``network.ip: must be a dotted IPv4 address``; nothing is stored then.

Schema versions: 1 was a flat layout (``user``, ``password``, ``baud`` list, ``dhcp`` 0/1, ``ip``,
``mask``, ``gateway``, ``dns``, ``server``, ``port``, ``interval``, ``devices`` as
``[type, channel, address]`` lists); 2 is sections. Fields missing from a stored section take their
defaults (a new field needs no migration); a structural change bumps ``SCHEMA_VERSION`` and adds a
step to ``MIGRATIONS``.
"""

from firmware import passwords
from firmware.log import log as _default_log
from firmware.store import Store

SCHEMA_VERSION = 2

BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
PARITIES = ("N", "E", "O")
CHANNELS = (1, 2, 3)
MAX_DEVICES_PER_CHANNEL = 20  # manual 3.3.1: 60 devices, 20 per channel
MAX_DEVICES = 60
DEFAULT_USER = "admin"  # manual 4.2: admin / admin; stored only as a hash, changed at first login
DEFAULT_PASSWORD = "admin"
PASSWORD_MIN = 8
PASSWORD_MAX = 64

# field: (kind, default, a, b); a/b are min/max for int/text/name, the allowed values for choice.
_PORT = {
    "baud": ("choice", 9600, BAUD_RATES, None),  # manual 4.5: 9600, like every ATESS device
    "parity": ("choice", "N", PARITIES, None),
    "stop": ("choice", 1, (1, 2), None),
}
SCHEMA = {
    "login": {
        "user": ("name", DEFAULT_USER, 1, 30),
        "password": ("record", None, None, None),  # defaults() fills in the hash of "admin"
        "must_change": ("bool", True, None, None),  # the web login forces a new password
    },
    "rs485_1": _PORT,
    "rs485_2": _PORT,
    "rs485_3": _PORT,
    "network": {
        "dhcp": ("bool", True, None, None),  # manual 4.6.1: DHCP on from the factory
        "ip": ("ip", "192.168.0.254", None, None),  # manual 4.2: the default static address
        "mask": ("mask", "255.255.255.0", None, None),
        "gateway": ("ip", "192.168.0.1", None, None),  # manual 4.1.2's example
        "dns": ("ip", "192.168.0.1", None, None),
        # Manual 4.2: the static address answers for the first 2 minutes after start, then DHCP.
        "startup_static_s": ("int", 120, 0, 600),
    },
    "server": {
        # Empty = no uploads. Not the manual's server.atesspower.com (6.2): ATESS's server does not
        # speak this firmware's MQTT, and the default login is the serial number and check code,
        # which must not go unasked to a third party. The user enters the server (manual 5).
        "host": ("host", "", 0, 253),
        "port": ("int", 1883, 1, 65535),
        "tls": ("bool", False, None, None),
        "username": ("text", "", 0, 64),  # empty: the serial number (uplink issue)
        "password": ("text", "", 0, 64),  # empty: the check code
        "topic_prefix": ("topic", "enerlog", 1, 64),
        "upload_interval_s": ("int", 300, 10, 3600),
        "keepalive_s": ("int", 60, 10, 1800),
        # The CA certificate (PEM) the server's certificate must chain to; empty with TLS on:
        # encrypted but the server is not authenticated (the status page says so).
        "tls_ca": ("pem", "", 0, 4096),
        "discovery": ("bool", True, None, None),  # Home Assistant MQTT discovery
        "discovery_prefix": ("topic", "homeassistant", 1, 64),
        # Writes to devices from the broker (manual 2.3): off unless the owner turns it on.
        "remote_settings": ("bool", False, None, None),
    },
    "button": {
        # Table 2-1 says 4 s / 10 s, section 6.1 says 1 s / 5 s. The longer pair: a brush against
        # the button must not restart the logger, and a factory reset clears everything.
        "restart_s": ("int", 4, 1, 30),
        "factory_s": ("int", 10, 2, 60),
    },
    "clock": {
        "ntp_server": ("host", "pool.ntp.org", 0, 253),  # empty: no NTP
    },
}
_DEVICE = {
    # A register map's name (firmware/maps/<type>.json): adding a map file adds a type, so the
    # list is not fixed here; firmware/devices.py refuses types with no map when adding.
    "type": ("name", None, 1, 32),
    "channel": ("choice", None, CHANNELS, None),
    "address": ("int", None, 1, 247),  # Modbus unicast addresses
}
_INTERNAL = ("login.password", "login.must_change")  # only set_password changes these

_NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_HOST_CHARS = _NAME_CHARS + "-"
_TOPIC_CHARS = _NAME_CHARS + "_-./"
_PRINTABLE = "".join(chr(c) for c in range(32, 127))


class SettingsError(ValueError):
    """A rejected value: ``field`` (e.g. "network.ip"), ``message`` (the rule), ``code``."""

    def __init__(self, field, message, code="invalid"):
        super().__init__("%s: %s" % (field, message))
        self.field = field
        self.message = message
        self.code = code


# --- rules --------------------------------------------------------------------------------------


def parse_ip(text):
    """The 32-bit value of a dotted IPv4 address, or None."""
    parts = text.split(".") if isinstance(text, str) else ()
    if len(parts) != 4:
        return None
    n = 0
    for p in parts:
        if not p or len(p) > 3 or not _only(p, "0123456789") or (len(p) > 1 and p[0] == "0"):
            return None
        if int(p) > 255:
            return None
        n = (n << 8) | int(p)
    return n


def _only(text, chars):
    for c in text:
        if c not in chars:
            return False
    return True


def _is_host(text):
    if parse_ip(text) is not None:
        return True
    labels = text.split(".")
    if _only(text, "0123456789."):
        return False  # looks like an address but is not one
    for label in labels:
        if not 1 <= len(label) <= 63 or not _only(label, _HOST_CHARS) or "-" in (label[0], label[-1]):
            return False
    return True


def check(spec, v):
    """None if value ``v`` fits field ``spec``, else (code, message)."""
    kind, _, a, b = spec
    if kind == "int":
        if not isinstance(v, int) or isinstance(v, bool) or not a <= v <= b:
            return "range", "must be a whole number from %d to %d" % (a, b)
    elif kind == "choice":
        if isinstance(v, bool) or v not in a:
            return "choice", "must be one of %s" % ", ".join(str(c) for c in a)
    elif kind == "bool":
        if not isinstance(v, bool):
            return "type", "must be true or false"
    elif not isinstance(v, str):
        return "type", "must be text"
    elif kind == "text":
        if not a <= len(v) <= b or not _only(v, _PRINTABLE):
            return "format", "must be %d to %d printable ASCII characters" % (a, b)
    elif kind == "pem":
        if len(v) > b:
            return "format", "must be at most %d characters" % b
        if v and not _is_pem(v):
            return "format", "must be a PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)"
    elif kind == "name":
        if not a <= len(v) <= b or not _only(v, _NAME_CHARS + "._-"):
            return "format", "must be %d to %d letters, digits, '.', '_' or '-'" % (a, b)
    elif kind == "host":
        if v == "" and a == 0:
            return None
        if len(v) > b or not _is_host(v):
            return "format", "must be a host name or an IPv4 address" + (" (or empty)" if a == 0 else "")
    elif kind == "topic":
        if not a <= len(v) <= b or not _only(v, _TOPIC_CHARS) or "/" in (v[0], v[-1]) or "//" in v:
            return "format", ("must be %d to %d letters, digits, '_', '-', '.' or '/', without a leading, "
                              "trailing or double '/'" % (a, b))
    elif kind == "ip":
        n = parse_ip(v)
        if n is None:
            return "format", "must be a dotted IPv4 address"
        if n >> 24 in (0, 127) or n >> 24 >= 224:
            return "format", "must be a unicast address (not 0.x, 127.x or 224.0.0.0 and above)"
    elif kind == "mask":
        n = parse_ip(v)
        if n is None or _prefix(n) is None or not 1 <= _prefix(n) <= 30:
            return "format", "must be a subnet mask of 1 to 30 leading one bits, e.g. 255.255.255.0"
    elif kind == "record":
        try:
            passwords.parse(v)
        except ValueError:
            return "format", "must be a password record (set it with set_password)"
    return None


def _is_pem(v):
    from firmware.mqtt import pem_to_der  # its one user decodes it the same way

    try:
        return len(pem_to_der(v)) > 0
    except ValueError:  # not base64
        return False


def _prefix(mask):
    """The prefix length of a contiguous mask, or None."""
    inv = ~mask & 0xFFFFFFFF
    if inv & (inv + 1):
        return None
    return 32 - len(bin(inv)) + 2 if inv else 32


def _blame(changed, first, other):
    """The field to name for a rule over two fields: the one that was just changed."""
    return other if other in changed and first not in changed else first


def _cross(section, v, changed):
    """The rules that involve more than one field of a section."""
    if section == "network":
        ip, mask, gw = parse_ip(v["ip"]), parse_ip(v["mask"]), parse_ip(v["gateway"])
        net, subnet = ip & mask, "%s/%d" % (_dotted(ip & mask), _prefix(mask))
        top = net | (~mask & 0xFFFFFFFF)
        where = _blame(changed, "ip", "mask")
        if ip in (net, top):
            what = "network" if ip == net else "broadcast"
            raise SettingsError("network." + where, "%s is the %s address of the subnet %s"
                                % (v["ip"], what, subnet), "subnet")
        where = _blame(changed, "gateway", "mask" if "mask" in changed else "ip")
        if gw & mask != net or gw in (net, top, ip):
            raise SettingsError("network." + where, "the gateway %s must be another host inside the subnet %s"
                                % (v["gateway"], subnet), "subnet")
    elif section == "button" and v["restart_s"] >= v["factory_s"]:
        raise SettingsError("button." + _blame(changed, "restart_s", "factory_s"),
                            "the restart hold (%d s) must be shorter than the factory-reset hold (%d s)"
                            % (v["restart_s"], v["factory_s"]), "order")


def _dotted(n):
    return "%d.%d.%d.%d" % (n >> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255)


def apply(section, current, changes, stored=False):
    """The new values of ``section`` after ``changes`` (a dict), validated; SettingsError if not.

    ``stored``: the changes come from the flash, where the internal fields are allowed too.
    """
    fields = SCHEMA.get(section)
    if fields is None:
        raise SettingsError(section, "unknown section", "unknown")
    if not isinstance(changes, dict):
        raise SettingsError(section, "changes must be an object of field: value", "type")
    new = dict(current)
    for f in sorted(changes):  # sorted: the same first error on both runtimes
        name = section + "." + str(f)
        if f not in fields:
            raise SettingsError(name, "unknown setting", "unknown")
        if name in _INTERNAL and not stored:
            raise SettingsError(name, "cannot be set directly; use set_password", "internal")
        bad = check(fields[f], changes[f])
        if bad:
            raise SettingsError(name, bad[1], bad[0])
        new[f] = changes[f]
    _cross(section, new, changes)
    return new


def check_devices(devices):
    """A validated copy of a device list ``[{type, channel, address}]``; SettingsError if not."""
    if not isinstance(devices, list):
        raise SettingsError("devices", "must be a list", "type")
    out, used, count = [], [], {}
    for i, d in enumerate(devices):
        where = "devices[%d]" % i
        if not isinstance(d, dict):
            raise SettingsError(where, "must be an object with type, channel and address", "type")
        for k in sorted(d):
            if k not in _DEVICE:
                raise SettingsError("%s.%s" % (where, k), "unknown setting", "unknown")
        for k in ("type", "channel", "address"):
            if k not in d:
                raise SettingsError("%s.%s" % (where, k), "is missing", "missing")
            bad = check(_DEVICE[k], d[k])
            if bad:
                raise SettingsError("%s.%s" % (where, k), bad[1], bad[0])
        ch, addr = d["channel"], d["address"]
        # Manual 4.4.1: "the 485 communication address of all connected devices cannot be
        # repeated": one address, one device, whichever channel it is on.
        for other_ch, other_addr in used:
            if other_addr == addr:
                raise SettingsError(where + ".address", "address %d is already used on RS485-%d"
                                    % (addr, other_ch), "duplicate")
        count[ch] = count.get(ch, 0) + 1
        if count[ch] > MAX_DEVICES_PER_CHANNEL:
            raise SettingsError(where + ".channel", "RS485-%d already has %d devices"
                                % (ch, MAX_DEVICES_PER_CHANNEL), "full")
        if len(used) >= MAX_DEVICES:  # unreachable with 3 x 20, kept as the manual's own limit
            raise SettingsError(where, "the logger already has %d devices" % MAX_DEVICES, "full")
        used.append((ch, addr))
        out.append({"type": d["type"], "channel": ch, "address": addr})
    return out


def check_new_password(password, user):
    """SettingsError unless ``password`` is acceptable as a new login password."""
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX \
            or not _only(password, _PRINTABLE):
        raise SettingsError("login.password", "must be %d to %d printable ASCII characters"
                            % (PASSWORD_MIN, PASSWORD_MAX), "format")
    if password == user:
        raise SettingsError("login.password", "must differ from the user name", "weak")


_admin = []  # the record of the default password, hashed once per start


def defaults():
    """A fresh copy of the factory settings.

    The default password is printed in the manual, so its record protects nothing: it is hashed
    once per start (random salt) and reused, which keeps loads without a stored copy cheap.
    """
    data = {s: {f: spec[1] for f, spec in fields.items()} for s, fields in SCHEMA.items()}
    if not _admin:
        _admin.append(passwords.hash_password(DEFAULT_PASSWORD))
    data["login"]["password"] = _admin[0]
    data["devices"] = []
    return data


def validate(data):
    """A whole stored settings dict, checked and completed with defaults; SettingsError if bad."""
    if not isinstance(data, dict):
        raise SettingsError("settings", "must be an object", "type")
    for s in sorted(data):
        if s not in SCHEMA and s != "devices":
            raise SettingsError(s, "unknown section", "unknown")
    out = {}
    for s, fields in SCHEMA.items():
        stored = data.get(s, {})
        if s == "login" and isinstance(stored, dict) and "password" not in stored:
            raise SettingsError("login.password", "is missing", "missing")  # never fall back to admin
        out[s] = apply(s, {f: spec[1] for f, spec in fields.items()}, stored, True)
    out["devices"] = _keep_good_devices(data.get("devices", []))
    return out


def _keep_good_devices(devices):
    """The stored device list without the entries that break a rule (one bad entry must not cost
    the whole settings file, with its password and network, a fall back to defaults)."""
    try:
        return check_devices(devices)
    except SettingsError:
        pass
    kept = []
    for d in devices if isinstance(devices, list) else []:
        try:
            kept = check_devices(kept + [d])
        except SettingsError:
            pass  # this entry breaks a rule against those kept before it: dropped
    return kept


def _from_v1(old):
    """Schema 1 (flat) -> 2 (sections)."""
    user, record = old.get("user", DEFAULT_USER), old["password"]
    new = {"login": {"user": user, "password": record,
                     "must_change": user == DEFAULT_USER and passwords.verify(DEFAULT_PASSWORD, record)}}
    for i, baud in enumerate(old.get("baud", ())):
        new["rs485_%d" % (i + 1)] = {"baud": baud}
    net = {"dhcp": bool(old.get("dhcp", 1))}
    for k in ("ip", "mask", "gateway", "dns"):
        if k in old:
            net[k] = old[k]
    new["network"] = net
    server = {"host": old.get("server", ""), "upload_interval_s": old.get("interval", 300)}
    if "port" in old:
        server["port"] = old["port"]
    new["server"] = server
    new["devices"] = [{"type": t, "channel": c, "address": a} for t, c, a in old.get("devices", ())]
    return new


MIGRATIONS = {1: _from_v1}  # version -> function returning the data of version + 1


def migrate(version, data):
    """``data`` of schema ``version`` brought to ``SCHEMA_VERSION`` and validated."""
    if not isinstance(version, int) or not (version == SCHEMA_VERSION or version in MIGRATIONS):
        raise SettingsError("version", "schema v%s is not supported" % version, "version")
    try:
        while version < SCHEMA_VERSION:
            data = MIGRATIONS[version](data)
            version += 1
    except (KeyError, TypeError, ValueError, AttributeError):
        raise SettingsError("version", "cannot migrate this file", "version")
    return validate(data)


def describe():
    """Every user-settable field with its default and limits, for the web pages."""
    out = {}
    for s, fields in SCHEMA.items():
        out[s] = {}
        for f, (kind, default, a, b) in fields.items():
            if s + "." + f not in _INTERNAL:
                info = {"kind": kind, "default": default}
                if kind == "choice":
                    info["choices"] = list(a)
                elif a is not None:
                    info["min"], info["max"] = a, b
                out[s][f] = info
    out["devices"] = {f: {"kind": k, "choices": list(a)} if k == "choice" else {"kind": k, "min": a, "max": b}
                      for f, (k, _, a, b) in _DEVICE.items()}
    return out


# --- the copy on the flash ----------------------------------------------------------------------


class Settings:
    """The settings in folder ``root`` (``board.flash.root``), loaded at construction.

    ``status`` says where they came from: "ok", "previous copy" (the current file was damaged),
    "migrated from vN", "previous copy, migrated from vN", "defaults: no settings stored" or
    "defaults: stored settings unreadable". Defaults are never written until something changes.
    """

    def __init__(self, root, log=None, store=None):
        self.store = store or Store(root, "settings")
        self.log = log or _default_log
        self.status = None
        self.data = None
        self._watchers = []
        self.load()

    def watch(self, func):
        """Calls ``func(section)`` after every save ("devices", "network", ...; None: all, a reset)."""
        self._watchers.append(func)

    def load(self):
        """(Re)reads the flash; returns ``status``. A file of an older schema is migrated and saved."""
        source, version, data = self.store.load(migrate)
        if data is None:
            self.data = defaults()
            self.status = "defaults: " + ("no settings stored" if source == "missing" else "stored settings unreadable")
        else:
            self.data = data
            self.status = "ok" if source == "current" else "previous copy"
            if version < SCHEMA_VERSION:
                self.status = ("" if source == "current" else "previous copy, ") + "migrated from v%d" % version
                try:
                    self.store.save(SCHEMA_VERSION, data)
                except OSError as exc:  # keep running on the migrated data; retried at the next change
                    self.log.error("settings: cannot save the migrated settings: %r" % exc)
        if self.status != "ok":
            self.log.warning("settings: " + self.status)
        return self.status

    def get(self, section):
        """A copy of one section (a dict; "devices": a list of dicts)."""
        if section == "devices":
            return [dict(d) for d in self.data["devices"]]
        if section not in SCHEMA:
            raise SettingsError(section, "unknown section", "unknown")
        return dict(self.data[section])

    def update(self, section, changes):
        """Validates and saves ``changes`` to ``section``; True if the flash was written.

        Nothing is written when the values are already stored. SettingsError leaves everything
        (memory and flash) as it was.
        """
        if section == "devices":
            return self.replace_devices(changes)
        return self._save(section, apply(section, self.data[section] if section in SCHEMA else {}, changes))

    def replace_devices(self, devices):
        """Validates and saves the whole device list; True if the flash was written."""
        return self._save("devices", check_devices(devices))

    def check_password(self, user, password):
        """True if ``user``/``password`` is the login (the hash runs for a wrong user too)."""
        ok = passwords.verify(password, self.data["login"]["password"])
        return ok and user == self.data["login"]["user"]

    async def check_password_async(self, user, password):
        """``check_password`` that yields to the other tasks while it hashes."""
        ok = await passwords.verify_async(password, self.data["login"]["password"])
        return ok and user == self.data["login"]["user"]

    def set_password(self, new, old):
        """Sets a new login password after checking the current one; clears ``must_change``."""
        login = dict(self.data["login"])
        if not passwords.verify(old, login["password"]):
            raise SettingsError("login.old_password", "does not match the current password", "wrong")
        check_new_password(new, login["user"])
        login["password"] = passwords.hash_password(new)
        login["must_change"] = False
        self._save("login", login)
        self.log.info("settings: login password changed")

    def factory_reset(self):
        """Every section back to its default, the previous copy deleted; identity is another file."""
        self.log.warning("factory reset: settings back to defaults (identity kept)")
        self._save(None, defaults())
        self.store.forget_previous()

    def _save(self, section, value):
        data = dict(self.data) if section else value
        if section:
            if data[section] == value:
                return False
            data[section] = value
        written = self.store.save(SCHEMA_VERSION, data)
        self.data = data
        self.status = "ok"
        if written:
            self.log.info("settings: %s saved" % (section or "all"))
            for func in self._watchers:
                func(section)
        return written
