"""``/api/scan``: scanning a channel for devices (firmware/scan.py), for the page's Scan button.

- ``POST /api/scan {"channel": N, "first": 1, "last": 247}`` starts a background scan: 202 with
  the scan; 400 for a channel or address out of range, 409 while that channel is scanned already.
- ``GET /api/scan[?channel=N]``: ``{"channel", "state": "idle"|"running"|"done"|"stopped",
  "progress": 0..1, "found": [{"address", "type", "model", "serial", "configured"}], ...}`` of
  that channel's latest scan (or the latest of all).
- ``DELETE /api/scan[?channel=N]`` stops it (or every running one).

Sessions and the cross-site check are webapi's ``guard``, which covers every /api/ path.
"""

from firmware.api.common import body_object
from firmware.scan import IDLE, ScanError, Scans


def _channel(request):
    v = request.args.get("channel")
    if v is None:
        return None
    if not (v and len(v) < 3 and all("0" <= c <= "9" for c in v)):
        raise ScanError(400, "channel must be 1-3", "channel")
    return int(v)


def routes(app, logger):
    """The /api/scan routes for ``logger`` (its monitor's pollers and maps); a ScanError becomes
    its answer in webapi, as every error does."""
    mon = logger.monitor
    scans = getattr(mon, "scans", None) or Scans(mon.pollers, mon.maps)
    mon.scans = scans

    def view(scan, channel=None):
        if scan is None:
            return {"channel": channel, "state": IDLE, "progress": 0, "found": []}
        return scan.as_dict()

    @app.post("/api/scan")
    async def start(request):
        data = body_object(request)
        for k in data:
            if k not in ("channel", "first", "last"):
                raise ScanError(400, "unknown field", k)
        if "channel" not in data:
            raise ScanError(400, "which channel: 1-3", "channel")
        scan = scans.start(data["channel"], data.get("first", 1), data.get("last", 247))
        logger.log.info("web: scanning RS485-%d addresses %d-%d" % (data["channel"], scan.first, scan.last))
        return view(scan), 202

    @app.get("/api/scan")
    async def status(request):
        ch = _channel(request)
        return view(scans.get(ch), ch)

    @app.delete("/api/scan")
    async def stop(request):
        ch = _channel(request)
        stopped = scans.stop(ch)
        return view(stopped[0] if stopped else scans.get(ch), ch)
