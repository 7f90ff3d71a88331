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

    def budgets(self):
        """{name: bytes} for every share: its part of (free + held - reserve)."""
        pool = self.space()[1] + self.held() - self.reserve
        pool = pool if pool > 0 else 0
        out = {}
        for name, percent in self.shares:
            b = pool * percent // 100
            out[name] = b if b > MIN_BUDGET else MIN_BUDGET
        return out

    def attach(self, name, store, cap=None):
        """Adds ``store`` under share ``name`` and gives it its budget (at most ``cap`` bytes)."""
        if name not in [n for n, _ in self.shares]:
            raise ValueError("no storage share named %r" % name)
        self._stores[name] = store
        budget = self.budgets()[name]
        if cap is not None and cap < budget:
            budget = cap
        self._applied[name] = budget
        store.limit(budget)
        return budget

    def status(self):
        """What ``/api/status`` shows: total, free, reserve, and each store's budget and use."""
        total, free = self.space()
        out = {"total": total, "free": free, "reserve": self.reserve}
        live = self.budgets()
        for name, _ in self.shares:
            store = self._stores.get(name)
            out[name] = {"budget": self._applied.get(name, live[name]),
                         "used": store.size() if store else None}
        return out
