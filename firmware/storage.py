"""Storage budgets: the filesystem shared out among the stores that grow, from ``statvfs``.

The upload queue (``spool``), the history store, the write audit log and the event log each get a share of what
the filesystem can give them: the space free now plus what they already hold, less ``reserve``,
which no store is ever given (the settings and identity files, the next upgrade's slot, the
filesystem's own copy-on-write room). That sum does not change as a store grows (its growth comes
out of the free space), so a budget is the same at every start on the same flash, and a 2 MB
filesystem (a 4 MB module) and a 12 MB one (the named boards) both fill up to the reserve and no
further: a full flash costs the oldest data, never a settings save.

A store plugs in with ``attach(name, store)``; it needs two methods: ``size()``, the bytes it holds
on the flash, and ``limit(max_bytes)``, which makes it keep to a budget (evicting its oldest data).
A share whose store does not exist (yet) is held back, not handed to the others.
"""

from micropython import const

# Settings: .json, .bak and .tmp of at most 16 KB each (store._MAX_SIZE), the identity and the
# stores' small state files.
SETTINGS_RESERVE = const(64 * 1024)
# The upgrade writes a whole application into the inactive slot: a bundle is ~160 KB of .mpy
# (0.1.0, 67 files); twice that for growth and LittleFS's per-file blocks.
SLOT_RESERVE = const(384 * 1024)
RESERVE = SETTINGS_RESERVE + SLOT_RESERVE
MIN_BUDGET = const(4096)  # one flash block: a store always has room for its newest data

# (name, percent of the space the stores share). The audit log and the event log (the page's Log) are
# small text (one line per write or event: 5 %, 0.6 MB on a 12 MB filesystem, is thousands of
# them); the upload queue waits out outages, the history is what the pages chart.
# 40 % for the history holds 7 whole days of 5-minute points of 60 devices and today's file (8 day
# files of 524,288 bytes in 4 KB blocks: the inverters' energy counters are kept since issue 19,
# 1,800 bytes a slot) and 400 days of daily energy on a 12 MB filesystem; the queue's 50 %
# (5.8 MB there) holds about 3.5 days of the same plant's records as they were before issue 19
# (its inverter records now carry five more counters: somewhat fewer).
SHARES = (("upload_queue", 50), ("history", 40), ("audit_log", 5), ("event_log", 5))


class Storage:
    """The filesystem ``statvfs()`` describes (an ``os.statvfs`` tuple), shared per ``SHARES``."""

    def __init__(self, statvfs, reserve=RESERVE, shares=SHARES):
        self._statvfs = statvfs
        self.reserve = reserve
        self.shares = shares
        self._stores = {}  # name: the store
        self._applied = {}  # name: the budget it was given
        self._caps = {}  # name: at most this many bytes, whatever its share (a board profile's cap)

    def space(self):
        """(total, free) bytes of the filesystem."""
        st = self._statvfs()
        frsize = st[1] or st[0]  # f_frsize; MicroPython fills it, some ports leave it 0
        return frsize * st[2], frsize * st[4]

    def held(self):
        """Bytes the attached stores hold."""
        n = 0
        for store in self._stores.values():
            n += store.size()
        return n

    def budgets(self, shares=None):
        """{name: bytes} for every share (``shares``, else the ones in force): its part of (free +
        held - reserve)."""
        pool = self.space()[1] + self.held() - self.reserve
        pool = pool if pool > 0 else 0
        out = {}
        for name, percent in shares or self.shares:
            b = pool * percent // 100
            out[name] = b if b > MIN_BUDGET else MIN_BUDGET
        return out

    def attach(self, name, store, cap=None):
        """Adds ``store`` under share ``name`` and gives it its budget (at most ``cap`` bytes)."""
        if name not in [n for n, _ in self.shares]:
            raise ValueError("no storage share named %r" % name)
        self._stores[name] = store
        if cap is not None:
            self._caps[name] = cap
        budget = self._capped(self.budgets())[name]
        self._applied[name] = budget
        store.limit(budget)
        return budget

    def share_refusal(self, name, percent, taker="upload_queue"):
        """Why giving share ``name`` ``percent`` (taken from or given back to ``taker``) would lose
        data, in words, or None: a store never loses what it holds to a settings change."""
        budgets = self._capped(self.budgets(self._shares_with(name, percent, taker)))
        for store_name, budget in budgets.items():
            store = self._stores.get(store_name)
            if store is not None and store.size() > budget:
                return ("the %s holds %d KB now, more than the %d KB it would keep; wait until it is "
                        "smaller or choose a smaller share" % (store_name.replace("_", " "),
                                                              store.size() // 1024, budget // 1024))
        return None

    def set_share(self, name, percent, taker="upload_queue"):
        """Gives share ``name`` ``percent``, the difference taken from or given to ``taker``; every
        attached store keeps to its new budget (ask ``share_refusal`` first: a store over its new
        budget drops its oldest data)."""
        self.shares = self._shares_with(name, percent, taker)
        budgets = self._capped(self.budgets())
        for store_name, store in self._stores.items():
            self._applied[store_name] = budgets[store_name]
            store.limit(budgets[store_name])

    def _shares_with(self, name, percent, taker):
        old = dict(self.shares)
        if name not in old or taker not in old or name == taker:
            raise ValueError("no storage shares %r and %r" % (name, taker))
        left = old[taker] + old[name] - percent
        if percent < 0 or left < 0:
            raise ValueError("a share of %d %% leaves the %s nothing" % (percent, taker))
        return tuple((n, percent if n == name else left if n == taker else p) for n, p in self.shares)

    def _capped(self, budgets):
        for name, cap in self._caps.items():
            if cap < budgets[name]:
                budgets[name] = cap
        return budgets

    def status(self):
        """What ``/api/status`` shows: total, free, reserve, and each store's budget and use."""
        total, free = self.space()
        out = {"total": total, "free": free, "reserve": self.reserve}
        live = self.budgets()
        for name, percent in self.shares:
            store = self._stores.get(name)
            out[name] = {"budget": self._applied.get(name, live[name]), "percent": percent,
                         "used": store.size() if store else None}
        return out
