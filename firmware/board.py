"""Board profiles (data in ``firmware/boards/*.json``) and opening the board they describe."""

import json
import sys

from firmware.hw import LED_NAMES

DEFAULT_ESP32 = "waveshare-esp32-s3-eth"
_BOARD_FILE = "/board.txt"  # on the board: the profile name, one line; absent means the default


class ProfileError(ValueError):
    pass


def _dir():
    return __file__.rsplit("/", 1)[0] + "/boards"


def load_profile(name):
    """The profile ``name`` as a dict, checked for what every adapter needs."""
    try:
        with open("%s/%s.json" % (_dir(), name)) as f:
            profile = json.load(f)
    except OSError:
        raise ProfileError("no board profile %r" % name)
    except ValueError as exc:
        raise ProfileError("board profile %r is not valid JSON: %s" % (name, exc))
    for key in ("name", "adapter", "http", "rs485", "leds", "button"):
        if key not in profile:
            raise ProfileError("board profile %r lacks %r" % (name, key))
    if [ch.get("channel") for ch in profile["rs485"]] != [1, 2, 3]:
        raise ProfileError("board profile %r must list RS485 channels 1, 2, 3 in order" % name)
    for led in LED_NAMES:
        if led not in profile["leds"]:
            raise ProfileError("board profile %r lacks LED %r" % (name, led))
    return profile


def default_profile_name():
    if sys.platform in ("linux", "darwin"):
        return "pc"
    try:
        with open(_BOARD_FILE) as f:
            return f.read().strip() or DEFAULT_ESP32
    except OSError:
        return DEFAULT_ESP32


def open_board(name=None, **kwargs):
    """Builds the board of profile ``name`` with its adapter (``pc`` or ``esp32``)."""
    profile = load_profile(name or default_profile_name())
    if profile["adapter"] == "pc":
        from firmware.hw import pc as adapter
    elif profile["adapter"] == "esp32":
        from firmware.hw import esp32 as adapter  # type: ignore[no-redef]
    else:
        raise ProfileError("unknown adapter %r" % profile["adapter"])
    return adapter.Board(profile, **kwargs)
