"""A device in words, for the pages and the Log: its name, its state (running, waiting, fault,
offline with the reason, or unknown), its active faults, and each value's label and text, all from
its register map (``label``, ``enum``, ``bits``, ``kinds``: firmware/maps/*.json).

A value the map does not name is said so honestly ("Running state 7 (not in the register list)",
"Fault bit 5 of fault word 1"): no vendor name is made up.
"""

from firmware import devicemap
from firmware.clock import iso
from firmware.compat import ticks_diff, ticks_ms
from firmware.rs485 import label as channel_label


def type_name(d):
    """The device's type in the manual's words ("ATESS Inverter"); its id when no map knows it."""
    return d.map.label if d.map else d.type


def name(d):
    """"ATESS Inverter HPS, RS485-1 address 1": the device's type, model and place."""
    return "%s%s, %s address %d" % (type_name(d), " " + d.model if d.model else "", channel_label(d.channel),
                                    d.address)


def reason(last_error):
    """(what happened, why or None) in words, from a poll's error (the Modbus master's own messages,
    firmware/modbus): never the exception's text."""
    e = last_error or ""
    if "no reply" in e or "never quiet" in e:
        return "No answer", "timeout"
    if "CRC" in e:
        return "Garbled answers", "wrong check code"
    if "truncated" in e or "expected" in e or "exceeds" in e or "echo" in e:
        return "Answers not understood", "another device on the address or noise on the line"
    if "exception" in e:
        i = e.find("(")
        return "Refused the read", e[i + 1 : -1] if i >= 0 and e.endswith(")") else None
    if "register map" in e:
        return "Not polled", "no register map for its type"
    return "No answer", None


def _hhmm(d, clock, now_ms):
    """"12:03 UTC" when the device last answered, if the clock is set and it ever did."""
    if clock is None or d.last_seen_ms is None:
        return None
    t = clock.time()
    if t is None:
        return None
    return iso(t - ticks_diff(now_ms, d.last_seen_ms) // 1000)[11:16] + " UTC"


def offline_text(d, clock=None, now_ms=None):
    """Why an offline device is offline, in words."""
    if not d.map:
        return "Not polled: no register map for its type"
    if d.polls == 0 and d.last_error is None:
        return "Not read yet"
    what, why = reason(d.last_error)
    if not d.good_polls:
        return "Never answered" + (" (%s)" % why.lower() if why else "")
    since = _hhmm(d, clock, ticks_ms() if now_ms is None else now_ms)
    return what + (" since " + since if since else "") + (" (%s)" % why if why else "")


def _swap(v):
    return ((v & 0xFF) << 8) | (v >> 8 & 0xFF)


def _of(label):
    """"fault word 1" from "Fault word 1" (but "PBD fault word 1" stays)."""
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def bit_names(dmap, pt, v):
    """The names of the bits set in value ``v`` of a ``bits`` point."""
    out = []
    if dmap.texts[pt.name][1]:
        v = _swap(v)
    for bit in range(16):
        if v >> bit & 1:
            out.append(dmap.text_of(pt, bit) or "Fault bit %d of %s" % (bit, _of(dmap.label_of(pt))))
    return out


def value_text(dmap, pt, v):
    """An ``enum`` or ``bits`` point's value in words; None for other points."""
    t = dmap.texts.get(pt.name)
    if t is None or not isinstance(v, int):
        return None
    if t[0]:
        return ", ".join(bit_names(dmap, pt, v)) or "No fault"
    return dmap.text_of(pt, v) or "%s %d (not in the register list)" % (dmap.label_of(pt), v)


def _decoded(d, pt):
    return devicemap.decode(pt, d.raw, d.map.offset(pt))


def state(d, clock=None, now_ms=None):
    """{"kind", "text"}: what the device is doing, from its map's running state (the point with
    ``kinds``); "unknown" when its map has none, "offline" with the reason."""
    if not d.online or not d.good_polls or not d.map:
        return {"kind": "offline", "text": offline_text(d, clock, now_ms)}
    for pt in d.map.polled(d.model):
        kinds = d.map.kinds.get(pt.name)
        if kinds is not None:
            v = _decoded(d, pt)
            text = d.map.text_of(pt, v)
            if text is None:
                return {"kind": "unknown", "text": "%s %d (not in the register list)" % (d.map.label_of(pt), v)}
            return {"kind": kinds.get(v, "running"), "text": text}
    return {"kind": "unknown", "text": "Communicating"}


def faults(d):
    """The active fault bits of a device answering now, in words ([] when none)."""
    out = []
    if d.online and d.good_polls and d.map:
        for pt in d.map.polled(d.model):
            t = d.map.texts.get(pt.name)
            if t is not None and t[0]:
                out.extend(bit_names(d.map, pt, _decoded(d, pt)))
    return out


def value_entry(dmap, pt, v, quality):
    """One value as the API gives it: value, unit, quality, label and (enum or bits) text."""
    e = {"value": v, "unit": pt.unit, "quality": quality, "label": dmap.label_of(pt)}
    t = value_text(dmap, pt, v)
    if t is not None:
        e["text"] = t
    return e
