"""Type-checks the ESP32 adapter against the target MicroPython's stubs (no board runs in CI).

The stubs (micropython-esp32-stubs, pinned in requirements-stubs.txt) are installed apart in
.venv/stubs-esp32 and serve as the whole typeshed, so ``time.ticks_ms`` and ``asyncio.sleep_ms``
resolve as on the board. One stub is wrong for our hardware: ``network.LAN`` is typed for the RMII
PHYs only, while ports/esp32/network_lan.c (v1.29) also takes ``spi``, ``cs``, ``int`` and
``reset`` for SPI PHYs such as the W5500. A generated overlay corrects that one signature.
"""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STUBS = os.path.join(ROOT, ".venv", "stubs-esp32")
OVERLAY = os.path.join(ROOT, ".venv", "stubs-esp32-overlay")
CHECKED = ["firmware/hw/esp32.py"]

# network.LAN's constructor as ports/esp32/network_lan.c parses it (get_lan, allowed_args).
LAN_INIT = (
    "def __init__(self, id: int | None = None, /, *, mdc: Any = None, mdio: Any = None, "
    "reset: Any = None, power: Any = None, phy_addr: int, phy_type: int, spi: Any = None, "
    "cs: Any = None, int: Any = None, ref_clk_mode: int = -1, ref_clk: Any = None) -> None: ..."
)

CONFIG = """[mypy]
python_version = 3.11
no_site_packages = True
check_untyped_defs = True
warn_unused_ignores = False
# Errors inside the stub package itself are not ours to fix.
ignore_errors = True
[mypy-firmware.*]
ignore_errors = False
"""


def make_overlay():
    with open(os.path.join(STUBS, "network.pyi")) as f:
        text = f.read()
    stub_init = r"def __init__\(self, id, \*, phy_type=0, phy_addr=0, ref_clk_mode=0\) -> None: \.\.\."
    fixed, n = re.subn(stub_init, LAN_INIT, text, count=1)
    if n != 1:
        sys.exit("typecheck: network.LAN stub changed; review LAN_INIT in tools/typecheck.py")
    os.makedirs(OVERLAY, exist_ok=True)
    with open(os.path.join(OVERLAY, "network.pyi"), "w") as f:
        f.write(fixed)
    cfg = os.path.join(OVERLAY, "mypy.ini")
    with open(cfg, "w") as f:
        f.write(CONFIG)
    return cfg


def main(paths=None):
    if not os.path.isdir(STUBS):
        sys.exit("typecheck: %s missing; run make deps" % STUBS)
    cfg = make_overlay()
    env = dict(os.environ, MYPYPATH=OVERLAY + os.pathsep + STUBS)
    cmd = [sys.executable, "-m", "mypy", "--config-file", cfg, "--custom-typeshed-dir", STUBS,
           "--cache-dir", os.path.join(ROOT, ".mypy_cache", "esp32")] + (paths or CHECKED)
    return subprocess.call(cmd, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
