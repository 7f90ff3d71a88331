"""What the simulated plant does (tools/sim/plant.py serves it as registers): PV by daylight, load by
the time of day, batteries taking the difference within their limits, the grid the rest.

Time is Unix seconds from the plant's clock; the curves go by its local time of day (the PC's
zone, as the page's charts). Signs as the dashboard's (docs/history.md): battery power > 0
discharging, grid power > 0 importing.

- PV (HPS and PBD): ``peak x daylight x weather``: daylight 0 before 06:00 and after 18:00, 1 at
  noon (sin^1.2); weather one deterministic factor per local day (0.6-1.0) and a slow cloud wiggle.
- Load (HPS and PCS): a base with a morning and an evening peak, a factor per day (0.9-1.1) and a
  small wiggle.
- Batteries: store PV surplus and cover the load until the cut-off SOCs the inverter holds
  (holding registers 47 and 178: 10 % and 95 % unless written), tapering over the last 3 %,
  while the inverter keeps drawing 0.5 kW from the grid (an anti-backflow margin);
  between 00:00 and 05:00 (valley tariff) they charge from the grid up to 50 %. A PBD (a PV DC
  charger) charges the battery it shares with the PCS before it in the layout; that PCS draws
  from the battery what its load needs. Each inverter balances:
  PV + discharge + import = load + charge + export, and so does the plant.
- Counters per inverter and role integrate the matching power (kWh): PV, load, grid import and
  export, battery charge and discharge; "today" counters restart at local midnight.
- Meters measure the grid connection: meter k of n the sum of every n-th inverter's grid power
  (one meter: all of them), with its own import and export counters.
- Battery boards (BCU, MBMS) report a battery of an inverter (in layout order), or a battery of
  their own that charges by day and discharges in the evening when there are more boards.
"""

import math
import random
import threading
import time

STEP_S = 60  # the longest integration step (a seeded history advances 5 minutes at a time)
MAX_GAP_S = 2 * 86400  # a clock jump longer than this is not integrated over
ROLES = ("pv", "load", "grid_import", "grid_export", "battery_charge", "battery_discharge")
# kW: PV peak, load base, battery capacity (kWh) and power of each model
MODELS = {"HPS": (40.0, 12.0, 200.0, 50.0), "PCS": (0.0, 9.0, 250.0, 60.0), "PBD": (30.0, 0.0, 0.0, 0.0)}
VALLEY_H, VALLEY_SOC = 5.0, 50.0
IMPORT_KW = 0.5  # what an inverter keeps drawing from the grid (its anti-backflow margin)
_weather = {}


def local_hours(t):
    lt = time.localtime(t)
    return lt.tm_hour + lt.tm_min / 60 + lt.tm_sec / 3600


def day_key(t):
    lt = time.localtime(t)
    return lt.tm_year * 1000 + lt.tm_yday


def daylight(t):
    """0 at night, 1 at local noon."""
    h = local_hours(t)
    return math.sin(math.pi * (h - 6) / 12) ** 1.2 if 6 < h < 18 else 0.0


def weather(t):
    """The day's (sunshine, load) factors, 0.6-1.0 and 0.9-1.1, the same for the same local day."""
    key = day_key(t)
    if key not in _weather:
        r = random.Random(key)
        _weather[key] = (0.6 + 0.4 * r.random(), 0.9 + 0.2 * r.random())
    return _weather[key]


def pv_kw(peak, t, address=0):
    """PV power (kW) of an array of ``peak`` kW at time ``t``."""
    clouds = 0.03 * math.sin(t / 500 + address) + 0.02 * math.sin(t / 1300 + 2 * address)  # slow: 5-minute points
    return peak * daylight(t) * weather(t)[0] * (0.95 + clouds)


def pv_volts(t):
    """A PV string's voltage (V): 0 in the dark, its MPP voltage (640-660 V) from about 20 minutes
    after sunrise."""
    return (650 + 10 * math.sin(t / 30)) * min(1.0, 20 * daylight(t))


def load_kw(base, t, address=0):
    """Load power (kW) of a site whose night load is about ``base`` x 0.6."""
    h = local_hours(t)
    shape = 0.6 + 0.5 * math.exp(-((h - 10) / 3) ** 2) + 0.6 * math.exp(-((h - 19) / 2) ** 2)
    return base * shape * weather(t)[1] * (1 + 0.03 * math.sin(t / 53 + address))


class Battery:
    """A battery bank: its SOC (%) and net power now (kW, > 0 discharging)."""

    def __init__(self, capacity_kwh, max_kw, soc):
        self.capacity, self.max_kw, self.soc, self.kw = capacity_kwh, max_kw, soc, 0.0

    def limit(self, charge_kw, low, high):
        """``charge_kw`` (> 0 into the battery) within the power limit, tapering to 0 over the last
        3 % before the cut-off SOCs ``low``/``high`` so that the SOC settles there."""
        c = max(-self.max_kw, min(self.max_kw, charge_kw))
        if c > 0:
            return min(c, self.max_kw * max(0.0, min(1.0, (high - self.soc) / 3)))
        return max(c, -self.max_kw * max(0.0, min(1.0, (self.soc - low) / 3)))

    def voltage(self):
        """Terminal voltage (V): 496-530 V over the SOC, a little lower while discharging."""
        v = 492 + 0.4 * self.soc
        return v - 0.01 * self.kw * 1000 / v


class Inverter:
    """One ATESS inverter's powers (kW) and counters (kWh); ``hr`` its holding registers (settings)."""

    def __init__(self, address, model, battery, hr):
        self.address, self.model, self.battery, self.hr = address, model, battery, hr
        self.pv_peak, self.load_base = MODELS[model][:2]
        self.pv = self.load = self.battery_kw = self.grid = 0.0
        self.output = 0.0  # a PBD's output to the battery bus
        self.partner = None  # a PCS's PBD
        self.driven = False  # a PBD whose PCS sets its powers
        self.total = dict.fromkeys(ROLES, 0.0)
        self.today = dict.fromkeys(ROLES, 0.0)

    def cutoffs(self):
        """(discharge, charge) cut-off SOC, % (holding registers 47 and 178; a PBD has none)."""
        if self.model == "PBD" or self.hr is None:
            return 10, 95
        return min(self.hr[47], 100), min(self.hr[178], 100)


class Meter:
    def __init__(self, inverters):
        self.inverters, self.grid = inverters, 0.0
        self.total = {"grid_import": 0.0, "grid_export": 0.0}


class Site:
    """The plant's state at time ``t``: ``advance(t)`` integrates from the last time to ``t``."""

    def __init__(self, layout, holding=None):
        """``layout`` [(channel, address, type, model, ...)]; ``holding`` {(channel, address): hr list}."""
        self.lock = threading.Lock()
        self.t = None
        self.day = None
        self.inverters, self.meters, self.boards, self.batteries = {}, {}, {}, []
        holding = holding or {}
        pcs_open = {}  # channel: the last PCS without a PBD
        for spec in layout:
            ch, addr, kind, model = spec[:4]
            hr = holding.get((ch, addr))  # None: the factory cut-offs
            if kind != "atess_inverter":
                continue
            cap, kw = MODELS[model][2:]
            if model == "PBD" and ch in pcs_open:
                pcs = pcs_open.pop(ch)
                inv = Inverter(addr, model, pcs.battery, hr)
                pcs.partner, inv.driven = inv, True
            else:
                bat = Battery(cap or 100.0, kw or 30.0, 40 + (addr * 23) % 40)
                self.batteries.append(bat)
                inv = Inverter(addr, model, bat, hr)
                if model == "PCS":
                    pcs_open[ch] = inv
            self.inverters[(ch, addr)] = inv
        invs = list(self.inverters.values())
        meters = [s[:2] for s in layout if s[2] in ("chint_dtsu666", "eastron_sdm630")]
        for k, place in enumerate(meters):
            self.meters[place] = Meter(invs[k::len(meters)])
        boards = [s[:2] for s in layout if s[2] in ("bcu_battery", "mbms_battery")]
        own = len(boards) > len(self.batteries)
        for k, place in enumerate(boards):
            if own or not self.batteries:
                self.boards[place] = Battery(150.0, 40.0, 40 + (place[1] * 23) % 40)
            else:
                self.boards[place] = self.batteries[k % len(self.batteries)]
        self.own_boards = own or not self.batteries
        self._start_counters()

    def _start_counters(self):
        """Counters as after a year or so of service (different per role and device)."""
        for inv in self.inverters.values():
            days = 300 + 17 * inv.address
            pv = days * inv.pv_peak * 5.5
            load = days * inv.load_base * 17
            through = days * inv.battery.capacity * 0.35
            tot = inv.total
            tot["pv"], tot["load"] = pv, load
            if inv.model == "PBD":
                tot["battery_charge"] = pv
            else:
                tot["battery_charge"], tot["battery_discharge"] = through, through * 0.97
                if inv.partner:  # what its PBD charged, the PCS drew
                    tot["battery_discharge"] += days * inv.partner.pv_peak * 5.5
                tot["grid_export"] = 0.08 * pv
                tot["grid_import"] = max(0.0, load + tot["battery_charge"] + tot["grid_export"] - pv
                                         - tot["battery_discharge"]) + days * 2
        for m in self.meters.values():
            m.total["grid_import"] = sum(i.total["grid_import"] for i in m.inverters)
            m.total["grid_export"] = sum(i.total["grid_export"] for i in m.inverters)

    def _powers(self, t):
        """Every inverter's, battery's and meter's power at ``t`` from the SOCs now."""
        h = local_hours(t)
        for inv in self.inverters.values():
            if inv.driven:
                continue  # its PCS sets it
            bat = inv.battery
            low, high = inv.cutoffs()
            pv = pv_kw(inv.pv_peak, t, inv.address) if inv.pv_peak else 0.0
            if inv.partner:
                pv = pv_kw(inv.partner.pv_peak, t, inv.partner.address)
            load = load_kw(inv.load_base, t, inv.address) if inv.load_base else 0.0
            if inv.model == "PBD":  # on its own: charges its battery with what it can take
                c = bat.limit(pv, low, high)
                inv.pv, inv.output, inv.battery_kw, bat.kw = c, c, -c, -c
                continue
            want = pv - load + IMPORT_KW
            if h < VALLEY_H and bat.soc < VALLEY_SOC:
                want = max(want, 0.25 * bat.max_kw)
            c = bat.limit(want, low, high)
            bat.kw = -c
            inv.load = load
            if inv.partner:  # the PBD charges the bus with its PV; the PCS draws the rest of the balance
                p = inv.partner
                p.pv = p.output = pv
                p.battery_kw = -pv
                inv.pv, inv.battery_kw = 0.0, pv - c
            else:
                inv.pv, inv.battery_kw = pv, -c
            inv.grid = load - inv.pv - inv.battery_kw
        for place, m in self.meters.items():  # a meter with no inverter measures a site's load
            m.grid = sum(i.grid for i in m.inverters) if m.inverters else load_kw(4.0, t, place[1])
        if self.own_boards:
            for bat in self.boards.values():
                want = bat.max_kw * (0.6 * daylight(t) - 0.25 * math.exp(-((h - 20) / 2.5) ** 2) - 0.05)
                bat.kw = -bat.limit(want, 10, 95)

    def _integrate(self, hours):
        for inv in self.inverters.values():
            for role, kw in (("pv", inv.pv), ("load", inv.load), ("grid_import", max(inv.grid, 0.0)),
                             ("grid_export", max(-inv.grid, 0.0)), ("battery_charge", max(-inv.battery_kw, 0.0)),
                             ("battery_discharge", max(inv.battery_kw, 0.0))):
                inv.total[role] += kw * hours
                inv.today[role] += kw * hours
        for m in self.meters.values():
            m.total["grid_import"] += max(m.grid, 0.0) * hours
            m.total["grid_export"] += max(-m.grid, 0.0) * hours
        for bat in set(self.batteries) | set(self.boards.values()):
            bat.soc = max(0.0, min(100.0, bat.soc - bat.kw * hours / bat.capacity * 100))

    def start(self, t, state=None):
        """The state at ``t``: from ``state`` (a ``state()`` up to then), else run from local midnight
        with the starting counters (so today's counters and the SOC are the day's so far)."""
        if state:
            self.restore(state)
        if self.t is None:
            self.t = t - local_hours(t) * 3600
            self.day = day_key(self.t)
        self.advance(t)

    def advance(self, t):
        """The state at ``t``: powers integrated from the last time in steps of at most STEP_S;
        the powers then those of ``t``. Call with ``lock`` held when threads share the site."""
        if self.t is None or t < self.t or t - self.t > MAX_GAP_S:
            self.t = t  # a first call or a clock jump: nothing to integrate
            self._to_day(t)
        while self.t < t:
            step = min(STEP_S, t - self.t)
            self._powers(self.t + step)
            self._integrate(step / 3600)
            self.t += step
            self._to_day(self.t)
        self._powers(t)

    def _to_day(self, t):
        """Today's counters start again when ``t`` is on another local day than the last."""
        day = day_key(t)
        if self.day is not None and day != self.day:
            for inv in self.inverters.values():
                inv.today = dict.fromkeys(ROLES, 0.0)
        self.day = day

    def state(self):
        """What a later plant needs to go on from here (JSON-able)."""
        place = lambda p: "%d/%d" % p  # noqa: E731
        return {"t": self.t, "inverters": {place(p): {"total": i.total, "today": i.today}
                                           for p, i in self.inverters.items()},
                "meters": {place(p): m.total for p, m in self.meters.items()},
                "soc": [b.soc for b in self.batteries], "boards": {place(p): b.soc for p, b in self.boards.items()}}

    def restore(self, state):
        """Goes on from ``state()`` (of a site of the same layout); unknown places are left as they are."""
        for key, s in state.get("inverters", {}).items():
            inv = self.inverters.get(tuple(int(x) for x in key.split("/")))
            if inv:
                inv.total.update(s["total"])
                inv.today.update(s["today"])
        for key, total in state.get("meters", {}).items():
            m = self.meters.get(tuple(int(x) for x in key.split("/")))
            if m:
                m.total.update(total)
        for bat, soc in zip(self.batteries, state.get("soc", [])):
            bat.soc = soc
        for key, soc in state.get("boards", {}).items():
            b = self.boards.get(tuple(int(x) for x in key.split("/")))
            if b:
                b.soc = soc
        if state.get("t"):
            self.t = state["t"]
            self.day = day_key(self.t)
