"""A settings change whose saving works but whose applying fails, through the real API routes,
settings, monitor and Modbus channels on the PC board (microdot's test client, CPython).

The failing part is a stand-in: a watcher that raises, as a part of the logger would that cannot
take a saved setting on (no part of the PC board fails on command)."""

from test_monitor import board  # noqa: F401 - the fixture: a PC board on socat lines with a plant

from firmware import web
from firmware.log import Log
from firmware.monitor import Monitor
from firmware.settings import Settings

NEW = "new-Passw0rd-1"


class Wiring:
    """What the API reads of the logger, built from the real parts."""

    def __init__(self, board, settings, monitor, log):  # noqa: F811 - board: the fixture's value
        self.board, self.settings, self.monitor, self.log = board, settings, monitor, log


async def test_a_watcher_that_raises_leaves_the_others_notified_and_answers_a_clear_error(board):  # noqa: F811
    from microdot.test_client import TestClient

    log = Log(echo=False)
    settings = Settings(board.flash.root, log)
    settings.set_password(NEW, "admin")
    monitor = Monitor(board, settings, log)  # its watcher comes first: it sets the lines
    later = []

    def broken(sections):
        raise OSError("the UART refused the line settings")

    settings.watch(broken)
    settings.watch(later.append)  # a watcher after the broken one
    app = web.create(Wiring(board, settings, monitor, log))
    # A session as the login opens it (the test client cannot parse this app's Set-Cookie header).
    client = TestClient(app, cookies={"session": app.sessions.open("admin", False)})
    change = {"rs485_1": {"baud": 19200, "parity": "E"}, "rs485_3": {"baud": 4800}}
    writes = settings.store.writes
    r = await client.put("/api/settings/serial", body=change)
    assert r.status_code == 409, (r.status_code, r.text)  # a clear refusal, not a 500
    assert r.json["field"] == "rs485_1", r.json
    assert r.json["error"] == ("saved, but the logger could not apply it (the UART refused the line settings); "
                               "it applies at the next restart"), r.json
    assert settings.store.writes == writes + 1
    assert later == [("rs485_1", "rs485_3")], later  # told once, after the one that failed
    ch1, ch3 = monitor.pollers[0].channel, monitor.pollers[2].channel
    assert (ch1.baud, ch1.parity, ch3.baud) == (19200, "E", 4800)  # the watcher before it ran too
    logged = [m for _, _, m in log.recent()]
    assert any("rs485_1, rs485_3 saved, but not applied" in m for m in logged), logged
    assert Settings(board.flash.root, Log(echo=False)).get("rs485_3")["baud"] == 4800
    r = await client.get("/api/settings/serial")  # the server goes on answering
    assert r.status_code == 200 and r.json["rs485_1"]["baud"] == 19200
