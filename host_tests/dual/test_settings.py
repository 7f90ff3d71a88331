"""Settings: manual defaults, validation naming the field, no needless writes, migration, reset."""

import os

from support import raises, tmpdir

from firmware import identity, passwords
from firmware.log import Log
from firmware.settings import SCHEMA_VERSION, Settings, SettingsError, defaults, describe, validate
from firmware.store import Store, decode


def _quiet():
    return Log(size=16, echo=False)


def _raw(root):
    with open(root + "/settings.json", "rb") as f:
        return f.read()


def _fresh():
    root = tmpdir()
    return root, Settings(root, log=_quiet())


def test_defaults_are_the_manuals():
    root, s = _fresh()
    assert s.status == "defaults: no settings stored"
    assert os.listdir(root) == [], "defaults were written without a change"
    for n in (1, 2, 3):
        assert s.get("rs485_%d" % n) == {"baud": 9600, "parity": "N", "stop": 1}
    assert s.get("network") == {"dhcp": True, "ip": "192.168.0.254", "mask": "255.255.255.0",
                                "gateway": "192.168.0.1", "dns": "192.168.0.1", "startup_static_s": 120}
    server = s.get("server")
    assert server["host"] == "" and server["port"] == 1883 and server["upload_interval_s"] == 300
    assert server["username"] == "" and server["password"] == "" and server["tls"] is False
    assert s.get("button") == {"restart_s": 4, "factory_s": 10}
    assert s.get("clock") == {"ntp_server": "pool.ntp.org"}
    assert s.get("devices") == []
    login = s.get("login")
    assert login["user"] == "admin" and login["must_change"] is True
    assert login["password"].startswith("pbkdf2-sha256$")
    assert s.check_password("admin", "admin")
    assert not s.check_password("admin", "Admin") and not s.check_password("root", "admin")
    validate(defaults())  # the defaults pass their own rules


def test_login_is_stored_only_as_a_salted_hash():
    root, s = _fresh()
    s.update("server", {"host": "broker.local"})
    raw = _raw(root)
    assert b'"user":"admin"' in raw
    assert raw.count(b"admin") == 1, raw  # only the user name; the password is a hash
    assert b"pbkdf2-sha256$" in raw


def test_get_returns_copies():
    root, s = _fresh()
    s.get("network")["ip"] = "10.0.0.1"
    s.get("devices").append({"type": "atess_inverter", "channel": 1, "address": 1})
    assert s.get("network")["ip"] == "192.168.0.254" and s.get("devices") == []


_INVALID = (
    ("rs485_1", {"baud": 9601}, "rs485_1.baud: must be one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200"),
    ("rs485_3", {"parity": "X"}, "rs485_3.parity: must be one of N, E, O"),
    ("rs485_2", {"stop": 3}, "rs485_2.stop: must be one of 1, 2"),
    ("rs485_2", {"baud": "9600"}, "rs485_2.baud: must be one of"),
    ("network", {"dhcp": 1}, "network.dhcp: must be true or false"),
    ("network", {"ip": "192.168.0.256"}, "network.ip: must be an IPv4 address such as 192.168.1.20"),
    ("network", {"ip": "192.168.0"}, "network.ip: must be an IPv4 address such as 192.168.1.20"),
    ("network", {"ip": "192.168.000.1"}, "network.ip: must be an IPv4 address such as 192.168.1.20"),
    ("network", {"ip": "127.0.0.1"}, "network.ip: must be a unicast address"),
    ("network", {"ip": "192.168.0.0"}, "network.ip: 192.168.0.0 is the network address of the subnet 192.168.0.0/24"),
    ("network", {"ip": "192.168.0.255"}, "network.ip: 192.168.0.255 is the broadcast address of the subnet"),
    ("network", {"mask": "255.0.255.0"}, "network.mask: must be a subnet mask of 1 to 30 leading one bits"),
    ("network", {"mask": "255.255.255.255"}, "network.mask: must be a subnet mask"),
    ("network", {"mask": "255.255.255.252"}, "network.mask: the gateway 192.168.0.1 must be another host inside"),
    ("network", {"gateway": "10.0.0.1"}, "network.gateway: the gateway 10.0.0.1 must be another host inside the "
                                         "subnet 192.168.0.0/24"),
    ("network", {"gateway": "192.168.0.254"}, "network.gateway: the gateway 192.168.0.254 must be another host"),
    ("network", {"dns": "224.0.0.1"}, "network.dns: must be a unicast address"),
    ("network", {"startup_static_s": 601}, "network.startup_static_s: must be a whole number from 0 to 600"),
    ("network", {"hostname": "x"}, "network.hostname: unknown setting"),
    ("server", {"host": "bad host"}, "server.host: must be a host name or an IPv4 address (or empty)"),
    ("server", {"host": "-x.org"}, "server.host: must be a host name"),
    ("server", {"host": "1.2.3"}, "server.host: must be a host name"),
    ("server", {"port": 0}, "server.port: must be a whole number from 1 to 65535"),
    ("server", {"tls_ca": "not a certificate"}, "server.tls_ca: must be a PEM certificate"),
    ("server", {"tls_ca": "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----"},
     "server.tls_ca: must be a PEM certificate"),
    ("server", {"port": 1883.0}, "server.port: must be a whole number"),
    ("server", {"tls": "yes"}, "server.tls: must be true or false"),
    ("server", {"username": "x" * 65}, "server.username: must be 0 to 64 printable ASCII characters"),
    ("server", {"password": "tab\there"}, "server.password: must be 0 to 64 printable ASCII characters"),
    ("server", {"topic_prefix": "a/#"}, "server.topic_prefix: must be 1 to 64 letters"),
    ("server", {"topic_prefix": "/lead"}, "server.topic_prefix: must be 1 to 64 letters"),
    ("server", {"upload_interval_s": 9}, "server.upload_interval_s: must be a whole number from 10 to 3600"),
    ("server", {"upload_interval_s": True}, "server.upload_interval_s: must be a whole number"),
    ("button", {"restart_s": 10}, "button.restart_s: the restart hold (10 s) must be shorter than the "
                                  "factory-reset hold (10 s)"),
    ("button", {"factory_s": 3}, "button.factory_s: the restart hold (4 s) must be shorter"),
    ("button", {"factory_s": 61}, "button.factory_s: must be a whole number from 2 to 60"),
    ("clock", {"ntp_server": 5}, "clock.ntp_server: must be text"),
    ("login", {"user": "ad min"}, "login.user: must be 1 to 30 letters, digits"),
    ("login", {"user": ""}, "login.user: must be 1 to 30"),
    ("login", {"password": "x"}, "login.password: cannot be set directly; use set_password"),
    ("login", {"must_change": False}, "login.must_change: cannot be set directly"),
    ("wifi", {"ssid": "x"}, "wifi: unknown section"),
    ("network", ["ip"], "network: changes must be an object"),
)

_BAD_DEVICES = (
    ([{"type": "pv inverter", "channel": 1, "address": 1}], "devices[0].type: must be 1 to 32 letters"),
    ([{"type": "bcu_battery", "channel": 4, "address": 1}], "devices[0].channel: must be RS485-1, 2 or 3 (1, 2 or 3)"),
    ([{"type": "bcu_battery", "channel": 1, "address": 248}], "devices[0].address: must be a whole number from "
                                                              "1 to 247"),
    ([{"type": "bcu_battery", "channel": 1, "address": 0}], "devices[0].address: must be a whole number"),
    ([{"type": "bcu_battery", "channel": 1}], "devices[0].address: is missing"),
    ([{"type": "bcu_battery", "channel": 1, "address": 1, "name": "x"}], "devices[0].name: unknown setting"),
    ([{"type": "bcu_battery", "channel": 1, "address": 5}, {"type": "mbms_battery", "channel": 1, "address": 5}],
     "devices[1].address: address 5 is already used by the bcu_battery on RS485-1"),
    # manual 4.4.1: unique across all connected devices, not only on one bus
    ([{"type": "bcu_battery", "channel": 1, "address": 5}, {"type": "mbms_battery", "channel": 3, "address": 5}],
     "devices[1].address: address 5 is already used by the bcu_battery on RS485-1"),
    ([{"type": "atess_inverter", "channel": 2, "address": a} for a in range(1, 22)],
     "devices[20].channel: RS485-2 already has 20 devices"),
    (["atess_inverter"], "devices[0]: must be an object with type, channel and address"),
    ({"type": "atess_inverter"}, "devices: must be a list"),
)


def test_each_invalid_value_is_rejected_by_name_and_stores_nothing():
    root, s = _fresh()
    s.update("server", {"host": "broker.local"})
    s.replace_devices([{"type": "atess_inverter", "channel": 1, "address": 1}])
    before, writes, data = _raw(root), s.store.writes, s.data
    for section, change, message in _INVALID:
        exc = raises(SettingsError, s.update, section, change)
        assert str(exc).startswith(message), (str(exc), message)
        assert exc.field == message.split(":")[0] and exc.message and exc.code
        assert _raw(root) == before and s.store.writes == writes and s.data == data, (section, change)
    for devices, message in _BAD_DEVICES:
        exc = raises(SettingsError, s.replace_devices, devices)
        assert str(exc).startswith(message), (str(exc), message)
        assert _raw(root) == before and s.store.writes == writes and s.data == data, devices
    assert sorted(os.listdir(root)) == ["settings.bak", "settings.json"]
    assert Settings(root, log=_quiet()).data == data


def test_valid_changes_are_stored_and_identical_ones_write_nothing():
    root, s = _fresh()
    assert s.update("network", {"dhcp": False, "ip": "10.1.2.3", "mask": "255.255.0.0", "gateway": "10.1.0.1"})
    assert s.update("rs485_3", {"baud": 115200, "parity": "E"})
    devices = [{"type": "atess_inverter", "channel": 1, "address": 1},
               {"type": "bcu_battery", "channel": 1, "address": 2},
               {"type": "mbms_battery", "channel": 2, "address": 3}]
    assert s.replace_devices(devices)
    st, writes = os.stat(root + "/settings.json"), s.store.writes
    assert not s.update("network", {"dhcp": False, "ip": "10.1.2.3"})
    assert not s.update("rs485_3", {})
    assert not s.replace_devices([dict(d) for d in devices])
    assert s.store.writes == writes and s.store.writes == 3
    assert os.stat(root + "/settings.json")[1] == st[1] and os.stat(root + "/settings.json")[8] == st[8]
    seen = []
    s.watch(seen.append)
    assert s.update("devices", devices[:1]) and not s.update("devices", devices[:1])
    assert s.replace_devices(devices) and s.update("clock", {"ntp_server": "10.0.0.1"})
    s.factory_reset()
    assert seen == [("devices",), ("devices",), ("clock",), None], seen
    s.replace_devices(devices)
    s.update("network", {"dhcp": False, "ip": "10.1.2.3", "mask": "255.255.0.0", "gateway": "10.1.0.1"})
    s.update("rs485_3", {"baud": 115200, "parity": "E"})
    again = Settings(root, log=_quiet())
    assert again.status == "ok"
    assert again.get("network")["ip"] == "10.1.2.3" and again.get("rs485_3")["baud"] == 115200
    assert again.get("devices") == devices and again.data == s.data


def test_password_change():
    root, s = _fresh()
    assert str(raises(SettingsError, s.set_password, "new-secret", "wrong")) == \
        "login.old_password: does not match the current password"
    assert str(raises(SettingsError, s.set_password, "short", "admin")).startswith(
        "login.password: must be 8 to 64 printable ASCII characters")
    s.update("login", {"user": "operator1"})
    assert str(raises(SettingsError, s.set_password, "operator1", "admin")) == \
        "login.password: must differ from the user name"
    s.set_password("new-secret", "admin")
    again = Settings(root, log=_quiet())
    assert again.get("login")["must_change"] is False
    assert again.check_password("operator1", "new-secret")
    assert not again.check_password("operator1", "admin") and not again.check_password("admin", "new-secret")
    assert b"new-secret" not in _raw(root)


async def test_async_password_check():
    root, s = _fresh()
    assert await s.check_password_async("admin", "admin")
    assert not await s.check_password_async("admin", "nope")


def test_factory_reset_restores_defaults_keeps_identity_and_is_logged():
    root, s = _fresh()
    identity.provision(root, "bakfb02000", "Ab12C")
    s.update("network", {"dhcp": False, "ip": "10.0.0.5", "gateway": "10.0.0.1", "mask": "255.0.0.0"})
    s.update("server", {"host": "broker.example.org", "username": "me", "password": "pw"})
    s.replace_devices([{"type": "atess_inverter", "channel": 3, "address": 9}])
    s.update("rs485_1", {"baud": 19200})
    s.set_password("long-password", "admin")
    s.factory_reset()
    assert any("factory reset" in e[2] for e in s.log.recent())
    assert sorted(os.listdir(root)) == ["identity.json", "settings.json"], "previous copy kept after a reset"
    again = Settings(root, log=_quiet())
    assert again.status == "ok"
    d = defaults()
    for section in ("network", "server", "rs485_1", "button", "clock", "devices"):
        assert again.get(section) == d[section], section
    assert again.check_password("admin", "admin") and again.get("login")["must_change"] is True
    assert identity.load(root) == {"serial": "BAKFB02000", "check_code": "Ab12C"}


def _v1(record, **extra):
    flat = {"user": "admin", "password": record, "baud": [9600, 19200, 4800], "dhcp": 0, "ip": "192.168.1.50",
            "mask": "255.255.255.0", "gateway": "192.168.1.1", "dns": "8.8.8.8", "server": "mqtt.local",
            "interval": 120, "devices": [["atess_inverter", 1, 1], ["bcu_battery", 2, 7]]}
    flat.update(extra)
    return flat


def test_migration_from_v1():
    root = tmpdir()
    Store(root, "settings").save(1, _v1(passwords.hash_password("admin", iterations=5)))
    s = Settings(root, log=_quiet())
    assert s.status == "migrated from v1"
    assert [s.get("rs485_%d" % n)["baud"] for n in (1, 2, 3)] == [9600, 19200, 4800]
    assert s.get("network") == {"dhcp": False, "ip": "192.168.1.50", "mask": "255.255.255.0",
                                "gateway": "192.168.1.1", "dns": "8.8.8.8", "startup_static_s": 120}
    server = s.get("server")
    assert server["host"] == "mqtt.local" and server["upload_interval_s"] == 120 and server["port"] == 1883
    assert s.get("devices") == [{"type": "atess_inverter", "channel": 1, "address": 1},
                                {"type": "bcu_battery", "channel": 2, "address": 7}]
    assert s.get("login")["must_change"] is True and s.check_password("admin", "admin")
    assert s.get("button") == defaults()["button"]
    with open(root + "/settings.json", "rb") as f:
        assert decode(f.read())[0] == SCHEMA_VERSION  # rewritten once in today's layout
    with open(root + "/settings.bak", "rb") as f:
        assert decode(f.read())[0] == 1
    assert Settings(root, log=_quiet()).status == "ok"


def test_migration_keeps_a_changed_password_and_rejects_bad_old_files():
    root = tmpdir()
    Store(root, "settings").save(1, _v1(passwords.hash_password("s3cret-pw", iterations=5), user="boss"))
    s = Settings(root, log=_quiet())
    assert s.get("login")["must_change"] is False and s.check_password("boss", "s3cret-pw")
    root = tmpdir()
    Store(root, "settings").save(1, _v1("plain-text"))  # not a hash: refuse it, never log in with it
    assert Settings(root, log=_quiet()).status == "defaults: stored settings unreadable"
    root = tmpdir()
    Store(root, "settings").save(SCHEMA_VERSION + 1, defaults())  # from a newer firmware
    assert Settings(root, log=_quiet()).status == "defaults: stored settings unreadable"


def test_damaged_files_fall_back_to_the_previous_copy_then_defaults():
    root, s = _fresh()
    s.update("server", {"host": "one.example.org"})
    s.update("server", {"host": "two.example.org"})
    raw = _raw(root)
    with open(root + "/settings.json", "wb") as f:
        f.write(raw.replace(b"two.", b"twx."))  # same length, one byte changed: the checksum catches it
    again = Settings(root, log=_quiet())
    assert again.status == "previous copy" and again.get("server")["host"] == "one.example.org"
    assert any("previous copy" in e[2] for e in again.log.recent())
    os.remove(root + "/settings.bak")
    again = Settings(root, log=_quiet())
    assert again.status == "defaults: stored settings unreadable" and again.get("server")["host"] == ""
    assert again.update("server", {"host": "three.example.org"})
    assert Settings(root, log=_quiet()).get("server")["host"] == "three.example.org"


def test_stored_file_with_a_bad_value_or_no_password_is_not_used():
    root = tmpdir()
    data = defaults()
    data["rs485_1"]["baud"] = 12345
    Store(root, "settings").save(SCHEMA_VERSION, data)
    assert Settings(root, log=_quiet()).status == "defaults: stored settings unreadable"
    root = tmpdir()
    data = defaults()
    del data["login"]["password"]
    del data["clock"]  # a missing section only takes its defaults ...
    Store(root, "settings").save(SCHEMA_VERSION, data)
    assert Settings(root, log=_quiet()).status == "defaults: stored settings unreadable"  # ... a password does not
    data = defaults()
    del data["clock"]
    Store(root, "settings").save(SCHEMA_VERSION, data)
    s = Settings(root, log=_quiet())
    assert s.status == "ok" and s.get("clock") == {"ntp_server": "pool.ntp.org"}


def test_describe_gives_the_web_pages_every_limit():
    d = describe()
    assert d["rs485_1"]["baud"] == {"kind": "choice", "default": 9600,
                                    "choices": [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200]}
    assert d["server"]["upload_interval_s"] == {"kind": "int", "default": 300, "min": 10, "max": 3600}
    assert d["devices"]["address"] == {"kind": "int", "min": 1, "max": 247}
    assert "password" not in d["login"] and "must_change" not in d["login"]
    assert d["network"]["ip"]["default"] == "192.168.0.254"


def test_a_stored_file_with_a_bad_device_entry_keeps_everything_else():
    from firmware.settings import SCHEMA_VERSION

    root = tmpdir()
    s = Settings(root, Log(echo=False))
    s.update("network", {"dhcp": False, "ip": "192.168.0.20"})
    s.set_password("a-long-password", "admin")
    data = s.data
    data["devices"] = [{"type": "atess_inverter", "channel": 1, "address": 5},
                       {"type": "bcu_battery", "channel": 2, "address": 5},  # repeats address 5
                       {"type": "bcu_battery", "channel": 2, "address": 6}]
    s.store.save(SCHEMA_VERSION, data)  # as an older firmware or a hand edit might have left it
    again = Settings(root, Log(echo=False))
    assert again.status == "ok", again.status
    assert again.get("network")["ip"] == "192.168.0.20"
    assert again.check_password("admin", "a-long-password")
    assert again.get("devices") == [{"type": "atess_inverter", "channel": 1, "address": 5},
                                    {"type": "bcu_battery", "channel": 2, "address": 6}]


def test_update_many_is_one_write_all_or_nothing_and_one_call_per_watcher():
    root, s = _fresh()
    seen = []
    s.watch(seen.append)
    writes = s.store.writes
    assert s.update_many({"rs485_1": {"baud": 19200}, "rs485_2": {"baud": 19200, "parity": "E"},
                          "rs485_3": {"stop": 2}, "devices": [{"type": "bcu_battery", "channel": 2, "address": 4}]})
    assert s.store.writes == writes + 1, "one request, one write of the flash"
    assert seen == [("devices", "rs485_1", "rs485_2", "rs485_3")], seen
    again = Settings(root, log=_quiet())
    assert [again.get(n) for n in ("rs485_1", "rs485_2", "rs485_3")] == [
        {"baud": 19200, "parity": "N", "stop": 1}, {"baud": 19200, "parity": "E", "stop": 1},
        {"baud": 9600, "parity": "N", "stop": 2}]
    assert again.get("devices") == [{"type": "bcu_battery", "channel": 2, "address": 4}]
    # One bad section: nothing of the others is kept, in memory or on the flash.
    before, data = _raw(root), dict(s.data)
    exc = raises(SettingsError, s.update_many, {"rs485_1": {"baud": 4800}, "rs485_2": {"parity": "X"}})
    assert str(exc) == "rs485_2.parity: must be one of N, E, O" and exc.code == "choice"
    assert _raw(root) == before and s.data == data and s.get("rs485_1")["baud"] == 19200
    assert len(seen) == 1 and s.store.writes == writes + 1
    # Only what differs counts as saved; nothing new: no write, no call.
    assert s.update_many({"rs485_1": {"baud": 19200}, "clock": {"ntp_server": "10.0.0.1"}})
    assert seen[-1] == ("clock",) and s.store.writes == writes + 2
    assert not s.update_many({"rs485_1": {"baud": 19200}}) and len(seen) == 2
    assert str(raises(SettingsError, s.update_many, ["rs485_1"])) == \
        "settings: changes must be an object of section: changes"


def test_a_watcher_that_raises_is_logged_the_others_still_run_and_the_change_is_kept():
    from firmware.settings import NotApplied

    root, s = _fresh()
    first, last = [], []
    s.watch(first.append)

    def broken(sections):
        raise OSError("the UART refused 19200 baud")

    s.watch(broken)
    s.watch(last.append)
    exc = raises(NotApplied, s.update_many, {"rs485_1": {"baud": 19200}, "rs485_2": {"baud": 19200}})
    assert isinstance(exc, SettingsError) and exc.code == "not_applied" and exc.field == "rs485_1"
    assert "saved, but the logger could not apply it" in exc.message and "19200 baud" in exc.message, exc.message
    assert first == [("rs485_1", "rs485_2")] and last == [("rs485_1", "rs485_2")]
    logged = [e[2] for e in s.log.recent()]
    assert any("rs485_1, rs485_2 saved, but not applied" in m for m in logged), logged
    assert Settings(root, log=_quiet()).get("rs485_2")["baud"] == 19200  # stored: a restart applies it


def test_a_fall_back_to_the_defaults_stays_visible_until_acknowledged():
    root, s = _fresh()
    assert not s.defaults_restored  # nothing stored yet is no fall back
    s.update("server", {"host": "one.example.org"})
    assert not Settings(root, log=_quiet()).defaults_restored
    for name in ("settings.json", "settings.bak"):
        if name in os.listdir(root):
            with open(root + "/" + name, "wb") as f:
                f.write(b"\x00garbage")
    s = Settings(root, log=_quiet())
    assert s.defaults_restored and s.status == "defaults: stored settings unreadable"
    assert any("runs on the factory defaults until acknowledged" in e[2] for e in s.log.recent())
    s.set_password("long-password", "admin")  # the forced password change saves ...
    again = Settings(root, log=_quiet())
    assert again.status == "ok" and again.defaults_restored  # ... and the notice stays, across a restart
    assert str(raises(SettingsError, again.update, "login", {"defaults_restored": False})) == \
        "login.defaults_restored: cannot be set directly; use acknowledge_defaults"
    assert "defaults_restored" not in describe()["login"]
    assert again.acknowledge_defaults() and not again.acknowledge_defaults()
    assert any("acknowledged" in e[2] for e in again.log.recent())
    assert not Settings(root, log=_quiet()).defaults_restored


def test_a_factory_reset_with_a_failing_watcher_still_forgets_the_previous_copy():
    from firmware.settings import NotApplied

    root, s = _fresh()
    s.update("server", {"host": "one.example.org"})
    s.update("server", {"host": "two.example.org"})
    s.watch(lambda sections: 1 // 0)
    raises(NotApplied, s.factory_reset)
    assert sorted(os.listdir(root)) == ["settings.json"], os.listdir(root)
    assert Settings(root, log=_quiet()).get("server")["host"] == ""
