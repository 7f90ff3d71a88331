"""Every firmware module imports under both runtimes.

The ESP32 adapter is the exception by design: it imports ``machine``/``network`` as on the board,
which neither PC runtime has; tools/typecheck.py checks it against the board's API instead, and
test_build compiles it with mpy-cross.
"""

import importlib
import os
import subprocess

from conftest import ROOT, mp_env, require_tool

BOARD_ONLY = {"firmware.hw.esp32"}


def firmware_modules():
    mods = []
    for d, dirs, files in os.walk(os.path.join(ROOT, "firmware")):
        dirs[:] = [x for x in dirs if x not in ("boards", "__pycache__")]
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(d, f), ROOT)[:-3].replace(os.sep, ".")
                mods.append(rel[: -len(".__init__")] if rel.endswith(".__init__") else rel)
    return sorted(set(mods) - BOARD_ONLY)


def test_modules_import_on_cpython():
    mods = firmware_modules()
    assert len(mods) >= 8, mods
    for m in mods:
        importlib.import_module(m)


def test_modules_import_on_micropython():
    mp = require_tool("micropython")
    mods = firmware_modules()
    code = "import sys\nfor m in %r:\n    __import__(m)\n    print('ok', m)\n" % (mods,)
    res = subprocess.run([mp, "-c", code], capture_output=True, text=True, cwd=ROOT, env=mp_env(), timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert sorted(line.split()[1] for line in res.stdout.splitlines() if line.startswith("ok ")) == mods
