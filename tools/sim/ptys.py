"""Linked pseudo-terminal pairs (socat): the PC's stand-in for an RS485 line."""

import os
import subprocess
import time

from tools.venvtool import find


def socat():
    return find("socat")


def pair(a, b, timeout=5.0):
    """Starts socat linking ptys at paths ``a`` and ``b``; returns the process once both exist."""
    exe = socat()
    if not exe:
        raise RuntimeError("socat is missing (make setup installs it)")
    proc = subprocess.Popen([exe, "pty,raw,echo=0,link=%s" % a, "pty,raw,echo=0,link=%s" % b],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not (os.path.exists(a) and os.path.exists(b)):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("socat made no ptys at %s and %s" % (a, b))
        time.sleep(0.01)
    return proc
