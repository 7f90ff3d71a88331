"""``/metrics``: the logger's figures in the Prometheus text format, version 0.0.4, and who may read them.

Off from the factory (settings ``metrics``); on, it is open to the LAN when no token is set, else
it needs ``Authorization: Bearer <token>``: ``refusal`` decides, for every request that reaches the
metrics. ``render`` writes the text in pieces of about ``CHUNK`` characters (60 devices make some
60 KB: never whole in a small heap). Family by family, as the format wants each family's samples
together; names and labels are in docs/metrics.md. Pure: no hardware, both runtimes.
"""

from micropython import const

from firmware.compat import ticks_diff, ticks_ms

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CHUNK = const(1024)
_P = "enerlog_"
_ERRORS = (("timeout", "timeouts"), ("crc", "crc_errors"), ("frame", "frame_errors"), ("exception", "exceptions"))


def refusal(setting, authorization):
    """None when a request with header ``authorization`` (or None) may read the metrics under
    ``setting`` (the ``metrics`` section), else its HTTP status: 404 while they are off (as if
    there were none), 401 without the right bearer token."""
    if not setting["enabled"]:
        return 404
    token = setting["token"]
    if not token:
        return None
    given = authorization or ""
    if given[:7].lower() != "bearer ":
        return 401
    return None if same(given[7:].strip(), token) else 401


def same(a, b):
    """``a == b`` in a time that does not tell how much of ``a`` was right."""
    a, b = a.encode(), b.encode()
    diff = len(a) ^ len(b)
    for i in range(len(a)):
        diff |= a[i] ^ b[i % len(b)] if b else 1
    return diff == 0


def escape(v):
    """A label value as the format writes it: backslash, double quote and line feed escaped."""
    v = str(v)
    if "\\" in v or '"' in v or "\n" in v:
        v = v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return v


def number(v):
    """A sample value: true/false as 1/0, NaN and the infinities as the format spells them."""
    if v is True or v is False:
        return "1" if v else "0"
    if isinstance(v, int):
        return "%d" % v
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v)


def family(name, kind, text):
    return "# HELP %s%s %s\n# TYPE %s%s %s\n" % (_P, name, text, _P, name, kind)


def sample(name, labels, value):
    return "%s%s%s %s\n" % (_P, name, "{%s}" % labels if labels else "", number(value))


def device_labels(d):
    return 'channel="%d",address="%d",type="%s"' % (d.channel, d.address, escape(d.type))


def render(info, pollers, uplink, now_ms=None):
    """The metrics text in pieces of about ``CHUNK`` characters.

    ``info``: ``version``, ``board``, ``uptime_s``, ``heap`` (``app.heap()``: None on CPython) and
    ``storage`` (``Storage.status()``); ``pollers``: the channels' ``Poller``s; ``uplink``:
    ``Logger.uplink_status()``."""
    now_ms = ticks_ms() if now_ms is None else now_ms
    buf = []
    size = 0
    for part in (_system(info), _uplink(uplink), _channels(pollers), _devices(pollers, now_ms),
                 _bus(pollers), _values(pollers)):
        for line in part:
            buf.append(line)
            size += len(line)
            if size >= CHUNK:
                yield "".join(buf)
                buf = []
                size = 0
    if buf:
        yield "".join(buf)


def _system(info):
    yield family("info", "gauge", "The firmware version and the board; always 1.")
    yield sample("info", 'version="%s",board="%s"' % (escape(info["version"]), escape(info["board"])), 1)
    yield family("uptime_seconds", "gauge", "Seconds since the logger started.")
    yield sample("uptime_seconds", None, info["uptime_s"])
    heap = info.get("heap")
    for key, text in (("free", "Free heap after a collection."), ("used", "Heap in use after a collection."),
                      ("largest_free", "The largest free block of the heap.")):
        if heap and heap.get(key) is not None:
            yield family("heap_%s_bytes" % key, "gauge", text)
            yield sample("heap_%s_bytes" % key, None, heap[key])
    st = info["storage"]
    yield family("storage_size_bytes", "gauge", "Size of the flash filesystem.")
    yield sample("storage_size_bytes", None, st["total"])
    yield family("storage_free_bytes", "gauge", "Free bytes of the flash filesystem.")
    yield sample("storage_free_bytes", None, st["free"])
    stores = [k for k in sorted(st) if isinstance(st[k], dict)]
    for key, text in (("budget", "The share of the flash a store may fill."), ("used", "Bytes a store holds.")):
        yield family("storage_%s_bytes" % key, "gauge", text)
        for name in stores:
            if st[name][key] is not None:
                yield sample("storage_%s_bytes" % key, 'store="%s"' % name, st[name][key])


def _uplink(up):
    for name, kind, key, text in (
            ("uplink_connected", "gauge", "connected", "1 while the logger is connected to its server."),
            ("uplink_backlog_records", "gauge", "backlog", "Records waiting on the flash to be sent."),
            ("uplink_backlog_bytes", "gauge", "backlog_bytes", "Bytes of the records waiting to be sent."),
            ("uplink_sent_total", "counter", "sent", "Records sent to the server since the start."),
            ("uplink_evicted_total", "counter", "evicted", "Records dropped unsent to make room on the flash.")):
        yield family(name, kind, text)
        yield sample(name, None, up[key])


def _channels(pollers):
    figures = (
        ("channel_devices", "gauge", "Devices configured on the channel.", lambda p: len(p.devices)),
        ("channel_devices_communicating", "gauge", "Devices answering on the channel.", lambda p: p.communicating()),
        ("channel_sweeps_total", "counter", "Passes over the channel's due devices.", lambda p: p.sweeps),
        ("channel_sweep_seconds", "gauge", "How long the last pass took.",
         lambda p: None if p.sweep_ms is None else p.sweep_ms / 1000),
        ("channel_probes_total", "counter", "Tries of offline and never-seen devices.", lambda p: p.probes),
    )
    for name, kind, text, get in figures:
        yield family(name, kind, text)
        for p in pollers:
            v = get(p)
            if v is not None:
                yield sample(name, 'channel="%d"' % p.channel.number, v)
    yield family("channel_errors_total", "counter", "Failed transactions on the channel, by kind.")
    for p in pollers:
        stats = list(p.channel.stats.values())
        for kind, attr in _ERRORS:
            yield sample("channel_errors_total", 'channel="%d",kind="%s"' % (p.channel.number, kind),
                         sum(getattr(s, attr) for s in stats))


def _each(pollers):
    for p in pollers:
        for d in list(p.devices):
            yield p, d


def _devices(pollers, now_ms):
    figures = (
        ("device_online", "gauge", "1 while the device answers its polls.", lambda d: d.online),
        ("device_last_poll_age_seconds", "gauge", "Seconds since the device's last good poll.",
         lambda d: None if d.last_seen_ms is None else ticks_diff(now_ms, d.last_seen_ms) / 1000),
        ("device_good_polls_total", "counter", "Polls that read all of the device's registers.",
         lambda d: d.good_polls),
        ("device_failed_polls_total", "counter", "Polls and tries that failed.", lambda d: d.polls - d.good_polls),
    )
    for name, kind, text, get in figures:
        yield family(name, kind, text)
        for _, d in _each(pollers):
            v = get(d)
            if v is not None:
                yield sample(name, device_labels(d), v)


def _bus(pollers):
    yield family("bus_requests_total", "counter", "Modbus requests sent to the device, retries included.")
    for p, d in _each(pollers):
        st = p.channel.stats.get(d.address)
        if st:
            yield sample("bus_requests_total", device_labels(d), st.requests)
    yield family("bus_answers_total", "counter", "Good replies of the device.")
    for p, d in _each(pollers):
        st = p.channel.stats.get(d.address)
        if st:
            yield sample("bus_answers_total", device_labels(d), st.successes)
    yield family("bus_errors_total", "counter", "Failed requests to the device, by kind.")
    for p, d in _each(pollers):
        st = p.channel.stats.get(d.address)
        if st:
            labels = device_labels(d)
            for kind, attr in _ERRORS:
                yield sample("bus_errors_total", '%s,kind="%s"' % (labels, kind), getattr(st, attr))
    for i, name in ((0, "p50"), (1, "p95")):
        yield family("bus_response_%s_seconds" % name, "gauge",
                     "The %s of the device's last 32 response times." % name)
        for p, d in _each(pollers):
            st = p.channel.stats.get(d.address)
            ms = st.percentiles()[i] if st else None
            if ms is not None:
                yield sample("bus_response_%s_seconds" % name, device_labels(d), ms / 1000)


def _values(pollers):
    yield family("value", "gauge", "The devices' main values from their last good poll (online devices).")
    for _, d in _each(pollers):
        if not d.online:
            continue  # no current value: the series goes stale
        labels = device_labels(d)
        for point, (v, unit) in d.values(True).items():
            if isinstance(v, (int, float)):  # text points (a model name) are no gauge
                yield sample("value", '%s,point="%s",unit="%s"' % (labels, escape(point), escape(unit)), v)
