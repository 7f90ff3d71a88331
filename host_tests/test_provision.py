"""tools/provision.py end to end: mpremote to a unix-port "board" behind socat, as in test_build.

socat forks one ``micropython -i`` per connection, so every mpremote call meets a freshly started
interpreter on the same folder: each step also shows the identity survives a restart.
"""

import os
import subprocess
import sys

import pytest
from conftest import ROOT, free_port, require_tool, socket_board

from firmware import identity

TOOL = os.path.join(ROOT, "tools", "provision.py")


def mpremote():
    exe = os.path.join(os.path.dirname(sys.executable), "mpremote")  # the venv's, as tools/ use it
    return exe if os.path.exists(exe) else require_tool("mpremote")


@pytest.fixture
def board(tmp_path):
    """``(port URL, flash folder)`` of a unix-port board that imports firmware from the tree."""
    mpremote()
    flash = tmp_path / "board"
    flash.mkdir()
    url, proc = socket_board(flash, dict(os.environ, MICROPYPATH="%s:%s/lib:.frozen" % (ROOT, ROOT)))
    yield url, flash
    proc.terminate()
    proc.wait()


def provision(*args):
    return subprocess.run([sys.executable, TOOL] + list(args), capture_output=True, text=True, timeout=120)


def on_device(port, code):
    res = subprocess.run([mpremote(), "connect", port, "resume", "exec", code], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_provision_read_refuse_and_factory_reset(board):
    port, flash = board
    res = provision("--port", port, "--root", "data", "--read")
    assert res.returncode == 0 and res.stdout.strip() == "not provisioned", res.stdout + res.stderr

    res = provision("--port", port, "--root", "data", "--serial", "bakfb02000", "--check-code", "X1y2Z")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "provisioned: serial BAKFB02000, check code X1y2Z" in res.stdout
    assert identity.load(str(flash / "data")) == {"serial": "BAKFB02000", "check_code": "X1y2Z"}
    stored = (flash / "data" / "identity.json").read_bytes()

    res = provision("--port", port, "--root", "data", "--read")
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip() == "provisioned: serial BAKFB02000, check code X1y2Z"

    res = provision("--port", port, "--root", "data", "--serial", "OTHER12345", "--check-code", "11111")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "refused by the device: identity: already provisioned as BAKFB02000" in res.stderr
    assert (flash / "data" / "identity.json").read_bytes() == stored

    # The firmware's factory reset on the device: settings back to defaults, identity untouched.
    out = on_device(port, "from firmware.settings import Settings\n"
                          "s = Settings('data')\n"
                          "s.update('server', {'host': 'broker.local'})\n"
                          "s.factory_reset()\n"
                          "print('@@HOST', repr(Settings('data').get('server')['host']))\n")
    assert "@@HOST ''" in out, out
    assert "factory reset" in out, out  # the event on the console log
    assert (flash / "data" / "identity.json").read_bytes() == stored
    res = provision("--port", port, "--root", "data", "--read")
    assert res.stdout.strip() == "provisioned: serial BAKFB02000, check code X1y2Z", res.stdout + res.stderr


def test_invalid_values_are_refused_before_touching_the_device():
    # No board at this port: the tool must stop at its own check.
    res = provision("--port", "socket://127.0.0.1:9", "--serial", "BAK-02000", "--check-code", "A1B2C")
    assert res.returncode == 2 and "serial: must be 6 to 20 letters and digits" in res.stderr, res.stderr
    res = provision("--port", "socket://127.0.0.1:9", "--serial", "BAKFB02000", "--check-code", "A1B2")
    assert res.returncode == 2 and "check_code: must be exactly 5 letters and digits" in res.stderr, res.stderr
    res = provision("--port", "socket://127.0.0.1:9", "--serial", "BAKFB02000")
    assert res.returncode == 2 and "--check-code are required" in res.stderr, res.stderr


def test_unreachable_device_is_a_clear_failure():
    res = provision("--port", "socket://127.0.0.1:%d" % free_port(), "--serial", "BAKFB02000", "--check-code",
                    "A1B2C")
    assert res.returncode == 3 and "mpremote failed" in res.stderr, res.stdout + res.stderr
