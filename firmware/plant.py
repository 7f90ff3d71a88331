"""The plant at a glance (manual 5.4, "Dashboard"): PV, battery, grid and load power, the battery's
SOC and today's energy, summed over the devices by the ``role`` their maps give points
(firmware/maps/*.json).

Signs: battery power > 0 discharging (out of the battery), < 0 charging; grid power > 0 importing,
< 0 exporting; PV and load power > 0 when flowing. When devices of several types report a role (a
meter's grid power and an inverter's), the type with the lowest ``plant_rank`` among them counts
(meters 1, inverters 2, batteries 3): the same energy is never counted twice. The SOC is the mean
of the devices counted. A figure no device reports is None.
"""

from array import array

from firmware import devicemap, devicetext
from firmware.history import SLOT_S, main_points

POWER = (("pv_power", "pv_kw"), ("battery_power", "battery_kw"), ("grid_power", "grid_kw"),
         ("load_power", "load_kw"), ("battery_soc", "battery_soc"))
ENERGY = (("pv_energy", "pv_kwh"), ("load_energy", "load_kwh"), ("grid_import_energy", "grid_import_kwh"),
          ("grid_export_energy", "grid_export_kwh"), ("battery_charge_energy", "battery_charge_kwh"),
          ("battery_discharge_energy", "battery_discharge_kwh"))
_TO_KW = {"W": 0.001, "kW": 1}


def _pick(found):
    """The figure of ``found`` [(rank, value)]: the values of the lowest rank, summed (None: none)."""
    if not found:
        return None
    best = min(r for r, _ in found)
    return sum(v for r, v in found if r == best)


def _by_role(devices, roles, usable, scaled=False):
    """{role: [(plant_rank, value)]} of the ``usable`` devices' points with one of ``roles``
    (``scaled``: W made kW, the SOC as it is); and the qualities of the devices counted."""
    found = {role: [] for role in roles}
    qualities = set()
    for d in devices:
        if not usable(d):
            continue
        for pt in d.map.polled(d.model):
            if pt.role in found:
                v = devicemap.decode(pt, d.raw, d.map.offset(pt))
                if scaled and pt.role != "battery_soc":
                    v = v * _TO_KW.get(pt.unit, 1)
                found[pt.role].append((d.map.plant_rank, v))
                qualities.add(d.quality())
    return found, qualities


def powers(devices):
    """({figure: value or None} of the live (or stale) devices' role points, quality): quality is
    "live", "stale" (a device counted was read more than two intervals ago) or "none"."""
    found, qualities = _by_role(devices, [r for r, _ in POWER], lambda d: d.online and d.good_polls and d.map, True)
    out = {}
    for role, key in POWER:
        v = _pick(found[role])
        if v is not None and role == "battery_soc":
            best = min(r for r, _ in found[role])
            v = v / len([1 for r, _ in found[role] if r == best])
        out[key] = None if v is None else round(v, 1 if role == "battery_soc" else 3)
    quality = "none" if not qualities else "stale" if "stale" in qualities else "live"
    return out, quality


def totals(devices):
    """{figure: kWh or None} of the energy counters' totals by role (the manual's "accumulated"
    energy), from every device read at least once: a counter only rises, so an offline device's
    last reading still counts."""
    found, _ = _by_role(devices, [r for r, _ in ENERGY], lambda d: d.good_polls and d.map)
    out = {}
    for role, key in ENERGY:
        v = _pick(found[role])
        out[key] = None if v is None else round(v, 1)
    return out


def energy(devices, today):
    """{figure: kWh or None} of today's energy from the history's entries ``today`` [(day, channel,
    address, {counter: kWh})], each counter's role from its device's map."""
    by_place = {(d.channel, d.address): d for d in devices if d.map}
    found = {role: [] for role, _ in ENERGY}
    for _, ch, addr, counters in today:
        d = by_place.get((ch, addr))
        if d is None:
            continue
        for name, kwh in counters.items():
            pt = d.map.point(name)
            if pt is not None and pt.role in found:
                found[pt.role].append((d.map.plant_rank, kwh))
    out = {}
    for role, key in ENERGY:
        v = _pick(found[role])
        out[key] = None if v is None else round(v, 3)
    return out


KINDS = ("running", "waiting", "fault", "offline", "unknown")
MAX_ATTENTION = 10  # the devices a dashboard lists by name: the rest are counted


def device_states(devices, clock):
    """The dashboard's device status (manual 5.4): how many devices are in each kind of state, and
    the ones that need attention (in fault or offline; at most MAX_ATTENTION), with their state
    and faults in words."""
    counts = {k: 0 for k in KINDS}
    attention = []
    for d in devices:
        st = devicetext.state(d, clock)
        counts[st["kind"]] += 1
        if st["kind"] in ("fault", "offline") and len(attention) < MAX_ATTENTION:
            attention.append({"channel": d.channel, "address": d.address, "name": devicetext.name(d),
                              "kind": st["kind"], "text": st["text"], "faults": devicetext.faults(d)})
    counts["attention"] = attention
    return counts


# A figure's words and unit, for a chart of the plant (the page) and its CSV.
FIGURE_WORDS = {"pv_kw": ("PV power", "kW"), "battery_kw": ("Battery power", "kW"), "grid_kw": ("Grid power", "kW"),
                "load_kw": ("Load power", "kW"), "battery_soc": ("Battery SOC", "%")}
MAX_SERIES_S = 2 * 86400  # a day's chart, and a day either side of midnight: two days' slots in RAM


def series(history, devices, figure, t0, t1):
    """Yields (unix_s, value) of a plant figure (a key of FIGURE_WORDS) from ``t0`` to ``t1``
    (at most MAX_SERIES_S apart), one per 5-minute slot the history holds: the sum over the
    devices of the lowest ``plant_rank`` whose map gives the figure's role (the SOC: their mean),
    as the dashboard counts now. A slot some of them missed counts the ones it has."""
    role = [r for r, f in POWER if f == figure][0]
    picks = []  # (rank, channel, address, point name, factor to kW)
    for d in devices:
        if d.map:
            for pt in main_points(d.map, d.model):
                if pt.role == role:
                    picks.append((d.map.plant_rank, d.channel, d.address, pt.name,
                                  1 if role == "battery_soc" else _TO_KW.get(pt.unit, 1)))
    if not picks:
        return
    best = min(p[0] for p in picks)
    start = t0 - t0 % SLOT_S
    n = (t1 - start) // SLOT_S + 1
    total, count = array("f", bytes(4 * n)), bytearray(n)  # 2 days: 2.9 KB, not a dict of slots
    for rank, ch, addr, name, factor in picks:
        if rank == best:
            for t, v in history.series(ch, addr, name, t0, t1):
                i = (t - start) // SLOT_S
                total[i] += v * factor
                count[i] = min(255, count[i] + 1)
    for i in range(n):
        if count[i]:
            v = total[i] / count[i] if role == "battery_soc" else total[i]
            yield start + i * SLOT_S, round(v, 1 if role == "battery_soc" else 3)
