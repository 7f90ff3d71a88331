"""The system: POST /api/restart and /api/factory-reset, each needing {"confirm": true} and
replying before it happens."""

from firmware.api.common import RESET_DELAY_MS, body_object, confirmed, later


def routes(app, logger):
    """``logger``: ``restart()``, ``factory_reset()`` and ``log``."""

    def confirmed_reset(request, what, action):
        # Reply first: the reset comes RESET_DELAY_MS later, once the answer is out.
        confirmed(body_object(request))
        logger.log.warning("web: %s requested" % what)
        later(RESET_DELAY_MS, action)
        return {"ok": True, "restarting_in_ms": RESET_DELAY_MS}

    @app.post("/api/restart")
    async def restart(request):
        return confirmed_reset(request, "restart", logger.restart)

    @app.post("/api/factory-reset")
    async def factory_reset(request):
        return confirmed_reset(request, "factory reset", lambda: logger.factory_reset("the web page"))
