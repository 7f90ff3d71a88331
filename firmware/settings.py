"""Everything the user configures: one schema with defaults and limits, validation, migrations,
and ``Settings``, the copy on the flash (``store.Store``: atomic, checksummed, previous copy kept).

This is the one defaults-and-limits module: the web pages read ``SCHEMA``/``describe()`` and send
changes through ``Settings.update_many`` (several sections in one write: all or nothing), so a form
and the store can never disagree on a limit. The serial lines' facts come from ``rs485.py``, the
device rules from ``devices.py``, the kinds of value from ``fields.py``.

Sections (manual chapters in brackets): ``login`` [4.2], ``rs485_1``..``rs485_3`` [4.5],
``network`` [4.1, 4.6], ``server`` [5, 6.2], ``button`` [2.1.1, 6.1], ``clock``, ``gateway`` [2.3],
``metrics``, ``writes`` [2.3], ``devices`` [4.4].
Every value is a JSON scalar; text is printable ASCII, so the file is byte-identical on both
runtimes. A change is rejected with ``SettingsError(field, message, code)``, e.g.
``network.ip: must be an IPv4 address such as 192.168.1.20``; nothing is stored then.

Schema versions: 1 was a flat layout (``user``, ``password``, ``baud`` list, ``dhcp`` 0/1, ``ip``,
``mask``, ``gateway``, ``dns``, ``server``, ``port``, ``interval``, ``devices`` as
``[type, channel, address]`` lists); 2 is sections. Fields missing from a stored section take their
defaults (a new field needs no migration); a structural change bumps ``SCHEMA_VERSION`` and adds a
step to ``MIGRATIONS``.
"""

from firmware import devices as _devices
from firmware import passwords
from firmware.errors import NotApplied, SettingsError
from firmware.fields import PRINTABLE, check, dotted, only, parse_ip, prefix
from firmware.log import log as _default_log
from firmware.rs485 import BAUD_RATES, DEFAULT_BAUD, PARITIES, SECTIONS, STOP_BITS
from firmware.storage import SHARES
from firmware.store import Store

# SettingsError, NotApplied, check and parse_ip are the callers' names for them here too.
__all__ = ["SettingsError", "NotApplied", "Settings", "check", "parse_ip", "touches", "DEFAULTS_RESTORED"]

SCHEMA_VERSION = 2

DEFAULT_USER = "admin"  # manual 4.2: admin / admin; stored only as a hash, changed at first login
DEFAULT_PASSWORD = "admin"
PASSWORD_MIN = 8
PASSWORD_MAX = 64

# field: (kind, default, a, b); a/b are min/max for int/text/name, the allowed values for choice.
_PORT = {
    "baud": ("choice", DEFAULT_BAUD, BAUD_RATES, None),
    "parity": ("choice", "N", PARITIES, None),
    "stop": ("choice", 1, STOP_BITS, None),
}
SCHEMA = {
    "login": {
        "user": ("name", DEFAULT_USER, 1, 30),
        "password": ("record", None, None, None),  # defaults() fills in the hash of "admin"
        "must_change": ("bool", True, None, None),  # the web login forces a new password
        # The stored settings were unreadable and these are the factory defaults: said on the login
        # screen, in the status' problems and the log until the user acknowledges it.
        "defaults_restored": ("bool", False, None, None),
    },
}
for _name in SECTIONS:  # rs485_1..3
    SCHEMA[_name] = _PORT
SCHEMA.update({
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
    "gateway": {
        # Modbus TCP over the three buses (manual 2.3): off unless the owner turns it on.
        "enabled": ("bool", False, None, None),
        "port": ("int", 502, 1, 65535),
        "writes": ("bool", False, None, None),  # writes to devices: off (they pass the write governor)
        "clients": ("subnets", "", 0, 200),  # "a.b.c.d, a.b.c.d/n": who may connect; empty: anyone
        "max_clients": ("int", 4, 1, 8),
    },
    "metrics": {
        # /metrics for Prometheus (docs/metrics.md): off unless the owner turns it on; then open to
        # the LAN, or only with "Authorization: Bearer <token>" when a token is set.
        "enabled": ("bool", False, None, None),
        "token": ("token", "", 16, 128),
    },
    "history": {
        # The history's share of the flash the growing stores share (firmware/storage.py); the
        # upload queue gives or takes the difference. 70 % leaves the queue 15 %.
        "share_percent": ("int", dict(SHARES)["history"], 5, 70),
    },
    "writes": {
        # The write governor (firmware/writes.py): a register is written at most once per this
        # many seconds, whoever asks (a device's EEPROM wears with every write).
        "min_interval_s": ("int", 60, 1, 86400),
    },
})
_DEVICE = _devices.FIELDS
# Only these methods change these fields.
_INTERNAL = {"login.password": "set_password", "login.must_change": "set_password",
             "login.defaults_restored": "acknowledge_defaults"}

# --- rules --------------------------------------------------------------------------------------


def _blame(changed, first, other):
    """The field to name for a rule over two fields: the one that was just changed."""
    return other if other in changed and first not in changed else first


def _cross(section, v, changed):
    """The rules that involve more than one field of a section."""
    if section == "network":
        ip, mask, gw = parse_ip(v["ip"]), parse_ip(v["mask"]), parse_ip(v["gateway"])
        net, subnet = ip & mask, "%s/%d" % (dotted(ip & mask), prefix(mask))
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
            raise SettingsError(name, "cannot be set directly; use " + _INTERNAL[name], "internal")
        bad = check(fields[f], changes[f])
        if bad:
            raise SettingsError(name, bad[1], bad[0])
        new[f] = changes[f]
    _cross(section, new, changes)
    return new


def check_devices(devices):
    """A validated copy of a device list ``[{type, channel, address}]``; DeviceError if not."""
    return _devices.check_list(devices)


def check_new_password(password, user):
    """SettingsError unless ``password`` is acceptable as a new login password."""
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX \
            or not only(password, PRINTABLE):
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
        new[SECTIONS[i]] = {"baud": baud}
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


def touches(sections, *names):
    """True if a save of ``sections`` (a watcher's argument; None: all) concerns any of ``names``."""
    if sections is None:
        return True
    for name in names:
        if name in sections:
            return True
    return False


DEFAULTS_RESTORED = "the stored settings were unreadable: the logger runs on the factory defaults"


class Settings:
    """The settings in folder ``root`` (``board.flash.root``), loaded at construction.

    ``status`` says where they came from: "ok", "previous copy" (the current file was damaged),
    "migrated from vN", "previous copy, migrated from vN", "defaults: no settings stored" or
    "defaults: stored settings unreadable". Defaults are never written until something changes.
    ``defaults_restored`` stays true after a fall back to the defaults, across saves and restarts,
    until ``acknowledge_defaults()``.
    """

    def __init__(self, root, log=None, store=None):
        self.store = store or Store(root, "settings")
        self.log = log or _default_log
        self.status = None
        self.data = None
        self._watchers = []
        self.load()

    def watch(self, func):
        """Calls ``func(sections)`` once after every save: a tuple of the sections saved ("devices",
        "network", ...), or None for all of them (a reset). One that raises is logged, the others
        still run, and the change answers ``NotApplied``."""
        self._watchers.append(func)

    def load(self):
        """(Re)reads the flash; returns ``status``. A file of an older schema is migrated and saved."""
        source, version, data = self.store.load(migrate)
        if data is None:
            self.data = defaults()
            self.status = "defaults: " + ("no settings stored" if source == "missing" else "stored settings unreadable")
            self.data["login"]["defaults_restored"] = source != "missing"
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
        if self.defaults_restored:
            self.log.warning("settings: %s until acknowledged on the web page" % DEFAULTS_RESTORED)
        return self.status

    @property
    def defaults_restored(self):
        """True from a fall back to the factory defaults (unreadable settings) until acknowledged."""
        return self.data["login"]["defaults_restored"]

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
        return self.update_many({section: changes})

    def update_many(self, changes):
        """Validates the changes to several sections (``{section: changes}``; "devices": the whole
        list) and saves them all in one write of the flash: all or nothing, under a power cut too.

        True if the flash was written. SettingsError: nothing changed, in memory or on the flash.
        Each watcher hears of the saved sections once; ``NotApplied`` if one of them failed.
        """
        if not isinstance(changes, dict):
            raise SettingsError("settings", "changes must be an object of section: changes", "type")
        data = dict(self.data)
        saved = []
        for section in sorted(changes):  # sorted: the same first error on both runtimes
            if section == "devices":
                new = check_devices(changes[section])
            else:
                new = apply(section, self.data[section] if section in SCHEMA else {}, changes[section])
            if new != data[section]:
                data[section] = new
                saved.append(section)
        return bool(saved) and self._save(tuple(saved), data)

    def replace_devices(self, devices):
        """Validates and saves the whole device list; True if the flash was written."""
        return self.update_many({"devices": devices})

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
        self._save_login(login)
        self.log.info("settings: login password changed")

    def acknowledge_defaults(self):
        """The user has seen that the factory defaults replaced unreadable settings; True if that
        was pending."""
        if not self.defaults_restored:
            return False
        login = dict(self.data["login"])
        login["defaults_restored"] = False
        self._save_login(login)
        self.log.info("settings: the fall back to the factory defaults was acknowledged")
        return True

    def factory_reset(self):
        """Every section back to its default, the previous copy deleted; identity is another file."""
        self.log.warning("factory reset: settings back to defaults (identity kept)")
        failed = None
        try:
            self._save(None, defaults())
        except NotApplied as exc:  # saved all the same: the previous copy must go too
            failed = exc
        self.store.forget_previous()
        if failed:
            raise failed

    def _save_login(self, login):
        data = dict(self.data)
        data["login"] = login
        self._save(("login",), data)

    def _save(self, sections, data):
        """Writes ``data`` (all sections) once; then tells each watcher about ``sections``."""
        written = self.store.save(SCHEMA_VERSION, data)
        self.data = data
        self.status = "ok"
        if written:
            self.log.info("settings: %s saved" % (", ".join(sections) if sections else "all"))
            self._notify(sections)
        return written

    def _notify(self, sections):
        failed = None
        for func in self._watchers:
            try:
                func(sections)
            except Exception as exc:  # the others must still hear of it
                self.log.exception("settings: %s saved, but not applied" % ", ".join(sections or ("all",)), exc)
                failed = failed or exc
        if failed is not None:
            raise NotApplied(sections[0] if sections else "settings",
                             "saved, but the logger could not apply it (%s); it applies at the next restart"
                             % failed)
