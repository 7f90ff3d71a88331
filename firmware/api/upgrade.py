"""The upgrade: POST /api/upgrade with a bundle as the raw body (format in ``firmware/upgrade.py``),
written to the inactive slot as it arrives, verified, then tried: the board restarts after the
reply. A bad bundle raises ``UpgradeError``, whose answer names what is wrong with it."""

from firmware.api.common import RESET_DELAY_MS, later
from firmware.upgrade import receive

UPGRADE_PATH = "/api/upgrade"  # the one route whose body may be larger than MAX_BODY (streamed)


def routes(app, logger):
    """``logger``: ``board.reset(cause)`` and what ``firmware.upgrade.receive`` reads."""

    @app.post(UPGRADE_PATH)
    async def upgrade(request):
        reply, _ = await receive(logger, request)
        later(RESET_DELAY_MS, lambda: logger.board.reset("upgrade"))
        reply["restarting_in_ms"] = RESET_DELAY_MS
        return reply
