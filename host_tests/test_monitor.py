"""The monitor follows the settings: devices added or deleted and line settings take effect at once."""

import asyncio

import pytest

from firmware.board import open_board
from firmware.log import Log
from firmware.monitor import Monitor
from firmware.settings import Settings
from tools.sim.plant import Plant


@pytest.fixture
def board(tmp_path, pty_pair):
    plant_paths = {}
    for ch in (1, 2, 3):
        a, b = pty_pair(a=tmp_path / ("rs485-%d" % ch), b=tmp_path / ("plant-%d" % ch))
        plant_paths[ch] = b
    plant = Plant(plant_paths, [(2, 7, "bcu_battery", None)])
    b = open_board("pc", run_dir=str(tmp_path))
    yield b
    plant.stop()
    for port in b.rs485:
        port.close()


def test_devices_and_line_settings_follow_the_settings(board):
    log = Log(echo=False)
    settings = Settings(board.flash.root, log)
    mon = Monitor(board, settings, log)
    assert [len(p.devices) for p in mon.pollers] == [0, 0, 0]
    mon.devices.add("bcu_battery", 2, 7)
    assert [(d.type, d.address) for d in mon.pollers[1].devices] == [("bcu_battery", 7)]
    assert [name for name, _ in mon.tasks()] == ["poller-1", "poller-2", "poller-3"]

    async def poll_once():
        return await mon.pollers[1].poll(mon.pollers[1].devices[0])

    assert asyncio.run(poll_once()) is True
    assert mon.communicating(2) == 1 and mon.communicating(1) == 0
    status = mon.status()
    assert status[0]["online"] and status[0]["bus"]["successes"] == 1
    assert 0 <= status[0]["values"]["soc"]["value"] <= 100 and status[0]["values"]["soc"]["unit"] == "%"

    settings.update("rs485_2", {"baud": 19200, "parity": "E"})
    assert (mon.pollers[1].channel.baud, mon.pollers[1].channel.parity) == (19200, "E")
    assert board.rs485[1].char_us == 573  # the PC line now models 11-bit characters at 19200
    assert "RS485-2 set to 19200 baud, parity E, 1 stop bit(s)" in [e[2] for e in log.recent()]

    mon.devices.delete("bcu_battery", 2, 7)
    assert mon.pollers[1].devices == []
    settings.factory_reset()
    assert mon.pollers[1].channel.baud == 9600
