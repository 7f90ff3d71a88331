"""Storage budgets from the filesystem: a small and a large flash, and a full one that still saves
settings.

The flash is simulated two ways. A ``statvfs`` function of given sizes for the arithmetic, on both
runtimes. For filling it: under MicroPython a real LittleFS (``vfs.VfsLfs2``, as on the board) on a
block device in RAM, which refuses a write when full (ENOSPC); under CPython a folder whose
``statvfs`` counts its files against a capacity (``hw.pc.Flash``), where only the accounting can be
checked, not a refused write.
"""

import os
import sys

from support import raises, tmpdir

from firmware import storage
from firmware.hw.pc import Flash
from firmware.log import Log
from firmware.settings import Settings
from firmware.spool import Spool
from firmware.storage import MIN_BUDGET, RESERVE, Storage

MICROPYTHON = sys.implementation.name == "micropython"
BLOCK = 4096
MB = 1024 * 1024
SMALL = 2 * MB  # the filesystem of a 4 MB module (partitions-4MiBplus.csv: 4 MB - 2 MB)
LARGE = 12 * MB  # the named boards (partitions-16MiB.csv's vfs)


def _statvfs(size, used):
    blocks = size // BLOCK
    free = blocks - (used + BLOCK - 1) // BLOCK
    return lambda: (BLOCK, BLOCK, blocks, free, free, 0, 0, 0, 0, 255)


def test_each_store_gets_its_share_of_a_small_and_a_large_flash():
    slots = 400 * 1024  # the running application slot and the settings already there
    for size in (SMALL, LARGE):
        st = Storage(_statvfs(size, slots))
        total, free = st.space()
        assert total == size and free == size - slots
        b = st.budgets()
        pool = free - RESERVE
        assert b["upload_queue"] == pool * 50 // 100, b
        assert b["history"] == pool * 40 // 100 and b["audit_log"] == pool * 5 // 100, b
        assert b["event_log"] == pool * 5 // 100, b
        assert sum(b.values()) <= free - RESERVE  # the reserve is never handed out
    small = Storage(_statvfs(SMALL, slots)).budgets()["upload_queue"]
    large = Storage(_statvfs(LARGE, slots)).budgets()["upload_queue"]
    assert 550 * 1024 < small < 900 * 1024, small  # ~0.6 MB on a 4 MB module
    assert 5.5 * MB < large < 7 * MB, large  # ~6.1 MB on the named boards, not the old fixed 2 MB


def test_a_nearly_full_flash_still_gives_each_store_a_block():
    st = Storage(_statvfs(SMALL, SMALL - 100 * 1024))  # 100 KB free: less than the reserve
    assert st.budgets() == {"upload_queue": MIN_BUDGET, "history": MIN_BUDGET, "audit_log": MIN_BUDGET,
                            "event_log": MIN_BUDGET}


def test_a_store_that_does_not_exist_yet_keeps_its_share():
    st = Storage(_statvfs(LARGE, 0))
    sp = Spool(tmpdir())
    st.attach("upload_queue", sp)
    status = st.status()
    assert status["history"]["used"] is None and status["audit_log"]["used"] is None
    assert status["history"]["budget"] > 0 and status["upload_queue"]["budget"] >= sp.max_bytes
    assert status["total"] == LARGE and status["reserve"] == RESERVE
    e = raises(ValueError, st.attach, "journal", sp)
    assert "journal" in str(e)


def test_a_profile_cap_limits_the_upload_queue():
    st = Storage(_statvfs(LARGE, 0))
    sp = Spool(tmpdir())
    assert st.attach("upload_queue", sp, cap=1500) == 1500 and sp.max_bytes <= 1500


class Filler:
    """A stand-in for the history store and the audit log (issues 19 and 18, not written yet):
    files of ``chunk`` bytes, the oldest deleted to keep within the budget, as those stores will."""

    def __init__(self, root, chunk):
        # ``chunk``: a little under whole blocks (LittleFS puts a pointer in every block after the
        # first), so that size() is what the files take on the flash.
        self.root, self.chunk, self.max_bytes = root, chunk, 0
        try:
            os.mkdir(root)
        except OSError:
            pass
        names = sorted(int(n) for n in os.listdir(root))  # what an earlier start left
        self.files = ["%s/%d" % (root, n) for n in names]
        self.n = names[-1] if names else 0

    def size(self):
        # Whole blocks, and the folder's metadata pair, as the spool counts them.
        return 2 * BLOCK + len(self.files) * ((self.chunk + BLOCK - 1) // BLOCK * BLOCK)

    def limit(self, max_bytes):
        self.max_bytes = max_bytes
        self._evict()

    def _evict(self):
        while self.files and self.size() > self.max_bytes:
            os.remove(self.files.pop(0))

    def add(self):
        self.n += 1
        path = "%s/%d" % (self.root, self.n)
        with open(path, "wb") as f:
            f.write(bytearray(self.chunk))
        self.files.append(path)
        self._evict()


class RamFlash:
    """A flash chip in RAM for MicroPython's vfs block protocol (4 KB erase blocks)."""

    def __init__(self, blocks):
        self.blocks = blocks
        self.mv = memoryview(bytearray(blocks * BLOCK))

    def readblocks(self, n, buf, off=0):
        a = n * BLOCK + off
        buf[:] = self.mv[a:a + len(buf)]

    def writeblocks(self, n, buf, off=0):
        a = n * BLOCK + off
        self.mv[a:a + len(buf)] = buf

    def ioctl(self, op, arg):
        return {4: self.blocks, 5: BLOCK, 6: 0}.get(op)


_mounts = [0]


def _flash(size):
    """(root, statvfs) of an empty flash of ``size`` bytes: LittleFS in RAM, or a counted folder."""
    if not MICROPYTHON:
        f = Flash(tmpdir(), size)
        return f.root, f.statvfs
    import vfs

    dev = RamFlash(size // BLOCK)
    vfs.VfsLfs2.mkfs(dev)
    _mounts[0] += 1
    root = "/enerlog_flash%d" % _mounts[0]
    vfs.mount(vfs.VfsLfs2(dev), root)
    return root, lambda: os.statvfs(root)


def _unmount(root):
    if MICROPYTHON:
        import vfs

        vfs.umount(root)


def _fill(st, root):
    """Every store writes far more than the flash holds; returns the spool."""
    sp = Spool(root + "/spool")
    st.attach("upload_queue", sp)
    history, audit = Filler(root + "/history", 2 * BLOCK - 64), Filler(root + "/audit", BLOCK - 64)
    st.attach("history", history)
    st.attach("audit_log", audit)
    record = bytes(1000)
    for i in range(3 * 1024):  # 3 MB of records, 3 MB of history, 1.5 MB of audit lines
        sp.append(record)
        if i % 8 == 0:
            history.add()
            audit.add()
    return sp


def test_a_full_flash_keeps_settings_saveable():
    root, statvfs = _flash(MB)
    try:
        st = Storage(statvfs, reserve=RESERVE)
        settings = Settings(root, Log())
        sp = _fill(st, root)
        assert sp.evicted > 1000, sp.stats()  # the oldest records made room
        status = st.status()
        for name in ("upload_queue", "history", "audit_log"):
            assert status[name]["used"] <= status[name]["budget"], status
        # The reserve is still there: what the stores hold never ate into it (a block per file of
        # slack for LittleFS's metadata).
        assert status["free"] >= RESERVE - 64 * BLOCK, status
        for ip in ("192.168.0.10", "192.168.0.11", "192.168.0.12"):
            assert settings.update("network", {"ip": ip})
        settings.factory_reset()
        assert Settings(root, Log()).get("network")["ip"] == "192.168.0.254"  # stored, read back
        sp.append(b"after the saves")  # and the queue goes on
    finally:
        _unmount(root)


def test_without_budgets_a_full_flash_refuses_the_settings():
    # The failure the budgets prevent, on the real filesystem (MicroPython's LittleFS) only: a
    # queue with no budget grows until the flash is full, then the settings cannot be saved.
    if not MICROPYTHON:
        return
    root, _ = _flash(256 * 1024)
    try:
        settings = Settings(root, Log())
        sp = Spool(root + "/spool", max_bytes=1 << 30)
        full = 0
        for size in (1000, 100, 10, 1):  # to the last byte LittleFS will take
            try:
                for _ in range(1000):
                    sp.append(bytes(size))
            except OSError:
                full += 1
        assert full == 4
        raises(OSError, settings.update, "network", {"ip": "192.168.0.10"})
    finally:
        _unmount(root)


def test_budgets_are_the_same_at_every_start():
    # A store's growth comes out of the free space: free + held stays, so does the budget.
    root, statvfs = _flash(MB)
    try:
        first = Storage(statvfs).budgets()
        _fill(Storage(statvfs), root)
        again = Storage(statvfs)
        again.attach("upload_queue", Spool(root + "/spool"))
        again.attach("history", Filler(root + "/history", 2 * BLOCK - 64))
        again.attach("audit_log", Filler(root + "/audit", BLOCK - 64))
        b = again.budgets()
        for name in b:  # within the files' partly filled blocks and LittleFS's metadata
            assert abs(b[name] - first[name]) <= first[name] // 10, (name, first, b)
    finally:
        _unmount(root)


def test_shares_name_the_four_stores():
    assert [n for n, _ in storage.SHARES] == ["upload_queue", "history", "audit_log", "event_log"]
    assert sum(p for _, p in storage.SHARES) == 100


def test_the_history_share_is_a_setting_that_never_costs_queued_records():
    st = Storage(_statvfs(SMALL, 0))  # a pool of 2 MB less the reserve: ~1.6 MB
    sp, hist = Spool(tmpdir()), Filler(tmpdir(), 4096)
    st.attach("upload_queue", sp)
    st.attach("history", hist)
    pool = st.space()[1] + st.held() - RESERVE  # ~1.6 MB (what the two empty stores hold counts)
    assert st.share_refusal("history", 60) is None  # an empty queue gives way at once
    st.set_share("history", 60)
    now = st.status()
    assert now["history"]["percent"] == 60 and now["upload_queue"]["percent"] == 30
    assert now["history"]["budget"] == pool * 60 // 100 and hist.max_bytes == pool * 60 // 100
    assert now["upload_queue"]["budget"] == pool * 30 // 100 >= sp.max_bytes > pool * 25 // 100
    for _ in range(150):  # ~200 KB of records waiting for the server
        sp.append(bytes(1300))
    held = sp.size()
    pool = st.space()[1] + st.held() - RESERVE  # (this stand-in statvfs does not see the writes)
    assert pool * 10 // 100 < held < pool * 30 // 100, held
    said = st.share_refusal("history", 80)  # would leave the queue 10 %: less than it holds
    assert said.startswith("the upload queue holds %d KB now, more than the %d KB it would keep"
                           % (held // 1024, pool * 10 // 100 // 1024)), said
    assert st.status()["history"]["percent"] == 60 and sp.size() == held  # a question changes nothing
    e = raises(ValueError, st.set_share, "history", 95)  # more than the queue and history have
    assert "leaves the upload_queue nothing" in str(e)
    assert st.status()["history"]["percent"] == 60 and sp.size() == held
    st.set_share("history", dict(storage.SHARES)["history"])  # back: the queue gets its room again
    assert st.status()["upload_queue"]["percent"] == dict(storage.SHARES)["upload_queue"] and sp.size() == held
