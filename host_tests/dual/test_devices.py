"""The manual's add/delete rules (4.4), each at its edges, on real settings in a flash folder."""

from support import raises, tmpdir

from firmware import devicemap
from firmware.devices import DeviceError, Devices
from firmware.log import Log
from firmware.settings import Settings

MAPS = devicemap.load_all()


def _devices():
    root = tmpdir()
    return Devices(Settings(root, Log(echo=False)), MAPS), root


def _raw(root):
    with open(root + "/settings.json", "rb") as f:
        return f.read()


def test_add_then_delete_with_the_same_type_channel_and_address():
    dev, root = _devices()
    assert dev.add("atess_inverter", 1, 1) == {"type": "atess_inverter", "channel": 1, "address": 1}
    dev.add("bcu_battery", 2, 247)
    dev.add("chint_dtsu666", 3, 100)
    assert [d["address"] for d in dev.list()] == [1, 247, 100]
    again = Devices(Settings(root, Log(echo=False)), MAPS)  # survives a restart
    assert again.list() == dev.list()
    assert dev.delete("bcu_battery", 2, 247)["address"] == 247
    assert [d["address"] for d in Devices(Settings(root, Log(echo=False)), MAPS).list()] == [1, 100]


def test_address_limits():
    dev, _ = _devices()
    for bad in (0, 248, -1, "5", 1.5, True):
        exc = raises(DeviceError, dev.add, "atess_inverter", 1, bad)
        assert exc.field == "address" and "1 to 247" in str(exc), (bad, str(exc))
    dev.add("atess_inverter", 1, 247)
    dev.add("atess_inverter", 1, 1)


def test_unknown_type_and_channel():
    dev, _ = _devices()
    exc = raises(DeviceError, dev.add, "pv_inverter", 1, 1)
    assert "unknown device type 'pv_inverter'; known: atess_inverter, bcu_battery" in str(exc), str(exc)
    for ch in (0, 4, "1"):
        assert "RS485-1, 2 or 3" in str(raises(DeviceError, dev.add, "atess_inverter", ch, 1))


def test_address_never_repeated_and_never_overwritten():
    dev, root = _devices()
    dev.add("atess_inverter", 1, 5)
    before = _raw(root)
    for type_, ch in (("bcu_battery", 1, ), ("atess_inverter", 1), ("mbms_battery", 3)):
        exc = raises(DeviceError, dev.add, type_, ch, 5)
        assert "address 5 is already used by the ATESS Inverter on RS485-1; delete that device first" in str(exc)
    assert _raw(root) == before
    assert dev.list() == [{"type": "atess_inverter", "channel": 1, "address": 5}]


def test_twenty_per_channel_sixty_in_all():
    dev, root = _devices()
    for ch in (1, 2, 3):
        for i in range(20):
            dev.add("atess_inverter", ch, (ch - 1) * 20 + i + 1)
    assert len(dev.list()) == 60
    before = _raw(root)
    exc = raises(DeviceError, dev.add, "atess_inverter", 2, 200)
    assert "RS485-2 already has 20 devices" in str(exc), str(exc)
    assert _raw(root) == before
    dev.delete("atess_inverter", 3, 60)
    dev.add("eastron_sdm630", 3, 200)  # room again on RS485-3
    assert len(dev.list()) == 60


def test_delete_needs_what_was_added():
    dev, root = _devices()
    dev.add("bcu_battery", 2, 9)
    before = _raw(root)
    for args in (("mbms_battery", 2, 9), ("bcu_battery", 1, 9)):
        exc = raises(DeviceError, dev.delete, *args)
        assert "address 9 holds the BCU Battery on RS485-2; deleting needs the same type, channel and address" \
            in str(exc), str(exc)
    assert "no device at address 10" in str(raises(DeviceError, dev.delete, "bcu_battery", 2, 10))
    assert _raw(root) == before
    dev.delete("bcu_battery", 2, 9)
    assert dev.list() == []


def test_a_device_whose_map_is_gone_can_still_be_deleted():
    dev, _ = _devices()
    dev.settings.replace_devices([{"type": "retired_meter", "channel": 3, "address": 40}])
    assert "unknown device type" in str(raises(DeviceError, dev.add, "retired_meter", 3, 41))
    assert dev.delete("retired_meter", 3, 40)["type"] == "retired_meter"
    assert dev.list() == []


def test_one_set_of_rules_for_adding_and_for_a_whole_list_with_the_same_words_and_codes():
    from firmware.settings import SettingsError

    dev, root = _devices()
    dev.add("atess_inverter", 1, 5)
    for a in range(100, 120):  # RS485-2 full
        dev.add("bcu_battery", 2, a)
    cases = (  # (add args, the list entry it stands for, field, code, words)
        (("bcu_battery", 3, 5), "address", "duplicate", "address 5 is already used by the "),
        (("bcu_battery", 2, 200), "channel", "full", "RS485-2 already has 20 devices"),
        (("bcu_battery", 4, 9), "channel", "choice", "must be RS485-1, 2 or 3 (1, 2 or 3)"),
        (("bcu_battery", 1, 248), "address", "range", "must be a whole number from 1 to 247"),
    )
    before = _raw(root)
    for (type_, ch, addr), field, code, words in cases:
        added = raises(DeviceError, dev.add, type_, ch, addr)
        listed = raises(SettingsError, dev.settings.replace_devices,
                        dev.list() + [{"type": type_, "channel": ch, "address": addr}])
        assert isinstance(listed, DeviceError) and (added.code, listed.code) == (code, code), (added, listed)
        assert added.field == field and listed.field == "devices[21].%s" % field, (added.field, listed.field)
        assert words in added.message and words in listed.message, (added.message, listed.message)
        if code == "duplicate":  # adding names the type in words; a whole list sent names it as sent
            assert "the ATESS Inverter on RS485-1" in added.message and "the atess_inverter on" in listed.message
    assert _raw(root) == before
    assert raises(DeviceError, dev.delete, "bcu_battery", 1, 5).code == "mismatch"
    assert raises(DeviceError, dev.delete, "bcu_battery", 1, 6).code == "not_found"
    assert raises(DeviceError, dev.add, "pv_inverter", 1, 6).code == "unknown_type"
