"""The PC board adapter's parts other than RS485 timing: button, LEDs, Ethernet, clock, reset, watchdog."""

import json
import os
import subprocess
import time

import pytest
from conftest import HERE, ROOT, mp_env, require_tool

from firmware.board import open_board


@pytest.fixture
def board(tmp_path, pty_pair):
    for ch in (1, 2, 3):
        pty_pair(a=tmp_path / ("rs485-%d" % ch), b=tmp_path / ("plant-%d" % ch))
    b = open_board("pc", run_dir=str(tmp_path))
    yield b
    for port in b.rs485:
        port.close()


def test_button_is_settable_in_process_and_through_the_run_folder(board, tmp_path):
    assert board.button.pressed() is False
    board.button.held = True
    assert board.button.pressed() is True
    board.button.held = False
    (tmp_path / "button").write_text("")
    assert board.button.pressed() is True
    (tmp_path / "button").unlink()
    assert board.button.pressed() is False


def test_leds_are_readable_and_mirrored_for_other_processes(board, tmp_path):
    board.leds["network"].value(1)
    assert board.leds["network"].value() is True
    assert json.loads((tmp_path / "leds.json").read_text())["network"] is True
    board.leds["network"].value(0)
    assert json.loads((tmp_path / "leds.json").read_text())["network"] is False


def test_ethernet_dhcp_static_and_a_silent_dhcp_server(board):
    eth = board.ethernet
    eth.start("AB12345678")
    assert eth.hostname == "AB12345678"
    assert eth.dhcp() is True and eth.ifconfig()[0] == "127.0.0.1"
    eth.static("192.168.0.254", "255.255.255.0", "192.168.0.1", "192.168.0.1")
    assert eth.ifconfig() == ("192.168.0.254", "255.255.255.0", "192.168.0.1", "192.168.0.1")
    eth.lease = None  # no DHCP server answers
    assert eth.dhcp() is False
    eth.lease = ("127.0.0.2", "255.0.0.0", "127.0.0.1", "127.0.0.1")
    eth.link_up = False
    assert eth.dhcp() is False and eth.link() is False
    assert len(eth.mac().split(":")) == 6


def test_clock_flash_and_reset(board, tmp_path):
    board.clock.set_time(2000000000)
    assert abs(board.clock.time() - 2000000000) <= 1
    assert board.flash.root == str(tmp_path / "flash") and board.flash.free() > 0
    assert board.reset_cause() == "power-on"
    with pytest.raises(SystemExit) as exc:
        board.reset("requested")
    assert exc.value.code == 75
    assert (tmp_path / "flash" / ".reset_cause").read_text() == "requested"
    again = open_board("pc", run_dir=str(tmp_path))
    assert again.reset_cause() == "requested"
    assert open_board("pc", run_dir=str(tmp_path)).reset_cause() == "power-on"


def test_watchdog_resets_a_hung_loop_within_its_timeout(board, tmp_path):
    mp = require_tool("micropython")
    t0 = time.monotonic()
    proc = subprocess.run([mp, os.path.join(HERE, "mp_scripts", "hang.py"), str(tmp_path), "300"],
                          capture_output=True, text=True, timeout=20, cwd=ROOT, env=mp_env())
    elapsed = time.monotonic() - t0
    assert "hanging" in proc.stdout, proc.stdout + proc.stderr
    assert proc.returncode == -9, proc.returncode  # killed: the PC's hard reset
    assert elapsed < 3.0, elapsed
    assert (tmp_path / "flash" / ".reset_cause").read_text() == "watchdog"
