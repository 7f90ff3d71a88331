"""Atomic, checksummed JSON file store that keeps the previous good copy.

Files for ``Store(root, "settings")``: ``settings.json`` (current), ``settings.bak`` (previous good
copy), ``settings.tmp`` (a save in progress; never read). Each file is one header line and a body:

    ENERLOG <version> <body length> <sha256 hex>\\n<canonical JSON body>

The SHA-256 covers the file with the `` <sha256 hex>`` field left out, i.e. the version, the length
and the body: a half-written, truncated or bit-flipped file fails it.

Save, so that a power cut at any point leaves a good copy (LittleFS renames atomically and
replaces the target; ``flush`` then ``close`` commits a file, there is no ``fsync``):

1. write the new content to ``.tmp``, flush, close;
2. only if ``.json`` is known good: rename ``.json`` -> ``.bak`` (it becomes the previous copy);
3. rename ``.tmp`` -> ``.json``.

Load tries ``.json``, then ``.bak``. A cut in 1 leaves ``.json`` as it was; between 2 and 3 only
``.bak`` holds the old content; after 3 ``.json`` is new. Step 2 is skipped when ``.json`` is
corrupt or missing, so a bad current file never overwrites the good previous copy. Nothing is
written when the content is byte-identical to the current file (flash wear).
"""

import binascii
import hashlib
import json
import os

from micropython import const

MAGIC = "ENERLOG"
_MAX_SIZE = const(16384)  # a longer file is damage, not settings: never read it all into RAM


class StoreError(ValueError):
    """A file that is not a complete, intact store file."""


def pieces(obj):
    """``dumps(obj)`` in short pieces: a save never needs its whole text in one run of heap."""
    if isinstance(obj, dict):
        sep = "{"
        for k in sorted(obj):
            yield sep + json.dumps(k) + ":"
            sep = ","
            yield from pieces(obj[k])
        yield "}" if sep == "," else "{}"
    elif isinstance(obj, (list, tuple)):
        sep = "["
        for v in obj:
            yield sep
            sep = ","
            yield from pieces(v)
        yield "]" if sep == "," else "[]"
    else:
        yield json.dumps(obj)


def dumps(obj):
    """JSON with sorted keys and no spaces: the same bytes for the same data on both runtimes.

    MicroPython's dicts are unordered and its ``json.dumps`` has no ``sort_keys``. Strings are
    written by ``json.dumps``, which differs between the runtimes only for non-ASCII text.
    """
    return "".join(pieces(obj))


def _body(data, size=512):
    """The body's bytes in pieces of about ``size``."""
    out = []
    n = 0
    for p in pieces(data):
        out.append(p)
        n += len(p)
        if n >= size:
            yield "".join(out).encode()
            out = []
            n = 0
    if out:
        yield "".join(out).encode()


def _digest(head, body):
    h = hashlib.sha256(head)
    h.update(b"\n")
    for b in body:
        h.update(b)
    return binascii.hexlify(h.digest())


def header(version, data):
    """The first line of a store file: magic, version, body length and the body's SHA-256."""
    n = 0
    for b in _body(data):
        n += len(b)
    head = ("%s %d %d" % (MAGIC, version, n)).encode()
    return head + b" " + _digest(head, _body(data)) + b"\n"


def encode(version, data):
    """The bytes of a store file holding ``data`` at schema ``version``."""
    return b"".join([header(version, data)] + list(_body(data)))


def decode(raw):
    """(version, data) from the bytes of a store file; StoreError if it is not intact."""
    nl = raw.find(b"\n")
    parts = raw[:nl].split(b" ") if nl > 0 else ()
    if len(parts) != 4 or parts[0] != MAGIC.encode():
        raise StoreError("no header")
    body = raw[nl + 1 :]
    try:
        version, length = int(parts[1]), int(parts[2])
    except ValueError:
        raise StoreError("bad header")
    if length != len(body):
        raise StoreError("length %d, expected %d" % (len(body), length))
    if _digest(b" ".join(parts[:3]), (body,)) != parts[3]:
        raise StoreError("checksum mismatch")
    try:
        return version, json.loads(body)
    except ValueError:
        raise StoreError("bad JSON")


def makedirs(path):
    """Creates ``path`` and its parents where missing (no ``os.makedirs`` on MicroPython)."""
    # One "/" between pieces: "//data" is not the mount point "/data" to MicroPython's VFS.
    part = "/" if path.startswith("/") else ""
    for piece in path.split("/"):
        if piece and piece != ".":
            part += piece if part in ("", "/") else "/" + piece
            try:
                os.mkdir(part)
            except OSError:
                pass  # exists


def remove(path):
    """Removes ``path``; True if it was there."""
    try:
        os.remove(path)
        return True
    except OSError:
        return False


def size_of(path):
    """Bytes of file ``path`` (0 when it is not there)."""
    try:
        return os.stat(path)[6]
    except OSError:
        return 0


def in_blocks(n, block):
    """``n`` bytes rounded up to whole flash blocks, as LittleFS stores a file."""
    return (n + block - 1) // block * block


def open_folder(path):
    """Makes folder ``path`` where missing and removes what a power cut left there: a ``.tmp``
    copy that was never renamed over its file (the append-only stores repair a torn tail so)."""
    makedirs(path)
    for name in os.listdir(path):
        if name.endswith(".tmp"):
            remove(path + "/" + name)


def wipe(folder):
    """Removes every file in ``folder`` (not the folder); the count removed."""
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    return sum(1 for n in names if remove(folder + "/" + n))


class Store:
    """One named record in folder ``root``. ``writes`` counts saves that touched the flash."""

    def __init__(self, root, name):
        self.root = root
        base = (root.rstrip("/") + "/" if root else "") + name
        self.path = base + ".json"
        self.bak = base + ".bak"
        self.tmp = base + ".tmp"
        self.writes = 0
        self._loaded = False
        self._current = None  # header line of .json (it holds the body's SHA-256) when it is known good

    def load(self, accept=None):
        """Reads the newest good copy: ``(source, version, data)``.

        ``source`` is "current" (.json), "previous" (.bak), "missing" (neither file exists) or
        "unreadable" (files exist, none is good; version and data are None). ``accept(version,
        data)`` may convert the data (migrations) or reject it with ValueError, which makes the
        copy count as bad.
        """
        found = False
        self._loaded = True
        self._current = None
        for path, source in ((self.path, "current"), (self.bak, "previous")):
            raw = self._read(path)
            if raw is None:
                continue
            found = True
            try:
                version, data = decode(raw)
                if accept:
                    data = accept(version, data)
            except ValueError:
                continue
            if source == "current":
                self._current = raw[: raw.find(b"\n") + 1]
            return source, version, data
        return ("unreadable" if found else "missing"), None, None

    def save(self, version, data):
        """Saves atomically (see the module docstring); False if nothing changed, else True."""
        if not self._loaded:
            self.load()
        head = header(version, data)
        if head == self._current:
            return False
        makedirs(self.root)
        self._write(self.tmp, head, _body(data))
        if self._current is not None:
            self._rename(self.path, self.bak)
        self._rename(self.tmp, self.path)
        self._current = head
        self.writes += 1
        return True

    def forget_previous(self):
        """Deletes the previous copy (after a factory reset nothing old may come back)."""
        return remove(self.bak)

    # The three file operations, apart so a test can cut the power between any two bytes.

    def _read(self, path):
        # Its own size, not _MAX_SIZE: a 16 KB buffer needs 16 KB of unbroken heap.
        try:
            size = os.stat(path)[6]
            with open(path, "rb") as f:
                return f.read(min(size, _MAX_SIZE) + 1)
        except OSError:
            return None

    def _write(self, path, head, body):
        with open(path, "wb") as f:
            f.write(head)
            for b in body:
                f.write(b)
            f.flush()

    def _rename(self, src, dst):
        os.rename(src, dst)
