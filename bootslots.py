"""Firmware slots: which copy of the firmware starts, trial boots, rollback, verification.

Part of the unchanging start-up (with boot.py and main.py): it lives outside the slots and an
upgrade never replaces it, so it must stay small. Pure file logic: no hardware imports.

The code filesystem (the board's "/", the unix-port board's working folder) holds:

- ``firmware/``, ``lib/``, ``manifest.json``: the flat install ``make flash`` copies ("flat");
- ``slot_a/``, ``slot_b/``: two application slots, each a whole bundle (firmware/, lib/,
  manifest.json);
- ``slots.json`` (+ ``slots.bak``, its copy): the state, written atomically (``.tmp`` then rename).

State: ``active`` (the committed slot: "" = flat, "a", "b"), ``trial`` (a verified slot being
tried, or None), ``boots`` (starts of the trial so far), ``error`` (the trial's last start-up
error), ``rollback`` (the last rollback's reason), ``invalid`` ({slot: why it must not start}).

At each start ``start()`` picks the trial while it has had fewer than ``MAX_BOOTS`` starts
(counting this one), else rolls back to ``active`` and records why. The firmware calls
``commit()`` once its health checks pass. Settings, identity and the upload queue live in the
data folder (``/data`` on the board), outside the slots, so both directions keep them.
"""

import binascii
import hashlib
import json
import os
import sys

MAX_BOOTS = 3  # starts a trial gets; the next start goes back to the committed slot
SLOTS = ("a", "b")
STATE = "slots"  # slots.json, slots.bak, slots.tmp
_MAGIC = b"SLOTS1 "
_MAX_MANIFEST = 32768
_MAX_FILES = 400
_ARCHS = ("bytecode", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
          "xtensa", "xtensawin", "rv32imc", "rv64imc")  # index = the arch field of sys.implementation._mpy

running = None  # the slot this start runs ("" flat, "a", "b"); None when start() did not run
on_trial = False  # True when the running slot is a trial, not yet committed


def path(root, name):
    return root + "/" + name if root else name


def slot_dir(root, slot):
    """The folder of ``slot`` ("" is the flat install: the root itself)."""
    return path(root, "slot_" + slot) if slot else root


def fresh():
    return {"active": "", "trial": None, "boots": 0, "error": None, "rollback": None, "invalid": {}}


# --- the state file ---------------------------------------------------------------------------


def _digest(body):
    return binascii.hexlify(hashlib.sha256(body).digest())


def encode(state):
    body = json.dumps(state).encode()
    return _MAGIC + _digest(body) + b"\n" + body


def decode(raw):
    """The state in ``raw``, or None when it is not a complete, intact state file."""
    nl = raw.find(b"\n")
    if nl != len(_MAGIC) + 64 or not raw.startswith(_MAGIC):
        return None
    body = raw[nl + 1 :]
    if _digest(body) != raw[len(_MAGIC) : nl]:
        return None
    try:
        st = json.loads(body)
    except ValueError:
        return None
    if not isinstance(st, dict):
        return None
    out = fresh()
    out.update(st)
    return out


def _read(p):
    try:
        with open(p, "rb") as f:
            return f.read(4096)
    except OSError:
        return None


def load(root=""):
    """``(state, source)``: source is "current", "previous" (the copy), "missing" or "unreadable"."""
    found = False
    for name, source in ((".json", "current"), (".bak", "previous")):
        raw = _read(path(root, STATE + name))
        if raw is None:
            continue
        found = True
        st = decode(raw)
        if st is not None:
            return st, source
    return fresh(), ("unreadable" if found else "missing")


# The two file operations of a save, apart so a test can cut the power between any two bytes.


def _write(p, raw):
    with open(p, "wb") as f:
        f.write(raw)
        f.flush()


def _rename(src, dst):
    os.rename(src, dst)


def save(root, state):
    """Writes the state and then its copy, each as ``.tmp`` renamed over the target (atomic on
    LittleFS and POSIX): a power cut leaves each file whole, old or new, and ``.json`` is never
    older than ``.bak``."""
    raw = encode(state)
    tmp = path(root, STATE + ".tmp")
    for name in (".json", ".bak"):
        _write(tmp, raw)
        _rename(tmp, path(root, STATE + name))


# --- choosing at start ------------------------------------------------------------------------


def present(root, slot):
    """True when ``slot`` holds an install (the flat one always counts: it may be frozen in)."""
    if not slot:
        return True
    try:
        os.stat(path(slot_dir(root, slot), "manifest.json"))
        return True
    except OSError:
        return False


def frozen_only(root, frozen=None):
    """True when the flat install's code is frozen into the interpreter (an image built with
    ``firmware/boards/*/manifest.py``), not on the filesystem. Its ``firmware/`` folder then holds
    only data (maps, page, profiles) and, being first on sys.path, would hide the frozen package:
    the caller puts ``.frozen`` first. ``frozen``: whether the frozen package exists (a test's)."""
    for name in ("__init__.mpy", "__init__.py"):
        try:
            os.stat(path(root, "firmware/" + name))
            return False
        except OSError:
            pass
    return _frozen_firmware() if frozen is None else frozen


def _frozen_firmware():
    """True when the interpreter has a frozen ``firmware`` package (it is then imported)."""
    if ".frozen" not in sys.path:
        return False
    saved, loaded = sys.path[:], sys.modules.pop("firmware", None)
    sys.path[:] = [".frozen"]
    try:
        __import__("firmware")
        return True
    except ImportError:
        return False
    finally:
        sys.path[:] = saved
        if loaded is not None:  # the caller had imported one already: it stays
            sys.modules["firmware"] = loaded


def version(root, slot):
    """The version in ``slot``'s manifest, or None."""
    try:
        with open(path(slot_dir(root, slot), "manifest.json")) as f:
            return json.load(f).get("version")
    except (OSError, ValueError, AttributeError):
        return None


def name(slot):
    return "slot " + slot if slot else "the flat install"


def choose(state, source, is_present, version_of=lambda s: None):
    """Pure decision of one start: ``(slot to run, on trial, state changed)``; updates ``state``."""
    changed = source == "previous"  # the current file is damaged: write it again from the copy
    if source == "unreadable":
        state["rollback"] = "slot state unreadable: started the flat install"
        return "", False, True
    trial = state["trial"]
    if trial:
        if state["boots"] < MAX_BOOTS and is_present(trial):
            state["boots"] += 1
            return trial, True, True
        why = ("did not pass its health checks in %d starts" % state["boots"]) if is_present(trial) \
            else "is missing"
        if state["error"]:
            why += " (last error: %s)" % state["error"]
        back = state["active"] if is_present(state["active"]) else ""
        state["rollback"] = "%s (%s) %s; back to %s (%s)" % (
            name(trial), version_of(trial), why, name(back), version_of(back))
        state["invalid"][trial] = state["rollback"]
        state["trial"], state["boots"], state["error"], state["active"] = None, 0, None, back
        changed = True
    if not is_present(state["active"]):
        state["rollback"] = "%s is missing: started the flat install" % name(state["active"])
        state["active"] = ""
        changed = True
    return state["active"], False, changed


def start(root=""):
    """Picks the slot for this start, counts a trial's starts, puts the slot first on sys.path.

    Never raises: whatever goes wrong here, the committed (or the flat) firmware still starts.
    """
    global running, on_trial
    st, source = load(root)
    try:
        slot, trial, changed = choose(st, source, lambda s: present(root, s), lambda s: version(root, s))
        if changed:
            save(root, st)
    except Exception as exc:  # a full or failing flash: start what is committed, without counting
        print("start: slot state not saved: %r" % exc)
        slot, trial = (st["active"] if present(root, st["active"]) else ""), False
    running, on_trial = slot, trial
    if slot:
        d = slot_dir(root, slot)
        sys.path.insert(0, d + "/lib")
        sys.path.insert(0, d)
    else:
        try:
            if frozen_only(root):
                sys.path.remove(".frozen")
                sys.path.insert(0, ".frozen")
        except Exception as exc:  # e.g. no memory for the probe: the filesystem's order stands
            print("start: frozen firmware not checked: %r" % exc)
    print("start: %s%s" % (name(slot), " (trial, start %d of %d)" % (st["boots"], MAX_BOOTS) if trial else ""))
    return slot


def crashed(root, exc):
    """The firmware failed to start (``exc``): records it for a trial; the caller resets."""
    if not on_trial:
        return
    st, _ = load(root)
    if st["trial"] == running:
        st["error"] = ("%s: %s" % (type(exc).__name__, exc))[:200]
        save(root, st)


def commit(root=""):
    """The running trial passed its health checks: it becomes the committed slot."""
    global on_trial
    st, _ = load(root)
    if not running or st["trial"] != running:
        return False
    st["active"], st["trial"], st["boots"], st["error"] = running, None, 0, None
    st["invalid"].pop(running, None)
    save(root, st)
    on_trial = False
    return True


# --- installing into the inactive slot ----------------------------------------------------------


def target(state):
    """The slot an upgrade installs into: the one not committed."""
    return "b" if state["active"] == "a" else "a"


def begin(root, slot):
    """Makes ``slot`` an empty folder marked invalid ("installing") until ``finish``."""
    st, _ = load(root)
    if slot not in SLOTS or slot == st["active"]:
        raise ValueError("slot %s is the committed firmware" % slot)
    if st["trial"] == slot:
        st["trial"], st["boots"], st["error"] = None, 0, None
    st["invalid"][slot] = "installing (not finished)"
    save(root, st)
    d = slot_dir(root, slot)
    _rmtree(d)
    os.mkdir(d)
    return d


def finish(root, slot, error=None):
    """After the copy: ``verify``, then mark ``slot`` as the trial (or invalid, with the reason).

    Returns the error (None when the slot is now the trial).
    """
    if error is None:
        error = verify(root, slot)
    st, _ = load(root)
    if error:
        st["invalid"][slot] = error
    else:
        st["invalid"].pop(slot, None)
        st["trial"], st["boots"], st["error"] = slot, 0, None
    save(root, st)
    return error


def _rmtree(d):
    try:
        entries = list(os.ilistdir(d)) if hasattr(os, "ilistdir") else [
            (e.name, 0x4000 if e.is_dir() else 0x8000) for e in os.scandir(d)]
    except OSError:
        return
    for e in entries:
        p = d + "/" + e[0]
        if e[1] & 0x4000:
            _rmtree(p)
        else:
            os.remove(p)
    os.rmdir(d)


# --- verification ---------------------------------------------------------------------------


def device_arch():
    """The native-code architecture this interpreter runs (mpy-cross's -march name), or None."""
    mpy = getattr(sys.implementation, "_mpy", None)
    if mpy is None:
        return None
    arch = (mpy >> 10) & 0xF
    return _ARCHS[arch] if arch < len(_ARCHS) else None


def check_path(p):
    """An error when manifest path ``p`` could leave the slot or is not a plain relative path."""
    if not isinstance(p, str) or not p or len(p) > 120 or p.startswith("/") or "\\" in p or "//" in p:
        return "bad path %r" % (p,)
    for part in p.split("/"):
        if part in ("", ".", "..") or part.startswith("."):
            return "bad path %r" % (p,)
    return None


def check_manifest(m):
    """An error naming what is wrong with manifest ``m``, or None; also checks the architecture."""
    if not isinstance(m, dict) or not isinstance(m.get("version"), str) or not isinstance(m.get("files"), list):
        return "manifest: version and files are required"
    if len(m["files"]) > _MAX_FILES:
        return "manifest: more than %d files" % _MAX_FILES
    arch = device_arch()
    march = m.get("march", "bytecode")
    if arch and march not in ("bytecode", arch):
        return "manifest: built for %s, this board runs %s" % (march, arch)
    if m.get("frozen"):
        return "manifest: a build for a frozen image (tools/build.py --frozen) has no code to install"
    seen = {}
    for f in m["files"]:
        if not isinstance(f, dict) or not isinstance(f.get("size"), int) or f["size"] < 0 \
                or not isinstance(f.get("sha256"), str) or len(f["sha256"]) != 64:
            return "manifest: each file needs path, size and sha256"
        err = check_path(f.get("path"))
        if err or f["path"] in seen or f["path"] == "manifest.json":
            return "manifest: %s" % (err or "duplicate path %r" % f["path"])
        seen[f["path"]] = 1
    for p in m.get("bootstrap", ()):
        if p not in seen:
            return "manifest: bootstrap file %r not listed" % (p,)
    return None


def slot_files(m):
    """The manifest's entries that belong in a slot (not the start-up files), in order."""
    skip = m.get("bootstrap", ())
    return [f for f in m["files"] if f["path"] not in skip]


def read_manifest(d):
    """``(manifest, error)`` of the manifest.json in folder ``d``."""
    try:
        with open(path(d, "manifest.json"), "rb") as f:
            raw = f.read(_MAX_MANIFEST + 1)
    except OSError:
        return None, "manifest.json missing"
    if len(raw) > _MAX_MANIFEST:
        return None, "manifest.json larger than %d bytes" % _MAX_MANIFEST
    try:
        m = json.loads(raw)
    except ValueError:
        return None, "manifest.json is not valid JSON"
    return m, check_manifest(m)


def verify(root, slot):
    """Checks every file of ``slot`` against its manifest (size, SHA-256 computed here): the
    first problem, naming the file, or None when the slot is complete and intact."""
    d = slot_dir(root, slot)
    m, err = read_manifest(d)
    if err:
        return err
    buf = bytearray(1024)
    mv = memoryview(buf)
    for f in slot_files(m):
        h = hashlib.sha256()
        size = 0
        try:
            with open(path(d, f["path"]), "rb") as src:
                while True:
                    n = src.readinto(buf)
                    if not n:
                        break
                    size += n
                    h.update(mv[:n])
        except OSError:
            return "%s: missing" % f["path"]
        if size != f["size"]:
            return "%s: %d bytes, the manifest says %d" % (f["path"], size, f["size"])
        if binascii.hexlify(h.digest()).decode() != f["sha256"]:
            return "%s: SHA-256 does not match the manifest" % f["path"]
    return None


def info(root=""):
    """What the pages and tools show: the state plus each install's version."""
    st, source = load(root)
    st["state_file"] = source
    st["running"] = running
    st["on_trial"] = on_trial
    st["versions"] = {s or "flat": version(root, s) for s in ("",) + SLOTS}
    return st
