"""The dashboard's figures (manual 5.4): ``GET /api/plant``, the plant's power now, its energy
today and in all (firmware/plant.py): ``{"pv_kw", "battery_kw", "battery_soc", "grid_kw",
"load_kw", "energy_today": {"pv_kwh", "load_kwh", "grid_import_kwh", "grid_export_kwh",
"battery_charge_kwh", "battery_discharge_kwh"}, "energy_total": {the same}, "quality", "devices":
{"running", "waiting", "fault", "offline", "unknown": counts, "attention": [the devices in fault
or offline]}}``; a figure no live device reports is null; energy today is null while the clock is
not set and counts up to the devices' live counters; the totals are the counters' sum by role."""

from firmware import plant
from firmware.history import DAY_S


def routes(app, logger):
    """``logger``: ``monitor``, ``history`` and ``clock``."""

    @app.get("/api/plant")
    async def summary(request):
        devices = logger.monitor.all_devices()
        out, quality = plant.powers(devices)
        t = logger.clock.time()
        today = [] if t is None else list(logger.history.energy(t // DAY_S, t // DAY_S, devices=devices))
        out["energy_today"] = plant.energy(devices, today)
        out["energy_total"] = plant.totals(devices)
        out["quality"] = quality
        out["devices"] = plant.device_states(devices, logger.clock)
        return out
