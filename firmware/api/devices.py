"""Adding and deleting devices: POST and DELETE /api/devices with {type, channel, address}.
The manual's rules and their refusals are ``firmware/devices.py``'s."""

from firmware.api.common import body_object, only_keys, text, whole
from firmware.rs485 import label


def _args(request):
    data = body_object(request)
    only_keys(data, ("type", "channel", "address"))
    return text(data, "type"), whole(data, "channel"), whole(data, "address")


def routes(app, devices, log):
    """``devices``: ``firmware.devices.Devices``."""

    def said(what, entry):
        log.info("web: %s %s at %d on %s" % (what, entry["type"], entry["address"], label(entry["channel"])))

    @app.post("/api/devices")
    async def add_device(request):
        entry = devices.add(*_args(request))
        said("added", entry)
        return {"device": entry}, 201

    @app.delete("/api/devices")
    async def delete_device(request):
        entry = devices.delete(*_args(request))
        said("deleted", entry)
        return {"device": entry}
