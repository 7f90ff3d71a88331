"""Wiring: builds the logger from a board and runs its tasks in one asyncio loop."""

import asyncio

from firmware import VERSION, button, clock, discovery, ethernet, identity, leds, records, upgrade, watchdog, web
from firmware.audit import Audit
from firmware.board import open_board
from firmware.compat import ticks_diff, ticks_ms
from firmware.eventlog import EventLog
from firmware.events import Events
from firmware.gateway import Gateway
from firmware.history import History
from firmware.log import log
from firmware.monitor import Monitor
from firmware.recorder import Recorder
from firmware.remote import Remote
from firmware.rs485 import CHANNELS, section
from firmware.settings import DEFAULTS_RESTORED, NotApplied, Settings, touches
from firmware.spool import Spool
from firmware.storage import Storage
from firmware.store import wipe
from firmware.supervisor import Supervisor
from firmware.uplink import Uplink
from firmware.writes import Governor


class Logger:
    """The running datalogger: the board plus the state the pages and the uplink read.

    For the other parts: ``clock.stamp()`` / ``clock.resolve()`` (timestamps), ``network.connected``,
    ``watchdog.register(name, limit_ms)`` / ``watchdog.alive(name)`` (key tasks), ``communicating``
    (set to the poller's ``channel -> devices answering``, for the RS485 LEDs), ``upgrading`` (the
    upgrade sets it: STATUS flashes fast), ``log``.
    """

    fault_window_ms = 60000  # a task restarted this recently is a problem (STATUS off)
    web_limit_ms = 60000  # the web server must answer the watchdog's probe this often
    # A poller reports after every device: 20 silent devices cost 20 x 2 x 500 ms of timeouts.
    poller_limit_ms = 120000
    # The uplink reports on every pass, also while it waits out a back-off (at most 5 min).
    uplink_limit_ms = 600000

    def __init__(self, board):
        self.board = board
        self.log = log
        self.started = ticks_ms()
        self.supervisor = Supervisor(log)
        self.reset_cause = board.reset_cause()
        self.settings = Settings(board.flash.root, log)
        self.identity = identity.load(board.flash.root)
        self.upgrading = False
        self.watchdog = watchdog.Watchdog(board.watchdog, log)
        self.monitor = Monitor(board, self.settings, log,
                               alive=lambda name: self._key_task(name, self.poller_limit_ms))
        self.communicating = self.monitor.communicating
        self.network = ethernet.Network(board.ethernet, self.settings.get("network"), log, self.identity,
                                        self.started)
        self.clock = clock.Clock(board.clock, self.settings.get("clock")["ntp_server"], log,
                                 board.ntp_port, online=lambda: self.network.connected)
        self.monitor.clock = self.clock  # an offline device's text says when it last answered
        hold = self.settings.get("button")
        self.button = button.ResetButton(hold["restart_s"], hold["factory_s"])
        self._uplink_side(board)
        self._restarts = {}  # task name: [restarts seen, when that count was first seen or None]
        self._problems = []
        self._problems_at = None
        self.settings.watch(self._settings_changed)

    def _key_task(self, name, limit_ms):
        """Makes ``name`` a key task of the watchdog; returns the callable that reports its progress."""
        self.watchdog.register(name, limit_ms)
        return lambda: self.watchdog.alive(name)

    def _uplink_side(self, board):
        """The spool on flash, the recorder that fills it, the uplink that drains it, and what
        rides on the uplink: Home Assistant discovery and remote settings."""
        server = self.settings.get("server")
        ident = self.identity or {}
        self.spool = Spool(board.flash.root + "/spool")
        # The queue keeps to its share of the flash (firmware/storage.py); a profile may cap it.
        self.storage = Storage(board.flash.statvfs)
        self.storage.set_share("history", self.settings.get("history")["share_percent"])  # before any store
        self.storage.attach("upload_queue", self.spool, board.profile.get("spool_bytes"))
        # The page's curves and daily energy (manual 5.4), in the history's share of the flash.
        self.history = History(board.flash.root, self.monitor.maps, log)
        self.storage.attach("history", self.history)
        # Every write to a device (the page, MQTT, the gateway) passes the one governor, each
        # attempt kept in the audit log, in its share of the flash.
        self.audit = Audit(board.flash.root)
        self.storage.attach("audit_log", self.audit)
        # The Log (manual 5.4): devices online/offline, faults, settings changes, starts, in words.
        self.event_log = EventLog(board.flash.root, self.clock)
        self.storage.attach("event_log", self.event_log)
        self.events = Events(self.event_log, self.monitor.maps)
        self.events.know_devices(self.settings.get("devices"))
        self.settings.watch(lambda sections: self.events.settings_saved(
            sections, self.settings.get("devices") if sections and "devices" in sections else None))
        self.events.started(VERSION, self.reset_cause)
        self.audit.on_entry = self._written
        self.governor = Governor(self.monitor.all_devices, lambda n: self.monitor.pollers[n - 1].channel, self.audit,
                                 lambda: self.settings.get("writes")["min_interval_s"], self.clock.time, log)
        # A second Modbus master reaches the devices through the logger (manual 2.3).
        self.gateway = Gateway(self.settings.get("gateway"), self.monitor.route, log, self.governor)
        self.remote = Remote(self.governor, lambda: self.settings.get("server")["remote_settings"],
                             lambda payload: self.uplink.post(self.uplink.topic_cmd + "/result", payload), log)
        self.uplink = Uplink(self.spool, server, ident.get("serial"), ident.get("check_code"), log,
                             now=self.clock.time, online=lambda: self.network.connected, parts=self._uplink_parts,
                             alive=self._key_task("uplink", self.uplink_limit_ms))
        self.recorder = Recorder(self.monitor, self.spool, self.clock, log, server["upload_interval_s"],
                                 kick=self.uplink.kick, on_online=self.uplink.refresh, events=self.events)

    def _written(self, entry):
        """A write's audit entry, told to the Log; a failure there never fails the write's answer."""
        try:
            self.events.written(entry, self.monitor.find(entry.get("channel"), entry.get("address"))[1])
        except Exception as exc:
            self.log.exception("event log", exc)

    hold_ms = 600000

    def _hold(self, stamp):
        """A record of this start without a time waits up to ``hold_ms`` of uptime for the clock's
        first sync (then it gets its true time), when a time server is set."""
        c = self.clock
        return stamp[1] == c.boot and bool(c.server) and not c.synced and c.uptime_ms() < self.hold_ms

    def _uplink_parts(self, up):
        """What the uplink ``up`` publishes and listens to under its server's topics: the records'
        renderer, the command topic, Home Assistant discovery (``Uplink``'s ``parts``)."""
        server = up.server
        render = records.Renderer(up.base, self.monitor.maps, self.clock.resolve, self._hold)
        handlers = {up.topic_cmd: self.remote.handle}
        extras = None
        if server["discovery"]:
            prefix = server["discovery_prefix"]
            disc = discovery.Discovery(up.base, up.serial_name, prefix, self.monitor.all_devices,
                                       3 * server["upload_interval_s"])
            extras = disc.messages
            # Home Assistant announces its restarts here: it has forgotten non-retained state.
            handlers[prefix + "/status"] = lambda payload: payload == b"online" and up.refresh(True)
        return render, handlers, extras

    def _settings_changed(self, sections):
        if touches(sections, "server"):
            server = self.settings.get("server")
            self.uplink.configure(server)
            self.recorder.configure(server["upload_interval_s"])
        if touches(sections, "devices"):
            self.uplink.refresh()
        if touches(sections, "network"):
            self.network.configure(self.settings.get("network"))
        if touches(sections, "clock"):
            self.clock.configure(self.settings.get("clock")["ntp_server"])
        if touches(sections, "button"):
            hold = self.settings.get("button")
            self.button.configure(hold["restart_s"], hold["factory_s"])
        if touches(sections, "gateway"):
            self.gateway.configure(self.settings.get("gateway"))
        if touches(sections, "history"):
            self.storage.set_share("history", self.settings.get("history")["share_percent"])

    def problems(self, now=None):
        """What is wrong now; the STATUS LED is off while this is not empty ("abnormal operation"):

        - the stored settings were unreadable and the factory defaults replaced them (until the
          user acknowledges it: ``Settings.acknowledge_defaults``);
        - a task is not running (it failed and waits for its restart, or it ended);
        - a task restarted within ``fault_window_ms``;
        - a key task made no progress within its watchdog limit (the board resets soon).

        No network and no devices are not listed: the NETWORK and RS485 LEDs show those.
        """
        now = ticks_ms() if now is None else now
        out = []
        if self.settings.defaults_restored:
            out.append(DEFAULTS_RESTORED)
        for name, (running, restarts) in self.supervisor.status().items():
            seen = self._restarts.get(name)
            if seen is None or seen[0] != restarts:
                seen = self._restarts[name] = [restarts, now if restarts else None]
            if seen[1] is not None and ticks_diff(now, seen[1]) >= self.fault_window_ms:
                seen[1] = None  # old news (and never compared again, so the tick wrap cannot revive it)
            if not running:
                out.append("task %s is not running" % name)
            elif seen[1] is not None:
                out.append("task %s restarted (%d restarts)" % (name, restarts))
        for name in self.watchdog.late(now):
            out.append("task %s makes no progress" % name)
        return out

    def status_pattern(self, now=None):
        """The STATUS LED's pattern (``leds.STATUS``): button feedback first, then upgrade, fault."""
        now = ticks_ms() if now is None else now
        held = self.button.pending(now)
        if held:
            return held
        if self.upgrading:
            return "upgrade"
        if self._problems_at is None or ticks_diff(now, self._problems_at) >= 1000:
            self._problems, self._problems_at = self.problems(now), now
        return "fault" if self._problems else "normal"

    def restart(self):
        self.board.reset("requested")

    def factory_reset(self, by="the reset button"):
        """The manual's factory reset: all data cleared (the upload queue, the history, the audit and
        event logs), every setting back to its default, the identity kept; then a restart. Data
        first: a power cut in between leaves the settings as they were, and a second reset finishes
        the job. The cleared Log then holds the reset itself (``by``: from where)."""
        for folder in (self.spool.root, self.history.dir, self.audit.dir, self.event_log.dir):
            wipe(folder)
        self.log.warning("factory reset: upload queue, history, write audit log and event log cleared")
        self.events.factory_reset(by)
        try:
            self.settings.factory_reset()
        except NotApplied:
            pass  # saved (and logged): the restart below applies it
        self.board.reset("requested")

    def status(self):
        up = upgrade.status()
        problems, uplink = self.problems(), self.uplink_status()
        return {
            "firmware_version": VERSION,
            "firmware_slot": up["slot"],
            "last_rollback": up["last_rollback"],
            "upgrade": up,
            "board": self.board.name,
            "uptime_s": ticks_diff(ticks_ms(), self.started) // 1000,
            "last_reset_cause": self.reset_cause,
            "serial_number": self.identity["serial"] if self.identity else None,
            "settings": self.settings.status,
            "tasks": {name: {"running": r, "restarts": n}
                      for name, (r, n) in self.supervisor.status().items()},
            "devices": {
                "configured": len(self.monitor.all_devices()),
                "communicating": sum(self.monitor.communicating(ch) for ch in CHANNELS),
                "per_channel": {section(ch): {"configured": len(p.devices), "communicating": p.communicating(),
                                                  "sweep_ms": p.sweep_ms, "read_all_ms": p.read_all_ms()}
                                for ch, p in zip(CHANNELS, self.monitor.pollers)},
            },
            "problems": problems,
            "system_status": self.system_status(problems, uplink),
            "network": self.network.status(),
            "clock": self.clock.status(),
            "watchdog": self.watchdog.status(),
            "uplink": uplink,
            "heap": heap(self.board),
            "storage": self.storage.status(),
        }

    def system_status(self, problems, uplink):
        """The status page's first line (manual 4.3, 6.2): "abnormal" with what is wrong,
        "disconnected" while a server is set but cannot be reached, else "normal"."""
        if problems:
            return {"state": "abnormal", "text": "Abnormal: " + "; ".join(problems)}
        if uplink["enabled"] and not uplink["connected"] and uplink["failures"]:
            return {"state": "disconnected", "text": "Disconnected: " + (uplink["last_error"] or "no server")}
        if uplink["enabled"] and not self.network.connected:
            return {"state": "disconnected", "text": "Disconnected: " + ethernet.WAITING.get(
                self.network.state, "the network is not connected")}
        return {"state": "normal", "text": "Normal"}

    def uplink_status(self):
        """Server connected or not, the backlog on flash, evicted records, the last upload."""
        out = self.uplink.stats()
        sp = self.spool.stats()
        out.update(backlog=sp["backlog"], backlog_bytes=sp["backlog_bytes"], evicted=sp["evicted"])
        out.update(self.recorder.status())
        if self.uplink.server["tls"] and not self.uplink.server["tls_ca"]:
            out["warning"] = "TLS without a CA certificate: the server is not authenticated"
        return out


def heap(board=None):
    """Free and used heap bytes after a collection, so they count live data only; the board's
    ``memory()``: the largest free block and the PSRAM size (MicroPython; None on CPython, which has
    no fixed heap)."""
    import gc

    if not hasattr(gc, "mem_free"):
        return None
    gc.collect()
    out = {"free": gc.mem_free(), "used": gc.mem_alloc(), "largest_free": None, "psram": None}
    if hasattr(board, "memory"):
        out.update(board.memory())
    return out


def tasks(logger):
    """The one list of the logger's tasks, (name, factory) for the supervisor; the key ones (the
    pollers, the uplink) report to the watchdog, registered when they were built."""
    board = logger.board
    http = board.profile["http"]
    probe_host = "127.0.0.1" if http["host"] == "0.0.0.0" else http["host"]
    light = leds.LedTask(board.leds, lambda: logger.network.connected, logger.status_pattern,
                         lambda channel: logger.communicating(channel))
    press = button.ButtonTask(board.button, logger.button, logger.restart, logger.factory_reset, log)
    return [
        ("web", lambda: web.serve(web.create(logger), http["host"], http["port"])),
        ("web-probe", lambda: watchdog.probe_http(logger.watchdog, "web", probe_host, http["port"],
                                                  logger.web_limit_ms)),
        ("network", logger.network.run),
        ("clock", logger.clock.run),
        ("leds", light.run),
        ("button", press.run),
        ("watchdog", logger.watchdog.run),
        ("upgrade", lambda: upgrade.commit_when_healthy(logger)),
        ("recorder", logger.recorder.run),
        ("history", lambda: logger.history.run(logger.clock, logger.monitor.all_devices)),
        ("uplink", logger.uplink.run),
        ("remote", logger.remote.run),
        ("gateway", lambda: logger.gateway.run(http["host"])),
    ] + logger.monitor.tasks()


def supervise(logger, task_list):
    """Runs ``task_list`` until stopped; an unrecoverable failure resets the board."""
    for name, factory in task_list:
        logger.supervisor.add(name, factory)
    try:
        asyncio.run(logger.supervisor.run())
    except KeyboardInterrupt:
        log.info("stopped by the console")
        return
    except Exception as exc:
        log.exception("unrecoverable error, restarting", exc)
        logger.board.reset("crash")


# Collect after every this many bytes allocated, not only when the heap runs out. Left alone,
# MicroPython fills the whole heap with garbage before its first collection, so the objects that
# live on land scattered across it and the free heap breaks into small holes: at 632 KB on the
# 64-bit port the largest free run fell to 1.7 KB (with 213 KB free) and a 1.4 KB reply failed.
# Collected early, garbage is reused low and the top of the heap stays whole (75 KB in one run).
# A collection sweeps the whole heap, so on a bigger heap (8 MB of PSRAM) each costs more: the
# threshold grows with the heap, keeping the collecting cost per byte allocated about that of 16 KB
# at 192 KB (make bench, bench/gcheap.py: at 8 MB, 16 KB made the churn 7-8x slower; heap/12 stayed
# within 20 % of collecting only when full, in three runs on a loaded machine).
GC_EVERY = 16384


def gc_threshold(heap):
    """Bytes allocated between collections on a heap of ``heap`` bytes: a twelfth of it, 16 KB at
    least (on the ESP32 ``heap`` counts what the heap may still take from ESP-IDF, i.e. PSRAM)."""
    return max(GC_EVERY, heap // 12)


def collect_often():
    import gc

    if hasattr(gc, "threshold"):  # MicroPython
        gc.collect()
        gc.threshold(gc_threshold(gc.mem_free() + gc.mem_alloc()))


def run(profile=None, **board_args):
    """Entry point of main.py."""
    board = open_board(profile, **board_args)
    board.running()
    logger = Logger(board)
    collect_often()
    http = board.profile["http"]
    log.info("EnerLog %s on %s, last reset: %s" % (VERSION, board.name, logger.reset_cause))
    log.info("serial number %s; settings: %s"
             % (logger.identity["serial"] if logger.identity else "not provisioned", logger.settings.status))
    log.info("web server on http://%s:%d/" % (http["host"], http["port"]))
    supervise(logger, tasks(logger))
