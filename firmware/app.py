"""Wiring: builds the logger from a board and runs its tasks in one asyncio loop."""

import asyncio

from firmware import VERSION, identity, web
from firmware.board import open_board
from firmware.compat import sleep_ms, ticks_diff, ticks_ms
from firmware.log import log
from firmware.settings import Settings
from firmware.supervisor import Supervisor


class Logger:
    """The running datalogger: the board plus the state the pages and the uplink read."""

    def __init__(self, board):
        self.board = board
        self.started = ticks_ms()
        self.supervisor = Supervisor(log)
        self.reset_cause = board.reset_cause()
        self.settings = Settings(board.flash.root, log)
        self.identity = identity.load(board.flash.root)

    def status(self):
        return {
            "firmware_version": VERSION,
            "board": self.board.name,
            "uptime_s": ticks_diff(ticks_ms(), self.started) // 1000,
            "last_reset_cause": self.reset_cause,
            "serial_number": self.identity["serial"] if self.identity else None,
            "settings": self.settings.status,
            "tasks": {name: {"running": r, "restarts": n}
                      for name, (r, n) in self.supervisor.status().items()},
        }


async def status_led(board):
    """POWER steady; STATUS interval flashing while the loop runs (manual table 2-2)."""
    board.leds["power"].value(1)
    led = board.leds["status"]
    while True:
        led.value(1)
        await sleep_ms(100)
        led.value(0)
        await sleep_ms(900)


def tasks(logger):
    board = logger.board
    http = board.profile["http"]
    return [
        ("web", lambda: web.serve(web.create(logger), http["host"], http["port"])),
        ("status-led", lambda: status_led(board)),
    ]


def supervise(logger, task_list):
    """Runs ``task_list`` until stopped; an unrecoverable failure resets the board."""
    for name, factory in task_list:
        logger.supervisor.add(name, factory)
    try:
        asyncio.run(logger.supervisor.run())
    except KeyboardInterrupt:
        log.info("stopped by the console")
        return
    except Exception as exc:
        log.exception("unrecoverable error, restarting", exc)
        logger.board.reset("crash")


def run(profile=None, **board_args):
    """Entry point of main.py."""
    board = open_board(profile, **board_args)
    logger = Logger(board)
    http = board.profile["http"]
    log.info("EnerLog %s on %s, last reset: %s" % (VERSION, board.name, logger.reset_cause))
    log.info("serial number %s; settings: %s"
             % (logger.identity["serial"] if logger.identity else "not provisioned", logger.settings.status))
    log.info("web server on http://%s:%d/" % (http["host"], http["port"]))
    supervise(logger, tasks(logger))
