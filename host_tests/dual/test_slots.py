"""Firmware slots (bootslots.py, firmware/upgrade.py): start choice, trial counting, rollback,
the state file under power cuts and corruption, verification, streamed installs, health checks."""

import hashlib
import json
import os
import sys

from support import read, tmpdir

import bootslots
from firmware import upgrade

_NAMES = ("slots.json", "slots.bak", "slots.tmp")


def _hex(data):
    return "".join("%02x" % b for b in hashlib.sha256(data).digest())


def _bundle_files(version):
    """(manifest bytes, {path: bytes}) of a small bundle."""
    files = {
        "firmware/__init__.mpy": ("VERSION %s" % version).encode(),
        "firmware/app.mpy": bytes(range(256)) * 9,
        "lib/microdot/microdot.mpy": b"\x03" * 1500 + b"end",
        "main.py": b"# start-up\n",
    }
    entries = [{"path": p, "size": len(d), "sha256": _hex(d)} for p, d in sorted(files.items())]
    m = {"version": version, "march": "bytecode", "bootstrap": ["main.py"], "files": entries}
    return json.dumps(m).encode(), files


def _install(root, slot, version):
    raw, files = _bundle_files(version)
    d = bootslots.slot_dir(root, slot)
    try:
        os.mkdir(d)
    except OSError:
        pass
    for p, data in files.items():
        if p == "main.py":
            continue
        parts = p.split("/")
        for i in range(1, len(parts)):
            try:
                os.mkdir(d + "/" + "/".join(parts[:i]))
            except OSError:
                pass
        with open(d + "/" + p, "wb") as f:
            f.write(data)
    with open(d + "/manifest.json", "wb") as f:
        f.write(raw)


def _root():
    """A code filesystem with a flat install (0.1.0) and nothing in the slots."""
    root = tmpdir()
    _install(root, "", "0.1.0")
    _reset_module()
    return root


def _reset_module():
    bootslots.running, bootslots.on_trial = None, False


def _committed_a():
    """A code filesystem whose slot a holds 0.2.0, tried and committed."""
    root = _root()
    _install(root, "a", "0.2.0")
    bootslots.finish(root, "a")
    _start(root)
    bootslots.commit(root)
    return root


def _start(root):
    slot = bootslots.start(root)
    while sys.path and sys.path[0].startswith(root):
        sys.path.pop(0)
    return slot


def test_state_file_format_and_any_damage_is_detected():
    st = bootslots.fresh()
    st["trial"], st["boots"] = "b", 2
    raw = bootslots.encode(st)
    assert raw.startswith(b"SLOTS1 ") and bootslots.decode(raw) == st
    for k in range(len(raw)):
        assert bootslots.decode(raw[:k]) is None, k
    for i in range(0, len(raw), 5):
        bad = bytearray(raw)
        bad[i] ^= 0x10
        assert bootslots.decode(bytes(bad)) is None, i


def test_no_state_starts_the_flat_install_and_writes_nothing():
    root = _root()
    assert _start(root) == ""
    assert bootslots.running == "" and not bootslots.on_trial
    assert read(root + "/slots.json") is None and read(root + "/slots.bak") is None


def test_trial_gets_three_starts_then_rolls_back_with_the_reason():
    root = _root()
    _install(root, "a", "0.2.0")
    d = bootslots.begin(root, "a")  # empties the slot: install again
    assert d == root + "/slot_a"
    _install(root, "a", "0.2.0")
    assert bootslots.finish(root, "a") is None
    for n in (1, 2, 3):
        _reset_module()
        assert _start(root) == "a"
        assert bootslots.on_trial
        st, _ = bootslots.load(root)
        assert st["trial"] == "a" and st["boots"] == n, st
        bootslots.crashed(root, RuntimeError("broken %d" % n))
    _reset_module()
    assert _start(root) == ""  # the 4th start: back to the committed (flat) install
    assert not bootslots.on_trial
    st, source = bootslots.load(root)
    assert source == "current" and st["trial"] is None and st["active"] == ""
    assert "slot a (0.2.0)" in st["rollback"] and "3 starts" in st["rollback"], st["rollback"]
    assert "RuntimeError: broken 3" in st["rollback"], st["rollback"]
    assert "back to the flat install (0.1.0)" in st["rollback"], st["rollback"]
    assert st["invalid"]["a"] == st["rollback"]
    _reset_module()
    assert _start(root) == ""  # and stays there


def test_commit_makes_the_trial_the_committed_slot():
    root = _root()
    _install(root, "a", "0.2.0")
    assert bootslots.finish(root, "a") is None
    assert _start(root) == "a" and bootslots.on_trial
    assert bootslots.commit(root)
    assert not bootslots.on_trial
    assert not bootslots.commit(root)  # nothing left to commit
    st, _ = bootslots.load(root)
    assert st["active"] == "a" and st["trial"] is None and st["boots"] == 0
    assert bootslots.target(st) == "b"
    for _ in range(5):  # a committed slot is never counted
        _reset_module()
        assert _start(root) == "a" and not bootslots.on_trial
    # the next upgrade goes to b; a failed b goes back to a, not to the flat install
    _install(root, "b", "0.3.0")
    assert bootslots.finish(root, "b") is None
    for _ in range(3):
        _reset_module()
        assert _start(root) == "b"
    _reset_module()
    assert _start(root) == "a"
    st, _ = bootslots.load(root)
    assert "back to slot a (0.2.0)" in st["rollback"], st["rollback"]


def test_begin_refuses_the_committed_slot_and_clears_a_pending_trial():
    root = _committed_a()
    try:
        bootslots.begin(root, "a")
        raise AssertionError("begin on the committed slot")
    except ValueError:
        pass
    _install(root, "b", "0.3.0")
    bootslots.finish(root, "b")
    bootslots.begin(root, "b")  # a new install into the pending trial's slot
    st, _ = bootslots.load(root)
    assert st["trial"] is None and st["invalid"]["b"].startswith("installing"), st
    assert os.listdir(root + "/slot_b") == []
    _reset_module()
    assert _start(root) == "a"  # a half-installed slot never starts


def test_a_missing_slot_is_never_started():
    root = _root()
    _install(root, "a", "0.2.0")
    bootslots.finish(root, "a")
    os.remove(root + "/slot_a/manifest.json")
    assert _start(root) == ""
    st, _ = bootslots.load(root)
    assert "is missing" in st["rollback"] and st["trial"] is None, st
    # a committed slot that disappeared: the flat install starts
    st["active"] = "b"
    bootslots.save(root, st)
    _reset_module()
    assert _start(root) == ""
    assert "slot b is missing" in bootslots.load(root)[0]["rollback"]


def test_corrupted_state_uses_the_copy_then_the_flat_install():
    root = _committed_a()
    with open(root + "/slots.json", "wb") as f:
        f.write(b"SLOTS1 garbage\n{}")
    _reset_module()
    assert _start(root) == "a"  # from slots.bak
    assert bootslots.load(root)[1] == "current"  # and slots.json was repaired from the copy
    with open(root + "/slots.bak", "wb") as f:
        f.write(b"\x00" * 40)
    with open(root + "/slots.json", "wb") as f:
        f.write(b"")
    _reset_module()
    assert _start(root) == ""
    st, source = bootslots.load(root)
    assert source == "current" and "unreadable" in st["rollback"], (source, st)


def test_a_power_cut_at_any_point_of_a_save_leaves_the_old_or_the_new_state():
    root = _root()
    old = bootslots.fresh()
    old["active"] = "a"
    new = bootslots.fresh()
    new["active"], new["trial"], new["boots"] = "a", "b", 1
    raw_new = bootslots.encode(new)
    write, rename = bootslots._write, bootslots._rename

    class Cut(Exception):
        pass

    cuts = 0
    try:
        for step in range(2):  # the .json, then the .bak
            for k in list(range(0, len(raw_new), 9)) + [len(raw_new), -1]:
                for name in _NAMES:
                    try:
                        os.remove(root + "/" + name)
                    except OSError:
                        pass
                bootslots._write, bootslots._rename = write, rename
                bootslots.save(root, old)
                calls = [0]

                def cut_write(p, raw, k=k, step=step, calls=calls):
                    calls[0] += 1
                    if calls[0] == step + 1 and k >= 0:
                        write(p, raw[:k])  # the power goes after k bytes
                        raise Cut()
                    write(p, raw)

                def cut_rename(src, dst, k=k, step=step, calls=calls):
                    rename(src, dst)
                    if calls[0] == step + 1 and k < 0:
                        raise Cut()  # the power goes right after this rename

                bootslots._write, bootslots._rename = cut_write, cut_rename
                try:
                    bootslots.save(root, new)
                except Cut:
                    cuts += 1
                bootslots._write, bootslots._rename = write, rename
                st, source = bootslots.load(root)
                assert source in ("current", "previous"), (step, k, source)
                assert st == old or st == new, (step, k, st)
                if step == 1:
                    assert st == new, (step, k)  # the .json was already complete
    finally:
        bootslots._write, bootslots._rename = write, rename
    assert cuts > 2 * len(raw_new) // 9


def test_verify_names_the_damaged_file():
    root = _root()
    _install(root, "a", "0.2.0")
    assert bootslots.verify(root, "a") is None
    p = root + "/slot_a/firmware/app.mpy"
    data = bytearray(read(p))
    data[100] ^= 1
    with open(p, "wb") as f:
        f.write(data)
    assert bootslots.verify(root, "a") == "firmware/app.mpy: SHA-256 does not match the manifest"
    with open(p, "wb") as f:
        f.write(data[:-1])
    assert bootslots.verify(root, "a") == "firmware/app.mpy: %d bytes, the manifest says %d" % (
        len(data) - 1, len(data))
    os.remove(p)
    assert bootslots.verify(root, "a") == "firmware/app.mpy: missing"
    assert bootslots.finish(root, "a") == "firmware/app.mpy: missing"
    st, _ = bootslots.load(root)
    assert st["trial"] is None and st["invalid"]["a"] == "firmware/app.mpy: missing"
    assert bootslots.verify(root, "b") == "manifest.json missing"


def test_manifest_paths_cannot_leave_the_slot():
    for bad in ("../boot.py", "/main.py", "firmware/../../x", "a//b", ".hidden", "firmware\\x.mpy", "", 7):
        m = {"version": "1", "files": [{"path": bad, "size": 1, "sha256": "0" * 64}]}
        assert "bad path" in bootslots.check_manifest(m), bad
    ok = {"version": "1", "files": [{"path": "firmware/x.mpy", "size": 1, "sha256": "0" * 64}]}
    assert bootslots.check_manifest(ok) is None
    dup = {"version": "1", "files": ok["files"] * 2}
    assert "duplicate" in bootslots.check_manifest(dup)
    assert "version and files" in bootslots.check_manifest({"files": []})
    arch = bootslots.device_arch()
    other = "xtensawin" if arch != "xtensawin" else "x64"
    built = {"version": "1", "march": other, "files": []}
    if arch:  # MicroPython: a bundle for another chip is refused
        assert bootslots.check_manifest(built) == "manifest: built for %s, this board runs %s" % (other, arch)
    else:  # CPython runs no .mpy
        assert bootslots.check_manifest(built) is None
    # A build for a frozen image has data only: installed in a slot, its firmware/ folder would
    # hide the frozen code and the slot could not start.
    frozen = {"version": "1", "frozen": ["firmware", "lib"], "files": ok["files"]}
    assert "frozen image" in bootslots.check_manifest(frozen)


class _Stream:
    """A request body arriving in pieces of ``chunk`` bytes."""

    def __init__(self, data, chunk=700):
        self.data = data
        self.pos = 0
        self.chunk = chunk
        self.reads = 0

    async def read(self, n):
        self.reads += 1
        out = self.data[self.pos : self.pos + min(n, self.chunk)]
        self.pos += len(out)
        return out


def _bundle(version="0.2.0", damage=None):
    raw, files = _bundle_files(version)

    def content(p):
        data = files[p]
        if p == damage:
            data = data[:10] + bytes([data[10] ^ 0xFF]) + data[11:]
        return data

    return b"".join(upgrade.pack(raw, content))


async def _try(root, data, length=None):
    s = _Stream(data)
    try:
        m = await upgrade.install(s.read, len(data) if length is None else length, root, "a")
        return m, s
    except upgrade.UpgradeError as e:
        return e, s


async def test_a_streamed_bundle_is_installed_and_becomes_the_trial():
    root = _root()
    data = _bundle()
    assert data.startswith(b"ENERLOG-BUNDLE 1 ")
    m, s = await _try(root, data)
    assert m["version"] == "0.2.0", m
    assert s.pos == len(data) and s.reads > len(data) // upgrade.CHUNK
    assert read(root + "/slot_a/firmware/app.mpy") == bytes(range(256)) * 9
    assert read(root + "/slot_a/main.py") is None  # start-up files never go into a slot
    st, _ = bootslots.load(root)
    assert st["trial"] == "a" and "a" not in st["invalid"], st
    assert _start(root) == "a"


async def test_bad_bundles_are_refused_with_the_reason():
    root = _root()
    good = _bundle()
    # truncated: refused before the slot is touched
    e, s = await _try(root, good[:-100])
    assert isinstance(e, upgrade.UpgradeError) and e.status == 400
    assert e.message.startswith("the upgrade file is incomplete: %d of its" % (len(good) - 100)), e.message
    assert s.pos == len(good) - 100  # the rest of the body was read (drained)
    assert read(root + "/slots.json") is None
    # a body shorter than its Content-Length (the connection dropped): the slot is marked invalid
    e, _ = await _try(root, good[:-100], length=len(good))
    assert "bundle truncated in lib/microdot/microdot.mpy (100 bytes missing)" == e.message, e.message
    assert bootslots.load(root)[0]["invalid"]["a"] == e.message
    # one damaged file
    e, _ = await _try(root, _bundle(damage="firmware/app.mpy"))
    assert e.message == "firmware/app.mpy: SHA-256 does not match the manifest", e.message
    st, _ = bootslots.load(root)
    assert st["trial"] is None and st["invalid"]["a"] == e.message
    # not a bundle at all, and a bad manifest
    e, _ = await _try(root, b"PK\x03\x04" + b"\x00" * 300)
    assert "not an EnerLog bundle" in e.message
    e, _ = await _try(root, b"ENERLOG-BUNDLE 1 5\n{nope")
    assert e.message == "the bundle's manifest is not valid JSON"
    evil = json.dumps({"version": "9", "files": [{"path": "../main.py", "size": 1, "sha256": "0" * 64}]})
    e, _ = await _try(root, b"ENERLOG-BUNDLE 1 %d\n%s!" % (len(evil), evil.encode()))
    assert "bad path '../main.py'" in e.message, e.message
    _reset_module()
    assert _start(root) == ""  # the running version stays


def test_health_checks_and_settling():
    tasks = {"web": (True, 0), "poller-1": (True, 0), "poller-2": (True, 0), "leds": (False, 3)}
    assert upgrade.Health.reasons(tasks, True, []) == []  # leds is not a required task
    assert upgrade.Health.reasons(tasks, False, []) == ["the web server has not answered yet"]
    tasks["uplink"] = (True, 1)
    assert upgrade.Health.reasons(tasks, True, []) == ["task uplink restarted"]
    tasks["uplink"] = (False, 0)
    tasks["poller-2"] = (False, 0)
    assert upgrade.Health.reasons(tasks, True, ["poller-1"]) == [
        "task poller-2 is not running", "task uplink is not running", "task poller-1 is late"]
    assert upgrade.Health.reasons({"web": (True, 0)}, True, []) == ["no poller tasks"]
    h = upgrade.Health()
    h.settle_ms = 1000
    assert not h.step(0, [])
    assert not h.step(999, [])
    assert not h.step(1000, ["x"])  # a break starts the wait again
    assert not h.step(1500, [])
    assert not h.step(2499, [])
    assert h.step(2500, [])


def test_a_frozen_install_is_found_behind_its_data_folder():
    # An image with the firmware frozen in keeps only data in firmware/ (maps, page, profiles):
    # that folder must not hide the frozen package, so .frozen goes first. Code on the filesystem
    # (a flat .mpy install) still wins over what is frozen.
    root = tmpdir()
    os.mkdir(root + "/firmware")
    with open(root + "/firmware/pc.json", "w") as f:
        f.write("{}")
    assert bootslots.frozen_only(root, frozen=True)
    assert not bootslots.frozen_only(root, frozen=False)
    with open(root + "/firmware/__init__.mpy", "wb") as f:
        f.write(b"M")
    assert not bootslots.frozen_only(root, frozen=True)
    # This interpreter has no frozen firmware (the test imports the source): nothing moves, and
    # the firmware package already imported stays the one in use.
    before = sys.modules["firmware"]
    assert not bootslots._frozen_firmware()
    assert sys.modules["firmware"] is before
