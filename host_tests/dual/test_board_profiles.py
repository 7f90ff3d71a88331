from support import raises

from firmware.board import ProfileError, load_profile
from firmware.hw import LED_NAMES

PROFILES = ("pc", "waveshare-esp32-s3-eth", "lilygo-t-eth-lite-s3")


def test_every_profile_loads_and_is_complete():
    for name in PROFILES:
        p = load_profile(name)
        assert [ch["channel"] for ch in p["rs485"]] == [1, 2, 3], name
        assert sorted(p["leds"]) == sorted(LED_NAMES), name
        assert p["adapter"] in ("pc", "esp32"), name


def test_esp32_profiles_use_distinct_pins_and_keep_the_bus_off_the_console():
    for name in PROFILES[1:]:
        p = load_profile(name)
        pins = [p["button"]["pin"]] + list(p["leds"].values())
        for ch in p["rs485"]:
            pins += [ch["tx"], ch["rx"], ch["de"]]
            # GPIO43/44 carry the ROM's boot messages and the stock REPL (platform.md).
            assert ch["tx"] not in (43, 44) and ch["rx"] not in (43, 44), (name, ch)
        eth = p["ethernet"]
        pins += [eth[k] for k in ("sck", "mosi", "miso", "cs", "int", "reset")]
        assert len(pins) == len(set(pins)), (name, sorted(pins))
        assert sorted(ch["uart"] for ch in p["rs485"]) == [0, 1, 2], name


def test_pc_profile_listens_on_8080_loopback():
    p = load_profile("pc")
    assert p["http"] == {"host": "127.0.0.1", "port": 8080}


def test_unknown_profile_is_a_clear_error():
    exc = raises(ProfileError, load_profile, "no-such-board")
    assert "no board profile 'no-such-board'" in str(exc), str(exc)
