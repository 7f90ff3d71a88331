"""Network bring-up (manual 4.1, 4.2, 4.6.1): a state machine in pure logic, and the polling task
that drives the board's ``Ethernet`` adapter with it.

- After a start the logger answers at its static address (192.168.0.254/24 from the factory) for
  ``network.startup_static_s`` (120 s), so a PC on a direct cable can reach it (manual 4.2). The
  window counts from the start, as the manual says, whether or not a cable is in.
- DHCP on (the default): then it asks for a lease, announcing its serial number as the DHCP host
  name so the user finds it in the router's client list (4.1.1). A server that does not answer
  within ``dhcp_wait_ms`` leaves the logger at its static address (the fallback) until the next
  try, ``retry_ms`` later, doubling up to ``retry_max_ms``: it stays reachable and never gives up.
- DHCP off: the stored static IP, mask, gateway and DNS, from the start (4.6.1).
- A lost link is noticed within ``poll_ms``. When it returns, the address is set up again (a new
  DHCP request, or the static address) without a reboot. A lost lease is asked for again. Changed
  network settings apply at once (``Network.configure``); the setup window does not run again.

States: ``no-link``, ``setup``, ``requesting``, ``fallback``, ``dhcp``, ``static``. ``connected``
(NETWORK LED steady, clock sync, uplink) means: link up and the address the settings ask for is
held, a DHCP lease or the static address with DHCP off. The setup window and the fallback are not
"connected normally" (manual table 2-2): the LED stays off, which tells an installer that no router
gave an address.
"""

from firmware.compat import sleep_ms, ticks_diff, ticks_ms

NO_LINK = "no-link"
SETUP = "setup"
REQUESTING = "requesting"
FALLBACK = "fallback"
DHCP = "dhcp"
STATIC = "static"
# Why the network is not connected yet, in words, per state (the status page's "Disconnected: ...").
WAITING = {NO_LINK: "no network cable (no link)",
           SETUP: "the setup address is in use for the first minutes after a start (manual 4.2)",
           REQUESTING: "waiting for an address from the router (DHCP)",
           FALLBACK: "the router gives no address (DHCP); on the fallback address meanwhile"}


def hostname(identity, mac):
    """The DHCP host name: the serial number, or ``EnerLog-`` and the MAC's last 6 hex digits."""
    if identity:
        return identity["serial"]
    return "EnerLog-" + mac.replace(":", "")[-6:].upper()


class Machine:
    """Pure logic: ``step(now, link, bound)`` -> the adapter action to take, or None.

    ``link``: the cable has a link; ``bound``: a DHCP lease is held (asked only while DHCP runs).
    Actions: ``("static", (ip, mask, gateway, dns))`` or ``("dhcp", None)``.
    """

    dhcp_wait_ms = 30000
    retry_ms = 60000
    retry_max_ms = 300000

    def __init__(self, cfg, now):
        self.cfg = dict(cfg)
        self.state = NO_LINK
        self.since = now
        self.attempts = 0  # DHCP requests made since the start
        self._start = now
        self._window = cfg["startup_static_s"] > 0  # the setup window is still open
        self.hold_ms = self.retry_ms  # how long the current fallback lasts before the next try
        self._dirty = False

    def reconfigure(self, cfg):
        """New network settings; applied at the next step."""
        self.cfg = dict(cfg)
        self._window = False
        self._dirty = True

    def window_left_ms(self, now):
        if not self._window:
            return 0
        return max(0, self.cfg["startup_static_s"] * 1000 - ticks_diff(now, self._start))

    @property
    def connected(self):
        return self.state in (DHCP, STATIC)

    def _go(self, state, now):
        self.state = state
        self.since = now

    def _static(self):
        c = self.cfg
        return ("static", (c["ip"], c["mask"], c["gateway"], c["dns"]))

    def _request(self, now):
        self._go(REQUESTING, now)
        self.attempts += 1
        return ("dhcp", None)

    def _configure(self, now):
        self.hold_ms = self.retry_ms
        if not self.cfg["dhcp"]:
            self._go(STATIC, now)
            return self._static()
        if self._window:
            self._go(SETUP, now)
            return self._static()
        return self._request(now)

    def step(self, now, link, bound=False):
        # Checked at every step, so a wrap of the tick counter (days later) cannot reopen it.
        if self._window and self.window_left_ms(now) == 0:
            self._window = False
        if not link:
            if self.state != NO_LINK:
                self._go(NO_LINK, now)
            return None
        state, held = self.state, ticks_diff(now, self.since)
        if state == NO_LINK or self._dirty or (state == SETUP and not self._window):
            self._dirty = False
            return self._configure(now)
        if state == REQUESTING:
            if bound:
                self._go(DHCP, now)
                self.hold_ms = self.retry_ms
            elif held >= self.dhcp_wait_ms:
                self._go(FALLBACK, now)
                return self._static()
        elif state == FALLBACK and held >= self.hold_ms:
            self.hold_ms = min(self.hold_ms * 2, self.retry_max_ms)
            return self._request(now)
        elif state == DHCP and not bound:
            return self._request(now)  # the lease was lost: ask again
        return None


class Network:
    """The polling task around ``Machine``: reads the adapter, applies actions, logs changes."""

    poll_ms = 500

    def __init__(self, eth, cfg, log, identity=None, now=None):
        self.eth = eth
        self.identity = identity
        self.hostname = None  # set by start(): it needs the MAC when the logger has no serial number
        self.log = log
        self.machine = Machine(cfg, ticks_ms() if now is None else now)
        self.link = False

    @property
    def state(self):
        return self.machine.state

    @property
    def connected(self):
        return self.machine.connected

    def configure(self, cfg):
        """The network settings changed: set the address up again."""
        if cfg != self.machine.cfg:
            self.log.info("network: settings changed, setting the address up again")
            self.machine.reconfigure(cfg)

    def start(self):
        self.hostname = hostname(self.identity, self.eth.mac())
        self.eth.start(self.hostname)
        self.log.info("network: Ethernet %s, host name %s" % (self.eth.mac(), self.hostname))

    def poll(self, now):
        """One step: notices link changes, asks the machine, applies its action."""
        m = self.machine
        link = bool(self.eth.link())
        if link != self.link:
            self.link = link
            self.log.info("network: link " + ("up" if link else "lost"))
        bound = link and m.state in (REQUESTING, DHCP) and bool(self.eth.bound())
        before = m.state
        action = m.step(now, link, bound)
        if action:
            kind, conf = action
            if kind == "dhcp":
                self.eth.dhcp()
            else:
                self.eth.static(*conf)
        if m.state != before or action:
            self._report(before, now)

    def _report(self, before, now):
        m, c = self.machine, self.machine.cfg
        state = m.state
        if state == SETUP:
            self.log.info("network: setup address %s/%s for %d s"
                          % (c["ip"], c["mask"], (m.window_left_ms(now) + 999) // 1000))
        elif state == REQUESTING:
            why = "lease lost, " if before == DHCP else ""
            self.log.info("network: %sasking for a DHCP lease as %s (attempt %d)" % (why, self.hostname, m.attempts))
        elif state == FALLBACK:
            self.log.warning("network: no DHCP answer in %d s; static fallback %s until the next try in %d s"
                             % (m.dhcp_wait_ms // 1000, c["ip"], m.hold_ms // 1000))
        elif state == DHCP:
            ip, mask, gw, dns = self.eth.ifconfig()
            self.log.info("network: DHCP lease %s/%s, gateway %s, DNS %s" % (ip, mask, gw, dns))
        elif state == STATIC:
            self.log.info("network: static address %s/%s, gateway %s, DNS %s"
                          % (c["ip"], c["mask"], c["gateway"], c["dns"]))

    async def run(self):
        self.start()
        while True:
            self.poll(ticks_ms())
            await sleep_ms(self.poll_ms)

    def status(self, now=None):
        """For /api/status."""
        m = self.machine
        ip, mask, gw, dns = self.eth.ifconfig() if self.link else ("0.0.0.0",) * 4
        return {
            "state": m.state,
            "dhcp": m.cfg["dhcp"],
            "link": self.link,
            "connected": m.connected,
            "ip": ip, "mask": mask, "gateway": gw, "dns": dns,
            "mac": self.eth.mac(),
            "hostname": self.hostname,
            "dhcp_requests": m.attempts,
            "setup_window_s": (m.window_left_ms(ticks_ms() if now is None else now) + 999) // 1000,
        }
