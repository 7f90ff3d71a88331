"""The file store: format, integrity, and a power cut at every step of a save."""

import os

from support import raises, read, tmpdir

from firmware.log import Log
from firmware.settings import Settings, defaults
from firmware.store import Store, StoreError, decode, dumps, encode

_QUIET = Log(size=8, echo=False)
_NAMES = ("settings.json", "settings.bak", "settings.tmp")


def _put(root, files):
    """Makes the folder hold exactly ``files`` (name -> bytes; None = absent)."""
    for name in _NAMES:
        path = root + "/" + name
        try:
            os.remove(path)
        except OSError:
            pass
        if files.get(name) is not None:
            with open(path, "wb") as f:
                f.write(files[name])


def _files(root):
    return {name: read(root + "/" + name) for name in _NAMES}


def test_format_is_the_same_bytes_on_both_runtimes():
    raw = encode(2, {"b": [1, True, None], "a": {"y": "x", "x": 300}})
    body = b'{"a":{"x":300,"y":"x"},"b":[1,true,null]}'
    assert raw.endswith(b"\n" + body), raw
    head = raw.split(b"\n")[0].split(b" ")
    assert head[:3] == [b"ENERLOG", b"2", str(len(body)).encode()], head
    # SHA-256 over "ENERLOG 2 <len>\n<body>", computed once on CPython.
    assert head[3] == b"8384543b28731f89ee9cbca6707aa509d3cd88d25ea69855b0cdc8ba1e86a32c", head[3]
    assert decode(raw) == (2, {"a": {"x": 300, "y": "x"}, "b": [1, True, None]})
    assert dumps({"k": ["a", 1]}) == '{"k":["a",1]}'


def test_any_truncation_or_flipped_byte_is_detected():
    raw = encode(2, {"network": {"ip": "192.168.0.254"}, "n": 1})
    for k in range(len(raw)):
        raises(StoreError, decode, raw[:k])
    for i in range(0, len(raw), 7):
        bad = bytearray(raw)
        bad[i] ^= 0x01
        raises(StoreError, decode, bytes(bad))


def test_save_keeps_previous_copy_and_skips_unchanged_data():
    root = tmpdir() + "/flash/data"  # made on the first save
    store = Store(root, "rec")
    assert store.load() == ("missing", None, None)
    assert store.save(1, {"a": 1})
    assert store.save(1, {"a": 2})
    ino = os.stat(root + "/rec.json")[1]
    assert not store.save(1, {"a": 2})  # identical: the flash is not touched
    assert store.writes == 2 and os.stat(root + "/rec.json")[1] == ino
    assert decode(read(root + "/rec.bak")) == (1, {"a": 1})
    assert Store(root, "rec").load() == ("current", 1, {"a": 2})


def test_leftover_tmp_is_ignored_and_bad_current_never_replaces_good_previous():
    root = tmpdir()
    store = Store(root, "rec")
    store.save(1, {"a": 1})
    store.save(1, {"a": 2})
    with open(root + "/rec.tmp", "wb") as f:
        f.write(encode(1, {"a": 99}))  # a finished write whose rename never happened
    with open(root + "/rec.json", "wb") as f:
        f.write(b"ENERLOG 1 7 00\n{\"a\":")  # damaged current copy
    store = Store(root, "rec")
    assert store.load() == ("previous", 1, {"a": 1})
    store.save(1, {"a": 3})
    assert decode(read(root + "/rec.bak")) == (1, {"a": 1}), "the good previous copy was replaced"
    assert Store(root, "rec").load() == ("current", 1, {"a": 3})


class Cut(Exception):
    """The power went off."""


class CutStore(Store):
    """A store whose power fails after ``budget`` units: one per byte written, one per rename."""

    budget = None
    renames = 0

    def _write(self, path, head, body):
        raw = head + b"".join(body)
        if self.budget is not None:
            if self.budget < len(raw):
                with open(path, "wb") as f:
                    f.write(raw[: self.budget])  # what reached the flash
                raise Cut()
            self.budget -= len(raw)
        super()._write(path, head, [raw[len(head):]])

    def _rename(self, src, dst):
        if self.budget is not None:
            if self.budget == 0:
                raise Cut()
            self.budget -= 1
        super()._rename(src, dst)
        self.renames += 1


def _check(root, old, new, old_is_defaults):
    """Loads as a restart would; the result must be exactly the old or the new settings."""
    s = Settings(root, log=_QUIET)
    if s.data == new:
        assert s.status == "ok", s.status
        return
    if old_is_defaults:
        assert s.status.startswith("defaults: "), s.status
        expected = defaults()
        # A first save cut short leaves an unreadable file: the defaults, and the notice saying so.
        expected["login"]["defaults_restored"] = s.status == "defaults: stored settings unreadable"
        assert s.data == expected, "neither old (defaults) nor new"
        return
    assert s.data == old, "neither old nor new settings after a power cut (status %s)" % s.status
    assert not s.status.startswith("defaults"), "defaults while a good copy exists"


def _cut_every_step(root, before, section, change, old_is_defaults=False):
    """Replays ``update(section, change)`` from the folder state ``before`` with the power cut
    after every byte and before every rename, then cuts the finished file at every length.
    Returns the number of cuts tried."""
    _put(root, before)
    old = Settings(root, log=_QUIET).data
    s = Settings(root, log=_QUIET)
    s.update(section, change)
    new = s.data
    cuts, budget = 0, 0
    while True:
        _put(root, before)
        store = CutStore(root, "settings")
        s = Settings(root, log=_QUIET, store=store)
        store.budget = budget
        try:
            s.update(section, change)
            finished = True
        except Cut:
            finished = False
        cuts += 1  # the finished run stands for a cut just after the last rename
        _check(root, old, new, old_is_defaults)
        if finished:
            break
        budget += 1
    raw = read(root + "/settings.json")
    size, renames = len(raw), store.renames
    assert budget == size + renames, (budget, size, renames)  # every byte and rename was a cut point
    after = _files(root)
    for k in range(size):  # the finished file losing its tail (as on a non-atomic filesystem)
        files = dict(after)
        files["settings.json"] = raw[:k]
        _put(root, files)
        _check(root, old, new, old_is_defaults)
        cuts += 1
    assert cuts == 2 * size + renames + 1, cuts
    return cuts


def test_power_cut_at_every_byte_and_rename_of_a_save():
    root = tmpdir()
    s = Settings(root, log=_QUIET)
    s.update("server", {"host": "mqtt.example.org"})  # P
    p_files = _files(root)
    s.update("network", {"dhcp": False, "ip": "192.168.0.20"})  # O; P becomes the previous copy
    op_files = _files(root)
    assert op_files["settings.bak"] == p_files["settings.json"]
    total = 0
    # 1. current O and previous P: the usual save (tmp, current -> previous, tmp -> current).
    total += _cut_every_step(root, op_files, "rs485_2", {"baud": 19200})
    # 2. current O only (the first change ever saved).
    total += _cut_every_step(root, p_files, "button", {"restart_s": 3})
    # 3. current damaged, previous P good: the save must not rename the damaged file over P.
    broken = dict(op_files)
    broken["settings.json"] = op_files["settings.json"][:100]
    total += _cut_every_step(root, broken, "clock", {"ntp_server": "time.example.org"})
    # 4. nothing stored yet: defaults until the new file is complete.
    total += _cut_every_step(root, {}, "server", {"upload_interval_s": 60}, old_is_defaults=True)
    print("power cuts tried: %d" % total)
    assert total > 4 * 1000, total
