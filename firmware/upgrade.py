"""Upgrades from the web page, and committing a trial once it is healthy.

A bundle (``tools/build.py`` writes ``build/enerlog-<version>.bundle``) is one stream:

    ENERLOG-BUNDLE 1 <manifest length>\\n
    <manifest.json, that many bytes>
    <the slot files' bytes, one after the other, in the manifest's order and sizes>

``install`` reads it in small chunks and writes each file into the inactive slot as it arrives
(never the whole bundle in RAM), then ``bootslots.finish`` checks every file's size and SHA-256
on the flash and marks the slot as the trial, or invalid with the reason. A bundle whose length
does not match its manifest (truncated, padded) is refused before the slot is touched.

``commit_when_healthy`` runs in every start: while the running slot is a trial it commits it
once the health checks (``Health``) have held for ``Health.settle_ms``.
"""

import json
import os

import bootslots
from firmware.compat import sleep_ms, ticks_diff, ticks_ms

MAGIC = "ENERLOG-BUNDLE 1"
MAX_BUNDLE = 2 * 1024 * 1024  # larger uploads are refused (413) before a byte is read
CHUNK = 1024  # bytes read from the request at a time
_SPARE = 16384  # flash left free after an install


class UpgradeError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def pack(manifest_raw, read_file):
    """The bundle's bytes, in pieces: ``manifest_raw`` (bytes) and ``read_file(path)`` -> bytes."""
    m = json.loads(manifest_raw)
    yield ("%s %d\n" % (MAGIC, len(manifest_raw))).encode()
    yield manifest_raw
    for f in bootslots.slot_files(m):
        yield read_file(f["path"])


class _Body:
    """At most ``length`` bytes from ``read(n)`` (an async stream read)."""

    def __init__(self, read, length):
        self.read = read
        self.left = length

    async def take(self, n):
        n = min(n, self.left)
        if n <= 0:
            return b""
        data = await self.read(n)
        self.left -= len(data)
        return data

    async def exactly(self, n):
        out = b""
        while len(out) < n:
            data = await self.take(n - len(out))
            if not data:
                break
            out += data
        return out

    async def line(self, limit):
        out = b""
        while not out.endswith(b"\n") and len(out) < limit:
            data = await self.take(1)
            if not data:
                break
            out += data
        return out

    async def drain(self):
        while await self.take(CHUNK):
            pass


async def install(read, length, root, slot):
    """Installs the bundle of ``length`` bytes from ``read`` into ``slot``: its manifest on success,
    UpgradeError(400) naming what is wrong otherwise (the rest of the body is drained)."""
    body = _Body(read, length)
    try:
        return await _install(body, length, root, slot)
    except UpgradeError:
        await body.drain()
        raise


async def _install(body, length, root, slot):
    line = await body.line(64)
    try:
        head = line.decode()
    except UnicodeError:  # bytes that are not text (a picture, a zip): no header
        head = ""
    parts = head.strip().rsplit(" ", 1)
    if not head.endswith("\n") or len(parts) != 2 or parts[0] != MAGIC or not parts[1].isdigit():
        raise UpgradeError(400, "not an EnerLog bundle (no '%s' header)" % MAGIC)
    raw = await body.exactly(int(parts[1]))
    if len(raw) != int(parts[1]) or int(parts[1]) > 32768:
        raise UpgradeError(400, "bundle truncated in its manifest")
    try:
        m = json.loads(raw)
    except ValueError:
        raise UpgradeError(400, "the bundle's manifest is not valid JSON")
    err = bootslots.check_manifest(m)
    if err:
        raise UpgradeError(400, err)
    files = bootslots.slot_files(m)
    expected = len(head) + len(raw) + sum(f["size"] for f in files)
    if length != expected:
        if length < expected:
            raise UpgradeError(400, "the upgrade file is incomplete: %d of its %d bytes (version %s): download it again"
                               % (length, expected, m["version"]))
        raise UpgradeError(400, "the upgrade file is too long: %d bytes, version %s has %d: not the file as published"
                           % (length, m["version"], expected))
    d = bootslots.begin(root, slot)
    try:
        free = _free(root)
        if free is not None and expected + _SPARE > free:
            raise UpgradeError(400, "the bundle needs %d KB, the flash has %d KB free"
                               % (expected // 1024, free // 1024))
        with open(d + "/manifest.json", "wb") as f:
            f.write(raw)
        del raw
        for entry in files:
            await _copy(body, d, entry)
    except UpgradeError as e:
        bootslots.finish(root, slot, e.message)
        raise
    except OSError as e:
        bootslots.finish(root, slot, "writing the slot failed: %s" % e)
        raise UpgradeError(400, "writing the slot failed: %s" % e)
    err = bootslots.finish(root, slot)
    if err:
        raise UpgradeError(400, err)
    return m


async def _copy(body, d, entry):
    p = entry["path"]
    cut = p.rfind("/")
    if cut > 0:
        _makedirs(d, p[:cut])
    left = entry["size"]
    with open(d + "/" + p, "wb") as f:
        while left:
            data = await body.take(min(CHUNK, left))
            if not data:
                raise UpgradeError(400, "bundle truncated in %s (%d bytes missing)" % (p, left))
            f.write(data)
            left -= len(data)


def _makedirs(d, rel):
    for part in rel.split("/"):
        d += "/" + part
        try:
            os.mkdir(d)
        except OSError:
            pass  # exists


def _free(root):
    try:
        st = os.statvfs(root or os.getcwd())
        return st[0] * st[4]
    except (OSError, AttributeError):
        return None


_busy = [False]


async def receive(logger, request, root=""):
    """The web upload (``POST /api/upgrade``): ``(reply, installed manifest)``; UpgradeError else."""
    if _busy[0]:
        raise UpgradeError(409, "an upgrade is already being received")
    if "Content-Length" not in request.headers:
        raise UpgradeError(411, "send the bundle with a Content-Length")
    if bootslots.on_trial:
        raise UpgradeError(409, "this firmware is still on trial; upgrade again once it is committed")
    slot = bootslots.target(bootslots.load(root)[0])
    _busy[0] = True
    logger.upgrading = True
    logger.log.warning("upgrade: receiving %d bytes into slot %s" % (request.content_length, slot))
    try:
        m = await install(request.stream.read, request.content_length, root, slot)
    except UpgradeError as e:
        logger.upgrading = False
        logger.log.error("upgrade refused: %s" % e.message)
        raise
    finally:
        _busy[0] = False
    logger.log.warning("upgrade: %s verified in slot %s; restarting to try it" % (m["version"], slot))
    return {"ok": True, "version": m["version"], "slot": slot}, m


# --- the trial ---------------------------------------------------------------------------------


class Health:
    """The checks a trial must pass before it is committed, as a pure function of what the
    supervisor and the watchdog report:

    - the web server answered the watchdog's probe;
    - the tasks ``web``, every ``poller-N`` and ``uplink`` (when there is one) are running and
      have not restarted;
    - no key task is late for the watchdog;

    all of it continuously for ``settle_ms``.
    """

    settle_ms = 10000

    def __init__(self):
        self.since = None

    @staticmethod
    def reasons(tasks, web_answered, late):
        """What keeps the trial from being healthy now (empty: healthy)."""
        out = [] if web_answered else ["the web server has not answered yet"]
        required = [n for n in tasks if n == "web" or n == "uplink" or n.startswith("poller-")]
        if "web" not in required:
            out.append("no web task")
        if not [n for n in required if n.startswith("poller-")]:
            out.append("no poller tasks")
        for n in sorted(required):
            running, restarts = tasks[n]
            if not running:
                out.append("task %s is not running" % n)
            elif restarts:
                out.append("task %s restarted" % n)
        for n in late:
            out.append("task %s is late" % n)
        return out

    def step(self, now, reasons):
        """True once the checks have passed for ``settle_ms`` without a break."""
        if reasons:
            self.since = None
            return False
        if self.since is None:
            self.since = now
        return ticks_diff(now, self.since) >= self.settle_ms


async def commit_when_healthy(logger, root="", every_ms=1000):
    """The ``upgrade`` task: commits a trial once healthy, then idles (it never ends)."""
    health = Health()
    if bootslots.on_trial:
        logger.log.warning("upgrade: slot %s is on trial; committing it once healthy for %d s"
                           % (bootslots.running, health.settle_ms // 1000))
    while bootslots.on_trial:
        now = ticks_ms()
        wd = logger.watchdog
        if health.step(now, Health.reasons(logger.supervisor.status(), wd.registered("web"), wd.late(now))):
            bootslots.commit(root)
            logger.log.warning("upgrade: slot %s passed its health checks: committed" % bootslots.running)
        await sleep_ms(every_ms)
    while True:
        await sleep_ms(3600000)


def status(root=""):
    """The upgrade fields of /api/status."""
    st, source = bootslots.load(root)
    running = bootslots.running
    return {
        "slot": None if running is None else (running or "flat"),
        "on_trial": bootslots.on_trial,
        "trial_starts": st["boots"] if bootslots.on_trial else 0,
        "last_rollback": st["rollback"],
        "invalid": st["invalid"],
        "receiving": _busy[0],
        "state_file": source,
    }
