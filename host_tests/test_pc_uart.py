"""The PC RS485 adapter under the MicroPython unix port, through a real pty: wire-time accuracy."""

import json
import os
import statistics
import subprocess

import pytest
from conftest import HERE, ROOT, mp_env, require_tool

SCRIPT = os.path.join(HERE, "mp_scripts", "uart_timing.py")


def run_rounds(pty_pair, baud, nbytes=100, rounds=7):
    a, b = pty_pair("rs485")
    exe = require_tool("micropython")
    out = subprocess.run([exe, SCRIPT, a, b, str(baud), str(nbytes), str(rounds)], capture_output=True,
                         text=True, timeout=60, cwd=ROOT, env=mp_env())
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == rounds, out.stdout
    for r in rows:
        assert r["sent_ok"] and r["received_ok"], r
        assert r["de_after"] == 0, r  # driver enable released after the frame
    return rows


@pytest.mark.parametrize("baud,expect_ms", [(9600, 104.17), (115200, 8.68)])
def test_100_byte_frame_takes_its_wire_time(pty_pair, baud, expect_ms):
    """Never faster than the wire (3 % for timer grain), and not much slower: 1.5 x holds on a loaded
    machine. The precise figures (104.4 / 8.8 ms) are docs/figures.md's, from quiet runs."""
    rows = run_rounds(pty_pair, baud)
    delivered = statistics.median(r["delivered_us"] for r in rows) / 1000
    received = statistics.median(r["received_us"] for r in rows) / 1000
    print("%d baud: delivered %.2f ms, received %.2f ms (expected %.2f)" % (baud, delivered, received, expect_ms))
    for measured in (delivered, received):
        assert expect_ms * 0.97 <= measured <= expect_ms * 1.5 + 2, measured
    # send() returns once the last bit has left the wire, not before
    for r in rows:
        assert r["send_returned_us"] >= expect_ms * 1000 * 0.97, r
